#!/usr/bin/perl

# Tests for ngx_signal_module: the native protocol (docs/protocol.md).
# subscribe/unsubscribe/ping replies and ids, error codes (the connection
# stays open after each), signal_join and signal_allow_subscribe with
# variables, signal_max_rooms_per_connection.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal qw(strip_epoch);
use Test::Signal::WS qw(from_json);

use JSON::PP ();

###############################################################################

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 2;

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

        location /limited {
            signal_websocket;
            signal_join "j:$arg_a" "j:$arg_b";
            signal_allow_subscribe "*";
            signal_max_rooms_per_connection 3;
        }

        location /restricted {
            signal_websocket;
            signal_allow_subscribe "user:$arg_user" "pub:*" exact;
        }

        location /join {
            signal_websocket;
            signal_join "startup:$arg_startup" "user:$arg_user";
        }

        location /none {
            signal_websocket;
        }

        location /notify {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(117);

###############################################################################

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my ($ws, $j, $m, $r);
my %epoch;    # of each room: every position in it has this one

$ws = $t->ws('/ws');
is($ws->{status}, 101, 'handshake');

# subscribe / unsubscribe replies and ids

$m = $ws->ask('{"type":"subscribe","room":"r:1"}');
is_deeply(pos_of($m), { type => 'subscribed', room => 'r:1', seq => 0 },
    'subscribe without id: no id in the reply');

$m = $ws->ask('{"type":"subscribe","room":"r:2","id":"abc"}');
is_deeply(pos_of($m), { type => 'subscribed', room => 'r:2', seq => 0,
    id => 'abc' }, 'subscribe with a string id');

$m = $ws->ask('{"id":42,"room":"r:3","type":"subscribe"}');
is_deeply(pos_of($m), { type => 'subscribed', room => 'r:3', seq => 0,
    id => 42 }, 'subscribe with an integer id, fields in any order');
like($m, qr/"id":42[,}]/, 'integer id echoed as an integer');

$m = $ws->ask('{"type":"ping","id":1234567890123}');
like($m, qr/"id":1234567890123[,}]/, 'large integer id echoed exactly');
is((from_json($m) // {})->{type}, 'pong', 'ping: pong');

$m = $ws->ask('{"type":"ping","id":0}');
like($m, qr/"id":0[,}]/, 'id 0 echoed');

$m = $ws->ask('{"type":"ping","id":-7}');
like($m, qr/"id":-7[,}]/, 'negative integer id echoed');

$m = $ws->ask('{"type":"ping"}');
is_deeply(from_json($m), { type => 'pong' },
    'ping without id: pong without id');

$m = $ws->ask('{"type":"ping","id":"a\\"b\\\\c\u00e9 \\u2603"}');
is_deeply(from_json($m), { type => 'pong', id => "a\"b\\c\x{e9} \x{2603}" },
    'string id with escapes and UTF-8 echoed');

my $id64 = join('', map { chr(ord('a') + $_ % 26) } 1 .. 64);
$m = $ws->ask('{"type":"ping","id":"' . $id64 . '"}');
is_deeply(from_json($m), { type => 'pong', id => $id64 },
    'string id of 64 bytes echoed');

$m = $ws->ask('{"type":"ping","id":"' . $id64 . 'x"}');
err_ok($m, 'invalid_message', undef, 'string id of 65 bytes');

for my $case ([ 'an object', '{"x":1}' ], [ 'an array', '["a"]' ],
    [ 'a float', '1.5' ], [ 'true', 'true' ], [ 'an exponent', '1e3' ])
{
    $m = $ws->ask('{"type":"ping","id":' . $case->[1] . '}');
    err_ok($m, 'invalid_message', undef, "id is $case->[0]");
}

$m = $ws->ask('{"type":"unsubscribe","room":"r:2","id":"u1"}');
is_deeply(from_json($m), { type => 'unsubscribed', room => 'r:2', id => 'u1' },
    'unsubscribe with id');

