#!/usr/bin/perl

# Tests for the benchmark instrument (bench/loadgen.c, bench/floor.c): a
# few seconds of the W1/W2 shapes against this module and the floor, so
# that `make bench` cannot rot unnoticed.  They check what the figures in
# docs/benchmarks.md rest on: every delivery counted once, losses detected
# (subscribers where nothing is published), batches and several
# publishers keeping per-room order, refused option combinations, and the
# hold mode used for the idle footprint.  The same over Server-Sent Events
# (--proto sse, W1-SSE): this module's and the floor's streams, a location
# without eventsource refused, and the stream parser against a stand-in
# server that sends what the others do not (chunks cut anywhere, "\r\n"
# lines, data over several lines, comments, id/event/retry fields, an event
# repeated, an event left out).  No timing is asserted.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;

use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

###############################################################################

my $LOADGEN = $ENV{TEST_SIGNAL_LOADGEN} // "$FindBin::Bin/../build/loadgen";
my $FLOOR = $ENV{TEST_SIGNAL_FLOOR} // "$FindBin::Bin/../build/floor";

unless (-x $LOADGEN && -x $FLOOR) {
    plan(tests => 1);
    fail("$LOADGEN or $FLOOR is missing: make build/loadgen build/floor");
    exit;
}

# room for every room of every workload below: the history of each stays
my $t = Test::Signal->new(zone => '8m');

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 2;

