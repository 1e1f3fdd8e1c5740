
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * yoti_idv_metrics and yoti_idv_health, and the counters behind them.
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


#define NGX_HTTP_YOTI_IDV_METRICS_TYPE_LEN  64

/* the provider failed every request for this long: see health() */
#define NGX_HTTP_YOTI_IDV_HEALTH_WINDOW     10


struct ngx_http_yoti_idv_metrics_conf_s {
    ngx_shm_zone_t                *shm_zone;
    ngx_uint_t                     nbuckets;
    ngx_msec_t                     buckets[NGX_HTTP_YOTI_IDV_BUCKETS_MAX];
    ngx_array_t                    types;       /* ngx_str_t, each once */
    unsigned                       used:1;
    unsigned                       notifications:1;
};


typedef struct {
    ngx_atomic_t                   c[NGX_HTTP_YOTI_IDV_M_N];
    ngx_atomic_t                   redis_up[NGX_HTTP_YOTI_IDV_METRICS_WORKERS];

    /* ngx_time() of the last provider answer that worked, or failed */
    ngx_atomic_t                   provider_ok;
    ngx_atomic_t                   provider_failed;

    ngx_uint_t                     nbuckets;
    ngx_msec_t                     buckets[NGX_HTTP_YOTI_IDV_BUCKETS_MAX];

    ngx_atomic_t                   ntypes;
    u_char                         type_len[NGX_HTTP_YOTI_IDV_R_TYPES];
    u_char                         types[NGX_HTTP_YOTI_IDV_R_TYPES]
                                        [NGX_HTTP_YOTI_IDV_METRICS_TYPE_LEN];
} ngx_http_yoti_idv_metrics_sh_t;


typedef struct {
    ngx_http_request_t            *request;
    ngx_http_yoti_idv_redis_op_t   op;
    ngx_event_t                    wake;
    ngx_uint_t                     provider_ok;
} ngx_http_yoti_idv_health_ctx_t;


static ngx_http_yoti_idv_metrics_conf_t *ngx_http_yoti_idv_metrics_conf(
    ngx_conf_t *cf);
static ngx_int_t ngx_http_yoti_idv_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_yoti_idv_metrics_add_types(
    ngx_http_yoti_idv_metrics_sh_t *sh, ngx_http_yoti_idv_metrics_conf_t *mcf);
static ngx_int_t ngx_http_yoti_idv_metrics_handler(ngx_http_request_t *r);
static u_char *ngx_http_yoti_idv_metrics_write(u_char *p,
    ngx_http_yoti_idv_metrics_sh_t *sh, ngx_http_yoti_idv_metrics_conf_t *mcf,
    ngx_http_yoti_idv_main_conf_t *ymcf);
static u_char *ngx_http_yoti_idv_metrics_seconds(u_char *p, ngx_msec_t ms);
static ngx_uint_t ngx_http_yoti_idv_metrics_reason(const char *reason);
static ngx_int_t ngx_http_yoti_idv_health_handler(ngx_http_request_t *r);
static void ngx_http_yoti_idv_health_done(void *data);
static void ngx_http_yoti_idv_health_wake(ngx_event_t *ev);
static void ngx_http_yoti_idv_health_cleanup(void *data);
static ngx_int_t ngx_http_yoti_idv_health_send(ngx_http_request_t *r,
    ngx_uint_t provider_ok, const char *redis);
static ngx_int_t ngx_http_yoti_idv_metrics_send(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, u_char *data, size_t len);


ngx_atomic_t  *ngx_http_yoti_idv_metrics;

static ngx_http_yoti_idv_metrics_sh_t  *ngx_http_yoti_idv_metrics_sh;

/* the zone's tag: the cache zones use the module's */
static ngx_uint_t  ngx_http_yoti_idv_metrics_tag;


/* a request in the default buckets: a remote API, in milliseconds */
static ngx_msec_t  ngx_http_yoti_idv_metrics_default_buckets[] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000
};


static const char  *ngx_http_yoti_idv_layers[] = {
    "zone", "redis", "provider", "none"
};


