# An invalidation that comes while a fetch is out: the provider's answer
# the fetch brings back may be what the invalidation was meant to remove,
# so it answers its own request but is not stored in Redis, where other
# requests and other nodes would take it for its whole cache time.  The
# invalidation script counts the invalidations and marks the session (or
# user) with the count it took; the lookup reads the count, the store
# script stores nothing under a higher mark (docs/redis.md,
# "Invalidations").  Redis only, without a zone: the zone's own guard
# (t/025) then cannot help, as on a node whose zone has not yet read the
# event.  The sessions answer after 1.5 s (the mock's slow-1500-...).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;
use YotiIdvNode;

use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64);

repeat_each(1);
no_shuffle();

my $dir = tempdir('yoti-idv-token-XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$dir/token" or die "$dir/token: $!\n";
print {$fh} "s3cr3t-t0ken\n";
close $fh;
$ENV{TEST_NGINX_TOKEN_DIR} = $dir;

our $Slow = 'slow-1500-verified-alice';

# the app's revocation, as docs/redis.md gives it
our $REVOKE = <<'_LUA_';
local k = redis.call('SMEMBERS', KEYS[1])
for i = 1, #k do redis.call('DEL', k[i]) end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[4], redis.call('INCR', KEYS[3]), 'EX', ARGV[4])
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', ARGV[1], ARGV[2])
_LUA_

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis  127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=5s;
_EOC_

our $Config = <<'_EOC_';
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token;
    }

    location /members/ {
        yoti_idv          on;
        yoti_idv_user_id  $http_x_user_id;
        yoti_idv_require  LIVENESS;

        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

our $Key = YotiIdvRedis::verdict_key(user => 'alice',
                                     require => ['LIVENESS any']);

# alice's mapping to the slow session, in an empty database
sub prepare {
    YotiIdvRedis::flush();
    YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', $Slow);
}

# Yoti's notification about the session, after a delay, from a child
sub notify_later {
    my ($delay, $sid) = @_;
    my $port = server_port();

    YotiIdvRedis::later($delay => sub {
        my ($status) = YotiIdvNode::request($port, 'POST',
            '/yoti/notifications',
            { Authorization => 'Basic ' . encode_base64('s3cr3t-t0ken', '') },
            qq({"session_id":"$sid","topic":"session_completion"}));
        die "the notification got $status\n" unless $status eq '200';
    });
}

sub is_redis {
    my ($test, $key, $want, $what) = @_;
    Test::More::is(YotiIdvRedis::cmd('GET', $key), $want, "$0 $test: $what");
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Config) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

run_tests();

__DATA__

=== TEST 1: a notification for the session while its fetch is out: the answer is served, not stored; the next request asks again, and its answer is stored
--- init
main::prepare();
main::notify_later(0.5, $main::Slow);
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/count/$main::Slow"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["", "X-IDV-Cache: MISS", "X-IDV-Cache: MISS", ""]
--- response_body eval
["ok\n", "app:  \n", "app:  \n", "2\n"]
--- timeout: 10



=== TEST 2: ...what Redis holds: the second fetch's verdict (it began after the invalidation), the count and the session's mark
--- init
main::is_redis('TEST 2', $main::Key, "1 $main::Slow ALLOW ok", 'the verdict');
main::is_redis('TEST 2', 'yoti_idv:invalidations', '1', 'the count');
main::is_redis('TEST 2', "yoti_idv:invalidated:session:$main::Slow", '1', "the session's mark");
Test::More::cmp_ok(YotiIdvRedis::cmd('TTL', "yoti_idv:invalidated:session:$main::Slow"), '>', 500,
                   "$0 TEST 2: the mark outlives any fetch");
--- request
GET /members/
--- more_headers
X-User-Id: alice
--- response_headers
X-IDV-Cache: HIT



=== TEST 3: the app revokes the user (the docs' script) while a fetch is out: not stored
--- init
main::prepare();
YotiIdvRedis::later(0.5 => sub {
    YotiIdvRedis::cmd('EVAL', $main::REVOKE, 4, 'yoti_idv:index:user:alice',
                      'yoti_idv:events', 'yoti_idv:invalidations',
                      'yoti_idv:invalidated:user:alice', 'user', 'alice',
                      100000, 600);
});
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/sleep/200", "GET /__mock/count/$main::Slow"]
--- more_headers
X-User-Id: alice
--- response_headers eval
["", "X-IDV-Cache: MISS", "", ""]
--- response_body eval
["ok\n", "app:  \n", "slept 200\n", "1\n"]
--- timeout: 10



=== TEST 4: ...Redis holds no verdict for alice, only the user's mark
--- init
main::is_redis('TEST 4', $main::Key, undef, 'no verdict');
main::is_redis('TEST 4', 'yoti_idv:invalidated:user:alice', '1', "the user's mark");
--- request
GET /__mock/reset



=== TEST 5: an invalidation of another session while the fetch is out does not stop the store
--- init
main::prepare();
main::notify_later(0.5, 'verified-bob');
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/count/$main::Slow"]
--- more_headers
X-User-Id: alice
--- response_headers eval
["", "X-IDV-Cache: MISS", "X-IDV-Cache: HIT", ""]
--- response_body eval
["ok\n", "app:  \n", "app:  \n", "1\n"]
--- timeout: 10



=== TEST 6: a mark older than the lookup (an invalidation before it) does not stop the store
--- init
main::prepare();
YotiIdvRedis::cmd('SET', 'yoti_idv:invalidations', '7');
YotiIdvRedis::cmd('SET', "yoti_idv:invalidated:session:$main::Slow", '7', 'EX', 600);
YotiIdvRedis::cmd('SET', 'yoti_idv:invalidated:user:alice', '6', 'EX', 600);
--- request eval
["GET /__mock/reset", "GET /members/", "GET /members/", "GET /__mock/count/$main::Slow"]
--- more_headers
X-User-Id: alice
--- response_headers eval
["", "X-IDV-Cache: MISS", "X-IDV-Cache: HIT", ""]
--- response_body eval
["ok\n", "app:  \n", "app:  \n", "1\n"]
--- timeout: 10
