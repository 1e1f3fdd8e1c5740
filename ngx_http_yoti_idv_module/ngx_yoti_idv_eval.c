
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ngx_yoti_idv_eval.h"
#include "ngx_yoti_idv_json.h"


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
    cJSON                     *resources;  /* may be NULL */
    const char                *resources_dup;  /* it appears twice */
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
static int ngx_yoti_idv_in_list(const char *list, size_t len,
    const char *value);
static cJSON *ngx_yoti_idv_resource(ngx_yoti_idv_doc_t *doc,
    const char *list, const char *id);
static int ngx_yoti_idv_filter(ngx_yoti_idv_doc_t *doc, cJSON *item,
    const ngx_yoti_idv_req_t *req, char *why, size_t size);
static int ngx_yoti_idv_document_ok(cJSON *document,
    const ngx_yoti_idv_req_t *req, char *why, size_t size);
static int ngx_yoti_idv_provider_error(const char *body, size_t len);
static void ngx_yoti_idv_eval_age(ngx_yoti_idv_doc_t *doc,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res);
static int ngx_yoti_idv_parse_date(const char *s, int *y, int *m, int *d);
static int ngx_yoti_idv_leap(long y);
static int ngx_yoti_idv_month_days(long y, int m);
static long ngx_yoti_idv_days(long y, int m, int d);


static const char  ngx_yoti_idv_profile_type[] = "IDENTITY_PROFILE";
static const char  ngx_yoti_idv_authenticity_type[] =
    "ID_DOCUMENT_AUTHENTICITY";


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

        /*
         * the provider's own "not found" comes with its error body; a 404
         * without one (an nginx or application page, an empty body) never
         * reached the sessions endpoint: the configuration is wrong, and
         * the user is not denied for it, nor is a DENY cached
         */

        if (ngx_yoti_idv_provider_error(body, len)) {
            ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "no_session");
            ngx_yoti_idv_detail(res, "the provider has no such session (404)");
            break;
        }

        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "provider:404");
        ngx_yoti_idv_detail(res, "404 without the provider's error body: the "
                            "request did not reach the provider's sessions "
                            "endpoint; check the URI of \"proxy_pass\" in "
                            "the API location (a missing trailing \"/\", a "
                            "wrong path)");
        return;

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


/* a body of the provider's errors: a JSON object with a string "code" */

static int
ngx_yoti_idv_provider_error(const char *body, size_t len)
{
    int          error, yes;
    cJSON       *root;
    size_t       offset;
    const char  *dup;

    if (body == NULL || len == 0) {
        return 0;
    }

    root = ngx_yoti_idv_parse(body, len, &offset, &error);
    if (root == NULL) {
        return 0;
    }

    dup = NULL;

    yes = cJSON_IsObject(root)
          && ngx_yoti_idv_str(ngx_yoti_idv_get(root, "code", &dup)) != NULL;

    ngx_yoti_idv_json_delete(root);

    return yes;
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

    ngx_yoti_idv_json_delete(root);
}


/*
 * the check types of Yoti's SDKs (Node, Python, Java), and the seeds'
 * FAMILIAR_FACE_SEARCH; IDENTITY_PROFILE is the module's own
 */

const char  ngx_yoti_idv_known_types[] =
    "LIVENESS, FACE_COMPARISON, ID_DOCUMENT_AUTHENTICITY, "
    "ID_DOCUMENT_TEXT_DATA_CHECK, ID_DOCUMENT_FACE_MATCH, "
    "ID_DOCUMENT_COMPARISON, SUPPLEMENTARY_DOCUMENT_TEXT_DATA_CHECK, "
    "THIRD_PARTY_IDENTITY, THIRD_PARTY_IDENTITY_FRAUD_1, "
    "WATCHLIST_SCREENING, WATCHLIST_ADVANCED_CA, IBV_VISUAL_REVIEW_CHECK, "
    "DOCUMENT_SCHEME_VALIDITY_CHECK, PROFILE_DOCUMENT_MATCH, "
    "SYNECTICS_IDENTITY_FRAUD, FAMILIAR_FACE_SEARCH, IDENTITY_PROFILE";


