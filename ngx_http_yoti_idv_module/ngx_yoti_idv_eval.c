
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ngx_yoti_idv_eval.h"


#define NGX_YOTI_IDV_TYPE_MAX        64
#define NGX_YOTI_IDV_SESSION_ID_MAX  64

/* longest state or recommendation value echoed verbatim in a reason */
#define NGX_YOTI_IDV_TOKEN_MAX       32

#define NGX_YOTI_IDV_NO_OFFSET       ((size_t) -1)

/* why ngx_yoti_idv_parse() failed */
#define NGX_YOTI_IDV_PARSE_SYNTAX    1
#define NGX_YOTI_IDV_PARSE_NUL       2
#define NGX_YOTI_IDV_PARSE_NOMEM     3


#if (defined __GNUC__ || defined __clang__)
#define NGX_YOTI_IDV_PRINTF(f, a)  __attribute__ ((format (printf, f, a)))
#else
#define NGX_YOTI_IDV_PRINTF(f, a)
#endif


typedef struct {
    const char                *state;
    const char                *session_id;
    cJSON                     *user;       /* user_tracking_id, may be NULL */
    cJSON                     *checks;     /* an array or NULL */
    cJSON                     *profile;    /* identity_profile, may be NULL */
} ngx_yoti_idv_doc_t;


typedef struct {
    const char                *type;
    const char                *id;        /* may be NULL */
    const char                *state;
    const char                *value;     /* NULL: the check does not count */
    const char                *why;       /* recommendation.reason or NULL */
} ngx_yoti_idv_check_t;


static void ngx_yoti_idv_set(ngx_yoti_idv_result_t *res,
    ngx_yoti_idv_verdict_e verdict, const char *reason);
static void ngx_yoti_idv_detail(ngx_yoti_idv_result_t *res,
    const char *fmt, ...) NGX_YOTI_IDV_PRINTF(2, 3);
static int ngx_yoti_idv_policy_ok(const ngx_yoti_idv_policy_t *policy);
static size_t ngx_yoti_idv_find_nul(const char *p, size_t len);
static cJSON *ngx_yoti_idv_parse(const char *json, size_t len,
    size_t *offset, int *error);
static cJSON *ngx_yoti_idv_get(cJSON *obj, const char *name,
    const char **dup);
static const char *ngx_yoti_idv_str(cJSON *item);
static int ngx_yoti_idv_eq(const char *s, const char *p, size_t len);
static int ngx_yoti_idv_token(const char *s);
static int ngx_yoti_idv_doc(cJSON *root, ngx_yoti_idv_doc_t *doc,
    ngx_yoti_idv_result_t *res);
static int ngx_yoti_idv_check(cJSON *item, int n, ngx_yoti_idv_check_t *c,
    ngx_yoti_idv_result_t *res);
static void ngx_yoti_idv_eval_doc(ngx_yoti_idv_doc_t *doc,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res);
static int ngx_yoti_idv_eval_state(const char *state,
    ngx_yoti_idv_result_t *res);
static int ngx_yoti_idv_eval_req(ngx_yoti_idv_doc_t *doc,
    const ngx_yoti_idv_req_t *req, ngx_yoti_idv_result_t *res);
static int ngx_yoti_idv_eval_profile(ngx_yoti_idv_doc_t *doc,
    ngx_yoti_idv_result_t *res);
static void ngx_yoti_idv_deny_check(ngx_yoti_idv_result_t *res,
    const ngx_yoti_idv_req_t *req, const char *x);
static void ngx_yoti_idv_error_body(const char *body, size_t len,
    ngx_yoti_idv_result_t *res);


static const char  ngx_yoti_idv_profile_type[] = "IDENTITY_PROFILE";


