# Redis: the user-to-session mapping and the verdict cache, and every way
# Redis can fail.  A real redis-server runs on a free loopback port.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis 'auth';

$ENV{TEST_NGINX_SILENT_PORT} = YotiIdvRedis::silent_server();
$ENV{TEST_NGINX_DEAD_PORT} = YotiIdvRedis::free_port();

repeat_each(1);
no_shuffle();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis  127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=300ms timeout=300ms;
_EOC_

our $UserMap = <<'_EOC_';
    map $http_x_user_kind $uid {
        crlf   "mallory\r\nSET yoti_idv:pwned 1\r\n";
        quotes "a \"quoted\" 'user' with spaces";
    }
_EOC_

# the app sees the verdict, the session and where the verdict came from
our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv          on;
        yoti_idv_user_id  $http_x_user_id;
        yoti_idv_require  LIVENESS;

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

sub key { YotiIdvRedis::verdict_key(@_) }

run_tests();

__DATA__

=== TEST 1: the mapping from Redis; the first request fetches (MISS)
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice MISS
--- response_headers
X-IDV-Cache: MISS



=== TEST 2: the hot path: a cached verdict costs no provider call
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /members/",
 "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "app: ALLOW verified-alice HIT\n",
 "app: ALLOW verified-alice HIT\n", "1\n"]



=== TEST 3: what the module caches: key, value and TTL (yoti_idv_cache_valid)
--- http_config eval
$::HttpConfig . "    yoti_idv_cache_valid APPROVE 2h;\n"
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
--- request eval
["GET /members/", "GET /__mock/sleep/200"]
--- more_headers
X-User-Id: alice
--- response_body eval
["app: ALLOW verified-alice MISS\n", "slept 200\n"]
--- no_error_log
[error]



=== TEST 4: ...the stored entry (checked by the init)
--- init
my $key = main::key(user => 'alice', require => ['LIVENESS any']);
my $v = YotiIdvRedis::cmd('GET', $key);
my $ttl = YotiIdvRedis::cmd('TTL', $key);
Test::More::is($v, '1 verified-alice ALLOW ok', "$0 TEST 4: the value under $key");
Test::More::ok($ttl > 7000 && $ttl <= 7200, "$0 TEST 4: the TTL ($ttl) is about 2h");
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice HIT



=== TEST 5: no mapping for the user: denied, and the provider is not asked
--- init
YotiIdvRedis::flush();
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/count"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/ok/, qr/403 Forbidden/, qr/^0\n\z/]



=== TEST 6: no mapping: the reason
--- init
YotiIdvRedis::flush();
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: no_session
--- error_log
yoti_idv: request denied: no_session



=== TEST 7: a mapping value that is not a session id is denied and logged
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', '../sessions/x?sdkId=y');
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: bad_session_id
--- error_log
the session id that redis maps this user to ("yoti_idv:user:<user id>") is not 1 to 64 of A-Z, a-z, 0-9 and "-": fix what writes it



=== TEST 8: an empty mapping value
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', '');
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: bad_session_id
--- error_log
is not 1 to 64 of A-Z



=== TEST 9: a reply larger than hiredis's 16 KiB read is read whole
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'x' x 200000);
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: bad_session_id
--- error_log
is not 1 to 64 of A-Z
--- timeout: 5



=== TEST 10: a new session (a new mapping) never reuses the old verdict
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  '1 verified-alice ALLOW ok');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/count/liveness-all-reject"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 403, 200]
--- response_body_like eval
[qr/ok/, qr/403 Forbidden/, qr/^1\n\z/]



=== TEST 11: a verdict cached for a lax policy is never used by a strict one
--- config
    yoti_idv_user_id  $http_x_user_id;
    proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
    proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";

    location /lax/ {
        yoti_idv on;
        yoti_idv_require LIVENESS;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }

    location /strict/ {
        yoti_idv on;
        yoti_idv_require LIVENESS;
        yoti_idv_require FACE_COMPARISON;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'face-comparison-reject');
--- request eval
["GET /__mock/reset", "GET /lax/", "GET /strict/", "GET /lax/", "GET /strict/",
 "GET /__mock/count/face-comparison-reject"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 200, 403, 200, 403, 200]
