
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * The counters behind yoti_idv_metrics and yoti_idv_health (their content
 * handlers are in ngx_http_yoti_idv_exposition.c).
 *
 * The counters live in a shared memory zone of their own,
 * "yoti_idv_metrics", created when the configuration has a
 * yoti_idv_metrics or yoti_idv_health location: every worker adds to the
 * same ngx_atomic_t array with ngx_atomic_fetch_add(), so any worker
 * answers a scrape with the numbers of the whole nginx.  A reload keeps
 * the zone and so the numbers; a restart starts them at zero.  Without
 * such a location there is no zone and an update is a NULL test.
 */


#include "ngx_http_yoti_idv_module.h"


static ngx_http_yoti_idv_metrics_conf_t *ngx_http_yoti_idv_metrics_conf(
    ngx_conf_t *cf);
static ngx_int_t ngx_http_yoti_idv_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_yoti_idv_metrics_add_types(
    ngx_http_yoti_idv_metrics_sh_t *sh, ngx_http_yoti_idv_metrics_conf_t *mcf);
static ngx_uint_t ngx_http_yoti_idv_metrics_reason(const char *reason);


ngx_atomic_t  *ngx_http_yoti_idv_metrics;

ngx_http_yoti_idv_metrics_sh_t  *ngx_http_yoti_idv_metrics_sh;

/* the zone's tag: the cache zones use the module's */
static ngx_uint_t  ngx_http_yoti_idv_metrics_tag;


/* a request in the default buckets: a remote API, in milliseconds */
static ngx_msec_t  ngx_http_yoti_idv_metrics_default_buckets[] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000
};


/* the part of a reason before its first ":", see docs/operations.md */
const char  *ngx_http_yoti_idv_reason_groups[] = {
    "other", "no_user", "no_session", "bad_session_id", "state", "check",
    "provider", "media", "redis", "internal", "age", "liveness_type",
    "document_type", "issuing_country", "confidence", "user_mismatch"
};


/* "redis:<kind>", in the order of the counters; the last one is "other" */
const char  *ngx_http_yoti_idv_redis_errors[] = {
    "connect", "connect_timeout", "timeout", "closed", "auth", "select",
    "error", "down", "other"
};


const char  *ngx_http_yoti_idv_topics[] = {
    "session_completion", "check_completion", "task_completion",
    "resource_update", "client_session_token_deleted", "other"
};


static ngx_http_yoti_idv_metrics_conf_t *
ngx_http_yoti_idv_metrics_conf(ngx_conf_t *cf)
{
    ngx_http_yoti_idv_main_conf_t     *ymcf;
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);

    if (ymcf->metrics) {
        return ymcf->metrics;
    }

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_yoti_idv_metrics_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mcf->types, cf->pool, 4, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    ymcf->metrics = mcf;

    return mcf;
}


char *
ngx_http_yoti_idv_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_yoti_idv_loc_conf_t      *ylcf;
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    mcf = ngx_http_yoti_idv_metrics_conf(cf);
    if (mcf == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->used = 1;

    /* a probe or a scrape is not gated by an inherited "yoti_idv on" */

    ylcf = conf;

    if (ylcf->enable == NGX_CONF_UNSET) {
        ylcf->enable = 0;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate";
    }

    clcf->handler = (cmd->name.len == sizeof("yoti_idv_health") - 1)
                    ? ngx_http_yoti_idv_health_handler
                    : ngx_http_yoti_idv_metrics_handler;

    return NGX_CONF_OK;
}


/* yoti_idv_metrics_buckets 0.05 0.1 ...; seconds, ascending */

char *
ngx_http_yoti_idv_metrics_buckets(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                         *value;
    ngx_int_t                          ms;
    ngx_uint_t                         i;
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    mcf = ngx_http_yoti_idv_metrics_conf(cf);
    if (mcf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mcf->nbuckets) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts - 1 > NGX_HTTP_YOTI_IDV_BUCKETS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_metrics_buckets\" takes at most %d "
                           "buckets", NGX_HTTP_YOTI_IDV_BUCKETS_MAX);
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        /* seconds with up to three decimals */
        ms = ngx_atofp(value[i].data, value[i].len, 3);

        if (ms <= 0
            || (mcf->nbuckets && (ngx_msec_t) ms <= mcf->buckets[i - 2]))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid bucket \"%V\" in "
                               "\"yoti_idv_metrics_buckets\": seconds "
                               "over 0, at most 3 decimals, ascending",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        mcf->buckets[mcf->nbuckets++] = (ngx_msec_t) ms;
    }

    return NGX_CONF_OK;
}


/* the check types of an enabled location, for the reasons' labels */

