package YotiIdvTest;

# Shared nginx configuration for the t/*.t files.
#
#   use lib 't/lib';
#   use Test::Nginx::Socket 'no_plan';
#   use YotiIdvTest;                      # also starts the mock IDV API
#   add_block_preprocessor(\&YotiIdvTest::defaults);
#
# Every block gets, unless it says otherwise:
#   - http_config: the credentials (SDK id, key, API prefix) when the block
#     has no http_config of its own;
#   - config: the internal /_yoti_idv/ location proxying to the mock
#     (unless the block has its own), a /__mock/ location to read the
#     mock's counters, and the /app location that plays the protected
#     application, put before the block's config; without a config of its
#     own, the block gets the /members/ location of the README.
#
# The configs use $TEST_NGINX_* variables, substituted by the runner.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

use IO::Socket::INET;
use POSIX ();

use YotiIdvMock;

$ENV{TEST_NGINX_KEYS} = abs_path(dirname(__FILE__) . '/../keys');

# as a key should be installed (git keeps no such mode): nginx -t warns
# about a private key that other users can read (t/042-key-mode.t)
chmod 0600, glob("$ENV{TEST_NGINX_KEYS}/*.pem");

our $HttpConfig = <<'_EOC_';
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
_EOC_

our $ApiLocation = <<'_EOC_';
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_read_timeout 2s;
        subrequest_output_buffer_size 64k;
    }
_EOC_

our $Locations = <<'_EOC_';
    location /__mock/ {
        yoti_idv off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT;
    }

    location = /app {
        yoti_idv off;
        return 200 "app: $http_x_idv_verdict $http_x_idv_session\n";
    }
_EOC_

# the gated location most blocks use, with the policy of the README
our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        yoti_idv_require     FACE_COMPARISON;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

# N concurrent GETs to nginx from a child process (each its own process,
# started together); each writes its status line to $o{out}.  The caller
# goes on at once; END waits for the burst.
my @bursts;

sub burst {
    my (%o) = @_;

    my $pid = fork;
    die "burst: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        my @kids;

        for (1 .. $o{n}) {
            my $kid = fork;
            POSIX::_exit(1) unless defined $kid;

            if ($kid == 0) {
                my $status = request_status($o{port}, $o{path}, $o{headers});
                if (open my $fh, '>>', $o{out}) {
                    print {$fh} "$status\n";
                    close $fh;
                }
                POSIX::_exit(0);
            }

            push @kids, $kid;
        }

        waitpid($_, 0) for @kids;
        POSIX::_exit(0);
    }

    push @bursts, $pid;
}

sub request_status {
    my ($port, $path, $headers) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return "connect: $!";

    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $req .= "$_: $headers->{$_}\r\n" for sort keys %{ $headers || {} };

    print {$s} "$req\r\n";

    my $line = <$s>;
    close $s;

    return defined $line && $line =~ m{^HTTP/1\.\d (\d+)} ? $1 : 'no answer';
}

# one GET to nginx from a block's --- init, to set up what its requests then
# check: returns (status, body, { lowercase header => value }), status
# "no answer" if there was none
sub http_get {
    my ($port, $path, $headers) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return ("connect: $!", '', {});

    my $req = "GET $path HTTP/1.0\r\nHost: localhost\r\n";
    $req .= "$_: $headers->{$_}\r\n" for sort keys %{ $headers || {} };

    print {$s} "$req\r\n";

    my $resp = '';
    while (1) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
    }
    close $s;

    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my %h;
    for (split /\r\n/, $head // '') {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }

    return ($status // 'no answer', $body // '', \%h);
}

# sends a signal to a pid after a delay, from a child process
sub later_signal {
    my ($delay, $signal, $pid) = @_;

    my $kid = fork;
    die "later_signal: fork: $!\n" unless defined $kid;

    if ($kid == 0) {
        select(undef, undef, undef, $delay);
        kill $signal, $pid;
        POSIX::_exit(0);
    }

    push @bursts, $kid;
}

END {
    # keep the test file's exit status: waitpid() sets $?
    local $?;

    waitpid($_, 0) for @bursts;
}

sub defaults {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', $HttpConfig);
    }

    my $config = defined $block->config ? $block->config : $Members;

    # a block may bring its own internal location
    if ($config !~ m{location /_yoti_idv/}) {
        $config = $ApiLocation . $config;
    }

    $block->set_value('config', $Locations . $config);

    if (!defined $block->request) {
        $block->set_value('request', "GET /members/\n");
    }

    if (!defined $block->no_error_log && !defined $block->error_log
        && !defined $block->must_die)
    {
        $block->set_value('no_error_log', "[error]\n[alert]\n[crit]\n");
    }
}

1;
