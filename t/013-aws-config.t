# aws_rekognition: what nginx -t refuses, and the message it gives.

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

=== TEST 1: no region
--- config eval
$AwsIdvTest::Liveness =~ s/\n\s*yoti_idv_aws_region[^\n]*//r
--- must_die
--- error_log
"yoti_idv_provider aws_rekognition" needs "yoti_idv_aws_region"



=== TEST 2: no credentials
--- config eval
$AwsIdvTest::Liveness =~ s/\n\s*yoti_idv_aws_credentials[^\n]*//r
--- must_die
--- error_log
"yoti_idv_provider aws_rekognition" needs "yoti_idv_aws_credentials"



=== TEST 3: a credentials file that does not exist
--- config eval
$AwsIdvTest::Liveness =~ s{/credentials profile}{/no-such-file profile}r
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_aws_credentials" ".*\/no-such-file" profile \[gate\]: cannot open file: No such file or directory/



=== TEST 4: a directory instead of a file
--- config eval
$AwsIdvTest::Liveness =~ s{/credentials profile}{ profile}r
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_aws_credentials" ".*" profile \[gate\]: is not a file/



=== TEST 5: no such profile
--- config eval
$AwsIdvTest::Liveness =~ s/profile=gate/profile=nobody/r
--- must_die
--- error_log eval
qr/\[emerg\] .*"yoti_idv_aws_credentials" ".*\/credentials" profile \[nobody\]: has no profile \[nobody\]/



=== TEST 6: a profile without its secret key; the key id is not echoed either
--- config eval
$AwsIdvTest::Liveness =~ s/profile=gate/profile=nosecret/r
--- must_die
--- error_log
profile [nosecret] has no aws_secret_access_key
--- no_error_log
AKIDDEFAULT0000001
default/secret/1



=== TEST 7: a bad profile= parameter
--- config eval
$AwsIdvTest::Liveness =~ s/profile=gate/user=gate/r
--- must_die
--- error_log
invalid parameter "user=gate" in "yoti_idv_aws_credentials": "profile=<name>" expected



=== TEST 8: min_confidence= is required
--- config eval
$AwsIdvTest::Liveness =~ s/ min_confidence=90//r
--- must_die
--- error_log
needs "min_confidence=": AWS publishes no threshold, choose one from 0 to 100



=== TEST 9: min_confidence above 100
--- config eval
$AwsIdvTest::Liveness =~ s/min_confidence=90/min_confidence=100.5/r
--- must_die
--- error_log
invalid "min_confidence=100.5" in "yoti_idv_require": a number from 0 to 100 with at most 6 decimals expected



=== TEST 10: min_confidence that is not a number
--- config eval
$AwsIdvTest::Liveness =~ s/min_confidence=90/min_confidence=high/r
--- must_die
--- error_log
invalid "min_confidence=high" in "yoti_idv_require"



=== TEST 11: another check type than LIVENESS
--- config eval
$AwsIdvTest::Liveness =~ s/(yoti_idv_require[^\n]*\n)/$1        yoti_idv_require FACE_COMPARISON;\n/r
--- must_die
--- error_log
needs exactly one "yoti_idv_require LIVENESS min_confidence=<0..100>", and no other type



=== TEST 12: a session id from a variable without an explicit yoti_idv_bind_user off
--- config eval
$AwsIdvTest::Liveness =~ s/\n\s*yoti_idv_bind_user[^\n]*//r
--- must_die
--- error_log
"yoti_idv_provider aws_rekognition" with "yoti_idv_session_id" needs an explicit "yoti_idv_bind_user off": a Rekognition session names no user



=== TEST 13: ...and "yoti_idv_bind_user on" is no better
--- config eval
$AwsIdvTest::Liveness =~ s/yoti_idv_bind_user        off/yoti_idv_bind_user on/r
--- must_die
--- error_log
needs an explicit "yoti_idv_bind_user off"



=== TEST 14: min_confidence= with the Yoti provider
--- config eval
$YotiIdvTest::Members =~ s/yoti_idv_require     LIVENESS;/yoti_idv_require LIVENESS min_confidence=90;/r
--- must_die
--- error_log
"min_confidence=" of "yoti_idv_require" is for "yoti_idv_provider aws_rekognition" only



=== TEST 15: an unknown provider
--- config eval
$AwsIdvTest::Liveness =~ s/aws_rekognition/aws_textract/r
--- must_die
--- error_log
invalid provider "aws_textract" in "yoti_idv_provider": "yoti" or "aws_rekognition" expected



=== TEST 16: a region that is not one
--- config eval
$AwsIdvTest::Liveness =~ s/region       eu-west-1/region       EU_WEST_1/r
--- must_die
--- error_log
invalid region "EU_WEST_1" in "yoti_idv_aws_region"



=== TEST 17: a host with a scheme
--- config eval
$AwsIdvTest::Liveness =~ s{127\.0\.0\.1:\$TEST_NGINX_AWS_PORT;}{https://rekognition.eu-west-1.amazonaws.com/;}r
--- must_die
--- error_log
invalid host "https://rekognition.eu-west-1.amazonaws.com/" in "yoti_idv_aws_host"



=== TEST 18: duplicate directives
--- config eval
$AwsIdvTest::Liveness =~ s/(\n\s*yoti_idv_aws_region[^\n]*)/$1$1/r
--- must_die
--- error_log
"yoti_idv_aws_region" directive is duplicate



=== TEST 19: the Yoti provider still needs its SDK id when AWS settings are inherited
--- http_config
    yoti_idv_aws_region  eu-west-1;
--- config eval
$YotiIdvTest::Members
--- must_die
--- error_log
"yoti_idv" is on but "yoti_idv_sdk_id" is not set
