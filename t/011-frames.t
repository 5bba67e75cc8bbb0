#!/usr/bin/perl

# Tests for ngx_signal_module: WebSocket frame parsing and validation
# (RFC 6455 5.x): masking, reserved bits and opcodes, length encodings,
# control frames, fragmentation, UTF-8, message size limit.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

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
            signal_max_message_size 1k;
            signal_close_timeout 2s;
        }
    }
}

EOF

$t->run()->plan(48);

###############################################################################

# framing errors: 1002

is(close_after(frame(opcode => 1, payload => 'hello', mask => 0)), 1002,
    'unmasked client frame');
is(close_after(frame(opcode => 9, payload => '', mask => 0)), 1002,
    'unmasked client control frame');

for my $rsv (4, 2, 1) {
    is(close_after(frame(payload => ping_json(1), rsv => $rsv)), 1002,
        "RSV bits $rsv set");
}

for my $op (3 .. 7, 0xb .. 0xf) {
    is(close_after(frame(opcode => $op, payload => 'x')), 1002,
        sprintf('reserved opcode 0x%x', $op));
}

is(close_after(frame(payload => ping_json(1), len_form => '16')), 1002,
    'non-minimal 16-bit length');
is(close_after(frame(payload => ping_json(1), len_form => '64')), 1002,
    'non-minimal 64-bit length for a short payload');
is(close_after(frame(payload => pad_json(200), len_form => '64')), 1002,
    'non-minimal 64-bit length for a 200-byte payload');
is(close_after("\x81\xff\x80\x00\x00\x00\x00\x00\x00\x05" . "\x00" x 4
    . 'hello'), 1002, '64-bit length with the most significant bit set');

is(close_after(frame(opcode => 9, payload => 'x' x 126)), 1002,
    'ping with 126 bytes');
is(close_after(frame(opcode => 8, payload => pack('n', 1000) . 'x' x 124)),
    1002, 'close with 126 bytes');
is(close_after(frame(opcode => 9, payload => 'x', fin => 0)), 1002,
    'fragmented ping');
is(close_after(frame(opcode => 0, payload => ping_json(1))), 1002,
    'continuation without a started message');
is(close_after(frame(opcode => 1, payload => '{"type":', fin => 0)
    . frame(opcode => 1, payload => '"ping"}')), 1002,
    'new text frame while a fragmented message is in progress');
is(close_after(frame(opcode => 1, payload => '{"type":', fin => 0)
    . frame(opcode => 2, payload => 'x')), 1002,
    'new binary frame while a fragmented message is in progress');

# fragmentation

my $ws = $t->ws('/ws');
my $msg = ping_json(1);
$ws->send_frame(opcode => 1, fin => 0, payload => substr($msg, 0, 5));
$ws->send_ping('between');
$ws->send_frame(opcode => 0, fin => 0, payload => substr($msg, 5, 8));
$ws->send_frame(opcode => 0, fin => 1, payload => substr($msg, 13));
my $f = $ws->recv_frame();
is($f && "$f->{opcode}:$f->{payload}", '10:between',
    'ping between fragments answered first');
is_deeply($ws->recv_json(), { type => 'pong', id => 1 },
    'message in 3 fragments with an interleaved ping');

$ws = $t->ws('/ws');
$ws->send_frame(opcode => 1, fin => 0, payload => '');
$ws->send_frame(opcode => 0, fin => 0, payload => ping_json(2));
$ws->send_frame(opcode => 0, fin => 1, payload => '');
is_deeply($ws->recv_json(), { type => 'pong', id => 2 },
    'message with empty first and last fragments');

$ws = $t->ws('/ws');
$ws->send_bytewise(frame(payload => ping_json(3)));
is_deeply($ws->recv_json(), { type => 'pong', id => 3 },
    'message delivered one byte at a time');
$ws->send_bytewise(frame(payload => pad_json(300, 4)));
is_deeply($ws->recv_json(), { type => 'pong', id => 4 },
    '16-bit length message delivered one byte at a time');
$ws->send_bytewise(frame(opcode => 9, payload => 'bytes'));
$f = $ws->recv_frame();
is($f && "$f->{opcode}:$f->{payload}", '10:bytes',
    'ping delivered one byte at a time');

$ws = $t->ws('/ws');
$ws->send_raw(join '', map { frame(payload => ping_json($_)) } 1 .. 20);
my @ids = map { my $m = $ws->recv_json(); $m ? $m->{id} : 'none' } 1 .. 20;
is("@ids", join(' ', 1 .. 20), '20 messages in one write');

# UTF-8