--- response_body_like eval
[qr/ok/, qr/^app: ALLOW face-comparison-reject MISS\n\z/, qr/403 Forbidden/,
 qr/^app: ALLOW face-comparison-reject HIT\n\z/, qr/403 Forbidden/, qr/^2\n\z/]



=== TEST 12: a cached verdict that does not parse is ignored and replaced
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  '1 liveness-all-reject ALLOW ok; DROP TABLE');
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse



=== TEST 13: a corrupt entry is never trusted: a bare verdict
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "ALLOW");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse



=== TEST 14: a corrupt entry is never trusted: an unknown version
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "2 liveness-all-reject ALLOW ok");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse



=== TEST 15: a corrupt entry is never trusted: an unknown verdict
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "1 liveness-all-reject MAYBE ok");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse



=== TEST 16: a corrupt entry is never trusted: no reason
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "1 liveness-all-reject ALLOW");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse



=== TEST 17: a corrupt entry is never trusted: a bad session id
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "1 ../x ALLOW ok");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse



=== TEST 18: a corrupt entry is never trusted: control bytes in the reason
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "1 liveness-all-reject ALLOW \x00\r\n");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse



=== TEST 19: a corrupt entry is never trusted: an empty value
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse



=== TEST 20: an error is never cached
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'status-500-x');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/count/status-500-x"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 503, 503, 200]
--- response_body_like eval
[qr/ok/, qr/503/, qr/503/, qr/^2\n\z/]
--- no_error_log
[alert]



=== TEST 21: revocation: deleting the mapping denies at once, whatever is cached
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  '1 verified-alice ALLOW ok');
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: no_session



=== TEST 22: a user id with any bytes is stored and looked up as it is
--- http_config eval
$::HttpConfig . $::UserMap
--- config

    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $uid;
        yoti_idv_bind_user off;
        yoti_idv_require LIVENESS;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', "yoti_idv:user:mallory\r\nSET yoti_idv:pwned 1\r\n", 'verified-alice');
--- more_headers
X-User-Kind: crlf
--- response_body
app: ALLOW verified-alice MISS



=== TEST 23: ...the same request again, for the next block to inspect Redis
--- http_config eval
$::HttpConfig . $::UserMap
--- config

    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $uid;
        yoti_idv_bind_user off;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', "yoti_idv:user:mallory\r\nSET yoti_idv:pwned 1\r\n", 'verified-alice');
--- more_headers
X-User-Kind: crlf
--- response_body
app: ALLOW verified-alice MISS



=== TEST 24: ...quotes and spaces (and the init checks that TEST 17 spliced nothing)
--- http_config eval
$::HttpConfig . $::UserMap
--- config

    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $uid;
        yoti_idv_bind_user off;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
die "a command was spliced into redis\n"
    if defined YotiIdvRedis::cmd('GET', 'yoti_idv:pwned');
die "the mapping is gone\n"
    unless defined YotiIdvRedis::cmd('GET', "yoti_idv:user:mallory\r\nSET yoti_idv:pwned 1\r\n");
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', q{yoti_idv:user:a "quoted" 'user' with spaces}, 'verified-alice');
--- more_headers
X-User-Kind: quotes
--- response_body
app: ALLOW verified-alice MISS



=== TEST 25: ...1 KiB long, from a header
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_bind_user off;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:' . ('u' x 1024), 'verified-alice');
--- more_headers eval
"X-User-Id: " . ('u' x 1024) . "\n"
--- response_body
app: ALLOW verified-alice MISS



=== TEST 26: with yoti_idv_session_id, Redis is only the verdict cache
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/count"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "app: ALLOW verified-alice HIT\n", "1\n"]



=== TEST 27: ...and a verdict for the user's other session is not reused
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_require LIVENESS;
        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', main::key(user => 'alice', source => 'variable',
                                   require => ['LIVENESS any']),
                  '1 verified-alice ALLOW ok');
--- more_headers
X-User-Id: alice
X-Session-Id: liveness-all-reject
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS



