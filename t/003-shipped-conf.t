#!/usr/bin/perl

# Tests for ngx_signal_module: the configurations the project ships.
# conf/nginx.conf runs as written (only its listen port and paths moved
# into a temporary prefix): it refuses to start without its key and
# secret files, naming them; clients need a valid token and get only the
# rooms it grants; the admin endpoint takes admins only; notify takes the
# secret; other origins are refused. conf/docker.conf through
# conf/docker-entrypoint.sh: refused with a message for each missing
# piece, and accepted by nginx -t once they are there. conf/demo.conf
# listens on 127.0.0.1 only. A cookie token without signal_allow_origin
# is warned about.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal;
use Test::Signal::WS;

use File::Copy qw(copy);
use File::Path qw(make_path);
use POSIX ();

###############################################################################

my $CONF = "$FindBin::Bin/../conf";

my $t = Test::Signal->new();
my $d = $t->dir();

# the harness's own nginx is not started: its implicit checks read an
# empty error.log; this file checks the logs of the nginx it runs itself
$t->plan(35);

# the keys: made by jwt.js in $d (ec256.pem, ec256.pub.pem, ...)
tokens({ alg => 'ES256', key => 'ec256', payload => {} });

my $port = $t->port(1);

# conf/nginx.conf in a prefix of its own: the module, the port, the files
# it names next to it

my $prefix = "$d/prefix";
make_path("$prefix/conf/secrets", "$prefix/logs", "$prefix/temp",
    "$prefix/modules");
symlink($t->{module}, "$prefix/modules/ngx_signal_module.so")
    or die "symlink: $!";

my $conf = slurp("$CONF/nginx.conf");
$conf =~ s/^(\s*)listen 8080;/$1listen 127.0.0.1:$port;/m
    or die "conf/nginx.conf: no \"listen 8080;\"\n";
