
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_YOTI_IDV_REKOGNITION_H_INCLUDED_
#define _NGX_YOTI_IDV_REKOGNITION_H_INCLUDED_


/*
 * Pure evaluator of AWS Rekognition GetFaceLivenessSessionResults answers
 * (cJSON only, no nginx headers): status, error type and body plus a
 * policy and a confidence threshold -> verdict, reason and a log line.
 */


#include <stddef.h>

#include "ngx_yoti_idv_eval.h"


#define NGX_YOTI_IDV_AWS_SESSION_ID_LEN  36

/* min_confidence is kept in millionths: 0 .. 100000000 */
#define NGX_YOTI_IDV_AWS_CONFIDENCE_MAX  100000000L


/* the answer is an error of the configuration: credentials, region, host */
#define NGX_YOTI_IDV_AWS_CONF_ERROR      1


/*
 * Evaluates one answer; error_type is the X-Amzn-ErrorType header (NULL:
 * none).  Returns NGX_YOTI_IDV_AWS_CONF_ERROR when the error is one the
 * operator fixes in the configuration, 0 otherwise.
 */
int ngx_yoti_idv_aws_eval_response(int status, const char *error_type,
    size_t error_type_len, const char *body, size_t len,
    const ngx_yoti_idv_policy_t *policy, long min_confidence,
    ngx_yoti_idv_result_t *res);

/* a Rekognition SessionId: a lowercase UUID, exactly 36 characters */
int ngx_yoti_idv_aws_valid_session_id(const char *id, size_t len);

/*
 * "90", "99.5", "0.000001": 0 to 100 with at most 6 decimals, into
 * millionths.  Returns 0, or -1.
 */
int ngx_yoti_idv_aws_parse_confidence(const char *s, size_t len, long *v);


#endif /* _NGX_YOTI_IDV_REKOGNITION_H_INCLUDED_ */
