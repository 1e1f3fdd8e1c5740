# yoti_idv_notifications: the endpoint Yoti posts session notifications
# to, every answer it gives, and what a notification drops from the zone.
# A real redis-server runs on a free loopback port.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64);

repeat_each(1);
no_shuffle();

my $dir = tempdir('yoti-idv-token-XXXXXX', TMPDIR => 1, CLEANUP => 1);
$ENV{TEST_NGINX_TOKEN_DIR} = $dir;

sub put {
    my ($name, $text) = @_;
    open my $fh, '>', "$dir/$name" or die "$dir/$name: $!\n";
    print {$fh} $text;
    close $fh;
}

# the token as "echo" writes it: with a trailing newline, trimmed
put('token', "s3cr3t-t0ken\n");
put('empty', "\n");

$ENV{TEST_NGINX_BASIC} = 'Basic ' . encode_base64('s3cr3t-t0ken', '');
$ENV{TEST_NGINX_WRONG_BASIC} = 'Basic ' . encode_base64('s3cr3t-t0keN', '');

# under valgrind, a worker's first connections are slow
$ENV{TEST_NGINX_REDIS_TIMEOUT} = $ENV{TEST_NGINX_USE_VALGRIND} ? '5s' : '1s';

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis       127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=$TEST_NGINX_REDIS_TIMEOUT timeout=$TEST_NGINX_REDIS_TIMEOUT;
    yoti_idv_cache_zone  yoti_idv:1m ttl=1m;
_EOC_

our $Config = <<'_EOC_';
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token;

        # the gate's variables stay empty here
        add_header X-IDV-Verdict "[$yoti_idv_verdict$yoti_idv_layer]" always;
    }

    location = /yoti/bearer {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token auth=bearer;
    }

    location /members/ {
        yoti_idv          on;
        yoti_idv_user_id  $http_x_user_id;
        yoti_idv_require  LIVENESS;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Layer $yoti_idv_layer always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_layer";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Config) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

run_tests();

__DATA__

=== TEST 1: Basic: a notification is accepted and passed on to the stream
--- init
YotiIdvRedis::flush();
--- request
POST /yoti/notifications
{"session_id":"verified-alice","topic":"session_completion"}
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}\nContent-Type: application/json"
--- error_code: 200
--- response_headers
X-IDV-Verdict: []
--- response_body
ok
--- error_log
notification "session_completion" about session "verified-alice": cached verdicts dropped
--- no_error_log
[error]



=== TEST 2: ...the stream holds the entry
--- init
my $r = YotiIdvRedis::cmd('XRANGE', 'yoti_idv:events', '-', '+');
Test::More::is(scalar @$r, 1, "$0 TEST 2: one entry in the stream");
Test::More::is_deeply($r->[0][1], ['session', 'verified-alice'],
                      "$0 TEST 2: the entry names the session");
--- request
GET /__mock/reset
--- response_body
ok



=== TEST 3: Bearer
--- request
POST /yoti/bearer
{"session_id":"verified-alice","topic":"check_completion","check_id":"x"}
--- more_headers
Authorization: Bearer s3cr3t-t0ken
--- error_code: 200
--- response_body
ok
--- no_error_log
[error]



=== TEST 4: the scheme in any case
--- request
POST /yoti/bearer
{"session_id":"verified-alice","topic":"task_completion"}
--- more_headers
Authorization: bearer s3cr3t-t0ken
--- error_code: 200
--- no_error_log
[error]



=== TEST 5: no Authorization: 401 with a challenge, the token not logged
--- request
POST /yoti/notifications
{"session_id":"verified-alice","topic":"session_completion"}
--- error_code: 401
--- response_headers
WWW-Authenticate: Basic realm="yoti_idv"
--- error_log
notification without credentials
--- no_error_log
s3cr3t
[error]



=== TEST 6: a wrong token (the last character differs)
--- request
POST /yoti/notifications
{"session_id":"verified-alice","topic":"session_completion"}
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_WRONG_BASIC}"
--- error_code: 401
--- error_log
notification with wrong credentials
--- no_error_log
s3cr3t
[error]



=== TEST 7: the token as Bearer where Basic is configured
--- request
POST /yoti/notifications
{"session_id":"verified-alice","topic":"session_completion"}
--- more_headers
Authorization: Bearer s3cr3t-t0ken
--- error_code: 401
--- no_error_log
[error]



=== TEST 8: a prefix of the token
--- request
POST /yoti/bearer
{"session_id":"verified-alice","topic":"session_completion"}
--- more_headers
Authorization: Bearer s3cr3t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="yoti_idv"
--- no_error_log
[error]



=== TEST 9: the token with a trailing newline it did not have in the file
--- request
POST /yoti/bearer
{"session_id":"verified-alice","topic":"session_completion"}
--- more_headers
Authorization: Bearer s3cr3t-t0ken2
--- error_code: 401



