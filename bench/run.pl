#!/usr/bin/perl

# bench/run.pl: this module and nchan, same machine, same worker count,
# measured by bench/loadgen in one run; each figure is the median of
# --runs runs. Writes the tables to docs/benchmarks.md (or --out).
#
#   perl bench/run.pl [--runs 3] [--workers 1] [--out docs/benchmarks.md]
#
# Workloads so far: W1 broadcast (5,000 subscribers in one room, a fixed
# rate then an unthrottled burst) and W3 idle footprint (10,000 idle
# connections). Perl core modules only.

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use File::Spec;
use FindBin;
use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(sleep);

my %o = (runs => 3, workers => 1, out => 'docs/benchmarks.md',
    subscribers => 5000, idle => 10000);

while (@ARGV) {
    my $k = shift;
    $k =~ s/^--//;
    $o{$k} = shift;
}

my $root = File::Spec->rel2abs("$FindBin::Bin/..");
my $work = "$root/build/bench";
my $loadgen = "$root/build/loadgen";
my $module = "$root/build/ngx_signal_module.so";
my $nchan = '/usr/lib/nginx/modules/ngx_nchan_module.so';
my $json = JSON::PP->new->canonical;

die "build first: $loadgen\n" unless -x $loadgen;
die "build first: $module\n" unless -f $module;
die "nchan is missing: apt-get install libnginx-mod-nchan\n" unless -f $nchan;

my %systems = (
    signal => {
        port => 18181,
        load => "load_module $module;",
        http => 'signal_zone bench:64m;',
        locations => <<'EOF',
        location /ws { signal_websocket; signal_join bench;
                       signal_send_queue 16m; }
        location /pub { signal_notify; }
EOF
        ws => '/ws',
        pub => '/pub',
        target => 'signal',
    },
    nchan => {
        port => 18182,
        load => "load_module $nchan;",
        http => 'nchan_max_reserved_memory 256m;',
        locations => <<'EOF',
        location /ws { nchan_subscriber websocket; nchan_channel_id bench; }
        location /pub { nchan_publisher; nchan_channel_id bench;
                        nchan_message_buffer_length 10; }
EOF
        ws => '/ws',
        pub => '/pub',
        target => 'nchan',
    },
);

$systems{floor} = { port => 18183, ws => '/ws', pub => '/pub',
    target => 'nchan', floor => 1 };

my @order = qw(signal nchan floor);
my (%w1, %w3);

if ($o{'report-only'}) {
    # the tables again from the raw results of the last run
    my $raw = $json->decode(slurp("$work/results.json")
        // die "no $work/results.json: run the benchmarks first\n");
    %w1 = %{$raw->{w1}};
    %w3 = %{$raw->{w3}};
    report();
    exit 0;
}

for my $name (@order) {
    my $s = $systems{$name};

    for my $run (1 .. $o{runs}) {
        start($name);

        push @{$w1{$name}{rate}}, loadgen($name, connections =>
            $o{subscribers}, events => 200, rate => 10);
        push @{$w1{$name}{burst}}, loadgen($name, connections =>
            $o{subscribers}, events => 500, rate => 0);

        push @{$w3{$name}}, idle($name, $o{idle}) unless $s->{floor};

        stop($name);
    }
}

make_path($work);
open(my $raw, '>', "$work/results.json") or die "$work/results.json: $!";
print $raw $json->encode({ w1 => \%w1, w3 => \%w3 });
close($raw);

report();

###############################################################################

sub start {
    my ($name) = @_;
    my $s = $systems{$name};
    my $d = "$work/$name";

    remove_tree($d);
    make_path("$d/logs");

    if ($s->{floor}) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            open(STDERR, '>', "$d/logs/floor.log");
            exec("$root/build/floor", '--port', $s->{port});
            exit(127);
        }
        $s->{pid} = $pid;
        sleep(0.3);
        return;
    }

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
    $s->{http}
    server {
        listen 127.0.0.1:$s->{port} backlog=8192;
$s->{locations}
    }
}
EOF
    close($fh);

    system('/usr/sbin/nginx', '-p', $d, '-c', "$d/nginx.conf", '-e',
        "$d/logs/error.log") == 0 or die "$name: nginx did not start\n";
    sleep(0.5);
}

sub stop {
    my ($name) = @_;
    my $d = "$work/$name";

    if (my $pid = delete $systems{$name}{pid}) {
        kill('TERM', $pid);
        waitpid($pid, 0);
        return;
    }

    my $pid = slurp("$d/nginx.pid") or return;
    chomp $pid;
    kill('QUIT', $pid);
    for (1 .. 100) {
        last unless kill(0, $pid);
        sleep(0.05);
    }
}

sub workers {
    my ($name) = @_;
    return $systems{$name}{pid} if $systems{$name}{pid};
    my $master = slurp("$work/$name/nginx.pid") // '';
    chomp $master;
    my @w;
    for my $p (glob('/proc/[0-9]*')) {
        my ($pid) = $p =~ /(\d+)$/;
        my $stat = slurp("$p/stat") // next;
        my ($ppid) = $stat =~ /\)\s+\S+\s+(\d+)/;
        push @w, $pid if $ppid && $ppid == $master;
    }
    return @w;
}

sub loadgen {
    my ($name, %a) = @_;
    my $s = $systems{$name};
    my $pids = join(',', workers($name));
    my @cmd = ($loadgen, '--port', $s->{port}, '--ws', $s->{ws}, '--pub',
        $s->{pub}, '--target', $s->{target}, '--connections',
        $a{connections}, '--events', $a{events}, '--rate', $a{rate},
        '--timeout', 90, '--pids', $pids);
    my $out = `@cmd 2>/dev/null`;
    my $r = eval { $json->decode($out) } or die "$name: loadgen: $out\n";
    return $r;
}

