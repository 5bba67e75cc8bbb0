#!/usr/bin/perl

# Tests for ngx_signal_module: history, positions and resume (memory
# engine). "subscribed" carries the room's position (seq, epoch); a
# client that resumes from a position gets an optional gap, the events it
# missed in order, "subscribed" with the position after them, then live
# events, with neither a hole nor a duplicate, also while publishing goes
# on and after a 4008 close. Gaps for the count and age windows, history
# off, the replay budget and a changed epoch; "history": false events;
# resume at the handshake (?resume=); Idempotency-Key on notify; the
# history read API; history in a full zone; signal_history in nginx -t.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use Socket qw(SOL_SOCKET SO_RCVBUF);
use IO::Select;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS qw(from_json);

use JSON::PP ();

###############################################################################

my $t = Test::Signal->new(zone => '8m');

$t->write_file_expand('nginx.conf', <<'EOF');

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
            signal_allow_subscribe "*";
        }

        location /small {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_send_queue 8k;
        }

        location /join {
            signal_websocket;
            signal_join "j:$arg_a";
        }

        location /join2 {
            signal_websocket;
            signal_join "j:$arg_a" "k:$arg_a";
        }

        location /notify {
            signal_notify;
        }

        location /notify5 {
            signal_notify;
            signal_history 5;
        }

        location /notify1s {
            signal_notify;
            signal_history 100 1s;
        }

        location /notify-off {
            signal_notify;
            signal_history off;
        }

        location /notify-2k {
            signal_notify;
            signal_history 2000;
            client_max_body_size 1m;
        }

        location /notify-big {
            signal_notify;
            signal_history 1000;
            client_max_body_size 1m;
            client_body_buffer_size 1m;
        }

        location /history {
            signal_history_api;
        }

        location /history-s {
            signal_history_api;
            signal_api_secret "history-secret-0123456789";
        }
    }

    # a slow consumer: little kernel buffering between nginx and it
    server {
        listen       127.0.0.1:%%PORT_2%% sndbuf=8k;
        server_name  localhost;

        location /slow {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_send_queue 8k;
        }
    }
}

EOF

# a zone as small as the tests of the zone use: many rooms flood it

my $z = Test::Signal->new(zone => '1m');

$z->write_file_expand('nginx.conf', <<'EOF');

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
            signal_allow_subscribe "*";
        }

        location /notify {
            signal_notify;
        }

        location /history {
            signal_history_api;
        }

        location /status {
            signal_status;
        }
    }
}

EOF

my @bad = (
    [ 'signal_history 0;', 'invalid event count "0" in "signal_history": '
        . 'use 1 to 100000, or "off"' ],
    [ 'signal_history 100001;', 'invalid event count "100001" in '
        . '"signal_history": use 1 to 100000, or "off"' ],
    [ 'signal_history lots;', 'invalid event count "lots" in '
        . '"signal_history": use 1 to 100000, or "off"' ],
    [ 'signal_history 10 0s;', 'invalid age "0s" in "signal_history": '
        . 'use 1s to 7d (such as 5m)' ],
    [ 'signal_history 10 8d;', 'invalid age "8d" in "signal_history": '
        . 'use 1s to 7d (such as 5m)' ],
    [ 'signal_history 10 soon;', 'invalid age "soon" in "signal_history": '
        . 'use 1s to 7d (such as 5m)' ],
    [ 'signal_history off 5m;',
        '"signal_history" directive takes no age with "off"' ],
    [ 'signal_history 10; signal_history 20;',
        '"signal_history" directive is duplicate' ],
);

$t->run()->plan(153 + 2 * @bad);
$z->run()->checked_too();

###############################################################################

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my ($ws, $ws2, $r, $m, $e, @msgs, $tr, $sub, @before);

# 1. positions in "subscribed" and in events

$ws = $t->ws_ok('/ws');
$ws->send_json({ type => 'subscribe', room => 'p:1' });
$m = $ws->recv_json();
my $e0 = ref $m eq 'HASH' ? delete $m->{epoch} : undef;
is_deeply($m, { type => 'subscribed', room => 'p:1', seq => 0 },
    'subscribed before any publish: seq 0');
ok(is_epoch($e0), 'subscribed before any publish: an epoch');

