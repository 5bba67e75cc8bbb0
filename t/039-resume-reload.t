#!/usr/bin/perl

# Tests for ngx_signal_module: resume across a reload and across a worker
# killed with SIGKILL, memory engine, under steady publishing. Clients in
# rooms (subscribed by message, or joined at the handshake with ?resume=)
# are closed by the old workers (1012) or lose their worker (EOF); each
# reconnects and resumes every room from the last (seq, epoch) it has:
# every seq arrives exactly once, in order, without a gap, in one epoch.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use IO::Select;
use POSIX qw(WNOHANG);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Time::HiRes qw(time sleep);

###############################################################################

my $t = Test::Signal->new(zone => '16m');

my $CONF = <<'EOF';

%%TEST_GLOBALS%%

worker_processes %%WORKERS%%;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_ping_interval 60s;
    signal_ping_timeout 60s;
    signal_close_timeout 2s;
    signal_shutdown_window 1s;

    server {
        listen       127.0.0.1:%%PORT_1%% reuseport;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /wsj {
            signal_websocket;
            signal_join "$arg_room";
            signal_allow_subscribe "*";
        }

        location /notify {
            signal_notify;
            signal_history 10000 5m;
        }

        location /status {
            signal_status;
        }
    }
}

EOF

conf(2);
$t->run()->plan(40);
$t->ignore_log(qr/exited on signal 9/);

my $NCLIENTS = 20;
my $RATE = 150;             # events per second, two per request

###############################################################################

# 1. reload with 2 workers

reload_case('a', 2);

# 2. SIGKILL of one of 2 workers

kill_case('k');

# 3. reload that changes worker_processes from 2 to 4, then one with 4

conf(4);
reload_case('b', 4);
reload_case('c', 4);

###############################################################################

sub conf {
    my ($n) = @_;
    (my $c = $CONF) =~ s/%%WORKERS%%/$n/;
    $t->write_file_expand('nginx.conf', $c);
}

