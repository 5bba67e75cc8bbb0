#!/usr/bin/perl

# Tests for ngx_signal_module: replayed and reshaped webhook deliveries.
# A Stripe-Signature header is parsed strictly (one t=, v1= signatures,
# nothing else; a captured old delivery with a fresh t= added is refused);
# Standard Webhooks headers appear once each; GitHub, Airtable and generic
# HMAC deliveries are deduplicated by their signature for
# signal_webhook_tolerance; ids are deduplicated per location and per
# secret; a variable's value in the mapping is literal text, never a
# {/json/pointer} placeholder, and nginx warns about such variables.
# Signatures are made by the openssl command.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use MIME::Base64 qw(encode_base64 decode_base64);
use Time::HiRes qw(time sleep);

###############################################################################

my $STRIPE = 'whsec_stripe_0123456789';
my $STRIPE_B = 'whsec_stripe_b_987654321';
my $TENANT_A = 'whsec_tenant_a_0123456789';
my $TENANT_B = 'whsec_tenant_b_9876543210';
my $STANDARD_KEY = 'standard-webhooks-key-0123456789';
my $STANDARD = 'whsec_' . encode_base64($STANDARD_KEY, '');
my $GITHUB = 'github-secret-0123456789';
my $AIRTABLE = encode_base64('airtable-mac-secret-0123456789', '');
my $CUSTOM = 'custom-secret-0123456789';

my $t = Test::Signal->new();

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    map \$http_x_tenant \$tenant_secret {
        default  "";
        a        "$TENANT_A";
        b        "$TENANT_B";
    }

    server {
        listen       127.0.0.1:%%PORT_1%%;
        server_name  localhost;

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
        }

        location /hooks/stripe {
            signal_webhook stripe;
            signal_webhook_secret "$STRIPE";
            signal_webhook_room billing;
            signal_webhook_event "stripe:{/type}";
            signal_webhook_tolerance 300s;
        }

        location /hooks/stripe-b {
            signal_webhook stripe;
            signal_webhook_secret "$STRIPE_B";
            signal_webhook_room billing-b;
            signal_webhook_event "stripe:{/type}";
        }

        location /hooks/tenant {
            signal_webhook stripe;
            signal_webhook_secret \$tenant_secret;
            signal_webhook_room tenants;
            signal_webhook_event "stripe:{/type}";
        }

        location /hooks/standard {
            signal_webhook standard;
            signal_webhook_secret "$STANDARD";
            signal_webhook_room std;
            signal_webhook_event "std:{/kind}";
        }

        location /hooks/github {
            signal_webhook github;
            signal_webhook_secret "$GITHUB";
            signal_webhook_room gh;
            signal_webhook_event github:push;
        }

        location /hooks/github-short {
            signal_webhook github;
            signal_webhook_secret "$GITHUB";
            signal_webhook_room gh-short;
            signal_webhook_event github:push;
            signal_webhook_tolerance 2s;
        }

        location /hooks/github-map {
            signal_webhook github;
            signal_webhook_secret "$GITHUB";
            signal_webhook_room gh-map;
            signal_webhook_event "github:\$http_x_github_event";
        }

        location /hooks/airtable {
            signal_webhook airtable;
            signal_webhook_secret "$AIRTABLE";
            signal_webhook_room air;
            signal_webhook_event airtable:webhook;
        }

        location /hooks/hmac {
            signal_webhook hmac header=X-Sig prefix=sha512= digest=sha512
                                encoding=base64;
            signal_webhook_secret "$CUSTOM";
            signal_webhook_room custom;
            signal_webhook_event custom:event;
        }
    }
}

EOF

$t->run()->plan(62);

###############################################################################

my %ws = map { $_ => $t->subscriber('/ws', $_) }
    qw(billing billing-b tenants std gh gh-short gh-map air custom);

my $now = int(time());
my $old = $now - 1000;
my ($r, $b, $sig);

