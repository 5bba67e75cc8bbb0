#!/usr/bin/perl

# Tests for ngx_signal_module: history, positions, resume, gaps and
# idempotency with the Redis engine.  Two nginx "hosts" (2 workers and 1)
# on one redis-server.  Under a steady stream of notifies alternating
# between the hosts, the subscriber connections of every worker are
# killed each second (CLIENT KILL TYPE pubsub): the workers read what
# they missed from Redis and every client gets every seq of its rooms
# once, in order, without a gap, also where the family of those rooms
# has members (resubscribed in any order).  A client resumes through Redis (on
# either host, by message or at the handshake): replay, "subscribed",
# live; a gap "history" beyond the count, a gap "epoch" (then the epoch's
# events from its start) for another
# epoch, "history": false skipped without a gap.  An Idempotency-Key is
# honoured across hosts.  The history read API, FCALL signal_publish and
# the keys in Redis.  Redis killed and restarted without its data: a gap
# "epoch" and a new epoch.  Redis stopped: a resume gets a gap
# "unavailable", notify 503, and live events flow once it is back.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;
use Test::Signal::Redis;

use IO::Select;
use POSIX ();
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Time::HiRes qw(sleep time);

###############################################################################

my $ha = Test::Signal->new();
my $hb = Test::Signal->new();
my $redis = Test::Signal::Redis->new(port => $ha->port(9), dir => $ha->dir());

my $conf = <<'EOF';

%%TEST_GLOBALS%%