void
ngx_yoti_idv_eval_response(int status, const char *body, size_t len,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res)
{
    char  reason[NGX_YOTI_IDV_REASON_LEN];

    if (res == NULL) {
        return;
    }

    switch (status) {

    case 200:
        ngx_yoti_idv_eval_session(body, len, policy, res);
        return;

    case 404:
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "no_session");
        ngx_yoti_idv_detail(res, "the provider has no such session (404)");
        break;

    case 401:
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:401");
        ngx_yoti_idv_detail(res, "the provider refused the signature (401): "
                            "check yoti_idv_sdk_id and yoti_idv_pem_key");
        break;

    case 504:
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:timeout");
        ngx_yoti_idv_detail(res, "the provider did not answer in time (504): "
                            "check the API location's proxy_read_timeout "
                            "and the way to the provider");
        break;

    case 429:
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:429");
        ngx_yoti_idv_detail(res, "the provider is limiting the request rate "
                            "(429): cache verdicts to make fewer calls");
        break;

    default:
        snprintf(reason, sizeof(reason), "provider:%d", status);
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, reason);

        if (status == 502 || status == 503) {
            ngx_yoti_idv_detail(res, "the request to the provider ended with "
                                "status %d (without a provider error below, "
                                "nginx could not reach it: see the upstream "
                                "error above)", status);

        } else {
            ngx_yoti_idv_detail(res, "the provider answered with status %d",
                                status);
        }

        break;
    }

    ngx_yoti_idv_error_body(body, len, res);
}


void
ngx_yoti_idv_eval_session(const char *json, size_t len,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res)
{
    int                 error;
    size_t              offset;
    cJSON              *root;
    ngx_yoti_idv_doc_t  doc;

    if (res == NULL) {
        return;
    }

    if (!ngx_yoti_idv_policy_ok(policy)) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "internal:bad_policy");
        ngx_yoti_idv_detail(res, "invalid requirement in the policy");
        return;
    }

    if (json == NULL || len == 0) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:empty");
        ngx_yoti_idv_detail(res, "the provider sent an empty session result");
        return;
    }

    root = ngx_yoti_idv_parse(json, len, &offset, &error);

    if (root == NULL) {
        if (error == NGX_YOTI_IDV_PARSE_NOMEM) {
            ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "internal:nomem");
            ngx_yoti_idv_detail(res, "out of memory parsing %lu bytes",
                                (unsigned long) len);
            return;
        }

        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_json");
        ngx_yoti_idv_detail(res, "%s at offset %lu of %lu bytes",
                            error == NGX_YOTI_IDV_PARSE_NUL
                            ? "NUL character" : "invalid JSON",
                            (unsigned long) offset, (unsigned long) len);
        return;
    }

    if (ngx_yoti_idv_doc(root, &doc, res) == 0) {
        ngx_yoti_idv_eval_doc(&doc, policy, res);
    }

    cJSON_Delete(root);
}


