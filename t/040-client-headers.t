# Nothing of the client's reaches the provider, whatever the server or http
# level says.  Debian's "include proxy_params;" at server level is inherited
# by every location without a "proxy_set_header" of its own and sends the
# client's Host and address (X-Real-IP, X-Forwarded-For): nginx -t refuses
# an API location that would send them, naming the directive and where it
# was set, and a signed request that a "rewrite" takes to such a location
# is stopped there before anything is sent.  With a "proxy_set_header" of
# its own, the API location inherits none of it.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

use File::Temp qw(tempdir);

# /etc/nginx/proxy_params of Debian 12, included as Debian's sites are
my $dir = tempdir(CLEANUP => 1);
open my $fh, '>', "$dir/proxy_params" or die "$dir/proxy_params: $!";
print {$fh} <<'_EOC_';
proxy_set_header Host $http_host;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto $scheme;
_EOC_
close $fh;
$ENV{TEST_NGINX_T040_DIR} = $dir;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

# an API location that inherits whatever the levels above set
our $BareApi = <<'_EOC_';
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_read_timeout 2s;
        subrequest_output_buffer_size 64k;
    }
_EOC_

# the same with a "proxy_set_header" of its own
our $OwnApi = <<'_EOC_';
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        subrequest_output_buffer_size 64k;
    }
_EOC_

# an API location of its own headers that leads the request to /_other/
our $RewriteApi = <<'_EOC_';
    location /_yoti_idv/ {
        internal;
        proxy_set_header Connection "";
        rewrite ^/_yoti_idv/(.*)$ /_other/$1 last;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    my $config = $block->config // return;
    $config =~ s/\@PROXY_PARAMS\@/    include $dir\/proxy_params;/g;
    $config =~ s/\@BARE_API\@/$BareApi/g;
    $config =~ s/\@OWN_API\@/$OwnApi/g;
    $config =~ s/\@REWRITE_API\@\n/$RewriteApi/g;
    $config =~ s/\@MEMBERS\@/$YotiIdvTest::Members/g;
    $block->set_value('config', $config);
});

run_tests();

__DATA__

=== TEST 1: include proxy_params at server level, an API location without proxy_set_header: refused
--- config
@PROXY_PARAMS@
@BARE_API@
@MEMBERS@
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_api \/_yoti_idv" of location "\/members\/": the API location "\/_yoti_idv\/" of server "localhost" inherits "proxy_set_header Host \$http_host" from \S+\/proxy_params:1, which would send the client's data to the provider; give the location a "proxy_set_header" of its own \("proxy_set_header Connection "";" is enough\): it then inherits none/



=== TEST 2: the same at http level, one header: named with its line
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;

    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
--- config
@BARE_API@
@MEMBERS@
--- must_die
--- error_log eval
qr/\[emerg\] .*the API location "\/_yoti_idv\/" of server "localhost" inherits "proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for" from \S+\/nginx\.conf:\d+, which would send/



=== TEST 3: inherited headers that send nothing of the client's pass: Host of the proxy, a header set to ""
--- http_config
    yoti_idv_sdk_id   test-sdk-id;
    yoti_idv_pem_key  $TEST_NGINX_KEYS/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;

    proxy_set_header Host $proxy_host;
    proxy_set_header Accept-Encoding "";
--- config
@BARE_API@
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
X-Forwarded-For: 203.0.113.7
--- response_headers
X-IDV-Verdict: ALLOW
--- response_body
app: ALLOW verified-alice
--- no_error_log
[error]
[emerg]



=== TEST 4: a header of the API location's own that is not the module's: refused
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_set_header Connection "";
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        subrequest_output_buffer_size 64k;
    }
@MEMBERS@
--- must_die
--- error_log eval
qr/\[emerg\] .*the API location "\/_yoti_idv\/" of server "localhost" has "proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for" \(\S+\/nginx\.conf:\d+\): the provider gets only the module's own request; remove it, or set it to "" so that nothing is sent/



=== TEST 5: Host of the client's, in the API location's own list: refused too
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_set_header Host ${host}x;
    }
@MEMBERS@
--- must_die
--- error_log eval
qr/\[emerg\] .*has "proxy_set_header Host \$\{host\}x"/



=== TEST 6: include proxy_params at server level, an API location with a proxy_set_header of its own
--- config
@PROXY_PARAMS@
@OWN_API@
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
X-Forwarded-For: 203.0.113.7
X-Real-IP: 203.0.113.7
Cookie: session=secret
--- response_headers
X-IDV-Verdict: ALLOW
--- response_body
app: ALLOW verified-alice
--- no_error_log
[error]
[warn]



