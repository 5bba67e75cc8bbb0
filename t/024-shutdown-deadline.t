#!/usr/bin/perl

# Tests for ngx_signal_module: the shutdown deadline holds whatever the
# client does (spec 12, section 7). After a reload, a connection is closed
# (1012) at a random moment of signal_shutdown_window: also one that
# answers, after the reload, a ping the server sent before it (before the
# fix that pong re-armed the ping timer, which the shutdown reuses, and the
# close came a ping interval later), one that keeps answering pings, and
# one that answers nothing; the old worker exits within the window +
# signal_close_timeout.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use IO::Select;
use Time::HiRes qw(time sleep);

###############################################################################

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 1;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_ping_interval 3s;
    signal_ping_timeout 10s;
    signal_shutdown_window 1s;
    signal_close_timeout 1s;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }
    }
}

EOF

$t->run()->plan(14);

###############################################################################

my $WINDOW = 1;         # signal_shutdown_window
my $CLOSE = 1;          # signal_close_timeout
my $MARGIN = 0.5;       # for a close frame
my $EXIT_MARGIN = 0.8;  # for the old worker's exit (before the fix: 3s)

# late: wait for the server's ping and answer it only after the reload;
# prompt: answer every ping at once; chatty: answer pings, and after the
# reload send pings and native pings every 50 ms; silent: answer nothing,
# not even the close frame

my @late = map { $t->ws_ok('/ws') } 1 .. 6;
my @prompt = map { $t->ws_ok('/ws') } 1 .. 2;
my $chatty = $t->ws_ok('/ws');
my $silent = $t->ws_ok('/ws');
my @all = (@late, @prompt, $chatty, $silent);
my ($old) = $t->workers();

# the server pings everybody after signal_ping_interval (3s)

my %pinged;
my $deadline = time() + 6;

while (keys %pinged < @late + 1 && time() < $deadline) {
    for my $i (0 .. $#all) {
        my $f = $all[$i]->recv_frame(0.01) or next;
        next unless $f->{opcode} == 9;
        if (grep { $all[$i] == $_ } @prompt, $chatty) {
            $all[$i]->send_pong($f->{payload});
        } else {
            $pinged{$i} = 1;
        }
    }
}

is(scalar keys %pinged, @late + 1,
    'the server pinged every client; the pings are not answered yet');

# reload; as soon as the old worker is shutting down, the late pongs

my $t_hup = time();
$t->signal('HUP');

my $t_sd = shutting_down($old, 5);
ok($t_sd, 'reload: the old worker is shutting down')
    or diag('proctitle: ' . proctitle($old));
$t_sd ||= time();

$_->send_pong('') for @late;

my @seen = watch($t_sd + 5);

