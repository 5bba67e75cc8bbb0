#!/usr/bin/perl

# Tests for ngx_signal_module: the browser client (clients/js/signal.js)
# in Debian's /usr/bin/chromium, headless, driven by playwright-core from
# t/interop/client-browser.js (a child process). The library and the test
# page (t/interop/client-page.html) are served by the nginx under test;
# the script runs the scenarios and prints what the pages saw, one
# "RESULT <name> <json>" line each; the assertions are here:
#
#   a  WebSocket: events of a handshake room and an option room, in order,
#      once; unsubscribe; offline and back without a loss
#   b  WebSocket refused (403 on the upgrade): an event stream, "polling";
#      WebSocket back under steady publishing: "live", nothing lost or twice
#   c  event streams refused too: long-polling; then back to "live"
#   d  nginx reload under steady publishing, a page on each transport:
#      nothing lost, nothing twice
#   e  two tabs hold one server connection (SharedWorker), each gets the
#      events of its rooms once; the first tab closes, the other goes on
#   e2 the same without SharedWorker: a leader tab relays over
#      BroadcastChannel; the leader closes, the other tab takes over
#   f  4-second tokens refreshed by getToken() on each transport: no 4001,
#      no reconnect of the WebSocket, every event
#   g  resume from a position history no longer covers: onGap, then what
#      history kept (each transport); a position ahead of the room: an
#      epoch gap
#   h  behind a proxy that buffers answers (the event stream opens and
#      stays silent): long-polling
#   r  a room signal_allow_subscribe refuses: an error naming it, over
#      WebSocket and long-polling; the other rooms go on
#   s  the token as a WebSocket subprotocol (signal_jwt_token subprotocol,
#      the shipped configurations' default): live, events
#   w  the SharedWorker script cannot load: a leader tab instead
#
# The scenarios but d run at once (each has its own rooms, and blocks
# transports for its own requests only); d reloads nginx, alone, last.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal::Interop;
use JSON::PP;
use File::Spec;

###############################################################################

my $NODE = '/usr/bin/node';
my $CHROMIUM = '/usr/bin/chromium';
my $CLIENT = "$FindBin::Bin/interop/client-browser.js";

plan(skip_all => "$CHROMIUM is absent (apt-get install chromium)")
    unless -x $CHROMIUM;

unless (-x $NODE
    && -f "$FindBin::Bin/interop/node_modules/playwright-core/package.json")
{
    plan(tests => 1);
    fail("$NODE or t/interop/node_modules/playwright-core is missing: "
        . "install nodejs and run 'npm ci' in t/interop");
    exit;
}

my $SECRET = 'c' x 16 . '-client-secret-of-32+';

my $i = Test::Signal::Interop->new(who => 'page');
my $t = $i->t();
my $d = $t->dir();

# what nginx serves is copied to the test's directory: its workers (user
# nobody when the tests run as root) may not read a checkout in a private
# directory
my $JS = "$d/js";
my $INTEROP = "$d/page";
mkdir($INTEROP) or die "mkdir $INTEROP: $!\n";
system('cp', '-R', "$FindBin::Bin/../clients/js", $JS) == 0
    or die "cp clients/js: $?\n";