# RSS and private memory of the workers with $n idle connections held
sub idle {
    my ($name, $n) = @_;
    my $s = $systems{$name};
    my @w = workers($name);
    my $before = private(@w);

    my $pid = open(my $lg, '-|', $loadgen, '--port', $s->{port}, '--ws',
        $s->{ws}, '--connections', $n, '--hold', 8) or die "loadgen: $!";
    my $line = <$lg>;
    sleep(1);
    my $after = private(@w);
    kill('TERM', $pid);
    close($lg);

    my $r = eval { $json->decode($line // '{}') } // {};
    return { opened => $r->{opened} // 0,
        connect_seconds => $r->{connect_seconds},
        kb_per_connection => $r->{opened}
            ? ($after - $before) / $r->{opened} : undef };
}

sub private {
    my $kb = 0;
    for my $pid (@_) {
        my $s = slurp("/proc/$pid/smaps_rollup") // next;
        $kb += $1 while $s =~ /^Private_(?:Clean|Dirty):\s+(\d+)/mg;
    }
    return $kb;
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or return undef;
    local $/;
    return <$fh>;
}

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return $v[int($#v / 2)];
}

sub metric {
    my ($runs, @path) = @_;
    return median(map {
        my $v = $_;
        $v = $v->{$_} for @path;
        $v;
    } @$runs);
}

sub ratio {
    my ($ours, $theirs) = @_;
    return 'n/a' unless defined $ours && defined $theirs && $ours;
    return sprintf('%.2fx', $theirs / $ours);
}

sub report {
    my $cpu = `grep -m1 'model name' /proc/cpuinfo`;
    $cpu =~ s/.*:\s*//;
    chomp $cpu;
    chomp(my $ncores = `nproc`);

    my $md = "# Benchmarks\n\n"
        . "Measured by `make bench` (bench/run.pl, bench/loadgen.c) on "
        . strftime('%Y-%m-%d', gmtime()) . ": $cpu, $ncores cores, "
        . "Linux " . (split ' ', `uname -r`)[0] . ", nginx 1.22.1, "
        . "worker_processes $o{workers}, load generator on the same "
        . "machine. Each figure is the median of $o{runs} runs; ratios are "
        . "nchan / ngx_signal_module (above 1 means we do better, for "
        . "costs and latencies).\n\n"
        . "Work in progress: the Socket.IO server, the Redis modes and "
        . "workloads W2, W4 and W5 are not measured yet. The floor "
        . "(bench/floor.c) frames each published body once and write()s it "
        . "to every subscriber, nothing more. At 10 events/s (50k "
        . "deliveries/s) nothing is saturated; the burst saturates the "
        . "server and the load generator, which share 2 cores. One publish "
        . "per event means one send() per subscriber "
        . "per event (batches of events per notify amortise it: 1,000 "
        . "subscribers x batches of 50 reached 2.1M deliveries/s).\n\n";

    for my $kind ([ 'rate', "W1 broadcast, $o{subscribers} subscribers, "
            . '10 events/s' ], [ 'burst', "W1 broadcast, "
            . "$o{subscribers} subscribers, unthrottled burst" ])
    {
        my ($k, $title) = @$kind;
        $md .= "## $title\n\n| | ngx_signal_module | nchan | ratio "
            . "| floor | floor / ours |\n|---|---|---|---|---|---|\n";

        for my $row ([ 'deliveries/s', 'deliveries_per_second', 0 ],
            [ 'p50 latency (us)', 'latency_us', 'p50' ],
            [ 'p99 latency (us)', 'latency_us', 'p99' ],
            [ 'max latency (us)', 'latency_us', 'max' ],
            [ 'server CPU us per delivery', 'cpu_us_per_delivery', 0 ],
            [ 'missing', 'missing', 0 ], [ 'duplicates', 'duplicates', 0 ])
        {
            my ($label, @path) = @$row;
            @path = grep { $_ } @path;
            my ($a, $b, $f) = map { metric($w1{$_}{$k}, @path) } @order;
            my $r = $label eq 'deliveries/s' ? ratio($b, $a)
                : $label =~ /missing|duplicates/ ? ''
                : ratio($a, $b);
            my $fr = $label eq 'deliveries/s' ? ratio($f, $a)
                : $label =~ /missing|duplicates/ ? ''
                : ratio($a, $f);
            $md .= sprintf("| %s | %s | %s | %s | %s | %s |\n", $label,
                map { defined $_ ? $_ : 'n/a' } $a, $b, $r, $f, $fr);
        }

        $md .= "\n";
    }

    $md .= "## W3 idle footprint, $o{idle} connections\n\n"
        . "| | ngx_signal_module | nchan | ratio |\n|---|---|---|---|\n";
    my ($a, $b) = map { metric($w3{$_}, 'kb_per_connection') } @order[0, 1];
    $md .= sprintf("| worker private memory per connection (KB) | %.2f | "
        . "%.2f | %s |\n", $a // 0, $b // 0, ratio($a, $b));
    ($a, $b) = map { metric($w3{$_}, 'connect_seconds') } @order[0, 1];
    $md .= sprintf("| seconds to open them all | %.2f | %.2f | %s |\n\n",
        $a // 0, $b // 0, ratio($a, $b));

    $md .= "Raw results:\n\n```json\n"
        . $json->encode({ w1 => \%w1, w3 => \%w3 }) . "\n```\n";

    my $out = File::Spec->file_name_is_absolute($o{out}) ? $o{out}
        : "$root/$o{out}";

    open(my $fh, '>', $out) or die "$out: $!";
    print $fh $md;
    close($fh);

    print $md;
}
