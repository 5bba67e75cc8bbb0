#!/usr/bin/perl

# Tests for ngx_signal_module: configuration. The shipped example configs
# pass "nginx -t"; invalid directives are refused with a precise message.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;

###############################################################################

my $t = Test::Signal->new();

my @bad = (
    [ 'signal_join "bad room!";', qr/invalid room "bad room!" in "signal_join": it may only contain/ ],
    [ 'signal_presence "bad room";', qr/invalid room "bad room" in "signal_presence": it may only contain/ ],
    [ 'signal_presence; signal_presence;', qr/"signal_presence" directive is duplicate/ ],
    [ 'signal_user $arg_u; signal_user $arg_v;', qr/"signal_user" directive is duplicate/ ],
    [ 'signal_shutdown_window soon;', qr/"signal_shutdown_window" directive invalid value/ ],
    [ 'signal_jwt_secret short;', qr/the JWT secret is 5 bytes; use at least 32 random bytes/ ],
    [ 'signal_jwt_secret file=/nonexistent/secret;', qr/cannot open the secret file "\/nonexistent\/secret"/ ],
    [ 'signal_jwt_key /nonexistent/key.pem;', qr/cannot open the JWT public key "\/nonexistent\/key.pem"/ ],
    [ 'signal_jwt_key /etc/hostname;', qr/"\/etc\/hostname" is not a PEM public key/ ],
    [ 'signal_jwt_token header body;', qr/invalid token source "body": use header, query=NAME, cookie=NAME or subprotocol/ ],
    [ 'signal_jwt_require admin;', qr/invalid "admin": use claim=value, e.g. role=admin/ ],
    [ 'signal_allow_origin example.com;', qr/invalid origin "example.com": use scheme:\/\/host\[:port\]/ ],
    [ 'signal_allow_origin https://a.*.example.com;', qr/invalid origin "https:\/\/a\.\*\.example\.com"/ ],
    [ 'signal_api_secret short-secret;', qr/a signal_api_secret of 12 bytes is too easy to guess/ ],
    [ 'signal_subscribe_rate 0;', qr/value must be between 1 and 100000/ ],
    [ 'signal_webhook paypal;', qr/unknown webhook scheme "paypal": use airtable, github, stripe, standard or hmac/ ],
    [ 'signal_webhook github;', qr/signal_webhook needs signal_webhook_secret, signal_webhook_room and signal_webhook_event/ ],
    [ 'signal_webhook hmac prefix=x; signal_webhook_secret s; signal_webhook_room r; signal_webhook_event e;', qr/the hmac webhook scheme needs header=NAME/ ],
    [ 'signal_webhook github header=X; signal_webhook_secret s; signal_webhook_room r; signal_webhook_event e;', qr/"header=X" only goes with the hmac scheme/ ],
    [ 'signal_webhook hmac header=X digest=md5; signal_webhook_secret s; signal_webhook_room r; signal_webhook_event e;', qr/invalid "digest=md5"/ ],
    [ 'signal_webhook_data payload;', qr/invalid JSON pointer "payload": it starts with "\/"/ ],
    [ 'signal_join "a:";', qr/invalid room "a:".*must not end with ':'/ ],
    [ 'signal_join a; signal_join b;', qr/"signal_join" directive is duplicate; list every room in one directive/ ],
    [ 'signal_allow_subscribe "x y";', qr/invalid room "x y" in "signal_allow_subscribe"/ ],
    [ 'signal_websocket socketio;', qr/unknown protocol "socketio" in "signal_websocket"/ ],
    [ 'signal_websocket; signal_websocket;', qr/"signal_websocket" directive is duplicate/ ],
    [ 'signal_websocket; signal_notify;', qr/already has a content handler/ ],
    [ 'proxy_pass http://127.0.0.1:1; signal_notify;', qr/already has a content handler/ ],
    [ 'signal_max_name_length 2;', qr/value must be between 8 and 1024 in \S+bad.conf:\d+/ ],
    [ 'signal_max_rooms_per_connection 0;', qr/value must be between 1 and 100000 in \S+bad.conf:\d+/ ],
    [ 'signal_send_queue 1k;', qr/"signal_send_queue" must be at least 4k/ ],
    [ 'signal_max_message_size 0;', qr/"signal_max_message_size" must be more than 0/ ],
    [ 'signal_ping_interval 0;', qr/"signal_ping_interval" and "signal_ping_timeout" must be more than 0/ ],
    [ 'signal_subprotocols "a,b";', qr/invalid subprotocol "a,b": it must be an HTTP token/ ],
    [ 'signal_notify_max_events 0;', qr/value must be between 1 and 100000 in \S+bad.conf:\d+/ ],
);

$t->plan(2 + 2 * @bad);

###############################################################################

# the demo, with its paths pointed into the test directory (nginx.conf and
# docker.conf need keys and secrets: t/003-shipped-conf.t runs them)

for my $file ('demo.conf') {
    my $conf = slurp("../conf/$file");
    my $d = $t->dir();

    $conf =~ s/load_module \S+;/load_module $t->{module};/;
    $conf =~ s/listen [\d.:]*\d+;/'listen 127.0.0.1:' . $t->port(1) . ';'/ge;
    $conf =~ s/error_log [^;\s]+/error_log $d\/error.log/;
    $conf =~ s/access_log [^;\s]+/access_log $d\/access.log/;
    $conf =~ s/pid \S+;/pid $d\/nginx.pid;/;
    $conf =~ s/(_temp_path )\S+;/$1$d\/tmp;/g;

    $t->write_file($file, $conf);

    my ($rc, $out) = nginx_t($t, $file);
    is($rc, 0, "conf/$file passes nginx -t") or diag($out);
    unlike($out, qr/\[(emerg|alert|crit)\]/, "conf/$file: no errors");
}

for my $case (@bad) {
    my ($directives, $re) = @$case;

    $t->write_file_expand('bad.conf', <<"EOF");
load_module $t->{module};
error_log %%TESTDIR%%/error.log;
pid %%TESTDIR%%/nginx.pid;
events { }
http {
    %%TEST_GLOBALS_HTTP%%
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location /x { $directives }
    }
}
EOF

    my ($rc, $out) = nginx_t($t, 'bad.conf');
    isnt($rc, 0, "nginx -t refuses: $directives");
    like($out, $re, "message for: $directives");
}

###############################################################################

sub nginx_t {
    my ($t, $file) = @_;
    my $d = $t->dir();

    # the sanitizer runtime must be preloaded for an ASan build
    local %ENV = %ENV;
    $t->_child_env();

    my $out = `$t->{binary} -t -p $d/ -c $d/$file -e $d/nginx-t.log 2>&1`;
    my $rc = $? >> 8;
    $out .= $t->read_file('nginx-t.log');
    unlink("$d/nginx-t.log");
    return ($rc, $out);
}

sub slurp {
    my ($name) = @_;
    open(my $fh, '<', $name) or die "$name: $!";
    local $/;
    return scalar <$fh>;
}

###############################################################################
