# The API location of docs/operations.md "Starting without DNS": a
# resolver, the provider's host in a variable, and a "rewrite ... break"
# that maps the prefix: nginx starts without resolving anything, the
# signed request keeps its path and arguments (the mock checks the
# signature), and stays in the internal location.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&YotiIdvTest::defaults);

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