# nginx -t and the start warn about a variable in the mapping

like($t->read_file('error.log'), qr/\[warn\].*signature does not cover/,
    'start: [warn] that the signature does not cover a variable');

# stripe: a captured old delivery stays refused, whatever t= is added

$b = body('evt_captured');
$sig = stripe_hex($STRIPE, $old, $b);

$r = post('/hooks/stripe', $b, 'Stripe-Signature' => "t=$old,v1=$sig");
is(answer($r), '400 timestamp_out_of_window',
    'stripe: a captured old delivery as it was, timestamp_out_of_window');

$r = post('/hooks/stripe', $b, 'Stripe-Signature' => "t=$old,v1=$sig,t=$now");
is(answer($r), '401 unauthorized',
    'stripe: the captured delivery with a fresh t= appended, 401');

$r = post('/hooks/stripe', $b, 'Stripe-Signature' => "t=$now,t=$old,v1=$sig");
is(answer($r), '401 unauthorized',
    'stripe: the captured delivery with a fresh t= prepended, 401');

is(names(arrived($ws{billing})), '',
    'stripe: the replayed captured delivery is not published');

# stripe: any header that is not exactly "t=<digits>,v<n>=<sig>,..."

my @malformed = (
    [ 'two t= elements', sub { "t=$now,t=$now,v1=$_[0]" } ],
    [ 'an element without =', sub { "t=$now,v1=$_[0],junk" } ],
    [ 'an unknown key', sub { "t=$now,v1=$_[0],foo=bar" } ],
    [ 'a space after a comma', sub { "t=$now,v1=$_[0], v1=$_[0]" } ],
    [ 'an empty element', sub { "t=$now,,v1=$_[0]" } ],
);

for my $i (0 .. $#malformed) {
    my ($what, $header) = @{$malformed[$i]};
    $b = body("evt_malformed_$i");
    $r = post('/hooks/stripe', $b, 'Stripe-Signature' =>
        $header->(stripe_hex($STRIPE, $now, $b)));
    is(answer($r), '401 unauthorized', "stripe: $what, 401");
}

$b = body('evt_two_headers');
$sig = "t=$now,v1=" . stripe_hex($STRIPE, $now, $b);
$r = post('/hooks/stripe', $b, 'Stripe-Signature' => $sig,
    'Stripe-Signature' => $sig);
is(answer($r), '401 unauthorized', 'stripe: two Stripe-Signature headers, 401');

is(names(arrived($ws{billing})), '',
    'stripe: none of the malformed headers published anything');

# stripe: what stays valid

$b = body('evt_v0');
$r = post('/hooks/stripe', $b, 'Stripe-Signature' => "t=$now,v1="
    . stripe_hex($STRIPE, $now, $b) . ',v0=' . ('0' x 64));
is($r->{status}, 202, 'stripe: a v0= element next to a valid v1= is ignored');
is(names(arrived($ws{billing}, 1)), 'stripe:invoice.paid/evt_v0',
    'stripe: and the event is published');

$b = body('evt_replay');
$sig = "t=$now,v1=" . stripe_hex($STRIPE, $now, $b);
$r = post('/hooks/stripe', $b, 'Stripe-Signature' => $sig);
is($r->{status}, 202, 'stripe: a delivery accepted');
$r = post('/hooks/stripe', $b, 'Stripe-Signature' => $sig);
is($r->{status}, 200, 'stripe: the identical delivery again, 200');
ok($r->{json}{duplicate}, 'stripe: marked duplicate');
is(names(arrived($ws{billing}, 1)), 'stripe:invoice.paid/evt_replay',
    'stripe: published once');

# dedup scope: an id accepted at one location never blocks another

$b = body('evt_X');
$r = post('/hooks/stripe', $b, 'Stripe-Signature' => "t=$now,v1="
    . stripe_hex($STRIPE, $now, $b));
