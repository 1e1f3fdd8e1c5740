package YotiIdvMock;

# Starts one mock Yoti IDV API (t/mock/idv_mock.py) per test file.
#
#     use lib 't/lib';
#     use YotiIdvMock;                     # defaults below
#     use YotiIdvMock public_key => 't/keys/other-key-public.pem';
#
# The mock listens on 127.0.0.1, on a free port published as
# $ENV{TEST_NGINX_MOCK_PORT} (so blocks can say $TEST_NGINX_MOCK_PORT), and
# is stopped in END by the process that started it.  Exports mock_get($path)
# (body of a plain GET to the mock, e.g. mock_get('/__mock/count/verified-alice'))
# and mock_port().
#
# Import options (all optional):
#     public_key  PEM that verifies the digests (t/keys/test-key-public.pem)
#     sdk_id      expected sdkId (test-sdk-id)
#     sessions    fixture directory (t/mock/sessions)
#     max_skew_ms accepted timestamp skew (mock default, 300000)
#
# The mock's log goes to $ENV{YOTI_IDV_MOCK_LOG} when set, otherwise to a
# temporary file that is printed if the mock fails to start.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

our $VERSION = '0.1.0';

my $PYTHON = '/usr/bin/python3';
my $START_TIMEOUT = 10;     # seconds to wait for the port file
my $STOP_GRACE = 2;         # seconds between TERM and KILL

# Repository root: this file is <root>/t/lib/YotiIdvMock.pm.
my $ROOT = dirname(dirname(dirname(abs_path(__FILE__))));

my ($pid, $owner, $port, $tmpdir);

sub import {
    my ($class, %opt) = @_;
    my $caller = caller;

    {
        no strict 'refs';
        *{"${caller}::mock_get"} = \&mock_get;
        *{"${caller}::mock_port"} = \&mock_port;
    }

    # One mock per test file, however many times we are imported.
    start(%opt) unless defined $pid;
}

# A path from the caller: relative to the cwd if it exists there (prove
# runs from the repo root), else relative to the repo root.
sub _path {
    my ($p) = @_;

    return $p if File::Spec->file_name_is_absolute($p);
    return abs_path($p) if -e $p;
    return File::Spec->catfile($ROOT, $p);
}

sub _slurp {
    my ($file) = @_;

    open my $fh, '<', $file or return '';
    local $/;
    my $s = <$fh>;
    close $fh;
    return defined $s ? $s : '';
}

sub start {
    my (%opt) = @_;

    my $key = _path($opt{public_key} || 't/keys/test-key-public.pem');
    my $sdk = defined $opt{sdk_id} ? $opt{sdk_id} : 'test-sdk-id';
    my $script = File::Spec->catfile($ROOT, 't', 'mock', 'idv_mock.py');

    die "YotiIdvMock: $key: no such key file\n" unless -r $key;

    $tmpdir = tempdir('yoti-idv-mock-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $port_file = File::Spec->catfile($tmpdir, 'port');
    my $log = $ENV{YOTI_IDV_MOCK_LOG}
              || File::Spec->catfile($tmpdir, 'mock.log');

    my @cmd = ($PYTHON, $script,
               '--port', 0,
               '--port-file', $port_file,
               '--public-key', $key,
               '--sdk-id', $sdk,
               '--log', $log,
               '--parent-pid', $$);
    push @cmd, '--sessions', _path($opt{sessions}) if $opt{sessions};
    push @cmd, '--max-skew-ms', $opt{max_skew_ms}
        if defined $opt{max_skew_ms};

    $owner = $$;
    $pid = fork;
    die "YotiIdvMock: fork failed: $!\n" unless defined $pid;

    if ($pid == 0) {
        # Child: the mock prints its port on stdout (we read the port
        # file instead); anything on stderr (a traceback) goes to the log.
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', $log;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "YotiIdvMock: exec $cmd[0]: $!\n";
        _exit(127);
    }

    my $deadline = time + $START_TIMEOUT;
    while (time < $deadline) {
        if (-s $port_file) {
            my $p = _slurp($port_file);
            if ($p =~ /^(\d+)\n\z/) {
                $port = $1;
                last;
            }
        }
        if (waitpid($pid, WNOHANG) == $pid) {
            my $status = $?;
            undef $pid;
            die "YotiIdvMock: mock exited early (status $status):\n"
                . _slurp($log);
        }
        sleep 0.05;
    }

    unless ($port) {
        stop();
        die "YotiIdvMock: mock did not start within ${START_TIMEOUT}s:\n"
            . _slurp($log);
    }

    $ENV{TEST_NGINX_MOCK_PORT} = $port;
    return $port;
}

sub stop {
    # Only the process that started the mock may stop it: Test::Nginx
    # forks, and children running END blocks must leave it alone.
    return unless defined $pid && defined $owner && $$ == $owner;

    kill 'TERM', $pid;
    my $deadline = time + $STOP_GRACE;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) != 0) {
            undef $pid;
            return;
        }
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    undef $pid;
}

sub mock_port {
    return $port;
}

# GET $path from the mock; returns the response body (in list context also
# the HTTP status).  Dies when the mock cannot be reached.
sub mock_get {
    my ($path) = @_;

    die "YotiIdvMock: mock not running\n" unless $port;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port,
                                     Proto    => 'tcp',
                                     Timeout  => 5)
        or die "YotiIdvMock: connect 127.0.0.1:$port: $@\n";

    print {$sock} "GET $path HTTP/1.0\r\nHost: 127.0.0.1:$port\r\n\r\n";

    my $resp = '';
    while (1) {
        my $n = sysread($sock, my $buf, 65536);
        die "YotiIdvMock: read: $!\n" unless defined $n;
        last if $n == 0;
        $resp .= $buf;
    }
    close $sock;

    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head || '') =~ m{^HTTP/\d\.\d (\d{3})};
    $body = '' unless defined $body;

    return wantarray ? ($body, $status) : $body;
}

END {
    # Keep the test file's exit status: stop() calls waitpid, which sets $?.
    local $?;
    stop();
}

1;
