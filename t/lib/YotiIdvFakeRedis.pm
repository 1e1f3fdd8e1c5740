package YotiIdvFakeRedis;

# A small fake Redis (RESP over TCP) that can hold a reply until the test
# releases it, to make races on the nginx worker's event loop deterministic.
# Perl core modules only.
#
#     use lib 't/lib';
#     use YotiIdvFakeRedis;     # one server per test file, in a child
#                               # process: $ENV{TEST_NGINX_FAKE_REDIS_PORT}
#
# It keeps strings in memory and answers PING, AUTH, SELECT, GET, SET (any
# options), MGET, DEL and FLUSHALL as Redis does, on 127.0.0.1 only.  It is
# stopped by pid in END by the process that started it.  From a block's
# --- init:
#
#     YotiIdvFakeRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
#     YotiIdvFakeRedis::reset();          # no keys, nothing held, no counts
#     YotiIdvFakeRedis::hold(@values);    # the next MGET (from any client) is
#                                         # held; released, it is answered
#                                         # with @values (none: the keys)
#     my $port = YotiIdvFakeRedis::wait_held();
#                                         # once an MGET is held: the client's
#                                         # (nginx's) port of that connection
#     YotiIdvFakeRedis::release();        # writes the held reply, returns
#                                         # once it is written
#     YotiIdvFakeRedis::drop();           # or closes that connection instead
#     YotiIdvFakeRedis::count('MGET');    # commands of that name seen
#
# race() stages a whole race on one nginx worker (worker_processes 1,
# master_process on): see below.

use strict;
use warnings;

use Errno qw(EAGAIN EINTR);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep time);

my ($pid, $owner, $port);

my $DEADLINE = 10;      # seconds any step of race() may take

sub import {
    start() unless defined $pid;
}

sub port { $port }

sub start {
    my $listen = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
        Listen => 64, ReuseAddr => 1,
    ) or die "YotiIdvFakeRedis: listen: $!\n";

    $port = $listen->sockport;
    $owner = $$;

    $pid = fork;
    die "YotiIdvFakeRedis: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        $SIG{TERM} = sub { _exit(0) };
        eval { serve($listen) };
        _exit($@ ? 1 : 0);
    }

    close $listen;
    $ENV{TEST_NGINX_FAKE_REDIS_PORT} = $port;

    return $port;
}

END {
    local $?;

    if (defined $pid && defined $owner && $$ == $owner) {
        kill 'TERM', $pid;
        my $deadline = time + 5;
        while (time < $deadline) {
            last if waitpid($pid, WNOHANG) == $pid;
            sleep 0.02;
        }
        if (kill 0, $pid) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
        undef $pid;
    }
}


# ---- the server (child process) ------------------------------------------

my (%store, %count, $hold, $held, @waiters, %conn);

sub serve {
    my ($listen) = @_;

    my $sel = IO::Select->new($listen);

    while (1) {
        my @ready = $sel->can_read(1);

        for my $fh (@ready) {
            if ($fh == $listen) {
                my $c = $listen->accept or next;
                $c->blocking(0);
                setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
                $conn{fileno $c} = { fh => $c, in => '', peer => $c->peerport };
                $sel->add($c);
                next;
            }

            my $cn = $conn{fileno $fh} or next;
            my $n = sysread($fh, my $buf, 65536);

            if (!defined $n) {
                next if $! == EAGAIN || $! == EINTR;
                $n = 0;
            }

            if ($n == 0) {
                forget($sel, $cn);
                next;
            }

            $cn->{in} .= $buf;

            while (defined(my $cmd = parse(\$cn->{in}))) {
                execute($sel, $cn, $cmd);
                last unless $conn{fileno $fh};
            }
        }
    }
}

sub forget {
    my ($sel, $cn) = @_;

    @waiters = grep { $_ != $cn } @waiters;
    undef $held if $held && $held->{conn} == $cn;
    $sel->remove($cn->{fh});
    delete $conn{fileno $cn->{fh}};
    close $cn->{fh};
}

