#!/usr/bin/perl

# Tests for ngx_signal_module: the demo page that `make run` serves at /
# (clients/demo, through conf/demo.conf). The shipped conf/demo.conf runs
# as written, only its port, process settings and log paths moved, in a
# prefix laid out as tools/run.sh lays it out (the module in modules/,
# the checkout's clients/ in clients/): a change to the file that breaks
# the page breaks this test. Debian's /usr/bin/chromium, headless, driven
# by t/interop/demo-page.js (playwright-core), opens / and uses the page
# as a person would: the badge reaches Live, the backend's events (this
# file publishes them) and the page's own publish show up in the list
# with their seq, the presence count is at least 1, a bad publish shows
# its error, another startup id reconnects to that startup's room only,
# and without WebSocket the badge says Polling, over Server-Sent Events
# and over long-polling, and events still arrive. The browser client is
# clients/js/signal.js, as the page imports it.

use strict;
use warnings;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Signal::Interop;

use JSON::PP;
use Time::HiRes qw(time sleep);

###############################################################################

my $NODE = '/usr/bin/node';
my $CHROMIUM = '/usr/bin/chromium';
my $SCRIPT = "$FindBin::Bin/interop/demo-page.js";
my $ROOT = "$FindBin::Bin/..";

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

my $i = Test::Signal::Interop->new(who => 'page');
my $t = $i->t();
my $d = $t->dir();
my $port = $t->port(1);
my $json = JSON::PP->new->utf8(0)->canonical();

# the prefix: tools/run.sh's layout in the test's directory. clients/ is
# copied rather than linked: nginx's workers ("nobody" under root) may
# not reach a checkout under /root, the test directory they can.

mkdir("$d/$_") or die "mkdir $_: $!" for qw(logs temp modules);
symlink($t->{module}, "$d/modules/ngx_signal_module.so")
    or die "symlink: $!";
system('cp', '-R', "$ROOT/clients", "$d/clients") == 0
    or die "cp clients: $?\n";

my $conf = slurp("$ROOT/conf/demo.conf");
my $env = join('', grep { /^env / } split(/^/m, $t->test_globals()));
$conf =~ s/^(\s*)listen 127\.0\.0\.1:8080;/$1listen 127.0.0.1:$port;/m
    or die "conf/demo.conf: no \"listen 127.0.0.1:8080;\"\n";
$conf =~ s/^worker_processes auto;/worker_processes 2;/m
    or die "conf/demo.conf: no \"worker_processes auto;\"\n";
$conf =~ s{^error_log logs/error\.log info;}
    {error_log $d/error.log info;\ndaemon off;\nmaster_process on;\n$env}m
    or die "conf/demo.conf: no \"error_log logs/error.log info;\"\n";
$conf =~ s{^pid logs/nginx\.pid;}{pid $d/nginx.pid;}m
    or die "conf/demo.conf: no \"pid logs/nginx.pid;\"\n";
$t->write_file('nginx.conf', $conf);

# the page and chromium's temp files go to the test's directory
$i->env(TMPDIR => $d);
$i->command($NODE, $SCRIPT, '--timeout', 25, '--page',
    "http://127.0.0.1:$port/");

$t->run()->plan(41);

###############################################################################

# what the browser is given, without it

my $r = $t->http('GET', '/');
is($r->{status}, 200, 'GET /: 200');
like($r->{headers}{'content-type'} // '', qr{^text/html},
    'as text/html');
ok(!grep({ $r->{body} !~ /id="$_"/ } qw(startup badge transport presence
    publish event-name event-data publish-result events)),
    'the page has its elements (#startup, #badge, #presence, #publish, '
    . '#events, ...)');

