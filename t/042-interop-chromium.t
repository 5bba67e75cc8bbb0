#!/usr/bin/perl

# Tests for ngx_signal_module: interoperability with a real browser's
# WebSocket. Debian's /usr/bin/chromium runs headless, driven by
# playwright-core from t/interop/chromium-client.js (a child process); the
# page is served by the nginx under test and runs the scenario; the client
# prints READY once subscribed and then one JSON line per event received.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;

use POSIX qw(WNOHANG);
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time sleep);

###############################################################################

my $NODE = '/usr/bin/node';
my $CHROMIUM = '/usr/bin/chromium';
my $CLIENT = "$FindBin::Bin/interop/chromium-client.js";

# The one optional tool: without chromium the file is skipped. node and
# playwright-core (npm ci in t/interop) are test dependencies: their
# absence is a failure.
plan(skip_all => "$CHROMIUM is absent (apt-get install chromium)")
    unless -x $CHROMIUM;

unless (-x $NODE
    && -f "$FindBin::Bin/interop/node_modules/playwright-core/package.json")
{
    plan(tests => 1);
    fail("$NODE or t/interop/node_modules/playwright-core is missing: "
        . "install nodejs and run 'npm ci' in t/interop");
    exit;
}

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 1;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location = /page.html {
            default_type text/html;
            return 200 "<!doctype html><title>interop</title>\n";
        }

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

        location /notify {
            signal_notify;
            client_max_body_size 1m;
        }
    }
}

EOF

$t->run()->plan(19);

my $port = $t->port(1);
my $base = "ws://127.0.0.1:$port";
my $page = "http://127.0.0.1:$port/page.html";
my @children;

###############################################################################

# Events of every shape reach a family subscription, in order, with the
# publisher's data; the page's close with 1000 completes cleanly
# (wasClean); the browser's permessage-deflate offer is not accepted.

my $c = client('events', '--url', "$base/ws", '--room', 'interop:*',
    '--count', 10);
ok(wait_ready($c), 'events: page subscribed (READY)');

my @expected;
push @expected, publish($_, qr/^interop:/) for
    '{"room":"interop:1","event":"obj",'
        . '"data":{"k":"v","n":[1,2,3],"deep":{"a":[{"x":null}]}}}',
    '{"room":"interop:1","event":"no-data"}',
    '{"events":['
        . '{"room":"interop:2:x","event":"str",'
        . "\"data\":\"utf-8 \xc3\xbc \xe2\x82\xac \xf0\x9f\x98\x80 \\u00e9\"},"
        . '{"rooms":["other:1","interop:1"],"event":"arr",'
        . '"data":[true,false,null,0,-1,12345678901]},'
        . '{"room":"other:2","event":"not-for-us","data":1}]}',
    '{"room":"interop:1","event":"spaced","data": { "a" : [ 1 , 2 ] } }',
    '{"room":"interop:3","event":"num","data":42}',
    '{"room":"interop:3","event":"bool","data":true}',
    '{"room":"interop:mid","event":"mid","data":"' . ('m' x 300) . '"}',
    '{"room":"interop:big","event":"big","data":"' . ('b' x 70000) . '"}',
    '{"room":"interop:1","event":"last","data":{"end":1}}';

is(scalar @expected, 10, 'events: 10 events published for the family');

my $res = client_finish($c, 20);
is($res->{status}, 0, 'events: client exited 0');
is_deeply($res->{events}, \@expected,
    'events: room, event, data and seq as published, in order');
like($res->{closed}, qr/^code=1000 clean=1 /, 'events: clean close 1000');
ok(close_ms($res) >= 0 && close_ms($res) < 2000,
    'events: close handshake completed promptly');
is(scalar @{$res->{other}}, 0, 'events: no unexpected messages')
    or diag(explain($res->{other}));
ok(!grep({ /^EXTENSIONS ./ } @{$res->{lines}}), 'events: no extension')
    or diag(explain($res->{lines}));
