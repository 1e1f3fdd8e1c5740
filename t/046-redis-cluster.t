# yoti_idv_redis cluster=: a three-master cluster with a replica each, and
# an ACL user limited to what the module needs (docs/redis.md),
# created by the test (redis-cli --cluster create) on free loopback ports.
# Users whose keys live on every master; the hot path is one MGET on the
# user's master; a slot migrated during a run (ASK, then MOVED), checked
# from the cluster's own INFO commandstats and CLUSTER COUNTKEYSINSLOT;
# CLUSTERDOWN and TRYAGAIN fail closed; a master killed: fail closed, then
# the replica that took over answers, with no reload.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvHA;
use Time::HiRes qw(sleep time);

# nginx connects as the ACL user of docs/redis.md, cluster form
our $Cluster = YotiIdvHA::cluster(masters => 3, replicas => 1, args => [
    '--user', split(' ', 'gate on >gate-s3cret ~yoti_idv:* resetchannels '
                         . '-@all +mget +set +cluster|slots +asking'),
]);

# two seeds of six: the module learns the rest from CLUSTER SLOTS
$ENV{TEST_NGINX_CLUSTER} = join ',',
    map { "127.0.0.1:$_" } @{ $Cluster->{ports} }[0, 1];

# three users on each master, u<N>
our $Users = YotiIdvHA::users_by_master('yoti_idv:', 4);
our @Masters = sort keys %$Users;

repeat_each(1);
no_shuffle();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis  cluster=$TEST_NGINX_CLUSTER user=gate password=gate-s3cret
                    connect_timeout=300ms timeout=1s;
_EOC_

# any user id maps to verified-alice: the policy does not bind the user
our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv            on;
        yoti_idv_user_id    $arg_u;
        yoti_idv_bind_user  off;
        yoti_idv_require    LIVENESS;

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

# the cluster key layout of docs/redis.md
sub mkey { "yoti_idv:{user:$_[0]}" }
sub vkey {
    my $k = YotiIdvRedis::verdict_key(user => $_[0], bind => 0,
                                      require => ['LIVENESS any']);
    $k =~ s/:user:(.*)\z/:{user:$1}/s;
    return $k;
}

sub user { $Users->{ $Masters[$_[0]] }[$_[1]] }
sub master { $Masters[$_[0]] }

sub calls { YotiIdvHA::calls(@_) }

# TEST 5: a user of the first master, its slot moved to the second
our ($U, $A, $B) = (user(0, 1), master(0), master(1));
our ($S, $Ds, $Dp);
# TEST 7: a user of the third master, half moved to the first
our ($T, $A2, $B2) = (user(2, 1), master(2), master(0));
# TEST 9: a user of the second master
our $D = user(1, 2);
# TEST 10: the master killed is the first seed
our ($K) = grep { $Masters[$_] == $Cluster->{ports}[0] } 0 .. 2;

run_tests();

__DATA__

=== TEST 1: users on every master: the mapping from each, verdicts cached (MISS, then HIT)
--- init
YotiIdvHA::cmd_at($_->{port}, 'FLUSHALL') for YotiIdvHA::masters();
for my $m (0 .. 2) {
    YotiIdvHA::ccmd('SET', main::mkey(main::user($m, $_)), 'verified-alice')
        for 0 .. 2;
}
--- request eval
["GET /__mock/reset",
 (map { "GET /members/?u=" . main::user($_, 0) } 0 .. 2),
 (map { "GET /members/?u=" . main::user($_, 0) } 0 .. 2),
 "GET /__mock/count/verified-alice"]
--- response_body eval
["ok\n", ("app: ALLOW verified-alice MISS\n") x 3,
 ("app: ALLOW verified-alice HIT\n") x 3, "3\n"]
--- no_error_log
[error]
[warn]



