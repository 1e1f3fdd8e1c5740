package YotiIdvRedis;

# Real redis-server instances for the t/*.t files (Debian's redis-server).
#
#     use lib 't/lib';
#     use YotiIdvRedis;            # one server, $ENV{TEST_NGINX_REDIS_PORT}
#                                  # and $ENV{TEST_NGINX_REDIS_SOCKET}
#     use YotiIdvRedis 'auth';     # also one with requirepass "s3cret",
#                                  # $ENV{TEST_NGINX_REDIS_AUTH_PORT}
#     YotiIdvRedis::start('acl', args => ['--user', 'gate on >pw ...']);
#                                  # another, with more redis-server options
#     YotiIdvRedis::port('acl');   # its port
#
# Each listens on 127.0.0.1 (and a unix socket) on a free port, keeps no
# data on disk, and is stopped by pid in END by the process that started
# it.  From a block's `--- init` section (Perl, run after nginx started and
# before the requests):
#
#     YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
#     YotiIdvRedis::flush();
#     YotiIdvRedis::stop();           # the default server
#     YotiIdvRedis::start_again();    # same port and socket
#     YotiIdvRedis::later(0.4 => sub { YotiIdvRedis::stop() }, ...);
#     YotiIdvRedis::verdict_key(user => 'alice', require => ['LIVENESS any']);
#     YotiIdvRedis::verdict_key(user => 'alice', source => 'variable', ...);
#
# silent_server() starts a server that accepts and never answers, and
# returns its port.
#
# cmd() speaks RESP with every argument as a bulk string, so any bytes go
# through as they are.  It returns the reply: a string, undef for nil, an
# array ref, or "ERR ..." for an error reply.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

my $SERVER = '/usr/bin/redis-server';

my %servers;                # name => { port, socket, pid, password, dir }
my @helpers;                # pids of later() processes
my @silent;                 # pids of silent servers
my $owner;

sub import {
    my ($class, @what) = @_;

    $owner = $$ unless defined $owner;

    unless ($servers{main}) {
        start('main');
        $ENV{TEST_NGINX_REDIS_PORT} = $servers{main}{port};
        $ENV{TEST_NGINX_REDIS_SOCKET} = $servers{main}{socket};
    }

    if (grep { $_ eq 'auth' } @what and !$servers{auth}) {
        start('auth', password => 's3cret');
        $ENV{TEST_NGINX_REDIS_AUTH_PORT} = $servers{auth}{port};
    }
}

# a port free now, and never one given before in this run: the kernel may
# hand the same port out again before the first server has bound it
our %Given;

sub free_port {
    while (1) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
            Listen => 1, ReuseAddr => 1,
        ) or die "YotiIdvRedis: no free port: $!\n";
        my $port = $s->sockport;
        close $s;
        next if $Given{$port}++;
        return $port;
    }
}

sub start {
    my ($name, %opt) = @_;

    my $s = $servers{$name} ||= do {
        my $dir = tempdir('yoti-idv-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1);
        { port => free_port(), dir => $dir, socket => "$dir/redis.sock",
          password => $opt{password} };
    };

    my @args = ($SERVER, '--port', $s->{port}, '--bind', '127.0.0.1',
                '--unixsocket', $s->{socket}, '--unixsocketperm', '700',
                '--save', '', '--appendonly', 'no', '--dir', $s->{dir},
                '--enable-debug-command', 'local',
                '--daemonize', 'no', '--logfile', "$s->{dir}/redis.log",
                '--pidfile', "$s->{dir}/redis.pid");

    push @args, '--requirepass', $s->{password} if $s->{password};
    push @args, @{ $opt{args} || $s->{args} || [] };
    $s->{args} = $opt{args} if $opt{args};

    my $pid = fork;
    die "YotiIdvRedis: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        exec @args or _exit(127);
    }

    $s->{pid} = $pid;

    my $deadline = time + 10;
    while (time < $deadline) {
        my $reply = eval { cmd_on($name, 'PING') };
        return $s if defined $reply && $reply =~ /^(PONG|NOAUTH)/;
        die "YotiIdvRedis: redis-server exited, see $s->{dir}/redis.log\n"
            if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }

    die "YotiIdvRedis: redis-server did not start on port $s->{port}\n";
}

sub stop {
    my ($name) = @_;
    my $s = $servers{$name || 'main'} or return;

    # a server restarted by a later() child is known by its pid file
    my $pid = $s->{pid};

    if (open my $fh, '<', "$s->{dir}/redis.pid") {
        my $line = <$fh>;
        close $fh;
        $pid = $1 if defined $line && $line =~ /^(\d+)/;
    }

    return unless $pid;

    kill 'TERM', $pid;

    my $deadline = time + 5;
    while (time < $deadline) {
        waitpid($pid, WNOHANG);
        last unless alive($pid);
        sleep 0.02;
    }

    if (alive($pid)) {
        kill 'KILL', $pid;
        waitpid($pid, WNOHANG);
    }

    unlink "$s->{dir}/redis.pid";
    delete $s->{pid};
}

