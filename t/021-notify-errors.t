#!/usr/bin/perl

# Tests for ngx_signal_module: the notify location, refused requests.
# Method, Content-Type, chunked bodies, body size, invalid JSON, invalid
# envelopes and names, batch validation, limits. Every refusal is a JSON
# {"error","detail"} body, and nothing of a refused request is delivered
# and no seq is consumed.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal qw(strip_epoch);
use Test::Signal::WS;

use IO::Socket::INET;
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

    signal_max_name_length 40;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /notify {
            signal_notify;
            client_max_body_size 1k;
            signal_notify_max_events 5;
            signal_notify_max_rooms 3;
        }
    }
}

EOF

$t->run()->plan(305);

###############################################################################

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my $r;

# the watchers: one in the family e:* (sees every room e:...), one in e:1

my $fam = subscribed('e:*');
my $one = subscribed('e:1');

my $valid = '{"room":"e:1","event":"x","data":1}';

# method

$r = $t->http('GET', '/notify');
refused($r, 405, undef, 'GET');
like($r->{headers}{allow} // '', qr/\bPOST\b/, 'GET: Allow: POST');

$r = $t->http('PUT', '/notify', body => $valid,
    headers => { 'Content-Type' => 'application/json' });
refused($r, 405, undef, 'PUT');
like($r->{headers}{allow} // '', qr/\bPOST\b/, 'PUT: Allow: POST');

$r = $t->http('DELETE', '/notify');
refused($r, 405, undef, 'DELETE');

# Content-Type

$r = $t->http('POST', '/notify', body => $valid);
refused($r, 415, undef, 'no Content-Type');

for my $ct ('text/plain', 'application/x-www-form-urlencoded',
    'application/jsonp', 'application/json-seq', 'text/json')
{
    $r = $t->notify('/notify', $valid, headers => { 'Content-Type' => $ct });
    refused($r, 415, undef, "Content-Type: $ct");
}

# chunked body

my $chunked = "POST /notify HTTP/1.1\r\nHost: localhost\r\n"
    . "Content-Type: application/json\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $valid, $valid);
$r = $t->http_raw($chunked);
refused($r, 411, undef, 'chunked body');

# body over client_max_body_size

my $big = '{"room":"e:1","event":"x","data":"' . ('z' x 2000) . '"}';
$r = $t->notify('/notify', $big);
refused($r, 413, undef, 'body over client_max_body_size');

# empty body

$r = $t->notify('/notify', '');
refused($r, 400, undef, 'empty body');

$r = $t->notify('/notify', "  \r\n ");
refused($r, 400, undef, 'body of whitespace only');

# invalid JSON

for my $case (
    [ 'truncated', '{"room":"e:1","event":"x","data":{"a":1}' ],
    [ 'truncated in a string', '{"room":"e:1","event":"x' ],
    [ 'trailing garbage', '{"room":"e:1","event":"x","data":1} x' ],
    [ 'two objects', '{"room":"e:1","event":"x"}{"room":"e:1","event":"x"}' ],
    [ 'top-level array', '[{"room":"e:1","event":"x","data":1}]' ],
    [ 'top-level string', '"e:1"' ],
    [ 'top-level number', '42' ],
    [ 'top-level null', 'null' ],
    [ 'not JSON', 'room=e:1&event=x' ],
    [ 'single quotes', "{'room':'e:1','event':'x'}" ],
    [ 'trailing comma', '{"room":"e:1","event":"x",}' ],
    [ 'bad data', '{"room":"e:1","event":"x","data":[1,2,}' ],
    [ 'invalid UTF-8 in data', qq({"room":"e:1","event":"x","data":"\xff\xfe"}) ],
    [ 'bare word in data', '{"room":"e:1","event":"x","data":undefined}' ],
    [ 'NaN in data', '{"room":"e:1","event":"x","data":NaN}' ])
{
    $r = $t->notify('/notify', $case->[1]);
    refused($r, 400, 'invalid_json', "invalid JSON: $case->[0]");
}

# envelope fields

for my $case (
    [ 'empty object', '{}' ],
    [ 'unknown field', '{"room":"e:1","event":"x","data":1,"foo":1}', 'foo' ],
    [ 'unknown field first', '{"ttl":5,"room":"e:1","event":"x"}', 'ttl' ],
    [ 'missing event', '{"room":"e:1","data":1}', 'event' ],
    [ 'missing room', '{"event":"x","data":1}', 'room' ],
    [ 'room is a number', '{"room":1,"event":"x"}', 'room' ],
    [ 'room is null', '{"room":null,"event":"x"}', 'room' ],
    [ 'room is an array', '{"room":["e:1"],"event":"x"}', 'room' ],
    [ 'room is an object', '{"room":{"r":"e:1"},"event":"x"}', 'room' ],
    [ 'rooms is empty', '{"rooms":[],"event":"x"}', 'rooms' ],
    [ 'rooms is a string', '{"rooms":"e:1","event":"x"}', 'rooms' ],
    [ 'rooms with a number', '{"rooms":["e:1",2],"event":"x"}', 'rooms' ],
    [ 'rooms with null', '{"rooms":["e:1",null],"event":"x"}', 'rooms' ],
    [ 'rooms with an array', '{"rooms":["e:1",["e:2"]],"event":"x"}',
        'rooms' ],
    [ 'duplicate room in rooms', '{"rooms":["e:1","e:2","e:1"],"event":"x"}',
        'rooms' ],
    [ 'room and rooms', '{"room":"e:1","rooms":["e:2"],"event":"x"}' ],
    [ 'rooms and room', '{"rooms":["e:2"],"room":"e:1","event":"x"}' ],
    [ 'event is a number', '{"room":"e:1","event":5}', 'event' ],
    [ 'event is null', '{"room":"e:1","event":null}', 'event' ],
    [ 'room given twice', '{"room":"e:1","room":"e:2","event":"x"}' ],
    [ 'event given twice', '{"room":"e:1","event":"x","event":"y"}' ])
{
    $r = $t->notify('/notify', $case->[1]);
    refused($r, 400, 'invalid_event', "envelope: $case->[0]",
        defined $case->[2] ? qr/\Q$case->[2]\E/ : undef);
}

# invalid room names

for my $room ('e:a b', 'e:a!b', 'e:a"b', "e:caf\xc3\xa9", 'e:a#b', 'e:a\\b',
    'e:a?b', 'e:a,b', '', 'e:', 'e:1:', ':', 'e:' . ('x' x 39), 'e:*', '*',
    'e:1:*', 'e:*:1', " e:1", "e:1 ", "e:1\n")
{
    my $body = '{"room":' . $JSON->encode($room) . ',"event":"x"}';
    $r = $t->notify('/notify', $body);
    refused($r, 400, 'invalid_event', 'invalid room ' . printable($room),
        qr/room/);
}

$r = $t->notify('/notify', '{"rooms":["e:1","e:2:"],"event":"x"}');
refused($r, 400, 'invalid_event', 'invalid room in rooms', qr/room/);

$r = $t->notify('/notify', '{"rooms":["e:1","e:*"],"event":"x"}');
refused($r, 400, 'invalid_event', 'family in rooms', qr/room/);

# invalid event names

for my $event ('bad event', '', 'a!', 'sig/x"y', "caf\xc3\xa9", 'x' x 41,
    "e\tx")
{
    my $body = '{"room":"e:1","event":' . $JSON->encode($event) . '}';
    $r = $t->notify('/notify', $body);
    refused($r, 400, 'invalid_event', 'invalid event ' . printable($event),
        qr/event/);
}

# batch form

for my $case (
    [ 'events and room', '{"events":[{"room":"e:1","event":"x"}],'
        . '"room":"e:2"}' ],
    [ 'room and events', '{"room":"e:2","event":"y",'
        . '"events":[{"room":"e:1","event":"x"}]}' ],
    [ 'events and event', '{"events":[{"room":"e:1","event":"x"}],'
        . '"event":"y"}' ],
    [ 'events and data', '{"events":[{"room":"e:1","event":"x"}],'
        . '"data":1}' ],
    [ 'events is an object', '{"events":{"room":"e:1","event":"x"}}' ],
    [ 'events is a string', '{"events":"e:1"}' ],
    [ 'events with a number', '{"events":[{"room":"e:1","event":"x"},1]}' ],
    [ 'events with an array', '{"events":[[{"room":"e:1","event":"x"}]]}' ],
    [ 'nested events', '{"events":[{"events":[{"room":"e:1",'
        . '"event":"x"}]}]}' ],
    [ 'unknown field in an event', '{"events":[{"room":"e:1","event":"x",'
        . '"foo":1}]}' ])
{
    $r = $t->notify('/notify', $case->[1]);
    refused($r, 400, undef, "batch: $case->[0]");
}

# the third event of a batch is invalid: nothing of the batch goes out

for my $case (
    [ 'room', '{"room":"e:3!","event":"x"}' ],
    [ 'missing event', '{"room":"e:3","data":1}' ],
    [ 'event', '{"room":"e:3","event":"bad name"}' ],
    [ 'rooms', '{"rooms":["e:3","e:3"],"event":"x"}' ],
    [ 'unknown field', '{"room":"e:3","event":"x","foo":1}' ])
{
    my $body = '{"events":[{"room":"e:1","event":"a","data":1},'
        . '{"rooms":["e:2","e:1"],"event":"b","data":{"k":[1,2]}},'
        . $case->[1] . ',{"room":"e:4","event":"d"}]}';
    $r = $t->notify('/notify', $body);
    refused($r, 400, 'invalid_event', "batch with events[2] invalid "
        . "($case->[0])", qr/events\[2\]/);
}

# limits: signal_notify_max_events 5, signal_notify_max_rooms 3

$r = $t->notify('/notify', { events => [ map { { room => "e:$_",
    event => 'x', data => $_ } } 1 .. 6 ] });
refused($r, 400, undef, '6 events over signal_notify_max_events 5');

$r = $t->notify('/notify', '{"rooms":["e:1","e:2","e:3","e:4"],'
    . '"event":"x"}');
refused($r, 400, 'invalid_event', '4 rooms over signal_notify_max_rooms 3',
    qr/rooms/);

$r = $t->notify('/notify', '{"events":[{"room":"e:1","event":"x"},'
    . '{"rooms":["e:1","e:2","e:3","e:4"],"event":"x"}]}');
refused($r, 400, 'invalid_event', '4 rooms in events[1]', qr/events\[1\]/);

# the detail quotes client input and stays valid JSON

$r = $t->notify('/notify', '{"room":"e:1","event":"x","' . ('k' x 31)
    . "\xc3\xa9\xc3\xa9" . '":1}');
refused($r, 400, 'invalid_event', 'unknown field with a UTF-8 name');

$r = $t->notify('/notify', '{"room":"e:1","event":"x","a\"b\\\\c\u0001":1}');
refused($r, 400, 'invalid_event', 'unknown field with escapes');

# a refused request with a body on a keep-alive connection: the body is
# discarded, the next request on the connection is answered

my @rr = two_requests(
    "POST /notify HTTP/1.1\r\nHost: localhost\r\n"
    . "Content-Type: text/plain\r\nContent-Length: " . length($valid)
    . "\r\n\r\n$valid",
    "POST /notify HTTP/1.1\r\nHost: localhost\r\n"
    . "Content-Type: application/json\r\nContent-Length: 22\r\n"
    . "Connection: close\r\n\r\n" . '{"room":"e:9","event"}');
is($rr[0]{status}, 415, 'keep-alive: 415 first');
is($rr[1]{status}, 400, 'keep-alive: second request answered after 415');

# nothing was delivered, no seq was consumed

select(undef, undef, undef, 0.3);
ok(nothing($fam, $one), 'after all refusals: nothing delivered');

$r = $t->notify('/notify', '{"events":[{"room":"e:1","event":"ok1"},'
    . '{"rooms":["e:2","e:3","e:4"],"event":"ok2","data":[1]},'
    . '{"room":"e:' . ('y' x 38) . '","event":"' . ('v' x 40) . '"},'
    . '{"room":"e:1","event":"ok3"},{"room":"e:9","event":"ok4"}]}');
is($r->{status}, 202, 'valid batch at the limits: 202');
is_deeply(strip_epoch($r->{json}, {}), { published => [
    { room => 'e:1', event => 'ok1', seq => 1 },
    { room => 'e:2', event => 'ok2', seq => 1 },
    { room => 'e:3', event => 'ok2', seq => 1 },
    { room => 'e:4', event => 'ok2', seq => 1 },
    { room => 'e:' . ('y' x 38), event => 'v' x 40, seq => 1 },
    { room => 'e:1', event => 'ok3', seq => 2 },
    { room => 'e:9', event => 'ok4', seq => 1 } ] },
    'valid batch: every room starts at seq 1');

my @want = ([ 'e:1', 'ok1', 1 ], [ 'e:2', 'ok2', 1 ], [ 'e:3', 'ok2', 1 ],
    [ 'e:4', 'ok2', 1 ], [ 'e:' . ('y' x 38), 'v' x 40, 1 ],
    [ 'e:1', 'ok3', 2 ], [ 'e:9', 'ok4', 1 ]);
is(join(' ', map { my $j = $fam->recv_json() // {};
        join('/', map { $_ // '?' } @$j{qw/room event seq/}) } @want),
    join(' ', map { join('/', @$_) } @want),
    'family watcher: first events are the valid batch, seq 1');
is(join(' ', map { my $j = $one->recv_json() // {};
        join('/', map { $_ // '?' } @$j{qw/room event seq/}) } 1 .. 2),
    'e:1/ok1/1 e:1/ok3/2', 'e:1 watcher: the valid events, seq 1 and 2');
ok(nothing($fam, $one), 'nothing more delivered');

$one->send_close(1000);
$fam->send_close(1000);
is(scalar $fam->expect_close(), 1000, 'family watcher still connected');
$one->expect_close();

###############################################################################

# a client of /ws subscribed to $room
sub subscribed { $t->subscriber('/ws', @_) }

# 3 tests: status; JSON {"error","detail"} (error code, detail pattern);
# nothing delivered to the watchers
sub refused {
    my ($r, $status, $code, $name, $detail) = @_;

    is($r->{status}, $status, "$name: $status");

    my $j = $r->{json};
    my $ok = ($r->{headers}{'content-type'} // '') =~ m{^application/json}i
        && ref $j eq 'HASH' && defined $j->{error} && !ref $j->{error}
        && length $j->{error} && defined $j->{detail} && !ref $j->{detail}
        && length $j->{detail}
        && (!defined $code || $j->{error} eq $code)
        && (!defined $detail || $j->{detail} =~ $detail);
    ok($ok, "$name: JSON error body" . (defined $code ? " $code" : ''))
        or diag(explain($r->{headers}), $r->{body} // '');

    ok(nothing($fam, $one), "$name: nothing delivered");
}

# 1 if none of the clients receives a frame within a short time
sub nothing { Test::Signal::WS->expect_silence([@_], 0.04, 0.005) }

sub printable {
    my ($s) = @_;
    $s =~ s/([^\x21-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return length $s > 20 ? '"' . substr($s, 0, 20) . '..."' : "\"$s\"";
}

# Two requests in one write on one connection; both responses.
sub two_requests {
    my ($a, $b) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port(1), Proto => 'tcp', Timeout => 3)
        or return ({ status => 0 }, { status => 0 });
    $sock->blocking(0);
    Test::Signal::WS::write_all($sock, $a . $b);
    my $buf = '';
    my $r1 = Test::Signal::WS::read_response($sock, \$buf, method => 'POST');
    my $r2 = Test::Signal::WS::read_response($sock, \$buf, method => 'POST');
    CORE::close($sock);
    return ($r1, $r2);
}

###############################################################################
