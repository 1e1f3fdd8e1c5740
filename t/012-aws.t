# yoti_idv_provider aws_rekognition: every answer of
# GetFaceLivenessSessionResults, the signed request and nothing of the
# client's, temporary credentials, the binding rule, configuration errors.
# Rotation of the credentials file is in t/014-aws-rotation.t, Redis in
# t/015-aws-redis.t.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use RekognitionMock;
use AwsIdvTest;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&AwsIdvTest::defaults);

run_tests();

__DATA__

=== TEST 1: a user who passed (SUCCEEDED, Confidence 99.5 >= 90) reaches the app
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- response_body
app: ALLOW a1000000-0000-4000-8000-000000000001
--- response_headers
X-IDV-Verdict: ALLOW
X-IDV-Reason: ok



=== TEST 2: a Confidence exactly at min_confidence passes
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-00000000000c
--- response_body
app: ALLOW a1000000-0000-4000-8000-00000000000c



=== TEST 3: below the threshold: denied, the reason names the confidence
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000002
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: confidence:85.25
--- error_log
yoti_idv: session "a1000000-0000-4000-8000-000000000002" denied: confidence:85.25
--- no_error_log
[error]



=== TEST 4: SUCCEEDED without a Confidence is denied
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000003
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: confidence:none



=== TEST 5: CREATED is pending
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000004
--- error_code: 403
--- response_headers
X-IDV-Verdict: PENDING
X-IDV-Reason: state:CREATED



=== TEST 6: IN_PROGRESS is pending, with yoti_idv_pending_status
--- config eval
$AwsIdvTest::Liveness =~ s/(yoti_idv_require)/yoti_idv_pending_status 429;\n        $1/r
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000005
--- error_code: 429
--- response_headers
X-IDV-Verdict: PENDING
X-IDV-Reason: state:IN_PROGRESS



=== TEST 7: FAILED is denied, whatever its Confidence
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000006
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: state:FAILED



=== TEST 8: EXPIRED is denied
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000007
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: state:EXPIRED



=== TEST 9: a Status the module does not know is denied
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000008
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: state:PAUSED_FOR_A_NEW_STATUS



=== TEST 10: a 200 that is not JSON is an error (503)
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000009
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:bad_json
--- error_log
no verdict for session "a1000000-0000-4000-8000-000000000009": provider:bad_json



=== TEST 11: a result for another SessionId is an error
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-00000000000a
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:session_mismatch
--- error_log
provider:session_mismatch, the result is for another SessionId



=== TEST 12: a result with images (~300 KB) fits subrequest_output_buffer_size 512k
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-00000000000b
--- response_body
app: ALLOW a1000000-0000-4000-8000-00000000000b



=== TEST 13: ...and is too big for 64k
--- config eval
$AwsIdvTest::Liveness =~ s{/_rekognition;}{/_rekognition_small;}r
. <<'_EOC_';
    location /_rekognition_small/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AWS_PORT/;
        subrequest_output_buffer_size 64k;
    }
_EOC_
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-00000000000b
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:too_big
--- error_log
provider:too_big
--- no_error_log
[alert]



=== TEST 14: SessionNotFoundException (the session is gone) is denied
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000001
--- error_code: 403
--- response_headers
X-IDV-Verdict: DENY
X-IDV-Reason: no_session
--- error_log
denied: no_session



=== TEST 15: a session the mock never had: SessionNotFoundException, denied
--- more_headers
X-User-Id: alice
X-Session-Id: 00000000-0000-4000-8000-000000000000
--- error_code: 403
--- response_headers
X-IDV-Reason: no_session



=== TEST 16: ThrottlingException (400) is temporary: 503
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000002
--- error_code: 503
--- response_headers
X-IDV-Verdict: ERROR
X-IDV-Reason: provider:ThrottlingException
--- error_log
rekognition is limiting the request rate: temporary



=== TEST 17: ProvisionedThroughputExceededException: 503
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000003
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:ProvisionedThroughputExceededException
--- error_log
provider:ProvisionedThroughputExceededException



=== TEST 18: InternalServerError (500): 503
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000004
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:InternalServerError
--- error_log
provider:InternalServerError



=== TEST 19: ThrottlingException with a 500: 503
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-00000000000a
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:ThrottlingException
--- error_log
provider:ThrottlingException



