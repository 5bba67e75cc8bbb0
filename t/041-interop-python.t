#!/usr/bin/perl

# Tests for ngx_signal_module: interoperability with Python's "websockets"
# library (Debian's python3-websockets), a WebSocket client nobody on the
# project wrote. The client is t/interop/websockets-client.py, run under
# Debian's /usr/bin/python3 as a child process; it prints READY once
# subscribed and then one JSON line per event received.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal::Interop;

###############################################################################

my $PYTHON = '/usr/bin/python3';
my $CLIENT = "$FindBin::Bin/interop/websockets-client.py";

# python3-websockets is a test dependency (tools/install-deps.sh test):
# its absence is a failure, not a skip. Debian's python3 is used on
# purpose, whatever python3 comes first in PATH.
unless (-x $PYTHON
    && system($PYTHON, '-c', 'import websockets') == 0)
{
    plan(tests => 1);
    fail("$PYTHON or its websockets module is missing: "
        . "apt-get install python3-websockets");
    exit;
}

my $i = Test::Signal::Interop->new();
$i->command($PYTHON, $CLIENT, '--timeout', 12);
$i->start()->plan(34);

###############################################################################

$i->events();
$i->ping();
$i->fragment();     # websockets sends an async iterable as three frames
$i->oversize();
$i->server_ping();
$i->handshake();
$i->forbidden();

###############################################################################
