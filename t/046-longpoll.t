#!/usr/bin/perl

# Tests for ngx_signal_module: long-polling (signal_transports longpoll).
# The answer (200, application/json, Cache-Control: no-store,
# {"messages":[...]}, keepalive, HTTP/1.0, pipelining, a GET with a body);
# the hold (signal_ping_interval without news, prompt with an event);
# stateless resume with ?resume= (replays in order, no duplicate; on
# several workers under steady publishing); gaps (history, epoch, a
# position ahead, the replay limit); a large answer; several rooms and
# families in one poll; refusals (405, invalid_room, forbidden,
# too_many_rooms, bad_resume, JWT, locations without longpoll); a client
# that closes a held poll; token expiry (close 4001); a reload under
# steady publishing with a poll held (nothing lost); an event beyond
# signal_send_queue, and more than it waiting (the next poll has the
# rest).

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS qw(from_json);

use IO::Select;
use IO::Socket::INET;
use List::Util ();
use POSIX ();
use Time::HiRes qw(time sleep);

###############################################################################

my $t = Test::Signal->new(zone => '8m');

my $SECRET = 'k' x 20 . '-lp-secret-of-32+';

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    signal_ping_interval 1s;
    signal_shutdown_window 1s;

    server {
        # reuseport: new connections spread over both workers
        listen       127.0.0.1:%%PORT_1%% reuseport;
        server_name  localhost;

        # which worker answered
        add_header X-Worker \$pid always;

        location /lp {
            signal_websocket;
            signal_transports websocket eventsource longpoll;
            signal_allow_subscribe "*";
        }

        # polls that only news, a close or a reload end
        location /long {
            signal_websocket;
            signal_transports websocket eventsource longpoll;
            signal_allow_subscribe "*";
            signal_ping_interval 30s;
        }

        location /lp-only {
            signal_websocket;
            signal_transports longpoll;
            signal_allow_subscribe "*";
        }

        location /join {
            signal_websocket;
            signal_transports longpoll;
            signal_join "j:\$arg_u";
            signal_allow_subscribe "pub:*";
            signal_max_rooms_per_connection 3;
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

        location /ws-sse {
            signal_websocket;
            signal_transports websocket eventsource;
            signal_allow_subscribe "*";
        }

        location /jwt {
            signal_websocket;
            signal_transports websocket longpoll;
            signal_jwt_secret "$SECRET";
            signal_jwt_token query=token cookie=jwt;
            signal_jwt_leeway 0s;
            signal_join "u:\$signal_claim_sub";
            signal_ping_interval 30s;
        }

        location /small {
            signal_websocket;
            signal_transports longpoll;
            signal_allow_subscribe "*";
            signal_send_queue 4k;
        }

        location /notify {
            signal_notify;
            signal_history 1000;
            client_max_body_size 1m;
            client_body_buffer_size 1m;
        }

        location /notify5 {
            signal_notify;
            signal_history 5;
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

$t->run()->plan(110);

###############################################################################

my ($r, $r2, $c, $E, %pos, $took);

# tokens first: node takes a moment; the short one expires while its poll
# is held (its answer is read in section 8)

my %claims = (sub => 'u2', exp => int(time()) + 600);
my ($good, $forged) = $t->jwt(
    { alg => 'HS256', secret => $SECRET, payload => \%claims },
    { alg => 'HS256', secret => 'x' x 40, payload => \%claims });

# (made again should node be so slow that little of its life is left)
my ($short, $short_exp);
for (1 .. 3) {
    $short_exp = int(time()) + 6;
    ($short) = $t->jwt({ alg => 'HS256', secret => $SECRET,
        payload => { sub => 'u1', exp => $short_exp } });
    last if $short_exp - time() > 3;
}

my $expiring = lp_conn();
lp_send($expiring, "/jwt?transport=longpoll&token=$short");

# 1. the answer: status, head, JSON, "subscribed" per room; held for
# signal_ping_interval without news; keepalive

$r = lp('/lp?transport=longpoll&rooms=f:1,f:2', keep => 1);
my $h = $r->{headers} // {};
is($r->{status}, 200, 'poll: 200');
is(join(' | ', map { $h->{$_} // 'none' } 'content-type', 'cache-control',
    'connection'), 'application/json | no-store | keep-alive',
    'poll: Content-Type, Cache-Control: no-store, keep-alive');
is($h->{'content-length'}, length $r->{body}, 'poll: a Content-Length');
ok(ref $r->{json} eq 'HASH' && join(',', sort keys %{$r->{json}}) eq
    'messages' && ref $r->{msgs} eq 'ARRAY', 'poll: {"messages":[...]}')
    or diag($r->{body});
is(trace($r, 1), 'f:1/sub(0) f:2/sub(0)',
    'no news: "subscribed" for each room');
my %E = map { $_->{room} => $_->{epoch} } @{$r->{msgs} // []};
ok(is_epoch($E{'f:1'}) && is_epoch($E{'f:2'}), 'subscribed: epochs');
is_deeply($r->{msgs} && $r->{msgs}[0], { type => 'subscribed',
    room => 'f:1', seq => 0, epoch => $E{'f:1'} },
    'subscribed: the native message');
ok($r->{took} > 0.8 && $r->{took} < 1.8,
    'no news: answered after signal_ping_interval (1s)')
    or diag(sprintf('%.2fs', $r->{took}));

# the same connection: a poll with the positions, an event already there

$t->publish('f:2', 'e', '{"a":[1,"x"]}');
%pos = ();
track(\%pos, $r);
$r2 = lp('/lp?transport=longpoll&rooms=f:1,f:2&resume=' . resume(\%pos),
    conn => $r->{conn});
is(($r2->{status} // 0) . ' ' . trace($r2, 1),
    '200 f:1/sub(0) f:2/e1 f:2/sub(1)',
    'keepalive: a second poll on the connection, the missed event');
is_deeply($r2->{msgs} && $r2->{msgs}[1], { type => 'event', room => 'f:2',
    event => 'e', data => { a => [ 1, 'x' ] }, seq => 1,
    epoch => $E{'f:2'} }, 'the native event message');
ok($r2->{took} < 0.5, 'something missed: answered at once')
    or diag(sprintf('%.2fs', $r2->{took}));
lp_close($r->{conn});

# a poll held while an event is published: answered with it at once

$c = lp_conn();
lp_send($c, '/long?transport=longpoll&rooms=hold');
ok(held('hold'), 'held: the poll is in its room');
my $t0 = time();
$t->publish('hold', 'e', 1);
$r = lp_recv($c);
$took = time() - $t0;
is(($r->{status} // 0) . ' ' . trace($r), '200 sub(0) e1',
    'held: "subscribed", then the event');
ok($took < 0.5, 'held: answered as the event came')
    or diag(sprintf('%.2fs', $took));
lp_close($c);

# 2. resume: what was published between polls comes at once, in order

%pos = ();
$r = lp('/lp?transport=longpoll&rooms=rs');
track(\%pos, $r);
$E = $pos{rs} ? $pos{rs}[1] : '';
$t->publish('rs', 'e', $_) for 1 .. 5;
$r = lp('/lp?transport=longpoll&rooms=rs&resume=' . resume(\%pos));
is(trace($r), 'e1 e2 e3 e4 e5 sub(5)',
    'resume: the 5 missed events, then "subscribed"');
ok($r->{took} < 0.5, 'resume: at once') or diag(sprintf('%.2fs', $r->{took}));
track(\%pos, $r);
is(join(':', @{$pos{rs} // []}), "5:$E", 'resume: the position after them');

# another worker, another connection, the same positions: the same answer
$r2 = lp('/lp?transport=longpoll&rooms=rs&resume=rs%3A0%3A' . $E);
is(trace($r2), 'e1 e2 e3 e4 e5 sub(5)',
    'resume: stateless (the same position, the same answer)');
$r2 = lp('/lp?transport=longpoll&rooms=rs&resume=rs%3A3%3A' . $E);
is(trace($r2), 'e4 e5 sub(5)', 'resume from 3: e4 e5');

# a position without news: held, then live
$c = lp_conn();
lp_send($c, '/lp?transport=longpoll&rooms=rs&resume=' . resume(\%pos));
ok(held('rs'), 'resume at the room\'s position: held');
$t->publish('rs', 'e', 6);
$r = lp_recv($c);
is(trace($r), 'sub(5) e6', 'resume at the room\'s position: then live');
lp_close($c);

# Last-Event-ID: a browser's header, read as for an event stream
$r = lp('/lp?transport=longpoll&rooms=rs',
    headers => { 'Last-Event-ID' => "rs:4:$E" });
is(trace($r), 'e5 e6 sub(6)', 'Last-Event-ID: a position too');

# 3. gaps

$r = $t->publish('w5', 'e', 1, path => '/notify5');
my $Ew = $r->{json}{published}[0]{epoch} // '';
$t->publish('w5', 'e', $_, path => '/notify5') for 2 .. 12;
$r = lp("/lp?transport=longpoll&rooms=w5&resume=w5%3A0%3A$Ew");
is(trace($r), 'gap(history,1-7) e8 e9 e10 e11 e12 sub(12)',
    'beyond history: a gap "history", the newest 5, subscribed');
is_deeply($r->{msgs} && $r->{msgs}[0], { type => 'gap', room => 'w5',
    reason => 'history', from => 1, to => 7, epoch => $Ew }, 'the gap');
%pos = ();
track(\%pos, { msgs => [ ($r->{msgs} // [])->[0] // () ] });
$r = lp('/lp?transport=longpoll&rooms=w5&resume=' . resume(\%pos));
is(trace($r), 'e8 e9 e10 e11 e12 sub(12)',
    'resuming from the gap\'s position: the events after it');

my $wrong = $E eq 'ffffffffffffffff' ? 'fffffffffffffffe' : 'ffffffffffffffff';
$r = lp("/lp?transport=longpoll&rooms=rs&resume=rs%3A3%3A$wrong");
is(trace($r), 'gap(epoch,0) e1 e2 e3 e4 e5 e6 sub(6)',
    'another epoch: a gap "epoch", the epoch\'s events');
is_deeply($r->{msgs} && $r->{msgs}[0], { type => 'gap', room => 'rs',
    reason => 'epoch', seq => 0, epoch => $E }, 'the gap "epoch"');
$r = lp("/lp?transport=longpoll&rooms=rs&resume=rs%3A99%3A$E");
like(trace($r), qr/^gap\(epoch,\d+\) .*sub\(6\)\z/,
    'a position ahead of the room: a gap "epoch"');

# a large answer (300 events of 1 KB); past the replay limit (half of
# signal_send_queue, 4k on /small): a gap "history", then the newest

my $kb = '"' . ('x' x 1000) . '"';
$r = $t->notify('/notify', '{"events":[' . join(',', map {
    qq({"room":"big3","event":"e","data":$kb}) } 1 .. 300) . ']}');
my $Eb = $r->{json}{published}[0]{epoch} // '';
$r = lp("/lp?transport=longpoll&rooms=big3&resume=big3%3A0%3A$Eb",
    keep => 1);
is(($r->{status} // 0) . ' ' . tally([ map { $_->{seq} // -1 } grep {
    ($_->{type} // '') eq 'event' } @{$r->{msgs} // []} ], 300),
    '200 lost 0 dup 0 ordered', 'a large answer: 300 events of 1 KB');
is(word(($r->{msgs} // [])->[-1] // {}), 'sub(300)',
    'a large answer: "subscribed" last');
$r2 = lp("/small?transport=longpoll&rooms=big3&resume=big3%3A0%3A$Eb",
    conn => $r->{conn});
my ($k) = trace($r2) =~ /^gap\(history,1-(\d+)\)/;
$k //= 0;
is(trace($r2), "gap(history,1-$k) " . join(' ', map { "e$_" } $k + 1 .. 300)
    . ' sub(300)', 'past the replay limit: a gap, the newest events');
ok($k >= 295 && $k < 300, 'past the replay limit: about 2 KB replayed')
    or diag("gap to $k");
lp_close($r->{conn});

# 4. several rooms, a family, signal_join; an event to two rooms

$c = lp_conn();
lp_send($c, '/long?transport=longpoll&rooms=m:1,m:2');
ok(held('m:2'), 'two rooms: held');
$t->notify('/notify', '{"rooms":["m:1","m:2"],"event":"both","data":1}');
$r = lp_recv($c);
is(trace($r, 1), 'm:1/sub(0) m:2/sub(0) m:1/e1 m:2/e1',
    'an event to two rooms: once in each');
lp_close($c);

$c = lp_conn();
lp_send($c, '/long?transport=longpoll&rooms=fam:a,fam:*');
ok(held('fam:a'), 'a family: held');
$t->publish('fam:a', 'e', 1);
$r = lp_recv($c);
is(trace($r, 1), 'fam:a/sub(0) fam:*/sub fam:a/e1',
    'a room and its family: the event once');
is_deeply($r->{msgs} && $r->{msgs}[1], { type => 'subscribed',
    room => 'fam:*' }, 'a family: subscribed without a position');
lp_close($c);

# (a family has no presence: published to until the poll answers)
$c = lp_conn();
lp_send($c, '/long?transport=longpoll&rooms=fam:*');
my $n = 0;
wait_for(sub { $t->publish('fam:b', 'e', ++$n);
    IO::Select->new($c->{sock})->can_read(0.1) }, 3);
$r = lp_recv($c);
like(trace($r, 1), qr{^fam:\*/sub (fam:b/e\d+ ?)+\z},
    'a family alone: its event');
lp_close($c);

# resume for one room, none for the other; signal_join's room
$r = $t->notify('/notify', '{"rooms":["j:7","pub:x"],"event":"e","data":1}');
my %Ej = map { $_->{room} => $_->{epoch} } @{$r->{json}{published} // []};
$t->notify('/notify', '{"rooms":["j:7","pub:x"],"event":"e","data":2}');
$r = lp('/join?transport=longpoll&u=7&rooms=pub:x&resume=j%3A7%3A1%3A'
    . ($Ej{'j:7'} // ''));
is(trace($r, 1), 'j:7/e2 j:7/sub(2) pub:x/sub(2)',
    'signal_join and ?rooms=: resumed the one with a position');

# 5. several workers, steady publishing: polls with ?resume= on new
# connections get 1..100 once each, in order

$c = lp_conn();
lp_send($c, '/lp?transport=longpoll&rooms=st');
ok(held('st'), 'steady: first poll held');
my ($pid, $pipe) = publisher('st', 100, 100);
my $run = poll_loop(path => '/lp?transport=longpoll&rooms=st', conn => $c,
    new => 1, room => 'st', upto => 100, timeout => 8);
my ($ok202, $lastseq) = publisher_done($pid, $pipe);
is("$ok202 $lastseq", '100 100', 'steady: 100 publishes accepted');
is(tally($run->{seqs}, 100), 'lost 0 dup 0 ordered',
    'steady: 1..100 once each, in order (' . $run->{answers} . ' polls)');
is(join(' ', @{$run->{errors}}), '', 'steady: every poll answered');
is(scalar(keys %{$run->{workers}}), 2, 'steady: both workers answered')
    or diag(explain($run->{workers}));

# 6. refusals

$r = lp('/lp?transport=longpoll&rooms=a', method => 'POST', body => '{}');
is(($r->{status} // 0) . ' ' . ($r->{headers}{allow} // 'none') . ' '
    . error_of($r), '405 GET method_not_allowed', 'POST: 405 with Allow: GET');
$r = lp('/lp?transport=longpoll&rooms=a', method => 'PUT', body => '{}');
is($r->{status}, 405, 'PUT: 405');

for my $bad ('a%20b', 'x:', 'a,,b', 'x' x 129) {
    $r = lp("/lp?transport=longpoll&rooms=$bad");
    is(refusal($r), '400 invalid_room', 'rooms=' . (length $bad > 20
        ? length($bad) . ' bytes' : $bad) . ': 400 invalid_room');
}

$r = lp('/join?transport=longpoll&u=1&rooms=priv:a', keep => 1);
is(refusal($r), '403 forbidden', 'a room not allowed: 403 forbidden');
$r2 = lp("/lp?transport=longpoll&rooms=rs&resume=rs%3A5%3A$E",
    conn => $r->{conn});
is(($r2->{status} // 0) . ' ' . trace($r2), '200 e6 sub(6)',
    'after a refusal, the connection polls on');
lp_close($r->{conn});
$r = lp('/join?transport=longpoll&u=1&rooms=pub:a,pub:b,pub:c');
is(refusal($r), '400 too_many_rooms', 'too many rooms: 400');

for my $bad ('garbage', "rs:x:$E", 'rs:3:abc', "rs:3:${E}0", ':3:') {
    $r = lp("/lp?transport=longpoll&rooms=rs&resume=$bad");
    is(refusal($r), '400 bad_resume', "resume=$bad: 400 bad_resume");
}

$r = lp('/jwt?transport=longpoll');
is(refusal($r), '401 missing_token', 'no token: 401 missing_token');
$r = lp("/jwt?transport=longpoll&token=$forged");
is(refusal($r), '401 invalid_token', 'a forged token: 401 invalid_token');
$c = lp_conn();
lp_send($c, "/jwt?transport=longpoll&token=$good");
ok(held('u:u2'), 'a token in the query: held in its room');
$t->publish('u:u2', 'e', 1);
$r = lp_recv($c);
is(trace($r, 1), 'u:u2/sub(0) u:u2/e1', 'a token in the query: answered');
lp_close($c);
$c = lp_conn();
lp_send($c, '/jwt?transport=longpoll', headers => { Cookie => "jwt=$good" });
ok(held('u:u2'), 'a token in a cookie: held in its room');
$t->publish('u:u2', 'e', 2);
$r = lp_recv($c);
is(trace($r, 1), 'u:u2/sub(1) u:u2/e2', 'a token in a cookie: answered');
lp_close($c);

# locations without longpoll; a longpoll-only location without ?transport
$r = lp('/sse-only?transport=longpoll&rooms=a');
is(refusal($r), '400 no_websocket', 'eventsource only: 400 no_websocket');
$r = lp('/ws-default?transport=longpoll&rooms=a');
is(refusal($r), '426 upgrade_required', 'WebSocket only: 426');
$r = lp('/ws-sse?transport=longpoll&rooms=a');
is(refusal($r), '426 upgrade_required', 'WebSocket and eventsource: 426');
$r = lp('/lp-only?rooms=a');
is(refusal($r), '400 no_websocket',
    'longpoll only, no ?transport=longpoll: 400 no_websocket');
like($r->{json}{detail} // '', qr/transport=longpoll/,
    'longpoll only: the detail says how to poll');
$r = lp('/lp?transport=LONGPOLL&rooms=a');
is(refusal($r), '426 upgrade_required', '?transport=LONGPOLL: not a poll');

# 7. HTTP/1.0, a GET with a body, a request pipelined behind a held poll

$c = lp_conn();
lp_send($c, '/long?transport=longpoll&rooms=h10', http_version => '1.0',
    headers => { Host => undef });
ok(held('h10'), 'HTTP/1.0: held');
$t->publish('h10', 'e', 1);
$r = lp_recv($c);
is(join(' ', $r->{status}, $r->{headers}{'content-type'} // 'none',
    $r->{headers}{connection} // 'none', trace($r)),
    '200 application/json close sub(0) e1', 'HTTP/1.0: answered, close');
$r = lp_recv($c, timeout => 1);
is($r->{error} // 'no', 'eof', 'HTTP/1.0: then EOF');
lp_close($c);

$c = lp_conn();
lp_send($c, '/long?transport=longpoll&rooms=body',
    headers => { 'Content-Length' => 5 });
Test::Signal::WS::write_all($c->{sock}, 'ab');
ok(held('body'), 'a GET with a body: held');
Test::Signal::WS::write_all($c->{sock}, 'cde');
$t->publish('body', 'e', 1);
$r = lp_recv($c);
is(($r->{status} // 0) . ' ' . trace($r), '200 sub(0) e1',
    'a GET with a body: answered');
$r = lp('/lp?transport=longpoll&rooms=body&resume=body%3A1%3A'
    . (($r->{msgs} // [{}])->[0]{epoch} // ''), conn => $c);
is(($r->{status} // 0) . ' ' . trace($r), '200 sub(1)',
    'a GET with a body: the connection polls on');
lp_close($c);

$c = lp_conn();
lp_send($c, '/long?transport=longpoll&rooms=pipe');
ok(held('pipe'), 'pipelined: held');
lp_send($c, '/long?transport=longpoll&rooms=pipe2');
$t->publish('pipe', 'e', 1);
$r = lp_recv($c);
is(($r->{status} // 0) . ' ' . trace($r), '200 sub(0) e1',
    'pipelined: the held poll answered');
ok(held('pipe2'), 'pipelined: the next request held in turn');
$t->publish('pipe2', 'e', 1);
$r = lp_recv($c);
is(($r->{status} // 0) . ' ' . trace($r), '200 sub(0) e1',
    'pipelined: the next one answered');
lp_close($c);

# 8. the token expired while the poll was held: a close 4001 at the end

$r = lp_recv($expiring,
    timeout => List::Util::max(1, $short_exp + 3 - time()));
is(($r->{status} // 0) . ' ' . trace($r, 1),
    '200 u:u1/sub(0) -/close(4001)',
    'the token expired: "subscribed", then close 4001');
is_deeply($r->{msgs} && $r->{msgs}[-1], { type => 'close', code => 4001,
    reason => 'token expired' }, 'the close message');
lp_close($expiring);
# (the token is still accepted within the second of its exp)
wait_for(sub { time() >= $short_exp + 1 }, 3);
$r = lp("/jwt?transport=longpoll&token=$short");
is(refusal($r), '401 invalid_token', 'an expired token: 401');
is(status()->{closes}{4001}, 1, 'status: the close 4001 counted');

# 9. a client closing a held poll: logged at info, nothing else breaks

ok(wait_for(sub { status()->{connections} == 0 }, 3),
    'status: no connections');
$c = lp_conn();
lp_send($c, '/long?transport=longpoll&rooms=gone');
ok(wait_for(sub { status()->{connections} == 1 }, 3),
    'closing: the poll held');
lp_close($c);
ok(wait_for(sub { status()->{connections} == 0 }, 3),
    'closing: no longer counted');
ok(wait_for(sub { $t->read_file('error.log')
    =~ /\[info\] [^\n]*client closed a held poll[^\n]*rooms=gone/ }, 3),
    'closing: logged at info');
$c = lp_conn();
lp_send($c, '/long?transport=longpoll&rooms=gone');
ok(wait_for(sub { status()->{connections} == 1 }, 3),
    'closing: a next poll held');
$t->publish('gone', 'e', 1);
is(trace(lp_recv($c)), 'sub(0) e1', 'closing: a next poll answered');
lp_close($c);

# 10. more than signal_send_queue for a held poll (4k here)

$c = lp_conn();
lp_send($c, '/small?transport=longpoll&rooms=big');
ok(held('big'), 'a big event: held');
$t->publish('big', 'e', '"' . ('x' x 5000) . '"');
$r = lp_recv($c, timeout => 3);
like($r->{raw_head} // '', qr{\AHTTP/1\.1 200 },
    'a big event: the answer starts with its status line')
    or diag('before it: ' . substr($r->{raw_head} // '', 0, 100));
is(trace($r), 'sub(0) e1', 'a big event: "subscribed", then the event '
    . '(the first event of an answer fits whatever its size)');
lp_close($c);

# more than signal_send_queue waiting: the answer takes what fits; the
# next poll replays the rest as a resume does (the newest that fit half of
# signal_send_queue, a gap for what is older): every seq once, as an
# event or in a gap

$c = lp_conn();
lp_send($c, '/small?transport=longpoll&rooms=full');
ok(held('full'), 'a full answer: held');
$r = $t->notify('/notify', '{"events":['
    . join(',', map { qq({"room":"full","event":"e","data":"$_) . ('y' x 500)
        . '"}' } 1 .. 20) . ']}');
is($r->{status}, 202, 'a full answer: 20 events of 500 bytes published');
$r = lp_recv($c, timeout => 3);
my @first = grep { /^e/ } split ' ', trace($r);
ok(@first >= 2 && @first < 20, 'a full answer: sent with what fits ('
    . scalar(@first) . ' events in a 4k queue)') or diag(trace($r));
is(join(' ', @first), join(' ', map { "e$_" } 1 .. @first),
    'a full answer: the oldest first');
%pos = ();
track(\%pos, $r);
my @seen = map { /^e(\d+)/ ? $1 : () } @first;
for (1 .. 10) {
    last if ($pos{full}[0] // 0) >= 20;
    $r = lp("/small?transport=longpoll&rooms=full&resume=" . resume(\%pos));
    last unless $r->{msgs};
    track(\%pos, $r);
    for my $m (@{$r->{msgs}}) {
        push @seen, $m->{seq} if ($m->{type} // '') eq 'event';
        push @seen, $m->{from} .. $m->{to} if ($m->{type} // '') eq 'gap';
    }
}
is(join(' ', @seen), join(' ', 1 .. 20),
    'a full answer: the next polls cover the rest, in order, once '
    . '(events and gaps)');
lp_close($c);

# 11. reload: a held poll ends at once; polls under steady publishing
# resume on the new workers, nothing lost

$r = $t->publish('rq', 'e', 1);
my $Eq = $r->{json}{published}[0]{epoch} // '';
my $held = lp_conn();
lp_send($held, "/long?transport=longpoll&rooms=rq&resume=rq%3A1%3A$Eq");
ok(held('rq'), 'reload: a poll held');

$c = lp_conn();
lp_send($c, '/lp?transport=longpoll&rooms=rl');
ok(held('rl'), 'reload: first poll held');
($pid, $pipe) = publisher('rl', 150, 100);
my (@old, $hup, $ended, $end_in, $hr);
$run = poll_loop(path => '/lp?transport=longpoll&rooms=rl', conn => $c,
    room => 'rl', upto => 150, timeout => 10, each => sub {
        return if @old || @{$_[0]{seqs}} < 30;
        $hup = time();
        @old = $t->reload();
        $t->publish('rq', 'e', 2);
        $hr = lp_recv($held, timeout => 2);
        $end_in = time() - $hup;
        $ended = $hr->{status} ? "$hr->{status} " . trace($hr)
            : $hr->{error} // 'none';
    });
($ok202, $lastseq) = publisher_done($pid, $pipe);
ok(@old, 'reload: done while polling');
is("$ok202 $lastseq", '150 150', 'reload: 150 publishes accepted');
is(tally($run->{seqs}, 150), 'lost 0 dup 0 ordered',
    'reload: 1..150 once each, in order');
my %oldpid = map { $_ => 1 } @old;
ok(grep({ !$oldpid{$_} } keys %{$run->{workers}}),
    'reload: the new workers answered');
ok(@{$run->{errors}} <= 4, 'reload: few polls cut ('
    . scalar(@{$run->{errors}}) . ')') or diag(join(', ', @{$run->{errors}}));

ok(defined $ended && ($ended eq 'eof' || $ended =~ /^200 sub\(1\)( e2)?\z/),
    'reload: the held poll ended (EOF or an answer)')
    or diag($ended // 'no reload');
ok(defined $end_in && $end_in < 3, 'reload: at once (not after 30s)')
    or diag(sprintf('%.2fs', $end_in // -1));
lp_close($held);
ok($t->wait_pids_gone(\@old, 5), 'reload: the old workers exited');

# e2 went out as the old workers went; e3 after: the next poll, from the
# position of the held poll's answer (if any), has what it did not
%pos = (rq => [ 1, $Eq ]);
track(\%pos, $hr) if $hr && $hr->{msgs};
$t->publish('rq', 'e', 3);
$r = lp("/long?transport=longpoll&rooms=rq&resume=" . resume(\%pos));
is(join(' ', grep { /^e/ } split(' ', ($hr && $hr->{msgs} ? trace($hr) : '')
    . ' ' . trace($r))), 'e2 e3',
    'reload: the events published around it, once each');
ok(!$oldpid{$r->{headers}{'x-worker'} // ''}, 'reload: a new worker');

###############################################################################

# A connection for polls: {sock, buf}; undef when it cannot connect.
sub lp_conn {
    my (%o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $o{port} // $t->port(1), Proto => 'tcp', Timeout => 3)
        or return undef;
    $sock->blocking(0);
    return { sock => $sock, buf => '' };
}

sub lp_close {
    my ($c) = @_;
    CORE::close($c->{sock}) if $c && $c->{sock};
    delete $c->{sock} if $c;
}

# Sends a request on a connection: $path with Host (headers => {Name =>
# value, or undef to drop one}), method =>, body => (sent with its
# Content-Length), http_version =>. False when it could not be written.
sub lp_send {
    my ($c, $path, %o) = @_;
    return 0 unless $c && $c->{sock};
    my @h = ([ Host => 'localhost' ]);
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
    $c->{sent_at} = time();
    return Test::Signal::WS::write_all($c->{sock}, $req);
}

# The next answer on a connection within timeout => (3 s): {status,
# headers, body, json, raw_head, msgs (the messages, or undef), took
# (seconds since the request was sent)}; status 0 and error (eof,
# timeout) without one.
sub lp_recv {
    my ($c, %o) = @_;
    return { status => 0, error => 'closed' } unless $c && $c->{sock};
    my $r = Test::Signal::WS::read_response($c->{sock}, \$c->{buf},
        method => $o{method} // 'GET', timeout => $o{timeout} // 3);
    $c->{done_at} = time();
    $r->{took} = time() - ($c->{sent_at} // time());
    $r->{msgs} = ref $r->{json} eq 'HASH'
        && ref $r->{json}{messages} eq 'ARRAY' ? $r->{json}{messages} : undef;
    return $r;
}

# One poll: on conn => (kept open), else on a new connection, closed after
# unless keep => 1 (then in {conn}).
sub lp {
    my ($path, %o) = @_;
    my $c = $o{conn} // lp_conn(%o)
        or return { status => 0, error => "connect: $!" };
    lp_send($c, $path, %o) or return { status => 0, error => "write: $!" };
    my $r = lp_recv($c, %o);
    if ($o{conn} || $o{keep}) {
        $r->{conn} = $c;
    } else {
        lp_close($c);
    }
    return $r;
}

# Polls path => again and again with ?resume= from the answers, until
# room =>'s seq upto => or timeout => seconds; conn => a first poll
# already sent; new => 1: a new connection for every poll. The callback
# each => gets the run after each answer. The run: {seqs (of room's
# events), answers, workers (x-worker => answers), errors}
sub poll_loop {
    my (%o) = @_;
    my $run = { seqs => [], answers => 0, workers => {}, errors => [] };
    my $deadline = time() + $o{timeout};
    my $c = $o{conn};
    my %p;
    my $sent = $c ? 1 : 0;

    while (time() < $deadline
        && !(@{$run->{seqs}} && $run->{seqs}[-1] >= $o{upto}))
    {
        $c //= lp_conn();
        unless ($c) {
            push @{$run->{errors}}, "connect: $!";
            sleep(0.05);
            next;
        }
        my $path = $o{path} . (%p ? '&resume=' . resume(\%p) : '');
        unless ($sent || lp_send($c, $path)) {
            push @{$run->{errors}}, 'write';
            lp_close($c);
            undef $c;
            next;
        }
        $sent = 0;
        my $r = lp_recv($c);
        unless (($r->{status} // 0) == 200 && $r->{msgs}) {
            push @{$run->{errors}}, ($r->{status} // 0) . ' '
                . ($r->{error} // $r->{body} // '');
            lp_close($c);
            undef $c;
            next;
        }
        $run->{answers}++;
        $run->{workers}{$r->{headers}{'x-worker'} // '?'}++;
        track(\%p, $r);
        push @{$run->{seqs}}, map { $_->{seq} // -1 } grep {
            ($_->{type} // '') eq 'event' && ($_->{room} // '') eq $o{room}
        } @{$r->{msgs}};
        if ($o{new} || ($r->{headers}{connection} // '') =~ /close/i) {
            lp_close($c);
            undef $c;
        }
        $o{each}->($run) if $o{each};
    }

    lp_close($c);
    return $run;
}

# Keeps in %$pos, per exact room, the seq and epoch of its last message
# of the answer $r: an event, a "subscribed", a gap (a gap "history": the
# position after it).
sub track {
    my ($pos, $r) = @_;
    for my $m (@{$r->{msgs} // []}) {
        next unless ref $m eq 'HASH' && defined $m->{room}
            && defined $m->{epoch};
        my $seq = ($m->{type} // '') eq 'gap'
            && ($m->{reason} // '') eq 'history' ? $m->{to} : $m->{seq};
        $pos->{$m->{room}} = [ $seq, $m->{epoch} ] if defined $seq;
    }
}

# ?resume= of the positions: room:seq:epoch,..., each URL-encoded
sub resume {
    my ($pos) = @_;
    return join(',', map {
        my $v = "$_:$pos->{$_}[0]:$pos->{$_}[1]";
        $v =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
        $v;
    } sort keys %$pos);
}

# the messages of an answer as words (with_room: prefixed by room/):
# e<seq>, sub(<seq>) (sub for a family), gap(history,a-b), gap(epoch,<seq>),
# close(<code>), or the JSON; "no answer" without them
sub trace {
    my ($r, $with_room) = @_;
    return 'no answer: ' . (($r && $r->{status}) // 0) . ' '
        . (($r && ($r->{error} // $r->{body})) // '')
        unless $r && $r->{msgs};
    return join(' ', map {
        my $m = $_;
        ($with_room && ref $m eq 'HASH' ? ($m->{room} // '-') . '/' : '')
            . word($m);
    } @{$r->{msgs}});
}

sub word {
    my ($m) = @_;
    my $ty = ref $m eq 'HASH' ? $m->{type} // '' : '';
    return 'e' . ($m->{seq} // '?') if $ty eq 'event';
    return defined $m->{seq} ? "sub($m->{seq})" : 'sub'
        if $ty eq 'subscribed';
    return "close($m->{code})" if $ty eq 'close';
    return "gap(history,$m->{from}-$m->{to})"
        if $ty eq 'gap' && ($m->{reason} // '') eq 'history';
    return "gap(epoch,$m->{seq})"
        if $ty eq 'gap' && ($m->{reason} // '') eq 'epoch';
    return Test::Signal::WS::encode_json($m);
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
            my $r = $t->notify('/notify',
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
    return ($r->{status} // '?') . ' ' . error_of($r);
}

sub error_of {
    my ($r) = @_;
    return (ref $r->{json} eq 'HASH' && $r->{json}{error}) // '';
}

sub is_epoch {
    my ($e) = @_;
    return defined $e && $e =~ /^[0-9a-f]{16}\z/ && $e =~ /[^0]/;
}

sub status {
    return $t->http('GET', '/status')->{json} // {};
}

# 1 once a connection is in $room (a held poll joined it), 0 after 3 s
sub held {
    my ($room) = @_;
    return wait_for(sub { (($t->http('GET', "/presence?room=$room")->{json}
        // {})->{connections} // 0) >= 1 }, 3);
}

# 1 once $cond is true, 0 after $timeout seconds
sub wait_for {
    my ($cond, $timeout) = @_;
    my $deadline = time() + $timeout;
    for ( ;; ) {
        return 1 if $cond->();
        return 0 if time() >= $deadline;
        sleep(0.05);
    }
}

###############################################################################
