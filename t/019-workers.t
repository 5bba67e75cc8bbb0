#!/usr/bin/perl

# Tests for ngx_signal_module: the memory engine across workers. Events
# published on any worker reach members on every worker, in seq order per
# room, exactly once (families included); a worker killed with SIGKILL is
# replaced and the others keep delivering.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;

###############################################################################

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 4;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%% reuseport;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_join "burst:$arg_r";
            signal_allow_subscribe "burst:*";
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

$t->run()->plan(12);
$t->ignore_log(qr/exited on signal 9/);

###############################################################################

# 40 clients in 4 rooms; every 5th also follows the whole family

my (@clients, %family);

for my $i (0 .. 39) {
    my $ws = $t->ws('/ws?r=' . ($i % 4));
    die "connect failed\n" unless $ws->{status} == 101;

    if ($i % 5 == 0) {
        $ws->send_json({ type => 'subscribe', room => 'burst:*' });
        $ws->recv_json()->{type} eq 'subscribed' or die "subscribe\n";
        $family{$i} = 1;
    }

    push @clients, $ws;
}

my $st = status();
is($st->{connections}, 40, '40 connections');
ok((grep { $_->{connections} > 0 } @{$st->{workers}}) >= 2,
    'connections are spread over several workers');

# 2,000 events in batches of 100 over new connections (any worker)

my %published;    # room => number of events
my $refused = 0;

for my $b (1 .. 20) {
    my @ev = map {
        my $room = 'burst:' . int(rand(4));
        $published{$room}++;
        qq({"room":"$room","event":"e","data":{"b":$b,"i":$_}});
    } 1 .. 100;

    my $r = $t->notify('/notify', '{"events":[' . join(',', @ev) . ']}');
    $refused++ unless $r->{status} == 202;
}

is($refused, 0, '20 batches of 100 accepted');

my ($complete, $ordered, $once) = (1, 1, 1);

for my $i (0 .. 39) {
    my $mine = 'burst:' . ($i % 4);
    my $want = $family{$i} ? 2000 : $published{$mine};
    my (%last, %seen);
    my $got = 0;

    while ($got < $want) {
        my $m = $clients[$i]->recv_json(5) or last;
        next unless $m->{type} eq 'event';
        $got++;

        $once = 0 if $seen{"$m->{room}:$m->{seq}"}++;
        $ordered = 0 if ($m->{seq} // 0) != ($last{$m->{room}} // 0) + 1;
        $last{$m->{room}} = $m->{seq};
        $ordered = 0 unless $family{$i} || $m->{room} eq $mine;
    }

    $complete = 0 unless ($got // 0) == $want;
}

ok($complete, 'every client received every event of its rooms');
ok($ordered, 'in seq order per room, gap-free, and only its rooms');
ok($once, 'each event once, also with a room and its family');

$st = status();
is($st->{events}{published}, 2000, 'status: 2000 published');

# SIGKILL one worker: it is replaced, the others keep delivering

my ($victim) = $t->workers();
kill 'KILL', $victim;

my $replaced = 0;
for (1 .. 50) {
    sleep(0.1);
    my @w = $t->workers();
    if (@w == 4 && !grep { $_ == $victim } @w) {
        $replaced = 1;
        last;
    }
}

ok($replaced, 'the killed worker was replaced');

my $late = $t->ws('/ws?r=1');
my $r = $t->notify('/notify', '{"room":"burst:1","event":"after"}');
is($r->{json}{published}[0]{seq}, $published{'burst:1'} + 1,
    'seq continues after the kill');

my $m = $late->recv_json(5);
is($m && $m->{event}, 'after', 'a new client gets the next event');

# survivors in burst:1 got it too (the victim's clients are gone)

my $survivors = 0;
for my $i (grep { $_ % 4 == 1 && !$family{$_} } 0 .. 39) {
    my $e = $clients[$i]->recv_json(2);
    $survivors++ if $e && $e->{event} eq 'after';
}

ok($survivors >= 1, "$survivors surviving clients of burst:1 got it");

# the event log is collected once every live worker has read it, also
# after a worker was killed: 4 MB of events through a 1 MB zone

$refused = 0;
my $big = 'x' x 1000;

for my $b (1 .. 40) {
    my @ev = map { qq({"room":"gc:$_","event":"e","data":"$big"}) } 1 .. 100;
    $r = $t->notify('/notify', '{"events":[' . join(',', @ev) . ']}');
    $refused++ unless $r->{status} == 202;
}

is($refused, 0, 'the event log is collected: no zone_full');

$_->close() for @clients, $late;

###############################################################################

sub status {
    my $res = $t->http('GET', '/status');
    die "status $res->{status}\n" unless $res->{status} == 200;
    return $res->{json};
}

###############################################################################
