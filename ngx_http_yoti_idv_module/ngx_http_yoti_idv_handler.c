
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * The gate is a state machine; ctx->state says where a request is:
 *
 *   IDS           the user id, and the session id where a variable gives
 *                 it, evaluated for ctx->ylcf: one policy, one session
 *                 source
 *   ZONE          look the verdict up in yoti_idv_cache_zone
 *   ZONE_WAIT     parked: another request fetches that verdict
 *   ZONE_WAITED   the burst's verdict came, or the wait ended without one
 *   REDIS         one MGET: the user's mapping and the cached verdict
 *   REDIS_WAIT    parked: the MGET is out
 *   REDIS_WAITED  its reply, or why there is none, is in
 *   FETCH         ask the provider, or take the answer this request
 *                 already has about the same session
 *   LOCK_WAIT     parked: a background refresh with Redis takes the
 *                 nodes' lock on the verdict before it asks, see
 *                 refresh_lock()
 *   LOCK_WAITED   the lock's reply, or why there is none, is in
 *   FETCH_WAIT    parked: the subrequest to the provider runs
 *   EVALUATE      the answer against the policy
 *   MEDIA         the policy has an age and everything else allows: ask
 *                 for the document fields media of the verified document
 *   MEDIA_WAIT    parked: that subrequest runs; then the date of birth
 *                 against the age, and the media is wiped
 *   EVALUATED     a verdict: cache it, log it
 *   FINISHED      the verdict's status, for as long as the request stays
 *                 in this location
 *
 * A parked request resumes from one place.  The zone and Redis code call
 * back when their wait ends, which posts ctx->wake; its handler, resume(),
 * is the only thing that moves a request out of ZONE_WAIT or REDIS_WAIT.
 * A subrequest's parent is resumed by nginx itself, and FETCH_WAIT and
 * MEDIA_WAIT end when the handler then finds the subrequest done.
 * Whoever runs the handler of a parked request meanwhile (a client event,
 * pipelined bytes) gets NGX_AGAIN.
 *
 * Everything from ctx->ylcf to ctx->result belongs to one location's
 * policy and session source, and is computed anew when the handler runs
 * for another location (error_page, an internal redirect) or the ids
 * evaluate differently.  Only the provider's answer, ctx->answer, is kept,
 * and used again only for the same session asked of the same provider,
 * API and app: a fallback location evaluates it under its own policy and
 * caches that verdict under its own key.  The document fields, ctx->media,
 * serve only the evaluation that asked for them: nothing read from them
 * but the verdict and its reason leaves the module.
 *
 * yoti_idv_cache_use_stale: the zone and Redis may hand over an expired
 * verdict for this session (ctx->stale), which EVALUATED uses in place of
 * a temporary provider failure, and drops when the mapping names another
 * session.  yoti_idv_cache_background_update: a zone hit that took the
 * entry's refresh hands it, in EVALUATED, to a background subrequest to
 * the same location (ctx->refresh there: past the zone, never from a
 * cached verdict but one another node's refresh put into Redis), which
 * runs this same state machine on its own ctx and ends with 204; the
 * request itself is answered at once.  The zone lets one refresh run per
 * node; with Redis, SET NX on a key of the verdict's own (LOCK_WAIT) lets
 * one run among all the nodes.
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_cache.h"


static ngx_int_t ngx_http_yoti_idv_gate(ngx_http_request_t *r);
static ngx_int_t ngx_http_yoti_idv_user_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_uint_t ngx_http_yoti_idv_parked(ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_bind(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *user, ngx_str_t *sid);
static ngx_int_t ngx_http_yoti_idv_run(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_ids(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_cache_key(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_zone(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_zone_waited(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_after_zone(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_redis(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_redis_waited(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_cached(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx, ngx_str_t *value);
static ngx_int_t ngx_http_yoti_idv_ask(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_evaluate(ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_failed(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_http_yoti_idv_answer_t *a, const char *layer, const char *what,
    const char *request);
static void ngx_http_yoti_idv_policy(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_yoti_idv_policy_t *policy);
static ngx_int_t ngx_http_yoti_idv_media(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_evaluate_media(ngx_http_yoti_idv_ctx_t *ctx);
static time_t ngx_http_yoti_idv_valid_for(
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_finish(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_redis_put(ngx_http_request_t *r,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_status(ngx_http_yoti_idv_ctx_t *ctx);
static time_t ngx_http_yoti_idv_valid(ngx_http_yoti_idv_main_conf_t *ymcf,
    ngx_yoti_idv_verdict_e verdict);
static void ngx_http_yoti_idv_verdict(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_yoti_idv_verdict_e verdict, const char *reason);
static void ngx_http_yoti_idv_wake_up(void *data);
static void ngx_http_yoti_idv_resume(ngx_event_t *ev);
static ngx_http_yoti_idv_ctx_t *ngx_http_yoti_idv_create_ctx(
    ngx_http_request_t *r);
static void ngx_http_yoti_idv_ctx_cleanup(void *data);
static void ngx_http_yoti_idv_log_error(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_keep_stale(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_http_yoti_idv_layer_e layer, ngx_yoti_idv_verdict_e verdict,
    u_char *reason, size_t len, ngx_str_t *session_id);
static ngx_uint_t ngx_http_yoti_idv_use_stale(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static ngx_uint_t ngx_http_yoti_idv_temporary(const char *reason);
static ngx_int_t ngx_http_yoti_idv_refresh_gate(ngx_http_request_t *r);
static ngx_int_t ngx_http_yoti_idv_refresh_lock(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_refresh_locked(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static void ngx_http_yoti_idv_refresh(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx);
static ngx_int_t ngx_http_yoti_idv_refresh_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);


ngx_int_t
ngx_http_yoti_idv_access_handler(ngx_http_request_t *r)
{
    /* nginx runs no access phase for subrequests: see rewrite_handler() */

    return ngx_http_yoti_idv_gate(r);
}


/*
 * A subrequest into a gated location (auth_request, SSI, ...) is gated
 * here, in the rewrite phase, before "return" or "rewrite" of that
 * location can answer it.
 */

ngx_int_t
ngx_http_yoti_idv_rewrite_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r == r->main) {
        return NGX_DECLINED;
    }

    rc = ngx_http_yoti_idv_fetch_guard(r);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_http_yoti_idv_is_refresh(r)) {
        return ngx_http_yoti_idv_refresh_gate(r);
    }

    rc = ngx_http_yoti_idv_gate(r);

    switch (rc) {

    case NGX_OK:
        /* allowed: the location goes on */
        return NGX_DECLINED;

    case NGX_AGAIN:
        /* parked: the rewrite phase knows this as NGX_DONE */
        return NGX_DONE;

    default:
        return rc;
    }
}


static ngx_int_t
ngx_http_yoti_idv_gate(ngx_http_request_t *r)
{
    ngx_str_t                      user, sid;
    ngx_http_yoti_idv_ctx_t       *ctx;
    ngx_http_yoti_idv_loc_conf_t  *ylcf;

    ylcf = ngx_http_get_module_loc_conf(r, ngx_http_yoti_idv_module);

    if (!ylcf->enable || ngx_http_yoti_idv_is_fetch(r)) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_yoti_idv_get_ctx(r);

    if (ctx && ngx_http_yoti_idv_parked(ctx)) {
        return NGX_AGAIN;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yoti_idv handler");

    if (ylcf->user_header.len == 0
        || ngx_http_yoti_idv_user_header(r, &ylcf->user_header, &user)
           != NGX_OK)
    {
        if (ngx_http_complex_value(r, ylcf->user_id, &user) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ylcf->session_id) {
        if (ngx_http_complex_value(r, ylcf->session_id, &sid) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        ngx_str_null(&sid);
    }

    if (ctx == NULL) {
        ctx = ngx_http_yoti_idv_create_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_http_yoti_idv_bind(ctx, ylcf, &user, &sid);

    } else if (ctx->ylcf != ylcf
               || !ngx_http_yoti_idv_str_eq(&ctx->user_id, &user)
               || !ngx_http_yoti_idv_str_eq(&ctx->var_session_id, &sid))
    {
        ngx_http_yoti_idv_bind(ctx, ylcf, &user, &sid);
    }

    return ngx_http_yoti_idv_run(r, ctx);
}


/*
 * $http_<name> as nginx reads it (names compared with "-" as "_", in any
 * case), for none or one such header; NGX_DECLINED: more than one, which
 * nginx joins: the variable says
 */

static ngx_int_t
ngx_http_yoti_idv_user_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    u_char            ch;
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    found = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != name->len || h[i].hash == 0) {
            continue;
        }

        for (n = 0; n < name->len; n++) {
            ch = h[i].key.data[n];

            if (ch >= 'A' && ch <= 'Z') {
                ch |= 0x20;

            } else if (ch == '-') {
                ch = '_';
            }

            if (name->data[n] != ch) {
                break;
            }
        }

        if (n != name->len) {
            continue;
        }

        if (found) {
            return NGX_DECLINED;
        }

        found = &h[i];
    }

    if (found) {
        *value = found->value;

    } else {
        ngx_str_null(value);
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_yoti_idv_parked(ngx_http_yoti_idv_ctx_t *ctx)
{
    switch (ctx->state) {

    case NGX_HTTP_YOTI_IDV_ZONE_WAIT:
    case NGX_HTTP_YOTI_IDV_REDIS_WAIT:
    case NGX_HTTP_YOTI_IDV_LOCK_WAIT:
        return 1;

    case NGX_HTTP_YOTI_IDV_FETCH_WAIT:
        return !ctx->answer.sr->done;

    case NGX_HTTP_YOTI_IDV_MEDIA_WAIT:
        return !ctx->media.sr->done;

    default:
        return 0;
    }
}


/* a new policy, session source or ids: nothing computed for others stays */

static void
ngx_http_yoti_idv_bind(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *user, ngx_str_t *sid)
{
    ngx_http_yoti_idv_shm_release(&ctx->zone);
    ngx_http_yoti_idv_redis_cancel(&ctx->redis);

    ctx->state = NGX_HTTP_YOTI_IDV_IDS;

    ctx->ylcf = ylcf;
    ctx->user_id = *user;
    ctx->var_session_id = *sid;
    ngx_str_null(&ctx->session_id);

    ngx_str_null(&ctx->cache_key);
    ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_NONE;
    ctx->layer = NGX_HTTP_YOTI_IDV_LAYER_NONE;

    ctx->evaluated = 0;
    ctx->fetched = 0;
    ctx->locked = 0;
    ctx->stale = 0;
    ctx->counted = 0;

    /* nothing reads it before EVALUATED; if anything did, it would deny */
    ctx->result.verdict = NGX_YOTI_IDV_ERROR;
    ctx->result.reason[0] = '\0';
    ctx->result.detail[0] = '\0';
}


/*
 * each step sets the next state and returns NGX_OK to go on with it,
 * NGX_AGAIN when it parked the request, or NGX_ERROR
 */

static ngx_int_t
ngx_http_yoti_idv_run(ngx_http_request_t *r, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_int_t  rc;

    for ( ;; ) {

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv state %d", ctx->state);

        switch (ctx->state) {

        case NGX_HTTP_YOTI_IDV_IDS:
            rc = ngx_http_yoti_idv_ids(r, ctx);
            break;

        case NGX_HTTP_YOTI_IDV_ZONE:
            rc = ngx_http_yoti_idv_zone(r, ctx);
            break;

        case NGX_HTTP_YOTI_IDV_ZONE_WAITED:
            ngx_http_yoti_idv_metric_add(NGX_HTTP_YOTI_IDV_M_BURST_SAVED,
                                         ctx->zone.rc == NGX_OK);
            ngx_http_yoti_idv_zone_waited(r, ctx);
            rc = NGX_OK;
            break;

        case NGX_HTTP_YOTI_IDV_REDIS:
            rc = ngx_http_yoti_idv_redis(r, ctx);
            break;

        case NGX_HTTP_YOTI_IDV_REDIS_WAITED:
            ngx_http_yoti_idv_redis_waited(r, ctx);
            rc = NGX_OK;
            break;

        case NGX_HTTP_YOTI_IDV_FETCH:
            rc = ngx_http_yoti_idv_ask(r, ctx);
            break;

        case NGX_HTTP_YOTI_IDV_LOCK_WAITED:
            ngx_http_yoti_idv_refresh_locked(r, ctx);
            rc = NGX_OK;
            break;

        case NGX_HTTP_YOTI_IDV_FETCH_WAIT:

            if (!ctx->answer.sr->done) {
                return NGX_AGAIN;
            }

            ngx_http_yoti_idv_metric_fetch(ctx->ylcf, &ctx->answer);
            ctx->state = NGX_HTTP_YOTI_IDV_EVALUATE;
            rc = NGX_OK;
            break;

        case NGX_HTTP_YOTI_IDV_EVALUATE:
            ngx_http_yoti_idv_evaluate(ctx);
            rc = NGX_OK;
            break;

        case NGX_HTTP_YOTI_IDV_MEDIA:
            rc = ngx_http_yoti_idv_media(r, ctx);
            break;

        case NGX_HTTP_YOTI_IDV_MEDIA_WAIT:

            if (!ctx->media.sr->done) {
                return NGX_AGAIN;
            }

            ngx_http_yoti_idv_metric_fetch(ctx->ylcf, &ctx->media);

            ngx_http_yoti_idv_evaluate_media(ctx);
            rc = NGX_OK;
            break;

        case NGX_HTTP_YOTI_IDV_EVALUATED:
            ngx_http_yoti_idv_finish(r, ctx);
            rc = NGX_OK;
            break;

        case NGX_HTTP_YOTI_IDV_FINISHED:
            return ngx_http_yoti_idv_status(ctx);

        default: /* ZONE_WAIT, REDIS_WAIT, LOCK_WAIT: see parked() */
            return NGX_AGAIN;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }
}


static ngx_int_t
ngx_http_yoti_idv_ids(ngx_http_request_t *r, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_http_yoti_idv_loc_conf_t   *ylcf;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ylcf = ctx->ylcf;
    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    if (ctx->user_id.len == 0) {
        ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_DENY, "no_user");
        return NGX_OK;
    }

    if (ylcf->session_id) {

        if (ctx->var_session_id.len == 0) {
            ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_DENY, "no_session");
            return NGX_OK;
        }

        if (!ylcf->provider->valid_session_id(
                                        (char *) ctx->var_session_id.data,
                                        ctx->var_session_id.len))
        {
            ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_DENY,
                                      "bad_session_id");
            return NGX_OK;
        }

        ctx->session_id = ctx->var_session_id;
    }

    if (ymcf->zone == NULL && ymcf->redis == NULL) {
        ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_BYPASS;
        ctx->state = NGX_HTTP_YOTI_IDV_FETCH;
        return NGX_OK;
    }

    if (ngx_http_yoti_idv_cache_key(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->state = ymcf->zone ? NGX_HTTP_YOTI_IDV_ZONE
                            : NGX_HTTP_YOTI_IDV_REDIS;

    if (ctx->refresh) {
        /* the zone's entry is what it refreshes, and it owns it */
        ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_MISS;
        ctx->state = ymcf->redis ? NGX_HTTP_YOTI_IDV_REDIS
                                 : NGX_HTTP_YOTI_IDV_FETCH;
    }

    return NGX_OK;
}


/*
 * what a cached verdict is for: the policy and session source (both in
 * the fingerprint), and the user (whose value names the session) or, for
 * an unbound policy, the session
 */

static ngx_int_t
ngx_http_yoti_idv_cache_key(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    u_char                        *p;
    ngx_http_yoti_idv_loc_conf_t  *ylcf;

    ylcf = ctx->ylcf;

    p = ngx_pnalloc(r->pool, NGX_HTTP_YOTI_IDV_FP_LEN + sizeof(":session:")
                             + ngx_max(ctx->user_id.len,
                                       ctx->session_id.len));
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->cache_key.data = p;

    p = ngx_cpymem(p, ylcf->fingerprint, NGX_HTTP_YOTI_IDV_FP_LEN);

    if (ylcf->session_id == NULL || ylcf->bind_user) {
        p = ngx_cpymem(p, ":user:", sizeof(":user:") - 1);
        p = ngx_cpymem(p, ctx->user_id.data, ctx->user_id.len);

    } else {
        p = ngx_cpymem(p, ":session:", sizeof(":session:") - 1);
        p = ngx_cpymem(p, ctx->session_id.data, ctx->session_id.len);
    }

    ctx->cache_key.len = p - ctx->cache_key.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_yoti_idv_zone(ngx_http_request_t *r, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_http_yoti_idv_shm_op_t     *op;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    op = &ctx->zone;

    op->zone = ymcf->zone;
    op->key = ctx->cache_key;
    op->user_id = ctx->user_id;
    op->session_id = ctx->session_id;
    op->pool = r->pool;
    op->log = r->connection->log;
    op->done = ngx_http_yoti_idv_wake_up;
    op->data = ctx;
    op->use_stale = (ngx_msec_t) ctx->ylcf->use_stale * 1000;
    op->background = ctx->ylcf->background_update ? 1 : 0;

    rc = ngx_http_yoti_idv_shm_lookup(op);

    switch (rc) {

    case NGX_OK:
        ngx_http_yoti_idv_zone_waited(r, ctx);

        if (op->stale) {
            /* background update: expired, answered while it refreshes */
            ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_UPDATING;
        }

        return NGX_OK;

    case NGX_AGAIN:
        /* resume() takes it from here */
        ngx_http_yoti_idv_metric_inc(BURST_WAITS);
        ctx->state = NGX_HTTP_YOTI_IDV_ZONE_WAIT;
        r->main->count++;
        return NGX_AGAIN;

    default:
        /* NGX_DECLINED: this request fetches; NGX_ERROR: no zone today */

        if (rc == NGX_DECLINED && op->stale) {
            /* expired, within the stale window: for a provider failure */
            ngx_http_yoti_idv_keep_stale(ctx, NGX_HTTP_YOTI_IDV_LAYER_ZONE,
                                         op->verdict, op->reason,
                                         op->reason_len, &op->session_id);
        }

        ngx_http_yoti_idv_after_zone(r, ctx);
        return NGX_OK;
    }
}


static void
ngx_http_yoti_idv_zone_waited(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_http_yoti_idv_shm_op_t  *op;

    op = &ctx->zone;

    if (op->rc != NGX_OK) {

        if (op->stale) {
            /* expired, within the stale window: for a provider failure */
            ngx_http_yoti_idv_keep_stale(ctx, NGX_HTTP_YOTI_IDV_LAYER_ZONE,
                                         op->verdict, op->reason,
                                         op->reason_len, &op->session_id);
        }

        /* the wait ended without a verdict: ask on our own */
        ngx_http_yoti_idv_after_zone(r, ctx);
        return;
    }

    /* the zone's answer is the only one: nothing it kept before counts */
    ctx->stale = 0;

    /* the zone copied the reason with its length: no second scan */

    ctx->result.verdict = op->verdict;
    ngx_memcpy(ctx->result.reason, op->reason, op->reason_len + 1);
    ctx->result.detail[0] = '\0';
    ctx->state = NGX_HTTP_YOTI_IDV_EVALUATED;

    if (op->verdict == NGX_YOTI_IDV_ERROR) {
        ngx_cpystrn((u_char *) ctx->result.detail,
                    (u_char *) "the fetch this request waited for failed, "
                    "see its error above", NGX_YOTI_IDV_DETAIL_LEN);
    }

    /* with the mapping, the zone's entry names the session */
    ctx->session_id = op->session_id;
    ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_HIT;
    ctx->layer = NGX_HTTP_YOTI_IDV_LAYER_ZONE;

    if (op->stale) {
        /* the burst's fetch failed and left the expired verdict */
        ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_STALE;
        ngx_http_yoti_idv_metric_inc(ZONE_STALE);

    } else {
        ngx_http_yoti_idv_metric_inc(ZONE_HIT);
    }
}


static void
ngx_http_yoti_idv_after_zone(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    ngx_http_yoti_idv_metric_inc(ZONE_MISS);

    if (ymcf->redis) {
        ctx->state = NGX_HTTP_YOTI_IDV_REDIS;
        return;
    }

    ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_MISS;
    ctx->state = NGX_HTTP_YOTI_IDV_FETCH;
}


/*
 * MGET <prefix>user:<user id> <prefix>verdict:<key>, or only the verdict
 * when the session id comes from a variable: the hot path is one round
 * trip.  Where invalidations are marked, <prefix>invalidations before the
 * verdict: what a fetch stores is checked against it (redis_put())
 */

static ngx_int_t
ngx_http_yoti_idv_redis(ngx_http_request_t *r, ngx_http_yoti_idv_ctx_t *ctx)
{
    u_char                         *p;
    size_t                          n;
    ngx_int_t                       rc;
    ngx_str_t                      *key;
    ngx_uint_t                      tag;
    ngx_http_yoti_idv_redis_op_t   *op;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    op = &ctx->redis;

    op->nkeys = 0;
    op->pool = r->pool;
    op->log = r->connection->log;
    op->done = ngx_http_yoti_idv_wake_up;
    op->data = ctx;

    /*
     * a cluster's keys carry the user in a hash tag, "{user:<user id>}",
     * so that both are in one slot (docs/redis.md)
     */

    tag = (ymcf->redis->mode == NGX_HTTP_YOTI_IDV_REDIS_CLUSTER);

    if (ctx->ylcf->session_id == NULL) {
        key = &op->keys[op->nkeys++];

        key->data = ngx_pnalloc(r->pool, ymcf->prefix.len
                                         + sizeof("{user:}") - 1
                                         + ctx->user_id.len);
        if (key->data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(key->data, ymcf->prefix.data, ymcf->prefix.len);

        if (tag) {
            *p++ = '{';
        }

        p = ngx_cpymem(p, "user:", sizeof("user:") - 1);
        p = ngx_cpymem(p, ctx->user_id.data, ctx->user_id.len);

        if (tag) {
            *p++ = '}';
        }

        key->len = p - key->data;
    }

    if (ngx_http_yoti_idv_notify_marks(ymcf)) {
        if (ngx_http_yoti_idv_notify_count_key(ymcf, r->pool,
                                               &op->keys[op->nkeys++])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* the verdict's key comes last, redis_put() stores under it */

    key = &op->keys[op->nkeys++];

    key->data = ngx_pnalloc(r->pool, ymcf->prefix.len + sizeof("verdict:") - 1
                                     + ctx->cache_key.len + 2);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key->data, ymcf->prefix.data, ymcf->prefix.len);
    p = ngx_cpymem(p, "verdict:", sizeof("verdict:") - 1);

    /* "<fingerprint>:user:<user id>" -> "<fingerprint>:{user:<user id>}" */

    n = NGX_HTTP_YOTI_IDV_FP_LEN + 1;

    if (tag && ctx->cache_key.len > n + 5
        && ngx_strncmp(ctx->cache_key.data + n, "user:", 5) == 0)
    {
        p = ngx_cpymem(p, ctx->cache_key.data, n);
        *p++ = '{';
        p = ngx_cpymem(p, ctx->cache_key.data + n, ctx->cache_key.len - n);
        *p++ = '}';

    } else {
        p = ngx_cpymem(p, ctx->cache_key.data, ctx->cache_key.len);
    }

    key->len = p - key->data;

    rc = ngx_http_yoti_idv_redis_lookup(ymcf->redis, op);

    if (rc == NGX_AGAIN) {
        /* resume() takes it from here */
        ctx->state = NGX_HTTP_YOTI_IDV_REDIS_WAIT;
        r->main->count++;
        return NGX_AGAIN;
    }

    if (rc == NGX_OK) {
        /* it failed at once, op->error says why */
        ctx->state = NGX_HTTP_YOTI_IDV_REDIS_WAITED;
    }

    return rc;
}


static void
ngx_http_yoti_idv_redis_waited(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_str_t                      *mapping, *cached;
    ngx_http_yoti_idv_redis_op_t   *op;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    op = &ctx->redis;

    if (op->error && ymcf->redis->fallback && ctx->ylcf->session_id) {

        /* yoti_idv_redis fallback=provider: the zone is the only cache */

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv redis failed (%s), asking the provider",
                       op->error);

        ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_MISS;
        ctx->state = NGX_HTTP_YOTI_IDV_FETCH;
        return;
    }

    ctx->layer = NGX_HTTP_YOTI_IDV_LAYER_REDIS;

    if (op->error) {
        ngx_http_yoti_idv_metric_redis_error(op->error);
        ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_ERROR, op->error);
        ngx_snprintf((u_char *) ctx->result.detail,
                     NGX_YOTI_IDV_DETAIL_LEN - 1,
                     "redis at \"%V\" is not usable, see the lines above%Z",
                     &ymcf->redis->name);
        return;
    }

    ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_MISS;

    cached = &op->values[op->nkeys - 1];

    if (ngx_http_yoti_idv_notify_marks(ymcf)) {
        /* kept: a refresh's SET NX reuses the op's values */
        ctx->invalidations = op->values[op->nkeys - 2];
        ctx->counted = 1;
    }

    if (ctx->ylcf->session_id == NULL) {
        mapping = &op->values[0];

        if (mapping->data == NULL) {
            ngx_http_yoti_idv_metric_inc(REDIS_MISS);
            ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_DENY, "no_session");
            return;
        }

        if (!ctx->ylcf->provider->valid_session_id((char *) mapping->data,
                                                   mapping->len))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "yoti_idv: the session id that redis maps this "
                          "user to (\"%V%s\") is not %s: fix "
                          "what writes it", &ymcf->prefix,
                          ymcf->redis->mode == NGX_HTTP_YOTI_IDV_REDIS_CLUSTER
                          ? "{user:<user id>}" : "user:<user id>",
                          ctx->ylcf->provider->session_id_syntax);
            ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_DENY,
                                      "bad_session_id");
            return;
        }

        ctx->session_id = *mapping;

        if (ctx->stale
            && !ngx_http_yoti_idv_str_eq(&ctx->stale_session_id, mapping))
        {
            /* the mapping no longer names the zone's session: it wins */
            ctx->stale = 0;
        }
    }

    if (cached->data && ngx_http_yoti_idv_cached(r, ctx, cached) == NGX_OK) {
        ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_HIT;
        ngx_http_yoti_idv_metric_inc(REDIS_HIT);
        return;
    }

    ngx_http_yoti_idv_metric_inc(REDIS_MISS);
    ctx->state = NGX_HTTP_YOTI_IDV_FETCH;
}


/* a verdict for another session is stale, one that does not parse is
 * never trusted */

static ngx_int_t
ngx_http_yoti_idv_cached(ngx_http_request_t *r, ngx_http_yoti_idv_ctx_t *ctx,
    ngx_str_t *value)
{
    ngx_yoti_idv_cached_t           c;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    if (ngx_yoti_idv_cached_parse((char *) value->data, value->len, &c)
        != 0)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yoti_idv: ignoring a cached verdict in redis that "
                      "does not parse; it will be replaced");
        return NGX_ERROR;
    }

    if (c.session_id_len != ctx->session_id.len
        || ngx_memcmp(c.session_id, ctx->session_id.data, c.session_id_len)
           != 0)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv cached verdict is for another session");
        return NGX_DECLINED;
    }

    if (c.expires && (time_t) c.expires <= ngx_time()) {

        /* kept past its life for yoti_idv_cache_use_stale somewhere */

        if (ngx_time() - (time_t) c.expires < ctx->ylcf->use_stale) {
            ngx_http_yoti_idv_keep_stale(ctx, NGX_HTTP_YOTI_IDV_LAYER_REDIS,
                                         c.verdict, (u_char *) c.reason,
                                         c.reason_len, &ctx->session_id);
        }

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv cached verdict has expired");
        return NGX_DECLINED;
    }

    if (ctx->refresh
        && (c.expires == 0
            || ((time_t) c.expires - ngx_time()) * 10
               <= ngx_http_yoti_idv_valid(ymcf, c.verdict)))
    {
        /*
         * a refresh takes only what another node's refresh put there: a
         * verdict with its expiry ("2 <expires> ...", with
         * yoti_idv_cache_use_stale) that is not itself near its end
         */
        return NGX_DECLINED;
    }

    ngx_http_yoti_idv_verdict(ctx, c.verdict, "");
    ngx_memcpy(ctx->result.reason, c.reason, c.reason_len);
    ctx->result.reason[c.reason_len] = '\0';

    return NGX_OK;
}


/* the answer this request has about the session, or a new one */

static ngx_int_t
ngx_http_yoti_idv_ask(ngx_http_request_t *r, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_int_t                      rc;
    ngx_http_yoti_idv_answer_t    *a;
    ngx_http_yoti_idv_loc_conf_t  *ylcf;

    a = &ctx->answer;
    ylcf = ctx->ylcf;

    if (a->sr && a->sr->done
        && ngx_http_yoti_idv_str_eq(&a->session_id, &ctx->session_id)
        && a->ylcf->provider == ylcf->provider
        && ylcf->provider->same_request(a->ylcf, ylcf))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv the request's answer serves again");

        ctx->state = NGX_HTTP_YOTI_IDV_EVALUATE;
        return NGX_OK;
    }

    if (ctx->refresh && !ctx->locked && ctx->redis.nkeys) {
        /* one refresh among the nodes */
        return ngx_http_yoti_idv_refresh_lock(r, ctx);
    }

    if (!ngx_http_yoti_idv_breaker_allow(r, ylcf)) {
        ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_ERROR, "provider:breaker");
        ngx_cpystrn((u_char *) ctx->result.detail,
                    (u_char *) "the provider failed for every request "
                    "lately (yoti_idv_breaker): not asked, one probe a "
                    "second goes through", NGX_YOTI_IDV_DETAIL_LEN);
        return NGX_OK;
    }

    rc = ngx_http_yoti_idv_fetch(r, ylcf, &ctx->session_id, a);

    if (rc != NGX_OK) {
        return rc;
    }

    /* nginx resumes this request when the subrequest is done */
    ctx->state = NGX_HTTP_YOTI_IDV_FETCH_WAIT;
    ctx->fetched = 1;

    return NGX_AGAIN;
}


static void
ngx_http_yoti_idv_evaluate(ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_int_t                      failed;
    ngx_yoti_idv_policy_t          policy;
    ngx_http_yoti_idv_answer_t    *a;
    ngx_http_yoti_idv_loc_conf_t  *ylcf;

    a = &ctx->answer;
    ylcf = ctx->ylcf;

    ctx->evaluated = 1;
    ctx->layer = NGX_HTTP_YOTI_IDV_LAYER_PROVIDER;

    failed = ngx_http_yoti_idv_failed(ctx, a, "provider",
                                      "the provider's response",
                                      "the request to the provider");

    if (failed != NGX_OK) {
        ngx_http_yoti_idv_policy(ctx, &policy);

        ylcf->provider->evaluate(ylcf, a, &policy, &ctx->result);
    }

    if (ctx->fetched) {
        /* an answer asked for now, not one this request had */
        ctx->fetched = 0;

        ngx_http_yoti_idv_breaker_result(ctx->request, ylcf,
                                         ctx->result.verdict
                                             == NGX_YOTI_IDV_ERROR
                                         && ngx_http_yoti_idv_temporary(
                                                ctx->result.reason));
    }

    if (failed == NGX_OK) {
        /* the ERROR verdict is set, and the state */
        return;
    }

    /* the evaluator asks for the media only when all else allows */

    ctx->state = ctx->result.media_id[0] ? NGX_HTTP_YOTI_IDV_MEDIA
                                         : NGX_HTTP_YOTI_IDV_EVALUATED;
}


/*
 * a subrequest that failed on the way ("provider:..." or "media:..."):
 * NGX_OK with the ERROR verdict set, NGX_DECLINED when there is an answer
 */

static ngx_int_t
ngx_http_yoti_idv_failed(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_http_yoti_idv_answer_t *a, const char *layer, const char *what,
    const char *request)
{
    u_char  reason[32];

    switch (a->failure) {

    case NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG:
        ngx_sprintf(reason, "%s:too_big%Z", layer);
        ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_ERROR, (char *) reason);
        ngx_snprintf((u_char *) ctx->result.detail,
                     NGX_YOTI_IDV_DETAIL_LEN - 1,
                     "%s is larger than \"subrequest_output_buffer_size\" "
                     "of the \"%V\" location: raise it (64k is typical)%Z",
                     what, &ctx->ylcf->api);
        return NGX_OK;

    case NGX_HTTP_YOTI_IDV_FETCH_TRUNCATED:
        ngx_sprintf(reason, "%s:truncated%Z", layer);
        ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_ERROR, (char *) reason);
        ngx_snprintf((u_char *) ctx->result.detail,
                     NGX_YOTI_IDV_DETAIL_LEN - 1,
                     "%s ended after %uz bytes, before its end%Z",
                     what, a->body.len);
        return NGX_OK;

    case NGX_HTTP_YOTI_IDV_FETCH_FAILED:
        ngx_sprintf(reason, "%s:failed%Z", layer);
        ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_ERROR, (char *) reason);
        ngx_snprintf((u_char *) ctx->result.detail,
                     NGX_YOTI_IDV_DETAIL_LEN - 1,
                     "%s failed, see the error log lines above%Z", request);
        return NGX_OK;

    default: /* NGX_HTTP_YOTI_IDV_FETCH_OK */
        return NGX_DECLINED;
    }
}


static void
ngx_http_yoti_idv_policy(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_yoti_idv_policy_t *policy)
{
    ngx_tm_t                       tm;
    ngx_http_yoti_idv_loc_conf_t  *ylcf;

    ylcf = ctx->ylcf;

    policy->reqs = ylcf->requires ? ylcf->requires->elts : NULL;
    policy->nreqs = ylcf->requires ? ylcf->requires->nelts : 0;
    policy->session_id = (const char *) ctx->session_id.data;
    policy->session_id_len = ctx->session_id.len;

    if (ylcf->bind_user) {
        policy->user_id = (const char *) ctx->user_id.data;
        policy->user_id_len = ctx->user_id.len;

    } else {
        policy->user_id = NULL;
        policy->user_id_len = 0;
    }

    /* ngx_gmtime(): the full year, months from 1 */

    ngx_gmtime(ngx_time(), &tm);

    policy->age = (unsigned) ylcf->require_age;
    policy->today_year = tm.ngx_tm_year;
    policy->today_month = tm.ngx_tm_mon;
    policy->today_day = tm.ngx_tm_mday;
}


/* a new subrequest every time: the media is never taken from another */

static ngx_int_t
ngx_http_yoti_idv_media(ngx_http_request_t *r, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_str_t  media_id;

    media_id.data = (u_char *) ctx->result.media_id;
    media_id.len = ngx_strlen(ctx->result.media_id);

    if (ngx_http_yoti_idv_fetch_media(r, ctx->ylcf, &ctx->session_id,
                                      &media_id, &ctx->media)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* nginx resumes this request when the subrequest is done */
    ctx->state = NGX_HTTP_YOTI_IDV_MEDIA_WAIT;

    return NGX_AGAIN;
}


static void
ngx_http_yoti_idv_evaluate_media(ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_yoti_idv_policy_t        policy;
    ngx_http_yoti_idv_answer_t  *m;

    m = &ctx->media;

    ctx->state = NGX_HTTP_YOTI_IDV_EVALUATED;

    if (ngx_http_yoti_idv_failed(ctx, m, "media", "the document fields",
                                 "the request for the document fields")
        != NGX_OK)
    {
        ngx_http_yoti_idv_policy(ctx, &policy);

        ngx_yoti_idv_eval_media(m->status, (const char *) m->body.data,
                                m->body.len, &policy, &ctx->result);
    }

    /* the holder's name and date of birth stay nowhere */

    if (m->body.len) {
        ngx_memzero(m->body.data, m->body.len);
    }

    ngx_str_null(&m->body);
}


static void
ngx_http_yoti_idv_finish(ngx_http_request_t *r, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_yoti_idv_result_t          *res;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    res = &ctx->result;
    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    if (ctx->zone.owner && ctx->zone.refresh && !ctx->refresh) {
        /* answered from the zone: the entry is refreshed in background */
        ngx_http_yoti_idv_refresh(r, ctx);
    }

    if (ctx->refresh && ctx->zone.owner
        && res->verdict == NGX_YOTI_IDV_ERROR)
    {
        /* a refresh that fails leaves the old verdict until it expires */
        ngx_http_yoti_idv_shm_store(&ctx->zone, NGX_YOTI_IDV_ERROR, "",
                                    &ctx->session_id, -1, 0);
    }

    if (ngx_http_yoti_idv_use_stale(r, ctx)) {

        /*
         * the provider failed: the burst takes the verdict the zone kept
         * (valid -1), and Redis keeps it until its own TTL
         */

        if (ctx->zone.owner) {
            ngx_http_yoti_idv_shm_store(&ctx->zone, NGX_YOTI_IDV_ERROR, "",
                                        &ctx->session_id, -1, 0);
        }

    } else if (ymcf->redis && ctx->cache == NGX_HTTP_YOTI_IDV_CACHE_MISS
               && ctx->evaluated
               && !ngx_http_yoti_idv_shm_invalidated(&ctx->zone,
                                                     &ctx->session_id))
    {
        /* what a fetch got before an invalidation came is not shared */
        ngx_http_yoti_idv_redis_put(r, ymcf, ctx);
    }

    /*
     * the burst waiting on this request takes what it got; a verdict
     * made without the provider (no mapping) is not worth sharing
     */

    if (ctx->zone.owner) {
        if ((ctx->evaluated || ctx->cache == NGX_HTTP_YOTI_IDV_CACHE_HIT
             || res->verdict == NGX_YOTI_IDV_ERROR)
            && ngx_http_yoti_idv_valid_for(ymcf, ctx) >= 0)
        {
            ngx_http_yoti_idv_shm_store(&ctx->zone, res->verdict,
                                        res->reason, &ctx->session_id,
                                        ngx_http_yoti_idv_valid_for(ymcf,
                                                                    ctx),
                                        ctx->ylcf->use_stale);

        } else {
            ngx_http_yoti_idv_shm_release(&ctx->zone);
        }
    }

    ctx->state = NGX_HTTP_YOTI_IDV_FINISHED;

    ngx_http_yoti_idv_metric_verdict(ctx);

    /* the subrequest's "while sending to client" is not ours */
    r->connection->log->action = NULL;

    /* the session id is logged only once it is known to be safe */

    switch (res->verdict) {

    case NGX_YOTI_IDV_ALLOW:
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv: session \"%V\" allowed", &ctx->session_id);
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


/* SET <the lookup's verdict key> "1 <session id> <VERDICT> <reason>" EX */

static void
ngx_http_yoti_idv_redis_put(ngx_http_request_t *r,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_ctx_t *ctx)
{
    size_t     size;
    time_t     valid, stale;
    ngx_str_t  value;

    valid = ngx_http_yoti_idv_valid_for(ymcf, ctx);

    if (valid <= 0) {
        return;
    }

    size = sizeof("1   PENDING") + NGX_TIME_T_LEN + 1 + ctx->session_id.len
           + NGX_YOTI_IDV_REASON_LEN;

    value.data = ngx_pnalloc(r->pool, size);
    if (value.data == NULL) {
        return;
    }

    /*
     * yoti_idv_cache_use_stale: Redis keeps the verdict for the stale
     * window too, the value says when it expired; off: "1 ...", as before
     */

    stale = ctx->ylcf->use_stale;

    value.len = ngx_yoti_idv_cached_format_until((char *) value.data, size,
                                      stale ? (long) (ngx_time() + valid) : 0,
                                      (char *) ctx->session_id.data,
                                      ctx->session_id.len,
                                      ctx->result.verdict,
                                      ctx->result.reason);
    if (value.len == 0) {
        return;
    }

    if (!ngx_http_yoti_idv_notify_marks(ymcf)) {
        ngx_http_yoti_idv_redis_store(ymcf->redis, r->connection->log,
                                      &ctx->redis.keys[ctx->redis.nkeys - 1],
                                      &value, valid + stale);
        return;
    }

    /*
     * where an invalidation of the session or the user finds it, and not
     * at all when one came after the lookup: the fetch may have got what
     * it was meant to remove
     */

    ngx_http_yoti_idv_notify_store(ymcf, r->connection->log,
                                   &ctx->redis.keys[ctx->redis.nkeys - 1],
                                   &value, valid + stale,
                                   ctx->counted ? &ctx->invalidations : NULL,
                                   &ctx->session_id,
                                   (ctx->ylcf->session_id == NULL
                                    || ctx->ylcf->bind_user)
                                   ? &ctx->user_id : NULL);
}


static ngx_int_t
ngx_http_yoti_idv_status(ngx_http_yoti_idv_ctx_t *ctx)
{
    switch (ctx->result.verdict) {

    case NGX_YOTI_IDV_ALLOW:
        return NGX_OK;

    case NGX_YOTI_IDV_PENDING:
        return ctx->ylcf->pending_status;

    case NGX_YOTI_IDV_ERROR:
        return ctx->ylcf->error_status;

    default:
        return NGX_HTTP_FORBIDDEN;
    }
}


/* yoti_idv_cache_valid of a verdict; an error is never cached */

static time_t
ngx_http_yoti_idv_valid(ngx_http_yoti_idv_main_conf_t *ymcf,
    ngx_yoti_idv_verdict_e verdict)
{
    switch (verdict) {

    case NGX_YOTI_IDV_ALLOW:
        return ymcf->valid[NGX_HTTP_YOTI_IDV_VALID_ALLOW];

    case NGX_YOTI_IDV_DENY:
        return ymcf->valid[NGX_HTTP_YOTI_IDV_VALID_DENY];

    case NGX_YOTI_IDV_PENDING:
        return ymcf->valid[NGX_HTTP_YOTI_IDV_VALID_PENDING];

    default:
        return 0;
    }
}


/*
 * how long this request's verdict may be cached: an "underage" DENY no
 * longer than until the UTC midnight the holder comes of age; -1: it
 * came from Redis, whose TTL alone knows, and the zone does not keep it
 */

static time_t
ngx_http_yoti_idv_valid_for(ngx_http_yoti_idv_main_conf_t *ymcf,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    time_t  valid, until;

    valid = ngx_http_yoti_idv_valid(ymcf, ctx->result.verdict);

    if (ctx->result.verdict != NGX_YOTI_IDV_DENY
        || ngx_strcmp(ctx->result.reason, "age:underage") != 0)
    {
        return valid;
    }

    if (!ctx->evaluated || ctx->result.age_days <= 0) {
        return -1;
    }

    until = (time_t) ctx->result.age_days * 86400 - ngx_time() % 86400;

    return ngx_min(valid, until);
}


static void
ngx_http_yoti_idv_verdict(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_yoti_idv_verdict_e verdict, const char *reason)
{
    ctx->result.verdict = verdict;
    ngx_cpystrn((u_char *) ctx->result.reason, (u_char *) reason,
                NGX_YOTI_IDV_REASON_LEN);
    ctx->result.detail[0] = '\0';

    ctx->state = NGX_HTTP_YOTI_IDV_EVALUATED;
}


/* the zone or Redis is done with a parked request: see resume() */

static void
ngx_http_yoti_idv_wake_up(void *data)
{
    ngx_http_yoti_idv_ctx_t *ctx = data;

    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


/* the one place a request leaves ZONE_WAIT, REDIS_WAIT or LOCK_WAIT */

static void
ngx_http_yoti_idv_resume(ngx_event_t *ev)
{
    ngx_http_yoti_idv_ctx_t *ctx = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    switch (ctx->state) {

    case NGX_HTTP_YOTI_IDV_ZONE_WAIT:
        ctx->state = NGX_HTTP_YOTI_IDV_ZONE_WAITED;
        break;

    case NGX_HTTP_YOTI_IDV_REDIS_WAIT:
        ctx->state = NGX_HTTP_YOTI_IDV_REDIS_WAITED;
        break;

    case NGX_HTTP_YOTI_IDV_LOCK_WAIT:
        ctx->state = NGX_HTTP_YOTI_IDV_LOCK_WAITED;
        break;

    default:
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "yoti_idv: woken in state %d", ctx->state);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "yoti_idv resume in state %d", ctx->state);

    r->main->count--;

    /* as ngx_http_run_posted_requests() resumes a request */

    ngx_http_set_log_request(c->log, r);

    r->write_event_handler(r);

    ngx_http_run_posted_requests(c);
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

    ctx->wake.handler = ngx_http_yoti_idv_resume;
    ctx->wake.data = ctx;
    ctx->wake.log = r->connection->log;

    cln->handler = ngx_http_yoti_idv_ctx_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_yoti_idv_module);

    return ctx;
}


static void
ngx_http_yoti_idv_ctx_cleanup(void *data)
{
    ngx_http_yoti_idv_ctx_t *ctx = data;

    /* a Redis reply or timer must not find the request once it is gone */
    ngx_http_yoti_idv_redis_cancel(&ctx->redis);

    /* nor may a burst wait for a fetch that will not come */
    ngx_http_yoti_idv_shm_release(&ctx->zone);

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
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


/* an expired verdict for this request's session, for a provider failure */

static void
ngx_http_yoti_idv_keep_stale(ngx_http_yoti_idv_ctx_t *ctx,
    ngx_http_yoti_idv_layer_e layer, ngx_yoti_idv_verdict_e verdict,
    u_char *reason, size_t len, ngx_str_t *session_id)
{
    if (verdict == NGX_YOTI_IDV_ERROR || len >= NGX_YOTI_IDV_REASON_LEN) {
        return;
    }

    ctx->stale = 1;
    ctx->stale_layer = layer;
    ctx->stale_verdict = verdict;
    ngx_memcpy(ctx->stale_reason, reason, len);
    ctx->stale_reason[len] = '\0';

    /* on the pool: the zone's copy or the Redis reply's value */
    ctx->stale_session_id = *session_id;
}


/*
 * yoti_idv_cache_use_stale: a temporary failure of the provider (or of
 * the fetch of the document fields) is answered with the expired verdict
 * the zone or Redis kept for this session; 1 when it was
 */

static ngx_uint_t
ngx_http_yoti_idv_use_stale(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_yoti_idv_result_t  *res;

    res = &ctx->result;

    if (!ctx->stale || res->verdict != NGX_YOTI_IDV_ERROR
        || !ngx_http_yoti_idv_temporary(res->reason)
        || (ctx->session_id.len
            && !ngx_http_yoti_idv_str_eq(&ctx->session_id,
                                         &ctx->stale_session_id)))
    {
        return 0;
    }

    if (ngx_http_yoti_idv_shm_invalidated(&ctx->zone,
                                          &ctx->stale_session_id))
    {
        /* the verdict kept may be the one an invalidation was for */
        ctx->stale = 0;
        return 0;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "yoti_idv: session \"%V\" answered from its expired "
                  "verdict (yoti_idv_cache_use_stale): %s",
                  &ctx->stale_session_id, res->reason);

    ctx->stale = 0;
    ctx->session_id = ctx->stale_session_id;
    ctx->cache = NGX_HTTP_YOTI_IDV_CACHE_STALE;
    ctx->layer = ctx->stale_layer;

    /* its lookup was a miss: the entry had expired */
    if (ctx->layer == NGX_HTTP_YOTI_IDV_LAYER_REDIS) {
        ngx_http_yoti_idv_metric_inc(REDIS_STALE);

    } else {
        ngx_http_yoti_idv_metric_inc(ZONE_STALE);
    }

    res->verdict = ctx->stale_verdict;
    ngx_memcpy(res->reason, ctx->stale_reason, NGX_YOTI_IDV_REASON_LEN);
    res->detail[0] = '\0';

    return 1;
}


/*
 * the provider could not answer now and may soon: no connection, a
 * timeout, 429, 5xx, a response cut short or too big, the breaker; not a
 * refused signature, a configuration error or a bad answer
 */

static ngx_uint_t
ngx_http_yoti_idv_temporary(const char *reason)
{
    ngx_uint_t   i;
    const char  *p;

    static const char  *temporary[] = {
        "failed", "timeout", "truncated", "too_big", "429", "breaker",
        "ThrottlingException", "ProvisionedThroughputExceededException",
        "InternalServerError", "ServiceUnavailableException", NULL
    };

    if (ngx_strncmp(reason, "provider:", sizeof("provider:") - 1) == 0) {
        p = reason + sizeof("provider:") - 1;

    } else if (ngx_strncmp(reason, "media:", sizeof("media:") - 1) == 0) {
        p = reason + sizeof("media:") - 1;

    } else {
        return 0;
    }

    if (p[0] == '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0'
        && p[2] <= '9' && p[3] == '\0')
    {
        return 1;
    }

    for (i = 0; temporary[i]; i++) {
        if (ngx_strcmp(p, temporary[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * yoti_idv_cache_background_update: the refresh is a background
 * subrequest to the same location, which runs the gate with the zone
 * entry's ownership (ctx->refresh: past the zone, never from a cached
 * verdict but one another node's refresh put into Redis, see cached(),
 * with the mapping read anew), stores what it gets and ends with 204;
 * nothing of it reaches the client or the location's content.
 */

ngx_uint_t
ngx_http_yoti_idv_is_refresh(ngx_http_request_t *r)
{
    return r->post_subrequest
           && r->post_subrequest->handler == ngx_http_yoti_idv_refresh_done;
}


static ngx_int_t
ngx_http_yoti_idv_refresh_gate(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_yoti_idv_ctx_t       *ctx;
    ngx_http_yoti_idv_loc_conf_t  *ylcf;

    r->header_only = 1;

    ylcf = ngx_http_get_module_loc_conf(r, ngx_http_yoti_idv_module);
    ctx = ngx_http_yoti_idv_get_ctx(r);

    if (ctx && ctx->refreshed) {
        /* posted again by a fetch after it ended: nothing more to do */
        return NGX_DONE;
    }

    rc = ylcf->enable ? ngx_http_yoti_idv_gate(r) : NGX_DECLINED;

    if (rc == NGX_AGAIN) {
        return NGX_DONE;
    }

    ctx = ngx_http_yoti_idv_get_ctx(r);

    if (ctx) {
        ctx->refreshed = 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yoti_idv refresh done: %i", rc);

    return NGX_HTTP_NO_CONTENT;
}


static void
ngx_http_yoti_idv_refresh(ngx_http_request_t *r, ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_http_request_t          *sr;
    ngx_http_yoti_idv_ctx_t     *rctx;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        goto failed;
    }

    ps->handler = ngx_http_yoti_idv_refresh_done;
    ps->data = NULL;

    if (ngx_http_subrequest(r, &r->uri, &r->args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        goto failed;
    }

    sr->header_only = 1;

    rctx = ngx_http_yoti_idv_create_ctx(sr);
    if (rctx == NULL) {
        goto failed;
    }

    ngx_http_yoti_idv_bind(rctx, ctx->ylcf, &ctx->user_id,
                           &ctx->var_session_id);

    rctx->refresh = 1;

    /* the entry's fetch is the refresh's now */

    rctx->zone = ctx->zone;
    rctx->zone.data = rctx;
    rctx->zone.log = sr->connection->log;
    rctx->zone.refresh = 0;

    ctx->zone.owner = 0;
    ctx->zone.refresh = 0;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yoti_idv background refresh");

    return;

failed:

    ngx_http_yoti_idv_shm_release(&ctx->zone);
}


static ngx_int_t
ngx_http_yoti_idv_refresh_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    return rc;
}


/*
 * with Redis, the nodes' refreshes of a verdict are one:
 *
 *     SET <prefix>refresh:<fingerprint>:user:<user id> 1 NX PX <ms>
 *
 * (the verdict key's own part, with cluster= its hash tag: one slot), for
 * the length of the refresh window, a tenth of yoti_idv_cache_valid for
 * the verdict refreshed, at least 100 ms; the lock is never deleted.  Nil:
 * another node refreshes it, this one keeps the old verdict until it
 * expires, and then finds the other's in Redis.  Redis not usable: this
 * node refreshes anyway, the lock is only an optimisation.
 */

static ngx_int_t
ngx_http_yoti_idv_refresh_lock(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    u_char                         *p;
    size_t                          len[6], skip;
    time_t                          valid;
    ngx_int_t                       rc;
    ngx_str_t                      *vkey;
    ngx_msec_t                      ms;
    const char                     *argv[6];
    ngx_http_yoti_idv_main_conf_t  *ymcf;
    u_char                          px[NGX_INT_T_LEN];

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    ctx->locked = 1;

    /* "<prefix>verdict:<rest>" -> "<prefix>refresh:<rest>", as long */

    vkey = &ctx->redis.keys[ctx->redis.nkeys - 1];
    skip = ymcf->prefix.len + sizeof("verdict:") - 1;

    if (vkey->len < skip) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, vkey->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    argv[1] = (const char *) p;
    len[1] = vkey->len;

    p = ngx_cpymem(p, ymcf->prefix.data, ymcf->prefix.len);
    p = ngx_cpymem(p, "refresh:", sizeof("refresh:") - 1);
    ngx_memcpy(p, vkey->data + skip, vkey->len - skip);

    valid = ngx_http_yoti_idv_valid(ymcf, ctx->zone.verdict);
    ms = ngx_max((ngx_msec_t) valid * 100, 100);

    argv[0] = "SET";
    len[0] = sizeof("SET") - 1;
    argv[2] = "1";
    len[2] = 1;
    argv[3] = "NX";
    len[3] = sizeof("NX") - 1;
    argv[4] = "PX";
    len[4] = sizeof("PX") - 1;
    argv[5] = (const char *) px;
    len[5] = ngx_sprintf(px, "%M", ms) - px;

    /* the MGET is done: its op, keys kept for redis_put(), takes the SET */

    rc = ngx_http_yoti_idv_redis_eval(ymcf->redis, &ctx->redis, 6, argv,
                                      len);

    if (rc == NGX_AGAIN) {
        /* resume() takes it from here */
        ctx->state = NGX_HTTP_YOTI_IDV_LOCK_WAIT;
        r->main->count++;
        return NGX_AGAIN;
    }

    if (rc == NGX_OK) {
        /* it failed at once, op->error says why */
        ctx->state = NGX_HTTP_YOTI_IDV_LOCK_WAITED;
    }

    return rc;
}


static void
ngx_http_yoti_idv_refresh_locked(ngx_http_request_t *r,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_http_yoti_idv_redis_op_t  *op;

    op = &ctx->redis;

    ctx->state = NGX_HTTP_YOTI_IDV_FETCH;

    if (op->error) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv refresh lock failed (%s), refreshing",
                       op->error);
        return;
    }

    if (op->values[0].data) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv refresh lock taken");
        return;
    }

    /* another node refreshes it: as a failed refresh, the old one stays */

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yoti_idv refresh: another node has the lock");

    ngx_http_yoti_idv_shm_store(&ctx->zone, NGX_YOTI_IDV_ERROR, "",
                                &ctx->session_id, -1, 0);

    ngx_http_yoti_idv_verdict(ctx, NGX_YOTI_IDV_ERROR, "refresh:elsewhere");
    ctx->state = NGX_HTTP_YOTI_IDV_FINISHED;
}
