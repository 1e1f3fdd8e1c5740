
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ngx_yoti_idv_rekognition.h"


/* longest Status or error type echoed verbatim in a reason */
#define NGX_YOTI_IDV_AWS_TOKEN_MAX  64


#if (defined __GNUC__ || defined __clang__)
#define NGX_YOTI_IDV_AWS_PRINTF(f, a)  __attribute__ ((format (printf, f, a)))
#else
#define NGX_YOTI_IDV_AWS_PRINTF(f, a)
#endif


typedef struct {
    const char  *type;
    int          verdict;
    int          conf;          /* the operator's to fix */
    const char  *detail;
} ngx_yoti_idv_aws_error_t;


static void ngx_yoti_idv_aws_set(ngx_yoti_idv_result_t *res,
    ngx_yoti_idv_verdict_e verdict, const char *fmt, ...)
    NGX_YOTI_IDV_AWS_PRINTF(3, 4);
static void ngx_yoti_idv_aws_detail(ngx_yoti_idv_result_t *res,
    const char *fmt, ...) NGX_YOTI_IDV_AWS_PRINTF(2, 3);
static int ngx_yoti_idv_aws_token(const char *s, size_t len);
static size_t ngx_yoti_idv_aws_error_type(const char *body, size_t len,
    const char *header, size_t header_len, char *type);
static void ngx_yoti_idv_aws_eval_result(const char *body, size_t len,
    const ngx_yoti_idv_policy_t *policy, long min_confidence,
    ngx_yoti_idv_result_t *res);
static cJSON *ngx_yoti_idv_aws_get(cJSON *root, const char *name,
    int *twice);


static const ngx_yoti_idv_aws_error_t  ngx_yoti_idv_aws_errors[] = {

    { "SessionNotFoundException", NGX_YOTI_IDV_DENY, 0,
      "rekognition has no such session: it was used more than 3 minutes "
      "ago, or it belongs to another account or region" },

    { "ThrottlingException", NGX_YOTI_IDV_ERROR, 0,
      "rekognition is limiting the request rate: temporary; cache verdicts "
      "to make fewer calls" },

    { "ProvisionedThroughputExceededException", NGX_YOTI_IDV_ERROR, 0,
      "the account's rekognition throughput is exceeded: temporary; cache "
      "verdicts to make fewer calls" },

    { "InternalServerError", NGX_YOTI_IDV_ERROR, 0,
      "rekognition failed: temporary" },

    { "ServiceUnavailableException", NGX_YOTI_IDV_ERROR, 0,
      "rekognition is unavailable: temporary" },

    { "AccessDeniedException", NGX_YOTI_IDV_ERROR, 1,
      "the credentials may not call "
      "rekognition:GetFaceLivenessSessionResults" },

    { "InvalidParameterException", NGX_YOTI_IDV_ERROR, 1,
      "rekognition refused the request as malformed" },

    { "InvalidSignatureException", NGX_YOTI_IDV_ERROR, 1,
      "rekognition refused the signature: a wrong secret key, a region or "
      "host that is not the endpoint's, or a wrong clock" },

    { "IncompleteSignatureException", NGX_YOTI_IDV_ERROR, 1,
      "rekognition found the signature incomplete: the internal location "
      "must pass the module's headers" },

    { "MissingAuthenticationTokenException", NGX_YOTI_IDV_ERROR, 1,
      "rekognition got no signature: the internal location must pass the "
      "module's headers" },

    { "UnrecognizedClientException", NGX_YOTI_IDV_ERROR, 1,
      "rekognition does not know the access key or the session token" },

    { "ExpiredTokenException", NGX_YOTI_IDV_ERROR, 1,
      "the session token has expired: rotate the credentials file" },

    { NULL, 0, 0, NULL }
};


