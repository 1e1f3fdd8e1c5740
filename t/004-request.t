# What the request brings: user and session ids, bad ids that are never
# sent anywhere, and one fetch per request across redirects.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

run_tests();

__DATA__

=== TEST 1: no user id is a denial
--- more_headers
X-Session-Id: verified-alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: no_user



=== TEST 2: no session id is a denial
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: no_session



=== TEST 3: a session id with a slash is refused and never sent
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/count"]
--- more_headers
X-User-Id: alice
X-Session-Id: ../sessions/verified-alice
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/.*/s, qr/403 Forbidden/, qr/^0\n\z/]



=== TEST 4: a session id with an encoded query is refused
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice%3FsdkId=x
--- error_code: 403
--- response_headers
X-IDV-Reason: bad_session_id



=== TEST 5: a session id with a space is refused
--- more_headers
X-User-Id: alice
X-Session-Id: verified alice
--- error_code: 403
--- response_headers
X-IDV-Reason: bad_session_id



=== TEST 6: a session id of 65 characters is refused
--- more_headers
X-User-Id: alice
X-Session-Id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
--- error_code: 403
--- response_headers
X-IDV-Reason: bad_session_id



=== TEST 7: a session id of 64 characters is asked for (unknown: 404)
--- more_headers
X-User-Id: alice
X-Session-Id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
--- error_code: 403
--- response_headers
X-IDV-Reason: no_session



=== TEST 8: a session id from a cookie
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $cookie_idv_session;
        yoti_idv_require LIVENESS;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
Cookie: theme=dark; idv_session=verified-alice
--- response_body
app: ALLOW verified-alice



=== TEST 9: the user id from $remote_user (basic auth user)
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $remote_user;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
Authorization: Basic Ym9iOnNlY3JldA==
X-Session-Id: verified-bob
--- response_body
app: ALLOW verified-bob



=== TEST 10: a user id built from several variables
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id "$http_x_tenant$http_x_user_id";
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-Tenant: acme-
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 403
--- response_headers
X-IDV-Reason: user_mismatch



=== TEST 11: error_page to another gated location does not fetch again
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        yoti_idv_require FACE_COMPARISON;
        error_page 403 = /lax/;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /lax/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        proxy_set_header X-IDV-Verdict "$yoti_idv_verdict lax";
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/count/face-comparison-reject"]
--- more_headers
X-User-Id: alice
X-Session-Id: face-comparison-reject
--- response_body_like eval
[qr/.*/s, qr/^app: ALLOW lax face-comparison-reject\n\z/, qr/^1\n\z/]



=== TEST 12: an internal redirect (try_files to a named location) does not fetch again
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        try_files /nonexistent @app;
    }

    location @app {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        rewrite ^ /app break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body_like eval
[qr/.*/s, qr/^app: ALLOW verified-alice\n\z/, qr/^1\n\z/]



=== TEST 13: two requests are two fetches (no cache configured)
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body_like eval
[qr/.*/s, qr/^app: ALLOW/, qr/^app: ALLOW/, qr/^2\n\z/]



=== TEST 14: satisfy any: an access module that allows first spares the provider
--- config
    location /members/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
--- response_body_like eval
qr/^app:  \n\z/



=== TEST 15: the gate runs after allow/deny: a denied client costs no provider call
--- config
    location /members/ {
        deny all;
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/count"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/.*/s, qr/403 Forbidden/, qr/^0\n\z/]
--- no_error_log
[alert]
yoti_idv:



=== TEST 16: a denial without a user does not log the unchecked session id
--- log_level: info
--- more_headers
X-Session-Id: ../evil id
--- error_code: 403
--- error_log
yoti_idv: request denied: no_user
--- no_error_log
evil
[error]
