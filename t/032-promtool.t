# The exposition passes "promtool check metrics" (Debian's prometheus
# package), with every family present: zone, Redis, both providers'
# histograms, the check types of the configuration.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

use File::Temp qw(tempfile);

repeat_each(1);
no_shuffle();
master_on();
workers(2);

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_cache_zone  yoti_idv:1m;
    yoti_idv_redis       127.0.0.1:$TEST_NGINX_REDIS_PORT;
_EOC_

our $Config = <<'_EOC_';
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        yoti_idv_require     FACE_COMPARISON;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
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

# the scrape of a running nginx through promtool: its output and status
sub promtool {
    my ($status, $body) = YotiIdvTest::http_get($ENV{TEST_NGINX_SERVER_PORT},
                                                '/metrics');
    die "/metrics: $status\n" unless $status eq '200';

    my ($fh, $file) = tempfile('yoti-idv-metrics-XXXXXX', TMPDIR => 1,
                               UNLINK => 1);
    print {$fh} $body;
    close $fh;

    my $out = `promtool check metrics < $file 2>&1`;
    return ($? >> 8, $out, $body);
}

sub traffic {
    for (['alice', 'verified-alice'], ['alice', 'verified-alice'],
         ['bob', 'liveness-all-reject'], ['carol', 'status-500-x'],
         ['alice', 'face-comparison-reject'], ['', 'verified-alice'])
    {
        YotiIdvTest::http_get($ENV{TEST_NGINX_SERVER_PORT}, '/members/',
                              { 'X-User-Id' => $_->[0],
                                'X-Session-Id' => $_->[1] });
    }
}

run_tests();

__DATA__

=== TEST 1: promtool finds nothing to say, before and after traffic
--- init
YotiIdvRedis::flush();
my ($rc, $out, $body) = main::promtool();
Test::More::is($rc, 0, "$0 TEST 1: promtool on a fresh nginx exits 0");
Test::More::is($out, '', "$0 TEST 1: promtool on a fresh nginx: no lint");
main::traffic();
($rc, $out, $body) = main::promtool();
Test::More::is($rc, 0, "$0 TEST 1: promtool after traffic exits 0");
Test::More::is($out, '', "$0 TEST 1: promtool after traffic: no lint");
Test::More::like($body, qr/^nginx_yoti_idv_reasons_total\{reason="check:FACE_COMPARISON"\} 1$/m,
                 "$0 TEST 1: a check type of the configuration as a reason");
--- request
GET /metrics
--- response_body_like eval
qr/^nginx_yoti_idv_info\{version="[0-9.]+"\} 1$/m
--- no_error_log
[alert]
[crit]



=== TEST 2: promtool fails on what breaks the format (the check itself can fail)
--- init
my ($fh, $file) = File::Temp::tempfile(TMPDIR => 1, UNLINK => 1);
print {$fh} "# TYPE nginx_yoti_idv_x counter\nnginx_yoti_idv_x{a=\"1\" 1\n";
close $fh;
my $out = `promtool check metrics < $file 2>&1`;
Test::More::isnt($? >> 8, 0, "$0 TEST 2: promtool refuses a broken line");
--- request
GET /metrics
--- response_body_like eval
qr/^nginx_yoti_idv_info\{version="[0-9.]+"\} 1$/m
