# Configuration errors are caught by nginx -t, naming the directive.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

run_tests();

__DATA__

=== TEST 1: a key file that does not exist
--- http_config
    yoti_idv_pem_key  $TEST_NGINX_KEYS/no-such-key.pem;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_pem_key" ".*no-such-key\.pem": cannot open file/



=== TEST 2: a public key instead of the private key
--- http_config
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-public.pem;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_pem_key" ".*test-key-public\.pem": is a public key/



=== TEST 3: an EC key
--- http_config
    yoti_idv_pem_key  $TEST_NGINX_KEYS/ec-key.pem;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_pem_key" ".*ec-key\.pem": is not an RSA key/



=== TEST 4: a passphrase-protected PKCS#8 key
--- http_config
    yoti_idv_pem_key  $TEST_NGINX_KEYS/encrypted-key.pem;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_pem_key" ".*encrypted-key\.pem": is encrypted/



=== TEST 5: a passphrase-protected PKCS#1 key
--- http_config
    yoti_idv_pem_key  $TEST_NGINX_KEYS/encrypted-pkcs1.pem;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_pem_key" ".*encrypted-pkcs1\.pem": is encrypted/



=== TEST 6: a file that is not a key
--- http_config
    yoti_idv_pem_key  $TEST_NGINX_KEYS/garbage.pem;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_pem_key" ".*garbage\.pem": is not a PEM private key/



=== TEST 7: the key is never written to the log
--- http_config
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-public.pem;
--- config
--- must_die
--- error_log
is a public key
--- no_error_log
BEGIN
MII



=== TEST 8: yoti_idv on without an SDK id
--- http_config
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
--- must_die
--- error_log
"yoti_idv" is on but "yoti_idv_sdk_id" is not set



=== TEST 9: yoti_idv on without a key
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_api      /_yoti_idv;
--- must_die
--- error_log
"yoti_idv" is on but "yoti_idv_pem_key" is not set



=== TEST 10: yoti_idv on without the API location
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
--- must_die
--- error_log
"yoti_idv" is on but "yoti_idv_api" is not set



=== TEST 11: yoti_idv on without a user id
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_session_id  $http_x_session_id;
    }
--- must_die
--- error_log
"yoti_idv" is on but "yoti_idv_user_id" is not set



=== TEST 12: yoti_idv on without a session id source
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
    }
--- must_die
--- error_log
"yoti_idv" is on but neither "yoti_idv_session_id" nor "yoti_idv_redis" says where the session id comes from



=== TEST 13: a check type that is not a type
--- config
    location /members/ {
        yoti_idv_require  liveness;
    }
--- must_die
--- error_log
invalid check type "liveness" in "yoti_idv_require"



=== TEST 14: an unknown requirement mode
--- config
    location /members/ {
        yoti_idv_require  LIVENESS most;
    }
--- must_die
--- error_log
invalid mode "most" in "yoti_idv_require": "any" or "all" expected



=== TEST 15: the same check type required twice
--- config
    location /members/ {
        yoti_idv_require  LIVENESS;
        yoti_idv_require  LIVENESS all;
    }
--- must_die
--- error_log
duplicate "yoti_idv_require" for "LIVENESS"



=== TEST 16: a status that is not an error status
--- config
    location /members/ {
        yoti_idv_pending_status  200;
    }
--- must_die
--- error_log
"yoti_idv_pending_status" directive must be between 400 and 599



=== TEST 17: a status that is not a number
--- config
    location /members/ {
        yoti_idv_error_status  unavailable;
    }
--- must_die
--- error_log
"yoti_idv_error_status" directive invalid number



=== TEST 18: an API prefix with variables
--- http_config
    yoti_idv_api  /_yoti_idv/$host;
--- config
--- must_die
--- error_log
"yoti_idv_api" must be the prefix of an internal location, without arguments, variables or spaces



=== TEST 19: an API prefix that is not a URI
--- http_config
    yoti_idv_api  _yoti_idv;
--- config
--- must_die
--- error_log
"yoti_idv_api" must be a URI starting with "/", not "_yoti_idv"



=== TEST 20: the root is not an API prefix
--- http_config
    yoti_idv_api  /;
--- config
--- must_die
--- error_log
"yoti_idv_api" must be the prefix of an internal location, without arguments, variables or spaces, not "/"



=== TEST 21: an empty SDK id
--- http_config
    yoti_idv_sdk_id  "";
--- config
--- must_die
--- error_log
"yoti_idv_sdk_id" must not be empty



=== TEST 22: a duplicate key directive
--- http_config
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs8.pem;
--- config
--- must_die
--- error_log
"yoti_idv_pem_key" directive is duplicate



=== TEST 23: a complete configuration loads and a server level "on" is inherited
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
    yoti_idv_user_id     $http_x_user_id;
    yoti_idv_session_id  $http_x_session_id;
    yoti_idv_require     LIVENESS any;
    yoti_idv_require     FACE_COMPARISON all;
    yoti_idv_require     BRAND_NEW_CHECK_2;
    yoti_idv_pending_status 409;
    yoti_idv_error_status   502;
