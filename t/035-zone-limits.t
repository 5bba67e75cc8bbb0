#!/usr/bin/perl

# Tests for ngx_signal_module: the limits of the shared zone.  Presence
# (rooms with members, per-worker counts, users) may use at most
# (100 - reserve)% of signal_zone, anonymous connections together at most
# anonymous%, one authenticated user at most user%.  The attack: anonymous
# connections subscribing to many unique long rooms fill their share and
# get zone_full, while publishing to a room with members and the handshake
# of an authenticated user still work; one user over its share gets
# user_limit while another user is unaffected.  Refusals are logged at
# [warn], rarely; bad signal_zone parameters are refused at start.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use Time::HiRes qw(sleep time);

###############################################################################


my $SECRET = 'z' x 16 . '-zone-limits-secret-32+';

# reserve and anonymous keep their defaults (25% and 50%)
my $ZONE = 'signal_zone limits:1m user=2%;';

my $t = Test::Signal->new();
my $d = $t->dir();

$t->write_file_expand('nginx.conf', conf($ZONE, <<"EOF"));
        # the limits under test are the zone's, not these
        signal_max_rooms_per_connection 1000;
        signal_subscribe_rate 100000;
        signal_max_name_length 256;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /join {
            signal_websocket;
            signal_join "\$arg_r";
        }

        location /jwt {
            signal_websocket;
            signal_jwt_secret "$SECRET";
            signal_user \$signal_claim_sub;
            signal_join "tenant:\$signal_claim_sub";
            signal_allow_subscribe "*";
        }

        location /jwt/join {
            signal_websocket;
            signal_jwt_secret "$SECRET";
            signal_user \$signal_claim_sub;
            signal_join "big:\$arg_r";
            signal_allow_subscribe "*";
        }

        location /notify {
            signal_notify;
        }
EOF

$t->run()->plan(28);

###############################################################################

my $exp = int(time()) + 600;
my ($alice, $bob, $carol) = tokens(map { { sub => $_, exp => $exp } }
    qw/alice bob carol/);

my $refusals = 0;

# a member of an existing room, from before everything

my $victim = $t->subscriber('/ws', 'victim');

# per user: alice subscribes to unique rooms until her share is used

my $a1 = $t->ws_ok('/jwt', headers => { Authorization => "Bearer $alice" });

my ($held, $err) = (0, undef);
for my $n (1 .. 600) {
    my $j = sub_reply($a1, name("u:alice:$n:"));
    if ($j->{type} ne 'subscribed') {
        $err = $j;
        last;
    }
    $held++;
}
$refusals++ if $err;

is($err && $err->{code}, 'user_limit',
    "one user over user=2%: user_limit (after $held rooms)")
    or diag(explain($err));
ok($held >= 10, 'the user held some rooms first');
is($a1->ask('{"type":"ping"}'), '{"type":"pong"}',
    'the refused connection stays open');

my $r = $t->ws('/jwt/join?r=' . name('alice:', 200), headers => {
    Authorization => "Bearer $alice" });
is(st($r), 429, 'a handshake of that user joining a new room: 429');
is(ref $r eq 'HASH' && $r->{json} ? $r->{json}{error} : undef, 'user_limit',
    'with user_limit');
$refusals++ if st($r) != 101;
$r->close() if st($r) == 101;

my $b1 = $t->ws_ok('/jwt', headers => { Authorization => "Bearer $bob" });
is(join(',', grep { $_ ne 'subscribed' }
    map { sub_reply($b1, name("u:bob:$_:"))->{type} } 1 .. 20), '',
    'another user still subscribes to 20 new rooms');

# her share comes back once her connection is gone

$a1->send_close(1000);
$a1->expect_close();

my $a2 = $t->ws_ok('/jwt', headers => { Authorization => "Bearer $alice" });
my $again = '';
for (1 .. 20) {
    $again = sub_reply($a2, name('u:alice:again:'))->{type};
    last if $again eq 'subscribed';
    sleep(0.05);
}
is($again, 'subscribed', 'the user subscribes again once it closed');

# the attack: 20 anonymous connections, 256 unique 120-byte rooms each,
# far more than the whole zone can hold

my @anon = map { $t->ws_ok('/ws') } 1 .. 20;
my (%codes, $other);

for my $n (1 .. 256) {
    for my $i (0 .. $#anon) {
        $anon[$i]->send_json({ type => 'subscribe',
            room => name(sprintf('a:%02d:%03d:', $i, $n)) });
    }
    for my $ws (@anon) {
        my $j = $ws->recv_json() // { type => 'nothing' };
        my $c = $j->{type} eq 'error' ? $j->{code} // '?' : $j->{type};
        $codes{$c}++;
        $other //= $j unless $c eq 'subscribed' || $c eq 'zone_full';
    }
}

$codes{$_} //= 0 for qw/subscribed zone_full/;
ok($codes{zone_full}, 'anonymous subscribers get zone_full '
    . "($codes{zone_full} of 5120)");
$refusals += $codes{zone_full};
ok(!$other, 'and no other error') or diag(explain($other));
ok($codes{subscribed} >= 400,
    "after holding rooms first ($codes{subscribed})");
is(join('', map { $_->ask('{"type":"ping"}') } @anon[0, 10, 19]),
    '{"type":"pong"}' x 3, 'the refused connections stay open');

# publishing to a room with members keeps working: an event of 3000
# bytes (a record of whole pages) and a batch of 50

