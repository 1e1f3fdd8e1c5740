# yoti_idv_cache_background_update with Redis: one background refresh
# per verdict among all the nodes, not one per node.  Before it asks the
# provider, a refresh takes SET <prefix>refresh:<fingerprint>:user:<user>
# NX PX; a node that finds the key set (another node refreshes) keeps the
# old verdict, and after it expires finds the other's in Redis.
#
# Node A is the runner's nginx, node B a second nginx (t/lib/YotiIdvNode.pm),
# both with a zone and two workers, sharing one redis-server (TEST 4 has a
# node B of its own, for its location).

use lib 't/lib';

use YotiIdvMock;
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;
use YotiIdvNode;
use Time::HiRes qw(sleep);

repeat_each(1);
no_shuffle();
master_on();
workers(2);

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis        127.0.0.1:$TEST_NGINX_REDIS_PORT;
    yoti_idv_cache_zone   yoti_idv:1m;
    yoti_idv_cache_valid  APPROVE 5s;
_EOC_

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv                          on;
        yoti_idv_user_id                  $http_x_user_id;
        yoti_idv_require                  LIVENESS;
        yoti_idv_cache_background_update  on;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Layer $yoti_idv_layer always;
        add_header X-IDV-Cache $yoti_idv_cache always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

(my $server_b = $YotiIdvTest::ApiLocation . $YotiIdvTest::Locations . $Members)
    =~ s/\$TEST_NGINX_SERVER_PORT/\$NODE_PORT/g;

our $B = YotiIdvNode::start(http => $HttpConfig, server => $server_b);

# TEST 4: the session id from a variable, stale verdicts, a 2 s life
our $Http4 = $HttpConfig =~ s/APPROVE 5s/APPROVE 2s/r;

