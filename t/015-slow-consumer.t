#!/usr/bin/perl

# Tests for ngx_signal_module: a client that stops reading. Its queue is
# bounded by signal_send_queue; past it the connection is closed with 4008
# while other clients of the room keep receiving everything.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;

###############################################################################

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

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_send_queue 64k;
            # the close frame waits behind what the kernel already holds,
            # until the test reads it (after the 30 notifies)
            signal_close_timeout 60s;
        }

        location /notify {
            signal_notify;
            client_max_body_size 4m;
            client_body_buffer_size 4m;
        }
    }
}

EOF

$t->run()->plan(10);

###############################################################################

my $slow = $t->ws('/ws');
my $fast = $t->ws('/ws');

for my $ws ($slow, $fast) {
    $ws->send_json({ type => 'subscribe', room => 'flood' });
    is($ws->recv_json()->{type}, 'subscribed', 'subscribed');
}

# 30 notifies of 50 events of 8 KB: 12 MB for each client

my $data = '"' . ('x' x 8000) . '"';
my $batch = '{"events":['
    . join(',', map { qq({"room":"flood","event":"e","data":$data}) } 1 .. 50)
    . ']}';

my ($accepted, $received, $in_order) = (0, 0, 1);
my ($worker) = $t->workers();
my $rss0 = rss($worker);
my $rss_max = $rss0;

for my $n (1 .. 30) {
    my $r = $t->notify('/notify', $batch);
    $accepted++ if $r->{status} == 202;

    my $rss = rss($worker);
    $rss_max = $rss if $rss > $rss_max;

    # the fast client keeps up (the seq read off the text: decoding 8 KB
    # of JSON in pure Perl, 1500 times, took most of 20 s)
    for (1 .. 50) {
        my $m = $fast->recv_message(5) or last;
        my ($seq) = $m->{payload} =~ /"seq":(\d+),"epoch":"[0-9a-f]{16}"\}\z/;
        $in_order = 0 unless ($seq // 0) == $received + 1;
        $received++;
    }
}

is($accepted, 30, 'every notify accepted: a slow client never fails a publish');

# 12 MB were published to a client that reads nothing: the worker keeps
# at most signal_send_queue of it (plus its own buffers)
# (not under AddressSanitizer: its quarantine keeps freed memory resident)
SKIP: {
    skip 'RSS is not meaningful under AddressSanitizer', 1
        if $ENV{TEST_SIGNAL_SANITIZE};

    my $growth = $rss_max - $rss0;
    ok($growth < 6 * 1024, "worker memory bounded: grew by $growth KB while "
        . '12 MB were published to the slow client');
}
is($received, 1500, 'the fast client received every event');
ok($in_order, 'the fast client received them in seq order');

# the slow client finds what the kernel buffered for it, then a close
# with 4008 (the events queued in nginx were dropped)

my ($code, $frames) = (undef, 0);

while (my $f = $slow->recv_frame(3)) {
    if ($f->{opcode} == 8) {
        $code = unpack('n', $f->{payload});
        last;
    }
    $frames++;
}

is($code, 4008, 'slow consumer closed with 4008');
ok($frames < 1500, "the slow client got $frames events before the close, "
    . 'not an unbounded backlog');

like($t->read_file('error.log'), qr/client reads too slowly/,
    'the close is logged');

$fast->send_close(1000);
is(scalar $fast->expect_close(), 1000, 'the fast client closes normally');

###############################################################################

# Resident memory of a process in KB.
sub rss {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/status") or return 0;
    while (<$fh>) {
        return $1 if /^VmRSS:\s+(\d+)/;
    }
    return 0;
}

###############################################################################