my @pub = map { $t->publish('p:1', 'e', $_) } 1 .. 3;
my @pe = map { $_->{json}{published}[0]{epoch} // '' } @pub;
is(join(' ', map { $_->{json}{published}[0]{seq} // '?' } @pub), '1 2 3',
    'notify answers: seq 1 2 3');
is(join(' ', @pe), join(' ', ($e0 // 'none') x 3),
    'notify answers: the epoch of "subscribed"');

@msgs = map { $ws->recv_json() // {} } 1 .. 3;
is(join(' ', map { ($_->{seq} // '?') . '/' . ($_->{epoch} // '?') } @msgs),
    join(' ', map { "$_/$pe[0]" } 1 .. 3),
    'event frames: seq and the epoch of the notify answer');

$r = $t->publish('p:1', 'e', '{"n":4}');
is(($ws->recv_message() // {})->{payload}, '{"type":"event","room":"p:1",'
    . '"event":"e","data":{"n":4},"seq":4,"epoch":"'
    . ($r->{json}{published}[0]{epoch} // '') . '"}', 'an event frame');

$ws2 = $t->ws_ok('/ws');
$ws2->send_json({ type => 'subscribe', room => 'p:1', id => 'x' });
is_deeply($ws2->recv_json(), { type => 'subscribed', room => 'p:1',
    id => 'x', seq => 4, epoch => $pe[0] },
    'subscribed after 4 events: seq 4, the same epoch');
ok($ws2->expect_nothing(), 'a new subscription replays nothing');

$ws->send_json({ type => 'subscribe', room => 'p:1' });
is_deeply($ws->recv_json(), { type => 'subscribed', room => 'p:1',
    seq => 4, epoch => $pe[0] },
    'subscribe again: subscribed with the current position');
ok($ws->expect_nothing(), 'subscribe again: nothing replayed');

$ws->send_json({ type => 'subscribe', room => 'p:*' });
is_deeply($ws->recv_json(), { type => 'subscribed', room => 'p:*' },
    'a family: subscribed without seq and epoch');

$r = $t->notify('/notify', '{"events":[{"room":"p:a","event":"x"},'
    . '{"room":"p:b","event":"y"},{"room":"p:a","event":"z"}]}');
is(join(' ', map { "$_->{room}/$_->{event}/$_->{seq}" }
    @{$r->{json}{published} || []}), 'p:a/x/1 p:b/y/1 p:a/z/2',
    'a batch: seq per room');
my %ep = map { $_->{room} => $_->{epoch} } @{$r->{json}{published} || []};
@msgs = map { $ws->recv_json() // {} } 1 .. 3;
is(join(' ', map { ($_->{room} // '?') . '/' . ($_->{seq} // '?') . '/'
    . (($_->{epoch} // '') eq ($ep{$_->{room} // ''} // '-') ? 'E' : 'bad')
    } @msgs), 'p:a/1/E p:b/1/E p:a/2/E',
    'family events: the epochs of the notify answer, per room');
$ws->close();
$ws2->close();

# 2. disconnect for 10 events, resume: exactly those, then live

$ws = $t->ws_ok('/ws');
my $E = position($ws, 'r:1');
my $Er1 = $E;
$t->publish('r:1', 'e', $_) for 1 .. 2;
@msgs = map { $ws->recv_json() // {} } 1 .. 2;
is(join(' ', map { $_->{seq} // '?' } @msgs), '1 2',
    'before the disconnect: 1 2');
$ws->close();
$t->publish('r:1', 'e', $_) for 3 .. 12;

$ws = $t->ws_ok('/ws');
($tr, $e) = resume($ws, 'r:1', 2, $E);
is($tr, join(' ', map { "e$_" } 3 .. 12) . ' sub(12)',
    'resume after 10 missed events: the 10 in order, then subscribed');
is($e, $E, 'resume: the epoch in every message');
$t->publish('r:1', 'e', 13);
is(($ws->recv_json() // {})->{seq}, 13, 'resume: then live');
ok($ws->expect_nothing(), 'resume: nothing else');
$ws->close();

# resume from the current position: nothing replayed

$ws = $t->ws_ok('/ws');
($tr, $e) = resume($ws, 'r:1', 13, $E);
is($tr, 'sub(13)', 'resume from the current position: subscribed only');
$ws->close();

# 2b. the same while a publisher keeps publishing (400 events at 200/s):
# three times, read some, disconnect, miss some, resume

$ws = $t->ws_ok('/ws');
$E = position($ws, 'busy');
my ($pid, $pipe) = publisher('busy', 400, 200);

my (@got, @cycles, $live, $fresh, $fresh_at, @fresh);
for my $cycle (1 .. 3) {
    if ($cycle == 2) {
        # and a new subscription meanwhile: everything after its position
        $fresh = $t->ws_ok('/ws');
        $fresh->send_json({ type => 'subscribe', room => 'busy' });
        ($sub) = until_subscribed($fresh, 'busy', 3);
        $fresh_at = $sub ? $sub->{seq} : -1;
    }

    collect($ws, \@got, (@got ? $got[-1] : 0) + 40, 5);
    $ws->close();
    my $last = @got ? $got[-1] : 0;

    # missed events for sure: wait until 30 more were published
    poll(sub { (history('busy')->{json}{seq} // 0) >= $last + 30 }, 5);

    $ws = $t->ws_ok('/ws');
    $ws->send_json({ type => 'subscribe', room => 'busy', seq => $last,
        epoch => $E });
    my ($rs, @rep) = until_subscribed($ws, 'busy', 5);
    my @ev = grep { ($_->{type} // '') eq 'event' } @rep;
    push @got, map { $_->{seq} // -1 } @ev;
    my $other = join(' ', map { fmt($_) } grep {
        ($_->{type} // '') ne 'event' } @rep);
    push @cycles, join(' ', $other eq '' ? 'events' : $other,
        @ev >= 30 ? 'missed' : 'only ' . scalar(@ev),
        $rs && ($rs->{seq} // -1) == ($got[-1] // 0)
            && ($rs->{epoch} // '') eq $E ? 'sub=last' : 'sub '
            . ($rs ? fmt($rs) . ' ' . ($rs->{epoch} // '') : 'none'));
    $live = @got;
}
is(join('; ', @cycles), join('; ', ('events missed sub=last') x 3),
    'resume while publishing, 3 times: the missed events, then '
    . 'subscribed at the last of them');

my ($ok202, $lastseq) = publisher_done($pid, $pipe);
is($ok202, 400, 'resume while publishing: 400 publishes accepted');
collect($ws, \@got, $lastseq, 5);
is(tally(\@got, $lastseq), 'lost 0 dup 0 ordered',
    "resume while publishing: 1..$lastseq once each, in order");
ok($lastseq >= 400 && @got - $live > 0, "resume while publishing: seq "
    . "reached $lastseq, " . (@got - $live) . ' live after the last resume');
ok($ws->expect_nothing(), 'resume while publishing: nothing after');
$ws->close();

collect($fresh, \@fresh, $lastseq, 5);
ok($fresh_at > 0 && $fresh_at < $lastseq,
    "subscribed while publishing: at $fresh_at");
is(tally(\@fresh, $lastseq, $fresh_at + 1), 'lost 0 dup 0 ordered',
    'subscribed while publishing: every later event once, in order');
$fresh->close();

# 3. beyond the count window (signal_history 5): one gap, the newest 5

$ws = $t->ws_ok('/ws');
$E = position($ws, 'w:5');
$ws->close();
$t->publish('w:5', 'e', $_, path => '/notify5') for 1 .. 12;

$ws = $t->ws_ok('/ws');
($tr, $e) = resume($ws, 'w:5', 0, $E);
is($tr, 'gap(history,1-7) e8 e9 e10 e11 e12 sub(12)',
    'count window: gap 1..7, the newest 5, subscribed');
is($e, $E, 'count window: the epoch in every message');
$t->publish('w:5', 'e', 13, path => '/notify5');
is(($ws->recv_json() // {})->{seq}, 13, 'count window: then live');
ok($ws->expect_nothing(), 'count window: nothing else');

# the gap message, field by field

$ws->close();
$ws = $t->ws_ok('/ws');
$ws->send_json({ type => 'subscribe', room => 'w:5', seq => 2,
    epoch => $E });
$m = $ws->recv_json();
is_deeply($m, { type => 'gap', room => 'w:5', reason => 'history',
    from => 3, to => 8, epoch => $E }, 'the gap message');
$ws->close();

# the age window (signal_history 100 1s)

# (and an Idempotency-Key is remembered as long as history: 1 s here)

my $ikey = { 'Idempotency-Key' => 'age-key' };
my $ibody = '{"room":"idem:age","event":"e"}';
my @ir = map { $t->notify('/notify1s', $ibody, headers => $ikey) } 1 .. 2;

$ws = $t->ws_ok('/ws');
$E = position($ws, 'w:age');
$ws->close();
$t->publish('w:age', 'e', $_, path => '/notify1s') for 1 .. 3;
ok(poll(sub { exists((history('w:age')->{json} // {})->{gap}) }, 5),
    'age window: the events expire within 5 s');

push @ir, $t->notify('/notify1s', $ibody, headers => $ikey);
is(join(' ', map { $_->{status} . '/' . ($_->{json}{published}[0]{seq}
    // '?') . '/' . ($_->{headers}{'idempotent-replayed'} // 'none') } @ir),
    '202/1/none 202/1/true 202/2/none',
    'Idempotency-Key: replayed within the age, published again after it');
$t->publish('w:age', 'e', $_, path => '/notify1s') for 4 .. 5;

$ws = $t->ws_ok('/ws');
($tr, $e) = resume($ws, 'w:age', 0, $E);
is($tr, 'gap(history,1-3) e4 e5 sub(5)',
    'age window: gap over the expired events, the recent ones');
$ws->close();

# 4. a wrong (well-formed) epoch: a gap "epoch" from the start of the
# room's epoch, then that epoch's events (all 13 kept here)

my $wrong = $Er1 eq '0123456789abcdef' ? 'fedcba9876543210'
    : '0123456789abcdef';
$ws = $t->ws_ok('/ws');
$ws->send_json({ type => 'subscribe', room => 'r:1', seq => 5,
    epoch => $wrong });
@msgs = map { $ws->recv_json() // {} } 1 .. 15;
my $E1 = $msgs[14]{epoch} // '';
is_deeply($msgs[0], { type => 'gap', room => 'r:1', reason => 'epoch',
    seq => 0, epoch => $E1 }, 'wrong epoch: gap "epoch", seq 0');
is_deeply([ map { ($_->{type} // '') . ':' . ($_->{seq} // '') }
        @msgs[1 .. 14] ],
    [ (map { "event:$_" } 1 .. 13), 'subscribed:13' ],
    'wrong epoch: the epoch\'s events, then subscribed at 13');
is($E1, $Er1, 'wrong epoch: the room\'s epoch in both');
$t->publish('r:1', 'e', 14);
is(($ws->recv_json() // {})->{seq}, 14, 'wrong epoch: then live');
ok($ws->expect_nothing(), 'wrong epoch: nothing else');

# malformed resumes

for my $case (
    [ 'seq without epoch', '{"type":"subscribe","room":"r:2","seq":1}' ],
    [ 'epoch without seq', '{"type":"subscribe","room":"r:2",'
        . qq("epoch":"$E1"}) ],
    [ 'a negative seq', '{"type":"subscribe","room":"r:2","seq":-1,'
        . qq("epoch":"$E1"}) ],
    [ 'a string seq', '{"type":"subscribe","room":"r:2","seq":"1",'
        . qq("epoch":"$E1"}) ],
    [ 'a fractional seq', '{"type":"subscribe","room":"r:2","seq":1.5,'
        . qq("epoch":"$E1"}) ],
    [ 'an epoch of 15 digits', '{"type":"subscribe","room":"r:2",'
        . '"seq":1,"epoch":"' . substr($E1, 1) . '"}' ],
    [ 'an epoch not hex', '{"type":"subscribe","room":"r:2",'
        . '"seq":1,"epoch":"zzzzzzzzzzzzzzzz"}' ],
    [ 'a numeric epoch', '{"type":"subscribe","room":"r:2",'
        . '"seq":1,"epoch":12345}' ],
    [ 'a family', '{"type":"subscribe","room":"r:*","seq":1,'
        . qq("epoch":"$E1"}) ])
{
    $m = $ws->ask($case->[1]);
    my $j = from_json($m) // {};
    is(($j->{type} // '') . '/' . ($j->{code} // ''),
        'error/invalid_message', "resume with $case->[0]: invalid_message")
        or diag("got: $m");
}
is($ws->ask('{"type":"ping"}'), '{"type":"pong"}',
    'malformed resumes: the connection stays open');
$t->publish('r:2', 'e', 1);
ok($ws->expect_nothing(), 'malformed resumes: not subscribed to r:2');
$ws->close();

# 5. "history": false: live, and skipped on resume without a gap

$ws = $t->ws_ok('/ws');
$E = position($ws, 'nh');
nh_publish('nh', 1, 1);
nh_publish('nh', 2, 0);
nh_publish('nh', 3, 1);
nh_publish('nh', 4, 0);
@msgs = map { $ws->recv_json() // {} } 1 .. 4;
is(join(' ', map { $_->{seq} // '?' } @msgs), '1 2 3 4',
    'history false: delivered live');
$ws->close();

# (subscribed at 3, the last replayed, or at 4, the room's position)

$ws = $t->ws_ok('/ws');
($tr, $e) = resume($ws, 'nh', 0, $E);
like($tr, qr/^e1 e3 sub\([34]\)\z/,
    'history false: skipped on resume, no gap');
$ws->close();
$ws = $t->ws_ok('/ws');
($tr, $e) = resume($ws, 'nh', 1, $E);
like($tr, qr/^e3 sub\([34]\)\z/,
    'history false: resume from 1: e3, no gap');
$ws->close();

# signal_history off: resuming across its event gives a gap

$ws = $t->ws_ok('/ws');
$E = position($ws, 'off');
$ws->close();
$t->publish('off', 'e', 1);
$t->publish('off', 'e', 2, path => '/notify-off');
$t->publish('off', 'e', 3);

$ws = $t->ws_ok('/ws');
($tr, $e) = resume($ws, 'off', 0, $E);
is($tr, 'gap(history,1-2) e3 sub(3)',
    'history off: a gap over its event');
$ws->close();
$ws = $t->ws_ok('/ws');
($tr, $e) = resume($ws, 'off', 2, $E);
is($tr, 'e3 sub(3)', 'history off: resume after it: no gap');
$ws->close();

# 6. resume at the handshake

$ws = $t->ws_ok('/join?a=h');
$ws2 = $t->ws_ok('/join2?a=h');
ok($ws->expect_nothing(), 'handshake without resume: no message');
$r = $t->publish('j:h', 'e', 1);
$E = $r->{json}{published}[0]{epoch} // '';
$t->publish('j:h', 'e', 2);
$r = $t->publish('k:h', 'e', 1);
my $Ek = $r->{json}{published}[0]{epoch} // '';
is(join(' ', map { ($ws->recv_json() // {})->{seq} // '?' } 1 .. 2), '1 2',
    'handshake without resume: events');
ok($ws->expect_nothing(), 'handshake without resume: nothing else');
$ws->close();
$ws2->close();

$ws = $t->ws_ok('/join?a=h&resume=');
is_deeply($ws->recv_json(), { type => 'subscribed', room => 'j:h',
    seq => 2, epoch => $E }, 'empty resume: subscribed with the position');
ok($ws->expect_nothing(), 'empty resume: nothing else');
$ws->close();

$ws = $t->ws_ok("/join?a=h&resume=j%3Ah%3A0%3A$E");
($tr, $e) = trace($ws, 'j:h', 3);
is($tr, 'e1 e2 sub(2)', 'resume=j:h:0:E: replay, then subscribed');
is($e, $E, 'resume=j:h:0:E: the epoch in every message');
$t->publish('j:h', 'e', 3);
is(($ws->recv_json() // {})->{seq}, 3, 'resume at the handshake: live');
ok($ws->expect_nothing(), 'resume at the handshake: nothing else');
$ws->close();

$ws = $t->ws_ok("/join2?a=h&resume=j%3Ah:1:$E");
my %tr;
for (1 .. 2) {
    my ($room, $s) = ('', '');
    for (1 .. 5) {
        $m = $ws->recv_json() // last;
        $room = $m->{room} // '';
        $s .= ' ' . fmt($m);
        last if ($m->{type} // '') eq 'subscribed';
    }
    $tr{$room} = substr($s, 1);
}
is_deeply(\%tr, { 'j:h' => 'e2 e3 sub(3)', 'k:h' => 'sub(1)' },
    'two joined rooms, one resumed: both get subscribed');
ok($ws->expect_nothing(), 'two joined rooms: nothing else');
$ws->close();

$ws = $t->ws_ok("/join2?a=h&resume=k%3Ah:0:$Ek,j%3Ah%3A2%3A$E");
%tr = ();
for (1 .. 2) {
    my ($room, $s) = ('', '');
    for (1 .. 5) {
        $m = $ws->recv_json() // last;
        $room = $m->{room} // '';
        $s .= ' ' . fmt($m);
        last if ($m->{type} // '') eq 'subscribed';
    }
    $tr{$room} = substr($s, 1);
}
is_deeply(\%tr, { 'j:h' => 'e3 sub(3)', 'k:h' => 'e1 sub(1)' },
    'two joined rooms, both resumed: replay and subscribed for each');
$ws->close();

$ws = $t->ws_ok("/join?a=h&resume=j%3Ah:1:$wrong");
($tr, $e) = trace($ws, 'j:h', 3);
is($tr, 'gap(epoch,0) e1 e2 e3 sub(3)',
    'resume=j:h:1:<another epoch>: gap epoch, the epoch\'s events');
ok($ws->expect_nothing(), 'resume=j:h:1:<another epoch>: nothing else');
$ws->close();

for my $bad ('garbage', "j%3Ah:x:$E", 'j%3Ah:1:abc',
    'j%3Ah:1:0000000000000000', ":1:$E", "j%3Ah%3A1%3A${E}0")
{
    $r = $t->ws("/join?a=h&resume=$bad");
    is(($r->{status} // '?') . ' ' . (($r->{json} // {})->{error} // ''),
        '400 bad_resume', "resume=$bad: 400 bad_resume");
}

# 7. a slow consumer closed with 4008 resumes losslessly

$ws = $t->ws_ok('/slow', port => $t->port(2));
setsockopt($ws->{sock}, SOL_SOCKET, SO_RCVBUF, 4096);
$E = position($ws, 'slow');

my $kb = '"' . ('x' x 1000) . '"';
my $accepted = 0;
for my $n (1 .. 20) {
    $r = $t->notify('/notify-big', '{"events":[' . join(',',
        map { qq({"room":"slow","event":"e","data":$kb}) } 1 .. 10) . ']}');
    $accepted++ if $r->{status} == 202;
}
is($accepted, 20, 'slow consumer: 200 events of 1 KB accepted');

my ($code, @slow) = (undef);
while (my $f = $ws->recv_frame(5)) {
    if ($f->{opcode} == 8) {
        $code = $f->{code};
        last;
    }
    next unless $f->{opcode} == 1;
    my $j = from_json($f->{payload}) // {};
    push @slow, $j->{seq} // -1;
}
is($code, 4008, 'slow consumer: closed with 4008');
ok(@slow < 200, 'slow consumer: ' . scalar(@slow) . ' events before it');
is(tally(\@slow, $slow[-1] // 0), 'lost 0 dup 0 ordered',
    'slow consumer: those in order');
$ws->close();

$ws = $t->ws_ok('/ws');
$ws->send_json({ type => 'subscribe', room => 'slow',
    seq => ($slow[-1] // 0) + 0, epoch => $E });
($sub, @before) = until_subscribed($ws, 'slow', 5);
push @slow, map { $_->{seq} // -1 } @before;
is(join(' ', map { $_->{type} } grep { $_->{type} ne 'event' } @before),
    '', 'slow consumer resumed: no gap');
is(($sub // {})->{seq}, 200, 'slow consumer resumed: subscribed at 200');
$t->publish('slow', 'e', 201, path => '/notify-big');
collect($ws, \@slow, 201, 3);
is(tally(\@slow, 201), 'lost 0 dup 0 ordered',
    'slow consumer: 1..201 once each, in order');
$ws->close();

# the replay budget: half of signal_send_queue 8k

$ws = $t->ws_ok('/small');
$E = position($ws, 'budget');
$ws->close();
$t->publish('budget', 'e', $kb) for 1 .. 50;

$ws = $t->ws_ok('/small');
$ws->send_json({ type => 'subscribe', room => 'budget', seq => 0,
    epoch => $E });
($sub, @before) = until_subscribed($ws, 'budget', 5);
my $gap = (@before && $before[0]{type} eq 'gap') ? shift @before : {};
my @rep = map { $_->{seq} // -1 } @before;
my $bytes = 0;
$bytes += length($JSON->encode($_->{data} // '')) for @before;
is(($gap->{reason} // '') . ' ' . ($gap->{from} // '?'), 'history 1',
    'replay budget: a gap "history" from 1');
is(join(' ', @rep), join(' ', (($gap->{to} // 0) + 1) .. 50),
    'replay budget: then every event after the gap, in order');
ok(@rep >= 3 && $bytes <= 4096,
    'replay budget: ' . scalar(@rep) . " events, $bytes bytes of data");
is(($sub // {})->{seq}, 50, 'replay budget: subscribed at 50');
$t->publish('budget', 'e', 51);
is(($ws->recv_json() // {})->{seq}, 51, 'replay budget: then live');
ok($ws->expect_nothing(), 'replay budget: nothing else');
$ws->close();

# at most 1000 events per resume

$ws = $t->ws_ok('/ws');
$E = position($ws, 'many');
$ws->close();
for my $n (600, 500) {
    $r = $t->notify('/notify-2k', '{"events":[' . join(',',
        map { '{"room":"many","event":"e"}' } 1 .. $n) . ']}');
    die "publish many: $r->{status}\n" unless $r->{status} == 202;
}
$ws = $t->ws_ok('/ws');
($tr, $e) = resume($ws, 'many', 0, $E);
is($tr, 'gap(history,1-100) ' . join(' ', map { "e$_" } 101 .. 1100)
    . ' sub(1100)', '1100 missed: a gap for 100, the newest 1000');
$ws->close();

# 8. Idempotency-Key

$ws = $t->ws_ok('/ws');
position($ws, 'idem');
my $body = '{"room":"idem","event":"e","data":1}';
my $r1 = $t->notify('/notify', $body,
    headers => { 'Idempotency-Key' => 'key-1' });
my @rr = map { $t->notify('/notify', $body,
    headers => { 'Idempotency-Key' => 'key-1' }) } 1 .. 5;
my $r2 = $rr[0];
is(join(' ', map { $_->{status} } $r1, @rr), join(' ', (202) x 6),
    'same key: 202 for the first and 5 retries');
is(scalar(grep { $_->{body} eq $r1->{body} } @rr), 5,
    'same key: the same body every time');
is(join(' ', map { $_->{headers}{'idempotent-replayed'} // 'none' }
    $r1, @rr), 'none' . ' true' x 5,
    'same key: Idempotent-Replayed on the retries only');
is(($ws->recv_json() // {})->{seq}, 1, 'same key: the event delivered');
ok($ws->expect_nothing(), 'same key: once');

$r = $t->notify('/notify', '{"room":"idem","event":"e","data":2}',
    headers => { 'Idempotency-Key' => 'key-1' });
is($r->{status} . ' ' . (($r->{json} // {})->{error} // ''),
    '422 idempotency_key_reused', 'same key, another body: 422');
$r = $t->notify('/notify', $body,
    headers => { 'Idempotency-Key' => 'key-1' });
is(join(' ', $r->{status}, $r->{body} eq $r1->{body} ? 'same' : 'other',
    $r->{headers}{'idempotent-replayed'} // 'none'), '202 same true',
    'same key, the first body again: still the first answer');
ok($ws->expect_nothing(), 'same key, other body, retries: nothing delivered');

my $raw = "POST /notify HTTP/1.1\r\nHost: localhost\r\n"
    . "Connection: close\r\nContent-Type: application/json\r\n"
    . "Idempotency-Key: a\r\nIdempotency-Key: b\r\n"
    . 'Content-Length: ' . length($body) . "\r\n\r\n$body";

for my $case ([ 'empty', '' ], [ '201 characters', 'k' x 201 ],
    [ 'a space inside', 'a b' ], [ 'non-ASCII', "caf\xc3\xa9" ],
    [ 'a control character', "a\x01b" ], [ 'two headers', undef ])
{
    $r = defined $case->[1]
        ? $t->notify('/notify', $body,
            headers => { 'Idempotency-Key' => $case->[1] })
        : $t->http_raw($raw);
    is($r->{status} . ' ' . (($r->{json} // {})->{error} // ''),
        '400 invalid_idempotency_key', "key $case->[0]: 400");
}
ok($ws->expect_nothing(), 'bad keys: nothing delivered');

$r1 = $t->notify('/notify', $body,
    headers => { 'Idempotency-Key' => 'k' x 200 });
$r2 = $t->notify('/notify', $body,
    headers => { 'Idempotency-Key' => 'key-2' });
is(join(' ', map { $_->{status} . '/'
    . ($_->{json}{published}[0]{seq} // '?') } $r1, $r2), '202/2 202/3',
    'a key of 200 characters, another key: two publishes');
is(join(' ', map { ($ws->recv_json() // {})->{seq} // '?' } 1 .. 2), '2 3',
    'different keys: two events');
ok($ws->expect_nothing(), 'different keys: nothing else');

# signal_history off: keys are remembered still (5m)

@rr = map { $t->notify('/notify-off', $body,
    headers => { 'Idempotency-Key' => 'key-off' }) } 1 .. 2;
is(join(' ', map { $_->{status} . '/'
    . ($_->{json}{published}[0]{seq} // '?') . '/'
    . ($_->{headers}{'idempotent-replayed'} // 'none') } @rr),
    '202/4/none 202/4/true', 'history off: a retry is replayed');
is(($ws->recv_json() // {})->{seq}, 4, 'history off: the event once');
ok($ws->expect_nothing(), 'history off: nothing else');
$ws->close();

# 9. the history read API

$E = '';
for my $n (1 .. 5) {
    $r = $t->publish('api', "ev$n", qq({"n":$n}));
    $E = $r->{json}{published}[0]{epoch} // '';
}

$r = history('api');
is($r->{status}, 200, 'history: 200');
like($r->{headers}{'content-type'} // '', qr{application/json},
    'history: JSON');
is_deeply($r->{json}, { room => 'api', epoch => $E, seq => 5,
    events => [ map { { seq => $_, event => "ev$_", data => { n => $_ } } }
    1 .. 5 ] }, 'history: every event, oldest first, no gap');

is(hist_str(history('api', since => 3)), 'E 5 [4 5]', 'history: since 3');
is(hist_str(history('api', since => 3, epoch => $E)), 'E 5 [4 5]',
    'history: since 3 of the epoch');
is(hist_str(history('api', since => 5)), 'E 5 []', 'history: since 5');
is(hist_str(history('api', limit => 2)), 'E 5 [4 5] history 1-3',
    'history: limit 2: the newest 2 and a gap');
is(hist_str(history('api', since => 1, limit => 1000)), 'E 5 [2 3 4 5]',
    'history: limit 1000');
is(hist_str(history('api', since => 2, epoch => $wrong)),
    'E 5 [1 2 3 4 5] epoch',
    'history: another epoch: a gap "epoch", the epoch\'s events');
is_deeply(history('api:never')->{json}, { room => 'api:never',
    epoch => undef, seq => 0, events => [] },
    'history: a room never published to');
is_deeply(history('api:never', since => 1, epoch => $wrong)->{json},
    { room => 'api:never', epoch => undef, seq => 0, events => [],
    gap => { reason => 'epoch' } },
    'history: a room never published to, with an epoch: a gap "epoch"');

for my $case ([ '', 'bad_room' ], [ '?room=', 'bad_room' ],
    [ '?room=a%20b', 'bad_room' ], [ '?room=api:*', 'bad_room' ],
    [ '?room=api&since=-1', 'bad_since' ],
    [ '?room=api&since=x', 'bad_since' ],
    [ '?room=api&epoch=abc', 'bad_epoch' ],
    [ '?room=api&epoch=0000000000000000', 'bad_epoch' ],
    [ '?room=api&limit=0', 'bad_limit' ],
    [ '?room=api&limit=1001', 'bad_limit' ],
    [ '?room=api&limit=x', 'bad_limit' ])
{
    $r = $t->http('GET', "/history$case->[0]");
    is($r->{status} . ' ' . (($r->{json} // {})->{error} // ''),
        "400 $case->[1]", "history$case->[0]: 400 $case->[1]");
}

$r = $t->http('POST', '/history?room=api', body => '');
is($r->{status} . ' ' . ($r->{headers}{allow} // ''), '405 GET, HEAD',
    'history: POST: 405');
$r = $t->http('HEAD', '/history?room=api');
is($r->{status} . ' ' . length($r->{body}), '200 0', 'history: HEAD');

$r = $t->http('GET', '/history-s?room=api');
is($r->{status} . ' ' . (($r->{json} // {})->{error} // ''),
    '401 unauthorized', 'history with a secret: none given: 401');
$r = $t->http('GET', '/history-s?room=api',
    headers => { Authorization => 'Bearer history-secret-012345678' });
is($r->{status}, 401, 'history with a secret: a wrong one: 401');
$r = $t->http('GET', '/history-s?room=api&since=4',
    headers => { Authorization => 'Bearer history-secret-0123456789' });
is(hist_str($r), 'E 5 [5]', 'history with a secret: given: 200');

# a reload keeps the zone: the same epoch, the same history

$t->reload(wait_old => 1, timeout => 10);
is(hist_str(history('api')), 'E 5 [1 2 3 4 5]',
    'after a reload: the same epoch and history');

# 10. count eviction: the history API has the newest 5

$r = $t->publish('evict', 'e', $_, path => '/notify5') for 1 .. 8;
is(hist_str(history('evict'), $r->{json}{published}[0]{epoch}),
    'E 8 [4 5 6 7 8] history 1-3',
    'count 5: the newest 5 kept, a gap for the rest');

# the default count (100), and the API's default limit (100)

$r = $t->notify('/notify', '{"events":[' . join(',',
    map { '{"room":"dflt","event":"e"}' } 1 .. 105) . ']}');
is(hist_str(history('dflt', limit => 1000),
    ($r->{json}{published} // [{}])->[0]{epoch}),
    'E 105 [' . join(' ', 6 .. 105) . '] history 1-5',
    'default count: the newest 100 kept');

$r = $t->notify('/notify-big', '{"events":[' . join(',',
    map { '{"room":"lim","event":"e"}' } 1 .. 150) . ']}');
is(hist_str(history('lim'), ($r->{json}{published} // [{}])->[0]{epoch}),
    'E 150 [' . join(' ', 51 .. 150) . '] history 1-50',
    'history API: 100 events unless limit says');

# a flood of distinct rooms through a 1m zone

$ws = $z->ws_ok('/ws');
my $Ez = position($ws, 'early');
$z->publish('early', 'e', $_) for 1 .. 3;
is(join(' ', map { ($ws->recv_json() // {})->{seq} // '?' } 1 .. 3),
    '1 2 3', 'small zone: events before the flood');
$ws->close();

my (%st, $over);
for my $n (1 .. 200) {
    my $rooms = join(',', map { qq("f:$n:$_") } 1 .. 100);
    $r = $z->notify('/notify', qq({"rooms":[$rooms],"event":"e",)
        . qq("data":"flood flood flood flood flood flood flood"}));
    my $k = $r->{status} == 202 ? 202
        : $r->{status} . '/' . (($r->{json} // {})->{error} // '');
    $st{$k}++;
    if ($n % 20 == 0) {
        my $s = $z->http('GET', '/status')->{json} // {};
        my $zone = $s->{zone} // {};
        $over = "$zone->{used} of $zone->{size}"
            if !$zone->{size} || $zone->{used} >= $zone->{size};
    }
}
is(join(' ', grep { $_ ne '202' && $_ ne '503/zone_full' } sort keys %st),
    '', 'flood of 20000 rooms: 202 or 503 zone_full only')
    or diag(explain(\%st));
ok(($st{202} // 0) > 0, 'flood: ' . ($st{202} // 0) . ' of 200 accepted');
ok(!defined $over, 'flood: zone usage below its size')
    or diag("used $over");

$ws = $z->ws_ok('/ws');
my $Ea = position($ws, 'after');
$z->publish('after', 'e', $_) for 1 .. 3;
is(join(' ', map { ($ws->recv_json() // {})->{seq} // '?' } 1 .. 3),
    '1 2 3', 'after the flood: a room works');
$r = $z->http('GET', '/history?room=after');
is(hist_str($r, $Ea), 'E 3 [1 2 3]', 'after the flood: its history');

# a room of before the flood: a gap, never a silent hole
$ws->send_json({ type => 'subscribe', room => 'early', seq => 1,
    epoch => $Ez });
($sub, @before) = until_subscribed($ws, 'early', 5);
my $first = fmt($before[0] // $sub // {});
like($first, qr/^gap\((history,2-\d+|epoch,\d+)\)$/,
    'after the flood: resuming a room of before: a gap first');
$ws->close();

# another zone size: a new zone, new epochs

my $zconf = $z->read_file('nginx.conf');
$zconf =~ s/signal_zone signal_test:1m;/signal_zone signal_test:2m;/
    or die "no signal_zone in the conf\n";
$z->write_file('nginx.conf', $zconf);
$z->reload(wait_old => 1, timeout => 10);

$ws = $z->ws_ok('/ws');
$ws->send_json({ type => 'subscribe', room => 'after', seq => 3,
    epoch => $Ea });
($tr, $e) = trace($ws, 'after', 3);
is($tr, 'gap(epoch,0) sub(0)', 'a new zone: resume gives a gap "epoch"');
ok(is_epoch($e) && $e ne $Ea, 'a new zone: a new epoch');
$ws->close();

# 11. nginx -t

for my $case (@bad) {
    my ($directives, $msg) = @$case;

    $t->write_file_expand('bad.conf', <<"EOF");
load_module $t->{module};
error_log %%TESTDIR%%/bad-error.log;
pid %%TESTDIR%%/bad.pid;
events { }
http {
    %%TEST_GLOBALS_HTTP%%
    server {
        listen 127.0.0.1:%%PORT_3%%;
        location /x { signal_notify; $directives }
    }
}
EOF

    local %ENV = %ENV;
    $t->_child_env();

    my $d = $t->dir();
    my $out = `$t->{binary} -t -p $d/ -c $d/bad.conf -e $d/bad-t.log 2>&1`;
    my $rc = $? >> 8;
    $out .= $t->read_file('bad-t.log');
    unlink("$d/bad-t.log");
    isnt($rc, 0, "nginx -t refuses: '$directives'");
    like($out, qr/\Q$msg\E/, "message for: '$directives'");
}

###############################################################################

sub is_epoch {
    my ($e) = @_;
    return defined $e && !ref $e && $e =~ /^[0-9a-f]{16}\z/ && $e =~ /[^0]/;
}

# subscribes $ws to $room (no resume) and returns the room's epoch from
# "subscribed"; dies on another answer
sub position {
    my ($ws, $room) = @_;
    $ws->send_json({ type => 'subscribe', room => $room });
    my $j = $ws->recv_json() // {};
    die "subscribe $room: " . $JSON->encode($j) . "\n"
        unless ($j->{type} // '') eq 'subscribed' && is_epoch($j->{epoch});
    return $j->{epoch};
}

# a message as a word: e<seq>, sub(<seq>), gap(history,a-b),
# gap(epoch,<seq>), err(<code>), or the JSON
sub fmt {
    my ($m) = @_;
    my $type = $m->{type} // '';
    return 'e' . ($m->{seq} // '?') if $type eq 'event';
    return 'sub(' . ($m->{seq} // '?') . ')' if $type eq 'subscribed';
    return 'err(' . ($m->{code} // '?') . ')' if $type eq 'error';
    if ($type eq 'gap') {
        my $r = $m->{reason} // '?';
        return "gap(history,$m->{from}-$m->{to})"
            if $r eq 'history' && defined $m->{from} && defined $m->{to};
        return "gap(epoch,$m->{seq})"
            if $r eq 'epoch' && defined $m->{seq};
        return "gap($r)";
    }
    return $JSON->encode($m);
}

# messages until "subscribed" for $room (or an error): (subscribed or
# undef, the messages before it)
sub until_subscribed {
    my ($ws, $room, $timeout) = @_;
    my $deadline = time() + ($timeout // 3);
    my @before;
    while (time() < $deadline) {
        my $m = $ws->recv_json($deadline - time()) or last;
        return ($m, @before) if ($m->{type} // '') eq 'subscribed'
            && ($m->{room} // '') eq $room;
        return (undef, @before, $m) if ($m->{type} // '') eq 'error';
        push @before, $m;
    }
    return (undef, @before);
}

# what a connection receives up to its "subscribed" for $room, as words;
# and the epoch of every message ('mixed' when they differ)
sub trace {
    my ($ws, $room, $timeout) = @_;
    my ($sub, @before) = until_subscribed($ws, $room, $timeout);
    my @all = (@before, $sub ? ($sub) : ());
    my %e = map { ($_->{epoch} // 'none') => 1 } @all;
    my $s = join(' ', map { fmt($_) } @all);
    $s .= ' (no subscribed)' unless $sub;
    return ($s, keys %e == 1 ? (keys %e)[0] : 'mixed');
}

sub resume {
    my ($ws, $room, $seq, $epoch) = @_;
    $ws->send_json({ type => 'subscribe', room => $room, seq => $seq + 0,
        epoch => $epoch });
    return trace($ws, $room, 5);
}

# events into @$got (their seqs) until seq $upto, or $timeout seconds
sub collect {
    my ($ws, $got, $upto, $timeout) = @_;
    my $deadline = time() + $timeout;
    while ((@$got ? $got->[-1] : 0) < $upto && time() < $deadline) {
        my $m = $ws->recv_json($deadline - time()) or last;
        next unless ($m->{type} // '') eq 'event';
        push @$got, $m->{seq} // -1;
    }
}

# "lost L dup D ordered|unordered" of seqs against $from..$n (1..$n);
# a seq out of the range counts as a duplicate
sub tally {
    my ($seqs, $n, $from) = @_;
    $from //= 1;
    my %c;
    $c{$_}++ for @$seqs;
    my $lost = grep { !$c{$_} } $from .. $n;
    my $dup = 0;
    $dup += $c{$_} - 1 for grep { $c{$_} > 1 } keys %c;
    $dup += $c{$_} for grep { $_ < $from || $_ > $n } keys %c;
    my $ordered = 1;
    for my $i (1 .. $#$seqs) {
        $ordered = 0 if $seqs->[$i] <= $seqs->[$i - 1];
    }
    return "lost $lost dup $dup " . ($ordered ? 'ordered' : 'unordered');
}

# 1 once $cond is true, 0 after $timeout seconds
sub poll {
    my ($cond, $timeout) = @_;
    my $deadline = time() + $timeout;
    for ( ;; ) {
        return 1 if $cond->();
        return 0 if time() >= $deadline;
        sleep(0.05);
    }
}

sub history {
    my ($room, %a) = @_;
    my $q = "room=$room";
    $q .= "&$_=$a{$_}" for sort keys %a;
    return $t->http('GET', "/history?$q");
}

# an answer of the history API as "E <seq> [<seqs>] <gap>", E for the
# expected epoch (from the events' publishes)
sub hist_str {
    my ($r, $epoch) = @_;
    my $j = $r->{json} // return "status $r->{status}: $r->{body}";
    my $g = $j->{gap};
    my $ee = $epoch // $E;
    return join(' ', ($j->{epoch} // 'null') eq $ee ? 'E'
            : 'epoch ' . ($j->{epoch} // 'null'),
        $j->{seq} // '?',
        '[' . join(' ', map { $_->{seq} // '?' } @{$j->{events} || []}) . ']',
        $g ? ($g->{reason} // '?') . (defined $g->{from}
            ? " $g->{from}-" . ($g->{to} // '?') : '') : ());
}

sub nh_publish {
    my ($room, $n, $keep) = @_;
    my $r = $t->notify('/notify', qq({"room":"$room","event":"e",)
        . qq("data":$n,"history":) . ($keep ? 'true' : 'false') . '}');
    die "publish $n: $r->{status} $r->{body}\n" unless $r->{status} == 202;
}

# a child process that publishes $n events to $room at $rate per second;
# publisher_done() waits for it: (publishes answered 202, the last seq)
sub publisher {
    my ($room, $n, $rate) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        close($rd);
        alarm(15);
        my ($ok, $seq) = (0, 0);
        my $t0 = time();
        for my $i (1 .. $n) {
            my $wait = $t0 + $i / $rate - time();
            sleep($wait) if $wait > 0;
            my $r = $t->notify('/notify-big',
                qq({"room":"$room","event":"e","data":$i}));
            next unless $r->{status} == 202;
            $ok++;
            $seq = $r->{json}{published}[0]{seq} // 0;
        }
        print $wr "$ok $seq\n";
        close($wr);
        POSIX::_exit(0);
    }
    close($wr);
    return ($pid, $rd);
}

sub publisher_done {
    my ($pid, $rd) = @_;
    my $line = '';
    if (IO::Select->new($rd)->can_read(10)) {
        $line = <$rd> // '';
    }
    close($rd);
    kill('KILL', $pid) unless $line;
    waitpid($pid, 0);
    my ($ok, $seq) = split ' ', $line;
    return ($ok // 0, $seq // 0);
}

###############################################################################
