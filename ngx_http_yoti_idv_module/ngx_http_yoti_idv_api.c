
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_sign.h"


static ngx_int_t ngx_http_yoti_idv_yoti_create_request(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_http_yoti_idv_fetch_t *fetch);
static ngx_int_t ngx_http_yoti_idv_yoti_sign(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *path,
    ngx_http_yoti_idv_fetch_t *fetch);
static ngx_int_t ngx_http_yoti_idv_subrequest(ngx_http_request_t *r,
    ngx_http_yoti_idv_fetch_t *fetch, ngx_http_yoti_idv_answer_t *answer);
static ngx_uint_t ngx_http_yoti_idv_yoti_same_request(
    ngx_http_yoti_idv_loc_conf_t *one, ngx_http_yoti_idv_loc_conf_t *two);
static void ngx_http_yoti_idv_yoti_evaluate(ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_answer_t *a, const ngx_yoti_idv_policy_t *policy,
    ngx_yoti_idv_result_t *res);
static char *ngx_http_yoti_idv_yoti_check_conf(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *conf);
static ngx_int_t ngx_http_yoti_idv_set_body(ngx_http_request_t *sr,
    ngx_http_yoti_idv_fetch_t *fetch);
static void ngx_http_yoti_idv_error_header(ngx_http_request_t *sr,
    ngx_http_yoti_idv_answer_t *a);
static ngx_int_t ngx_http_yoti_idv_set_headers_in(ngx_http_request_t *sr,
    ngx_http_yoti_idv_fetch_t *fetch);
static ngx_int_t ngx_http_yoti_idv_fetch_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_uint_t ngx_http_yoti_idv_fetch_cut(ngx_http_request_t *sr,
    ngx_http_yoti_idv_answer_t *a);


const ngx_http_yoti_idv_provider_t  ngx_http_yoti_idv_provider_yoti = {
    ngx_string("yoti"),
    ngx_null_string,
    "1 to 64 of A-Z, a-z, 0-9 and \"-\"",
    ngx_yoti_idv_valid_session_id,
    ngx_http_yoti_idv_yoti_create_request,
    ngx_http_yoti_idv_yoti_same_request,
    ngx_http_yoti_idv_yoti_evaluate,
    ngx_http_yoti_idv_yoti_check_conf
};


/* GET <api>/sessions/<id>, see yoti_sign() */

static ngx_int_t
ngx_http_yoti_idv_yoti_create_request(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_http_yoti_idv_fetch_t *fetch)
{
    ngx_str_t  path;

    path.len = sizeof("/sessions/") - 1 + session_id->len;
    path.data = ngx_pnalloc(r->pool, path.len);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(path.data, "/sessions/", sizeof("/sessions/") - 1),
               session_id->data, session_id->len);

    return ngx_http_yoti_idv_yoti_sign(r, ylcf, &path, fetch);
}


/*
 * GET <api><path>?sdkId=<sdk id>&nonce=<uuid4>&timestamp=<ms>, signed
 * over "GET&<path>?<the same arguments>"; the path is relative to the
 * API base
 */

static ngx_int_t
ngx_http_yoti_idv_yoti_sign(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *path,
    ngx_http_yoti_idv_fetch_t *fetch)
{
    int          n;
    u_char      *p, *msg, *digest;
    size_t       len;
    ngx_time_t  *tp;
    char         nonce[36];

    if (ngx_yoti_idv_uuid4(nonce) != 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "yoti_idv: no random bytes for a nonce");
        return NGX_ERROR;
    }

    tp = ngx_timeofday();

    fetch->method = NGX_HTTP_GET;
    ngx_str_set(&fetch->method_name, "GET");
    ngx_str_null(&fetch->body);

    /* "GET&" + path + "?" + args: the args point into it */

    len = sizeof("GET&") - 1 + path->len
          + sizeof("?sdkId=") - 1 + ylcf->sdk_id.len
          + sizeof("&nonce=") - 1 + sizeof(nonce)
          + sizeof("&timestamp=") - 1 + NGX_TIME_T_LEN + 3;

    msg = ngx_pnalloc(r->pool, len);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(msg, "GET&", sizeof("GET&") - 1);
    p = ngx_cpymem(p, path->data, path->len);

    fetch->args.data = p + 1;
    p = ngx_sprintf(p, "?sdkId=%V&nonce=%*s&timestamp=%T%03M",
                    &ylcf->sdk_id, sizeof(nonce), nonce,
                    tp->sec, tp->msec);

    fetch->args.len = p - fetch->args.data;

    /* the signed path is relative to the API base, the uri is not */

    fetch->uri.len = ylcf->api.len + path->len;
    fetch->uri.data = ngx_pnalloc(r->pool, fetch->uri.len);
    if (fetch->uri.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(fetch->uri.data, ylcf->api.data, ylcf->api.len),
               path->data, path->len);

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


