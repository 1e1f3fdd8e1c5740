
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_HTTP_YOTI_IDV_MODULE_H_INCLUDED_
#define _NGX_HTTP_YOTI_IDV_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "ngx_yoti_idv_eval.h"
#include "ngx_http_yoti_idv_params.h"
#include "ngx_http_yoti_idv_metrics.h"


#define NGX_HTTP_YOTI_IDV_VERSION      "0.4.0"
#define NGX_HTTP_YOTI_IDV_SDK          "Nginx"
#define NGX_HTTP_YOTI_IDV_SDK_VERSION  "Nginx-" NGX_HTTP_YOTI_IDV_VERSION


typedef struct ngx_http_yoti_idv_provider_s  ngx_http_yoti_idv_provider_t;
typedef struct ngx_http_yoti_idv_redis_token_s  ngx_http_yoti_idv_redis_token_t;
typedef struct ngx_http_yoti_idv_zone_s  ngx_http_yoti_idv_zone_t;
typedef struct ngx_http_yoti_idv_aws_creds_s  ngx_http_yoti_idv_aws_creds_t;
typedef struct ngx_http_yoti_idv_notify_conf_s
    ngx_http_yoti_idv_notify_conf_t;
typedef struct ngx_http_yoti_idv_metrics_conf_s
    ngx_http_yoti_idv_metrics_conf_t;


/* the arguments of a Redis command: MGET, SET ... EX, the scripts' EVAL */
#define NGX_HTTP_YOTI_IDV_REDIS_ARGS      12

/* yoti_idv_cache_valid, by verdict */
#define NGX_HTTP_YOTI_IDV_VALID_ALLOW     0
#define NGX_HTTP_YOTI_IDV_VALID_DENY      1
#define NGX_HTTP_YOTI_IDV_VALID_PENDING   2
#define NGX_HTTP_YOTI_IDV_VALID_N         3

#define NGX_HTTP_YOTI_IDV_FP_LEN          16




typedef struct {
    ngx_http_yoti_idv_zone_t        *zone;      /* NULL: no zone */
    ngx_http_yoti_idv_redis_conf_t  *redis;     /* NULL: no Redis */
    ngx_str_t                        prefix;
    time_t                           valid[NGX_HTTP_YOTI_IDV_VALID_N];

    /* every yoti_idv_aws_credentials file and profile, once */
    ngx_array_t                     *aws_creds; /* of creds pointers */

    ngx_flag_t                       notifications; /* a location has it */
    time_t                           max_use_stale; /* of all locations */
    ngx_http_yoti_idv_metrics_conf_t  *metrics; /* NULL: none */

    /* each server's API prefixes, checked once the locations are known */
    ngx_array_t                     *apis;      /* of ngx_http_yoti_idv_api_t */

    /* every "proxy_set_header" of the http block, see api_conf.c */
    ngx_array_t                     *proxy_sets; /* of ..._psh_t */
    void                            *http_proxy; /* the http level's */
    ngx_uint_t                       proxy_index; /* its ctx_index */
} ngx_http_yoti_idv_main_conf_t;


/* what the proxy module sends besides the module's request */
#define NGX_HTTP_YOTI_IDV_PROXY_HEADER    0     /* proxy_set_header */
#define NGX_HTTP_YOTI_IDV_PROXY_BODY      1     /* proxy_set_body */
#define NGX_HTTP_YOTI_IDV_PROXY_N         2

/* a "proxy_set_header" or "proxy_set_body", where it was set */
typedef struct {
    void                            *level;     /* the proxy module's conf */
    ngx_uint_t                       kind;      /* NGX_HTTP_YOTI_IDV_PROXY_* */
    ngx_str_t                        key;       /* of a header */
    ngx_str_t                        value;
    ngx_str_t                        text;      /* as written, for the log */
    ngx_str_t                        file;
    ngx_uint_t                       line;
} ngx_http_yoti_idv_psh_t;


