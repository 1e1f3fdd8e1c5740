
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include "ngx_http_yoti_idv_module.h"


static ngx_int_t ngx_http_yoti_idv_looked_up(ngx_http_request_t *r,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_parse_cached(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_cache_key(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_ctx_t *ctx);
static ngx_http_yoti_idv_ctx_t *ngx_http_yoti_idv_create_ctx(
    ngx_http_request_t *r);
static void ngx_http_yoti_idv_ctx_cleanup(void *data);
static ngx_int_t ngx_http_yoti_idv_evaluate(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_finish(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_set_result(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_yoti_idv_verdict_e verdict, const char *reason);
static void ngx_http_yoti_idv_log_error(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);


/* the context of the module's own subrequests: the handler skips them */
ngx_http_yoti_idv_ctx_t  ngx_http_yoti_idv_fetch_marker;


ngx_int_t
ngx_http_yoti_idv_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       user, sid;
    ngx_http_yoti_idv_ctx_t        *ctx;
    ngx_http_yoti_idv_loc_conf_t   *ylcf;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ylcf = ngx_http_get_module_loc_conf(r, ngx_http_yoti_idv_module);

    if (!ylcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_yoti_idv_get_ctx(r);

    if (ctx == &ngx_http_yoti_idv_fetch_marker) {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yoti_idv handler");

    if (ctx == NULL) {
        ctx = ngx_http_yoti_idv_create_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }

    } else if (ctx->fetching || ctx->looking_up || ctx->shm_waiting) {
        return NGX_AGAIN;
    }

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    if (ngx_http_complex_value(r, ylcf->user_id, &user) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ylcf->session_id) {
        if (ngx_http_complex_value(r, ylcf->session_id, &sid) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        ngx_str_null(&sid);
    }

    if (ctx->user_id.len != user.len
        || ngx_memcmp(ctx->user_id.data, user.data, user.len) != 0
        || ctx->var_session_id.len != sid.len
        || ngx_memcmp(ctx->var_session_id.data, sid.data, sid.len) != 0
        || ctx->has_mapping != (ylcf->session_id == NULL)
        || ctx->ylcf == NULL)
    {
        /*
         * a new user or session; otherwise, after the subrequest, a Redis
         * reply, an internal redirect or error_page, what is known about
         * this user and session is still good
         */

        ctx->user_id = user;
        ctx->var_session_id = sid;
        ctx->has_mapping = (ylcf->session_id == NULL);
        ngx_str_null(&ctx->session_id);
        ctx->lookup_ylcf = NULL;
        ctx->shm_ylcf = NULL;
        ctx->shm_hit = 0;
        ctx->fetched = 0;
        ctx->done = 0;
        ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_NONE;

    } else if (ctx->done && ctx->ylcf == ylcf) {
        return ngx_http_yoti_idv_finish(r, ylcf, ctx);
    }

    ctx->ylcf = ylcf;
    ctx->done = 0;

    if (user.len == 0) {
        ngx_http_yoti_idv_set_result(ctx, NGX_YOTI_IDV_DENY, "no_user");
        return ngx_http_yoti_idv_finish(r, ylcf, ctx);
    }

    if (!ctx->has_mapping) {

        if (sid.len == 0) {
            ngx_http_yoti_idv_set_result(ctx, NGX_YOTI_IDV_DENY,
                                         "no_session");
            return ngx_http_yoti_idv_finish(r, ylcf, ctx);
        }

        if (!ngx_yoti_idv_valid_session_id((char *) sid.data, sid.len)) {
            ngx_http_yoti_idv_set_result(ctx, NGX_YOTI_IDV_DENY,
                                         "bad_session_id");
            return ngx_http_yoti_idv_finish(r, ylcf, ctx);
        }

        ctx->session_id = sid;
    }

    if (ctx->fetched) {
        return ngx_http_yoti_idv_evaluate(r, ylcf, ctx);
    }

    if ((ymcf->zone || ymcf->redis) && ctx->shm_ylcf != ylcf) {
        ctx->shm_ylcf = ylcf;
        ctx->shm_hit = 0;

        if (ngx_http_yoti_idv_cache_key(r, ylcf, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ymcf->zone) {
            ctx->cache_hash = ngx_crc32_long(ctx->cache_key.data,
                                             ctx->cache_key.len);

            rc = ngx_http_yoti_idv_shm_lookup(r, ymcf->zone, ctx);

            if (rc == NGX_AGAIN) {
                return NGX_AGAIN;
            }

            ctx->shm_hit = (rc == NGX_OK);
        }
    }

    if (ctx->shm_hit) {
        ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_HIT;
        return ngx_http_yoti_idv_finish(r, ylcf, ctx);
    }

    if (ymcf->redis == NULL) {
        ctx->cache = ymcf->zone ? NGX_HTTP_YOTI_IDV_CACHE_MISS
                                : NGX_HTTP_YOTI_IDV_CACHE_BYPASS;
        return ngx_http_yoti_idv_fetch(r, ylcf, ctx);
    }

    if (ctx->lookup_ylcf != ylcf) {
        rc = ngx_http_yoti_idv_redis_lookup(r, ymcf, ylcf, ctx);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    return ngx_http_yoti_idv_looked_up(r, ymcf, ylcf, ctx);
}


/*
 * what a cached verdict is for: the policy, and the user (whose value
 * names the session) or, for an unbound policy, the session
 */

static ngx_int_t
ngx_http_yoti_idv_cache_key(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_ctx_t *ctx)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_HTTP_YOTI_IDV_FP_LEN + sizeof(":session:")
                             + ngx_max(ctx->user_id.len,
                                       ctx->session_id.len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->cache_key.data = p;

    p = ngx_cpymem(p, ylcf->fingerprint, NGX_HTTP_YOTI_IDV_FP_LEN);

    if (ctx->has_mapping || ylcf->bind_user) {
        p = ngx_cpymem(p, ":user:", sizeof(":user:") - 1);
        p = ngx_cpymem(p, ctx->user_id.data, ctx->user_id.len);

    } else {
        p = ngx_cpymem(p, ":session:", sizeof(":session:") - 1);
        p = ngx_cpymem(p, ctx->session_id.data, ctx->session_id.len);
    }

    ctx->cache_key.len = p - ctx->cache_key.data;

    return NGX_OK;
}


/* the session id and a cached verdict came from Redis, or it failed */

static ngx_int_t
ngx_http_yoti_idv_looked_up(ngx_http_request_t *r,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    if (ctx->redis_error) {
        ngx_http_yoti_idv_set_result(ctx, NGX_YOTI_IDV_ERROR,
                                     ctx->redis_error);
        ngx_snprintf((u_char *) ctx->result.detail,
                     NGX_YOTI_IDV_DETAIL_LEN - 1,
                     "redis at \"%V\" is not usable, see the lines above%Z",
                     &ymcf->redis->name);
        return ngx_http_yoti_idv_finish(r, ylcf, ctx);
    }

    ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_MISS;

    if (ctx->has_mapping) {

        if (ctx->mapping.data == NULL) {
            ngx_http_yoti_idv_set_result(ctx, NGX_YOTI_IDV_DENY,
                                         "no_session");
            return ngx_http_yoti_idv_finish(r, ylcf, ctx);
        }

        if (!ngx_yoti_idv_valid_session_id((char *) ctx->mapping.data,
                                           ctx->mapping.len))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "yoti_idv: the session id that redis maps this "
                          "user to (\"%Vuser:<user id>\") is not 1 to 64 "
                          "of A-Z, a-z, 0-9 and \"-\": fix what writes it",
                          &ymcf->prefix);
            ngx_http_yoti_idv_set_result(ctx, NGX_YOTI_IDV_DENY,
                                         "bad_session_id");
            return ngx_http_yoti_idv_finish(r, ylcf, ctx);
        }

        ctx->session_id = ctx->mapping;
    }

    if (ctx->cached.data
        && ngx_http_yoti_idv_parse_cached(r, ctx) == NGX_OK)
    {
        ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_HIT;
        return ngx_http_yoti_idv_finish(r, ylcf, ctx);
    }

    return ngx_http_yoti_idv_fetch(r, ylcf, ctx);
}


/*
 * "1 <session id> <ALLOW|DENY|PENDING> <reason>": a verdict for another
 * session is stale, one that does not parse is never trusted
 */

static ngx_int_t
ngx_http_yoti_idv_parse_cached(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    u_char                  *p, *last, *sid, *verdict, *reason;
    ngx_uint_t               v;
    ngx_yoti_idv_verdict_e   verdicts[] = {
                                 NGX_YOTI_IDV_ALLOW,
                                 NGX_YOTI_IDV_DENY,
                                 NGX_YOTI_IDV_PENDING
                             };

    p = ctx->cached.data;
    last = p + ctx->cached.len;

    if (last - p < 2 || p[0] != '1' || p[1] != ' ') {
        goto corrupt;
    }

    sid = p + 2;

    verdict = ngx_strlchr(sid, last, ' ');
    if (verdict == NULL) {
        goto corrupt;
    }

    if (!ngx_yoti_idv_valid_session_id((char *) sid, verdict - sid)) {
        goto corrupt;
    }

    verdict++;

    reason = ngx_strlchr(verdict, last, ' ');
    if (reason == NULL) {
        goto corrupt;
    }

    for (v = 0; v < sizeof(verdicts) / sizeof(verdicts[0]); v++) {
        if (ngx_strncmp(verdict, ngx_yoti_idv_verdict_name(verdicts[v]),
                        reason - verdict) == 0
            && ngx_yoti_idv_verdict_name(verdicts[v])[reason - verdict]
               == '\0')
        {
            break;
        }
    }

    if (v == sizeof(verdicts) / sizeof(verdicts[0])) {
        goto corrupt;
    }

    reason++;

    if (reason == last || last - reason >= NGX_YOTI_IDV_REASON_LEN) {
        goto corrupt;
    }

    for (p = reason; p < last; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
              || (*p >= '0' && *p <= '9')
              || *p == '_' || *p == ':' || *p == '-' || *p == '.'))
        {
            goto corrupt;
        }
    }

    if ((size_t) (verdict - 1 - sid) != ctx->session_id.len
        || ngx_memcmp(sid, ctx->session_id.data, ctx->session_id.len) != 0)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv cached verdict is for another session");
        return NGX_DECLINED;
    }

    ctx->result.verdict = verdicts[v];
    ngx_memcpy(ctx->result.reason, reason, last - reason);
    ctx->result.reason[last - reason] = '\0';
    ctx->result.detail[0] = '\0';

    return NGX_OK;

corrupt:

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "yoti_idv: ignoring a cached verdict in redis that does "
                  "not parse; it will be replaced");

    return NGX_ERROR;
}


ngx_http_yoti_idv_ctx_t *
ngx_http_yoti_idv_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_yoti_idv_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_yoti_idv_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {

        /*
         * an internal redirect or error_page cleared the module context:
         * the request's own context is still on the pool, shared with
         * its subrequests, so look for the one this request created
         */

        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_yoti_idv_ctx_cleanup) {
                ctx = cln->data;

                if (ctx->request == r) {
                    ngx_http_set_ctx(r, ctx, ngx_http_yoti_idv_module);
                    return ctx;
                }
            }
        }

        return NULL;
    }

    return ctx;
}