int
ngx_yoti_idv_known_type(const char *type, size_t len)
{
    const char  *p, *end;

    if (type == NULL || len == 0) {
        return 0;
    }

    p = ngx_yoti_idv_known_types;

    for ( ;; ) {
        end = strchr(p, ',');

        if (end == NULL) {
            end = p + strlen(p);
        }

        if ((size_t) (end - p) == len && memcmp(p, type, len) == 0) {
            return 1;
        }

        if (*end == '\0') {
            return 0;
        }

        p = end + 2;
    }
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
    res->media_id[0] = '\0';
    res->age_days = 0;
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

        if ((req->liveness_types
             && !ngx_yoti_idv_valid_list(req->liveness_types,
                                         req->liveness_types_len, 0))
            || (req->document_types
                && !ngx_yoti_idv_valid_list(req->document_types,
                                            req->document_types_len, 0))
            || (req->countries
                && !ngx_yoti_idv_valid_list(req->countries,
                                            req->countries_len, 1)))
        {
            return 0;
        }
    }

    if (policy->age > NGX_YOTI_IDV_AGE_MAX) {
        return 0;
    }

    if (policy->age
        && (policy->today_year < 1 || policy->today_year > 9999
            || policy->today_month < 1 || policy->today_month > 12
            || policy->today_day < 1
            || policy->today_day > ngx_yoti_idv_month_days(
                                       policy->today_year,
                                       policy->today_month)))
    {
        return 0;
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
    int          in_string;
    size_t       i, start;
    const char  *raw, *bs;

    /*
     * memchr() first: only a backslash before the first raw NUL can make
     * an earlier "\u0000"; a document without one (the usual case: 500 KB
     * sessions carry none) needs no walk byte by byte
     */

    raw = memchr(p, '\0', len);
    bs = memchr(p, '\\', raw ? (size_t) (raw - p) : len);

    if (bs == NULL) {
        return raw ? (size_t) (raw - p) : NGX_YOTI_IDV_NO_OFFSET;
    }

    /* before the first backslash no quote is escaped: count them */

    start = (size_t) (bs - p);
    in_string = 0;

    for (i = 0; i < start; i++) {
        in_string ^= (p[i] == '"');
    }

    for (i = start; i < len; i++) {

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
    int      nomem;
    cJSON   *root;
    size_t   nul, end;

    *offset = 0;
    *error = NGX_YOTI_IDV_PARSE_SYNTAX;

    nul = ngx_yoti_idv_find_nul(json, len);

    if (nul != NGX_YOTI_IDV_NO_OFFSET) {
        *offset = nul;
        *error = NGX_YOTI_IDV_PARSE_NUL;
        return NULL;
    }

    /* into the arena (ngx_yoti_idv_json.c): ngx_yoti_idv_json_delete() */
    root = ngx_yoti_idv_json_parse(json, len, 1, &end, &nomem);

    if (root == NULL) {
        if (nomem) {
            *error = NGX_YOTI_IDV_PARSE_NOMEM;

        } else if (end != (size_t) -1) {
            *offset = end;
        }
    }

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

    /* a repeated "resources" matters only to a policy that reads them */
    doc->resources_dup = NULL;
    doc->resources = ngx_yoti_idv_get(root, "resources", &doc->resources_dup);

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

    if (policy->age) {
        ngx_yoti_idv_eval_age(doc, policy, res);
        return;
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
    int                    n, found, counted, filtered, approved_out;
    cJSON                 *item;
    ngx_yoti_idv_check_t   c, last, bad;
    char                   why[NGX_YOTI_IDV_REASON_LEN];
    char                   fwhy[NGX_YOTI_IDV_REASON_LEN];

    if (req->type_len == sizeof(ngx_yoti_idv_profile_type) - 1
        && memcmp(req->type, ngx_yoti_idv_profile_type, req->type_len) == 0)
    {
        return ngx_yoti_idv_eval_profile(doc, res);
    }

    found = 0;
    counted = 0;
    filtered = 0;
    approved_out = 0;
    fwhy[0] = '\0';
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

        /*
         * a check whose resources the requirement does not accept does
         * not count; the reason names what it used, preferably what an
         * approved one used
         */

        if (ngx_yoti_idv_filter(doc, item, req, why, sizeof(why)) != 1) {
            filtered++;

            if (c.value != NULL && strcmp(c.value, "APPROVE") == 0) {
                if (!approved_out) {
                    memcpy(fwhy, why, sizeof(fwhy));
                }

                approved_out = 1;

            } else if (fwhy[0] == '\0') {
                memcpy(fwhy, why, sizeof(fwhy));
            }

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

    if (found == 0 && filtered) {
        ngx_yoti_idv_deny_check(res, req, fwhy);
        ngx_yoti_idv_detail(res, "none of %d %.*s checks used a resource "
                            "the requirement accepts",
                            filtered, (int) req->type_len, req->type);
        return -1;
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

    } else if (approved_out) {
        /* the only approved ones used what the requirement refuses */
        ngx_yoti_idv_deny_check(res, req, fwhy);
        ngx_yoti_idv_detail(res, "no %.*s check that the requirement "
                            "accepts approves; an approved one used %s",
                            (int) req->type_len, req->type, fwhy);
        return -1;

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

    memset(&req, 0, sizeof(req));
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
        ngx_yoti_idv_json_delete(root);
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

    ngx_yoti_idv_json_delete(root);
}


void
ngx_yoti_idv_eval_media(int status, const char *body, size_t len,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res)
{
    int          error, y, m, d;
    long         of_age, today;
    cJSON       *root, *dob;
    size_t       offset;
    const char  *dup, *date;
    char         reason[NGX_YOTI_IDV_REASON_LEN];

    if (res == NULL) {
        return;
    }

    if (!ngx_yoti_idv_policy_ok(policy) || policy->age == 0) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "internal:bad_policy");
        ngx_yoti_idv_detail(res, "no age requirement, or no date for today");
        return;
    }

    if (status == 204) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "age:no_date");
        ngx_yoti_idv_detail(res, "the document fields media has no content "
                            "(204)");
        return;
    }

    if (status != 200) {
        snprintf(reason, sizeof(reason), "media:%d", status);
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, reason);
        ngx_yoti_idv_detail(res, "the provider answered the document fields "
                            "media request with status %d", status);
        ngx_yoti_idv_error_body(body, len, res);
        return;
    }

    if (body == NULL || len == 0) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "media:empty");
        ngx_yoti_idv_detail(res, "the provider sent empty document fields");
        return;
    }

    root = ngx_yoti_idv_parse(body, len, &offset, &error);

    if (root == NULL) {
        if (error == NGX_YOTI_IDV_PARSE_NOMEM) {
            ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "internal:nomem");
            ngx_yoti_idv_detail(res, "out of memory parsing %lu bytes",
                                (unsigned long) len);
            return;
        }

        /* the offset only: the bytes are the holder's personal data */
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "media:bad_json");
        ngx_yoti_idv_detail(res, "the document fields are not JSON (%s at "
                            "offset %lu of %lu bytes)",
                            error == NGX_YOTI_IDV_PARSE_NUL
                            ? "NUL character" : "invalid JSON",
                            (unsigned long) offset, (unsigned long) len);
        return;
    }

    dup = NULL;
    dob = cJSON_IsObject(root) ? ngx_yoti_idv_get(root, "date_of_birth", &dup)
                               : NULL;

    if (!cJSON_IsObject(root) || dup != NULL) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR, "media:bad_type");
        ngx_yoti_idv_detail(res, "%s",
                            dup ? "field \"date_of_birth\" appears twice "
                                  "in the document fields"
                                : "the document fields are not a JSON "
                                  "object");
        ngx_yoti_idv_json_delete(root);
        return;
    }

    if (dob == NULL || cJSON_IsNull(dob)) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "age:no_date");
        ngx_yoti_idv_detail(res, "the document fields have no date_of_birth");
        ngx_yoti_idv_json_delete(root);
        return;
    }

    date = ngx_yoti_idv_str(dob);

    if (date == NULL || ngx_yoti_idv_parse_date(date, &y, &m, &d) != 0) {
        /* never the value itself */
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "age:bad_date");
        ngx_yoti_idv_detail(res, "date_of_birth is not yyyy-mm-dd, yyyy-mm "
                            "or yyyy");
        ngx_yoti_idv_json_delete(root);
        return;
    }

    ngx_yoti_idv_json_delete(root);

    /*
     * of age on the N-th birthday; a 29 February birthday falls on
     * 1 March in a common year: nobody is let in a day early
     */

    y += (int) policy->age;

    if (m == 2 && d == 29 && !ngx_yoti_idv_leap(y)) {
        m = 3;
        d = 1;
    }

    of_age = ngx_yoti_idv_days(y, m, d);
    today = ngx_yoti_idv_days(policy->today_year, policy->today_month,
                              policy->today_day);

    if (today >= of_age) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_ALLOW, "ok");
        return;
    }

    ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "age:underage");
    ngx_yoti_idv_detail(res, "the document's holder is not yet %u",
                        policy->age);
    res->age_days = of_age - today;
}


