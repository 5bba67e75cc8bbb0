#!/usr/bin/perl

# Tests for ngx_signal_module: WebSocket closing handshake (RFC 6455 5.5.1,
# 7.1-7.4): echoed codes, invalid close payloads, close timeout.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use Time::HiRes qw(time);

###############################################################################

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 1;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_close_timeout 2s;
            signal_ping_interval 60s;
        }
    }
}

EOF

$t->run()->plan(33);

###############################################################################

my $ws = $t->ws('/ws');
$ws->send_close(1000);
my ($code, $reason, $closed) = $ws->expect_close(3);
is($code, 1000, 'close 1000 echoed');
ok($closed, 'server closed TCP after the closing handshake');

$ws = $t->ws('/ws');
$ws->send_close(1000, 'bye now');
is(scalar $ws->expect_close(3), 1000, 'close 1000 with a reason echoed');

$ws = $t->ws('/ws');
$ws->send_close(1000, "\xc3\xa9t\xc3\xa9");
is(scalar $ws->expect_close(3), 1000, 'close with a UTF-8 reason echoed');

for my $c (1001, 1003, 1007, 1011, 1014, 3000, 3999, 4000, 4999) {
    $ws = $t->ws('/ws');
    $ws->send_close($c);
    is(scalar $ws->expect_close(3), $c, "close $c echoed");
}

$ws = $t->ws('/ws');
$ws->send_close();
($code, $reason, $closed) = $ws->expect_close(3);
ok(defined $code && ($code == 1005 || $code == 1000),
    'empty close answered with an empty close or 1000')
    or diag('got ' . ($code // 'no close'));
ok($closed, 'empty close: TCP closed');

$ws = $t->ws('/ws');
$ws->send_frame(opcode => 8, payload => "\x03");
is(scalar $ws->expect_close(3), 1002, '1-byte close payload');

for my $c (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
    65535)
{
    $ws = $t->ws('/ws');
    $ws->send_close($c);
    is(scalar $ws->expect_close(3), 1002, "invalid close code $c");
}

$ws = $t->ws('/ws');
$ws->send_close(1000, "\xff\xfe");
$code = $ws->expect_close(3);
ok(defined $code && ($code == 1002 || $code == 1007),
    'close reason that is not UTF-8: 1002 or 1007')
    or diag('got ' . ($code // 'no close'));

# nothing is answered after the client's close

$ws = $t->ws('/ws');
$ws->send_raw(Test::Signal::WS::build_frame(opcode => 8,
        payload => pack('n', 1000))
    . Test::Signal::WS::build_frame(opcode => 9, payload => 'late')
    . Test::Signal::WS::build_frame(payload => '{"type":"ping","id":1}'));
my $f = $ws->recv_frame(3);
is($f && $f->{opcode}, 8, 'frames after the client close are not answered');

# close timeout (signal_close_timeout 2s): the server may half-close
# after its close frame, so "gone" is probed with writes

$ws = $t->ws('/ws');
$ws->send_frame(opcode => 1, payload => 'x', mask => 0);
($code, $reason, $closed) = $ws->expect_close(3, no_reply => 1,
    eof_timeout => 0.2);
my $t0 = time();
my $gone = $ws->server_gone(5);
my $dt = time() - $t0;
is($code, 1002, 'protocol error: close frame, client silent');
ok($gone && $dt > 1.5 && $dt < 3.5,
    'client never answers close: connection released after '
    . 'signal_close_timeout')
    or diag(sprintf('gone %s after %.2fs', $gone, $dt));

$ws = $t->ws('/ws');
$ws->send_close(1000);
($code, $reason, $closed) = $ws->expect_close(3, eof_timeout => 0.5);
$t0 = time();
$gone = $ws->server_gone(3);
$dt = time() - $t0;
ok($gone && $dt < 1, 'client-initiated close: connection released at once')
    or diag(sprintf('gone %s after %.2fs', $gone, $dt));

###############################################################################
