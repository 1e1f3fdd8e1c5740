# yoti_idv_redis sentinel=: a master, a replica and three sentinels (quorum
# 2, with a password), started by the test on free loopback ports.  The
# master is found through the sentinels and confirmed with ROLE; killed
# during a run, requests fail closed during the failover only, then the
# promoted replica answers with the mappings and verdicts that replicated,
# with no reload and no worker restart.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;
use YotiIdvHA;

# nginx connects to the master as the ACL user of docs/redis.md, with +role
our $S = YotiIdvHA::sentinel(name => 'gate', down_after => 1000,
                             sentinel_password => 'sent1nel', args => [
    '--user', split(' ', 'gate on >gate-s3cret ~yoti_idv:* resetchannels '
                         . '-@all +mget +set +role'),
]);

$ENV{TEST_NGINX_SENTINELS} = join ',',
    map { "127.0.0.1:$_" } @{ $S->{sentinels} };

# a plain redis-server, which knows no SENTINEL command
$ENV{TEST_NGINX_NOT_SENTINEL} = $ENV{TEST_NGINX_REDIS_PORT};

repeat_each(1);
no_shuffle();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis  sentinel=$TEST_NGINX_SENTINELS master=gate
                    sentinel_password=sent1nel user=gate password=gate-s3cret
                    connect_timeout=300ms timeout=1s;
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

sub master { YotiIdvHA::sentinel_master($main::S) }

run_tests();

__DATA__

=== TEST 1: the master from the sentinels: the mapping read, the verdict cached (MISS, then HIT)
--- init
YotiIdvHA::cmd_at($main::S->{master}, 'FLUSHALL');
YotiIdvHA::cmd_at($main::S->{master}, 'SET', 'yoti_idv:user:alice', 'verified-alice');
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



=== TEST 2: ...the verdict was written to the master (ROLE master), and replicated
--- init
my $m = $main::S->{master};
my $key = YotiIdvRedis::verdict_key(user => 'alice', require => ['LIVENESS any']);
Test::More::is(YotiIdvHA::cmd_at($m, 'GET', $key), '1 verified-alice ALLOW ok',
               "$0 TEST 2: the verdict on the master");
YotiIdvHA::cmd_at($m, 'WAIT', 1, 2000);
Test::More::is(YotiIdvHA::cmd_at($main::S->{replica}, 'GET', $key),
               '1 verified-alice ALLOW ok', "$0 TEST 2: and on the replica");
Test::More::ok(YotiIdvHA::calls($m, 'role') >= 1,
               "$0 TEST 2: the module asked the master for its ROLE");
Test::More::is(YotiIdvHA::calls($main::S->{replica}, 'mget'), 0,
               "$0 TEST 2: nothing read from the replica");
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice HIT



=== TEST 3: a master name the sentinels do not know: fail closed, a clear log line
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis sentinel=$ENV{TEST_NGINX_SENTINELS} master=nope sentinel_password=sent1nel;\n"
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:sentinel
--- error_log eval
[qr/yoti_idv: sentinel at "127\.0\.0\.1:\d+" does not know the master "nope", check the master= parameter of "yoti_idv_redis"/,
 qr/yoti_idv: no sentinel of "[^"]+" names the master "nope", see the lines above/]



=== TEST 4: a wrong sentinel_password: fail closed, a clear log line, no password in the log
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis sentinel=$ENV{TEST_NGINX_SENTINELS} master=gate sentinel_password=wr0ng;\n"
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:sentinel
--- error_log eval
qr/yoti_idv: sentinel at "127\.0\.0\.1:\d+" refused AUTH: "WRONGPASS[^"]*", check the sentinel_password= parameter of "yoti_idv_redis"/
--- no_error_log
wr0ng



=== TEST 5: a server that is not a sentinel: fail closed
--- http_config eval
$YotiIdvTest::HttpConfig
. "    yoti_idv_redis sentinel=127.0.0.1:$ENV{TEST_NGINX_NOT_SENTINEL} master=gate;\n"
--- more_headers
X-User-Id: alice
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:sentinel
--- error_log eval
qr/yoti_idv: sentinel at "127\.0\.0\.1:\d+" gave no usable address for the master "gate": "ERR unknown command/



=== TEST 6: the master killed: fail closed during the failover, then the new master, no reload
--- init
my $old = $main::S->{master};
YotiIdvHA::cmd_at($old, 'SET', 'yoti_idv:user:bob', 'verified-bob');
YotiIdvHA::cmd_at($old, 'WAIT', 1, 2000);

