package YotiIdvHA;

# Redis Cluster and Redis Sentinel set-ups for the t/*.t files, from
# Debian's redis-server, redis-sentinel and redis-cli, on 127.0.0.1 free
# ports, in temporary directories of their own, stopped by pid in END by
# the process that started them (never anything else).
#
#     use YotiIdvHA;
#     my $c = YotiIdvHA::cluster(masters => 3, replicas => 1);
#         # $c->{ports}: every node; masters() and owner() say who has what
#     YotiIdvHA::ccmd('SET', 'yoti_idv:{user:u1}', 'verified-alice');
#         # a command routed by its key, following MOVED and ASK
#     YotiIdvHA::cmd_at($port, 'CLUSTER', 'SLOTS');
#     YotiIdvHA::kill_node($port);        # SIGKILL, as a crash
#
#     my $s = YotiIdvHA::sentinel(name => 'gate');
#         # a master, a replica, three sentinels (quorum 2):
#         # $s->{master}, $s->{replica}, $s->{sentinels} (ports)

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

use YotiIdvRedis ();

my %pids;                   # port => pid
my %dirs;                   # port => dir
my $owner = $$;

sub free_port { YotiIdvRedis::free_port() }

# a free port whose cluster bus port (+10000) is free too
sub cluster_port {
    while (1) {
        my $p = free_port();
        next if $p + 10000 > 65535 || $YotiIdvRedis::Given{$p + 10000};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $p + 10000, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        $YotiIdvRedis::Given{$p + 10000} = 1;
        return $p;
    }
}

sub spawn {
    my ($port, $bin, @args) = @_;

    die "YotiIdvHA: port $port has a server of this run already\n"
        if $pids{$port};

    my $pid = fork;
    die "YotiIdvHA: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        exec $bin, @args or _exit(127);
    }

    $pids{$port} = $pid;

    my $deadline = time + 10;
    while (time < $deadline) {
        my $reply = eval { cmd_at($port, 'PING') };

        # the answer must be this process's: another one may hold the port
        if (defined $reply && $reply =~ /^PONG/) {
            my $info = eval { cmd_at($port, 'INFO', 'server') } // '';
            my ($other) = $info =~ /^process_id:(\d+)/m;
            return $pid unless defined $other && $other != $pid;
            kill 'KILL', $pid;
            waitpid($pid, 0);
            delete $pids{$port};
            die "YotiIdvHA: port $port is another process's ($other)\n";
        }

        return $pid if defined $reply && $reply =~ /^NOAUTH/;
        die "YotiIdvHA: $bin on $port exited, see $dirs{$port}\n"
            if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }

    die "YotiIdvHA: $bin did not start on port $port\n";
}

sub server {
    my ($port, @extra) = @_;

    my $dir = $dirs{$port}
        ||= tempdir('yoti-idv-ha-XXXXXX', TMPDIR => 1, CLEANUP => 1);

    spawn($port, '/usr/bin/redis-server',
          '--port', $port, '--bind', '127.0.0.1', '--save', '',
          '--appendonly', 'no', '--dir', $dir, '--daemonize', 'no',
          '--logfile', "$dir/redis.log", '--protected-mode', 'no',
          '--repl-diskless-sync-delay', 0, @extra);
}

sub cmd_at {
    my ($port, @args) = @_;
    return cmds_at($port, [@args]);
}

# several commands on one connection; the reply to the last
sub cmds_at {
    my ($port, @cmds) = @_;

    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
        Timeout => 3,
    ) or die "YotiIdvHA: connect to $port: $!\n";

    binmode $sock;

    for my $c (@cmds) {
        my $req = '*' . scalar(@$c) . "\r\n";
        $req .= '$' . length($_) . "\r\n$_\r\n" for @$c;
        print {$sock} $req;
    }

    my $reply;
    $reply = YotiIdvRedis::read_reply($sock) for @cmds;
    close $sock;

    return $reply;
}

# ---- cluster ---------------------------------------------------------

