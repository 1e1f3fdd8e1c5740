# A request waiting for Redis is resumed exactly once.  The race: the
# Redis reply and the client's next bytes (a pipelined request, a FIN)
# become readable in the same event-loop iteration of the worker, the
# Redis socket first.  YotiIdvFakeRedis holds the reply of the MGET, the
# worker is stopped (SIGSTOP) while the reply is released and the client
# writes, then continued: the order is the kernel's, not a matter of time.
#
# One worker process (master_process on, so that the worker can be stopped
# while the master and the test go on).  Each block has one request of its
# own, so that its error-log checks see every line of the race; with
# proxy_pass, the number of upstream requests nginx starts is counted in
# its debug log ("http init upstream": Debian's nginx is built
# --with-debug, and both runners log at the debug level): a second one
# may be aborted before it reaches the application, so the application's
# own count is not enough.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use YotiIdvFakeRedis;

repeat_each(1);
no_shuffle();
master_on();
workers(1);

our $HttpConfig = $YotiIdvTest::HttpConfig . <<'_EOC_';
    yoti_idv_redis  127.0.0.1:$TEST_NGINX_FAKE_REDIS_PORT timeout=20s;
_EOC_

# the application is the mock's /__mock/app/members: it counts its requests
our $Config = <<'_EOC_';
    location /members/ {
        yoti_idv          on;
        yoti_idv_user_id  $http_x_user_id;
        yoti_idv_require  LIVENESS;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session "$yoti_idv_session_id $yoti_idv_cache";
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT/__mock/app/members;
    }

    location /static/ {
        yoti_idv          on;
        yoti_idv_user_id  $http_x_user_id;
        yoti_idv_require  LIVENESS;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;

        alias html/;
    }

    location = /plain {
        yoti_idv off;
        return 200 "plain\n";
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Config) unless defined $block->config;

    YotiIdvTest::defaults($block);
});

# a cached ALLOW for alice's mapped session, whatever the key layout
our @Hit = ('verified-alice', '1 verified-alice ALLOW ok');

sub req {
    my ($path, $conn, %h) = @_;

    my $r = "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: $conn\r\n";
    $r .= "$_: $h{$_}\r\n" for sort keys %h;

    return "$r\r\n";
}

# the race, and what it must give: no error while staging it, and the
# statuses of the responses after the first request's
sub race {
    my ($test, %o) = @_;

    YotiIdvFakeRedis::reset();

    my $r = YotiIdvFakeRedis::race(
        port => server_port(),
        pid_file => server_root() . '/logs/nginx.pid',
        first => req('/__mock/reset', 'keep-alive'),
        values => \@Hit,
        %o,
    );

    Test::More::is($r->{error}, undef, "$0 $test: the race was staged");

    return $r;
}

sub statuses {
    my ($r) = @_;
    return join ' ', map { $_->{status} } @{ $r->{responses} };
}

run_tests();

__DATA__

=== TEST 1: the Redis reply and a pipelined request in one iteration: one response each, one upstream request
--- init
my $r = main::race('TEST 1',
    held => main::req('/members/', 'keep-alive', 'X-User-Id' => 'alice'),
    reply => 'release', client => 'pipeline',
    next => main::req('/plain', 'close'));
Test::More::is(main::statuses($r), '200 200',
               "$0 TEST 1: a response to each request, no more");
Test::More::is($r->{responses}[0]{body} // '',
               "app members ALLOW verified-alice HIT\n",
               "$0 TEST 1: the gated request's response");
Test::More::is($r->{responses}[1]{body} // '', "plain\n",
               "$0 TEST 1: the pipelined request's response");
Test::More::is($r->{rest}, '', "$0 TEST 1: nothing else on the connection");
--- request
GET /__mock/count/app/members
--- response_body
1
--- grep_error_log eval
qr/http init upstream/
--- grep_error_log_out eval
# the first request's, the gated request's, this request's
"http init upstream\n" x 3
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: the Redis reply and the client's FIN in one iteration: at most one response, one upstream request
--- init
my $r = main::race('TEST 2',
    held => main::req('/members/', 'keep-alive', 'X-User-Id' => 'alice'),
    reply => 'release', client => 'fin');
Test::More::like(main::statuses($r), qr/^(200)?$/,
                 "$0 TEST 2: at most one response");
Test::More::is($r->{rest}, '', "$0 TEST 2: nothing else on the connection");
--- request
GET /__mock/count/app/members
--- response_body_like eval
qr/^[01]\n\z/
--- grep_error_log eval
qr/http init upstream/
--- grep_error_log_out eval
"http init upstream\n" x 3
--- no_error_log
[error]
[alert]
[crit]