int
ngx_yoti_idv_valid_type(const char *type, size_t len)
{
    size_t  i;
    char    c;

    if (type == NULL || len == 0 || len > NGX_YOTI_IDV_TYPE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = type[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


int
ngx_yoti_idv_default_mode(const char *type, size_t len)
{
    if (type != NULL && len == sizeof("LIVENESS") - 1
        && memcmp(type, "LIVENESS", len) == 0)
    {
        return NGX_YOTI_IDV_REQ_ANY;
    }

    return NGX_YOTI_IDV_REQ_ALL;
}


int
ngx_yoti_idv_valid_session_id(const char *id, size_t len)
{
    size_t  i;
    char    c;

    if (id == NULL || len == 0 || len > NGX_YOTI_IDV_SESSION_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = id[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


const char *
ngx_yoti_idv_verdict_name(ngx_yoti_idv_verdict_e v)
{
    switch (v) {

    case NGX_YOTI_IDV_ALLOW:
        return "ALLOW";

    case NGX_YOTI_IDV_DENY:
        return "DENY";

    case NGX_YOTI_IDV_PENDING:
        return "PENDING";

    default:
        return "ERROR";
    }
}


static void
ngx_yoti_idv_set(ngx_yoti_idv_result_t *res, ngx_yoti_idv_verdict_e verdict,
    const char *reason)
{
    res->verdict = verdict;
    snprintf(res->reason, sizeof(res->reason), "%s", reason);
    res->detail[0] = '\0';
}


/*
 * Appends to the detail; the detail carries provider text into the error
 * log, so whatever was appended is reduced to printable ASCII.
 */

static void
ngx_yoti_idv_detail(ngx_yoti_idv_result_t *res, const char *fmt, ...)
{
    int       n;
    char     *p;
    size_t    len;
    va_list   args;

    len = strlen(res->detail);

    if (len >= sizeof(res->detail) - 1) {
        return;
    }

    va_start(args, fmt);
    n = vsnprintf(res->detail + len, sizeof(res->detail) - len, fmt, args);
    va_end(args);

    if (n < 0) {
        res->detail[len] = '\0';
        return;
    }

    for (p = res->detail + len; *p != '\0'; p++) {
        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e) {
            *p = '?';
        }
    }
}


static int
ngx_yoti_idv_policy_ok(const ngx_yoti_idv_policy_t *policy)
{
    size_t                     i;
    const ngx_yoti_idv_req_t  *req;

    if (policy == NULL || (policy->nreqs != 0 && policy->reqs == NULL)) {
        return 0;
    }

    for (i = 0; i < policy->nreqs; i++) {
        req = &policy->reqs[i];

        if (!ngx_yoti_idv_valid_type(req->type, req->type_len)) {
            return 0;
        }

        if (req->mode != NGX_YOTI_IDV_REQ_ANY
            && req->mode != NGX_YOTI_IDV_REQ_ALL)
        {
            return 0;
        }
    }

    return 1;
}


/*
 * cJSON keeps strings NUL-terminated without a length, so a "\u0000" escape
 * (or a raw NUL) would silently cut a string short: "alice\u0000x" would
 * compare equal to "alice".  No provider document carries one; refuse it.
 */

static size_t
ngx_yoti_idv_find_nul(const char *p, size_t len)
{
    int     in_string;
    size_t  i;

    in_string = 0;

    for (i = 0; i < len; i++) {

        if (p[i] == '\0') {
            return i;
        }

        if (!in_string) {
            if (p[i] == '"') {
                in_string = 1;
            }

            continue;
        }

        if (p[i] == '"') {
            in_string = 0;
            continue;
        }

        if (p[i] != '\\' || i + 1 == len) {
            continue;
        }

        if (p[i + 1] == '\0') {
            return i + 1;
        }

        if (p[i + 1] == 'u' && len - i > 5
            && memcmp(&p[i + 2], "0000", 4) == 0)
        {
            return i;
        }

        /* skip the escaped character: it may be a quote or a backslash */
        i++;
    }

    return NGX_YOTI_IDV_NO_OFFSET;
}


/*
 * The body is not NUL-terminated; parsing a terminated copy keeps cJSON
 * inside the buffer and lets it reject anything after the value.
 */

static cJSON *
ngx_yoti_idv_parse(const char *json, size_t len, size_t *offset, int *error)
{
    char        *buf;
    cJSON       *root;
    size_t       nul;
    const char  *end;

    *offset = 0;
    *error = NGX_YOTI_IDV_PARSE_SYNTAX;

    nul = ngx_yoti_idv_find_nul(json, len);

    if (nul != NGX_YOTI_IDV_NO_OFFSET) {
        *offset = nul;
        *error = NGX_YOTI_IDV_PARSE_NUL;
        return NULL;
    }

    if (len == (size_t) -1) {
        *error = NGX_YOTI_IDV_PARSE_NOMEM;
        return NULL;
    }

    buf = malloc(len + 1);
    if (buf == NULL) {
        *error = NGX_YOTI_IDV_PARSE_NOMEM;
        return NULL;
    }

    memcpy(buf, json, len);
    buf[len] = '\0';

    end = NULL;
    root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);

    if (root == NULL && end != NULL && end >= buf && end <= buf + len) {
        *offset = (size_t) (end - buf);
    }

    free(buf);

    return root;
}


/*
 * Keys are matched case-sensitively (cJSON_GetObjectItem is not), and a
 * repeated key is reported: parsers disagree on which copy wins.
 */

static cJSON *
ngx_yoti_idv_get(cJSON *obj, const char *name, const char **dup)
{
    cJSON  *item, *found;

    found = NULL;

    for (item = obj->child; item != NULL; item = item->next) {

        if (item->string == NULL || strcmp(item->string, name) != 0) {
            continue;
        }

        if (found != NULL) {
            if (*dup == NULL) {
                *dup = name;
            }

            break;
        }

        found = item;
    }

    return found;
}


static const char *
ngx_yoti_idv_str(cJSON *item)
{
    if (item == NULL || !cJSON_IsString(item)) {
        return NULL;
    }

    return item->valuestring;
}


static int
ngx_yoti_idv_eq(const char *s, const char *p, size_t len)
{
    return strlen(s) == len && memcmp(s, p, len) == 0;
}


/* a value that may be echoed into a reason: 1..32 of [A-Z_] */

static int
ngx_yoti_idv_token(const char *s)
{
    size_t  i;

    for (i = 0; s[i] != '\0'; i++) {

        if (i == NGX_YOTI_IDV_TOKEN_MAX) {
            return 0;
        }

        if (!((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '_')) {
            return 0;
        }
    }

    return i != 0;
}


static int
ngx_yoti_idv_doc(cJSON *root, ngx_yoti_idv_doc_t *doc,
    ngx_yoti_idv_result_t *res)
{
    int                    n;
    cJSON                 *item, *state, *sid;
    const char            *dup;
    ngx_yoti_idv_check_t   c;

    if (!cJSON_IsObject(root)) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_detail(res, "the session result is not a JSON object");
        return -1;
    }

    dup = NULL;

    state = ngx_yoti_idv_get(root, "state", &dup);
    sid = ngx_yoti_idv_get(root, "session_id", &dup);
    doc->user = ngx_yoti_idv_get(root, "user_tracking_id", &dup);
    doc->checks = ngx_yoti_idv_get(root, "checks", &dup);
    doc->profile = ngx_yoti_idv_get(root, "identity_profile", &dup);

    if (cJSON_IsObject(doc->profile)) {
        (void) ngx_yoti_idv_get(doc->profile, "result", &dup);
        (void) ngx_yoti_idv_get(doc->profile, "failure_reason", &dup);
    }

    if (dup != NULL) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_detail(res, "field \"%s\" appears twice", dup);
        return -1;
    }

    doc->state = ngx_yoti_idv_str(state);

    if (doc->state == NULL) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_detail(res, "field \"state\" is %s",
                            state ? "not a string" : "missing");
        return -1;
    }

    doc->session_id = NULL;

    if (sid != NULL) {
        doc->session_id = ngx_yoti_idv_str(sid);

        if (doc->session_id == NULL) {
            ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
            ngx_yoti_idv_detail(res, "field \"session_id\" is not a string");
            return -1;
        }
    }

    if (doc->checks != NULL) {

        if (!cJSON_IsArray(doc->checks)) {
            ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
            ngx_yoti_idv_detail(res, "field \"checks\" is not an array");
            return -1;
        }

        n = 0;

        for (item = doc->checks->child; item != NULL; item = item->next) {
            if (ngx_yoti_idv_check(item, n++, &c, res) != 0) {
                return -1;
            }
        }
    }

    return 0;
}


/*
 * Extracts one check.  It fails only on the first pass, made by
 * ngx_yoti_idv_doc() over every check before anything is decided.
 */

static int
ngx_yoti_idv_check(cJSON *item, int n, ngx_yoti_idv_check_t *c,
    ngx_yoti_idv_result_t *res)
{
    cJSON       *type, *state, *report, *rec;
    const char  *dup, *ignore;

    if (!cJSON_IsObject(item)) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_detail(res, "checks[%d] is not an object", n);
        return -1;
    }

    /* repeated keys matter only where they could change the verdict */
    dup = NULL;
    ignore = NULL;

    type = ngx_yoti_idv_get(item, "type", &dup);
    state = ngx_yoti_idv_get(item, "state", &dup);
    report = ngx_yoti_idv_get(item, "report", &dup);

    c->id = ngx_yoti_idv_str(ngx_yoti_idv_get(item, "id", &ignore));
    c->value = NULL;
    c->why = NULL;

    if (cJSON_IsObject(report)) {
        rec = ngx_yoti_idv_get(report, "recommendation", &dup);

        if (cJSON_IsObject(rec)) {
            c->value = ngx_yoti_idv_str(ngx_yoti_idv_get(rec, "value", &dup));
            c->why = ngx_yoti_idv_str(ngx_yoti_idv_get(rec, "reason",
                                                       &ignore));
        }
    }

    if (dup != NULL) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_detail(res, "field \"%s\" appears twice in checks[%d]",
                            dup, n);
        return -1;
    }

    c->type = ngx_yoti_idv_str(type);
    c->state = ngx_yoti_idv_str(state);

    if (c->type == NULL || c->state == NULL) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:bad_type");
        ngx_yoti_idv_detail(res, "field \"checks[%d].%s\" is %s", n,
                            c->type == NULL ? "type" : "state",
                            (c->type == NULL ? type : state) != NULL
                            ? "not a string" : "missing");
        return -1;
    }

    if (strcmp(c->state, "DONE") != 0) {
        c->value = NULL;
    }

    return 0;
}


