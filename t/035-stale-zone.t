# yoti_idv_cache_use_stale with yoti_idv_cache_zone: a verdict that expired
# within the window answers a request the provider fails temporarily, and
# nothing else: not a permanent error, not a fresh answer (a revocation),
# not after the window, not when it is off.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_cache_zone   yoti_idv:1m ttl=1m;
    yoti_idv_cache_valid  APPROVE 1s;
    yoti_idv_cache_valid  DENY 1s;
    yoti_idv_breaker      off;
_EOC_

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv                  on;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_session_id       $http_x_session_id;
        yoti_idv_require          LIVENESS;
        yoti_idv_cache_use_stale  10s;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Members) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

run_tests();

__DATA__

=== TEST 1: the provider answers 503 after the verdict expired: the expired ALLOW answers, STALE
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/outage/status-503",
 "GET /__mock/sleep/1200", "GET /members/", "GET /__mock/count/verified-alice",
 "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "outage status-503\n",
 "slept 1200\n", "app: ALLOW verified-alice STALE\n", "2\n",
 "app: ALLOW verified-alice STALE\n"]
--- log_level: info
--- timeout: 6


=== TEST 2: ...and says so in the log, at info
--- init
YotiIdvMock::mock_get('/__mock/reset');
my %h = ('X-User-Id' => 'alice', 'X-Session-Id' => 'verified-alice');
my ($st) = YotiIdvTest::http_get(server_port(), '/members/', \%h);
die "first request: $st\n" unless $st eq '200';
YotiIdvMock::mock_get('/__mock/outage/status-503');
select(undef, undef, undef, 1.2);
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice STALE
--- error_log
session "verified-alice" answered from its expired verdict (yoti_idv_cache_use_stale): provider:503
--- log_level: info
--- timeout: 6



=== TEST 3: every temporary failure: 500, 429, a closed connection, a timeout
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/outage/status-500",
 "GET /__mock/sleep/1200", "GET /members/", "GET /__mock/outage/status-429",
 "GET /members/", "GET /__mock/outage/close", "GET /members/",
 "GET /__mock/count/verified-alice", "GET /__mock/outage/slow-3000",
 "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "outage status-500\n",
 "slept 1200\n", "app: ALLOW verified-alice STALE\n", "outage status-429\n",
 "app: ALLOW verified-alice STALE\n", "outage close\n",
 "app: ALLOW verified-alice STALE\n", "4\n", "outage slow-3000\n",
 "app: ALLOW verified-alice STALE\n"]
--- no_error_log
[alert]
[crit]
--- log_level: info
--- timeout: 12



=== TEST 4: a permanent error (401: the signature) is not answered from stale
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/outage/status-401",
 "GET /__mock/sleep/1200", "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[200, 200, 200, 200, 503]
--- response_headers eval
["", "X-IDV-Cache: MISS", "", "", "X-IDV-Reason: provider:401"]
--- no_error_log
[alert]
[crit]
--- timeout: 6



=== TEST 5: a revocation (the provider no longer knows the session) wins over the expired ALLOW
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/outage/status-404",
 "GET /__mock/sleep/1200", "GET /members/", "GET /__mock/outage/status-503",
 "GET /members/", "GET /__mock/sleep/1200", "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[200, 200, 200, 200, 403, 200, 403, 200, 403]
--- response_headers eval
["", "X-IDV-Cache: MISS", "", "", "X-IDV-Reason: no_session",
 "", "X-IDV-Cache: HIT", "", "X-IDV-Cache: STALE\nX-IDV-Reason: no_session"]
--- timeout: 8



=== TEST 6: after the window, the error
--- config
    location /members/ {
        yoti_idv                  on;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_session_id       $http_x_session_id;
        yoti_idv_require          LIVENESS;
        yoti_idv_cache_use_stale  1s;

        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/outage/status-503",
 "GET /__mock/sleep/1500", "GET /members/", "GET /__mock/sleep/700",
 "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[200, 200, 200, 200, 200, 200, 503]
--- response_headers eval
["", "X-IDV-Cache: MISS", "", "", "X-IDV-Cache: STALE", "",
 "X-IDV-Reason: provider:503"]
--- no_error_log
[alert]
[crit]
--- timeout: 8



=== TEST 7: off (the default): the error, as before
--- config
    location /members/ {
        yoti_idv                  on;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_session_id       $http_x_session_id;
        yoti_idv_require          LIVENESS;

        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/outage/status-503",
 "GET /__mock/sleep/1200", "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[200, 200, 200, 200, 503]
--- response_headers eval
["", "X-IDV-Cache: MISS", "", "", "X-IDV-Reason: provider:503"]
--- no_error_log
[alert]
[crit]
--- timeout: 6



=== TEST 8: a stale DENY is a DENY, and the verdict of another session never serves
--- request eval
["GET /__mock/reset", "GET /members/?s=liveness-all-reject",
 "GET /__mock/outage/status-503", "GET /__mock/sleep/1200",
 "GET /members/?s=liveness-all-reject", "GET /members/?s=verified-alice"]
--- config
    location /members/ {
        yoti_idv                  on;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_session_id       $arg_s;
        yoti_idv_require          LIVENESS;
        yoti_idv_cache_use_stale  10s;

        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 403, 200, 200, 403, 503]
--- response_headers eval
["", "X-IDV-Cache: MISS", "", "", "X-IDV-Cache: STALE",
 "X-IDV-Reason: provider:503"]
--- no_error_log
[alert]
[crit]
--- timeout: 6



=== TEST 8b: the counters: a stale answer is a verdict of the zone, and a stale lookup
--- config eval
$::Members . <<'_EOC_';
    location = /metrics {
        yoti_idv_metrics;
    }
_EOC_
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/outage/status-503",
 "GET /__mock/sleep/1200", "GET /members/", "GET /metrics",
 "GET /__mock/outage/off"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body_like eval
[qr/^ok\n\z/, qr/^app: ALLOW verified-alice MISS\n\z/, qr/^outage/, qr/^slept/,
 qr/^app: ALLOW verified-alice STALE\n\z/,
 qr/^nginx_yoti_idv_verdicts_total\{verdict="allow",layer="zone"\} 1\n.*^nginx_yoti_idv_verdicts_total\{verdict="allow",layer="provider"\} 1\n.*^nginx_yoti_idv_cache_lookups_total\{layer="zone",result="miss"\} 2\n.*^nginx_yoti_idv_cache_lookups_total\{layer="zone",result="stale"\} 1\n/ms,
 qr/^outage off/]
--- timeout: 6



=== TEST 9: bad values
--- config
    location /members/ {
        yoti_idv_cache_use_stale  soon;
    }
--- must_die
--- error_log
invalid value "soon" in "yoti_idv_cache_use_stale": "off" or a time expected
