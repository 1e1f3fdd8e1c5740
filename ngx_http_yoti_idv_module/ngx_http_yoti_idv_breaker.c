
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * yoti_idv_breaker: when every request to a provider API has failed
 * temporarily (see the handler's temporary()) for the breaker's time, and
 * at least NGX_HTTP_YOTI_IDV_BREAKER_MIN of them, the circuit opens: the
 * gate stops asking that API and answers at once (from a stale verdict or
 * ERROR), letting one probe through per second; the first answer that is
 * not a temporary failure closes it.  The state lives in the zone's shared
 * header, one for all workers, or without a zone in each worker.
 *
 * The closed circuit costs a lock-free read per fetch; the lock is taken
 * only while the API fails or the circuit is open.
 */


#include "ngx_http_yoti_idv_module.h"


static ngx_http_yoti_idv_breaker_t *ngx_http_yoti_idv_breaker_get(
    ngx_http_request_t *r, ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_shmtx_t **mutex, ngx_uint_t add);


static ngx_http_yoti_idv_breaker_t
    ngx_http_yoti_idv_breakers[NGX_HTTP_YOTI_IDV_BREAKERS];


/* 1: ask the provider (the circuit is closed, or this is the probe) */

ngx_uint_t
ngx_http_yoti_idv_breaker_allow(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf)
{
    ngx_uint_t                    allow;
    ngx_msec_t                    now;
    ngx_shmtx_t                  *mutex;
    ngx_http_yoti_idv_breaker_t  *b;

    if (ylcf->breaker == 0) {
        return 1;
    }

    b = ngx_http_yoti_idv_breaker_get(r, ylcf, &mutex, 0);

    if (b == NULL || !b->open) {
        return 1;
    }

    now = ngx_current_msec;

    if (mutex) {
        ngx_shmtx_lock(mutex);
    }

    allow = 0;

    if (b->open && b->hash == ylcf->breaker_hash
        && (ngx_msec_int_t) (now - b->probe) >= 0)
    {
        b->probe = now + NGX_HTTP_YOTI_IDV_BREAKER_PROBE;
        allow = 1;
    }

    if (mutex) {
        ngx_shmtx_unlock(mutex);
    }

    if (allow) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv breaker probe");
    }

    return allow;
}


/* the answer of a request the breaker let through */

void
ngx_http_yoti_idv_breaker_result(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_uint_t failed)
{
    ngx_uint_t                    opened, closed;
    ngx_msec_t                    now, failing;
    ngx_shmtx_t                  *mutex;
    ngx_http_yoti_idv_breaker_t  *b;

    if (ylcf->breaker == 0) {
        return;
    }

    b = ngx_http_yoti_idv_breaker_get(r, ylcf, &mutex, failed);

    if (b == NULL) {
        return;
    }

    if (!failed && b->failures == 0 && !b->open) {
        /* the hot path of a healthy provider: no lock */
        return;
    }

    now = ngx_current_msec;
    opened = 0;
    closed = 0;
    failing = 0;

    if (mutex) {
        ngx_shmtx_lock(mutex);
    }

    if (b->hash != ylcf->breaker_hash) {
        /* taken over by another API meanwhile */

    } else if (!failed) {
        closed = b->open;
        failing = now - b->failing;
        b->open = 0;
        b->failures = 0;

    } else {

        if (b->failures++ == 0) {
            b->failing = now;
        }

        if (!b->open && b->failures >= NGX_HTTP_YOTI_IDV_BREAKER_MIN
            && (ngx_msec_int_t) (now - b->failing)
               >= (ngx_msec_int_t) ylcf->breaker)
        {
            b->open = 1;
            b->probe = now + NGX_HTTP_YOTI_IDV_BREAKER_PROBE;
            opened = 1;
            failing = now - b->failing;
        }
    }

    if (mutex) {
        ngx_shmtx_unlock(mutex);
    }

    if (opened) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yoti_idv: the provider at \"%V\" failed for every "
                      "request in the last %M ms: circuit breaker open, "
                      "one probe a second until it answers", &ylcf->api,
                      failing);
    }

    if (closed) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "yoti_idv: the provider at \"%V\" answers again: "
                      "circuit breaker closed after %M ms", &ylcf->api,
                      failing);
    }
}


/*
 * the API's breaker; "add": take a free slot (or the least useful one)
 * when it has none
 */

static ngx_http_yoti_idv_breaker_t *
ngx_http_yoti_idv_breaker_get(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_shmtx_t **mutex, ngx_uint_t add)
{
    ngx_uint_t                      i;
    ngx_http_yoti_idv_breaker_t    *b, *free;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    if (ymcf->zone) {
        b = ngx_http_yoti_idv_shm_breakers(ymcf->zone, mutex);

    } else {
        b = ngx_http_yoti_idv_breakers;
        *mutex = NULL;
    }

    for (i = 0; i < NGX_HTTP_YOTI_IDV_BREAKERS; i++) {
        if (b[i].used && b[i].hash == ylcf->breaker_hash) {
            return &b[i];
        }
    }

    if (!add) {
        return NULL;
    }

    if (*mutex) {
        ngx_shmtx_lock(*mutex);
    }

    free = NULL;

    for (i = 0; i < NGX_HTTP_YOTI_IDV_BREAKERS; i++) {

        if (b[i].used && b[i].hash == ylcf->breaker_hash) {
            free = &b[i];
            break;
        }

        if (free == NULL && (!b[i].used || (!b[i].open && !b[i].failures)))
        {
            free = &b[i];
        }
    }

    if (free && !(free->used && free->hash == ylcf->breaker_hash)) {
        free->hash = ylcf->breaker_hash;
        free->open = 0;
        free->failures = 0;
        free->used = 1;
    }

    if (*mutex) {
        ngx_shmtx_unlock(*mutex);
    }

    return free;
}
