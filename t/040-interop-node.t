#!/usr/bin/perl

# Tests for ngx_signal_module: interoperability with the "ws" npm package
# (v8), a WebSocket client nobody on the project wrote. The client is
# t/interop/ws-client.js, run under node as a child process; it prints
# READY once subscribed and then one JSON line per event received.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal::Interop;

###############################################################################

my $NODE = '/usr/bin/node';
my $CLIENT = "$FindBin::Bin/interop/ws-client.js";

# node and ws are test dependencies (tools/install-deps.sh test, npm ci in
# t/interop): their absence is a failure, not a skip.
unless (-x $NODE && -f "$FindBin::Bin/interop/node_modules/ws/package.json")
{
    plan(tests => 1);
    fail("$NODE or t/interop/node_modules/ws is missing: "
        . "install nodejs and run 'npm ci' in t/interop");
    exit;
}

my $i = Test::Signal::Interop->new();
$i->command($NODE, $CLIENT, '--timeout', 12);
$i->start()->plan(34);

###############################################################################

$i->events();
$i->ping();
$i->fragment();     # three frames cut inside UTF-8 sequences
$i->oversize();
$i->server_ping();
$i->handshake();
$i->forbidden();

###############################################################################