ok(!grep({ /^PROTOCOL / } @{$res->{lines}}), 'events: no subprotocol');

# A message over signal_max_message_size (32k here; the message is over
# 64KB) is refused with close code 1009, seen by the page.

$c = client('oversize', '--url', "$base/ws-small", '--room', 'big:1',
    '--oversize', 70000);
$res = client_finish($c, 20);
is($res->{status}, 0, 'oversize: client exited 0');
my ($size) = map { /^OVERSIZE (\d+)/ ? $1 : () } @{$res->{lines}};
ok(($size // 0) > 65536, 'oversize: message over 64KB sent');
like($res->{closed}, qr/^code=1009 /, 'oversize: closed with 1009');
like($res->{closed}, qr/^code=1009 clean=1 /,
    'oversize: close handshake completed (wasClean)');

# A server-ping-driven connection (300ms interval, 700ms timeout) stays
# open for seconds because the browser answers the server's pings.

$c = client('server-ping', '--url', "$base/ws-ping", '--room', 'sp:1',
    '--count', 1);
ok(wait_ready($c), 'server ping: page subscribed (READY)');
sleep(2.5);
@expected = publish('{"room":"sp:1","event":"still-here","data":null}',
    qr/^sp:1$/);
$res = client_finish($c, 20);
is($res->{status}, 0, 'server ping: client exited 0');
is_deeply($res->{events}, \@expected,
    'server ping: event received after 2.5s of server pings');
like($res->{closed}, qr/^code=1000 clean=1 /, 'server ping: clean close');

# A forbidden room is answered with an error; the page is not READY.

$c = client('forbidden', '--url', "$base/ws", '--room', 'nope:1',
    '--count', 0, '--timeout', 4);
$res = client_finish($c, 10);
is($res->{status}, 2, 'forbidden: no subscribed reply (client timed out)');
ok(grep({ /^MSG \{.*"code":"forbidden"/ } @{$res->{lines}}),
    'forbidden: error reply seen by the page')
    or diag(explain($res->{lines}));

###############################################################################

# Starts the client; returns a handle reading its stdout.
sub client {
    my ($name, @args) = @_;
    my $err = $t->dir() . "/client-$name.err";

    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        alarm(0);
        POSIX::setpgid(0, 0);
        # the browser profile and chromium's own temp files go to the
        # test's directory, removed with it
        $ENV{TMPDIR} = $t->dir();
        CORE::close($r);
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $w) or POSIX::_exit(127);
        open(STDERR, '>>', $err) or POSIX::_exit(127);
        exec($NODE, $CLIENT, '--timeout', 15, '--page', $page, @args)
            or POSIX::_exit(127);
    }

    CORE::close($w);
    push @children, $pid;
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
    my ($c) = @_;
    my $deadline = time() + 15;
    while (defined(my $line = client_line($c, $deadline))) {
        return 1 if $line eq 'READY';
    }
    my $out = join(' | ', map { substr($_, 0, 200) } @{$c->{lines}});
    utf8::encode($out);
    diag("$c->{name}: no READY; output: $out; stderr: "
        . $t->read_file("client-$c->{name}.err"));
    return 0;
}

# Reads the client's output to EOF, reaps it (killing it after $timeout),
# sorts the lines: events, CLOSED, other messages.
sub client_finish {
    my ($c, $timeout) = @_;
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
    @children = grep { $_ != $c->{pid} } @children;
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
            . $t->read_file("client-$c->{name}.err"));
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
# per (event, room) whose room matches $re, with the seq from the reply.
sub publish {
    my ($body, $re) = @_;
    my $r = $t->notify('/notify', $body);
    unless ($r->{status} == 202) {
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
            push @out, { type => 'event', room => $room,
                event => $ev->{event}, data => $ev->{data},
                seq => $p->{seq} } if $room =~ $re;
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
    kill_group($_) for @children;
}

###############################################################################
