#!/usr/bin/perl

# Tests for ngx_signal_module: graceful shutdown and reload. Live
# WebSocket connections get a 1001 close and old workers exit promptly,
# without waiting for the (long) ping interval.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use Time::HiRes qw(time);

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

        location /ws {
            signal_websocket;
            signal_allow_subscribe "*";
            signal_ping_interval 60s;
            signal_ping_timeout 60s;
            signal_close_timeout 2s;
        }
    }
}

EOF

$t->run()->plan(16);

###############################################################################

# reload (HUP)

my @clients = connect_clients(4);
is(scalar @clients, 4, 'reload: clients connected and subscribed');

my $t0 = time();
my @old = $t->reload();
ok(@old == 2 && $t->workers() >= 2, 'reload: new workers started')
    or diag("old: @old, now: " . join(' ', $t->workers()));

is(close_codes(@clients), '1001 1001 1001 1001',
    'reload: old workers close their clients with 1001');
my $dt = time() - $t0;
ok($dt < 2, 'reload: clients closed promptly')
    or diag(sprintf('after %.2fs', $dt));

ok($t->wait_pids_gone(\@old, 5), 'reload: old workers exited');
$dt = time() - $t0;
ok($dt < 2, 'reload: old workers exited promptly')
    or diag(sprintf('after %.2fs', $dt));

@clients = connect_clients(4);
is(scalar @clients, 4, 'reload: new connections served by new workers');
$clients[0]->send_json({ type => 'ping', id => 'new' });
is_deeply($clients[0]->recv_json(), { type => 'pong', id => 'new' },
    'reload: native ping on a new connection');

# graceful shutdown (QUIT), with the 4 clients above and a silent one

my ($silent) = connect_clients(1);
ok($silent, 'quit: silent client connected');

$t0 = time();
$t->signal('QUIT');

is(close_codes(@clients), '1001 1001 1001 1001',
    'quit: every client gets 1001');
$dt = time() - $t0;
ok($dt < 2, 'quit: clients closed promptly')
    or diag(sprintf('after %.2fs', $dt));

my ($code) = $silent ? $silent->expect_close(3, no_reply => 1,
    eof_timeout => 0.1) : ();
is($code, 1001, 'quit: silent client gets 1001 too');

ok($t->wait_exit(5), 'quit: nginx exited');
$dt = time() - $t0;
ok($dt < 4, 'quit: nginx exited within signal_close_timeout')
    or diag(sprintf('after %.2fs', $dt));

my $refused = Test::Signal::WS->connect(port => $t->port(1), path => '/ws');
is($refused->{status}, 0, 'quit: nothing listens any more');

like($t->read_file('error.log'), qr/worker process \d+ exited with code 0/,
    'quit: workers exited normally');

###############################################################################

# Connects $n clients and waits for each to confirm a subscription, so
# that every connection is established in a worker.
sub connect_clients {
    my ($n) = @_;
    my @c;
    for my $i (1 .. $n) {
        my $ws = $t->ws('/ws');
        next unless $ws->{status} == 101;
        $ws->send_json({ type => 'subscribe', room => "room:$i", id => $i });
        my $m = $ws->recv_json();
        push @c, $ws if $m && ($m->{type} // '') eq 'subscribed';
    }
    return @c;
}

# Close codes received by each client, answering the close.
sub close_codes {
    return join ' ', map { scalar($_->expect_close(3, eof_timeout => 1))
        // 'none' } @_;
}

###############################################################################
