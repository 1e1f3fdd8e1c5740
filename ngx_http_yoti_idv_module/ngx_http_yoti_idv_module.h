
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


#define NGX_HTTP_YOTI_IDV_VERSION      "0.2.0"
#define NGX_HTTP_YOTI_IDV_SDK          "Nginx"
#define NGX_HTTP_YOTI_IDV_SDK_VERSION  "Nginx-" NGX_HTTP_YOTI_IDV_VERSION


typedef struct ngx_http_yoti_idv_provider_s  ngx_http_yoti_idv_provider_t;
typedef struct ngx_http_yoti_idv_redis_token_s  ngx_http_yoti_idv_redis_token_t;
typedef struct ngx_http_yoti_idv_zone_s  ngx_http_yoti_idv_zone_t;


/* yoti_idv_cache_valid, by verdict */
#define NGX_HTTP_YOTI_IDV_VALID_ALLOW     0
#define NGX_HTTP_YOTI_IDV_VALID_DENY      1
#define NGX_HTTP_YOTI_IDV_VALID_PENDING   2
#define NGX_HTTP_YOTI_IDV_VALID_N         3

#define NGX_HTTP_YOTI_IDV_FP_LEN          16


typedef struct {
    ngx_str_t                      name;        /* as configured, for logs */
    ngx_str_t                      host;        /* IP or unix path, NUL */
    int                            port;        /* 0: unix socket */
    ngx_uint_t                     db;
    ngx_str_t                      password;
    ngx_msec_t                     connect_timeout;
    ngx_msec_t                     timeout;
} ngx_http_yoti_idv_redis_conf_t;


typedef struct {
    ngx_http_yoti_idv_zone_t        *zone;      /* NULL: no zone */
    ngx_http_yoti_idv_redis_conf_t  *redis;     /* NULL: no Redis */
    ngx_str_t                        prefix;
    time_t                           valid[NGX_HTTP_YOTI_IDV_VALID_N];
} ngx_http_yoti_idv_main_conf_t;


typedef struct {
    ngx_flag_t                     enable;
    ngx_flag_t                     bind_user;

    ngx_str_t                      sdk_id;      /* as sent: URI-escaped */
    ngx_str_t                      api;         /* no trailing slash */
    EVP_PKEY                      *key;

    ngx_http_complex_value_t      *user_id;
    ngx_http_complex_value_t      *session_id;

    ngx_array_t                   *requires;    /* ngx_yoti_idv_req_t */

    /* the policy's fingerprint in cache keys, see merge_loc_conf() */
    u_char                         fingerprint[NGX_HTTP_YOTI_IDV_FP_LEN];

    ngx_uint_t                     pending_status;
    ngx_uint_t                     error_status;

    const ngx_http_yoti_idv_provider_t  *provider;
} ngx_http_yoti_idv_loc_conf_t;


/* what the subrequest to the provider carries */

typedef struct {
    ngx_str_t                      uri;
    ngx_str_t                      args;
    ngx_array_t                    headers;     /* ngx_keyval_t */
} ngx_http_yoti_idv_fetch_t;


struct ngx_http_yoti_idv_provider_s {
    ngx_str_t                      name;

    ngx_int_t                    (*create_request)(ngx_http_request_t *r,
        ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
        ngx_http_yoti_idv_fetch_t *fetch);

    void                         (*evaluate)(int status, const char *body,
        size_t len, const ngx_yoti_idv_policy_t *policy,
        ngx_yoti_idv_result_t *res);
};


typedef enum {
    NGX_HTTP_YOTI_IDV_FETCH_OK = 0,
    NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG,
    NGX_HTTP_YOTI_IDV_FETCH_TRUNCATED,
    NGX_HTTP_YOTI_IDV_FETCH_FAILED
} ngx_http_yoti_idv_fetch_failure_e;


typedef enum {
    NGX_HTTP_YOTI_IDV_CACHE_NONE = 0,
    NGX_HTTP_YOTI_IDV_CACHE_BYPASS,
    NGX_HTTP_YOTI_IDV_CACHE_MISS,
    NGX_HTTP_YOTI_IDV_CACHE_HIT
} ngx_http_yoti_idv_cache_e;


typedef struct {
    ngx_http_request_t            *request;     /* the owner, see get_ctx() */

    ngx_str_t                      user_id;
    ngx_str_t                      var_session_id;  /* from the variable */
    ngx_str_t                      session_id;      /* the one asked for */

    /* "<fingerprint>:user:<user id>" or "<fingerprint>:session:<id>" */
    ngx_str_t                      cache_key;
    uint32_t                       cache_hash;

    /* the shared-memory zone: a verdict, or the burst's one fetch */
    ngx_http_yoti_idv_loc_conf_t  *shm_ylcf;
    ngx_http_yoti_idv_zone_t      *zone;
    ngx_event_t                    shm_timer;
    ngx_msec_t                     shm_since;
    ngx_msec_t                     shm_poll;

    /* the Redis lookup: mapping and cached verdict in one round trip */
    ngx_http_yoti_idv_loc_conf_t  *lookup_ylcf;
    ngx_http_yoti_idv_redis_token_t  *token;
    ngx_event_t                    redis_timer;
    ngx_event_t                    redis_wake;
    ngx_str_t                      mapping;     /* the mapping's value */
    ngx_str_t                      cached;      /* the cached verdict */
    const char                    *redis_error; /* "redis:..." reason */
    ngx_http_yoti_idv_cache_e      cache;

    /* the provider's answer, kept for the whole request */
    ngx_int_t                      status;
    ngx_str_t                      body;
    ngx_http_yoti_idv_fetch_failure_e  failure;

    /* the verdict for ylcf */
    ngx_http_yoti_idv_loc_conf_t  *ylcf;
    ngx_yoti_idv_result_t          result;

    unsigned                       shm_owner:1;
    unsigned                       shm_waiting:1;
    unsigned                       shm_hit:1;
    unsigned                       looking_up:1;
    unsigned                       has_mapping:1;
    unsigned                       fetching:1;
    unsigned                       fetched:1;
    unsigned                       done:1;
} ngx_http_yoti_idv_ctx_t;


ngx_http_yoti_idv_ctx_t *ngx_http_yoti_idv_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_fetch(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_ctx_t *ctx);
ngx_int_t ngx_http_yoti_idv_add_variables(ngx_conf_t *cf);

ngx_int_t ngx_http_yoti_idv_redis_lookup(ngx_http_request_t *r,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_ctx_t *ctx);
void ngx_http_yoti_idv_redis_store(ngx_http_request_t *r,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_ctx_t *ctx);
void ngx_http_yoti_idv_redis_detach(ngx_http_yoti_idv_ctx_t *ctx);
void ngx_http_yoti_idv_redis_exit_process(ngx_cycle_t *cycle);

char *ngx_http_yoti_idv_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_yoti_idv_shm_lookup(ngx_http_request_t *r,
    ngx_http_yoti_idv_zone_t *zone, ngx_http_yoti_idv_ctx_t *ctx);
void ngx_http_yoti_idv_shm_store(ngx_http_request_t *r,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_ctx_t *ctx);
void ngx_http_yoti_idv_shm_release(ngx_http_yoti_idv_ctx_t *ctx);


extern ngx_module_t                        ngx_http_yoti_idv_module;
extern const ngx_http_yoti_idv_provider_t  ngx_http_yoti_idv_provider_yoti;
extern ngx_http_yoti_idv_ctx_t             ngx_http_yoti_idv_fetch_marker;


#endif /* _NGX_HTTP_YOTI_IDV_MODULE_H_INCLUDED_ */