typedef struct {
    ngx_flag_t                     enable;
    ngx_flag_t                     bind_user;

    ngx_str_t                      sdk_id;      /* as sent: URI-escaped */
    ngx_str_t                      api;         /* no trailing slash */
    EVP_PKEY                      *key;

    ngx_http_complex_value_t      *user_id;
    ngx_http_complex_value_t      *session_id;

    /* user_id is "$http_<name>": the name, to read it without the cv */
    ngx_str_t                      user_header;

    ngx_array_t                   *requires;    /* ngx_yoti_idv_req_t */
    ngx_uint_t                     require_age; /* 0: none */

    /* aws_rekognition */
    ngx_int_t                      min_confidence;  /* millionths */
    ngx_str_t                      aws_region;
    ngx_str_t                      aws_host;        /* as configured */
    ngx_str_t                      aws_signed_host; /* or the default */
    ngx_http_yoti_idv_aws_creds_t *aws_creds;

    /* the policy's fingerprint in cache keys, see merge_loc_conf() */
    u_char                         fingerprint[NGX_HTTP_YOTI_IDV_FP_LEN];

    ngx_uint_t                     pending_status;
    ngx_uint_t                     error_status;

    /* yoti_idv_cache_use_stale, _background_update, yoti_idv_breaker */
    time_t                         use_stale;       /* 0: off */
    ngx_flag_t                     background_update;
    ngx_msec_t                     breaker;         /* 0: off */
    uint32_t                       breaker_hash;    /* of api */

    const ngx_http_yoti_idv_provider_t  *provider;

    ngx_http_yoti_idv_notify_conf_t     *notify;   /* NULL: not here */

    /*
     * of each kind, the first "proxy_set_header" ("proxy_set_body") here
     * whose header (body) the provider must not get, NULL: none, and
     * whether it is inherited from a level above; proxy_foreign is the
     * first of them
     */
    ngx_http_yoti_idv_psh_t             *proxy_kind[NGX_HTTP_YOTI_IDV_PROXY_N];
    ngx_flag_t                           proxy_kind_inherited[
                                             NGX_HTTP_YOTI_IDV_PROXY_N];
    ngx_http_yoti_idv_psh_t             *proxy_foreign;
    ngx_flag_t                           proxy_inherited;
} ngx_http_yoti_idv_loc_conf_t;


/*
 * what the subrequest to the provider carries: its own method, headers
 * and body, never the client's
 */

typedef struct {
    ngx_uint_t                     method;      /* NGX_HTTP_GET, _POST */
    ngx_str_t                      method_name;
    ngx_str_t                      uri;
    ngx_str_t                      args;
    ngx_array_t                    headers;     /* ngx_keyval_t */
    ngx_str_t                      body;        /* empty: none */
} ngx_http_yoti_idv_fetch_t;


typedef struct ngx_http_yoti_idv_answer_s  ngx_http_yoti_idv_answer_t;


struct ngx_http_yoti_idv_provider_s {
    ngx_str_t                      name;

    /* a response header the evaluation needs, e.g. an error type */
    ngx_str_t                      error_header;

    /* what a session id of this provider looks like, for the logs */
    const char                    *session_id_syntax;
    int                          (*valid_session_id)(const char *id,
        size_t len);

    ngx_int_t                    (*create_request)(ngx_http_request_t *r,
        ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
        ngx_http_yoti_idv_fetch_t *fetch);

    /* both locations would send the same request about a session */
    ngx_uint_t                   (*same_request)(
        ngx_http_yoti_idv_loc_conf_t *one, ngx_http_yoti_idv_loc_conf_t *two);

    void                         (*evaluate)(
        ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_answer_t *a,
        const ngx_yoti_idv_policy_t *policy, ngx_yoti_idv_result_t *res);

    /* the provider's own checks of an enabled location, at merge time */
    char                        *(*check_conf)(ngx_conf_t *cf,
        ngx_http_yoti_idv_loc_conf_t *conf);
};


typedef enum {
    NGX_HTTP_YOTI_IDV_FETCH_OK = 0,
    NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG,
    NGX_HTTP_YOTI_IDV_FETCH_TRUNCATED,
    NGX_HTTP_YOTI_IDV_FETCH_FAILED
} ngx_http_yoti_idv_fetch_failure_e;


/*
 * the provider's answer about one session: it may serve every location
 * of the request that asks the same provider, API and app about the same
 * session (an error_page fallback), never another session
 */