static const char  *ngx_http_yoti_idv_verdicts[] = {
    "allow", "deny", "pending", "error"
};


/* the part of a reason before its first ":", see docs/operations.md */
static const char  *ngx_http_yoti_idv_reason_groups[] = {
    "other", "no_user", "no_session", "bad_session_id", "state", "check",
    "provider", "media", "redis", "internal", "age", "liveness_type",
    "document_type", "issuing_country", "confidence", "user_mismatch"
};


static const char  *ngx_http_yoti_idv_outcomes[] = {
    "2xx", "4xx", "5xx", "timeout", "failed", "too_big", "truncated"
};


static const char  *ngx_http_yoti_idv_providers[] = {
    "yoti", "aws_rekognition"
};


/* "redis:<kind>", in the order of the counters; the last one is "other" */
static const char  *ngx_http_yoti_idv_redis_errors[] = {
    "connect", "connect_timeout", "timeout", "closed", "auth", "select",
    "error", "down", "other"
};


static const char  *ngx_http_yoti_idv_topics[] = {
    "session_completion", "check_completion", "task_completion",
    "resource_update", "client_session_token_deleted", "other"
};


static const char  *ngx_http_yoti_idv_notify_outcomes[] = {
    "accepted", "unauthorized", "invalid", "failed"
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
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    mcf = ngx_http_yoti_idv_metrics_conf(cf);
    if (mcf == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->used = 1;

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

    if (ctx->cache == NGX_HTTP_YOTI_IDV_CACHE_HIT) {
        layer = (ctx->zone.zone && ctx->zone.rc == NGX_OK)
                ? NGX_HTTP_YOTI_IDV_L_ZONE : NGX_HTTP_YOTI_IDV_L_REDIS;

    } else {
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


static ngx_int_t
ngx_http_yoti_idv_metrics_handler(ngx_http_request_t *r)
{
    size_t                             size;
    u_char                            *data, *last;
    ngx_int_t                          rc;
    ngx_http_yoti_idv_main_conf_t     *ymcf;
    ngx_http_yoti_idv_metrics_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);
    mcf = ymcf->metrics;

    /* the HELP and TYPE lines, and a line per series, each under 160 */

    size = 8192 + 160 * (NGX_HTTP_YOTI_IDV_M_N
                         + NGX_HTTP_YOTI_IDV_METRICS_WORKERS);

    data = ngx_pnalloc(r->pool, size);
    if (data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_http_yoti_idv_metrics_write(data, ngx_http_yoti_idv_metrics_sh,
                                           mcf, ymcf);

    return ngx_http_yoti_idv_metrics_send(r, NGX_HTTP_OK,
                                          "text/plain; version=0.0.4; "
                                          "charset=utf-8",
                                          data, last - data);
}


#define ngx_http_yoti_idv_metrics_head(p, name, type, help)                   \
    ngx_sprintf(p, "# HELP nginx_yoti_idv_" name " " help "\n"                \
                   "# TYPE nginx_yoti_idv_" name " " type "\n")


static u_char *
ngx_http_yoti_idv_metrics_write(u_char *p, ngx_http_yoti_idv_metrics_sh_t *sh,
    ngx_http_yoti_idv_metrics_conf_t *mcf, ngx_http_yoti_idv_main_conf_t *ymcf)
{
    ngx_uint_t                      i, j, n, cum;
    ngx_atomic_t                   *c;
    ngx_core_conf_t                *ccf;
    ngx_shm_zone_t                 *shm_zone;
    ngx_list_part_t                *part;
    ngx_http_yoti_idv_shm_stats_t   st;

    c = sh->c;

    p = ngx_http_yoti_idv_metrics_head(p, "info", "gauge",
                                       "The module's version.");
    p = ngx_sprintf(p, "nginx_yoti_idv_info{version=\"%s\"} 1\n",
                    NGX_HTTP_YOTI_IDV_VERSION);

    p = ngx_http_yoti_idv_metrics_head(p, "verdicts_total", "counter",
                                       "Verdicts, by verdict and by the "
                                       "layer that answered.");

    for (i = 0; i < 4; i++) {
        for (j = 0; j < NGX_HTTP_YOTI_IDV_L_N; j++) {
            p = ngx_sprintf(p, "nginx_yoti_idv_verdicts_total{verdict=\"%s\","
                               "layer=\"%s\"} %uA\n",
                            ngx_http_yoti_idv_verdicts[i],
                            ngx_http_yoti_idv_layers[j],
                            c[NGX_HTTP_YOTI_IDV_M_VERDICT
                              + i * NGX_HTTP_YOTI_IDV_L_N + j]);
        }
    }

    p = ngx_http_yoti_idv_metrics_head(p, "reasons_total", "counter",
                                       "Verdicts other than allow, by the "
                                       "group of their reason.");

    for (i = 0; i < NGX_HTTP_YOTI_IDV_R_GROUPS; i++) {
        p = ngx_sprintf(p, "nginx_yoti_idv_reasons_total{reason=\"%s\"} "
                           "%uA\n",
                        ngx_http_yoti_idv_reason_groups[i],
                        c[NGX_HTTP_YOTI_IDV_M_REASON + i]);
    }

    n = sh->ntypes;
    ngx_memory_barrier();

    for (i = 0; i < n; i++) {
        p = ngx_sprintf(p, "nginx_yoti_idv_reasons_total{reason=\"check:%*s\"}"
                           " %uA\n",
                        (size_t) sh->type_len[i], sh->types[i],
                        c[NGX_HTTP_YOTI_IDV_M_REASON
                          + NGX_HTTP_YOTI_IDV_R_GROUPS + i]);
    }

    p = ngx_http_yoti_idv_metrics_head(p, "cache_lookups_total", "counter",
                                       "Verdict cache lookups, by layer and "
                                       "result.");

    for (i = 0; i < 6; i++) {
        p = ngx_sprintf(p, "nginx_yoti_idv_cache_lookups_total{layer=\"%s\","
                           "result=\"%s\"} %uA\n",
                        i < 3 ? "zone" : "redis",
                        (i % 3 == 0) ? "hit" : (i % 3 == 1) ? "miss"
                                                            : "stale",
                        c[NGX_HTTP_YOTI_IDV_M_ZONE_HIT + i]);
    }

    p = ngx_http_yoti_idv_metrics_head(p, "provider_requests_total",
                                       "counter",
                                       "Requests to the provider, by "
                                       "provider and outcome.");

    for (i = 0; i < NGX_HTTP_YOTI_IDV_P_N; i++) {
        for (j = 0; j < NGX_HTTP_YOTI_IDV_O_N; j++) {
            p = ngx_sprintf(p, "nginx_yoti_idv_provider_requests_total{"
                               "provider=\"%s\",outcome=\"%s\"} %uA\n",
                            ngx_http_yoti_idv_providers[i],
                            ngx_http_yoti_idv_outcomes[j],
                            c[NGX_HTTP_YOTI_IDV_M_PROVIDER
                              + i * NGX_HTTP_YOTI_IDV_O_N + j]);
        }
    }

    p = ngx_http_yoti_idv_metrics_head(p, "provider_request_duration_seconds",
                                       "histogram",
                                       "How long requests to the provider "
                                       "took.");

    for (i = 0; i < NGX_HTTP_YOTI_IDV_P_N; i++) {
        cum = 0;

        for (j = 0; j <= sh->nbuckets; j++) {
            cum += c[NGX_HTTP_YOTI_IDV_M_HIST
                     + i * (NGX_HTTP_YOTI_IDV_BUCKETS_MAX + 1) + j];

            p = ngx_sprintf(p, "nginx_yoti_idv_provider_request_duration_"
                               "seconds_bucket{provider=\"%s\",le=\"",
                            ngx_http_yoti_idv_providers[i]);

            if (j < sh->nbuckets) {
                p = ngx_http_yoti_idv_metrics_seconds(p, sh->buckets[j]);

            } else {
                p = ngx_cpymem(p, "+Inf", 4);
            }

            p = ngx_sprintf(p, "\"} %ui\n", cum);
        }

        p = ngx_sprintf(p, "nginx_yoti_idv_provider_request_duration_"
                           "seconds_sum{provider=\"%s\"} ",
                        ngx_http_yoti_idv_providers[i]);
        p = ngx_http_yoti_idv_metrics_seconds(p,
                                    c[NGX_HTTP_YOTI_IDV_M_HIST_SUM + i]);

        /* the count is the +Inf bucket, read once */
        p = ngx_sprintf(p, "\nnginx_yoti_idv_provider_request_duration_"
                           "seconds_count{provider=\"%s\"} %ui\n",
                        ngx_http_yoti_idv_providers[i], cum);
    }

    p = ngx_http_yoti_idv_metrics_head(p, "redis_commands_total", "counter",
                                       "Commands sent to Redis.");
    p = ngx_sprintf(p, "nginx_yoti_idv_redis_commands_total{command=\"mget\"}"
                       " %uA\n"
                       "nginx_yoti_idv_redis_commands_total{command=\"set\"}"
                       " %uA\n",
                    c[NGX_HTTP_YOTI_IDV_M_REDIS_MGET],
                    c[NGX_HTTP_YOTI_IDV_M_REDIS_SET]);

    p = ngx_http_yoti_idv_metrics_head(p, "redis_errors_total", "counter",
                                       "Redis lookups that failed, by kind.");

    for (i = 0; i < NGX_HTTP_YOTI_IDV_REDIS_ERR_N; i++) {
        p = ngx_sprintf(p, "nginx_yoti_idv_redis_errors_total{kind=\"%s\"} "
                           "%uA\n",
                        ngx_http_yoti_idv_redis_errors[i],
                        c[NGX_HTTP_YOTI_IDV_M_REDIS_ERROR + i]);
    }

    p = ngx_http_yoti_idv_metrics_head(p, "redis_reconnects_total", "counter",
                                       "Connections to Redis made again "
                                       "after one was lost or failed.");
    p = ngx_sprintf(p, "nginx_yoti_idv_redis_reconnects_total %uA\n",
                    c[NGX_HTTP_YOTI_IDV_M_REDIS_RECONNECTS]);

    if (ymcf->redis) {
        ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                               ngx_core_module);

        p = ngx_http_yoti_idv_metrics_head(p, "redis_connected", "gauge",
                                           "Whether the worker's connection "
                                           "to Redis is up.");

        n = ngx_min((ngx_uint_t) ccf->worker_processes,
                    NGX_HTTP_YOTI_IDV_METRICS_WORKERS);

        for (i = 0; i < n; i++) {
            p = ngx_sprintf(p, "nginx_yoti_idv_redis_connected{worker=\"%ui\"}"
                               " %uA\n", i, sh->redis_up[i] ? 1 : 0);
        }
    }

    p = ngx_http_yoti_idv_metrics_head(p, "burst_waits_total", "counter",
                                       "Requests that waited for another "
                                       "request's fetch of the same verdict.");
    p = ngx_sprintf(p, "nginx_yoti_idv_burst_waits_total %uA\n",
                    c[NGX_HTTP_YOTI_IDV_M_BURST_WAITS]);

    p = ngx_http_yoti_idv_metrics_head(p, "burst_fetches_saved_total",
                                       "counter",
                                       "Waits that ended with the other "
                                       "request's verdict: fetches saved.");
    p = ngx_sprintf(p, "nginx_yoti_idv_burst_fetches_saved_total %uA\n",
                    c[NGX_HTTP_YOTI_IDV_M_BURST_SAVED]);

    /* the cache zone: the one with the module's tag */

    shm_zone = NULL;

    if (ymcf->zone) {
        part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
        shm_zone = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    shm_zone = NULL;
                    break;
                }

                part = part->next;
                shm_zone = part->elts;
                i = 0;
            }

            if (shm_zone[i].tag == &ngx_http_yoti_idv_module) {
                shm_zone = &shm_zone[i];
                break;
            }
        }
    }

    if (shm_zone) {
        ngx_http_yoti_idv_shm_stats(shm_zone, &st);

        p = ngx_http_yoti_idv_metrics_head(p, "zone_entries", "gauge",
                                           "Entries in the cache zone.");
        p = ngx_sprintf(p, "nginx_yoti_idv_zone_entries{zone=\"%V\"} %ui\n",
                        &shm_zone->shm.name, st.entries);

        if (st.capacity) {
            p = ngx_http_yoti_idv_metrics_head(p, "zone_capacity_entries",
                                               "gauge",
                                               "Entries the cache zone "
                                               "holds at most.");
            p = ngx_sprintf(p, "nginx_yoti_idv_zone_capacity_entries{"
                               "zone=\"%V\"} %ui\n",
                            &shm_zone->shm.name, st.capacity);
        }

        p = ngx_http_yoti_idv_metrics_head(p, "zone_used_bytes", "gauge",
                                           "Bytes of the cache zone in use.");
        p = ngx_sprintf(p, "nginx_yoti_idv_zone_used_bytes{zone=\"%V\"} %uz\n",
                        &shm_zone->shm.name, st.used);

        p = ngx_http_yoti_idv_metrics_head(p, "zone_size_bytes", "gauge",
                                           "Size of the cache zone.");
        p = ngx_sprintf(p, "nginx_yoti_idv_zone_size_bytes{zone=\"%V\"} %uz\n",
                        &shm_zone->shm.name, st.size);

        p = ngx_http_yoti_idv_metrics_head(p, "zone_evictions_total",
                                           "counter",
                                           "Entries evicted before they "
                                           "expired to make room.");
        p = ngx_sprintf(p, "nginx_yoti_idv_zone_evictions_total{zone=\"%V\"} "
                           "%uA\n", &shm_zone->shm.name, st.evictions);
    }

    if (mcf->notifications) {
        p = ngx_http_yoti_idv_metrics_head(p, "notifications_total",
                                           "counter",
                                           "Notifications received, by "
                                           "topic and outcome.");

        for (i = 0; i < NGX_HTTP_YOTI_IDV_T_N; i++) {
            for (j = 0; j < NGX_HTTP_YOTI_IDV_N_N; j++) {
                p = ngx_sprintf(p, "nginx_yoti_idv_notifications_total{"
                                   "topic=\"%s\",outcome=\"%s\"} %uA\n",
                                ngx_http_yoti_idv_topics[i],
                                ngx_http_yoti_idv_notify_outcomes[j],
                                c[NGX_HTTP_YOTI_IDV_M_NOTIFY
                                  + i * NGX_HTTP_YOTI_IDV_N_N + j]);
            }
        }
    }

    return p;
}


