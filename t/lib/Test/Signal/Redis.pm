package Test::Signal::Redis;

# A redis-server for one test file: 127.0.0.1 only, no persistence, in the
# test's directory; it can be killed, paused and started again on the same
# port to test outages. Perl core modules only.

use strict;
use warnings;

use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $SERVER = '/usr/bin/redis-server';
my $CLI = '/usr/bin/redis-cli';

# Test::Signal::Redis->new(port => N, dir => path, args => [more
#     redis-server arguments, e.g. --requirepass x])
sub new {
    my ($class, %o) = @_;
    die "$SERVER is missing: apt-get install redis-server\n" unless -x $SERVER;
    return bless { port => $o{port}, dir => $o{dir}, args => $o{args} // [],
        password => $o{password} }, $class;
}

sub port { $_[0]{port} }

# Starts the server and waits until it answers PING (5 seconds).
sub start {
    my ($self) = @_;
    my $pid = fork() // die "fork: $!\n";

    if ($pid == 0) {
        open(STDOUT, '>>', "$self->{dir}/redis.out");
        open(STDERR, '>&', \*STDOUT);
        exec($SERVER, '--port', $self->{port}, '--bind', '127.0.0.1',
            '--save', '', '--appendonly', 'no', '--dir', $self->{dir},
            '--logfile', "$self->{dir}/redis-$self->{port}.log",
            '--daemonize', 'no', @{$self->{args}})
            or exit(127);
    }

    $self->{pid} = $pid;

    my $deadline = time() + 5;
    while (time() < $deadline) {
        return $self if $self->ping();
        sleep(0.05);
    }

    die "redis-server did not start on port $self->{port}\n";
}

# Stops the server with $sig (TERM unless given) and reaps it.
sub stop {
    my ($self, $sig) = @_;
    my $pid = delete $self->{pid} or return;
    kill($sig // 'TERM', $pid);
    kill('CONT', $pid);
    my $deadline = time() + 5;
    while (time() < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep(0.02);
    }
    kill('KILL', $pid);
    waitpid($pid, 0);
}

# 1 if the server answers PING within half a second.
sub ping {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}",
        Timeout => 0.5) or return 0;
    $s->syswrite(defined $self->{password}
        ? "AUTH $self->{password}\r\nPING\r\n" : "PING\r\n");
    my $in = '';
    my $deadline = time() + 0.5;
    while ($in !~ /\+PONG/ && time() < $deadline) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        select(my $r = $rin, undef, undef, 0.1) or next;
        sysread($s, $in, 64, length $in) or last;
    }
    return $in =~ /\+PONG/ ? 1 : 0;
}

sub pause { kill('STOP', $_[0]{pid}) if $_[0]{pid} }
sub resume { kill('CONT', $_[0]{pid}) if $_[0]{pid} }

# Runs redis-cli with @args; its output without the trailing newline.
sub cli {
    my ($self, @args) = @_;
    open(my $fh, '-|', $CLI, '-p', $self->{port}, @args) or return undef;
    local $/;
    my $out = <$fh>;
    close($fh);
    $out //= '';
    $out =~ s/\n\z//;
    return $out;
}

sub DESTROY { $_[0]->stop() }

1;
