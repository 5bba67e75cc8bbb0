#!/usr/bin/perl

# Tests for ngx_signal_module: what a variable gives to signal_join,
# signal_allow_subscribe and signal_user is literal text.  A "*" (or any
# other character that is not a name character) from a query argument, a
# map or a JWT claim refuses the handshake instead of turning a room into
# a family or widening a rule; no event of another tenant reaches anyone.
# A "*" written in the configuration itself still works.
# $signal_claim_startupId reads the claim "startupId" exactly.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use Time::HiRes qw(time);

###############################################################################


my $t = Test::Signal->new();
my $d = $t->dir();

my $SECRET = 'r' x 16 . '-room-variables-secret';

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    # real spaces, quotes and the like: \$arg_ keeps %20 as it is
    map \$arg_u \$mapped_user {
        default    "";
        alice      alice;
        star       "*";
        space      "a b";
        quote      'a"b';
        backslash  "a\\\\b";
        tab        "a\\tb";
        utf8       "caf\xc3\xa9";
    }

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /any {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /join {
            signal_websocket;
            signal_join "startup:\$arg_startup";
        }

        location /allow {
            signal_websocket;
            signal_allow_subscribe "\$arg_pat";
        }

        location /allow42 {
            signal_websocket;
            signal_allow_subscribe "startup:\$arg_s:*";
        }

        location /bulk {
            signal_websocket;
            signal_join "bulk_upload:*";
        }

        location /user {
            signal_websocket;
            signal_user \$arg_user;
            signal_allow_subscribe "*";
        }

        location /mapuser {
            signal_websocket;
            signal_user \$mapped_user;
            signal_allow_subscribe "*";
        }

        location /jwt {
            signal_websocket;
            signal_jwt_secret "$SECRET";
            signal_join "startup:\$signal_claim_startupId";
            signal_user \$signal_claim_sub;
        }

        location /notify {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(57);

###############################################################################

my %base = (sub => 'u1', startupId => 1, exp => int(time()) + 600);

my ($tok_ok, $tok_star, $tok_fam, $tok_upper, $tok_space) = tokens(
    { %base },
    { %base, startupId => '*' },
    { %base, startupId => '1:*' },
    { sub => 'u1', STARTUPID => 1, exp => $base{exp} },
    { %base, sub => 'a b' });

# tenants of startup:1 and startup:2, joined the legitimate way

my $one = $t->ws_ok('/join?startup=1');
my $two = $t->ws_ok('/join?startup=2');

# the attack: a "*" from the query string or from a claim in signal_join

my @attempts = (
    [ '?startup=*', $t->ws('/join?startup=*') ],
    [ '?startup=1:*', $t->ws('/join?startup=1:*') ],
    [ 'claim "startupId":"*"', $t->ws('/jwt', headers => {
        Authorization => "Bearer $tok_star" }) ],
    [ 'claim "startupId":"1:*"', $t->ws('/jwt', headers => {
        Authorization => "Bearer $tok_fam" }) ],
);

for my $try (@attempts) {
    my ($name, $r) = @$try;
    is(st($r), 403, "join from $name: 403");
    is(ref $r eq 'HASH' && $r->{json} ? $r->{json}{error} : undef,
        'join_refused', "join from $name: join_refused");
}

like($attempts[0][1]{json} ? $attempts[0][1]{json}{detail} // '' : '',
    qr/arg_startup/, 'the detail names the variable');
like($attempts[2][1]{json} ? $attempts[2][1]{json}{detail} // '' : '',
    qr/startupid/i, 'the detail names the claim');

# events of startup:1 and startup:2 while the attempts were made

$t->publish('startup:1', 'secret', '{"for":1}');
$t->publish('startup:2', 'secret', '{"for":2}');

my @open = map { $_->[1] } grep { st($_->[1]) == 101 } @attempts;
my $leaked = 0;
for my $ws (@open) {
    while (my $j = $ws->recv_json(0.5)) {
        $leaked++ if ($j->{type} // '') eq 'event';
    }
}
is($leaked, 0, 'no event of startup:1 or startup:2 reached an attacker');

is(room_of($one), 'startup:1', 'startup:1 gets its own event');
is(room_of($two), 'startup:2', 'startup:2 gets its own event');
ok(Test::Signal::WS->expect_silence([ $one, $two ], 0.2, 0.05),
    'and nothing of the other tenant');

# a "*" that is URL-encoded stays "%2A" in $arg_: not a name either

my $r = $t->ws('/join?startup=%2A');
ok(st($r) == 403 && ($r->{json}{error} // '') eq 'join_refused',
    'join from ?startup=%2A: 403 join_refused');

# an empty value gives an invalid room: 403 (as before)

$r = $t->ws('/join');
ok(st($r) == 403 && ($r->{json}{error} // '') eq 'join_refused',
    'join without the argument: 403 join_refused');
$r = $t->ws('/join?startup=');
ok(st($r) == 403 && ($r->{json}{error} // '') eq 'join_refused',
    'join with an empty argument: 403 join_refused');

# signal_allow_subscribe from a query argument

for my $pat ('*', 'startup:*', '%2A', 'startup:1:*') {
    $r = $t->ws("/allow?pat=$pat");
    is(st($r), 403, "allow_subscribe from ?pat=$pat: 403");
    is(ref $r eq 'HASH' && $r->{json} ? $r->{json}{error} : undef,
        'allow_refused', "allow_subscribe from ?pat=$pat: allow_refused");
    diag("then subscribe startup:1: " . sub_reply($r, 'startup:1'))
        if st($r) == 101;
}

like(eval { $t->ws('/allow?pat=*')->{json}{detail} } // '', qr/arg_pat/,
    'allow_refused: the detail names the variable');

# a plain value still names one room

my $five = $t->ws_ok('/allow?pat=startup:5');
is(sub_reply($five, 'startup:5'), 'subscribed',
    'allow_subscribe from ?pat=startup:5: that room');
is(sub_reply($five, 'startup:6'), 'forbidden', 'and not another');

# an empty pattern matches nothing

for my $path ('/allow', '/allow?pat=') {
    my $ws = $t->ws($path);
    is(st($ws), 101, "allow_subscribe empty ($path): handshake ok");
    next unless st($ws) == 101;
    is(join(' ', map { sub_reply($ws, $_) } 'startup:1', 'a', 'startup:*'),
        'forbidden forbidden forbidden',
        "allow_subscribe empty ($path): nothing may be subscribed");
}

# a "*" in the configuration itself still works

my $bulk = $t->ws_ok('/bulk');
$t->publish('other:7', 'p', '0');
$t->publish('bulk_upload:7', 'p', '1');
is(room_of($bulk), 'bulk_upload:7', 'signal_join "bulk_upload:*" works');
ok($bulk->expect_nothing(0.2), 'and it gets nothing else');

my $s42 = $t->ws_ok('/allow42?s=42');
is(sub_reply($s42, 'startup:42:x'), 'subscribed',
    'allow_subscribe "startup:$arg_s:*" with s=42: startup:42:x');
is(sub_reply($s42, 'startup:43:x'), 'forbidden', 'but not startup:43:x');
is(sub_reply($s42, 'startup:42'), 'forbidden', 'nor startup:42 itself');

$r = $t->ws('/allow42?s=*');
ok(st($r) == 403 && ($r->{json}{error} // '') eq 'allow_refused',
    'allow_subscribe "startup:$arg_s:*" with s=*: 403 allow_refused');

my $any = $t->ws_ok('/any');
is(sub_reply($any, 'startup:9'), 'subscribed',
    'allow_subscribe "*" in the configuration: allowed');

# signal_user: 1..max bytes of visible ASCII without * " \, or empty

for my $case ([ '/user?user=*', 'from $arg_user: "*"' ],
    [ '/user?user=a*', 'from $arg_user: "a*"' ],
    [ '/user?user=a"b', 'from $arg_user: a quote' ],
    [ '/user?user=a\\b', 'from $arg_user: a backslash' ],
    [ '/mapuser?u=star', 'from a map: "*"' ],
    [ '/mapuser?u=space', 'from a map: a space' ],
    [ '/mapuser?u=quote', 'from a map: a quote' ],
    [ '/mapuser?u=backslash', 'from a map: a backslash' ],
    [ '/mapuser?u=tab', 'from a map: a tab' ],
    [ '/mapuser?u=utf8', 'from a map: a byte above 0x7e' ])
{
    my ($path, $name) = @$case;
    $r = $t->ws($path);
    ok(st($r) == 400 && ($r->{json}{error} // '') eq 'bad_user',
        "signal_user $name: 400 bad_user")
        or diag(st($r) == 101 ? 101 : "$r->{status} $r->{body}");
}

$r = $t->ws('/jwt', headers => { Authorization => "Bearer $tok_space" });
ok(st($r) == 400 && ($r->{json}{error} // '') eq 'bad_user',
    'signal_user from a claim with a space: 400 bad_user');

is(st($t->ws('/user?user=alice:1@example.com')), 101,
    'signal_user: a plain user id is accepted');
is(st($t->ws('/mapuser?u=alice')), 101,
    'signal_user from a map: a plain user id is accepted');
is(st($t->ws('/mapuser')), 101, 'signal_user empty: anonymous, accepted');

# $signal_claim_startupId reads "startupId", exactly

my $ok = $t->ws('/jwt', headers => { Authorization => "Bearer $tok_ok" });
is(st($ok), 101, 'claim "startupId":1: joins startup:1');

$r = $t->ws('/jwt', headers => { Authorization => "Bearer $tok_upper" });
is(st($r), 403, 'claim "STARTUPID":1 instead of "startupId": 403');
is(ref $r eq 'HASH' && $r->{json} ? $r->{json}{error} : undef,
    'join_refused', 'claim "STARTUPID":1: join_refused');

$t->publish('startup:1', 'late', '2');
is(st($ok) == 101 ? room_of($ok) : '', 'startup:1',
    'the startupId connection gets startup:1 events');
if (st($r) == 101) {
    diag('the STARTUPID connection got ' . room_of($r));
}

###############################################################################

# 101 for an open connection, else the HTTP status
sub st { ref $_[0] eq 'Test::Signal::WS' ? 101 : $_[0]{status} }

# the room of the next event, or '' when none came
sub room_of {
    my ($ws) = @_;
    my $j = $ws->recv_json(2) // {};
    return ($j->{type} // '') eq 'event' ? $j->{room} // '' : '';
}

# "subscribed", or the code of the error reply
sub sub_reply {
    my ($ws, $room) = @_;
    $ws->send_json({ type => 'subscribe', room => $room });
    my $j = $ws->recv_json() // {};
    return $j->{type} && $j->{type} eq 'error' ? $j->{code} // '?'
        : $j->{type} // 'nothing';
}

# HS256 tokens with these claims, made by node (t/interop/jwt.js)
sub tokens {
    return $t->jwt(map { { alg => 'HS256', secret => $SECRET,
        payload => $_ } } @_);
}

###############################################################################