# one command of RESP arrays of bulk strings, or undef if incomplete
sub parse {
    my ($in) = @_;

    return undef unless $$in =~ /\A\*(\d+)\r\n/;

    my $n = $1;
    my $pos = length("*$n\r\n");
    my @args;

    for (1 .. $n) {
        return undef unless substr($$in, $pos) =~ /\A\$(\d+)\r\n/;
        my $len = $1;
        $pos += length("\$$len\r\n");
        return undef if length($$in) < $pos + $len + 2;
        push @args, substr($$in, $pos, $len);
        $pos += $len + 2;
    }

    substr($$in, 0, $pos) = '';

    return \@args;
}

sub bulk {
    my ($v) = @_;
    return defined $v ? '$' . length($v) . "\r\n$v\r\n" : "\$-1\r\n";
}

sub put {
    my ($cn, $data) = @_;

    # a connection whose MGET is held answers in order: later replies wait
    if ($held && $held->{conn} == $cn) {
        $held->{after} .= $data;
        return;
    }

    write_all($cn->{fh}, $data);
}

sub write_all {
    my ($fh, $data) = @_;

    my $off = 0;
    my $deadline = time + $DEADLINE;

    while ($off < length $data) {
        my $n = syswrite($fh, $data, length($data) - $off, $off);
        if (defined $n) {
            $off += $n;
            next;
        }
        return if $! != EAGAIN && $! != EINTR;
        return if time > $deadline;
        IO::Select->new($fh)->can_write(0.1);
    }
}

