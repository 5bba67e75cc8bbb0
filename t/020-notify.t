#!/usr/bin/perl

# Tests for ngx_signal_module: the notify location, successful publishes.
# Single event, "rooms" and batch "events" forms, the 202 body, per-room
# seq, data delivered byte for byte, bodies buffered to a temp file,
# Content-Type parameters, a batch of signal_notify_max_events events.

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

        location /notify {
            signal_notify;
        }

        location /notify-small-buffer {
            signal_notify;
            client_body_buffer_size 1k;
        }

        location /notify-file-only {
            signal_notify;
            client_body_in_file_only clean;
        }
    }
}

EOF

$t->run()->plan(62);

###############################################################################

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my ($r, $m, $ev);
my %epoch;    # of each room: every answer and event of it has this one

# one client per room n:a, n:b, n:c, one in n:x (data tests)

my %ws;
for my $room (qw/n:a n:b n:c n:x/) {
    $ws{$room} = subscribed($room);
}

# single event, data byte for byte: nested objects, unicode as raw UTF-8
# and as \u escapes (surrogate pair too), escapes, exponents, whitespace

my $data = <<'EOF';
{ "nested" : { "list" : [ 1, 2.5, -3, 1e5, 1E+5, 2.5e-3, -0, 0.0, true, false, null ],
	"s" : "café ☃ 😀",
  "esc" : "q\" b\\ \/ \b\f\n\r\t \u00e9 \ud83d\ude00 \u0000",
  "tricky" : "}]\"{[,:" },
  "empty" : { } , "arr" : [ [ ], { "a" : { "b" : { "c" : [ ] } } } ],
  "big" : 123456789012345678901234567890 }
EOF
chomp $data;

$r = $t->notify('/notify',
    '{"room":"n:x","event":"signal:assigned","data":' . $data . '}');
is($r->{status}, 202, 'single event: 202');
is_deeply(strip_epoch($r->{json}, \%epoch),
    { published => [ { room => 'n:x', event => 'signal:assigned',
        seq => 1 } ] }, 'single event: 202 body');
like($r->{headers}{'content-type'} // '', qr{^application/json},
    'single event: 202 is application/json');

$m = $ws{'n:x'}->recv_message();
ok($m && $m->{opcode} == 1, 'single event: text frame');
$m //= { payload => '' };
like($m->{payload}, qr/"data":\s*\Q$data\E\s*[,}]/,
    'single event: data delivered byte for byte');
$ev = from_json($m->{payload});
is_deeply(strip_epoch($ev, \%epoch), { type => 'event', room => 'n:x',
    event => 'signal:assigned', data => from_json($data), seq => 1 },
    'single event: event message');

# data before room and event in the body, data of every JSON type

my @values = ('1e5', '-12.5E-3', '"a \"string\" \\\\ \u2603"', 'true',
    'false', 'null', '[1,"two",{"three":3}]', '{}', '[]', '0');
my $seq = 1;
my $ok = 0;
for my $v (@values) {
    $r = $t->notify('/notify', '{"data":' . $v
        . ',"event":"t","room":"n:x"}');
    $seq++;
    $m = $ws{'n:x'}->recv_message() // { payload => '' };
    $ev = from_json($m->{payload}) // {};
    if ($r->{status} == 202 && $m->{payload} =~ /"data":\Q$v\E[,}]/
        && ($ev->{seq} // 0) == $seq && strip_epoch($ev, \%epoch))
    {
        $ok++;
    } else {
        diag("data $v: status $r->{status}, frame $m->{payload}");
    }
}
is($ok, scalar @values, 'data of every JSON type delivered as sent');

# whitespace around the whole body and around data

$r = $t->notify('/notify', "\r\n\t {\n \"room\" : \"n:x\" ,\t\"event\" :"
    . " \"t\" , \"data\" :  [ 1 , 2 ]  \n}\n\n");
is($r->{status}, 202, 'body with whitespace everywhere: 202');
$seq++;
$m = $ws{'n:x'}->recv_message() // { payload => '' };
like($m->{payload}, qr/"data":\s*\Q[ 1 , 2 ]\E\s*[,}]/,
    'whitespace inside data preserved');
