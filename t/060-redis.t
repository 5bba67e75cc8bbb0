#!/usr/bin/perl

# Tests for ngx_signal_module: the Redis engine. Two nginx instances (two
# "hosts", 2 workers each) and one redis-server: events published on either
# host reach members on both, in seq order, once (rooms and families); a
# backend publishes with redis-cli; nginx starts while Redis is down; Redis
# killed, paused and restarted: 503s meanwhile, clients stay connected,
# delivery resumes without duplicate subscriptions or leaked descriptors.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal qw(strip_epoch);
use Test::Signal::WS;
use Test::Signal::Redis;

use Time::HiRes qw(sleep time);

###############################################################################

my $a = Test::Signal->new();
my $b = Test::Signal->new();
my $redis = Test::Signal::Redis->new(port => $a->port(9), dir => $a->dir());

my $conf = <<'EOF';

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_redis redis://127.0.0.1:REDIS_PORT/3;
    signal_redis_command_timeout 500ms;
    signal_redis_backoff 50ms 300ms;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_join $arg_r;
            signal_user $arg_user;
            signal_allow_subscribe "*";
        }

        location /fam {
            signal_websocket;
            signal_join "fam:*";
        }

        location /bfam {
            signal_websocket;
            signal_join "b:*";
        }

        location /notify {
            signal_notify;
        }

        location /status {
            signal_status;
        }

        location /presence {
            signal_presence;
        }

        location /once {
            signal_webhook standard;
            signal_webhook_secret "whsec_c3RhbmRhcmQta2V5LTAxMjM0NTY3ODk=";
            signal_webhook_room x;
            signal_webhook_event once;
        }

        location /hook {
            signal_webhook github;
            signal_webhook_secret "hook-secret-0123456789";
            signal_webhook_room x;
            signal_webhook_event hook;
        }
    }
}

EOF

$conf =~ s/REDIS_PORT/$redis->port()/e;

$a->write_file_expand('nginx.conf', $conf);
$b->write_file_expand('nginx.conf', $conf);

$a->run()->plan(50 + 3);
$b->checked_too();

###############################################################################

my %epoch;    # of each room: every event of it has this one, on each host

# host A starts while Redis is down

my $r = $a->notify('/notify', '{"room":"x","event":"e"}');
is($r->{status}, 503, 'Redis down at start: notify 503');
is($r->{json}{error}, 'redis_unavailable', 'with redis_unavailable');
like($r->{json}{detail}, qr/nothing was published/, 'saying nothing was');
# a worker is listed once it has started (slower under load)
# (status shows each step: a retry passes through connecting)
ok(wait_links($a, 'down'), 'status: both links of both workers down');

my $early = $a->ws_ok('/ws?r=early');
ok($early, 'a client connects while Redis is down');

$redis->start();
ok(wait_links($a, 'ready'), 'Redis started later: the links come up');
ok(wait_links($a, 'ready'), 'host A ready');

$b->run();
ok(wait_links($b, 'ready'), 'host B ready');

