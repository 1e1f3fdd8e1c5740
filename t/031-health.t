# yoti_idv_health: 200 while the gate can give verdicts, 503 with Redis
# down (in the worker that answers) or the provider failing every request;
# both workers of the nginx answer alike.  A real redis-server runs on a
# free loopback port, and is stopped and started again here.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis  127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=300ms timeout=300ms;
_EOC_

our $Config = <<'_EOC_';
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location = /healthz {
        yoti_idv_health;
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

run_tests();

__DATA__

=== TEST 1: Redis up: 200, in whichever worker answers (a fresh worker asks Redis first)
--- request eval
["GET /healthz", "GET /healthz", "GET /healthz", "GET /healthz"]
--- response_headers eval
[("Content-Type: application/json") x 4]
--- response_body eval
[("{\"status\":\"ok\",\"redis\":\"up\",\"provider\":\"ok\"}\n") x 4]
--- no_error_log
[error]



=== TEST 2: 200, then 503 with Redis stopped, then 200 again once it is back
--- init
YotiIdvRedis::later(1.0 => sub { YotiIdvRedis::stop() },
                    3.0 => sub { YotiIdvRedis::start_again() });
--- request eval
["GET /healthz", "GET /healthz",
 "GET /__mock/sleep/1500",
 "GET /healthz", "GET /healthz", "GET /healthz",
 "GET /__mock/sleep/3000",
 "GET /healthz", "GET /healthz", "GET /healthz"]
--- error_code eval
[200, 200, 200, 503, 503, 503, 200, 200, 200, 200]
--- response_body_like eval
[(qr/^\{"status":"ok","redis":"up","provider":"ok"\}\n\z/) x 2,
 qr/slept/,
 (qr/^\{"status":"unavailable","redis":"down","provider":"ok"\}\n\z/) x 3,
 qr/slept/,
 (qr/^\{"status":"ok","redis":"up","provider":"ok"\}\n\z/) x 3]
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 3: Redis down from the start: 503, and the gauges say so
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis  127.0.0.1:" . YotiIdvRedis::free_port() . ";\n"
--- request eval
["GET /healthz", "GET /healthz", "GET /metrics"]
--- error_code eval
[503, 503, 200]
--- response_body_like eval
[(qr/"redis":"down"/) x 2,
 qr/^nginx_yoti_idv_redis_connected\{worker="0"\} 0\nnginx_yoti_idv_redis_connected\{worker="1"\} 0$/m]
--- no_error_log
[alert]
[crit]



=== TEST 4: the provider failing every request of the last 10 s: 503, until one works
--- http_config eval
$YotiIdvTest::HttpConfig
--- request eval
["GET /healthz", "GET /members/", "GET /members/", "GET /healthz",
 "GET /members/", "GET /healthz"]
--- more_headers eval
["", "X-User-Id: alice\nX-Session-Id: status-500-a",
 "X-User-Id: alice\nX-Session-Id: status-502-b", "",
 "X-User-Id: alice\nX-Session-Id: verified-alice", ""]
--- error_code eval
[200, 503, 503, 503, 200, 200]
--- response_body_like eval
[qr/^\{"status":"ok","redis":"none","provider":"ok"\}\n\z/, qr/./, qr/./,
 qr/^\{"status":"unavailable","redis":"none","provider":"failing"\}\n\z/,
 qr/ALLOW/,
 qr/^\{"status":"ok","redis":"none","provider":"ok"\}\n\z/]
--- no_error_log
[alert]
[crit]



=== TEST 5: a 4xx from the provider is the provider working
--- http_config eval
$YotiIdvTest::HttpConfig
--- request eval
["GET /members/", "GET /healthz"]
--- more_headers eval
["X-User-Id: alice\nX-Session-Id: status-404-a", ""]
--- error_code eval
[403, 200]



=== TEST 6: GET and HEAD only
--- request eval
["POST /healthz\nx", "HEAD /healthz", "POST /metrics\nx"]
--- error_code eval
[405, 200, 405]



=== TEST 7: a plain content handler: allow/deny protect it
--- config
    location = /healthz {
        allow 192.0.2.1;
        deny all;
        yoti_idv_health;
    }

    location = /metrics {
        allow 192.0.2.1;
        deny all;
        yoti_idv_metrics;
    }
--- request eval
["GET /healthz", "GET /metrics"]
--- error_code eval
[403, 403]
--- error_log
access forbidden by rule



=== TEST 8: yoti_idv_metrics_buckets: out of order
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_metrics_buckets 0.1 0.05;\n"
--- must_die
--- error_log
invalid bucket "0.05" in "yoti_idv_metrics_buckets": seconds over 0, at most 3 decimals, ascending



=== TEST 9: yoti_idv_metrics_buckets: not a number
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_metrics_buckets fast;\n"
--- must_die
--- error_log
invalid bucket "fast" in "yoti_idv_metrics_buckets"



=== TEST 10: yoti_idv_metrics_buckets: too many
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_metrics_buckets " . CORE::join(' ', 1 .. 17) . ";\n"
--- must_die
--- error_log
"yoti_idv_metrics_buckets" takes at most 16 buckets



=== TEST 11: yoti_idv_metrics takes no arguments
--- config
    location = /metrics {
        yoti_idv_metrics on;
    }
--- must_die
--- error_log
invalid number of arguments in "yoti_idv_metrics"



=== TEST 12: "yoti_idv on" inherited from the server does not gate the probe or the scrape
--- config
    yoti_idv             on;
    yoti_idv_user_id     $http_x_user_id;
    yoti_idv_session_id  $http_x_session_id;
    yoti_idv_require     LIVENESS;

    location = /healthz {
        yoti_idv_health;
    }

    location = /metrics {
        yoti_idv_metrics;
    }

    location = /gated-health {
        yoti_idv on;
        yoti_idv_health;
    }
--- request eval
["GET /healthz", "GET /metrics", "GET /gated-health"]
--- error_code eval
[200, 200, 403]