is($r->{status}, 202, 'scope: evt_X with the secret of location A');
is(names(arrived($ws{billing}, 1)), 'stripe:invoice.paid/evt_X',
    'scope: published to the room of A');

$sig = "t=$now,v1=" . stripe_hex($STRIPE_B, $now, $b);
$r = post('/hooks/stripe-b', $b, 'Stripe-Signature' => $sig);
is($r->{status}, 202, 'scope: evt_X with the secret of location B, 202');
is(names(arrived($ws{'billing-b'}, 1)), 'stripe:invoice.paid/evt_X',
    'scope: published to the room of B');

$r = post('/hooks/stripe-b', $b, 'Stripe-Signature' => $sig);
is(duplicate($r), '200 duplicate',
    'scope: evt_X again at B is a duplicate');

# dedup scope: one location, a secret from a map of a request header

$b = body('evt_Y');
my %tenant = (a => "t=$now,v1=" . stripe_hex($TENANT_A, $now, $b),
    b => "t=$now,v1=" . stripe_hex($TENANT_B, $now, $b));

$r = post('/hooks/tenant', $b, 'X-Tenant' => 'a',
    'Stripe-Signature' => $tenant{a});
is($r->{status}, 202, 'scope: tenant a posts evt_Y, 202');
$r = post('/hooks/tenant', $b, 'X-Tenant' => 'b',
    'Stripe-Signature' => $tenant{b});
is($r->{status}, 202, 'scope: tenant b posts evt_Y with its secret, 202');
is(names(arrived($ws{tenants}, 2)),
    'stripe:invoice.paid/evt_Y stripe:invoice.paid/evt_Y',
    'scope: both tenants published');

$r = post('/hooks/tenant', $b, 'X-Tenant' => 'a',
    'Stripe-Signature' => $tenant{a});
is(duplicate($r), '200 duplicate',
    'scope: tenant a again is a duplicate');

# standard webhooks: one of each header, "v<n>,<base64>" entries

for my $name (qw(webhook-timestamp webhook-id webhook-signature)) {
    $b = body("msg_two_$name");
    $r = post('/hooks/standard', $b,
        twice($name, standard("msg_two_$name", $now, $b)));
    is(answer($r), '401 unauthorized', "standard: two $name headers, 401");
}

$b = body('msg_nocomma');
my %std = standard('msg_nocomma', $now, $b);
$std{'webhook-signature'} = 'v1' . encode_base64('x' x 32, '') . ' '
    . $std{'webhook-signature'};
$r = post('/hooks/standard', $b, %std);
is(answer($r), '401 unauthorized',
    'standard: an entry without a comma next to a valid one, 401');

is(names(arrived($ws{std})), '',
    'standard: nothing published by the refused ones');

$b = body('msg_v2');
%std = standard('msg_v2', $now, $b);
$std{'webhook-signature'} = 'v2,' . encode_base64('y' x 32, '') . ' '
    . $std{'webhook-signature'};
$r = post('/hooks/standard', $b, %std);
is($r->{status}, 202, 'standard: an unknown version next to a valid v1, 202');
is(names(arrived($ws{std}, 1)), 'std:user.created/msg_v2',
    'standard: published');

$b = body('msg_replay');
%std = standard('msg_replay', $now, $b);
$r = post('/hooks/standard', $b, %std);
is($r->{status}, 202, 'standard: a delivery accepted');
$r = post('/hooks/standard', $b, %std);
is(duplicate($r), '200 duplicate',
    'standard: the identical delivery again is a duplicate');
is(names(arrived($ws{std}, 1)), 'std:user.created/msg_replay',
    'standard: published once');

# github: no signed id or timestamp, the signature itself is remembered

$b = body('gh_1');
$sig = 'sha256=' . hmac_hex('sha256', $GITHUB, $b);

