# Compositions: a request that passes through two gated locations
# (error_page, X-Accel-Redirect), and locations that take the session id
# from different places sharing a cache.  Each verdict must stay with the
# policy and the session source it was reached for: a fallback's ALLOW never
# lands under the first location's key (a strict or bound location would
# then let everyone in), a denial reached after an ALLOW never lands under
# the ALLOW's key (verified users would be locked out), and a verdict for a
# session from a cookie never answers for the session the Redis mapping
# names.
#
# Each scenario runs with Redis only, a zone only (the session id then comes
# from a variable: the mapping needs Redis) and both; a block named
# "...what Redis holds" checks the keys the block before it left (its init
# asserts, then its requests run against a fresh nginx, so a fresh zone, and
# get the verdicts from Redis alone).

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

# what every composition config has; SESSION is where the session id comes
# from: the Redis mapping (nothing) or a header
our $Common = <<'_EOC_';
    yoti_idv_user_id  $http_x_user_id;
    SESSION
    proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
    proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";

    location @denied {
        return 403 "denied: $yoti_idv_verdict $yoti_idv_reason $yoti_idv_cache\n";
    }
_EOC_

our $Strict = <<'_EOC_';
        yoti_idv          on;
        yoti_idv_require  LIVENESS;
        yoti_idv_require  FACE_COMPARISON;
_EOC_

our $Lax = <<'_EOC_';
        yoti_idv          on;
        yoti_idv_require  LIVENESS;
_EOC_

our $Bound = $Lax;

our $Unbound = <<'_EOC_';
        yoti_idv            on;
        yoti_idv_bind_user  off;
        yoti_idv_require    LIVENESS;
_EOC_

our $App = "        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/app;\n";
our $Deny = "        error_page 403 = \@denied;\n";

our %Config = (
    # the fallback of docs/operations.md: strict denies, lax answers
    strict_lax => <<"_EOC_",
    location /strict/ {
$Strict        error_page 403 = /lax/;
$App    }

    location /lax/ {
$Lax$Deny$App    }

    location /strict-only/ {
$Strict$Deny$App    }
_EOC_

    # lax allows, then the application hands the request to a strict
    # location (X-Accel-Redirect), which denies
    lax_strict => <<"_EOC_",
    location /lax-xa/ {
$Lax$Deny        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/accel/strict-after/;
    }

    location = /accel/strict-after/ {
        yoti_idv off;
        add_header X-Accel-Redirect /strict-after/;
        return 200 "accel\\n";
    }

    location /strict-after/ {
        internal;
$Strict$Deny$App    }

    location /lax/ {
$Lax$Deny$App    }

    location /strict-only/ {
$Strict$Deny$App    }
_EOC_

    # bound denies another user's session, unbound answers
    bound_unbound => <<"_EOC_",
    location /bound/ {
$Bound        error_page 403 = /unbound/;
$App    }

    location /unbound/ {
$Unbound$Deny$App    }

    location /bound-only/ {
$Bound$Deny$App    }
_EOC_

    # unbound allows, then the application hands the request to a bound
    # location, which denies
    unbound_bound => <<"_EOC_",
    location /unbound-xa/ {
$Unbound$Deny        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/accel/bound-after/;
    }

    location = /accel/bound-after/ {
        yoti_idv off;
        add_header X-Accel-Redirect /bound-after/;
        return 200 "accel\\n";
    }

    location /bound-after/ {
        internal;
$Bound$Deny$App    }

    location /unbound/ {
$Unbound$Deny$App    }

    location /bound-only/ {
$Bound$Deny$App    }
_EOC_
);

# the session each scenario presents for user alice
our %Session = (
    strict_lax    => 'face-comparison-reject',
    lax_strict    => 'face-comparison-reject',
    bound_unbound => 'verified-bob',
    unbound_bound => 'verified-bob',
);

sub config {
    my ($pair, $source) = @_;

    my $session = $source eq 'mapping'
                  ? '' : 'yoti_idv_session_id  $http_x_session_id;';

    return ($Common =~ s/SESSION/$session/r) . "\n" . $Config{$pair};
}

# Redis: an empty database, and alice's mapping where the scenario uses it
sub prepare {
    my ($pair, $source, $cache) = @_;

    return if $cache eq 'zone';

    YotiIdvRedis::flush();
    YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', $Session{$pair})
        if $source eq 'mapping';
}

