# yoti_idv_redis fallback=provider: while Redis is away, a location whose
# session id comes from a variable asks the provider, with the zone as the
# only cache; without it (the default), or with the mapping, ERROR as ever.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

$ENV{TEST_NGINX_DEAD_PORT} = YotiIdvRedis::free_port();

repeat_each(1);
no_shuffle();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis       127.0.0.1:$TEST_NGINX_DEAD_PORT connect_timeout=300ms fallback=provider;
    yoti_idv_cache_zone  yoti_idv:1m;
_EOC_

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;

        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /mapped/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_require     LIVENESS;

        add_header X-IDV-Reason $yoti_idv_reason always;
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

=== TEST 1: Redis down: the provider answers, the zone caches
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/",
 "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "app: ALLOW verified-alice HIT\n",
 "1\n"]
--- no_error_log
[alert]
[crit]



=== TEST 2: a denial too
--- request
GET /members/
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-all-reject
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- no_error_log
[alert]
[crit]



=== TEST 3: the session from the mapping: nothing to ask about, ERROR
--- request
GET /mapped/
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:connect
--- no_error_log
[alert]
[crit]



=== TEST 4: without fallback=provider (the default): ERROR, as before
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_DEAD_PORT} connect_timeout=300ms;\n"
. "    yoti_idv_cache_zone yoti_idv:1m;\n"
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[200, 503, 200]
--- response_headers eval
["", "X-IDV-Reason: redis:connect", ""]
--- response_body_like eval
[qr/ok/, qr/503/, qr/^0\n\z/]
--- no_error_log
[alert]
[crit]



=== TEST 5: Redis up: Redis is used as ever
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT} fallback=provider;\n"
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', YotiIdvRedis::verdict_key(source => 'variable', user => 'alice',
                                                   require => ['LIVENESS any']),
                  '1 verified-alice ALLOW from_redis');
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_headers
X-IDV-Reason: from_redis
X-IDV-Cache: HIT



=== TEST 6: a bad value
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:6379 fallback=nothing;\n"
--- must_die
--- error_log
invalid parameter "fallback=" in "yoti_idv_redis"
