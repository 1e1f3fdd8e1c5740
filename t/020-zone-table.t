# yoti_idv_cache_zone's table (ngx_yoti_idv_zone.c): zones of the minimum
# and a large size, reasons kept by id across reloads, many users at once,
# and a session id longer than an entry holds.  The table's own logic
# (collisions, chains at full load, eviction order, invalidation) is unit
# tested in t/unit/test_zone.c.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $arg_s;
        yoti_idv_require     LIVENESS;

        add_header X-IDV-Cache $yoti_idv_cache always;
        add_header X-IDV-Reason $yoti_idv_reason always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache $yoti_idv_reason";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $Members) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

sub pid_of_nginx {
    open my $fh, '<', server_root() . '/logs/nginx.pid' or die "no pid: $!\n";
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

run_tests();

__DATA__

=== TEST 1: the smallest zone (32k) caches a verdict and its reason
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:32k ttl=1m;\n"
--- request eval
["GET /__mock/reset", "GET /members/?s=verified-alice", "GET /members/?s=verified-alice",
 "GET /members/?s=liveness-all-reject", "GET /members/?s=liveness-all-reject",
 "GET /__mock/count"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 200, 200, 403, 403, 200]
--- response_headers_like eval
["", "X-IDV-Cache: MISS", "X-IDV-Cache: HIT",
 "X-IDV-Cache: MISS\nX-IDV-Reason: check:LIVENESS:\\S+",
 "X-IDV-Cache: HIT\nX-IDV-Reason: check:LIVENESS:\\S+", ""]
--- response_body_like eval
[qr/ok/, qr/^app: ALLOW verified-alice MISS ok\n\z/, qr/^app: ALLOW verified-alice HIT ok\n\z/,
 qr/403/, qr/403/, qr/^2\n\z/]
--- no_error_log
[alert]
[crit]
[error]



=== TEST 2: a large zone (64m) works the same
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:64m ttl=1m;\n"
--- request eval
["GET /__mock/reset", "GET /members/?s=verified-alice", "GET /members/?s=verified-alice",
 "GET /__mock/count"]
--- more_headers
X-User-Id: alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS ok\n", "app: ALLOW verified-alice HIT ok\n", "1\n"]
--- no_error_log
[alert]
[crit]
[error]



=== TEST 3: 300 users in a 1m zone: every one is still there on the second round
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m ttl=1m;\n"
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $arg_u;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_bind_user on;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
[ "GET /__mock/reset",
  (map { "GET /members/?u=user$_" } 1 .. 300, 1 .. 300),
  "GET /__mock/count" ]
--- more_headers
X-Session-Id: verified-alice
--- response_headers_like eval
[ "", ("X-IDV-Cache: MISS") x 300, ("X-IDV-Cache: HIT") x 300, "" ]
--- response_body_like eval
[qr/ok/, (qr/403/) x 600, qr/^300\n\z/]
--- error_code eval
[200, (403) x 600, 200]
--- no_error_log
[alert]
[crit]
[error]
--- timeout: 60



=== TEST 4: two reloads keep the verdicts and their reasons
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m ttl=1m;\n"
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $arg_s;
        yoti_idv_bind_user   off;
        yoti_idv_require     LIVENESS;

        add_header X-IDV-Cache $yoti_idv_cache always;
        add_header X-IDV-Reason $yoti_idv_reason always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache $yoti_idv_reason";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvTest::later_signal(0.5, 'HUP', main::pid_of_nginx());
YotiIdvTest::later_signal(1.5, 'HUP', main::pid_of_nginx());
--- request eval
["GET /__mock/reset", "GET /members/?s=liveness-all-reject", "GET /members/?s=verified-alice",
 "GET /__mock/sleep/2500",
 "GET /members/?s=liveness-all-reject", "GET /members/?s=verified-alice",
 "GET /__mock/count"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 403, 200, 200, 403, 200, 200]
--- response_headers_like eval
["", "X-IDV-Cache: MISS\nX-IDV-Reason: check:LIVENESS:\\S+", "X-IDV-Cache: MISS", "",
 "X-IDV-Cache: HIT\nX-IDV-Reason: check:LIVENESS:\\S+", "X-IDV-Cache: HIT", ""]
--- response_body_like eval
[qr/ok/, qr/403/, qr/^app: ALLOW verified-alice MISS ok\n\z/, qr/slept/,
 qr/403/, qr/^app: ALLOW verified-alice HIT ok\n\z/, qr/^2\n\z/]
--- no_error_log
[alert]
[crit]
[emerg]
--- timeout: 6



=== TEST 5: a session id longer than an entry holds (39): served, never cached
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m ttl=1m;\n"
--- request eval
my $long = 'verified-alice-with-a-session-id-longer-than-an-entry-holds';
["GET /__mock/reset", "GET /members/?s=$long", "GET /members/?s=$long",
 "GET /__mock/count/$long"]
--- more_headers
X-User-Id: alice
--- response_body eval
my $long = 'verified-alice-with-a-session-id-longer-than-an-entry-holds';
["ok\n", "app: ALLOW $long MISS ok\n", "app: ALLOW $long MISS ok\n", "2\n"]
--- no_error_log
[alert]
[crit]
[error]



=== TEST 6: ...and from the mapping in Redis: the zone does not keep it, Redis does
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_cache_zone yoti_idv:1m ttl=1m;\n"
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_require LIVENESS;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice',
                  'verified-alice-with-a-session-id-longer-than-an-entry-holds');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/count"]
--- more_headers
X-User-Id: alice
--- response_body eval
my $long = 'verified-alice-with-a-session-id-longer-than-an-entry-holds';
["ok\n", "app: ALLOW $long MISS\n", "app: ALLOW $long HIT\n", "1\n"]
--- no_error_log
[alert]
[crit]
[error]