struct ngx_http_yoti_idv_answer_s {
    ngx_http_request_t            *sr;          /* NULL: not asked yet */
    ngx_http_yoti_idv_loc_conf_t  *ylcf;        /* who asked, and how */
    ngx_str_t                      session_id;
    ngx_int_t                      status;
    ngx_str_t                      body;
    ngx_str_t                      error_type;  /* provider->error_header */
    ngx_http_yoti_idv_fetch_failure_e  failure;
    ngx_uint_t                     astray;      /* stopped on its way */
};


/* $yoti_idv_layer: who gave the verdict */
typedef enum {
    NGX_HTTP_YOTI_IDV_LAYER_NONE = 0,
    NGX_HTTP_YOTI_IDV_LAYER_ZONE,
    NGX_HTTP_YOTI_IDV_LAYER_REDIS,
    NGX_HTTP_YOTI_IDV_LAYER_PROVIDER
} ngx_http_yoti_idv_layer_e;


typedef enum {
    NGX_HTTP_YOTI_IDV_CACHE_NONE = 0,
    NGX_HTTP_YOTI_IDV_CACHE_BYPASS,
    NGX_HTTP_YOTI_IDV_CACHE_MISS,
    NGX_HTTP_YOTI_IDV_CACHE_HIT,
    NGX_HTTP_YOTI_IDV_CACHE_STALE,      /* the provider failed: expired */
    NGX_HTTP_YOTI_IDV_CACHE_UPDATING    /* a refresh runs in background */
} ngx_http_yoti_idv_cache_e;


/*
 * A zone operation: the handler says which entry, the zone answers.  A
 * wait ends with done(data), called once, from a timer: rc is then NGX_OK
 * (a verdict, in verdict/reason/session_id) or NGX_DECLINED (none came:
 * the request fetches on its own).
 */

typedef struct {
    ngx_http_yoti_idv_zone_t      *zone;
    ngx_str_t                      key;
    uint64_t                       hash[2];     /* the zone's, of the key */
    ngx_str_t                      user_id;     /* the entry's user */
    ngx_str_t                      session_id;  /* in: the one it must be
                                                   for, or empty; out: the
                                                   entry's, on the pool */
    ngx_pool_t                    *pool;
    ngx_log_t                     *log;

    ngx_int_t                      rc;
    ngx_yoti_idv_verdict_e         verdict;
    u_char                         reason[NGX_YOTI_IDV_REASON_LEN];
    size_t                         reason_len;

    void                         (*done)(void *data);
    void                          *data;

    ngx_event_t                    timer;
    ngx_msec_t                     since;
    ngx_msec_t                     poll;
    uint32_t                       gen;         /* the entry's, parked */
    uint32_t                       generation;  /* the zone's drops, at the take */
    uint64_t                       locked;      /* the entry's lock, at the take */

    /* in: yoti_idv_cache_use_stale, yoti_idv_cache_background_update */
    ngx_msec_t                     use_stale;   /* 0: off */
    unsigned                       background:1;

    unsigned                       owner:1;     /* fetching for the burst */

    /*
     * out: the verdict in op expired within the stale window (with
     * rc NGX_OK: background update answers from it; otherwise it is the
     * answer should the provider fail); refresh: this request owns the
     * entry's background refresh
     */
    unsigned                       stale:1;
    unsigned                       refresh:1;
} ngx_http_yoti_idv_shm_op_t;


/* ngx_http_yoti_idv_shm_invalidate(): every entry of a session or a user */
#define NGX_HTTP_YOTI_IDV_BY_SESSION  1
#define NGX_HTTP_YOTI_IDV_BY_USER     2


/* what yoti_idv_metrics shows of a cache zone */

typedef struct {
    ngx_uint_t                     entries;     /* in use */
    ngx_uint_t                     capacity;    /* entries it can hold */
    size_t                         used;        /* bytes */
    size_t                         size;        /* the zone's */
    uint64_t                       evictions;   /* of unexpired entries */
} ngx_http_yoti_idv_shm_stats_t;


/*
 * One circuit breaker, per provider API (the crc32 of yoti_idv_api), in
 * the zone's shared header or, without a zone, in each worker.
 */