system('cp', "$FindBin::Bin/interop/client-page.html", $INTEROP) == 0
    or die "cp client-page.html: $?\n";

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_ping_interval 10s;
    signal_shutdown_window 1s;

    # what a request to a signal location asks for: ws, sse or other
    map "\$http_upgrade|\$arg_transport|\$http_accept" \$kind {
        "~^[^|]+\\|"            ws;
        "~^\\|eventsource\\|"   sse;
        "~event-stream"         sse;
        default                 other;
    }

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        # a proxy that refuses WebSocket (block-ws-<startup>) or event
        # streams (block-sse-<startup>) while the file exists
        set \$blocked \$kind;
        if (-f $d/block-ws-\$arg_startup) {
            set \$blocked "\${blocked}W";
        }
        if (-f $d/block-sse-\$arg_startup) {
            set \$blocked "\${blocked}S";
        }
        if (\$blocked ~ "^wsW") {
            return 403;
        }
        if (\$blocked ~ "^sse.*S") {
            return 403;
        }

        location /js/ {
            alias $JS/;
            types { text/javascript js; }
        }

        location /t/ {
            alias $INTEROP/;
            types { text/html html; }
        }

        location = /ws {
            signal_websocket;
            signal_transports websocket eventsource longpoll;
            signal_join "startup:\$arg_startup";
            signal_allow_subscribe "extra:*";
        }

        # a proxy that buffers whole answers: event streams never get
        # through, polls do (and WebSocket is not proxied)
        location = /buffered {
            proxy_pass http://127.0.0.1:%%PORT_1%%/ws;
            proxy_buffering on;
            proxy_ignore_headers X-Accel-Buffering;
            postpone_output 0;
            proxy_read_timeout 30s;
        }

        location = /jwt {
            signal_websocket;
            signal_transports websocket eventsource longpoll;
            signal_jwt_secret "$SECRET";
            signal_jwt_token header query=token;
            signal_jwt_leeway 1s;       # 4 s tokens: expired at 5 s
            signal_jwt_require_exp on;
            signal_refresh_rate 60;
            signal_join "user:\$signal_claim_sub";
        }

        location = /jwtsub {
            signal_websocket;
            signal_subprotocols signal.v1;
            signal_jwt_secret "$SECRET";
            signal_jwt_token subprotocol;
            signal_join "user:\$signal_claim_sub";
        }

        location = /notify {
            signal_notify;
            signal_history 1000;
        }

        location = /notify3 {
            signal_notify;
            signal_history 3;
        }

        location = /status {
            signal_status;
        }

        location = /presence {
            signal_presence;
        }
    }
}

EOF

$t->run();

$i->env(TMPDIR => $d);
$i->command($NODE, $CLIENT, '--base', 'http://127.0.0.1:' . $t->port(1),
    '--dir', $d, '--secret', $SECRET, '--timeout', 55,
    ($ENV{TEST_CLIENT_ONLY} ? ('--only', $ENV{TEST_CLIENT_ONLY}) : ()));

my $c = $i->client('browser');
my $res = $i->finish($c, 70);

my %r;
for my $line (@{$res->{lines}}) {
    if ($line =~ /^RESULT (\S+) (.*)/) {
        $r{$1} = eval { JSON::PP->new->decode($2) };
    }
}