$m = $ws->ask('{"type":"unsubscribe","room":"r:3"}');
is_deeply(from_json($m), { type => 'unsubscribed', room => 'r:3' },
    'unsubscribe without id');

# subscribed twice: "subscribed" again at the same position, events once

$m = $ws->ask('{"type":"subscribe","room":"r:1","id":2}');
is_deeply(pos_of($m), { type => 'subscribed', room => 'r:1', seq => 0,
    id => 2 }, 'subscribe again: subscribed');

$t->publish('r:1', 'e', '{"n":1}');
is_deeply(strip_epoch($ws->recv_json(), \%epoch), { type => 'event',
    room => 'r:1', event => 'e', data => { n => 1 }, seq => 1 },
    'subscribed twice: event');
ok(nothing($ws), 'subscribed twice: event delivered once');

# unsubscribed: no more events

$t->publish('r:2', 'e', '1');
$t->publish('r:3', 'e', '1');
ok(nothing($ws), 'unsubscribed rooms: no events');

$m = $ws->ask('{"type":"unsubscribe","room":"r:1"}');
is_deeply(from_json($m), { type => 'unsubscribed', room => 'r:1' },
    'unsubscribe r:1');
$t->publish('r:1', 'e', '2');
ok(nothing($ws), 'after unsubscribe: no events');

$m = $ws->ask('{"type":"unsubscribe","room":"r:1","id":"again"}');
err_ok($m, 'not_subscribed', 'again', 'unsubscribe twice');

$m = $ws->ask('{"type":"unsubscribe","room":"r:never","id":5}');
err_ok($m, 'not_subscribed', 5, 'unsubscribe a room never joined');

$m = $ws->ask('{"type":"unsubscribe","room":"r:*"}');
err_ok($m, 'not_subscribed', undef, 'unsubscribe a family never joined');

# invalid messages: error reply, connection stays open

for my $case (
    [ 'truncated', '{"type":"ping"' ],
    [ 'garbage', 'hello' ],
    [ 'trailing garbage', '{"type":"ping"} x' ],
    [ 'two objects', '{"type":"ping"}{"type":"ping"}' ],
    [ 'single quotes', "{'type':'ping'}" ],
    [ 'empty message', '' ],
    [ 'array', '[{"type":"ping"}]' ],
    [ 'string', '"ping"' ],
    [ 'number', '5' ],
    [ 'null', 'null' ])
{
    $m = $ws->ask($case->[1]);
    err_ok($m, 'invalid_json', undef, "invalid JSON: $case->[0]");
}

$m = $ws->ask('{"type":"ping","id":"p1"}');
is_deeply(from_json($m), { type => 'pong', id => 'p1' },
    'connection open after invalid JSON: ping answered');

$m = $ws->ask(' {"type":"ping","id":"ws"}');
is_deeply(from_json($m), { type => 'pong', id => 'ws' },
    'object after leading whitespace is a JSON object');

$m = $ws->ask("{\"type\":\"ping\",\"id\":\"ws2\"}\n ");
is_deeply(from_json($m), { type => 'pong', id => 'ws2' },
    'object with trailing whitespace is a JSON object');

$m = $ws->ask("{ \"type\" : \"ping\" ,\n\"id\" :\t7 }");
is_deeply(from_json($m), { type => 'pong', id => 7 },
    'whitespace inside the object');

# fields

$m = $ws->ask('{"room":"r:1","id":"t1"}');
err_ok($m, 'invalid_message', 't1', 'missing type');

$m = $ws->ask('{}');
err_ok($m, 'invalid_message', undef, 'empty object');

$m = $ws->ask('{"type":5}');
err_ok($m, 'invalid_message', undef, 'type is a number');

$m = $ws->ask('{"type":["ping"]}');
err_ok($m, 'invalid_message', undef, 'type is an array');

$m = $ws->ask('{"type":"publish","room":"r:1","id":"t2"}');
err_ok($m, 'unknown_type', 't2', 'unknown type');

