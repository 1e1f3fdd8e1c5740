# yoti_idv_breaker: after every request to the provider failed for the
# breaker's time, the gate stops asking it, answers at once (from stale or
# ERROR) and lets one probe through per second until it answers again.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;

repeat_each(1);
no_shuffle();

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_breaker  1s;
_EOC_

our $Members = <<'_EOC_';
    location /members/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_require     LIVENESS;

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

# from an init: the provider fails (mode) for 4 requests over 1.1 s
sub fail_for_a_while {
    my ($mode, $expect) = @_;
    my %h = ('X-User-Id' => 'alice', 'X-Session-Id' => 'verified-alice');

    YotiIdvMock::mock_get('/__mock/reset');
    YotiIdvMock::mock_get("/__mock/outage/$mode");

    for my $i (1 .. 4) {
        select(undef, undef, undef, 1.1) if $i == 4;
        my ($st, $body, $hd) = YotiIdvTest::http_get(main::server_port(),
                                                     '/members/', \%h);
        die "request $i: $st " . ($hd->{'x-idv-reason'} // '-') . "\n"
            unless $st eq '503' && ($hd->{'x-idv-reason'} // '') eq $expect;
    }
}

run_tests();

__DATA__

=== TEST 1: it opens, once, and the next request does not reach the provider
--- init
main::fail_for_a_while('status-503', 'provider:503');
--- request eval
["GET /members/", "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[503, 503, 200]
--- response_headers eval
["X-IDV-Reason: provider:breaker", "X-IDV-Reason: provider:breaker", ""]
--- response_body_like eval
[qr/503/, qr/503/, qr/^4\n\z/]
--- no_error_log
[alert]
[crit]
--- timeout: 6



=== TEST 2: ...and says so once
--- init
main::fail_for_a_while('status-503', 'provider:503');
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:breaker
--- error_log eval
qr/\[error\].*yoti_idv: the provider at "\/_yoti_idv" failed for every request in the last 1\d{3} ms: circuit breaker open, one probe a second until it answers/
--- timeout: 6



=== TEST 3: one probe a second; it fails, it stays open; it answers, it closes
--- init
main::fail_for_a_while('close', 'provider:502');
--- request eval
["GET /members/", "GET /__mock/sleep/1100", "GET /members/", "GET /members/",
 "GET /__mock/count/verified-alice", "GET /__mock/outage/off", "GET /members/",
 "GET /__mock/sleep/1100", "GET /members/", "GET /members/",
 "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[503, 200, 503, 503, 200, 200, 503, 200, 200, 200, 200]
--- response_headers eval
["X-IDV-Reason: provider:breaker", "", "X-IDV-Reason: provider:502",
 "X-IDV-Reason: provider:breaker", "", "", "X-IDV-Reason: provider:breaker",
 "", "X-IDV-Cache: BYPASS", "X-IDV-Cache: BYPASS", ""]
--- response_body_like eval
[qr/503/, qr/slept/, qr/502|503/, qr/503/, qr/^5\n\z/, qr/outage off/,
 qr/503/, qr/slept/, qr/app: ALLOW/, qr/app: ALLOW/, qr/^7\n\z/]
--- no_error_log
[alert]
[crit]
--- timeout: 8



=== TEST 4: closing is logged
--- init
main::fail_for_a_while('status-500', 'provider:500');
YotiIdvMock::mock_get('/__mock/outage/off');
select(undef, undef, undef, 1.1);
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body
app: ALLOW verified-alice BYPASS
--- error_log eval
qr/\[notice\].*yoti_idv: the provider at "\/_yoti_idv" answers again: circuit breaker closed after \d+ ms/
--- timeout: 6



=== TEST 5: a permanent error (401) does not open it
--- init
main::fail_for_a_while('status-401', 'provider:401');
--- request eval
["GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[503, 200]
--- response_headers eval
["X-IDV-Reason: provider:401", ""]
--- response_body_like eval
[qr/503/, qr/^5\n\z/]
--- no_error_log
[alert]
[crit]
--- timeout: 6



=== TEST 6: off: every request asks the provider
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_breaker off;\n"
--- init
main::fail_for_a_while('status-503', 'provider:503');
--- request eval
["GET /members/", "GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[503, 503, 200]
--- response_headers eval
["X-IDV-Reason: provider:503", "X-IDV-Reason: provider:503", ""]
--- response_body_like eval
[qr/503/, qr/503/, qr/^6\n\z/]
--- no_error_log
[alert]
[crit]
--- timeout: 6



=== TEST 7: on by default (5s): a failure now and then does not open it
--- http_config eval
$YotiIdvTest::HttpConfig
--- init
main::fail_for_a_while('status-503', 'provider:503');
--- request eval
["GET /members/", "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[503, 200]
--- response_headers eval
["X-IDV-Reason: provider:503", ""]
--- response_body_like eval
[qr/503/, qr/^5\n\z/]
--- no_error_log
[alert]
[crit]
--- timeout: 6



=== TEST 8: open, with a zone and yoti_idv_cache_use_stale: the expired verdict answers at once
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_breaker 1s;\n"
    . "    yoti_idv_cache_zone yoti_idv:1m;\n"
    . "    yoti_idv_cache_valid APPROVE 1s;\n"
--- config
    location /members/ {
        yoti_idv                  on;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_session_id       $http_x_session_id;
        yoti_idv_require          LIVENESS;
        yoti_idv_cache_use_stale  1m;

        add_header X-IDV-Cache $yoti_idv_cache always;
        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
["GET /__mock/reset", "GET /members/", "GET /__mock/outage/status-503",
 "GET /__mock/sleep/1100", "GET /members/", "GET /members/", "GET /members/",
 "GET /__mock/sleep/1100", "GET /members/", "GET /members/", "GET /members/",
 "GET /__mock/count/verified-alice"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- response_body eval
["ok\n", "app: ALLOW verified-alice MISS\n", "outage status-503\n",
 "slept 1100\n", "app: ALLOW verified-alice STALE\n",
 "app: ALLOW verified-alice STALE\n", "app: ALLOW verified-alice STALE\n",
 "slept 1100\n", "app: ALLOW verified-alice STALE\n",
 "app: ALLOW verified-alice STALE\n", "app: ALLOW verified-alice STALE\n",
 "5\n"]
--- no_error_log
[alert]
[crit]
--- timeout: 8



=== TEST 9: bad values
--- http_config eval
$YotiIdvTest::HttpConfig . "    yoti_idv_breaker never;\n"
--- must_die
--- error_log
invalid value "never" in "yoti_idv_breaker": "off" or a time expected