int
ngx_yoti_idv_aws_eval_response(int status, const char *error_type,
    size_t error_type_len, const char *body, size_t len,
    const ngx_yoti_idv_policy_t *policy, long min_confidence,
    ngx_yoti_idv_result_t *res)
{
    size_t                           n;
    const ngx_yoti_idv_aws_error_t  *e;
    char                             type[NGX_YOTI_IDV_AWS_TOKEN_MAX + 1];

    if (res == NULL) {
        return 0;
    }

    if (status == 200) {
        ngx_yoti_idv_aws_eval_result(body, len, policy, min_confidence, res);
        return 0;
    }

    n = ngx_yoti_idv_aws_error_type(body, len, error_type, error_type_len,
                                    type);

    if (n) {
        for (e = ngx_yoti_idv_aws_errors; e->type; e++) {
            if (strcmp(e->type, type) != 0) {
                continue;
            }

            if (e->verdict == NGX_YOTI_IDV_DENY) {
                ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_DENY, "no_session");

            } else {
                ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:%s",
                                     type);
            }

            ngx_yoti_idv_aws_detail(res, "%s (%d %s)", e->detail, status,
                                    type);

            return e->conf ? NGX_YOTI_IDV_AWS_CONF_ERROR : 0;
        }
    }

    if (status == 504) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:timeout");
        ngx_yoti_idv_aws_detail(res, "the provider did not answer in time "
                                "(504): check the API location's "
                                "proxy_read_timeout and the way to the "
                                "provider");
        return 0;
    }

    ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:%d", status);

    if (n) {
        ngx_yoti_idv_aws_detail(res, "the provider answered %d with the "
                                "error type \"%s\"", status, type);

    } else if (status == 502 || status == 503) {
        ngx_yoti_idv_aws_detail(res, "the request to the provider ended "
                                "with status %d (without a provider error, "
                                "nginx could not reach it: see the upstream "
                                "error above)", status);

    } else {
        ngx_yoti_idv_aws_detail(res, "the provider answered %d without a "
                                "known error type", status);
    }

    return (status == 400 || status == 403) ? NGX_YOTI_IDV_AWS_CONF_ERROR
                                             : 0;
}


int
ngx_yoti_idv_aws_valid_session_id(const char *id, size_t len)
{
    size_t  i;

    if (id == NULL || len != NGX_YOTI_IDV_AWS_SESSION_ID_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-') {
                return 0;
            }

            continue;
        }

        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


int
ngx_yoti_idv_aws_parse_confidence(const char *s, size_t len, long *v)
{
    int     frac;
    long    n;
    size_t  i;

    n = 0;
    frac = -1;

    if (len == 0 || s[0] == '.' || s[len - 1] == '.') {
        return -1;
    }

    for (i = 0; i < len; i++) {

        if (s[i] == '.') {
            if (frac >= 0) {
                return -1;
            }

            frac = 0;
            continue;
        }

        if (s[i] < '0' || s[i] > '9' || frac == 6 || n > 1000000000L) {
            return -1;
        }

        n = n * 10 + (s[i] - '0');

        if (frac >= 0) {
            frac++;
        }
    }

    for (frac = (frac < 0) ? 0 : frac; frac < 6; frac++) {
        n *= 10;
    }

    if (n > NGX_YOTI_IDV_AWS_CONFIDENCE_MAX) {
        return -1;
    }

    *v = n;

    return 0;
}


