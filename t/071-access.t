#!/usr/bin/perl

# Tests for ngx_signal_module: access to the API locations and the
# handshake. signal_api_secret protects notify, status and presence (two
# secrets accepted during a rotation, nothing published without one);
# signal_allow_origin (exact and "*." patterns); signal_subscribe_rate.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

###############################################################################

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 1;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        signal_api_secret "old-secret-0123456789" "new-secret-0123456789";

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_allow_origin https://app.example.com https://*.example.org;
        }

        location /ws/slow {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_subscribe_rate 2;
            signal_max_rooms_per_connection 2;
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

$t->run()->plan(22);

###############################################################################

my $ws = $t->subscriber('/ws', 'r');
my $body = '{"room":"r","event":"e"}';

my $r = $t->notify('/notify', $body);
is($r->{status}, 401, 'notify without a secret: 401');
is($r->{json}{error}, 'unauthorized', 'unauthorized');
is($r->{headers}{'www-authenticate'}, 'Bearer', 'WWW-Authenticate: Bearer');
unlike($r->{body}, qr/secret-0123/, 'the answer shows no secret');

$r = $t->notify('/notify', $body,
    headers => { Authorization => 'Bearer old-secret-012345678' });
is($r->{status}, 401, 'a wrong secret (one byte short): 401');

$r = $t->notify('/notify', $body,
    headers => { Authorization => 'Basic b2xkLXNlY3JldA==' });
is($r->{status}, 401, 'another scheme: 401');

ok($ws->expect_nothing(0.3), 'nothing was published by refused requests');

$r = $t->notify('/notify', $body,
    headers => { Authorization => 'Bearer old-secret-0123456789' });
is($r->{status}, 202, 'the old secret is accepted during the rotation');
$r = $t->notify('/notify', $body,
    headers => { Authorization => 'Bearer new-secret-0123456789' });
is($r->{status}, 202, 'and the new one');
is(join(',', map { ($ws->recv_json() // {})->{seq} } 1 .. 2), '1,2',
    'both published');

is($t->http('GET', '/status')->{status}, 401, 'status without a secret');
is($t->http('GET', '/status', headers => { Authorization =>
    'Bearer new-secret-0123456789' })->{status}, 200, 'status with it');
is($t->http('GET', '/presence?room=r')->{status}, 401,
    'presence without a secret');
is($t->http('GET', '/presence?room=r', headers => { Authorization =>
    'Bearer old-secret-0123456789' })->{json}{connections}, 1,
    'presence with it');

# origins

for my $case ([ 'https://app.example.com', 101 ],
    [ 'https://APP.example.com', 101 ], [ 'https://a.b.example.org', 101 ],
    [ 'https://evil.com', 403 ], [ 'http://app.example.com', 403 ],
    [ 'https://example.org', 403 ])
{
    my $c = $t->ws('/ws', headers => { Origin => $case->[0] });
    my $st = ref $c eq 'Test::Signal::WS' ? 101 : $c->{status};
    is($st, $case->[1], "origin $case->[0]: $case->[1]");
}

# subscribe rate: 2 per second after the first rooms

my $s = $t->ws_ok('/ws/slow');
my @codes = map {
    $s->send_json({ type => 'subscribe', room => "x$_" });
    my $m = $s->recv_json() // {};
    $m->{code} // $m->{type};
} 1 .. 3;
is("@codes", 'subscribed subscribed rate_limited',
    'the third subscribe within a second is rate limited');

$s->send_json({ type => 'ping' });
is(($s->recv_json() // {})->{type}, 'pong', 'and the connection stays');

###############################################################################
