package Test::Signal;

# End-to-end test harness for ngx_signal_module, modelled on nginx-tests'
# lib/Test/Nginx.pm: a temp dir per test file, nginx.conf templating,
# port allocation, start/stop/reload of a real nginx (master + workers)
# and implicit error.log checks. Perl core modules only.

use strict;
use warnings;

use Test::More ();
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use File::Temp qw(tempdir);
use File::Spec;
use FindBin;
use Time::HiRes qw(time sleep);
use Scalar::Util qw(weaken);

use Test::Signal::WS;
use IPC::Open2 ();
use Exporter qw(import);

our $VERSION = '1.0';

# nothing is exported unless asked for
our @EXPORT_OK = qw(strip_epoch);

my @ALL;            # live harness objects, for the END safety net
my $LIBASAN;        # resolved once

$SIG{PIPE} = 'IGNORE';

# Nothing may hang: a whole test file gets this many seconds.
$SIG{ALRM} = sub { die "Test::Signal: test file timed out\n" };
alarm($ENV{TEST_SIGNAL_FILE_TIMEOUT} // 90);

# Test::Signal->new(zone => size of the signal_zone in TEST_GLOBALS_HTTP)
sub new {
    my ($class, %o) = @_;

    my $self = bless { owner => $$, ports => {}, locks => [],
        ignore => [], checked => 0, zone => $o{zone} // '1m' }, $class;

    $self->{dir} = tempdir('signal-test-XXXXXXXX', TMPDIR => 1,
        CLEANUP => !$ENV{TEST_SIGNAL_LEAVE});
    # workers run as "nobody" when we are root: let them write temp
    # files and sanitizer logs here
    chmod(01777, $self->{dir}) if $> == 0;

    $self->{binary} = $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx';
    $self->{module} = $ENV{TEST_SIGNAL_MODULE}
        // File::Spec->rel2abs("$FindBin::Bin/../build/ngx_signal_module.so");
    $self->{module} = File::Spec->rel2abs($self->{module});

    Test::More::BAIL_OUT("nginx binary $self->{binary} not found")
        unless -x $self->{binary};
    Test::More::BAIL_OUT("module $self->{module} not found")
        unless -f $self->{module};

    Test::More::diag("test dir: $self->{dir}") if $ENV{TEST_SIGNAL_LEAVE};

    push @ALL, $self;
    weaken($ALL[-1]);
    return $self;
}

sub dir { $_[0]{dir} }
sub pid { $_[0]{pid} }

###############################################################################
# configuration

sub port {
    my ($self, $n) = @_;
    return $self->{ports}{$n} //= $self->_alloc_port();
}

# A random port below the ephemeral range that is free for TCP on
# 127.0.0.1; a UDP socket bound to the same number is held as a lock so
# that parallel test files (prove -j) never pick the same port.
sub _alloc_port {
    my ($self) = @_;
    my %used = map { $_ => 1 } grep { defined } values %{$self->{ports}};

    for (1 .. 1000) {
        my $p = 10000 + int(rand(20000));
        next if $used{$p};
        my $lock = IO::Socket::INET->new(Proto => 'udp',
            LocalAddr => "127.0.0.1:$p") or next;
        my $probe = IO::Socket::INET->new(Proto => 'tcp',
            LocalAddr => "127.0.0.1:$p", Listen => 1, ReuseAddr => 1)
            or next;
        CORE::close($probe);
        push @{$self->{locks}}, $lock;
        return $p;
    }

    Test::More::BAIL_OUT("no free port found");
}

sub _sanitize { $ENV{TEST_SIGNAL_SANITIZE} }

sub test_globals {
    my ($self) = @_;
    my $d = $self->{dir};
    my $level = $ENV{TEST_SIGNAL_DEBUG} ? 'debug' : 'info';
    my $s = "pid $d/nginx.pid;\n"
        . "error_log $d/error.log $level;\n"
        . "load_module $self->{module};\n"
        . "daemon off;\nmaster_process on;\n";
    $s .= "env LD_PRELOAD;\nenv ASAN_OPTIONS;\nenv UBSAN_OPTIONS;\n"
        if _sanitize();
    return $s;
}

sub test_globals_http {
    my ($self) = @_;
    my $d = $self->{dir};
    return "access_log $d/access.log;\n"
        . "client_body_temp_path $d/client_body_temp;\n"
        . "proxy_temp_path $d/proxy_temp;\n"
        . "fastcgi_temp_path $d/fastcgi_temp;\n"
        . "uwsgi_temp_path $d/uwsgi_temp;\n"
        . "scgi_temp_path $d/scgi_temp;\n"
        . "default_type application/octet-stream;\n"
        . "signal_zone signal_test:$self->{zone};\n";
}

sub write_file {
    my ($self, $name, $content) = @_;
    open(my $fh, '>', "$self->{dir}/$name") or die "write $name: $!";
    binmode $fh;
    print $fh $content;
    CORE::close($fh);
    return $self;
}

sub write_file_expand {
    my ($self, $name, $content) = @_;
    $content =~ s/%%TEST_GLOBALS%%/$self->test_globals()/ge;
    $content =~ s/%%TEST_GLOBALS_HTTP%%/$self->test_globals_http()/ge;
    $content =~ s/%%PORT_(\d+)%%/$self->port($1)/ge;
    $content =~ s/%%TESTDIR%%/$self->{dir}/g;
    return $self->write_file($name, $content);
}

sub read_file {
    my ($self, $name) = @_;
    open(my $fh, '<', "$self->{dir}/$name") or return '';
    binmode $fh;
    local $/;
    my $s = <$fh>;
    CORE::close($fh);
    return $s // '';
}

###############################################################################
# process control

sub _child_env {
    return unless _sanitize();
    my $d = $_[0]{dir};
    unless (defined $LIBASAN) {
        $LIBASAN = `gcc -print-file-name=libasan.so 2>/dev/null`;
        chomp $LIBASAN;
        Test::More::BAIL_OUT("libasan.so not found (gcc)")
            unless $LIBASAN && -e $LIBASAN;
    }
    $ENV{LD_PRELOAD} = $LIBASAN;
    $ENV{ASAN_OPTIONS} = "detect_leaks=0:log_path=$d/asan:abort_on_error=0";
    $ENV{UBSAN_OPTIONS} = "print_stacktrace=1:log_path=$d/ubsan";
}

sub run {
    my ($self) = @_;
    my $d = $self->{dir};

    die "nginx already running\n" if $self->{pid};
    unlink "$d/nginx.pid";

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        alarm(0);
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', "$d/stderr.log");
        open(STDERR, '>>', "$d/stderr.log");
        $self->_child_env();
        exec($self->{binary}, '-p', "$d/", '-c', 'nginx.conf',
            '-e', "$d/error.log")
            or POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    my $deadline = time() + (_sanitize() ? 20 : 10);
    while (time() < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $st = $?;
            delete $self->{pid};
            die sprintf("nginx exited at start (status %d):\n%s%s\n", $st,
                $self->read_file('error.log'), $self->read_file('stderr.log'));
        }
        my $p = $self->read_file('nginx.pid');
        if ($p =~ /^(\d+)/ && $1 == $pid) {
            return $self if $self->_wait_workers(1, $deadline);
        }
        sleep(0.02);
    }

    $self->stop();
    die "nginx did not start in time:\n" . $self->read_file('error.log');
}

sub _wait_workers {
    my ($self, $n, $deadline) = @_;
    while (time() < $deadline) {
        return 1 if $self->workers() >= $n;
        sleep(0.02);
    }
    return 0;
}

# Pids of the master's children (worker processes).
sub workers {
    my ($self) = @_;
    my $master = $self->{pid} or return ();
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open(my $fh, '<', $stat) or next;
        my $line = <$fh> // next;
        CORE::close($fh);
        my ($pid) = $line =~ /^(\d+)/;
        my ($ppid) = $line =~ /\)\s+\S+\s+(\d+)/;
        push @w, $pid if defined $ppid && $ppid == $master;
    }
    @w = sort { $a <=> $b } @w;
    return @w;
}

