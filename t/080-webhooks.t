#!/usr/bin/perl

# Tests for ngx_signal_module: signed webhooks (S3). Every preset with
# signatures made by the openssl command: valid, wrong secret, altered
# body, missing header, rotated secret, stale timestamp, replayed id; the
# mapping to rooms, event and data (variables and JSON pointers); nothing
# is published unless the signature verified.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use MIME::Base64 qw(encode_base64 decode_base64);

###############################################################################

my $AIRTABLE = encode_base64('airtable-mac-secret-0123456789', '');
my $AIRTABLE2 = encode_base64('airtable-rotated-secret-987654', '');
my $STANDARD_KEY = 'standard-webhooks-key-0123456789';
my $STANDARD = 'whsec_' . encode_base64($STANDARD_KEY, '');

my $t = Test::Signal->new();

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

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /hooks/airtable {
            signal_webhook airtable;
            signal_webhook_secret "$AIRTABLE" "$AIRTABLE2";
            signal_webhook_room admin;
            signal_webhook_event airtable:webhook;
        }

        location /hooks/github {
            signal_webhook github;
            signal_webhook_secret "github-secret-0123456789";
            signal_webhook_room "repo:{/repository/name}" admin;
            signal_webhook_event "github:\$http_x_github_event";
            signal_webhook_data /head_commit;
            client_max_body_size 2k;
        }

        location /hooks/stripe {
            signal_webhook stripe;
            signal_webhook_secret "whsec_stripe_0123456789";
            signal_webhook_room billing;
            signal_webhook_event "stripe:{/type}";
            signal_webhook_tolerance 300s;
        }

        location /hooks/standard {
            signal_webhook standard;
            signal_webhook_secret "$STANDARD";
            signal_webhook_room std;
            signal_webhook_event "std:{/kind}";
        }

        location /hooks/hmac {
            signal_webhook hmac header=X-Sig prefix=sha512= digest=sha512
                                encoding=base64;
            signal_webhook_secret "custom-secret-0123456789";
            signal_webhook_room custom;
            signal_webhook_event custom:event;
        }
    }
}

EOF

$t->run()->plan(40);

###############################################################################

my %ws = map { $_ => $t->subscriber('/ws', $_) }
    qw(admin repo:hello billing std custom);

# airtable (S3): X-Airtable-Content-MAC: hmac-sha256=<hex>, base64 key

my $body = '{"base":{"id":"appX"},"webhook":{"id":"achY"},'
    . '"timestamp":"2026-11-22T10:00:00.000Z"}';

my $r = post('/hooks/airtable', $body, 'X-Airtable-Content-MAC' =>
    'hmac-sha256=' . hmac_hex('sha256', decode_base64($AIRTABLE), $body));
is($r->{status}, 202, 'airtable: signed webhook accepted');
my $m = $ws{admin}->recv_json();
is($m->{event}, 'airtable:webhook', 'S3: it reaches the admin room');
is_deeply($m->{data}, Test::Signal::WS::from_json($body),
    'with the body as data');

$r = post('/hooks/airtable', $body, 'X-Airtable-Content-MAC' =>
    'hmac-sha256=' . hmac_hex('sha256', decode_base64($AIRTABLE2), $body));
is($r->{status}, 202, 'airtable: the rotated secret too');
$ws{admin}->recv_json();

$r = post('/hooks/airtable', $body, 'X-Airtable-Content-MAC' =>
    'hmac-sha256=' . hmac_hex('sha256', 'wrong-key', $body));
is($r->{status}, 401, 'airtable: wrong secret, 401');
is($r->{json}{detail}, 'missing or invalid signature',
    'the answer says nothing more');

(my $altered = $body) =~ s/appX/appZ/;
$r = post('/hooks/airtable', $altered, 'X-Airtable-Content-MAC' =>
    'hmac-sha256=' . hmac_hex('sha256', decode_base64($AIRTABLE), $body));
is($r->{status}, 401, 'airtable: altered body, 401');

$r = post('/hooks/airtable', $body);
is($r->{status}, 401, 'airtable: no signature, 401');

ok($ws{admin}->expect_nothing(0.2), 'nothing published by refused ones');

# github: sha256=<hex>; rooms and event from the body and a header; data
# is a sub-tree

$body = '{"repository":{"name":"hello"},"head_commit":{"id":"c0ffee",'
    . '"message":"fix"},"sender":{"login":"octo"}}';