static ngx_http_yoti_idv_ctx_t *
ngx_http_yoti_idv_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_yoti_idv_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_yoti_idv_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_yoti_idv_ctx_t));

    ctx->request = r;

    cln->handler = ngx_http_yoti_idv_ctx_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_yoti_idv_module);

    return ctx;
}


static void
ngx_http_yoti_idv_ctx_cleanup(void *data)
{
    ngx_http_yoti_idv_ctx_t *ctx = data;

    /* a Redis reply or timer must not find the request once it is gone */
    ngx_http_yoti_idv_redis_detach(ctx);

    /* nor may a burst wait for a fetch that will not come */
    ngx_http_yoti_idv_shm_release(ctx);
}


static ngx_int_t
ngx_http_yoti_idv_evaluate(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_yoti_idv_policy_t  policy;

    ctx->done = 0;

    switch (ctx->failure) {

    case NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG:
        ngx_http_yoti_idv_set_result(ctx, NGX_YOTI_IDV_ERROR,
                                     "provider:too_big");
        ngx_snprintf((u_char *) ctx->result.detail,
                     NGX_YOTI_IDV_DETAIL_LEN - 1,
                     "the provider's response is larger than "
                     "\"subrequest_output_buffer_size\" of the "
                     "\"%V\" location: raise it (64k is typical)%Z",
                     &ylcf->api);
        return ngx_http_yoti_idv_finish(r, ylcf, ctx);

    case NGX_HTTP_YOTI_IDV_FETCH_TRUNCATED:
        ngx_http_yoti_idv_set_result(ctx, NGX_YOTI_IDV_ERROR,
                                     "provider:truncated");
        ngx_snprintf((u_char *) ctx->result.detail,
                     NGX_YOTI_IDV_DETAIL_LEN - 1,
                     "the provider's response ended after %uz bytes "
                     "of its Content-Length%Z", ctx->body.len);
        return ngx_http_yoti_idv_finish(r, ylcf, ctx);

    case NGX_HTTP_YOTI_IDV_FETCH_FAILED:
        ngx_http_yoti_idv_set_result(ctx, NGX_YOTI_IDV_ERROR,
                                     "provider:failed");
        ngx_cpystrn((u_char *) ctx->result.detail,
                    (u_char *) "the request to the provider failed, "
                    "see the error log lines above",
                    NGX_YOTI_IDV_DETAIL_LEN);
        return ngx_http_yoti_idv_finish(r, ylcf, ctx);

    default: /* NGX_HTTP_YOTI_IDV_FETCH_OK */
        break;
    }

    policy.reqs = ylcf->requires ? ylcf->requires->elts : NULL;
    policy.nreqs = ylcf->requires ? ylcf->requires->nelts : 0;
    policy.session_id = (const char *) ctx->session_id.data;
    policy.session_id_len = ctx->session_id.len;

    if (ylcf->bind_user) {
        policy.user_id = (const char *) ctx->user_id.data;
        policy.user_id_len = ctx->user_id.len;

    } else {
        policy.user_id = NULL;
        policy.user_id_len = 0;
    }

    ylcf->provider->evaluate(ctx->status, (const char *) ctx->body.data,
                             ctx->body.len, &policy, &ctx->result);

    return ngx_http_yoti_idv_finish(r, ylcf, ctx);
}


