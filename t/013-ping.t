#!/usr/bin/perl

# Tests for ngx_signal_module: keepalive pings (signal_ping_interval,
# signal_ping_timeout), client pings, native ping messages.

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
            signal_ping_interval 1s;
            signal_ping_timeout 1s;
        }

        location /quiet {
            signal_websocket;
            signal_ping_interval 60s;
        }
    }
}

EOF

$t->run()->plan(17);

###############################################################################

# server pings: one client answers them, one stays silent; both are
# served in the same loop so that neither delays the other

my $t0 = time();
my $answering = $t->ws('/ws');
my $silent = $t->ws('/ws');
my ($ping, $ping_at, $closed_at, $pings) = (undef, 0, 0, 0);

while (time() < $t0 + 4.5) {
    if (my $g = $answering->recv_frame(0.02)) {
        if ($g->{opcode} == 9) {
            $pings++;
            $answering->send_pong($g->{payload});
        }
    }

    next if $closed_at;

    my $g = $silent->recv_frame(0.02);
    if ($g && $g->{opcode} == 9 && !$ping) {
        $ping = $g;
        $ping_at = time() - $t0;
    }
    $closed_at = time() - $t0 if $silent->{eof};
}

is($ping && $ping->{opcode}, 9, 'server ping arrives');
ok($ping_at > 0.7 && $ping_at < 2.5, 'server ping after signal_ping_interval')
    or diag(sprintf('after %.2fs', $ping_at));
ok($ping && !$ping->{masked} && $ping->{fin},
    'server ping is unmasked and final');

ok($closed_at, 'unanswered ping: connection closed');
ok($closed_at > 1.5 && $closed_at < 3.5,
    'unanswered ping: closed after signal_ping_timeout')
    or diag(sprintf('after %.2fs', $closed_at));

ok($pings >= 3, 'answered pings keep coming') or diag("$pings pings");
ok(!$answering->{eof}, 'answering client still connected after 4.5s');
$answering->send_json({ type => 'ping', id => 'alive' });
is_deeply($answering->recv_json(), { type => 'pong', id => 'alive' },
    'answering client still served');

# client pings

my $ws = $t->ws('/quiet');
$ws->send_ping('hello-ping');
my $f = $ws->recv_frame();
is($f && "$f->{opcode}:$f->{payload}", '10:hello-ping',
    'pong echoes the ping payload');

$ws->send_ping('');
$f = $ws->recv_frame();
is($f && "$f->{opcode}:$f->{payload}", '10:', 'pong to an empty ping');

my $bin = join '', map { chr } 0 .. 124;
$ws->send_ping($bin);
$f = $ws->recv_frame();
ok($f && $f->{opcode} == 10 && $f->{payload} eq $bin,
    'pong echoes a 125-byte binary payload');

$ws->send_pong('unsolicited');
$ws->send_ping('after-pong');
$f = $ws->recv_frame();
is($f && "$f->{opcode}:$f->{payload}", '10:after-pong',
    'unsolicited pong ignored');

# native pings

$ws->send_json({ type => 'ping', id => 'x' });
is_deeply($ws->recv_json(), { type => 'pong', id => 'x' },
    'native ping with a string id');

$ws->send_json({ type => 'ping', id => 5 });
is_deeply($ws->recv_json(), { type => 'pong', id => 5 },
    'native ping with an integer id');

$ws->send_json({ type => 'ping' });
is_deeply($ws->recv_json(), { type => 'pong' }, 'native ping without id');

$ws->send_text('{"type":"ping","id":"x","extra":[1,2,{"a":null}]}');
is_deeply($ws->recv_json(), { type => 'pong', id => 'x' },
    'native ping with an unknown field');

# no server ping without the interval elapsing

$f = $ws->recv_frame(1);
ok(!$f, 'no server ping before signal_ping_interval (60s)');

###############################################################################
