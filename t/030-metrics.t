# yoti_idv_metrics: known traffic, then the exact counters, from whichever
# of the two workers answers the scrape (the counters are in shared memory).
# A real redis-server runs on a free loopback port.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

use File::Temp qw(tempdir);

repeat_each(1);
no_shuffle();
master_on();
workers(2);
worker_connections(1024);

$ENV{TEST_NGINX_BURST_DIR} = tempdir('yoti-idv-metrics-XXXXXX', TMPDIR => 1,
                                     CLEANUP => 1);

$ENV{TEST_NGINX_DEAD_PORT} = YotiIdvRedis::free_port();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_cache_zone  yoti_idv:1m ttl=1m;
    yoti_idv_redis       127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
_EOC_

our $Config = <<'_EOC_';
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location = /metrics {
        yoti_idv_metrics;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Config) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

# every line given must be in the exposition, whole
# the version nginx_yoti_idv_info reports: the module's own
our $Version = do {
    open my $h, '<', 'ngx_http_yoti_idv_module/ngx_http_yoti_idv_module.h'
        or die "ngx_http_yoti_idv_module.h: $!";
    my ($v) = join('', <$h>) =~ /NGX_HTTP_YOTI_IDV_VERSION\s+"([^"]+)"/;
    $v // die "no NGX_HTTP_YOTI_IDV_VERSION in ngx_http_yoti_idv_module.h";
};

sub lines {
    my $re = join '', map { '(?=.*^' . quotemeta($_) . '$)' } @_;
    return qr/\A$re/ms;
}