/* milliseconds as seconds, without trailing zeros: 50 -> "0.05" */

static u_char *
ngx_http_yoti_idv_metrics_seconds(u_char *p, ngx_msec_t ms)
{
    ngx_uint_t  frac;

    p = ngx_sprintf(p, "%M", ms / 1000);

    frac = ms % 1000;

    if (frac == 0) {
        return p;
    }

    p = ngx_sprintf(p, ".%03ui", frac);

    while (*(p - 1) == '0') {
        p--;
    }

    return p;
}


/*
 * 200 when the gate can give verdicts, 503 when it cannot: Redis is
 * configured and this worker's connection to it is down (asked anew when
 * it is), or the provider failed every request of the last
 * NGX_HTTP_YOTI_IDV_HEALTH_WINDOW seconds in any worker
 */

static ngx_int_t
ngx_http_yoti_idv_health_handler(ngx_http_request_t *r)
{
    u_char                          *p;
    time_t                           now;
    ngx_int_t                        rc;
    ngx_uint_t                       provider_ok;
    ngx_pool_cleanup_t              *cln;
    ngx_http_yoti_idv_main_conf_t   *ymcf;
    ngx_http_yoti_idv_health_ctx_t  *hc;
    ngx_http_yoti_idv_metrics_sh_t  *sh;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);
    sh = ngx_http_yoti_idv_metrics_sh;

    now = ngx_time();

    provider_ok = !((time_t) sh->provider_failed
                        > now - NGX_HTTP_YOTI_IDV_HEALTH_WINDOW
                    && (time_t) sh->provider_ok
                        <= now - NGX_HTTP_YOTI_IDV_HEALTH_WINDOW);

    if (ymcf->redis == NULL) {
        return ngx_http_yoti_idv_health_send(r, provider_ok, "none");
    }

    if (ngx_worker < NGX_HTTP_YOTI_IDV_METRICS_WORKERS
        && sh->redis_up[ngx_worker])
    {
        return ngx_http_yoti_idv_health_send(r, provider_ok, "up");
    }

    /* down, or not yet used: one MGET says, without blocking */

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_yoti_idv_health_ctx_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hc = cln->data;
    ngx_memzero(hc, sizeof(ngx_http_yoti_idv_health_ctx_t));

    hc->request = r;
    hc->provider_ok = provider_ok;
    hc->wake.handler = ngx_http_yoti_idv_health_wake;
    hc->wake.data = hc;
    hc->wake.log = r->connection->log;

    cln->handler = ngx_http_yoti_idv_health_cleanup;

    hc->op.keys[0].len = ymcf->prefix.len + sizeof("health") - 1;
    hc->op.keys[0].data = ngx_pnalloc(r->pool, hc->op.keys[0].len);
    if (hc->op.keys[0].data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(hc->op.keys[0].data, ymcf->prefix.data, ymcf->prefix.len);
    ngx_memcpy(p, "health", sizeof("health") - 1);

    hc->op.nkeys = 1;
    hc->op.pool = r->pool;
    hc->op.log = r->connection->log;
    hc->op.done = ngx_http_yoti_idv_health_done;
    hc->op.data = hc;

    rc = ngx_http_yoti_idv_redis_lookup(ymcf->redis, &hc->op);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        /* not usable now: op.error says why */
        return ngx_http_yoti_idv_health_send(r, provider_ok, "down");
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_yoti_idv_health_done(void *data)
{
    ngx_http_yoti_idv_health_ctx_t *hc = data;

    /* as the gate does: the request moves on from its own event */
    ngx_post_event(&hc->wake, &ngx_posted_events);
}


static void
ngx_http_yoti_idv_health_wake(ngx_event_t *ev)
{
    ngx_http_yoti_idv_health_ctx_t *hc = ev->data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = hc->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    rc = ngx_http_yoti_idv_health_send(r, hc->provider_ok,
                                       hc->op.error ? "down" : "up");

    ngx_http_finalize_request(r, rc);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_yoti_idv_health_cleanup(void *data)
{
    ngx_http_yoti_idv_health_ctx_t *hc = data;

    ngx_http_yoti_idv_redis_cancel(&hc->op);

    if (hc->wake.posted) {
        ngx_delete_posted_event(&hc->wake);
    }
}


static ngx_int_t
ngx_http_yoti_idv_health_send(ngx_http_request_t *r, ngx_uint_t provider_ok,
    const char *redis)
{
    u_char      *data, *last;
    ngx_uint_t   ok;

    ok = provider_ok && ngx_strcmp(redis, "down") != 0;

    data = ngx_pnalloc(r->pool, 128);
    if (data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_sprintf(data, "{\"status\":\"%s\",\"redis\":\"%s\","
                             "\"provider\":\"%s\"}\n",
                       ok ? "ok" : "unavailable", redis,
                       provider_ok ? "ok" : "failing");

    return ngx_http_yoti_idv_metrics_send(r, ok ? NGX_HTTP_OK
                                                : NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "application/json",
                                          data, last - data);
}


static ngx_int_t
ngx_http_yoti_idv_metrics_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type_lowcase = NULL;

    r->headers_out.last_modified_time = -1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