static ngx_uint_t
ngx_http_yoti_idv_yoti_same_request(ngx_http_yoti_idv_loc_conf_t *one,
    ngx_http_yoti_idv_loc_conf_t *two)
{
    return one->key == two->key
           && ngx_http_yoti_idv_str_eq(&one->api, &two->api)
           && ngx_http_yoti_idv_str_eq(&one->sdk_id, &two->sdk_id);
}


static void
ngx_http_yoti_idv_yoti_evaluate(ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_answer_t *a, const ngx_yoti_idv_policy_t *policy,
    ngx_yoti_idv_result_t *res)
{
    size_t                     n;
    u_char                    *p;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_yoti_idv_eval_response(a->status, (const char *) a->body.data,
                               a->body.len, policy, res);

    /* a 404 that is not the provider's: name where it came from */

    if (a->status == NGX_HTTP_NOT_FOUND && res->verdict == NGX_YOTI_IDV_ERROR
        && a->sr)
    {
        clcf = ngx_http_get_module_loc_conf(a->sr, ngx_http_core_module);

        n = ngx_strlen(res->detail);

        p = ngx_snprintf((u_char *) res->detail + n,
                         sizeof(res->detail) - 1 - n,
                         " (API location \"%V\", \"yoti_idv_api %V\")",
                         &clcf->name, &ylcf->api);
        *p = '\0';
    }
}


static char *
ngx_http_yoti_idv_yoti_check_conf(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *conf)
{
    if (conf->sdk_id.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv\" is on but \"yoti_idv_sdk_id\" "
                           "is not set");
        return NGX_CONF_ERROR;
    }

    if (conf->key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv\" is on but \"yoti_idv_pem_key\" "
                           "is not set");
        return NGX_CONF_ERROR;
    }

    if (conf->min_confidence != NGX_CONF_UNSET) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"min_confidence=\" of \"yoti_idv_require\" "
                           "is for \"yoti_idv_provider aws_rekognition\" "
                           "only");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
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


/* NGX_OK: the subrequest runs, nginx resumes r when it is done */

ngx_int_t
ngx_http_yoti_idv_fetch(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_http_yoti_idv_answer_t *answer)
{
    ngx_http_yoti_idv_fetch_t  fetch;

    if (ylcf->provider->create_request(r, ylcf, session_id, &fetch)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_yoti_idv_subrequest(r, &fetch, answer) != NGX_OK) {
        return NGX_ERROR;
    }

    answer->ylcf = ylcf;
    answer->session_id = *session_id;

    return NGX_OK;
}


/*
 * the document fields of a session: GET <api>/sessions/<id>/media/<media
 * id>/content, signed as the session is.  Yoti's API only: the age
 * requirement is refused at merge time for any other provider.
 */

ngx_int_t
ngx_http_yoti_idv_fetch_media(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_str_t *media_id, ngx_http_yoti_idv_answer_t *answer)
{
    u_char                     *p;
    ngx_str_t                   path;
    ngx_http_yoti_idv_fetch_t   fetch;

    path.len = sizeof("/sessions/") - 1 + session_id->len
               + sizeof("/media/") - 1 + media_id->len
               + sizeof("/content") - 1;
    path.data = ngx_pnalloc(r->pool, path.len);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(path.data, "/sessions/", sizeof("/sessions/") - 1);
    p = ngx_cpymem(p, session_id->data, session_id->len);
    p = ngx_cpymem(p, "/media/", sizeof("/media/") - 1);
    p = ngx_cpymem(p, media_id->data, media_id->len);
    ngx_memcpy(p, "/content", sizeof("/content") - 1);

    if (ngx_http_yoti_idv_yoti_sign(r, ylcf, &path, &fetch) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_yoti_idv_subrequest(r, &fetch, answer) != NGX_OK) {
        return NGX_ERROR;
    }

    answer->ylcf = ylcf;
    answer->session_id = *session_id;

    return NGX_OK;
}