$conf =~ s/^worker_processes auto;/worker_processes 2;/m;
$conf =~ s/^error_log logs\/error.log info;/daemon off;\nmaster_process on;\n$&/m;
$conf =~ s{https://app\.example\.com}{https://app.test};
spew("$prefix/conf/nginx.conf", $conf);

my $API = 'api-secret-' . ('0123456789' x 3);

my $r = nginx_t($prefix);
isnt($r->{status}, 0, 'nginx.conf without its files: refused');
like($r->{out}, qr/secrets\/jwt\.pub\.pem/, 'naming the missing key file');

copy("$d/ec256.pub.pem", "$prefix/conf/secrets/jwt.pub.pem") or die $!;

$r = nginx_t($prefix);
like($r->{out}, qr/cannot open the secret file ".*secrets\/api\.secret"/,
    'then the missing API secret file');

spew("$prefix/conf/secrets/api.secret", "$API\n");

$r = nginx_t($prefix);
is($r->{status}, 0, 'with both: nginx -t accepts it') or diag($r->{out});

my $nginx = start_prefix($prefix);

my $now = time();
my ($user, $other, $admin, $noexp) = tokens(
    { alg => 'ES256', key => 'ec256',
      payload => { sub => 'u1', startupId => 42, exp => $now + 600 } },
    { alg => 'ES256', key => 'ec256',
      payload => { sub => 'u2', startupId => 43, exp => $now + 600 } },
    { alg => 'ES256', key => 'ec256',
      payload => { sub => 'boss', role => 'admin', exp => $now + 600 } },
    { alg => 'ES256', key => 'ec256',
      payload => { sub => 'u1', startupId => 42 } });

is(status(ws('/ws')), 401, 'client portal without a token: 401');
is(status(ws('/ws?startup=43')), 401,
    'a query argument grants nothing');
is(status(ws('/ws', token => $noexp)), 401, 'a token without exp: 401');
is(status(ws('/ws', token => $user, origin => 'https://evil.test')), 403,
    'another origin: 403');

my $c42 = ws('/ws', token => $user, origin => 'https://app.test');
is(status($c42), 101, 'a startup 42 token from the listed origin: 101');
my $c43 = ws('/ws', token => $other);
is(status($c43), 101, 'a startup 43 token (no Origin: not a browser)');

$c42->send_json({ type => 'subscribe', room => 'startup:43' });
is(($c42->recv_json() // {})->{code}, 'forbidden',
    'a client may not subscribe to another startup');

is(status(ws('/ws/admin', token => $user)), 403,
    'admin endpoint with a client token: 403');
my $boss = ws('/ws/admin', token => $admin);
is(status($boss), 101, 'with an admin token: 101');

is(notify('startup:42', 'e', undef)->{status}, 401,
    'notify without the secret: 401');
is(notify('startup:42', 'e', 'wrong-secret-0123456789')->{status}, 401,
    'with a wrong secret: 401');
is(notify('startup:42', 'signal:assigned', $API)->{status}, 202,
    'with the secret: 202');

is(($c42->recv_json() // {})->{event}, 'signal:assigned',
    'startup 42 receives its event');
ok($c43->expect_nothing(0.3), 'startup 43 does not');

$boss->subscribe('startup:43');
is(notify('startup:43', 'other', $API)->{status}, 202, 'to startup 43');
is(($boss->recv_json() // {})->{event}, 'other',
    'an admin may follow any room');
is(($c43->recv_json() // {})->{event}, 'other', 'and startup 43 gets it');

is(get('/signal/status')->{status}, 401, 'status without the secret: 401');
is(get('/signal/status', $API)->{status}, 200, 'with it: 200');

stop_prefix($nginx);

# docker.conf through docker-entrypoint.sh

my $ddir = "$d/docker";
make_path("$ddir/prefix/logs", "$ddir/secrets");

my $dconf = slurp("$CONF/docker.conf");
$dconf =~ s{/usr/lib/nginx/modules/ngx_signal_module\.so}{$t->{module}};
$dconf =~ s{/etc/nginx/signal/}{$ddir/}g;
$dconf =~ s{/tmp/nginx}{$ddir/nginx}g;
$dconf =~ s/listen 8080;/listen 127.0.0.1:$port;/;
spew("$ddir/docker.conf", $dconf);
spew("$ddir/nginx.conf", $dconf);

my %env = (SIGNAL_CONF_DIR => $ddir, SIGNAL_NGINX => $t->{binary},
    SIGNAL_NGINX_PREFIX => "$ddir/prefix/",
    SIGNAL_JWT_KEY_FILE => "$ddir/secrets/jwt.pub.pem",
    SIGNAL_API_SECRET_FILE => "$ddir/secrets/api.secret");

$r = entrypoint(%env);
isnt($r->{status}, 0, 'docker: without a key the entrypoint refuses');
like($r->{out}, qr/no public key to verify client tokens at .*jwt\.pub\.pem/,
    'saying where it looked');

copy("$d/ec256.pub.pem", "$ddir/secrets/jwt.pub.pem") or die $!;

$r = entrypoint(%env);
like($r->{out}, qr/no API secret at .*api\.secret/, 'then the secret');

spew("$ddir/secrets/api.secret", "$API\n");

$r = entrypoint(%env);
like($r->{out}, qr/set SIGNAL_ALLOW_ORIGIN/, 'then the origins');

$r = entrypoint(%env, SIGNAL_ALLOW_ORIGIN => 'https://a.test;evil');
like($r->{out}, qr/unexpected character/,
    'an origin that would end a directive is refused');

$r = entrypoint(%env, SIGNAL_ALLOW_ORIGIN => 'https://app.test '
    . 'https://*.app.test');
is($r->{status}, 0, 'with all three nginx -t accepts it')
    or diag($r->{out});
like(slurp("$ddir/runtime.conf"),
    qr/signal_allow_origin https:\/\/app\.test https:\/\/\*\.app\.test;/,
    'runtime.conf has the origins');

spew("$ddir/nginx.conf", "events {}\nhttp {}\n");
$r = entrypoint(SIGNAL_CONF_DIR => $ddir, SIGNAL_NGINX => $t->{binary},
    SIGNAL_NGINX_PREFIX => "$ddir/prefix/");
is($r->{status}, 0, 'a configuration of ones own is used as it is');

# the demo: loopback only, and said to be insecure

my $demo = slurp("$CONF/demo.conf");
my @listen = $demo =~ /^\s*listen\s+([^;]+);/mg;
ok(@listen && !grep({ !/^127\.0\.0\.1:/ } @listen),
    'demo.conf listens on 127.0.0.1 only');
like($demo, qr/INSECURE DEMO/, 'and says what it is');

# a cookie token without signal_allow_origin: warned at nginx -t

my $wdir = "$d/warn";
make_path("$wdir/logs");
spew("$wdir/nginx.conf", <<"EOF");
load_module $t->{module};
error_log $wdir/error.log;
pid $wdir/nginx.pid;
events {}
http {
    signal_zone w:1m;
    access_log off;
    server {
        listen 127.0.0.1:$port;
        location /ws {
            signal_websocket;
            signal_jwt_secret "0123456789abcdef0123456789abcdef";
            signal_jwt_token cookie=jwt;
        }
    }
}
EOF

$r = run_cmd($t->{binary}, '-t', '-p', "$wdir/", '-c', "$wdir/nginx.conf");
like($r->{out}, qr/\[warn\].*signal_allow_origin/,
    'a cookie token without signal_allow_origin: a warning');


###############################################################################

sub status { ref $_[0] eq 'Test::Signal::WS' ? 101 : $_[0]{status} }

sub ws {
    my ($path, %o) = @_;
    my %h;
    $h{Authorization} = "Bearer $o{token}" if $o{token};
    $h{Origin} = $o{origin} if $o{origin};
    return Test::Signal::WS->connect(port => $port, path => $path,
        headers => \%h);
}

sub notify {
    my ($room, $event, $secret) = @_;
    my %h = ('Content-Type' => 'application/json');
    $h{Authorization} = "Bearer $secret" if $secret;
    return $t->http('POST', '/signal/notify', body =>
        qq({"room":"$room","event":"$event","data":{}}), headers => \%h);
}

sub get {
    my ($path, $secret) = @_;
    return $t->http('GET', $path,
        headers => $secret ? { Authorization => "Bearer $secret" } : {});
}

sub nginx_t {
    my ($p) = @_;
    return run_cmd($t->{binary}, '-t', '-p', "$p/", '-c', 'conf/nginx.conf',
        '-e', "$p/logs/error.log");
}

sub entrypoint {
    my (%e) = @_;
    local %ENV = %ENV;
    delete $ENV{$_} for grep { /^SIGNAL_/ } keys %ENV;
    @ENV{keys %e} = values %e;
    return run_cmd("$CONF/docker-entrypoint.sh", '-t');
}

# the sanitizer runtime is preloaded for a sanitized module, as run() does
sub run_cmd {
    my @cmd = @_;
    local %ENV = %ENV;
    $t->_child_env();
    my $out = `@{[ join(' ', map { quotemeta } @cmd) ]} 2>&1`;
    return { status => $?, out => $out };
}

sub start_prefix {
    my ($p) = @_;
    unlink("$p/logs/error.log");    # the refusals of nginx -t above
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>', '/dev/null');
        $t->_child_env();
        exec($t->{binary}, '-p', "$p/", '-c', 'conf/nginx.conf', '-e',
            "$p/logs/error.log") or POSIX::_exit(1);
    }
    for (1 .. 200) {
        last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        select(undef, undef, undef, 0.05);
    }
    return $pid;
}

sub stop_prefix {
    my ($pid) = @_;
    kill('QUIT', $pid);
    for (1 .. 200) {
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        select(undef, undef, undef, 0.05);
    }
    my $log = slurp("$prefix/logs/error.log");
    my @bad = grep { /\[(alert|emerg|crit)\]/ } split /\n/, $log;
    is("@bad", '', 'conf/nginx.conf ran without alerts');
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or return '';
    local $/;
    return <$fh>;
}

sub spew {
    my ($f, $s) = @_;
    open(my $fh, '>', $f) or die "$f: $!";
    print $fh $s;
    close($fh);
}

# tokens for these requests (see t/interop/jwt.js), made by node
sub tokens { return $t->jwt(@_) }

###############################################################################
