# A 404 that is not the provider's own "not found" (an nginx or application
# page, a front end's, an empty body: a wrong proxy_pass path, a missing
# trailing slash) is a configuration error: ERROR with an error line that
# names the API location, never no_session, and never cached as a DENY.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);
add_block_preprocessor(sub {
    my $block = shift;
    my $config = $block->config // return;
    $config =~ s/\@MEMBERS\@/$YotiIdvTest::Members/g;
    $block->set_value('config', $config);
});

run_tests();

__DATA__

=== TEST 1: proxy_pass without its trailing slash: /idverify/v1sessions/<id>
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1;
        subrequest_output_buffer_size 64k;
    }
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:404
--- error_log eval
qr/\[error\] .*yoti_idv: no verdict for session "verified-alice": provider:404, 404 without the provider's error body: the request did not reach the provider's sessions endpoint; check the URI of "proxy_pass" in the API location \(a missing trailing "\/", a wrong path\) \(API location "\/_yoti_idv\/", "yoti_idv_api \/_yoti_idv"\)/



=== TEST 2: proxy_pass to the application instead of the provider: its 404 page
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/nowhere/;
        subrequest_output_buffer_size 64k;
    }
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:404
--- error_log
404 without the provider's error body
API location "/_yoti_idv/"



=== TEST 3: the provider's own 404 is still a denial
--- more_headers
X-User-Id: alice
X-Session-Id: no-such-session-404
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: no_session
--- no_error_log
[error]



=== TEST 4: with Redis, the wrong path's 404 is not cached as a DENY
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
    yoti_idv_redis    127.0.0.1:$TEST_NGINX_REDIS_PORT;
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1;
        subrequest_output_buffer_size 64k;
    }

    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_require     LIVENESS;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::cmd('FLUSHDB');
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
--- pipelined_requests eval
["GET /members/", "GET /members/"]
--- more_headers
X-User-Id: alice
--- error_code eval
[503, 503]
--- response_headers eval
["X-IDV-Reason: provider:404", "X-IDV-Reason: provider:404"]
--- no_error_log
[alert]



=== TEST 5: ...Redis holds no verdict for alice
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
--- config
    location = /t {
        return 200 "$TEST_NGINX_REDIS_PORT\n";
    }
--- init
my $keys = YotiIdvRedis::cmd('KEYS', 'yoti_idv:verdict:*');
die "verdicts cached: @$keys\n" if @$keys;
--- request
GET /t
--- response_body_like
^\d+$
