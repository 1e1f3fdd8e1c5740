# yoti_idv_breaker with yoti_idv_cache_zone: the breaker's state is in the
# zone, so that two workers share it.  Failures seen by one worker (on one
# keep-alive connection) open it; then every new connection, on either
# worker, is answered at once without the provider (but for one probe a
# second).  Connections go
# to a "reuseport" listener, where the kernel spreads them over the
# workers by their ports.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

use IO::Socket::INET;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_breaker     1s;
    yoti_idv_cache_zone  yoti_idv:1m ttl=1m;

    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 reuseport;

        location /_yoti_idv/ {
            internal;
            proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
            proxy_set_header Connection "";
            proxy_read_timeout 2s;
            subrequest_output_buffer_size 64k;
        }

        location /members/ {
            yoti_idv             on;
            yoti_idv_user_id     $http_x_user_id;
            yoti_idv_session_id  $http_x_session_id;
            yoti_idv_require     LIVENESS;

            add_header X-IDV-Reason $yoti_idv_reason always;
            add_header X-Pid $pid always;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
        }
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;

    YotiIdvTest::defaults($block);
});

# n requests, each on a connection of its own, $gap seconds apart: the
# reason and the worker of each
sub ask {
    my ($port, $n, $gap) = @_;
    my @got;
    my %h = ('X-User-Id' => 'alice', 'X-Session-Id' => 'verified-alice');

    for my $i (1 .. $n) {
        select(undef, undef, undef, $gap) if $gap && $i > 1;
        my ($st, $body, $hd) = YotiIdvTest::http_get($port, '/members/', \%h);
        push @got, [$st, $hd->{'x-idv-reason'} // '-', $hd->{'x-pid'} // '-'];
    }

    return @got;
}

# n requests on one keep-alive connection (so one worker), $gap seconds
# apart: the reason and the worker of each
sub ask_one_connection {
    my ($port, $n, $gap) = @_;
    my @got;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or die "connect: $!\n";

    for my $i (1 .. $n) {
        select(undef, undef, undef, $gap) if $i > 1;
        print {$s} "GET /members/ HTTP/1.1\r\nHost: localhost\r\n"
                   . "X-User-Id: alice\r\nX-Session-Id: verified-alice\r\n\r\n";
        my $head = '';
        while ($head !~ /\r\n\r\n/) {
            sysread($s, $head, 1, length $head) or die "read: $!\n";
        }
        my ($len) = $head =~ /^Content-Length: (\d+)/mi;
        my $body = '';
        sysread($s, $body, $len - length $body, length $body) or die "read: $!\n"
            while length $body < ($len // 0);
        my ($st) = $head =~ m{^HTTP/1\.1 (\d+)};
        my ($reason) = $head =~ /^X-IDV-Reason: (\S+)/mi;
        my ($pid) = $head =~ /^X-Pid: (\d+)/mi;
        push @got, [$st, $reason // '-', $pid // '-'];
    }

    close $s;
    return @got;
}

sub count { YotiIdvMock::mock_get('/__mock/count/verified-alice') + 0 }

# the reuseport listener's port, as the runner wrote it
sub reuseport {
    open my $in, '<', server_root() . '/conf/nginx.conf' or die "no conf\n";
    local $/;
    my ($port) = <$in> =~ /listen 127\.0\.0\.1:(\d+) reuseport;/
        or die "no reuseport listener\n";
    return $port;
}

our ($Before, $After, @Open);

run_tests();

__DATA__

=== TEST 1: failures seen by one worker open the breaker of both: neither asks the provider, but for a probe
--- init
YotiIdvMock::mock_get('/__mock/reset');
YotiIdvMock::mock_get('/__mock/outage/status-503');
my $port = main::reuseport();
my @failing = main::ask_one_connection($port, 6, 0.25);
Test::More::ok(scalar(grep { $_->[1] eq 'provider:503' } @failing) >= 3,
               'the provider failed at least 3 times before it opened: '
               . join(' ', map { "@$_" } @failing));
my %one = map { $_->[2] => 1 } @failing;
Test::More::is(scalar(keys %one), 1, 'one worker saw the failures');
$main::Before = main::count();
@main::Open = main::ask($port, 40, 0);
$main::After = main::count();
my %pids = map { $_->[2] => 1 } @main::Open;
Test::More::is(scalar(keys %pids), 2, 'both workers answered');
my @asked = grep { $_->[1] ne 'provider:breaker' } @main::Open;
Test::More::ok(@asked <= 1, 'at most one probe reached the provider: '
               . join(' ', map { "@$_" } @asked));
Test::More::ok($main::After - $main::Before <= 1,
               "the provider was asked $main::Before, then "
               . "$main::After times");
Test::More::is(scalar(grep { $_->[0] ne '503' } @main::Open), 0,
               'every answer is a 503');
--- request
GET /__mock/outage/off
--- response_body
outage off
--- no_error_log
[alert]
[crit]
--- timeout: 20