static void
ngx_http_yoti_idv_set_result(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_yoti_idv_verdict_e verdict, const char *reason)
{
    ctx->result.verdict = verdict;
    ngx_cpystrn((u_char *) ctx->result.reason, (u_char *) reason,
                NGX_YOTI_IDV_REASON_LEN);
    ctx->result.detail[0] = '\0';
}


static ngx_int_t
ngx_http_yoti_idv_finish(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_yoti_idv_result_t          *res;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    res = &ctx->result;

    if (!ctx->done) {
        ctx->done = 1;
        ctx->ylcf = ylcf;

        ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

        if (ymcf->redis && ctx->cache == NGX_HTTP_YOTI_IDV_CACHE_MISS
            && ctx->fetched)
        {
            ngx_http_yoti_idv_redis_store(r, ymcf, ctx);
        }

        /*
         * the burst waiting on this request takes what it got; a verdict
         * made without the provider (no mapping) is not worth sharing
         */

        if (ctx->shm_owner) {
            if (ctx->fetched || ctx->cache == NGX_HTTP_YOTI_IDV_CACHE_HIT
                || res->verdict == NGX_YOTI_IDV_ERROR)
            {
                ngx_http_yoti_idv_shm_store(r, ymcf, ctx);

            } else {
                ngx_http_yoti_idv_shm_release(ctx);
            }
        }

        /* the subrequest's "while sending to client" is not ours */
        r->connection->log->action = NULL;

        /* the session id is logged only once it is known to be safe */

        switch (res->verdict) {

        case NGX_YOTI_IDV_ALLOW:
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "yoti_idv: session \"%V\" allowed",
                           &ctx->session_id);
            break;

        case NGX_YOTI_IDV_ERROR:
            ngx_http_yoti_idv_log_error(r, ctx);
            break;

        default:
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "yoti_idv: %s%V%s %s: %s",
                          ctx->session_id.len ? "session \"" : "request",
                          &ctx->session_id,
                          ctx->session_id.len ? "\"" : "",
                          res->verdict == NGX_YOTI_IDV_PENDING
                          ? "is pending" : "denied",
                          res->reason);
        }
    }

    switch (res->verdict) {

    case NGX_YOTI_IDV_ALLOW:
        return NGX_OK;

    case NGX_YOTI_IDV_PENDING:
        return ylcf->pending_status;

    case NGX_YOTI_IDV_ERROR:
        return ylcf->error_status;

    default:
        return NGX_HTTP_FORBIDDEN;
    }
}


/*
 * while Redis or the provider is down every request fails alike: a worker
 * says so once a second for each of them, and counts what it left out
 */

static void
ngx_http_yoti_idv_log_error(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    u_char                 *p;
    ngx_uint_t              i;
    ngx_yoti_idv_result_t  *res;
    u_char                  more[64];

    static ngx_msec_t       logged[2];
    static ngx_uint_t       skipped[2];

    res = &ctx->result;

    i = (ngx_strncmp(res->reason, "redis:", 6) == 0) ? 0 : 1;

    if (logged[i]
        && (ngx_msec_int_t) (ngx_current_msec - logged[i]) < 1000)
    {
        skipped[i]++;
        return;
    }

    p = more;

    if (skipped[i]) {
        p = ngx_snprintf(more, sizeof(more),
                         " (and %ui more like it since the last line)",
                         skipped[i]);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "yoti_idv: no verdict for %s%V%s: %s%s%s%*s",
                  ctx->session_id.len ? "session \"" : "the request",
                  &ctx->session_id,
                  ctx->session_id.len ? "\"" : "",
                  res->reason, res->detail[0] ? ", " : "", res->detail,
                  (size_t) (p - more), more);

    logged[i] = ngx_current_msec;
    skipped[i] = 0;
}