# request, status, body: the scenario, then a request to a location with
# the first policy and no way out, and one to the second policy's location
our %Steps = (
    strict_lax => [
        ['/__mock/reset', 200, "ok\n"],
        ['/strict/', 200, "app: ALLOW face-comparison-reject MISS\n"],
        ['/__mock/count/face-comparison-reject', 200, "1\n"],
        ['/strict-only/', 403, "denied: DENY check:FACE_COMPARISON:REJECT HIT\n"],
        ['/lax/', 200, "app: ALLOW face-comparison-reject HIT\n"],
        ['/__mock/count/face-comparison-reject', 200, "1\n"],
    ],
    lax_strict => [
        ['/__mock/reset', 200, "ok\n"],
        ['/lax-xa/', 403, "denied: DENY check:FACE_COMPARISON:REJECT MISS\n"],
        ['/__mock/count/face-comparison-reject', 200, "1\n"],
        ['/lax/', 200, "app: ALLOW face-comparison-reject HIT\n"],
        ['/strict-only/', 403, "denied: DENY check:FACE_COMPARISON:REJECT HIT\n"],
        ['/__mock/count/face-comparison-reject', 200, "1\n"],
    ],
    bound_unbound => [
        ['/__mock/reset', 200, "ok\n"],
        ['/bound/', 200, "app: ALLOW verified-bob MISS\n"],
        ['/__mock/count/verified-bob', 200, "1\n"],
        ['/bound-only/', 403, "denied: DENY user_mismatch HIT\n"],
        ['/unbound/', 200, "app: ALLOW verified-bob HIT\n"],
        ['/__mock/count/verified-bob', 200, "1\n"],
    ],
    unbound_bound => [
        ['/__mock/reset', 200, "ok\n"],
        ['/unbound-xa/', 403, "denied: DENY user_mismatch MISS\n"],
        ['/__mock/count/verified-bob', 200, "1\n"],
        ['/unbound/', 200, "app: ALLOW verified-bob HIT\n"],
        ['/bound-only/', 403, "denied: DENY user_mismatch HIT\n"],
        ['/__mock/count/verified-bob', 200, "1\n"],
    ],
);

# after the scenario, against a fresh nginx (an empty zone): the two
# verdicts come from Redis, and the provider is not asked
our %Again = (
    strict_lax => [
        ['/__mock/reset', 200, "ok\n"],
        ['/strict-only/', 403, "denied: DENY check:FACE_COMPARISON:REJECT HIT\n"],
        ['/lax/', 200, "app: ALLOW face-comparison-reject HIT\n"],
        ['/__mock/count', 200, "0\n"],
    ],
    bound_unbound => [
        ['/__mock/reset', 200, "ok\n"],
        ['/bound-only/', 403, "denied: DENY user_mismatch HIT\n"],
        ['/unbound/', 200, "app: ALLOW verified-bob HIT\n"],
        ['/__mock/count', 200, "0\n"],
    ],
);
$Again{lax_strict} = $Again{strict_lax};
$Again{unbound_bound} = $Again{bound_unbound};

sub requests { [ map { "GET $_->[0]" } @{ $_[0] } ] }
sub codes    { [ map { $_->[1] } @{ $_[0] } ] }
sub bodies   { [ map { $_->[2] } @{ $_[0] } ] }

sub headers {
    my ($steps, $pair) = @_;
    return [ ("X-User-Id: alice\nX-Session-Id: $Session{$pair}\n") x @$steps ];
}

# the keys of the two policies and what each must hold
sub expect_redis {
    my ($pair, $source, $test) = @_;

    my $src = $source eq 'mapping' ? 'redis' : 'variable';
    my $sid = $Session{$pair};
    my (%want, @checks);

    if ($pair =~ /strict/) {
        @checks = (
            [ YotiIdvRedis::verdict_key(user => 'alice', source => $src,
                  require => ['LIVENESS any', 'FACE_COMPARISON all']),
              "1 $sid DENY check:FACE_COMPARISON:REJECT", 'the strict policy' ],
            [ YotiIdvRedis::verdict_key(user => 'alice', source => $src,
                  require => ['LIVENESS any']),
              "1 $sid ALLOW ok", 'the lax policy' ],
        );

    } else {
        # an unbound policy caches by session where the id comes from a
        # variable, by user where it comes from the mapping
        my %who = $src eq 'variable' ? (session => $sid) : (user => 'alice');
        @checks = (
            [ YotiIdvRedis::verdict_key(user => 'alice', source => $src,
                  bind => 1, require => ['LIVENESS any']),
              "1 $sid DENY user_mismatch", 'the bound policy' ],
            [ YotiIdvRedis::verdict_key(%who, source => $src, bind => 0,
                  require => ['LIVENESS any']),
              "1 $sid ALLOW ok", 'the unbound policy' ],
        );
    }

    for my $c (@checks) {
        Test::More::is(YotiIdvRedis::cmd('GET', $c->[0]), $c->[1],
                       "$0 $test: $c->[2]'s key $c->[0]");
    }
}