static void
ngx_yoti_idv_eval_doc(ngx_yoti_idv_doc_t *doc,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res)
{
    size_t       i;
    const char  *user;

    /* a result that does not say which session it is about is not ours */

    if (policy->session_id != NULL && doc->session_id == NULL) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:session_mismatch");
        ngx_yoti_idv_detail(res, "asked for session \"%.*s\", the "
                            "provider answered without a \"session_id\"",
                            (int) (policy->session_id_len > 64
                                   ? 64 : policy->session_id_len),
                            policy->session_id);
        return;
    }

    if (policy->session_id != NULL
        && !ngx_yoti_idv_eq(doc->session_id, policy->session_id,
                            policy->session_id_len))
    {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:session_mismatch");
        ngx_yoti_idv_detail(res, "asked for session \"%.*s\", "
                            "the provider answered for \"%.64s\"",
                            (int) (policy->session_id_len > 64
                                   ? 64 : policy->session_id_len),
                            policy->session_id, doc->session_id);
        return;
    }

    if (policy->user_id != NULL) {
        user = ngx_yoti_idv_str(doc->user);

        if (user == NULL
            || !ngx_yoti_idv_eq(user, policy->user_id, policy->user_id_len))
        {
            /* user ids are personal data: they stay out of the log */
            ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "user_mismatch");
            ngx_yoti_idv_detail(res, "%s",
                                user == NULL
                                ? "the session has no string user_tracking_id"
                                : "the session's user_tracking_id is not "
                                  "the request's user id");
            return;
        }
    }

    if (ngx_yoti_idv_eval_state(doc->state, res) != 0) {
        return;
    }

    for (i = 0; i < policy->nreqs; i++) {
        if (ngx_yoti_idv_eval_req(doc, &policy->reqs[i], res) != 0) {
            return;
        }
    }

    ngx_yoti_idv_set(res, NGX_YOTI_IDV_ALLOW, "ok");
}