is_deeply(strip_epoch(from_json($m->{payload}), \%epoch), { type => 'event',
    room => 'n:x', event => 't', data => [ 1, 2 ], seq => $seq },
    'event from a body with whitespace is valid JSON');

# data absent -> null

$r = $t->notify('/notify', '{"room":"n:x","event":"nodata"}');
is($r->{status}, 202, 'no data: 202');
$seq++;
$m = $ws{'n:x'}->recv_message() // { payload => '' };
like($m->{payload}, qr/"data":null[,}]/, 'no data: "data":null');
is_deeply(strip_epoch(from_json($m->{payload}), \%epoch), { type => 'event',
    room => 'n:x', event => 'nodata', data => undef, seq => $seq },
    'no data: event');

# other clients saw nothing of n:x

ok(nothing(@ws{qw/n:a n:b n:c/}), 'n:x events reach n:x only');

# "rooms" form

$r = $t->notify('/notify',
    '{"rooms":["n:a","n:b"],"event":"multi","data":{"k":"v"}}');
is($r->{status}, 202, 'rooms: 202');
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'n:a', event => 'multi', seq => 1 },
    { room => 'n:b', event => 'multi', seq => 1 } ] }, 'rooms: 202 body');
is_deeply(got('n:a'), { type => 'event', room => 'n:a',
    event => 'multi', data => { k => 'v' }, seq => 1 }, 'rooms: n:a got it');
is_deeply(got('n:b'), { type => 'event', room => 'n:b',
    event => 'multi', data => { k => 'v' }, seq => 1 }, 'rooms: n:b got it');
ok(nothing(@ws{qw/n:a n:b n:c n:x/}),
    'rooms: one event each, nothing for other rooms');

# batch "events" form, mixing room and rooms; seq per room

$r = $t->notify('/notify', '{"events":['
    . '{"room":"n:a","event":"e1","data":1},'
    . '{"rooms":["n:a","n:b"],"event":"e2","data":{"k":2}},'
    . '{"room":"n:nobody","event":"e3","data":"x"},'
    . '{"event":"e4","room":"n:b"},'
    . '{"room":"n:c","event":"e5","data":[5]},'
    . '{"room":"n:nobody","event":"e6"}'
    . ']}');
is($r->{status}, 202, 'batch: 202');
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'n:a', event => 'e1', seq => 2 },
    { room => 'n:a', event => 'e2', seq => 3 },
    { room => 'n:b', event => 'e2', seq => 2 },
    { room => 'n:nobody', event => 'e3', seq => 1 },
    { room => 'n:b', event => 'e4', seq => 3 },
    { room => 'n:c', event => 'e5', seq => 1 },
    { room => 'n:nobody', event => 'e6', seq => 2 } ] },
    'batch: 202 body lists every (room, event, seq) in order');

is_deeply(got('n:a'), { type => 'event', room => 'n:a',
    event => 'e1', data => 1, seq => 2 }, 'batch: n:a first event');
is_deeply(got('n:a'), { type => 'event', room => 'n:a',
    event => 'e2', data => { k => 2 }, seq => 3 }, 'batch: n:a second event');
is_deeply(got('n:b'), { type => 'event', room => 'n:b',
    event => 'e2', data => { k => 2 }, seq => 2 }, 'batch: n:b first event');
is_deeply(got('n:b'), { type => 'event', room => 'n:b',
    event => 'e4', data => undef, seq => 3 }, 'batch: n:b second event');
is_deeply(got('n:c'), { type => 'event', room => 'n:c',
    event => 'e5', data => [ 5 ], seq => 1 },
    'batch: n:c starts at seq 1 independently');
ok(nothing(@ws{qw/n:a n:b n:c n:x/}), 'batch: nothing more delivered');

# a room without members still counts its seq

$r = $t->notify('/notify', { room => 'n:nobody', event => 'e7' });
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'n:nobody', event => 'e7', seq => 3 } ] },
    'room without members: seq keeps counting');

# a room joined after publishes continues the seq

my $late = subscribed('n:nobody');
$r = $t->notify('/notify', { room => 'n:nobody', event => 'e8' });
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'n:nobody', event => 'e8', seq => 4 } ] },
    'room joined late: 202 seq 4');
