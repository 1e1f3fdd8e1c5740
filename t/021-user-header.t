# yoti_idv_user_id $http_<name> is read by comparing the request's header
# names (ngx_http_yoti_idv_user_header() in the handler), not through the
# complex value: it must read what the variable would, in every case.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $arg_s;
        yoti_idv_require     LIVENESS;

        add_header X-IDV-Reason $yoti_idv_reason always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_reason";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $Members) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

run_tests();

__DATA__

=== TEST 1: the header, in any case
--- request
GET /members/?s=verified-alice
--- more_headers
x-USER-id: alice
--- response_body
app: ALLOW verified-alice ok
--- no_error_log
[error]



=== TEST 2: no such header: no user
--- request
GET /members/?s=verified-alice
--- more_headers
X-User: alice
X-User-Ids: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: no_user
--- no_error_log
[error]



=== TEST 3: the header twice: what the variable says (nginx 1.22: the first, bob; from 1.23: "bob, alice"), never the last alone
--- request
GET /members/?s=verified-alice
--- more_headers
X-User-Id: bob
X-User-Id: alice
--- error_code: 403
--- response_headers_like
X-IDV-Reason: ^(?!ok$).+
--- no_error_log
[error]



=== TEST 4: with underscores_in_headers, X_User_Id is the variable's header too
--- http_config eval
$YotiIdvTest::HttpConfig . "    underscores_in_headers on;\n"
--- request
GET /members/?s=verified-alice
--- more_headers
X_User_Id: alice
--- response_body
app: ALLOW verified-alice ok
--- no_error_log
[error]



=== TEST 5: a variable the configuration sets itself under that name is what counts
--- config
    location /members/ {
        set $http_x_user_id alice;

        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $arg_s;
        yoti_idv_require     LIVENESS;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_reason";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request
GET /members/?s=verified-alice
--- more_headers
X-User-Id: bob
--- response_body
app: ALLOW verified-alice ok
--- no_error_log
[error]



=== TEST 6: another form of the value still goes through the variable: "${http_x_user_id}"
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     "${http_x_user_id}";
        yoti_idv_session_id  $arg_s;
        yoti_idv_require     LIVENESS;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_reason";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request
GET /members/?s=verified-alice
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice ok
--- no_error_log
[error]
