#!/usr/bin/perl

# Tests for ngx_signal_module: random and malformed WebSocket traffic
# (t/fuzz/ws_frames.py, fixed seeds) must not crash a worker or trip a
# sanitizer, and nginx must still serve a normal client afterwards.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;

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
            signal_join "startup:1";
            signal_allow_subscribe "bulk_upload:*";
            signal_max_message_size 4k;
            signal_close_timeout 1s;
        }

        location /notify {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(6);

###############################################################################

my $python = '/usr/bin/python3';
my $port = $t->port(1);

for my $seed (1, 2) {
    my $out = `$python fuzz/ws_frames.py $port $seed 1500 2>&1`;
    is($?, 0, "fuzz seed $seed ran") or diag($out);
}

my $ws = $t->ws('/ws');
is($ws->{status}, 101, 'a normal client still connects');

my $r = $t->notify('/notify', '{"room":"startup:1","event":"after","data":1}');
is($r->{status}, 202, 'notify still works');

my $m = $ws->recv_json();
is($m->{event}, 'after', 'events still delivered');

$ws->send_close(1000);
is(scalar $ws->expect_close(), 1000, 'normal close');

###############################################################################