=== TEST 28: an unbound policy caches by session
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        yoti_idv_bind_user off;
        yoti_idv_require LIVENESS;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', main::key(session => 'verified-bob', bind => 0,
                                   source => 'variable',
                                   require => ['LIVENESS any']),
                  '1 verified-bob ALLOW ok');
--- more_headers
X-User-Id: carol
X-Session-Id: verified-bob
--- response_body
app: ALLOW verified-bob HIT



=== TEST 29: Redis down when nginx starts: nginx starts, requests get the error status
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_DEAD_PORT} connect_timeout=300ms;\n"
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: redis:connect
--- error_log
yoti_idv: cannot connect to redis at "127.0.0.1:
Connection refused
yoti_idv: no verdict for the request: redis:connect



=== TEST 30: Redis killed and restarted while nginx runs: the gate recovers by itself
--- init
# under valgrind (make test-valgrind) the whole timeline stretches
my $x = $ENV{TEST_NGINX_VALGRIND_SCALE} || 1;
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvRedis::later(
    0.3 * $x => sub { YotiIdvRedis::stop() },
    1.2 * $x => sub { YotiIdvRedis::start_again();
                      YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice') },
);
--- request eval
my $x = $ENV{TEST_NGINX_VALGRIND_SCALE} || 1;
["GET /members/", "GET /__mock/sleep/" . 700 * $x, "GET /members/", "GET /members/",
 "GET /__mock/sleep/" . 1500 * $x, "GET /members/", "GET /members/"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 200, 503, 503, 200, 200, 200]
--- response_body_like eval
[qr/^app: ALLOW verified-alice MISS\n\z/, qr/slept/, qr/503/, qr/503/, qr/slept/,
 qr/^app: ALLOW verified-alice MISS\n\z/, qr/^app: ALLOW verified-alice HIT\n\z/]
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 31: Redis accepts the connection and never answers: requests end after the timeout
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_SILENT_PORT} timeout=300ms;\n"
--- request eval
["GET /members/", "GET /members/"]
--- more_headers
X-User-Id: alice
--- error_code eval
[503, 503]
--- response_body_like eval
[qr/503/, qr/503/]
--- no_error_log
[alert]
[crit]
--- timeout: 5



=== TEST 32: ...with a log line and the reason
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_SILENT_PORT} timeout=300ms;\n"
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:timeout
--- error_log
yoti_idv: redis at "127.0.0.1:
did not answer in time
--- timeout: 5



=== TEST 33: the right password
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_AUTH_PORT} password=s3cret;\n"
--- init
YotiIdvRedis::auth_cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice MISS



=== TEST 34: a wrong password: a clear log line, the error status, no password in the log
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_AUTH_PORT} password=wrong-secret;\n"
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:auth
--- error_log
refused AUTH
check the password= parameter of "yoti_idv_redis"
--- no_error_log
wrong-secret



=== TEST 35: no password for a server that needs one
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_AUTH_PORT};\n"
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:auth
--- error_log
NOAUTH



=== TEST 36: a db that does not exist
--- http_config eval
$::HttpConfig =~ s/timeout=300ms;/timeout=300ms db=99;/r
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:select
--- error_log
refused SELECT
check the db= parameter of "yoti_idv_redis"



=== TEST 37: db= selects the database the mapping is in
--- http_config eval
$::HttpConfig =~ s/timeout=300ms;/timeout=300ms db=3;/r
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SELECT', '0');
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $ENV{TEST_NGINX_REDIS_PORT}) or die;
print $s "SELECT 3\r\nSET yoti_idv:user:alice verified-alice\r\n";
<$s>; <$s>;
close $s;
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice MISS



=== TEST 38: a unix socket
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis unix:$ENV{TEST_NGINX_REDIS_SOCKET};\n"
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice MISS



=== TEST 39: yoti_idv_redis_prefix
--- http_config eval
$::HttpConfig . "    yoti_idv_redis_prefix myapp:idv:;\n"
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'myapp:idv:user:alice', 'verified-alice');
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice MISS



=== TEST 40: yoti_idv_cache_valid 0 does not cache that verdict
--- http_config eval
$::HttpConfig . "    yoti_idv_cache_valid REJECT 0;\n"
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/count"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 403, 403, 200]
--- response_body_like eval
[qr/ok/, qr/403/, qr/403/, qr/^2\n\z/]



