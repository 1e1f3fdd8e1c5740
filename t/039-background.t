# yoti_idv_cache_background_update: a verdict in the last tenth of its
# life (or, with yoti_idv_cache_use_stale, expired within the window) is
# answered at once, and one background refresh for all workers replaces
# it; a refresh that fails leaves the old verdict; with the mapping, the
# refresh reads it anew.

use lib 't/lib';

use File::Temp qw(tempdir);

# the fixtures with dates of birth, for the age policy's refresh
our $Sessions;

BEGIN {
    $Sessions = tempdir('yoti-idv-bg-reqs-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    system('/usr/bin/python3', 't/mock/gen_sessions.py',
           '--requirements', $Sessions) == 0
        or die "gen_sessions.py --requirements failed\n";
}

use YotiIdvMock sessions => $Sessions;
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvRedis;
use Time::HiRes ();
use IO::Socket::INET;

repeat_each(1);
no_shuffle();
master_on();
workers(2);
worker_connections(1024);

$ENV{TEST_NGINX_BURST_DIR} = tempdir('yoti-idv-bg-XXXXXX', TMPDIR => 1,
                                     CLEANUP => 1);

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_cache_zone   yoti_idv:1m;
    yoti_idv_cache_valid  APPROVE 5s;
    yoti_idv_cache_valid  DENY 5s;
_EOC_

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv                          on;
        yoti_idv_user_id                  $http_x_user_id;
        yoti_idv_session_id               $http_x_session_id;
        yoti_idv_require                  LIVENESS;
        yoti_idv_cache_background_update  on;
        yoti_idv_cache_use_stale          10s;

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

# from an init: the first request, which fetches
sub first {
    my (%h) = @_;
    YotiIdvMock::mock_get('/__mock/reset');
    my ($st, $body, $hd) = YotiIdvTest::http_get(main::server_port(),
                                                 '/members/', \%h);
    die "first request: $st $body\n"
        unless $st eq '200' && ($hd->{'x-idv-cache'} // '') eq 'MISS';
}

# the time until the whole response is in (by its Content-Length: the
# connection itself stays open until the background refresh is done)
sub timed_get {
    my ($path, $headers) = @_;
    my $t = Time::HiRes::time();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => main::server_port(),
                                  Proto => 'tcp', Timeout => 10)
        or die "connect: $!\n";
    print {$s} "GET $path HTTP/1.1\r\nHost: localhost\r\n$headers\r\n";
    my $resp = '';
    while (1) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
        my ($head, $body) = split /\r\n\r\n/, $resp, 2;
        next unless defined $body;
        my ($len) = $head =~ /Content-Length: (\d+)/i;
        return ($head, Time::HiRes::time() - $t)
            if defined $len && length($body) >= $len;
    }
    return ($resp, Time::HiRes::time() - $t);
}

run_tests();

__DATA__

=== TEST 1: in the last tenth of its life: answered from the zone, refreshed once, fresh again
--- init
main::first('X-User-Id' => 'alice', 'X-Session-Id' => 'verified-alice');
select(undef, undef, undef, 4.6);
--- request eval
["GET /members/", "GET /__mock/sleep/400", "GET /__mock/count/verified-alice",
 "GET /members/", "GET /__mock/sleep/1000", "GET /members/",
 "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["app: ALLOW verified-alice HIT\n", "slept 400\n", "2\n",
 "app: ALLOW verified-alice HIT\n", "slept 1000\n",
 "app: ALLOW verified-alice HIT\n", "2\n"]
--- no_error_log
[error]
[alert]
[crit]
--- timeout: 8



=== TEST 2: the request does not wait for the provider (1.5 s here), the refresh does
--- init
main::first('X-User-Id' => 'alice', 'X-Session-Id' => 'slow-1500-verified-alice');
select(undef, undef, undef, 4.6);
my ($head, $took) = main::timed_get('/members/',
    "X-User-Id: alice\r\nX-Session-Id: slow-1500-verified-alice\r\n");
die "during the refresh: $head, $took s\n"
    unless $head =~ m{^HTTP/1.1 200} && $head =~ /X-IDV-Cache: HIT/
           && $took < 0.7;
