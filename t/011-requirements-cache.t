# The age requirement and the verdict caches: a cached verdict makes no
# media request, an "underage" DENY lives in Redis no longer than until
# the holder comes of age, and the fingerprint covers the new parameters.

use lib 't/lib';

use File::Temp qw(tempdir);
use POSIX ();

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
use YotiIdvRedis;

repeat_each(1);
no_shuffle();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis  127.0.0.1:$TEST_NGINX_REDIS_PORT;
    yoti_idv_cache_valid REJECT 2d;
_EOC_

our $Adults = <<'_EOC_';
    location /adults/ {
        yoti_idv          on;
        yoti_idv_user_id  $http_x_user_id;
        yoti_idv_require  LIVENESS liveness_type=STATIC;
        yoti_idv_require  ID_DOCUMENT_AUTHENTICITY issuing_country=GBR,IRL;
        yoti_idv_require_age 18;

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
    $block->set_value('config', $Adults) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

our @Adults = ('LIVENESS any liveness_type=STATIC',
               'ID_DOCUMENT_AUTHENTICITY all issuing_country=GBR,IRL',
               'age=18');

sub key { YotiIdvRedis::verdict_key(@_) }

# seconds until the next UTC midnight
sub to_midnight { 86400 - time % 86400 }

run_tests();

__DATA__

=== TEST 1: an adult: fetched once with its media, then from Redis without either
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'age-adult');
--- request eval
["GET /__mock/reset", "GET /adults/", "GET /adults/", "GET /adults/",
 "GET /__mock/count/age-adult", "GET /__mock/count-media"]
--- more_headers
X-User-Id: alice
--- response_body eval
["ok\n", "app: ALLOW age-adult MISS\n", "app: ALLOW age-adult HIT\n",
 "app: ALLOW age-adult HIT\n", "1\n", "1\n"]



=== TEST 2: ...under the key of the policy's fingerprint, with ALLOW and the reason only
--- init
my $key = main::key(user => 'alice', require => \@main::Adults);
my $v = YotiIdvRedis::cmd('GET', $key);
die "cached value \"" . ($v // 'nil') . "\"\n"
    unless defined $v && $v eq '1 age-adult ALLOW ok';
my $plain = main::key(user => 'alice',
                      require => ['LIVENESS any', 'ID_DOCUMENT_AUTHENTICITY all']);
die "the policy without the parameters shares the key\n" if $plain eq $key;
--- more_headers
X-User-Id: alice
--- request
GET /adults/
--- response_body
app: ALLOW age-adult HIT



=== TEST 3: the 18th birthday is tomorrow: DENY underage
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'age-18-tomorrow');
--- request eval
["GET /adults/", "GET /__mock/sleep/100"]
--- more_headers
X-User-Id: alice
--- error_code eval
[403, 200]
--- response_headers eval
["X-IDV-Reason: age:underage", ""]



=== TEST 4: ...cached until the UTC midnight they come of age, not for the 2 days of REJECT
--- init
my $key = main::key(user => 'alice', require => \@main::Adults);
my $v = YotiIdvRedis::cmd('GET', $key);
my $ttl = YotiIdvRedis::cmd('TTL', $key);
my $left = main::to_midnight();
die "cached value \"" . ($v // 'nil') . "\"\n"
    unless defined $v && $v eq '1 age-18-tomorrow DENY age:underage';
die "ttl $ttl, $left s to midnight\n"
    unless $ttl > 0 && $ttl <= $left + 2 && $ttl > $left - 30;
--- request eval
["GET /__mock/reset", "GET /adults/", "GET /__mock/count-media"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/ok/, qr/403/, qr/^0\n\z/]



=== TEST 5: a minor of 15: the cap is years away, REJECT's 2 days apply
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'age-minor');
--- request eval
["GET /adults/", "GET /__mock/sleep/100"]
--- more_headers
X-User-Id: alice
--- error_code eval
[403, 200]



=== TEST 6: ...TTL of REJECT
--- init
my $key = main::key(user => 'alice', require => \@main::Adults);
my $ttl = YotiIdvRedis::cmd('TTL', $key);
die "ttl $ttl\n" unless $ttl > 172700 && $ttl <= 172800;
--- more_headers
X-User-Id: alice
--- request
GET /adults/
--- error_code: 403
--- response_headers
X-IDV-Cache: HIT



=== TEST 7: the media answer is never cached: an error is asked again
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'age-media-500');
--- request eval
["GET /__mock/reset", "GET /adults/", "GET /adults/", "GET /__mock/count/age-media-500/media"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 503, 503, 200]
--- response_body_like eval
[qr/ok/, qr/503/, qr/503/, qr/^2\n\z/]
--- no_error_log
[alert]
[crit]



=== TEST 8: the zone: a hit makes no media request either
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m;\n"
--- config
    location /adults/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require_age 18;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
["GET /__mock/reset", "GET /adults/", "GET /adults/",
 "GET /__mock/count/age-18-today", "GET /__mock/count-media"]
--- more_headers
X-User-Id: alice
X-Session-Id: age-18-today
--- response_body eval
["ok\n", "app: ALLOW age-18-today MISS\n", "app: ALLOW age-18-today HIT\n",
 "1\n", "1\n"]



=== TEST 9: the zone: an underage DENY is a hit too, within its cap
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m ttl=2d;\n    yoti_idv_cache_valid REJECT 2d;\n"
--- config
    location /adults/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require_age 18;
        add_header X-IDV-Cache $yoti_idv_cache always;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
["GET /__mock/reset", "GET /adults/", "GET /adults/", "GET /__mock/count-media"]
--- more_headers
X-User-Id: alice
X-Session-Id: age-18-tomorrow
--- error_code eval
[200, 403, 403, 200]
--- response_headers eval
["", "X-IDV-Cache: MISS", "X-IDV-Cache: HIT", ""]
--- response_body_like eval
[qr/ok/, qr/403/, qr/403/, qr/^1\n\z/]
