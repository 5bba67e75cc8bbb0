#!/usr/bin/perl

# Tests for ngx_signal_module: smoke test. nginx starts with the module, a
# WebSocket client connects and subscribes, a notify POST reaches it.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal qw(strip_epoch);

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

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /notify {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(9);

###############################################################################

my $ws = $t->ws('/ws');
is($ws->{status}, 101, 'websocket handshake');
ok($ws->{accept_ok}, 'Sec-WebSocket-Accept matches the key');

$ws->send_json({ type => 'subscribe', room => 'smoke:1', id => 1 });
my ($epoch, $e);
is_deeply(strip_epoch($ws->recv_json(), \$epoch), { type => 'subscribed',
    room => 'smoke:1', seq => 0, id => 1 }, 'subscribed at seq 0');

my $r = $t->notify('/notify',
    '{"room":"smoke:1","event":"hello","data":{"x":1}}');
is($r->{status}, 202, 'notify accepted');
is_deeply(strip_epoch($r->{json}, \$e),
    { published => [ { room => 'smoke:1', event => 'hello', seq => 1 } ] },
    'notify reply lists the published event');
is($e, $epoch, 'in the epoch of the subscription');

is_deeply(strip_epoch($ws->recv_json(), \$e), { type => 'event',
    room => 'smoke:1', event => 'hello', data => { x => 1 }, seq => 1 },
    'event delivered');
is($e, $epoch, 'event in the same epoch');

$ws->send_close(1000);
is(scalar $ws->expect_close(), 1000, 'close echoed');

###############################################################################
