#!/usr/bin/perl

# Tests for ngx_signal_module: who pays, in the zone's presence quota, for
# what a connection makes the zone hold.  The subject (sub) of a verified
# token pays from its user= share; a connection without a verified token,
# or with a token without sub, pays from the anonymous= pool, whatever
# signal_user says.  When an account's connection leaves a room that
# anonymous connections stay in, what the account paid for the room is
# charged to the anonymous pool from then on.  signal_status shows the
# quota's bytes and limits, and they are back to 0 once every client is
# gone.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use Time::HiRes qw(sleep time);

###############################################################################

my $SECRET = 'q' x 16 . '-quota-payers-secret-32';

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

worker_processes 1;

events {
}

http {
    access_log %%TESTDIR%%/access.log;
    client_body_temp_path %%TESTDIR%%/client_body_temp;
    proxy_temp_path %%TESTDIR%%/proxy_temp;
    fastcgi_temp_path %%TESTDIR%%/fastcgi_temp;
    uwsgi_temp_path %%TESTDIR%%/uwsgi_temp;
    scgi_temp_path %%TESTDIR%%/scgi_temp;
    default_type application/octet-stream;

    signal_zone payers:1m reserve=10% anonymous=10% user=2%;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        # the limits under test are the zone's, not these
        signal_max_rooms_per_connection 2000;
        signal_subscribe_rate 100000;
        signal_max_name_length 256;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /u {
            signal_websocket;
            signal_user \$arg_user;
            signal_allow_subscribe "*";
        }

        location /app {
            signal_websocket;
            signal_jwt_secret "$SECRET";
            signal_allow_subscribe "*";
        }

        location /dev {
            signal_websocket;
            signal_jwt_secret "$SECRET";
            signal_user \$arg_device;
            signal_allow_subscribe "*";
        }

        location /jwt {
            signal_websocket;
            signal_jwt_secret "$SECRET";
            signal_user \$signal_claim_sub;
            signal_allow_subscribe "*";
        }

        location /status {
            signal_status;
        }
    }
}

EOF

$t->run()->plan(27);

###############################################################################

my $exp = int(time()) + 600;
my ($nosub, $alice, $bob, $carol) = $t->jwt(
    map { { alg => 'HS256', secret => $SECRET, payload => $_ } }
    { exp => $exp }, map { { sub => $_, exp => $exp } } qw/alice bob carol/);

my $z = zone();
ok($z->{anonymous_max} > 0 && $z->{presence_max} > 4 * $z->{anonymous_max}
    && $z->{presence} == 0 && $z->{anonymous} == 0,
    'status: the zone\'s quota, nothing used at start')
    or diag(explain($z));

# (a) a token without sub pays from the anonymous pool

my $ns = $t->ws_ok('/app', headers => { Authorization => "Bearer $nosub" });
my ($held, $err) = fill($ns, 'a:');

is($err->{code}, 'zone_full',
    "a token without sub: zone_full after $held new rooms")
    or diag(explain($err));

$z = zone();
ok($z->{anonymous} <= $z->{anonymous_max}
    && $z->{anonymous_max} - $z->{anonymous} < 2048,
    "at the anonymous limit ($z->{anonymous} of $z->{anonymous_max})")
    or diag(explain($z));
ok($held >= 20 && $z->{anonymous} == $z->{presence},
    'all it made is charged to the anonymous pool')
    or diag(explain($z));

my $anon = $t->ws_ok('/ws');
is(sub_reply($anon, name('a:anon:'))->{code}, 'zone_full',
    'a connection without a token shares that pool: zone_full');

my $anonymous = $z->{anonymous};
my $b1 = $t->ws_ok('/app', headers => { Authorization => "Bearer $bob" });
is(join(',', grep { $_ ne 'subscribed' }
    map { sub_reply($b1, name("a:bob:$_:"))->{type} } 1 .. 5), '',
    'a token with a sub still subscribes to new rooms');
$z = zone();
ok($z->{anonymous} == $anonymous && $z->{presence} > $anonymous,
    'charged to its account, not to the anonymous pool')
    or diag(explain($z));

close_all($ns, $anon, $b1);
ok(zero(), 'all closed: the quota holds nothing') or diag(explain(zone()));

# (b) signal_user from a query argument does not make another payer: one
# sub, two "devices", one user= share

my $da = $t->ws_ok('/dev?device=a',
    headers => { Authorization => "Bearer $alice" });
($held, $err) = fill($da, 'b:a:');
is($err->{code}, 'user_limit',
    "sub alice, device=a: user_limit after $held new rooms")
    or diag(explain($err));
ok($held >= 10, 'after holding some rooms first');

my $db = $t->ws_ok('/dev?device=b',
    headers => { Authorization => "Bearer $alice" });
is(sub_reply($db, name('b:b:1:'))->{code}, 'user_limit',
    'the same sub with device=b: user_limit (one share)');

my $dc = $t->ws_ok('/dev?device=a',
    headers => { Authorization => "Bearer $carol" });
is(sub_reply($dc, name('b:carol:'))->{type}, 'subscribed',
    'another sub with device=a: subscribed');