# TEST_CLIENT_ONLY=a,b runs those scenarios alone (the others fail);
# TEST_CLIENT_DUMP=1 prints what each one returned
note(join(', ', map { "$_ " . ($r{$_}{ms} // '?') . ' ms' } sort keys %r));
if ($ENV{TEST_CLIENT_DUMP}) {
    diag("$_: " . JSON::PP->new->canonical->encode($r{$_})) for sort keys %r;
}

$t->plan(69);
is($res->{status}, 0, 'client-browser.js ran every scenario')
    or diag(join("\n", grep { /^ERROR/ } @{$res->{lines}}));

###############################################################################

# $rec->{events} ([room, n, seq] each) holds, per room, exactly the
# published events of that room (of @$rooms, or all), in order
sub once_in_order {
    my ($pub, $rec, $rooms) = @_;
    return 0 unless $pub && $rec;
    my %want = $rooms ? map { $_ => 1 } @$rooms : ();
    my (%p, %g);
    for (@$pub) {
        push @{$p{$_->[0]}}, "$_->[1]/$_->[2]" if !$rooms || $want{$_->[0]};
    }
    push @{$g{$_->[0]}}, "$_->[1]/$_->[2]" for @{$rec->{events}};
    my $enc = JSON::PP->new->canonical;
    return 1 if $enc->encode(\%p) eq $enc->encode(\%g);
    diag('published ' . $enc->encode(\%p) . "\n     got " . $enc->encode(\%g));
    return 0;
}

sub states {
    my ($rec) = @_;
    return join(' ', map { $_->[0] . ($_->[1] ? "/$_->[1]" : '') }
        @{$rec->{states} // []});
}

sub errors {
    my ($rec) = @_;
    return JSON::PP->new->canonical->encode($rec->{errors} // ['no record']);
}

my $r;

# a: WebSocket

$r = $r{a} // {};
ok($r->{live}, 'a: live');
is(states($r->{end}), 'connecting live/websocket offline connecting live/websocket',
    'a: states: live, offline and back');
ok(once_in_order($r->{published}, $r->{before}), 'a: events once, in order');
is(join(' ', map { "$_:$r->{before}{positions}{$_}{seq}" }
    sort keys %{$r->{before}{positions} // {}}), 'extra:a:5 startup:a:5',
    'a: positions of the option room and the handshake room');
ok(once_in_order([ @{$r->{published} // []}, $r->{after}[1] // [], $r->{missed} // [] ],
    $r->{end}), 'a: unsubscribed room stops; missed while offline resumed');
is(join(' ', sort keys %{$r->{end}{positions} // {}}), 'startup:a',
    'a: no position of the unsubscribed room');
is(errors($r->{end}), '[]', 'a: no error');

# b: WebSocket refused, event stream, back to WebSocket

$r = $r{b} // {};
ok($r->{polling}, 'b: polling over an event stream with WebSocket refused');
is(states($r->{rec}), 'connecting polling/eventsource live/websocket',
    'b: states: polling, then live');
ok($r->{liveAt}, "b: live again while publishing (event $r->{liveAt}, WebSocket back at 10)");
ok(once_in_order($r->{published}, $r->{rec}),
    'b: every event once, in order, across the switch');
is(errors($r->{rec}), '[]', 'b: no error');

# c: long-polling

$r = $r{c} // {};
ok($r->{polling}, 'c: polling over long-polls with WebSocket and streams refused');
ok($r->{liveAt}, "c: live again while publishing (event $r->{liveAt}, back at 15)");
# (back to streams first when the WebSocket probe came just before)
like(states($r->{rec}),
    qr{^connecting polling/longpoll (polling/eventsource )?live/websocket$},
    'c: states: polling, then live');
ok(once_in_order($r->{published}, $r->{rec}),
    'c: every event once, in order, across the switch');

# d: reload

$r = $r{d} // {};
is(join(' ', map { $_ ? 1 : 0 } @{$r->{ready} // []}), '1 1 1 1',
    'd: each transport connected, rooms subscribed');
ok(($r->{closes}{1012} // 0) > 0, 'd: the reload closed connections (1012)');
for my $k (qw(websocket eventsource longpoll)) {
    ok(once_in_order($r->{published}, $r->{recs}{$k}),
        "d: $k: every event once, in order, across the reload");
}
like(states($r->{recs}{websocket}),
    qr{^connecting live/websocket connecting live/websocket$},
    'd: websocket: reconnected');

# e, e2: two tabs, one connection

for my $e (qw(e e2)) {
    my $how = $e eq 'e' ? 'SharedWorker' : 'leader tab';
    $r = $r{$e} // {};
    ok($r->{liveA} && $r->{liveB}, "$e: both tabs live");
    is(($r->{recA}{link} // '') . ' ' . ($r->{recB}{link} // ''),
        $e eq 'e' ? 'WorkerLink WorkerLink' : 'LeaderLink LeaderLink',
        "$e: through a $how");
    is(join(' ', @{$r->{samples} // []}), '1 1 1 1 1',
        "$e: one server connection for two tabs");
    ok(once_in_order($r->{published}, $r->{recA}, [ "startup:$e", "extra:${e}1" ]),
        "$e: first tab: its rooms' events once");
    ok(once_in_order($r->{published}, $r->{recB}, [ "startup:$e", "extra:${e}2" ]),
        "$e: second tab: its rooms' events once");
    ok(once_in_order([ @{$r->{published} // []}, @{$r->{published2} // []} ],
        $r->{recB2}, [ "startup:$e", "extra:${e}2" ]),
        "$e: first tab closed: the second one misses nothing");
    is($r->{after}, 1, "$e: one connection after the first tab closed");
}

# s: the token as a subprotocol

$r = $r{s} // {};
ok($r->{ready} && ($r->{rec}{state} // '') eq 'live',
    's: live with the token offered as a subprotocol');
ok(once_in_order($r->{published}, $r->{rec}), 's: every event once');

# f: token refresh

$r = $r{f} // {};
is(join(' ', map { $_ ? 1 : 0 } @{$r->{ready} // []}), '1 1 1 1',
    'f: each transport connected with a 4 s token, rooms subscribed');
ok(($r->{seconds} // 0) > 6, "f: ran $r->{seconds} s, past the first tokens' expiry");
is($r->{closes4001}, 0, 'f: no connection closed for an expired token (4001)');
for my $k (qw(websocket eventsource longpoll)) {
    my $n = ($r->{recs}{$k} // {})->{tokenCalls} // 0;
    my %pub = (websocket => 'user:u0', eventsource => 'user:u1',
        longpoll => 'user:u2');
    ok(once_in_order($r->{published}, $r->{recs}{$k}, [ $pub{$k} ]),
        "f: $k: every event once");
    ok($n >= 3, "f: $k: getToken() called $n times");
}
is(states($r->{recs}{websocket}), 'connecting live/websocket',
    'f: websocket: never reconnected');
is(errors($r->{recs}{websocket}) . errors($r->{recs}{longpoll})
    . errors($r->{recs}{eventsource}), '[][][]', 'f: no error');

# g: gaps

$r = $r{g} // {};
for my $k (qw(websocket eventsource longpoll)) {
    my $rec = $r->{recs}{$k} // {};
    my $g = $rec->{gaps} // [];
    is(JSON::PP->new->canonical->encode($g),
        JSON::PP->new->canonical->encode([ { at => 0, room => 'startup:g',
            gap => { reason => 'history', from => 3, to => 7,
                epoch => $r->{epoch} // '' } } ]),
        "g: $k: onGap(room, gap) before the events history kept");
    is(join(' ', map { $_->[1] } @{$rec->{events} // []}), '8 9 10',
        "g: $k: then the events history kept");
}
$r = $r->{recAhead} // {};
is(join(' ', map { "$_->{room} $_->{gap}{reason} $_->{gap}{seq}" } @{$r->{gaps} // []}),
    'startup:g2 epoch 0', 'g: a position ahead of the room: epoch gap');
is(join(' ', map { $_->[1] } @{$r->{events} // []}), '1 2',
    'g: then the events of the room');

# h: buffering proxy

$r = $r{h} // {};
ok($r->{polling}, 'h: polling over long-polls behind a buffering proxy');
is(states($r->{rec}), 'connecting polling/longpoll',
    'h: the silent event stream was never used');
ok(once_in_order($r->{published}, $r->{rec}), 'h: every event once, in order');

# r: a refused room

$r = $r{r} // {};
is(join(' ', map { $_ ? 1 : 0 } @{$r->{ready} // []}), '1 1 1',
    'r: connected with a refused room among the others');
for my $k (qw(websocket longpoll)) {
    my $rec = $r->{recs}{$k} // {};
    is(join(' ', map { "$_->{code} $_->{room}" } @{$rec->{errors} // []}),
        'forbidden nope:r', "r: $k: an error names the refused room");
    ok(once_in_order($r->{published}, $rec, [ 'startup:r', 'extra:r' ]),
        "r: $k: the other rooms' events once");
}

# w: no worker script

$r = $r{w} // {};
ok($r->{live}, 'w: live without the SharedWorker script');
is($r->{rec}{link}, 'LeaderLink', 'w: through a leader tab');
ok(once_in_order($r->{published}, $r->{rec}), 'w: every event once');

###############################################################################
