
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Unit tests of ngx_yoti_idv_rekognition.c: every answer of
 * GetFaceLivenessSessionResults and its verdict, the SessionId syntax and
 * the min_confidence parser.  Run from t/unit.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_yoti_idv_rekognition.h"
#include "tap.h"


#define SID  "3d1b7f0e-5a4c-4b2e-9f8d-0c1a2b3c4d5e"


typedef struct {
    int          status;
    const char  *header;        /* X-Amzn-ErrorType or NULL */
    const char  *body;
    int          verdict;
    const char  *reason;
    int          conf;
} answer_case_t;


static const answer_case_t  answers[] = {
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\","
      "\"Confidence\":99.5}", NGX_YOTI_IDV_ALLOW, "ok", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\","
      "\"Confidence\":90}", NGX_YOTI_IDV_ALLOW, "ok", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\","
      "\"Confidence\":89.9999}", NGX_YOTI_IDV_DENY, "confidence:89.99", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\","
      "\"Confidence\":0}", NGX_YOTI_IDV_DENY, "confidence:0.00", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\"}",
      NGX_YOTI_IDV_DENY, "confidence:none", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\","
      "\"Confidence\":null}", NGX_YOTI_IDV_DENY, "confidence:none", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\","
      "\"Confidence\":\"99\"}", NGX_YOTI_IDV_ERROR, "provider:bad_type", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\","
      "\"Confidence\":100.5}", NGX_YOTI_IDV_ERROR, "provider:bad_type", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\","
      "\"Confidence\":99,\"Confidence\":10}", NGX_YOTI_IDV_ERROR,
      "provider:bad_type", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"CREATED\"}",
      NGX_YOTI_IDV_PENDING, "state:CREATED", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"IN_PROGRESS\"}",
      NGX_YOTI_IDV_PENDING, "state:IN_PROGRESS", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"FAILED\","
      "\"Confidence\":99}", NGX_YOTI_IDV_DENY, "state:FAILED", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"EXPIRED\"}",
      NGX_YOTI_IDV_DENY, "state:EXPIRED", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"PAUSED\"}",
      NGX_YOTI_IDV_DENY, "state:PAUSED", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"a b\"}",
      NGX_YOTI_IDV_DENY, "state:unknown", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":7}",
      NGX_YOTI_IDV_ERROR, "provider:bad_type", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\"}",
      NGX_YOTI_IDV_ERROR, "provider:bad_type", 0 },
    { 200, NULL, "{\"Status\":\"SUCCEEDED\",\"Confidence\":99}",
      NGX_YOTI_IDV_ERROR, "provider:session_mismatch", 0 },
    { 200, NULL, "{\"SessionId\":\"00000000-5a4c-4b2e-9f8d-0c1a2b3c4d5e\","
      "\"Status\":\"SUCCEEDED\",\"Confidence\":99}",
      NGX_YOTI_IDV_ERROR, "provider:session_mismatch", 0 },
    { 200, NULL, "{\"SessionId\":5,\"Status\":\"SUCCEEDED\"}",
      NGX_YOTI_IDV_ERROR, "provider:bad_type", 0 },
    { 200, NULL, "", NGX_YOTI_IDV_ERROR, "provider:empty", 0 },
    { 200, NULL, "not json", NGX_YOTI_IDV_ERROR, "provider:bad_json", 0 },
    { 200, NULL, "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\"} x",
      NGX_YOTI_IDV_ERROR, "provider:bad_json", 0 },
    { 200, NULL, "[1]", NGX_YOTI_IDV_ERROR, "provider:bad_type", 0 },
    { 400, NULL, "{\"__type\":\"SessionNotFoundException\","
      "\"Message\":\"x\"}", NGX_YOTI_IDV_DENY, "no_session", 0 },
    { 400, NULL, "{\"__type\":\"com.amazonaws.rekognition#"
      "SessionNotFoundException\"}", NGX_YOTI_IDV_DENY, "no_session", 0 },
    { 400, "SessionNotFoundException:http://internal.amazon.com/", "",
      NGX_YOTI_IDV_DENY, "no_session", 0 },
    { 400, NULL, "{\"__type\":\"ThrottlingException\"}", NGX_YOTI_IDV_ERROR,
      "provider:ThrottlingException", 0 },
    { 400, NULL, "{\"__type\":\"ProvisionedThroughputExceededException\"}",
      NGX_YOTI_IDV_ERROR, "provider:ProvisionedThroughputExceededException",
      0 },
    { 500, NULL, "{\"__type\":\"InternalServerError\"}", NGX_YOTI_IDV_ERROR,
      "provider:InternalServerError", 0 },
    { 500, NULL, "{\"__type\":\"ThrottlingException\"}", NGX_YOTI_IDV_ERROR,
      "provider:ThrottlingException", 0 },
    { 503, NULL, "", NGX_YOTI_IDV_ERROR, "provider:503", 0 },
    { 504, NULL, "", NGX_YOTI_IDV_ERROR, "provider:timeout", 0 },
    { 400, NULL, "{\"__type\":\"AccessDeniedException\"}",
      NGX_YOTI_IDV_ERROR, "provider:AccessDeniedException", 1 },
    { 400, NULL, "{\"__type\":\"InvalidParameterException\"}",
      NGX_YOTI_IDV_ERROR, "provider:InvalidParameterException", 1 },
    { 403, NULL, "{\"__type\":\"InvalidSignatureException\"}",
      NGX_YOTI_IDV_ERROR, "provider:InvalidSignatureException", 1 },
    { 403, "UnrecognizedClientException", "{\"message\":\"x\"}",
      NGX_YOTI_IDV_ERROR, "provider:UnrecognizedClientException", 1 },
    { 403, NULL, "{\"__type\":\"ExpiredTokenException\"}",
      NGX_YOTI_IDV_ERROR, "provider:ExpiredTokenException", 1 },
    { 400, NULL, "{\"__type\":\"SomethingNewException\"}",
      NGX_YOTI_IDV_ERROR, "provider:400", 1 },
    { 403, NULL, "<html>", NGX_YOTI_IDV_ERROR, "provider:403", 1 },
    { 404, NULL, "", NGX_YOTI_IDV_ERROR, "provider:404", 0 },
    { 400, NULL, "{\"__type\":\"bad type\\n\"}", NGX_YOTI_IDV_ERROR,
      "provider:400", 1 },
};


