package YotiIdvNode;

# A second nginx ("node B") for the tests that need two nodes sharing one
# redis-server: the same binary and module as the runner's nginx, in the
# foreground (daemon off) as a child of the test, on a free loopback port,
# stopped by pid in END by the process that started it.
#
#     use lib 't/lib';
#     use YotiIdvNode;
#
#     my $b = YotiIdvNode::start(http => $http, server => $server);
#     my ($status, $body, $headers) = YotiIdvNode::request($b->{port},
#         'POST', '/yoti/notifications', { Authorization => ... }, $json);
#     YotiIdvNode::error_log($b);       # what node B logged so far
#
# $TEST_NGINX_* in the configuration are replaced from %ENV, $NODE_PORT by
# the node's port.

use strict;
use warnings;

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

use YotiIdvRedis;

my @nodes;
my $owner = $$;

sub start {
    my (%o) = @_;

    my $dir = tempdir('yoti-idv-node-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$dir/$_" for qw(conf logs);

    my $port = YotiIdvRedis::free_port();
    my $module = $ENV{TEST_NGINX_LOAD_MODULES}
        or die "YotiIdvNode: TEST_NGINX_LOAD_MODULES is not set\n";
    my $workers = $o{workers} // 2;

    my $conf = <<"_EOC_";
load_module $module;
worker_processes $workers;
daemon off;
master_process on;
pid $dir/logs/nginx.pid;
error_log $dir/logs/error.log info;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;

$o{http}

    server {
        listen 127.0.0.1:$port;
        server_name localhost;

$o{server}
    }
}
_EOC_

    $conf =~ s/\$NODE_PORT\b/$port/g;
    $conf =~ s/\$(TEST_NGINX_\w+)/exists $ENV{$1} ? $ENV{$1} : "\$$1"/ge;

    open my $fh, '>', "$dir/conf/nginx.conf" or die "$dir: $!\n";
    print {$fh} $conf;
    close $fh;

    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';

    my $pid = fork;
    die "YotiIdvNode: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/logs/stdout";
        open STDERR, '>', "$dir/logs/stderr";
        exec $bin, '-p', "$dir/", '-c', "$dir/conf/nginx.conf" or _exit(127);
    }

    my $node = { pid => $pid, port => $port, dir => $dir };
    push @nodes, $node;

    my $deadline = time + 10;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) {
            close $s;
            return $node;
        }

        if (waitpid($pid, WNOHANG) == $pid) {
            die "YotiIdvNode: nginx exited: "
                . slurp("$dir/logs/stderr") . slurp("$dir/logs/error.log");
        }

        sleep 0.05;
    }

    die "YotiIdvNode: nginx did not listen on $port\n";
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s // '';
}

sub error_log {
    my ($node) = @_;
    return slurp("$node->{dir}/logs/error.log");
}

# one HTTP/1.0 request: (status, body, { lowercase header => value })
sub request {
    my ($port, $method, $path, $headers, $body) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return ("connect: $!", '', {});

    my $req = "$method $path HTTP/1.0\r\nHost: localhost\r\n";
    $req .= "$_: $headers->{$_}\r\n" for sort keys %{ $headers || {} };
    $req .= "Content-Length: " . length($body) . "\r\n" if defined $body;
    $req .= "\r\n";
    $req .= $body if defined $body;

    print {$s} $req;

    my $resp = '';
    while (1) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
    }
    close $s;

    my ($head, $rbody) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my %h;
    for (split /\r\n/, $head // '') {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }

    return ($status // 'no answer', $rbody // '', \%h);
}

sub stop {
    my ($node) = @_;

    return unless $node->{pid};

    kill 'QUIT', $node->{pid};

    my $deadline = time + 5;
    while (time < $deadline) {
        last if waitpid($node->{pid}, WNOHANG) == $node->{pid};
        sleep 0.02;
    }

    if (kill 0, $node->{pid}) {
        kill 'KILL', $node->{pid};
        waitpid($node->{pid}, 0);
    }

    delete $node->{pid};
}

END {
    local $?;

    if ($$ == $owner) {
        stop($_) for @nodes;
    }
}

1;
