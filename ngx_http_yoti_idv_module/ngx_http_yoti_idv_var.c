
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include "ngx_http_yoti_idv_module.h"


static ngx_int_t ngx_http_yoti_idv_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define NGX_HTTP_YOTI_IDV_VAR_VERDICT     0
#define NGX_HTTP_YOTI_IDV_VAR_REASON      1
#define NGX_HTTP_YOTI_IDV_VAR_SESSION_ID  2
#define NGX_HTTP_YOTI_IDV_VAR_CACHE       3


static ngx_http_variable_t  ngx_http_yoti_idv_vars[] = {

    { ngx_string("yoti_idv_verdict"), NULL, ngx_http_yoti_idv_variable,
      NGX_HTTP_YOTI_IDV_VAR_VERDICT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yoti_idv_reason"), NULL, ngx_http_yoti_idv_variable,
      NGX_HTTP_YOTI_IDV_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yoti_idv_session_id"), NULL, ngx_http_yoti_idv_variable,
      NGX_HTTP_YOTI_IDV_VAR_SESSION_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("yoti_idv_cache"), NULL, ngx_http_yoti_idv_variable,
      NGX_HTTP_YOTI_IDV_VAR_CACHE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_yoti_idv_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_yoti_idv_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_yoti_idv_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char               *s;
    ngx_http_yoti_idv_ctx_t  *ctx;

    static const char        *cache[] = { NULL, "BYPASS", "MISS", "HIT",
                                          "STALE", "UPDATING" };

    ctx = ngx_http_yoti_idv_get_ctx(r);

    if (ctx == NULL || ctx->state != NGX_HTTP_YOTI_IDV_FINISHED) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_YOTI_IDV_VAR_VERDICT:
        s = ngx_yoti_idv_verdict_name(ctx->result.verdict);
        v->data = (u_char *) s;
        v->len = ngx_strlen(s);
        break;

    case NGX_HTTP_YOTI_IDV_VAR_REASON:
        v->data = (u_char *) ctx->result.reason;
        v->len = ngx_strlen(ctx->result.reason);
        break;

    case NGX_HTTP_YOTI_IDV_VAR_CACHE:

        if (cache[ctx->cache] == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = (u_char *) cache[ctx->cache];
        v->len = ngx_strlen(cache[ctx->cache]);
        break;

    default: /* NGX_HTTP_YOTI_IDV_VAR_SESSION_ID */

        if (ctx->session_id.len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = ctx->session_id.data;
        v->len = ctx->session_id.len;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