#define NGX_HTTP_YOTI_IDV_BREAKERS        8
#define NGX_HTTP_YOTI_IDV_BREAKER_PROBE   1000  /* ms between probes */
#define NGX_HTTP_YOTI_IDV_BREAKER_MIN     3     /* failures to open */

typedef struct {
    uint32_t                       hash;
    ngx_uint_t                     used;
    ngx_uint_t                     open;
    ngx_uint_t                     failures;    /* in a row */
    ngx_msec_t                     failing;     /* since, the first one */
    ngx_msec_t                     probe;       /* the next probe, open */
} ngx_http_yoti_idv_breaker_t;


/*
 * A Redis lookup: MGET of nkeys keys (the mapping, the count of
 * invalidations, the verdict: each when used).  When it was sent, it ends with
 * done(data), called once: from the reply, a dropped connection or the
 * timeout; error is then NULL and values[] hold the values (data NULL:
 * nil), or error is the "redis:..." reason.  A waited command, see
 * ngx_http_yoti_idv_redis_eval(), has only values[0]: data NULL when
 * Redis answered nil, a copy in pool of a string it answered (XADD's id),
 * an empty string for anything else.
 */

typedef struct {
    ngx_str_t                      keys[3];
    ngx_uint_t                     nkeys;
    ngx_pool_t                    *pool;
    ngx_log_t                     *log;

    ngx_str_t                      values[3];
    const char                    *error;

    void                         (*done)(void *data);
    void                          *data;

    ngx_http_yoti_idv_redis_token_t  *token;
    ngx_event_t                    timer;
} ngx_http_yoti_idv_redis_op_t;


/*
 * Where a request is in the gate, see the top of the handler.  Everything
 * from "ylcf" to "result" was computed for that location's policy and
 * session source, and is computed anew for another location.
 */

typedef enum {
    NGX_HTTP_YOTI_IDV_IDS = 0,          /* the user and session are known */
    NGX_HTTP_YOTI_IDV_ZONE,             /* look in the zone */
    NGX_HTTP_YOTI_IDV_ZONE_WAIT,        /* parked on another's fetch */
    NGX_HTTP_YOTI_IDV_ZONE_WAITED,
    NGX_HTTP_YOTI_IDV_REDIS,            /* look in Redis */
    NGX_HTTP_YOTI_IDV_REDIS_WAIT,       /* parked on the MGET */
    NGX_HTTP_YOTI_IDV_REDIS_WAITED,
    NGX_HTTP_YOTI_IDV_FETCH,            /* ask the provider */
    NGX_HTTP_YOTI_IDV_LOCK_WAIT,        /* parked: a refresh's SET NX */
    NGX_HTTP_YOTI_IDV_LOCK_WAITED,
    NGX_HTTP_YOTI_IDV_FETCH_WAIT,       /* parked on the subrequest */
    NGX_HTTP_YOTI_IDV_EVALUATE,
    NGX_HTTP_YOTI_IDV_MEDIA,            /* ask for the document fields */
    NGX_HTTP_YOTI_IDV_MEDIA_WAIT,       /* parked on that subrequest */
    NGX_HTTP_YOTI_IDV_EVALUATED,        /* a verdict: cache it, log it */
    NGX_HTTP_YOTI_IDV_FINISHED
} ngx_http_yoti_idv_state_e;