--- request eval
["GET /__mock/count/slow-1500-verified-alice", "GET /__mock/sleep/2000",
 "GET /__mock/count/slow-1500-verified-alice", "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: slow-1500-verified-alice
--- response_body eval
["2\n", "slept 2000\n", "2\n", "app: ALLOW slow-1500-verified-alice HIT\n"]
--- timeout: 10



=== TEST 3: a burst in two workers during the refresh: one refresh, nobody waits
--- init
unlink "$ENV{TEST_NGINX_BURST_DIR}/statuses";
main::first('X-User-Id' => 'alice', 'X-Session-Id' => 'slow-1000-verified-alice');
select(undef, undef, undef, 4.6);
YotiIdvTest::burst(port => server_port(), n => 30, path => '/members/',
                   headers => { 'X-User-Id' => 'alice',
                                'X-Session-Id' => 'slow-1000-verified-alice' },
                   out => "$ENV{TEST_NGINX_BURST_DIR}/statuses");
--- request eval
["GET /__mock/sleep/2500", "GET /__mock/count/slow-1000-verified-alice"]
--- response_body eval
["slept 2500\n", "2\n"]
--- timeout: 10



=== TEST 4: ...all 30 were allowed (this init dies if not)
--- init
open my $fh, '<', "$ENV{TEST_NGINX_BURST_DIR}/statuses" or die "no statuses: $!\n";
my @st = <$fh>;
chomp @st;
die "burst: " . scalar(@st) . " answers: @st\n"
    unless @st == 30 && !grep { $_ ne '200' } @st;
--- request
GET /__mock/count
--- response_body_like
^\d+



=== TEST 5: expired within the stale window: answered at once (UPDATING), refreshed
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_cache_zone yoti_idv:1m;\n"
                         . "    yoti_idv_cache_valid APPROVE 1s;\n"
--- init
main::first('X-User-Id' => 'alice', 'X-Session-Id' => 'verified-alice');
select(undef, undef, undef, 1.2);
--- request eval
["GET /members/", "GET /__mock/sleep/300", "GET /__mock/count/verified-alice",
 "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["app: ALLOW verified-alice UPDATING\n", "slept 300\n", "2\n",
 "app: ALLOW verified-alice HIT\n"]
--- timeout: 6



=== TEST 6: a refresh that fails leaves the old verdict
--- init
main::first('X-User-Id' => 'alice', 'X-Session-Id' => 'verified-alice');
YotiIdvMock::mock_get('/__mock/outage/status-503');
select(undef, undef, undef, 4.6);
--- request eval
["GET /members/", "GET /__mock/sleep/150", "GET /__mock/count/verified-alice",
 "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body_like eval
[qr/^app: ALLOW verified-alice HIT\n\z/, qr/slept/, qr/^2\n\z/,
 qr/^app: ALLOW verified-alice (HIT|UPDATING)\n\z/]
--- no_error_log
[alert]
[crit]
--- timeout: 8



=== TEST 7: with the mapping, the refresh reads it: a new session's verdict replaces the old
--- http_config eval
$main::HttpConfig . "    yoti_idv_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
--- config
    location /members/ {
        yoti_idv                          on;
        yoti_idv_user_id                  $http_x_user_id;
        yoti_idv_require                  LIVENESS;
        yoti_idv_cache_background_update  on;

        add_header X-IDV-Reason $yoti_idv_reason always;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
YotiIdvRedis::flush();
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'verified-alice');
main::first('X-User-Id' => 'alice');
select(undef, undef, undef, 4.6);
YotiIdvRedis::cmd('SET', 'yoti_idv:user:alice', 'liveness-all-reject');
--- request eval
["GET /members/", "GET /__mock/sleep/400", "GET /members/",
 "GET /__mock/count/liveness-all-reject"]
--- more_headers
X-User-Id: alice
--- error_code eval
[200, 200, 403, 200]
--- response_headers eval
["X-IDV-Cache: HIT", "", "X-IDV-Reason: check:LIVENESS:REJECT\nX-IDV-Cache: HIT", ""]
--- response_body_like eval
[qr/^app: ALLOW verified-alice HIT\n\z/, qr/slept/, qr/403/, qr/^1\n\z/]
--- timeout: 8



=== TEST 8: off (the default): the verdict expires, the next request waits for the provider
--- config
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;
        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
main::first('X-User-Id' => 'alice', 'X-Session-Id' => 'verified-alice');
select(undef, undef, undef, 4.6);
--- request eval
["GET /members/", "GET /__mock/sleep/400", "GET /__mock/count/verified-alice",
 "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["app: ALLOW verified-alice HIT\n", "slept 400\n", "1\n",
 "app: ALLOW verified-alice MISS\n"]
--- timeout: 8



=== TEST 9: an age policy: the refresh reads the document fields too
--- config
    location /members/ {
        yoti_idv                          on;
        yoti_idv_user_id                  $http_x_user_id;
        yoti_idv_session_id               $http_x_session_id;
        yoti_idv_require                  LIVENESS;
        yoti_idv_require                  ID_DOCUMENT_AUTHENTICITY;
        yoti_idv_require_age              18;
        yoti_idv_cache_background_update  on;

        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- init
main::first('X-User-Id' => 'alice', 'X-Session-Id' => 'age-adult');
select(undef, undef, undef, 4.6);
--- request eval
["GET /members/", "GET /__mock/sleep/400", "GET /__mock/count/age-adult",
 "GET /__mock/count-media", "GET /members/"]
--- more_headers
X-User-Id: alice
X-Session-Id: age-adult
--- response_body eval
["app: ALLOW age-adult HIT\n", "slept 400\n", "2\n", "2\n",
 "app: ALLOW age-adult HIT\n"]
--- timeout: 8



=== TEST 10: without a zone: refused
--- http_config eval
$YotiIdvTest::HttpConfig
--- must_die
--- error_log
"yoti_idv_cache_background_update" needs "yoti_idv_cache_zone"