ngx_int_t
ngx_http_yoti_idv_metrics_merge(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *ylcf)
{
    ngx_str_t                         *type;
    ngx_uint_t                         i, j;
    ngx_yoti_idv_req_t                *req;
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    if (ylcf->requires == NULL) {
        return NGX_OK;
    }

    mcf = ngx_http_yoti_idv_metrics_conf(cf);
    if (mcf == NULL) {
        return NGX_ERROR;
    }

    req = ylcf->requires->elts;

    for (i = 0; i < ylcf->requires->nelts; i++) {

        type = mcf->types.elts;

        for (j = 0; j < mcf->types.nelts; j++) {
            if (type[j].len == req[i].type_len
                && ngx_strncmp(type[j].data, req[i].type, type[j].len) == 0)
            {
                break;
            }
        }

        if (j < mcf->types.nelts
            || req[i].type_len > NGX_HTTP_YOTI_IDV_METRICS_TYPE_LEN)
        {
            continue;
        }

        type = ngx_array_push(&mcf->types);
        if (type == NULL) {
            return NGX_ERROR;
        }

        type->data = (u_char *) req[i].type;
        type->len = req[i].type_len;
    }

    return NGX_OK;
}


/* postconfiguration: the zone, when something shows the numbers */

ngx_int_t
ngx_http_yoti_idv_metrics_init(ngx_conf_t *cf)
{
    ngx_str_t                          name;
    ngx_http_yoti_idv_main_conf_t     *ymcf;
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);
    mcf = ymcf->metrics;

    if (mcf == NULL || !mcf->used) {
        return NGX_OK;
    }

    if (mcf->nbuckets == 0) {
        mcf->nbuckets = sizeof(ngx_http_yoti_idv_metrics_default_buckets)
                        / sizeof(ngx_msec_t);
        ngx_memcpy(mcf->buckets, ngx_http_yoti_idv_metrics_default_buckets,
                   sizeof(ngx_http_yoti_idv_metrics_default_buckets));
    }

    ngx_str_set(&name, "yoti_idv_metrics");

    mcf->shm_zone = ngx_shared_memory_add(cf, &name,
                        ngx_align(sizeof(ngx_http_yoti_idv_metrics_sh_t),
                                  ngx_pagesize)
                        + 8 * ngx_pagesize,
                        &ngx_http_yoti_idv_metrics_tag);
    if (mcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    mcf->shm_zone->init = ngx_http_yoti_idv_metrics_init_zone;
    mcf->shm_zone->data = mcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_yoti_idv_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_yoti_idv_metrics_conf_t  *omcf = data;

    ngx_uint_t                         i;
    ngx_slab_pool_t                   *shpool;
    ngx_http_yoti_idv_metrics_sh_t    *sh;
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    mcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (omcf || shm_zone->shm.exists) {

        /* a reload keeps the numbers */

        sh = shpool->data;

        if (sh->nbuckets != mcf->nbuckets
            || ngx_memcmp(sh->buckets, mcf->buckets,
                          mcf->nbuckets * sizeof(ngx_msec_t))
               != 0)
        {
            /* other buckets: the histograms start again */

            for (i = NGX_HTTP_YOTI_IDV_M_HIST;
                 i < NGX_HTTP_YOTI_IDV_M_HIST_COUNT + NGX_HTTP_YOTI_IDV_P_N;
                 i++)
            {
                sh->c[i] = 0;
            }

            sh->nbuckets = mcf->nbuckets;
            ngx_memcpy(sh->buckets, mcf->buckets,
                       mcf->nbuckets * sizeof(ngx_msec_t));
        }

        ngx_http_yoti_idv_metrics_add_types(sh, mcf);

        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_yoti_idv_metrics_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;

    sh->nbuckets = mcf->nbuckets;
    ngx_memcpy(sh->buckets, mcf->buckets, mcf->nbuckets * sizeof(ngx_msec_t));

    ngx_http_yoti_idv_metrics_add_types(sh, mcf);

    return NGX_OK;
}


/*
 * the configured check types not yet in the zone, appended: the label
 * of a type keeps its counter across reloads; beyond the table's room a
 * type counts as "check"
 */

static void
ngx_http_yoti_idv_metrics_add_types(ngx_http_yoti_idv_metrics_sh_t *sh,
    ngx_http_yoti_idv_metrics_conf_t *mcf)
{
    ngx_str_t   *type;
    ngx_uint_t   i, j, n;

    type = mcf->types.elts;
    n = sh->ntypes;

    for (i = 0; i < mcf->types.nelts && n < NGX_HTTP_YOTI_IDV_R_TYPES; i++) {

        for (j = 0; j < n; j++) {
            if (sh->type_len[j] == type[i].len
                && ngx_strncmp(sh->types[j], type[i].data, type[i].len) == 0)
            {
                break;
            }
        }

        if (j < n) {
            continue;
        }

        ngx_memcpy(sh->types[n], type[i].data, type[i].len);
        sh->type_len[n] = (u_char) type[i].len;
        n++;
    }

    /* the old workers read the table: the names before their count */
    ngx_memory_barrier();

    sh->ntypes = n;
}


ngx_int_t
ngx_http_yoti_idv_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_slab_pool_t                   *shpool;
    ngx_http_yoti_idv_main_conf_t     *ymcf;
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    ngx_http_yoti_idv_metrics = NULL;
    ngx_http_yoti_idv_metrics_sh = NULL;

    ymcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_yoti_idv_module);
    if (ymcf == NULL) {
        return NGX_OK;
    }

    mcf = ymcf->metrics;

    if (mcf == NULL || mcf->shm_zone == NULL) {
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) mcf->shm_zone->shm.addr;

    ngx_http_yoti_idv_metrics_sh = shpool->data;
    ngx_http_yoti_idv_metrics = ngx_http_yoti_idv_metrics_sh->c;

    /* a new worker has no connection yet, whatever its predecessor had */
    ngx_http_yoti_idv_metric_redis_up(0);

    return NGX_OK;
}


