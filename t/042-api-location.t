# The signed request goes only to an internal location that proxies: a
# misspelled "yoti_idv_api" that falls into the application's "location /",
# an API location without "internal" or without "proxy_pass" are refused
# at nginx -t; a "rewrite" out of the API location is stopped in the
# location it leads to, before anything is sent.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

use File::Temp qw(tempdir);

# credentials for the aws_rekognition block (never used: nginx -t fails)
my $aws = tempdir(CLEANUP => 1);
open my $fh, '>', "$aws/credentials" or die "$aws/credentials: $!";
print {$fh} "[gate]\naws_access_key_id = AKIDTEST\naws_secret_access_key = x\n";
close $fh;
$ENV{TEST_NGINX_T042_AWS} = $aws;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

run_tests();

__DATA__

=== TEST 1: a misspelled yoti_idv_api falls into the server's location /
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idvv;
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_api \/_yoti_idvv" of location "\/members\/": the signed request "\/_yoti_idvv\/sessions\/[0-9a-f-]+" goes to location "\/" of server "localhost", which is not "internal": the application or any client would get it; the API location must be "location \/_yoti_idvv\/ \{ internal; proxy_pass \.\.\.; \}"/



=== TEST 2: no location takes it at all (another server, without location /)
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idvv;

    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        server_name other;

        location /members/ {
            yoti_idv             on;
            yoti_idv_user_id     $http_x_user_id;
            yoti_idv_session_id  $http_x_session_id;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
        }
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_api \/_yoti_idvv" of location "\/members\/": no location of server "other" takes the signed request "\/_yoti_idvv\/sessions\//



=== TEST 3: the API location without "internal"
--- config
    location /_yoti_idv/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
    }
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_api \/_yoti_idv" of location "\/members\/": the signed request "\/_yoti_idv\/sessions\/[^"]+" goes to location "\/_yoti_idv\/" of server "localhost", which is not "internal"/



=== TEST 4: the API location without proxy_pass
--- config
    location /_yoti_idv/ {
        internal;
        root html;
    }
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_api \/_yoti_idv" of location "\/members\/": the signed request "\/_yoti_idv\/sessions\/[^"]+" goes to location "\/_yoti_idv\/" of server "localhost", which does not proxy: add "proxy_pass" to the provider's API to it/



=== TEST 5: a regex location takes the signed request before the API location
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
    }

    location ~ /sessions/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*the signed request "\/_yoti_idv\/sessions\/[^"]+" goes to location "\/sessions\/" of server "localhost", which is not "internal"/



=== TEST 6: ^~ keeps it in the API location, nested locations are looked up
--- config
    location ^~ /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";

        location /_yoti_idv/sessions/ {
            internal;
            proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/sessions/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            subrequest_output_buffer_size 64k;
        }
    }

    location ~ /sessions/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }

    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        yoti_idv_require     FACE_COMPARISON;
        add_header X-IDV-Verdict $yoti_idv_verdict always;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_headers
X-IDV-Verdict: ALLOW
--- response_body
app: ALLOW 
--- no_error_log
[error]
[emerg]



=== TEST 7: a nested location that does not proxy
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;

        location /_yoti_idv/sessions/ {
            return 403;
        }
    }

    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*goes to location "\/_yoti_idv\/sessions\/" of server "localhost", which does not proxy/



=== TEST 8: a rewrite out of the API location: stopped before it reaches the location it leads to
--- config
    location /_yoti_idv/ {
        internal;
        rewrite ^/_yoti_idv/(.*)$ /public/$1 last;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
    }

    location /public/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        subrequest_output_buffer_size 64k;
    }

    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: 3f1d2c4b-5a69-4788-9a0b-1c2d3e4f5a6b
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:failed
--- error_log eval
qr/\[error\] .*yoti_idv: the signed request "\/public\/sessions\/3f1d2c4b-5a69-4788-9a0b-1c2d3e4f5a6b" entered location "\/public\/", which is not "internal": a "rewrite", "error_page" or "try_files" of the API location leads out of it; it was stopped there, nothing was sent/



=== TEST 8b: ...nothing reached the location it led to
--- request
GET /__mock/count/3f1d2c4b-5a69-4788-9a0b-1c2d3e4f5a6b
--- response_body
0



=== TEST 9: the AWS provider's API location is checked too
--- http_config
--- config
    location /_rekognition/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/;
    }

    location /members/ {
        yoti_idv                  on;
        yoti_idv_provider         aws_rekognition;
        yoti_idv_api              /_rekognition;
        yoti_idv_aws_region       eu-west-1;
        yoti_idv_aws_credentials  $TEST_NGINX_T042_AWS/credentials profile=gate;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_session_id       $http_x_session_id;
        yoti_idv_bind_user        off;
        yoti_idv_require          LIVENESS min_confidence=90;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_api \/_rekognition" of location "\/members\/": the signed request "\/_rekognition\/" goes to location "\/_rekognition\/" of server "localhost", which is not "internal"/