sub get {
    my ($path, %h) = @_;
    my ($status, $body, $hdr) = YotiIdvTest::http_get(
                                    $ENV{TEST_NGINX_SERVER_PORT}, $path,
                                    \%h);
    return ($status, $hdr->{'x-idv-cache'} // '');
}

# a reload after a delay, from a child: the buckets in nginx.conf change,
# so that the scrape shows that the new configuration is running
sub hup_later {
    my ($delay) = @_;

    YotiIdvRedis::later($delay => sub {
        my $conf = server_root() . '/conf/nginx.conf';
        open my $in, '<', $conf or die "no $conf\n";
        my $text = do { local $/; <$in> };
        close $in;
        $text =~ s/yoti_idv_metrics_buckets 0\.01 0\.1 1;/yoti_idv_metrics_buckets 0.02 0.2 2;/
            or die "no buckets in $conf\n";
        open my $out, '>', $conf or die "cannot write $conf\n";
        print {$out} $text;
        close $out;

        open my $fh, '<', server_root() . '/logs/nginx.pid' or die "no pid\n";
        my $pid = <$fh>;
        chomp $pid;
        kill 'HUP', $pid;
    });
}

our $Key = YotiIdvRedis::verdict_key(user => 'carol', source => 'variable',
                                     require => ['LIVENESS any']);

run_tests();

__DATA__

=== TEST 1: a fresh nginx: every counter at zero, the info line, the content type
--- init
YotiIdvRedis::flush();
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like eval
main::lines("nginx_yoti_idv_info{version=\"$main::Version\"} 1",
            'nginx_yoti_idv_verdicts_total{verdict="allow",layer="provider"} 0',
            'nginx_yoti_idv_reasons_total{reason="check:LIVENESS"} 0',
            'nginx_yoti_idv_cache_lookups_total{layer="zone",result="hit"} 0',
            'nginx_yoti_idv_provider_requests_total{provider="yoti",outcome="2xx"} 0',
            'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="0.05"} 0',
            'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="+Inf"} 0',
            'nginx_yoti_idv_provider_request_duration_seconds_count{provider="yoti"} 0',
            'nginx_yoti_idv_redis_connected{worker="0"} 0',
            'nginx_yoti_idv_redis_connected{worker="1"} 0',
            'nginx_yoti_idv_zone_entries{zone="yoti_idv"} 0',
            'nginx_yoti_idv_zone_size_bytes{zone="yoti_idv"} 1048576',
            'nginx_yoti_idv_zone_evictions_total{zone="yoti_idv"} 0',
            '# TYPE nginx_yoti_idv_verdicts_total counter',
            '# TYPE nginx_yoti_idv_provider_request_duration_seconds histogram')
--- no_error_log
[error]



=== TEST 2: known traffic, the exact counts: provider, zone and Redis answers, every verdict, errors
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', $main::Key, '1 verified-carol ALLOW ok');
--- request eval
["GET /__mock/reset",
 (map { "GET /members/?alice$_" } 1 .. 12),
 "GET /members/?reject", "GET /members/?reject",
 "GET /members/?ongoing",
 "GET /members/?erin",
 "GET /members/?carol", "GET /members/?carol",
 "GET /members/?nobody",
 "GET /members/?frank",
 "GET /metrics"]
--- more_headers eval
my @h = ("",
         (("X-User-Id: alice\nX-Session-Id: verified-alice") x 12),
         (("X-User-Id: alice\nX-Session-Id: liveness-all-reject") x 2),
         "X-User-Id: alice\nX-Session-Id: ongoing-alice",
         "X-User-Id: erin\nX-Session-Id: status-500-x",
         (("X-User-Id: carol\nX-Session-Id: verified-carol") x 2),
         "X-Session-Id: verified-alice",
         "X-User-Id: frank\nX-Session-Id: status-404-x",
         "");
\@h
--- error_code eval
[200, (200) x 12, 403, 403, 403, 503, 200, 200, 403, 403, 200]
--- response_body_like eval
[qr/ok/, (qr/ALLOW/) x 12, (qr/./) x 8,
 main::lines(
   # 12 alice: 1 provider, 11 zone; carol: 1 Redis, then 1 zone
   'nginx_yoti_idv_verdicts_total{verdict="allow",layer="provider"} 1',
   'nginx_yoti_idv_verdicts_total{verdict="allow",layer="zone"} 12',
   'nginx_yoti_idv_verdicts_total{verdict="allow",layer="redis"} 1',
   'nginx_yoti_idv_verdicts_total{verdict="deny",layer="provider"} 2',
   'nginx_yoti_idv_verdicts_total{verdict="deny",layer="zone"} 1',
   'nginx_yoti_idv_verdicts_total{verdict="deny",layer="none"} 1',
   'nginx_yoti_idv_verdicts_total{verdict="pending",layer="provider"} 1',
   'nginx_yoti_idv_verdicts_total{verdict="error",layer="provider"} 1',
   'nginx_yoti_idv_verdicts_total{verdict="error",layer="zone"} 0',
   'nginx_yoti_idv_reasons_total{reason="check:LIVENESS"} 2',
   'nginx_yoti_idv_reasons_total{reason="no_user"} 1',
   'nginx_yoti_idv_reasons_total{reason="no_session"} 1',
   'nginx_yoti_idv_reasons_total{reason="provider"} 1',
   'nginx_yoti_idv_reasons_total{reason="state"} 1',
   'nginx_yoti_idv_reasons_total{reason="user_mismatch"} 0',
   'nginx_yoti_idv_reasons_total{reason="other"} 0',
   # zone: hits 11 alice + 1 reject + 1 carol; misses the first alice,
   # reject and ongoing (another session of alice's), erin, carol, frank
   'nginx_yoti_idv_cache_lookups_total{layer="zone",result="hit"} 13',
   'nginx_yoti_idv_cache_lookups_total{layer="zone",result="miss"} 6',
   'nginx_yoti_idv_cache_lookups_total{layer="redis",result="hit"} 1',
   'nginx_yoti_idv_cache_lookups_total{layer="redis",result="miss"} 5',
   'nginx_yoti_idv_provider_requests_total{provider="yoti",outcome="2xx"} 3',
   'nginx_yoti_idv_provider_requests_total{provider="yoti",outcome="4xx"} 1',
   'nginx_yoti_idv_provider_requests_total{provider="yoti",outcome="5xx"} 1',
   'nginx_yoti_idv_provider_requests_total{provider="yoti",outcome="timeout"} 0',
   'nginx_yoti_idv_provider_request_duration_seconds_count{provider="yoti"} 5',
   'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="+Inf"} 5',
   'nginx_yoti_idv_provider_requests_total{provider="aws_rekognition",outcome="2xx"} 0',
   # MGET for every zone miss; SET for the evaluated verdicts (allow,
   # reject, ongoing, frank's 404), not for the error
   'nginx_yoti_idv_redis_commands_total{command="mget"} 6',
   'nginx_yoti_idv_redis_commands_total{command="set"} 4',
   'nginx_yoti_idv_redis_errors_total{kind="timeout"} 0',
   'nginx_yoti_idv_redis_reconnects_total 0',
   'nginx_yoti_idv_burst_waits_total 0',
   'nginx_yoti_idv_zone_entries{zone="yoti_idv"} 4',
   'nginx_yoti_idv_zone_evictions_total{zone="yoti_idv"} 0')]
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 3: a burst of 30 first requests over both workers: one fetch, the others waited for it
--- init
unlink "$ENV{TEST_NGINX_BURST_DIR}/statuses";
YotiIdvRedis::flush();
YotiIdvMock::mock_get('/__mock/reset');
YotiIdvTest::burst(port => server_port(), n => 30, path => '/members/',
                   headers => { 'X-User-Id' => 'alice',
                                'X-Session-Id' => 'slow-1000-verified-alice' },
                   out => "$ENV{TEST_NGINX_BURST_DIR}/statuses");
--- request eval
["GET /__mock/sleep/2500", "GET /__mock/count/slow-1000-verified-alice",
 "GET /metrics"]
--- response_body_like eval
[qr/slept/, qr/^1\n\z/,
 main::lines(
   'nginx_yoti_idv_provider_requests_total{provider="yoti",outcome="2xx"} 1',
   'nginx_yoti_idv_verdicts_total{verdict="allow",layer="provider"} 1',
   'nginx_yoti_idv_verdicts_total{verdict="allow",layer="zone"} 29',
   'nginx_yoti_idv_burst_waits_total 29',
   'nginx_yoti_idv_burst_fetches_saved_total 29',
   'nginx_yoti_idv_cache_lookups_total{layer="zone",result="hit"} 29',
   'nginx_yoti_idv_cache_lookups_total{layer="zone",result="miss"} 1',
   # the one fetch took the mock's 1 s: in the 2.5 s bucket, not the 1 s
   'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="1"} 0',
   'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="2.5"} 1')]
--- no_error_log
[alert]
[crit]
[error]
--- timeout: 10



=== TEST 4: the counters survive a reload (a HUP to the master), Redis counts its errors by kind
--- http_config eval
$YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis  127.0.0.1:$TEST_NGINX_DEAD_PORT;
    yoti_idv_metrics_buckets 0.01 0.1 1;
_EOC_
--- init
main::hup_later(1.5);
--- request eval
["GET /members/", "GET /members/", "GET /metrics", "GET /__mock/sleep/2500",
 "GET /metrics"]
--- more_headers eval
["X-User-Id: alice\nX-Session-Id: verified-alice",
 "X-User-Id: alice\nX-Session-Id: verified-alice", "", "", ""]
--- error_code eval
[503, 503, 200, 200, 200]
--- response_body_like eval
[qr/./, qr/./,
 main::lines('nginx_yoti_idv_verdicts_total{verdict="error",layer="none"} 2',
             'nginx_yoti_idv_reasons_total{reason="redis"} 2',
             'nginx_yoti_idv_redis_errors_total{kind="connect"} 2',
             'nginx_yoti_idv_redis_connected{worker="0"} 0',
             'nginx_yoti_idv_redis_connected{worker="1"} 0',
             'nginx_yoti_idv_cache_lookups_total{layer="redis",result="hit"} 0',
             'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="0.01"} 0',
             'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="0.1"} 0',
             'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="1"} 0'),
 qr/slept/,
 main::lines('nginx_yoti_idv_verdicts_total{verdict="error",layer="none"} 2',
             'nginx_yoti_idv_redis_errors_total{kind="connect"} 2',
             'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="0.2"} 0',
             'nginx_yoti_idv_provider_request_duration_seconds_bucket{provider="yoti",le="2"} 0')]
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 5: a zone too small for its users: every entry it holds or evicted is counted
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone  small:32k ttl=1m;\n"
--- init
# a 32k zone holds 210 entries of the table: 300 users do not fit
for my $i (1 .. 300) {
    my ($st) = main::get('/members/', 'X-User-Id' => "user$i",
                         'X-Session-Id' => "status-404-u$i");
    die "user$i: $st\n" unless $st eq '403';
}
my ($status, $body) = YotiIdvTest::http_get($ENV{TEST_NGINX_SERVER_PORT},
                                            '/metrics');
my ($entries) = $body =~ /^nginx_yoti_idv_zone_entries\{zone="small"\} (\d+)$/m;
my ($evicted) = $body =~ /^nginx_yoti_idv_zone_evictions_total\{zone="small"\} (\d+)$/m;
Test::More::ok($evicted > 0, "$0 TEST 5: evictions ($evicted)");
Test::More::is($entries + $evicted, 300,
               "$0 TEST 5: entries ($entries) and evictions add up to the users");
--- request
GET /metrics
--- response_body_like eval
qr/^nginx_yoti_idv_zone_size_bytes\{zone="small"\} 32768$/m
--- no_error_log
[alert]
[crit]
