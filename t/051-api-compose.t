# The fetch guard (t/042 TEST 8) composed with a fallback and shared cache
# layers: a location whose signed request a "rewrite" leads out of its API
# location fails closed (ERROR, nothing sent), its error_page hands the
# request to a location of another policy and another API location, which
# answers with its own fetch.  The failed fetch leaves nothing behind: not
# an ERROR under the first policy's key (its next request fetches again and
# is stopped again), not a verdict under the fallback's key other than the
# one the fallback fetched, and nothing of it in a location that proxies
# properly with the first policy.
#
# Each runs with Redis only, a zone only (the session id from a header: the
# mapping needs Redis) and both, for the two session sources; a block named
# "...what Redis holds" checks the keys the block before it left.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

repeat_each(1);
no_shuffle();

our %Http = (
    redis => $YotiIdvTest::HttpConfig . <<'_EOC_',
    yoti_idv_redis  127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
_EOC_
    zone => $YotiIdvTest::HttpConfig . <<'_EOC_',
    yoti_idv_cache_zone  yoti_idv:1m ttl=1m;
_EOC_
    both => $YotiIdvTest::HttpConfig . <<'_EOC_',
    yoti_idv_redis  127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=2s;
    yoti_idv_cache_zone  yoti_idv:1m ttl=1m;
_EOC_
);

