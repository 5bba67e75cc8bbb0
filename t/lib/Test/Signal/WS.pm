package Test::Signal::WS;

# A small RFC 6455 client for the end-to-end tests: handshake, frame
# builder (also malformed frames), frame reader with timeouts.
# Perl core modules only.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Time::HiRes qw(time sleep);
use Digest::SHA qw(sha1);
use MIME::Base64 qw(encode_base64);
use JSON::PP ();
use Test::More ();
use Exporter qw(import);

# nothing is exported unless asked for
our @EXPORT_OK = qw(from_json);

our $TIMEOUT = 3;
our $GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

###############################################################################
# low-level I/O shared with Test::Signal

sub accept_key {
    return encode_base64(sha1($_[0] . $GUID), '');
}

# Reads more bytes into $$buf; 1 on data, 0 on timeout or EOF ($$eof set).
sub fill {
    my ($sock, $buf, $deadline, $eof) = @_;

    for ( ;; ) {
        my $left = $deadline - time();
        return 0 if $left <= 0;
        return 0 unless IO::Select->new($sock)->can_read($left);
        my $n = sysread($sock, my $chunk, 65536);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            $$eof = 1;          # ECONNRESET and friends count as EOF
            return 0;
        }
        if ($n == 0) {
            $$eof = 1;
            return 0;
        }
        $$buf .= $chunk;
        return 1;
    }
}

# Writes every byte with a bounded wait; false on error or timeout.
sub write_all {
    my ($sock, $data, $timeout) = @_;
    my $deadline = time() + ($timeout // 5);

    while (length $data) {
        my $left = $deadline - time();
        return 0 if $left <= 0;
        next unless IO::Select->new($sock)->can_write($left);
        my $n = syswrite($sock, $data);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return 0;
        }
        substr($data, 0, $n, '');
    }
    return 1;
}

