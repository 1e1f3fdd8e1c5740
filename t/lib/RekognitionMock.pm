package RekognitionMock;

# Starts one mock AWS Rekognition endpoint (t/mock/rekognition_mock.py)
# per test file, and writes the test credentials files.
#
#     use lib 't/lib';
#     use RekognitionMock;
#
# The mock listens on 127.0.0.1, on a free port published as
# $ENV{TEST_NGINX_AWS_PORT}; it expects Host 127.0.0.1:<that port> and
# region eu-west-1, and knows the access keys in %KEYS.  The credentials
# files are in $ENV{TEST_NGINX_AWS_CREDS} (a temporary directory):
# credentials (profiles default, gate, temp, wrong, badsecret, notoken,
# nosecret), and files the tests may rewrite with write_creds().  The mock
# is stopped in END, by pid, by the process that started it.
#
# Exports aws_get($path) (body of a GET to the mock) and write_creds($file,
# $text).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

my $PYTHON = '/usr/bin/python3';
my $ROOT = dirname(dirname(dirname(abs_path(__FILE__))));

# what the mock accepts: key id => [secret, session token]
our %KEYS = (
    AKIDDEFAULT0000001 => ['default/secret/1', undef],
    AKIDGATE0000000002 => ['gate/secret/2', undef],
    ASIATEMP0000000003 => ['temp/secret/3', 'IQoJb3JpZ2luX2VjTEMP//token+3=='],
    AKIDOLD00000000004 => ['old/secret/4', undef],
    AKIDNEW00000000005 => ['new/secret/5', undef],
    AKIDKEEP0000000006 => ['keep/secret/6', undef],
    AKIDBADSECRET00007 => ['the/right/secret/7', undef],
    ASIANOTOKEN0000008 => ['notoken/secret/8', 'IQoJtoken8'],
);

our $Credentials = <<'_EOC_';
# test credentials: published, never use them elsewhere
[default]
aws_access_key_id = AKIDDEFAULT0000001
aws_secret_access_key = default/secret/1

[gate]
aws_access_key_id = AKIDGATE0000000002
aws_secret_access_key = gate/secret/2

[temp]
aws_access_key_id = ASIATEMP0000000003
aws_secret_access_key = temp/secret/3
aws_session_token = IQoJb3JpZ2luX2VjTEMP//token+3==

[wrong]
aws_access_key_id = AKIDUNKNOWN0000009
aws_secret_access_key = unknown/secret/9

[badsecret]
aws_access_key_id = AKIDBADSECRET00007
aws_secret_access_key = a/wrong/secret/7

[notoken]
aws_access_key_id = ASIANOTOKEN0000008
aws_secret_access_key = notoken/secret/8

[nosecret]
aws_access_key_id = AKIDDEFAULT0000001
_EOC_

my ($pid, $owner, $port, $dir);

sub import {
    my $caller = caller;

    {
        no strict 'refs';
        *{"${caller}::aws_get"} = \&aws_get;
        *{"${caller}::write_creds"} = \&write_creds;
    }

    start() unless defined $pid;
}

sub _slurp {
    my ($file) = @_;

    open my $fh, '<', $file or return '';
    local $/;
    my $s = <$fh>;
    return defined $s ? $s : '';
}

sub write_creds {
    my ($name, $text) = @_;

    # a new file renamed into place, as tools that rotate credentials do
    my $path = File::Spec->catfile($dir, $name);
    open my $fh, '>', "$path.tmp" or die "RekognitionMock: $path: $!\n";
    print {$fh} $text;
    close $fh;
    rename "$path.tmp", $path or die "RekognitionMock: rename $path: $!\n";
}

sub start {
    $dir = tempdir('yoti-idv-aws-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $ENV{TEST_NGINX_AWS_CREDS} = $dir;

    write_creds('credentials', $Credentials);

    my $port_file = File::Spec->catfile($dir, 'port');
    my $log = $ENV{YOTI_IDV_AWS_MOCK_LOG}
              || File::Spec->catfile($dir, 'mock.log');

    my @cmd = ($PYTHON, File::Spec->catfile($ROOT, 't', 'mock',
                                            'rekognition_mock.py'),
               '--port', 0, '--port-file', $port_file, '--log', $log,
               '--region', 'eu-west-1', '--parent-pid', $$);

    for my $k (sort keys %KEYS) {
        push @cmd, '--key', join(':', $k, grep { defined } @{ $KEYS{$k} });
    }

    $owner = $$;
    $pid = fork;
    die "RekognitionMock: fork failed: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', $log;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        _exit(127);
    }

    my $deadline = time + 10;
    while (time < $deadline) {
        if (_slurp($port_file) =~ /^(\d+)\n\z/) {
            $port = $1;
            last;
        }
        if (waitpid($pid, WNOHANG) == $pid) {
            undef $pid;
            die "RekognitionMock: mock exited early:\n" . _slurp($log);
        }
        sleep 0.05;
    }

    unless ($port) {
        stop();
        die "RekognitionMock: mock did not start:\n" . _slurp($log);
    }

    $ENV{TEST_NGINX_AWS_PORT} = $port;
}

sub stop {
    return unless defined $pid && defined $owner && $$ == $owner;

    kill 'TERM', $pid;
    my $deadline = time + 2;
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

sub aws_get {
    my ($path) = @_;

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp',
                                     Timeout => 5)
        or die "RekognitionMock: connect: $@\n";

    print {$sock} "GET $path HTTP/1.0\r\nHost: 127.0.0.1:$port\r\n\r\n";

    my $resp = '';
    while (sysread($sock, my $buf, 65536)) {
        $resp .= $buf;
    }

    my (undef, $body) = split /\r\n\r\n/, $resp, 2;
    return defined $body ? $body : '';
}

END {
    local $?;
    stop();
}

1;