=== TEST 10: GET: 405
--- request
GET /yoti/notifications
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 405
--- response_headers
Allow: POST
--- no_error_log
[error]



=== TEST 11: a body above 16 KiB: 413
--- request eval
"POST /yoti/notifications\n{\"session_id\":\"verified-alice\",\"topic\":\"session_completion\",\"pad\":\"" . ("x" x 16400) . "\"}"
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 413
--- error_log
too large



=== TEST 12: a chunked body above 16 KiB: 413
--- request eval
my $body = "{\"session_id\":\"verified-alice\",\"pad\":\"" . ("x" x 16400) . "\"}";
"POST /yoti/notifications\n" . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $body, $body)
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}\nTransfer-Encoding: chunked"
--- error_code: 413
--- error_log
too large



=== TEST 13: a chunked body in two chunks
--- request eval
my ($a, $b) = ('{"session_id":"v', 'erified-alice","topic":"session_completion"}');
"POST /yoti/notifications\n" . sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", length $a, $a, length $b, $b)
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}\nTransfer-Encoding: chunked"
--- error_code: 200
--- response_body
ok
--- error_log
about session "verified-alice": cached verdicts dropped
--- no_error_log
[error]



=== TEST 14: a body of 16 KiB is fine
--- request eval
my $head = "{\"session_id\":\"verified-alice\",\"topic\":\"resource_update\",\"pad\":\"";
"POST /yoti/notifications\n" . $head . ("x" x (16384 - length($head) - 2)) . "\"}"
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 200
--- no_error_log
[error]



=== TEST 15: not JSON: 400
--- request
POST /yoti/notifications
session_id=verified-alice
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 400
--- error_log
the notification is not a JSON object



=== TEST 16: no session_id: 400
--- request
POST /yoti/notifications
{"topic":"session_completion"}
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 400
--- error_log
the notification has no "session_id"



=== TEST 17: a session id outside the rules: 400
--- request
POST /yoti/notifications
{"session_id":"../../etc/passwd","topic":"session_completion"}
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 400
--- error_log
the notification's "session_id" is not a session id



=== TEST 18: an empty body: 400
--- request
POST /yoti/notifications
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}\nContent-Length: 0"
--- error_code: 400



=== TEST 19: an unknown topic: 200, logged at info, nothing dropped
--- init
YotiIdvRedis::flush();
--- request
POST /yoti/notifications
{"session_id":"verified-alice","topic":"something_new"}
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 200
--- response_body
ignored
--- error_log
notification of topic "something_new" about session "verified-alice" ignored
--- no_error_log
[error]



=== TEST 20: ...and the stream has no entry for it
--- init
Test::More::is(YotiIdvRedis::cmd('XLEN', 'yoti_idv:events'), 0,
               "$0 TEST 20: no entry for an unknown topic");
--- request
GET /__mock/reset
--- response_body
ok



=== TEST 21: a session nobody holds: 200
--- request
POST /yoti/notifications
{"session_id":"nobody-holds-this","topic":"client_session_token_deleted"}
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 200
--- error_log
cached verdicts dropped (0 in this zone)
--- no_error_log
[error]



=== TEST 22: a cached ALLOW is dropped from the zone and from Redis
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/",
 "POST /yoti/notifications\n{\"session_id\":\"verified-alice\",\"topic\":\"session_completion\"}",
 "GET /members/", "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers eval
["", "X-User-Id: alice", "X-User-Id: alice", "Authorization: $ENV{TEST_NGINX_BASIC}",
 "X-User-Id: alice", "X-User-Id: alice", ""]
--- response_body eval
["ok\n", "app: ALLOW verified-alice provider\n", "app: ALLOW verified-alice zone\n",
 "ok\n", "app: ALLOW verified-alice provider\n", "app: ALLOW verified-alice zone\n", "2\n"]
--- no_error_log
[error]



=== TEST 23: Redis down when the notification comes: 503, Yoti retries
--- init
YotiIdvRedis::stop();
--- request
POST /yoti/notifications
{"session_id":"verified-alice","topic":"session_completion"}
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 503
--- response_body
redis is not available
--- error_log
notification about session "verified-alice" not passed on



=== TEST 24: ...and the retry, once Redis is back, is accepted
--- init
YotiIdvRedis::start_again();
--- request eval
["GET /__mock/sleep/1100",
 "POST /yoti/notifications\n{\"session_id\":\"verified-alice\",\"topic\":\"session_completion\"}"]
--- more_headers eval
["", "Authorization: $ENV{TEST_NGINX_BASIC}"]
--- error_code eval
[200, 200]
--- response_body eval
["slept 1100\n", "ok\n"]



=== TEST 25: an empty token file
--- config
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/empty;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*the token file ".*empty" of "yoti_idv_notifications" is empty/



=== TEST 26: no token file
--- config
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/none;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*none" failed/



