#!/usr/bin/perl

# Tests for ngx_signal_module: Server-Sent Events (signal_transports
# eventsource). The response head (no chunked framing, no gzip, HTTP/1.0
# too); "retry" first, "subscribed" per room with its position as the id,
# events with ids, in order, as the native JSON on one line; refusals
# (405, a body, invalid_room, forbidden, too_many_rooms, no_websocket,
# the 426 of a WebSocket-only location, origin, JWT); tokens from the query
# and a cookie; resume by ?resume= and Last-Event-ID (which wins), gaps;
# heartbeat comments; a reload under steady publishing (close 1012, EOF,
# reconnect with Last-Event-ID: nothing lost); a slow consumer (4008,
# resume: nothing lost); signal_status and presence counting streams.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS qw(from_json);

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Time::HiRes qw(time sleep);

###############################################################################

my $t = Test::Signal->new(zone => '8m');

my $SECRET = 'k' x 20 . '-sse-secret-of-32+';

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_ping_interval 60s;
    signal_shutdown_window 1s;

    gzip on;
    gzip_types text/event-stream;
    gzip_min_length 1;
    gzip_http_version 1.0;

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /sse {
            signal_websocket;
            signal_transports websocket eventsource;
            signal_allow_subscribe "*";
        }

        location /sse-only {
            signal_websocket;
            signal_transports eventsource;
            signal_allow_subscribe "*";
        }

        location /ws-default {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /join {
            signal_websocket;
            signal_transports websocket eventsource;
            signal_join "j:\$arg_a";
            signal_allow_subscribe "*";
        }

        location /limited {
            signal_websocket;
            signal_transports eventsource;
            signal_join "j:\$arg_u";
            signal_allow_subscribe "pub:*";
            signal_max_rooms_per_connection 3;
        }

        location /origin {
            signal_websocket;
            signal_transports eventsource;
            signal_allow_subscribe "*";
            signal_allow_origin https://ok.example;
        }

        location /ping {
            signal_websocket;
            signal_transports eventsource;
            signal_allow_subscribe "*";
            signal_ping_interval 1s;
        }

        location /jwt {
            signal_websocket;
            signal_transports websocket eventsource;
            signal_jwt_secret "$SECRET";
            signal_jwt_token query=token cookie=jwt;
            signal_jwt_leeway 0s;
            signal_join "u:\$signal_claim_sub";
        }

        location /jwt-admin {
            signal_websocket;
            signal_transports eventsource;
            signal_jwt_secret "$SECRET";
            signal_jwt_token query=token cookie=jwt;
            signal_jwt_require role=admin;
            signal_join admin;
        }

        location /gz {
            default_type text/event-stream;
            return 200 "data: gzip applies to text/event-stream here\\n\\n";
        }

        location /notify {
            signal_notify;
        }

        location /notify5 {
            signal_notify;
            signal_history 5;
        }

        location /notify-big {
            signal_notify;
            signal_history 1000;
            client_max_body_size 1m;
            client_body_buffer_size 1m;
        }

        location /status {
            signal_status;
        }

        location /presence {
            signal_presence;
        }
    }

    # a slow consumer: little kernel buffering between nginx and it
    server {
        listen       127.0.0.1:%%PORT_2%% sndbuf=8k;
        server_name  localhost;

        location /slow {
            signal_websocket;
            signal_transports eventsource;
            signal_allow_subscribe "*";
            signal_send_queue 8k;
        }
    }
}

EOF

$t->run()->plan(114);

###############################################################################

my ($s, $s2, $r, $m, @m, $E, $tr, $sub, @before);

# 1. signal_status and presence count event streams

is(status()->{connections}, 0, 'status: no connections at start');
$s = sse_ok('/sse?rooms=count');
($sub) = until_sub($s, 'count');
my $st = status();
is($st->{connections} . ' ' . $st->{connections_total}, '1 1',
    'status: the stream counted as a connection');
is(get('/presence?room=count')->{connections}, 1,
    'presence: the stream counted in its room');
my $ws = $t->subscriber('/sse', 'count');
is(status()->{connections}, 2, 'status: a stream and a WebSocket');
$ws->close();
sse_close($s);
ok(poll(sub { status()->{connections} == 0 }, 3),
    'status: closed streams no longer count');

# 2. the response head; gzip on for text/event-stream changes nothing

$r = $t->http('GET', '/gz', headers => { 'Accept-Encoding' => 'gzip' });
is($r->{headers}{'content-encoding'} // 'none', 'gzip',
    'config: gzip applies to text/event-stream elsewhere');

