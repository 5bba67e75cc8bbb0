#!/usr/bin/perl

# Tests for ngx_signal_module: presence.  Connections and distinct users
# per room, counted in the shared zone across workers, going up and down
# as clients subscribe, leave, close, reset the TCP connection or lose
# their worker to SIGKILL; the signal_presence location and its errors;
# wakeups only for the workers with members.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(sleep time);

###############################################################################

my $t = Test::Signal->new();

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
            signal_user $arg_user;
            signal_allow_subscribe "*";
            signal_max_name_length 16;
        }

        location /presence {
            signal_presence;
        }

        location /presence/lobby {
            signal_presence lobby;
        }

        location ~ ^/rooms/(?<room>[^/]+)/presence$ {
            signal_presence $room;
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

$t->run()->plan(31);

###############################################################################

is_deeply(presence('nobody'), { room => 'nobody', connections => 0,
    users => 0 }, 'a room nobody is in');

# anonymous connections count as connections, not users

my @anon = map { $t->subscriber('/ws', 'lobby') } 1 .. 3;
is_deeply(presence('lobby'), { room => 'lobby', connections => 3,
    users => 0 }, 'three anonymous connections');
is_deeply(get('/presence/lobby'), presence('lobby'),
    'signal_presence with a fixed room');
is(get('/rooms/lobby/presence')->{connections}, 3,
    'signal_presence with a room from the location');

# users: several connections of one user count once, across workers

# (8 of alice at least, more until both workers have some: the kernel
# does not promise to spread them)
my @alice = both_workers(8, sub { $t->subscriber('/ws?user=alice', 'team') });
my $na = @alice;
my $bob = $t->subscriber('/ws?user=bob', 'team');
push @anon, $t->subscriber('/ws', 'team');

ok($na <= 40, "alice's $na connections on both workers");

is_deeply(presence('team'), { room => 'team', connections => $na + 2,
    users => 2 }, "$na of alice, one bob, one anonymous: 2 users");

$_->close() for splice(@alice, 0, $na - 1);
ok(wait_presence('team', 3), 'closing all but one of alice: 3 connections')
    or diag(explain(presence('team')));
is(presence('team')->{users}, 2, 'alice still counts once');

$alice[0]->send_json({ type => 'unsubscribe', room => 'team' });
is($alice[0]->recv_json()->{type}, 'unsubscribed', 'alice unsubscribes');
is_deeply(presence('team'), { room => 'team', connections => 2,
    users => 1 }, 'alice is gone from the room');
is(presence('lobby')->{connections}, 3, 'other rooms unchanged');

# an abrupt TCP reset (RST, no close frame) is counted out too

reset_tcp($bob);
ok(wait_presence('team', 1), 'reset connection counted out')
    or diag(explain(presence('team')));
is(presence('team')->{users}, 0, 'bob is gone');

# families count their own subscribers

my @fam = map { $t->subscriber('/ws?user=u' . $_, 'bulk:*') } 1 .. 2;
is_deeply(presence('bulk:*'), { room => 'bulk:*', connections => 2,
    users => 2 }, 'a family');
is(presence('bulk:1')->{connections}, 0, 'a member room of it is apart');

# the room argument is URL-decoded

is(get('/presence?room=bulk%3A%2A')->{connections}, 2, 'decoded argument');

# SIGKILL: the counts of the dead worker are taken out when it is replaced

my $nk = 0;
my @many = both_workers(12,
    sub { $t->subscriber('/ws?user=k' . (++$nk % 3), 'kill') });
$nk = @many;
is(presence('kill')->{connections}, $nk,
    "$nk connections before the kill, on both workers");

my ($victim) = $t->workers();
kill 'KILL', $victim;
ok(wait_replaced($victim), 'the killed worker was replaced');

my $lost = grep { $_->is_closed(2) } @many;
ok($lost > 0 && $lost < $nk, "the kill cut $lost of $nk connections");
ok(wait_presence('kill', $nk - $lost), 'presence counts the survivors only')
    or diag(explain(presence('kill')));

my %users = map { $_ => 1 } map { 'k' . ($_ % 3) }
    grep { !$many[$_ - 1]{eof} } 1 .. $nk;
is(presence('kill')->{users}, scalar keys %users, 'users of the survivors')
    or diag(explain(presence('kill'), \%users));
is(presence('lobby')->{connections},
    3 - grep({ $_->is_closed(0.3) } @anon[0 .. 2]),
    'lobby counts its survivors');

$t->ignore_log(qr/exited on signal 9/);

# only workers with members are woken: 300 events to a room nobody is in
# wake the other worker about once (to move its log cursor), not 300 times

my $before = wakeups();
$t->publish('empty', 'e', $_) for 1 .. 300;
my $woken = wakeups() - $before;
ok($woken <= 6, "300 events nobody listens to: $woken wakeups");

# connect until both workers got one (status tells which one grew)

my (@both, %on);
for (1 .. 40) {
    my %was = map { $_->{pid} => $_->{connections} } @{status()->{workers}};
    push @both, $t->subscriber('/ws', 'busy');
    $on{$_->{pid}} = 1 for grep { $_->{connections} > ($was{$_->{pid}} // 0) }
        @{status()->{workers}};
    last if keys %on == 2;
}
ok(keys %on == 2, 'members of "busy" on both workers');

$before = wakeups();
$t->publish('busy', 'e', $_) for 1 .. 50;
$woken = wakeups() - $before;
ok($woken >= 10, "50 events to a room on both workers: $woken wakeups");

my $all = 1;
for my $c (@both) {
    my $n = grep { $_ && $_->{type} eq 'event' }
        map { $c->recv_json(2) } 1 .. 50;
    $all = 0 unless $n == 50;
}
ok($all, 'and every member got every event');

# errors

my $r = $t->http('GET', '/presence');
is($r->{status}, 400, 'no room: 400');
like($r->{json}{detail}, qr/room=/, 'the error says how to name it');

$r = $t->http('GET', '/presence?room=bad%20name');
is($r->{status}, 400, 'invalid room: 400');

$r = $t->http('POST', '/presence?room=lobby', body => '{}');
is($r->{status}, 405, 'POST: 405');

$r = $t->ws('/ws?user=' . ('x' x 17));
is($r->{status}, 400, 'user id longer than signal_max_name_length: 400');

###############################################################################

sub get {
    my ($uri) = @_;
    my $res = $t->http('GET', $uri);
    die "$uri: $res->{status}\n" unless $res->{status} == 200;
    return $res->{json};
}

sub presence { get('/presence?room=' . $_[0]) }

sub status { get('/status') }

# $min connections made by $make, and more (up to 40) until connections
# were added on both workers
sub both_workers {
    my ($min, $make) = @_;
    my %was = map { $_->{pid} => $_->{connections} } @{status()->{workers}};
    my @c;
    while (@c < 40) {
        push @c, $make->();
        next if @c < $min;
        my @grew = grep { $_->{connections} > ($was{$_->{pid}} // 0) }
            @{status()->{workers}};
        last if @grew == 2;
    }
    return @c;
}

sub wakeups {
    my $n = 0;
    $n += $_->{wakeups} for @{status()->{workers}};
    return $n;
}

# 1 once the room has $n connections (within 3 seconds).
sub wait_presence {
    my ($room, $n) = @_;
    for (1 .. 60) {
        return 1 if presence($room)->{connections} == $n;
        sleep(0.05);
    }
    return 0;
}

sub wait_replaced {
    my ($pid) = @_;
    for (1 .. 50) {
        my @w = $t->workers();
        return 1 if @w == 2 && !grep { $_ == $pid } @w;
        sleep(0.1);
    }
    return 0;
}

# Closes the TCP connection with a RST: linger on, timeout 0.
sub reset_tcp {
    my ($ws) = @_;
    setsockopt($ws->{sock}, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0))
        or die "SO_LINGER: $!\n";
    close($ws->{sock});
}

###############################################################################