my $gh = 'sha256=' . hmac_hex('sha256', 'github-secret-0123456789', $body);

$r = post('/hooks/github', $body, 'X-Hub-Signature-256' => $gh,
    'X-GitHub-Event' => 'push');
is($r->{status}, 202, 'github: accepted');
is(join(',', map { $_->{room} } @{$r->{json}{published}}), 'repo:hello,admin',
    'to the rooms of the mapping');
$m = $ws{'repo:hello'}->recv_json();
is($m->{event}, 'github:push', 'event name from a header variable');
is_deeply($m->{data}, { id => 'c0ffee', message => 'fix' },
    'data is the /head_commit sub-tree');
$ws{admin}->recv_json();

$r = post('/hooks/github', $body,
    'X-Hub-Signature-256' => 'sha256=' . ('0' x 64),
    'X-GitHub-Event' => 'push');
is($r->{status}, 401, 'github: bad signature, 401');

my $nobody = '{"head_commit":{}}';
$r = post('/hooks/github', $nobody, 'X-Hub-Signature-256' => 'sha256='
    . hmac_hex('sha256', 'github-secret-0123456789', $nobody),
    'X-GitHub-Event' => 'push');
is($r->{status}, 400, 'github: the body lacks /repository/name, 400');
like($r->{json}{detail}, qr/signal_webhook_room/, 'naming the mapping');

my $notjson = 'not json';
$r = post('/hooks/github', $notjson, 'X-Hub-Signature-256' => 'sha256='
    . hmac_hex('sha256', 'github-secret-0123456789', $notjson));
is($r->{status}, 400, 'signed but not JSON: 400');

$r = post('/hooks/github', '{"x":"' . ('y' x 3000) . '"}');
is($r->{status}, 413, 'over client_max_body_size: 413');

$r = $t->http('POST', '/hooks/github', body => $body,
    headers => { 'Content-Type' => 'text/plain' });
is($r->{status}, 415, 'not JSON content type: 415');

# stripe: t=<ts>,v1=<hex> over "<t>.<body>", tolerance, replayed ids

$body = '{"id":"evt_1","type":"invoice.paid","data":{"object":{}}}';
my $now = time();

