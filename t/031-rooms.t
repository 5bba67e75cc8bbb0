#!/usr/bin/perl

# Tests for ngx_signal_module: rooms and families. Family subscriptions
# (prefix:*), nested families, one delivery per connection and event,
# room isolation, several members, abrupt disconnects, 200 members.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal qw(strip_epoch);
use Test::Signal::WS;

use JSON::PP ();

###############################################################################

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

worker_processes 2;

events {
    worker_connections 1024;
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

        location /big {
            signal_websocket;
            signal_join crowd;
        }

        location /notify {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(35);

###############################################################################

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

# family bulk_upload:*

my $fam = client('bulk_upload:*');
my $plain = client('bulk_upload');

$t->publish('bulk_upload:1', 'p', '1');
$t->publish('bulk_upload:2:parts', 'p', '2');
$t->publish('bulk_upload', 'p', '3');
$t->publish('bulk_uploadX:1', 'p', '4');
$t->publish('xbulk_upload:1', 'p', '5');
$t->publish('bulk_upload_1', 'p', '6');

is(events($fam, 2), 'bulk_upload:1/p/1/1 bulk_upload:2:parts/p/1/2',
    'family: bulk_upload:1 and bulk_upload:2:parts, room as published');
ok(nothing($fam), 'family: not bulk_upload, bulk_uploadX:1, ... ');
is(events($plain, 1), 'bulk_upload/p/1/3',
    'room bulk_upload: only its own event');
ok(nothing($plain), 'room bulk_upload: nothing from bulk_upload:*');

# nested families on one connection: one delivery per event

my $nest = client('a:*', 'a:b:*');

$t->publish('a:b:c', 'n', '1');
$t->publish('a:x', 'n', '2');
$t->publish('a:b', 'n', '3');
$t->publish('a:b:c:d', 'n', '4');
$t->publish('a', 'n', '5');
$t->publish('b:a:b:c', 'n', '6');

is(events($nest, 4), 'a:b:c/n/1/1 a:x/n/1/2 a:b/n/1/3 a:b:c:d/n/1/4',
    'nested families: each event once, in order');
ok(nothing($nest), 'nested families: no duplicates, nothing from a or b:*');

# a room and the families that contain it on one connection

my $both = client('bulk_upload:123', 'bulk_upload:*');
my $all = client('x:1:2', 'x:*', 'x:1:*', 'x:1');

$t->publish('bulk_upload:123', 'progress', '{"pct":10}');
$t->publish('bulk_upload:124', 'progress', '{"pct":20}');
$t->publish('x:1:2', 'e', '1');
$t->publish('x:1', 'e', '2');
$t->publish('x:1:2:3', 'e', '3');

is(events($both, 2), 'bulk_upload:123/progress/1/{"pct":10} '
    . 'bulk_upload:124/progress/1/{"pct":20}',
    'room and family: each event once');
ok(nothing($both), 'room and family: no duplicates');
is(events($all, 3), 'x:1:2/e/1/1 x:1/e/1/2 x:1:2:3/e/1/3',
    'room, room prefix and two families: each event once');
ok(nothing($all), 'room, room prefix and two families: no duplicates');
is(events($fam, 2), 'bulk_upload:123/progress/1/{"pct":10} '
    . 'bulk_upload:124/progress/1/{"pct":20}',
    'family member on another connection got them too');

# leaving one of two matching subscriptions keeps delivery once

$both->send_json({ type => 'unsubscribe', room => 'bulk_upload:*' });
is(($both->recv_json() // {})->{type}, 'unsubscribed', 'leave the family');
$t->publish('bulk_upload:123', 'progress', '3');
$t->publish('bulk_upload:125', 'progress', '4');
is(events($both, 1), 'bulk_upload:123/progress/2/3',
    'after leaving the family: own room only');
ok(nothing($both), 'after leaving the family: nothing from others');
is(events($fam, 2), 'bulk_upload:123/progress/2/3 bulk_upload:125/progress/1/4',
    'family member unaffected');

# room isolation

my $s1 = client('startup:1');
my $s1b = client('startup:1');
my $s10 = client('startup:10');
my $s2 = client('startup:2');

$t->publish('startup:2', 's', '2');
$t->publish('startup:10', 's', '10');
$t->publish('startup:1', 's', '1');
$t->publish('startup:1:x', 's', '1');

is(events($s1, 1), 'startup:1/s/1/1', 'isolation: startup:1 own event');
is(events($s1b, 1), 'startup:1/s/1/1', 'isolation: second member too');
is(events($s10, 1), 'startup:10/s/1/10', 'isolation: startup:10');
is(events($s2, 1), 'startup:2/s/1/2', 'isolation: startup:2');
ok(nothing($s1, $s1b, $s10, $s2), 'isolation: nothing from other rooms');

# several members of a room all receive

my @m = map { client('many:1') } 1 .. 5;
$t->publish('many:1', 'm', '"hi"');
$t->publish('many:1', 'm', '"again"');
is(join(',', map { events($_, 2) } @m),
    join(',', ('many:1/m/1/"hi" many:1/m/2/"again"') x 5),
    '5 members: all receive both events');

# abrupt disconnects: sockets closed without a close frame

my @stay = map { client('d:1') } 1 .. 2;
my @gone = map { client('d:1', 'd:*') } 1 .. 3;

$gone[0]->close();                           # FIN, nothing unread
$gone[1]->send_text('{"type":"ping","id":');  # closed mid-message
$gone[1]->close();
$t->publish('d:1', 'x', '1');                    # unread by gone[2]
$gone[2]->close();                           # RST: unread data

my $ok = 0;
for my $i (2 .. 21) {
    my $r = $t->publish('d:1', 'x', $i);
    $ok++ if $r->{status} == 202;
}
is($ok, 20, 'abrupt disconnects: publishing still works');
is(join(',', map { events($_, 21) } @stay),
    join(',', (join(' ', map { "d:1/x/$_/$_" } 1 .. 21)) x 2),
    'abrupt disconnects: the others receive every event');
ok(nothing(@stay), 'abrupt disconnects: no duplicates');

# many clients come and go abruptly while events are published

my ($churn_ok, %epoch) = (1);
for my $round (1 .. 10) {
    my @c = map { client('c:1', 'c:*') } 1 .. 5;
    strip_epoch($t->publish('c:1', 'x', $round)->{json}, \%epoch)
        or $churn_ok = 0;
    $_->close() for @c[0 .. 2];
    $t->publish('c:1:2', 'x', $round);
    $_->close() for @c[3 .. 4];
}
my $r = $t->publish('c:1', 'x', '"end"');
is_deeply($churn_ok && strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'c:1', event => 'x', seq => 11 } ] },
    'after churn: room keeps its seq and its epoch');

my $late = client('c:1');
$t->publish('c:1', 'x', '"late"');
is(events($late, 1), 'c:1/x/12/"late"', 'after churn: a new member receives');

# 200 connections in one room, 20 events each, in order

my @crowd;
for (1 .. 200) {
    my $ws = $t->ws('/big');
    last unless ref $ws eq 'Test::Signal::WS';
    push @crowd, $ws;
}
is(scalar @crowd, 200, '200 connections joined the room');

# make sure every connection is set up before publishing
my $pongs = 0;
$_->send_json({ type => 'ping', id => 1 }) for @crowd;
for (@crowd) {
    $pongs++ if (($_->recv_json() // {})->{type} // '') eq 'pong';
}
is($pongs, 200, '200 connections answer');

for my $i (1 .. 10) {
    $t->publish('crowd', 'tick', "{\"i\":$i}");
}
$r = $t->notify('/notify', { events => [ map { { room => 'crowd',
    event => 'tick', data => { i => $_ } } } 11 .. 20 ] });
is($r->{status}, 202, '200 connections: batch of the last 10 events');

my $expect = join(' ', map { "crowd/tick/$_/{\"i\":$_}" } 1 .. 20);
my $good = 0;
my $first_bad;
for my $ws (@crowd) {
    my $got = events($ws, 20);
    if ($got eq $expect) {
        $good++;
    } else {
        $first_bad //= $got;
    }
}
is($good, 200, '200 connections: 20 events each in seq order')
    or diag("first bad: $first_bad");
ok(nothing(@crowd[0, 99, 199]), '200 connections: nothing more');

# half of them disappear abruptly, the rest still receive

$_->close() for @crowd[0 .. 99];
$t->publish('crowd', 'tick', '21');
$good = 0;
for my $ws (@crowd[100 .. 199]) {
    $good++ if events($ws, 1) eq 'crowd/tick/21/21';
}
is($good, 100, '100 abrupt disconnects: the other 100 receive');

# no errors logged by all of that

$_->send_close(1000) for @crowd[100 .. 199], @stay, @m, $s1, $s1b, $s10,
    $s2, $fam, $plain, $nest, $both, $all, $late;
is(scalar $late->expect_close(), 1000, 'close');
$_->expect_close(1) for @crowd[100 .. 199], @stay, @m, $s1, $s1b, $s10,
    $s2, $fam, $plain, $nest, $both, $all;

my @errors = grep { /\[(error|alert|crit|emerg)\]/ }
    split /\n/, $t->read_file('error.log');
is(join("\n", @errors), '', 'no errors in error.log');

ok($t->workers() == 2, 'workers still running');

###############################################################################

# a client of /ws subscribed to @rooms
sub client { $t->subscriber('/ws', @_) }

# the next $n events as "room/event/seq/data"
sub events {
    my ($ws, $n) = @_;
    return join(' ', map { my $j = $ws->recv_json() // {};
        join('/', (map { $_ // '?' } @$j{qw/room event seq/}),
            exists $j->{data} ? $JSON->encode($j->{data}) : '?') } 1 .. $n);
}

# 1 if none of the clients receives a frame within a short time
sub nothing { Test::Signal::WS->expect_silence([@_], 0.15, 0.01) }

###############################################################################
