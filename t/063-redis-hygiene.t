#!/usr/bin/perl

# Tests for ngx_signal_module: what the Redis engine leaves in Redis, and
# a Redis that stops answering.  A room's signal:presence:<room> key lives
# long while any host has connections in it, and expires within a minute
# once no host has (rooms made and left by clients do not pile up for a
# day).  A redis-server stopped with SIGSTOP keeps its connections open:
# each link sees within about two signal_redis_command_timeout that it
# does not answer and is not "ready" any more; once Redis answers again
# the links come back, a subscription asked meanwhile is in place, and
# publishing works.  Two nginx "hosts", one worker each.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;
use Test::Signal::Redis;

use Time::HiRes qw(sleep time);

###############################################################################

my $a = Test::Signal->new();
my $b = Test::Signal->new();
my $redis = Test::Signal::Redis->new(port => $a->port(9), dir => $a->dir());

my $conf = <<'EOF';

%%TEST_GLOBALS%%

worker_processes 1;

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
        }

        location /sub {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /notify {
            signal_notify;
        }

        location /status {
            signal_status;
        }

        location /presence {
            signal_presence;
        }
    }
}

EOF

$conf =~ s/REDIS_PORT/$redis->port()/e;

$a->write_file_expand('nginx.conf', $conf);
$b->write_file_expand('nginx.conf', $conf);

$redis->start();
$a->run()->plan(19 + 3 + 5);
$b->run()->checked_too();

my $DAY = 86400000;
my $MINUTE = 60000;

###############################################################################

ok(wait_links($a, 'ready') && wait_links($b, 'ready'),
    'both hosts linked to Redis');

# a room with connections: a long TTL, on whichever host they are

my $pa = $a->ws_ok('/ws?r=p');
my $ttl = wait_ttl('p', sub { $_[0] > $MINUTE });
ok($ttl > $MINUTE && $ttl <= $DAY,
    "a connection in p on host A: its presence key lives long ($ttl ms)");

my $pb = $b->ws_ok('/ws?r=p');
ok(wait_presence($a, 'p', 2), 'a connection in p on host B too');

$pa->close();
ok(wait_presence($b, 'p', 1), 'the one on host A left');
$ttl = pttl('p');
ok($ttl > $MINUTE,
    "a connection left on host B: the key still lives long ($ttl ms)");

$pb->close();
$ttl = wait_ttl('p', sub { $_[0] <= $MINUTE });
ok($ttl > 0 && $ttl <= $MINUTE,
    "nobody in p on any host: the key expires within a minute ($ttl ms)");
ok(wait_presence($a, 'p', 0), 'and presence of p is 0');

$pa = $a->ws_ok('/ws?r=p');
$ttl = wait_ttl('p', sub { $_[0] > $MINUTE });
ok($ttl > $MINUTE, "a connection in p again: a long TTL again ($ttl ms)");
$pa->close();

# many rooms made and left: none of their keys stays for a day

my @junk = map { "junk:$_:" . 'x' x 100 } 1 .. 30;
my $j = $b->ws_ok('/sub');
$j->subscribe(@junk);

ok(wait_keys(sub { $_[0] > $MINUTE }),
    '30 rooms with a connection: 30 keys that live long')
    or diag(join(' ', map { pttl($_) } @junk));

$j->close();
ok(wait_keys(sub { $_[0] > 0 && $_[0] <= $MINUTE }),
    'the connection left: all 30 keys expire within a minute')
    or diag(join(' ', map { pttl($_) } @junk));

# their positions, read when they were subscribed: kept a day after the
# last read, for ever once something is published there

my @rttl = map { room_pttl($_) } @junk;
is(scalar(grep { $_ > $DAY - $MINUTE && $_ <= $DAY } @rttl), 30,
    'the 30 rooms only read: their signal:room keys expire within a day')
    or diag("@rttl");

my $r = $a->notify('/notify', qq({"room":"$junk[0]","event":"e"}));
is($r->{status} . ' ' . room_pttl($junk[0]), '202 -1',
    'something published to one of them: its key is kept');

# what another program left under a room's keys: nothing is published,
# also to the rooms before it in the batch

$redis->cli('-n', 3, 'SET', 'signal:room:g2', 'garbage');
$redis->cli('-n', 3, 'SET', 'signal:h:g4', 'garbage');
my $g1 = $a->ws_ok('/ws?r=g1');
for my $bad ('g2', 'g4') {
    $r = $a->notify('/notify', '{"events":[{"room":"g1","event":"e"},'
        . qq({"room":"$bad","event":"e"}]}));
    like($r->{status} . ' ' . ($r->{body} // ''), qr/^50\d .*$bad/,
        "a batch to g1 and $bad, whose key holds a string: refused, "
        . 'naming the room');
}
ok($g1->expect_nothing(0.3) && room_pttl('g1') != -1,
    'nothing of the batches was published to g1');