=== TEST 2: ...each verdict is on its user's master, in the slot of the mapping (hash tag)
--- init
for my $m (0 .. 2) {
    my $u = main::user($m, 0);
    my $port = main::master($m);
    Test::More::is(YotiIdvHA::cmd_at($port, 'GET', main::vkey($u)),
                   '1 verified-alice ALLOW ok',
                   "$0 TEST 2: the verdict of $u on the master at $port");
    my $slot = YotiIdvHA::slot(main::mkey($u));
    Test::More::is(YotiIdvHA::slot(main::vkey($u)), $slot,
                   "$0 TEST 2: mapping and verdict of $u in slot $slot");
    Test::More::is(YotiIdvHA::cmd_at($port, 'CLUSTER', 'COUNTKEYSINSLOT', $slot),
                   2, "$0 TEST 2: two keys in slot $slot on $port");
}
--- request
GET /members/?u=nobody
--- error_code: 403
--- response_headers
X-IDV-Reason: no_session



=== TEST 3: one round trip a request: one MGET on the user's master, no redirection
--- init
YotiIdvHA::reset_stats();
--- request eval
[map { my $m = $_; map { "GET /members/?u=" . main::user($m, $_) } 1 .. 2 } 0 .. 2]
--- response_body eval
[("app: ALLOW verified-alice MISS\n") x 6]
--- no_error_log
[error]



=== TEST 4: ...counted by the cluster (INFO commandstats of every master)
--- init
for my $m (0 .. 2) {
    my $port = main::master($m);
    Test::More::is(main::calls($port, 'mget'), 2,
                   "$0 TEST 4: two MGETs on the master at $port");
    Test::More::is(main::calls($port, 'mget', 'rejected_calls'), 0,
                   "$0 TEST 4: no MGET redirected by $port");
    Test::More::is(main::calls($port, 'cluster|slots'), $port == $main::Cluster->{ports}[0] ? 1 : 0,
                   "$0 TEST 4: CLUSTER SLOTS asked once, of the first seed");
}
--- request
GET /members/?u=nobody
--- error_code: 403



