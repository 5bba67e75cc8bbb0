#!/usr/bin/perl

# Tests for ngx_signal_module: error texts that quote client input are
# escaped in error.log (spec 12, section 10). Client input with \n, \r and
# other control bytes (also line breaks and controls outside ASCII, sent
# as UTF-8), where the module logs it: the detail of a refused notify (an
# unknown field, an invalid room or event name), the webhook id it cannot
# remember (a Stripe id from the body, a webhook-id header), the room a
# JWT claim gives to signal_join. No line of error.log may begin
# with injected text, and no raw control byte may reach the log (nor a
# byte >= 0x80 of an unknown field).

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use Digest::SHA qw(hmac_sha256 hmac_sha256_hex);
use MIME::Base64 qw(encode_base64);
use JSON::PP ();

###############################################################################

my $t = Test::Signal->new();

my $JWT_SECRET = 'j' x 16 . '-log-escape-secret-32';

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

        location /ws/jwt {
            signal_websocket;
            signal_jwt_secret "$JWT_SECRET";
            signal_jwt_token header;
            signal_join "startup:\$signal_claim_startupId";
        }

        location /notify {
            signal_notify;
        }

        location /hooks/stripe {
            signal_webhook stripe;
            signal_webhook_secret "whsec_stripe_0123456789";
            signal_webhook_room billing;
            signal_webhook_event "stripe:{/type}";
        }

        location /hooks/standard {
            signal_webhook standard;
            signal_webhook_secret "whsec_c3RhbmRhcmQta2V5LTAxMjM0NTY3ODk=";
            signal_webhook_room std;
            signal_webhook_event std:msg;
        }
    }
}

EOF

# an escaped line may still contain "[alert]" in the middle: the explicit
# tests below look at those lines
$t->ignore_log(qr/FAKE-/);
$t->run()->plan(6 * 4 + 1 + 2 * 3 + 4 + 4 + 3 + 1);

###############################################################################

my $JSON = JSON::PP->new->utf8->canonical;
my ($r, $log);

# notify: an unknown field, the example of the spec

($r, $log) = logged(sub { $t->notify('/notify',
    '{"room":"a","event":"e","x\nFAKE-LINE [alert] y":1}') });
is($r->{status}, 400, 'unknown field with a newline: 400');
clean($log, 'FAKE-LINE', 'unknown field with a newline');
like($log, qr/x${\ esc(10)}FAKE-LINE \[alert\] y/,
    'unknown field with a newline: logged escaped');

# \r, and a line break made of both

($r, $log) = logged(sub { $t->notify('/notify',
    '{"room":"a","event":"e","k\rFAKE-CR [alert] z":1}') });
is($r->{status}, 400, 'unknown field with a CR: 400');
clean($log, 'FAKE-CR', 'unknown field with a CR');
like($log, qr/k${\ esc(13)}FAKE-CR \[alert\] z/,
    'unknown field with a CR: logged escaped');

($r, $log) = logged(sub { $t->notify('/notify',
    '{"room":"a","event":"e","m\r\nFAKE-CRLF x":1}') });
is($r->{status}, 400, 'unknown field with CRLF: 400');
clean($log, 'FAKE-CRLF', 'unknown field with CRLF');
like($log, qr/m${\ esc(13)}${\ esc(10)}FAKE-CRLF x/,
    'unknown field with CRLF: logged escaped');

# other control bytes: escape sequences for a terminal, a bell, a NUL

($r, $log) = logged(sub { $t->notify('/notify',
    '{"room":"a","event":"e","c\u001b[2J\u0007\u0001FAKE-CTL":1}') });
is($r->{status}, 400, 'unknown field with ESC, BEL, SOH: 400');
clean($log, 'FAKE-CTL', 'unknown field with ESC, BEL, SOH');
like($log, qr/c${\ esc(27)}\[2J${\ esc(7)}${\ esc(1)}FAKE-CTL/,
    'unknown field with ESC, BEL, SOH: logged escaped');

($r, $log) = logged(sub { $t->notify('/notify',
    '{"room":"a","event":"e","n\u0000\nFAKE-NUL":1}') });
is($r->{status}, 400, 'unknown field with a NUL and a newline: 400');
clean($log, 'FAKE-NUL', 'unknown field with a NUL and a newline');
ok($log =~ /n${\ esc(0)}${\ esc(10)}FAKE-NUL/ || $log !~ /FAKE-NUL/,
    'unknown field with a NUL: escaped, or cut at the NUL');

# line breaks and a terminal control outside ASCII, as raw UTF-8: U+0085
# (NEL), U+2028 (LINE SEPARATOR), U+009B (CSI); no byte of them reaches
# the log raw

($r, $log) = logged(sub { $t->notify('/notify', '{"room":"a","event":"e",'
    . qq("u\xc2\x85FAKE-UTF8 [alert] v\xe2\x80\xa8w\xc2\x9b31mz":1})) });
is($r->{status}, 400, 'unknown field with U+0085, U+2028, U+009B: 400');
clean($log, 'FAKE-UTF8', 'unknown field with U+0085, U+2028, U+009B');
ok($log =~ /FAKE-UTF8/ && $log !~ /[\x80-\xff]/,
    'unknown field with U+0085, U+2028, U+009B: no byte >= 0x80 logged')
    or diag(printable($log));