typedef struct {
    ngx_http_request_t            *request;     /* the owner, see get_ctx() */
    ngx_http_yoti_idv_state_e      state;

    /* the policy and session source, and the ids as they evaluated */
    ngx_http_yoti_idv_loc_conf_t  *ylcf;
    ngx_str_t                      user_id;
    ngx_str_t                      var_session_id;  /* from the variable */
    ngx_str_t                      session_id;      /* the one asked for */

    /* "<fingerprint>:user:<user id>" or "<fingerprint>:session:<id>" */
    ngx_str_t                      cache_key;
    ngx_http_yoti_idv_cache_e      cache;
    ngx_http_yoti_idv_layer_e      layer;

    ngx_http_yoti_idv_shm_op_t     zone;
    ngx_http_yoti_idv_redis_op_t   redis;

    /* the count of invalidations the MGET read, see redis_put() */
    ngx_str_t                      invalidations;
    unsigned                       counted:1;

    ngx_yoti_idv_result_t          result;
    unsigned                       evaluated:1; /* from the provider's answer */
    unsigned                       fetched:1;   /* the breaker waits for it */

    /* a background refresh of the zone's entry, see refresh() */
    unsigned                       refresh:1;
    unsigned                       refreshed:1;
    unsigned                       locked:1;    /* its SET NX was tried */

    /*
     * yoti_idv_cache_use_stale: a verdict for this user, policy and
     * session that expired within the window, from the zone or Redis,
     * served only when the provider fails temporarily
     */
    unsigned                       stale:1;
    ngx_yoti_idv_verdict_e         stale_verdict;
    ngx_http_yoti_idv_layer_e      stale_layer;     /* which kept it */
    ngx_str_t                      stale_session_id;
    u_char                         stale_reason[NGX_YOTI_IDV_REASON_LEN];

    /* the one way out of ZONE_WAIT and REDIS_WAIT, see resume() */
    ngx_event_t                    wake;

    /* kept across locations, see ngx_http_yoti_idv_answer_t */
    ngx_http_yoti_idv_answer_t     answer;

    /*
     * the document fields for ctx->result.media_id: read once, by this
     * location, for this session, and wiped when read
     */
    ngx_http_yoti_idv_answer_t     media;
} ngx_http_yoti_idv_ctx_t;


ngx_http_yoti_idv_ctx_t *ngx_http_yoti_idv_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_rewrite_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_add_variables(ngx_conf_t *cf);