$m = $ws->ask('{"type":"PING"}');
err_ok($m, 'unknown_type', undef, 'types are case-sensitive');

$m = $ws->ask('{"type":"subscribe","id":3}');
err_ok($m, 'invalid_message', 3, 'subscribe without room');

$m = $ws->ask('{"type":"unsubscribe"}');
err_ok($m, 'invalid_message', undef, 'unsubscribe without room');

for my $case ([ 'a number', '5' ], [ 'null', 'null' ],
    [ 'an array', '["r:1"]' ], [ 'an object', '{"r":1}' ])
{
    $m = $ws->ask('{"type":"subscribe","room":' . $case->[1] . '}');
    err_ok($m, 'invalid_message', undef, "room is $case->[0]");
}

for my $room ('a b', 'a!', 'r:', '', 'r:1:', 'caf' . "\x{e9}", 'r:*:x',
    '*', 'r:' . ('x' x 127), 'r:' . ('x' x 2000))
{
    $m = $ws->ask($JSON->encode({ type => 'subscribe', room => $room,
        id => 'bad' }));
    err_ok($m, 'invalid_room', 'bad', 'invalid room "'
        . (length $room > 12 ? length($room) . ' bytes' : $room) . '"');
}

$m = $ws->ask($JSON->encode({ type => 'unsubscribe', room => 'a b' }));
err_ok($m, 'invalid_room', undef, 'unsubscribe an invalid room');

$m = $ws->ask($JSON->encode({ type => 'subscribe',
    room => 'r:' . ('x' x 126) }));
is_deeply(pos_of($m), { type => 'subscribed', room => 'r:' . ('x' x 126),
    seq => 0 }, 'room of 128 bytes accepted');

# nesting and unknown fields

my $deep = ('[' x 50) . (']' x 50);
$m = $ws->ask('{"type":"ping","x":' . $deep . '}');
err_ok($m, 'invalid_json', undef, 'unknown field nested 50 deep');

$deep = ('{"a":' x 50) . '1' . ('}' x 50);
$m = $ws->ask('{"type":"ping","x":' . $deep . '}');
err_ok($m, 'invalid_json', undef, 'unknown field of objects nested 50 deep');

$m = $ws->ask('{"type":"ping","id":"deep"}');
is_deeply(from_json($m), { type => 'pong', id => 'deep' },
    'connection open after deep nesting');

$m = $ws->ask('{"type":"ping","x":[[[{"a":[1,{"b":null}]}]]],"id":"n"}');
is_deeply(from_json($m), { type => 'pong', id => 'n' },
    'unknown field nested a few levels ignored');

$m = $ws->ask('{"v":2,"type":"subscribe","extra":{"id":"no","room":"no",'
    . '"type":"no"},"room":"r:5","list":[{"type":"x"}],"id":"s5",'
    . '"flag":true,"n":null}');
is_deeply(pos_of($m), { type => 'subscribed', room => 'r:5', seq => 0,
    id => 's5' }, 'unknown fields ignored, nested type/room/id not taken');

$m = $ws->ask('{"type":"ping","room":"r:1","id":"pr"}');
is_deeply(from_json($m), { type => 'pong', id => 'pr' },
    'room in a ping ignored');

$t->publish('r:5', 'e', '"five"');
is_deeply(strip_epoch($ws->recv_json(), \%epoch), { type => 'event',
    room => 'r:5', event => 'e', data => 'five', seq => 1 },
    'subscribed with extra fields: event');

$ws->send_close(1000);
is(scalar $ws->expect_close(), 1000, 'close after all errors');

# signal_allow_subscribe with a variable

$ws = $t->ws('/restricted?user=7');
is($ws->{status}, 101, 'restricted: handshake');

