#!/usr/bin/perl

# Tests for ngx_signal_module: signal_status. Shared-memory counters of
# connections (total and per worker), rooms, events, bytes and closes by
# code, across workers; a killed worker's connections stop counting.

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

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%% reuseport;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_join "lobby";
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
$t->ignore_log(qr/exited on signal 9/);

###############################################################################

# a worker is listed once it has started (slower under the sanitizers)
my $st;
for (1 .. 100) {
    $st = status();
    last if @{$st->{workers}} == 2;
    select(undef, undef, undef, 0.05);
}

is($st->{connections}, 0, 'no connections at start');
is(scalar @{$st->{workers}}, 2, 'both workers listed');
is($st->{zone}{name}, 'signal_test', 'zone name');
ok($st->{zone}{size} >= 1024 * 1024 && $st->{zone}{used} > 0,
    'zone size and usage');

my @ws = map { $t->ws('/ws') } 1 .. 6;
is(scalar(grep { $_->{status} == 101 } @ws), 6, 'six clients connected');

$st = status();
is($st->{connections}, 6, 'six connections counted');
is($st->{connections_total}, 6, 'six accepted in all');

my $sum = 0;
$sum += $_->{connections} for @{$st->{workers}};
is($sum, 6, 'per-worker counts add up');

# events: published per (event, room), delivered per connection reached
# (this milestone delivers on the worker that got the notify)

my $r = $t->notify('/notify', '{"rooms":["lobby","empty"],"event":"e"}');
is($r->{status}, 202, 'published');

$st = status();
is($st->{events}{published}, 2, 'two (event, room) pairs published');
ok($st->{events}{delivered} >= 1 && $st->{events}{delivered} <= 6,
    'deliveries counted');
ok($st->{rooms} >= 2, 'rooms in the zone');

# closes by code

$ws[0]->send_close(1000);
$ws[0]->expect_close();
$ws[1]->send_raw("\x81\x02hi");          # unmasked: 1002
$ws[1]->expect_close();
$ws[1]->close();                         # the server waits for our close

sleep(0.3);
$st = status();
is($st->{closes}{1000}, 1, 'a 1000 close counted');
is($st->{closes}{1002}, 1, 'a 1002 close counted');
is($st->{connections}, 4, 'four connections left');
ok($st->{bytes_sent} > 0, 'bytes sent counted');

# a worker killed with SIGKILL: its connections no longer count

my ($victim) = $t->workers();
my $victim_count = (grep { $_->{pid} == $victim } @{$st->{workers}})[0]
    ->{connections};
kill 'KILL', $victim;

my $ok = 0;
for (1 .. 50) {
    sleep(0.1);
    $st = eval { status() } or next;
    if (!grep({ $_->{pid} == $victim } @{$st->{workers}})
        && @{$st->{workers}} == 2)
    {
        $ok = 1;
        last;
    }
}

ok($ok, 'the killed worker is gone and its replacement listed');
is($st->{connections}, 4 - $victim_count,
    'only the surviving connections count');

my $res = $t->http('POST', '/status', body => '{}');
is($res->{status}, 405, 'status is GET only');

$_->close() for @ws[2 .. 5];

###############################################################################

sub status {
    my $res = $t->http('GET', '/status');
    die "status $res->{status}\n" unless $res->{status} == 200;
    return $res->{json};
}

###############################################################################
