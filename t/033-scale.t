#!/usr/bin/perl

# Tests for ngx_signal_module: the memory engine at scale with 4 workers.
# 1,000 connections in one room all receive every event; a burst of 10,000
# events to rooms (and a family) with members on several workers arrives
# complete, in seq order and exactly once; a reload while events are being
# published loses nothing that was accepted and seq keeps increasing.
# The clients are node "ws" connections (t/interop/fanout.js), which check
# the order of every event themselves.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;

use IPC::Open2;
use Time::HiRes qw(sleep time);

###############################################################################

my $NODE = '/usr/bin/node';
my $FANOUT = "$FindBin::Bin/interop/fanout.js";

unless (-x $NODE && -f "$FindBin::Bin/interop/node_modules/ws/package.json")
{
    plan(tests => 1);
    fail("$NODE or t/interop/node_modules/ws is missing: "
        . "install nodejs and run 'npm ci' in t/interop");
    exit;
}

my $t = Test::Signal->new(zone => '16m');

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 4;
worker_rlimit_nofile 8192;

events {
    worker_connections 4096;
}

http {
    %%TEST_GLOBALS_HTTP%%

    access_log off;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_join $arg_r;
            signal_shutdown_window 1s;
        }

        # a family is joined only where the configuration says so
        location ~ ^/burst([0-3])$ {
            signal_websocket;
            signal_join "burst:$1";
            signal_shutdown_window 1s;
        }

        location = /burst4 {
            signal_websocket;
            signal_join "burst:*";
            signal_shutdown_window 1s;
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

$t->run()->plan(19);

my $base = 'ws://127.0.0.1:' . $t->port(1) . '/ws';

###############################################################################

# 1,000 connections in one room, spread over the 4 workers

my $big = fanout("$base?r=big", 1000);
is($big->{ready}, 1000, '1000 connections open');

my @w = @{status()->{workers}};
is(scalar(grep { $_->{connections} > 0 } @w), 4,
    'every worker has connections: '
    . join(' ', map { $_->{connections} } @w));

for my $b (1 .. 4) {
    $t->notify('/notify', '{"events":[' . join(',', map {
        qq({"room":"big","event":"e","data":{"b":$b,"i":$_}}) } 1 .. 50)
        . ']}')->{status} == 202 or die "publish to big failed\n";
}

my $rep = wait_report($big, 200_000);
is($rep->{events}, 200_000, '200 events x 1000 connections delivered');
is(scalar(grep { $_ != 200 } @{$rep->{counts}}), 0,
    'each connection got all 200');
is($rep->{bad}, 0, 'in seq order, no gap, no duplicate')
    or diag($rep->{first_bad});

# a burst of 10,000 events to 4 rooms and their family, 100 members
# ("burst:0" .. "burst:3" and "burst:*", by connection number modulo 5)

my $burst = fanout('ws://127.0.0.1:' . $t->port(1) . '/burst{m}', 100,
    mod => 5);
is($burst->{ready}, 100, '100 burst connections open');

my %n;
my $accepted = 0;
my $t0 = time();

for my $b (1 .. 20) {
    my @ev = map {
        my $room = 'burst:' . int(rand(4));
        $n{$room}++;
        qq({"room":"$room","event":"e","data":{"b":$b,"i":$_}});
    } 1 .. 500;

    my $r = $t->notify('/notify', '{"events":[' . join(',', @ev) . ']}');
    $accepted += 500 if $r->{status} == 202;
}

is($accepted, 10_000, '10,000 events accepted in 20 notifies');

my $expect = 0;
my @want = map {
    my $m = $_ % 5;
    my $w = $m == 4 ? 10_000 : ($n{"burst:$m"} // 0);
    $expect += $w;
    $w;
} 0 .. 99;

$rep = wait_report($burst, $expect);
is($rep->{events}, $expect, "$expect deliveries of the burst");
is(scalar(grep { $rep->{counts}[$_] != $want[$_] } 0 .. 99), 0,
    'every member got every event of its room or family');
is($rep->{bad}, 0, 'in seq order per room, no gap, no duplicate')
    or diag($rep->{first_bad});
note(sprintf('burst delivered in %.2fs', time() - $t0));

my $st = status();
is($st->{events}{published}, 10_200, 'status: 10,200 published');
ok($st->{events}{delivered} >= 200_000 + $expect, 'status: delivered');

# reload while publishing: every publish is accepted, seq keeps counting,
# the old clients get a gap-free prefix and then 1012; new clients get the
# events after it

my @seqs;
my $failed = 0;
my $reloaded;

for my $i (1 .. 60) {
    if ($i == 20) {
        $t->signal('HUP');
        $reloaded = 1;
    }

    my $r = $t->notify('/notify', qq({"room":"big","event":"r","data":$i}));
    if ($r->{status} == 202) {
        push @seqs, $r->{json}{published}[0]{seq};
    } else {
        $failed++;
    }

    sleep(0.02);
}

is($failed, 0, 'every publish during the reload accepted');
is(join(',', @seqs), join(',', 201 .. 260), 'seq continues across it');

$rep = wait_closed($big, 1000);
is($rep->{closed}, 1000, 'the old workers closed all 1000 clients');
is($rep->{bad}, 0, 'each got a gap-free prefix before the close')
    or diag($rep->{first_bad});

my $late = fanout("$base?r=big", 200);
is($late->{ready}, 200, '200 connections to the new workers');

$t->notify('/notify', '{"room":"big","event":"after","data":1}');
$rep = wait_report($late, 200);
is($rep->{events}, 200, 'they get the next event');
is(scalar(grep { $_ != 1 } @{$rep->{counts}}), 0, 'each exactly once');

close($_->{in}) for $big, $burst, $late;
waitpid($_->{pid}, 0) for $big, $burst, $late;

###############################################################################

sub status {
    my $res = $t->http('GET', '/status');
    die "status: $res->{status}\n" unless $res->{status} == 200;
    return $res->{json};
}

# Starts fanout.js with $n connections; waits for READY.
sub fanout {
    my ($url, $n, %o) = @_;
    my ($out, $in);
    my $pid = open2($out, $in, $NODE, $FANOUT, '--url', $url,
        '--connections', $n, '--mod', $o{mod} // 1, '--timeout', 80);
    my $f = { pid => $pid, out => $out, in => $in };

    my $line = <$out> // '';
    $f->{ready} = $line =~ /^READY (\d+)/ ? $1 : 0;
    return $f;
}

sub report {
    my ($f) = @_;
    print { $f->{in} } "report\n";
    $f->{in}->flush();
    my $line = readline($f->{out}) // '{}';
    return Test::Signal::WS::from_json($line) // {};
}

# The report once $events arrived, or after 30 seconds.
sub wait_report {
    my ($f, $events) = @_;
    my $deadline = time() + 30;
    my $rep;
    for ( ;; ) {
        $rep = report($f);
        last if ($rep->{events} // 0) >= $events || time() > $deadline;
        sleep(0.1);
    }
    sleep(0.2);    # anything more would be a duplicate
    return report($f);
}

sub wait_closed {
    my ($f, $n) = @_;
    my $deadline = time() + 10;
    my $rep;
    for ( ;; ) {
        $rep = report($f);
        return $rep if ($rep->{closed} // 0) >= $n || time() > $deadline;
        sleep(0.1);
    }
}

###############################################################################
