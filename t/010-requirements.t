# Requirements on what the user showed (issue 10): the liveness method,
# the ID document's type and country, and a verified minimum age read
# from the document fields media.  The fixtures with dates of birth are
# made now, relative to today (UTC), by t/mock/gen_sessions.py.

use lib 't/lib';

use File::Temp qw(tempdir);

our $Sessions;

BEGIN {
    $Sessions = tempdir('yoti-idv-reqs-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    system('/usr/bin/python3', 't/mock/gen_sessions.py',
           '--requirements', $Sessions) == 0
        or die "gen_sessions.py --requirements failed\n";
}

use YotiIdvMock sessions => $Sessions;
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();

our $Policies = <<'_EOC_';
    yoti_idv_user_id     $http_x_user_id;
    yoti_idv_session_id  $http_x_session_id;
    add_header X-IDV-Verdict $yoti_idv_verdict always;
    add_header X-IDV-Reason $yoti_idv_reason always;
    proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
    proxy_set_header X-IDV-Session $yoti_idv_session_id;

    location /passive/ {
        yoti_idv on;
        yoti_idv_require LIVENESS liveness_type=STATIC;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /active/ {
        yoti_idv on;
        yoti_idv_require LIVENESS any liveness_type=ZOOM;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /either/ {
        yoti_idv on;
        yoti_idv_require LIVENESS liveness_type=ZOOM,STATIC;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /all-passive/ {
        yoti_idv on;
        yoti_idv_require LIVENESS liveness_type=STATIC all;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /uk/ {
        yoti_idv on;
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY
                         document_type=PASSPORT,DRIVING_LICENCE,NATIONAL_ID
                         issuing_country=GBR,IRL;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /passports/ {
        yoti_idv on;
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY document_type=PASSPORT;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /face-uk/ {
        yoti_idv on;
        yoti_idv_require FACE_COMPARISON issuing_country=GBR;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /adults/ {
        yoti_idv on;
        yoti_idv_require LIVENESS liveness_type=STATIC;
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY;
        yoti_idv_require_age 18;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /uk-adults/ {
        yoti_idv on;
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY issuing_country=GBR;
        yoti_idv_require_age 18;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /any-adults/ {
        yoti_idv on;
        yoti_idv_require_age 18;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /members/ {
        yoti_idv on;
        yoti_idv_require LIVENESS;
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY;
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

=== TEST 1: passive only: ZOOM rejected, STATIC approved
--- request
GET /passive/
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-zoom-rejected-static-approved
--- response_body
app: ALLOW liveness-zoom-rejected-static-approved



=== TEST 2: active only: the approved attempt was passive
--- request
GET /active/
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-zoom-rejected-static-approved
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: check:LIVENESS:liveness_type:STATIC



=== TEST 3: passive only: the only approved attempt was active
--- request
GET /passive/
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-zoom-approved-static-rejected
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: check:LIVENESS:liveness_type:ZOOM



=== TEST 4: active only: ZOOM approved
--- request
GET /active/
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-zoom-approved-static-rejected
--- response_body
app: ALLOW liveness-zoom-approved-static-rejected



=== TEST 5: either method
--- request
GET /either/
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-zoom-approved-static-rejected
--- response_body
app: ALLOW liveness-zoom-approved-static-rejected



=== TEST 6: all passive attempts must approve: the rejected active one does not count
--- request
GET /all-passive/
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-zoom-rejected-static-approved
--- response_body
app: ALLOW liveness-zoom-rejected-static-approved



=== TEST 7: the seed's sessions are all STATIC: active only denies
--- request
GET /active/
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:liveness_type:STATIC



=== TEST 8: UK documents: a GBR passport
--- request
GET /uk/
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice



=== TEST 9: UK documents: a US driving licence
--- request
GET /uk/
--- more_headers
X-User-Id: alice
X-Session-Id: document-usa-licence
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: check:ID_DOCUMENT_AUTHENTICITY:issuing_country:USA



=== TEST 10: passports only: a driving licence
--- request
GET /passports/
--- more_headers
X-User-Id: alice
X-Session-Id: document-usa-licence
--- error_code: 403
--- response_headers
X-IDV-Reason: check:ID_DOCUMENT_AUTHENTICITY:document_type:DRIVING_LICENCE



=== TEST 11: UK documents: a US licence and a UK passport, both verified
--- request
GET /uk/
--- more_headers
X-User-Id: alice
X-Session-Id: documents-usa-licence-uk-passport
--- response_body
app: ALLOW documents-usa-licence-uk-passport



=== TEST 12: a face comparison against a GBR document
--- request
GET /face-uk/
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice



=== TEST 13: a face comparison against a US document
--- request
GET /face-uk/
--- more_headers
X-User-Id: alice
X-Session-Id: document-usa-licence
--- error_code: 403
--- response_headers
X-IDV-Reason: check:FACE_COMPARISON:issuing_country:USA



=== TEST 14: 18+: an adult, one session fetch and one media fetch
--- request eval
["GET /__mock/reset", "GET /adults/", "GET /__mock/count/age-adult",
 "GET /__mock/count/age-adult/media", "GET /__mock/rejections"]
--- more_headers
X-User-Id: alice
X-Session-Id: age-adult
--- response_body eval
["ok\n", "app: ALLOW age-adult\n", "1\n", "1\n", ""]



=== TEST 15: 18+: the 18th birthday is today
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-18-today
--- response_body
app: ALLOW age-18-today



=== TEST 16: 18+: the 18th birthday was yesterday
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-18-yesterday
--- response_body
app: ALLOW age-18-yesterday



=== TEST 17: 18+: the 18th birthday is tomorrow
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-18-tomorrow
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: age:underage
--- error_log
yoti_idv: session "age-18-tomorrow" denied: age:underage
--- no_error_log
[error]
date_of_birth
Alice



=== TEST 18: 18+: a minor
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-minor
--- error_code: 403
--- response_headers
X-IDV-Reason: age:underage



=== TEST 19: 18+: yyyy-mm counts as the month's last day
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-partial-month-minor
--- error_code: 403
--- response_headers
X-IDV-Reason: age:underage



=== TEST 20: 18+: yyyy of 19 years ago is 18 already
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-partial-year-adult
--- response_body
app: ALLOW age-partial-year-adult



=== TEST 21: 18+: no date of birth in the document fields
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-no-date
--- error_code: 403
--- response_headers
X-IDV-Reason: age:no_date



=== TEST 22: 18+: a date of birth that does not parse
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-bad-date
--- error_code: 403
--- response_headers
X-IDV-Reason: age:bad_date
--- no_error_log
[error]
01/02/2000



=== TEST 23: 18+: the document has no document fields: no media request
--- request eval
["GET /__mock/reset", "GET /adults/", "GET /__mock/count-media"]
--- more_headers
X-User-Id: alice
X-Session-Id: age-no-fields
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/ok/, qr/403/, qr/^0\n\z/]



=== TEST 24: 18+: no approved ID document check
--- request
GET /any-adults/
--- more_headers
X-User-Id: alice
X-Session-Id: ongoing-alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: PENDING



=== TEST 25: 18+: the session has no document at all
--- request
GET /any-adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-no-document
--- error_code: 403
--- response_headers
X-IDV-Reason: age:no_document



=== TEST 26: 18+: the media is not JSON
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-media-garbage
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: media:bad_json
--- error_log
yoti_idv: no verdict for session "age-media-garbage": media:bad_json, the document fields are not JSON



=== TEST 27: 18+: the media answers 404
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-media-404
--- error_code: 503
--- response_headers
X-IDV-Reason: media:404
--- error_log
media:404



=== TEST 28: 18+: the media answers 500
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-media-500
--- error_code: 503
--- response_headers
X-IDV-Reason: media:500
--- error_log
media:500



=== TEST 29: 18+: a media the session does not have (404)
--- request
GET /adults/
--- more_headers
X-User-Id: alice
X-Session-Id: age-media-missing
--- error_code: 503
--- response_headers
X-IDV-Reason: media:404
--- error_log
media:404



=== TEST 30: 18+ of a UK document: the US licence (16) is not read, the passport (30) is
--- request eval
["GET /__mock/reset", "GET /uk-adults/", "GET /__mock/count/documents-usa-licence-uk-passport/media"]
--- more_headers
X-User-Id: alice
X-Session-Id: documents-usa-licence-uk-passport
--- response_body eval
["ok\n", "app: ALLOW documents-usa-licence-uk-passport\n", "1\n"]



=== TEST 31: no age requirement: no media request
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/count/age-minor", "GET /__mock/count-media"]
--- more_headers
X-User-Id: alice
X-Session-Id: age-minor
--- response_body eval
["ok\n", "app: ALLOW age-minor\n", "1\n", "0\n"]



=== TEST 32: a denied session makes no media request
--- request eval
["GET /__mock/reset", "GET /adults/", "GET /__mock/count-media"]
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-zoom-approved-static-rejected
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/ok/, qr/403/, qr/^0\n\z/]



=== TEST 33: the media of another user's session is not read for this user
--- request eval
["GET /__mock/reset", "GET /adults/", "GET /__mock/count-media"]
--- more_headers
X-User-Id: alice
X-Session-Id: bob-minor
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/ok/, qr/403/, qr/^0\n\z/]



=== TEST 34: nothing read from the document reaches the variables
--- config
    location /adults/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require_age 18;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/vars;
    }

    location = /vars {
        yoti_idv off;
        return 200 "$http_x_v\n";
    }
--- more_headers
X-User-Id: alice
X-Session-Id: age-adult
--- request
GET /adults/
--- response_body_like chomp
^ALLOW ok age-adult BYPASS$
--- config_append
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;
    proxy_set_header X-V "$yoti_idv_verdict $yoti_idv_reason $yoti_idv_session_id $yoti_idv_cache";



=== TEST 35: liveness_type= on a type other than LIVENESS
--- config
    location /x/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require FACE_COMPARISON liveness_type=STATIC;
    }
--- must_die
--- error_log
"liveness_type=" applies only to LIVENESS, not to "FACE_COMPARISON"



=== TEST 36: document_type= on LIVENESS
--- config
    location /x/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS document_type=PASSPORT;
    }
--- must_die
--- error_log
"document_type=" does not apply to "LIVENESS"



=== TEST 37: issuing_country= on IDENTITY_PROFILE
--- config
    location /x/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require IDENTITY_PROFILE issuing_country=GBR;
    }
--- must_die
--- error_log
"issuing_country=" does not apply to "IDENTITY_PROFILE"



=== TEST 38: an empty list item
--- config
    location /x/ {
        yoti_idv_require LIVENESS liveness_type=ZOOM,,STATIC;
    }
--- must_die
--- error_log
invalid "liveness_type=ZOOM,,STATIC" in "yoti_idv_require"



=== TEST 39: an empty list
--- config
    location /x/ {
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY document_type=;
    }
--- must_die
--- error_log
invalid "document_type=" in "yoti_idv_require"



=== TEST 40: lowercase
--- config
    location /x/ {
        yoti_idv_require LIVENESS liveness_type=static;
    }
--- must_die
--- error_log
invalid "liveness_type=static" in "yoti_idv_require"



=== TEST 41: a character outside A-Z0-9_
--- config
    location /x/ {
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY document_type=ID-CARD;
    }
--- must_die
--- error_log
invalid "document_type=ID-CARD" in "yoti_idv_require"



=== TEST 42: a two-letter country
--- config
    location /x/ {
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY issuing_country=GBR,IE;
    }
--- must_die
--- error_log
invalid "issuing_country=GBR,IE" in "yoti_idv_require": a comma-separated list of ISO 3166-1 alpha-3 codes



=== TEST 43: a country with a digit
--- config
    location /x/ {
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY issuing_country=GB1;
    }
--- must_die
--- error_log
invalid "issuing_country=GB1" in "yoti_idv_require"



=== TEST 44: a parameter given twice
--- config
    location /x/ {
        yoti_idv_require ID_DOCUMENT_AUTHENTICITY issuing_country=GBR issuing_country=IRL;
    }
--- must_die
--- error_log
duplicate "issuing_country=" in "yoti_idv_require"



=== TEST 45: an unknown parameter
--- config
    location /x/ {
        yoti_idv_require LIVENESS method=STATIC;
    }
--- must_die
--- error_log
invalid parameter "method=STATIC" in "yoti_idv_require"



=== TEST 46: two modes
--- config
    location /x/ {
        yoti_idv_require LIVENESS any all;
    }
--- must_die
--- error_log
duplicate mode "all" in "yoti_idv_require"



=== TEST 47: age 0
--- config
    location /x/ {
        yoti_idv_require_age 0;
    }
--- must_die
--- error_log
"yoti_idv_require_age" directive must be between 1 and 150



=== TEST 48: age 151
--- config
    location /x/ {
        yoti_idv_require_age 151;
    }
--- must_die
--- error_log
"yoti_idv_require_age" directive must be between 1 and 150



=== TEST 49: age that is not a number
--- config
    location /x/ {
        yoti_idv_require_age 18y;
    }
--- must_die
--- error_log
"yoti_idv_require_age" directive invalid number



=== TEST 50: unknown values are accepted, ages 1 and 150 too
--- config
    location /a/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS liveness_type=STATIC,NEW_METHOD_2;
        yoti_idv_require BRAND_NEW_CHECK document_type=RESIDENCE_PERMIT issuing_country=XKX;
        yoti_idv_require_age 1;
        return 200 "a\n";
    }

    location /b/ {
        yoti_idv_require_age 150;
        return 200 "b\n";
    }
--- request
GET /b/
--- response_body
b