my $get = sub {
    my ($status, $body, $h) = YotiIdvTest::http_get($ENV{TEST_NGINX_SERVER_PORT},
        '/members/', { 'X-User-Id' => 'alice' });
    return ($status, $h->{'x-idv-reason'} // '', $body);
};

my ($st, $reason, $body) = $get->();
Test::More::is("$st $body", "200 app: ALLOW verified-alice HIT\n",
               "$0 TEST 6: served by the master at $old before");

my $t0 = Time::HiRes::time();
YotiIdvHA::kill_node($old);

my (@seen, $ok_at);
while (Time::HiRes::time() - $t0 < 30) {
    ($st, $reason, $body) = $get->();
    push @seen, "$st $reason";
    if ($st eq '200') { $ok_at = Time::HiRes::time(); last }
    Time::HiRes::sleep(0.05);
}

my %bad = map { $_ => 1 } grep { !/^503 redis:/ } @seen[0 .. $#seen - 1];
Test::More::ok(@seen > 1 && !%bad,
               "$0 TEST 6: only 503 redis:* before the failover (@seen[0, -2])");
Test::More::ok(defined $ok_at,
               sprintf("$0 TEST 6: allowed again %.0f ms after the kill",
                       1000 * (($ok_at // Time::HiRes::time()) - $t0)))
    or Test::More::diag("seen: @seen[-3 .. -1]");
Test::More::is($body, "app: ALLOW verified-alice HIT\n",
               "$0 TEST 6: with the replicated mapping and verdict");
Test::More::is(main::master(), $main::S->{replica},
               "$0 TEST 6: the sentinels name the replica");
--- more_headers
X-User-Id: bob
--- response_body
app: ALLOW verified-bob MISS
--- error_log eval
[qr/yoti_idv: connection to redis at "127\.0\.0\.1:\d+" lost/,
 qr/yoti_idv: sentinel at "127\.0\.0\.1:\d+" names 127\.0\.0\.1:\d+ the master "gate"/]



=== TEST 7: ...the verdict of that request went to the new master
--- init
my $key = YotiIdvRedis::verdict_key(user => 'bob', require => ['LIVENESS any']);
Test::More::is(YotiIdvHA::cmd_at($main::S->{replica}, 'GET', $key),
               '1 verified-bob ALLOW ok', "$0 TEST 7: the verdict on the new master");
--- more_headers
X-User-Id: bob
--- response_body
app: ALLOW verified-bob HIT
--- no_error_log
[error]



=== TEST 8: a planned failover (SENTINEL FAILOVER): the +switch-master message moves the worker, no READONLY on the old master
--- init
# the old master's port again, as a replica of the new master
my $old = $main::S->{master};
YotiIdvHA::server($old, '--replicaof', '127.0.0.1', $main::S->{replica},
                  '--user', split(' ', 'gate on >gate-s3cret ~yoti_idv:* '
                                       . 'resetchannels -@all +mget +set +role'));
my $deadline = Time::HiRes::time() + 20;
Time::HiRes::sleep(0.1) until Time::HiRes::time() > $deadline
    || (YotiIdvHA::cmd_at($old, 'INFO', 'replication') =~ /master_link_status:up/
        && do { my $r = YotiIdvHA::cmds_at($main::S->{sentinels}[0],
                    ['AUTH', 'sent1nel'], ['SENTINEL', 'REPLICAS', 'gate']);
                grep { my %h = @$_; ($h{port} // 0) == $old
                       && ($h{flags} // '') !~ /down|disconnected/ } @$r });

# the worker talks to the current master...
my ($st) = YotiIdvTest::http_get($ENV{TEST_NGINX_SERVER_PORT}, '/members/',
                                 { 'X-User-Id' => 'alice' });
Test::More::is($st, 200, "$0 TEST 8: served by $main::S->{replica}");

# ...which the sentinels now demote, and promote $old
my $r = YotiIdvHA::cmds_at($main::S->{sentinels}[0], ['AUTH', 'sent1nel'],
                           ['SENTINEL', 'FAILOVER', 'gate']);
Test::More::is($r, 'OK', "$0 TEST 8: SENTINEL FAILOVER");
$deadline = Time::HiRes::time() + 20;
Time::HiRes::sleep(0.05) until Time::HiRes::time() > $deadline
    || ((main::master() // 0) == $old
        && YotiIdvHA::cmd_at($old, 'ROLE')->[0] eq 'master');
Test::More::is(main::master(), $old, "$0 TEST 8: the sentinels name $old");
Time::HiRes::sleep(0.5);
$main::S->{master} = $old;
YotiIdvHA::cmd_at($old, 'DEL',
    YotiIdvRedis::verdict_key(user => 'alice', require => ['LIVENESS any']));
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice MISS
--- error_log eval
qr/yoti_idv: sentinel at "127\.0\.0\.1:\d+" names 127\.0\.0\.1:\d+ the master "gate"/
--- no_error_log
is a replica now
READONLY
lost



=== TEST 9: ...its verdict was written to the new master
--- init
my $key = YotiIdvRedis::verdict_key(user => 'alice', require => ['LIVENESS any']);
Test::More::is(YotiIdvHA::cmd_at($main::S->{master}, 'GET', $key) // '',
               '1 verified-alice ALLOW ok', "$0 TEST 9: the verdict on the new master");
--- more_headers
X-User-Id: alice
--- response_body
app: ALLOW verified-alice HIT
--- no_error_log
[error]
