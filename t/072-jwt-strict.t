#!/usr/bin/perl

# Tests for ngx_signal_module: JWT decisions made strict (issue 12,
# sections 6, 8 and 11). Key selection by kid (a token without kid is
# never tried against a kid= key); strict base64url (no padding, no
# trailing data, no standard-alphabet characters); signal_jwt_require_exp;
# claims with \u0000 refused; claim names matched exactly; a refresh must
# carry the same claims (but exp, iat, nbf, jti) and keeps the old expiry
# when refused; signal_refresh_rate; a token without sub refreshes (the
# worker survives comparing two absent subjects).

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use Time::HiRes qw(sleep time);

###############################################################################


my $t = Test::Signal->new();
my $d = $t->dir();

# A: the secret of the kid=k1 key; B: the secret of the key without kid
my $A = 'a' x 16 . '-kid-k1-secret-32+++';
my $B = 'b' x 16 . '-default-secret-32++';

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

worker_processes 1;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        signal_jwt_secret kid=k1 "$A";
        signal_jwt_secret "$B";
        signal_jwt_leeway 0;
        signal_jwt_token header;

        location /ws {
            signal_websocket;
        }

        location /ws/exp {
            signal_websocket;
            signal_jwt_require_exp on;
        }

        location /ws/admin {
            signal_websocket;
            signal_jwt_require role=admin;
        }

        location /ws/rate {
            signal_websocket;
            signal_refresh_rate 3;
        }
    }
}

EOF

$t->run()->plan(42);

###############################################################################

my %H = (alg => 'HS256');

# 8. key selection: a kid names its key alone; no kid or an unknown kid:
# the keys without kid only

my @kid = (
    [ 'no kid, signed with the kid=k1 secret', {}, $A, 401 ],
    [ 'no kid, signed with the secret without kid', {}, $B, 101 ],
    [ 'kid=k1, signed with its secret', { kid => 'k1' }, $A, 101 ],
    [ 'kid=k1, signed with the secret without kid', { kid => 'k1' }, $B,
        401 ],
    [ 'unknown kid, signed with the secret without kid', { kid => 'k9' },
        $B, 101 ],
    [ 'unknown kid, signed with the kid=k1 secret', { kid => 'k9' }, $A,
        401 ],
);

my @tk = tokens(map { { %H, secret => $_->[2], header => $_->[1],
    payload => { sub => 'u1', exp => int(time()) + 600 } } } @kid);

for my $i (0 .. $#kid) {
    my ($name, undef, undef, $status) = @{$kid[$i]};
    my $r = bearer('/ws', $tk[$i]);
    if ($status == 101) {
        is(st($r), 101, "$name: 101");
    } else {
        refused($r, 401, 'invalid_token', "$name: 401 invalid_token");
    }
}

# 8. strict base64url: no padding, only A-Z a-z 0-9 - _, nothing after

my $hdr = '{"alg":"HS256", "typ":"JWT"}';
my $pay = '{"sub":"u1", "startupId":12}';
die "pick texts whose base64 needs padding\n"
    if length($hdr) % 3 == 0 || length($pay) % 3 == 0;

# candidates without exp: the same tokens on every run, so the choice of
# one whose signature has a '-' or a '_' is deterministic
my @cand = tokens(map { { %H, secret => $B,
    payload => { sub => 'u1', jti => "c$_" } } } 1 .. 40);
my ($minus) = grep { (split /\./)[2] =~ /-/ } @cand;
my ($under) = grep { (split /\./)[2] =~ /_/ } @cand;
die "no candidate signature with '-' and '_'\n" unless $minus && $under;

# a claims segment that has a '-' in base64url: sent as '+', re-signed
# ('~' is 0x7e: the last 6 bits of a group of three bytes give '-')
my ($std) = grep { /-/ } map { b64url('{"sub":"u1","jti":"' . 'p' x $_
    . '~"}') } 0 .. 2;
die "no candidate claims segment with '-'\n" unless $std;
$std =~ tr{-_}{+/};

my ($clean, $handmade, $padhdr, $padpay, $stdpay) = tokens(
    { %H, secret => $B, payload => { sub => 'u1', startupId => 1 } },
    { %H, secret => $B, raw => b64url($hdr) . '.' . b64url($pay) },
    { %H, secret => $B, raw => b64pad($hdr) . '.' . b64url($pay) },
    { %H, secret => $B, raw => b64url($hdr) . '.' . b64pad($pay) },
    { %H, secret => $B, raw => b64url($hdr) . '.' . $std },
);

(my $plus = $minus) =~ s/^([^.]+\.[^.]+\.[^-]*)-/$1+/;
(my $slash = $under) =~ s/^([^.]+\.[^.]+\.[^_]*)_/$1\//;

is(st(bearer('/ws', $clean)), 101, 'base64url: the clean token: 101');