ngx_int_t ngx_http_yoti_idv_fetch(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_http_yoti_idv_answer_t *answer);
ngx_int_t ngx_http_yoti_idv_fetch_media(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_str_t *media_id, ngx_http_yoti_idv_answer_t *answer);
ngx_uint_t ngx_http_yoti_idv_is_fetch(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_fetch_guard(ngx_http_request_t *r);

ngx_int_t ngx_http_yoti_idv_add_api(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *conf);
ngx_int_t ngx_http_yoti_idv_check_apis(ngx_conf_t *cf);
ngx_int_t ngx_http_yoti_idv_watch_proxy(ngx_conf_t *cf);
void ngx_http_yoti_idv_unwatch_proxy(void);
const char *ngx_http_yoti_idv_proxy_fix(ngx_http_yoti_idv_psh_t *h);
void ngx_http_yoti_idv_merge_proxy(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *prev, ngx_http_yoti_idv_loc_conf_t *conf);
ngx_uint_t ngx_http_yoti_idv_is_refresh(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_add_header(ngx_http_yoti_idv_fetch_t *fetch,
    char *key, u_char *value, size_t len);

ngx_int_t ngx_http_yoti_idv_redis_lookup(ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_http_yoti_idv_redis_op_t *op);
void ngx_http_yoti_idv_redis_cancel(ngx_http_yoti_idv_redis_op_t *op);
void ngx_http_yoti_idv_redis_store(ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_log_t *log, ngx_str_t *key, ngx_str_t *value, time_t ttl);
void ngx_http_yoti_idv_redis_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_yoti_idv_redis_fire(ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_log_t *log, int argc, const char **argv, size_t *len);
ngx_int_t ngx_http_yoti_idv_redis_eval(ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_http_yoti_idv_redis_op_t *op, int argc, const char **argv,
    size_t *len);

char *ngx_http_yoti_idv_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

char *ngx_http_yoti_idv_provider(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yoti_idv_aws_region(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yoti_idv_aws_host(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yoti_idv_aws_credentials(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_yoti_idv_aws_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_yoti_idv_shm_lookup(ngx_http_yoti_idv_shm_op_t *op);
void ngx_http_yoti_idv_shm_store(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_verdict_e verdict, const char *reason,
    ngx_str_t *session_id, time_t valid, time_t stale);
ngx_http_yoti_idv_breaker_t *ngx_http_yoti_idv_shm_breakers(
    ngx_http_yoti_idv_zone_t *zone, ngx_shmtx_t **mutex);

ngx_uint_t ngx_http_yoti_idv_breaker_allow(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf);
void ngx_http_yoti_idv_breaker_result(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_uint_t failed);
void ngx_http_yoti_idv_shm_release(ngx_http_yoti_idv_shm_op_t *op);

/* what an invalidation names: a session id or a user (tracking) id */
#define NGX_HTTP_YOTI_IDV_BY_SESSION      1
#define NGX_HTTP_YOTI_IDV_BY_USER         2

ngx_uint_t ngx_http_yoti_idv_shm_invalidate(ngx_shm_zone_t *shm_zone,
    ngx_uint_t by, ngx_str_t *id);
void ngx_http_yoti_idv_shm_flush(ngx_shm_zone_t *shm_zone);

/*
 * the id of the events stream's entry up to which the zone took them:
 * kept in the zone, it outlives the workers that read it (a reload, a
 * worker that died), and their successors read on from there
 */
#define NGX_HTTP_YOTI_IDV_EVENT_ID_LEN    48

void ngx_http_yoti_idv_shm_events_set(ngx_shm_zone_t *shm_zone, u_char *id,
    size_t len);
size_t ngx_http_yoti_idv_shm_events_get(ngx_shm_zone_t *shm_zone, u_char *id);

/* the last entries a notification applied to the zone itself */
#define NGX_HTTP_YOTI_IDV_APPLIED         8

void ngx_http_yoti_idv_shm_applied_add(ngx_shm_zone_t *shm_zone,
    ngx_str_t *id);
ngx_uint_t ngx_http_yoti_idv_shm_applied(ngx_shm_zone_t *shm_zone,
    u_char *id, size_t len);
ngx_uint_t ngx_http_yoti_idv_shm_invalidated(ngx_http_yoti_idv_shm_op_t *op,
    ngx_str_t *session_id);

char *ngx_http_yoti_idv_notifications(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_uint_t ngx_http_yoti_idv_notify_marks(ngx_http_yoti_idv_main_conf_t *ymcf);
ngx_int_t ngx_http_yoti_idv_notify_count_key(
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_pool_t *pool, ngx_str_t *key);
void ngx_http_yoti_idv_notify_store(ngx_http_yoti_idv_main_conf_t *ymcf,
    ngx_log_t *log, ngx_str_t *verdict_key, ngx_str_t *value, time_t ttl,
    ngx_str_t *count, ngx_str_t *session_id, ngx_str_t *user_id);
ngx_int_t ngx_http_yoti_idv_events_init_process(ngx_cycle_t *cycle);
void ngx_http_yoti_idv_events_exit_process(ngx_cycle_t *cycle);
ngx_shm_zone_t *ngx_http_yoti_idv_events_zone(void);


void ngx_http_yoti_idv_shm_stats(ngx_shm_zone_t *shm_zone,
    ngx_http_yoti_idv_shm_stats_t *st);


char *ngx_http_yoti_idv_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_yoti_idv_metrics_buckets(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_yoti_idv_metrics_merge(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *ylcf);
ngx_int_t ngx_http_yoti_idv_metrics_init(ngx_conf_t *cf);
ngx_int_t ngx_http_yoti_idv_metrics_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_yoti_idv_metrics_notifications(ngx_conf_t *cf);
void ngx_http_yoti_idv_metric_verdict(ngx_http_yoti_idv_ctx_t *ctx);
void ngx_http_yoti_idv_metric_fetch(ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_answer_t *a);


extern ngx_module_t                        ngx_http_yoti_idv_module;
extern const ngx_http_yoti_idv_provider_t  ngx_http_yoti_idv_provider_yoti;
extern const ngx_http_yoti_idv_provider_t  ngx_http_yoti_idv_provider_aws;



/* equal strings; nginx's empty string may have a NULL data pointer */

static ngx_inline ngx_uint_t
ngx_http_yoti_idv_str_eq(ngx_str_t *one, ngx_str_t *two)
{
    return one->len == two->len
           && (one->len == 0
               || ngx_memcmp(one->data, two->data, one->len) == 0);
}


#endif /* _NGX_HTTP_YOTI_IDV_MODULE_H_INCLUDED_ */
