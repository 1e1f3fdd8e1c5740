# aws_rekognition: the credentials file is read again by each worker, once
# a minute when it changed, without a reload; a broken file keeps the last
# good credentials and is said once.  One block, one wait of ~62 s.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use YotiIdvTest;
use RekognitionMock;
use AwsIdvTest;
use YotiIdvRedis;

repeat_each(1);
no_shuffle();
add_block_preprocessor(\&AwsIdvTest::defaults);

our $Old = "[default]\naws_access_key_id = AKIDOLD00000000004\n"
           . "aws_secret_access_key = old/secret/4\n";
our $New = "[default]\naws_access_key_id = AKIDNEW00000000005\n"
           . "aws_secret_access_key = new/secret/5\n";
our $Keep = "[default]\naws_access_key_id = AKIDKEEP0000000006\n"
            . "aws_secret_access_key = keep/secret/6\n";

write_creds('rotating', $Old);
write_creds('breaking', $Keep);

run_tests();

__DATA__

=== TEST 1: a rotated file is used without a reload; a broken one keeps the last good keys
--- init
YotiIdvRedis::later(2 => sub {
    RekognitionMock::write_creds('rotating', $main::New);
    RekognitionMock::write_creds('breaking', "[default]\naws_access_key_id = AKIDKEEP0000000006\n");
});
--- config eval
"    location = /__log {\n        yoti_idv off;\n        default_type text/plain;\n        alias logs/error.log;\n    }\n"
. ($AwsIdvTest::Liveness =~ s{credentials profile=gate}{rotating}r)
. ($AwsIdvTest::Liveness =~ s{/liveness/}{/liveness2/}r =~ s{credentials profile=gate}{breaking}r)
--- request eval
["GET /__aws/reset", "GET /liveness/", "GET /__aws/key/a1000000-0000-4000-8000-000000000001",
 "GET /liveness2/", "GET /__aws/key/a1000000-0000-4000-8000-000000000001",
 "GET /__mock/sleep/31500", "GET /__mock/sleep/31500",
 "GET /liveness/", "GET /__aws/key/a1000000-0000-4000-8000-000000000001",
 "GET /liveness2/", "GET /__aws/key/a1000000-0000-4000-8000-000000000001",
 "GET /__aws/count/a1000000-0000-4000-8000-000000000001", "GET /__log"]
--- more_headers
X-User-Id: alice
X-Session-Id: a1000000-0000-4000-8000-000000000001
--- response_body eval
["ok\n", "app: ALLOW a1000000-0000-4000-8000-000000000001\n", "AKIDOLD00000000004\n",
 "app: ALLOW a1000000-0000-4000-8000-000000000001\n", "AKIDKEEP0000000006\n",
 "slept 31500\n", "slept 31500\n",
 "app: ALLOW a1000000-0000-4000-8000-000000000001\n", "AKIDNEW00000000005\n",
 "app: ALLOW a1000000-0000-4000-8000-000000000001\n", "AKIDKEEP0000000006\n",
 "4\n",
 qr/(?s)(?=.*\[notice\][^\n]*yoti_idv: read the credentials file "[^"\n]*\/rotating" profile \[default\] again)(?=.*\[error\][^\n]*yoti_idv: the credentials file "[^"\n]*\/breaking" profile \[default\] profile \[default\] has no aws_secret_access_key, keeping the credentials it had)/]
--- timeout: 90
--- no_error_log
[alert]
[crit]
keep/secret/6
new/secret/5
