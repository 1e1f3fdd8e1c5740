# Every way the provider can fail gives ERROR with yoti_idv_error_status and
# a log line that says what to fix; the provider's own 404 is a denial.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

# the internal location with the proxy module's defaults: HTTP/1.0,
# "Connection: close"
our $Api10 = <<'_EOC_';
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_read_timeout 2s;
        subrequest_output_buffer_size 64k;
    }
_EOC_

# answers of up to 1 MB, the session id from ?sid=
our $Large = <<'_EOC_';
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        subrequest_output_buffer_size 1m;
    }

    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $arg_sid;
        yoti_idv_require LIVENESS;
        yoti_idv_require FACE_COMPARISON;
        add_header X-IDV-Verdict $yoti_idv_verdict always;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

run_tests();

__DATA__

=== TEST 1: an unknown session (404) is a denial, not an error
--- more_headers
X-User-Id: alice
X-Session-Id: no-such-session
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: no_session
--- error_log
yoti_idv: session "no-such-session" denied: no_session
--- no_error_log
[error]



=== TEST 2: a key the provider does not know (401)
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/other-key.pem;
    yoti_idv_api      /_yoti_idv;
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:401
--- error_log
yoti_idv: no verdict for session "verified-alice": provider:401
yoti_idv_sdk_id
yoti_idv_pem_key



=== TEST 3: a wrong SDK id (401)
--- http_config
    yoti_idv_sdk_id   another-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:401
--- error_log
provider:401



=== TEST 4: the module never logs the digest
nginx's own proxy module writes every proxied header at the debug level;
below it, nothing of the signature appears.
--- log_level: info
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/other-key.pem;
    yoti_idv_api      /_yoti_idv;
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- error_log
provider:401
--- no_error_log eval
[qr/x-yoti-auth-digest:/i, qr/[A-Za-z0-9+\/]{300}/]



=== TEST 5: provider 500
--- more_headers
X-User-Id: alice
X-Session-Id: status-500-x
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:500
--- error_log
yoti_idv: no verdict for session "status-500-x": provider:500



=== TEST 6: provider 503
--- more_headers
X-User-Id: alice
X-Session-Id: status-503-x
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:503
--- error_log
provider:503



=== TEST 7: provider 429
--- more_headers
X-User-Id: alice
X-Session-Id: status-429-x
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:429
--- error_log
provider:429



=== TEST 8: provider 400
--- more_headers
X-User-Id: alice
X-Session-Id: status-400-x
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:400
--- error_log
provider:400



=== TEST 9: the provider does not answer in time
--- more_headers
X-User-Id: alice
X-Session-Id: slow-4000-verified-alice
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:timeout
--- error_log
upstream timed out
yoti_idv: no verdict for session "slow-4000-verified-alice": provider:timeout
--- timeout: 10



=== TEST 10: a slow answer within the timeout is fine
--- more_headers
X-User-Id: alice
X-Session-Id: slow-500-verified-alice
--- response_body
app: ALLOW slow-500-verified-alice



=== TEST 11: the provider cannot be reached
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:1/idverify/v1/;
    }

    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:502
--- error_log
connect() failed
provider:502



=== TEST 12: the provider closes the connection without an answer
--- more_headers
X-User-Id: alice
X-Session-Id: close-x
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
--- error_log
yoti_idv: no verdict for session "close-x"



=== TEST 13: an empty body
--- more_headers
X-User-Id: alice
X-Session-Id: empty-x
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:empty
--- error_log
provider:empty



=== TEST 14: a body that is not JSON
--- more_headers
X-User-Id: alice
X-Session-Id: garbage-x
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:bad_json
--- error_log
provider:bad_json



=== TEST 15: a truncated JSON document
--- more_headers
X-User-Id: alice
X-Session-Id: truncated-x
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:bad_json
--- error_log
provider:bad_json



