#!/usr/bin/perl

# Tests for ngx_signal_module: WebSocket opening handshake (RFC 6455 4.2),
# refusals with JSON bodies, subprotocol negotiation, pipelined frames,
# signal_join with variables.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal qw(strip_epoch);
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
        }

        location /proto {
            signal_websocket;
            signal_subprotocols native other;
        }

        location /join {
            signal_websocket;
            signal_join "startup:$arg_startup";
        }

        location /notify {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(57);

###############################################################################

my $r;

# method and HTTP version

$r = $t->ws('/ws', method => 'POST', headers => { 'Content-Length' => 0 });
is($r->{status}, 405, 'POST refused with 405');
like($r->{headers}{allow} // '', qr/\bGET\b/, '405 has Allow: GET');
json_error_ok($r, '405');

$r = $t->ws('/ws', method => 'PUT', headers => { 'Content-Length' => 0 });
is($r->{status}, 405, 'PUT refused with 405');

$r = $t->ws('/ws', http_version => '1.0');
is($r->{status}, 400, 'HTTP/1.0 refused with 400');
json_error_ok($r, 'HTTP/1.0 400');

# Upgrade and Connection

$r = $t->ws('/ws', headers => { Upgrade => undef });
is($r->{status}, 426, 'missing Upgrade: 426');
like($r->{headers}{upgrade} // '', qr/^websocket$/i,
    'missing Upgrade: 426 has Upgrade: websocket');
is($r->{headers}{'sec-websocket-version'}, '13',
    'missing Upgrade: 426 has Sec-WebSocket-Version: 13');
json_error_ok($r, '426');

$r = $t->ws('/ws', headers => { Upgrade => 'h2c' });
is($r->{status}, 426, 'Upgrade: h2c refused with 426');

$r = $t->ws('/ws', headers => { Connection => undef });
is($r->{status}, 426, 'missing Connection: 426');

$r = $t->ws('/ws', headers => { Connection => 'keep-alive' });
is($r->{status}, 426, 'Connection without upgrade token: 426');
like($r->{headers}{upgrade} // '', qr/^websocket$/i,
    'Connection without upgrade: 426 has Upgrade: websocket');

$r = $t->ws('/ws', headers => { Connection => 'keep-alive, Upgrade' });
is($r->{status}, 101, 'upgrade token in a Connection list accepted');

$r = $t->ws('/ws', headers => { Upgrade => 'WebSocket',
    Connection => 'UPGRADE' });
is($r->{status}, 101, 'Upgrade and Connection values are case-insensitive');

# Sec-WebSocket-Version

for my $v ('8', '12', '14', '130') {
    $r = $t->ws('/ws', version => $v);
    is($r->{status}, 426, "version $v refused with 426");
}
is($r->{headers}{'sec-websocket-version'}, '13',
    'bad version: 426 has Sec-WebSocket-Version: 13');
json_error_ok($r, 'bad version 426');

$r = $t->ws('/ws', version => undef);
is($r->{status}, 426, 'missing version refused with 426');
is($r->{headers}{'sec-websocket-version'}, '13',
    'missing version: 426 has Sec-WebSocket-Version: 13');

# Sec-WebSocket-Key

$r = $t->ws('/ws', key => undef);
is($r->{status}, 400, 'missing key refused with 400');
json_error_ok($r, 'missing key 400');

$r = $t->ws('/ws', key => 'AAAAAAAAAAAAAAAAAAAA');
is($r->{status}, 400, 'key of 20 chars (15 bytes) refused');

$r = $t->ws('/ws', key => 'AAAAAAAAAAAAAAAAAAAAAA==AAAA');
is($r->{status}, 400, 'key of 28 chars refused');

$r = $t->ws('/ws', key => '!!!!!!!!!!!!!!!!!!!!!!!!');
is($r->{status}, 400, 'key of 24 chars that is not base64 refused');

$r = $t->ws('/ws', key => 'AAAAAAAAAAAAAAAAAAAAAAAA');
is($r->{status}, 400, 'key of 24 chars decoding to 18 bytes refused');

$r = $t->ws('/ws', key => 'AAAAAAAAAAAAAAAAAAAAA===');
is($r->{status}, 400, 'key of 24 chars decoding to 15 bytes refused');

$r = $t->ws('/ws', key => 'AAAAAAAAAAAAAAAAAAAAAA==');
is($r->{status}, 101, 'key of 16 zero bytes accepted');

# success

$r = $t->ws('/ws', key => 'dGhlIHNhbXBsZSBub25jZQ==');
is($r->{status}, 101, 'RFC 6455 sample key: 101');
is($r->{headers}{'sec-websocket-accept'}, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=',
    'RFC 6455 sample key: accept value');
like($r->{headers}{upgrade} // '', qr/^websocket$/i, '101 Upgrade header');
like($r->{headers}{connection} // '', qr/\bupgrade\b/i,
    '101 Connection header');
ok(!exists $r->{headers}{'sec-websocket-protocol'},
    'no subprotocol header without signal_subprotocols');

my $ok = 0;
for (1 .. 5) {
    my $ws = $t->ws('/ws');
    $ok++ if $ws->{status} == 101 && $ws->{accept_ok};
}
is($ok, 5, 'random keys: accept values match');

# subprotocols

$r = $t->ws('/proto', protocols => [ 'foo', 'other', 'native' ]);
is($r->{status}, 101, 'subprotocol offered: 101');
is($r->{headers}{'sec-websocket-protocol'}, 'other',
    'first offered subprotocol that is configured is echoed');

$r = $t->ws('/proto', protocols => [ 'native' ]);
is($r->{headers}{'sec-websocket-protocol'}, 'native', 'single subprotocol');

$r = $t->ws('/proto', headers => {
    'Sec-WebSocket-Protocol' => "foo,native ,  other" });
is($r->{headers}{'sec-websocket-protocol'}, 'native',
    'subprotocol list with irregular spaces parsed');

$r = $t->ws('/proto', protocols => [ 'foo', 'bar' ]);
is($r->{status}, 101, 'no matching subprotocol: still 101');
ok(!exists $r->{headers}{'sec-websocket-protocol'},
    'no matching subprotocol: no header');

$r = $t->ws('/proto');
ok(!exists $r->{headers}{'sec-websocket-protocol'},
    'no subprotocol offered: no header');

$r = $t->ws('/ws', protocols => [ 'native' ]);
ok(!exists $r->{headers}{'sec-websocket-protocol'},
    'subprotocols not configured: no header');

# bytes pipelined after the handshake request

my $ws = $t->ws('/ws', extra => Test::Signal::WS::build_frame(opcode => 9,
    payload => 'pipelined'));
is($ws->{status}, 101, 'pipelined ping: 101');
my $f = $ws->recv_frame();
is($f && "$f->{opcode}:$f->{payload}", '10:pipelined',
    'ping pipelined with the handshake is answered');

$ws = $t->ws('/ws', extra => Test::Signal::WS::build_frame(opcode => 1,
        payload => '{"type":"ping","id":7}')
    . Test::Signal::WS::build_frame(opcode => 1,
        payload => '{"type":"ping","id":8}'));
is_deeply($ws->recv_json(), { type => 'pong', id => 7 },
    'first pipelined message answered');
is_deeply($ws->recv_json(), { type => 'pong', id => 8 },
    'second pipelined message answered');

# signal_join with a variable

$ws = $t->ws('/join?startup=42');
is($ws->{status}, 101, 'signal_join with valid room: 101');
$r = $t->notify('/notify', { room => 'startup:42', event => 'e', data => 1 });
is($r->{status}, 202, 'notify to joined room');
my ($epoch, $e);
strip_epoch($r->{json}, \$epoch);
is_deeply(strip_epoch($ws && $ws->{status} == 101 ? $ws->recv_json() : undef,
    \$e), { type => 'event', room => 'startup:42', event => 'e', data => 1,
        seq => 1 }, 'room joined through signal_join receives the event');
is($e, $epoch, 'in the epoch of the notify answer');

$r = $t->ws('/join?startup=a!b');
is($r->{status}, 403, 'signal_join with invalid room: 403');
json_error_ok($r, 'invalid room 403');

$r = $t->ws('/join');
is($r->{status}, 403, 'signal_join resolving to "startup:": 403');

###############################################################################

sub json_error_ok {
    my ($r, $name) = @_;
    my $j = $r->{json};
    ok(($r->{headers}{'content-type'} // '') =~ m{^application/json}
        && ref $j eq 'HASH' && defined $j->{error} && !ref $j->{error}
        && length $j->{error} && defined $j->{detail} && !ref $j->{detail},
        "$name: JSON error body")
        or diag(explain($r->{headers}), $r->{body});
}

###############################################################################