# sources sharing a zone: a cookie and the mapping, the same policy
our $Sources = <<'_EOC_';
    yoti_idv_user_id  $http_x_user_id;
    proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
    proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";

    location @denied {
        return 403 "denied: $yoti_idv_verdict $yoti_idv_reason $yoti_idv_cache\n";
    }

    location /cookie/ {
        yoti_idv             on;
        yoti_idv_session_id  $cookie_idv_session;
        yoti_idv_require     LIVENESS;
        error_page 403 = @denied;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /header/ {
        yoti_idv             on;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        error_page 403 = @denied;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /mapped/ {
        yoti_idv             on;
        yoti_idv_require     LIVENESS;
        error_page 403 = @denied;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

# a GET from an init, asserted there
sub get_ok {
    my ($test, $path, $headers, $status, $body) = @_;

    my ($st, $b) = YotiIdvTest::http_get(server_port(), $path, $headers);
    Test::More::is("$st $b", "$status $body", "$0 $test: init: GET $path");
}

add_block_preprocessor(\&YotiIdvTest::defaults);

run_tests();

__DATA__

=== TEST 1: strict -> lax (error_page): lax answers with one fetch, the strict policy keeps its DENY; Redis, the mapping
--- http_config eval
$::Http{redis}
--- config eval
main::config('strict_lax', 'mapping')
--- init
main::prepare('strict_lax', 'mapping', 'redis');
--- request eval
main::requests($::Steps{strict_lax})
--- more_headers eval
main::headers($::Steps{strict_lax}, 'strict_lax')
--- error_code eval
main::codes($::Steps{strict_lax})
--- response_body eval
main::bodies($::Steps{strict_lax})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: ...what Redis holds: each policy's verdict under its own key (Redis, the mapping)
--- http_config eval
$::Http{redis}
--- config eval
main::config('strict_lax', 'mapping')
--- init
main::expect_redis('strict_lax', 'mapping', 'TEST 2');
--- request eval
main::requests($::Again{strict_lax})
--- more_headers eval
main::headers($::Again{strict_lax}, 'strict_lax')
--- error_code eval
main::codes($::Again{strict_lax})
--- response_body eval
main::bodies($::Again{strict_lax})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: strict -> lax (error_page): lax answers with one fetch, the strict policy keeps its DENY; Redis, a header
--- http_config eval
$::Http{redis}
--- config eval
main::config('strict_lax', 'variable')
--- init
main::prepare('strict_lax', 'variable', 'redis');
--- request eval
main::requests($::Steps{strict_lax})
--- more_headers eval
main::headers($::Steps{strict_lax}, 'strict_lax')
--- error_code eval
main::codes($::Steps{strict_lax})
--- response_body eval
main::bodies($::Steps{strict_lax})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: ...what Redis holds: each policy's verdict under its own key (Redis, a header)
--- http_config eval
$::Http{redis}
--- config eval
main::config('strict_lax', 'variable')
--- init
main::expect_redis('strict_lax', 'variable', 'TEST 4');
--- request eval
main::requests($::Again{strict_lax})
--- more_headers eval
main::headers($::Again{strict_lax}, 'strict_lax')
--- error_code eval
main::codes($::Again{strict_lax})
--- response_body eval
main::bodies($::Again{strict_lax})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: strict -> lax (error_page): lax answers with one fetch, the strict policy keeps its DENY; zone, a header
--- http_config eval
$::Http{zone}
--- config eval
main::config('strict_lax', 'variable')
--- init
main::prepare('strict_lax', 'variable', 'zone');
--- request eval
main::requests($::Steps{strict_lax})
--- more_headers eval
main::headers($::Steps{strict_lax}, 'strict_lax')
--- error_code eval
main::codes($::Steps{strict_lax})
--- response_body eval
main::bodies($::Steps{strict_lax})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: strict -> lax (error_page): lax answers with one fetch, the strict policy keeps its DENY; zone and Redis, the mapping
--- http_config eval
$::Http{both}
--- config eval
main::config('strict_lax', 'mapping')
--- init
main::prepare('strict_lax', 'mapping', 'both');
--- request eval
main::requests($::Steps{strict_lax})
--- more_headers eval
main::headers($::Steps{strict_lax}, 'strict_lax')
--- error_code eval
main::codes($::Steps{strict_lax})
--- response_body eval
main::bodies($::Steps{strict_lax})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 7: ...what Redis holds: each policy's verdict under its own key (zone and Redis, the mapping)
--- http_config eval
$::Http{both}
--- config eval
main::config('strict_lax', 'mapping')
--- init
main::expect_redis('strict_lax', 'mapping', 'TEST 7');
--- request eval
main::requests($::Again{strict_lax})
--- more_headers eval
main::headers($::Again{strict_lax}, 'strict_lax')
--- error_code eval
main::codes($::Again{strict_lax})
--- response_body eval
main::bodies($::Again{strict_lax})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 8: strict -> lax (error_page): lax answers with one fetch, the strict policy keeps its DENY; zone and Redis, a header
--- http_config eval
$::Http{both}
--- config eval
main::config('strict_lax', 'variable')
--- init
main::prepare('strict_lax', 'variable', 'both');
--- request eval
main::requests($::Steps{strict_lax})
--- more_headers eval
main::headers($::Steps{strict_lax}, 'strict_lax')
--- error_code eval
main::codes($::Steps{strict_lax})
--- response_body eval
main::bodies($::Steps{strict_lax})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 9: ...what Redis holds: each policy's verdict under its own key (zone and Redis, a header)
--- http_config eval
$::Http{both}
--- config eval
main::config('strict_lax', 'variable')
--- init
main::expect_redis('strict_lax', 'variable', 'TEST 9');
--- request eval
main::requests($::Again{strict_lax})
--- more_headers eval
main::headers($::Again{strict_lax}, 'strict_lax')
--- error_code eval
main::codes($::Again{strict_lax})
--- response_body eval
main::bodies($::Again{strict_lax})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 10: lax -> strict (X-Accel-Redirect): strict denies, the lax policy keeps its ALLOW; Redis, the mapping
--- http_config eval
$::Http{redis}
--- config eval
main::config('lax_strict', 'mapping')
--- init
main::prepare('lax_strict', 'mapping', 'redis');
--- request eval
main::requests($::Steps{lax_strict})
--- more_headers eval
main::headers($::Steps{lax_strict}, 'lax_strict')
--- error_code eval
main::codes($::Steps{lax_strict})
--- response_body eval
main::bodies($::Steps{lax_strict})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 11: ...what Redis holds: each policy's verdict under its own key (Redis, the mapping)
--- http_config eval
$::Http{redis}
--- config eval
main::config('lax_strict', 'mapping')
--- init
main::expect_redis('lax_strict', 'mapping', 'TEST 11');
--- request eval
main::requests($::Again{lax_strict})
--- more_headers eval
main::headers($::Again{lax_strict}, 'lax_strict')
--- error_code eval
main::codes($::Again{lax_strict})
--- response_body eval
main::bodies($::Again{lax_strict})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 12: lax -> strict (X-Accel-Redirect): strict denies, the lax policy keeps its ALLOW; Redis, a header
--- http_config eval
$::Http{redis}
--- config eval
main::config('lax_strict', 'variable')
--- init
main::prepare('lax_strict', 'variable', 'redis');
--- request eval
main::requests($::Steps{lax_strict})
--- more_headers eval
main::headers($::Steps{lax_strict}, 'lax_strict')
--- error_code eval
main::codes($::Steps{lax_strict})
--- response_body eval
main::bodies($::Steps{lax_strict})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 13: ...what Redis holds: each policy's verdict under its own key (Redis, a header)
--- http_config eval
$::Http{redis}
--- config eval
main::config('lax_strict', 'variable')
--- init
main::expect_redis('lax_strict', 'variable', 'TEST 13');
--- request eval
main::requests($::Again{lax_strict})
--- more_headers eval
main::headers($::Again{lax_strict}, 'lax_strict')
--- error_code eval
main::codes($::Again{lax_strict})
--- response_body eval
main::bodies($::Again{lax_strict})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 14: lax -> strict (X-Accel-Redirect): strict denies, the lax policy keeps its ALLOW; zone, a header
--- http_config eval
$::Http{zone}
--- config eval
main::config('lax_strict', 'variable')
--- init
main::prepare('lax_strict', 'variable', 'zone');
--- request eval
main::requests($::Steps{lax_strict})
--- more_headers eval
main::headers($::Steps{lax_strict}, 'lax_strict')
--- error_code eval
main::codes($::Steps{lax_strict})
--- response_body eval
main::bodies($::Steps{lax_strict})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 15: lax -> strict (X-Accel-Redirect): strict denies, the lax policy keeps its ALLOW; zone and Redis, the mapping
--- http_config eval
$::Http{both}
--- config eval
main::config('lax_strict', 'mapping')
--- init
main::prepare('lax_strict', 'mapping', 'both');
--- request eval
main::requests($::Steps{lax_strict})
--- more_headers eval
main::headers($::Steps{lax_strict}, 'lax_strict')
--- error_code eval
main::codes($::Steps{lax_strict})
--- response_body eval
main::bodies($::Steps{lax_strict})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 16: ...what Redis holds: each policy's verdict under its own key (zone and Redis, the mapping)
--- http_config eval
$::Http{both}
--- config eval
main::config('lax_strict', 'mapping')
--- init
main::expect_redis('lax_strict', 'mapping', 'TEST 16');
--- request eval
main::requests($::Again{lax_strict})
--- more_headers eval
main::headers($::Again{lax_strict}, 'lax_strict')
--- error_code eval
main::codes($::Again{lax_strict})
--- response_body eval
main::bodies($::Again{lax_strict})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 17: lax -> strict (X-Accel-Redirect): strict denies, the lax policy keeps its ALLOW; zone and Redis, a header
--- http_config eval
$::Http{both}
--- config eval
main::config('lax_strict', 'variable')
--- init
main::prepare('lax_strict', 'variable', 'both');
--- request eval
main::requests($::Steps{lax_strict})
--- more_headers eval
main::headers($::Steps{lax_strict}, 'lax_strict')
--- error_code eval
main::codes($::Steps{lax_strict})
--- response_body eval
main::bodies($::Steps{lax_strict})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 18: ...what Redis holds: each policy's verdict under its own key (zone and Redis, a header)
--- http_config eval
$::Http{both}
--- config eval
main::config('lax_strict', 'variable')
--- init
main::expect_redis('lax_strict', 'variable', 'TEST 18');
--- request eval
main::requests($::Again{lax_strict})
--- more_headers eval
main::headers($::Again{lax_strict}, 'lax_strict')
--- error_code eval
main::codes($::Again{lax_strict})
--- response_body eval
main::bodies($::Again{lax_strict})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 19: bound -> unbound (error_page), another user's session: unbound answers, the bound policy keeps its DENY; Redis, the mapping
--- http_config eval
$::Http{redis}
--- config eval
main::config('bound_unbound', 'mapping')
--- init
main::prepare('bound_unbound', 'mapping', 'redis');
--- request eval
main::requests($::Steps{bound_unbound})
--- more_headers eval
main::headers($::Steps{bound_unbound}, 'bound_unbound')
--- error_code eval
main::codes($::Steps{bound_unbound})
--- response_body eval
main::bodies($::Steps{bound_unbound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 20: ...what Redis holds: each policy's verdict under its own key (Redis, the mapping)
--- http_config eval
$::Http{redis}
--- config eval
main::config('bound_unbound', 'mapping')
--- init
main::expect_redis('bound_unbound', 'mapping', 'TEST 20');
--- request eval
main::requests($::Again{bound_unbound})
--- more_headers eval
main::headers($::Again{bound_unbound}, 'bound_unbound')
--- error_code eval
main::codes($::Again{bound_unbound})
--- response_body eval
main::bodies($::Again{bound_unbound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 21: bound -> unbound (error_page), another user's session: unbound answers, the bound policy keeps its DENY; Redis, a header
--- http_config eval
$::Http{redis}
--- config eval
main::config('bound_unbound', 'variable')
--- init
main::prepare('bound_unbound', 'variable', 'redis');
--- request eval
main::requests($::Steps{bound_unbound})
--- more_headers eval
main::headers($::Steps{bound_unbound}, 'bound_unbound')
--- error_code eval
main::codes($::Steps{bound_unbound})
--- response_body eval
main::bodies($::Steps{bound_unbound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 22: ...what Redis holds: each policy's verdict under its own key (Redis, a header)
--- http_config eval
$::Http{redis}
--- config eval
main::config('bound_unbound', 'variable')
--- init
main::expect_redis('bound_unbound', 'variable', 'TEST 22');
--- request eval
main::requests($::Again{bound_unbound})
--- more_headers eval
main::headers($::Again{bound_unbound}, 'bound_unbound')
--- error_code eval
main::codes($::Again{bound_unbound})
--- response_body eval
main::bodies($::Again{bound_unbound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 23: bound -> unbound (error_page), another user's session: unbound answers, the bound policy keeps its DENY; zone, a header
--- http_config eval
$::Http{zone}
--- config eval
main::config('bound_unbound', 'variable')
--- init
main::prepare('bound_unbound', 'variable', 'zone');
--- request eval
main::requests($::Steps{bound_unbound})
--- more_headers eval
main::headers($::Steps{bound_unbound}, 'bound_unbound')
--- error_code eval
main::codes($::Steps{bound_unbound})
--- response_body eval
main::bodies($::Steps{bound_unbound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 24: bound -> unbound (error_page), another user's session: unbound answers, the bound policy keeps its DENY; zone and Redis, the mapping
--- http_config eval
$::Http{both}
--- config eval
main::config('bound_unbound', 'mapping')
--- init
main::prepare('bound_unbound', 'mapping', 'both');
--- request eval
main::requests($::Steps{bound_unbound})
--- more_headers eval
main::headers($::Steps{bound_unbound}, 'bound_unbound')
--- error_code eval
main::codes($::Steps{bound_unbound})
--- response_body eval
main::bodies($::Steps{bound_unbound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 25: ...what Redis holds: each policy's verdict under its own key (zone and Redis, the mapping)
--- http_config eval
$::Http{both}
--- config eval
main::config('bound_unbound', 'mapping')
--- init
main::expect_redis('bound_unbound', 'mapping', 'TEST 25');
--- request eval
main::requests($::Again{bound_unbound})
--- more_headers eval
main::headers($::Again{bound_unbound}, 'bound_unbound')
--- error_code eval
main::codes($::Again{bound_unbound})
--- response_body eval
main::bodies($::Again{bound_unbound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 26: bound -> unbound (error_page), another user's session: unbound answers, the bound policy keeps its DENY; zone and Redis, a header
--- http_config eval
$::Http{both}
--- config eval
main::config('bound_unbound', 'variable')
--- init
main::prepare('bound_unbound', 'variable', 'both');
--- request eval
main::requests($::Steps{bound_unbound})
--- more_headers eval
main::headers($::Steps{bound_unbound}, 'bound_unbound')
--- error_code eval
main::codes($::Steps{bound_unbound})
--- response_body eval
main::bodies($::Steps{bound_unbound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 27: ...what Redis holds: each policy's verdict under its own key (zone and Redis, a header)
--- http_config eval
$::Http{both}
--- config eval
main::config('bound_unbound', 'variable')
--- init
main::expect_redis('bound_unbound', 'variable', 'TEST 27');
--- request eval
main::requests($::Again{bound_unbound})
--- more_headers eval
main::headers($::Again{bound_unbound}, 'bound_unbound')
--- error_code eval
main::codes($::Again{bound_unbound})
--- response_body eval
main::bodies($::Again{bound_unbound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 28: unbound -> bound (X-Accel-Redirect), another user's session: bound denies, the unbound policy keeps its ALLOW; Redis, the mapping
--- http_config eval
$::Http{redis}
--- config eval
main::config('unbound_bound', 'mapping')
--- init
main::prepare('unbound_bound', 'mapping', 'redis');
--- request eval
main::requests($::Steps{unbound_bound})
--- more_headers eval
main::headers($::Steps{unbound_bound}, 'unbound_bound')
--- error_code eval
main::codes($::Steps{unbound_bound})
--- response_body eval
main::bodies($::Steps{unbound_bound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 29: ...what Redis holds: each policy's verdict under its own key (Redis, the mapping)
--- http_config eval
$::Http{redis}
--- config eval
main::config('unbound_bound', 'mapping')
--- init
main::expect_redis('unbound_bound', 'mapping', 'TEST 29');
--- request eval
main::requests($::Again{unbound_bound})
--- more_headers eval
main::headers($::Again{unbound_bound}, 'unbound_bound')
--- error_code eval
main::codes($::Again{unbound_bound})
--- response_body eval
main::bodies($::Again{unbound_bound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 30: unbound -> bound (X-Accel-Redirect), another user's session: bound denies, the unbound policy keeps its ALLOW; Redis, a header
--- http_config eval
$::Http{redis}
--- config eval
main::config('unbound_bound', 'variable')
--- init
main::prepare('unbound_bound', 'variable', 'redis');
--- request eval
main::requests($::Steps{unbound_bound})
--- more_headers eval
main::headers($::Steps{unbound_bound}, 'unbound_bound')
--- error_code eval
main::codes($::Steps{unbound_bound})
--- response_body eval
main::bodies($::Steps{unbound_bound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 31: ...what Redis holds: each policy's verdict under its own key (Redis, a header)
--- http_config eval
$::Http{redis}
--- config eval
main::config('unbound_bound', 'variable')
--- init
main::expect_redis('unbound_bound', 'variable', 'TEST 31');
--- request eval
main::requests($::Again{unbound_bound})
--- more_headers eval
main::headers($::Again{unbound_bound}, 'unbound_bound')
--- error_code eval
main::codes($::Again{unbound_bound})
--- response_body eval
main::bodies($::Again{unbound_bound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 32: ...and bob, whose session it is, is not locked out of the unbound policy (Redis, a header)
--- http_config eval
$::Http{redis}
--- config eval
main::config('unbound_bound', 'variable')
--- init
main::prepare('unbound_bound', 'variable', 'redis');
main::get_ok('TEST 32', '/unbound-xa/', { 'X-User-Id' => 'alice',
             'X-Session-Id' => 'verified-bob' },
             403, "denied: DENY user_mismatch MISS\n");
--- request eval
["GET /unbound/", "GET /bound-only/"]
--- more_headers
X-User-Id: bob
X-Session-Id: verified-bob
--- error_code eval
[200, 200]
--- response_body eval
["app: ALLOW verified-bob HIT\n", "app: ALLOW verified-bob MISS\n"]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 33: unbound -> bound (X-Accel-Redirect), another user's session: bound denies, the unbound policy keeps its ALLOW; zone, a header
--- http_config eval
$::Http{zone}
--- config eval
main::config('unbound_bound', 'variable')
--- init
main::prepare('unbound_bound', 'variable', 'zone');
--- request eval
main::requests($::Steps{unbound_bound})
--- more_headers eval
main::headers($::Steps{unbound_bound}, 'unbound_bound')
--- error_code eval
main::codes($::Steps{unbound_bound})
--- response_body eval
main::bodies($::Steps{unbound_bound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 34: ...and bob, whose session it is, is not locked out of the unbound policy (zone, a header)
--- http_config eval
$::Http{zone}
--- config eval
main::config('unbound_bound', 'variable')
--- init
main::prepare('unbound_bound', 'variable', 'zone');
main::get_ok('TEST 34', '/unbound-xa/', { 'X-User-Id' => 'alice',
             'X-Session-Id' => 'verified-bob' },
             403, "denied: DENY user_mismatch MISS\n");
--- request eval
["GET /unbound/", "GET /bound-only/"]
--- more_headers
X-User-Id: bob
X-Session-Id: verified-bob
--- error_code eval
[200, 200]
--- response_body eval
["app: ALLOW verified-bob HIT\n", "app: ALLOW verified-bob MISS\n"]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 35: unbound -> bound (X-Accel-Redirect), another user's session: bound denies, the unbound policy keeps its ALLOW; zone and Redis, the mapping
--- http_config eval
$::Http{both}
--- config eval
main::config('unbound_bound', 'mapping')
--- init
main::prepare('unbound_bound', 'mapping', 'both');
--- request eval
main::requests($::Steps{unbound_bound})
--- more_headers eval
main::headers($::Steps{unbound_bound}, 'unbound_bound')
--- error_code eval
main::codes($::Steps{unbound_bound})
--- response_body eval
main::bodies($::Steps{unbound_bound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 36: ...what Redis holds: each policy's verdict under its own key (zone and Redis, the mapping)
--- http_config eval
$::Http{both}
--- config eval
main::config('unbound_bound', 'mapping')
--- init
main::expect_redis('unbound_bound', 'mapping', 'TEST 36');
--- request eval
main::requests($::Again{unbound_bound})
--- more_headers eval
main::headers($::Again{unbound_bound}, 'unbound_bound')
--- error_code eval
main::codes($::Again{unbound_bound})
--- response_body eval
main::bodies($::Again{unbound_bound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 37: unbound -> bound (X-Accel-Redirect), another user's session: bound denies, the unbound policy keeps its ALLOW; zone and Redis, a header
--- http_config eval
$::Http{both}
--- config eval
main::config('unbound_bound', 'variable')
--- init
main::prepare('unbound_bound', 'variable', 'both');
--- request eval
main::requests($::Steps{unbound_bound})
--- more_headers eval
main::headers($::Steps{unbound_bound}, 'unbound_bound')
--- error_code eval
main::codes($::Steps{unbound_bound})
--- response_body eval
main::bodies($::Steps{unbound_bound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 38: ...what Redis holds: each policy's verdict under its own key (zone and Redis, a header)
--- http_config eval
$::Http{both}
--- config eval
main::config('unbound_bound', 'variable')
--- init
main::expect_redis('unbound_bound', 'variable', 'TEST 38');
--- request eval
main::requests($::Again{unbound_bound})
--- more_headers eval
main::headers($::Again{unbound_bound}, 'unbound_bound')
--- error_code eval
main::codes($::Again{unbound_bound})
--- response_body eval
main::bodies($::Again{unbound_bound})
--- no_error_log
[error]
[alert]
[crit]



=== TEST 39: ...and bob, whose session it is, is not locked out of the unbound policy (zone and Redis, a header)
--- http_config eval
$::Http{both}
--- config eval
main::config('unbound_bound', 'variable')
--- init
main::prepare('unbound_bound', 'variable', 'both');
main::get_ok('TEST 39', '/unbound-xa/', { 'X-User-Id' => 'alice',
             'X-Session-Id' => 'verified-bob' },
             403, "denied: DENY user_mismatch MISS\n");
--- request eval
["GET /unbound/", "GET /bound-only/"]
--- more_headers
X-User-Id: bob
X-Session-Id: verified-bob
--- error_code eval
[200, 200]
--- response_body eval
["app: ALLOW verified-bob HIT\n", "app: ALLOW verified-bob MISS\n"]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 40: a cookie location's ALLOW never answers the mapping location for a session the mapping does not name (zone and Redis)
--- http_config eval
$::Http{both}
--- config eval
$::Sources
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvMock::mock_get('/__mock/reset');
main::get_ok('TEST 40', '/cookie/', { 'X-User-Id' => 'alice',
             Cookie => 'idv_session=verified-alice' },
             200, "app: ALLOW verified-alice MISS\n");
--- request eval
["GET /mapped/", "GET /__mock/count/liveness-all-reject", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
--- error_code eval
[403, 200, 200]
--- response_body eval
["denied: DENY check:LIVENESS:REJECT MISS\n", "1\n", "1\n"]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 41: ...the mapping changed after the cookie location cached an ALLOW: the new session is used (zone and Redis)
--- http_config eval
$::Http{both}
--- config eval
$::Sources
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvMock::mock_get('/__mock/reset');
main::get_ok('TEST 41', '/cookie/', { 'X-User-Id' => 'alice',
             Cookie => 'idv_session=verified-alice' },
             200, "app: ALLOW verified-alice MISS\n");
Test::More::is(YotiIdvRedis::cmd('GET', YotiIdvRedis::verdict_key(user => 'alice',
                   source => 'variable', require => ['LIVENESS any'])),
               '1 verified-alice ALLOW ok', "$0 TEST 41: the cookie's verdict, its key");
Test::More::is(YotiIdvRedis::cmd('GET', YotiIdvRedis::verdict_key(user => 'alice',
                   source => 'redis', require => ['LIVENESS any'])),
               undef, "$0 TEST 41: nothing under the mapping's key");
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'face-comparison-reject');
--- request eval
["GET /mapped/", "GET /mapped/", "GET /__mock/count/face-comparison-reject"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 200, 200]
--- response_body eval
["app: ALLOW face-comparison-reject MISS\n", "app: ALLOW face-comparison-reject HIT\n", "1\n"]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 42: ...the mapping deleted right after the cookie location cached an ALLOW: no_session (zone and Redis)
--- http_config eval
$::Http{both}
--- config eval
$::Sources
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::get_ok('TEST 42', '/cookie/', { 'X-User-Id' => 'alice',
             Cookie => 'idv_session=verified-alice' },
             200, "app: ALLOW verified-alice MISS\n");
YotiIdvRedis::cmd('DEL', 'yoti_idv:user:alice');
--- request eval
["GET /mapped/", "GET /cookie/"]
--- more_headers
X-User-Id: alice
Cookie: idv_session=verified-alice
--- error_code eval
[403, 200]
--- response_body_like eval
[qr/^denied: DENY no_session\b/, qr/^app: ALLOW verified-alice HIT\n\z/]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 43: ...the same with Redis only: the mapping deleted, no_session
--- http_config eval
$::Http{redis}
--- config eval
$::Sources
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::get_ok('TEST 43', '/cookie/', { 'X-User-Id' => 'alice',
             Cookie => 'idv_session=verified-alice' },
             200, "app: ALLOW verified-alice MISS\n");
YotiIdvRedis::cmd('DEL', 'yoti_idv:user:alice');
--- request
GET /mapped/
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_body_like eval
qr/^denied: DENY no_session\b/
--- no_error_log
[error]
[alert]
[crit]



=== TEST 44: ...and with Redis only, another mapped session: its own fetch
--- http_config eval
$::Http{redis}
--- config eval
$::Sources
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvMock::mock_get('/__mock/reset');
main::get_ok('TEST 44', '/cookie/', { 'X-User-Id' => 'alice',
             Cookie => 'idv_session=verified-alice' },
             200, "app: ALLOW verified-alice MISS\n");
--- request eval
["GET /mapped/", "GET /__mock/count/liveness-all-reject"]
--- more_headers
X-User-Id: alice
--- error_code eval
[403, 200]
--- response_body eval
["denied: DENY check:LIVENESS:REJECT MISS\n", "1\n"]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 45: two variable sources sharing a zone (no Redis): a cookie's ALLOW never answers a header naming another session
--- http_config eval
$::Http{zone}
--- config eval
$::Sources =~ s{    location /mapped/ \{.*?\n    \}\n}{}sr
--- init
YotiIdvMock::mock_get('/__mock/reset');
main::get_ok('TEST 45', '/cookie/', { 'X-User-Id' => 'alice',
             Cookie => 'idv_session=verified-alice' },
             200, "app: ALLOW verified-alice MISS\n");
--- request eval
["GET /header/", "GET /__mock/count/liveness-all-reject"]
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-all-reject
--- error_code eval
[403, 200]
--- response_body eval
["denied: DENY check:LIVENESS:REJECT MISS\n", "1\n"]
--- no_error_log
[error]
[alert]
[crit]