our $Members4 = <<'_EOC_';
    location /members/ {
        yoti_idv                          on;
        yoti_idv_user_id                  $http_x_user_id;
        yoti_idv_session_id               $http_x_session_id;
        yoti_idv_require                  LIVENESS;
        yoti_idv_cache_background_update  on;
        yoti_idv_cache_use_stale          10s;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Layer $yoti_idv_layer always;
        add_header X-IDV-Cache $yoti_idv_cache always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

(my $server_b4 = $YotiIdvTest::ApiLocation . $YotiIdvTest::Locations
                 . $Members4) =~ s/\$TEST_NGINX_SERVER_PORT/\$NODE_PORT/g;

our $B4 = YotiIdvNode::start(http => $Http4, server => $server_b4);

sub node_port {
    return $_[0] eq 'A' ? server_port() : $_[0] eq 'B4' ? $B4->{port} : $B->{port};
}

# "status verdict layer cache" of a request for the user on a node
sub ask {
    my ($node, $user) = @_;
    my ($status, undef, $h) = YotiIdvNode::request(node_port($node), 'GET',
                                                   '/members/',
                                                   { 'X-User-Id' => $user });
    return join ' ', $status, map { $h->{"x-idv-$_"} // '-' }
                                  qw(verdict layer cache);
}

sub fetches {
    my ($sid) = @_;
    my $n = YotiIdvMock::mock_get("/__mock/count/$sid");
    chomp $n;
    return $n;
}

# <prefix>refresh:<fingerprint>:user:<user>, from the verdict's key
sub lock_key {
    my ($user) = @_;
    my ($key) = @{ YotiIdvRedis::cmd('KEYS', "yoti_idv:verdict:*:user:$user") };
    die "no verdict in redis for $user\n" unless defined $key;
    return $key =~ s/:verdict:/:refresh:/r;
}

sub check {
    my ($name, $got, $want) = @_;
    Test::More::is($got, $want, "$0 $name");
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Members) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

run_tests();

__DATA__

=== TEST 1: a burst on both nodes in the last tenth of the verdict's life: one fetch
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvMock::mock_get('/__mock/reset');
main::check('TEST 1: A asks the provider', main::ask('A', 'alice'), '200 ALLOW provider MISS');
main::check('TEST 1: B from Redis', main::ask('B', 'alice'), '200 ALLOW redis HIT');
main::check('TEST 1: one fetch so far', main::fetches('verified-alice'), 1);
Time::HiRes::sleep(4.65);
YotiIdvMock::mock_get('/__mock/reset');
for my $i (1 .. 10) {
    for my $node ('A', 'B') {
        main::check("TEST 1: burst $i on $node", main::ask($node, 'alice'), '200 ALLOW zone HIT');
    }
}
# the lock, for a tenth of the verdict's 5 s
my $ttl = YotiIdvRedis::cmd('PTTL', main::lock_key('alice'));
Test::More::ok($ttl > 0 && $ttl <= 500, "$0 TEST 1: the lock lives 500 ms at most ($ttl)");
Time::HiRes::sleep(0.5);
main::check('TEST 1: one refresh for both nodes', main::fetches('verified-alice'), 1);
Time::HiRes::sleep(0.5);
# the old verdicts expired: A has the new one, B takes it from Redis
main::check('TEST 1: A refreshed', main::ask('A', 'alice'), '200 ALLOW zone HIT');
main::check('TEST 1: B from Redis, no fetch', main::ask('B', 'alice'), '200 ALLOW redis HIT');
main::check('TEST 1: still one fetch', main::fetches('verified-alice'), 1);
Test::More::unlike(YotiIdvNode::error_log($main::B), qr/\[(error|alert|crit)\]/, "$0 TEST 1: node B logged no error");
--- request
GET /members/
--- more_headers
X-User-Id: alice
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Cache: HIT
--- no_error_log
[error]
[alert]
[crit]
--- timeout: 10



=== TEST 2: another node holds the lock: no fetch, the old verdict is served until it expires
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:bob', 'verified-bob');
YotiIdvMock::mock_get('/__mock/reset');
main::check('TEST 2: A asks the provider', main::ask('A', 'bob'), '200 ALLOW provider MISS');
# the verdict was stored before $t0: in its last tenth from $t0 + 4.5 s
my $t0 = Time::HiRes::time();
Time::HiRes::sleep(4.6);
YotiIdvRedis::cmd('SET', main::lock_key('bob'), '1', 'PX', '5000');
YotiIdvMock::mock_get('/__mock/reset');
for my $i (1 .. 5) {
    main::check("TEST 2: burst $i", main::ask('A', 'bob'), '200 ALLOW zone HIT');
}
Time::HiRes::sleep(0.1);
main::check('TEST 2: no fetch', main::fetches('verified-bob'), 0);
main::check('TEST 2: the old verdict, still', main::ask('A', 'bob'), '200 ALLOW zone HIT');
Time::HiRes::sleep(5.1 - (Time::HiRes::time() - $t0));    # past its life
# expired in the zone and in Redis: this request asks
main::check('TEST 2: after it expired, asked', main::ask('A', 'bob'), '200 ALLOW provider MISS');
main::check('TEST 2: one fetch then', main::fetches('verified-bob'), 1);
--- request
GET /members/
--- more_headers
X-User-Id: bob
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Layer: zone
--- no_error_log
[error]
[alert]
[crit]
--- timeout: 10



=== TEST 3: Redis refuses the lock (an ACL without SET): this node refreshes anyway
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:bob', 'verified-bob');
YotiIdvMock::mock_get('/__mock/reset');
main::check('TEST 3: A asks the provider', main::ask('A', 'bob'), '200 ALLOW provider MISS');
Time::HiRes::sleep(4.65);
YotiIdvRedis::cmd('ACL', 'SETUSER', 'default', '-set');
YotiIdvMock::mock_get('/__mock/reset');
for my $i (1 .. 10) {
    main::check("TEST 3: burst $i", main::ask('A', 'bob'), '200 ALLOW zone HIT');
}
Time::HiRes::sleep(0.3);
YotiIdvRedis::cmd('ACL', 'SETUSER', 'default', '+set');
main::check('TEST 3: refreshed once', main::fetches('verified-bob'), 1);
Time::HiRes::sleep(0.5);
main::check('TEST 3: the new verdict, past the old one\'s life', main::ask('A', 'bob'), '200 ALLOW zone HIT');
main::check('TEST 3: still one fetch', main::fetches('verified-bob'), 1);
--- request
GET /members/
--- more_headers
X-User-Id: bob
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Layer: zone
--- error_log
redis answered "NOPERM
--- no_error_log
[alert]
[crit]
--- timeout: 10



=== TEST 4: expired within the stale window (UPDATING) on both nodes: one fetch, and the other node takes the new verdict from Redis
--- http_config eval
$main::Http4
--- config eval
$main::Members4
--- init
YotiIdvRedis::flush();
YotiIdvMock::mock_get('/__mock/reset');
my %h = ('X-User-Id' => 'bob', 'X-Session-Id' => 'verified-bob');
my $ask = sub {
    my ($status, undef, $hd) = YotiIdvNode::request(main::node_port($_[0]), 'GET', '/members/', \%h);
    return join ' ', $status, map { $hd->{"x-idv-$_"} // '-' } qw(verdict layer cache);
};
main::check('TEST 4: A asks the provider', $ask->('A'), '200 ALLOW provider MISS');
main::check('TEST 4: B from Redis', $ask->('B4'), '200 ALLOW redis HIT');
Time::HiRes::sleep(2.2);
YotiIdvMock::mock_get('/__mock/reset');
for my $i (1 .. 5) {
    for my $node ('A', 'B4') {
        Test::More::like($ask->($node), qr/^200 ALLOW \w+ (UPDATING|HIT)$/, "$0 TEST 4: burst $i on $node");
    }
}
Time::HiRes::sleep(0.3);
$ask->('B4');    # past the lock's 200 ms: B refreshes from Redis, not the provider
Time::HiRes::sleep(0.3);
main::check('TEST 4: A has the new verdict', $ask->('A'), '200 ALLOW zone HIT');
main::check('TEST 4: B has it too', $ask->('B4'), '200 ALLOW zone HIT');
main::check('TEST 4: one fetch for both nodes', main::fetches('verified-bob'), 1);
Test::More::unlike(YotiIdvNode::error_log($main::B4), qr/\[(error|alert|crit)\]/, "$0 TEST 4: node B logged no error");
--- request
GET /members/
--- more_headers
X-User-Id: bob
X-Session-Id: verified-bob
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Cache: HIT
--- no_error_log
[error]
[alert]
[crit]
--- timeout: 10