my %allowed = ('user:7' => 1, 'pub:a' => 1, 'pub:a:b' => 1, 'pub:*' => 1,
    'exact' => 1, 'user:8' => 0, 'user:7:x' => 0, 'user:70' => 0,
    'user:*' => 0, 'pub' => 0, 'pubx:1' => 0, 'exactly' => 0, 'r:1' => 0,
    'user:$arg_user' => 0);
for my $room (sort keys %allowed) {
    $m = $ws->ask($JSON->encode({ type => 'subscribe', room => $room,
        id => $room }));
    if ($room eq 'user:$arg_user') {
        err_ok($m, 'invalid_room', $room, "restricted: \"$room\" invalid");
    } elsif ($allowed{$room}) {
        # a family has no position
        is_deeply($room =~ /\*/ ? from_json($m) : pos_of($m),
            { type => 'subscribed', room => $room,
                ($room =~ /\*/ ? () : (seq => 0)), id => $room },
            "restricted: \"$room\" allowed");
    } else {
        err_ok($m, 'forbidden', $room, "restricted: \"$room\" forbidden");
    }
}

$t->publish('user:8', 'e', '8');
$t->publish('user:7', 'e', '7');
is_deeply(strip_epoch($ws->recv_json(), \%epoch), { type => 'event',
    room => 'user:7', event => 'e', data => 7, seq => 1 },
    'restricted: event of the allowed room only');
ok(nothing($ws), 'restricted: nothing else');
$ws->send_close(1000);
$ws->expect_close();

$ws = $t->ws('/restricted?user=8');
$m = $ws->ask('{"type":"subscribe","room":"user:7"}');
err_ok($m, 'forbidden', undef, 'restricted, other user: user:7 forbidden');
$m = $ws->ask('{"type":"subscribe","room":"user:8"}');
is_deeply(pos_of($m), { type => 'subscribed', room => 'user:8', seq => 1 },
    'restricted, other user: user:8 allowed, at its seq');
$ws->send_close(1000);
$ws->expect_close();

$ws = $t->ws('/none');
$m = $ws->ask('{"type":"subscribe","room":"r:1","id":1}');
err_ok($m, 'forbidden', 1, 'no signal_allow_subscribe: forbidden');
$ws->send_close(1000);
$ws->expect_close();

# signal_join with variables; unsubscribing a joined room

$ws = $t->ws('/join?startup=42&user=7');
is($ws->{status}, 101, 'join: handshake');
my $ws2 = $t->ws('/join?startup=43&user=8');

$t->publish('startup:42', 'a', '1');
$t->publish('startup:43', 'b', '2');
$t->publish('user:7', 'c', '3');
is(events($ws, 2), 'startup:42/a/1 user:7/c/2',
    'join: events of startup:42 and user:7');
is(events($ws2, 1), 'startup:43/b/1', 'join: the other connection');
ok(nothing($ws, $ws2), 'join: nothing else');

$m = $ws->ask('{"type":"subscribe","room":"startup:43"}');
err_ok($m, 'forbidden', undef, 'join: subscribe not allowed');

$m = $ws->ask('{"type":"unsubscribe","room":"startup:42","id":"x"}');
is_deeply(from_json($m), { type => 'unsubscribed', room => 'startup:42',
    id => 'x' }, 'join: unsubscribe a joined room');

$t->publish('startup:42', 'a', '1');
$t->publish('user:7', 'c', '1');
is(events($ws, 1), 'user:7/c/3', 'join: left startup:42, still in user:7');
ok(nothing($ws), 'join: no event of startup:42');

$m = $ws->ask('{"type":"unsubscribe","room":"startup:42"}');
err_ok($m, 'not_subscribed', undef, 'join: unsubscribe it again');

$ws->send_close(1000);
$ws2->send_close(1000);
$ws->expect_close();
$ws2->expect_close();

# signal_max_rooms_per_connection 3, rooms from signal_join count

$ws = $t->ws('/limited?a=1&b=2');
is($ws->{status}, 101, 'limited: handshake with two joined rooms');