=== TEST 41: a pending verdict is cached for its own (short) time
--- http_config eval
$::HttpConfig . "    yoti_idv_cache_valid PENDING 1s;\n"
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'ongoing-alice');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/sleep/2100",
 "GET /members/", "GET /__mock/count"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 403, 403, 200, 403, 200]
--- response_body_like eval
[qr/ok/, qr/403/, qr/403/, qr/slept/, qr/403/, qr/^2\n\z/]
--- timeout: 5



=== TEST 42: $yoti_idv_cache is BYPASS without Redis
--- http_config eval
$YotiIdvTest::HttpConfig
--- config
    location /members/ {
        yoti_idv on;
        yoti_idv_user_id $http_x_user_id;
        yoti_idv_session_id $http_x_session_id;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice BYPASS



=== TEST 43: a reply that comes after its request gave up finds nothing, and the gate recovers
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvRedis::later(0.05 => sub { YotiIdvRedis::cmd('DEBUG', 'SLEEP', '0.8') });
--- request eval
["GET /__mock/sleep/100", "GET /members/", "GET /__mock/sleep/1500", "GET /members/"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 503, 200, 200]
--- response_body_like eval
[qr/slept/, qr/503/, qr/slept/, qr/^app: ALLOW verified-alice MISS\n\z/]
--- no_error_log
[alert]
[crit]
--- timeout: 5



=== TEST 44: while Redis is down, a worker logs the error once a second and counts the rest
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_DEAD_PORT} connect_timeout=300ms;\n"
--- init
for (1 .. 3) {
    my $st = YotiIdvTest::request_status(server_port(), '/members/',
                                         { 'X-User-Id' => 'alice' });
    die "got $st\n" unless $st eq '503';
}
select(undef, undef, undef, 1.2);
--- more_headers
X-User-Id: alice
--- error_code: 503
--- error_log eval
[qr/no verdict for the request: redis:connect, redis at "[^"]+" is not usable, see the lines above, client/,
 qr/no verdict for the request: redis:connect, redis at "[^"]+" is not usable, see the lines above \(and 2 more like it since the last line\), client/]
--- no_error_log
[alert]
[crit]
--- timeout: 5



=== TEST 45: a corrupt entry is never trusted: a NUL inside the verdict word
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "1 liveness-all-reject AL\0OW ok");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse
--- no_error_log
[error]
[alert]
[crit]



=== TEST 46: a corrupt entry is never trusted: a NUL right after the verdict word
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "1 liveness-all-reject ALLOW\0 ok");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse
--- no_error_log
[error]
[alert]
[crit]



=== TEST 47: a corrupt entry is never trusted: NULs after a short verdict word
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "1 liveness-all-reject DENY" . ("\0" x 12) . " ok");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse
--- no_error_log
[error]
[alert]
[crit]



=== TEST 48: a corrupt entry is never trusted: NULs after ALLOW
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "1 liveness-all-reject ALLOW" . ("\0" x 12) . " ok");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse
--- no_error_log
[error]
[alert]
[crit]



=== TEST 49: a corrupt entry is never trusted: a verdict word longer than any, after a NUL
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
YotiIdvRedis::cmd('SET', main::key(user => 'alice', require => ['LIVENESS any']),
                  "1 liveness-all-reject PENDING" . ("\0" x 41) . " ok");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: MISS
--- error_log
ignoring a cached verdict in redis that does not parse
--- no_error_log
[error]
[alert]
[crit]



=== TEST 50: ...and it was replaced by the verdict the provider gave (checked by the init)
--- init
Test::More::is(YotiIdvRedis::cmd('GET', main::key(user => 'alice',
                                                  require => ['LIVENESS any'])),
               '1 liveness-all-reject DENY check:LIVENESS:REJECT',
               "$0 TEST 50: the corrupt value was replaced");
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: check:LIVENESS:REJECT
X-IDV-Cache: HIT



=== TEST 51: a unix socket, prefix in capitals
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis UNIX:$ENV{TEST_NGINX_REDIS_SOCKET};\n"
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice MISS