sub signal {
    my ($self, $sig) = @_;
    return $self->{pid} ? kill($sig, $self->{pid}) : 0;
}

# Waits for the master to exit; 1 if it did within $timeout.
sub wait_exit {
    my ($self, $timeout) = @_;
    my $pid = $self->{pid} or return 1;
    my $deadline = time() + ($timeout // 10);
    while (time() < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid || $r == -1) {
            $self->{exit_status} = $?;
            delete $self->{pid};
            return 1;
        }
        sleep(0.02);
    }
    return 0;
}

sub stop {
    my ($self) = @_;
    return $self unless $self->{pid};

    for my $step ([ 'QUIT', 10 ], [ 'TERM', 5 ], [ 'KILL', 5 ]) {
        my ($sig, $wait) = @$step;
        $self->signal($sig);
        return $self if $self->wait_exit($wait);
        Test::More::diag("nginx did not exit after SIG$sig");
    }
    delete $self->{pid};
    return $self;
}

# HUP, then wait (bounded) until a full set of new workers replaced the
# old ones in the process list. wait_old => 1 also waits until every old
# worker has exited. Returns the old worker pids.
sub reload {
    my ($self, %o) = @_;
    my @old = $self->workers();
    my %old = map { $_ => 1 } @old;
    my $deadline = time() + ($o{timeout} // 10);

    $self->signal('HUP');

    while (time() < $deadline) {
        my @new = grep { !$old{$_} } $self->workers();
        last if @new >= (@old || 1);
        sleep(0.02);
    }

    if ($o{wait_old}) {
        $self->wait_pids_gone(\@old, $deadline - time());
    }

    return @old;
}

# 1 if none of @$pids is alive within $timeout.
sub wait_pids_gone {
    my ($self, $pids, $timeout) = @_;
    my $deadline = time() + ($timeout // 10);
    for ( ;; ) {
        my @alive = grep { kill(0, $_) && !_is_zombie($_) } @$pids;
        return 1 unless @alive;
        return 0 if time() >= $deadline;
        sleep(0.02);
    }
}

sub _is_zombie {
    open(my $fh, '<', "/proc/$_[0]/stat") or return 1;
    my $line = <$fh> // return 1;
    return $line =~ /\)\s+Z\s/ ? 1 : 0;
}

###############################################################################
# implicit checks

sub plan {
    my ($self, $n) = @_;
    Test::More::plan(tests => $n + 3);
    $self->{planned} = 1;
    return $self;
}

# The implicit checks at the end also run for this instance (a second
# nginx of a test file): 3 more tests for the plan of the first.
sub checked_too {
    my ($self) = @_;
    $self->{planned} = 1;
    return $self;
}

# Lines of error.log matching this pattern are not reported by the
# implicit alert check.
sub ignore_log {
    my ($self, $re) = @_;
    push @{$self->{ignore}}, $re;
    return $self;
}

sub finish {
    my ($self) = @_;
    return if $self->{checked} || $self->{owner} != $$;
    $self->{checked} = 1;
    local $?;

    $self->stop();
    return unless $self->{planned};

    my $log = $self->read_file('error.log');
    my @lines = split /\n/, $log;

    my @alerts = grep {
        my $l = $_;
        /\[(alert|emerg|crit)\]/ && !grep { $l =~ $_ } @{$self->{ignore}}
    } @lines;
    Test::More::is(join("\n", @alerts), '', 'no alerts in error.log');

    # a test that kills a worker itself says so with ignore_log()
    # a sanitizer that stops a worker makes it exit with a code
    Test::More::is(join("\n", grep {
        my $l = $_;
        /exited on signal|exited with code [1-9]/
            && !grep { $l =~ $_ } @{$self->{ignore}}
    } @lines), '', 'no crashed processes');

    my @san = grep { /runtime error|AddressSanitizer|LeakSanitizer/ } @lines;
    for my $f (glob("$self->{dir}/asan.* $self->{dir}/ubsan.*")) {
        open(my $fh, '<', $f) or next;
        local $/;
        push @san, "$f:\n" . (<$fh> // '');
    }
    Test::More::is(join("\n", @san), '', 'no sanitizer reports');
}

sub DESTROY {
    my ($self) = @_;
    $self->finish();
}

END {
    for my $t (grep { defined } @ALL) {
        $t->finish();
    }
}

###############################################################################
# HTTP and WebSocket clients

# http(method, path, headers => {}, body => bytes, port => N, timeout => s,
#      raw => exact bytes to send instead). Returns {status, reason,
#      headers (lowercase keys), body, json}.
sub http {
    my ($self, $method, $path, %o) = @_;
    my $req = $o{raw};

    unless (defined $req) {
        my $body = $o{body};
        my @h = ([ 'Host', 'localhost' ], [ 'Connection', 'close' ]);
        push @h, [ 'Content-Length', length $body ] if defined $body;
        my %extra = %{$o{headers} || {}};
        for my $name (sort keys %extra) {
            @h = grep { lc $_->[0] ne lc $name } @h;
            push @h, [ $name, $extra{$name} ];
        }
        $req = "$method $path HTTP/1.1\r\n"
            . join('', map { "$_->[0]: $_->[1]\r\n" }
                grep { defined $_->[1] } @h)
            . "\r\n" . ($body // '');
    }

    return $self->http_raw($req, %o, method => $method);
}

# Sends exactly $bytes on a new connection and reads one response.
sub http_raw {
    my ($self, $bytes, %o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $o{port} // $self->port(1), Proto => 'tcp', Timeout => 3)
        or return { status => 0, error => "connect: $!" };
    $sock->blocking(0);

    Test::Signal::WS::write_all($sock, $bytes)
        or return { status => 0, error => "write: $!" };

    my $buf = '';
    my $r = Test::Signal::WS::read_response($sock, \$buf,
        method => $o{method} // '', timeout => $o{timeout} // 5);
    CORE::close($sock);
    return $r;
}

# POST JSON to a notify location; $data is a Perl structure or a string.
sub notify {
    my ($self, $path, $data, %o) = @_;
    my $body = ref $data ? Test::Signal::WS::encode_json($data) : $data;
    return $self->http('POST', $path, %o, body => $body,
        headers => { 'Content-Type' => 'application/json',
            %{$o{headers} || {}} });
}

# WebSocket connect on port(1) unless port => is given; see
# Test::Signal::WS::connect.
sub ws {
    my ($self, $path, %o) = @_;
    return Test::Signal::WS->connect(port => $self->port(1), %o,
        path => $path);
}


# ws() that dies unless the handshake succeeded; the connection.
sub ws_ok {
    my ($self, $path, %o) = @_;
    my $ws = $self->ws($path, %o);
    die "handshake to $path failed: $ws->{status}\n"
        unless ref $ws eq 'Test::Signal::WS';
    return $ws;
}

# A connection to $path subscribed to @rooms (see ws_ok() and
# Test::Signal::WS::subscribe); dies on failure.
sub subscriber {
    my ($self, $path, @rooms) = @_;
    return $self->ws_ok($path)->subscribe(@rooms);
}

# Publishes one event through notify(): $data is JSON text, put as is.
# Dies unless the event was accepted (202); the response.
sub publish {
    my ($self, $room, $event, $data, %o) = @_;
    my $r = $self->notify($o{path} // '/notify', '{"room":"' . $room
        . '","event":"' . $event . '","data":' . $data . '}', %o);
    die "publish to $room: $r->{status} $r->{body}\n"
        unless $r->{status} == 202;
    return $r;
}

# JWTs made by node's crypto (t/interop/jwt.js, which documents the
# requests: alg, key or secret, header, payload, raw, tamper), one per
# request; the key pairs are made in the test directory on the first call.
sub jwt {
    my ($self, @req) = @_;
    my $js = File::Spec->rel2abs("$FindBin::Bin/interop/jwt.js");
    my $in = "$self->{dir}/jwt-requests";
    open(my $fh, '>', $in) or die "$in: $!";
    print $fh Test::Signal::WS::encode_json($_), "\n" for @req;
    CORE::close($fh);
    my @out = `/usr/bin/node $js $self->{dir} < $in`;
    die "jwt.js failed\n" if $? || @out != @req;
    chomp(@out);
    return @out;
}

# HMAC of $data with $key (raw bytes) by the openssl command, raw bytes:
# an implementation nobody here wrote, for webhook signatures.
sub hmac {
    my ($digest, $key, $data) = @_;
    my $hexkey = unpack('H*', $key);
    my $pid = IPC::Open2::open2(my $out, my $in, 'openssl', 'dgst',
        "-$digest", '-mac', 'HMAC', '-macopt', "hexkey:$hexkey", '-binary');
    binmode($in);
    binmode($out);
    print $in $data;
    CORE::close($in);
    local $/;
    my $mac = <$out>;
    waitpid($pid, 0);
    die "openssl dgst failed\n" if $? || !defined $mac;
    return $mac;
}

sub hmac_hex { unpack('H*', hmac(@_)) }

###############################################################################
# messages

# strip_epoch($msg, \$epoch or \@epochs or \%epochs): $msg once its
# "epoch" is checked (16 lowercase hex digits, not all zero) and deleted,
# so that is_deeply() compares the rest exactly. An event or a
# "subscribed" reply carries the epoch at the top, a notify answer in each
# entry of "published". undef, with a diag(), when an epoch is missing or
# malformed. The epoch goes to $epoch, or each one, in order, to @epochs;
# %epochs holds the first epoch seen of each room, and a message with
# another one for a room in it is undef too.
sub strip_epoch {
    my ($msg, $out) = @_;
    my @where = ref $msg eq 'HASH' && ref $msg->{published} eq 'ARRAY'
        ? @{$msg->{published}} : ($msg);
    my @epochs;

    for my $m (@where) {
        my $e = ref $m eq 'HASH' ? delete $m->{epoch} : undef;
        unless (defined $e && !ref $e && $e =~ /^[0-9a-f]{16}\z/
            && $e =~ /[^0]/)
        {
            Test::More::diag('epoch ' . (defined $e ? "'$e'" : 'missing')
                . ' in ' . Test::Signal::WS::encode_json($m));
            return undef;
        }
        push @epochs, $e;
    }

    if (ref $out eq 'ARRAY') {
        @$out = @epochs;
    } elsif (ref $out eq 'SCALAR') {
        $$out = $epochs[0];
    } elsif (ref $out eq 'HASH') {
        my %first = %$out;
        for my $i (0 .. $#where) {
            my $room = $where[$i]{room} // '';
            my $e = $first{$room} //= $epochs[$i];
            next if $e eq $epochs[$i];
            Test::More::diag("epoch $epochs[$i] in room $room, not $e");
            return undef;
        }
        %$out = %first;
    }
    return $msg;
}

1;
