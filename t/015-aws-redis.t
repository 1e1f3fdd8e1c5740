# aws_rekognition with Redis: the mapping binds sessions to users, the
# verdict key's fingerprint covers provider, region, host and
# min_confidence, APPROVE of yoti_idv_cache_valid is how long a pass
# counts, and a Yoti location shares the same Redis.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use RekognitionMock;
use AwsIdvTest;
use YotiIdvRedis;
use Digest::SHA qw(sha256_hex);

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&AwsIdvTest::defaults);

# docs/redis.md, "The policy fingerprint"
sub aws_key {
    my ($user, $min) = @_;
    my $text = "v2\naws_rekognition\n\nbind=1\nsource=redis\n"
               . "region=eu-west-1\nhost=127.0.0.1:$ENV{TEST_NGINX_AWS_PORT}\n"
               . "LIVENESS min_confidence=$min\n";
    return 'yoti_idv:verdict:' . substr(sha256_hex($text), 0, 16)
           . ":user:$user";
}

our $Http = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis        127.0.0.1:$TEST_NGINX_REDIS_PORT;
    yoti_idv_cache_valid  APPROVE 30d;
_EOC_

our $Mapped = $AwsIdvTest::Liveness =~ s/\n\s*yoti_idv_session_id[^\n]*//r
                                    =~ s/\n\s*yoti_idv_bind_user[^\n]*//r
              =~ s/(add_header X-IDV-Reason)/add_header X-IDV-Cache \$yoti_idv_cache always;\n        $1/r;

our $MembersMapped = $YotiIdvTest::Members =~ s/\n\s*yoti_idv_session_id[^\n]*//r;

run_tests();

__DATA__

=== TEST 1: the mapping gives the session; the pass is stored for APPROVE (30d)
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:carol', 'a1000000-0000-4000-8000-000000000001');
--- http_config eval
$main::Http
--- config eval
$main::Mapped
--- request eval
["GET /__aws/reset", "GET /liveness/", "GET /liveness/",
 "GET /__aws/count/a1000000-0000-4000-8000-000000000001"]
--- more_headers
X-User-Id: carol
--- response_body eval
["ok\n", "app: ALLOW a1000000-0000-4000-8000-000000000001\n",
 "app: ALLOW a1000000-0000-4000-8000-000000000001\n", "1\n"]
--- response_headers eval
["", "X-IDV-Cache: MISS", "X-IDV-Cache: HIT", ""]



=== TEST 2: ...under the documented fingerprint, for 30 days; no new fetch since
--- init
my $key = main::aws_key('carol', '90.000000');
my $ttl = YotiIdvRedis::cmd('TTL', $key);
die "no verdict under $key: " . join(' ', @{ YotiIdvRedis::cmd('KEYS', '*') }) . "\n" unless defined $ttl && $ttl > 2591000 && $ttl <= 2592000;
my $v = YotiIdvRedis::cmd('GET', $key);
die "verdict $v\n" unless $v eq '1 a1000000-0000-4000-8000-000000000001 ALLOW ok';
--- http_config eval
$main::Http
--- config eval
$main::Mapped
--- request
GET /__aws/count
--- response_body
1



=== TEST 3: another min_confidence is another policy: the pass is not reused
--- http_config eval
$main::Http
--- config eval
$main::Mapped =~ s/min_confidence=90/min_confidence=99.9/r
--- request eval
["GET /__aws/reset", "GET /liveness/", "GET /__aws/count"]
--- more_headers
X-User-Id: carol
--- error_code eval
[200, 403, 200]
--- response_body eval
["ok\n", qr/403/, "1\n"]
--- response_headers eval
["", "X-IDV-Reason: confidence:99.50", ""]



=== TEST 4: a mapping that is not a Rekognition session id: bad_session_id, logged
--- init
YotiIdvRedis::cmd('SET', 'yoti_idv:user:dave', 'verified-alice');
--- http_config eval
$main::Http
--- config eval
$main::Mapped
--- more_headers
X-User-Id: dave
--- error_code: 403
--- response_headers
X-IDV-Reason: bad_session_id
--- error_log
is not a lowercase UUID (36 characters of 0-9, a-f and "-"): fix what writes it



=== TEST 5: one Yoti and one Rekognition location share one Redis
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
YotiIdvRedis::cmd('SET', 'yoti_idv:user:carol', 'a1000000-0000-4000-8000-000000000001');
--- http_config eval
$main::Http
--- config eval
$main::MembersMapped . $main::Mapped
--- request eval
["GET /members/", "GET /liveness/", "GET /liveness/", "GET /members/"]
--- more_headers eval
["X-User-Id: alice", "X-User-Id: carol", "X-User-Id: alice", "X-User-Id: carol"]
--- error_code eval
[200, 200, 403, 403]
--- response_headers eval
["X-IDV-Verdict: ALLOW", "X-IDV-Verdict: ALLOW", "X-IDV-Reason: bad_session_id",
 "X-IDV-Verdict: DENY"]
--- no_error_log
[alert]
[crit]
