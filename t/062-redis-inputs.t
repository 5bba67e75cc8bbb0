#!/usr/bin/perl

# Tests for ngx_signal_module: what comes from the Redis side is checked
# (spec 12, section 9). FCALL signal_publish refuses data that is not
# strict JSON (nan, inf, hex, +1, 1., .5, 01, raw control characters,
# invalid UTF-8): an error reply, the room's seq not used, nothing
# published; strict JSON still goes out byte for byte. A message PUBLISHed
# directly on signal:r:<room> (or on a channel a family pattern matches)
# with injected fields, an invalid event name, invalid data or an invalid
# room is dropped and logged, and the connections keep receiving what
# follows, in order.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal qw(strip_epoch);
use Test::Signal::WS;
use Test::Signal::Redis;

use Time::HiRes qw(sleep);

###############################################################################

my $t = Test::Signal->new();
my $redis = Test::Signal::Redis->new(port => $t->port(9), dir => $t->dir());

my $conf = <<'EOF';

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_redis redis://127.0.0.1:REDIS_PORT/3;
    signal_redis_command_timeout 1s;
    signal_redis_backoff 50ms 300ms;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_join $arg_r;
            signal_allow_subscribe "*";
        }

        location /fam {
            signal_websocket;
            signal_join "fam:*";
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

$conf =~ s/REDIS_PORT/$redis->port()/e;
$t->write_file_expand('nginx.conf', $conf);

# data that is not strict JSON: FCALL must refuse every one
my @bad = (
    [ 'nan', 'nan' ],
    [ 'NaN', 'NaN' ],
    [ 'inf', 'inf' ],
    [ '-inf', '-inf' ],
    [ 'Infinity', 'Infinity' ],
    [ '-Infinity', '-Infinity' ],
    [ 'hex 0x10', '0x10' ],
    [ 'a leading +', '+1' ],
    [ 'a trailing dot 1.', '1.' ],
    [ 'a leading dot .5', '.5' ],
    [ 'a leading zero 01', '01' ],
    [ 'a string with a raw \\x01', qq("a\x01b") ],
    [ 'a string with a raw newline', qq("a\nb") ],
    [ 'a string with a raw tab', qq("a\tb") ],
    [ 'invalid UTF-8 \\xff', qq("\xff") ],
    [ 'truncated UTF-8', qq("\xe2\x82") ],
    [ 'overlong UTF-8', qq("\xc0\xaf") ],
    [ 'nan inside an array', '[1,nan]' ],
    [ 'hex inside an object', '{"a":0x10}' ],
    [ 'invalid UTF-8 in a key', qq({"\xff":1}) ],
);

# strict JSON: published, and delivered exactly as given
my @good = (
    [ '1e5', '1e5' ],
    [ '-0.5', '-0.5' ],
    [ '1E+2', '1E+2' ],
    [ '-0', '-0' ],
    [ '0.5e-3', '0.5e-3' ],
    [ '"\\u0000"', '"\u0000"' ],
    [ 'UTF-8 text', qq("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ],
    [ 'an escaped surrogate pair', '"\ud83d\ude00"' ],
    [ 'nested values', '{"a":[true,false,null,-1.5E-3],"b":{},"c":""}' ],
);

# direct PUBLISHes: [name, channel, payload, target (a or fam), delivered];
# E in a payload is the epoch of the target room (or another valid one)
my $NL = "signal:r:fam:a\nFAKE-REDIS-LINE x";
my @crafted = (
    [ 'a family member\'s room with a newline', $NL, '900001 E ev 1',
        'fam' ],
    [ 'fields injected in data', 'signal:r:a', '900002 E ev 1,"type":"x"',
        'a' ],
    [ 'an object closed early in data', 'signal:r:a',
        '900003 E ev {"n":1},"room":"admin"', 'a' ],
    [ 'an event name with a quote', 'signal:r:a', '900004 E e"v 1', 'a' ],
    [ 'an event name with a backslash', 'signal:r:a', '900005 E e\\v 1',
        'a' ],
    [ 'an event name with <', 'signal:r:a', '900006 E e<v 1', 'a' ],
    [ 'truncated data', 'signal:r:a', '900007 E ev {"a":1', 'a' ],
    [ 'data nan', 'signal:r:a', '900008 E ev nan', 'a' ],
    [ 'two values as data', 'signal:r:a', '900009 E ev 1 2', 'a' ],
    [ 'data with a raw control character', 'signal:r:a',
        qq(900010 E ev "a\x01b"), 'a' ],
    [ 'family: a room with a space', 'signal:r:fam:a b', '900011 E ev 1',
        'fam' ],
    [ 'family: a room with a quote', 'signal:r:fam:q"x', '900012 E ev 1',
        'fam' ],
    [ 'family: a room ending with :', 'signal:r:fam:', '900013 E ev 1',
        'fam' ],
    [ 'family: the family name itself', 'signal:r:fam:*', '900014 E ev 1',
        'fam' ],
    [ 'family: a room with a \\x01', "signal:r:fam:a\x01b",
        '900015 E ev 1', 'fam' ],
    [ 'family: a room with a backslash', 'signal:r:fam:a\\b',
        '900016 E ev 1', 'fam' ],
    [ 'the format without an epoch', 'signal:r:a', '900017 ev 1', 'a' ],
);

$redis->start();
$t->run()->plan(3 + 3 * @bad + 2 * @good + @crafted + 4 + 2);

###############################################################################

ok(wait_links('ready'), 'both workers linked to Redis');

# FCALL signal_publish with data that is not strict JSON

my $j = $t->ws_ok('/ws?r=j');
my $mark = 0;
my %epoch;    # of each room, from FCALL and notify answers

is(fcall('j', 'first', '0'), '1', 'FCALL publishes to room j: seq 1');
is(upto($j, 'first'), '', 'the member of j got it');

for my $case (@bad) {
    my ($name, $data) = @$case;
    my $before = seq('j');

    like(fcall('j', 'bad', $data), qr/^ERR data of bad is not JSON/,
        "FCALL with data $name: error reply");
    is(seq('j'), $before, "FCALL with data $name: the seq was not used");

    # what comes next through the same channel is a valid event
    $mark++;
    fcall('j', "mark$mark", $mark);
    is(upto($j, "mark$mark"), '',
        "FCALL with data $name: nothing delivered before the next event");
}

# strict JSON still works, byte for byte

my $i = 0;
for my $case (@good) {
    my ($name, $data) = @$case;
    my $seq = seq('j') + 1;

    $i++;
    is(fcall('j', "good$i", $data), $seq, "FCALL with data $name: "
        . "published with the next seq");

    my $m = $j->recv_message(3);
    my $got = $m && $m->{payload} =~ /\A\{"type":"event","room":"j",
        "event":"good$i","data":(.*),"seq":(\d+),"epoch":"(\w+)"\}\z/sx
        ? "$2 $3 $1" : 'nothing';
    is($got, "$seq " . ($epoch{j} // '?') . " $data",
        "FCALL with data $name: delivered byte for byte");
}

# direct PUBLISHes on signal:r:... are checked before delivery

my %ws = (a => $t->ws_ok('/ws?r=a'), fam => $t->ws_ok('/fam'));
my %room = (a => 'a', fam => 'fam:ok');

# the first one: the line logged about it, escaped
my $off = length $t->read_file('error.log');
$i = 0;

for my $case (@crafted) {
    my ($name, $channel, $payload, $to) = @$case;

    $i++;
    my $e = $epoch{$room{$to}} // '5ca1ab1e00000001';
    $payload =~ s/ E / $e /;
    my $n = $redis->cli('-n', 3, 'PUBLISH', $channel, $payload);
    my $r = $t->notify('/notify', qq({"room":"$room{$to}","event":"after$i",)
        . qq("data":$i}));

    my $before = upto($ws{$to}, "after$i");
    ok(($n // '') =~ /^[1-9]/ && $r->{status} == 202
        && strip_epoch($r->{json}, \%epoch)
        && defined $before && $before eq '',
        "PUBLISH of $name: dropped, the next event still delivered")
        or diag(printable("receivers: " . ($n // '?') . ", notify: "
            . "$r->{status}, received first: "
            . ($before // 'not even the next one')));

    next if $i > 1;

    my $log = substr($t->read_file('error.log'), $off);
    ok(grep({ /\[(warn|error)\]/ && /redis|signal:r:|FAKE-REDIS-LINE/i }
        split /\n/, $log), 'the dropped message is logged at warn or error')
        or diag(printable($log));
    ok(!grep({ /^FAKE-REDIS-LINE/ } split /[\r\n]/, $log),
        'no log line begins with the room\'s text after its newline');
    ok($log !~ /[\x00-\x09\x0b-\x1f\x7f]/,
        'the room is escaped in error.log (no raw control byte)');
}

ok(!grep({ /^FAKE-REDIS-LINE/ } split /[\r\n]/, $t->read_file('error.log')),
    'no line of error.log begins with injected text');

# a well-formed direct PUBLISH is still delivered

my $e = $epoch{a} // '?';
my $n = $redis->cli('-n', 3, 'PUBLISH', 'signal:r:a',
    qq(900100 $e direct {"ok":true}));
my $m = $ws{a}->recv_message(3);
is($m && $m->{payload}, '{"type":"event","room":"a","event":"direct",'
    . qq("data":{"ok":true},"seq":900100,"epoch":"$e"}),
    'a valid direct PUBLISH is delivered');

# and the connections are fine

for my $to (sort keys %ws) {
    $ws{$to}->send_json({ type => 'ping', id => $to });
}
is(join(' ', map { my $p = $ws{$_}->recv_json(3) // {};
        ($p->{type} // '?') . ':' . ($p->{id} // '?') } sort keys %ws),
    'pong:a pong:fam', 'the members are still connected');

$redis->stop();

###############################################################################

# FCALL signal_publish of one event to $room: the seq when it answered
# {seq, epoch} with the room's epoch (see strip_epoch), else the answer
sub fcall {
    my ($room, @args) = @_;
    my $out = $redis->cli('-n', 3, 'FCALL', 'signal_publish', '0', $room,
        @args);
    my ($seq, $e) = $out =~ /\A(\d+)\n(.*)\z/ or return $out;
    return strip_epoch({ room => $room, epoch => $e }, \%epoch) ? $seq
        : $out;
}

# the room's seq counter in Redis (0 when there is none)
sub seq {
    my $s = $redis->cli('-n', 3, 'HGET', "signal:room:$_[0]", 'seq');
    return ($s // '') =~ /^(\d+)$/ ? $1 : 0;
}

# The events (names, or raw text) $ws received before the one named $name,
# space-separated; undef when $name does not come within 3 s.
sub upto {
    my ($ws, $name) = @_;
    my @seen;
    for (1 .. 50) {
        my $m = $ws->recv_json(3) or return undef;
        return join(' ', @seen) if ($m->{event} // '') eq $name;
        push @seen, $m->{event} // $m->{_raw} // $m->{type} // '?';
    }
    return undef;
}

sub printable {
    my ($s) = @_;
    $s =~ s/([^\x20-\x7e\n])/sprintf('<%02x>', ord $1)/ge;
    return $s;
}

# "command subscriber" states of every worker
sub links {
    my $st = $t->http('GET', '/status')->{json} // {};
    return join(' ', map { @{$_->{redis} // {}}{qw(command subscriber)} }
        @{$st->{workers} // []});
}

sub wait_links {
    my ($state) = @_;
    for (1 .. 100) {
        my @s = split ' ', links();
        return 1 if @s == 4 && !grep { $_ ne $state } @s;
        sleep(0.05);
    }
    diag('links: ' . links());
    return 0;
}

###############################################################################