sub execute {
    my ($sel, $cn, $args) = @_;

    my ($name, @a) = @$args;
    $name = uc $name;
    $count{$name}++;

    if ($name eq 'PING') {
        put($cn, "+PONG\r\n");

    } elsif ($name eq 'AUTH' || $name eq 'SELECT') {
        put($cn, "+OK\r\n");

    } elsif ($name eq 'GET') {
        put($cn, bulk($store{$a[0]}));

    } elsif ($name eq 'SET') {
        $store{$a[0]} = $a[1];
        put($cn, "+OK\r\n");

    } elsif ($name eq 'DEL') {
        my $n = grep { defined delete $store{$_} } @a;
        put($cn, ":$n\r\n");

    } elsif ($name eq 'FLUSHALL') {
        %store = ();
        put($cn, "+OK\r\n");

    } elsif ($name eq 'MGET') {
        my @v = ($hold && @{ $hold->{values} })
                ? @{ $hold->{values} } : map { $store{$_} } @a;
        my $reply = '*' . scalar(@v) . "\r\n" . join '', map { bulk($_) } @v;

        if ($hold) {
            undef $hold;
            $held = { conn => $cn, reply => $reply, after => '' };
            put($_, ":$cn->{peer}\r\n") for @waiters;
            @waiters = ();

        } else {
            put($cn, $reply);
        }

    } elsif ($name eq 'FAKE.HOLD') {
        $hold = { values => [@a] };
        put($cn, "+OK\r\n");

    } elsif ($name eq 'FAKE.WAITHELD') {
        if ($held) {
            put($cn, ":$held->{conn}{peer}\r\n");
        } else {
            push @waiters, $cn;
        }

    } elsif ($name eq 'FAKE.RELEASE' || $name eq 'FAKE.DROP') {
        if (!$held) {
            put($cn, "-ERR nothing is held\r\n");
            return;
        }

        my $h = $held;
        undef $held;

        if ($name eq 'FAKE.RELEASE') {
            write_all($h->{conn}{fh}, $h->{reply} . $h->{after});
        } else {
            forget($sel, $h->{conn});
        }

        put($cn, "+$h->{conn}{peer}\r\n");

    } elsif ($name eq 'FAKE.COUNT') {
        put($cn, ':' . ($count{uc($a[0] // '')} // 0) . "\r\n");

    } elsif ($name eq 'FAKE.RESET') {
        %store = ();
        %count = ();
        undef $hold;
        undef $held;
        put($cn, "+OK\r\n");

    } else {
        put($cn, "-ERR unknown command '$name'\r\n");
    }
}


# ---- the test's side -------------------------------------------------------

# one command on a fresh control connection; the reply as YotiIdvRedis::cmd
# gives it.  FAKE.WAITHELD may wait: $timeout bounds it.
sub cmd_timeout {
    my ($timeout, @args) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "YotiIdvFakeRedis: connect to $port: $!\n";

    binmode $s;

    my $req = '*' . scalar(@args) . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @args;
    print {$s} $req;

    die "YotiIdvFakeRedis: no reply to $args[0] within ${timeout}s\n"
        unless IO::Select->new($s)->can_read($timeout);

    my $line = <$s>;
    die "YotiIdvFakeRedis: no reply to $args[0]\n" unless defined $line;
    $line =~ s/\r\n\z//;

    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    my $reply = $rest;

    if ($type eq '$') {
        if ($rest < 0) {
            $reply = undef;
        } else {
            read($s, $reply, $rest + 2);
            $reply = substr($reply, 0, $rest);
        }
    }

    close $s;

    die "YotiIdvFakeRedis: $args[0]: $rest\n" if $type eq '-';

    return $reply;
}

sub cmd       { cmd_timeout(5, @_) }
sub reset     { cmd('FAKE.RESET') }
sub hold      { cmd('FAKE.HOLD', @_) }
sub wait_held { cmd_timeout($DEADLINE, 'FAKE.WAITHELD') }
sub release   { cmd('FAKE.RELEASE') }
sub drop      { cmd('FAKE.DROP') }
sub count     { cmd('FAKE.COUNT', $_[0]) }


# The only worker of the nginx whose master's pid is in $pid_file: the one
# child of that master that is a worker process.  Dies unless there is
# exactly one.
sub worker_pid {
    my ($pid_file) = @_;

    open my $fh, '<', $pid_file or die "YotiIdvFakeRedis: $pid_file: $!\n";
    my $master = <$fh>;
    close $fh;
    die "YotiIdvFakeRedis: no pid in $pid_file\n"
        unless defined $master && $master =~ /^(\d+)/;
    $master = $1;

    my @workers;

    opendir my $dh, '/proc' or die "YotiIdvFakeRedis: /proc: $!\n";

    for my $p (grep { /^\d+$/ } readdir $dh) {
        open my $st, '<', "/proc/$p/stat" or next;
        my $stat = <$st>;
        close $st;
        next unless defined $stat && $stat =~ /^\d+ \(.*\) \S (\d+) /;
        next unless $1 == $master;

        open my $cl, '<', "/proc/$p/cmdline" or next;
        my $cmdline = <$cl> // '';
        close $cl;
        push @workers, $p if $cmdline =~ /^nginx: worker process/;
    }

    closedir $dh;

    die "YotiIdvFakeRedis: nginx $master has " . scalar(@workers)
        . " worker processes, not one\n" unless @workers == 1;

    return $workers[0];
}

sub proc_state {
    my ($p) = @_;

    open my $st, '<', "/proc/$p/stat" or return '';
    my $stat = <$st> // '';
    close $st;

    return $stat =~ /^\d+ \(.*\) (\S) / ? $1 : '';
}

# the TCP socket 127.0.0.1:$local -> 127.0.0.1:$remote in /proc/net/tcp:
# (state, bytes in its receive queue), or () when there is none
sub tcp_socket {
    my ($local, $remote) = @_;

    my $want = sprintf('0100007F:%04X 0100007F:%04X', $local, $remote);

    open my $fh, '<', '/proc/net/tcp' or return;

    while (my $line = <$fh>) {
        my @f = split ' ', $line;
        next unless @f > 4 && "$f[1] $f[2]" eq $want;
        my (undef, $rx) = split /:/, $f[4];
        close $fh;
        return (hex $f[3], hex $rx);
    }

    close $fh;

    return;
}

my %TCP_CLOSE_WAIT = (8 => 1);

sub wait_for {
    my ($what, $cond) = @_;

    my $deadline = time + $DEADLINE;

    until ($cond->()) {
        die "YotiIdvFakeRedis: gave up waiting for $what\n" if time > $deadline;
        sleep 0.005;
    }
}

# HTTP/1.x responses in $data: ({ status, headers, body }, ...)
sub parse_responses {
    my ($data) = @_;

    my @res;

    while ($data =~ s/\A(HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n(.*?)\r\n\r\n)//s) {
        my ($status, $head) = ($2, $3);
        my %h;
        for (split /\r\n/, $head) {
            $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
        }

        my $body = '';

        if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
            while ($data =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                my $len = hex $1;
                $body .= substr($data, 0, $len, '');
                $data =~ s/\A\r\n//;
                last if $len == 0;
            }
            $data =~ s/\A\r\n//;

        } elsif (defined $h{'content-length'}) {
            $body = substr($data, 0, $h{'content-length'}, '');

        } else {
            ($body, $data) = ($data, '');
        }

        push @res, { status => $status, headers => \%h, body => $body };
    }

    return (\@res, $data);
}

# Stages the race of a Redis reply and the client's next bytes in one
# event-loop iteration of the (only) nginx worker:
#
#   1. on one keep-alive connection, `first` (a request nginx proxies, so
#      that the connection's write event is active, as after any proxied
#      request) and its response;
#   2. hold(@values) for the next MGET, then `held` (a request to a gated
#      location) on the same connection; wait until its MGET is held;
#   3. SIGSTOP the worker; `reply` => 'release' writes the held reply,
#      'drop' closes the Redis connection instead; wait until the kernel
#      has it on the worker's Redis socket;
#   4. `client` => 'pipeline' writes `next` (the next request on the
#      connection), 'fin' shuts the connection down for writing, 'close'
#      closes it; wait until the kernel has that on the worker's socket;
#   5. SIGCONT: the worker finds both in one epoll_wait(), the Redis
#      socket first;
#   6. read what nginx answers until it closes the connection (not with
#      'close').
#
# Returns { responses => [{ status, headers, body }, ...] (after `first`'s),
# raw => the bytes after first's response, rest => bytes that did not
# parse, error => undef or what went wrong while staging }.  The worker is
# always continued.
sub race {
    my (%o) = @_;

    my %r = (responses => [], raw => '', rest => '', error => undef);
    my ($worker, $stopped, $c);

    eval {
        $worker = worker_pid($o{pid_file});

        $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => $o{port}, Proto => 'tcp',
                                   Timeout => 5)
            or die "connect to nginx: $!\n";
        binmode $c;
        setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);

        syswrite($c, $o{first}) or die "write: $!\n";

        my $data = '';
        my $deadline = time + $DEADLINE;
        my $res = [];

        until (@$res) {
            die "no response to the first request\n" if time > $deadline;
            IO::Select->new($c)->can_read(0.1) or next;
            my $n = sysread($c, my $buf, 65536);
            die "nginx closed the connection after the first request\n"
                unless $n;
            $data .= $buf;
            ($res, my $rest) = parse_responses($data);
        }

        hold(@{ $o{values} || [] });

        syswrite($c, $o{held}) or die "write: $!\n";

        my $redis_port = wait_held();

        kill 'STOP', $worker;
        $stopped = 1;
        wait_for("worker $worker to stop",
                 sub { proc_state($worker) =~ /^[Tt]$/ });

        if (($o{reply} // 'release') eq 'release') {
            release();
            wait_for("the reply on the worker's redis socket", sub {
                my ($st, $rx) = tcp_socket($redis_port, $port);
                defined $rx && $rx > 0;
            });

        } else {
            drop();
            wait_for("the FIN on the worker's redis socket", sub {
                my ($st) = tcp_socket($redis_port, $port);
                !defined $st || $TCP_CLOSE_WAIT{$st};
            });
        }

        my $cport = $c->sockport;
        my $how = $o{client} // 'pipeline';

        if ($how eq 'pipeline') {
            syswrite($c, $o{next}) or die "write: $!\n";
            wait_for("the next request on the worker's client socket", sub {
                my ($st, $rx) = tcp_socket($o{port}, $cport);
                defined $rx && $rx > 0;
            });

        } else {
            if ($how eq 'fin') {
                shutdown($c, 1) or die "shutdown: $!\n";
            } else {
                close $c;
                undef $c;
            }
            wait_for("the FIN on the worker's client socket", sub {
                my ($st) = tcp_socket($o{port}, $cport);
                defined $st && $TCP_CLOSE_WAIT{$st};
            });
        }
    };

    $r{error} = $@ || undef;

    if ($stopped) {
        kill 'CONT', $worker;
    }

    if ($c && !$r{error}) {
        my $deadline = time + $DEADLINE;
        while (time < $deadline) {
            IO::Select->new($c)->can_read(0.2) or next;
            my $n = sysread($c, my $buf, 65536);
            last unless $n;
            $r{raw} .= $buf;
        }
        ($r{responses}, $r{rest}) = parse_responses($r{raw});
    }

    close $c if $c;

    return \%r;
}

1;