$r = post('/hooks/github', $b, 'X-Hub-Signature-256' => $sig,
    'X-GitHub-Delivery' => '72d3162e-cc78-11e3-81ab-4c9367dc0958');
is($r->{status}, 202, 'github: a delivery accepted');
$r = post('/hooks/github', $b, 'X-Hub-Signature-256' => $sig,
    'X-GitHub-Delivery' => '9a3bd4c0-cc78-11e3-81ab-4c9367dc0958');
is($r->{status}, 200, 'github: the same delivery, another X-GitHub-Delivery');
ok($r->{json}{duplicate}, 'github: marked duplicate');
is(names(arrived($ws{gh}, 1)), 'github:push/gh_1', 'github: published once');

$b = body('gh_2');
$sig = 'sha256=' . hmac_hex('sha256', $GITHUB, $b);
$r = post('/hooks/github', $b, 'X-Hub-Signature-256' => $sig,
    'X-Hub-Signature-256' => $sig);
is(answer($r), '401 unauthorized', 'github: two X-Hub-Signature-256, 401');
is(names(arrived($ws{gh})), '', 'github: and nothing published');

# airtable and generic hmac: the same

$b = body('air_1');
$sig = 'hmac-sha256=' . hmac_hex('sha256', decode_base64($AIRTABLE), $b);
$r = post('/hooks/airtable', $b, 'X-Airtable-Content-MAC' => $sig);
is($r->{status}, 202, 'airtable: a delivery accepted');
$r = post('/hooks/airtable', $b, 'X-Airtable-Content-MAC' => $sig);
is(duplicate($r), '200 duplicate',
    'airtable: the identical delivery again is a duplicate');
is(names(arrived($ws{air}, 1)), 'airtable:webhook/air_1',
    'airtable: published once');

$b = body('air_2');
$sig = 'hmac-sha256=' . hmac_hex('sha256', decode_base64($AIRTABLE), $b);
$r = post('/hooks/airtable', $b, 'X-Airtable-Content-MAC' => $sig,
    'X-Airtable-Content-MAC' => $sig);
is(answer($r), '401 unauthorized', 'airtable: two signature headers, 401');

$b = body('hmac_1');
$sig = 'sha512=' . encode_base64(hmac('sha512', $CUSTOM, $b), '');
$r = post('/hooks/hmac', $b, 'X-Sig' => $sig);
is($r->{status}, 202, 'hmac: a delivery accepted');
$r = post('/hooks/hmac', $b, 'X-Sig' => $sig);
is(duplicate($r), '200 duplicate',
    'hmac: the identical delivery again is a duplicate');
is(names(arrived($ws{custom}, 1)), 'custom:event/hmac_1',
    'hmac: published once');

$b = body('hmac_2');
$sig = 'sha512=' . encode_base64(hmac('sha512', $CUSTOM, $b), '');
$r = post('/hooks/hmac', $b, 'X-Sig' => $sig, 'X-Sig' => $sig);
is(answer($r), '401 unauthorized', 'hmac: two signature headers, 401');

is(names(arrived($ws{air}), arrived($ws{custom})), '',
    'airtable, hmac: nothing published by the refused ones');

# a short signal_webhook_tolerance: remembered that long, not longer

$b = body('gh_short');
$sig = 'sha256=' . hmac_hex('sha256', $GITHUB, $b);
my $start = time();

$r = post('/hooks/github-short', $b, 'X-Hub-Signature-256' => $sig);
is($r->{status}, 202, 'github, 2s window: a delivery accepted');
$r = post('/hooks/github-short', $b, 'X-Hub-Signature-256' => $sig);
is(duplicate($r), '200 duplicate',
    'github, 2s window: at once again, a duplicate');
is(names(arrived($ws{'gh-short'}, 1)), 'github:push/gh_short',
    'github, 2s window: published once');

# nginx counts whole seconds: past the window whatever the rounding
my $left = int($start) + 3.3 - time();
sleep($left) if $left > 0;

