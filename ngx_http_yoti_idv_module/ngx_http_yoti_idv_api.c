
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_sign.h"


static ngx_int_t ngx_http_yoti_idv_yoti_create_request(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_http_yoti_idv_fetch_t *fetch);
static ngx_int_t ngx_http_yoti_idv_add_header(ngx_http_yoti_idv_fetch_t *fetch,
    char *key, u_char *value, size_t len);
static ngx_int_t ngx_http_yoti_idv_set_headers_in(ngx_http_request_t *sr,
    ngx_http_yoti_idv_fetch_t *fetch);
static ngx_int_t ngx_http_yoti_idv_fetch_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);


const ngx_http_yoti_idv_provider_t  ngx_http_yoti_idv_provider_yoti = {
    ngx_string("yoti"),
    ngx_http_yoti_idv_yoti_create_request,
    ngx_yoti_idv_eval_response
};


/*
 * GET <api>/sessions/<id>?sdkId=<sdk id>&nonce=<uuid4>&timestamp=<ms>,
 * signed over "GET&/sessions/<id>?<the same arguments>"
 */

static ngx_int_t
ngx_http_yoti_idv_yoti_create_request(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_http_yoti_idv_fetch_t *fetch)
{
    int          n;
    u_char      *p, *msg, *digest;
    size_t       len;
    ngx_time_t  *tp;
    char         nonce[36];

    static ngx_str_t  sessions = ngx_string("/sessions/");

    if (ngx_yoti_idv_uuid4(nonce) != 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "yoti_idv: no random bytes for a nonce");
        return NGX_ERROR;
    }

    tp = ngx_timeofday();

    /* "GET&" + path + "?" + args: the args point into it */

    len = sizeof("GET&") - 1 + ylcf->api.len + sessions.len + session_id->len
          + sizeof("?sdkId=") - 1 + ylcf->sdk_id.len
          + sizeof("&nonce=") - 1 + sizeof(nonce)
          + sizeof("&timestamp=") - 1 + NGX_TIME_T_LEN + 3;

    msg = ngx_pnalloc(r->pool, len);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(msg, "GET&", sizeof("GET&") - 1);
    p = ngx_cpymem(p, sessions.data, sessions.len);
    p = ngx_cpymem(p, session_id->data, session_id->len);

    fetch->args.data = p + 1;
    p = ngx_sprintf(p, "?sdkId=%V&nonce=%*s&timestamp=%T%03M",
                    &ylcf->sdk_id, sizeof(nonce), nonce,
                    tp->sec, tp->msec);

    fetch->args.len = p - fetch->args.data;

    /* the signed path is relative to the API base, the uri is not */

    fetch->uri.len = sessions.len + session_id->len + ylcf->api.len;
    fetch->uri.data = ngx_pnalloc(r->pool, fetch->uri.len);
    if (fetch->uri.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(fetch->uri.data, ylcf->api.data, ylcf->api.len),
               msg + sizeof("GET&") - 1, sessions.len + session_id->len);

    digest = ngx_pnalloc(r->pool, ngx_yoti_idv_digest_len(ylcf->key));
    if (digest == NULL) {
        return NGX_ERROR;
    }

    n = ngx_yoti_idv_sign(ylcf->key, msg, p - msg, (char *) digest,
                          ngx_yoti_idv_digest_len(ylcf->key));
    if (n < 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "yoti_idv: signing the request failed");
        return NGX_ERROR;
    }

    if (ngx_array_init(&fetch->headers, r->pool, 4, sizeof(ngx_keyval_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_yoti_idv_add_header(fetch, "X-Yoti-Auth-Digest", digest, n)
        != NGX_OK
        || ngx_http_yoti_idv_add_header(fetch, "X-Yoti-SDK",
                                        (u_char *) NGX_HTTP_YOTI_IDV_SDK,
                                        sizeof(NGX_HTTP_YOTI_IDV_SDK) - 1)
           != NGX_OK
        || ngx_http_yoti_idv_add_header(fetch, "X-Yoti-SDK-Version",
                                     (u_char *) NGX_HTTP_YOTI_IDV_SDK_VERSION,
                                     sizeof(NGX_HTTP_YOTI_IDV_SDK_VERSION) - 1)
           != NGX_OK
        || ngx_http_yoti_idv_add_header(fetch, "Accept",
                                        (u_char *) "application/json",
                                        sizeof("application/json") - 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_yoti_idv_add_header(ngx_http_yoti_idv_fetch_t *fetch, char *key,
    u_char *value, size_t len)
{
    ngx_keyval_t  *kv;

    kv = ngx_array_push(&fetch->headers);
    if (kv == NULL) {
        return NGX_ERROR;
    }

    kv->key.data = (u_char *) key;
    kv->key.len = ngx_strlen(key);
    kv->value.data = value;
    kv->value.len = len;

    return NGX_OK;
}


ngx_int_t
ngx_http_yoti_idv_fetch(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_http_request_t          *sr;
    ngx_http_yoti_idv_fetch_t    fetch;
    ngx_http_post_subrequest_t  *ps;

    if (ylcf->provider->create_request(r, ylcf, &ctx->session_id, &fetch)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_yoti_idv_fetch_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &fetch.uri, &fetch.args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED
                            |NGX_HTTP_SUBREQUEST_IN_MEMORY)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * nothing the client sent reaches the provider, whatever the internal
     * location says: the subrequest gets headers of its own and an empty
     * body (which also keeps the upstream from reading the client's one)
     */

    if (ngx_http_yoti_idv_set_headers_in(sr, &fetch) != NGX_OK) {
        return NGX_ERROR;
    }

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(sr, &ngx_http_yoti_idv_fetch_marker,
                     ngx_http_yoti_idv_module);

    ctx->fetching = 1;
    ctx->failure = NGX_HTTP_YOTI_IDV_FETCH_OK;
    ctx->status = 0;
    ngx_str_null(&ctx->body);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yoti_idv fetch \"%V?%V\"", &fetch.uri, &fetch.args);

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_yoti_idv_set_headers_in(ngx_http_request_t *sr,
    ngx_http_yoti_idv_fetch_t *fetch)
{
    ngx_uint_t        i;
    ngx_keyval_t     *kv;
    ngx_table_elt_t  *h;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    if (ngx_list_init(&sr->headers_in.headers, sr->pool, fetch->headers.nelts,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (nginx_version < 1023000)

    /*
     * before 1.23.0, cookies and x_forwarded_for were arrays that other
     * modules push to; since then they are lists of ngx_table_elt_t
     * linked by "next", and NULL, as zeroed above, is an empty list
     */

    if (ngx_array_init(&sr->headers_in.cookies, sr->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (NGX_HTTP_X_FORWARDED_FOR)
    if (ngx_array_init(&sr->headers_in.x_forwarded_for, sr->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }
#endif

#endif

    kv = fetch->headers.elts;

    for (i = 0; i < fetch->headers.nelts; i++) {

        h = ngx_list_push(&sr->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->key = kv[i].key;
        h->value = kv[i].value;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        h->lowcase_key = ngx_pnalloc(sr->pool, h->key.len);
        if (h->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_yoti_idv_fetch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_yoti_idv_ctx_t  *ctx = data;

    ngx_buf_t                 *b;
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;

    c = sr->connection;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "yoti_idv fetch done s:%ui rc:%i c->error:%ui",
                   sr->headers_out.status, rc, (ngx_uint_t) c->error);

    /* may be called again, e.g. once with 502 and once for its error page */

    ctx->fetching = 0;
    ctx->fetched = 1;
    ctx->failure = NGX_HTTP_YOTI_IDV_FETCH_OK;

    ctx->status = (rc >= NGX_HTTP_SPECIAL_RESPONSE)
                  ? rc : (ngx_int_t) sr->headers_out.status;

    b = sr->out ? sr->out->buf : NULL;

    if (b) {
        ctx->body.data = b->pos;
        ctx->body.len = b->last - b->pos;

    } else {
        ngx_str_null(&ctx->body);
    }

    clcf = ngx_http_get_module_loc_conf(sr, ngx_http_core_module);

    if (sr->headers_out.content_length_n
        > (off_t) clcf->subrequest_output_buffer_size
        || ((rc == NGX_ERROR || c->error) && b && b->last == b->end))
    {
        ctx->failure = NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG;

    } else if (ctx->status >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* the status says it all, the body is only for the log */

    } else if (rc == NGX_ERROR || c->error) {
        ctx->failure = NGX_HTTP_YOTI_IDV_FETCH_FAILED;

    } else if (sr->headers_out.content_length_n >= 0
               && (off_t) ctx->body.len != sr->headers_out.content_length_n)
    {
        /* the provider closed the connection in the middle of the body */
        ctx->failure = NGX_HTTP_YOTI_IDV_FETCH_TRUNCATED;
    }

    if (ctx->status >= NGX_HTTP_SPECIAL_RESPONSE
        && ctx->failure == NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG)
    {
        /* an error status with a large page: the status is enough */
        ctx->failure = NGX_HTTP_YOTI_IDV_FETCH_OK;
        ngx_str_null(&ctx->body);

        if (!c->read->error && !c->write->error && !c->read->eof) {
            c->error = 0;
        }

        return (rc == NGX_ERROR) ? NGX_OK : rc;
    }

    if (ctx->failure == NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG
        && !c->read->error && !c->write->error && !c->read->eof)
    {
        /*
         * the in-memory buffer's NGX_ERROR went through
         * ngx_http_output_filter(), which marks the client connection
         * as broken; it is not, and the request can still be answered
         */

        c->error = 0;
    }

    if (ctx->failure != NGX_HTTP_YOTI_IDV_FETCH_OK) {

        /*
         * the subrequest failed, not the request: the request goes on to
         * its verdict (a broken client connection still terminates it,
         * ngx_http_finalize_request() checks c->error)
         */

        return NGX_OK;
    }

    return rc;
}