/* the issue #12 endpoint says it exists: its counters are shown */

ngx_int_t
ngx_http_yoti_idv_metrics_notifications(ngx_conf_t *cf)
{
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    mcf = ngx_http_yoti_idv_metrics_conf(cf);
    if (mcf == NULL) {
        return NGX_ERROR;
    }

    mcf->notifications = 1;

    return NGX_OK;
}


void
ngx_http_yoti_idv_metric_verdict(ngx_http_yoti_idv_ctx_t *ctx)
{
    ngx_uint_t  layer, v;

    if (ngx_http_yoti_idv_metrics == NULL) {
        return;
    }

    switch (ctx->cache) {

    case NGX_HTTP_YOTI_IDV_CACHE_HIT:
    case NGX_HTTP_YOTI_IDV_CACHE_STALE:
    case NGX_HTTP_YOTI_IDV_CACHE_UPDATING:
        /* a cached verdict, fresh or expired, answered */
        layer = (ctx->layer == NGX_HTTP_YOTI_IDV_LAYER_REDIS)
                ? NGX_HTTP_YOTI_IDV_L_REDIS : NGX_HTTP_YOTI_IDV_L_ZONE;
        break;

    default:
        layer = ctx->evaluated ? NGX_HTTP_YOTI_IDV_L_PROVIDER
                               : NGX_HTTP_YOTI_IDV_L_NONE;
    }

    v = ctx->result.verdict;

    if (v > NGX_YOTI_IDV_ERROR) {
        v = NGX_YOTI_IDV_ERROR;
    }

    (void) ngx_atomic_fetch_add(&ngx_http_yoti_idv_metrics[
                                    NGX_HTTP_YOTI_IDV_M_VERDICT
                                    + v * NGX_HTTP_YOTI_IDV_L_N + layer], 1);

    if (v != NGX_YOTI_IDV_ALLOW) {
        (void) ngx_atomic_fetch_add(&ngx_http_yoti_idv_metrics[
                                        NGX_HTTP_YOTI_IDV_M_REASON
                                        + ngx_http_yoti_idv_metrics_reason(
                                              ctx->result.reason)], 1);
    }
}


/*
 * a reason's group: the part before the first ":", one of a fixed list,
 * and for "check:<TYPE>:..." the configured type; never anything else
 * of the reason, which may hold what the provider sent
 */

static ngx_uint_t
ngx_http_yoti_idv_metrics_reason(const char *reason)
{
    size_t                           len, tlen;
    ngx_uint_t                       i, n;
    const char                      *colon, *type;
    ngx_http_yoti_idv_metrics_sh_t  *sh;

    colon = strchr(reason, ':');
    len = colon ? (size_t) (colon - reason) : ngx_strlen(reason);

    if (colon && len == sizeof("check") - 1
        && ngx_strncmp(reason, "check", len) == 0)
    {
        sh = ngx_http_yoti_idv_metrics_sh;

        type = colon + 1;
        colon = strchr(type, ':');
        tlen = colon ? (size_t) (colon - type) : ngx_strlen(type);

        n = sh->ntypes;
        ngx_memory_barrier();

        for (i = 0; i < n; i++) {
            if (sh->type_len[i] == tlen
                && ngx_strncmp(sh->types[i], type, tlen) == 0)
            {
                return NGX_HTTP_YOTI_IDV_R_GROUPS + i;
            }
        }
    }

    for (i = 1; i < NGX_HTTP_YOTI_IDV_R_GROUPS; i++) {
        if (ngx_strlen(ngx_http_yoti_idv_reason_groups[i]) == len
            && ngx_strncmp(reason, ngx_http_yoti_idv_reason_groups[i], len)
               == 0)
        {
            return i;
        }
    }

    return 0;
}