# Reads one HTTP response from $sock (bytes already read in $$buf). Leaves
# bytes after the response in $$buf. Returns {status, reason, headers,
# body, json, raw} or {status => 0, error => ...}.
sub read_response {
    my ($sock, $buf, %o) = @_;
    my $deadline = time() + ($o{timeout} // $TIMEOUT);
    my $eof = 0;

    while ($$buf !~ /\r\n\r\n/) {
        next if fill($sock, $buf, $deadline, \$eof);
        return { status => 0, error => $eof ? 'eof' : 'timeout',
            raw => $$buf };
    }

    $$buf =~ s/\A(.*?)\r\n\r\n//s;
    my $head = $1;
    my ($status_line, @lines) = split /\r\n/, $head;
    my ($status, $reason) = $status_line =~ m{^HTTP/\d\.\d (\d{3}) ?(.*)$};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }

    my $r = { status => $status // 0, reason => $reason, headers => \%h,
        body => '', raw_head => $head };

    my $nobody = ($o{method} // '') eq 'HEAD' || !defined $status
        || $status =~ /^(1\d\d|204|304)$/;

    if ($nobody) {
        # nothing
    } elsif (defined $h{'content-length'}) {
        my $len = $h{'content-length'};
        while (length $$buf < $len) {
            last unless fill($sock, $buf, $deadline, \$eof);
        }
        $r->{body} = substr($$buf, 0, $len, '');
        $r->{error} = 'short body' if length $r->{body} < $len;
    } elsif (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        for ( ;; ) {
            if ($$buf =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                my $size = hex $1;
                while (length $$buf < $size + 2) {
                    last unless fill($sock, $buf, $deadline, \$eof);
                }
                if ($size == 0) {
                    # trailers are not expected; drop the final CRLF
                    $$buf =~ s/\A\r\n//;
                    last;
                }
                $r->{body} .= substr($$buf, 0, $size, '');
                $$buf =~ s/\A\r\n//;
                next;
            }
            next if fill($sock, $buf, $deadline, \$eof);
            $r->{error} = 'incomplete chunked body';
            last;
        }
    } else {
        1 while fill($sock, $buf, $deadline, \$eof);
        $r->{body} = $$buf;
        $$buf = '';
        $r->{error} = 'timeout reading body' unless $eof;
    }

    if (($h{'content-type'} // '') =~ /json/i) {
        $r->{json} = eval { $JSON->decode($r->{body}) };
    }

    return $r;
}

###############################################################################
# frames

sub mask_payload {
    my ($data, $key) = @_;
    return $data if $data eq '';
    my $k = $key x (int(length($data) / 4) + 1);
    return $data ^ substr($k, 0, length $data);
}

# build_frame(opcode => 1, payload => '', fin => 1, rsv => 0 (3 bits),
#             mask => 1, mask_key => 4 bytes, len_form => '7'|'16'|'64',
#             length => declared length (defaults to the real one))
sub build_frame {
    my (%o) = @_;
    my $payload = $o{payload} // '';
    utf8::encode($payload) if utf8::is_utf8($payload);

    my $len = $o{length} // length $payload;
    my $form = $o{len_form}
        // ($len < 126 ? '7' : $len < 65536 ? '16' : '64');
    my $mask = $o{mask} // 1;

    my $b0 = (($o{fin} // 1) ? 0x80 : 0) | ((($o{rsv} // 0) & 7) << 4)
        | (($o{opcode} // 1) & 0xf);
    my $m = $mask ? 0x80 : 0;

    my $frame = chr($b0);
    if ($form eq '7') {
        $frame .= chr($m | $len);
    } elsif ($form eq '16') {
        $frame .= chr($m | 126) . pack('n', $len);
    } else {
        $frame .= chr($m | 127) . pack('Q>', $len);
    }

    if ($mask) {
        my $key = $o{mask_key} // pack('N', int(rand(2**32)));
        $frame .= $key . mask_payload($payload, $key);
    } else {
        $frame .= $payload;
    }

    return $frame;
}

sub encode_json { $JSON->encode($_[0]) }

# Decodes JSON text; undef when it is not JSON.
sub from_json { return eval { $JSON->decode($_[0]) } }

###############################################################################
# client

# Test::Signal::WS->connect(port => N, path => '/ws', host => '127.0.0.1',
#     headers => {Name => value or undef to drop a default header},
#     protocols => [...], key => ..., version => ..., method => 'GET',
#     http_version => '1.1', extra => bytes sent in the same write,
#     timeout => seconds)
# Returns a Test::Signal::WS object on 101, else the HTTP response hash.
sub connect {
    my ($class, %o) = @_;
    my $port = $o{port} or die "connect: no port";

    my $sock = IO::Socket::INET->new(PeerAddr => $o{host} // '127.0.0.1',
        PeerPort => $port, Proto => 'tcp', Timeout => 3)
        or return { status => 0, error => "connect: $!" };
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    $sock->blocking(0);

    my $key = exists $o{key} ? $o{key}
        : encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');

    my @h = (
        [ 'Host', 'localhost' ],
        [ 'Upgrade', 'websocket' ],
        [ 'Connection', 'Upgrade' ],
        [ 'Sec-WebSocket-Key', $key ],
        [ 'Sec-WebSocket-Version', exists $o{version} ? $o{version} : 13 ],
    );
    push @h, [ 'Sec-WebSocket-Protocol', join(', ', @{$o{protocols}}) ]
        if $o{protocols};

    my %extra = %{$o{headers} || {}};
    for my $name (sort keys %extra) {
        my @same = grep { lc $_->[0] eq lc $name } @h;
        if (@same) {
            $_->[1] = $extra{$name} for @same;
        } else {
            push @h, [ $name, $extra{$name} ];
        }
    }

    my $req = sprintf("%s %s HTTP/%s\r\n", $o{method} // 'GET',
        $o{path} // '/', $o{http_version} // '1.1');
    $req .= "$_->[0]: $_->[1]\r\n" for grep { defined $_->[1] } @h;
    $req .= "\r\n" . ($o{extra} // '');

    write_all($sock, $req)
        or return { status => 0, error => "write: $!" };

    my $buf = '';
    my $r = read_response($sock, \$buf, method => $o{method},
        timeout => $o{timeout});
    $r->{request} = $req;

    if ($r->{status} != 101) {
        CORE::close($sock);
        return $r;
    }

    my $self = bless $r, $class;
    $self->{sock} = $sock;
    $self->{buf} = $buf;
    $self->{key} = $key;
    $self->{eof} = 0;
    $self->{accept_ok} = defined $key
        && ($r->{headers}{'sec-websocket-accept'} // '') eq accept_key($key);
    return $self;
}

sub send_raw {
    my ($self, $bytes) = @_;
    return write_all($self->{sock}, $bytes);
}

sub send_bytewise {
    my ($self, $bytes, $delay) = @_;
    for my $c (split //, $bytes) {
        write_all($self->{sock}, $c) or return 0;
        sleep($delay // 0.002);
    }
    return 1;
}

sub send_frame {
    my ($self, %o) = @_;
    return $self->send_raw(build_frame(%o));
}

sub send_text {
    my ($self, $payload, %o) = @_;
    return $self->send_frame(%o, opcode => 1, payload => $payload);
}

sub send_binary {
    my ($self, $payload, %o) = @_;
    return $self->send_frame(%o, opcode => 2, payload => $payload);
}

sub send_json {
    my ($self, $data, %o) = @_;
    return $self->send_text($JSON->encode($data), %o);
}

sub send_ping {
    my ($self, $payload, %o) = @_;
    return $self->send_frame(%o, opcode => 9, payload => $payload // '');
}

sub send_pong {
    my ($self, $payload, %o) = @_;
    return $self->send_frame(%o, opcode => 10, payload => $payload // '');
}

# send_close() sends an empty close; send_close(code, reason).
sub send_close {
    my ($self, $code, $reason, %o) = @_;
    my $payload = defined $code ? pack('n', $code) . ($reason // '') : '';
    $self->{close_sent} = 1;
    return $self->send_frame(%o, opcode => 8, payload => $payload);
}

# Parses one frame out of the buffer; undef when incomplete.
sub _parse_frame {
    my ($self) = @_;
    my $buf = \$self->{buf};

    return undef if length $$buf < 2;
    my ($b0, $b1) = unpack('CC', $$buf);
    my $len = $b1 & 0x7f;
    my $off = 2;

    if ($len == 126) {
        return undef if length $$buf < 4;
        $len = unpack('n', substr($$buf, 2, 2));
        $off = 4;
    } elsif ($len == 127) {
        return undef if length $$buf < 10;
        $len = unpack('Q>', substr($$buf, 2, 8));
        $off = 10;
    }

    my $key;
    if ($b1 & 0x80) {
        return undef if length $$buf < $off + 4;
        $key = substr($$buf, $off, 4);
        $off += 4;
    }

    return undef if length $$buf < $off + $len;

    my $payload = substr($$buf, $off, $len);
    substr($$buf, 0, $off + $len, '');
    $payload = mask_payload($payload, $key) if defined $key;

    return { fin => $b0 >> 7, rsv => ($b0 >> 4) & 7, opcode => $b0 & 0xf,
        masked => defined $key ? 1 : 0, payload => $payload };
}

# Next frame, or undef on timeout or EOF.
sub recv_frame {
    my ($self, $timeout) = @_;
    my $deadline = time() + ($timeout // $TIMEOUT);

    for ( ;; ) {
        my $f = $self->_parse_frame();
        if ($f) {
            $self->_note_close($f) if $f->{opcode} == 8;
            return $f;
        }
        return undef if $self->{eof};
        fill($self->{sock}, \$self->{buf}, $deadline, \$self->{eof})
            or return undef;
    }
}

sub _note_close {
    my ($self, $f) = @_;
    my $p = $f->{payload};
    my ($code, $reason) = length $p == 0 ? (1005, '')
        : length $p == 1 ? (-1, '')
        : (unpack('n', $p), substr($p, 2));
    $f->{code} = $code;
    $f->{reason} = $reason;
    $self->{close_received} = $f;
}

# Next complete data message {opcode, payload}: answers pings with pongs,
# skips pongs, reassembles fragments. undef on timeout, EOF or close.
sub recv_message {
    my ($self, $timeout) = @_;
    my $deadline = time() + ($timeout // $TIMEOUT);
    my $msg;

    for ( ;; ) {
        my $f = $self->recv_frame($deadline - time()) or return undef;
        my $op = $f->{opcode};

        if ($op == 9) {
            $self->{pings_seen}++;
            $self->send_pong($f->{payload});
            next;
        }
        next if $op == 10;
        return undef if $op == 8;

        if ($op == 0) {
            return { error => 'orphan continuation' } unless $msg;
            $msg->{payload} .= $f->{payload};
        } else {
            $msg = { opcode => $op, payload => $f->{payload} };
        }

        return $msg if $f->{fin};
    }
}

# Next text message decoded as JSON (see recv_message); a message that is
# not JSON comes back as {_raw => payload}.
sub recv_json {
    my ($self, $timeout) = @_;
    my $m = $self->recv_message($timeout) or return undef;
    return { _raw => $m->{payload}, _opcode => $m->{opcode} }
        unless ($m->{opcode} // 0) == 1;
    my $d = eval { $JSON->decode($m->{payload}) };
    return $d // { _raw => $m->{payload} };
}

# Waits for a close frame (skipping other frames, answering pings), echoes
# it unless we sent a close already or no_reply => 1, then waits for EOF.
# List context: (code, reason, tcp_closed); code is 1005 for an empty
# close payload, -1 for a 1-byte one, undef when no close frame came.
# Scalar context: code.
sub expect_close {
    my ($self, $timeout, %o) = @_;
    my $deadline = time() + ($timeout // $TIMEOUT);
    my $f = $self->{close_received};

    while (!$f) {
        my $g = $self->recv_frame($deadline - time()) or last;
        if ($g->{opcode} == 8) {
            $f = $g;
        } elsif ($g->{opcode} == 9 && !$o{no_reply}) {
            $self->send_pong($g->{payload});
        } else {
            push @{$self->{skipped}}, $g;
        }
    }

    if ($f && !$self->{close_sent} && !$o{no_reply}) {
        my $echo = $f->{code} > 0 && $f->{code} != 1005
            ? pack('n', $f->{code}) : '';
        $self->{close_sent} = 1;
        $self->send_frame(opcode => 8, payload => $echo);
    }

    my $closed = $f
        ? $self->is_closed($o{eof_timeout} // $timeout // $TIMEOUT)
        : $self->{eof};

    return $f ? $f->{code} : undef unless wantarray;
    return ($f ? $f->{code} : undef, $f ? $f->{reason} : undef, $closed);
}

# 1 if the server closes the TCP connection within $timeout; bytes that
# arrive meanwhile stay in the buffer.
sub is_closed {
    my ($self, $timeout) = @_;
    my $deadline = time() + ($timeout // $TIMEOUT);

    for ( ;; ) {
        return 1 if $self->{eof};
        fill($self->{sock}, \$self->{buf}, $deadline, \$self->{eof})
            or return $self->{eof} ? 1 : 0;
    }
}

# 1 once the server has released the connection completely, within
# $timeout. A server may half-close (shutdown) after its close frame, which
# is_closed() sees as EOF at once; this probes with empty pong frames until
# a write fails because the server's socket is gone (RST).
sub server_gone {
    my ($self, $timeout) = @_;
    my $deadline = time() + ($timeout // $TIMEOUT);
    my $probe = build_frame(opcode => 10);

    for ( ;; ) {
        my $n = syswrite($self->{sock}, $probe);
        return 1 if !defined $n && $! != EINTR && $! != EAGAIN
            && $! != EWOULDBLOCK;
        return 0 if time() >= $deadline;
        sleep(0.05);
    }
}

###############################################################################
# test helpers

# Subscribes to each room in turn and waits for its "subscribed" reply;
# dies on any other reply. Returns $self.
sub subscribe {
    my ($self, @rooms) = @_;
    for my $room (@rooms) {
        $self->send_json({ type => 'subscribe', room => $room });
        my $j = $self->recv_json() // {};
        die "subscribe $room failed: " . $JSON->encode($j) . "\n"
            unless ($j->{type} // '') eq 'subscribed';
    }
    return $self;
}

# Sends a text message; returns the payload of the next data message, or
# '' when none came.
sub ask {
    my ($self, $text) = @_;
    $self->send_text($text);
    my $m = $self->recv_message();
    return $m ? $m->{payload} : '';
}

# 1 if no frame arrives within $timeout seconds (0.15 unless given); an
# unexpected frame is consumed and reported with diag().
sub expect_nothing {
    my ($self, $timeout) = @_;
    my $f = $self->recv_frame($timeout // 0.15) or return 1;
    Test::More::diag("unexpected frame: $f->{payload}");
    return 0;
}

# Test::Signal::WS->expect_silence(\@ws, $first, $then): 1 if none of the
# clients receives a frame. The first one is given $first seconds (0.15),
# each further one, checked after that wait, $then seconds (as long as the
# first). Every client is checked, also after an unexpected frame.
sub expect_silence {
    my ($class, $clients, $first, $then) = @_;
    my $wait = $first // 0.15;
    my $clean = 1;
    for my $ws (@$clients) {
        $ws->expect_nothing($wait) or $clean = 0;
        $wait = $then // $wait;
    }
    return $clean;
}

sub close {
    my ($self) = @_;
    CORE::close($self->{sock}) if $self->{sock};
    delete $self->{sock};
}

sub DESTROY {
    my ($self) = @_;
    $self->close() if $self->{sock};
}

1;