int
ngx_yoti_idv_valid_list(const char *list, size_t len, int country)
{
    char    c;
    size_t  i, item;

    if (list == NULL || len == 0) {
        return 0;
    }

    item = 0;

    for (i = 0; i <= len; i++) {

        if (i == len || list[i] == ',') {
            if (item == 0 || (country && item != 3)) {
                return 0;
            }

            item = 0;
            continue;
        }

        c = list[i];

        if (country ? !(c >= 'A' && c <= 'Z')
                    : !((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                        || c == '_'))
        {
            return 0;
        }

        if (++item > NGX_YOTI_IDV_TOKEN_MAX) {
            return 0;
        }
    }

    return 1;
}


int
ngx_yoti_idv_uses_document(const char *type, size_t len)
{
    if (type == NULL) {
        return 0;
    }

    if ((len == sizeof("LIVENESS") - 1 && memcmp(type, "LIVENESS", len) == 0)
        || (len == sizeof(ngx_yoti_idv_profile_type) - 1
            && memcmp(type, ngx_yoti_idv_profile_type, len) == 0))
    {
        return 0;
    }

    return 1;
}


static int
ngx_yoti_idv_in_list(const char *list, size_t len, const char *value)
{
    size_t       vlen;
    const char  *p, *end, *comma;

    vlen = strlen(value);
    end = list + len;

    for (p = list; p < end; p = comma + 1) {
        comma = memchr(p, ',', (size_t) (end - p));

        if (comma == NULL) {
            comma = end;
        }

        if ((size_t) (comma - p) == vlen && memcmp(p, value, vlen) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the object with this id in resources.<list>[], or NULL */

static cJSON *
ngx_yoti_idv_resource(ngx_yoti_idv_doc_t *doc, const char *list,
    const char *id)
{
    cJSON       *arr, *r;
    const char  *dup, *rid;

    if (!cJSON_IsObject(doc->resources) || doc->resources_dup != NULL) {
        return NULL;
    }

    dup = NULL;

    arr = ngx_yoti_idv_get(doc->resources, list, &dup);

    if (!cJSON_IsArray(arr) || dup != NULL) {
        return NULL;
    }

    for (r = arr->child; r != NULL; r = r->next) {

        if (!cJSON_IsObject(r)) {
            continue;
        }

        rid = ngx_yoti_idv_str(ngx_yoti_idv_get(r, "id", &dup));

        if (dup != NULL) {
            /* which copy is meant is unclear: none is */
            return NULL;
        }

        if (rid != NULL && strcmp(rid, id) == 0) {
            return r;
        }
    }

    return NULL;
}


/*
 * 1: the check used a resource that passes the requirement's lists (or
 * the requirement has none); 0: it did not, and "why" says what the
 * first resource it used of the kind was ("liveness_type:ZOOM")
 */

static int
ngx_yoti_idv_filter(ngx_yoti_idv_doc_t *doc, cJSON *item,
    const ngx_yoti_idv_req_t *req, char *why, size_t size)
{
    int          liveness;
    cJSON       *used, *id, *r;
    const char  *dup, *list, *type;

    liveness = (req->liveness_types != NULL);

    if (!liveness && req->document_types == NULL && req->countries == NULL) {
        return 1;
    }

    list = liveness ? "liveness_capture" : "id_documents";

    snprintf(why, size, "%s", liveness ? "liveness_type:none"
                                       : "document:none");

    dup = NULL;
    used = ngx_yoti_idv_get(item, "resources_used", &dup);

    if (!cJSON_IsArray(used) || dup != NULL) {
        return 0;
    }

    for (id = used->child; id != NULL; id = id->next) {

        if (ngx_yoti_idv_str(id) == NULL) {
            continue;
        }

        r = ngx_yoti_idv_resource(doc, list, id->valuestring);

        if (r == NULL) {
            continue;
        }

        if (!liveness) {
            if (ngx_yoti_idv_document_ok(r, req,
                                         strcmp(why, "document:none") == 0
                                         ? why : NULL, size))
            {
                return 1;
            }

            continue;
        }

        type = ngx_yoti_idv_str(ngx_yoti_idv_get(r, "liveness_type", &dup));

        if (type != NULL && dup == NULL
            && ngx_yoti_idv_in_list(req->liveness_types,
                                    req->liveness_types_len, type))
        {
            return 1;
        }

        if (strcmp(why, "liveness_type:none") == 0) {
            snprintf(why, size, "liveness_type:%s",
                     type && ngx_yoti_idv_token(type) ? type : "other");
        }
    }

    return 0;
}


/* why, when not NULL, gets what the document failed on */

static int
ngx_yoti_idv_document_ok(cJSON *document, const ngx_yoti_idv_req_t *req,
    char *why, size_t size)
{
    const char  *dup, *type, *country;

    dup = NULL;

    type = ngx_yoti_idv_str(ngx_yoti_idv_get(document, "document_type",
                                             &dup));
    country = ngx_yoti_idv_str(ngx_yoti_idv_get(document, "issuing_country",
                                                &dup));

    if (req->document_types
        && (type == NULL || dup != NULL
            || !ngx_yoti_idv_in_list(req->document_types,
                                     req->document_types_len, type)))
    {
        if (why) {
            snprintf(why, size, "document_type:%s",
                     type && ngx_yoti_idv_token(type) ? type : "other");
        }

        return 0;
    }

    if (req->countries
        && (country == NULL || dup != NULL
            || !ngx_yoti_idv_in_list(req->countries, req->countries_len,
                                     country)))
    {
        if (why) {
            snprintf(why, size, "issuing_country:%s",
                     country && ngx_yoti_idv_token(country)
                     ? country : "other");
        }

        return 0;
    }

    return 1;
}


/*
 * everything else allows: the date of birth is in the document fields
 * media of the document an approved ID_DOCUMENT_AUTHENTICITY check used
 * (one the ID_DOCUMENT_AUTHENTICITY requirement accepts, if any)
 */

static void
ngx_yoti_idv_eval_age(ngx_yoti_idv_doc_t *doc,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res)
{
    int                        n, fields;
    cJSON                     *item, *used, *id, *document, *f, *media;
    size_t                     i;
    const char                *dup, *mid;
    ngx_yoti_idv_check_t       c;
    const ngx_yoti_idv_req_t  *req;

    req = NULL;

    for (i = 0; i < policy->nreqs; i++) {
        if (ngx_yoti_idv_eq(ngx_yoti_idv_authenticity_type,
                            policy->reqs[i].type, policy->reqs[i].type_len))
        {
            req = &policy->reqs[i];
        }
    }

    n = 0;
    fields = 0;

    for (item = doc->checks ? doc->checks->child : NULL;
         item != NULL;
         item = item->next)
    {
        if (ngx_yoti_idv_check(item, n++, &c, res) != 0) {
            return;
        }

        if (strcmp(c.type, ngx_yoti_idv_authenticity_type) != 0
            || c.value == NULL || strcmp(c.value, "APPROVE") != 0)
        {
            continue;
        }

        dup = NULL;
        used = ngx_yoti_idv_get(item, "resources_used", &dup);

        if (!cJSON_IsArray(used) || dup != NULL) {
            continue;
        }

        for (id = used->child; id != NULL; id = id->next) {

            if (ngx_yoti_idv_str(id) == NULL) {
                continue;
            }

            document = ngx_yoti_idv_resource(doc, "id_documents",
                                             id->valuestring);

            if (document == NULL
                || (req && !ngx_yoti_idv_document_ok(document, req, NULL, 0)))
            {
                continue;
            }

            fields = 1;

            dup = NULL;
            f = ngx_yoti_idv_get(document, "document_fields", &dup);
            media = cJSON_IsObject(f) ? ngx_yoti_idv_get(f, "media", &dup)
                                      : NULL;
            mid = cJSON_IsObject(media)
                  ? ngx_yoti_idv_str(ngx_yoti_idv_get(media, "id", &dup))
                  : NULL;

            if (mid == NULL || dup != NULL) {
                continue;
            }

            if (!ngx_yoti_idv_valid_session_id(mid, strlen(mid))) {
                ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR,
                                 "provider:bad_type");
                ngx_yoti_idv_detail(res, "the document fields media id is "
                                    "not 1 to 64 of A-Z, a-z, 0-9 and "
                                    "\"-\"");
                return;
            }

            ngx_yoti_idv_set(res, NGX_YOTI_IDV_ERROR,
                             "internal:age_unchecked");
            ngx_yoti_idv_detail(res, "the date of birth is still to be read "
                                "from media %s", mid);
            memcpy(res->media_id, mid, strlen(mid) + 1);
            return;
        }
    }

    if (fields) {
        ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "age:no_fields");
        ngx_yoti_idv_detail(res, "the verified document has no document "
                            "fields media");
        return;
    }

    ngx_yoti_idv_set(res, NGX_YOTI_IDV_DENY, "age:no_document");
    ngx_yoti_idv_detail(res, "no approved ID_DOCUMENT_AUTHENTICITY check "
                        "used an accepted document");
}


/* yyyy-mm-dd, or yyyy-mm or yyyy as the latest day they could mean */

static int
ngx_yoti_idv_parse_date(const char *s, int *y, int *m, int *d)
{
    int     i;
    size_t  len;

    len = strlen(s);

    if (len != 4 && len != 7 && len != 10) {
        return -1;
    }

    for (i = 0; i < (int) len; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-') {
                return -1;
            }

        } else if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
    }

    *y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10
         + (s[3] - '0');
    *m = (len > 4) ? (s[5] - '0') * 10 + (s[6] - '0') : 12;

    if (*y == 0 || *m < 1 || *m > 12) {
        return -1;
    }

    if (len < 10) {
        *d = ngx_yoti_idv_month_days(*y, *m);
        return 0;
    }

    *d = (s[8] - '0') * 10 + (s[9] - '0');

    if (*d < 1 || *d > ngx_yoti_idv_month_days(*y, *m)) {
        return -1;
    }

    return 0;
}


static int
ngx_yoti_idv_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


static int
ngx_yoti_idv_month_days(long y, int m)
{
    static const int  days[] = { 31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31 };

    if (m == 2 && ngx_yoti_idv_leap(y)) {
        return 29;
    }

    return days[m - 1];
}


/* days since 1970-01-01 of a proleptic Gregorian date, y >= 1 */

static long
ngx_yoti_idv_days(long y, int m, int d)
{
    long  era, yoe, doy, doe;

    y -= (m <= 2);
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}