static int
ngx_yoti_idv_eval_state(const char *state, ngx_yoti_idv_result_t *res)
{
    char  reason[NGX_YOTI_IDV_REASON_LEN];

    if (strcmp(state, "COMPLETED") == 0) {
        return 0;
    }

    if (strcmp(state, "ONGOING") == 0) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_PENDING, "state:ONGOING");
        ngx_yoti_idv_detail(res, "the session is not finished yet");
        return -1;
    }

    if (strcmp(state, "EXPIRED") == 0) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "state:EXPIRED");
        ngx_yoti_idv_detail(res, "the session expired before it completed");
        return -1;
    }

    snprintf(reason, sizeof(reason), "state:%s",
             ngx_yoti_idv_token(state) ? state : "unknown");

    ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, reason);
    ngx_yoti_idv_detail(res, "session state \"%.64s\" is not COMPLETED",
                        state);

    return -1;
}


static int
ngx_yoti_idv_eval_req(ngx_yoti_idv_doc_t *doc, const ngx_yoti_idv_req_t *req,
    ngx_yoti_idv_result_t *res)
{
    int                    n, found, counted;
    cJSON                 *item;
    ngx_yoti_idv_check_t   c, last, bad;

    if (req->type_len == sizeof(ngx_yoti_idv_profile_type) - 1
        && memcmp(req->type, ngx_yoti_idv_profile_type, req->type_len) == 0)
    {
        return ngx_yoti_idv_eval_profile(doc, res);
    }

    found = 0;
    counted = 0;
    n = 0;

    memset(&last, 0, sizeof(last));
    memset(&bad, 0, sizeof(bad));

    for (item = doc->checks ? doc->checks->child : NULL;
         item != NULL;
         item = item->next)
    {
        if (ngx_yoti_idv_check(item, n++, &c, res) != 0) {
            /* cannot happen: ngx_yoti_idv_doc() has checked them all */
            return -1;
        }

        if (!ngx_yoti_idv_eq(c.type, req->type, req->type_len)) {
            continue;
        }

        found++;

        if (c.value != NULL && strcmp(c.value, "APPROVE") == 0) {
            if (req->mode == NGX_YOTI_IDV_REQ_ANY) {
                return 0;
            }

            continue;
        }

        if (c.value != NULL) {
            counted++;
            last = c;
        }

        if (req->mode == NGX_YOTI_IDV_REQ_ALL) {
            bad = c;
            break;
        }
    }

    if (found == 0) {
        ngx_yoti_idv_deny_check(res, req, "missing");
        ngx_yoti_idv_detail(res, "the session has no %.*s check",
                            (int) req->type_len, req->type);
        return -1;
    }

    if (req->mode == NGX_YOTI_IDV_REQ_ALL) {

        if (bad.type == NULL) {
            return 0;
        }

        if (bad.value == NULL) {
            ngx_yoti_idv_deny_check(res, req, "not_done");
            ngx_yoti_idv_detail(res, "%.*s check %.40s is %.32s without "
                                "a recommendation",
                                (int) req->type_len, req->type,
                                bad.id ? bad.id : "-", bad.state);
            return -1;
        }

        last = bad;

    } else if (counted == 0) {
        ngx_yoti_idv_deny_check(res, req, "not_done");
        ngx_yoti_idv_detail(res, "none of %d %.*s checks is DONE with "
                            "a recommendation",
                            found, (int) req->type_len, req->type);
        return -1;
    }

    ngx_yoti_idv_deny_check(res, req,
                            ngx_yoti_idv_token(last.value) ? last.value
                                                           : "other");
    ngx_yoti_idv_detail(res, "%.*s check %.40s recommends %.32s",
                        (int) req->type_len, req->type,
                        last.id ? last.id : "-", last.value);

    if (last.why != NULL) {
        ngx_yoti_idv_detail(res, " (%.48s)", last.why);
    }

    if (req->mode == NGX_YOTI_IDV_REQ_ANY) {
        ngx_yoti_idv_detail(res, ", none of %d approves", found);
    }

    return -1;
}


