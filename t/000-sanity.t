# The four outcomes of the gate, the variables, and the request the module
# makes (signed, fresh nonce, nothing of the client's).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

run_tests();

__DATA__

=== TEST 1: a verified user reaches the app
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Reason: ok



=== TEST 2: a failed check is denied with 403 and a reason
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-all-reject
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: check:LIVENESS:REJECT
--- error_log
yoti_idv: session "liveness-all-reject" denied: check:LIVENESS:REJECT
--- no_error_log
[error]



=== TEST 3: a session still ONGOING is pending (403 by default)
--- more_headers
X-User-Id: alice
X-Session-Id: ongoing-alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: PENDING
X-IDV-Reason: state:ONGOING
--- error_log
yoti_idv: session "ongoing-alice" is pending: state:ONGOING
--- no_error_log
[error]



=== TEST 4: another user's verified session is denied
--- more_headers
X-User-Id: alice
X-Session-Id: verified-bob
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: user_mismatch



=== TEST 5: the session's owner passes with the same session
--- more_headers
X-User-Id: bob
X-Session-Id: verified-bob
--- response_body
app: ALLOW verified-bob



=== TEST 6: yoti_idv_bind_user off lets any user present the session
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        yoti_idv_bind_user   off;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: verified-bob
--- response_body
app: ALLOW verified-bob



=== TEST 7: the seed's face check result: FAMILIAR_FACE_SEARCH REJECT is a denial
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        yoti_idv_require     FAMILIAR_FACE_SEARCH;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: face-check-ffs-reject
--- error_code: 403
--- response_headers
X-IDV-Reason: check:FAMILIAR_FACE_SEARCH:REJECT



=== TEST 8: the same result passes a policy that only requires LIVENESS
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: face-check-ffs-reject
--- response_body
app: ALLOW face-check-ffs-reject



=== TEST 9: nothing the client sends reaches the provider
The mock answers 400 to any header outside the signed request's own, so an
ALLOW proves none of the client's headers or body was forwarded.
--- request
POST /members/
hello=secret-body
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
Cookie: session=secret-cookie
Authorization: Bearer secret-token
X-Forwarded-For: 10.1.2.3
User-Agent: client-agent
--- response_body
app: ALLOW verified-alice



=== TEST 10: the provider saw only the signed request's headers
--- request eval
["GET /members/", "GET /__mock/last-headers/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
Cookie: session=secret-cookie
Authorization: Bearer secret-token
--- response_body eval
["app: ALLOW verified-alice\n",
"accept\nhost\nx-yoti-auth-digest\nx-yoti-sdk\nx-yoti-sdk-version\n"]



=== TEST 11: every fetch is signed with a fresh nonce (the mock refuses reuse)
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /members/",
 "GET /__mock/count/verified-alice", "GET /__mock/rejections"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body_like eval
[qr/.*/s, qr/^app: ALLOW verified-alice\n\z/, qr/^app: ALLOW verified-alice\n\z/,
 qr/^app: ALLOW verified-alice\n\z/, qr/^3\n\z/, qr/^\z/]




=== TEST 12: the PKCS#8 form of the key signs the same way
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs8.pem;
    yoti_idv_api      /_yoti_idv/;
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice



=== TEST 13: the variables are empty where the gate did not run
--- config
    location = /t {
        return 200 "[$yoti_idv_verdict][$yoti_idv_reason][$yoti_idv_session_id]\n";
    }
--- request
GET /t
--- response_body
[][][]