is(close_after(frame(payload => "\xff")), 1007, 'invalid UTF-8 byte');
is(close_after(frame(payload => '{"type":"ping","id":"' . "\xed\xa0\x80"
    . '"}')), 1007, 'UTF-8 surrogate');
is(close_after(frame(payload => '{"type":"ping","id":"' . "\xc0\xaf"
    . '"}')), 1007, 'overlong UTF-8');
is(close_after(frame(payload => '{"type":"ping","id":"' . "\xf4\x90\x80\x80"
    . '"}')), 1007, 'UTF-8 above U+10FFFF');
is(close_after(frame(payload => '{"type":"ping","id":1}' . "\xe2\x82")),
    1007, 'truncated UTF-8 sequence at the end of a message');
is(close_after(frame(payload => '{"type":"ping","id":1}' . "\xe2", fin => 0)
    . frame(opcode => 0, payload => "\x82")), 1007,
    'truncated UTF-8 sequence at the end of a fragmented message');

$ws = $t->ws('/ws');
$msg = "{\"type\":\"ping\",\"id\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}";
my $cut = index($msg, "\xe2") + 1;
$ws->send_frame(opcode => 1, fin => 0, payload => substr($msg, 0, $cut));
$ws->send_frame(opcode => 0, fin => 0, payload => substr($msg, $cut, 3));
$ws->send_frame(opcode => 0, fin => 1, payload => substr($msg, $cut + 3));
is_deeply($ws->recv_json(),
    { type => 'pong', id => "\x{e9}\x{20ac}\x{1f600}" },
    'UTF-8 sequences split across fragments accepted');

# message size (signal_max_message_size 1k)

$ws = $t->ws('/ws');
$ws->send_text(pad_json(1024, 5));
is_deeply($ws->recv_json(), { type => 'pong', id => 5 },
    'message of exactly the maximum size accepted');
$ws->send_frame(opcode => 1, fin => 0, payload => substr(pad_json(1024, 6),
    0, 1000));
$ws->send_frame(opcode => 0, payload => substr(pad_json(1024, 6), 1000));
is_deeply($ws->recv_json(), { type => 'pong', id => 6 },
    'fragmented message of exactly the maximum size accepted');

is(close_after(frame(payload => pad_json(1025))), 1009,
    'message one byte over the maximum size');
is(close_after(frame(payload => ' ' x 400, fin => 0)
    . frame(opcode => 0, payload => ' ' x 400, fin => 0)
    . frame(opcode => 0, payload => ' ' x 400)), 1009,
    'fragments adding up to more than the maximum size');
is(close_after("\x81\xff" . pack('Q>', 100000) . "\x01\x02\x03\x04"), 1009,
    'oversized length refused before the payload arrives');

# binary messages

is(close_after(frame(opcode => 2, payload => "\x00\x01")), 1003,
    'binary message');
is(close_after(frame(opcode => 2, payload => "\x00", fin => 0)
    . frame(opcode => 0, payload => "\x01")), 1003,
    'fragmented binary message');

# the connection survives control frames and other clients' errors

$ws = $t->ws('/ws');
$ws->send_pong('unsolicited');
$ws->send_ping('x' x 125);
$f = $ws->recv_frame();
is($f && $f->{opcode} == 10 && $f->{payload} eq 'x' x 125, 1,
    'ping with 125 bytes answered after an unsolicited pong');
ok($f && !$f->{masked} && !$f->{rsv} && $f->{fin},
    'server frame is unmasked, FIN set, no RSV bits');

###############################################################################

sub frame { Test::Signal::WS::build_frame(@_) }

sub ping_json { '{"type":"ping","id":' . $_[0] . '}' }

# A valid native ping of exactly $len bytes (JSON padded with spaces).
sub pad_json {
    my ($len, $id) = @_;
    my $s = ping_json($id // 0);
    return substr($s, 0, -1) . (' ' x ($len - length $s)) . '}';
}

# Sends $bytes on a new connection, expects the server to close; returns
# the close code, with " (tcp open)" appended when the server did not
# then close the TCP connection.
sub close_after {
    my ($bytes) = @_;
    my $ws = $t->ws('/ws');
    return "handshake $ws->{status}" unless $ws->{status} == 101;
    $ws->send_raw($bytes);
    my ($code, $reason, $closed) = $ws->expect_close(3);
    return 'no close frame' . ($ws->{eof} ? ' (eof)' : '')
        . join('', map { " [op $_->{opcode}: $_->{payload}]" }
            @{$ws->{skipped} || []})
        unless defined $code;
    return $closed ? $code : "$code (tcp open)";
}

###############################################################################