=== TEST 27: an unknown parameter
--- config
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token auth=digest;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "auth=digest" in "yoti_idv_notifications"/



=== TEST 28: no yoti_idv_redis
--- http_config eval
$YotiIdvTest::HttpConfig
--- config
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_notifications" requires "yoti_idv_redis"/



=== TEST 29: a server-wide gate does not gate Yoti's notifications
--- config
    yoti_idv          on;
    yoti_idv_user_id  $http_x_user_id;
    yoti_idv_require  LIVENESS;

    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token;
    }
--- request
POST /yoti/notifications
{"session_id":"verified-alice","topic":"session_completion"}
--- more_headers eval
"Authorization: $ENV{TEST_NGINX_BASIC}"
--- error_code: 200
--- no_error_log
[error]



=== TEST 30: 200 zone entries for one session (users mapped to it), all dropped; another session's stays
--- init
use YotiIdvNode;
my $port = server_port();
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', "yoti_idv:user:u$_", 'verified-alice') for 1 .. 200;
YotiIdvRedis::cmd('SET', 'yoti_idv:user:bob', 'verified-bob');
my %layer;
for my $u ('bob', map { "u$_" } 1 .. 200) {
    YotiIdvTest::http_get($port, '/members/', { 'X-User-Id' => $u });
    my (undef, undef, $h) = YotiIdvTest::http_get($port, '/members/', { 'X-User-Id' => $u });
    $layer{$h->{'x-idv-layer'} // '-'}++;
}
Test::More::is($layer{zone}, 201, "$0 TEST 30: 201 users in the zone");
my ($status) = YotiIdvNode::request($port, 'POST', '/yoti/notifications',
    { Authorization => $ENV{TEST_NGINX_BASIC} },
    '{"session_id":"verified-alice","topic":"session_completion"}');
Test::More::is($status, 200, "$0 TEST 30: the notification");
%layer = ();
for my $u (map { "u$_" } 1 .. 200) {
    my (undef, undef, $h) = YotiIdvTest::http_get($port, '/members/', { 'X-User-Id' => $u });
    $layer{$h->{'x-idv-layer'} // '-'}++;
}
Test::More::is($layer{provider}, 200, "$0 TEST 30: none of the 200 from the zone");
--- request
GET /members/
--- more_headers
X-User-Id: bob
--- error_code: 200
--- response_headers
X-IDV-Layer: zone



=== TEST 31: yoti_idv_redis cluster= refuses the notifications
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis cluster=127.0.0.1:7000,127.0.0.1:7001;\n"
--- config
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_notifications" needs one Redis server: with "yoti_idv_redis cluster=" the invalidations of the events stream are not supported/



=== TEST 32: yoti_idv_redis sentinel= refuses the notifications
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis sentinel=127.0.0.1:26379 master=gate;\n"
--- config
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_notifications" needs one Redis server: with "yoti_idv_redis sentinel=" the invalidations of the events stream are not supported/



=== TEST 33: yoti_idv_metrics counts the notifications by topic and outcome
--- config eval
$::Config . <<'_EOC_';
    location = /metrics {
        yoti_idv_metrics;
    }
_EOC_
--- init
use YotiIdvNode;
my $port = server_port();
YotiIdvRedis::flush();
my @sent = (
    [{ Authorization => $ENV{TEST_NGINX_BASIC} }, '{"session_id":"verified-alice","topic":"session_completion"}'],
    [{ Authorization => $ENV{TEST_NGINX_BASIC} }, '{"session_id":"verified-alice","topic":"session_completion"}'],
    [{ Authorization => $ENV{TEST_NGINX_BASIC} }, '{"session_id":"verified-bob","topic":"client_session_token_deleted"}'],
    [{ Authorization => $ENV{TEST_NGINX_BASIC} }, '{"session_id":"verified-bob","topic":"watchlist_screening"}'],
    [{}, '{"session_id":"verified-alice","topic":"session_completion"}'],
    [{ Authorization => $ENV{TEST_NGINX_BASIC} }, 'not json'],
);
for my $n (@sent) {
    YotiIdvNode::request($port, 'POST', '/yoti/notifications', @$n);
}
--- request
GET /metrics
--- error_code: 200
--- response_body_like eval
qr/nginx_yoti_idv_notifications_total\{topic="session_completion",outcome="accepted"\} 2\n(?:.*\n)*nginx_yoti_idv_notifications_total\{topic="client_session_token_deleted",outcome="accepted"\} 1\n(?:.*\n)*nginx_yoti_idv_notifications_total\{topic="other",outcome="accepted"\} 1\nnginx_yoti_idv_notifications_total\{topic="other",outcome="unauthorized"\} 1\nnginx_yoti_idv_notifications_total\{topic="other",outcome="invalid"\} 1\nnginx_yoti_idv_notifications_total\{topic="other",outcome="failed"\} 0\n/s