# SESSION: the Redis mapping (nothing) or a header
our $Config = <<'_EOC_';
    yoti_idv_user_id  $http_x_user_id;
    SESSION
    proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
    proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";

    # an API location a rewrite leads out of: the signed request would
    # reach /public/, a location any client can reach
    location /_astray/ {
        internal;
        rewrite ^/_astray/(.*)$ /public/$1 last;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
        proxy_set_header Connection "";
    }

    location /public/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/idverify/v1/;
    }

    location @error {
        return 503 "error: $yoti_idv_verdict $yoti_idv_reason\n";
    }

    location @denied {
        return 403 "denied: $yoti_idv_verdict $yoti_idv_reason $yoti_idv_cache\n";
    }

    # strict, through the astray API location; its ERROR goes to the lax
    # policy, through the right one
    location /astray/ {
        yoti_idv          on;
        yoti_idv_api      /_astray;
        yoti_idv_require  LIVENESS;
        yoti_idv_require  FACE_COMPARISON;
        error_page 503 = /lax/;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /lax/ {
        internal;
        yoti_idv          on;
        yoti_idv_require  LIVENESS;
        error_page 403 = @denied;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    # the same strict policy, astray, without a way out
    location /astray-only/ {
        yoti_idv          on;
        yoti_idv_api      /_astray;
        yoti_idv_require  LIVENESS;
        yoti_idv_require  FACE_COMPARISON;
        error_page 503 = @error;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    # the same strict policy, through the right API location
    location /strict/ {
        yoti_idv          on;
        yoti_idv_require  LIVENESS;
        yoti_idv_require  FACE_COMPARISON;
        error_page 403 = @denied;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

sub config {
    my ($source) = @_;

    my $session = $source eq 'mapping'
                  ? '' : 'yoti_idv_session_id  $http_x_session_id;';

    return $Config =~ s/SESSION/$session/r;
}

# request, status, body; /__mock/count counts what reached the mock's
# session endpoint, through /_yoti_idv/ or /public/ alike
our @Steps = (
    ['/__mock/reset', 200, "ok\n"],
    ['/astray/', 200, "app: ALLOW verified-alice MISS\n"],
    ['/__mock/count/verified-alice', 200, "1\n"],
    ['/astray/', 200, "app: ALLOW verified-alice HIT\n"],
    ['/__mock/count/verified-alice', 200, "1\n"],
    ['/astray-only/', 503, "error: ERROR provider:failed\n"],
    ['/strict/', 200, "app: ALLOW verified-alice MISS\n"],
    ['/__mock/count/verified-alice', 200, "2\n"],
);

# what a fresh nginx (a fresh zone) answers from Redis alone: each policy's
# ALLOW, the one it fetched itself
our @Again = (
    ['/__mock/reset', 200, "ok\n"],
    ['/strict/', 200, "app: ALLOW verified-alice HIT\n"],
    ['/astray/', 200, "app: ALLOW verified-alice HIT\n"],
    ['/__mock/count/verified-alice', 200, "0\n"],
);

sub requests { [ map { "GET $_->[0]" } @{ $_[0] } ] }
sub codes    { [ map { $_->[1] } @{ $_[0] } ] }
sub bodies   { [ map { $_->[2] } @{ $_[0] } ] }

sub headers {
    [ ("X-User-Id: alice\nX-Session-Id: verified-alice\n") x @{ $_[0] } ]
}

sub prepare {
    my ($source, $cache) = @_;

    return if $cache eq 'zone';

    YotiIdvRedis::flush();
    YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice')
        if $source eq 'mapping';
}

sub expect_redis {
    my ($source, $test) = @_;

    my $src = $source eq 'mapping' ? 'redis' : 'variable';

    for my $c (
        [ ['LIVENESS any', 'FACE_COMPARISON all'], 'the strict policy' ],
        [ ['LIVENESS any'], 'the lax policy' ])
    {
        my $key = YotiIdvRedis::verdict_key(user => 'alice', source => $src,
                                            require => $c->[0]);
        Test::More::is(YotiIdvRedis::cmd('GET', $key),
                       '1 verified-alice ALLOW ok',
                       "$0 $test: $c->[1]'s key $key");
    }
}

add_block_preprocessor(\&YotiIdvTest::defaults);

run_tests();

__DATA__

=== TEST 1: astray -> lax (error_page): nothing sent astray, lax answers with one fetch, the strict policy fetches on its own; Redis, the mapping
--- http_config eval
$::Http{redis}
--- config eval
main::config('mapping')
--- init
main::prepare('mapping', 'redis');
--- request eval
main::requests(\@::Steps)
--- more_headers eval
main::headers(\@::Steps)
--- error_code eval
main::codes(\@::Steps)
--- response_body eval
main::bodies(\@::Steps)
--- no_error_log
[alert]
[crit]



=== TEST 2: ...what Redis holds: each policy's ALLOW under its own key, no ERROR (Redis, the mapping)
--- http_config eval
$::Http{redis}
--- config eval
main::config('mapping')
--- init
main::expect_redis('mapping', 'TEST 2');
--- request eval
main::requests(\@::Again)
--- more_headers eval
main::headers(\@::Again)
--- error_code eval
main::codes(\@::Again)
--- response_body eval
main::bodies(\@::Again)
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: astray -> lax (error_page): nothing sent astray, lax answers with one fetch, the strict policy fetches on its own; Redis, a header
--- http_config eval
$::Http{redis}
--- config eval
main::config('header')
--- init
main::prepare('header', 'redis');
--- request eval
main::requests(\@::Steps)
--- more_headers eval
main::headers(\@::Steps)
--- error_code eval
main::codes(\@::Steps)
--- response_body eval
main::bodies(\@::Steps)
--- no_error_log
[alert]
[crit]



=== TEST 4: ...what Redis holds: each policy's ALLOW under its own key, no ERROR (Redis, a header)
--- http_config eval
$::Http{redis}
--- config eval
main::config('header')
--- init
main::expect_redis('header', 'TEST 4');
--- request eval
main::requests(\@::Again)
--- more_headers eval
main::headers(\@::Again)
--- error_code eval
main::codes(\@::Again)
--- response_body eval
main::bodies(\@::Again)
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: astray -> lax (error_page): nothing sent astray, lax answers with one fetch, the strict policy fetches on its own; zone, a header
--- http_config eval
$::Http{zone}
--- config eval
main::config('header')
--- request eval
main::requests(\@::Steps)
--- more_headers eval
main::headers(\@::Steps)
--- error_code eval
main::codes(\@::Steps)
--- response_body eval
main::bodies(\@::Steps)
--- no_error_log
[alert]
[crit]



=== TEST 6: astray -> lax (error_page): nothing sent astray, lax answers with one fetch, the strict policy fetches on its own; zone and Redis, the mapping
--- http_config eval
$::Http{both}
--- config eval
main::config('mapping')
--- init
main::prepare('mapping', 'both');
--- request eval
main::requests(\@::Steps)
--- more_headers eval
main::headers(\@::Steps)
--- error_code eval
main::codes(\@::Steps)
--- response_body eval
main::bodies(\@::Steps)
--- no_error_log
[alert]
[crit]



=== TEST 7: ...what Redis holds: each policy's ALLOW under its own key, no ERROR (zone and Redis, the mapping)
--- http_config eval
$::Http{both}
--- config eval
main::config('mapping')
--- init
main::expect_redis('mapping', 'TEST 7');
--- request eval
main::requests(\@::Again)
--- more_headers eval
main::headers(\@::Again)
--- error_code eval
main::codes(\@::Again)
--- response_body eval
main::bodies(\@::Again)
--- no_error_log
[error]
[alert]
[crit]



=== TEST 8: astray -> lax (error_page): nothing sent astray, lax answers with one fetch, the strict policy fetches on its own; zone and Redis, a header
--- http_config eval
$::Http{both}
--- config eval
main::config('header')
--- init
main::prepare('header', 'both');
--- request eval
main::requests(\@::Steps)
--- more_headers eval
main::headers(\@::Steps)
--- error_code eval
main::codes(\@::Steps)
--- response_body eval
main::bodies(\@::Steps)
--- no_error_log
[alert]
[crit]



=== TEST 9: ...what Redis holds: each policy's ALLOW under its own key, no ERROR (zone and Redis, a header)
--- http_config eval
$::Http{both}
--- config eval
main::config('header')
--- init
main::expect_redis('header', 'TEST 9');
--- request eval
main::requests(\@::Again)
--- more_headers eval
main::headers(\@::Again)
--- error_code eval
main::codes(\@::Again)
--- response_body eval
main::bodies(\@::Again)
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: what the stopped fetch logs, while the fallback answers (zone and Redis, a header)
--- http_config eval
$::Http{both}
--- config eval
main::config('header')
--- init
main::prepare('header', 'both');
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- request
GET /astray/
--- error_code: 200
--- response_body
app: ALLOW verified-alice MISS
--- error_log eval
qr/\[error\] .*yoti_idv: the signed request "\/public\/sessions\/verified-alice" entered location "\/public\/", which is not "internal": a "rewrite", "error_page" or "try_files" of the API location leads out of it; it was stopped there, nothing was sent/
--- no_error_log
[alert]
[crit]