worker_processes WORKERS;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_redis redis://127.0.0.1:REDIS_PORT/3;
    signal_redis_connect_timeout 500ms;
    signal_redis_command_timeout 500ms;
    signal_redis_backoff 50ms 300ms;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        signal_subscribe_rate 1000;

        location /ws {
            signal_websocket;
            signal_join $arg_r;
            signal_allow_subscribe "*";
        }

        location /sub {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /notify {
            signal_notify;
        }

        location /notify5 {
            signal_notify;
            signal_history 5;
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

$conf =~ s/REDIS_PORT/$redis->port()/e;

(my $conf_a = $conf) =~ s/WORKERS/2/;
(my $conf_b = $conf) =~ s/WORKERS/1/;

$ha->write_file_expand('nginx.conf', $conf_a);
$hb->write_file_expand('nginx.conf', $conf_b);

$redis->start();
$ha->run()->plan(79 + 3);
$hb->run()->checked_too();

my %workers = ($ha => 2, $hb => 1);
my $HEX = qr/^[0-9a-f]{16}\z/;

###############################################################################

ok(wait_links($ha, 'ready') && wait_links($hb, 'ready'),
    'both hosts linked to Redis');

# 1. subscriber links killed every second under a steady publish: the
# workers recover from Redis history, clients miss nothing

my @lrooms = map { "load:$_" } 0 .. 3;
my (@load, @fam);

for my $i (0 .. 19) {
    my $t = $i % 2 ? $hb : $ha;
    my @r = ($lrooms[$i % 4], $lrooms[($i + 1) % 4]);
    my $c = { ws => $t->ws_ok('/sub'), name => ($i % 2 ? 'B' : 'A') . $i,
        pos => {}, seqs => {}, gaps => [], other => [] };
    for my $room (@r) {
        my $m = subscribe($c->{ws}, room => $room);
        $c->{pos}{$room} = [ $m->{seq}, $m->{epoch} ];
        $c->{seqs}{$room} = [];
    }
    push @load, $c;
}

# members of the family of those rooms in the same workers: a family's
# events, resubscribed first, must not move a room past what it recovers
for my $i (0 .. 7) {
    my $t = $i % 2 ? $hb : $ha;
    my $c = { ws => $t->ws_ok('/sub'), seqs => {}, gaps => [], other => [] };
    subscribe($c->{ws}, room => 'load:*');
    push @fam, $c;
}

my %at;
for my $c (@load) {
    $at{$_->[0] // 'none'} = 1 for values %{$c->{pos}};
}
is(join(' ', sort keys %at), '0',
    '20 clients on both hosts subscribed to 4 new rooms: at seq 0');

my %lepoch = map {
    my $room = $_;
    ($room => { map { ($_->{pos}{$room}[1] // 'none') => 1 }
        grep { $_->{pos}{$room} } @load });
} @lrooms;
is(join(' ', map { join('|', sort keys %{$lepoch{$_}}) =~ $HEX ? 1 : 0 }
    @lrooms), '1 1 1 1', 'one epoch per room on both hosts');

my $publog = $ha->dir() . '/publisher.log';
my $killlog = $ha->dir() . '/killer.log';
my $t0 = time();

my $publisher = child(sub {
    open(my $fh, '>', $publog) or die "$publog: $!";
    $fh->autoflush(1);
    for my $i (0 .. 1499) {
        my $at = $t0 + 0.3 + $i / 150;
        my $dt = $at - time();
        sleep($dt) if $dt > 0;    # (time() read twice could go negative)
        my $t = $i % 2 ? $hb : $ha;
        my $room = $lrooms[int($i / 2) % 4];
        my $r = $t->notify('/notify',
            qq({"room":"$room","event":"l","data":{"i":$i}}));
        my $p = ($r->{json}{published} // [])->[0] // {};
        print $fh join(' ', $r->{status}, $room, $p->{seq} // '-',
            $p->{epoch} // '-'), "\n";
    }
});

my $killer = child(sub {
    open(my $fh, '>', $killlog) or die "$killlog: $!";
    $fh->autoflush(1);
    for my $k (0 .. 9) {
        my $at = $t0 + 0.8 + $k;
        my $dt = $at - time();
        sleep($dt) if $dt > 0;    # (time() read twice could go negative)
        my $n = $redis->cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
        print $fh ($n // '') =~ /^(\d+)$/ ? $1 : "error: $n", "\n";
    }
});

# meanwhile every client is read, none starves
my $deadline = time() + 20;
while (time() < $deadline && ($publisher->() || $killer->())) {
    pump([ @load, @fam ], 0.05);
}

my @pub = map { [ split ' ' ] } split /\n/, slurp($publog);
my %want;
for (grep { $_->[0] == 202 } @pub) {
    $want{$_->[1]} = $_->[2] if $_->[2] > ($want{$_->[1]} // 0);
}

is(scalar(grep { $_->[0] == 202 } @pub) . '/' . scalar(@pub), '1500/1500',
    'the publisher had 1500 notifies accepted, alternating hosts')
    or diag(join("\n", map { "@$_" } grep { $_->[0] != 202 } @pub));
ok(numbered(\@pub), 'Redis numbered each room 1..n once, one epoch');
ok(time() - $t0 < 14, sprintf('at about 150/s (%.1fs)', time() - $t0));

my @kills = split /\n/, slurp($killlog);
my $killed = 0;
$killed += $_ for grep { /^\d+$/ } @kills;
ok(@kills == 10 && $killed >= 20, "10 kills of the pubsub clients: "
    . "$killed connections killed") or diag("kills: @kills");

# what is still on its way, within a deadline
$deadline = time() + 5;
while (time() < $deadline && grep { !complete($_, \%want) } @load) {
    pump([ @load, @fam ], 0.05);
}
pump([ @load, @fam ], 0.2);

my ($lost, $dup, $disorder, $gaps, $foreign, @why) = (0, 0, 0, 0, 0);
for my $c (@load) {
    for my $room (sort keys %{$c->{seqs}}) {
        my @s = @{$c->{seqs}{$room}};
        my %n;
        $n{$_}++ for @s;
        my @l = grep { !$n{$_} } 1 .. ($want{$room} // 0);
        my @d = grep { $n{$_} > 1 } sort { $a <=> $b } keys %n;
        my $o = grep { $s[$_] <= $s[$_ - 1] } 1 .. $#s;
        $lost += @l;
        $dup += @d;
        $disorder += $o;
        push @why, "$c->{name} $room: " . scalar(@s) . " events, lost "
            . ranges(@l) . ', duplicated ' . ranges(@d)
            . ", $o out of order" if @l || @d || $o;
    }
    $gaps += @{$c->{gaps}};
    $foreign += @{$c->{other}};
    push @why, "$c->{name}: " . join(' ', map { Test::Signal::WS::encode_json(
        $_) } @{$c->{gaps}}, @{$c->{other}}) if @{$c->{gaps}}
        || @{$c->{other}};
}

diag(join("\n", @why)) if @why;
is($lost, 0, '20 clients, 2 rooms each: no event lost');
is($dup, 0, 'no event delivered twice');
is($disorder, 0, 'each room in seq order');
is($gaps, 0, 'no gap message (the clients stayed connected)');
is($foreign, 0, 'nothing else (every event of the room\'s epoch)');
is(scalar(grep { $_->{eof} } @load), 0, 'every client still connected');

my $logs = $ha->read_file('error.log') . $hb->read_file('error.log');
my $drops = () = $logs =~ /lost the redis subscriber connection/g;
my $recovered = () = $logs =~ /"load:\d" recovered \d+ events/g;
ok($drops >= 10, "error.log: the subscriber links dropped ($drops times)");
ok($recovered >= 1, 'error.log: "recovered" lines: the workers read what '
    . "they missed from Redis ($recovered times)");

$_->{ws}->close() for @load, @fam;
@load = @fam = ();

# 3. resume through Redis

my $x = $ha->ws_ok('/sub');
my $s0 = subscribe($x, room => 'res');
my $E = $s0->{epoch};
ok(($s0->{seq} // '') eq '0' && ($E // '') =~ $HEX,
    'subscribed to a new room: seq 0 and an epoch');

$hb->publish('res', 'e', 1);
$ha->publish('res', 'e', 2);
is(trace($x, 2), 'ev:1 ev:2', 'two live events');
$x->close();

for my $i (3 .. 7) {
    ($i % 2 ? $ha : $hb)->publish('res', 'e', $i);
}

my $y = $hb->ws_ok('/sub');
$y->send_json({ type => 'subscribe', room => 'res', seq => 2,
    epoch => $E });
my @m = take($y, 6);
is(fmt(@m), 'ev:3 ev:4 ev:5 ev:6 ev:7 sub:7',
    'resume on the other host: the 5 missed events, then subscribed');
ok(same_epoch($E, @m), 'all of the room\'s epoch');
is(join(',', map { $_->{data} // '' } @m[0 .. 4]), '3,4,5,6,7',
    'with their data');

my $z = $ha->ws_ok('/ws?r=res&resume=' . uri("res:4:$E"));
is(trace($z, 4), 'ev:5 ev:6 ev:7 sub:7',
    'resume at the handshake: replay then subscribed');
my $z0 = $hb->ws_ok('/ws?r=res&resume=');
is(trace($z0, 1), 'sub:7', 'an empty resume: subscribed with the position');

$hb->publish('res', 'e', 8);
is(join(' | ', map { trace($_, 1) } $y, $z, $z0), 'ev:8 | ev:8 | ev:8',
    'then live events, after the replay');
ok(Test::Signal::WS->expect_silence([ $y, $z, $z0 ], 0.2, 0.05),
    'and nothing twice');

# beyond the count window (signal_history 5): a gap "history"

my $w = $hb->ws_ok('/sub');
my $ws0 = subscribe($w, room => 'win');
my $EW = $ws0->{epoch};
$ha->publish('win', 'w', 1, path => '/notify5');
is(trace($w, 1), 'ev:1', 'a live event in a room kept 5 deep');
$w->close();

for my $i (2 .. 13) {
    ($i % 2 ? $hb : $ha)->publish('win', 'w', $i, path => '/notify5');
}

$w = $ha->ws_ok('/sub');
$w->send_json({ type => 'subscribe', room => 'win', seq => 1,
    epoch => $EW });
@m = take($w, 7);
is(fmt(@m), 'gap:history:2-8 ev:9 ev:10 ev:11 ev:12 ev:13 sub:13',
    '12 missed, 5 kept: gap "history" 2..8, the last 5, subscribed');
ok(same_epoch($EW, @m), 'the gap and events in the room\'s epoch');

# another epoch: a gap "epoch" from the start of the room's epoch, then
# the epoch's events (all kept here), subscribed, live

my $bad = $E eq '0123456789abcdef' ? 'fedcba9876543210' : '0123456789abcdef';
my $v = $ha->ws_ok('/sub');
$v->send_json({ type => 'subscribe', room => 'res', seq => 3,
    epoch => $bad });
@m = take($v, 10);
is(fmt(@m), 'gap:epoch:0 ' . join(' ', map { "ev:$_" } 1 .. 8) . ' sub:8',
    'resume with another epoch: gap "epoch" at 0, the epoch\'s events');
ok(same_epoch($E, @m), 'giving the room\'s epoch');
$hb->publish('res', 'e', 9);
is(trace($v, 1), 'ev:9', 'then live');
ok($v->expect_nothing(0.2), 'nothing more');

# "history": false: delivered live, skipped by a resume without a gap

my $live = $hb->ws_ok('/sub');
my $n0 = subscribe($live, room => 'nohist');
my $EN = $n0->{epoch};
my $r = $ha->notify('/notify', '{"events":['
    . '{"room":"nohist","event":"kept","data":1},'
    . '{"room":"nohist","event":"gone","data":2,"history":false},'
    . '{"room":"nohist","event":"kept","data":3}]}');
is($r->{status}, 202, 'events with and without history');
is(trace($live, 3), 'ev:1 ev:2 ev:3', 'all delivered live');

my $u = $hb->ws_ok('/sub');
$u->send_json({ type => 'subscribe', room => 'nohist', seq => 0,
    epoch => $EN });
@m = take($u, 3);
is(fmt(@m), 'ev:1 ev:3 sub:3',
    'a resume skips the event kept out of history, without a gap');
ok($u->expect_nothing(0.2), 'nothing more');

# 4. Idempotency-Key across hosts

my @idem = ($ha->ws_ok('/sub'), $hb->ws_ok('/sub'));
subscribe($_, room => 'idem') for @idem;

my $key = 'order-' . int(rand(1e9));
my $body = '{"room":"idem","event":"paid","data":{"n":1}}';
my $r1 = $ha->notify('/notify', $body,
    headers => { 'Idempotency-Key' => $key });
my $r2 = $hb->notify('/notify', $body,
    headers => { 'Idempotency-Key' => $key });
is($r1->{status} . ' ' . ($r1->{headers}{'idempotent-replayed'} // '-'),
    '202 -', 'a notify with an Idempotency-Key on host A: 202');
is($r2->{status} . ' ' . ($r2->{headers}{'idempotent-replayed'} // '-'),
    '202 true', 'the retry on host B: 202, Idempotent-Replayed: true');
is($r2->{body}, $r1->{body}, 'the same body') or diag($r2->{body});
is(join(' | ', map { trace($_, 1) } @idem), 'ev:1 | ev:1',
    'one event delivered on both hosts');
ok(Test::Signal::WS->expect_silence(\@idem, 0.2, 0.05), 'not twice');

$r = $hb->notify('/notify', '{"room":"idem","event":"paid","data":{"n":2}}',
    headers => { 'Idempotency-Key' => $key });
is($r->{status} . ' ' . ($r->{json}{error} // ''),
    '422 idempotency_key_reused', 'the same key with another body: 422');
$r = $ha->notify('/notify', '{"room":"idem","event":"next"}');
is($r->{json}{published}[0]{seq}, 2, 'the seq moved once (next is 2)');
is(join(' | ', map { trace($_, 1) } @idem), 'ev:2 | ev:2',
    'nothing of the 422 was published');

# 5. the history read API, FCALL, the keys in Redis

my $hc = $ha->ws_ok('/sub');
my $EH = subscribe($hc, room => 'hapi')->{epoch};
$ha->publish('hapi', "h$_", $_) for 1 .. 6;
trace($hc, 6);

$r = $hb->http('GET', '/history?room=hapi');
is($r->{status}, 200, 'history API: 200');
is(hist($r), "hapi $EH 6 1:h1:1 2:h2:2 3:h3:3 4:h4:4 5:h5:5 6:h6:6",
    'all the events of the room, oldest first, with position');
is(hist($ha->http('GET', '/history?room=hapi&since=4')),
    "hapi $EH 6 5:h5:5 6:h6:6", 'since=4: the events after 4');
is(hist($hb->http('GET', '/history?room=hapi&since=1&limit=2')),
    "hapi $EH 6 5:h5:5 6:h6:6 gap:history:2-4",
    'limit=2: the newest 2 after since, a gap "history" before them');
is(hist($ha->http('GET', "/history?room=hapi&since=2&epoch=$EH")),
    "hapi $EH 6 3:h3:3 4:h4:4 5:h5:5 6:h6:6", 'since in the given epoch');
is(hist($ha->http('GET', "/history?room=hapi&since=2&epoch=$bad")),
    "hapi $EH 6 1:h1:1 2:h2:2 3:h3:3 4:h4:4 5:h5:5 6:h6:6 gap:epoch",
    'another epoch: a gap "epoch", the epoch\'s events');
is(hist($hb->http('GET', '/history?room=win&since=1')),
    "win $EW 13 9:w:9 10:w:10 11:w:11 12:w:12 13:w:13 gap:history:2-8",
    'beyond signal_history 5: a gap "history"');
is(hist($hb->http('GET', '/history?room=nohist')),
    "nohist $EN 3 1:kept:1 3:kept:3", 'events without history left out');

is(join(' ', map { api_error($_) } '/history', '/history?room=a:*',
    '/history?room=hapi&since=x', '/history?room=hapi&limit=0',
    '/history?room=hapi&epoch=xyz'),
    '400:bad_room 400:bad_room 400:bad_since 400:bad_limit 400:bad_epoch',
    'history API: bad arguments');
is($ha->http('POST', '/history?room=hapi', body => '')->{status}, 405,
    'history API: POST is 405');

my $out = $redis->cli('-n', 3, 'FCALL', 'signal_publish', '0', 'hapi',
    'direct', '{"from":"redis-cli"}');
is($out, "7\n$EH", 'FCALL signal_publish: [[seq, epoch]]');
is(trace($hc, 1), 'ev:7', 'the event reaches a client with that seq');
is(last_msg_epoch($hc), $EH, 'and that epoch');

$out = $redis->cli('-n', 3, 'FCALL', 'signal_publish', '0', 'hapi', 'x',
    '1', 'fc', 'y', '2');
my @fc = split /\n/, $out;
ok(@fc == 4 && $fc[0] == 8 && $fc[1] eq $EH && $fc[2] == 1
    && $fc[3] =~ $HEX, 'two triples: two [seq, epoch] pairs')
    or diag($out);

is(join(' ', map { $redis->cli('-n', 3, 'HGET', 'signal:room:hapi', $_) }
    qw(seq epoch)), "8 $EH", 'signal:room:<room>: seq and epoch');
is($redis->cli('-n', 3, 'XLEN', 'signal:h:hapi'), 8,
    'signal:h:<room>: one entry per event');
is($redis->cli('-n', 3, 'XLEN', 'signal:h:win'), 5,
    'capped at signal_history 5 (13 published)');
my @ids = grep { /^\d+-\d+$/ }
    split /\n/, $redis->cli('-n', 3, 'XRANGE', 'signal:h:win', '-', '+');
is("@ids", '9-0 10-0 11-0 12-0 13-0', 'the newest 5, ids <seq>-0');
my $pttl = $redis->cli('-n', 3, 'PTTL', 'signal:h:win');
ok($pttl > 290000 && $pttl <= 300000, "expiring in the age, 5m ($pttl ms)");

# 2. Redis killed and restarted without its data: a gap "epoch", a new
# epoch, seq from 1

my @ep = map { $_->ws_ok('/sub') } $ha, $ha, $hb;
my $E1 = subscribe($ep[0], room => 'ep')->{epoch};
subscribe($_, room => 'ep') for @ep[1, 2];
$ha->publish('ep', 'old', 1);
$hb->publish('ep', 'old', 2);
is(join(' | ', map { trace($_, 2) } @ep), join(' | ', ('ev:1 ev:2') x 3),
    'three clients of a room on both hosts at seq 2');

$redis->stop('KILL');
$redis->start();

ok(wait_links($ha, 'ready') && wait_links($hb, 'ready'),
    'Redis restarted: both hosts linked again');

# the workers recover: their clients hear of the new epoch (or the first
# event tells them)
my @after = map { [ take($_, 1, 5) ] } @ep;
$ha->publish('ep', 'new', 1);
$hb->publish('ep', 'new', 2);
push @{$after[$_]}, take($ep[$_], 3 - @{$after[$_]}) for 0 .. 2;
push @{$after[$_]}, take($ep[$_], 1, 0.2) for 0 .. 2;

is(join(' | ', map { fmt(@$_) } @after),
    join(' | ', ('gap:epoch:0 ev:1 ev:2') x 3),
    'each client: one gap "epoch" at 0, then seq 1 and 2');
my $E2 = ((grep { ($_->{type} // '') eq 'event' } map { @$_ } @after)[0]
    // {})->{epoch} // '';
ok($E2 =~ $HEX && $E2 ne $E1, "a new epoch ($E1 -> $E2)");
ok(same_epoch($E2, map { @$_ } @after), 'the gaps and events all in it');
ok(!(grep { ($_->{reason} // '') eq 'unavailable' } map { @$_ } @after),
    'no gap "unavailable" (the history read after the restart worked)');

# 6. Redis stopped: a resume hears the history is unavailable, notify 503

my $d1 = $hb->ws_ok('/sub');
my $ED = subscribe($d1, room => 'down')->{epoch};
$ha->publish('down', 'd', 1);
is(trace($d1, 1), 'ev:1', 'a client of a room at seq 1');

$redis->stop();
ok(wait_links($ha, 'down') && wait_links($hb, 'down'),
    'Redis stopped: the links are down');

$r = $ha->notify('/notify', '{"room":"down","event":"lost"}');
is($r->{status} . ' ' . ($r->{json}{error} // ''), '503 redis_unavailable',
    'notify: 503');
$r = $hb->http('GET', '/history?room=down');
is($r->{status} . ' ' . ($r->{json}{error} // ''),
    '503 history_unavailable', 'history API: 503');

my $d2 = $ha->ws_ok('/sub');
$d2->send_json({ type => 'subscribe', room => 'down', seq => 1,
    epoch => $ED });
@m = take($d2, 2);
is(fmt(@m), 'gap:unavailable sub:-',
    'a resume: gap "unavailable", then subscribed (without position)');
my $d3 = $hb->ws_ok('/ws?r=down&resume=' . uri("down:1:$ED"));
is(trace($d3, 2), 'gap:unavailable sub:-', 'the same at the handshake');

$d1->send_json({ type => 'ping', id => 'alive' });
is(trace($d1, 1), 'pong', 'the connected client stays');

$redis->start();
ok(wait_links($ha, 'ready') && wait_links($hb, 'ready'),
    'Redis back: the links are ready');

my @back = ([ take($d1, 1, 5) ], [], []);
$hb->publish('down', 'back', 1);
push @{$back[0]}, take($d1, 2 - @{$back[0]});
push @{$back[1]}, take($d2, 1);
push @{$back[2]}, take($d3, 1);
push @{$back[$_]}, take(($d1, $d2, $d3)[$_], 1, 0.2) for 0 .. 2;
is(join(' | ', map { fmt(@$_) } @back), 'gap:epoch:0 ev:1 | ev:1 | ev:1',
    'live events flow: the one that had a position hears of the new epoch');

$r = $ha->notify('/notify', '{"room":"down","event":"more"}');
is($r->{status}, 202, 'notify: 202 again');
is(join(' | ', map { trace($_, 1) } $d1, $d2, $d3), 'ev:2 | ev:2 | ev:2',
    'on both hosts');

$redis->stop();

###############################################################################

# forks $code; a sub that says whether the child still runs
sub child {
    my ($code) = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        alarm(30);
        eval { $code->() };
        print STDERR $@ if $@;
        POSIX::_exit($@ ? 1 : 0);
    }
    my $done;
    return sub {
        return 0 if $done;
        return 1 unless waitpid($pid, POSIX::WNOHANG()) == $pid;
        $done = 1;
        diag("child exited with $?") if $?;
        return 0;
    };
}

sub slurp {
    open(my $fh, '<', $_[0]) or return '';
    local $/;
    return <$fh> // '';
}

# URL-encoded
sub uri {
    (my $s = $_[0]) =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# subscribe (or resume) and wait for "subscribed"; the reply
sub subscribe {
    my ($ws, %o) = @_;
    $ws->send_json({ type => 'subscribe', %o });
    my $m = $ws->recv_json(3) // {};
    die 'subscribe: ' . Test::Signal::WS::encode_json($m) . "\n"
        unless ($m->{type} // '') eq 'subscribed';
    return $m;
}

# up to $n messages within $timeout (3) seconds
sub take {
    my ($ws, $n, $timeout) = @_;
    my $deadline = time() + ($timeout // 3);
    my @m;
    while (@m < $n) {
        my $left = $deadline - time();
        last if $left <= 0;
        my $j = $ws->recv_json($left) or last;
        push @m, $j;
        $ws->{last_msg} = $j;
    }
    return @m;
}

# messages in short: ev:<seq>, sub:<seq>, gap:<reason>[:<from>-<to>|:<seq>]
sub fmt {
    return join ' ', map {
        my $t = $_->{type} // '?';
        $t eq 'event' ? "ev:" . ($_->{seq} // '-')
        : $t eq 'subscribed' ? 'sub:' . ($_->{seq} // '-')
        : $t eq 'gap' ? "gap:" . ($_->{reason} // '')
            . (defined $_->{to} ? ":$_->{from}-$_->{to}"
            : defined $_->{seq} ? ":$_->{seq}" : '')
        : $t eq 'pong' ? 'pong'
        : Test::Signal::WS::encode_json($_);
    } @_;
}

sub trace { fmt(take(@_)) }

sub last_msg_epoch { ($_[0]{last_msg} // {})->{epoch} // '' }

# 1 if every message with an epoch has $e
sub same_epoch {
    my ($e, @m) = @_;
    my @other = grep { defined $_->{epoch} && $_->{epoch} ne $e } @m;
    diag('other epochs: ' . fmt(@other) . ' '
        . join(' ', map { $_->{epoch} } @other)) if @other;
    return @other ? 0 : 1;
}

# a history API answer in short
sub hist {
    my ($r) = @_;
    my $j = $r->{json} or return "$r->{status} $r->{body}";
    my $g = $j->{gap};
    return join ' ', $j->{room}, $j->{epoch} // 'null', $j->{seq},
        (map { "$_->{seq}:$_->{event}:"
            . Test::Signal::WS::encode_json($_->{data}) }
            @{$j->{events} // []}),
        $g ? ('gap:' . $g->{reason}
            . (defined $g->{to} ? ":$g->{from}-$g->{to}" : '')) : ();
}

sub api_error {
    my $r = $ha->http('GET', $_[0]);
    return $r->{status} . ':' . (($r->{json} // {})->{error} // '');
}

# whether the publisher's answers number each room 1..n, once, one epoch
sub numbered {
    my ($pub) = @_;
    my (%seqs, %ep);
    for (grep { $_->[0] == 202 } @$pub) {
        push @{$seqs{$_->[1]}}, $_->[2];
        $ep{$_->[1]}{$_->[3]} = 1;
    }
    my $ok = 1;
    for my $room (keys %seqs) {
        my @s = sort { $a <=> $b } @{$seqs{$room}};
        my $n = keys %{$ep{$room}};
        next if $n == 1 && "@s" eq join(' ', 1 .. @s);
        diag("$room: " . scalar(@s) . " seqs, $n epochs");
        $ok = 0;
    }
    return $ok;
}

# "1-3,7" of a list of numbers
sub ranges {
    my @n = sort { $a <=> $b } @_;
    return 'none' unless @n;
    my @r;
    for my $x (@n) {
        if (@r && $r[-1][1] + 1 == $x) {
            $r[-1][1] = $x;
        } else {
            push @r, [ $x, $x ];
        }
    }
    return join ',', map { $_->[0] == $_->[1] ? $_->[0] : "$_->[0]-$_->[1]" }
        @r;
}

# whether a client has the last seq of each of its rooms
sub complete {
    my ($c, $want) = @_;
    for my $room (keys %{$c->{seqs}}) {
        my $s = $c->{seqs}{$room};
        return 0 unless @$s && $s->[-1] >= ($want->{$room} // 0);
    }
    return 1;
}

# reads what arrived for any of the clients, waiting up to $t seconds
sub pump {
    my ($clients, $t) = @_;
    my %by;
    for my $c (grep { !$_->{eof} } @$clients) {
        drain($c);
        $by{fileno($c->{ws}{sock})} = $c;
    }
    my $sel = IO::Select->new(map { $_->{ws}{sock} } values %by);
    for my $fh ($sel->can_read($t)) {
        my $c = $by{fileno($fh)};
        my $n = sysread($fh, my $chunk, 65536);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            $c->{eof} = 1;
        } elsif ($n == 0) {
            $c->{eof} = 1;
        } else {
            $c->{ws}{buf} .= $chunk;
        }
        drain($c);
    }
}

# the complete frames in a load client's buffer
sub drain {
    my ($c) = @_;
    my $ws = $c->{ws};
    while (my $f = $ws->_parse_frame()) {
        if ($f->{opcode} == 9) {
            $ws->send_pong($f->{payload});
            next;
        }
        if ($f->{opcode} == 8) {
            $c->{eof} = 1;
            push @{$c->{other}}, { close => $f->{payload} };
            next;
        }
        next unless $f->{opcode} == 1;
        my $m = Test::Signal::WS::from_json($f->{payload})
            // { _raw => $f->{payload} };
        my $t = $m->{type} // '';
        my $room = $m->{room} // '';
        if ($t eq 'event' && $c->{seqs}{$room}
            && ($m->{epoch} // '') eq $c->{pos}{$room}[1])
        {
            push @{$c->{seqs}{$room}}, $m->{seq};
        } elsif ($t eq 'gap') {
            push @{$c->{gaps}}, $m;
        } else {
            push @{$c->{other}}, $m;
        }
    }
}

# "command subscriber" states of every worker of host $t
sub links {
    my ($t) = @_;
    my $st = $t->http('GET', '/status')->{json} // {};
    return join(' ', map { @{$_->{redis} // {}}{qw(command subscriber)} }
        @{$st->{workers} // []});
}

# 1 once both links of every worker of host $t are in $state (5 s)
sub wait_links {
    my ($t, $state) = @_;
    my $deadline = time() + 5;
    for ( ;; ) {
        my @s = split ' ', links($t);
        return 1 if @s == 2 * $workers{$t} && !grep { $_ ne $state } @s;
        if (time() >= $deadline) {
            diag('links: ' . links($t));
            return 0;
        }
        sleep(0.02);
    }
}

###############################################################################
