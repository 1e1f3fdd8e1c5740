
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * The content handlers of yoti_idv_metrics (the Prometheus text
 * exposition of the counters in ngx_http_yoti_idv_metrics.c) and
 * yoti_idv_health.
 */


#include "ngx_http_yoti_idv_module.h"


/* the provider failed every request for this long: see health_handler() */
#define NGX_HTTP_YOTI_IDV_HEALTH_WINDOW     10


typedef struct {
    ngx_http_request_t            *request;
    ngx_http_yoti_idv_redis_op_t   op;
    ngx_event_t                    wake;
    ngx_uint_t                     provider_ok;
} ngx_http_yoti_idv_health_ctx_t;


static u_char *ngx_http_yoti_idv_metrics_write(u_char *p,
    ngx_http_yoti_idv_metrics_sh_t *sh, ngx_http_yoti_idv_metrics_conf_t *mcf,
    ngx_http_yoti_idv_main_conf_t *ymcf);
static u_char *ngx_http_yoti_idv_metrics_seconds(u_char *p, ngx_msec_t ms);
static void ngx_http_yoti_idv_health_done(void *data);
static void ngx_http_yoti_idv_health_wake(ngx_event_t *ev);
static void ngx_http_yoti_idv_health_cleanup(void *data);
static ngx_int_t ngx_http_yoti_idv_health_send(ngx_http_request_t *r,
    ngx_uint_t provider_ok, const char *redis);
static ngx_int_t ngx_http_yoti_idv_metrics_send(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, u_char *data, size_t len);


static const char  *ngx_http_yoti_idv_layers[] = {
    "zone", "redis", "provider", "none"
};


static const char  *ngx_http_yoti_idv_verdicts[] = {
    "allow", "deny", "pending", "error"
};


static const char  *ngx_http_yoti_idv_outcomes[] = {
    "2xx", "4xx", "5xx", "timeout", "failed", "too_big", "truncated"
};


static const char  *ngx_http_yoti_idv_providers[] = {
    "yoti", "aws_rekognition"
};


static const char  *ngx_http_yoti_idv_notify_outcomes[] = {
    "accepted", "unauthorized", "invalid", "failed"
};


ngx_int_t
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
                           "%uL\n", &shm_zone->shm.name, st.evictions);
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

ngx_int_t
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
