# The module is inert where it is not turned on, even when it is loaded
# and configured at the http level.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

run_tests();

__DATA__

=== TEST 1: loaded, not configured
--- http_config
--- config
    location /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request
GET /t
--- response_body_like eval
qr/^app:  \n\z/
--- no_error_log
yoti_idv handler
yoti_idv fetch
yoti_idv:
[error]



=== TEST 2: configured at the http level, not turned on
--- config
    location /t {
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
["GET /__mock/reset", "GET /t", "GET /__mock/count"]
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-all-reject
--- response_body_like eval
[qr/.*/s, qr/^app:  \n\z/, qr/^0\n\z/]
--- no_error_log
yoti_idv handler
yoti_idv fetch
yoti_idv:
[error]



=== TEST 3: turned off below a level where it is on
--- config
    yoti_idv on;
    yoti_idv_user_id $http_x_user_id;
    yoti_idv_session_id $http_x_session_id;

    location /t {
        yoti_idv off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request
GET /t
--- response_body_like eval
qr/^app:  \n\z/
