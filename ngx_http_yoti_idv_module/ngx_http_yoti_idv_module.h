
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


#define NGX_HTTP_YOTI_IDV_VERSION      "0.1.0"
#define NGX_HTTP_YOTI_IDV_SDK          "Nginx"
#define NGX_HTTP_YOTI_IDV_SDK_VERSION  "Nginx-" NGX_HTTP_YOTI_IDV_VERSION


typedef struct ngx_http_yoti_idv_provider_s  ngx_http_yoti_idv_provider_t;


typedef struct {
    ngx_flag_t                     enable;
    ngx_flag_t                     bind_user;

    ngx_str_t                      sdk_id;      /* as sent: URI-escaped */
    ngx_str_t                      api;         /* no trailing slash */
    EVP_PKEY                      *key;

    ngx_http_complex_value_t      *user_id;
    ngx_http_complex_value_t      *session_id;

    ngx_array_t                   *requires;    /* ngx_yoti_idv_req_t */

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


typedef struct {
    ngx_http_request_t            *request;     /* the owner, see get_ctx() */

    ngx_str_t                      user_id;
    ngx_str_t                      session_id;

    /* the provider's answer, kept for the whole request */
    ngx_int_t                      status;
    ngx_str_t                      body;
    ngx_http_yoti_idv_fetch_failure_e  failure;

    /* the verdict for ylcf */
    ngx_http_yoti_idv_loc_conf_t  *ylcf;
    ngx_yoti_idv_result_t          result;

    unsigned                       fetching:1;
    unsigned                       fetched:1;
    unsigned                       done:1;
} ngx_http_yoti_idv_ctx_t;


ngx_http_yoti_idv_ctx_t *ngx_http_yoti_idv_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_fetch(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_ctx_t *ctx);
ngx_int_t ngx_http_yoti_idv_add_variables(ngx_conf_t *cf);


extern ngx_module_t                        ngx_http_yoti_idv_module;
extern const ngx_http_yoti_idv_provider_t  ngx_http_yoti_idv_provider_yoti;
extern ngx_http_yoti_idv_ctx_t             ngx_http_yoti_idv_fetch_marker;


#endif /* _NGX_HTTP_YOTI_IDV_MODULE_H_INCLUDED_ */
