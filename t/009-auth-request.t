# auth_request to a gated location: the gate decides for the subrequest
# (nginx runs no access phase for subrequests, so the gate must run before
# the location's `return`), and only ALLOW gives a 2xx.  auth_request turns
# any status of the subrequest other than 2xx, 401 and 403 into 500.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();

our $Config = <<'_EOC_';
    location = /_idv {
        internal;
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        return 204;
    }

    location /app/ {
        auth_request      /_idv;
        auth_request_set  $idv_verdict $yoti_idv_verdict;
        auth_request_set  $idv_reason $yoti_idv_reason;

        add_header X-IDV-Verdict $idv_verdict always;
        add_header X-IDV-Reason $idv_reason always;

        proxy_set_header X-IDV-Verdict $idv_verdict;
        proxy_set_header X-IDV-Session $idv_reason;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $Config) unless defined $block->config;
    $block->set_value('request', "GET /app/\n") unless defined $block->request;

    YotiIdvTest::defaults($block);
});

run_tests();

__DATA__

=== TEST 1: a verified session: the application answers, with the verdict of the subrequest
--- request eval
["GET /__mock/reset", "GET /app/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW ok\n", "1\n"]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: a rejected session: 403, never the application
--- request eval
["GET /__mock/reset", "GET /app/", "GET /__mock/count/liveness-all-reject"]
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-all-reject
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/^ok\n\z/, qr/403 Forbidden/, qr/^1\n\z/]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: ...and the reason reaches the main request (auth_request_set)
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-all-reject
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: check:LIVENESS:REJECT
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: another user's session: 403 user_mismatch
--- more_headers
X-User-Id: alice
X-Session-Id: verified-bob
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: user_mismatch
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: a pending session: 403 (yoti_idv_pending_status)
--- more_headers
X-User-Id: alice
X-Session-Id: ongoing-alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: PENDING
X-IDV-Reason: state:ONGOING
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: the provider fails: auth_request makes the gate's 503 a 500
--- more_headers
X-User-Id: alice
X-Session-Id: status-500-x
--- error_code: 500
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:500
--- error_log
yoti_idv: no verdict for session "status-500-x": provider:500
auth request unexpected status: 503
--- no_error_log
[alert]
[crit]



=== TEST 7: no user: 403 no_user, and the provider is not asked
--- request eval
["GET /__mock/reset", "GET /app/", "GET /__mock/count"]
--- more_headers
X-Session-Id: verified-alice
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/^ok\n\z/, qr/403 Forbidden/, qr/^0\n\z/]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 8: ...its reason
--- more_headers
X-Session-Id: verified-alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: no_user
--- no_error_log
[error]
[alert]
[crit]



=== TEST 9: no session: 403 no_session
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: no_session
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: the gated location alone, as a subrequest of another module: never a silent 204
--- config
    location = /_idv {
        internal;
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        return 204;
    }

    location = /check {
        auth_request /_idv;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request
GET /check
--- more_headers
X-User-Id: alice
X-Session-Id: status-500-x
--- error_code: 500
--- error_log
auth request unexpected status: 503
--- no_error_log
[alert]
[crit]