$r = $a->notify('/notify', '{"room":"early","event":"e","data":1}');
is($r->{status}, 202, 'notify accepted once Redis is up');
is(($early->recv_json(3) // {})->{event}, 'e',
    'the early client was subscribed when Redis came up');

# an event published on either host reaches members on both

my @ax = map { $a->ws_ok('/ws?r=x') } 1 .. 4;
my @bx = map { $b->ws_ok('/ws?r=x') } 1 .. 4;

$r = $a->publish('x', 'from-a', '{"n":1}');
is($r->{json}{published}[0]{seq}, 1, 'seq from Redis');
$r = $b->publish('x', 'from-b', '{"n":2}');
is($r->{json}{published}[0]{seq}, 2, 'the same sequence on the other host');

is(join(',', map { got($_, 2) } @ax, @bx),
    join(',', ('from-a:1 from-b:2') x 8),
    'all 8 clients on both hosts got both, in order');

# presence is summed over the hosts (users per host)

my @u = ($a->ws_ok('/ws?r=u&user=ann'), $a->ws_ok('/ws?r=u&user=ann'),
    $b->ws_ok('/ws?r=u&user=bob'));
is_deeply(presence($a, 'x'), { room => 'x', connections => 8, users => 0 },
    'presence of x through host A: both hosts\' connections');
is_deeply(presence($b, 'u'), { room => 'u', connections => 3, users => 2 },
    'and of u through host B, with users');
$_->close() for @u[0, 2];
ok(wait_presence($a, 'u', 1), 'closes are counted out on every host');

# a room and its family on one connection: once

my $both = $b->ws_ok('/ws?r=fam:1');
$both->send_json({ type => 'subscribe', room => 'fam:*', id => 1 });
is(($both->recv_json() // {})->{type}, 'subscribed', 'subscribed to a family');
my $fam = $a->ws_ok('/fam');

$a->publish('fam:1', 'f', '1');
$a->publish('fam:2', 'g', '2');
is(got($both, 3), 'f:1 g:1', 'room + family: each event once');
is(got($fam, 3), 'f:1 g:1', 'family member on the other host');

# a burst through both hosts: order and exactly-once per connection

my @rooms = map { "b:$_" } 0 .. 3;
my @members = ((map { $a->ws_ok("/ws?r=$_") } @rooms),
    (map { $b->ws_ok("/ws?r=$_") } @rooms), $a->ws_ok('/bfam'),
    $b->ws_ok('/bfam'));

my (%count, $accepted);
for my $i (1 .. 20) {
    my $host = $i % 2 ? $a : $b;
    my @ev = map {
        my $room = $rooms[int(rand(4))];
        $count{$room}++;
        qq({"room":"$room","event":"e","data":$_});
    } 1 .. 50;
    $r = $host->notify('/notify', '{"events":[' . join(',', @ev) . ']}');
    $accepted += 50 if $r->{status} == 202;
}
is($accepted, 1000, '1000 events accepted through both hosts');

my $ok = 1;
for my $i (0 .. $#members) {
    my $want = $i >= 8 ? 1000 : $count{$rooms[$i % 4]};
    my (%last, $bad);
    my $n = 0;
    while ($n < $want) {
        my $m = $members[$i]->recv_json(3) or last;
        $n++;
        $bad++ if $m->{seq} != ($last{$m->{room}} // 0) + 1
            || !strip_epoch($m, \%epoch);
        $last{$m->{room}} = $m->{seq};
    }
    $ok = 0 if $n != $want || $bad || !$members[$i]->expect_nothing(0.1);
}
ok($ok, 'every member got its rooms in seq order, once, nothing more');

# a backend publishes straight into Redis

# (in the database of signal_redis: the seq counters live there)

my ($seq, $e) = split /\n/, $redis->cli('-n', 3, 'FCALL',
    'signal_publish', '0', 'x', 'direct', '{"from":"redis-cli"}');
is($seq, '3', 'FCALL signal_publish answers the seq');
is($e, $epoch{x} // 'none', 'and the epoch of the room');
is(join(',', map { got($_, 1) } @ax, @bx), join(',', ('direct:3') x 8),
    'it reaches clients on both hosts');
like($redis->cli('-n', 3, 'FCALL', 'signal_publish', '0', 'x', 'e',
    '{oops'), qr/not JSON/, 'invalid data is refused by the function');
like($redis->cli('-n', 3, 'FCALL', 'signal_publish', '0', 'x', 'e', '1',
    'bad room', 'e', '2'), qr/invalid room/,
    'an invalid room in a batch is refused');
ok($ax[0]->expect_nothing(0.3), 'and nothing of that batch was published');

# a signed webhook on one host reaches both, through Redis

use Digest::SHA qw(hmac_sha256_hex);

my $hook = '{"n":7}';
$r = $b->http('POST', '/hook', body => $hook, headers => {
    'Content-Type' => 'application/json',
    'X-Hub-Signature-256' => 'sha256='
        . hmac_sha256_hex($hook, 'hook-secret-0123456789') });
is($r->{status}, 202, 'a webhook is published through Redis');
is(join(',', map { got($_, 1) } @ax, @bx), join(',', ('hook:4') x 8),
    'and reaches clients on both hosts');

# a webhook id is remembered in Redis: a replay to the other host is
# answered but not published again

use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(hmac_sha256);

my $ts = time();
my $once = '{"n":8}';
my %sig = ('Content-Type' => 'application/json', 'webhook-id' => 'msg_x',
    'webhook-timestamp' => int($ts), 'webhook-signature' => 'v1,'
    . encode_base64(hmac_sha256('msg_x.' . int($ts) . ".$once",
    'standard-key-0123456789'), ''));

$r = $a->http('POST', '/once', body => $once, headers => \%sig);
is($r->{status}, 202, 'a webhook with an id, through host A');
$r = $b->http('POST', '/once', body => $once, headers => \%sig);
is($r->{status} . ($r->{json}{duplicate} ? ' duplicate' : ''),
    '200 duplicate', 'the same id through host B: a duplicate');
is(join(',', map { got($_, 2) } @ax, @bx),
    join(',', ('once:5') x 8), 'published once, on both hosts');

# one subscription per worker, whatever the clients did

my $subs = $redis->cli('PUBSUB', 'NUMSUB', 'signal:r:x');
my ($numsub) = $subs =~ /(\d+)\s*\z/;
ok($numsub >= 2 && $numsub <= 4, "signal:r:x has $numsub subscribers "
    . '(one per worker with members)');

# Redis killed: clients stay, notify 503 within the timeout

my $fds = fd_count($a) + fd_count($b);
$redis->stop('KILL');

ok(wait_links($a, 'down') && wait_links($b, 'down'),
    'Redis killed: status shows the links down');

my $t0 = time();
$r = $b->notify('/notify', '{"room":"x","event":"lost"}');
is($r->{status}, 503, 'notify while Redis is down: 503');
ok(time() - $t0 < 1, 'answered at once');

$ax[1]->send_json({ type => 'ping', id => 'alive' });
is(($ax[1]->recv_json() // {})->{type}, 'pong', 'clients stay connected');

my $during = $b->ws_ok('/ws?r=x');
ok($during, 'a new client connects during the outage');

my $p = presence($b, 'x');
ok($p->{partial} && $p->{connections} == 5,
    'presence during the outage: this host\'s, marked partial')
    or diag(explain($p));

$redis->start();
ok(wait_links($a, 'ready') && wait_links($b, 'ready'),
    'Redis restarted: both hosts reconnect');
delete $epoch{x};    # Redis lost its data: the room has another epoch

$r = $a->notify('/notify', '{"room":"x","event":"back","data":4}');
is($r->{status}, 202, 'publishing works again');
is(join(',', map { got($_, 2) } @ax[1 .. 3], @bx[1 .. 3], $during),
    join(',', ('gap:epoch:0 back:1') x 6, 'back:1'),
    'every client, also the one that came during the outage, gets it '
    . 'once (seq starts again: Redis lost its data; the clients with a '
    . 'position there are told first)');

ok(wait_presence($a, 'x', 9), 'presence told again to the new Redis: '
    . 'all 9 of x');

$subs = $redis->cli('PUBSUB', 'NUMSUB', 'signal:r:x');
($numsub) = $subs =~ /(\d+)\s*\z/;
ok($numsub >= 2 && $numsub <= 4, "after the restart: $numsub subscribers, "
    . 'no duplicates');

my @clients = grep { /cmd=/ } split /\n/, $redis->cli('CLIENT', 'LIST');
is(scalar(@clients), 9, '8 connections from 4 workers (+ redis-cli)')
    or diag(join("\n", @clients));

is(fd_count($a) + fd_count($b), $fds + 1, 'no descriptor leaked by the '
    . 'reconnects (one more client)');

# a stall: Redis paused, notify answers 503 within the command timeout

$redis->pause();
$t0 = time();
$r = $a->notify('/notify', '{"room":"x","event":"stalled"}');
my $dt = time() - $t0;
is($r->{status}, 503, 'Redis paused: 503');
is($r->{json}{error}, 'redis_timeout', 'with redis_timeout');
ok($dt < 1.5, sprintf('after the command timeout (%.2fs)', $dt));
$redis->resume();

ok(wait_links($a, 'ready'), 'resumed: ready again');

$redis->stop();

###############################################################################

# "event:seq" of the next $n events (fewer if they do not come); one not
# in the epoch of its room is "event:seq?".
sub got {
    my ($ws, $n) = @_;
    my @e;
    for (1 .. $n) {
        my $m = $ws->recv_json($_ == 1 ? 3 : 0.3) or last;
        my $ok = strip_epoch($m, \%epoch);
        if (($m->{type} // '') eq 'gap') {
            push @e, "gap:$m->{reason}:" . ($m->{seq} // '')
                . ($ok ? '' : '?');
            next;
        }
        push @e, "$m->{event}:$m->{seq}" . ($ok ? '' : '?');
    }
    return "@e";
}

sub presence {
    my ($t, $room) = @_;
    return $t->http('GET', "/presence?room=$room")->{json} // {};
}

# 1 once presence of $room (through host $t) has $n connections, not partial
sub wait_presence {
    my ($t, $room, $n) = @_;
    for (1 .. 60) {
        my $p = presence($t, $room);
        return 1 if ($p->{connections} // -1) == $n && !$p->{partial};
        sleep(0.05);
    }
    diag(explain(presence($t, $room)));
    return 0;
}

sub status {
    my ($t) = @_;
    my $res = $t->http('GET', '/status');
    return $res->{json} // {};
}

# "command subscriber" states of every worker
sub links {
    my ($t) = @_;
    return join(' ', map { @{$_->{redis} // {}}{qw(command subscriber)} }
        @{status($t)->{workers} // []});
}

sub wait_links {
    my ($t, $state) = @_;
    for (1 .. 100) {
        my @s = split ' ', links($t);
        return 1 if @s == 4 && !grep { $_ ne $state } @s;
        sleep(0.05);
    }
    diag('links: ' . links($t));
    return 0;
}

# open descriptors of a host's workers
sub fd_count {
    my ($t) = @_;
    my $n = 0;
    for my $pid ($t->workers()) {
        opendir(my $d, "/proc/$pid/fd") or next;
        $n += grep { /^\d+$/ } readdir($d);
    }
    return $n;
}

###############################################################################