my $want = 'u\xc2\x85FAKE-UTF8 [alert] v\xe2\x80\xa8w\xc2\x9b31mz';
like($log, qr/\Q$want\E/i,
    'unknown field with U+0085, U+2028, U+009B: logged as \\xNN');

# notify: an invalid room, an invalid event name, in a batch too

for my $case (
    [ 'an invalid room with a newline',
        '{"room":"a\nFAKE-ROOM [alert] r","event":"e"}', 'FAKE-ROOM' ],
    [ 'an invalid event name with a newline',
        '{"room":"a","event":"e\r\nFAKE-EVENT [alert] e"}', 'FAKE-EVENT' ])
{
    my ($name, $body, $marker) = @$case;
    ($r, $log) = logged(sub { $t->notify('/notify', $body) });
    is($r->{status}, 400, "$name: 400");
    clean($log, $marker, $name);
}

# a webhook id the zone cannot remember (longer than 256 bytes): a Stripe
# id comes from the (JSON-decoded) body

my $now = time();
my $body = $JSON->encode({ id => "evt_\r\nFAKE-STRIPE [alert] s"
    . ('x' x 300), type => 'invoice.paid' });

($r, $log) = logged(sub { $t->http('POST', '/hooks/stripe', body => $body,
    headers => { 'Content-Type' => 'application/json',
    'Stripe-Signature' => "t=$now,v1="
        . hmac_sha256_hex("$now.$body", 'whsec_stripe_0123456789') }) });
ok($r->{status} && $r->{status} < 500, 'stripe: a long id with CRLF: '
    . "answered ($r->{status})");
clean($log, 'FAKE-STRIPE', 'stripe: a long id with CRLF');
ok($log !~ /webhook id/ || $log =~ /evt_${\ esc(13)}${\ esc(10)}FAKE-STRIPE/,
    'stripe: the id is logged escaped (or not at all)');

# and a webhook-id header (nginx lets other control bytes through)

my $id = "msg_\x1b]0;FAKE-STD\x07\x1b[1A\x08" . ('y' x 300);
$body = '{"n":1}';

($r, $log) = logged(sub { $t->http('POST', '/hooks/standard', body => $body,
    headers => { 'Content-Type' => 'application/json', 'webhook-id' => $id,
    'webhook-timestamp' => $now, 'webhook-signature' => 'v1,'
        . encode_base64(hmac_sha256("$id.$now.$body",
        'standard-key-0123456789'), '') }) });
ok($r->{status} && $r->{status} < 500, 'standard: a long webhook-id with '
    . "ESC, BEL, BS: answered ($r->{status})");
clean($log, 'FAKE-STD', 'standard: a long webhook-id with ESC, BEL, BS');
ok($log !~ /webhook id/
    || $log =~ /msg_${\ esc(27)}\]0;FAKE-STD${\ esc(7)}/,
    'standard: the id is logged escaped (or not at all)');

# a JWT claim with a newline in signal_join's room

my $token = jwt({ sub => 'u1', exp => $now + 600,
    startupId => "1\nFAKE-JOIN [alert] j\r\x1b[0m" });

($r, $log) = logged(sub { $t->ws('/ws/jwt',
    headers => { Authorization => "Bearer $token" }) });
is(ref $r eq 'HASH' ? $r->{status} : 101, 403,
    'a claim with a newline in signal_join: 403');
clean($log, 'FAKE-JOIN', 'a claim with a newline in signal_join');

ok(!grep({ /^FAKE-/ } split /[\r\n]/, $t->read_file('error.log')),
    'no line of error.log begins with injected text');

###############################################################################

# Runs $code; its result and what error.log got meanwhile.
sub logged {
    my ($code) = @_;
    my $off = length $t->read_file('error.log');
    my $res = $code->();
    return ($res, substr($t->read_file('error.log'), $off));
}

# 2 tests: no line (after a CR or LF) begins with $marker; no raw control
# byte other than the newline that ends each line.
sub clean {
    my ($log, $marker, $name) = @_;
    ok(!grep({ /^\Q$marker\E/ } split /[\r\n]/, $log),
        "$name: no log line begins with the injected text")
        or diag(printable($log));
    ok($log !~ /[\x00-\x09\x0b-\x1f]/,
        "$name: no raw control byte in error.log")
        or diag(printable($log));
}

# A pattern for the escaped form of byte $c: \n \r \t, \xHH or \u00HH.
sub esc {
    my ($c) = @_;
    my $hex = sprintf('%02x', $c);
    my %short = (10 => 'n', 13 => 'r', 9 => 't');
    my $alt = join('|', ($short{$c} ? "\\\\$short{$c}" : ()),
        "\\\\x$hex", "\\\\u00$hex");
    return "(?i:$alt)";
}

sub printable {
    my ($s) = @_;
    $s =~ s/([^\x20-\x7e\n])/sprintf('<%02x>', ord $1)/ge;
    return $s;
}

# An HS256 token with these claims.
sub jwt {
    my ($claims) = @_;
    my $h = b64url('{"alg":"HS256","typ":"JWT"}');
    my $p = b64url($JSON->encode($claims));
    return "$h.$p." . b64url(hmac_sha256("$h.$p", $JWT_SECRET));
}

sub b64url {
    (my $b = encode_base64($_[0], '')) =~ tr{+/}{-_};
    $b =~ s/=+$//;
    return $b;
}

###############################################################################