$g1->close();

# Redis stops answering (SIGSTOP): the links see it

my $member = $a->ws_ok('/ws?r=s');
my $late = $a->ws_ok('/sub');

$redis->pause();
my $t0 = time();

# a subscription in flight, for the subscriber connection to wait on
$late->send_json({ type => 'subscribe', room => 'stalled', id => 1 });

my $dt = wait_links($a, 'not ready', 5) ? time() - $t0 : undef;
ok(defined $dt, 'Redis stopped: the links of host A are not ready')
    or diag('links: ' . links($a));
ok(defined $dt && $dt < 2.0, 'within 2 x signal_redis_command_timeout '
    . '+ margin (' . (defined $dt ? sprintf('%.2fs', $dt) : 'never') . ')');

$r = $a->notify('/notify', '{"room":"s","event":"lost"}');
is($r->{status} . ' ' . ($r->{json}{error} // ''), '503 redis_unavailable',
    'notify meanwhile: 503 redis_unavailable (nothing sent)');

$redis->resume();

ok(wait_links($a, 'ready', 5) && wait_links($b, 'ready', 5),
    'Redis answers again: the links are ready again')
    or diag('links: ' . links($a) . ' / ' . links($b));

my $reply = $late->recv_json(3) // {};
is(($reply->{type} // '') . ':' . ($reply->{id} // ''), 'subscribed:1',
    'the subscription asked during the stall is confirmed')
    or diag(explain($reply));

$r = $a->notify('/notify', '{"events":[{"room":"s","event":"back"},'
    . '{"room":"stalled","event":"back"}]}');
is($r->{status}, 202, 'publishing works again');
is(event($member), 's/back', 'a member of a room from before gets it');
is(event($late), 'stalled/back', 'and the member that subscribed meanwhile');

ok($member->expect_nothing(0.2), 'the event of the stall was not published');

$redis->stop();

###############################################################################

# PTTL of a room's position key (-2: no key, -1: kept)
sub room_pttl {
    my $v = $redis->cli('-n', 3, 'PTTL', "signal:room:$_[0]");
    return $v =~ /^(-?\d+)/ ? $1 : -3;
}

# PTTL of a room's presence key (-2: no key)
sub pttl {
    my $v = $redis->cli('-n', 3, 'PTTL', "signal:presence:$_[0]");
    return ($v // '') =~ /^(-?\d+)$/ ? $1 : -3;
}

# the PTTL of a room's key once $cond holds of it (3 s at most)
sub wait_ttl {
    my ($room, $cond) = @_;
    my $deadline = time() + 3;
    for ( ;; ) {
        my $v = pttl($room);
        return $v if $cond->($v) || time() >= $deadline;
        sleep(0.05);
    }
}

# 1 once $cond holds of the PTTL of every @junk room (3 s at most)
sub wait_keys {
    my ($cond) = @_;
    my $deadline = time() + 3;
    for ( ;; ) {
        return 1 unless grep { !$cond->(pttl($_)) } @junk;
        return 0 if time() >= $deadline;
        sleep(0.1);
    }
}

sub presence {
    my ($t, $room) = @_;
    return $t->http('GET', "/presence?room=$room")->{json} // {};
}

# 1 once presence of $room (through host $t) has $n connections
sub wait_presence {
    my ($t, $room, $n) = @_;
    for (1 .. 60) {
        my $p = presence($t, $room);
        return 1 if ($p->{connections} // -1) == $n && !$p->{partial};
        sleep(0.05);
    }
    diag(explain(presence($t, $room)));
    return 0;
}

# "command subscriber" states of every worker of host $t
sub links {
    my ($t) = @_;
    my $st = $t->http('GET', '/status')->{json} // {};
    return join(' ', map { @{$_->{redis} // {}}{qw(command subscriber)} }
        @{$st->{workers} // []});
}

# 1 once both links of host $t's worker are in $state ("not ready": any
# other than ready) within $timeout (3) seconds
sub wait_links {
    my ($t, $state, $timeout) = @_;
    my $deadline = time() + ($timeout // 3);
    for ( ;; ) {
        my @s = split ' ', links($t);
        return 1 if @s == 2 && !grep {
            $state eq 'not ready' ? $_ eq 'ready' : $_ ne $state } @s;
        return 0 if time() >= $deadline;
        sleep(0.02);
    }
}

# "room/event" of the next event, or '' when none came
sub event {
    my $m = $_[0]->recv_json(3) // {};
    return ($m->{type} // '') eq 'event' ? "$m->{room}/$m->{event}" : '';
}

###############################################################################
