# yoti_idv_cache_zone: the shared-memory verdict cache of one nginx, and
# one provider fetch for a burst of first requests, across workers.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

use File::Temp qw(tempdir);

repeat_each(1);
no_shuffle();
master_on();
workers(2);

# a burst can pile up in one worker: 50 clients plus their proxied /app
# connections are more than the runners' default of 64
worker_connections(1024);

$ENV{TEST_NGINX_BURST_DIR} = tempdir('yoti-idv-burst-XXXXXX', TMPDIR => 1,
                                     CLEANUP => 1);

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_cache_zone  yoti_idv:1m ttl=1m;
_EOC_

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
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

sub pid_of_nginx {
    open my $fh, '<', server_root() . '/logs/nginx.pid' or die "no pid: $!\n";
    my $pid = <$fh>;
    chomp $pid;
    return $pid;
}

run_tests();

__DATA__

=== TEST 1: the first request fetches, the next ones hit the zone
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /members/",
 "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "app: ALLOW verified-alice HIT\n",
 "app: ALLOW verified-alice HIT\n", "1\n"]



=== TEST 2: a denial is cached too, and an error is not
--- request eval
["GET /__mock/reset", "GET /members/?s=liveness-all-reject", "GET /members/?s=liveness-all-reject",
 "GET /members/?s=status-503-x", "GET /members/?s=status-503-x", "GET /__mock/count"]
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $arg_s;
        yoti_idv_require LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 403, 403, 503, 503, 200]
--- response_body_like eval
[qr/ok/, qr/403/, qr/403/, qr/503/, qr/503/, qr/^3\n\z/]
--- no_error_log
[alert]
[crit]



=== TEST 3: an entry expires after ttl=
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m ttl=1s;\n"
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/sleep/1300",
 "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "app: ALLOW verified-alice HIT\n",
 "slept 1300\n", "app: ALLOW verified-alice MISS\n", "2\n"]
--- timeout: 5



=== TEST 4: ...and after the verdict's own yoti_idv_cache_valid when that is shorter
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m ttl=1h;\n"
                         . "    yoti_idv_cache_valid APPROVE 1s;\n"
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/sleep/1300",
 "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "app: ALLOW verified-alice HIT\n",
 "slept 1300\n", "app: ALLOW verified-alice MISS\n", "2\n"]
--- timeout: 5



=== TEST 5: a session id the zone holds for the user's other session is not reused
--- request eval
["GET /__mock/reset", "GET /members/?s=verified-alice", "GET /members/?s=liveness-all-reject",
 "GET /members/?s=verified-alice", "GET /__mock/count"]
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $arg_s;
        yoti_idv_require LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 200, 403, 200, 200]
--- response_body_like eval
[qr/ok/, qr/app/, qr/403/, qr/app/, qr/^3\n\z/]



=== TEST 6: a full zone evicts the least recently used entries and goes on
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:32k ttl=1h;\n"
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
# 32k holds 210 entries of 128 bytes (fewer than 256): 600 users go round the
# table's CLOCK more than twice; "keep", read every 50 users, stays (user1 may
# survive: a key moved out of a home bucket lands behind the hand)
[ "GET /__mock/reset",
  "GET /members/?u=keep",
  (map { ("GET /members/?u=user$_", $_ % 50 ? () : "GET /members/?u=keep") }
       1 .. 600),
  "GET /members/?u=user600",
  "GET /members/?u=keep",
  "GET /members/?u=user1",
  "GET /__mock/count" ]
--- more_headers
X-Session-Id: verified-alice
--- error_code eval
[200, 403, (403) x 612, 403, 403, 403, 200]
--- response_body_like eval
[qr/ok/, (qr/403/) x 616, qr/^60[12]\n\z/]
--- no_error_log
[alert]
[crit]
[error]
--- timeout: 60



=== TEST 7: a reload (HUP) keeps the zone's verdicts
--- init
YotiIdvTest::later_signal(0.5, 'HUP', main::pid_of_nginx());
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/sleep/1500", "GET /members/",
 "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "slept 1500\n",
 "app: ALLOW verified-alice HIT\n", "1\n"]
--- no_error_log
[alert]
[crit]
[emerg]
--- timeout: 5



=== TEST 8: a burst of first requests in two workers costs one provider request
--- init
unlink "$ENV{TEST_NGINX_BURST_DIR}/statuses";
YotiIdvMock::mock_get('/__mock/reset');
YotiIdvTest::burst(port => server_port(), n => 50, path => '/members/',
                   headers => { 'X-User-Id' => 'alice',
                                'X-Session-Id' => 'slow-500-verified-alice' },
                   out => "$ENV{TEST_NGINX_BURST_DIR}/statuses");