--- config
    yoti_idv on;

    location /members/ {
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



=== TEST 24: yoti_idv_redis: an unknown parameter (a password is never echoed)
--- http_config
    yoti_idv_redis 127.0.0.1:6379 passwd=hunter2;
--- config
--- must_die
--- error_log
invalid parameter "passwd=" in "yoti_idv_redis"
--- no_error_log
hunter2



=== TEST 25: yoti_idv_redis: a db that is not a number
--- http_config
    yoti_idv_redis 127.0.0.1:6379 db=one;
--- config
--- must_die
--- error_log
invalid parameter "db=" in "yoti_idv_redis"



=== TEST 26: yoti_idv_redis: a zero timeout
--- http_config
    yoti_idv_redis 127.0.0.1:6379 timeout=0;
--- config
--- must_die
--- error_log
invalid parameter "timeout=" in "yoti_idv_redis"



=== TEST 27: yoti_idv_redis: an empty password
--- http_config
    yoti_idv_redis 127.0.0.1:6379 password=;
--- config
--- must_die
--- error_log
invalid parameter "password=" in "yoti_idv_redis"



=== TEST 28: yoti_idv_redis: a bad address
--- http_config
    yoti_idv_redis 127.0.0.1:99999;
--- config
--- must_die
--- error_log
invalid port in "yoti_idv_redis" "127.0.0.1:99999"



=== TEST 29: yoti_idv_redis: a name that does not resolve fails at nginx -t, not in a worker
--- http_config
    yoti_idv_redis no-such-host.invalid:6379;
--- config
--- must_die
--- error_log
in "yoti_idv_redis" "no-such-host.invalid:6379"



=== TEST 30: yoti_idv_redis: a unix socket without a path
--- http_config
    yoti_idv_redis unix:;
--- config
--- must_die
--- error_log
no path in "yoti_idv_redis" "unix:"



=== TEST 31: yoti_idv_redis is for the http level
--- config
    yoti_idv_redis 127.0.0.1:6379;
--- must_die
--- error_log
"yoti_idv_redis" directive is not allowed here



=== TEST 32: yoti_idv_redis twice
--- http_config
    yoti_idv_redis 127.0.0.1:6379;
    yoti_idv_redis 127.0.0.1:6380;
--- config
--- must_die
--- error_log
"yoti_idv_redis" directive is duplicate



=== TEST 33: yoti_idv_cache_valid: an unknown verdict
--- http_config
    yoti_idv_cache_valid ERROR 1m;
--- config
--- must_die
--- error_log
invalid verdict "ERROR" in "yoti_idv_cache_valid": APPROVE, REJECT or PENDING expected



=== TEST 34: yoti_idv_cache_valid: a bad time
--- http_config
    yoti_idv_cache_valid APPROVE soon;
--- config
--- must_die
--- error_log
invalid time "soon" in "yoti_idv_cache_valid"



=== TEST 35: a complete Redis configuration loads, without yoti_idv_session_id
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
    yoti_idv_redis    localhost:1 db=2 password=x connect_timeout=100ms timeout=200ms;
    yoti_idv_redis_prefix app:;
    yoti_idv_cache_valid APPROVE 10m;
    yoti_idv_cache_valid ALLOW 5m;
--- config
--- must_die
--- error_log
"yoti_idv_cache_valid" directive is duplicate



=== TEST 36: ...and without the duplicate it starts
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
    yoti_idv_redis    localhost:1 db=2 password=x connect_timeout=100ms timeout=200ms;
    yoti_idv_redis_prefix app:;
    yoti_idv_cache_valid APPROVE 10m;
    yoti_idv_cache_valid REJECT 1m;
    yoti_idv_cache_valid PENDING 15s;
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:connect
--- error_log
cannot connect to redis at "localhost:1"



=== TEST 37: yoti_idv_cache_zone without a size
--- http_config
    yoti_idv_cache_zone idv;
--- config
--- must_die
--- error_log
invalid zone "idv" in "yoti_idv_cache_zone": name:size expected



=== TEST 38: yoti_idv_cache_zone too small
--- http_config
    yoti_idv_cache_zone idv:4k;
--- config
--- must_die
--- error_log
zone "idv:4k" of "yoti_idv_cache_zone" is too small



=== TEST 39: yoti_idv_cache_zone with a bad size
--- http_config
    yoti_idv_cache_zone idv:lots;
--- config
--- must_die
--- error_log
invalid zone size "idv:lots" in "yoti_idv_cache_zone"



=== TEST 40: yoti_idv_cache_zone with a zero ttl
--- http_config
    yoti_idv_cache_zone idv:1m ttl=0;
--- config
--- must_die
--- error_log
invalid parameter "ttl=0" in "yoti_idv_cache_zone"



=== TEST 41: yoti_idv_cache_zone with an unknown parameter
--- http_config
    yoti_idv_cache_zone idv:1m size=2m;
--- config
--- must_die
--- error_log
invalid parameter "size=2m" in "yoti_idv_cache_zone"



=== TEST 42: yoti_idv_cache_zone twice
--- http_config
    yoti_idv_cache_zone idv:1m;
    yoti_idv_cache_zone idv2:1m;
--- config
--- must_die
--- error_log
"yoti_idv_cache_zone" directive is duplicate



=== TEST 43: yoti_idv_cache_zone is for the http level
--- config
    yoti_idv_cache_zone idv:1m;
--- must_die
--- error_log
"yoti_idv_cache_zone" directive is not allowed here



=== TEST 44: a zone name another module uses
--- http_config
    limit_req_zone $binary_remote_addr zone=idv:1m rate=1r/s;
    yoti_idv_cache_zone idv:1m;
--- config
--- must_die
--- error_log
the shared memory zone "idv" is already declared for a different use



=== TEST 45: a complete zone configuration starts
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
    yoti_idv_cache_zone idv:1m ttl=10s wait=500ms;
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice MISS



=== TEST 46: yoti_idv_redis: a unix socket path longer than a socket takes
--- http_config eval
"    yoti_idv_redis unix:/" . ("x" x 120) . ";\n"
--- config
--- must_die
--- error_log
too long path in "yoti_idv_redis" "unix:/xxxxxxxx
