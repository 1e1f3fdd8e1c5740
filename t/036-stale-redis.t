# yoti_idv_cache_use_stale with Redis: the verdict is kept for the window
# (TTL = valid + stale, its expiry in the value, "2 <expires> ..."), an
# expired one answers only a temporary provider failure, and the user's
# mapping always wins: a session the mapping no longer names, or a
# removed mapping, is never answered from stale.  Values written without
# the directive, "1 ...", still parse.
#
# The verdicts live 2s: a "2 <expires>" value counts whole seconds, so a
# verdict is fresh for 1 to 2 seconds, and the requests of one test that
# expect it fresh always fall within that.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

repeat_each(1);
no_shuffle();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis        127.0.0.1:$TEST_NGINX_REDIS_PORT;
    yoti_idv_cache_valid  APPROVE 2s;
    yoti_idv_breaker      off;
_EOC_

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv                  on;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_require          LIVENESS;
        yoti_idv_cache_use_stale  10s;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Members) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

sub key { YotiIdvRedis::verdict_key(user => 'alice',
                                    require => ['LIVENESS any'], @_) }

# the first request, from an init: it must be allowed and fetched
sub first {
    my ($path, %h) = @_;
    YotiIdvMock::mock_get('/__mock/reset');
    my ($st, $body, $hd) = YotiIdvTest::http_get(main::server_port(), $path,
                                                 { 'X-User-Id' => 'alice', %h });
    die "first request: $st $body\n"
        unless $st eq '200' && ($hd->{'x-idv-cache'} // '') eq 'MISS';
}

run_tests();

__DATA__

=== TEST 1: the value has its expiry, the TTL the stale window too
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
my $v = YotiIdvRedis::cmd('GET', main::key());
my $now = time;
die "value: $v\n" unless $v =~ /^2 (\d+) verified-alice ALLOW \S+\z/
                         && $1 >= $now && $1 <= $now + 3;
my $ttl = YotiIdvRedis::cmd('TTL', main::key());
die "ttl: $ttl\n" unless $ttl >= 10 && $ttl <= 12;
--- request
GET /members/
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice HIT



=== TEST 2: expired, the provider down: the expired verdict answers, STALE
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
YotiIdvMock::mock_get('/__mock/outage/status-503');
select(undef, undef, undef, 2.2);
--- request eval
["GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
--- response_body eval
["app: ALLOW verified-alice STALE\n", "2\n"]
--- timeout: 6



=== TEST 3: expired, the provider answers: a fresh verdict (MISS), stored again
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
select(undef, undef, undef, 2.2);
--- request eval
["GET /members/", "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
--- response_body eval
["app: ALLOW verified-alice MISS\n", "app: ALLOW verified-alice HIT\n", "2\n"]
--- timeout: 6



=== TEST 4: the mapping names another session now: never the old verdict
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
YotiIdvMock::mock_get('/__mock/outage/status-503');
select(undef, undef, undef, 2.2);
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-bob');
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:503
X-IDV-Cache: MISS
--- error_log
no verdict for session "verified-bob": provider:503
--- timeout: 6



=== TEST 5: the mapping is gone: no_session, not the old verdict
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
YotiIdvMock::mock_get('/__mock/outage/status-503');
select(undef, undef, undef, 2.2);
YotiIdvRedis::cmd('DEL', 'yoti_idv:user:alice');
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: no_session
--- timeout: 6



=== TEST 6: after the window, the error
--- config
    location /members/ {
        yoti_idv                  on;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_require          LIVENESS;
        yoti_idv_cache_use_stale  1s;

        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
YotiIdvMock::mock_get('/__mock/outage/status-503');
select(undef, undef, undef, 3.2);
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:503
--- error_log
no verdict for session "verified-alice": provider:503
--- timeout: 6



=== TEST 7: a value from before ("1 ...", no expiry) is a verdict until its TTL
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvRedis::cmd('SET', main::key(), '1 verified-alice ALLOW old_format');
--- more_headers
X-User-Id: alice
--- response_headers
X-IDV-Reason: old_format
X-IDV-Cache: HIT



=== TEST 8: a "2 ..." value past its expiry is no verdict for a location without use_stale
--- config
    location /members/ {
        yoti_idv                  on;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_require          LIVENESS;

        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvRedis::cmd('SET', main::key(), '2 ' . (time - 5) . ' verified-alice ALLOW expired');
YotiIdvMock::mock_get('/__mock/reset');
YotiIdvMock::mock_get('/__mock/outage/status-503');
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:503
X-IDV-Cache: MISS
--- error_log
no verdict for session "verified-alice": provider:503



=== TEST 9: ...and without use_stale, the value stays "1 ..." with the TTL of before
--- config
    location /members/ {
        yoti_idv                  on;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_require          LIVENESS;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
my $v = YotiIdvRedis::cmd('GET', main::key());
die "value: $v\n" unless $v =~ /^1 verified-alice ALLOW \S+\z/;
my $ttl = YotiIdvRedis::cmd('TTL', main::key());
die "ttl: $ttl\n" unless $ttl >= 1 && $ttl <= 2;
--- request
GET /__mock/count/verified-alice
--- response_body
1



=== TEST 10: with the zone too: the zone's expired verdict is dropped when the mapping moved
--- http_config eval
$main::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m;\n"
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
YotiIdvMock::mock_get('/__mock/outage/status-503');
select(undef, undef, undef, 2.2);
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-bob');
--- request eval
["GET /members/", "GET /members/"]
--- more_headers
X-User-Id: alice
--- error_code eval
[503, 503]
--- response_headers eval
["X-IDV-Reason: provider:503", "X-IDV-Reason: provider:503"]
--- no_error_log
[alert]
[crit]
--- timeout: 6



=== TEST 11: with the zone too: the mapping still names it, STALE
--- http_config eval
$main::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m;\n"
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
YotiIdvMock::mock_get('/__mock/outage/status-503');
select(undef, undef, undef, 2.2);
--- request eval
["GET /members/", "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
--- response_body eval
["app: ALLOW verified-alice STALE\n", "app: ALLOW verified-alice STALE\n", "3\n"]
--- timeout: 6



=== TEST 12: the counters: a stale answer is a verdict of Redis, and a stale lookup
--- config eval
$::Members . <<'_EOC_';
    location = /metrics {
        yoti_idv_metrics;
    }
_EOC_
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('/members/');
YotiIdvMock::mock_get('/__mock/outage/status-503');
select(undef, undef, undef, 2.2);
--- request eval
["GET /members/", "GET /metrics"]
--- more_headers
X-User-Id: alice
--- response_body_like eval
[qr/^app: ALLOW verified-alice STALE\n\z/,
 qr/^nginx_yoti_idv_verdicts_total\{verdict="allow",layer="redis"\} 1\n.*^nginx_yoti_idv_verdicts_total\{verdict="allow",layer="provider"\} 1\n.*^nginx_yoti_idv_cache_lookups_total\{layer="redis",result="miss"\} 2\n.*^nginx_yoti_idv_cache_lookups_total\{layer="redis",result="stale"\} 1\n/ms]
--- timeout: 6
