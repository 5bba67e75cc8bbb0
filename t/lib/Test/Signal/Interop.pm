package Test::Signal::Interop;

# Interoperability tests for ngx_signal_module with WebSocket clients
# nobody on the project wrote (t/interop/*): the nginx under test, the
# client as a child process (a process group of its own) that prints READY
# once subscribed, one JSON line per event received and a CLOSED line,
# and the scenarios run against it with their assertions. A test file
# says which client command to run and which scenarios apply.
# Perl core modules only.

use strict;
use warnings;

use Test::More;
use POSIX qw(WNOHANG);
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time sleep);

use Test::Signal qw(strip_epoch);

my @CHILDREN;       # client process groups still to be reaped

# Test::Signal::Interop->new(who => 'client' or 'page' (used in test
#     names), ready_timeout => seconds to wait for READY (10))
sub new {
    my ($class, %o) = @_;
    return bless { t => Test::Signal->new(), who => $o{who} // 'client',
        ready_timeout => $o{ready_timeout} // 10, command => [],
        env => {} }, $class;
}

sub t { $_[0]{t} }

# The client command (program and its leading arguments); the scenario's
# arguments are appended.
sub command {
    my ($self, @cmd) = @_;
    $self->{command} = \@cmd;
    return $self;
}

# Environment variables set for the client only.
sub env {
    my ($self, %env) = @_;
    $self->{env} = { %{$self->{env}}, %env };
    return $self;
}

# Writes nginx.conf (extra server-level text, e.g. locations, goes into
# the server block) and starts nginx; the Test::Signal object.
sub start {
    my ($self, $extra) = @_;
    my $t = $self->{t};
    $extra //= '';

    (my $conf = <<'EOF') =~ s/%%EXTRA%%\n/$extra/;

%%TEST_GLOBALS%%

worker_processes 1;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "interop:*";
        }

        location /ws-small {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_max_message_size 32k;
        }

        location /ws-ping {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_ping_interval 300ms;
            signal_ping_timeout 700ms;
        }

%%EXTRA%%
        location /notify {
            signal_notify;
            client_max_body_size 1m;
        }
    }
}

EOF

    $t->write_file_expand('nginx.conf', $conf);
    return $t->run();
}

sub base { 'ws://127.0.0.1:' . $_[0]{t}->port(1) }

###############################################################################
# scenarios; each takes finish => seconds to wait for the client's exit

