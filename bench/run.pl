#!/usr/bin/perl

# bench/run.pl: this module, nchan and a Socket.IO 4 server, on the same
# machine with the same worker count, driven by bench/loadgen in one run;
# the floor (bench/floor.c) shows what the kernel allows.  Each figure is
# the median of --runs runs; runs are interleaved (run 1 of every system,
# then run 2, ...) so that noise on a shared machine hits all of them.
# Writes the tables to docs/benchmarks.md and the raw results to
# docs/benchmarks.json.
#
#   perl bench/run.pl [--runs 3] [--workers 1] [--only w1,w1sse,w2,w3,w5]
#                     [--systems signal,nohist,nchan,socketio,floor]
#                     [--out docs/benchmarks.md] [--report-only 1]
#                     [--baseline /path/to/other/ngx_signal_module.so]
#                     [--module /path/to/ngx_signal_module.so]
#                     [--merge 1] [--json docs/benchmarks.json]
#
# --module is the build measured (build/ngx_signal_module.so by default);
# --json where the raw results go (and come from, with --report-only and
# --merge).
# --merge 1 keeps, from docs/benchmarks.json, the results of the workloads
# not run this time (with --only): a workload run replaces all its tables,
# the others stay as they were measured.
#
# --baseline adds the system "baseline": this module built from another
# checkout, in the same runs (A/B of a change; add it to --systems).
# "nohist" is this module with `signal_history off`: its ratio is what
# history costs.
#
# Workloads (see docs/benchmarks.md for what each measures):
#   W1  5,000 subscribers in one room: 80 events at 4/s, then 500 at once
#   W1-SSE (w1sse)  the same with the subscribers on Server-Sent Events
#       (this module, nchan's eventsource subscriber, the floor)
#   W2  10,000 rooms with one subscriber each: single events, unthrottled
#       from 4 keep-alive publishers; then batches of 100 events per notify
#   W3  10,000 idle connections: worker private memory per connection
#   W4  the handshakes per second while W3's 10,000 connections open
#   W5  two instances and one Redis: W1 and W2 with the subscribers spread
#       over both and every publish sent to the first
# Perl core modules only.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use File::Spec;
use FindBin;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(sleep time);

my %o = (runs => 3, workers => 1, out => 'docs/benchmarks.md',
    only => 'w1,w1sse,w2,w3,w5',
    systems => 'signal,nohist,nchan,socketio,floor',
    subscribers => 5000, rooms => 10000, idle => 10000, threads => 2);

while (@ARGV) {
    my $k = shift;
    $k =~ s/^--// or die "usage: perl bench/run.pl [--runs N] ...\n";
    defined($o{$k} = shift) or die "--$k needs a value\n";
}

