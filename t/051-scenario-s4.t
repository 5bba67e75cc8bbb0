#!/usr/bin/perl

# Tests for ngx_signal_module: brief scenario S4. Bulk-upload progress is
# published once to bulk_upload:<fileId>; it reaches pages subscribed to
# that room and pages subscribed to the whole bulk_upload:* family, once
# per page, without dual broadcasting by the publisher.

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
}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location = /ws/admin {
            signal_websocket;
            signal_allow_subscribe bulk_upload "bulk_upload:*";
        }

        location = /internal/notify {
            signal_notify;
        }
    }
}

EOF

$t->run()->plan(22);

###############################################################################

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;
my %epoch;    # of each room: through the room or a family, the same

my $file_page = page('bulk_upload:123');       # the upload's detail page
my $list_page = page('bulk_upload:*');         # the uploads list page
my $both_page = page('bulk_upload:123', 'bulk_upload:*');
my $other_file = page('bulk_upload:124');
my $legacy = page('bulk_upload');              # the old room name

my @pages = ($file_page, $list_page, $both_page, $other_file, $legacy);

# one publish to bulk_upload:123

my $progress = '{"fileId":123,"processed":40,"total":200,"errors":[]}';
my $r = $t->notify('/internal/notify', '{"room":"bulk_upload:123",'
    . '"event":"bulk_upload_progress","data":' . $progress . '}');
is($r->{status}, 202, 'S4: one publish to bulk_upload:123');
is_deeply(strip_epoch($r->{json}, \%epoch), { published => [
    { room => 'bulk_upload:123', event => 'bulk_upload_progress',
        seq => 1 } ] }, 'S4: one entry in the 202 body');

my $want = { type => 'event', room => 'bulk_upload:123',
    event => 'bulk_upload_progress', data => $JSON->decode($progress),
    seq => 1 };
is_deeply(got($file_page), $want, 'S4: room subscriber got it');
is_deeply(got($list_page), $want,
    'S4: family subscriber got it, room is bulk_upload:123');
is_deeply(got($both_page), $want, 'S4: page in both got it');
ok(nothing(@pages), 'S4: page in both got it once; bulk_upload:124 and '
    . 'bulk_upload pages got nothing');

# a publish to bulk_upload:124 reaches the family, not bulk_upload:123

$r = $t->notify('/internal/notify', { room => 'bulk_upload:124',
    event => 'bulk_upload_progress', data => { fileId => 124 } });
is($r->{status}, 202, 'S4: publish to bulk_upload:124');

$want = { type => 'event', room => 'bulk_upload:124',
    event => 'bulk_upload_progress', data => { fileId => 124 }, seq => 1 };
is_deeply(got($list_page), $want, 'S4: family subscriber got 124');
is_deeply(got($both_page), $want,
    'S4: page in 123 and the family got 124 through the family');
is_deeply(got($other_file), $want, 'S4: bulk_upload:124 page');
ok(nothing(@pages), 'S4: bulk_upload:123 page did not get 124, '
    . 'nobody got it twice');

# a whole upload: progress events, then completion, in order, once

$r = $t->notify('/internal/notify', { events => [
    (map { { room => 'bulk_upload:123', event => 'bulk_upload_progress',
        data => { processed => $_ * 40, total => 200 } } } 2 .. 5),
    { room => 'bulk_upload:123', event => 'bulk_upload_completed',
        data => { fileId => 123, created => 198, failed => 2 } } ] });
is($r->{status}, 202, 'S4: progress batch');

my $seqs = '2 3 4 5 6';
for my $p ([ 'room', $file_page ], [ 'family', $list_page ],
    [ 'both', $both_page ])
{
    my @j = map { got($p->[1]) // {} } 1 .. 5;
    is(join(' ', map { $_->{seq} // '?' } @j), $seqs,
        "S4: $p->[0] subscriber: progress in seq order");
    is(($j[-1]{event} // '') . '/' . ($j[-1]{data}{created} // ''),
        'bulk_upload_completed/198', "S4: $p->[0] subscriber: completion");
}
ok(nothing(@pages), 'S4: each event once');

# the family page leaves: the room page still gets events

$list_page->send_json({ type => 'unsubscribe', room => 'bulk_upload:*' });
is(($list_page->recv_json() // {})->{type}, 'unsubscribed',
    'S4: list page leaves the family');
$t->notify('/internal/notify', { room => 'bulk_upload:123',
    event => 'bulk_upload_progress', data => 1 });
is(($file_page->recv_json() // {})->{seq}, 7,
    'S4: room page still receives');
ok(nothing($list_page), 'S4: the list page no longer does');

$_->send_close(1000) for @pages;
$_->expect_close(1) for @pages;

###############################################################################

# a page (client of /ws/admin) subscribed to @rooms
sub page { $t->subscriber('/ws/admin', @_) }

# the next message of $ws without its epoch, which must be its room's
sub got { strip_epoch($_[0]->recv_json(), \%epoch) }

# 1 if none of the clients receives a frame within a short time
sub nothing { Test::Signal::WS->expect_silence([@_], 0.15, 0.01) }

###############################################################################