=== TEST 20: a 503 without a body: 503
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000007
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:503
--- error_log
provider:503



=== TEST 21: AccessDeniedException: 503, the log names what to fix
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000005
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:AccessDeniedException
--- error_log eval
qr/provider:AccessDeniedException, the credentials may not call rekognition:GetFaceLivenessSessionResults \(400 AccessDeniedException\); check credentials ".*\/credentials" profile \[gate\], region "eu-west-1", host "127\.0\.0\.1:\d+"/



=== TEST 22: InvalidParameterException: 503
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000006
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:InvalidParameterException
--- error_log
provider:InvalidParameterException



=== TEST 23: ExpiredTokenException (403): 503
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000008
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:ExpiredTokenException
--- error_log
rotate the credentials file



=== TEST 24: the error type only in X-Amzn-ErrorType (UnrecognizedClientException)
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000009
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:UnrecognizedClientException
--- error_log
provider:UnrecognizedClientException



=== TEST 25: an access key AWS does not know: UnrecognizedClientException
--- config eval
$AwsIdvTest::Liveness =~ s/profile=gate/profile=wrong/r
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:UnrecognizedClientException
--- error_log eval
qr/does not know the access key or the session token \(403 UnrecognizedClientException\); check credentials ".*" profile \[wrong\]/



=== TEST 26: a wrong secret key: InvalidSignatureException
--- config eval
$AwsIdvTest::Liveness =~ s/profile=gate/profile=badsecret/r
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:InvalidSignatureException
--- error_log
profile [badsecret]



=== TEST 27: a region that is not the endpoint's: InvalidSignatureException
--- config eval
$AwsIdvTest::Liveness =~ s/eu-west-1/eu-west-2/r
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:InvalidSignatureException
--- error_log
region "eu-west-2"



=== TEST 28: a signed host that is not the one the internal location sends
--- config eval
$AwsIdvTest::Liveness =~ s/127\.0\.0\.1:\$TEST_NGINX_AWS_PORT;/rekognition.eu-west-1.amazonaws.com;/r
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:InvalidSignatureException
--- error_log
host "rekognition.eu-west-1.amazonaws.com"



=== TEST 29: temporary credentials: the session token is sent and signed
--- config eval
$AwsIdvTest::Liveness =~ s/profile=gate/profile=temp/r
--- request eval
["GET /liveness/", "GET /__aws/last-headers/a1000000-0000-4000-8000-000000000001",
 "GET /__aws/key/a1000000-0000-4000-8000-000000000001"]
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- response_body eval
["app: ALLOW a1000000-0000-4000-8000-000000000001\n",
 "authorization\ncontent-length\ncontent-type\nhost\nx-amz-content-sha256\nx-amz-date\nx-amz-security-token\nx-amz-target\n",
 "ASIATEMP0000000003\n"]



=== TEST 30: a temporary key without its session token: UnrecognizedClientException
--- config eval
$AwsIdvTest::Liveness =~ s/profile=gate/profile=notoken/r
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- error_code: 503
--- response_headers
X-IDV-Reason: provider:UnrecognizedClientException
--- error_log
profile [notoken]



=== TEST 31: the exact request: only the module's headers, permanent credentials
--- request eval
["GET /__aws/reset", "GET /liveness/",
 "GET /__aws/last-headers/a1000000-0000-4000-8000-000000000001",
 "GET /__aws/key/a1000000-0000-4000-8000-000000000001", "GET /__aws/rejections"]
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- response_body eval
["ok\n", "app: ALLOW a1000000-0000-4000-8000-000000000001\n",
 "authorization\ncontent-length\ncontent-type\nhost\nx-amz-content-sha256\nx-amz-date\nx-amz-target\n",
 "AKIDGATE0000000002\n", ""]



=== TEST 32: a client's POST with a body, cookies and credentials: none of it reaches AWS
--- request eval
["GET /__aws/reset",
 "POST /liveness/\n{\"SessionId\":\"e4000000-0000-4000-8000-000000000005\",\"x\":1}",
 "GET /__aws/count/a1000000-0000-4000-8000-000000000001",
 "GET /__aws/count/e4000000-0000-4000-8000-000000000005",
 "GET /__aws/rejections"]
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
Cookie: secret=1
Authorization: Bearer client
X-Forwarded-For: 10.0.0.1
X-Amz-Target: RekognitionService.DeleteCollection
Content-Type: application/x-amz-json-1.1
--- response_body eval
["ok\n", "app: ALLOW a1000000-0000-4000-8000-000000000001\n", "1\n", "0\n", ""]