my $cluster;

sub cluster {
    my (%o) = @_;

    my $n = ($o{masters} || 3) * (1 + ($o{replicas} // 1));
    my @ports = map { cluster_port() } 1 .. $n;

    for my $p (@ports) {
        server($p, '--cluster-enabled', 'yes',
               '--cluster-config-file', "nodes-$p.conf",
               '--cluster-node-timeout', $o{node_timeout} || 1000,
               @{ $o{args} || [] });
    }

    my $out = `/usr/bin/redis-cli --cluster create @{[ map { "127.0.0.1:$_" } @ports ]} --cluster-replicas @{[ $o{replicas} // 1 ]} --cluster-yes 2>&1`;
    die "YotiIdvHA: redis-cli --cluster create failed:\n$out" if $?;

    $cluster = { ports => \@ports };

    wait_cluster_ok();

    # one node per port: a port given twice would make a smaller cluster
    my $nodes = () = cmd_at($ports[0], 'CLUSTER', 'NODES') =~ /^\S+ /mg;
    die "YotiIdvHA: the cluster has $nodes nodes, not $n\n" unless $nodes == $n;

    return $cluster;
}

sub wait_cluster_ok {
    my $deadline = time + 30;

    while (time < $deadline) {
        my $ok = 1;

        for my $p (grep { $pids{$_} } @{ $cluster->{ports} }) {
            my $info = eval { cmd_at($p, 'CLUSTER', 'INFO') } // '';
            $ok = 0 unless $info =~ /cluster_state:ok/;
        }

        # every replica has a link to its master
        if ($ok) {
            for my $p (grep { $pids{$_} } @{ $cluster->{ports} }) {
                my $info = eval { cmd_at($p, 'INFO', 'replication') } // '';
                $ok = 0 if $info =~ /role:slave/
                           && $info !~ /master_link_status:up/;
            }
            return 1 if $ok;
        }

        sleep 0.1;
    }

    die "YotiIdvHA: the cluster did not get to cluster_state:ok\n";
}

# [ { start, end, port, id } ] of the masters that serve slots
sub masters {
    my @live = grep { $pids{$_} } @{ $cluster->{ports} };
    my $slots = cmd_at($live[0], 'CLUSTER', 'SLOTS');

    my @m;
    for my $r (@$slots) {
        push @m, { start => $r->[0], end => $r->[1], port => $r->[2][1],
                   id => $r->[2][2] };
    }

    return @m;
}

sub slot {
    my ($key) = @_;
    my @live = grep { $pids{$_} } @{ $cluster->{ports} };
    return cmd_at($live[0], 'CLUSTER', 'KEYSLOT', $key);
}

# the port of the master that serves the slot of a key
sub owner {
    my ($key) = @_;
    my $s = slot($key);

    for my $m (masters()) {
        return $m->{port} if $s >= $m->{start} && $s <= $m->{end};
    }

    return undef;
}

sub node_id {
    my ($port) = @_;
    return cmd_at($port, 'CLUSTER', 'MYID');
}

# a command routed by its first key, as a cluster client would
sub ccmd {
    my (@args) = @_;

    my $port = owner($args[1]) // $cluster->{ports}[0];
    my @cmds = ([@args]);

    for (1 .. 5) {
        my $reply = cmds_at($port, @cmds);

        if (defined $reply && !ref $reply
            && $reply =~ /^(MOVED|ASK) \d+ [\d.]+:(\d+)$/)
        {
            $port = $2;
            @cmds = $1 eq 'ASK' ? (['ASKING'], [@args]) : ([@args]);
            next;
        }

        return $reply;
    }

    die "YotiIdvHA: too many redirections for @args\n";
}

# the calls of a command, "cmdstat_<name>:calls=N,..." in INFO commandstats
sub calls {
    my ($port, $cmd, $what) = @_;
    my $info = cmd_at($port, 'INFO', 'commandstats');
    $what ||= 'calls';
    return $info =~ /^cmdstat_\Q$cmd\E:.*\b\Q$what\E=(\d+)/m ? $1 : 0;
}

sub reset_stats {
    cmd_at($_, 'CONFIG', 'RESETSTAT') for grep { $pids{$_} } @{ $cluster->{ports} };
}

# user names whose keys are on each master: { port => [ names ] }
sub users_by_master {
    my ($prefix, $count) = @_;
    my %by;

    for my $i (1 .. 300) {
        my $u = "u$i";
        my $p = owner("${prefix}{user:$u}");
        push @{ $by{$p} }, $u if @{ $by{$p} || [] } < $count;
    }

    return \%by;
}

# ---- sentinel --------------------------------------------------------

sub sentinel {
    my (%o) = @_;

    my $name = $o{name} || 'gate';
    my ($master, $replica) = (free_port(), free_port());

    server($master, @{ $o{args} || [] });
    server($replica, '--replicaof', '127.0.0.1', $master,
           @{ $o{args} || [] });

    my @sentinels;

    for (1 .. 3) {
        my $p = free_port();
        my $dir = $dirs{$p}
            = tempdir('yoti-idv-sentinel-XXXXXX', TMPDIR => 1, CLEANUP => 1);

        open my $fh, '>', "$dir/sentinel.conf" or die "$dir: $!\n";
        print {$fh} "port $p\nbind 127.0.0.1\ndir $dir\n"
                  . "logfile $dir/sentinel.log\n"
                  . "sentinel monitor $name 127.0.0.1 $master 2\n"
                  . "sentinel down-after-milliseconds $name "
                  . ($o{down_after} || 1000) . "\n"
                  . "sentinel failover-timeout $name 10000\n"
                  . "sentinel parallel-syncs $name 1\n"
                  . ($o{sentinel_password}
                     ? "requirepass $o{sentinel_password}\n" : '')
                  . ($o{auth_pass}
                     ? "sentinel auth-pass $name $o{auth_pass}\n" : '');
        close $fh;

        spawn($p, '/usr/bin/redis-sentinel', "$dir/sentinel.conf");
        push @sentinels, $p;
    }

    my $s = { name => $name, master => $master, replica => $replica,
              sentinels => \@sentinels, password => $o{sentinel_password} };

    # the sentinels know the replica and each other
    my $deadline = time + 20;
    while (time < $deadline) {
        my $ok = 1;
        for my $p (@sentinels) {
            my $r = eval {
                cmds_at($p, ($o{sentinel_password}
                             ? (['AUTH', $o{sentinel_password}]) : ()),
                        ['SENTINEL', 'MASTER', $name]) };
            my %h = ref $r eq 'ARRAY' ? @$r : ();
            $ok = 0 unless ($h{'num-slaves'} // 0) >= 1
                           && ($h{'num-other-sentinels'} // 0) >= 2;
        }
        my $info = eval { cmd_at($replica, 'INFO', 'replication') } // '';
        $ok = 0 unless $info =~ /master_link_status:up/;
        return $s if $ok;
        sleep 0.1;
    }

    die "YotiIdvHA: the sentinels did not find each other\n";
}

# the master the sentinels name now: its port
sub sentinel_master {
    my ($s) = @_;

    for my $p (@{ $s->{sentinels} }) {
        my $r = eval {
            cmds_at($p, ($s->{password} ? (['AUTH', $s->{password}]) : ()),
                    ['SENTINEL', 'get-master-addr-by-name', $s->{name}]) };
        return $r->[1] if ref $r eq 'ARRAY';
    }

    return undef;
}

# ---- both ------------------------------------------------------------

sub kill_node {
    my ($port, $signal) = @_;
    my $pid = delete $pids{$port} or return;

    kill $signal || 'KILL', $pid;
    waitpid($pid, 0);
}

sub alive { return exists $pids{$_[0]} }

END {
    local $?;

    if ($$ == $owner) {
        for my $port (keys %pids) {
            my $pid = $pids{$port};
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
        }
    }
}

1;