--- request eval
["GET /__mock/sleep/2500", "GET /__mock/count/slow-500-verified-alice"]
--- response_body eval
["slept 2500\n", "1\n"]
--- no_error_log
[alert]
[crit]
[error]
--- timeout: 10



=== TEST 9: ...and every request of the burst got the verdict (this init dies if not; a new nginx, a new zone)
--- init
open my $fh, '<', "$ENV{TEST_NGINX_BURST_DIR}/statuses" or die "no statuses: $!\n";
my @st = <$fh>;
chomp @st;
die "burst: " . scalar(@st) . " answers: @st\n"
    unless @st == 50 && !grep { $_ ne '200' } @st;
--- request
GET /members/
--- more_headers
X-User-Id: alice
X-Session-Id: slow-500-verified-alice
--- response_body
app: ALLOW slow-500-verified-alice MISS



=== TEST 10: a burst whose fetch fails: every waiter gets the error, the provider is asked once
--- init
unlink "$ENV{TEST_NGINX_BURST_DIR}/statuses";
YotiIdvMock::mock_get('/__mock/reset');
YotiIdvTest::burst(port => server_port(), n => 30, path => '/members/',
                   headers => { 'X-User-Id' => 'alice',
                                'X-Session-Id' => 'slow-500-status-500-x' },
                   out => "$ENV{TEST_NGINX_BURST_DIR}/statuses");
--- request eval
["GET /__mock/sleep/2500", "GET /__mock/count/slow-500-status-500-x"]
--- response_body eval
["slept 2500\n", "1\n"]
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 11: ...all 30 got 503 (this init dies if not)
--- init
open my $fh, '<', "$ENV{TEST_NGINX_BURST_DIR}/statuses" or die "no statuses: $!\n";
my @st = <$fh>;
chomp @st;
die "burst: " . scalar(@st) . " answers: @st\n"
    unless @st == 30 && !grep { $_ ne '503' } @st;
--- request
GET /__mock/count
--- response_body_like
^\d+



=== TEST 12: a fetch that outlasts wait=: the waiters fetch on their own
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m wait=200ms;\n"
--- init
unlink "$ENV{TEST_NGINX_BURST_DIR}/statuses";
YotiIdvMock::mock_get('/__mock/reset');
YotiIdvTest::burst(port => server_port(), n => 5, path => '/members/',
                   headers => { 'X-User-Id' => 'alice',
                                'X-Session-Id' => 'slow-800-verified-alice' },
                   out => "$ENV{TEST_NGINX_BURST_DIR}/statuses");
--- request eval
["GET /__mock/sleep/2500", "GET /__mock/count/slow-800-verified-alice"]
--- response_body_like eval
[qr/slept/, qr/^[2-5]\n\z/]
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 13: with Redis, the zone's ttl bounds how long a revocation takes to reach the node
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_cache_zone yoti_idv:1m ttl=1s;\n"
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
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvRedis::later(0.4 => sub { YotiIdvRedis::cmd('DEL', 'yoti_idv:user:alice') });
--- request eval
["GET /members/", "GET /__mock/sleep/600", "GET /members/", "GET /__mock/sleep/1000",
 "GET /members/"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 200, 200, 200, 403]
--- response_body_like eval
[qr/^app: ALLOW verified-alice MISS\n\z/, qr/slept/,
 qr/^app: ALLOW verified-alice HIT\n\z/, qr/slept/, qr/403 Forbidden/]
--- timeout: 5



=== TEST 14: with Redis, a verdict from Redis fills the zone (one Redis round trip, then none)
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
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvRedis::cmd('SET', YotiIdvRedis::verdict_key(user => 'alice', require => ['LIVENESS any']),
                  '1 verified-alice ALLOW ok');
# under valgrind (make test-valgrind) the whole timeline stretches
my $x = $ENV{TEST_NGINX_VALGRIND_SCALE} || 1;
YotiIdvRedis::later(0.3 * $x => sub { YotiIdvRedis::stop() },
                    1.0 * $x => sub { YotiIdvRedis::start_again() });
--- request eval
my $x = $ENV{TEST_NGINX_VALGRIND_SCALE} || 1;
["GET /__mock/reset", "GET /members/", "GET /__mock/sleep/" . 500 * $x, "GET /members/",
 "GET /__mock/count"]
--- more_headers
X-User-Id: alice
--- response_body eval
my $x = $ENV{TEST_NGINX_VALGRIND_SCALE} || 1;
["ok\n", "app: ALLOW verified-alice HIT\n", "slept " . 500 * $x . "\n",
 "app: ALLOW verified-alice HIT\n", "0\n"]
--- no_error_log
[alert]
[crit]
--- timeout: 5