# running, and not a zombie waiting for another process to reap it
sub alive {
    my ($pid) = @_;

    return 0 unless kill 0, $pid;

    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh>;
        close $fh;
        return 0 if defined $stat && $stat =~ /^\d+ \(.*\) Z/;
    }

    return 1;
}

sub port {
    my ($name) = @_;
    return $servers{$name || 'main'}{port};
}

sub start_again {
    my ($name) = @_;
    start($name || 'main');
}

# runs each sub after its delay (seconds from now) in a child process, so
# that the requests of a block go on meanwhile; END waits for it
sub later {
    my @steps = @_;

    my $pid = fork;
    die "YotiIdvRedis: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        my $t0 = time;
        while (my ($at, $sub) = splice @steps, 0, 2) {
            my $wait = $t0 + $at - time;
            sleep $wait if $wait > 0;
            eval { $sub->() };
            warn "YotiIdvRedis: later: $@" if $@;
        }
        _exit(0);
    }

    push @helpers, $pid;
}

sub cmd {
    return cmd_on('main', @_);
}

# the key a verdict is cached under (docs/redis.md): the policy's
# fingerprint, then the user (or the session, for unbound policies).
# The fingerprint covers where the session id comes from: source => 'redis'
# (the mapping, the default) or 'variable' (yoti_idv_session_id).
#
#     verdict_key(user => 'alice', require => ['LIVENESS any'])
#     verdict_key(session => 'verified-bob', bind => 0, source => 'variable',
#                 require => ['LIVENESS any'])
sub verdict_key {
    my (%p) = @_;

    my $source = $p{source} // 'redis';
    die "YotiIdvRedis: verdict_key: source \"$source\"\n"
        unless $source eq 'redis' || $source eq 'variable';

    my $text = "v2\nyoti\n" . ($p{sdk_id} // 'test-sdk-id') . "\n"
               . 'bind=' . ($p{bind} // 1) . "\n"
               . "source=$source\n";
    $text .= "$_\n" for @{ $p{require} || [] };

    my $fp = substr(sha256_hex($text), 0, 16);

    return ($p{prefix} // 'yoti_idv:') . "verdict:$fp:"
           . (defined $p{session} ? "session:$p{session}" : "user:$p{user}");
}


# a server that accepts connections and never answers, in a child process
sub silent_server {
    my $listen = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
        Listen => 64, ReuseAddr => 1,
    ) or die "YotiIdvRedis: silent server: $!\n";

    my $port = $listen->sockport;

    my $pid = fork;
    die "YotiIdvRedis: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        my @held;
        while (my $c = $listen->accept) {
            push @held, $c;
        }
        _exit(0);
    }

    close $listen;
    push @silent, $pid;

    return $port;
}

sub auth_cmd {
    return cmd_on('auth', @_);
}

sub flush {
    return cmd('FLUSHALL');
}

sub cmd_on {
    my ($name, @args) = @_;
    my $s = $servers{$name} or die "YotiIdvRedis: no server \"$name\"\n";

    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $s->{port}, Proto => 'tcp',
        Timeout => 2,
    ) or die "YotiIdvRedis: connect to $s->{port}: $!\n";

    binmode $sock;

    my @cmds = ([@args]);
    unshift @cmds, ['AUTH', $s->{password}] if $s->{password};

    for my $c (@cmds) {
        my $req = '*' . scalar(@$c) . "\r\n";
        $req .= '$' . length($_) . "\r\n$_\r\n" for @$c;
        print {$sock} $req;
    }

    my $reply;
    $reply = read_reply($sock) for @cmds;
    close $sock;

    return $reply;
}

sub read_reply {
    my ($sock) = @_;

    my $line = <$sock>;
    die "YotiIdvRedis: no reply\n" unless defined $line;
    $line =~ s/\r\n\z//;

    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));

    return $rest if $type eq '+' || $type eq ':';
    return $rest if $type eq '-';

    if ($type eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        while (length($buf) < $rest + 2) {
            my $n = read($sock, $buf, $rest + 2 - length($buf), length($buf));
            die "YotiIdvRedis: short reply\n" unless $n;
        }
        return substr($buf, 0, $rest);
    }

    if ($type eq '*') {
        return undef if $rest < 0;
        return [ map { read_reply($sock) } 1 .. $rest ];
    }

    die "YotiIdvRedis: bad reply \"$line\"\n";
}

END {
    # keep the test file's exit status: waitpid() sets $?
    local $?;

    if (defined $owner && $$ == $owner) {
        for my $pid (@helpers) {
            waitpid($pid, 0);
        }

        for my $pid (@silent) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }

        for my $name (keys %servers) {
            eval { stop($name) };
            warn $@ if $@;
        }
    }
}

1;