$r = post('/hooks/stripe', $body, 'Stripe-Signature' => stripe($now, $body));
is($r->{status}, 202, 'stripe: accepted');
is(($ws{billing}->recv_json() // {})->{event}, 'stripe:invoice.paid',
    'event name from /type');

$r = post('/hooks/stripe', $body, 'Stripe-Signature' => stripe($now + 1,
    $body));
is($r->{status}, 200, 'stripe: the same event id again: 2xx');
ok($r->{json}{duplicate}, 'marked duplicate');
ok($ws{billing}->expect_nothing(0.2), 'and not published twice');

(my $other = $body) =~ s/evt_1/evt_2/;
$r = post('/hooks/stripe', $other, 'Stripe-Signature' => 't=' . $now
    . ',v1=' . ('a' x 64) . ',v1=' . hmac_hex('sha256',
    'whsec_stripe_0123456789', "$now.$other"));
is($r->{status}, 202, 'stripe: one good signature among several');
$ws{billing}->recv_json();

(my $stale = $body) =~ s/evt_1/evt_3/;
$r = post('/hooks/stripe', $stale, 'Stripe-Signature' => stripe($now - 1000,
    $stale));
is($r->{status}, 400, 'stripe: a timestamp outside the window, 400');
is($r->{json}{error}, 'timestamp_out_of_window', 'timestamp_out_of_window');

$r = post('/hooks/stripe', $stale, 'Stripe-Signature' => 't=' . $now
    . ',v1=' . hmac_hex('sha256', 'whsec_stripe_0123456789',
    ($now - 1000) . ".$stale"));
is($r->{status}, 401, 'stripe: a signature for another timestamp, 401');

# standard webhooks: webhook-id/timestamp/signature, whsec_ base64 key

$body = '{"kind":"user.created","user":{"id":42}}';
my %std = standard('msg_1', $now, $body);

$r = post('/hooks/standard', $body, %std);
is($r->{status}, 202, 'standard: accepted');
is(($ws{std}->recv_json() // {})->{event}, 'std:user.created',
    'standard: delivered');

$r = post('/hooks/standard', $body, %std);
is($r->{status}, 200, 'standard: replayed webhook-id: 2xx');
ok($ws{std}->expect_nothing(0.2), 'not published twice');

%std = standard('msg_2', $now, $body);
$std{'webhook-signature'} = 'v1,' . encode_base64('x' x 32, '') . ' '
    . $std{'webhook-signature'};
$r = post('/hooks/standard', $body, %std);
is($r->{status}, 202, 'standard: several signatures, one valid');
$ws{std}->recv_json();

%std = standard('msg_3', $now - 1000, $body);
$r = post('/hooks/standard', $body, %std);
is($r->{status}, 400, 'standard: stale timestamp, 400');

%std = standard('msg_4', $now, $body);
$std{'webhook-id'} = 'msg_5';
$r = post('/hooks/standard', $body, %std);
is($r->{status}, 401, 'standard: the id is signed too, 401');

# generic hmac: sha512, base64, own header and prefix

$body = '{"n":1}';
$r = post('/hooks/hmac', $body, 'X-Sig' => 'sha512='
    . encode_base64(hmac('sha512', 'custom-secret-0123456789', $body), ''));
is($r->{status}, 202, 'hmac sha512 base64: accepted');
is(($ws{custom}->recv_json() // {})->{data}{n}, 1, 'hmac: delivered');

$r = post('/hooks/hmac', $body, 'X-Sig' => 'sha512='
    . encode_base64(hmac('sha256', 'custom-secret-0123456789', $body), ''));
is($r->{status}, 401, 'hmac: the wrong digest, 401');

# every scheme: a wrong secret, an altered body and a missing signature
# are refused, and nothing reaches the rooms

my %sign = (
    airtable => sub { ('X-Airtable-Content-MAC' => 'hmac-sha256='
        . hmac_hex('sha256', $_[0] // decode_base64($AIRTABLE), $_[1])) },
    github => sub { ('X-Hub-Signature-256' => 'sha256='
        . hmac_hex('sha256', $_[0] // 'github-secret-0123456789', $_[1]),
        'X-GitHub-Event' => 'push') },
    stripe => sub { ('Stripe-Signature' => "t=$now,v1=" . hmac_hex('sha256',
        $_[0] // 'whsec_stripe_0123456789', "$now.$_[1]")) },
    standard => sub { ('webhook-id' => 'm', 'webhook-timestamp' => $now,
        'webhook-signature' => 'v1,' . encode_base64(hmac('sha256',
        $_[0] // $STANDARD_KEY, "m.$now.$_[1]"), '')) },
    hmac => sub { ('X-Sig' => 'sha512=' . encode_base64(hmac('sha512',
        $_[0] // 'custom-secret-0123456789', $_[1]), '')) },
);

my $doc = '{"id":"evt_x","type":"t","kind":"k","repository":{"name":"hello"},'
    . '"head_commit":{}}';
(my $changed = $doc) =~ s/"t"/"u"/;
my @refused;

for my $scheme (sort keys %sign) {
    my %good = $sign{$scheme}->(undef, $doc);
    my %bad = $sign{$scheme}->('another-secret-0123456789', $doc);
    my %none = %good;
    delete $none{$_} for grep { !/event/i } keys %none;

    push @refused, grep { $_ }
        (post("/hooks/$scheme", $doc, %bad)->{status} != 401
            && "$scheme wrong secret"),
        (post("/hooks/$scheme", $changed, %good)->{status} != 401
            && "$scheme altered body"),
        (post("/hooks/$scheme", $doc, %none)->{status} != 401
            && "$scheme missing signature");
}

is("@refused", '', 'every scheme refuses a wrong secret, an altered body '
    . 'and a missing signature');
ok(Test::Signal::WS->expect_silence([ values %ws ], 0.3, 0.01),
    'and none of them reached a room');

###############################################################################

sub post {
    my ($path, $b, %h) = @_;
    return $t->http('POST', $path, body => $b,
        headers => { 'Content-Type' => 'application/json', %h });
}

sub hmac { Test::Signal::hmac(@_) }

sub hmac_hex { unpack('H*', hmac(@_)) }

sub stripe {
    my ($ts, $b) = @_;
    return "t=$ts,v1=" . hmac_hex('sha256', 'whsec_stripe_0123456789',
        "$ts.$b");
}

sub standard {
    my ($id, $ts, $b) = @_;
    return ('webhook-id' => $id, 'webhook-timestamp' => $ts,
        'webhook-signature' => 'v1,' . encode_base64(hmac('sha256',
        $STANDARD_KEY, "$id.$ts.$b"), ''));
}

###############################################################################
