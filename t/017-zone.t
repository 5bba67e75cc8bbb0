#!/usr/bin/perl

# Tests for ngx_signal_module: the shared memory zone. Room sequence
# numbers are shared by all workers and survive a reload; a publish the
# zone cannot hold is refused whole with 503; signal_zone is validated.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;

###############################################################################

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format workers '$pid $status';
    access_log %%TESTDIR%%/workers.log workers;

    server {
        listen       127.0.0.1:%%PORT_1%% reuseport;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /notify {
            signal_notify;
        }
    }
}

EOF

my $tiny = Test::Signal->new();

$tiny->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 1;

events {
}

http {
    access_log off;
    client_body_temp_path %%TESTDIR%%/client_body_temp;
    proxy_temp_path %%TESTDIR%%/proxy_temp;
    fastcgi_temp_path %%TESTDIR%%/fastcgi_temp;
    uwsgi_temp_path %%TESTDIR%%/uwsgi_temp;
    scgi_temp_path %%TESTDIR%%/scgi_temp;

    signal_zone tiny:32k;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /join {
            signal_websocket;
            signal_join $arg_r;
        }

        location /notify {
            signal_notify;
            client_max_body_size 1m;
            signal_notify_max_rooms 2000;
        }
    }
}

EOF

my @bad = (
    [ '', qr/need a shared memory zone: add "signal_zone signal:32m;"/ ],
    [ 'signal_zone z:16k;', qr/zone "z:16k" is too small/ ],
    [ 'signal_zone z;', qr/invalid zone "z", expected name:size/ ],
    [ 'signal_zone z:lots;', qr/invalid zone size "z:lots"/ ],
    [ 'signal_zone z:1m; signal_zone y:1m;', qr/"signal_zone" directive is duplicate/ ],
    [ 'signal_zone z:1m; signal_redis ftp://x;', qr/invalid signal_redis "ftp:\/\/x": use redis:\/\/\[:password@\]host\[:port\]\[\/db\] or unix:\/path/ ],
    [ 'signal_zone z:1m; signal_redis unix:redis.sock;', qr/a unix socket needs an absolute path/ ],
    [ 'signal_zone z:1m; signal_redis redis://127.0.0.1/x;', qr/invalid database number "x" in signal_redis/ ],
    [ 'signal_zone z:1m; signal_redis redis://user@127.0.0.1;', qr/credentials are \[user\]:password@/ ],
    [ 'signal_zone z:1m; signal_redis redis://no-such-host.invalid;', qr/invalid signal_redis host "no-such-host.invalid"/ ],
    [ 'signal_zone z:1m; signal_redis redis://127.0.0.1; signal_redis redis://127.0.0.1;', qr/"signal_redis" directive is duplicate/ ],
    [ 'signal_zone z:1m; signal_redis redis://127.0.0.1; signal_redis_backoff 5s 1s;', qr/"signal_redis_backoff" needs 0 < min <= max/ ],
    [ 'signal_zone z:1m; signal_redis_backoff 1s soon;', qr/"signal_redis_backoff" directive has an invalid time/ ],
);

$t->run()->plan(20 + 2 * @bad);
$tiny->run();
$tiny->ignore_log(qr/cannot hold the rooms/);

###############################################################################

# one counter per room for every worker: 100 publishes, new connections
# spread over both workers by reuseport

my @seqs;

for (1 .. 100) {
    my $r = $t->notify('/notify', '{"room":"shared","event":"e"}');
    push @seqs, $r->{json}{published}[0]{seq};
}

is_deeply(\@seqs, [ 1 .. 100 ], 'seq 1..100 across workers');

my %pids = map { (split)[0] => 1 } grep { / 202$/ }
    split /\n/, $t->read_file('workers.log');
ok(keys %pids >= 2, 'both workers published');

# the zone survives a reload

$t->reload(wait_old => 1);

my $r = $t->notify('/notify', '{"room":"shared","event":"e"}');
is($r->{json}{published}[0]{seq}, 101, 'seq continues after a reload');

$r = $t->notify('/notify', '{"room":"fresh","event":"e"}');
is($r->{json}{published}[0]{seq}, 1, 'a new room starts at 1');

# a reload that changes the zone size starts a new zone (seq restarts)
# with its own wakeup descriptors: an old worker still in its shutdown
# window (it has a client) does not take the new workers' wakeups

my $conf = $t->read_file('nginx.conf');
$conf =~ s/signal_zone signal_test:1m;/signal_zone signal_test:2m;/;
$t->write_file('nginx.conf', $conf);
$t->reload(wait_old => 1);

# the workers of this zone have its first slots, as the next ones will in
# theirs: the very case where the old and new ones would share wakeups

my $old_client = $t->subscriber('/ws', 'shared');
$conf =~ s/signal_zone signal_test:2m;/signal_zone signal_test:4m;/;
$t->write_file('nginx.conf', $conf);
$t->reload();
select(undef, undef, undef, 0.5);   # old workers stop accepting