$m = $ws->ask('{"type":"subscribe","room":"x:1"}');
is_deeply(pos_of($m), { type => 'subscribed', room => 'x:1', seq => 0 },
    'limited: third room');

$m = $ws->ask('{"type":"subscribe","room":"x:2","id":"four"}');
err_ok($m, 'too_many_rooms', 'four', 'limited: fourth room');

$m = $ws->ask('{"type":"subscribe","room":"x:*"}');
err_ok($m, 'too_many_rooms', undef, 'limited: a family counts too');

$m = $ws->ask('{"type":"subscribe","room":"x:1","id":"again"}');
is_deeply(pos_of($m),
    { type => 'subscribed', room => 'x:1', seq => 0, id => 'again' },
    'limited: subscribing a room already in at the limit: subscribed');

$m = $ws->ask('{"type":"subscribe","room":"j:1"}');
is_deeply(from_json($m), { type => 'subscribed', room => 'j:1' },
    'limited: subscribing a joined room at the limit: subscribed');

$m = $ws->ask('{"type":"unsubscribe","room":"j:1"}');
is_deeply(from_json($m), { type => 'unsubscribed', room => 'j:1' },
    'limited: unsubscribe a joined room');

$m = $ws->ask('{"type":"subscribe","room":"x:2"}');
is_deeply(pos_of($m), { type => 'subscribed', room => 'x:2', seq => 0 },
    'limited: room freed, subscribe again');

$m = $ws->ask('{"type":"subscribe","room":"x:3"}');
err_ok($m, 'too_many_rooms', undef, 'limited: at the limit again');

$t->publish('j:1', 'e', '1');
$t->publish('j:2', 'e', '2');
$t->publish('x:1', 'e', '3');
$t->publish('x:2', 'e', '4');
$t->publish('x:3', 'e', '5');
is(events($ws, 3), 'j:2/e/1 x:1/e/1 x:2/e/1',
    'limited: events of the three rooms');
ok(nothing($ws), 'limited: nothing from left or refused rooms');

$ws->send_close(1000);
$ws->expect_close();

# too_many_rooms for signal_join itself: handshake with limits

$ws = $t->ws('/limited?a=1&b=1');
is(ref $ws ? $ws->{status} : 0, 101,
    'limited: the same room joined twice through signal_join');
if (ref $ws eq 'Test::Signal::WS') {
    $m = $ws->ask('{"type":"subscribe","room":"x:1"}')
        . $ws->ask('{"type":"subscribe","room":"x:2"}');
    is($m, join('', map { '{"type":"subscribed","room":"' . $_
            . '","seq":1,"epoch":"' . ($epoch{$_} // '?') . '"}' }
            qw/x:1 x:2/),
        'limited: a room joined twice counts once');
    $ws->send_close(1000);
    $ws->expect_close();
} else {
    fail('limited: a room joined twice counts once');
}

###############################################################################

# an error reply with this code, a message, and the id (or no id)
sub err_ok {
    my ($m, $code, $id, $name) = @_;
    my $j = from_json($m);
    my $ok = ref $j eq 'HASH' && ($j->{type} // '') eq 'error'
        && ($j->{code} // '') eq $code
        && defined $j->{message} && !ref $j->{message}
        && length $j->{message}
        && (defined $id ? (defined $j->{id} && $j->{id} eq $id)
            : !exists $j->{id});
    ok($ok, "$name: error $code") or diag("got: $m");
}

# the reply $m decoded, without its epoch, which must be its room's
sub pos_of { strip_epoch(from_json($_[0]), \%epoch) }

# the next $n events as "room/event/seq"
sub events {
    my ($ws, $n) = @_;
    return join(' ', map { my $j = $ws->recv_json() // {};
        join('/', map { $_ // '?' } @$j{qw/room event seq/}) } 1 .. $n);
}

# 1 if none of the clients receives a frame within a short time
sub nothing { Test::Signal::WS->expect_silence([@_]) }

###############################################################################