$s = sse('/sse?rooms=h:1', headers => { 'Accept-Encoding' => 'gzip' });
my $h = $s->{headers} // {};
is($s->{status}, 200, 'stream: 200');
is(join(' | ', map { $h->{$_} // 'none' } 'content-type',
    'cache-control', 'x-accel-buffering', 'connection'),
    'text/event-stream | no-cache | no | close',
    'stream: Content-Type, Cache-Control, X-Accel-Buffering, Connection');
is(join(' | ', map { $h->{$_} // 'none' } 'content-length',
    'transfer-encoding', 'content-encoding'), 'none | none | none',
    'stream: no Content-Length, Transfer-Encoding, Content-Encoding');

@m = msgs($s, 2);
is($m[0] && $m[0]{raw}, "retry: 1000\n\n", 'stream: "retry: 1000" first');
$E = ($m[1] && ref $m[1]{json} eq 'HASH' && $m[1]{json}{epoch}) // '';
ok(is_epoch($E), 'subscribed: an epoch');
is($m[1] && $m[1]{raw}, "id: h:1:0:$E\ndata: {\"type\":\"subscribed\","
    . "\"room\":\"h:1\",\"seq\":0,\"epoch\":\"$E\"}\n\n",
    'subscribed: id room:0:epoch, the native JSON');

# events: ids, in order, the JSON of the native WebSocket event

$ws = $t->subscriber('/sse', 'h:1');
$t->publish('h:1', 'e', $_) for 1 .. 3;
$t->publish('h:1', 'obj', '{"s":"caf\u00e9 \u2603","n":[1,2.5,null]}');
@m = msgs($s, 4);
is(join(' ', map { $_->{id} // 'none' } @m),
    join(' ', map { "h:1:$_:$E" } 1 .. 4), 'events: ids h:1:<seq>:epoch');
is(join(' ', map { words($_) } @m), 'e1 e2 e3 e4', 'events: in order');
is_deeply($m[0] && $m[0]{json}, { type => 'event', room => 'h:1',
    event => 'e', data => 1, seq => 1, epoch => $E }, 'an event message');
my @wsp = map { ($ws->recv_message() // {})->{payload} // '' } 1 .. 4;
is(join("\n", map { $_->{data} // '' } @m), join("\n", @wsp),
    'events: the data is the WebSocket event payload, byte for byte');
is(scalar(grep { $_->{raw} =~ /\Aid: [^\n]*\ndata: [^\n]*\n\n\z/ } @m), 4,
    'events: an id line and one data line each');
ok(quiet($s), 'events: nothing else');
$ws->close();
ok(!grep({ /\r/ } $s->{body}), 'stream: LF line ends only');
sse_close($s);

# several rooms (URL-encoded), a family, signal_join

$s = sse_ok('/join?a=x&rooms=m%3A1%2Cm%3A2,fam%3A*');
my %subs = subs($s, 4);
is(join(' ', map { "$_=" . ($subs{$_}{id} // 'none') } sort keys %subs),
    join(' ', 'fam:*=none', map { "$_=$_:0:" . ($subs{$_}{json}{epoch}
        // '?') } 'j:x', 'm:1', 'm:2'),
    'subscribed for each room; ids for exact rooms, none for a family');
is_deeply($subs{'fam:*'} && $subs{'fam:*'}{json},
    { type => 'subscribed', room => 'fam:*' },
    'a family: subscribed without seq and epoch');
is_deeply($subs{'j:x'} && strip($subs{'j:x'}{json}),
    { type => 'subscribed', room => 'j:x', seq => 0 },
    'a signal_join room: subscribed with its position');
$t->publish('fam:a', 'f', 1);
$t->publish('m:2', 'g', 2);
$t->publish('j:x', 'h', 3);
@m = msgs($s, 3);
is(join(' ', map { ($_->{json}{room} // '?') . '/' . (id_ok($_) ? 'id'
    : 'bad id ' . ($_->{id} // 'none')) } @m), 'fam:a/id m:2/id j:x/id',
    'events of a family and rooms, each with its room\'s id');
ok(quiet($s), 'several rooms: nothing else');
sse_close($s);

# ?transport=eventsource without Accept; the same location speaks
# WebSocket still

$s = sse('/sse?transport=eventsource&rooms=tr', headers => { Accept => undef });
is(($s->{status} // 0) . ' ' . ($s->{headers}{'content-type'} // ''),
    '200 text/event-stream', '?transport=eventsource: an event stream');
is(join(' ', map { words($_) } msgs($s, 2)), 'retry(1000) sub(0)',
    '?transport=eventsource: retry, subscribed');
sse_close($s);
$ws = $t->ws('/sse', headers => { Accept => 'text/event-stream' });
is(ref $ws eq 'Test::Signal::WS' ? 101 : $ws->{status}, 101,
    'an Upgrade with Accept: text/event-stream: a WebSocket');
$ws->close() if ref $ws eq 'Test::Signal::WS';

# 3. the line-break rule

$s = sse_ok('/sse?rooms=lb');
until_sub($s, 'lb');
$ws = $t->subscriber('/sse', 'lb');
$r = $t->notify('/notify', qq({"room":"lb","event":"e","data":{"a":\n1,)
    . qq(\r"b":\r\n"x\\ny\\r",\n\n"c"\r:\t[\r\n]}\n}\r\n));
is($r->{status}, 202, 'line breaks: published');
$m = next_msg($s);
my $wsm = ($ws->recv_message() // {})->{payload} // '';
(my $flat = $wsm) =~ tr/\r\n/  /;
ok($wsm =~ /\{"a":\n1,\r"b":\r\n"x/,
    'line breaks: the WebSocket event carries them raw');
like($m && $m->{raw}, qr/\Aid: lb:1:\w+\ndata: [^\r\n]*\n\n\z/,
    'line breaks: one id line, one data line, no CR');
is($m && $m->{data}, $flat,
    'line breaks: raw CR and LF of the JSON become spaces');
like($m && $m->{data}, qr/"x\\ny\\r"/, 'line breaks: escapes stay');
is_deeply($m && $m->{json}{data}, { a => 1, b => "x\ny\r", c => [] },
    'line breaks: the data decodes');
ok(quiet($s), 'line breaks: one message');
$ws->close();
sse_close($s);

# 4. refusals

$r = sse('/sse?rooms=a', method => 'POST');
is($r->{status} . ' ' . ($r->{headers}{allow} // 'none'), '405 GET',
    'POST: 405 with Allow: GET');
$r = sse('/sse?rooms=a', method => 'PUT', body => '{}');
is($r->{status}, 405, 'PUT: 405');
$r = sse('/sse?rooms=a', body => '{}');
is($r->{status}, 400, 'a GET with a body: 400');

for my $bad ('a%20b', 'x:', 'a,,b', 'ok,b%22c', 'x' x 129) {
    $r = sse("/sse?rooms=$bad");
    is(refusal($r), '400 invalid_room', 'rooms=' . (length $bad > 20
        ? length($bad) . ' bytes' : $bad) . ': 400 invalid_room');
}

$r = sse('/limited?u=1&rooms=priv:a');
is(refusal($r), '403 forbidden', 'a room not allowed: 403 forbidden');
$r = sse('/limited?u=1&rooms=pub:a,priv:a');
is(refusal($r), '403 forbidden', 'one room not allowed: 403 forbidden');
$r = sse('/limited?u=1&rooms=pub:a,pub:b,pub:c');
is(refusal($r), '400 too_many_rooms',
    'join + 3 rooms, 3 allowed: 400 too_many_rooms');
$s = sse('/limited?u=1&rooms=pub:a,pub:b');
is($s->{status}, 200, 'join + 2 rooms, 3 allowed: 200');
%subs = subs($s, 3);
is(join(' ', sort keys %subs), 'j:1 pub:a pub:b',
    'join + 2 rooms: subscribed for the 3');
sse_close($s);

$r = sse('/sse-only?rooms=a', headers => { Accept => undef });
is(refusal($r), '400 no_websocket',
    'eventsource only, a plain GET: 400 no_websocket');
$r = $t->ws('/sse-only');
is(refusal($r), '400 no_websocket',
    'eventsource only, a WebSocket handshake: 400 no_websocket');
$s = sse('/sse-only?rooms=a');
is($s->{status}, 200, 'eventsource only, an event stream: 200');
sse_close($s);

$r = sse('/ws-default?rooms=a');
is(refusal($r), '426 upgrade_required',
    'a WebSocket-only location: 426 upgrade_required');
$r = sse('/ws-default?rooms=a&transport=eventsource');
is(refusal($r), '426 upgrade_required',
    'a WebSocket-only location, ?transport=eventsource: 426');

$r = sse('/origin?rooms=a', headers => { Origin => 'https://evil.example' });
is(refusal($r), '403 origin_not_allowed', 'another origin: 403');
$s = sse('/origin?rooms=a', headers => { Origin => 'https://ok.example' });
is($s->{status}, 200, 'an allowed origin: 200');
sse_close($s);

# JWT: query=token, cookie=jwt

my %claims = (sub => 'u1', exp => int(time()) + 600);
my ($good, $forged, $admin) = $t->jwt(
    { alg => 'HS256', secret => $SECRET, payload => \%claims },
    { alg => 'HS256', secret => 'x' x 40, payload => \%claims },
    { alg => 'HS256', secret => $SECRET,
        payload => { %claims, role => 'admin' } });

$r = sse('/jwt');
is(refusal($r), '401 missing_token', 'no token: 401 missing_token');
$r = sse('/jwt?token=abc.def.ghi');
is(refusal($r), '401 invalid_token', 'a malformed token: 401');
$r = sse("/jwt?token=$forged");
is(refusal($r), '401 invalid_token', 'a forged token: 401 invalid_token');
$r = sse('/jwt', headers => { Cookie => "jwt=$forged" });
is(refusal($r), '401 invalid_token', 'a forged token in the cookie: 401');
$r = sse("/jwt-admin?token=$good");
is($r->{status}, 403, 'a required claim missing: 403');

$s = sse("/jwt?token=$good");
is(join(' ', $s->{status}, map { words($_) } msgs($s, 2)),
    '200 retry(1000) sub(0)', 'token in the query: accepted');
is(($s->{json_last} // {})->{room}, 'u:u1', 'token in the query: its room');
sse_close($s);
$s = sse('/jwt', headers => { Cookie => "a=b; jwt=$good" });
is(join(' ', $s->{status}, map { words($_) } msgs($s, 2)),
    '200 retry(1000) sub(0)', 'token in a cookie: accepted');
sse_close($s);
$s = sse("/jwt-admin?token=$admin");
is($s->{status}, 200, 'a token with the required claim: 200');
sse_close($s);

# (its close is read after the heartbeat tests; made here, just before
# use, so that a slow machine does not see it expire first)
my ($short) = $t->jwt({ alg => 'HS256', secret => $SECRET,
    payload => { %claims, exp => int(time()) + 3 } });
my $expiring = sse_ok("/jwt?token=$short");
until_sub($expiring, 'u:u1');

# 5. HTTP/1.0

$s = sse('/sse?rooms=h10', http_version => '1.0',
    headers => { Host => undef, 'Accept-Encoding' => 'gzip' });
$h = $s->{headers} // {};
is(join(' ', $s->{status}, map { $h->{$_} // 'none' } 'content-type',
    'transfer-encoding', 'content-length', 'content-encoding'),
    '200 text/event-stream none none none', 'HTTP/1.0: a plain stream');
is(join(' ', map { words($_) } msgs($s, 2)), 'retry(1000) sub(0)',
    'HTTP/1.0: retry, subscribed');
$t->publish('h10', 'e', 1);
is(words(next_msg($s)), 'e1', 'HTTP/1.0: an event');
sse_close($s);

# 6. resume: Last-Event-ID, ?resume=, gaps

$s = sse_ok('/sse?rooms=lr');
($sub) = until_sub($s, 'lr');
$E = $sub ? $sub->{json}{epoch} : '';
$t->publish('lr', 'e', $_) for 1 .. 3;
is(join(' ', map { words($_) } msgs($s, 3)), 'e1 e2 e3',
    'before the disconnect: 1 2 3');
sse_close($s);
$t->publish('lr', 'e', $_) for 4 .. 6;

$s = sse_ok('/sse?rooms=lr', headers => { 'Last-Event-ID' => "lr:3:$E" });
is(trace($s, 'lr'), 'retry(1000) e4 e5 e6 sub(6) ids',
    'Last-Event-ID: the missed events, then subscribed, with ids');
$t->publish('lr', 'e', 7);
is(words(next_msg($s)), 'e7', 'Last-Event-ID: then live');
ok(quiet($s), 'Last-Event-ID: nothing else');
sse_close($s);

$s = sse_ok("/sse?rooms=lr&resume=lr%3A2%3A$E");
is(trace($s, 'lr'), 'retry(1000) e3 e4 e5 e6 e7 sub(7) ids',
    '?resume=: the missed events, then subscribed');
sse_close($s);

$s = sse_ok("/sse?rooms=lr&resume=lr%3A0%3A$E",
    headers => { 'Last-Event-ID' => "lr:5:$E" });
is(trace($s, 'lr'), 'retry(1000) e6 e7 sub(7) ids',
    'Last-Event-ID wins over ?resume');
sse_close($s);

$s = sse_ok('/sse?rooms=lr,lr2');
%subs = subs($s, 2);
my $E2 = $subs{lr2} ? $subs{lr2}{json}{epoch} : '';
sse_close($s);
$t->publish('lr2', 'e', $_) for 1 .. 2;
$s = sse_ok("/sse?rooms=lr,lr2&resume=lr%3A1%3A$E,lr2%3A0%3A$E2",
    headers => { 'Last-Event-ID' => "lr:6:$E" });
my %tr;
for $m (msgs($s, 6)) {
    my $room = ref $m->{json} eq 'HASH' ? $m->{json}{room} : '-';
    $tr{$room} .= ' ' . words($m) . (id_ok($m) ? '' : '(bad id)');
}
is_deeply(\%tr, { '-' => ' retry(1000)', lr => ' e7 sub(7)',
    lr2 => ' e1 e2 sub(2)' },
    'Last-Event-ID for one room, ?resume for the other');
ok(quiet($s), 'Last-Event-ID and ?resume: nothing else');
sse_close($s);

for my $bad ('garbage', "lr:x:$E", 'lr:3:abc', "lr:3:${E}0", ':3:') {
    $s = sse("/sse?rooms=lr&resume=lr%3A5%3A$E",
        headers => { 'Last-Event-ID' => $bad });
    is(join(' ', $s->{status}, trace($s, 'lr')),
        '200 retry(1000) e6 e7 sub(7) ids',
        "Last-Event-ID '$bad' ignored: ?resume applies");
    sse_close($s);
}
$s = sse('/sse?rooms=lr', headers => { 'Last-Event-ID' => 'garbage' });
is(join(' ', $s->{status}, trace($s, 'lr')), '200 retry(1000) sub(7) ids',
    'a garbage Last-Event-ID alone: ignored');
ok(quiet($s), 'a garbage Last-Event-ID alone: nothing else');
sse_close($s);

# a gap "history" beyond signal_history 5

$s = sse_ok('/sse?rooms=w5');
($sub) = until_sub($s, 'w5');
my $Ew = $sub ? $sub->{json}{epoch} : '';
sse_close($s);
$t->publish('w5', 'e', $_, path => '/notify5') for 1 .. 12;

$s = sse_ok('/sse?rooms=w5', headers => { 'Last-Event-ID' => "w5:0:$Ew" });
@m = msgs($s, 2);
is(join(' ', map { words($_) } @m), 'retry(1000) gap(history,1-7)',
    'beyond the window: a gap "history"');
is_deeply($m[1] && $m[1]{json}, { type => 'gap', room => 'w5',
    reason => 'history', from => 1, to => 7, epoch => $Ew },
    'the gap message');
ok(!defined(($m[1] // {})->{id}) || $m[1]{id} eq "w5:7:$Ew",
    'the gap message: no id, or the position after it')
    or diag("id: $m[1]{id}");
is(trace($s, 'w5'), 'e8 e9 e10 e11 e12 sub(12) ids',
    'beyond the window: the newest 5, subscribed');
sse_close($s);

# a browser that loses the stream right after the gap comes back with the
# gap's id: it must not skip the events the gap did not cover
$s = sse_ok('/sse?rooms=w5',
    headers => { 'Last-Event-ID' => ($m[1] // {})->{id} // "w5:7:$Ew" });
is(trace($s, 'w5'), 'retry(1000) e8 e9 e10 e11 e12 sub(12) ids',
    'resuming from the gap\'s id: the events after the gap');
sse_close($s);

# a position of another epoch: a gap "epoch" with its position as id

my $wrong = $E eq 'ffffffffffffffff' ? 'fffffffffffffffe' : 'ffffffffffffffff';
$s = sse_ok('/sse?rooms=lr', headers => { 'Last-Event-ID' => "lr:3:$wrong" });
is(trace($s, 'lr'), 'retry(1000) gap(epoch,0) e1 e2 e3 e4 e5 e6 e7 sub(7) '
    . 'ids', 'another epoch: a gap "epoch", the epoch\'s events');
sse_close($s);

# 7. heartbeat comments every signal_ping_interval (1s)

$s = sse_ok('/ping?rooms=hb');
until_sub($s, 'hb');
my $t0 = time();
my @beat;
for (1 .. 2) {
    $m = next_msg($s, 2);
    push @beat, [ $m ? $m->{raw} : 'none', time() - $t0 ];
}
is(join(' ', map { $_->[0] } @beat), ":\n\n :\n\n",
    'heartbeat: two comment messages ":"');
my $gap = $beat[1][1] - $beat[0][1];
ok($gap > 0.7 && $gap < 1.5, 'heartbeat: one a second')
    or diag(sprintf('%.2fs', $gap));
$t->publish('hb', 'e', 1);
is(words(next_msg($s)), 'e1', 'heartbeat: the stream stays open');
sse_close($s);

# the token of a stream expired: close 4001, EOF

drain([ $expiring ], 4);
is(close_of($expiring), '4001 EOF',
    'the token expired: close 4001, then EOF');
sse_close($expiring);

# 8. reload under steady publishing: close 1012 on each stream, EOF; the
# stream of one room reconnects with Last-Event-ID and misses nothing

my $A = sse_ok('/sse?rooms=rl');
($sub) = until_sub($A, 'rl');
my @streams = ($A, sse_ok('/sse?rooms=rl,rl:other,rl-fam:*'),
    sse_ok('/join?a=rl'), sse_ok('/sse-only?rooms=rl'));
until_sub($streams[1], 'rl-fam:*');
until_sub($streams[2], 'j:rl');
until_sub($streams[3], 'rl');

my ($pid, $pipe) = publisher('rl', 300, 100);
my @gotA;
poll(sub { pump($A, 0.05); grep({ ($_->{json}{type} // '') eq 'event' }
    @{$A->{got}}) >= 20 }, 5);
$t0 = time();
my @old = $t->reload();
drain(\@streams, 5);
my $closed_in = time() - $t0;

is(join(' ', map { close_of($_) } @streams), join(' ', ('1012 EOF') x 4),
    'reload: every stream ends with close 1012, then EOF');
is(join(' ', map { scalar(grep { defined $_->{json}{code} } @{$_->{got}})
    } @streams), '1 1 1 1', 'reload: one close message each');
ok($closed_in < 3, 'reload: within the window')
    or diag(sprintf('%.2fs', $closed_in));
ok($t->wait_pids_gone(\@old, 5), 'reload: the old workers exited');

my @evA = grep { ($_->{json}{type} // '') eq 'event' } @{$A->{got}};
push @gotA, map { $_->{json}{seq} // -1 } @evA;
my $last = (grep { defined $_->{id} } @{$A->{got}})[-1];
$last = $last ? $last->{id} : '';
is(scalar(grep { !id_ok($_) } @{$A->{got}}), 0, 'reload: ids before it');

$s = sse_ok('/sse?rooms=rl', headers => { 'Last-Event-ID' => $last });
($sub, @before) = until_sub($s, 'rl', 5);
my $replayed = grep { ($_->{json}{type} // '') eq 'event' } @before;
push @gotA, map { $_->{json}{seq} // -1 } grep {
    ($_->{json}{type} // '') eq 'event' } @before;
is(join(' ', map { words($_) } grep {
    ($_->{json}{type} // '') ne 'event' } @before), 'retry(1000)',
    'reload: the reconnection gets no gap');
ok($sub && $sub->{json}{seq} == ($gotA[-1] // -1),
    "reload: subscribed at the last of $replayed replayed events");
my ($ok202, $lastseq) = publisher_done($pid, $pipe);
is($ok202, 300, 'reload: 300 publishes accepted');
collect($s, \@gotA, $lastseq, 5);
is(tally(\@gotA, $lastseq), 'lost 0 dup 0 ordered',
    "reload: 1..$lastseq once each, in order");
ok(quiet($s), 'reload: nothing after');
sse_close($s);
sse_close($_) for @streams;

# 9. a slow consumer: the stream ends (4008); it resumes losslessly

$s = sse_ok('/slow?rooms=slow', port => $t->port(2), rcvbuf => 4096);
($sub) = until_sub($s, 'slow');
my $Es = $sub ? $sub->{json}{epoch} : '';
my $kb = '"' . ('x' x 1000) . '"';
my $accepted = 0;
for my $n (1 .. 30) {
    $r = $t->notify('/notify-big', '{"events":[' . join(',',
        map { qq({"room":"slow","event":"e","data":$kb}) } 1 .. 10) . ']}');
    $accepted++ if $r->{status} == 202;
}
is($accepted, 30, 'slow consumer: 300 events of 1 KB accepted');

drain([ $s ], 8);
my @got = @{$s->{got}};
my @slow = map { $_->{json}{seq} // -1 } grep {
    ($_->{json}{type} // '') eq 'event' } @got;
is(close_of($s), '4008 EOF', 'slow consumer: close 4008, then EOF');
is_deeply(@got ? $got[-1]{json} : undef, { type => 'close', code => 4008,
    reason => 'slow consumer' }, 'slow consumer: the close message');
ok(@slow < 300, 'slow consumer: ' . scalar(@slow) . ' events before it');
is(tally(\@slow, $slow[-1] // 0), 'lost 0 dup 0 ordered',
    'slow consumer: those in order, from 1');
is(scalar(grep { !defined $_->{json} } @got), 0,
    'slow consumer: every message whole')
    or diag(join("\n", map { substr($_->{raw}, 0, 100) }
        grep { !defined $_->{json} } @got));

$last = (grep { defined $_->{id} } @got)[-1];
$s = sse_ok('/sse?rooms=slow',
    headers => { 'Last-Event-ID' => $last ? $last->{id} : '' });
($sub, @before) = until_sub($s, 'slow', 5);
push @slow, map { $_->{json}{seq} // -1 } grep {
    ($_->{json}{type} // '') eq 'event' } @before;
is(join(' ', map { words($_) } grep {
    ($_->{json}{type} // '') ne 'event' } @before), 'retry(1000)',
    'slow consumer resumed: no gap');
is(($sub // {})->{json}{seq}, 300, 'slow consumer resumed: subscribed at 300');
$t->publish('slow', 'e', 301, path => '/notify-big');
collect($s, \@slow, 301, 3);
is(tally(\@slow, 301), 'lost 0 dup 0 ordered',
    'slow consumer: 1..301 once each, in order');
ok($Es eq (($sub // {})->{json}{epoch} // ''), 'slow consumer: one epoch');
sse_close($s);

# 10. quit: close 1001, EOF

$s = sse_ok('/sse?rooms=q');
until_sub($s, 'q');
$t->signal('QUIT');
drain([ $s ], 4);
is(close_of($s), '1001 EOF', 'quit: close 1001, then EOF');
is(($s->{got}[-1] // {})->{json}{reason}, 'server shutting down',
    'quit: reason "server shutting down"');
ok($t->wait_exit(5), 'quit: nginx exited');

###############################################################################

# A request for an event stream: GET $path with Host and Accept:
# text/event-stream (headers => {Name => value, or undef to drop one}),
# method =>, body =>, http_version =>, port =>, rcvbuf => (SO_RCVBUF).
# On 200 a stream: {status, headers, sock, buf, body (every body byte
# read), got (see pump), eof}; otherwise the response with its body read
# (and json).
sub sse {
    my ($path, %o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $o{port} // $t->port(1), Proto => 'tcp', Timeout => 3)
        or return { status => 0, error => "connect: $!" };
    setsockopt($sock, SOL_SOCKET, SO_RCVBUF, $o{rcvbuf}) if $o{rcvbuf};
    $sock->blocking(0);

    my @h = ([ Host => 'localhost' ], [ Accept => 'text/event-stream' ]);
    my %extra = %{$o{headers} || {}};
    for my $name (sort keys %extra) {
        @h = grep { lc $_->[0] ne lc $name } @h;
        push @h, [ $name, $extra{$name} ];
    }
    push @h, [ 'Content-Length', length $o{body} ] if defined $o{body};

    my $req = sprintf("%s %s HTTP/%s\r\n", $o{method} // 'GET', $path,
        $o{http_version} // '1.1')
        . join('', map { "$_->[0]: $_->[1]\r\n" } grep { defined $_->[1] }
            @h) . "\r\n" . ($o{body} // '');
    Test::Signal::WS::write_all($sock, $req)
        or return { status => 0, error => "write: $!" };

    my $s = { sock => $sock, buf => '', body => '', got => [], eof => 0,
        request => $req, status => 0, headers => {} };
    my $deadline = time() + 3;

    while ($s->{buf} !~ /\r\n\r\n/) {
        next if Test::Signal::WS::fill($sock, \$s->{buf}, $deadline,
            \$s->{eof});
        CORE::close($sock);
        return { status => 0, error => $s->{eof} ? 'eof' : 'timeout',
            raw => $s->{buf} };
    }

    $s->{buf} =~ s/\A(.*?)\r\n\r\n//s;
    my ($line, @lines) = split /\r\n/, $1;
    $s->{status_line} = $line;
    ($s->{status}) = $line =~ m{^HTTP/\d\.\d (\d{3})};
    $s->{status} //= 0;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        $k = lc $k;
        $s->{headers}{$k} = exists $s->{headers}{$k}
            ? "$s->{headers}{$k}, $v" : $v;
    }
    $s->{body} = $s->{buf};

    return $s if $s->{status} == 200;

    # a refusal: its body, by Content-Length or up to EOF
    my $len = $s->{headers}{'content-length'};
    while (!defined $len || length $s->{buf} < $len) {
        fill_s($s, $deadline) or last;
    }
    CORE::close($sock);
    delete $s->{sock};
    $s->{body} = defined $len ? substr($s->{buf}, 0, $len) : $s->{buf};
    $s->{json} = from_json($s->{body})
        if ($s->{headers}{'content-type'} // '') =~ /json/;
    return $s;
}

# sse() that dies unless the stream opened
sub sse_ok {
    my ($path, %o) = @_;
    my $s = sse($path, %o);
    die "event stream $path: $s->{status} "
        . ($s->{body} // $s->{error} // '') . "\n" unless $s->{status} == 200;
    return $s;
}

sub sse_close {
    my ($s) = @_;
    CORE::close($s->{sock}) if $s && $s->{sock};
    delete $s->{sock} if $s;
}

# reads more of a stream until $deadline: 1 on data, 0 on timeout or EOF
sub fill_s {
    my ($s, $deadline) = @_;
    return 0 if $s->{eof} || !$s->{sock};
    my $before = length $s->{buf};
    Test::Signal::WS::fill($s->{sock}, \$s->{buf}, $deadline, \$s->{eof})
        or return 0;
    $s->{body} .= substr($s->{buf}, $before);
    return 1;
}

# One message out of the buffer, undef while incomplete: the lines up to
# a blank one, a line ending with LF, CRLF or CR (as a browser reads).
# {raw, fields (names in order), id, data (lines joined by LF), retry,
# event, other (other fields), comments, kind (comment, retry or data),
# json (data decoded)}
sub parse_msg {
    my ($s) = @_;
    my ($buf, $raw, @lines) = ($s->{buf}, '');

    for ( ;; ) {
        $buf =~ s/\A([^\r\n]*)(\r\n|\n|\r(?=[^\n]))// or return undef;
        my ($line, $end) = ($1, $2);
        $raw .= $line . $end;
        last if $line eq '';
        push @lines, $line;
    }
    $s->{buf} = $buf;

    my $m = { raw => $raw, fields => [], comments => [], other => {} };
    for my $l (@lines) {
        if ($l =~ /^:(.*)\z/s) {
            push @{$m->{comments}}, $1;
            next;
        }
        my ($name, $v) = $l =~ /^([^:]*)(?::(.*))?\z/s;
        $v //= '';
        $v =~ s/^ //;
        push @{$m->{fields}}, $name;
        if ($name eq 'data') {
            $m->{data} = defined $m->{data} ? "$m->{data}\n$v" : $v;
        } elsif ($name =~ /^(id|retry|event)\z/) {
            $m->{$name} = $v;
        } else {
            $m->{other}{$name} = $v;
        }
    }
    $m->{kind} = defined $m->{data} ? 'data'
        : defined $m->{retry} ? 'retry' : 'comment';
    $m->{json} = from_json($m->{data}) if defined $m->{data};
    $s->{json_last} = $m->{json} if ref $m->{json} eq 'HASH';
    return $m;
}

# the next message within $timeout (3 s), or undef
sub next_msg {
    my ($s, $timeout) = @_;
    my $deadline = time() + ($timeout // 3);
    for ( ;; ) {
        my $m = parse_msg($s);
        return $m if $m;
        fill_s($s, $deadline) or return undef;
    }
}

# the next $n messages (fewer on timeout)
sub msgs {
    my ($s, $n, $timeout) = @_;
    my $deadline = time() + ($timeout // 3);
    my @m;
    while (@m < $n) {
        my $m = next_msg($s, $deadline - time()) or last;
        push @m, $m;
    }
    return @m;
}

# 1 if no message comes within $timeout (0.2 s); else a diag()
sub quiet {
    my ($s, $timeout) = @_;
    my $m = next_msg($s, $timeout // 0.2) or return 1;
    diag('unexpected message: ' . $m->{raw});
    return 0;
}

# messages up to "subscribed" for $room: (that one or undef, the others)
sub until_sub {
    my ($s, $room, $timeout) = @_;
    my $deadline = time() + ($timeout // 3);
    my @before;
    while (my $m = next_msg($s, $deadline - time())) {
        my $j = ref $m->{json} eq 'HASH' ? $m->{json} : {};
        return ($m, @before) if ($j->{type} // '') eq 'subscribed'
            && ($j->{room} // '') eq $room;
        push @before, $m;
    }
    return (undef, @before);
}

# "subscribed" messages of the next $n messages, by room
sub subs {
    my ($s, $n) = @_;
    my %subs;
    for my $m (msgs($s, $n + 1)) {
        my $j = ref $m->{json} eq 'HASH' ? $m->{json} : {};
        $subs{$j->{room} // ''} = $m if ($j->{type} // '') eq 'subscribed';
    }
    return %subs;
}

# what comes up to "subscribed" for $room, as words, and "ids" when every
# id is the position the message carries (else the bad ones)
sub trace {
    my ($s, $room) = @_;
    my ($sub, @m) = until_sub($s, $room);
    push @m, $sub if $sub;
    my @bad = grep { !id_ok($_) } @m;
    return join(' ', (map { words($_) } @m),
        @bad ? 'bad ids: ' . join(',', map { $_->{id} // 'none' } @bad)
            : 'ids');
}

# a message as a word: e<seq>, sub(<seq>), gap(history,a-b),
# gap(epoch,<seq>), close(<code>), retry(<ms>), ":" (a comment), or raw
sub words {
    my ($m) = @_;
    return 'none' unless $m;
    return ':' if $m->{kind} eq 'comment';
    return "retry($m->{retry})" if $m->{kind} eq 'retry';
    my $j = $m->{json};
    return "raw($m->{raw})" unless ref $j eq 'HASH';
    my $ty = $j->{type} // '';
    return 'e' . ($j->{seq} // '?') if $ty eq 'event';
    return 'sub(' . ($j->{seq} // '-') . ')' if $ty eq 'subscribed';
    return "close($j->{code})" if $ty eq 'close';
    return "gap(history,$j->{from}-$j->{to})"
        if $ty eq 'gap' && ($j->{reason} // '') eq 'history';
    return "gap(epoch,$j->{seq})"
        if $ty eq 'gap' && ($j->{reason} // '') eq 'epoch';
    return "raw($m->{raw})";
}

# 1 if the message's id is the position it carries: <room>:<seq>:<epoch>
# for an event, "subscribed" or a gap "epoch"; none without one; a gap
# "history": none, or the position after it
sub id_ok {
    my ($m) = @_;
    my $j = ref $m->{json} eq 'HASH' ? $m->{json} : {};
    my $want;
    if (($j->{type} // '') eq 'gap' && ($j->{reason} // '') eq 'history') {
        return !defined $m->{id}
            || $m->{id} eq "$j->{room}:$j->{to}:$j->{epoch}";
    }
    $want = "$j->{room}:$j->{seq}:$j->{epoch}"
        if defined $j->{seq} && defined $j->{epoch};
    return !defined $m->{id} && !defined $want
        || defined $m->{id} && defined $want && $m->{id} eq $want;
}

# reads what is there on a stream within $timeout into $s->{got}
sub pump {
    my ($s, $timeout) = @_;
    my $deadline = time() + ($timeout || 0.005);
    while (fill_s($s, $deadline)) {
        $deadline = time() + 0.001;
    }
    while (my $m = parse_msg($s)) {
        push @{$s->{got}}, $m;
    }
}

# reads every stream into its {got} until each is at EOF or $timeout
sub drain {
    my ($streams, $timeout) = @_;
    my $deadline = time() + $timeout;
    while (time() < $deadline) {
        my @open = grep { !$_->{eof} && $_->{sock} } @$streams;
        last unless @open;
        my %of = map { fileno($_->{sock}) => $_ } @open;
        my $sel = IO::Select->new(map { $_->{sock} } @open);
        for my $fh ($sel->can_read(0.05)) {
            pump($of{fileno $fh}, 0);
        }
    }
    pump($_, 0) for grep { $_->{sock} } @$streams;
}

# how a drained stream ended: "<code of its last message> EOF", or what
# came after the close, or "open"
sub close_of {
    my ($s) = @_;
    my @got = @{$s->{got}};
    my ($ci) = grep { ($got[$_]{json}{type} // '') eq 'close' } 0 .. $#got;
    return 'no close' . ($s->{eof} ? ' EOF' : ' open') unless defined $ci;
    my $c = $got[$ci];
    my $ok = $c->{raw} eq "data: {\"type\":\"close\",\"code\":"
        . "$c->{json}{code},\"reason\":\"$c->{json}{reason}\"}\n\n";
    return join(' ', $c->{json}{code}, $ok ? () : "raw($c->{raw})",
        $ci < $#got ? 'then ' . join(',', map { words($_) }
            @got[$ci + 1 .. $#got]) : (),
        length $s->{buf} ? 'then bytes' : (),
        $s->{eof} ? 'EOF' : 'open');
}

# events into @$got (their seqs) until seq $upto, or $timeout seconds
sub collect {
    my ($s, $got, $upto, $timeout) = @_;
    my $deadline = time() + $timeout;
    while (!@$got || $got->[-1] < $upto) {
        my $m = next_msg($s, $deadline - time()) or last;
        push @$got, $m->{json}{seq} // -1
            if ref $m->{json} eq 'HASH'
            && ($m->{json}{type} // '') eq 'event';
    }
}

# "lost L dup D ordered|unordered" of seqs against 1..$n; a seq out of
# the range counts as a duplicate
sub tally {
    my ($seqs, $n) = @_;
    my %c;
    $c{$_}++ for @$seqs;
    my $lost = grep { !$c{$_} } 1 .. $n;
    my $dup = 0;
    $dup += $c{$_} - 1 for grep { $c{$_} > 1 } keys %c;
    $dup += $c{$_} for grep { $_ < 1 || $_ > $n } keys %c;
    my $ordered = 1;
    for my $i (1 .. $#$seqs) {
        $ordered = 0 if $seqs->[$i] <= $seqs->[$i - 1];
    }
    return "lost $lost dup $dup " . ($ordered ? 'ordered' : 'unordered');
}

# a child process that publishes $n events to $room at $rate per second;
# publisher_done() waits for it: (publishes answered 202, the last seq)
sub publisher {
    my ($room, $n, $rate) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        close($rd);
        alarm(15);
        my ($ok, $seq) = (0, 0);
        my $t0 = time();
        for my $i (1 .. $n) {
            my $wait = $t0 + $i / $rate - time();
            sleep($wait) if $wait > 0;
            my $r = $t->notify('/notify-big',
                qq({"room":"$room","event":"e","data":$i}));
            next unless $r->{status} == 202;
            $ok++;
            $seq = $r->{json}{published}[0]{seq} // 0;
        }
        print $wr "$ok $seq\n";
        close($wr);
        POSIX::_exit(0);
    }
    close($wr);
    return ($pid, $rd);
}

sub publisher_done {
    my ($pid, $rd) = @_;
    my $line = '';
    if (IO::Select->new($rd)->can_read(10)) {
        $line = <$rd> // '';
    }
    close($rd);
    kill('KILL', $pid) unless $line;
    waitpid($pid, 0);
    my ($ok, $seq) = split ' ', $line;
    return ($ok // 0, $seq // 0);
}

# "<status> <error>" of a refused request
sub refusal {
    my ($r) = @_;
    return ($r->{status} // '?') . ' '
        . ((ref $r->{json} eq 'HASH' && $r->{json}{error}) // '');
}

sub is_epoch {
    my ($e) = @_;
    return defined $e && $e =~ /^[0-9a-f]{16}\z/ && $e =~ /[^0]/;
}

# a message without its epoch (checked)
sub strip {
    my ($j) = @_;
    my %c = %$j;
    my $e = delete $c{epoch};
    return is_epoch($e) ? \%c : { %c, epoch => $e };
}

sub get {
    my ($path) = @_;
    return $t->http('GET', $path)->{json} // {};
}

sub status { get('/status') }

# 1 once $cond is true, 0 after $timeout seconds
sub poll {
    my ($cond, $timeout) = @_;
    my $deadline = time() + $timeout;
    for ( ;; ) {
        return 1 if $cond->();
        return 0 if time() >= $deadline;
        sleep(0.05);
    }
}

###############################################################################