my @resized = map { $t->subscriber('/ws', 'resize') } 1 .. 8;
my @rs = map { $t->publish('resize', 'e', $_)->{json}{published}[0]{seq} }
    1 .. 20;
is("@rs", join(' ', 1 .. 20), 'resized zone: a new zone, seq from 1');

my $complete = grep {
    my $c = $_;
    my @got = map { ($c->recv_json(2) // {})->{seq} // 0 } 1 .. 20;
    "@got" eq "@rs";
} @resized;
is($complete, 8, 'resized zone: every client of the new workers got all');
$old_client->expect_close(5);

# a zone too small for one publish: 503, nothing published, nothing taken

my $ws = $tiny->ws('/ws');
$ws->send_json({ type => 'subscribe', room => 'r:*' });
is($ws->recv_json()->{type}, 'subscribed', 'watcher subscribed');

$r = $tiny->notify('/notify', '{"room":"r:0","event":"e"}');
is($r->{json}{published}[0]{seq}, 1, 'first publish');

my $rooms = join(',', map { '"r:' . ('x' x 100) . $_ . '"' } 1 .. 1000);
$r = $tiny->notify('/notify', qq({"rooms":["r:0",$rooms],"event":"big"}));
is($r->{status}, 503, 'a publish larger than the zone is refused');
is($r->{json}{error}, 'zone_full', 'with a zone_full reason');

$r = $tiny->notify('/notify', '{"room":"r:0","event":"after"}');
is($r->{json}{published}[0]{seq}, 2,
    'no number was taken by the refused publish');

my $m = $ws->recv_json();
is($m->{event} . ':' . $m->{seq}, 'e:1', 'watcher got the first event');
$m = $ws->recv_json();
is($m->{event} . ':' . $m->{seq}, 'after:2',
    'and then the next one: nothing of the refused batch');

# many rooms over time: the least recently used are forgotten, no refusal

my $refused = 0;

# (a record is 100 bytes and names, in a 128-byte slot here: 40 rooms
# and their records are what one publish can make a 32k zone hold)

for my $n (1 .. 50) {
    my $batch = join(',', map { qq("m:$n:$_") } 1 .. 40);
    $r = $tiny->notify('/notify', qq({"rooms":[$batch],"event":"e"}));
    $refused++ if $r->{status} != 202;
}

is($refused, 0, '2,000 rooms through a 32k zone: old rooms are forgotten');

# rooms with members are never forgotten: when they fill the zone, a
# subscription is refused with zone_full (the connection stays) and so is
# a handshake that joins a room; once they are left, there is space again

my (@full, $err);

FILL: for my $c (1 .. 8) {
    my $f = $tiny->ws('/ws');
    push @full, $f;
    for my $n (1 .. 64) {
        $f->send_json({ type => 'subscribe',
            room => 'full:' . ('y' x 100) . ":$c:$n" });
        my $j = $f->recv_json() // {};
        next if ($j->{type} // '') eq 'subscribed';
        $err = $j;
        last FILL;
    }
}

is($err && $err->{code}, 'zone_full', 'a subscription the zone cannot '
    . 'count is refused with zone_full') or diag(explain($err));
is($full[-1]->ask('{"type":"ping"}'), '{"type":"pong"}',
    'the refused connection stays open');

my $long = 'full:' . ('z' x 110);
$r = $tiny->ws("/join?r=$long");
is($r->{status}, 503, 'a handshake joining a room: 503');
is($r->{json}{error}, 'zone_full', 'with a zone_full reason');

like($tiny->read_file('error.log'),
    qr/\[warn\].*signal_zone "tiny" refused to count a connection/,
    'logged, with what to do');

for my $f (@full) {
    $f->send_close(1000);
    $f->expect_close();
}

my $ok = 0;
for (1 .. 20) {
    my $j = $tiny->ws("/join?r=$long");
    $ok = 1, last if ref $j eq 'Test::Signal::WS';
    select(undef, undef, undef, 0.05);
}
ok($ok, 'space again once the rooms were left');

$ws->send_close(1000);
$ws->expect_close();
$tiny->stop();

# configuration checks

for my $case (@bad) {
    my ($directives, $re) = @$case;

    $t->write_file_expand('bad.conf', <<"EOF");
load_module $t->{module};
error_log %%TESTDIR%%/bad-error.log;
pid %%TESTDIR%%/bad.pid;
events { }
http {
    $directives
    server {
        listen 127.0.0.1:%%PORT_2%%;
        location /x { signal_notify; }
    }
}
EOF

    local %ENV = %ENV;
    $t->_child_env();

    my $d = $t->dir();
    my $out = `$t->{binary} -t -p $d/ -c $d/bad.conf -e $d/bad-error.log 2>&1`;
    isnt($? >> 8, 0, "nginx -t refuses: '$directives'");
    like($out, $re, "message for: '$directives'");
}

###############################################################################