my @l = @seen[0 .. $#late];
my @p = @seen[@late .. @late + $#prompt];
my ($c, $s) = @seen[-2, -1];
note(close_times(@seen));

is(join(' ', map { $_->{code} // 'none' } @l), join(' ', ('1012') x @late),
    'late pong: every client gets 1012');
ok(!grep({ !defined $_->{at} || $_->{at} - $t_sd > $WINDOW + $MARGIN } @l),
    'late pong: every client closed within signal_shutdown_window of the '
    . 'reload') or diag(close_times(@l));

is(join(' ', map { $_->{code} // 'none' } @p),
    join(' ', ('1012') x @prompt), 'prompt pongs: 1012');
ok(!grep({ !defined $_->{at} || $_->{at} - $t_sd > $WINDOW + $MARGIN } @p),
    'prompt pongs: closed within signal_shutdown_window')
    or diag(close_times(@p));

is($c->{code} // 'none', 1012, 'chatty client: 1012');
ok(defined $c->{at} && $c->{at} - $t_sd <= $WINDOW + $MARGIN,
    'chatty client: closed within signal_shutdown_window')
    or diag(close_times($c));

is($s->{code} // 'none', 1012, 'silent client: 1012');
ok(defined $s->{at} && $s->{at} - $t_sd <= $WINDOW + $MARGIN,
    'silent client: closed within signal_shutdown_window')
    or diag(close_times($s));

is(scalar(grep { ($_->{reason} // '') eq 'server restarting' } @seen),
    scalar @all, 'every close says "server restarting"');

# the old worker: gone within the window + signal_close_timeout (the
# silent client never answers the close)

my $gone = $t->wait_pids_gone([ $old ], $t_sd + 6 - time());
my $dt = time() - $t_sd;
note(sprintf('old worker gone %.2fs after it began shutting down, %.2fs '
    . 'after the HUP', $dt, time() - $t_hup));
ok($gone && $dt <= $WINDOW + $CLOSE + $EXIT_MARGIN,
    'the old worker exited within signal_shutdown_window + '
    . 'signal_close_timeout') or diag(sprintf('after %.2fs (reload %.2fs '
    . 'before the worker began shutting down)', $dt, $t_sd - $t_hup));

# the new worker serves

my $ws = $t->ws('/ws');
ok(ref $ws eq 'Test::Signal::WS', 'a new connection after the reload');
$ws->send_json({ type => 'ping', id => 'new' }) if ref $ws ne 'HASH';
is_deeply(ref $ws ne 'HASH' && $ws->recv_json(), { type => 'pong',
    id => 'new' }, 'served by the new worker');

###############################################################################

# The proctitle of a process ('' when it is gone).
sub proctitle {
    open(my $fh, '<', "/proc/$_[0]/cmdline") or return '';
    local $/;
    my $s = <$fh> // '';
    $s =~ tr/\0/ /;
    return $s;
}

# When the worker $pid began shutting down (it changes its proctitle
# before it closes its idle connections), within $timeout; 0 if not seen.
sub shutting_down {
    my ($pid, $timeout) = @_;
    my $end = time() + $timeout;
    while (time() < $end) {
        return time() if proctitle($pid) =~ /shutting down/;
        sleep(0.002);
    }
    return 0;
}

# Reads every client of @all until each got a close frame or $end: for
# each {code, reason, at}. Pings are answered (the late clients have sent
# their pong) except by the silent client, which also does not echo the
# close; the chatty client pings meanwhile.
sub watch {
    my ($end) = @_;
    my @res = map { {} } @all;
    my %open = map { $_ => 1 } 0 .. $#all;
    my $sel = IO::Select->new();
    my %of;

    for my $i (0 .. $#all) {
        $sel->add($all[$i]{sock});
        $of{fileno $all[$i]{sock}} = $i;
    }

    my $next = 0;

    while (%open && time() < $end) {
        if ($open{$#all - 1} && time() >= $next) {
            $chatty->send_ping('chatty');
            $chatty->send_json({ type => 'ping', id => 'chatty' });
            $next = time() + 0.05;
        }

        for my $fh ($sel->can_read(0.01)) {
            my $i = $of{fileno $fh};
            my $c = $all[$i];

            while (my $f = $c->recv_frame(0.001)) {
                if ($f->{opcode} == 9) {
                    $c->send_pong($f->{payload}) unless $c == $silent;
                    next;
                }

                next unless $f->{opcode} == 8;

                @{$res[$i]}{qw(code reason at)} =
                    ($f->{code}, $f->{reason}, time());
                $c->send_close($f->{code}) unless $c == $silent;
                $sel->remove($fh);
                delete $open{$i};
                last;
            }

            if ($c->{eof} && $open{$i}) {
                $sel->remove($fh);
                delete $open{$i};
            }
        }
    }

    return @res;
}

sub close_times {
    return join(', ', map { defined $_->{at}
        ? sprintf('%.2fs', $_->{at} - $t_sd) : 'none' } @_)
        . ' after the old worker began shutting down';
}

###############################################################################