$r = post('/hooks/github-short', $b, 'X-Hub-Signature-256' => $sig);
is($r->{status}, 202, 'github, 2s window: after the window accepted again');
is(names(arrived($ws{'gh-short'}, 1)), 'github:push/gh_short',
    'github, 2s window: and published again');

# the mapping: a header's value is literal text, not a {/pointer}

$b = '{"id":"map_ok","kind":"push"}';
$r = post('/hooks/github-map', $b, 'X-GitHub-Event' => 'push',
    'X-Hub-Signature-256' => 'sha256=' . hmac_hex('sha256', $GITHUB, $b));
is($r->{status}, 202, 'mapping: X-GitHub-Event: push, 202');
is(names(arrived($ws{'gh-map'}, 1)), 'github:push/map_ok',
    'mapping: event github:push');

$b = '{"id":"map_pointer","kind":"push"}';
$r = post('/hooks/github-map', $b, 'X-GitHub-Event' => '{/kind}',
    'X-Hub-Signature-256' => 'sha256=' . hmac_hex('sha256', $GITHUB, $b));
is(answer($r), '400 invalid_event',
    'mapping: X-GitHub-Event: {/kind} is not expanded, invalid_event');
is(names(arrived($ws{'gh-map'})), '', 'mapping: and nothing published');

is(names(map { arrived($ws{$_}, 0, 0.05) } sort keys %ws), '',
    'no room received anything else');

###############################################################################

# POST with headers in this order; a name may come more than once
sub post {
    my ($path, $body, @h) = @_;
    my $req = "POST $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n";
    while (my ($name, $value) = splice(@h, 0, 2)) {
        $req .= "$name: $value\r\n";
    }
    return $t->http_raw("$req\r\n$body", method => 'POST');
}

# "<status> <error>" of an answer
sub answer {
    my ($r) = @_;
    return "$r->{status} " . ((ref $r->{json} eq 'HASH'
        && $r->{json}{error}) || '');
}

# "<status> duplicate" of an answer {"duplicate":true}, else "<status>"
sub duplicate {
    my ($r) = @_;
    return $r->{status} . ((ref $r->{json} eq 'HASH'
        && $r->{json}{duplicate}) ? ' duplicate' : '');
}

# the headers with the one named added again at the end
sub twice {
    my ($name, @h) = @_;
    my %h = @h;
    return (@h, $name => $h{$name});
}

sub body {
    my ($id) = @_;
    return '{"id":"' . $id . '","type":"invoice.paid","kind":"user.created",'
        . '"data":{"object":{}}}';
}

# the events that reach $ws: $n expected ones (3 s each at most), then
# any more until none came for $quiet seconds
sub arrived {
    my ($ws, $n, $quiet) = @_;
    my @got;
    for (1 .. $n // 0) {
        my $m = $ws->recv_json(3) or return @got;
        push @got, $m;
    }
    while (my $m = $ws->recv_json($quiet // 0.2)) {
        push @got, $m;
    }
    return @got;
}

# "event/id" of each event
sub names {
    return join(' ', map {
        ($_->{event} // $_->{_raw} // '?') . '/'
        . ((ref $_->{data} eq 'HASH' && $_->{data}{id}) || '')
    } @_);
}

# HMAC by the openssl command: raw bytes
sub hmac { Test::Signal::hmac(@_) }

sub hmac_hex { unpack('H*', hmac(@_)) }

sub stripe_hex {
    my ($secret, $ts, $b) = @_;
    return hmac_hex('sha256', $secret, "$ts.$b");
}

sub standard {
    my ($id, $ts, $b) = @_;
    return ('webhook-id' => $id, 'webhook-timestamp' => $ts,
        'webhook-signature' => 'v1,' . encode_base64(hmac('sha256',
        $STANDARD_KEY, "$id.$ts.$b"), ''));
}

###############################################################################
