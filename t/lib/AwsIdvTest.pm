package AwsIdvTest;

# Shared nginx configuration for the aws_rekognition test files.
#
#   use lib 't/lib';
#   use Test::Nginx::Socket 'no_plan';
#   use YotiIdvTest;                  # the Yoti mock, /app and /__mock/
#   use RekognitionMock;              # the AWS mock, credentials files
#   use AwsIdvTest;
#   add_block_preprocessor(\&AwsIdvTest::defaults);
#
# Every block gets the internal /_rekognition/ location proxying to the
# mock (subrequest_output_buffer_size 512k) and /__aws/ to read the mock's
# counters, then YotiIdvTest's defaults.  Without a config of its own, a
# block gets $Liveness: /liveness/ gated by Rekognition with a session id
# from X-Session-Id (so yoti_idv_bind_user off), profile "gate" and
# min_confidence=90.

use strict;
use warnings;

use YotiIdvTest;

our $AwsLocations = <<'_EOC_';
    location /_rekognition/ {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AWS_PORT/;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_read_timeout 2s;
        subrequest_output_buffer_size 512k;
    }

    location /__aws/ {
        yoti_idv off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_AWS_PORT/__mock/;
    }
_EOC_

our $Liveness = <<'_EOC_';
    location /liveness/ {
        yoti_idv                  on;
        yoti_idv_provider         aws_rekognition;
        yoti_idv_api              /_rekognition;
        yoti_idv_aws_region       eu-west-1;
        yoti_idv_aws_host         127.0.0.1:$TEST_NGINX_AWS_PORT;
        yoti_idv_aws_credentials  $TEST_NGINX_AWS_CREDS/credentials profile=gate;
        yoti_idv_user_id          $http_x_user_id;
        yoti_idv_session_id       $http_x_session_id;
        yoti_idv_bind_user        off;
        yoti_idv_require          LIVENESS min_confidence=90;

        add_header X-IDV-Verdict $yoti_idv_verdict always;
        add_header X-IDV-Reason $yoti_idv_reason always;

        proxy_set_header X-IDV-Verdict $yoti_idv_verdict;
        proxy_set_header X-IDV-Session $yoti_idv_session_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/app;
    }
_EOC_

sub defaults {
    my $block = shift;

    my $config = defined $block->config ? $block->config : $Liveness;

    $block->set_value('config', $AwsLocations . $config);

    if (!defined $block->request) {
        $block->set_value('request', "GET /liveness/\n");
    }

    YotiIdvTest::defaults($block);
}

1;