is(zone()->{anonymous}, 0, 'nothing of theirs is anonymous');

close_all($da, $db, $dc);
ok(zero(), 'all closed: the quota holds nothing') or diag(explain(zone()));

# (c) alice's rooms that anonymous connections stay in are charged to the
# anonymous pool once she leaves: her share comes back

my $a1 = $t->ws_ok('/app', headers => { Authorization => "Bearer $alice" });
my @rooms;
($held, $err) = fill($a1, 'c:', \@rooms);
is($err->{code}, 'user_limit',
    "sub alice: user_limit after $held new rooms")
    or diag(explain($err));

my $stay = $t->ws_ok('/ws');
is(join(',', grep { $_ ne 'subscribed' }
    map { sub_reply($stay, $_)->{type} } @rooms), '',
    'an anonymous client subscribes to the same rooms');

my $before = zone();

$a1->send_close(1000);
$a1->expect_close();

$z = wait_zone(sub { $_[0]{anonymous} > $before->{anonymous} });
ok($z->{anonymous} > $before->{anonymous} + $held * 256,
    "alice left: the anonymous pool grew ($before->{anonymous} -> "
    . "$z->{anonymous})") or diag(explain($before, $z));
is($z->{anonymous}, $z->{presence},
    'everything the quota holds is the anonymous client\'s');

my $a2 = $t->ws_ok('/app', headers => { Authorization => "Bearer $alice" });
my ($again, $err2) = fill($a2, 'c:again:');
is($again, $held, 'alice, a new connection: as many new rooms as before');
is($err2->{code}, 'user_limit', 'then user_limit again');

close_all($a2, $stay);
ok(zero(), 'all closed: the quota holds nothing') or diag(explain(zone()));

# (d) signal_user "bob" without a token and the account bob in one room

my $ub = $t->ws_ok('/u?user=bob');
is(sub_reply($ub, 'shared')->{type}, 'subscribed',
    'anonymous user=bob subscribes to a room');
my $jb = $t->ws_ok('/jwt', headers => { Authorization => "Bearer $bob" });
is(sub_reply($jb, 'shared')->{type}, 'subscribed',
    'sub bob subscribes to the same room');

close_all($ub, $jb);
ok(zero(), 'both closed: the quota holds nothing (no account left over)')
    or diag(explain(zone()));

# the other way round: the account first, it leaves first

$jb = $t->ws_ok('/jwt', headers => { Authorization => "Bearer $bob" });
$ub = $t->ws_ok('/u?user=bob');
is(join(',', map { sub_reply($_, 'shared2')->{type} } $jb, $ub),
    'subscribed,subscribed', 'sub bob, then anonymous user=bob subscribe');

close_all($jb);
$z = wait_zone(sub { $_[0]{anonymous} > 0 });
ok($z->{anonymous} > 0, 'sub bob left: the room is the anonymous pool\'s')
    or diag(explain($z));

close_all($ub);
ok(zero(), 'both closed: the quota holds nothing') or diag(explain(zone()));

###############################################################################

# the zone's part of signal_status
sub zone {
    my $r = $t->http('GET', '/status');
    return ref $r->{json} eq 'HASH' && ref $r->{json}{zone} eq 'HASH'
        ? $r->{json}{zone} : {};
}

# the zone once $cond holds of it (2 s at most), or as it is then
sub wait_zone {
    my ($cond) = @_;
    my $deadline = time() + 2;
    for ( ;; ) {
        my $z = zone();
        return $z if $cond->($z) || time() >= $deadline;
        sleep(0.05);
    }
}

# 1 once the quota holds nothing (2 s at most)
sub zero {
    my $z = wait_zone(sub { defined $_[0]{presence}
        && $_[0]{presence} == 0 && $_[0]{anonymous} == 0 });
    return defined $z->{presence} && $z->{presence} == 0
        && $z->{anonymous} == 0;
}

# closes each connection with the close handshake
sub close_all {
    for my $ws (@_) {
        $ws->send_close(1000);
        $ws->expect_close();
        $ws->close();
    }
}

# Subscribes $ws to new rooms "$prefix<n>:xxx" until a refusal; the number
# subscribed and the refusal ({} if none came in 3000); the rooms are
# added to @$rooms.
sub fill {
    my ($ws, $prefix, $rooms) = @_;
    for my $n (0 .. 2999) {
        my $room = name("$prefix$n:");
        my $j = sub_reply($ws, $room);
        return ($n, $j) if $j->{type} ne 'subscribed';
        push @$rooms, $room if $rooms;
    }
    return (3000, {});
}

# a room name of 200 bytes starting with $prefix
sub name {
    my ($prefix) = @_;
    return $prefix . 'x' x (200 - length $prefix);
}

# the reply to a subscribe: {type => "subscribed"} or the error
sub sub_reply {
    my ($ws, $room) = @_;
    $ws->send_json({ type => 'subscribe', room => $room });
    my $j = $ws->recv_json() // {};
    $j->{type} //= 'nothing';
    $j->{code} //= '';
    return $j;
}

###############################################################################