is_deeply(strip_epoch($late->recv_json(), \%epoch), { type => 'event',
    room => 'n:nobody', event => 'e8', data => undef, seq => 4 },
    'room joined late: seq 4');

# the same room twice in one batch: consecutive seqs

$r = $t->notify('/notify', { events => [
    { room => 'n:c', event => 'x', data => 'first' },
    { room => 'n:c', event => 'x', data => 'second' } ] });
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'n:c', event => 'x', seq => 2 },
    { room => 'n:c', event => 'x', seq => 3 } ] },
    'same room twice in a batch: 202 body');
is(join(',', map { my $j = $ws{'n:c'}->recv_json() // {};
    ($j->{data} // '?') . '/' . ($j->{seq} // '?') } 1 .. 2),
    'first/2,second/3', 'same room twice in a batch: delivered in order');

# Content-Type variants

$r = $t->notify('/notify', { room => 'n:a', event => 'ct' },
    headers => { 'Content-Type' => 'application/json; charset=utf-8' });
is($r->{status}, 202, 'Content-Type with charset parameter: 202');
is(($ws{'n:a'}->recv_json() // {})->{seq}, 4,
    'Content-Type with charset parameter: delivered');

$r = $t->notify('/notify', { room => 'n:a', event => 'ct' },
    headers => { 'Content-Type' => 'application/json;charset=UTF-8' });
is($r->{status}, 202, 'Content-Type with charset, no space: 202');
is(($ws{'n:a'}->recv_json() // {})->{seq}, 5,
    'Content-Type with charset, no space: delivered');

$r = $t->notify('/notify', { room => 'n:a', event => 'ct' },
    headers => { 'Content-Type' => 'Application/JSON' });
is($r->{status}, 202, 'Content-Type is case-insensitive: 202');
is(($ws{'n:a'}->recv_json() // {})->{seq}, 6,
    'Content-Type is case-insensitive: delivered');

# a body larger than client_body_buffer_size, buffered to a temp file

my $blob = join('', map { sprintf('%05d-\u00e9-\\n-', $_) } 1 .. 3500);
my $big = '{ "blob" : "' . $blob . '", "list" : ['
    . join(', ', 1 .. 2000) . '] }';
cmp_ok(length $big, '>', 50000, 'large data is over 50 KB');

$r = $t->notify('/notify-small-buffer',
    '{"room":"n:b","event":"big","data":' . $big . '}');
is($r->{status}, 202, 'large body in a temp file: 202');
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'n:b', event => 'big', seq => 4 } ] },
    'large body in a temp file: 202 body');
$m = $ws{'n:b'}->recv_message() // { payload => '' };
ok(index($m->{payload}, '"data":' . $big) >= 0,
    'large body in a temp file: data delivered intact');
is((from_json($m->{payload}) // {})->{seq}, 4,
    'large body in a temp file: valid event');
like($t->read_file('error.log'), qr/buffered to a temporary file/,
    'large body was buffered to a temporary file');

# data spanning the memory part and the file part of the body: publish
# two events in one batch so that data is split anywhere

$r = $t->notify('/notify-small-buffer', '{"events":[{"room":"n:b",'
    . '"event":"big1","data":' . $big . '},{"room":"n:c","event":"big2",'
    . '"data":' . $big . '}]}');
is($r->{status}, 202, 'large batch in a temp file: 202');
$m = $ws{'n:b'}->recv_message() // { payload => '' };
ok(index($m->{payload}, '"data":' . $big) >= 0,
    'large batch in a temp file: first event intact');
$m = $ws{'n:c'}->recv_message() // { payload => '' };
ok(index($m->{payload}, '"data":' . $big) >= 0,
    'large batch in a temp file: second event intact');

# small body with client_body_in_file_only: the body is only in the file

$r = $t->notify('/notify-file-only',
    '{"room":"n:a","event":"file","data":{"in":"file"}}');
is($r->{status}, 202, 'client_body_in_file_only: 202');
is_deeply(got('n:a'), { type => 'event', room => 'n:a',
    event => 'file', data => { in => 'file' }, seq => 7 },
    'client_body_in_file_only: delivered');

# a batch of 1000 events (default signal_notify_max_events)

my $bulk = subscribed('n:bulk');
my $other = subscribed('n:bulk2');

$r = $t->notify('/notify', { events => [ map {
    { room => ($_ % 10 == 0 ? 'n:bulk2' : 'n:bulk'), event => "ev$_",
        data => { i => $_ } } } 1 .. 1000 ] });
is($r->{status}, 202, 'batch of 1000 events: 202');

my $pub = ref $r->{json} eq 'HASH' ? $r->{json}{published} : [];
is(scalar @$pub, 1000, 'batch of 1000 events: 1000 entries in 202 body');

my @exp = map { my $room = $_ % 10 == 0 ? 'n:bulk2' : 'n:bulk';
    { room => $room, event => "ev$_" } } 1 .. 1000;
my (%s, $bad);
for my $i (0 .. 999) {
    last if defined $bad;
    my $p = $pub->[$i] // {};
    my $want = ++$s{$exp[$i]{room}};
    if (($p->{room} // '') ne $exp[$i]{room}
        || ($p->{event} // '') ne $exp[$i]{event}
        || ($p->{seq} // 0) != $want || !strip_epoch($p, \%epoch))
    {
        $bad //= "entry $i: " . $JSON->encode($p);
    }
}
ok(!defined $bad,
    'batch of 1000 events: 202 body in order with seqs and epochs')
    or diag($bad);

my ($got, $err) = (0, undef);
for my $i (1 .. 1000) {
    next if $i % 10 == 0;
    my $j = $bulk->recv_json() // {};
    $got++;
    if (($j->{event} // '') ne "ev$i" || ($j->{seq} // 0) != $got
        || ($j->{data}{i} // 0) != $i || !strip_epoch($j, \%epoch))
    {
        $err = "event $i: " . $JSON->encode($j);
        last;
    }
}
ok(!defined $err && $got == 900, 'batch of 1000: 900 events in order')
    or diag($err);

($got, $err) = (0, undef);
for my $i (1 .. 100) {
    my $j = $other->recv_json() // {};
    $got++;
    if (($j->{event} // '') ne 'ev' . $i * 10 || ($j->{seq} // 0) != $i
        || !strip_epoch($j, \%epoch))
    {
        $err = "event $i: " . $JSON->encode($j);
        last;
    }
}
ok(!defined $err && $got == 100,
    'batch of 1000: 100 events in the second room in order')
    or diag($err);

ok(nothing($bulk, $other, values %ws), 'batch of 1000: no extra events');

# every client is still connected and answers

$ok = 0;
for my $ws ($bulk, $other, $late, values %ws) {
    $ws->send_json({ type => 'ping', id => 'end' });
    my $j = $ws->recv_json() // {};
    $ok++ if ($j->{type} // '') eq 'pong';
}
is($ok, 7, 'all clients still connected');

# keep-alive: two publishes on one connection

$r = $t->http_raw(req('{"room":"n:a","event":"k1"}', 'keep-alive')
    . req('{"room":"n:a","event":"k2"}', 'close'));
is($r->{status}, 202, 'keep-alive: first publish 202');
is(($ws{'n:a'}->recv_json() // {})->{event}, 'k1', 'keep-alive: first');
is(($ws{'n:a'}->recv_json() // {})->{event}, 'k2', 'keep-alive: second');

# a HEAD-less check: 202 body is JSON and ends the response

$r = $t->notify('/notify', { room => 'n:a', event => 'last' });
ok(defined $r->{json} && !$r->{error}, '202 body is complete JSON');
is(($ws{'n:a'}->recv_json() // {})->{seq}, 10, 'last seq in n:a');

for my $ws ($bulk, $other, $late, values %ws) {
    $ws->send_close(1000);
}
is(scalar $ws{'n:a'}->expect_close(), 1000, 'close');

###############################################################################

# a client of /ws subscribed to $room
sub subscribed { $t->subscriber('/ws', @_) }

# the next event of the client of $room, without its epoch: the room's
sub got { strip_epoch($ws{$_[0]}->recv_json(), \%epoch) }

# 1 if none of the clients receives a frame within a short time
sub nothing { Test::Signal::WS->expect_silence([@_]) }

sub req {
    my ($body, $conn) = @_;
    return "POST /notify HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n"
        . "Connection: $conn\r\n\r\n$body";
}

###############################################################################