static int
ngx_yoti_idv_eval_profile(ngx_yoti_idv_doc_t *doc, ngx_yoti_idv_result_t *res)
{
    cJSON                 *failure, *code;
    const char            *result, *dup;
    ngx_yoti_idv_req_t     req;

    req.type = ngx_yoti_idv_profile_type;
    req.type_len = sizeof(ngx_yoti_idv_profile_type) - 1;
    req.mode = NGX_YOTI_IDV_REQ_ALL;

    if (!cJSON_IsObject(doc->profile)) {
        ngx_yoti_idv_deny_check(res, &req, "missing");
        ngx_yoti_idv_detail(res, "the session has no identity_profile");
        return -1;
    }

    dup = NULL;

    result = ngx_yoti_idv_str(ngx_yoti_idv_get(doc->profile, "result", &dup));
    failure = ngx_yoti_idv_get(doc->profile, "failure_reason", &dup);

    if (result == NULL) {
        ngx_yoti_idv_deny_check(res, &req, "missing");
        ngx_yoti_idv_detail(res, "identity_profile has no string result");
        return -1;
    }

    if (strcmp(result, "DONE") == 0
        && (failure == NULL || cJSON_IsNull(failure)))
    {
        return 0;
    }

    /*
     * the failure's reason_code says more than the result does:
     * "check:IDENTITY_PROFILE:MANDATORY_DOCUMENT_COULD_NOT_BE_PROVIDED"
     */

    code = NULL;

    if (failure != NULL && !cJSON_IsNull(failure)) {
        code = cJSON_IsObject(failure)
               ? ngx_yoti_idv_get(failure, "reason_code", &dup) : NULL;
    }

    if (ngx_yoti_idv_str(code)
        && ngx_yoti_idv_valid_type(code->valuestring,
                                   strlen(code->valuestring)))
    {
        ngx_yoti_idv_deny_check(res, &req, code->valuestring);

    } else {
        ngx_yoti_idv_deny_check(res, &req,
                                ngx_yoti_idv_token(result) ? result : "other");
    }

    ngx_yoti_idv_detail(res, "identity_profile result %.32s", result);

    if (failure != NULL && !cJSON_IsNull(failure)) {
        ngx_yoti_idv_detail(res, ", failure_reason %.64s",
                            ngx_yoti_idv_str(code) ? code->valuestring
                                                   : "present");
    }

    return -1;
}


