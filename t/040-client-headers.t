# Nothing of the client's reaches the provider, whatever the server or http
# level says: Debian's "include proxy_params;" at server level is inherited
# by an API location without a "proxy_set_header" of its own and sends the
# client's address (X-Real-IP, X-Forwarded-For); the request then fails
# closed with an error line that says what to fix, and its answer is not
# used.  With a "proxy_set_header" of its own, the API location inherits
# none of it.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

# /etc/nginx/proxy_params of Debian 12
our $ProxyParams = <<'_EOC_';
    proxy_set_header Host $host;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
_EOC_

# an API location that inherits whatever the server level sets
our $BareApi = <<'_EOC_';
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_read_timeout 2s;
        subrequest_output_buffer_size 64k;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    my $config = $block->config // return;
    $config =~ s/\@PROXY_PARAMS\@/$ProxyParams/g;
    $config =~ s/\@BARE_API\@/$BareApi/g;
    $config =~ s/\@MEMBERS\@/$YotiIdvTest::Members/g;
    $block->set_value('config', $config);
});

run_tests();

__DATA__

=== TEST 1: proxy_params at server level, an API location without proxy_set_header
--- config
@PROXY_PARAMS@
@BARE_API@
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
X-Forwarded-For: 203.0.113.7
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:failed
--- error_log eval
[
qr/\[error\] .*yoti_idv: the request to the provider through location "\/_yoti_idv\/" carried "X-Real-IP", which the module did not set: the location inherits "proxy_set_header" from the server or http level \("include proxy_params"\?\); give it a "proxy_set_header" of its own \("proxy_set_header Connection "";"\) so that nothing of the client's is sent; its answer is not used/,
qr/\[error\] .*yoti_idv: no verdict for session "verified-alice": provider:failed/,
]



=== TEST 2: the same at http level
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;

    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
--- config
@BARE_API@
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
--- error_log eval
qr/\[error\] .*yoti_idv: the request to the provider through location "\/_yoti_idv\/" carried "X-Forwarded-For", which the module did not set/



=== TEST 3: ...and nothing of it is cached: the next request asks again, fails again
--- config
@PROXY_PARAMS@
@BARE_API@
@MEMBERS@
--- pipelined_requests eval
["GET /members/", "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: 7938ac1e-0a4a-49b7-953f-08cfa764358f
--- error_code eval
[503, 503]
--- response_headers eval
["X-IDV-Verdict: ERROR", "X-IDV-Verdict: ERROR"]
--- no_error_log
[alert]



=== TEST 4: ...the provider was asked twice
--- request
GET /__mock/count/7938ac1e-0a4a-49b7-953f-08cfa764358f
--- response_body
2



=== TEST 5: proxy_params at server level, an API location with a proxy_set_header of its own
--- config
@PROXY_PARAMS@
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        subrequest_output_buffer_size 64k;
    }
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
X-Forwarded-For: 203.0.113.7
X-Real-IP: 203.0.113.7
Cookie: session=secret
--- response_headers
X-IDV-Verdict: ALLOW
--- response_body
app: ALLOW verified-alice
--- no_error_log
[error]
[warn]



=== TEST 6: ...and the provider saw only the module's headers
--- config
@PROXY_PARAMS@
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        subrequest_output_buffer_size 64k;
    }
@MEMBERS@
--- request
GET /__mock/last-headers/verified-alice
--- response_body
accept
host
x-yoti-auth-digest
x-yoti-sdk
x-yoti-sdk-version
