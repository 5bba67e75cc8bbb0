#!/usr/bin/perl

# Tests for the benchmark instrument (bench/loadgen.c, bench/floor.c): a
# few seconds of the W1/W2 shapes against this module and the floor, so
# that `make bench` cannot rot unnoticed.  They check what the figures in
# docs/benchmarks.md rest on: every delivery counted once, losses detected
# (subscribers where nothing is published), batches and several
# publishers keeping per-room order, refused option combinations, and the
# hold mode used for the idle footprint.  No timing is asserted.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;

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

my $t = Test::Signal->new();

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

        location /pub {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(16);

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

###############################################################################

sub loadgen {
    my @cmd = ($LOADGEN, @_);
    my $out = `@{[ map { "'$_'" } @cmd ]} 2>/dev/null`;
    my $rc = $? >> 8;
    my $r = eval { decode_json($out) } // {};
    return ($r, $rc);
}

###############################################################################
