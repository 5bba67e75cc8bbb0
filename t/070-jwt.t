#!/usr/bin/perl

# Tests for ngx_signal_module: JWT-authenticated WebSocket handshakes (S9).
# Tokens are made by node's crypto (t/interop/jwt.js): HS256/384/512,
# RS256/384/512, ES256/384, and a matrix of forged, malformed, expired,
# premature, wrong-issuer and wrong-audience ones; token sources; rooms
# granted from claims; required claims; expiry closing a live connection
# with 4001 and a refresh keeping it open.

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

my $SECRET = 'k' x 16 . '-first-secret-of-32+';
my $SECRET2 = 's' x 16 . '-second-secret-32+++';

tokens();    # makes the key pairs

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

        signal_jwt_secret "$SECRET";
        signal_jwt_secret kid=next "$SECRET2";
        signal_jwt_key $d/rsa.pub.pem;
        signal_jwt_key $d/ec256.pub.pem;
        signal_jwt_key $d/ec384.pub.pem;
        signal_jwt_issuer https://auth.example;
        signal_jwt_audience signal;
        signal_jwt_leeway 5s;
        signal_jwt_token header query=token cookie=jwt subprotocol;

        location /ws {
            signal_websocket;
            signal_subprotocols signal.v1;
            signal_join "startup:\$signal_claim_startupId";
            signal_allow_subscribe "startup:\$signal_claim_startupId"
                                   "bulk_upload:*";
        }

        location /ws/admin {
            signal_websocket;
            signal_jwt_require role=admin;
            signal_join admin;
            signal_allow_subscribe "*";
        }

        location /ws/org {
            signal_websocket;
            signal_join "org:\$signal_claim_org__id";
        }

        location /notify {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(57);

###############################################################################

my $now = time();
my %base = (iss => 'https://auth.example', aud => 'signal', sub => 'u1',
    startupId => 1, exp => int($now) + 600);

my @cases = (
    # name, request, expected status, error detail pattern
    [ 'HS256', { alg => 'HS256', secret => $SECRET }, 101 ],
    [ 'HS384', { alg => 'HS384', secret => $SECRET }, 101 ],
    [ 'HS512', { alg => 'HS512', secret => $SECRET }, 101 ],
    [ 'RS256', { alg => 'RS256', key => 'rsa' }, 101 ],
    [ 'RS384', { alg => 'RS384', key => 'rsa' }, 101 ],
    [ 'RS512', { alg => 'RS512', key => 'rsa' }, 101 ],
    [ 'ES256', { alg => 'ES256', key => 'ec256' }, 101 ],
    [ 'ES384', { alg => 'ES384', key => 'ec384' }, 101 ],
    [ 'kid selects the rotated secret', { alg => 'HS256',
        secret => $SECRET2, header => { kid => 'next' } }, 101 ],
    [ 'aud as an array', { alg => 'HS256', secret => $SECRET,
        payload => { aud => [ 'other', 'signal' ] } }, 101 ],
    [ 'expired within the leeway', { alg => 'HS256', secret => $SECRET,
        payload => { exp => int($now) - 1 } }, 101 ],

    [ 'wrong secret', { alg => 'HS256', secret => 'x' x 40 }, 401,
        qr/signature does not verify/ ],
    [ 'kid with the other secret', { alg => 'HS256', secret => $SECRET,
        header => { kid => 'next' } }, 401, qr/signature does not verify/ ],
    [ 'alg none', { alg => 'none' }, 401, qr/alg is not accepted/ ],
    [ 'HS256 signed with the RSA public key (alg confusion)',
        { alg => 'HS256', secret => slurp("$d/rsa.pub.pem") }, 401,
        qr/signature does not verify/ ],
    [ 'RS256 by another key', { alg => 'RS256', key => 'rsa-other' }, 401,
        qr/signature does not verify/ ],
    [ 'ES384 claimed, P-256 used', { alg => 'ES384', key => 'ec256' }, 401,
        qr/signature does not verify/ ],
    [ 'expired', { alg => 'HS256', secret => $SECRET,
        payload => { exp => int($now) - 10 } }, 401, qr/has expired/ ],
    [ 'not valid yet', { alg => 'RS256', key => 'rsa',
        payload => { nbf => int($now) + 60 } }, 401, qr/not valid yet/ ],
    [ 'wrong audience', { alg => 'ES256', key => 'ec256',
        payload => { aud => 'billing' } }, 401, qr/audience/ ],
    [ 'expired RS256', { alg => 'RS256', key => 'rsa',
        payload => { exp => int($now) - 10 } }, 401, qr/has expired/ ],
    [ 'expired ES384', { alg => 'ES384', key => 'ec384',
        payload => { exp => int($now) - 10 } }, 401, qr/has expired/ ],
    [ 'wrong audience HS512', { alg => 'HS512', secret => $SECRET,
        payload => { aud => 'billing' } }, 401, qr/audience/ ],
    [ 'wrong audience RS384', { alg => 'RS384', key => 'rsa',
        payload => { aud => [ 'billing' ] } }, 401, qr/audience/ ],
    [ 'forged ES256 (P-384 key)', { alg => 'ES256', key => 'ec384' }, 401,
        qr/signature does not verify/ ],
    [ 'claims altered after signing', { alg => 'HS256', secret => $SECRET,
        tamper => 1 }, 401, qr/signature does not verify/ ],
    [ 'wrong issuer', { alg => 'HS256', secret => $SECRET,
        payload => { iss => 'https://evil.example' } }, 401, qr/issuer/ ],
    [ 'exp not a number', { alg => 'HS256', secret => $SECRET,
        payload => { exp => 'tomorrow' } }, 401, qr/exp is not a number/ ],
    [ 'exp out of range', { alg => 'HS256', secret => $SECRET,
        payload => { exp => 1e300 } }, 401, qr/exp is not a number/ ],
    [ 'header not JSON', { alg => 'HS256', secret => $SECRET,
        raw => 'bm90IGpzb24.' . b64url('{"sub":"x"}') }, 401,
        qr/malformed token header/ ],
    [ 'claims not JSON', { alg => 'HS256', secret => $SECRET,
        raw => b64url('{"alg":"HS256"}') . '.bm90IGpzb24' }, 401,
        qr/malformed token claims/ ],
);

my @tokens = tokens(map {
    my %r = %{$_->[1]};
    $r{payload} = { %base, %{$r{payload} // {}} };
    \%r;
} @cases);

for my $i (0 .. $#cases) {
    my ($name, undef, $status, $re) = @{$cases[$i]};
    my $r = $t->ws('/ws', headers => { Authorization => "Bearer $tokens[$i]" });
    if ($status == 101) {
        is(st($r), 101, "$name: accepted");
        $r->close() if st($r) == 101;
    } else {
        my $ok = st($r) == 401
            && ($r->{json}{detail} // '') =~ $re
            && $r->{body} !~ /first-secret|second-secret/;
        ok($ok, "$name: 401") or diag(st($r) == 101 ? 101 : $r->{body});
    }
}

# malformed transport: no token, three parts, base64, length

my ($good) = tokens({ alg => 'HS256', secret => $SECRET, payload => \%base });

my $r = $t->ws('/ws');
is($r->{status}, 401, 'no token: 401');
is($r->{json}{error}, 'missing_token', 'missing_token');
like($r->{headers}{'www-authenticate'} // '', qr/^Bearer/,
    'with WWW-Authenticate');

for my $bad ([ 'two parts', 'abc.def' ], [ 'bad base64', '!!!.@@@.###' ])
{
    $r = $t->ws('/ws', headers => { Authorization => "Bearer $bad->[1]" });
    is($r->{status}, 401, "$bad->[0]: 401");
}

# (nginx itself refuses headers over large_client_header_buffers)
$r = $t->ws('/ws', headers => { Authorization => 'Bearer ' . ('A' x 9000) });
ok($r->{status} == 400 || $r->{status} == 401, 'a huge token is refused');

# where the token may come from

$r = $t->ws("/ws?token=$good");
is(st($r), 101, 'token in the query');
$r = $t->ws('/ws', headers => { Cookie => "a=b; jwt=$good" });
is(st($r), 101, 'token in a cookie');
$r = $t->ws('/ws', protocols => [ 'signal.v1', "bearer.$good" ]);
ok(st($r) == 101
    && ($r->{headers}{'sec-websocket-protocol'} // '') eq 'signal.v1',
    'token as a subprotocol; the answer names signal.v1, not the token');

# S9: rooms from claims; startup 1 never sees startup 2

my ($t1, $t2, $admin, $org) = tokens(
    { alg => 'RS256', key => 'rsa', payload => { %base, startupId => 1 } },
    { alg => 'ES256', key => 'ec256',
        payload => { %base, sub => 'u2', startupId => 2 } },
    { alg => 'HS256', secret => $SECRET,
        payload => { %base, sub => 'boss', role => 'admin' } },
    { alg => 'HS256', secret => $SECRET,
        payload => { %base, org => { id => 'acme' } } });

my $a = $t->ws_ok('/ws', headers => { Authorization => "Bearer $t1" });
my $b = $t->ws_ok('/ws', headers => { Authorization => "Bearer $t2" });

$a->send_json({ type => 'subscribe', room => 'startup:2', id => 1 });
my $m = $a->recv_json();
is($m->{code}, 'forbidden', 'startup 1 may not subscribe to startup:2');

$t->publish('startup:2', 'secret', '{"for":2}');
$t->publish('startup:1', 'mine', '{"for":1}');
is(($a->recv_json() // {})->{event}, 'mine', 'startup 1 gets its own event');
ok($a->expect_nothing(0.3), 'and nothing of startup 2');
is(($b->recv_json() // {})->{event}, 'secret', 'startup 2 gets its own');

$r = $t->ws('/ws/admin', headers => { Authorization => "Bearer $t1" });
is($r->{status}, 403, 'admin location: a non-admin token is refused (403)');
like($r->{json}{detail} // '', qr/lacks a claim/, 'saying why');
$r = $t->ws('/ws/admin', headers => { Authorization => "Bearer $admin" });
is(st($r), 101, 'admin location: the admin token');

my $o = $t->ws_ok('/ws/org', headers => { Authorization => "Bearer $org" });
$t->publish('org:acme', 'nested', '1');
is(($o->recv_json() // {})->{event}, 'nested',
    'a nested claim ($signal_claim_org__id) names the room');
$r = $t->ws('/ws/org', headers => { Authorization => "Bearer $t1" });
is($r->{status}, 403, 'a token without that claim: no room, 403');

# expiry: 4001 at exp (+ leeway); a refresh keeps the connection

my ($short, $short2, $longer, $other) = tokens(
    { alg => 'HS256', secret => $SECRET,
        payload => { %base, exp => int(time()) + 1 } },
    { alg => 'HS256', secret => $SECRET,
        payload => { %base, exp => int(time()) + 1 } },
    { alg => 'HS256', secret => $SECRET,
        payload => { %base, exp => int(time()) + 60 } },
    { alg => 'HS256', secret => $SECRET,
        payload => { %base, sub => 'intruder', exp => int(time()) + 60 } });

my $dies = $t->ws_ok('/ws', headers => { Authorization => "Bearer $short" });
my $lives = $t->ws_ok('/ws', headers => { Authorization => "Bearer $short2" });

$lives->send_json({ type => 'refresh', token => $other, id => 'x' });
$m = $lives->recv_json();
is($m->{code}, 'invalid_token', 'a refresh for another subject is refused');
like($m->{message}, qr/another subject/, 'saying why');

$lives->send_json({ type => 'refresh', token => $longer, id => 7 });
$m = $lives->recv_json();
is($m->{type}, 'refreshed', 'a refresh with a new token is accepted');
is($m->{id}, 7, 'with the id');

$lives->send_json({ type => 'refresh', token => 'A' x 9000 });
like(($lives->recv_json() // {})->{message}, qr/up to 8k/,
    'a refresh token over 8k is refused');

my ($code, $reason) = $dies->expect_close(10);
is($code, 4001, 'the token expired: closed with 4001');
is($reason, 'token expired', 'reason "token expired"');

$lives->send_json({ type => 'ping' });
is(($lives->recv_json() // {})->{type}, 'pong',
    'the refreshed connection is still open after the old exp');

###############################################################################

# 101 for an open connection, else the HTTP status
sub st { ref $_[0] eq 'Test::Signal::WS' ? 101 : $_[0]{status} }

sub b64url {
    my ($s) = @_;
    require MIME::Base64;
    (my $b = MIME::Base64::encode_base64($s, '')) =~ tr{+/}{-_};
    $b =~ s/=+$//;
    return $b;
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or die "$f: $!";
    local $/;
    return <$fh>;
}

# tokens for these requests (see t/interop/jwt.js), made by node
sub tokens { return $t->jwt(@_) }

###############################################################################
