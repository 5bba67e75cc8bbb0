#!/usr/bin/perl

# Tests for ngx_signal_module: brief scenarios S1 and S2. Admins connect
# to /ws/admin (room "admin"), startup tabs to /ws?startup=N (room
# "startup:N"). A signal assigned to startup 42 reaches every tab of
# startup 42 and nobody else; assignment:created reaches the admins; one
# notify with several rooms gives each startup exactly its own event.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal qw(strip_epoch);
use Test::Signal::WS qw(from_json);

use JSON::PP ();

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

        location = /ws/admin {
            signal_websocket;
            signal_join admin;
        }

        location = /ws {
            signal_websocket;
            signal_join "startup:$arg_startup";
        }

        location = /internal/notify {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(26);

###############################################################################

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my %epoch;    # of each room: every event of it has this one

my @admins = map { $t->ws_ok('/ws/admin') } 1 .. 2;
my @tabs42 = map { $t->ws_ok('/ws?startup=42') } 1 .. 2;
my $tab43 = $t->ws_ok('/ws?startup=43');
my $tab420 = $t->ws_ok('/ws?startup=420');
my $tab4 = $t->ws_ok('/ws?startup=4');

my @everyone = (@admins, @tabs42, $tab43, $tab420, $tab4);

# S1: the admin assigns signal 7 to startup 42

my $data = '{"signalId":7,"title":"Série A \u2014 follow-up",'
    . '"assignedBy":{"id":3,"name":"Ana"},"deadline":null,"score":9.5}';

my $r = notify('{"room":"startup:42","event":"signal:assigned","data":'
    . $data . '}');
is($r->{status}, 202, 'S1: notify signal:assigned to startup:42');
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'startup:42', event => 'signal:assigned', seq => 1 } ] },
    'S1: 202 body');

for my $i (0, 1) {
    my $m = $tabs42[$i]->recv_message() // { payload => '' };
    like($m->{payload}, qr/"data":\Q$data\E[,}]/,
        "S1: tab " . ($i + 1) . " of startup 42 got the data as sent");
    is_deeply(strip_epoch(from_json($m->{payload}), \%epoch),
        { type => 'event', room => 'startup:42', event => 'signal:assigned',
            data => from_json($data), seq => 1 },
        "S1: tab " . ($i + 1) . " of startup 42 got signal:assigned");
}
ok(nothing(@everyone), 'S1: nobody else got it, tabs got it once');

# S1: assignment:created reaches all admins only

$r = notify({ room => 'admin', event => 'assignment:created',
    data => { assignmentId => 11, startupId => 42, signalId => 7 } });
is($r->{status}, 202, 'S1: notify assignment:created to admin');

for my $i (0, 1) {
    is_deeply(strip_epoch($admins[$i]->recv_json(), \%epoch),
        { type => 'event', room => 'admin', event => 'assignment:created',
        data => { assignmentId => 11, startupId => 42, signalId => 7 },
        seq => 1 },
        'S1: admin ' . ($i + 1) . ' got assignment:created');
}
ok(nothing(@everyone), 'S1: no startup tab got it');

# S1 as the backend would send it: both events in one batch

$r = notify({ events => [
    { room => 'startup:42', event => 'signal:assigned',
        data => { signalId => 8 } },
    { room => 'admin', event => 'assignment:created',
        data => { assignmentId => 12 } } ] });
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'startup:42', event => 'signal:assigned', seq => 2 },
    { room => 'admin', event => 'assignment:created', seq => 2 } ] },
    'S1 batch: 202 body');
is(join(' ', map { summary($_->recv_json()) } @tabs42),
    'startup:42/signal:assigned/2/8 startup:42/signal:assigned/2/8',
    'S1 batch: both tabs of startup 42');
is(join(' ', map { summary($_->recv_json()) } @admins),
    'admin/assignment:created/2/12 admin/assignment:created/2/12',
    'S1 batch: both admins');
ok(nothing(@everyone), 'S1 batch: nothing else');

# a tab cannot listen to the admin room

$tab43->send_json({ type => 'subscribe', room => 'admin' });
is(($tab43->recv_json() // {})->{code}, 'forbidden',
    'a startup tab may not subscribe to admin');

# S2: the same signal assigned to three startups in one notify

my @s = map { $t->ws_ok("/ws?startup=$_") } 1 .. 3;
my $s2b = $t->ws_ok('/ws?startup=2');

$r = notify({ rooms => [ 'startup:1', 'startup:2', 'startup:3' ],
    event => 'signal:assigned', data => { signalId => 9 } });
is($r->{status}, 202, 'S2: notify with rooms');
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    map { { room => "startup:$_", event => 'signal:assigned', seq => 1 } }
    1 .. 3 ] }, 'S2: one entry per startup');

is(join(' ', map { summary($_->recv_json()) } @s, $s2b),
    'startup:1/signal:assigned/1/9 startup:2/signal:assigned/1/9 '
    . 'startup:3/signal:assigned/1/9 startup:2/signal:assigned/1/9',
    'S2: each startup tab got its own event');
ok(nothing(@s, $s2b, @everyone), 'S2: exactly one each, nobody else');

# S2 with per-startup data in one batch

$r = notify({ events => [ map { { room => "startup:$_",
    event => 'signal:assigned', data => { signalId => 9,
    assignmentId => 100 + $_ } } } 1 .. 3 ] });
is($r->{status}, 202, 'S2 batch: 202');
my @got = map { my $j = $_->recv_json() // {};
    ($j->{room} // '?') . '=' . ($j->{data}{assignmentId} // '?') } @s, $s2b;
is("@got", 'startup:1=101 startup:2=102 startup:3=103 startup:2=102',
    'S2 batch: each startup got its own data');
ok(nothing(@s, $s2b, @everyone), 'S2 batch: nothing else');

# S10: several tabs, several events: each once, in order

for my $i (3 .. 7) {
    notify({ room => 'startup:42', event => 'signal:updated',
        data => { signalId => $i } });
}
is(join(',', map { my $ws = $_;
        join(' ', map { ($ws->recv_json() // {})->{seq} // '?' } 1 .. 5) }
    @tabs42), '3 4 5 6 7,3 4 5 6 7', 'S10: both tabs, in seq order');
ok(nothing(@everyone), 'S10: no duplicates');

$_->send_close(1000) for @everyone, @s, $s2b;
is(scalar $admins[0]->expect_close(), 1000, 'close');
$_->expect_close(1) for @everyone, @s, $s2b;

###############################################################################

sub notify {
    my ($body) = @_;
    return $t->notify('/internal/notify', $body);
}

# "room/event/seq/first value of data"; all '?' unless the event is in
# the epoch of its room
sub summary {
    my ($j) = @_;
    $j = strip_epoch($j, \%epoch) // {};
    my $d = ref $j->{data} eq 'HASH' ? (values %{$j->{data}})[0] : '?';
    return join('/', map { $_ // '?' } @$j{qw/room event seq/}, $d);
}

# 1 if none of the clients receives a frame within a short time
sub nothing { Test::Signal::WS->expect_silence([@_], 0.15, 0.01) }

###############################################################################