/* a subrequest to the provider is done: its outcome and duration */

void
ngx_http_yoti_idv_metric_fetch(ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_answer_t *a)
{
    ngx_int_t                        ms;
    ngx_uint_t                       p, o, b;
    ngx_time_t                      *tp;
    ngx_http_request_t              *sr;
    ngx_http_yoti_idv_metrics_sh_t  *sh;

    sh = ngx_http_yoti_idv_metrics_sh;

    if (sh == NULL) {
        return;
    }

    p = (ylcf->provider == &ngx_http_yoti_idv_provider_aws) ? 1 : 0;

    switch (a->failure) {

    case NGX_HTTP_YOTI_IDV_FETCH_TOO_BIG:
        o = NGX_HTTP_YOTI_IDV_O_TOO_BIG;
        break;

    case NGX_HTTP_YOTI_IDV_FETCH_TRUNCATED:
        o = NGX_HTTP_YOTI_IDV_O_TRUNCATED;
        break;

    case NGX_HTTP_YOTI_IDV_FETCH_FAILED:
        o = NGX_HTTP_YOTI_IDV_O_FAILED;
        break;

    default:
        if (a->status == NGX_HTTP_GATEWAY_TIME_OUT) {
            /* what nginx answers when a proxy_*_timeout expires */
            o = NGX_HTTP_YOTI_IDV_O_TIMEOUT;

        } else if (a->status >= 500) {
            o = NGX_HTTP_YOTI_IDV_O_5XX;

        } else if (a->status >= 400) {
            o = NGX_HTTP_YOTI_IDV_O_4XX;

        } else if (a->status >= 200 && a->status < 300) {
            o = NGX_HTTP_YOTI_IDV_O_2XX;

        } else {
            o = NGX_HTTP_YOTI_IDV_O_FAILED;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->c[NGX_HTTP_YOTI_IDV_M_PROVIDER
                                       + p * NGX_HTTP_YOTI_IDV_O_N + o], 1);

    tp = ngx_timeofday();

    if (o == NGX_HTTP_YOTI_IDV_O_2XX || o == NGX_HTTP_YOTI_IDV_O_4XX) {
        sh->provider_ok = (ngx_atomic_uint_t) tp->sec;

    } else {
        sh->provider_failed = (ngx_atomic_uint_t) tp->sec;
    }

    sr = a->sr;

    ms = (ngx_int_t) ((tp->sec - sr->start_sec) * 1000
                      + (tp->msec - sr->start_msec));
    ms = ngx_max(ms, 0);

    for (b = 0; b < sh->nbuckets; b++) {
        if ((ngx_msec_t) ms <= sh->buckets[b]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->c[NGX_HTTP_YOTI_IDV_M_HIST
                                       + p * (NGX_HTTP_YOTI_IDV_BUCKETS_MAX
                                              + 1)
                                       + b], 1);
    (void) ngx_atomic_fetch_add(&sh->c[NGX_HTTP_YOTI_IDV_M_HIST_SUM + p], ms);
    (void) ngx_atomic_fetch_add(&sh->c[NGX_HTTP_YOTI_IDV_M_HIST_COUNT + p],
                                1);
}


void
ngx_http_yoti_idv_metric_redis_up(ngx_uint_t up)
{
    if (ngx_http_yoti_idv_metrics_sh == NULL
        || ngx_worker >= NGX_HTTP_YOTI_IDV_METRICS_WORKERS)
    {
        return;
    }

    ngx_http_yoti_idv_metrics_sh->redis_up[ngx_worker] = up;
}


void
ngx_http_yoti_idv_metric_redis_error(const char *error)
{
    ngx_uint_t  i;

    if (ngx_http_yoti_idv_metrics == NULL) {
        return;
    }

    if (ngx_strncmp(error, "redis:", 6) == 0) {
        error += 6;
    }

    for (i = 0; i < NGX_HTTP_YOTI_IDV_REDIS_ERR_N - 1; i++) {
        if (ngx_strcmp(error, ngx_http_yoti_idv_redis_errors[i]) == 0) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&ngx_http_yoti_idv_metrics[
                                    NGX_HTTP_YOTI_IDV_M_REDIS_ERROR + i], 1);
}


ngx_uint_t
ngx_http_yoti_idv_metric_topic(u_char *topic, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_YOTI_IDV_T_OTHER; i++) {
        if (ngx_strlen(ngx_http_yoti_idv_topics[i]) == len
            && ngx_strncmp(topic, ngx_http_yoti_idv_topics[i], len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_YOTI_IDV_T_OTHER;
}