=== TEST 16: a transfer broken in the middle of the body
--- more_headers
X-User-Id: alice
X-Session-Id: cut-x
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:truncated
--- error_log
upstream prematurely closed connection
provider:truncated



=== TEST 17: a response larger than the subrequest buffer names the directive
--- more_headers
X-User-Id: alice
X-Session-Id: huge-x
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:too_big
--- error_log
subrequest_output_buffer_size
provider:too_big



=== TEST 18: ...and passes once the buffer is raised
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        subrequest_output_buffer_size 2m;
    }

    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        add_header X-IDV-Verdict $yoti_idv_verdict always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: huge-x
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW



=== TEST 19: the default subrequest buffer (one page) is too small for a real result
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
    }

    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: face-check-ffs-reject
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:too_big
--- error_log
subrequest_output_buffer_size



=== TEST 20: an error page larger than the buffer still gives the status
--- more_headers
X-User-Id: alice
X-Session-Id: bigerror-500-x
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:500
--- error_log
provider:500



=== TEST 21: ...and an error for a large 404 page: nothing shows it is the provider's
--- more_headers
X-User-Id: alice
X-Session-Id: bigerror-404-x
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:404
--- error_log
too big subrequest response
provider:404, 404 without the provider's error body



=== TEST 22: checks that are not an array
--- more_headers
X-User-Id: alice
X-Session-Id: bad-type-checks
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:bad_type
--- error_log
provider:bad_type



=== TEST 23: a state that is not a string
--- more_headers
X-User-Id: alice
X-Session-Id: bad-type-state
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:bad_type
--- error_log
provider:bad_type



=== TEST 24: a check that is not an object
--- more_headers
X-User-Id: alice
X-Session-Id: bad-type-check-item
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:bad_type
--- error_log
provider:bad_type



=== TEST 25: a document that is not an object
--- more_headers
X-User-Id: alice
X-Session-Id: not-an-object
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:bad_type
--- error_log
provider:bad_type



=== TEST 26: a user_tracking_id that is not a string is never a match
--- more_headers
X-User-Id: 42
X-Session-Id: bad-type-user-tracking
--- error_code: 403
--- response_headers
X-IDV-Reason: user_mismatch



=== TEST 27: a result for another session than the one asked for
--- more_headers
X-User-Id: alice
X-Session-Id: session-id-mismatch
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:session_mismatch
--- error_log
provider:session_mismatch



=== TEST 28: yoti_idv_error_status
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_error_status 500;
        add_header X-IDV-Verdict $yoti_idv_verdict always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: status-502-x
--- error_code: 500
--- response_headers
X-IDV-Verdict: ERROR
--- error_log
provider:502



=== TEST 29: error_page can send an error to a friendly page with the reason
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        error_page 503 = @unavailable;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location @unavailable {
        return 503 "try again later ($yoti_idv_reason)\n";
    }
--- more_headers
X-User-Id: alice
X-Session-Id: status-500-x
--- error_code: 503
--- response_body
try again later (provider:500)
--- error_log
provider:500



=== TEST 30: a body over the buffer without Content-Length, closed at its end, proxy HTTP/1.1: provider:too_big
--- more_headers
X-User-Id: alice
X-Session-Id: eof-huge-x
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:too_big
--- error_log
subrequest_output_buffer_size
yoti_idv: no verdict for session "eof-huge-x": provider:too_big
--- no_error_log
[alert]
[crit]



=== TEST 31: ...a small one is read to its end and evaluated (HTTP/1.1)
--- more_headers
X-User-Id: alice
X-Session-Id: eof-verified-alice
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Reason: ok
--- response_body
app: ALLOW eof-verified-alice



=== TEST 32: a large 502 page without Content-Length (HTTP/1.1): provider:502
--- more_headers
X-User-Id: alice
X-Session-Id: eof-bigerror-502-x
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:502
--- error_log
yoti_idv: no verdict for session "eof-bigerror-502-x": provider:502
--- no_error_log
[alert]
[crit]



