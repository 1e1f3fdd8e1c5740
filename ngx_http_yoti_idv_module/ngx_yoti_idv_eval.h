
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_YOTI_IDV_EVAL_H_INCLUDED_
#define _NGX_YOTI_IDV_EVAL_H_INCLUDED_


/*
 * Pure evaluator of Yoti IDV session results: no nginx headers, so it can be
 * unit tested and fuzzed on its own.  It turns the HTTP status and body of
 * GET /sessions/<id> plus a policy into a verdict, a machine-readable reason
 * and a line of log text.
 */


#include <stddef.h>


typedef enum {
    NGX_YOTI_IDV_ALLOW = 0,
    NGX_YOTI_IDV_DENY,
    NGX_YOTI_IDV_PENDING,
    NGX_YOTI_IDV_ERROR
} ngx_yoti_idv_verdict_e;


#define NGX_YOTI_IDV_REQ_ANY      1
#define NGX_YOTI_IDV_REQ_ALL      2

#define NGX_YOTI_IDV_REASON_LEN   96
#define NGX_YOTI_IDV_DETAIL_LEN   512
#define NGX_YOTI_IDV_MEDIA_ID_LEN 65      /* 64 and the NUL */
#define NGX_YOTI_IDV_AGE_MAX      150


typedef struct {
    const char                *type;      /* not necessarily NUL-terminated */
    size_t                     type_len;
    int                        mode;      /* NGX_YOTI_IDV_REQ_ANY or _ALL */

    /*
     * comma lists as configured ("ZOOM,STATIC"), not NUL-terminated;
     * NULL: any value.  A check counts for the requirement only if a
     * resource it used passes them.
     */
    const char                *liveness_types;
    size_t                     liveness_types_len;
    const char                *document_types;
    size_t                     document_types_len;
    const char                *countries;         /* issuing_country */
    size_t                     countries_len;
} ngx_yoti_idv_req_t;


typedef struct {
    const ngx_yoti_idv_req_t  *reqs;
    size_t                     nreqs;
    const char                *session_id;      /* the id that was requested,
                                                   NULL: do not compare */
    size_t                     session_id_len;
    const char                *user_id;         /* NULL: do not bind */
    size_t                     user_id_len;     /* any bytes */

    /* yoti_idv_require_age, 0: none; then "today" is the UTC date */
    unsigned                   age;
    int                        today_year;
    int                        today_month;     /* 1..12 */
    int                        today_day;       /* 1..31 */
} ngx_yoti_idv_policy_t;


typedef struct {
    ngx_yoti_idv_verdict_e     verdict;
    /* NUL-terminated, machine-readable */
    char                       reason[NGX_YOTI_IDV_REASON_LEN];
    /* NUL-terminated printable ASCII for the log, "" if none */
    char                       detail[NGX_YOTI_IDV_DETAIL_LEN];

    /*
     * with an age requirement, a session that meets everything else is
     * ERROR "internal:age_unchecked" (fail closed) and media_id names the
     * document fields media to fetch and give to ngx_yoti_idv_eval_media();
     * "" otherwise
     */
    char                       media_id[NGX_YOTI_IDV_MEDIA_ID_LEN];

    /* DENY "age:underage": days until the holder is of age, else 0 */
    long                       age_days;
} ngx_yoti_idv_result_t;


/* HTTP status + body of GET /sessions/<id> -> result */
void ngx_yoti_idv_eval_response(int status, const char *body, size_t len,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res);

/* the body of a 200 response -> result */
void ngx_yoti_idv_eval_session(const char *json, size_t len,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res);

/*
 * HTTP status + body of GET /sessions/<id>/media/<media id>/content (the
 * document fields) -> ALLOW when the date of birth shows policy->age by
 * policy->today; nothing of the document goes into the result
 */
void ngx_yoti_idv_eval_media(int status, const char *body, size_t len,
    const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res);

/*
 * a requirement's value list (config time): comma-separated items of
 * 1..32 of [A-Z0-9_]; with country, each exactly 3 of [A-Z]
 */
int ngx_yoti_idv_valid_list(const char *list, size_t len, int country);

/* 0 for a type that never uses an ID document (LIVENESS, IDENTITY_PROFILE) */
int ngx_yoti_idv_uses_document(const char *type, size_t len);

/* a requirement type token (config time): 1..64 of [A-Z0-9_] */
int ngx_yoti_idv_valid_type(const char *type, size_t len);

/*
 * 1 for a check type the SDKs know (or IDENTITY_PROFILE), 0 for any other:
 * unknown types are still evaluated, nginx -t only warns about them
 */
int ngx_yoti_idv_known_type(const char *type, size_t len);

/* the known types, ", "-separated, for that warning */
extern const char  ngx_yoti_idv_known_types[];

/* default mode of a type: ANY for LIVENESS, ALL otherwise */
int ngx_yoti_idv_default_mode(const char *type, size_t len);

/* session id syntax: 1..64 of [A-Za-z0-9-] */
int ngx_yoti_idv_valid_session_id(const char *id, size_t len);

/* "ALLOW", "DENY", "PENDING", "ERROR" */
const char *ngx_yoti_idv_verdict_name(ngx_yoti_idv_verdict_e v);


#endif /* _NGX_YOTI_IDV_EVAL_H_INCLUDED_ */