static void
test_answers(void)
{
    int                     rc;
    size_t                  i;
    ngx_yoti_idv_policy_t   policy;
    ngx_yoti_idv_result_t   res;
    const answer_case_t    *t;

    memset(&policy, 0, sizeof(policy));
    policy.session_id = SID;
    policy.session_id_len = sizeof(SID) - 1;

    for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        t = &answers[i];

        rc = ngx_yoti_idv_aws_eval_response(t->status, t->header,
                                            t->header ? strlen(t->header) : 0,
                                            t->body, strlen(t->body),
                                            &policy, 90000000L, &res);

        ok((int) res.verdict == t->verdict && strcmp(res.reason, t->reason)
           == 0 && rc == t->conf,
           "answer %zu: %d -> %s %s%s", i, t->status,
           ngx_yoti_idv_verdict_name(res.verdict), res.reason,
           rc ? " (configuration)" : "");
    }

    /* a NUL inside the body */

    rc = ngx_yoti_idv_aws_eval_response(200, NULL, 0, "{\"a\":\0}", 7,
                                        &policy, 90000000L, &res);
    ok(res.verdict == NGX_YOTI_IDV_ERROR
       && strcmp(res.reason, "provider:bad_json") == 0, "a NUL byte");

    /* min_confidence 0 allows any SUCCEEDED with a Confidence */

    rc = ngx_yoti_idv_aws_eval_response(200, NULL, 0,
            "{\"SessionId\":\"" SID "\",\"Status\":\"SUCCEEDED\","
            "\"Confidence\":0}", sizeof("{\"SessionId\":\"" SID "\","
            "\"Status\":\"SUCCEEDED\",\"Confidence\":0}") - 1,
            &policy, 0, &res);
    ok(res.verdict == NGX_YOTI_IDV_ALLOW, "min_confidence=0");

    ok(strstr(answers[2].reason, "89.99") != NULL, "the reason rounds down");
}


static void
test_session_ids(void)
{
    ok(ngx_yoti_idv_aws_valid_session_id(SID, 36), "a UUID");
    ok(!ngx_yoti_idv_aws_valid_session_id(SID, 35), "35 characters");
    ok(!ngx_yoti_idv_aws_valid_session_id(
           "3D1B7F0E-5A4C-4B2E-9F8D-0C1A2B3C4D5E", 36), "uppercase");
    ok(!ngx_yoti_idv_aws_valid_session_id(
           "3d1b7f0e05a4c-4b2e-9f8d-0c1a2b3c4d5e", 36), "no dash");
    ok(!ngx_yoti_idv_aws_valid_session_id(
           "3d1b7f0e-5a4c-4b2e-9f8d-0c1a2b3c4d5g", 36), "a g");
    ok(!ngx_yoti_idv_aws_valid_session_id(
           "------------------------------------", 36), "dashes only");
    ok(!ngx_yoti_idv_aws_valid_session_id(NULL, 0), "none");
}


static void
test_confidence(void)
{
    long  v;

    ok(ngx_yoti_idv_aws_parse_confidence("90", 2, &v) == 0 && v == 90000000L,
       "90");
    ok(ngx_yoti_idv_aws_parse_confidence("99.5", 4, &v) == 0
       && v == 99500000L, "99.5");
    ok(ngx_yoti_idv_aws_parse_confidence("0.000001", 8, &v) == 0 && v == 1,
       "0.000001");
    ok(ngx_yoti_idv_aws_parse_confidence("100", 3, &v) == 0
       && v == 100000000L, "100");
    ok(ngx_yoti_idv_aws_parse_confidence("0", 1, &v) == 0 && v == 0, "0");
    ok(ngx_yoti_idv_aws_parse_confidence("100.000001", 10, &v) == -1,
       "above 100");
    ok(ngx_yoti_idv_aws_parse_confidence("101", 3, &v) == -1, "101");
    ok(ngx_yoti_idv_aws_parse_confidence("0.0000001", 9, &v) == -1,
       "7 decimals");
    ok(ngx_yoti_idv_aws_parse_confidence("-1", 2, &v) == -1, "negative");
    ok(ngx_yoti_idv_aws_parse_confidence("", 0, &v) == -1, "empty");
    ok(ngx_yoti_idv_aws_parse_confidence(".5", 2, &v) == -1, ".5");
    ok(ngx_yoti_idv_aws_parse_confidence("5.", 2, &v) == -1, "5.");
    ok(ngx_yoti_idv_aws_parse_confidence("9.9.9", 5, &v) == -1, "9.9.9");
    ok(ngx_yoti_idv_aws_parse_confidence("90%", 3, &v) == -1, "90%%");
    ok(ngx_yoti_idv_aws_parse_confidence("99999999999999999999", 20, &v)
       == -1, "huge");
}


int
main(void)
{
    test_answers();
    test_session_ids();
    test_confidence();

    return tap_done();
}
