# The examples of docs/operations.md, as written there.
#
# "Starting without DNS": a resolver, the provider's host in a variable,
# and a "rewrite ... break" that maps the prefix: nginx starts without
# resolving anything, the signed request keeps its path and arguments (the
# mock checks the signature), and stays in the internal location.
#
# "The user id from a trusted source": auth_request and auth_request_set
# (a login service that answers who the user is), $remote_user after
# auth_basic; the client's own X-User-Id is ignored, and no_user is sent
# to log in, not to verify.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

use File::Temp qw(tempdir);

my $dir = tempdir(CLEANUP => 1);
open my $fh, '>', "$dir/htpasswd" or die "$dir/htpasswd: $!";
print {$fh} "alice:{PLAIN}secret\n";
close $fh;
$ENV{TEST_NGINX_T044_DIR} = $dir;

our $AuthHttp = <<'_EOC_';
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;

    # the login service's answer: who the cookie's session belongs to
    map $cookie_login $whoami {
        anonymous  "";
        default    $cookie_login;
    }
_EOC_

our $AuthConfig = <<'_EOC_';
    # the login service: 401 without a login, else 204 and the user
    location = /_login_service/whoami {
        yoti_idv off;
        if ($cookie_login = "") {
            return 401;
        }
        add_header X-Authenticated-User $whoami;
        return 204;
    }

    location = /_auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_login_service/whoami;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
    }

    location /members/ {
        auth_request      /_auth;
        auth_request_set  $auth_user $upstream_http_x_authenticated_user;
        error_page 401 = @login;

        yoti_idv             on;
        yoti_idv_user_id     $auth_user;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        yoti_idv_require     FACE_COMPARISON;
        error_page 403 = @idv_denied;

        proxy_set_header X-User-Id $auth_user;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/whoapp;
    }

    location /basic/ {
        auth_basic            "members";
        auth_basic_user_file  $TEST_NGINX_T044_DIR/htpasswd;

        yoti_idv             on;
        yoti_idv_user_id     $remote_user;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;

        proxy_set_header X-User-Id $remote_user;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/whoapp;
    }

    location @login {
        return 302 /login;
    }

    location @idv_denied {
        if ($yoti_idv_reason = no_user) {
            return 302 /login;
        }
        return 302 /verify/;
    }

    location = /whoapp {
        yoti_idv off;
        return 200 "app: $http_x_user_id $http_x_idv_verdict\n";
    }
_EOC_

our $VarApi = <<'_EOC_';
    location /_yoti_idv/ {
        internal;

        # nothing answers there: an address needs no resolving, and nginx
        # starts without DNS
        resolver 127.0.0.1:1 valid=300s ipv6=off;
        resolver_timeout 1s;

        set $yoti_idv_host 127.0.0.1:$TEST_NGINX_MOCK_PORT;
        rewrite ^/_yoti_idv/(.*)$ /idverify/v1/$1 break;
        proxy_pass http://$yoti_idv_host;

        proxy_set_header Connection "";
        subrequest_output_buffer_size 64k;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    my $config = $block->config // return;
    $config =~ s/\@VAR_API\@/$VarApi/g;
    $config =~ s/\@AUTH\@/$AuthConfig/g;
    if (defined $block->http_config) {
        my $http = $block->http_config;
        $http =~ s/\@AUTH_HTTP\@/$AuthHttp/g;
        $block->set_value('http_config', $http);
    }
    $config =~ s/\@MEMBERS\@/$YotiIdvTest::Members/g;
    $block->set_value('config', $config);
});

run_tests();

__DATA__

=== TEST 1: a verified user through the variable form
--- config
@VAR_API@
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_headers
X-IDV-Verdict: ALLOW
--- response_body
app: ALLOW verified-alice
--- no_error_log
[error]
[warn]



=== TEST 2: the provider's own 404 through it is a denial
--- config
@VAR_API@
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: no-such-session
--- error_code: 403
--- response_headers
X-IDV-Reason: no_session
--- no_error_log
[error]



=== TEST 3: a host name that cannot be resolved at run time: ERROR, nginx still started
--- config
    location /_yoti_idv/ {
        internal;
        resolver 127.0.0.1:1 valid=300s ipv6=off;
        resolver_timeout 1s;
        set $yoti_idv_host api.invalid;
        rewrite ^/_yoti_idv/(.*)$ /idverify/v1/$1 break;
        proxy_pass http://$yoti_idv_host;
        subrequest_output_buffer_size 64k;
    }
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
--- error_log eval
qr/api\.invalid could not be resolved|no resolver defined|api\.invalid: /
--- timeout: 5



=== TEST 4: auth_request: the login service's user, not the client's X-User-Id
--- http_config
@AUTH_HTTP@
--- config
@AUTH@
--- more_headers
Cookie: login=alice
X-User-Id: mallory
X-Session-Id: verified-alice
--- response_body
app: alice ALLOW
--- no_error_log
[error]



=== TEST 5: ...mallory logged in as herself, with alice's session: denied, sent to verify
--- http_config
@AUTH_HTTP@
--- config
@AUTH@
--- more_headers
Cookie: login=mallory
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 302
--- response_headers
Location: http://localhost:$ServerPort/verify/
--- error_log
denied: user_mismatch



=== TEST 6: ...not logged in: the login service says 401, sent to log in, the provider is not asked
--- http_config
@AUTH_HTTP@
--- config
@AUTH@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 302
--- response_headers
Location: http://localhost:$ServerPort/login
--- no_error_log
yoti_idv:
[error]



=== TEST 7: ...logged in without a user id: no_user, sent to log in, not to verify
--- http_config
@AUTH_HTTP@
--- config
@AUTH@
--- more_headers
Cookie: login=anonymous
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 302
--- response_headers
Location: http://localhost:$ServerPort/login
--- error_log
denied: no_user



=== TEST 8: auth_basic: $remote_user once the password is checked
--- http_config
@AUTH_HTTP@
--- config
@AUTH@
--- request
GET /basic/
--- more_headers
Authorization: Basic YWxpY2U6c2VjcmV0
X-User-Id: mallory
X-Session-Id: verified-alice
--- response_body
app: alice ALLOW
--- no_error_log
[error]



=== TEST 9: ...a wrong password never reaches the gate
--- http_config
@AUTH_HTTP@
--- config
@AUTH@
--- request
GET /basic/
--- more_headers
Authorization: Basic YWxpY2U6d3Jvbmc=
X-Session-Id: verified-alice
--- error_code: 401
--- no_error_log
yoti_idv:
