#!/usr/bin/perl

# Tests for ngx_signal_module: interoperability with a real browser's
# WebSocket. Debian's /usr/bin/chromium runs headless, driven by
# playwright-core from t/interop/chromium-client.js (a child process); the
# page is served by the nginx under test and runs the scenario; the client
# prints READY once subscribed and then one JSON line per event received.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal::Interop;

###############################################################################

my $NODE = '/usr/bin/node';
my $CHROMIUM = '/usr/bin/chromium';
my $CLIENT = "$FindBin::Bin/interop/chromium-client.js";

# The one optional tool: without chromium the file is skipped. node and
# playwright-core (npm ci in t/interop) are test dependencies: their
# absence is a failure.
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

my $i = Test::Signal::Interop->new(who => 'page', ready_timeout => 40);
my $t = $i->t();

# the browser profile and chromium's own temp files go to the test's
# directory, removed with it
$i->env(TMPDIR => $t->dir());
$i->command($NODE, $CLIENT, '--timeout', 15, '--page',
    'http://127.0.0.1:' . $t->port(1) . '/page.html');

$i->start(<<'EOF')->plan(19);
        location = /page.html {
            default_type text/html;
            return 200 "<!doctype html><title>interop</title>\n";
        }

EOF

###############################################################################

# The browser's permessage-deflate offer is not accepted (checked on the
# events connection). The page has no ping or fragment of its own.

$i->events(finish => 50, handshake => 1);
$i->oversize(finish => 50);
$i->server_ping(finish => 50);
$i->forbidden(timeout => 4, finish => 45);

###############################################################################