# 7 tests (9 with handshake => 1): events of every shape reach a family
# subscription, in order, with the publisher's data, and the client's
# close with 1000 completes cleanly; handshake => 1 also checks that no
# extension and no subprotocol were accepted.
sub events {
    my ($self, %o) = @_;
    my $who = $self->{who};

    my $c = $self->client('events', '--url', $self->base() . '/ws',
        '--room', 'interop:*', '--count', 10);
    ok($self->wait_ready($c), "events: $who subscribed (READY)");

    my @expected;
    push @expected, $self->publish($_, qr/^interop:/) for
        '{"room":"interop:1","event":"obj",'
            . '"data":{"k":"v","n":[1,2,3],"deep":{"a":[{"x":null}]}}}',
        '{"room":"interop:1","event":"no-data"}',
        '{"events":['
            . '{"room":"interop:2:x","event":"str",'
            . "\"data\":\"utf-8 \xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80 "
            . "\\u00e9\"},"
            . '{"rooms":["other:1","interop:1"],"event":"arr",'
            . '"data":[true,false,null,0,-1,12345678901]},'
            . '{"room":"other:2","event":"not-for-us","data":1}]}',
        '{"room":"interop:1","event":"spaced","data": { "a" : [ 1 , 2 ] } }',
        '{"room":"interop:3","event":"num","data":42}',
        '{"room":"interop:3","event":"bool","data":true}',
        '{"room":"interop:mid","event":"mid","data":"' . ('m' x 300) . '"}',
        '{"room":"interop:big","event":"big","data":"' . ('b' x 70000)
            . '"}',
        '{"room":"interop:1","event":"last","data":{"end":1}}';

    is(scalar @expected, 10, 'events: 10 events published for the family');

    my $res = $self->finish($c, $o{finish} // 15);
    is($res->{status}, 0, 'events: client exited 0');
    is_deeply($res->{events}, \@expected,
        'events: room, event, data and seq as published, in order');
    like($res->{closed}, qr/^code=1000 clean=1 /, 'events: clean close 1000');
    ok(close_ms($res) >= 0 && close_ms($res) < 2000,
        'events: close handshake completed promptly');
    is(scalar @{$res->{other}}, 0, 'events: no unexpected messages')
        or diag(explain($res->{other}));

    no_extension($res, 'events') if $o{handshake};
}

# 5 tests: the client's own WebSocket ping is answered with the same
# payload.
sub ping {
    my ($self, %o) = @_;

    my $c = $self->client('ping', '--url', $self->base() . '/ws',
        '--room', 'interop:p', '--count', 1, '--ping');
    ok($self->wait_ready($c), "ping: $self->{who} subscribed (READY)");
    my @expected = $self->publish(
        '{"room":"interop:p","event":"after-ping","data":[1]}',
        qr/^interop:p$/);
    my $res = $self->finish($c, $o{finish} // 10);
    is($res->{status}, 0, 'ping: client exited 0');
    ok(grep({ $_ eq 'PONG hello-ping' } @{$res->{lines}}),
        'ping: pong with the ping payload');
    is_deeply($res->{events}, \@expected, 'ping: event received');
    like($res->{closed}, qr/^code=1000 clean=1 /, 'ping: clean close');
}

# 7 tests: a fragmented text message (three frames, a ping interleaved) is
# reassembled and processed.
sub fragment {
    my ($self, %o) = @_;

    my $c = $self->client('fragment', '--url', $self->base() . '/ws',
        '--room', 'interop:f', '--count', 1, '--fragment');
    ok($self->wait_ready($c), "fragment: $self->{who} subscribed (READY)");
    my @expected = $self->publish(
        '{"room":"interop:f","event":"after-frag","data":"ok"}',
        qr/^interop:f$/);
    my $res = $self->finish($c, $o{finish} // 10);
    is($res->{status}, 0, 'fragment: client exited 0');
    my ($frags) = map { /^FRAGMENTS (.*)/ ? $1 : () } @{$res->{lines}};
    like($frags // '', qr/^\d+,\d+,\d+$/, 'fragment: sent in three frames');
    is_deeply(subscribed($res), { type => 'subscribed', room => 'interop:f',
        seq => 0, epoch => @expected ? $expected[0]{epoch} : 'none',
        id => "frag-\x{fc}\x{20ac}" },
        "fragment: subscribed at 0 in the event's epoch, UTF-8 id intact");
    ok(grep({ $_ eq 'PONG mid-fragment' } @{$res->{lines}}),
        'fragment: ping between fragments answered');
    is_deeply($res->{events}, \@expected, 'fragment: event received');
    like($res->{closed}, qr/^code=1000 clean=1 /, 'fragment: clean close');
}

# 4 tests: a message over signal_max_message_size (32k here; the message
# is over 64KB) is refused with close code 1009, seen by the client.
sub oversize {
    my ($self, %o) = @_;

    my $c = $self->client('oversize', '--url', $self->base() . '/ws-small',
        '--room', 'big:1', '--oversize', 70000);
    my $res = $self->finish($c, $o{finish} // 10);
    is($res->{status}, 0, 'oversize: client exited 0');
    my ($size) = map { /^OVERSIZE (\d+)/ ? $1 : () } @{$res->{lines}};
    ok(($size // 0) > 65536, 'oversize: message over 64KB sent');
    like($res->{closed}, qr/^code=1009 /, 'oversize: closed with 1009');
    like($res->{closed}, qr/^code=1009 clean=1 /,
        'oversize: close handshake completed'
        . ($self->{who} eq 'page' ? ' (wasClean)' : ''));
}

# 4 tests: a server-ping-driven connection (300ms interval, 700ms timeout)
# stays open for seconds because the client answers the server's pings by
# itself.
sub server_ping {
    my ($self, %o) = @_;

    my $c = $self->client('server-ping', '--url',
        $self->base() . '/ws-ping', '--room', 'sp:1', '--count', 1);
    ok($self->wait_ready($c), "server ping: $self->{who} subscribed (READY)");
    sleep(2.5);
    my @expected = $self->publish(
        '{"room":"sp:1","event":"still-here","data":null}', qr/^sp:1$/);
    my $res = $self->finish($c, $o{finish} // 10);
    is($res->{status}, 0, 'server ping: client exited 0');
    is_deeply($res->{events}, \@expected,
        'server ping: event received after 2.5s of server pings');
    like($res->{closed}, qr/^code=1000 clean=1 /, 'server ping: clean close');
}

# 5 tests: the client's own handshake (permessage-deflate offered) gets no
# extension and no subprotocol; a close without events is clean.
sub handshake {
    my ($self, %o) = @_;

    my $c = $self->client('handshake', '--url', $self->base() . '/ws',
        '--room', 'interop:h', '--count', 0);
    ok($self->wait_ready($c), "handshake: $self->{who} subscribed (READY)");
    my $res = $self->finish($c, $o{finish} // 10);
    is($res->{status}, 0, 'handshake: client exited 0');
    no_extension($res, 'handshake');
    like($res->{closed}, qr/^code=1000 clean=1 /,
        'handshake: clean close without events');
}

# 2 tests: a forbidden room is answered with an error; the client is not
# READY. timeout => the client's own timeout (2).
sub forbidden {
    my ($self, %o) = @_;

    my $c = $self->client('forbidden', '--url', $self->base() . '/ws',
        '--room', 'nope:1', '--count', 0, '--timeout', $o{timeout} // 2);
    my $res = $self->finish($c, $o{finish} // 5);
    is($res->{status}, 2, 'forbidden: no subscribed reply (client timed out)');
    ok(grep({ /^MSG \{.*"code":"forbidden"/ } @{$res->{lines}}),
        "forbidden: error reply seen by the $self->{who}")
        or diag(explain($res->{lines}));
}

# 2 tests: no extension and no subprotocol in the client's output.
sub no_extension {
    my ($res, $name) = @_;
    ok(!grep({ /^EXTENSIONS ./ } @{$res->{lines}}), "$name: no extension")
        or diag(explain($res->{lines}));
    ok(!grep({ /^PROTOCOL / } @{$res->{lines}}), "$name: no subprotocol");
}

###############################################################################
# the client process

# Starts the client; returns a handle reading its stdout.
sub client {
    my ($self, $name, @args) = @_;
    my $err = $self->{t}->dir() . "/client-$name.err";

    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        alarm(0);
        POSIX::setpgid(0, 0);
        CORE::close($r);
        $ENV{$_} = $self->{env}{$_} for keys %{$self->{env}};
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $w) or POSIX::_exit(127);
        open(STDERR, '>>', $err) or POSIX::_exit(127);
        exec(@{$self->{command}}, @args) or POSIX::_exit(127);
    }

    CORE::close($w);
    push @CHILDREN, $pid;
    return { name => $name, pid => $pid, fh => $r, buf => '', lines => [],
        eof => 0, err => $err };
}

# Reads one more line from the client; undef on EOF or timeout.
sub client_line {
    my ($c, $deadline) = @_;

    for ( ;; ) {
        if ($c->{buf} =~ s/\A([^\n]*)\n//) {
            my $line = $1;
            utf8::decode($line);
            push @{$c->{lines}}, $line;
            return $line;
        }
        return undef if $c->{eof};
        my $left = $deadline - time();
        return undef if $left <= 0;
        next unless IO::Select->new($c->{fh})->can_read($left);
        my $n = sysread($c->{fh}, $c->{buf}, 65536, length $c->{buf});
        $c->{eof} = 1 unless $n;
    }
}

sub wait_ready {
    my ($self, $c) = @_;
    my $deadline = time() + $self->{ready_timeout};
    while (defined(my $line = client_line($c, $deadline))) {
        return 1 if $line eq 'READY';
    }
    my $out = join(' | ', map { substr($_, 0, 200) } @{$c->{lines}});
    utf8::encode($out);
    diag("$c->{name}: no READY; output: $out; stderr: "
        . $self->{t}->read_file("client-$c->{name}.err"));
    return 0;
}

# Reads the client's output to EOF, reaps it (killing it after $timeout),
# sorts the lines: events, CLOSED, other messages.
sub finish {
    my ($self, $c, $timeout) = @_;
    my $deadline = time() + $timeout;

    1 while defined client_line($c, $deadline);

    my $status;
    while (time() < $deadline + 1) {
        my $r = waitpid($c->{pid}, WNOHANG);
        if ($r == $c->{pid}) {
            $status = $? >> 8;
            last;
        }
        sleep(0.02);
    }
    unless (defined $status) {
        kill_group($c->{pid});
        $status = -1;
    }
    kill('KILL', -$c->{pid});       # strays of its process group, if any
    @CHILDREN = grep { $_ != $c->{pid} } @CHILDREN;
    CORE::close($c->{fh});

    my $res = { status => $status, lines => $c->{lines}, events => [],
        other => [] };
    my $json = JSON::PP->new->utf8(0);
    for my $line (@{$c->{lines}}) {
        if ($line =~ /^\{/) {
            my $ev = eval { $json->decode($line) };
            push @{$ev ? $res->{events} : $res->{other}}, $ev // $line;
        } elsif ($line =~ /^CLOSED (.*)/) {
            $res->{closed} = $1;
        } elsif ($line =~ /^MSG /) {
            push @{$res->{other}}, $line;
        }
    }
    $res->{closed} //= 'none';

    my $summary = "$c->{name}: "
        . join(' | ', map { substr($_, 0, 100) } @{$c->{lines}});
    utf8::encode($summary);
    note($summary);

    if ($status != 0 && $c->{name} ne 'forbidden') {
        my $out = join(' | ', map { substr($_, 0, 200) } @{$c->{lines}});
        utf8::encode($out);
        diag("$c->{name}: exit $status; output: $out; stderr: "
            . $self->{t}->read_file("client-$c->{name}.err"));
    }
    return $res;
}

sub close_ms {
    my ($res) = @_;
    return $res->{closed} =~ /\bms=(-?\d+)/ ? $1 : -1;
}

sub subscribed {
    my ($res) = @_;
    my ($s) = map { /^SUBSCRIBED (.*)/ ? $1 : () } @{$res->{lines}};
    return defined $s ? JSON::PP->new->utf8(0)->decode($s) : undef;
}

# POSTs a notify body; returns the events the client should receive: one
# per (event, room) whose room matches $re, with the seq and the (valid)
# epoch from the reply.
sub publish {
    my ($self, $body, $re) = @_;
    my $r = $self->{t}->notify('/notify', $body);
    my @epochs;
    unless ($r->{status} == 202 && strip_epoch($r->{json}, \@epochs)) {
        diag("notify: $r->{status} $r->{body}");
        return ();
    }
    my @published = @{($r->{json} // {})->{published} // []};

    my $in = JSON::PP->new->utf8->decode($body);
    my @events = $in->{events} ? @{$in->{events}} : ($in);
    my @out;
    for my $ev (@events) {
        for my $room ($ev->{rooms} ? @{$ev->{rooms}} : ($ev->{room})) {
            my $p = shift @published;
            die "notify reply does not match the body: $r->{body}\n"
                unless $p && $p->{room} eq $room
                    && $p->{event} eq $ev->{event};
            my $epoch = shift @epochs;
            push @out, { type => 'event', room => $room,
                event => $ev->{event}, data => $ev->{data},
                seq => $p->{seq}, epoch => $epoch } if $room =~ $re;
        }
    }
    return @out;
}

# The client runs in a process group of its own (with a browser's
# processes, if any): TERM to the group, a short grace, then KILL.
sub kill_group {
    my ($pid) = @_;
    kill('TERM', -$pid);
    my $grace = time() + 2;
    while (time() < $grace) {
        last if waitpid($pid, WNOHANG) != 0;
        sleep(0.02);
    }
    kill('KILL', -$pid);
    waitpid($pid, 0);
}

END {
    local $?;
    kill_group($_) for @CHILDREN;
}

1;