# module scripts need a JavaScript type
for my $path ('/demo.js', '/client/signal.js') {
    $r = $t->http('GET', $path);
    ok($r->{status} == 200
        && ($r->{headers}{'content-type'} // '') =~ m{^text/javascript},
        "GET $path: 200 text/javascript")
        or diag("$r->{status} " . ($r->{headers}{'content-type'} // ''));
}

# the page in chromium

my $c = $i->client('demo');
my %seq;

ok(ready($c, '42'), 'the page follows startup:42 and says Live (READY 42)');
my $hello = publish('startup:42', 'backend:hello', '{"from":"backend",'
    . '"list":[1,2,3]}');
ok(ready($c, '43'), 'with startup id 43 it is Live again (READY 43)');
publish('startup:42', 'backend:42', '"not for 43"');
my $p43 = presence('startup:43', sub { $_[0] >= 1 });
my $p42 = presence('startup:42', sub { $_[0] == 0 });
publish('startup:43', 'backend:43', '{"to":43}');
ok(ready($c, 'eventsource'), 'without WebSocket: Polling over eventsource '
    . '(READY eventsource)');
publish('startup:43', 'backend:es', '{"over":"eventsource"}');
ok(ready($c, 'longpoll'), 'long-polling only: Polling over longpoll '
    . '(READY longpoll)');
publish('startup:43', 'backend:lp', '{"over":"longpoll"}');

my $res = $i->finish($c, 30);
my %lines;
for (@{$res->{lines}}) {
    push @{$lines{$1}}, $2 // '' if /^([A-Z_]+)(?: (.*))?$/;
}
my %one = map { $_ => eval { $json->decode($lines{$_}[0] // '') } }
    qw(PAGE PUBLISHED PRESENCE REFUSED TOO_LARGE LIST);
my @states = map { eval { $json->decode($_) } } @{$lines{STATE} || []};
my %shown = map { my $e = eval { $json->decode($_) }; $e
    ? ($e->{event} => $e) : () } @{$lines{EVENT} || []};

is($res->{status}, 0, 'the scenario completed (DONE, exit 0)');
is(($one{PAGE} // {})->{status}, 200, 'chromium got the page');
is_deeply([ map { [ $_->{text}, $_->{transport} ] } @states ],
    [ [ 'Live', 'websocket' ], [ 'Live', 'websocket' ],
      [ 'Polling', 'eventsource' ], [ 'Polling', 'longpoll' ] ],
    'the badge said Live over websocket on each startup, then Polling '
    . 'over eventsource and longpoll');
ok(green(($states[0] // {})->{color}), 'Live: a green badge')
    or diag(explain($states[0]));
ok(orange(($states[2] // {})->{color}), 'Polling: an orange one')
    or diag(explain($states[2]));

is_deeply(event('backend:hello'), { room => 'startup:42',
    seq => $seq{'backend:hello'}, data => { from => 'backend',
    list => [ 1, 2, 3 ] } },
    "the backend's event is shown with its room, seq and data");

my $form = $one{PUBLISHED} // {};
is($form->{status}, '202', "the page's publish: 202 shown");
my ($formseq) = ($form->{text} // '') =~ /"seq"\s*:\s*(\d+)/;
like($form->{text} // '', qr/published as startup:42 #(\d+)/,
    'with the seq it was given');
is_deeply(event('demo:form'), { room => 'startup:42', seq => $formseq,
    data => { n => 1, s => "\x{fc}" } },
    'the published event is shown with its seq and data');
ok(defined $formseq && defined $seq{'backend:hello'}
    && $formseq == $seq{'backend:hello'} + 1,
    "the form's event is the room's next");
is(($shown{'demo:form'} // {})->{index}, 0, 'at the top of the list');

cmp_ok(($one{PRESENCE} // {})->{connections} // 0, '>=', 1,
    'the presence count shown is at least 1');

my $bad = $one{REFUSED} // {};
is($bad->{status}, 'error', 'data that is not JSON: an error shown');
like($bad->{text} // '', qr/not valid JSON/, 'saying why');
is($bad->{posts}, 0, 'and nothing was posted');
is(($one{TOO_LARGE} // {})->{status}, '413', "notify's 413 is shown");

is_deeply(event('backend:43'), { room => 'startup:43',
    seq => $seq{'backend:43'}, data => { to => 43 } },
    "startup 43's event is shown");
is_deeply(event('backend:es'), { room => 'startup:43',
    seq => $seq{'backend:es'}, data => { over => 'eventsource' } },
    'the event published while on eventsource is shown');
is_deeply(event('backend:lp'), { room => 'startup:43',
    seq => $seq{'backend:lp'}, data => { over => 'longpoll' } },
    'and the one published while long-polling');

my @events = map { $_->{event} } grep { $_->{kind} eq 'event' }
    @{$one{LIST} || []};
is_deeply(\@events, [ 'backend:lp', 'backend:es', 'backend:43',
    'demo:form', 'backend:hello' ],
    "the list, newest first: startup 42's later event is not in it");
ok($p43, 'the page is counted in startup:43 (GET /signal/presence)');
ok($p42, 'and no longer in startup:42');

is_deeply($lines{EXTERNAL} || [], [], 'no request left the origin');
is_deeply($lines{PAGEERROR} || [], [], 'no error in the page');

# the demo's /ws long-polls too: startup:42's events from seq 0

$r = $t->http('GET', '/ws?startup=42&transport=longpoll&resume='
    . 'startup%3A42:0:' . ($hello->{epoch} // 'none'));
is($r->{status}, 200, '/ws?transport=longpoll: 200');
is_deeply([ map { "$_->{type} " . ($_->{event} // '') }
        @{($r->{json} // {})->{messages} || []} ],
    [ 'event backend:hello', 'event demo:form', 'event backend:42',
      'subscribed ' ],
    "with the room's events since 0");
is_deeply([ map { $_->{seq} } grep { $_->{type} eq 'event' }
        @{($r->{json} // {})->{messages} || []} ],
    [ 1, 2, 3 ], 'numbered 1, 2, 3');

###############################################################################

# Reads the page's lines until READY <startup>; false on timeout or exit.
sub ready {
    my ($c, $startup) = @_;
    my $deadline = time() + 20;
    while (defined(my $line = Test::Signal::Interop::client_line($c,
        $deadline)))
    {
        return 1 if $line eq "READY $startup";
        last if $line =~ /^(ERROR|DONE)/;
    }
    diag("no READY $startup; output: " . join(' | ', map {
        substr($_, 0, 200) } @{$c->{lines}}) . '; stderr: '
        . $t->read_file("client-$c->{name}.err"));
    return 0;
}

# One event through /signal/notify, as a backend; its "published" entry
# (room, event, seq, epoch), the seq also in %seq.
sub publish {
    my ($room, $event, $data) = @_;
    my $r = $t->notify('/signal/notify', qq({"room":"$room",)
        . qq("event":"$event","data":$data}));
    my $p = (($r->{json} // {})->{published} // [])->[0] // {};
    is($r->{status}, 202, "notify $event to $room: 202") or diag($r->{body});
    $seq{$event} = $p->{seq};
    return $p;
}

# The room's presence count until check() holds (2 s at most).
sub presence {
    my ($room, $check) = @_;
    my $n;
    for (1 .. 40) {
        my $r = $t->http('GET', "/signal/presence?room=$room");
        $n = ($r->{json} // {})->{connections};
        return 1 if defined $n && $check->($n);
        sleep(0.05);
    }
    diag("presence of $room: " . ($n // 'none'));
    return 0;
}

# An EVENT line of the page, without its index: room, seq (a number),
# data (decoded).
sub event {
    my ($name) = @_;
    my $e = $shown{$name} or return undef;
    return { room => $e->{room}, seq => $e->{seq} =~ /^\d+$/
        ? 0 + $e->{seq} : $e->{seq},
        data => eval { $json->decode($e->{data}) } // $e->{data} };
}

sub green {
    my ($color) = @_;
    my ($r, $g, $b) = ($color // '') =~ /^rgba?\((\d+), (\d+), (\d+)/
        or return 0;
    return $g > $r + 40 && $g > $b + 40;
}

sub orange {
    my ($color) = @_;
    my ($r, $g, $b) = ($color // '') =~ /^rgba?\((\d+), (\d+), (\d+)/
        or return 0;
    return $r > $g + 40 && $g > $b + 40;
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or die "$f: $!";
    local $/;
    return <$fh>;
}

###############################################################################
