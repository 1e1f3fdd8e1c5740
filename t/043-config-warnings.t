# nginx -t warns, and does not fail, about what denies every user without
# being an error: a required check type the module has never heard of (a
# typo, or a type newer than the module), naming the types it knows; and a
# private key file that other users can read.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

use File::Copy qw(copy);
use File::Temp qw(tempdir);

# the test key as a careless install leaves it: mode 0644, and 0640
my $dir = tempdir(CLEANUP => 1);
for my $mode (0644, 0640, 0600) {
    my $f = sprintf "%s/key-%04o.pem", $dir, $mode;
    copy("$ENV{TEST_NGINX_KEYS}/test-key-pkcs1.pem", $f) or die "$f: $!";
    chmod $mode, $f;
}
$ENV{TEST_NGINX_T043_KEYS} = $dir;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

run_tests();

__DATA__

=== TEST 1: a misspelled check type: a warning naming the known types, nginx starts
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENES;
        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
--- error_log eval
qr/\[warn\] .*"yoti_idv_require" "LIVENES": unknown check type, required as given \(a session without such a check is denied\); the known types are LIVENESS, FACE_COMPARISON, ID_DOCUMENT_AUTHENTICITY, .*ID_DOCUMENT_FACE_MATCH, .*IDENTITY_PROFILE in .*nginx\.conf:\d+/
--- no_error_log
[error]
[emerg]



=== TEST 2: FACE_COMPARSION too
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        yoti_idv_require     FACE_COMPARSION;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 403
--- error_log
"yoti_idv_require" "FACE_COMPARSION": unknown check type
--- no_error_log
"LIVENESS": unknown check type
[error]



=== TEST 3: a new type the module does not know yet is still accepted and required
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     BRAND_NEW_CHECK;
        add_header X-IDV-Verdict $yoti_idv_verdict always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: unknown-check-type
--- response_headers
X-IDV-Verdict: ALLOW
--- error_log
"yoti_idv_require" "BRAND_NEW_CHECK": unknown check type
--- no_error_log
[error]



=== TEST 4: every known type: no warning
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        yoti_idv_require     FACE_COMPARISON;
        yoti_idv_require     ID_DOCUMENT_AUTHENTICITY;
        yoti_idv_require     ID_DOCUMENT_FACE_MATCH;
        yoti_idv_require     ID_DOCUMENT_TEXT_DATA_CHECK;
        yoti_idv_require     WATCHLIST_SCREENING;
        yoti_idv_require     IDENTITY_PROFILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 403
--- no_error_log
[warn]
[error]



=== TEST 5: a key file every user can read: a warning with the mode and the fix
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_T043_KEYS/key-0644.pem;
    yoti_idv_api      /_yoti_idv;
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_log eval
qr/\[warn\] .*"yoti_idv_pem_key" ".*\/key-0644\.pem" can be read by other users \(mode 0644\): install it with "install -m 0600 -o root" in .*nginx\.conf:\d+/
--- no_error_log
[error]



=== TEST 6: ...readable by its group
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_T043_KEYS/key-0640.pem;
    yoti_idv_api      /_yoti_idv;
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_log
can be read by other users (mode 0640)
--- no_error_log
[error]



=== TEST 7: mode 0600: no warning, and the gate works
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_T043_KEYS/key-0600.pem;
    yoti_idv_api      /_yoti_idv;
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice
--- no_error_log
[warn]
[error]
