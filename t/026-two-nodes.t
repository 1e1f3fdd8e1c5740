# Two nodes, each with its zone, sharing one redis-server: a notification
# or an app's revocation reaches both zones at once; a PENDING user is let
# in right after session_completion; a dropped events connection catches
# up; a gap it cannot cover drops the zone; Redis down answers 503.
#
# Node A is the runner's nginx, node B a second nginx (t/lib/YotiIdvNode.pm).

use lib 't/lib';

use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(sleep time);

my ($SESSIONS, $TOKENS);

BEGIN {
    # the mock's fixtures, and "flip-alice", whose state the tests change
    $SESSIONS = tempdir('yoti-idv-sessions-XXXXXX', TMPDIR => 1,
                        CLEANUP => 1);
    system('cp', '-r', glob('t/mock/sessions/*'), $SESSIONS) == 0
        or die "cp: $?\n";

    $TOKENS = tempdir('yoti-idv-token-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    open my $fh, '>', "$TOKENS/token" or die "$TOKENS: $!\n";
    print {$fh} "s3cr3t-t0ken\n";
    close $fh;
}

use YotiIdvMock sessions => $SESSIONS;
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;
use YotiIdvNode;

repeat_each(1);
no_shuffle();
master_on();
workers(2);

$ENV{TEST_NGINX_TOKEN_DIR} = $TOKENS;

# node A runs under valgrind in make test-valgrind: its waits scale
our $SCALE = $ENV{TEST_NGINX_USE_VALGRIND}
             ? ($ENV{TEST_NGINX_VALGRIND_SCALE} || 10) : 1;
$ENV{TEST_NGINX_REDIS_TIMEOUT} = (300 * $SCALE) . 'ms';

our $AUTH = 'Basic ' . encode_base64('s3cr3t-t0ken', '');

# the app's revocation, as docs/redis.md gives it
our $REVOKE = <<'_LUA_';
local k = redis.call('SMEMBERS', KEYS[1])
for i = 1, #k do redis.call('DEL', k[i]) end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[4], redis.call('INCR', KEYS[3]), 'EX', ARGV[4])
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', ARGV[1], ARGV[2])
_LUA_

sub flip {
    my ($sid, $to) = @_;

    open my $in, '<', "t/mock/sessions/$to.json" or die "$to: $!\n";
    local $/;
    my $doc = <$in>;
    close $in;

    $doc =~ s/"session_id": "\Q$to\E"/"session_id": "$sid"/;

    open my $out, '>', "$SESSIONS/$sid.json.new" or die "$SESSIONS: $!\n";
    print {$out} $doc;
    close $out;
    rename "$SESSIONS/$sid.json.new", "$SESSIONS/$sid.json" or die "$!\n";
}

flip('flip-alice', 'ongoing-alice');

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis       127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=$TEST_NGINX_REDIS_TIMEOUT timeout=$TEST_NGINX_REDIS_TIMEOUT;
    yoti_idv_cache_zone  yoti_idv:1m ttl=1h;
    yoti_idv_cache_valid PENDING 1h;
    yoti_idv_cache_valid APPROVE 1h;
_EOC_

our $Members = <<'_EOC_';
    location = /yoti/notifications {
        yoti_idv_notifications  $TEST_NGINX_TOKEN_DIR/token;
    }

    location /members/ {
        yoti_idv          on;
        yoti_idv_user_id  $http_x_user_id;
        yoti_idv_require  LIVENESS;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Layer $yoti_idv_layer always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_layer";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

(my $server_b = $YotiIdvTest::ApiLocation . $YotiIdvTest::Locations . $Members)
    =~ s/\$TEST_NGINX_SERVER_PORT/\$NODE_PORT/g;

our $B = YotiIdvNode::start(http => $HttpConfig, server => $server_b);

sub node_port { $_[0] eq 'A' ? server_port() : $B->{port} }

# (status, "verdict layer") of a request for the user on a node
sub ask {
    my ($node, $user) = @_;
    my ($status, undef, $h) = YotiIdvNode::request(node_port($node), 'GET',
                                                   '/members/',
                                                   { 'X-User-Id' => $user });
    return ($status, ($h->{'x-idv-verdict'} // '-') . ' '
                     . ($h->{'x-idv-layer'} // '-'));
}

sub notify {
    my ($node, $sid, $topic) = @_;
    my ($status) = YotiIdvNode::request(node_port($node), 'POST',
        '/yoti/notifications', { Authorization => $AUTH },
        qq({"session_id":"$sid","topic":"$topic"}));
    return $status;
}

# seconds until the user's verdict on the node is $want, or undef after 2s
sub until_verdict {
    my ($node, $user, $want, $t0) = @_;
    while (time() - $t0 < 2 * $SCALE) {
        my (undef, $v) = ask($node, $user);
        return time() - $t0 if $v =~ /^\Q$want\E /;
        sleep 0.002;
    }
    return undef;
}

sub check {
    my ($name, $got, $want) = @_;
    Test::More::is($got, $want, "$0 $name");
}

sub events_ids {
    my $list = YotiIdvRedis::cmd('CLIENT', 'LIST');
    return map { /\bid=(\d+)\b/ ? $1 : () }
           grep { /\bname=yoti_idv_events\b/ } split /\n/, $list;
}

# the events connections, once there are $n (a worker started for the
# block may not have connected yet), or what there is after 3 s
sub events_ids_up {
    my ($n) = @_;
    my $t0 = time();
    my @ids = events_ids();
    while (@ids < $n && time() - $t0 < 3 * $SCALE) {
        sleep 0.01;
        @ids = events_ids();
    }
    return @ids;
}

# the app's revocation of a user or a session (docs/redis.md): its entry
sub revoke {
    my ($kind, $id) = @_;
    return YotiIdvRedis::cmd('EVAL', $REVOKE, 4, "yoti_idv:index:$kind:$id",
                             'yoti_idv:events', 'yoti_idv:invalidations',
                             "yoti_idv:invalidated:$kind:$id", $kind, $id,
                             100000, 600);
}

# a master's workers, by pid
sub node_workers {
    my ($master) = @_;
    open my $fh, '<', "/proc/$master/task/$master/children" or return ();
    my @pids = split ' ', (<$fh> // '');
    close $fh;
    return sort @pids;
}

# the workers the master started in place of @old, once there are $n
sub new_workers {
    my ($master, $n, @old) = @_;
    my %old = map { $_ => 1 } @old;
    my $t0 = time();
    while (time() - $t0 < 5 * $SCALE) {
        my @new = grep { !$old{$_} } node_workers($master);
        return @new if @new == $n;
        sleep 0.01;
    }
    return ();
}

sub count_in_log {
    my ($node, $re) = @_;
    return scalar(() = YotiIdvNode::error_log($node) =~ /$re/g);
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

=== TEST 1: PENDING -> ALLOW on both nodes right after session_completion
--- init
YotiIdvRedis::flush();
main::flip('flip-alice', 'ongoing-alice');
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'flip-alice');
Time::HiRes::sleep 0.3 * $main::SCALE;    # both nodes' events connections are up
main::check('TEST 1: B asks the provider', (main::ask('B', 'alice'))[1], 'PENDING provider');
main::check('TEST 1: B from its zone', (main::ask('B', 'alice'))[1], 'PENDING zone');
main::check('TEST 1: A from Redis', (main::ask('A', 'alice'))[1], 'PENDING redis');
main::check('TEST 1: A from its zone', (main::ask('A', 'alice'))[1], 'PENDING zone');
main::flip('flip-alice', 'verified-alice');
main::check('TEST 1: done at Yoti, still PENDING on A', (main::ask('A', 'alice'))[1], 'PENDING zone');
main::check('TEST 1: still PENDING on B', (main::ask('B', 'alice'))[1], 'PENDING zone');
main::check('TEST 1: the notification, to B', main::notify('B', 'flip-alice', 'session_completion'), 200);
my $t0 = Time::HiRes::time();
main::check('TEST 1: B allows at once', (main::ask('B', 'alice'))[1], 'ALLOW provider');
my $dt = main::until_verdict('A', 'alice', 'ALLOW', $t0);
Test::More::ok(defined $dt && $dt < 0.5 * $main::SCALE, "$0 TEST 1: A allows within 500 ms ("
               . (defined $dt ? sprintf('%.1f ms', $dt * 1000) : 'never') . ")")
    or Test::More::diag(`grep -a "yoti_idv\\|redis" ${\ server_root()}/logs/error.log | grep -v "http \\|state" | tail -60`);
--- request
GET /members/
--- more_headers
X-User-Id: alice
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Layer: zone
--- no_error_log
[error]



=== TEST 2: the app revokes the user: neither node allows at once
--- init
main::ask('A', 'alice');    # this nginx started anew for the block
main::check('TEST 2: A holds ALLOW', (main::ask('A', 'alice'))[1], 'ALLOW zone');
main::check('TEST 2: B holds ALLOW', (main::ask('B', 'alice'))[1], 'ALLOW zone');
YotiIdvRedis::cmd('DEL', 'yoti_idv:user:alice');
my $t0 = Time::HiRes::time();
my $id = main::revoke('user', 'alice');
Test::More::like($id, qr/^\d+-\d+$/, "$0 TEST 2: the revocation's entry");
my $a = main::until_verdict('A', 'alice', 'DENY', $t0);
my $b = main::until_verdict('B', 'alice', 'DENY', $t0);
Test::More::ok(defined $a && $a < 0.5 * $main::SCALE, "$0 TEST 2: A denies within 500 ms");
Test::More::ok(defined $b && $b < 0.5 * $main::SCALE, "$0 TEST 2: B denies within 500 ms");
--- request
GET /members/
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: no_session
--- no_error_log
[error]



=== TEST 3: the app revokes a session: its verdicts leave Redis too
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:bob', 'verified-bob');
main::ask('A', 'bob');
main::check('TEST 3: B holds ALLOW from Redis', (main::ask('B', 'bob'))[1], 'ALLOW redis');
main::check('TEST 3: A in its zone', (main::ask('A', 'bob'))[1], 'ALLOW zone');
main::check('TEST 3: B in its zone', (main::ask('B', 'bob'))[1], 'ALLOW zone');
main::revoke('session', 'verified-bob');
Time::HiRes::sleep 0.2;
Test::More::is(YotiIdvRedis::cmd('EXISTS', 'yoti_idv:index:session:verified-bob'), 0,
               "$0 TEST 3: the index is gone");
main::check('TEST 3: B asks the provider again', (main::ask('B', 'bob'))[1], 'ALLOW provider');
--- request eval
["GET /members/", "GET /members/"]
--- more_headers
X-User-Id: bob
--- response_headers eval
["X-IDV-Layer: redis", "X-IDV-Layer: zone"]
--- no_error_log
[error]



=== TEST 4: events connections killed: the revocation sent meanwhile still takes effect, the zone stays
--- init
# no FLUSHALL here: it would take the stream, and the id each reader holds
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvRedis::cmd('SET', 'yoti_idv:user:bob', 'verified-bob');
for my $n ('A', 'B') { for my $u ('alice', 'bob') { main::ask($n, $u) } }
main::check("TEST 4: A holds alice", (main::ask('A', 'alice'))[1], 'ALLOW zone');
main::check("TEST 4: B holds bob", (main::ask('B', 'bob'))[1], 'ALLOW zone');
my @ids = main::events_ids_up(4);
Test::More::ok(@ids >= 4, "$0 TEST 4: an events connection per worker and node");
YotiIdvRedis::cmd('CLIENT', 'KILL', 'ID', $_) for @ids;
YotiIdvRedis::cmd('DEL', 'yoti_idv:user:alice');
main::revoke('user', 'alice');
my $t0 = Time::HiRes::time();
Test::More::ok(defined main::until_verdict('A', 'alice', 'DENY', $t0), "$0 TEST 4: A denies alice");
Test::More::ok(defined main::until_verdict('B', 'alice', 'DENY', $t0), "$0 TEST 4: B denies alice");
main::check("TEST 4: B still holds bob", (main::ask('B', 'bob'))[1], 'ALLOW zone');
Test::More::like(YotiIdvNode::error_log($main::B), qr/events connection to redis .* lost/,
                 "$0 TEST 4: B noticed");
Test::More::unlike(YotiIdvNode::error_log($main::B), qr/cached verdicts of the zone are dropped/,
                   "$0 TEST 4: B did not drop its zone");
--- request
GET /members/
--- more_headers
X-User-Id: bob
--- response_headers
X-IDV-Layer: zone
--- error_log
events connection to redis
--- no_error_log
cached verdicts of the zone are dropped



=== TEST 5: Redis restarted empty: the gap cannot be covered, both zones are dropped
--- init
# this nginx started anew for the block: its readers are up (4 with B's)
main::events_ids_up(4);
Time::HiRes::sleep 0.1 * $main::SCALE;
main::ask('A', 'bob');
main::ask('B', 'bob');
main::check("TEST 5: A holds bob", (main::ask('A', 'bob'))[1], 'ALLOW zone');
main::check("TEST 5: B holds bob", (main::ask('B', 'bob'))[1], 'ALLOW zone');
YotiIdvRedis::stop();
YotiIdvRedis::start_again();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:bob', 'verified-bob');
my $t0 = Time::HiRes::time();
my $alog = server_root() . '/logs/error.log';
while (Time::HiRes::time() - $t0 < 3 * $main::SCALE) {
    last if YotiIdvNode::error_log($main::B) =~ /cached verdicts of the zone are dropped/
            && YotiIdvNode::slurp($alog) =~ /cached verdicts of the zone are dropped/;
    Time::HiRes::sleep 0.05;
}
Test::More::like(YotiIdvNode::error_log($main::B), qr/are not all in "yoti_idv:events" any more: the cached verdicts of the zone are dropped/,
                 "$0 TEST 5: B dropped its zone");
Test::More::like(YotiIdvNode::slurp($alog), qr/are not all in "yoti_idv:events" any more: the cached verdicts of the zone are dropped/,
                 "$0 TEST 5: A dropped its zone");
main::check("TEST 5: B asks again", (main::ask('B', 'bob'))[1], 'ALLOW provider');
--- request eval
["GET /__mock/sleep/" . 1500 * $main::SCALE, "GET /members/"]
--- more_headers eval
["", "X-User-Id: bob"]
--- response_headers eval
["", "X-IDV-Layer: redis"]
--- no_error_log
[alert]
[crit]



=== TEST 6: Redis down when the notification comes: 503, and the retry takes effect on both
--- init
YotiIdvRedis::flush();
main::flip('flip-alice', 'ongoing-alice');
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'flip-alice');
main::ask('A', 'alice');
main::check('TEST 6: A PENDING in its zone', (main::ask('A', 'alice'))[1], 'PENDING zone');
main::check('TEST 6: B PENDING from Redis', (main::ask('B', 'alice'))[1], 'PENDING redis');
main::flip('flip-alice', 'verified-alice');
# Redis goes away: a notification cannot be passed on
YotiIdvRedis::cmd('CLIENT', 'PAUSE', 3000 * $main::SCALE, 'ALL');
main::check('TEST 6: 503 for a retry', main::notify('A', 'flip-alice', 'session_completion'), 503);
main::check('TEST 6: A still PENDING', (main::ask('A', 'alice'))[1], 'PENDING zone');
YotiIdvRedis::cmd('CLIENT', 'UNPAUSE');
Time::HiRes::sleep 1.2 * $main::SCALE;
main::check('TEST 6: the retry', main::notify('A', 'flip-alice', 'session_completion'), 200);
my $t0 = Time::HiRes::time();
Test::More::ok(defined main::until_verdict('B', 'alice', 'ALLOW', $t0), "$0 TEST 6: B allows");
--- request
GET /members/
--- more_headers
X-User-Id: alice
--- error_code: 200
--- error_log
not passed on: redis:timeout; answered 503 for a retry



=== TEST 7: B's workers die with a revocation unread: the workers that replace them read it from where the zone's readers were, and the zone stays
--- init
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvRedis::cmd('SET', 'yoti_idv:user:bob', 'verified-bob');
for my $u ('alice', 'bob') { main::ask('B', $u) }
main::check('TEST 7: B holds alice', (main::ask('B', 'alice'))[1], 'ALLOW zone');
main::check('TEST 7: B holds bob', (main::ask('B', 'bob'))[1], 'ALLOW zone');
my $dropped = main::count_in_log($main::B, qr/cached verdicts of the zone are dropped/);
my @old = main::node_workers($main::B->{pid});
Test::More::is(scalar @old, 2, "$0 TEST 7: B has two workers");
# stopped, they cannot read what comes now; killed, they never will
kill 'STOP', @old;
YotiIdvRedis::cmd('DEL', 'yoti_idv:user:alice');
main::revoke('user', 'alice');
kill 'KILL', @old;
my @new = main::new_workers($main::B->{pid}, 2, @old);
Test::More::is(scalar @new, 2, "$0 TEST 7: the master started two others");
my $t0 = Time::HiRes::time();
Test::More::ok(defined main::until_verdict('B', 'alice', 'DENY', $t0),
               "$0 TEST 7: B denies alice");
main::check('TEST 7: B still holds bob', (main::ask('B', 'bob'))[1], 'ALLOW zone');
main::check('TEST 7: B did not drop its zone',
            main::count_in_log($main::B, qr/cached verdicts of the zone are dropped/), $dropped);
--- request
GET /members/
--- more_headers
X-User-Id: alice
--- error_code: 403
--- response_headers
X-IDV-Reason: no_session



=== TEST 8: the node that took the notification keeps what it fetched right after: its readers pass over the entry
--- init
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'flip-alice');
main::flip('flip-alice', 'ongoing-alice');
main::events_ids_up(4);
main::revoke('user', 'alice');    # what TEST 7 left of alice, on both nodes
Time::HiRes::sleep 0.1 * $main::SCALE;
main::check('TEST 8: B asks the provider', (main::ask('B', 'alice'))[1], 'PENDING provider');
main::check('TEST 8: B PENDING in its zone', (main::ask('B', 'alice'))[1], 'PENDING zone');
main::flip('flip-alice', 'verified-alice');
my $dropped = main::count_in_log($main::B, qr/cached verdicts of the zone are dropped/);
# the readers are away when the notification adds its entry: they read
# it once they are back, after B's fetch
my @ids = main::events_ids_up(4);
YotiIdvRedis::cmd('CLIENT', 'KILL', 'ID', $_) for @ids;
main::check('TEST 8: the notification, to B', main::notify('B', 'flip-alice', 'session_completion'), 200);
main::check('TEST 8: B allows at once', (main::ask('B', 'alice'))[1], 'ALLOW provider');
my @back = main::events_ids_up(4);
Test::More::ok(@back >= 4, "$0 TEST 8: the readers are back");
Time::HiRes::sleep 0.2 * $main::SCALE;    # and have read the entry
main::check('TEST 8: B kept it in its zone', (main::ask('B', 'alice'))[1], 'ALLOW zone');
main::check('TEST 8: B did not drop its zone',
            main::count_in_log($main::B, qr/cached verdicts of the zone are dropped/), $dropped);
--- request
GET /members/
--- more_headers
X-User-Id: alice
--- error_code: 200
--- response_headers
X-IDV-Verdict: ALLOW
--- no_error_log
cached verdicts of the zone are dropped
