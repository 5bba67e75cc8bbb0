#!/usr/bin/perl

# Tests for ngx_signal_module: a signed webhook delivery that could not be
# published is not remembered.  The memory engine with a small zone: a
# worker with a member of the webhook's room is stopped (SIGSTOP), so the
# events it has not read fill the zone's log; a Stripe delivery then gets
# 503 zone_full.  Once the worker runs again and has read the log, the
# identical retry of the sender is published (202, the member receives
# it), not answered {"duplicate":true}; a replay of it after that is a
# duplicate.  Signatures are made by the openssl command.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use Time::HiRes qw(sleep time);

###############################################################################

my $STRIPE = 'whsec_retry_0123456789';

my $t = Test::Signal->new(zone => '256k');

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_join billing;
        }

        location /notify {
            signal_notify;
        }

        location /status {
            signal_status;
        }

        location /hooks/stripe {
            signal_webhook stripe;
            signal_webhook_secret "$STRIPE";
            signal_webhook_room billing;
            signal_webhook_event "stripe:{/type}";
        }
    }
}

EOF

$t->run()->plan(14);

# a worker left stopped would keep nginx from stopping
my $stopped;
END { kill('CONT', $stopped) if $stopped; }

###############################################################################

my $member = $t->ws_ok('/ws');

# the worker of the member, from the per-worker counts
my $holder;
for (1 .. 100) {
    my @w = @{($t->http('GET', '/status')->{json} // {})->{workers} // []};
    ($holder) = map { $_->{pid} } grep { $_->{connections} == 1 } @w;
    last if $holder && @w == 2;
    sleep(0.02);
}
ok($holder && grep({ $_ == $holder } $t->workers()),
    'the member\'s worker is known');

# a delivery first: remembered (the zone holds such keys from now on)

my $r = stripe(body('evt_first'));
is($r->{status}, 202, 'a first delivery: 202');
is(names($member, 1), 'stripe:invoice.paid/evt_first', 'the member gets it');

# the member's worker stops reading: its unread events fill the zone

kill('STOP', $holder) and $stopped = $holder;
ok(wait_state($holder, 'T'), 'the member\'s worker is stopped');

my $big = '"' . ('y' x 16000) . '"';
my $fill = body('evt_fill0');
my ($n1, $last1) = flood($big);
my ($n2, $last2) = flood($fill);

is(answer($last1) . ' ' . answer($last2), '503 zone_full 503 zone_full',
    "events the stopped worker has not read fill the zone ($n1 + $n2 "
    . 'accepted first)');

my $hook = body('evt_retry');
my $ts = int(time());
my $sig = stripe_sig($hook, $ts);

$r = stripe($hook, $ts, $sig);
is(answer($r), '503 zone_full', 'a delivery now: 503 zone_full');

# the worker runs again and reads what it missed

kill('CONT', $holder) and $stopped = undef;

my @got = arrived($member, $n1 + $n2);
is(scalar(@got), $n1 + $n2, 'the stopped worker\'s member gets the events '
    . 'published meanwhile');
is(scalar(grep { ref $_->{data} eq 'HASH'
    && ($_->{data}{id} // '') eq 'evt_retry' } @got), 0,
    'but not the refused delivery');

# the sender's retry: the same bytes, the same signature

$r = stripe($hook, $ts, $sig);
is($r->{status}, 202, 'the identical retry: 202');
ok(!(ref $r->{json} eq 'HASH' && $r->{json}{duplicate}),
    'not answered as a duplicate');
is(names($member, 1), 'stripe:invoice.paid/evt_retry',
    'the member gets the retried delivery');

$r = stripe($hook, $ts, $sig);
is($r->{status} . ($r->{json}{duplicate} ? ' duplicate' : ''),
    '200 duplicate', 'once published, a replay is a duplicate');
is(names($member), '', 'and not published again');

# the refusals were logged, at [error], not above

my $log = $t->read_file('error.log');
ok($log =~ /\[error\][^\n]*signal_zone/,
    'the zone_full refusals are logged at [error]');

###############################################################################

# 1 once process $pid is in state $state (R, S, T...), 3 s at most
sub wait_state {
    my ($pid, $state) = @_;
    my $deadline = time() + 3;
    for ( ;; ) {
        open(my $fh, '<', "/proc/$pid/stat") or return 0;
        my $line = <$fh> // '';
        close($fh);
        return 1 if $line =~ /\)\s+\Q$state\E\s/;
        return 0 if time() >= $deadline;
        sleep(0.01);
    }
}

# Notifies events of this data to billing until one is refused (at most
# 300): the number accepted and the refusal.
sub flood {
    my ($data) = @_;
    my $body = '{"room":"billing","event":"stripe:invoice.paid","data":'
        . $data . '}';
    for my $n (0 .. 299) {
        my $r = $t->notify('/notify', $body);
        return ($n, $r) if $r->{status} != 202;
    }
    return (300, { status => 202 });
}

# a Stripe event of a fixed length with this id (9 characters)
sub body {
    my ($id) = @_;
    return '{"id":"' . $id . '","type":"invoice.paid","pad":"'
        . ('z' x 3000) . '"}';
}

sub stripe_sig {
    my ($body, $ts) = @_;
    return "t=$ts,v1="
        . unpack('H*', Test::Signal::hmac('sha256', $STRIPE, "$ts.$body"));
}

# POSTs a Stripe delivery (signed now unless $sig is given)
sub stripe {
    my ($body, $ts, $sig) = @_;
    $ts //= int(time());
    $sig //= stripe_sig($body, $ts);
    return $t->http('POST', '/hooks/stripe', body => $body,
        headers => { 'Content-Type' => 'application/json',
        'Stripe-Signature' => $sig });
}

# "<status> <error>" of an answer
sub answer {
    my ($r) = @_;
    return "$r->{status} " . ((ref $r->{json} eq 'HASH'
        && $r->{json}{error}) || '');
}

# the events that reach $ws: $n expected ones (3 s each at most), then
# any more until none came for 0.3 s
sub arrived {
    my ($ws, $n) = @_;
    my @got;
    for (1 .. $n // 0) {
        my $m = $ws->recv_json(3) or return @got;
        push @got, $m;
    }
    while (my $m = $ws->recv_json(0.3)) {
        push @got, $m;
    }
    return @got;
}

# "event/id" of each event that reaches $ws (see arrived)
sub names {
    return join(' ', map {
        ($_->{event} // $_->{_raw} // '?') . '/'
        . ((ref $_->{data} eq 'HASH' && $_->{data}{id}) || '')
    } arrived(@_));
}

###############################################################################