for my $bad (
    [ "'=' appended", "$clean=" ],
    [ "'==' appended", "$clean==" ],
    [ "'=garbage' appended to the signature", "$clean=garbage" ],
    [ 'padding in the header segment', $padhdr ],
    [ 'padding in the claims segment', $padpay ],
    [ "'+' in the signature", $plus ],
    [ "'/' in the signature", $slash ],
    [ "'+' in the claims segment (re-signed)", $stdpay ],
) {
    refused(bearer('/ws', $bad->[1]), 401, 'invalid_token',
        "base64url: $bad->[0]: 401 invalid_token");
}

is(st(bearer('/ws', $handmade)), 101,
    'base64url: the hand-made segments without padding: 101');

# 11. signal_jwt_require_exp

my ($noexp, $withexp) = tokens(
    { %H, secret => $B, payload => { sub => 'u1' } },
    { %H, secret => $B, payload => { sub => 'u1',
        exp => int(time()) + 600 } });

my $r = bearer('/ws/exp', $noexp);
refused($r, 401, 'invalid_token',
    'signal_jwt_require_exp on: a token without exp: 401 invalid_token');
like($r->{json}{detail} // '', qr/exp/, 'the detail mentions exp');
is(st(bearer('/ws/exp', $withexp)), 101,
    'signal_jwt_require_exp on: a token with exp: 101');
is(st(bearer('/ws', $noexp)), 101,
    'signal_jwt_require_exp off (default): a token without exp: 101');

# 11. \u0000 in the header or the claims; exact claim names

my $h0 = b64url('{"alg":"HS256","typ":"JWT"}');

my ($nulrole, $nulkey, $nulclaim, $nulhdr, $upper, $admin) = tokens(
    { %H, secret => $B,
        raw => "$h0." . b64url('{"sub":"u1","role":"admin\u0000x"}') },
    { %H, secret => $B,
        raw => "$h0." . b64url('{"sub":"u1","role\u0000x":"admin"}') },
    { %H, secret => $B,
        raw => "$h0." . b64url('{"sub":"u1","note":"a\u0000b"}') },
    { %H, secret => $B,
        raw => b64url('{"alg":"HS256","typ":"JWT","x":"a\u0000b"}')
            . '.' . b64url('{"sub":"u1"}') },
    { %H, secret => $B, payload => { sub => 'u1', ROLE => 'admin' } },
    { %H, secret => $B, payload => { sub => 'u1', role => 'admin' } },
);

refused(bearer('/ws/admin', $nulrole), 401, 'invalid_token',
    '"role":"admin\u0000x" does not pass role=admin: 401 invalid_token');
refused(bearer('/ws/admin', $nulkey), 401, 'invalid_token',
    '"role\u0000x":"admin" does not pass role=admin: 401 invalid_token');
refused(bearer('/ws', $nulclaim), 401, 'invalid_token',
    '\u0000 in another claim: 401 invalid_token');
refused(bearer('/ws', $nulhdr), 401, 'invalid_token',
    '\u0000 in the header: 401 invalid_token');

refused(bearer('/ws/admin', $upper), 403, 'forbidden',
    '"ROLE":"admin" does not satisfy role=admin: 403 forbidden');
is(st(bearer('/ws/admin', $admin)), 101, '"role":"admin" does: 101');

# 11. refresh: the claims but exp, iat, nbf, jti must stay the same; a
# refused refresh keeps the old expiry

my $now = int(time());
my %first = (startupId => 1, exp => $now + 3, iat => $now, nbf => $now - 5,
    jti => 'first');
my %later = (startupId => 1, exp => $now + 60, iat => $now + 1,
    nbf => $now - 2, jti => 'second');

my ($t1, $t2, $other_startup, $with_role, $by_a, $renewed) = tokens(
    { %H, secret => $B, payload => { sub => 'u1', %first } },
    { %H, secret => $B, payload => { sub => 'u2', %first } },
    { %H, secret => $B, payload => { sub => 'u1', %later,
        startupId => 2 } },
    { %H, secret => $B, payload => { sub => 'u1', %later,
        role => 'admin' } },
    { %H, secret => $A, payload => { sub => 'u2', %later } },
    { %H, secret => $B, payload => { sub => 'u2', %later } },
);

my $c1 = $t->ws_ok('/ws', headers => { Authorization => "Bearer $t1" });
my $c2 = $t->ws_ok('/ws', headers => { Authorization => "Bearer $t2" });

refresh_refused($c1, $other_startup, 'invalid_token',
    'refresh with another startupId: invalid_token');
refresh_refused($c1, $with_role, 'invalid_token',
    'refresh with a role added: invalid_token');
refresh_refused($c2, $by_a, 'invalid_token',
    'refresh without kid signed with the kid=k1 secret: invalid_token');

my $m = refresh($c2, $renewed);
is($m->{type}, 'refreshed',
    'refresh with the same claims, a later exp, other iat/nbf/jti: refreshed');
is($m->{exp}, $later{exp}, 'the new exp is the refreshed token\'s');

# the refused refreshes did not move the first token's exp (+3 s)
my ($code, $reason) = $c1->expect_close(6);
ok(($code // 0) == 4001 && ($reason // '') eq 'token expired',
    'after refused refreshes: closed with 4001 at the first token\'s exp')
    or diag('close: ' . ($code // 'none'));

sleep(0.3);
$c2->send_json({ type => 'ping' });
is(($c2->recv_json() // {})->{type}, 'pong',
    'the refreshed connection is open after the first token\'s exp');

# 6. signal_refresh_rate 3: three refreshes, then rate_limited; the token
# of a refused one is not verified; the connection stays open

my ($t3, @next) = tokens(map { { %H, secret => $B,
    payload => { sub => 'u3', startupId => 1, exp => int(time()) + 600 + $_,
        jti => "r$_" } } } 0 .. 4);

my $c3 = $t->ws_ok('/ws/rate', headers => { Authorization => "Bearer $t3" });

my @got = map { (refresh($c3, $next[$_]) // {})->{type} // 'none' } 0 .. 2;
is("@got", 'refreshed refreshed refreshed',
    'signal_refresh_rate 3: three refreshes are answered refreshed');

refresh_refused($c3, $next[3], 'rate_limited',
    'the fourth: error rate_limited');
refresh_refused($c3, 'not.a.token', 'rate_limited',
    'a fifth with an invalid token: rate_limited, the token is not checked');

$c3->send_json({ type => 'ping' });
is(($c3->recv_json() // {})->{type}, 'pong',
    'the rate-limited connection stays open');

# a token without sub: a refresh compares two subjects that are both
# absent (a sanitized worker used to exit there), or one that is absent
# with one that is not

my @pids = $t->workers();
$now = int(time());

my ($nosub, $nosub_later, $with_sub) = tokens(
    { %H, secret => $B, payload => { startupId => 7, exp => $now + 600,
        jti => 'n1' } },
    { %H, secret => $B, payload => { startupId => 7, exp => $now + 900,
        jti => 'n2' } },
    { %H, secret => $B, payload => { sub => 'u9', startupId => 7,
        exp => $now + 900, jti => 'n3' } });

my $c4 = $t->ws('/ws', headers => { Authorization => "Bearer $nosub" });
is(st($c4), 101, 'a token without sub: 101');
die "no connection with a token without sub\n" unless st($c4) == 101;

$m = refresh($c4, $nosub_later);
is(($m->{type} // '') . ' ' . ($m->{exp} // ''), 'refreshed ' . ($now + 900),
    'refreshed with the same claims (still no sub): refreshed, the new exp');
refresh_refused($c4, $with_sub, 'invalid_token',
    'refreshed with a token that has a sub: invalid_token');

$c4->send_json({ type => 'ping' });
is(($c4->recv_json() // {})->{type}, 'pong',
    'the connection without sub is open after its refreshes');
is(join(' ', $t->workers()), join(' ', @pids),
    'the worker did not exit (the same pid)');

###############################################################################

# 101 for an open connection, else the HTTP status
sub st { ref $_[0] eq 'Test::Signal::WS' ? 101 : $_[0]{status} }

# a handshake with the token in Authorization; the connection is closed
sub bearer {
    my ($path, $token) = @_;
    my $r = $t->ws($path, headers => { Authorization => "Bearer $token" });
    $r->close() if ref $r eq 'Test::Signal::WS';
    return $r;
}

# the handshake was refused with this status and error code
sub refused {
    my ($r, $status, $error, $name) = @_;
    ok(st($r) == $status && ($r->{json}{error} // '') eq $error, $name)
        or diag(st($r) == 101 ? 'accepted: 101'
            : "$r->{status} " . ($r->{body} // ''));
}

# sends a refresh; the reply ({} when none came)
sub refresh {
    my ($ws, $token) = @_;
    $ws->send_json({ type => 'refresh', token => $token });
    return $ws->recv_json() // {};
}

sub b64url {
    my ($s) = @_;
    require MIME::Base64;
    (my $b = MIME::Base64::encode_base64($s, '')) =~ tr{+/}{-_};
    $b =~ s/=+$//;
    return $b;
}

# sends a refresh; ok if the reply is an error with this code
sub refresh_refused {
    my ($ws, $token, $code, $name) = @_;
    my $m = refresh($ws, $token);
    ok(($m->{type} // '') eq 'error' && ($m->{code} // '') eq $code, $name)
        or diag('reply: ' . Test::Signal::WS::encode_json($m));
}

# base64url with the '=' padding of RFC 4648
sub b64pad {
    my $b = b64url($_[0]);
    return $b . '=' x ((4 - length($b) % 4) % 4);
}

# tokens for these requests (see t/interop/jwt.js), made by node
sub tokens { return $t->jwt(@_) }

###############################################################################