=== TEST 33: a session id that is not a Rekognition UUID: bad_session_id, nothing sent
--- request eval
["GET /__aws/reset", "GET /liveness/", "GET /__aws/count"]
--- more_headers
X-User-Id: alice
X-Session-Id: verified-alice
--- error_code eval
[200, 403, 200]
--- response_body eval
["ok\n", qr/403 Forbidden/, "0\n"]



=== TEST 34: an uppercase UUID is not a Rekognition session id
--- more_headers
X-User-Id: alice
X-Session-Id: A1000000-0000-4000-8000-000000000001
--- error_code: 403
--- response_headers
X-IDV-Reason: bad_session_id



=== TEST 35: 37 characters: bad_session_id
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-0000000000011
--- error_code: 403
--- response_headers
X-IDV-Reason: bad_session_id



=== TEST 36: no session id: no_session; no user: no_user
--- request eval
["GET /liveness/", "GET /liveness/"]
--- more_headers eval
["X-User-Id: alice", "X-Session-Id: a1000000-0000-4000-8000-000000000001"]
--- error_code eval
[403, 403]
--- response_headers eval
["X-IDV-Reason: no_session", "X-IDV-Reason: no_user"]



=== TEST 37: no secret, token or signature is ever logged by the module
--- log_level: info
--- config eval
$AwsIdvTest::Liveness =~ s/profile=gate/profile=temp/r
--- more_headers
X-User-Id: alice
X-Session-Id: e4000000-0000-4000-8000-000000000005
--- error_code: 503
--- error_log
provider:AccessDeniedException
--- no_error_log
temp/secret/3
IQoJb3JpZ2luX2VjTEMP
Signature=
[alert]



=== TEST 38: the default credentials profile
--- config eval
$AwsIdvTest::Liveness =~ s/ profile=gate//r
--- request eval
["GET /liveness/", "GET /__aws/key/a1000000-0000-4000-8000-000000000001"]
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- response_body eval
["app: ALLOW a1000000-0000-4000-8000-000000000001\n", "AKIDDEFAULT0000001\n"]



=== TEST 39: the AWS directives inherit from http and server
--- http_config
    yoti_idv_provider         aws_rekognition;
    yoti_idv_aws_region       eu-west-1;
    yoti_idv_aws_host         127.0.0.1:$TEST_NGINX_AWS_PORT;
    yoti_idv_aws_credentials  $TEST_NGINX_AWS_CREDS/credentials profile=gate;
    yoti_idv_api              /_rekognition;
    yoti_idv_require          LIVENESS min_confidence=99.5;
--- config
    location /liveness/ {
        yoti_idv             on;
        yoti_idv_user_id     $http_x_user_id;
        yoti_idv_session_id  $http_x_session_id;
        yoti_idv_bind_user   off;
        add_header X-IDV-Reason $yoti_idv_reason always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
--- request eval
["GET /liveness/", "GET /liveness/"]
--- more_headers eval
["X-User-Id: alice\nX-Session-Id: a1000000-0000-4000-8000-000000000001",
 "X-User-Id: alice\nX-Session-Id: e4000000-0000-4000-8000-000000000001"]
--- error_code eval
[200, 403]



=== TEST 40: one Yoti location and one Rekognition location in one server
--- config eval
$YotiIdvTest::Members . $AwsIdvTest::Liveness
--- request eval
["GET /members/", "GET /liveness/", "GET /members/", "GET /liveness/"]
--- more_headers eval
["X-User-Id: alice\nX-Session-Id: verified-alice",
 "X-User-Id: alice\nX-Session-Id: a1000000-0000-4000-8000-000000000001",
 "X-User-Id: alice\nX-Session-Id: a1000000-0000-4000-8000-000000000001",
 "X-User-Id: alice\nX-Session-Id: verified-alice"]
--- error_code eval
[200, 200, 403, 403]