events {
    worker_connections 2048;
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%% backlog=1024;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_join $arg_room;
        }

        location /sse {
            signal_websocket;
            signal_transports eventsource;
            signal_join $arg_room;
        }

        location /pub {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(24);

###############################################################################

my $port = $t->port(1);
my @common = ('--port', $port, '--ws', '/ws?room=%s', '--pub', '/pub',
    '--target', 'signal', '--threads', 2, '--timeout', 30,
    '--pids', join(',', $t->workers()));

# W1 shape: one room, a few events at a fixed rate, then a burst

my ($r, $rc) = loadgen(@common, '--connections', 200, '--events', 20,
    '--rate', 100, '--room', 'w1');
is($rc, 0, 'W1 at a fixed rate: exit 0');
is_deeply([ @$r{qw(received missing duplicates)} ], [ 4000, 0, 0 ],
    'W1: 200 x 20 deliveries, none missing or repeated');
ok($r->{cpu_us_per_delivery} > 0, 'W1: server CPU read from /proc');

# W2 shape: a room per connection, several publishers, then batches

($r, $rc) = loadgen(@common, '--connections', 400, '--rooms', 400,
    '--events', 2000, '--publishers', 4, '--room', 'w2s');
is($rc, 0, 'W2 single events from 4 publishers: exit 0');
is_deeply([ @$r{qw(received missing duplicates publish_requests)} ],
    [ 2000, 0, 0, 2000 ], 'W2: every event once, one request each');

($r, $rc) = loadgen(@common, '--connections', 400, '--rooms', 400,
    '--events', 4000, '--publishers', 2, '--batch', 100, '--room', 'w2b');
is($rc, 0, 'W2 batches of 100 from 2 publishers: exit 0');
is_deeply([ @$r{qw(received missing duplicates publish_requests)} ],
    [ 4000, 0, 0, 40 ], 'W2 batches: every event once, 40 requests');

# a batch whose rooms would straddle publishers is refused up front

(undef, $rc) = loadgen(@common, '--connections', 10, '--rooms', 150,
    '--events', 300, '--publishers', 2, '--batch', 100);
is($rc, 2, 'rooms not a multiple of batch x publishers: refused (exit 2)');

# losses are seen: the subscribers listen where nothing is published

($r, $rc) = loadgen(@common, '--connections', 50, '--rooms', 50,
    '--ws', '/ws?room=elsewhere%s', '--events', 100, '--room', 'lost');
is($rc, 3, 'nothing arrives: exit 3');
is($r->{missing}, 100, 'every expected delivery counted missing');

# Server-Sent Events: the same accounting from event streams

my @sse = (@common, '--proto', 'sse', '--ws', '/sse?room=%s');

($r, $rc) = loadgen(@sse, '--connections', 200, '--events', 20,
    '--rate', 100, '--room', 's1');
is($rc, 0, 'W1-SSE at a fixed rate: exit 0');
is_deeply([ @$r{qw(received missing duplicates proto)} ],
    [ 4000, 0, 0, 'sse' ], 'W1-SSE: 200 x 20 events from the streams');

($r, $rc) = loadgen(@sse, '--connections', 300, '--rooms', 300,
    '--events', 1500, '--publishers', 3, '--room', 's2x');
is_deeply([ @$r{qw(connections received missing duplicates)} ],
    [ 300, 1500, 0, 0 ], 'SSE, a room per stream, 3 publishers: every '
    . 'event once');

($r, $rc) = loadgen(@sse, '--connections', 50, '--rooms', 50,
    '--ws', '/sse?room=elsewhere%s', '--events', 100, '--room', 'slost');
is_deeply([ $rc, $r->{missing} ], [ 3, 100 ],
    'SSE, nothing arrives: every expected event missing, exit 3');

(undef, $rc) = loadgen(@common, '--proto', 'sse', '--connections', 3,
    '--events', 1);
is($rc, 1, 'SSE to a WebSocket-only location: no stream opens (exit 1)');

# the floor: rooms by query, the same accounting

my $floor_port = $t->port(2);
my $floor = fork() // die "fork: $!";
if ($floor == 0) {
    open(STDERR, '>', $t->dir() . '/floor.log');
    exec($FLOOR, '--port', $floor_port) or POSIX::_exit(127);
}
sleep(0.3);

my @floor = ('--port', $floor_port, '--ws', '/ws?room=%s', '--pub',
    '/pub?id=%s', '--target', 'floor', '--threads', 2, '--timeout', 30);

($r, $rc) = loadgen(@floor, '--connections', 200, '--events', 50,
    '--room', 'f1');
is($rc, 0, 'floor W1: exit 0');
is_deeply([ @$r{qw(received missing duplicates)} ], [ 10000, 0, 0 ],
    'floor W1: 200 x 50 deliveries');

($r, $rc) = loadgen(@floor, '--connections', 300, '--rooms', 300,
    '--events', 1500, '--publishers', 3, '--room', 'f2x');
is_deeply([ @$r{qw(received missing duplicates)} ], [ 1500, 0, 0 ],
    'floor W2: a room per subscriber, every event to its room only');

(undef, $rc) = loadgen(@floor, '--connections', 10, '--events', 10,
    '--batch', 10);
is($rc, 2, 'floor takes no batches: refused (exit 2)');

($r, $rc) = loadgen(@floor, '--proto', 'sse', '--connections', 200,
    '--events', 50, '--room', 'f3');
is_deeply([ @$r{qw(received missing duplicates)} ], [ 10000, 0, 0 ],
    'floor W1-SSE: 200 x 50 events from its streams');

kill('TERM', $floor);
waitpid($floor, 0);

# hold mode: the connections stay open until the time is up

my $pid = open(my $lg, '-|', $LOADGEN, '--port', $port, '--ws', '/ws?room=%s',
    '--room', 'idle', '--connections', 300, '--hold', 3)
    or die "loadgen: $!";
my $line = <$lg>;
my $h = eval { decode_json($line // '') } // {};
is($h->{opened}, 300, 'hold: 300 connections open');
sleep(0.5);
ok(waitpid($pid, WNOHANG) == 0,
    'hold: loadgen keeps them until the time is up');
kill('TERM', $pid);
close($lg);

# the parser: a stand-in that sends every event in another shape, in
# chunks; event 3 twice, event 5 never

my $fake_port = $t->port(3);
my $fake = fork() // die "fork: $!";
if ($fake == 0) {
    fake_sse($fake_port);
    POSIX::_exit(0);
}
sleep(0.3);

($r, $rc) = loadgen('--port', $fake_port, '--ws', '/s', '--pub', '/p',
    '--target', 'floor', '--proto', 'sse', '--connections', 10,
    '--events', 12, '--timeout', 30, '--room', 'fake');
is($rc, 3, 'stand-in: a gap and a repeat, exit 3');
is_deeply([ @$r{qw(received missing duplicates stale)} ], [ 120, 10, 10, 0 ],
    'stand-in: every shape counted, the repeat and the gap per stream');

kill('TERM', $fake);
waitpid($fake, 0);

###############################################################################

sub loadgen {
    my @cmd = ($LOADGEN, @_);
    my $out = `@{[ map { "'$_'" } @cmd ]} 2>/dev/null`;
    my $rc = $? >> 8;
    my $r = eval { decode_json($out) } // {};
    return ($r, $rc);
}

sub chunk {
    return sprintf("%x\r\n%s\r\n", length($_[0]), $_[0]);
}

# event k of payload p as pieces of a chunked body, each written apart
sub shapes {
    my ($p, $k) = @_;
    my ($ts) = $p =~ /"t":(\d+)/;

    if ($k % 4 == 0) {
        return (chunk("id: $k\nevent: b\ndata: $p\n\n"));
    }

    if ($k % 4 == 1) {
        # "\r\n" lines, a comment, chunks cut in a name and in the data
        my $e = ": c\r\ndata: $p\r\n\r\n";
        return (chunk(substr($e, 0, 7)), chunk(substr($e, 7, 9)),
            chunk(substr($e, 16)));
    }

    if ($k % 4 == 2) {
        # data over two lines, 7-byte chunks written 11 bytes at a time
        my $raw = join('', map { chunk($_) }
            "data: {\"t\":$ts,\ndata: \"i\":$k}\n\n" =~ /(.{1,7})/gs);
        return ($raw =~ /(.{1,11})/gs);
    }

    # no data (retry) cut by a chunk extension, then "data:" with no space
    return ("5;x=1\r\nretry\r\n", chunk(": 1000\n\n"), chunk("data:$p\n\n"));
}

sub fake_sse {
    my ($port) = @_;
    my $ls = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port",
        Listen => 128, ReuseAddr => 1) or die "listen: $!";
    my $sel = IO::Select->new($ls);
    my $until = time() + 60;    # never outlives a test that died
    my (%in, @subs);

    while (time() < $until && getppid() != 1) {
        for my $fh ($sel->can_read(1)) {
            if ($fh == $ls) {
                $sel->add($ls->accept() // next);
                next;
            }

            $in{$fh} //= '';
            if (!sysread($fh, $in{$fh}, 65536, length($in{$fh}))) {
                $sel->remove($fh);
                close($fh);
                next;
            }

            while ($in{$fh} =~ /\r\n\r\n/) {
                my $hl = $+[0];
                my ($len) = substr($in{$fh}, 0, $hl)
                    =~ /Content-Length: *(\d+)/i;
                last if length($in{$fh}) < $hl + ($len // 0);

                my $req = substr($in{$fh}, 0, $hl + ($len // 0), '');

                if ($req =~ /^GET /) {
                    syswrite($fh, "HTTP/1.1 200 OK\r\nContent-Type: "
                        . "text/event-stream\r\nTransfer-Encoding: "
                        . "chunked\r\n\r\n" . chunk(": hi\n\n")
                        . chunk("data: {\"type\":\"subscribed\"}\n\n"));
                    push @subs, $fh;
                    next;
                }

                my $p = substr($req, $hl);
                my ($k) = $p =~ /"i":(\d+)/;

                for my $s (@subs) {
                    for (1 .. ($k == 3 ? 2 : $k == 5 ? 0 : 1)) {
                        for my $piece (shapes($p, $k)) {
                            syswrite($s, $piece);
                            sleep(0.001);
                        }
                    }
                }

                syswrite($fh, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        }
    }
}

###############################################################################
