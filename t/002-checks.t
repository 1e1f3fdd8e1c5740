# Check requirements against every session fixture: any/all, the kinds of
# recommendation, the session state, IDENTITY_PROFILE, unknown types.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();

# one location per policy; the block picks it with its request line
our $Policies = <<'_EOC_';
    yoti_idv_user_id     $http_x_user_id;
    yoti_idv_session_id  $http_x_session_id;
    add_header X-IDV-Verdict $yoti_idv_verdict always;
    add_header X-IDV-Reason $yoti_idv_reason always;
    proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
    proxy_set_header X-IDV-Session $yoti_idv_session_id;

    location /members/ {
        yoti_idv on;
        yoti_idv_require LIVENESS;
        yoti_idv_require FACE_COMPARISON;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /any-face/ {
        yoti_idv on;
        yoti_idv_require FACE_COMPARISON any;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /all-liveness/ {
        yoti_idv on;
        yoti_idv_require LIVENESS all;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /documents/ {
        yoti_idv on;
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY;
        yoti_idv_require FAMILIAR_FACE_SEARCH;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /profile/ {
        yoti_idv on;
        yoti_idv_require IDENTITY_PROFILE;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /new-type/ {
        yoti_idv on;
        yoti_idv_require BRAND_NEW_CHECK;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /completed/ {
        yoti_idv on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /unbound/ {
        yoti_idv on;
        yoti_idv_bind_user off;
        yoti_idv_require LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value('config', $Policies);
    }

    YotiIdvTest::defaults($block);
});

run_tests();

__DATA__

=== TEST 1: LIVENESS retries: one APPROVE among REJECTs is enough (any)
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice



=== TEST 2: LIVENESS all: the rejected first attempt denies
--- request
GET /all-liveness/
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT



=== TEST 3: every LIVENESS attempt rejected
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-all-reject
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: check:LIVENESS:REJECT



=== TEST 4: FACE_COMPARISON REJECT
--- more_headers
X-User-Id: alice
X-Session-Id: face-comparison-reject
--- error_code: 403
--- response_headers
X-IDV-Reason: check:FACE_COMPARISON:REJECT



=== TEST 5: FACE_COMPARISON NOT_AVAILABLE is not approval
--- more_headers
X-User-Id: alice
X-Session-Id: face-comparison-not-available
--- error_code: 403
--- response_headers
X-IDV-Reason: check:FACE_COMPARISON:NOT_AVAILABLE



=== TEST 6: FACE_COMPARISON CONSIDER is not approval
--- more_headers
X-User-Id: alice
X-Session-Id: face-comparison-consider
--- error_code: 403
--- response_headers
X-IDV-Reason: check:FACE_COMPARISON:CONSIDER



=== TEST 7: a required check the session does not have
--- more_headers
X-User-Id: alice
X-Session-Id: face-comparison-missing
--- error_code: 403
--- response_headers
X-IDV-Reason: check:FACE_COMPARISON:missing



=== TEST 8: a required check that is not DONE
--- more_headers
X-User-Id: alice
X-Session-Id: face-comparison-not-done
--- error_code: 403
--- response_headers
X-IDV-Reason: check:FACE_COMPARISON:not_done



=== TEST 9: all (the default for FACE_COMPARISON): one REJECT among two denies
--- more_headers
X-User-Id: alice
X-Session-Id: two-face-comparisons-one-reject
--- error_code: 403
--- response_headers
X-IDV-Reason: check:FACE_COMPARISON:REJECT



=== TEST 10: any: one APPROVE among two passes
--- request
GET /any-face/
--- more_headers
X-User-Id: alice
X-Session-Id: two-face-comparisons-one-reject
--- response_body
app: ALLOW two-face-comparisons-one-reject



=== TEST 11: document authenticity and a familiar face search MATCH approval
--- request
GET /documents/
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice



=== TEST 12: the seed result (a UUID session id) under the same policy
--- request
GET /documents/
--- more_headers
X-User-Id: alice
X-Session-Id: 7938ac1e-0a4a-49b7-953f-08cfa764358f
--- error_code: 403
--- response_headers
X-IDV-Reason: check:ID_DOCUMENT_AUTHENTICITY:missing



=== TEST 13: EXPIRED is judged before the checks
--- more_headers
X-User-Id: alice
X-Session-Id: expired-alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: state:EXPIRED



=== TEST 14: an unknown session state is not completed
--- more_headers
X-User-Id: alice
X-Session-Id: weird-state
--- error_code: 403
--- response_headers
X-IDV-Reason: state:PAUSED



=== TEST 15: identity profile met
--- request
GET /profile/
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice



=== TEST 16: identity profile not met
--- request
GET /profile/
--- more_headers
X-User-Id: alice
X-Session-Id: identity-profile-failed
--- error_code: 403
--- response_headers
X-IDV-Reason: check:IDENTITY_PROFILE:MANDATORY_DOCUMENT_COULD_NOT_BE_PROVIDED



=== TEST 17: identity profile DONE but with a failure reason
--- request
GET /profile/
--- more_headers
X-User-Id: alice
X-Session-Id: identity-profile-done-with-failure
--- error_code: 403
--- response_headers
X-IDV-Reason: check:IDENTITY_PROFILE:MANDATORY_DOCUMENT_COULD_NOT_BE_PROVIDED



=== TEST 18: identity profile absent
--- request
GET /profile/
--- more_headers
X-User-Id: alice
X-Session-Id: face-check-ffs-reject
--- error_code: 403
--- response_headers
X-IDV-Reason: check:IDENTITY_PROFILE:missing



=== TEST 19: a check type the module does not know is matched by name
--- request
GET /new-type/
--- more_headers
X-User-Id: alice
X-Session-Id: unknown-check-type
--- response_body
app: ALLOW unknown-check-type



=== TEST 20: ...and is missing where the session does not have it
--- request
GET /new-type/
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:BRAND_NEW_CHECK:missing



=== TEST 21: no requirement: a COMPLETED session of this user passes
--- request
GET /completed/
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-all-reject
--- response_body
app: ALLOW liveness-all-reject



=== TEST 22: a session without user_tracking_id is not this user's
--- more_headers
X-User-Id: alice
X-Session-Id: no-user-tracking
--- error_code: 403
--- response_headers
X-IDV-Reason: user_mismatch



=== TEST 23: ...unless binding is off
--- request
GET /unbound/
--- more_headers
X-User-Id: alice
X-Session-Id: no-user-tracking
--- response_body
app: ALLOW no-user-tracking



=== TEST 24: a user id that differs only in case is another user
--- more_headers
X-User-Id: Alice
X-Session-Id: verified-alice
--- error_code: 403
--- response_headers
X-IDV-Reason: user_mismatch



=== TEST 25: the user binding is checked before the state
--- more_headers
X-User-Id: mallory
X-Session-Id: ongoing-alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: user_mismatch



=== TEST 26: yoti_idv_pending_status
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        yoti_idv_pending_status 409;
        add_header X-IDV-Verdict $yoti_idv_verdict always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: ongoing-alice
--- error_code: 409
--- response_headers
X-IDV-Verdict: PENDING