static void
ngx_yoti_idv_aws_eval_result(const char *body, size_t len,
    const ngx_yoti_idv_policy_t *policy, long min_confidence,
    ngx_yoti_idv_result_t *res)
{
    int          twice;
    long         shown;
    double       c;
    cJSON       *root, *sid, *st, *conf;
    const char  *end, *status;

    if (body == NULL || len == 0) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:empty");
        ngx_yoti_idv_aws_detail(res, "the provider answered 200 with an "
                                "empty body");
        return;
    }

    if (memchr(body, '\0', len) != NULL) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_json");
        ngx_yoti_idv_aws_detail(res, "the result has a NUL byte at offset "
                                "%zu", (size_t) ((const char *)
                                                 memchr(body, '\0', len)
                                                 - body));
        return;
    }

    end = NULL;
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);

    if (root == NULL) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_json");
        ngx_yoti_idv_aws_detail(res, "the result is not JSON (near offset "
                                "%zu)", (size_t) (cJSON_GetErrorPtr()
                                                  ? cJSON_GetErrorPtr() - body
                                                  : 0));
        return;
    }

    while (end && end < body + len
           && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
    {
        end++;
    }

    if (end != body + len) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_json");
        ngx_yoti_idv_aws_detail(res, "the result has data after the JSON "
                                "document, at offset %zu",
                                (size_t) (end ? end - body : 0));
        goto done;
    }

    if (!cJSON_IsObject(root)) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_aws_detail(res, "the result is not a JSON object");
        goto done;
    }

    twice = 0;
    sid = ngx_yoti_idv_aws_get(root, "SessionId", &twice);
    st = ngx_yoti_idv_aws_get(root, "Status", &twice);
    conf = ngx_yoti_idv_aws_get(root, "Confidence", &twice);

    if (twice) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_aws_detail(res, "the result has SessionId, Status or "
                                "Confidence twice");
        goto done;
    }

    if (sid && !cJSON_IsString(sid)) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_aws_detail(res, "the result's SessionId is not a "
                                "string");
        goto done;
    }

    if (policy && policy->session_id
        && (sid == NULL
            || strlen(sid->valuestring) != policy->session_id_len
            || memcmp(sid->valuestring, policy->session_id,
                      policy->session_id_len) != 0))
    {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR,
                             "provider:session_mismatch");
        ngx_yoti_idv_aws_detail(res, "the result is %s",
                                sid ? "for another SessionId"
                                    : "without a SessionId");
        goto done;
    }

    if (st == NULL || !cJSON_IsString(st)) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_aws_detail(res, "the result's Status is %s",
                                st ? "not a string" : "missing");
        goto done;
    }

    status = st->valuestring;

    if (strcmp(status, "CREATED") == 0 || strcmp(status, "IN_PROGRESS") == 0)
    {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_PENDING, "state:%s", status);
        goto done;
    }

    if (strcmp(status, "SUCCEEDED") != 0) {

        if (ngx_yoti_idv_aws_token(status, strlen(status))) {
            ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_DENY, "state:%s", status);

        } else {
            ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_DENY, "state:unknown");
        }

        goto done;
    }

    if (conf == NULL || cJSON_IsNull(conf)) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_DENY, "confidence:none");
        ngx_yoti_idv_aws_detail(res, "the result has no Confidence");
        goto done;
    }

    if (!cJSON_IsNumber(conf) || !isfinite(conf->valuedouble)
        || conf->valuedouble < 0 || conf->valuedouble > 100)
    {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_aws_detail(res, "the result's Confidence is not a "
                                "number from 0 to 100");
        goto done;
    }

    c = conf->valuedouble;

    if (c * 1000000.0 >= (double) min_confidence) {
        ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_ALLOW, "ok");
        goto done;
    }

    /* shown rounded down, never as high as the threshold it missed */

    shown = (long) floor(c * 100.0);

    ngx_yoti_idv_aws_set(res, NGX_YOTI_IDV_DENY, "confidence:%ld.%02ld",
                         shown / 100, shown % 100);
    ngx_yoti_idv_aws_detail(res, "the liveness confidence is below "
                            "min_confidence=%ld.%06ld",
                            min_confidence / 1000000,
                            min_confidence % 1000000);

done:

    cJSON_Delete(root);
}


/* the error type: "__type" of the body, else the header; "ns#Type:..." */

static size_t
ngx_yoti_idv_aws_error_type(const char *body, size_t len, const char *header,
    size_t header_len, char *type)
{
    size_t       n;
    cJSON       *root, *t;
    const char  *p, *s, *e;

    n = 0;
    root = NULL;
    s = NULL;
    e = NULL;

    if (body && len && memchr(body, '\0', len) == NULL) {
        root = cJSON_ParseWithLength(body, len);
        t = root ? cJSON_GetObjectItemCaseSensitive(root, "__type") : NULL;

        if (t && cJSON_IsString(t)) {
            s = t->valuestring;
            e = s + strlen(s);
        }
    }

    if (s == NULL && header && header_len) {
        s = header;
        e = header + header_len;
    }

    if (s) {
        p = memchr(s, ':', e - s);
        if (p) {
            e = p;
        }

        for (p = e; p > s; p--) {
            if (p[-1] == '#') {
                s = p;
                break;
            }
        }

        if (e - s > 0 && ngx_yoti_idv_aws_token(s, e - s)) {
            n = e - s;
            memcpy(type, s, n);
        }
    }

    type[n] = '\0';

    cJSON_Delete(root);

    return n;
}


/* 1 to 64 of A-Z, a-z, 0-9, "_" and "." */

static int
ngx_yoti_idv_aws_token(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > NGX_YOTI_IDV_AWS_TOKEN_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static cJSON *
ngx_yoti_idv_aws_get(cJSON *root, const char *name, int *twice)
{
    cJSON  *item, *found;

    found = NULL;

    for (item = root->child; item; item = item->next) {
        if (item->string && strcmp(item->string, name) == 0) {
            if (found) {
                *twice = 1;
            }

            found = item;
        }
    }

    return found;
}


static void
ngx_yoti_idv_aws_set(ngx_yoti_idv_result_t *res,
    ngx_yoti_idv_verdict_e verdict, const char *fmt, ...)
{
    va_list  args;

    res->verdict = verdict;

    va_start(args, fmt);
    vsnprintf(res->reason, sizeof(res->reason), fmt, args);
    va_end(args);

    res->detail[0] = '\0';
}


static void
ngx_yoti_idv_aws_detail(ngx_yoti_idv_result_t *res, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(res->detail, sizeof(res->detail), fmt, args);
    va_end(args);
}
