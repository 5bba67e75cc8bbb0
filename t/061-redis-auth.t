#!/usr/bin/perl

# Tests for ngx_signal_module: how the Redis engine reaches Redis. A unix
# socket; a password and a database number (the seq counters land in that
# database); a wrong password keeps the links down with a clear log line
# and notify answering 503; the password never appears in logs or status.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;
use Test::Signal::Redis;

use Time::HiRes qw(sleep);

###############################################################################

my $t = Test::Signal->new();
my $sock = $t->dir() . '/redis.sock';

my $open = Test::Signal::Redis->new(port => $t->port(8), dir => $t->dir(),
    args => [ '--unixsocket', $sock, '--unixsocketperm', '777' ]);
my $locked = Test::Signal::Redis->new(port => $t->port(9), dir => $t->dir(),
    args => [ '--requirepass', 'Pa55word' ], password => 'Pa55word');

$open->start();
$locked->start();

my $conf = <<'EOF';

%%TEST_GLOBALS%%

worker_processes 1;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_redis REDIS;
    signal_redis_backoff 50ms 200ms;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_join $arg_r;
        }

        location /notify {
            signal_notify;
        }

        location /status {
            signal_status;
        }
    }
}

EOF

my %url = (
    unix => "unix:$sock",
    auth => 'redis://:Pa55word@127.0.0.1:' . $locked->port() . '/5',
    wrong => 'redis://:nope@127.0.0.1:' . $locked->port() . '/5',
);

# each nginx adds its 3 implicit checks
plan(tests => 13 + 3 * 3);

###############################################################################

# a unix socket

my $u = start('unix');
ok(wait_ready($u), 'unix socket: ready');
my $ws = $u->ws_ok('/ws?r=s');
my $r = $u->publish('s', 'e', '1');
is(($ws->recv_json(3) // {})->{event}, 'e', 'unix socket: delivered');
is($open->cli('HGET', 'signal:room:s', 'seq'), '1',
    'the seq counter in database 0');
$u->stop();

# a password and a database

my $p = start('auth');
ok(wait_ready($p), 'password and database: ready');
$ws = $p->ws_ok('/ws?r=s');
$p->publish('s', 'e', '2');
is(($ws->recv_json(3) // {})->{event}, 'e', 'password: delivered');
is($locked->cli('-a', 'Pa55word', '--no-auth-warning', '-n', 5, 'HGET',
    'signal:room:s', 'seq'), '1', 'the seq counter in database 5');
my $status = $p->http('GET', '/status')->{body};
unlike($status, qr/Pa55word/, 'status does not show the password');
like($status, qr/"engine":"redis"/, 'status shows the engine');
$p->stop();
unlike($p->read_file('error.log'), qr/Pa55word/, 'nor does the log');

# a wrong password: down, with a log line that says why

my $w = start('wrong');
sleep(0.3);
# (status shows each step: a retry passes through connecting and auth)
my @seen = map { sleep(0.05); links($w) } 1 .. 10;
ok(!grep({ /ready/ } @seen) && grep({ $_ eq 'down down' } @seen),
    'wrong password: the links stay down, never ready') or diag("@seen");
$r = $w->notify('/notify', '{"room":"s","event":"e"}');
is($r->{status}, 503, 'notify: 503');
$w->stop();
like($w->read_file('error.log'),
    qr/\[error\].*redis at redis:\/\/127\.0\.0\.1:\d+\/5 refused the auth step/,
    'the log says Redis refused the password');
unlike($w->read_file('error.log'), qr/nope/, 'without showing it');

$open->stop();
$locked->stop();

###############################################################################

sub start {
    my ($which) = @_;
    my $n = Test::Signal->new();
    (my $c = $conf) =~ s/REDIS/$url{$which}/;
    $n->write_file_expand('nginx.conf', $c);
    return $n->run()->checked_too();
}

sub links {
    my ($n) = @_;
    my $s = $n->http('GET', '/status')->{json} // {};
    return join(' ', map { @{$_->{redis} // {}}{qw(command subscriber)} }
        @{$s->{workers} // []});
}

sub wait_ready {
    my ($n) = @_;
    for (1 .. 60) {
        return 1 if links($n) eq 'ready ready';
        sleep(0.05);
    }
    diag('links: ' . links($n));
    return 0;
}

###############################################################################