=== TEST 7: ...and the provider saw only the module's headers
--- config
@PROXY_PARAMS@
@OWN_API@
@MEMBERS@
--- request
GET /__mock/last-headers/verified-alice
--- response_body
accept
host
x-yoti-auth-digest
x-yoti-sdk
x-yoti-sdk-version



=== TEST 8: inheritance is followed as the proxy module follows it: a nested location with a list of its own
--- config
@PROXY_PARAMS@
    location /_yoti_idv/ {
        internal;

        location /_yoti_idv/sessions/ {
            internal;
            proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/sessions/;
            proxy_set_header Connection "";
            subrequest_output_buffer_size 64k;
        }
    }
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_headers
X-IDV-Verdict: ALLOW
--- no_error_log
[error]



=== TEST 9: ...and one that inherits the list of the API location above it, which inherits proxy_params
--- config
@PROXY_PARAMS@
    location /_yoti_idv/ {
        internal;

        location /_yoti_idv/sessions/ {
            internal;
            proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/sessions/;
        }
    }
@MEMBERS@
--- must_die
--- error_log eval
qr/\[emerg\] .*the API location "\/_yoti_idv\/sessions\/" of server "localhost" inherits "proxy_set_header Host \$http_host" from \S+\/proxy_params:1/



=== TEST 10: a rewrite to a location that inherits proxy_params: stopped there, nothing sent
--- config
@PROXY_PARAMS@
@REWRITE_API@

    location /_other/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        subrequest_output_buffer_size 64k;
    }
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: 7938ac1e-0a4a-49b7-953f-08cfa764358f
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:failed
--- error_log eval
[
qr/\[error\] .*yoti_idv: the signed request "\/_other\/sessions\/7938ac1e-0a4a-49b7-953f-08cfa764358f" entered location "\/_other\/", which inherits "proxy_set_header Host \$http_host" \(\S+\/proxy_params:1\) and would send the client's data to the provider; it was stopped there, nothing was sent: give the location a "proxy_set_header" of its own \("proxy_set_header Connection "";" is enough\): it then inherits none/,
qr/\[error\] .*yoti_idv: no verdict for session "7938ac1e-0a4a-49b7-953f-08cfa764358f": provider:failed/,
]
--- no_error_log
[alert]



=== TEST 11: ...and again: nothing of it was cached
--- config
@PROXY_PARAMS@
@REWRITE_API@

    location /_other/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
@MEMBERS@
--- pipelined_requests eval
["GET /members/", "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: 7938ac1e-0a4a-49b7-953f-08cfa764358f
--- error_code eval
[503, 503]
--- response_headers eval
["X-IDV-Verdict: ERROR", "X-IDV-Verdict: ERROR"]
--- no_error_log
[alert]



=== TEST 12: ...the provider was never asked
--- request
GET /__mock/count/7938ac1e-0a4a-49b7-953f-08cfa764358f
--- response_body
0



=== TEST 13: an error page of the API location that does not proxy: not stopped, it sends nothing
--- config
@PROXY_PARAMS@
    location /_yoti_idv/ {
        internal;
        proxy_set_header Connection "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/idverify/v1/;
        error_page 502 = @down;
    }

    location @down {
        return 504;
    }
@MEMBERS@
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:timeout
--- no_error_log
entered location
[alert]



=== TEST 14: "proxy_set_body" at server level is inherited by the API location: refused
--- config
    proxy_set_body $request_body;
@OWN_API@
@MEMBERS@
--- must_die
--- error_log eval
qr/\[emerg\] .*the API location "\/_yoti_idv\/" of server "localhost" inherits "proxy_set_body \$request_body" from \S+\/nginx\.conf:\d+, which would send the client's data to the provider; move "proxy_set_body" into the locations that need it: a location cannot unset it/



=== TEST 15: ...and of the API location's own
--- config
    location /_yoti_idv/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_set_header Connection "";
        proxy_set_body "{}";
    }
@MEMBERS@
--- must_die
--- error_log eval
qr/\[emerg\] .*the API location "\/_yoti_idv\/" of server "localhost" has "proxy_set_body \{\}" \(\S+\/nginx\.conf:\d+\): the provider gets only the module's own request/



=== TEST 16: a "proxy_set_body" of the application's location only: the gate works
--- config
@OWN_API@
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        add_header X-IDV-Verdict $yoti_idv_verdict always;
        proxy_set_body "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_headers
X-IDV-Verdict: ALLOW
--- no_error_log
[error]
