# Redis 6 ACL users (user= sends AUTH <user> <password>), and the
# combinations of yoti_idv_redis parameters that nginx -t refuses.  A real
# redis-server with a user limited to what the module needs (the ACL line
# of docs/redis.md) runs on a free loopback port.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;

use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64);

# the ACL lines of docs/redis.md: the single-server form, and the one for
# a zone and yoti_idv_notifications
YotiIdvRedis::start('acl', args => [
    '--user', split(' ', 'gate on >gate-s3cret ~yoti_idv:* resetchannels -@all +mget +set'),
    '--user', split(' ', 'gatez on >gate-s3cret ~yoti_idv:* resetchannels -@all +mget +set +get +sadd +expire +eval +xread +xrange +xrevrange +client|setname +smembers +del +incr +xadd'),
]);

my $tokens = tempdir('yoti-idv-token-XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$tokens/token" or die "$tokens/token: $!\n";
print {$fh} "s3cr3t-t0ken\n";
close $fh;
$ENV{TEST_NGINX_TOKEN_DIR} = $tokens;
$ENV{TEST_NGINX_BASIC} = 'Basic ' . encode_base64('s3cr3t-t0ken', '');

$ENV{TEST_NGINX_ACL_PORT} = YotiIdvRedis::port('acl');

repeat_each(1);
no_shuffle();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis  127.0.0.1:$TEST_NGINX_ACL_PORT user=gate password=gate-s3cret;
_EOC_

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv          on;
        yoti_idv_user_id  $http_x_user_id;
        yoti_idv_require  LIVENESS;

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

sub acl { YotiIdvRedis::cmd_on('acl', @_) }

run_tests();

__DATA__

=== TEST 1: a limited ACL user: the mapping is read, the verdict cached (MISS, HIT)
--- init
main::acl('FLUSHALL');
main::acl('SET', 'yoti_idv:user:alice', 'verified-alice');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/",
 "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "app: ALLOW verified-alice HIT\n",
 "1\n"]
--- no_error_log
[error]
[warn]



=== TEST 2: ...the verdict was written by the limited user, under the prefix
--- init
my $key = YotiIdvRedis::verdict_key(user => 'alice', require => ['LIVENESS any']);
Test::More::is(main::acl('GET', $key), '1 verified-alice ALLOW ok',
               "$0 TEST 2: the verdict under $key");
my $log = main::acl('ACL', 'LOG');
Test::More::is(ref $log eq 'ARRAY' ? scalar @$log : -1, 0,
               "$0 TEST 2: no ACL denial so far");
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice HIT



=== TEST 2b: the ACL user for a zone and notifications: the verdict stored by the script, a notification's script runs, nothing refused
--- http_config eval
$YotiIdvTest::HttpConfig . <<'_EOC_'
    yoti_idv_redis       127.0.0.1:$TEST_NGINX_ACL_PORT user=gatez password=gate-s3cret;
    yoti_idv_cache_zone  yoti_idv:1m ttl=1m;
_EOC_
--- config eval
$::Members . <<'_EOC_'
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token;
    }
_EOC_
--- init
main::acl('FLUSHALL');
main::acl('ACL', 'LOG', 'RESET');
main::acl('SET', 'yoti_idv:user:alice', 'verified-alice');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/",
 "POST /yoti/notifications\n{\"session_id\":\"verified-alice\",\"topic\":\"session_completion\"}",
 "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers eval
[("X-User-Id: alice") x 3, "Authorization: $ENV{TEST_NGINX_BASIC}", ("X-User-Id: alice") x 2]
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "app: ALLOW verified-alice HIT\n",
 "ok\n", "app: ALLOW verified-alice MISS\n", "2\n"]
--- no_error_log
[error]
[warn]



=== TEST 2c: ...what the zone's ACL user wrote: the verdict, its index, the mark; no ACL denial
--- init
my $key = YotiIdvRedis::verdict_key(user => 'alice', require => ['LIVENESS any']);
Test::More::is(main::acl('GET', $key), '1 verified-alice ALLOW ok',
               "$0 TEST 2c: the verdict under $key");
Test::More::is(main::acl('SISMEMBER', 'yoti_idv:index:user:alice', $key), 1,
               "$0 TEST 2c: the user's index");
Test::More::is(main::acl('GET', 'yoti_idv:invalidated:session:verified-alice'), '1',
               "$0 TEST 2c: the session's mark");
my $log = main::acl('ACL', 'LOG');
Test::More::is(ref $log eq 'ARRAY' ? scalar @$log : -1, 0,
               "$0 TEST 2c: no ACL denial");
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice HIT



=== TEST 3: the ACL is what limits: keys outside ~yoti_idv:* are refused (NOPERM), fail closed
--- http_config eval
$::HttpConfig . "    yoti_idv_redis_prefix other:;\n"
--- init
main::acl('SET', 'other:user:alice', 'verified-alice');
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:error
--- error_log
yoti_idv: redis answered "NOPERM