static void
ngx_yoti_idv_deny_check(ngx_yoti_idv_result_t *res,
    const ngx_yoti_idv_req_t *req, const char *x)
{
    char  reason[NGX_YOTI_IDV_REASON_LEN];

    /* a 64-byte type and a 32-byte value would not fit: keep it parseable */
    if (sizeof("check:") + req->type_len + 1 + strlen(x) > sizeof(reason)) {
        x = "other";
    }

    snprintf(reason, sizeof(reason), "check:%.*s:%s",
             (int) req->type_len, req->type, x);

    ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, reason);
}


/* Yoti errors: {"code":"...","message":"...","errors":[{"property",...}]} */

static void
ngx_yoti_idv_error_body(const char *body, size_t len,
    ngx_yoti_idv_result_t *res)
{
    int          error;
    cJSON       *root, *errors, *first;
    size_t       offset;
    const char  *code, *message, *property, *dup;

    if (body == NULL || len == 0) {
        return;
    }

    root = ngx_yoti_idv_parse(body, len, &offset, &error);
    if (root == NULL) {
        return;
    }

    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return;
    }

    dup = NULL;

    code = ngx_yoti_idv_str(ngx_yoti_idv_get(root, "code", &dup));
    message = ngx_yoti_idv_str(ngx_yoti_idv_get(root, "message", &dup));
    errors = ngx_yoti_idv_get(root, "errors", &dup);

    if (code != NULL || message != NULL) {
        ngx_yoti_idv_detail(res, "; %.48s: %.96s", code ? code : "-",
                            message ? message : "-");
    }

    first = cJSON_IsArray(errors) ? errors->child : NULL;

    if (cJSON_IsObject(first)) {
        property = ngx_yoti_idv_str(ngx_yoti_idv_get(first, "property", &dup));
        message = ngx_yoti_idv_str(ngx_yoti_idv_get(first, "message", &dup));

        if (property != NULL || message != NULL) {
            ngx_yoti_idv_detail(res, " (%.48s: %.64s)",
                                property ? property : "-",
                                message ? message : "-");
        }
    }

    cJSON_Delete(root);
}
