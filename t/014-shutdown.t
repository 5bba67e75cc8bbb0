#!/usr/bin/perl

# Tests for ngx_signal_module: graceful shutdown and reload. Old workers
# close their WebSocket clients at random moments of signal_shutdown_window
# (1012 on reload, 1001 on quit), keep delivering events until then, and
# exit without waiting for the (long) ping interval.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use IO::Select;
use Time::HiRes qw(time);

###############################################################################

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_ping_interval 60s;
    signal_ping_timeout 60s;
    signal_close_timeout 2s;
    signal_shutdown_window 1s;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /ws-now {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_shutdown_window 0;
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

$t->run()->plan(22);

###############################################################################

# reload (HUP): 1012 spread over the window, events delivered meanwhile

my @clients = map { $t->subscriber('/ws', 'all') } 1 .. 20;

my $t0 = time();
my @old = $t->reload();
ok(@old == 2 && $t->workers() >= 2, 'reload: new workers started')
    or diag("old: @old, now: " . join(' ', $t->workers()));

# published through a new worker while the old ones are closing
my $r = $t->publish('all', 'during', '{"n":1}');

my @seen = watch(4, @clients);

is(join(',', sort { $a <=> $b } keys %{{ map { ($_->{code} // 0) => 1 }
    @seen }}), '1012', 'reload: every client gets 1012');
is(scalar(grep { ($_->{reason} // '') eq 'server restarting' } @seen), 20,
    'reload: with reason "server restarting"');

my @at = sort { $a <=> $b } map { $_->{at} // 0 } @seen;
ok($at[-1] - $at[0] > 0.3, 'reload: closes spread over the window')
    or diag(sprintf('spread %.3fs', $at[-1] - $at[0]));
ok($at[-1] - $t0 < 2.5, 'reload: every client closed within the window')
    or diag(sprintf('last after %.2fs', $at[-1] - $t0));

my $got = grep { $_->{events}{during} } @seen;
ok($got >= 10, "reload: $got of 20 got an event published meanwhile");
ok(!grep({ ($_->{events}{during} // 0) > 1 } @seen),
    'reload: nobody got it twice');

ok($t->wait_pids_gone(\@old, 5), 'reload: old workers exited');
my $dt = time() - $t0;
ok($dt < 3, 'reload: old workers exited after the window')
    or diag(sprintf('after %.2fs', $dt));

my $st = $t->http('GET', '/status')->{json};
is($st->{closes}{1012}, 20, 'status: 20 closes with 1012');

# the zone, and with it seq, survived the reload
$r = $t->publish('all', 'after', '{"n":2}');
is($r->{json}{published}[0]{seq}, 2, 'reload: seq continues');

@clients = map { $t->subscriber('/ws', 'all') } 1 .. 4;
is(scalar @clients, 4, 'reload: new connections served by new workers');
$clients[0]->send_json({ type => 'ping', id => 'new' });
is_deeply($clients[0]->recv_json(), { type => 'pong', id => 'new' },
    'reload: native ping on a new connection');

# graceful shutdown (QUIT): 1001, also for a client that never answers,
# and at once where signal_shutdown_window is 0

my $silent = $t->subscriber('/ws', 'all');
my @now = map { $t->subscriber('/ws-now', 'all') } 1 .. 2;

$t0 = time();
$t->signal('QUIT');

@seen = watch(4, @now);
is(join(' ', map { $_->{code} // 'none' } @seen), '1001 1001',
    'quit: window 0 closes with 1001');
ok(!grep({ ($_->{at} // 99) - $t0 > 0.5 } @seen), 'quit: window 0 at once');

@seen = watch(4, @clients);
is(join(' ', map { $_->{code} // 'none' } @seen), '1001 1001 1001 1001',
    'quit: every client gets 1001');
is(scalar(grep { ($_->{reason} // '') eq 'server shutting down' } @seen), 4,
    'quit: with reason "server shutting down"');
ok(!grep({ ($_->{at} // 99) - $t0 > 1.5 } @seen), 'quit: within the window');

my ($code) = $silent->expect_close(3, no_reply => 1, eof_timeout => 0.1);
is($code, 1001, 'quit: silent client gets 1001 too');

ok($t->wait_exit(6), 'quit: nginx exited');
$dt = time() - $t0;
ok($dt < 4.5, 'quit: nginx exited within window + signal_close_timeout')
    or diag(sprintf('after %.2fs', $dt));

my $refused = Test::Signal::WS->connect(port => $t->port(1), path => '/ws');
is($refused->{status}, 0, 'quit: nothing listens any more');

###############################################################################

# Reads every client until it gets a close frame (answered) or $timeout
# passes: for each, {code, reason, at (time of the close), events (name =>
# count)}.
sub watch {
    my ($timeout, @c) = @_;
    my $deadline = time() + $timeout;
    my @res = map { { events => {} } } @c;
    my %open = map { $_ => 1 } 0 .. $#c;
    my $sel = IO::Select->new();
    my %of;

    for my $i (0 .. $#c) {
        $sel->add($c[$i]{sock});
        $of{fileno $c[$i]{sock}} = $i;
    }

    while (%open && time() < $deadline) {
        for my $fh ($sel->can_read(0.05)) {
            my $i = $of{fileno $fh};

            while (my $f = $c[$i]->recv_frame(0.001)) {
                if ($f->{opcode} == 1) {
                    my $m = Test::Signal::WS::from_json($f->{payload});
                    $res[$i]{events}{$m->{event}}++
                        if $m && ($m->{type} // '') eq 'event';
                    next;
                }

                next unless $f->{opcode} == 8;

                @{$res[$i]}{qw(code reason at)} =
                    ($f->{code}, $f->{reason}, time());
                $c[$i]->send_close($f->{code});
                $c[$i]{close_sent} = 1;
                $sel->remove($fh);
                delete $open{$i};
                last;
            }

            if ($c[$i]{eof} && $open{$i}) {
                $sel->remove($fh);
                delete $open{$i};
            }
        }
    }

    return @res;
}

###############################################################################