static ngx_int_t
ngx_http_yoti_idv_subrequest(ngx_http_request_t *r,
    ngx_http_yoti_idv_fetch_t *fetch, ngx_http_yoti_idv_answer_t *answer)
{
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_yoti_idv_fetch_done;
    ps->data = answer;

    /*
     * a background refresh's fetch is a background subrequest too (one
     * under its parent's output would never let the parent end), and
     * wakes the parent itself, see fetch_done()
     */

    if (ngx_http_subrequest(r, &fetch->uri, &fetch->args, &sr, ps,
                            (ngx_http_yoti_idv_is_refresh(r)
                             ? NGX_HTTP_SUBREQUEST_BACKGROUND
                             : NGX_HTTP_SUBREQUEST_WAITED)
                            |NGX_HTTP_SUBREQUEST_IN_MEMORY)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * nothing the client sent reaches the provider, whatever the internal
     * location says: the subrequest gets a method, headers and a body of
     * its own, an empty one for a GET (which also keeps the upstream from
     * reading the client's one)
     */

    sr->method = fetch->method;
    sr->method_name = fetch->method_name;

    if (ngx_http_yoti_idv_set_headers_in(sr, fetch) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_yoti_idv_set_body(sr, fetch) != NGX_OK) {
        return NGX_ERROR;
    }

    answer->sr = sr;
    answer->status = 0;
    ngx_str_null(&answer->body);
    ngx_str_null(&answer->error_type);
    answer->failure = NGX_HTTP_YOTI_IDV_FETCH_OK;
    answer->astray = 0;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yoti_idv fetch %V \"%V?%V\"", &fetch->method_name,
                   &fetch->uri, &fetch->args);

    return NGX_OK;
}


/*
 * the module's own subrequests, and what they lead to, are never gated:
 * known by their post-subrequest handler, which an internal redirect or
 * error_page in the API location keeps
 */

ngx_uint_t
ngx_http_yoti_idv_is_fetch(ngx_http_request_t *r)
{
    for ( /* void */ ; r != r->main; r = r->parent) {
        if (r->post_subrequest
            && r->post_subrequest->handler == ngx_http_yoti_idv_fetch_done)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * What nginx -t cannot see: a "rewrite", "error_page" or "try_files" that
 * takes the signed request out of the API location, to a location that
 * is not internal (the application's), or that sends the provider headers
 * of the client's ("proxy_set_header" of its own or inherited, see
 * api_conf.c).  The module's rewrite handler runs in every location the
 * signed request enters, before any content handler: the request is
 * stopped there, nothing is sent, and the fetch fails closed with an error
 * line (at most one a second) that says what to fix.
 */

ngx_int_t
ngx_http_yoti_idv_fetch_guard(ngx_http_request_t *r)
{
    ngx_http_yoti_idv_psh_t       *h;
    ngx_http_yoti_idv_answer_t    *a;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_yoti_idv_loc_conf_t  *ylcf;

    static ngx_msec_t              logged;

    if (r->post_subrequest == NULL
        || r->post_subrequest->handler != ngx_http_yoti_idv_fetch_done)
    {
        return NGX_DECLINED;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    ylcf = ngx_http_get_module_loc_conf(r, ngx_http_yoti_idv_module);

    /* a location that does not proxy ("return", an error page) sends none */
    h = clcf->handler ? ylcf->proxy_foreign : NULL;

    if ((clcf->internal || clcf->named) && h == NULL) {
        return NGX_DECLINED;
    }

    a = r->post_subrequest->data;
    a->astray = 1;

    if (logged && (ngx_msec_int_t) (ngx_current_msec - logged) < 1000) {
        return NGX_HTTP_FORBIDDEN;
    }

    logged = ngx_current_msec;

    if (!clcf->internal && !clcf->named) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yoti_idv: the signed request \"%V\" entered "
                      "location \"%V\", which is not \"internal\": a "
                      "\"rewrite\", \"error_page\" or \"try_files\" of the "
                      "API location leads out of it; it was stopped there, "
                      "nothing was sent", &r->uri, &clcf->name);

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yoti_idv: the signed request \"%V\" entered "
                      "location \"%V\", which %s \"%V\" (%V:%ui) and "
                      "would send the client's data to the provider; it was "
                      "stopped there, nothing was sent: %s",
                      &r->uri, &clcf->name,
                      ylcf->proxy_inherited ? "inherits" : "has",
                      &h->text, &h->file, h->line,
                      ylcf->proxy_inherited
                      ? ngx_http_yoti_idv_proxy_fix(h)
                      : "remove it from that location, or set it to \"\"");
    }

    return NGX_HTTP_FORBIDDEN;
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


/* the body is the fetch's, in memory; Content-Length says how long */

static ngx_int_t
ngx_http_yoti_idv_set_body(ngx_http_request_t *sr,
    ngx_http_yoti_idv_fetch_t *fetch)
{
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_request_body_t  *rb;

    rb = ngx_pcalloc(sr->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    sr->request_body = rb;

    if (fetch->body.len == 0) {
        return NGX_OK;
    }

    b = ngx_calloc_buf(sr->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->start = fetch->body.data;
    b->pos = b->start;
    b->last = b->start + fetch->body.len;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;

    cl = ngx_alloc_chain_link(sr->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;

    sr->headers_in.content_length_n = fetch->body.len;

    return NGX_OK;
}


/* provider->error_header of the answer, when it has one */

static void
ngx_http_yoti_idv_error_header(ngx_http_request_t *sr,
    ngx_http_yoti_idv_answer_t *a)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    const ngx_str_t  *name;

    ngx_str_null(&a->error_type);

    name = &a->ylcf->provider->error_header;

    if (name->len == 0) {
        return;
    }

    part = &sr->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0 && h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            a->error_type = h[i].value;
            return;
        }
    }
}


static ngx_int_t
ngx_http_yoti_idv_fetch_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_yoti_idv_answer_t *a = data;

    ngx_buf_t                 *b;
    ngx_uint_t                 client_ok, refused;
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;

    c = sr->connection;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "yoti_idv fetch done s:%ui rc:%i c->error:%ui",
                   sr->headers_out.status, rc, (ngx_uint_t) c->error);

    if (sr->background
        && ngx_http_post_request(sr->parent, NULL) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* may be called again, e.g. once with 502 and once for its error page */

    a->failure = NGX_HTTP_YOTI_IDV_FETCH_OK;

    a->status = (rc >= NGX_HTTP_SPECIAL_RESPONSE)
                ? rc : (ngx_int_t) sr->headers_out.status;

    b = sr->out ? sr->out->buf : NULL;

    ngx_http_yoti_idv_error_header(sr, a);

    if (b) {
        a->body.data = b->pos;
        a->body.len = b->last - b->pos;

    } else {
        ngx_str_null(&a->body);
    }

    if (a->astray) {
        /* stopped by fetch_guard(): nothing was sent */
        a->failure = NGX_HTTP_YOTI_IDV_FETCH_FAILED;
        return NGX_OK;
    }

    clcf = ngx_http_get_module_loc_conf(sr, ngx_http_core_module);

    /*
     * ngx_http_output_filter() marks the client connection as broken when
     * any filter fails; with the client's own socket unharmed, the filter
     * that failed is the in-memory one, which refuses a body larger than
     * subrequest_output_buffer_size (a Content-Length says so before the
     * body, an answer that ends with the connection only on the way)
     */

    client_ok = !c->read->error && !c->write->error && !c->read->eof;
    refused = (c->error && client_ok && b != NULL)
              || (rc == NGX_ERROR && b && b->last == b->end);

    if (sr->headers_out.content_length_n
        > (off_t) clcf->subrequest_output_buffer_size
        || refused)
    {
        a->failure = NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG;

    } else if (a->status >= NGX_HTTP_SPECIAL_RESPONSE) {
        /* the status says it all, the body is only for the log */

    } else if (rc == NGX_ERROR || c->error) {
        a->failure = NGX_HTTP_YOTI_IDV_FETCH_FAILED;

    } else if (ngx_http_yoti_idv_fetch_cut(sr, a)) {
        /* the provider closed the connection in the middle of the body */
        a->failure = NGX_HTTP_YOTI_IDV_FETCH_TRUNCATED;
    }

    if (a->failure == NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG && client_ok) {
        /* the request can still be answered */
        c->error = 0;
    }

    if (a->status >= NGX_HTTP_SPECIAL_RESPONSE
        && a->failure == NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG)
    {
        /* an error status with a large page: the status is enough */
        a->failure = NGX_HTTP_YOTI_IDV_FETCH_OK;
        ngx_str_null(&a->body);

        return (rc == NGX_ERROR) ? NGX_OK : rc;
    }

    if (a->failure != NGX_HTTP_YOTI_IDV_FETCH_OK) {

        /*
         * the subrequest failed, not the request: the request goes on to
         * its verdict (a broken client connection still terminates it,
         * ngx_http_finalize_request() checks c->error)
         */

        return NGX_OK;
    }

    return rc;
}


/*
 * nginx logs "upstream prematurely closed connection" and still ends the
 * subrequest as if it were complete: a body shorter than its
 * Content-Length, or a chunked body without its last chunk, is cut
 */

static ngx_uint_t
ngx_http_yoti_idv_fetch_cut(ngx_http_request_t *sr,
    ngx_http_yoti_idv_answer_t *a)
{
    ngx_http_upstream_t  *u;

    if (sr->headers_out.content_length_n >= 0) {
        return (off_t) a->body.len != sr->headers_out.content_length_n;
    }

    u = sr->upstream;

    if (u == NULL || sr->cached || !u->headers_in.chunked) {
        return 0;
    }

    /* the chunked filters say "done" only after the last chunk */

    if (u->buffering) {
        return u->pipe == NULL || !u->pipe->upstream_done;
    }

    return u->length != 0;
}