=== TEST 4: a wrong user: a clear log line, fail closed, no password in the log
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_ACL_PORT} user=nobody password=gate-s3cret;\n"
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:auth
--- error_log eval
qr/yoti_idv: redis at "127\.0\.0\.1:\d+" refused AUTH: "WRONGPASS invalid username-password pair or user is disabled\.", check the user= and password= parameters of "yoti_idv_redis"/
--- no_error_log
gate-s3cret



=== TEST 5: the right user with a wrong password: the same
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_ACL_PORT} user=gate password=wrong-s3cret;\n"
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:auth
--- error_log
refused AUTH: "WRONGPASS
check the user= and password= parameters
--- no_error_log
wrong-s3cret



=== TEST 6: without user=, the same server's default user (no password here) as before
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_ACL_PORT};\n"
--- init
main::acl('FLUSHALL');
main::acl('SET', 'yoti_idv:user:alice', 'verified-alice');
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice MISS
--- no_error_log
[error]



=== TEST 7: nginx -t: user= without password=
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis 127.0.0.1:6379 user=gate;\n"
--- config
--- must_die
--- error_log
"user=" needs "password=" in "yoti_idv_redis"



=== TEST 8: nginx -t: an empty user=
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis 127.0.0.1:6379 user= password=x;\n"
--- config
--- must_die
--- error_log
invalid parameter "user=" in "yoti_idv_redis"



=== TEST 9: nginx -t: db= with cluster=
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis cluster=127.0.0.1:7000,127.0.0.1:7001 db=2;\n"
--- config
--- must_die
--- error_log
"db=" other than 0 is not valid with "cluster=": a cluster has database 0 only in "yoti_idv_redis"



=== TEST 10: nginx -t: master= with cluster=
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis cluster=127.0.0.1:7000 master=gate;\n"
--- config
--- must_die
--- error_log
"master=" and "sentinel_password=" need "sentinel=", not "cluster=" in "yoti_idv_redis"



=== TEST 11: nginx -t: sentinel= without master=
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis sentinel=127.0.0.1:26379 password=x;\n"
--- config
--- must_die
--- error_log
"sentinel=" needs "master=" in "yoti_idv_redis"



=== TEST 12: nginx -t: master= or sentinel_password= with one server
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis 127.0.0.1:6379 sentinel_password=x;\n"
--- config
--- must_die
--- error_log
"master=" and "sentinel_password=" need "sentinel=" in "yoti_idv_redis"
--- no_error_log
sentinel_password=x



=== TEST 13: nginx -t: a unix socket in a cluster= list
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis cluster=127.0.0.1:7000,unix:/run/redis.sock;\n"
--- config
--- must_die
--- error_log
a unix socket in "yoti_idv_redis" "cluster=127.0.0.1:7000,unix:/run/redis.sock"



=== TEST 14: nginx -t: an empty address in a sentinel= list
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis sentinel=127.0.0.1:26379,,127.0.0.1:26380 master=gate;\n"
--- config
--- must_die
--- error_log
an empty address in "yoti_idv_redis"



=== TEST 15: nginx -t: a bad port in a cluster= list
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis cluster=127.0.0.1:7000,127.0.0.1:99999;\n"
--- config
--- must_die
--- error_log
invalid port in "yoti_idv_redis" "cluster=127.0.0.1:7000,127.0.0.1:99999"



=== TEST 16: nginx -t: more than 16 addresses
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis cluster="
. CORE::join(',', map { "127.0.0.1:" . (7000 + $_) } 1 .. 17) . ";\n"
--- config
--- must_die
--- error_log
too many addresses in "yoti_idv_redis"



=== TEST 17: nginx -t: a brace in the prefix with cluster= (it would move the hash tag)
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_redis cluster=127.0.0.1:7000;\n"
. "    yoti_idv_redis_prefix \"{app}:\";\n"
--- config
--- must_die
--- error_log
"yoti_idv_redis_prefix" "{app}:" has a brace, which "yoti_idv_redis cluster=" does not allow



=== TEST 18: valid forms start without any server up: cluster= with a user, sentinel= with its password
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis cluster=127.0.0.1:1,127.0.0.1:2 user=gate password=x timeout=100ms;\n"
--- config
    location = /t {
        return 200 "started\n";
    }
--- request
GET /t
--- response_body
started
--- no_error_log
[error]



=== TEST 19: ...and the sentinel form, default sentinel port
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis sentinel=127.0.0.1,127.0.0.1:2 master=gate sentinel_password=y user=gate password=x db=3;\n"
--- config
    location = /t {
        return 200 "started\n";
    }
--- request
GET /t
--- response_body
started
--- no_error_log
[error]