=== TEST 4a: background update: the refresh's lock shares the verdict's hash tag (one slot, the user's master)
--- http_config eval
$main::HttpConfig . "    yoti_idv_cache_zone   yoti_idv:1m;\n    yoti_idv_cache_valid  APPROVE 5s;\n"
--- config
    location /members/ {
        yoti_idv                          on;
        yoti_idv_user_id                  $arg_u;
        yoti_idv_bind_user                off;
        yoti_idv_require                  LIVENESS;
        yoti_idv_cache_background_update  on;

        add_header X-IDV-Cache $yoti_idv_cache always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
# a user of its own: its verdict lives 5s, and TEST 10 needs a lasting one
my $u = main::user(2, 3);
YotiIdvHA::ccmd('SET', main::mkey($u), 'verified-alice');
YotiIdvHA::ccmd('DEL', main::vkey($u));
YotiIdvTest::http_get(main::server_port(), '/__mock/reset');
my @r = YotiIdvTest::http_get(main::server_port(), "/members/?u=$u");
Test::More::is($r[2]{'x-idv-cache'}, 'MISS', "$0 TEST 4a: asked");
Time::HiRes::sleep(4.65);
@r = YotiIdvTest::http_get(main::server_port(), "/members/?u=$u");
Test::More::is($r[2]{'x-idv-cache'}, 'HIT', "$0 TEST 4a: answered from the zone, refreshed");
Time::HiRes::sleep(0.2);
(my $lock = main::vkey($u)) =~ s/:verdict:/:refresh:/;
my $port = main::master(2);
Test::More::is(YotiIdvHA::slot($lock), YotiIdvHA::slot(main::mkey($u)),
               "$0 TEST 4a: the lock in the mapping's slot");
my $ttl = YotiIdvHA::cmd_at($port, 'PTTL', $lock);
Test::More::ok($ttl > 0 && $ttl <= 500, "$0 TEST 4a: the lock on the user's master, 500 ms ($ttl)");
@r = YotiIdvTest::http_get(main::server_port(), '/__mock/count/verified-alice');
Test::More::is($r[1], "2\n", "$0 TEST 4a: the refresh asked the provider");
--- request
GET /members/?u=nobody
--- error_code: 403
--- no_error_log
[error]
[warn]
--- timeout: 10



=== TEST 5: a slot migrated during a run: ASK (ASKING on the target), then MOVED, then straight to the new master
--- init
$main::S = YotiIdvHA::slot(main::mkey($::U));
my $S = $main::S;
my ($U, $A, $B) = ($::U, $::A, $::B);
YotiIdvHA::reset_stats();

my ($ida, $idb) = (YotiIdvHA::node_id($A), YotiIdvHA::node_id($B));

# the migration, step by step, as each request has been answered
my $pid = fork;
if ($pid == 0) {
    my $until = sub {
        my ($cond) = @_;
        my $deadline = time + 20;
        Time::HiRes::sleep(0.01) until $cond->() || Time::HiRes::time() > $deadline;
    };

    $until->(sub { main::calls($A, 'mget') >= 1 });
    YotiIdvHA::cmd_at($B, 'CLUSTER', 'SETSLOT', $S, 'IMPORTING', $ida);
    YotiIdvHA::cmd_at($A, 'CLUSTER', 'SETSLOT', $S, 'MIGRATING', $idb);
    YotiIdvHA::cmd_at($A, 'MIGRATE', '127.0.0.1', $B, '', 0, 5000, 'KEYS',
                      main::mkey($U), main::vkey($U));

    $until->(sub { main::calls($B, 'asking') >= 1 });
    for my $m (YotiIdvHA::masters()) {
        YotiIdvHA::cmd_at($m->{port}, 'CLUSTER', 'SETSLOT', $S, 'NODE', $idb);
    }

    POSIX::_exit(0);
}
--- request eval
["GET /members/?u=$::U", "GET /__mock/sleep/600",
 "GET /members/?u=$::U", "GET /__mock/sleep/600",
 "GET /members/?u=$::U", "GET /members/?u=$::U"]
--- response_body eval
["app: ALLOW verified-alice HIT\n", "slept 600\n",
 "app: ALLOW verified-alice HIT\n", "slept 600\n",
 "app: ALLOW verified-alice HIT\n", "app: ALLOW verified-alice HIT\n"]
--- no_error_log
[error]



=== TEST 6: ...what the cluster saw: the keys moved, one ASK and one MOVED from the old master
--- init
my ($U, $S, $A, $B) = ($::U, $::S, $::A, $::B);
waitpid(-1, 0);
Test::More::is(YotiIdvHA::cmd_at($B, 'CLUSTER', 'COUNTKEYSINSLOT', $S), 2,
               "$0 TEST 6: both keys of the user in slot $S on the new master");
Test::More::is(YotiIdvHA::cmd_at($A, 'CLUSTER', 'COUNTKEYSINSLOT', $S), 0,
               "$0 TEST 6: none left on the old master");
Test::More::is(main::calls($A, 'mget'), 1,
               "$0 TEST 6: the old master answered the first MGET");
Test::More::is(main::calls($A, 'mget', 'rejected_calls'), 2,
               "$0 TEST 6: and redirected two (ASK, then MOVED)");
Test::More::is(main::calls($B, 'asking'), 1,
               "$0 TEST 6: one ASKING on the new master");
Test::More::is(main::calls($B, 'mget'), 3,
               "$0 TEST 6: three MGETs answered by the new master");
Test::More::is(main::calls($B, 'mget', 'rejected_calls'), 0,
               "$0 TEST 6: none redirected by it");
--- request eval
"GET /members/?u=$::U"
--- response_body
app: ALLOW verified-alice HIT



=== TEST 7: TRYAGAIN (a slot half migrated): fail closed, a clear log line
--- init
my ($T, $A2, $B2) = ($::T, $::A2, $::B2);
my $s = YotiIdvHA::slot(main::mkey($T));
YotiIdvHA::ccmd('SET', main::vkey($T), '1 verified-alice ALLOW ok');
YotiIdvHA::cmd_at($B2, 'CLUSTER', 'SETSLOT', $s, 'IMPORTING', YotiIdvHA::node_id($A2));
YotiIdvHA::cmd_at($A2, 'CLUSTER', 'SETSLOT', $s, 'MIGRATING', YotiIdvHA::node_id($B2));
YotiIdvHA::cmd_at($A2, 'MIGRATE', '127.0.0.1', $B2, '', 0, 5000, 'KEYS', main::vkey($T));
--- request eval
"GET /members/?u=$::T"
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:cluster
--- error_log eval
qr/yoti_idv: redis cluster node "127\.0\.0\.1:\d+" answered "TRYAGAIN/



=== TEST 8: ...the migration finished: the user is served again
--- init
my ($T, $A2, $B2) = ($::T, $::A2, $::B2);
my $s = YotiIdvHA::slot(main::mkey($T));
YotiIdvHA::cmd_at($A2, 'MIGRATE', '127.0.0.1', $B2, '', 0, 5000, 'KEYS', main::mkey($T));
for my $m (YotiIdvHA::masters()) {
    YotiIdvHA::cmd_at($m->{port}, 'CLUSTER', 'SETSLOT', $s, 'NODE', YotiIdvHA::node_id($B2));
}
--- request eval
"GET /members/?u=$::T"
--- response_body
app: ALLOW verified-alice HIT
--- no_error_log
[error]



=== TEST 9: CLUSTERDOWN (a slot nobody serves): fail closed, a clear log line
--- init
$main::Ds = YotiIdvHA::slot(main::mkey($::D));
$main::Dp = YotiIdvHA::owner(main::mkey($::D));
YotiIdvHA::cmd_at($main::Dp, 'CLUSTER', 'DELSLOTS', $main::Ds);
--- request eval
"GET /members/?u=$::D"
--- error_code: 503
--- response_headers
X-IDV-Reason: redis:cluster
--- error_log eval
qr/yoti_idv: redis cluster node "127\.0\.0\.1:\d+" answered "CLUSTERDOWN/



=== TEST 10: a master killed (the first seed): fail closed during the failover, then its replica answers, no reload
--- init
YotiIdvHA::cmd_at($main::Dp, 'CLUSTER', 'ADDSLOTS', $main::Ds);
YotiIdvHA::wait_cluster_ok();

my $u = main::user($main::K, 0);
my $port = YotiIdvHA::owner(main::mkey($u));
YotiIdvHA::cmd_at($port, 'WAIT', 1, 2000);

my $get = sub {
    my ($status, $body, $h) = YotiIdvTest::http_get($ENV{TEST_NGINX_SERVER_PORT},
                                                   "/members/?u=$u");
    return ($status, $h->{'x-idv-reason'} // '', $body);
};

my ($st, $reason, $body) = $get->();
Test::More::is("$st $body", "200 app: ALLOW verified-alice HIT\n",
               "$0 TEST 10: served by the master at $port before");

my $t0 = Time::HiRes::time();
YotiIdvHA::kill_node($port);

my (@seen, $ok_at);
while (Time::HiRes::time() - $t0 < 30) {
    ($st, $reason, $body) = $get->();
    push @seen, "$st $reason";
    if ($st eq "200") { $ok_at = Time::HiRes::time(); last }
    Time::HiRes::sleep(0.05);
}

my %bad = map { $_ => 1 } grep { !/^503 redis:/ } @seen[0 .. $#seen - 1];
Test::More::ok(@seen > 1 && !%bad,
               "$0 TEST 10: only 503 redis:* before the failover (@seen[0, -2])");
Test::More::ok(defined $ok_at,
               sprintf("$0 TEST 10: allowed again %.0f ms after the kill",
                       1000 * (($ok_at // Time::HiRes::time()) - $t0)))
    or Test::More::diag("seen: @seen[-3 .. -1]; cluster nodes:\n"
        . YotiIdvHA::cmd_at(main::master(0), 'CLUSTER', 'NODES'));
Test::More::is($body, "app: ALLOW verified-alice HIT\n",
               "$0 TEST 10: with the replicated mapping and verdict");
Test::More::isnt(YotiIdvHA::owner(main::mkey($u)), $port,
                 "$0 TEST 10: another node serves the slot");
--- request eval
"GET /members/?u=" . main::user($::K, 2)
--- response_body
app: ALLOW verified-alice HIT
--- error_log eval
[qr/yoti_idv: connection to redis at "127\.0\.0\.1:\d+" lost/,
 qr/yoti_idv: no verdict for the request: redis:/]