=== TEST 3: the Redis reply and the client's close in one iteration: one upstream request at most, the worker goes on
--- init
my $r = main::race('TEST 3',
    held => main::req('/members/', 'keep-alive', 'X-User-Id' => 'alice'),
    reply => 'release', client => 'close');
--- request
GET /__mock/count/app/members
--- response_body_like eval
qr/^[01]\n\z/
--- grep_error_log eval
qr/http init upstream/
--- grep_error_log_out eval
"http init upstream\n" x 3
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: a content handler that is not a proxy (a static file), a pipelined request: one response each, no "header already sent"
--- init
my $r = main::race('TEST 4',
    held => main::req('/static/index.html', 'keep-alive', 'X-User-Id' => 'alice'),
    reply => 'release', client => 'pipeline',
    next => main::req('/plain', 'close'));
Test::More::is(main::statuses($r), '200 200',
               "$0 TEST 4: a response to each request, no more");
Test::More::like($r->{responses}[0]{body} // '', qr/It works!/,
                 "$0 TEST 4: the gated request's response");
Test::More::is($r->{responses}[1]{body} // '', "plain\n",
               "$0 TEST 4: the pipelined request's response");
Test::More::is($r->{rest}, '', "$0 TEST 4: nothing else on the connection");
--- request
GET /plain
--- response_body
plain
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: ...and with the client's FIN
--- init
my $r = main::race('TEST 5',
    held => main::req('/static/index.html', 'keep-alive', 'X-User-Id' => 'alice'),
    reply => 'release', client => 'fin');
Test::More::like(main::statuses($r), qr/^(200)?$/,
                 "$0 TEST 5: at most one response");
Test::More::is($r->{rest}, '', "$0 TEST 5: nothing else on the connection");
--- request
GET /plain
--- response_body
plain
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: the Redis connection drops (callbacks with a NULL reply) and a pipelined request comes in the same iteration: one 503, then the next response
--- init
my $r = main::race('TEST 6',
    held => main::req('/members/', 'keep-alive', 'X-User-Id' => 'alice'),
    reply => 'drop', client => 'pipeline',
    next => main::req('/plain', 'close'));
Test::More::is(main::statuses($r), '503 200',
               "$0 TEST 6: a response to each request, no more");
Test::More::is($r->{responses}[0]{headers}{'x-idv-reason'} // '', 'redis:closed',
               "$0 TEST 6: the gated request's reason");
Test::More::is($r->{responses}[1]{body} // '', "plain\n",
               "$0 TEST 6: the pipelined request's response");
Test::More::is($r->{rest}, '', "$0 TEST 6: nothing else on the connection");
--- request
GET /__mock/count/app/members
--- response_body
0
--- error_log
yoti_idv: connection to redis at "127.0.0.1:
yoti_idv: no verdict for the request: redis:closed
--- no_error_log
[alert]
[crit]



=== TEST 7: ...and with the client's FIN
--- init
my $r = main::race('TEST 7',
    held => main::req('/members/', 'keep-alive', 'X-User-Id' => 'alice'),
    reply => 'drop', client => 'fin');
Test::More::like(main::statuses($r), qr/^(503)?$/,
                 "$0 TEST 7: at most one response");
Test::More::is($r->{rest}, '', "$0 TEST 7: nothing else on the connection");
--- request
GET /__mock/count/app/members
--- response_body
0
--- error_log
yoti_idv: connection to redis at "127.0.0.1:
--- no_error_log
[alert]
[crit]



=== TEST 8: without the race (the held reply released, nothing else), the request is answered once: the staging itself is sound
--- init
YotiIdvFakeRedis::reset();
YotiIdvFakeRedis::hold(@main::Hit);
my $kid = fork // die "fork: $!\n";
if ($kid == 0) {
    eval { YotiIdvFakeRedis::wait_held(); YotiIdvFakeRedis::release() };
    POSIX::_exit($@ ? 1 : 0);
}
my ($st, $body) = YotiIdvTest::http_get(server_port(), '/members/',
                                        { 'X-User-Id' => 'alice' });
waitpid($kid, 0);
Test::More::is("$st $body", "200 app members ALLOW verified-alice HIT\n",
               "$0 TEST 8: the held request's response");
Test::More::is(YotiIdvFakeRedis::count('MGET'), 1, "$0 TEST 8: one MGET");
--- request
GET /__mock/count/app/members
--- response_body
1
--- grep_error_log eval
qr/http init upstream/
--- grep_error_log_out eval
"http init upstream\n" x 2
--- no_error_log
[error]
[alert]
[crit]