=== TEST 33: a body over the buffer without Content-Length, closed at its end, proxy HTTP/1.0 (the default): provider:too_big
--- config eval
$::Api10 . $YotiIdvTest::Members
--- more_headers
X-User-Id: alice
X-Session-Id: eof-huge-x
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:too_big
--- error_log
subrequest_output_buffer_size
yoti_idv: no verdict for session "eof-huge-x": provider:too_big
--- no_error_log
[alert]
[crit]



=== TEST 34: ...a small one is read to its end and evaluated (HTTP/1.0 (the default))
--- config eval
$::Api10 . $YotiIdvTest::Members
--- more_headers
X-User-Id: alice
X-Session-Id: eof-verified-alice
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Reason: ok
--- response_body
app: ALLOW eof-verified-alice



=== TEST 35: a large 502 page without Content-Length (HTTP/1.0 (the default)): provider:502
--- config eval
$::Api10 . $YotiIdvTest::Members
--- more_headers
X-User-Id: alice
X-Session-Id: eof-bigerror-502-x
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:502
--- error_log
yoti_idv: no verdict for session "eof-bigerror-502-x": provider:502
--- no_error_log
[alert]
[crit]



=== TEST 36: the same body over the buffer, chunked: provider:too_big
--- more_headers
X-User-Id: alice
X-Session-Id: chunked-huge-x
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:too_big
--- error_log
subrequest_output_buffer_size
provider:too_big



=== TEST 37: a complete chunked answer is evaluated
--- more_headers
X-User-Id: alice
X-Session-Id: chunked-verified-alice
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Reason: ok
--- response_body
app: ALLOW chunked-verified-alice



=== TEST 38: a chunked answer cut before its last chunk is never evaluated: provider:truncated
--- more_headers
X-User-Id: alice
X-Session-Id: chunkcut-verified-alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:truncated
--- error_log
upstream prematurely closed connection
yoti_idv: no verdict for session "chunkcut-verified-alice": provider:truncated



=== TEST 39: ...nor with proxy HTTP/1.0
--- config eval
$::Api10 . $YotiIdvTest::Members
--- more_headers
X-User-Id: alice
X-Session-Id: chunkcut-verified-alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:truncated
--- error_log
provider:truncated



=== TEST 40: a result without session_id is not the session asked for: provider:session_mismatch
--- more_headers
X-User-Id: alice
X-Session-Id: nosid-verified-alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:session_mismatch
--- error_log
yoti_idv: no verdict for session "nosid-verified-alice": provider:session_mismatch



=== TEST 41: answers of many nodes (500 KB, 300 KB) and a small one, one worker: each parsed right, the parser's memory reused
--- config eval
$::Large
--- more_headers
X-User-Id: alice
--- request eval
["GET /members/?sid=large-500-verified-alice",
 "GET /members/?sid=verified-alice",
 "GET /members/?sid=large-300-verified-alice",
 "GET /members/?sid=large-500-face-comparison-consider",
 "GET /members/?sid=large-500-verified-alice"]
--- error_code eval
[200, 200, 200, 403, 200]
--- response_body eval
["app: ALLOW large-500-verified-alice\n",
 "app: ALLOW verified-alice\n",
 "app: ALLOW large-300-verified-alice\n",
 qr/./,
 "app: ALLOW large-500-verified-alice\n"]
--- no_error_log
[error]
[alert]



=== TEST 42: the same with cJSON's malloc() per node (YOTI_IDV_JSON_ARENA=off)
--- main_config
env YOTI_IDV_JSON_ARENA=off;
--- config eval
$::Large
--- more_headers
X-User-Id: alice
--- request eval
["GET /members/?sid=large-500-verified-alice",
 "GET /members/?sid=large-500-face-comparison-consider"]
--- error_code eval
[200, 403]
--- response_body eval
["app: ALLOW large-500-verified-alice\n", qr/./]
--- no_error_log
[error]
[alert]