# reload (HUP) under load: every client is closed with 1012 by an old
# worker, reconnects to a new one and resumes its rooms
sub reload_case {
    my ($tag, $workers) = @_;
    my $run = setup($tag);
    my @old = $t->workers();

    $t->signal('HUP');

    my $settled = pump($run, 8, sub {
        my @w = $t->workers();
        return 0 unless @w == $workers && !grep { my $p = $_;
            grep { $_ == $p } @old } @w;
        return 0 unless $t->wait_pids_gone(\@old, 0);
        return !grep { !$_->{ws} || ($_->{closes} // 0) < 1
            || %{$_->{pending}} } @{$run->{clients}};
    });

    ok($settled, "$tag: reload to $workers workers, clients back")
        or diag('workers: ' . join(' ', $t->workers()) . "; old: @old");

    my @c = @{$run->{clients}};
    my $codes = join(',', sort { $a <=> $b } keys %{{ map { $_ => 1 }
        map { @{$_->{codes}} } @c }});
    my $once = grep { @{$_->{codes}} == 1 && !$_->{eofs} } @c;
    ok($codes eq '1012' && $once == @c,
        "$tag: every client closed once, with 1012")
        or diag("codes: $codes; closed once: $once of " . scalar @c
        . '; eofs: ' . join(' ', map { $_->{eofs} // 0 } @c));

    finish_case($run);
    is($run->{pub}{fail}, 0, "$tag: publisher: every notify accepted")
        or diag("publisher: $run->{pub}{fail} failed ($run->{pub}{err})");
}

# SIGKILL of a worker that serves some of the clients: they see EOF
# without a close frame, reconnect and resume; the others go on
sub kill_case {
    my ($tag) = @_;
    my $run = setup($tag);

    my %conns = map { $_->{pid} => $_->{connections} }
        @{status()->{workers}};
    my @w = $t->workers();
    my ($victim) = sort { ($conns{$b} // 0) <=> ($conns{$a} // 0) } @w;
    my $victims = $conns{$victim} // 0;

    ok(@w == 2 && !grep({ !$conns{$_} } @w)
        && $victims + ($conns{(grep { $_ != $victim } @w)[0]} // 0)
        == $NCLIENTS, "$tag: clients on both workers")
        or diag(join(', ', map { "$_: " . ($conns{$_} // 'none') } @w));

    kill 'KILL', $victim;

    my $settled = pump($run, 8, sub {
        my @now = $t->workers();
        return 0 unless @now == 2 && !grep { $_ == $victim } @now;
        my @c = @{$run->{clients}};
        return 0 if (grep { $_->{eofs} } @c) < $victims;
        return !grep { !$_->{ws} || %{$_->{pending}} } @c;
    });

    ok($settled, "$tag: the killed worker was replaced, clients back");

    my @c = @{$run->{clients}};
    my $eofs = grep { ($_->{eofs} // 0) == 1 } @c;
    my $closes = grep { @{$_->{codes}} || ($_->{eofs} // 0) > 1 } @c;
    ok($eofs == $victims && !$closes,
        "$tag: the $victims clients of the killed worker saw EOF, no close")
        or diag("EOF: $eofs of $victims; closed otherwise: $closes");

    finish_case($run);
    diag("$tag: publisher: $run->{pub}{fail} notify failed: "
        . $run->{pub}{err}) if $run->{pub}{fail};
}

###############################################################################

# Rooms <tag>:r0..3, $NCLIENTS clients; the publisher runs a while.
sub setup {
    my ($tag) = @_;
    my @rooms = map { "$tag:r$_" } 0 .. 3;
    my $run = { tag => $tag, rooms => \@rooms, epoch => {} };

    for my $i (0 .. $NCLIENTS - 1) {
        my $c = { id => $i, run => $run, pending => {}, last => {},
            epoch => {}, seen => {}, codes => [], errors => [] };

        if ($i < 12) {
            # two rooms subscribed by message
            $c->{sub} = [ @rooms[$i % 4, ($i + 1) % 4] ];
        } else {
            # one room joined at the handshake, one by message
            $c->{join} = $rooms[$i % 4];
            $c->{sub} = [ $rooms[($i + 2) % 4] ];
        }

        $c->{rooms} = [ grep { defined } $c->{join}, @{$c->{sub}} ];
        push @{$run->{clients}}, $c;
        connect_client($c);
        die "$tag: client $i: $c->{errors}[0]\n" unless $c->{ws};
    }

    pump($run, 3, sub { !grep { %{$_->{pending}} } @{$run->{clients}} })
        or die "$tag: initial subscriptions not answered\n";

    $run->{publisher} = publisher($tag, @rooms);
    pump($run, 0.6);
    return $run;
}

# Publishes 0.5 s more, stops the publisher, publishes an "end" event to
# each room (its seq is the room's last), reads until every client has
# it and checks what every client got.
sub finish_case {
    my ($run) = @_;
    my $tag = $run->{tag};

    pump($run, 0.5);
    $run->{pub} = stop_publisher($run->{publisher});

    my (%final, $bad_epoch);
    for my $room (@{$run->{rooms}}) {
        my $r = $t->notify('/notify', { room => $room, event => 'end' });
        my $p = ($r->{json}{published} // [])->[0] // {};
        die "$tag: end event to $room: $r->{status} $r->{body}\n"
            unless $r->{status} == 202 && $p->{seq};
        $final{$room} = $p->{seq};
        $bad_epoch++ unless ($p->{epoch} // '')
            eq ($run->{epoch}{$room} // '');
    }

    pump($run, 5, sub {
        !grep { my $c = $_; !$c->{ws} || %{$c->{pending}}
            || grep { ($c->{last}{$_} // 0) < $final{$_} } @{$c->{rooms}}
        } @{$run->{clients}};
    });

    my ($lost, $dup, $order, $gaps, $errors) = (0) x 5;
    my @report;

    for my $c (@{$run->{clients}}) {
        my ($l, $d) = (0, 0);
        for my $room (@{$c->{rooms}}) {
            my $seen = $c->{seen}{$room};
            my @miss = grep { !$seen->{$_} } 1 .. $final{$room};
            my @twice = grep { $seen->{$_} > 1 } sort { $a <=> $b }
                keys %$seen;
            $l += @miss;
            $d += @twice;
            push @report, "client $c->{id} $room: lost " . span(@miss)
                if @miss;
            push @report, "client $c->{id} $room: twice " . span(@twice)
                if @twice;
        }
        $lost += $l;
        $dup += $d;
        $order += $c->{disorder} // 0;
        $gaps += $c->{gaps} // 0;
        $errors += @{$c->{errors}};
        push @report, map { "client $c->{id}: $_" } @{$c->{errors}};
        push @report, map { "client $c->{id}: $_" }
            @{$c->{order_diag} || []};
    }

    my $total = 0;
    $total += $_ for values %final;
    diag("$tag: " . join(', ', map { "$_: $final{$_}" } sort keys %final)
        . " events; $run->{pub}{ok} notify, "
        . ($run->{replayed} // 0) . ' replayed, '
        . sprintf('%.1f s', $run->{pub}{time})) if $ENV{TEST_VERBOSE};

    is($lost, 0, "$tag: no event lost ($total published)");
    is($dup, 0, "$tag: no event delivered twice");
    is($order, 0, "$tag: in seq order, positions consistent");
    is($gaps, 0, "$tag: no gap message");
    is($errors, 0, "$tag: every reconnect and resume answered");
    ok($run->{replayed}, "$tag: resumes replayed missed events")
        or diag("$tag: nothing replayed");
    ok(!$bad_epoch && !$run->{epoch_changed},
        "$tag: the epoch of each room stayed the same");
    diag(join("\n", splice(@report, 0, 40))) if @report;

    for my $c (@{$run->{clients}}) {
        $c->{ws}->close() if $c->{ws};
        delete $c->{run};
    }
}

# "1-5,7,9-10"
sub span {
    my @s;
    for my $n (@_) {
        if (@s && $s[-1][1] == $n - 1) {
            $s[-1][1] = $n;
        } else {
            push @s, [ $n, $n ];
        }
    }
    return join(',', map { $_->[0] == $_->[1] ? $_->[0] : "$_->[0]-$_->[1]" }
        @s);
}

###############################################################################
# clients

sub esc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# Connects (first time or again) and asks for every room: from where it
# is, once it has a position.
sub connect_client {
    my ($c) = @_;
    my $path = '/ws';

    if (my $j = $c->{join}) {
        $path = "/wsj?room=$j&resume=";
        $path .= esc("$j:$c->{last}{$j}:$c->{epoch}{$j}")
            if defined $c->{epoch}{$j};
    }

    my $ws = Test::Signal::WS->connect(port => $t->port(1), path => $path,
        timeout => 3);

    unless (ref $ws eq 'Test::Signal::WS') {
        $c->{retry_at} = time() + 0.05;
        push @{$c->{errors}}, "connect $path: $ws->{status} "
            . ($ws->{error} // $ws->{body} // '')
            if ++$c->{failed} == 20;
        return;
    }

    $c->{ws} = $ws;
    $c->{pending}{$c->{join}} = 1 if $c->{join};

    for my $room (@{$c->{sub}}) {
        $ws->send_json(defined $c->{epoch}{$room}
            ? { type => 'subscribe', room => $room,
                seq => $c->{last}{$room} + 0, epoch => $c->{epoch}{$room} }
            : { type => 'subscribe', room => $room });
        $c->{pending}{$room} = 1;
    }

    # frames that came with the 101
    take($c, 0);
}

# Reads what is there for a client (once from the socket unless $read is
# 0) and handles every complete frame.
sub take {
    my ($c, $read) = @_;
    my $ws = $c->{ws} or return;

    if ($read // 1) {
        my $n = sysread($ws->{sock}, my $chunk, 65536);
        if ($n) {
            $ws->{buf} .= $chunk;
        } elsif (defined $n
            || ($! != EINTR && $! != EAGAIN && $! != EWOULDBLOCK))
        {
            $ws->{eof} = 1;
        }
    }

    while (my $f = $ws->recv_frame(0)) {
        if ($f->{opcode} == 8) {
            push @{$c->{codes}}, $f->{code};
            $c->{closes}++;
            $ws->send_close($f->{code} > 0 && $f->{code} != 1005
                ? $f->{code} : undef);
            drop($c);
            return;
        }
        if ($f->{opcode} == 9) {
            $ws->send_pong($f->{payload});
            next;
        }
        next if $f->{opcode} == 10;
        message($c, $f);
    }

    if ($ws->{eof}) {
        $c->{eofs}++;
        $c->{closes}++;
        drop($c);
    }
}

sub drop {
    my ($c) = @_;
    $c->{ws}->close();
    delete $c->{ws};
    # whatever was asked on that connection is void
    $c->{pending} = {};
    $c->{failed} = 0;
    # a third reconnect at once, the others after some jitter: they miss
    # events that the resume has to replay
    $c->{retry_at} = $c->{id} % 3 ? time() + 0.05 + rand(0.25) : 0;
}

sub message {
    my ($c, $f) = @_;
    my $m = Test::Signal::WS::from_json($f->{payload});
    my $type = ref $m eq 'HASH' ? $m->{type} // '' : '';
    my $room = ref $m eq 'HASH' ? $m->{room} // '' : '';

    unless (($type eq 'event' || $type eq 'subscribed' || $type eq 'gap')
        && grep { $_ eq $room } @{$c->{rooms}})
    {
        push @{$c->{errors}}, "unexpected: $f->{payload}";
        return;
    }

    if ($type eq 'gap') {
        $c->{gaps}++;
        push @{$c->{errors}}, "gap: $f->{payload}";
        my $to = $m->{to} // $m->{seq} // 0;
        $c->{last}{$room} = $to if $to > ($c->{last}{$room} // 0);
        return;
    }

    my $seq = $m->{seq};
    my $epoch = $m->{epoch} // '';

    unless (defined $seq && $seq =~ /^\d+\z/ && $epoch =~ /^[0-9a-f]{16}\z/)
    {
        push @{$c->{errors}}, "no position: $f->{payload}";
        return;
    }

    my $run = $c->{run};
    my $e = $run->{epoch}{$room} //= $epoch;
    if ($e ne $epoch) {
        $run->{epoch_changed}++;
        push @{$c->{errors}}, "epoch: $f->{payload}";
    }
    $c->{epoch}{$room} = $epoch;

    if ($type eq 'subscribed') {
        unless (delete $c->{pending}{$room}) {
            push @{$c->{errors}}, "not asked: $f->{payload}";
            return;
        }
        if (!exists $c->{last}{$room}) {
            # first subscription, before the publisher started
            $c->{last}{$room} = $seq;
            disorder($c, "$room: first position $seq, not 0") if $seq;
        } elsif ($seq != $c->{last}{$room}) {
            disorder($c, "$room: subscribed at $seq after "
                . "$c->{last}{$room}");
            $c->{last}{$room} = $seq if $seq > $c->{last}{$room};
        }
        return;
    }

    # an event

    $run->{replayed}++ if $c->{pending}{$room} && $c->{closes};

    my $seen = $c->{seen}{$room}{$seq}++;
    my $last = $c->{last}{$room} // 0;

    if (!exists $c->{last}{$room}) {
        push @{$c->{errors}}, "event before subscribed: $f->{payload}";
    } elsif (!$seen && $seq < $last) {
        disorder($c, "$room: $seq after $last");
    }

    $c->{last}{$room} = $seq if $seq > $last;
}

sub disorder {
    my ($c, $what) = @_;
    $c->{disorder}++;
    push @{$c->{order_diag}}, $what;
}

# Reads every client for up to $timeout seconds (until $done->() is
# true), reconnecting those that were closed. The last $done->().
sub pump {
    my ($run, $timeout, $done) = @_;
    my $deadline = time() + $timeout;
    my @c = @{$run->{clients}};

    for ( ;; ) {
        for my $c (grep { !$_->{ws} } @c) {
            connect_client($c) if time() >= $c->{retry_at};
        }

        return 1 if $done && $done->();
        last if time() >= $deadline;

        my $sel = IO::Select->new();
        my %of;
        for my $c (grep { $_->{ws} } @c) {
            $sel->add($c->{ws}{sock});
            $of{fileno $c->{ws}{sock}} = $c;
        }

        if ($sel->count) {
            take($of{fileno $_}) for $sel->can_read(0.02);
        } else {
            sleep(0.02);
        }
    }

    return $done ? $done->() : 1;
}

###############################################################################
# publisher

# A child that posts two events (to two rooms) per request to /notify at
# $RATE events per second until told to stop (at most 30 s).
sub publisher {
    my ($tag, @rooms) = @_;
    my $file = $t->dir() . "/publisher-$tag";

    my $pid = fork();
    die "fork: $!" unless defined $pid;
    return { pid => $pid, name => "publisher-$tag", file => $file } if $pid;

    $SIG{ALRM} = 'DEFAULT';
    alarm(0);

    my ($ok, $fail, $err, $k) = (0, 0, '', 0);
    my $t0 = time();
    my $step = 2 / $RATE;

    while (!-e "$file.stop" && time() - $t0 < 30) {
        my @ev = map { { room => $rooms[($k + $_) % 4], event => 'e',
            data => { k => $k } } } 0, 2;
        my $r = $t->notify('/notify', { events => \@ev }, timeout => 2);
        if ($r->{status} == 202) {
            $ok++;
        } else {
            $fail++;
            $err = "$r->{status} " . ($r->{error} // $r->{body} // '');
        }
        $k++;
        my $wait = $t0 + $k * $step - time();
        sleep($wait) if $wait > 0;
    }

    if (open(my $fh, '>', "$file.tmp")) {
        printf $fh "%d %d %.3f %s\n", $ok, $fail, time() - $t0, $err;
        CORE::close($fh);
        rename("$file.tmp", $file);
    }
    POSIX::_exit(0);
}

sub stop_publisher {
    my ($p) = @_;
    $t->write_file("$p->{name}.stop", '');

    my $deadline = time() + 5;
    while (waitpid($p->{pid}, WNOHANG) == 0) {
        if (time() > $deadline) {
            kill 'KILL', $p->{pid};
            waitpid($p->{pid}, 0);
            last;
        }
        sleep(0.01);
    }

    my $s = $t->read_file($p->{name});
    my ($ok, $fail, $time, $err) = $s =~ /^(\d+) (\d+) (\S+) ?(.*)/;
    return { ok => $ok // 0, fail => $fail // 'unknown', time => $time // 0,
        err => $err // 'no report' };
}

sub status {
    my $r = $t->http('GET', '/status');
    die "status $r->{status}\n" unless $r->{status} == 200;
    return $r->{json};
}

###############################################################################