my $root = File::Spec->rel2abs("$FindBin::Bin/..");
my $work = "$root/build/bench";
my $loadgen = "$root/build/loadgen";
my $module = $o{module} // "$root/build/ngx_signal_module.so";
my $nchan = '/usr/lib/nginx/modules/ngx_nchan_module.so';
my $sio = "$root/bench/socketio/server.js";
my $json = JSON::PP->new->canonical;
my $raw = File::Spec->rel2abs($o{json} // "$root/docs/benchmarks.json");
my $redis_port = 18190;

my %only = map { $_ => 1 } split /,/, $o{only};
my %want = map { $_ => 1 } split /,/, $o{systems};

# a system: how to start one instance on a port, where its clients go
my %systems = (
    signal => {
        label => 'ngx_signal_module', kind => 'nginx',
        load => "load_module $module;",
        http => 'signal_zone bench:128m;',
        redis_http => "signal_redis redis://127.0.0.1:$redis_port;",
        locations => <<'EOF',
        location /ws { signal_websocket; signal_join $arg_room;
                       signal_send_queue 16m; }
        location /sse { signal_websocket; signal_transports eventsource;
                        signal_join $arg_room; signal_send_queue 16m; }
        location /pub { signal_notify; }
EOF
        ws => '/ws?room=%s', sse => '/sse?room=%s', pub => '/pub',
        target => 'signal',
        proto => 'native', batch => 1,
    },
    nchan => {
        label => 'nchan', kind => 'nginx',
        load => "load_module $nchan;",
        http => 'nchan_max_reserved_memory 512m;',
        redis_http => "upstream bench_redis { nchan_redis_server "
            . "redis://127.0.0.1:$redis_port; }",
        redis_loc => 'nchan_redis_pass bench_redis;',
        locations => <<'EOF',
        location /ws { nchan_subscriber websocket;
                       nchan_channel_id $arg_room; %REDIS% }
        location /sse { nchan_subscriber eventsource;
                        nchan_channel_id $arg_room; %REDIS% }
        location /pub { nchan_publisher; nchan_channel_id $arg_id;
                        nchan_message_buffer_length 10; %REDIS% }
EOF
        ws => '/ws?room=%s', sse => '/sse?room=%s', pub => '/pub?id=%s',
        target => 'nchan', proto => 'native', batch => 0,
    },
    socketio => {
        label => 'Socket.IO', kind => 'node',
        ws => '/socket.io/?room=%s', pub => '/pub', target => 'socketio',
        proto => 'socketio', batch => 1,
    },
    floor => {
        label => 'floor', kind => 'floor',
        ws => '/ws?room=%s', sse => '/ws?room=%s', pub => '/pub?id=%s',
        target => 'floor', proto => 'native', batch => 0,
    },
);

# the same module with nothing kept for clients that resume: what history
# costs (W1 with history on may cost at most 10% more CPU per delivery)
$systems{nohist} = { %{$systems{signal}}, label => 'history off' };
$systems{nohist}{locations} =~
    s/signal_notify;/signal_notify; signal_history off;/;
delete $systems{nohist}{sse};    # what history costs: W1 says it

if ($o{baseline}) {
    die "no module at $o{baseline}\n" unless -f $o{baseline};
    $systems{baseline} = { %{$systems{signal}}, label => 'baseline',
        load => "load_module $o{baseline};" };
}

my @local = grep { $want{$_} } qw(signal baseline nohist nchan socketio floor);
my @cross = grep { $want{$_} && $_ ne 'floor' && $_ ne 'nohist' }
    qw(signal baseline nchan socketio);
my %port = (signal => 18181, nchan => 18182, socketio => 18183,
    floor => 18184, baseline => 18185, nohist => 18186);

my %res;
my %kept;
my %load;        # the highest 1-minute load average seen, by workload
our $current;    # the workload running
my $session = strftime('%Y-%m-%d %H:%M UTC', gmtime());

if ($o{merge} && !$o{'report-only'}) {
    my $old = $json->decode(slurp($raw) // die "no $raw to merge with\n");
    %kept = map { $_ => $old->{$_} }
        grep { /^w\d/ && !$only{$_} } keys %$old;
    $kept{measured} = $old->{measured} // {};
    # from before results were dated: the machine of the whole file
    $kept{measured}{$_} //= { date => $old->{machine}{date},
        runs => $old->{options}{runs} } for grep { /^w\d/ } keys %kept;
}

if ($o{'report-only'}) {
    %res = %{$json->decode(slurp($raw)
        // die "no $raw: run the benchmarks first\n")};
    %o = (%o, %{$res{options} || {}});
    report();
    exit 0;
}

die "build first: $loadgen\n" unless -x $loadgen;
die "build first: $module\n" unless -f $module;
die "nchan is missing: apt-get install libnginx-mod-nchan\n"
    if $want{nchan} && !-f $nchan;
die "Socket.IO is missing: cd bench/socketio && npm ci\n"
    if $want{socketio} && !-d "$root/bench/socketio/node_modules/socket.io";

local $SIG{INT} = local $SIG{TERM} = sub { stop_all(); exit 1 };

for my $run (1 .. $o{runs}) {
    for my $name (@local) {
        next unless grep { $only{$_} } qw(w1 w2 w3)
            or $only{w1sse} && $systems{$name}{sse};
        my @inst = start($name, $port{$name});
        sio_check($port{$name}) if $name eq 'socketio';
        note("run $run/$o{runs}: $name");
        # first, while the heap has not been grown by the other workloads
        w3($name, \@inst) if $only{w3} && $name ne 'floor';
        w1($name, $run, [ $port{$name} ], \@inst, 'w1') if $only{w1};
        w1sse($name, $run, [ $port{$name} ], \@inst, 'w1sse')
            if $only{w1sse} && $systems{$name}{sse};
        w2($name, $run, [ $port{$name} ], \@inst, 'w2') if $only{w2};
        stop_all();
    }

    next unless $only{w5};

    for my $name (@cross) {
        my $redis = start_redis();
        my @ports = ($port{$name}, $port{$name} + 10);
        my @inst = map { start($name, $_, 1) } @ports;
        push @inst, $redis;
        sio_check(@ports) if $name eq 'socketio';
        note("run $run/$o{runs}: $name across two instances + Redis");
        w1($name, $run, \@ports, \@inst, 'w5');
        w2($name, $run, \@ports, \@inst, 'w5');
        stop_all();
    }
}

$res{options} = { map { $_ => $o{$_} } qw(runs workers subscribers rooms
    idle threads) };
$res{machine} = machine();
$res{measured} = $kept{measured} // {};
$res{measured}{$_} = { date => $res{machine}{date}, runs => $o{runs},
    load => $load{$_}, cores => $res{machine}{cores}, session => $session }
    for grep { /^w\d/ } keys %res;
$res{$_} //= $kept{$_} for grep { /^w\d/ } keys %kept;

open(my $fh, '>', $raw) or die "$raw: $!";
print $fh $json->encode(\%res), "\n";
close($fh);

report();

###############################################################################
# workloads

sub w1 {
    my ($name, $run, $ports, $inst, $w) = @_;
    local $current = $w;

    # a room of its own for each run: nothing an earlier run left in a
    # message buffer (nchan keeps the last 10) can reach it
    push @{$res{$w}{$name}{w1_rate}}, loadgen($name, $ports, $inst,
        connections => $o{subscribers}, events => 80, rate => 4,
        room => "w1r$run");
    push @{$res{$w}{$name}{w1_burst}}, loadgen($name, $ports, $inst,
        connections => $o{subscribers}, events => 500, rate => 0,
        room => "w1b$run");
}

# W1 with every subscriber on an event stream (Server-Sent Events), and
# W1 over WebSocket on the same server next to it (ws_*): W1's own run when
# W1 ran just before, else one of its own, so that the two transports are
# always compared within one session
sub w1sse {
    my ($name, $run, $ports, $inst, $w) = @_;
    my @sse = (ws => $systems{$name}{sse}, proto => 'sse');
    local $current = $w;

    for my $k (qw(w1_rate w1_burst)) {
        my @a = (connections => $o{subscribers},
            $k eq 'w1_rate' ? (events => 80, rate => 4)
                            : (events => 500, rate => 0));
        my $tag = ($k eq 'w1_rate' ? 'r' : 'b') . $run;

        push @{$res{$w}{$name}{"ws_$k"}}, $only{w1}
            ? $res{w1}{$name}{$k}[-1]
            : loadgen($name, $ports, $inst, @a, room => "s1w$tag");
        push @{$res{$w}{$name}{$k}}, loadgen($name, $ports, $inst, @sse,
            @a, room => "s1$tag");
    }
}

sub w2 {
    my ($name, $run, $ports, $inst, $w) = @_;
    local $current = $w;

    push @{$res{$w}{$name}{w2_single}}, loadgen($name, $ports, $inst,
        connections => $o{rooms}, rooms => $o{rooms},
        events => 5 * $o{rooms}, rate => 0, publishers => 4,
        room => "w2s${run}x");

    if ($systems{$name}{batch}) {
        push @{$res{$w}{$name}{w2_batch}}, loadgen($name, $ports, $inst,
            connections => $o{rooms}, rooms => $o{rooms},
            events => 20 * $o{rooms}, rate => 0, publishers => 2,
            batch => 100, room => "w2b${run}x");
    }

    return if $w ne 'w2' || $name eq 'floor';

    # what the publish side alone takes: the same publishes with one
    # subscriber (of the first room) instead of one per room
    push @{$res{$w}{$name}{w2_ingest}}, loadgen($name, $ports, $inst,
        connections => 1, rooms => $o{rooms}, events => 5 * $o{rooms},
        rate => 0, publishers => 4, room => "w2i${run}x");

    if ($systems{$name}{batch}) {
        push @{$res{$w}{$name}{w2_ingest_batch}}, loadgen($name, $ports,
            $inst, connections => 1, rooms => $o{rooms},
            events => 100 * $o{rooms}, rate => 0, publishers => 2,
            batch => 100, room => "w2j${run}x");
    }
}

# worker private memory with $o{idle} idle connections, and how fast they
# opened (W4)
sub w3 {
    my ($name, $inst) = @_;
    my @pids = server_pids($inst);
    local $current = 'w3';

    sample_load();
    my $before = private_kb(@pids);

    my $pid = open(my $lg, '-|', $loadgen, '--port', $port{$name}, '--ws',
        $systems{$name}{ws}, '--proto', $systems{$name}{proto}, '--room',
        'idle', '--connections', $o{idle}, '--hold', 6)
        or die "loadgen: $!";
    my $line = <$lg>;
    sleep(1.5);
    my $after = private_kb(@pids);
    kill('TERM', $pid);
    close($lg);

    my $r = eval { $json->decode($line // '{}') } // {};
    push @{$res{w3}{$name}{w3}}, {
        opened => $r->{opened} // 0,
        connect_seconds => $r->{connect_seconds},
        handshakes_per_second => $r->{handshakes_per_second},
        connect_failures => $r->{connect_failures},
        kb_per_connection => $r->{opened}
            ? sprintf('%.3f', ($after - $before) / $r->{opened}) + 0 : undef,
    };
    sleep(1);
}

sub loadgen {
    my ($name, $ports, $inst, %a) = @_;
    my $s = $systems{$name};
    my @cmd = ($loadgen, '--port', join(',', @$ports), '--pub-port',
        $ports->[0], '--ws', $a{ws} // $s->{ws}, '--pub', $s->{pub},
        '--target', $s->{target}, '--proto', $a{proto} // $s->{proto},
        '--threads', $o{threads}, '--timeout', 120, '--pids',
        join(',', server_pids($inst)));

    for my $k (qw(connections events rate rooms publishers batch room)) {
        push @cmd, "--$k", $a{$k} if defined $a{$k};
    }

    sample_load();
    my $out = `@cmd 2>>$work/loadgen.log`;
    my $r = eval { $json->decode($out) }
        or die "$name: loadgen gave no result (see $work/loadgen.log): "
            . "@cmd\n";
    note(sprintf('  %-9s %-9s %9.0f deliveries/s, p99 %6.1f ms, '
        . '%5.2f us CPU/delivery, missing %d, duplicates %d', $name,
        ($a{batch} ? 'batch' : $a{rooms} ? 'rooms' : $a{rate} ? 'rate'
        : 'burst') . ($a{proto} ? "/$a{proto}" : ''),
        $r->{deliveries_per_second},
        $r->{latency_us}{p99} / 1000, $r->{cpu_us_per_delivery},
        $r->{missing}, $r->{duplicates}));
    sleep(0.5);
    return $r;
}

###############################################################################
# servers

my @running;

# one instance of $name on $port (with Redis when $redis); returns it
sub start {
    my ($name, $port, $redis) = @_;
    my $s = $systems{$name};
    my $d = "$work/$name-$port";
    my %inst = (name => $name, port => $port, dir => $d);

    remove_tree($d);
    make_path("$d/logs");

    if ($s->{kind} eq 'floor') {
        $inst{pid} = spawn("$d/logs/floor.log", "$root/build/floor",
            '--port', $port);

    } elsif ($s->{kind} eq 'node') {
        $inst{pid} = spawn("$d/logs/socketio.log", 'node', $sio, '--port',
            $port, $redis ? ('--redis', "redis://127.0.0.1:$redis_port")
            : ());

    } else {
        my $http = $s->{http} . ($redis ? "\n    $s->{redis_http}" : '');
        (my $loc = $s->{locations}) =~
            s/%REDIS%/$redis ? $s->{redis_loc} : ''/ge;

        open(my $fh, '>', "$d/nginx.conf") or die "$d/nginx.conf: $!";
        print $fh <<"EOF";
$s->{load}
worker_processes $o{workers};
worker_rlimit_nofile 65536;
error_log $d/logs/error.log warn;
pid $d/nginx.pid;
events { worker_connections 30000; }
http {
    access_log off;
    client_body_temp_path $d/body;
    client_max_body_size 16m;
    client_body_buffer_size 1m;
    $http
    server {
        listen 127.0.0.1:$port backlog=8192;
$loc
    }
}
EOF
        close($fh);

        system('/usr/sbin/nginx', '-p', $d, '-c', "$d/nginx.conf", '-e',
            "$d/logs/error.log") == 0 or die "$name: nginx did not start\n";
        $inst{nginx} = 1;
    }

    push @running, \%inst;
    wait_port($port) or die "$name: nothing listens on $port\n";
    sleep($redis ? 1.5 : 0.5);   # Redis links up, workers ready

    return \%inst;
}

# two clients get an event published through the first port (bench/socketio)
sub sio_check {
    my ($p1, $p2) = @_;
    system('node', "$root/bench/socketio/check.js", '--port', $p1,
        $p2 ? ('--port2', $p2) : ()) == 0
        or die "socketio: the server does not deliver (check.js)\n";
}

sub start_redis {
    my $d = "$work/redis";
    remove_tree($d);
    make_path($d);
    my %inst = (name => 'redis', port => $redis_port, dir => $d);
    $inst{pid} = spawn("$d/redis.log", 'redis-server', '--bind',
        '127.0.0.1', '--port', $redis_port, '--save', '', '--appendonly',
        'no', '--dir', $d);
    push @running, \%inst;
    wait_port($redis_port) or die "redis-server did not start\n";
    return \%inst;
}

sub spawn {
    my ($log, @cmd) = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', $log);
        open(STDERR, '>&', \*STDOUT);
        exec(@cmd) or exit(127);
    }
    return $pid;
}

sub stop_all {
    for my $inst (reverse @running) {
        if ($inst->{nginx}) {
            my $pid = slurp("$inst->{dir}/nginx.pid") or next;
            chomp $pid;
            kill('QUIT', $pid);
            for (1 .. 100) {
                last unless kill(0, $pid);
                sleep(0.05);
            }
            kill('KILL', $pid) if kill(0, $pid);
        } elsif ($inst->{pid}) {
            kill('TERM', $inst->{pid});
            waitpid($inst->{pid}, 0);
        }
    }
    @running = ();
    sleep(0.5);
}

sub wait_port {
    my ($port) = @_;
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
            Timeout => 1);
        return 1 if $s;
        sleep(0.1);
    }
    return 0;
}

# the processes doing a system's work: nginx workers, node, floor, Redis
sub server_pids {
    my ($inst) = @_;
    my @pids;
    for my $i (@$inst) {
        if (!$i->{nginx}) {
            push @pids, $i->{pid};
            next;
        }
        my $master = slurp("$i->{dir}/nginx.pid") // next;
        chomp $master;
        for my $p (glob('/proc/[0-9]*')) {
            my ($pid) = $p =~ /(\d+)$/;
            my $stat = slurp("$p/stat") // next;
            my ($ppid) = $stat =~ /\)\s+\S+\s+(\d+)/;
            push @pids, $pid if $ppid && $ppid == $master;
        }
    }
    return @pids;
}

sub private_kb {
    my $kb = 0;
    for my $pid (@_) {
        my $s = slurp("/proc/$pid/smaps_rollup") // next;
        $kb += $1 while $s =~ /^Private_(?:Clean|Dirty):\s+(\d+)/mg;
    }
    return $kb;
}

# other work on the machine shows in its load average: kept with the
# results, and said in the report when it was high
sub sample_load {
    my ($l) = split ' ', slurp('/proc/loadavg') // '';
    $load{$current} = $l if defined $l && $l > ($load{$current} // -1);
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or return undef;
    local $/;
    return <$fh>;
}

sub note {
    print STDERR "bench: @_\n";
}

###############################################################################
# report

sub machine {
    my $cpu = `grep -m1 'model name' /proc/cpuinfo`;
    $cpu =~ s/.*:\s*//;
    chomp $cpu;
    chomp(my $ncores = `nproc`);
    chomp(my $node = `node --version 2>/dev/null` || 'n/a');
    my ($redis) = (`redis-server --version 2>/dev/null` =~ /v=(\S+)/);
    my $sio_version = eval {
        $json->decode(slurp("$root/bench/socketio/node_modules/socket.io/"
            . 'package.json'))->{version} } // 'n/a';
    my ($nchan_version) = (`dpkg-query -W libnginx-mod-nchan 2>/dev/null`
        =~ /\s(\S+)$/);

    return { date => strftime('%Y-%m-%d', gmtime()), cpu => $cpu,
        cores => $ncores, kernel => (split ' ', `uname -r`)[0],
        nginx => '1.22.1', nchan => $nchan_version // 'n/a',
        node => $node, socketio => $sio_version, redis => $redis // 'n/a' };
}

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return $v[int($#v / 2)];
}

sub metric {
    my ($runs, $path) = @_;
    return undef unless $runs && @$runs;
    return median(map {
        my $v = $_;
        $v = ref $v eq 'HASH' ? $v->{$_} : undef for split /\./, $path;
        $v;
    } @$runs);
}

sub total {
    my ($runs, $path) = @_;
    return undef unless $runs && @$runs;
    my $t = 0;
    $t += $_->{$path} // 0 for @$runs;
    return $t;
}

# above 1 means ngx_signal_module does better
sub ratio {
    my ($ours, $theirs, $higher) = @_;
    return '' unless defined $ours && defined $theirs && $ours && $theirs;
    return sprintf('%.2fx', $higher ? $ours / $theirs : $theirs / $ours);
}

sub fmt {
    my ($v) = @_;
    return 'n/a' unless defined $v;
    return $v if $v =~ /^\d+$/;
    return sprintf($v >= 100 ? '%.0f' : $v >= 10 ? '%.1f' : '%.2f', $v);
}

# rows: [label, path, 'higher' | 'lower' | 'count']
sub table {
    my ($w, $key, $title, $note, @rows) = @_;
    my @sys = grep { $res{$w}{$_} && $res{$w}{$_}{$key} }
        qw(signal baseline nohist nchan socketio floor);
    return '' unless @sys && $sys[0] eq 'signal';

    my $md = "### $title\n\n";
    $md .= "$note\n\n" if $note;
    $md .= '| |' . join('', map {
        $_ eq 'signal' ? " $systems{$_}{label} |"
            : " $systems{$_}{label} | ratio |" } @sys) . "\n";
    $md .= '|---|' . join('', map { $_ eq 'signal' ? '---|' : '---|---|' }
        @sys) . "\n";

    for my $row (@rows) {
        my ($label, $path, $kind) = @$row;
        my $ours;
        $md .= "| $label |";
        for my $name (@sys) {
            my $runs = $res{$w}{$name}{$key};
            my $v = $kind eq 'count' ? total($runs, $path)
                : metric($runs, $path);
            # loadgen's histogram ends at 1 s: beyond it only "at least"
            my $capped = $path =~ /^latency_ms\.p/ && defined $v
                && $v >= 1000;
            if ($name eq 'signal') {
                $ours = $v;
                $md .= ' ' . ($capped ? '>= 1000' : fmt($v)) . ' |';
                next;
            }
            my $r = $kind eq 'count' ? ''
                : ratio($ours, $v, $kind eq 'higher');
            $md .= ' ' . ($capped ? '>= 1000' : fmt($v)) . ' | '
                . ($capped && $r ? ">= $r" : $r) . ' |';
        }
        $md .= "\n";
    }

    return "$md\n";
}

sub delivery_rows {
    return ([ 'deliveries/s', 'deliveries_per_second', 'higher' ],
        [ 'p50 latency (ms)', 'latency_ms.p50', 'lower' ],
        [ 'p99 latency (ms)', 'latency_ms.p99', 'lower' ],
        [ 'max latency (ms)', 'latency_ms.max', 'lower' ],
        [ 'server CPU per delivery (us)', 'cpu_us_per_delivery', 'lower' ],
        [ 'missing (all runs)', 'missing', 'count' ],
        [ 'duplicates (all runs)', 'duplicates', 'count' ]);
}

sub publish_rows {
    return ([ 'events published/s', 'events_per_second', 'higher' ],
        [ 'notify requests/s', 'publishes_per_second', 'higher' ],
        [ 'deliveries/s', 'deliveries_per_second', 'higher' ],
        [ 'p50 latency (ms)', 'latency_ms.p50', 'lower' ],
        [ 'p99 latency (ms)', 'latency_ms.p99', 'lower' ],
        [ 'server CPU per delivery (us)', 'cpu_us_per_delivery', 'lower' ],
        [ 'missing (all runs)', 'missing', 'count' ],
        [ 'duplicates (all runs)', 'duplicates', 'count' ]);
}

sub report {
    my $m = $res{machine} // machine();

    # latencies in ms for the tables
    for my $w (values %res) {
        next unless ref $w eq 'HASH';
        for my $sys (values %$w) {
            next unless ref $sys eq 'HASH';
            for my $runs (values %$sys) {
                next unless ref $runs eq 'ARRAY';
                for my $r (@$runs) {
                    $r->{cpu_us_per_event} = $r->{server_cpu_seconds}
                        * 1e6 / $r->{published}
                        if $r->{published} && defined $r->{server_cpu_seconds};
                    next unless $r->{latency_us};
                    $r->{latency_ms}{$_} = $r->{latency_us}{$_} / 1000
                        for keys %{$r->{latency_us}};
                }
            }
        }
    }

    my $md = <<"EOF";
# Benchmarks

Measured by `make bench` (`perl bench/run.pl --runs $o{runs}`) on $m->{date}:
$m->{cpu}, $m->{cores} cores shared by the servers and the load generator,
Linux $m->{kernel}; nginx $m->{nginx} with `worker_processes $o{workers}`,
nchan $m->{nchan} (Debian's `libnginx-mod-nchan`), Socket.IO
$m->{socketio} on Node.js $m->{node} (one process per instance; with
`\@socket.io/redis-adapter` in W5), Redis $m->{redis}.

Every figure is the median of $o{runs} runs (missing and duplicate
deliveries: the sum over all runs). **Ratios compare each system with
ngx_signal_module: above 1 means ngx_signal_module does better** (more per
second, or less time, CPU or memory). The floor (`bench/floor.c`) is one
epoll loop that frames each published body once and `write()`s it to every
subscriber of the room: no parsing, no queues, no protocol. It shows what
the kernel allows for one `write()` per frame; a server that sometimes
sends several frames with one system call can spend less per delivery.

The load generator (`bench/loadgen.c`) is one process: $o{threads}
receiver threads reading every subscriber, and keep-alive HTTP publisher
threads. Each payload carries its publish time and its index within its
room, so every subscriber checks order, gaps and duplicates, and latency is
publish-to-receive. Server CPU is read from `/proc` of the server's
processes (nginx workers, the Node process, the floor, and Redis in W5) and
divided by the deliveries. Clients and servers share the machine, so
absolute figures are lower than on separate hosts; the ratios are the
point.

EOF
    $md .= merged_note($m);
    $md .= <<"EOF";
Commands, from a checkout on Debian bookworm:

```sh
make bench                       # installs what is missing, builds, runs
perl bench/run.pl --runs 3       # the same, once built
perl bench/run.pl --only w3 --systems signal,nchan --runs 1
perl bench/run.pl --report-only 1    # tables again from docs/benchmarks.json
perl bench/run.pl --only w1,w1sse --merge 1   # these again, the rest kept
```

EOF

    $md .= "## W1 broadcast: $o{subscribers} subscribers in one room\n\n";
    $md .= table('w1', 'w1_rate', '80 events at 4 events/s',
        "$o{subscribers} deliveries per event, 20,000/s: below saturation "
        . 'for every system (Socket.IO tops out near 35,000/s here), so '
        . 'latency is the time one fan-out takes.', delivery_rows());
    $md .= table('w1', 'w1_burst', '500 events, unthrottled',
        'One publisher posting as fast as the answers come: 2.5 million '
        . 'deliveries.', delivery_rows());

    if ($res{w1sse}) {
        $md .= "## W1-SSE broadcast over Server-Sent Events: "
            . "$o{subscribers} subscribers in one room\n\n"
            . "W1 again, with every subscriber on an event stream (a GET "
            . "with `Accept: text/event-stream`) instead of a WebSocket: "
            . "this module's `signal_transports eventsource`, nchan's "
            . "`nchan_subscriber eventsource`, and the floor writing "
            . "`data: <payload>\\n\\n` once per subscriber. The load "
            . "generator parses the streams and checks order, gaps and "
            . "duplicates from the same payloads. Socket.IO has no event "
            . "stream transport.\n\n";
        $md .= table('w1sse', 'w1_rate', '80 events at 4 events/s, SSE',
            '', delivery_rows());
        $md .= table('w1sse', 'w1_burst', '500 events, unthrottled, SSE',
            '', delivery_rows());
        $md .= transports();
    }

    $md .= "## W2 per-tenant notify: $o{rooms} rooms, one subscriber each"
        . "\n\n";
    $md .= table('w2', 'w2_single', 'single events, 4 publishers',
        '5 events per room, one event per notify (nchan: one publish per '
        . 'POST), from 4 keep-alive connections.', publish_rows());
    $md .= table('w2', 'w2_batch', 'batches of 100 events per notify',
        '20 events per room, 100 events (100 rooms) per notify, 2 '
        . 'publishers. nchan and the floor publish one message per request; '
        . 'compare with their single-event rate above.', publish_rows());

    $md .= table('w2', 'w2_ingest', 'publishing alone: single events',
        'The same 4 publishers and events, but only the first room has a '
        . 'subscriber: what the publish path costs without the deliveries.',
        [ 'events published/s', 'events_per_second', 'higher' ],
        [ 'server CPU per event (us)', 'cpu_us_per_event', 'lower' ]);
    $md .= table('w2', 'w2_ingest_batch', 'publishing alone: batches of 100',
        '100 events per room in batches of 100 (one event per room each), '
        . '2 publishers, only the first room has a subscriber.',
        [ 'events published/s', 'events_per_second', 'higher' ],
        [ 'server CPU per event (us)', 'cpu_us_per_event', 'lower' ]);

    $md .= "## W3 idle footprint and W4 connect storm: $o{idle} "
        . "connections\n\n";
    $md .= table('w3', 'w3', 'idle connections',
        'Private memory (smaps) of the server processes, before and after '
        . 'opening the connections, divided by their number. The same '
        . 'connections, opened as fast as the server answers, give the '
        . 'handshake rate (W4).',
        [ 'private memory per connection (KB)', 'kb_per_connection',
          'lower' ],
        [ 'handshakes/s (W4)', 'handshakes_per_second', 'higher' ],
        [ 'seconds until all were open', 'connect_seconds', 'lower' ]);

    $md .= "## W5 cross-host: two instances and one Redis\n\n"
        . "Each system runs twice (two nginx, or two Node processes) with "
        . "one local redis-server between them: this module with "
        . "`signal_redis`, nchan with `nchan_redis_pass`, Socket.IO with "
        . "`\@socket.io/redis-adapter`. Subscribers are spread over both "
        . "instances; every publish goes to the first.\n\n";
    $md .= table('w5', 'w1_rate', "W1 across hosts, 4 events/s",
        '', delivery_rows());
    $md .= table('w5', 'w1_burst', "W1 across hosts, unthrottled",
        '', delivery_rows());
    $md .= table('w5', 'w2_single', "W2 across hosts, single events",
        '', publish_rows());
    $md .= table('w5', 'w2_batch', "W2 across hosts, batches of 100",
        '', publish_rows());

    $md .= notes();

    my $out = File::Spec->file_name_is_absolute($o{out}) ? $o{out}
        : "$root/$o{out}";
    open(my $fh, '>', $out) or die "$out: $!";
    print $fh $md;
    close($fh);

    print $md;
}

# W1 over both transports, each system next to itself, from the same
# session (w1sse's ws_* runs)
sub transports {
    my @sys = grep { $res{w1sse}{$_} && $res{w1sse}{$_}{ws_w1_rate} }
        qw(signal baseline nchan floor);
    return '' unless @sys;

    my @rows = (
        [ 'server CPU per delivery (us), 4 events/s', 'w1_rate',
          'cpu_us_per_delivery' ],
        [ 'server CPU per delivery (us), unthrottled', 'w1_burst',
          'cpu_us_per_delivery' ],
        [ 'p99 latency (ms), 4 events/s', 'w1_rate', 'latency_ms.p99' ],
        [ 'p99 latency (ms), unthrottled', 'w1_burst', 'latency_ms.p99' ],
        [ 'deliveries/s, unthrottled', 'w1_burst',
          'deliveries_per_second' ]);

    my $md = "### SSE next to WebSocket\n\nEach system against itself, "
        . "in the same runs: W1 over WebSocket, over SSE, and SSE / "
        . "WebSocket (above 1: SSE takes more, or delivers more per "
        . "second).\n\n| |"
        . join('', map { " $systems{$_}{label} WebSocket | SSE | SSE / WS |" }
            @sys) . "\n|---|" . ('---|---|---|' x @sys) . "\n";

    for my $row (@rows) {
        my ($label, $key, $path) = @$row;
        $md .= "| $label |";
        for my $name (@sys) {
            my $ws = metric($res{w1sse}{$name}{"ws_$key"}, $path);
            my $sse = metric($res{w1sse}{$name}{$key}, $path);
            $md .= ' ' . fmt($ws) . ' | ' . fmt($sse) . ' | '
                . ($ws && $sse ? sprintf('%.2f', $sse / $ws) : '') . ' |';
        }
        $md .= "\n";
    }

    return "$md\n";
}

# the workloads kept from an earlier session than the last (--merge), and
# those measured while other work loaded the machine (a 1-minute load
# average above 1.5 per core when a run started)
sub merged_note {
    my ($m) = @_;
    my %name = (w1 => 'W1', w1sse => 'W1-SSE', w2 => 'W2',
        w3 => 'W3 and W4', w5 => 'W5');
    my $when = $res{measured} // {};
    my @w = grep { $when->{$_} } sort keys %$when;
    my ($last) = sort { $b cmp $a } map { $when->{$_}{session} // '' } @w;
    my @other = grep { ($when->{$_}{session} // '') ne $last } @w;
    my %old = map { $_ => 1 } @other;
    my @busy = grep { ($when->{$_}{load} // 0)
        > 1.5 * ($when->{$_}{cores} || 1) } @w;
    my $md = '';

    $md .= 'Merged from more than one session (`--merge`): '
        . join(' and ', map { $name{$_} } grep { !$old{$_} } @w)
        . ' measured last; kept from before: '
        . join('; ', map { "$name{$_} (measured on $when->{$_}{date}, "
        . "median of $when->{$_}{runs} runs)" } @other)
        . ".\n\n" if @other;
    $md .= 'Measured while other work loaded the machine: '
        . join('; ', map { "$name{$_} (1-minute load average up to "
        . "$when->{$_}{load} on $when->{$_}{cores} cores)" } @busy)
        . '. Their figures compare with each other, within their '
        . "tables, rather than with the other tables.\n\n" if @busy;

    return $md;
}

# what docs/benchmarks.md says beyond the tables lives in a file of its own,
# so that a run rewrites the figures and keeps the analysis
sub notes {
    return slurp("$root/bench/notes.md") // '';
}