my $big = 'd' x 3000;
$r = $t->notify('/notify', qq({"room":"victim","event":"still",)
    . qq("data":"$big"}));
is($r->{status}, 202, 'notify to a room with a member: 202')
    or diag("$r->{status} $r->{body}");
is($r->{status} == 202 ? event_of($victim) : '', 'victim/still',
    'and the member receives the event');

$r = $t->notify('/notify', { events => [ map { { room => 'victim',
    event => 'burst', data => { i => $_, pad => 'p' x 200 } } } 1 .. 50 ] });
is($r->{status}, 202, 'a batch of 50 events to it: 202');
my $got = 0;
while ($r->{status} == 202 && $got < 50) {
    last unless event_of($victim) eq 'victim/burst';
    $got++;
}
is($got, 50, 'all 50 received');

# an authenticated user still connects, joins a new room (a long one: it
# needs a fresh page of the zone) and subscribes

my $room = name('big:carol:', 200);
my $c1 = $t->ws('/jwt/join?r=' . substr($room, 4), headers => {
    Authorization => "Bearer $carol" });
is(st($c1), 101, 'a JWT handshake joining a new room: 101')
    or diag("$c1->{status} $c1->{body}");
if (st($c1) == 101) {
    $r = $t->notify('/notify', qq({"room":"$room","event":"hi"}));
    is($r->{status}, 202, 'notify to that room: 202');
    is(event_of($c1), "$room/hi", 'and the user receives the event');
    is(sub_reply($c1, name('u:carol:'))->{type}, 'subscribed',
        'and subscribes to a new room');
} else {
    fail('notify to that room') for 1 .. 3;
}

# an anonymous handshake joining a new room: 503 zone_full

$r = $t->ws('/join?r=' . name('anon:new:'));
is(st($r), 503, 'an anonymous handshake joining a new room: 503');
is(ref $r eq 'HASH' && $r->{json} ? $r->{json}{error} : undef, 'zone_full',
    'with zone_full');
$refusals++ if st($r) != 101;

# the refusals are logged at [warn], at most once per 10 s per worker

my @zone = grep { /signal_zone/ } split /\n/, $t->read_file('error.log');
is(join("\n", grep { /\[(error|crit|alert|emerg)\]/ } @zone), '',
    'no signal_zone line above [warn]');
my $warns = grep { /\[warn\]/ } @zone;
ok($warns >= 1 && $warns <= 8,
    "$refusals refusals: $warns [warn] lines about signal_zone")
    or diag(join("\n", @zone[0 .. ($#zone < 9 ? $#zone : 9)]));

# valid and invalid parameters

my $ok = Test::Signal->new();
$ok->write_file_expand('nginx.conf', conf('signal_zone z:1m reserve=10% '
    . 'anonymous=30% user=5%;', "location /n { signal_notify; }\n"));
eval { $ok->run() };
is($@, '', 'signal_zone z:1m reserve=10% anonymous=30% user=5%: starts');
$ok->stop();

for my $case ([ 'reserve=95%', qr/reserve/ ],
    [ 'anonymous=abc', qr/anonymous/ ])
{
    my ($param, $re) = @$case;
    my $bad = Test::Signal->new();
    $bad->write_file_expand('nginx.conf', conf("signal_zone z:1m $param;",
        "location /n { signal_notify; }\n"));
    eval { $bad->run() };
    my $msg = $@;
    $bad->stop();
    isnt($msg, '', "signal_zone z:1m $param: nginx does not start");
    like($msg, qr/\[emerg\][^\n]*$re/, "signal_zone z:1m $param: a message")
        or diag($msg);
}

###############################################################################

# nginx.conf: the harness's globals, but our own signal_zone line
sub conf {
    my ($zone, $server) = @_;
    return <<"EOF";

%%TEST_GLOBALS%%

worker_processes 2;

events {
    worker_connections 1024;
}

http {
    access_log %%TESTDIR%%/access.log;
    client_body_temp_path %%TESTDIR%%/client_body_temp;
    proxy_temp_path %%TESTDIR%%/proxy_temp;
    fastcgi_temp_path %%TESTDIR%%/fastcgi_temp;
    uwsgi_temp_path %%TESTDIR%%/uwsgi_temp;
    scgi_temp_path %%TESTDIR%%/scgi_temp;
    default_type application/octet-stream;

    $zone

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

$server
    }
}

EOF
}

# a unique room name of $len (120) bytes starting with $prefix
sub name {
    my ($prefix, $len) = @_;
    return $prefix . 'x' x (($len // 120) - length $prefix);
}

# 101 for an open connection, else the HTTP status
sub st { ref $_[0] eq 'Test::Signal::WS' ? 101 : $_[0]{status} }

# the reply to a subscribe: {type => "subscribed"} or the error
sub sub_reply {
    my ($ws, $room) = @_;
    $ws->send_json({ type => 'subscribe', room => $room });
    my $j = $ws->recv_json() // {};
    $j->{type} //= 'nothing';
    return $j;
}

# "room/event" of the next event, or '' when none came
sub event_of {
    my $j = $_[0]->recv_json(2) // {};
    return ($j->{type} // '') eq 'event' ? "$j->{room}/$j->{event}" : '';
}

# HS256 tokens with these claims, made by node (t/interop/jwt.js)
sub tokens {
    return $t->jwt(map { { alg => 'HS256', secret => $SECRET,
        payload => $_ } } @_);
}

###############################################################################
