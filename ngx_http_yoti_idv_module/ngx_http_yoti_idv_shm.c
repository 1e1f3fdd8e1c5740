
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * yoti_idv_cache_zone: verdicts shared by the workers of one nginx, in the
 * hash table of ngx_yoti_idv_zone.c (128-byte entries allocated once,
 * CLOCK eviction), under the zone's mutex.
 *
 * An entry is either a verdict (valid until "expire") or a fetch in
 * progress (until "lock"): the first request that misses takes the fetch,
 * the others, in any worker, poll the entry every few milliseconds and
 * take its verdict, so a burst costs one provider request.  A waiter knows
 * the fetch it waited for is done when the entry's "gen", the zone's count
 * of stores, is no longer the one it saw.
 *
 * A verdict is kept "stale" (msec) past its end for
 * yoti_idv_cache_use_stale; a fresh one in its last tenth is refreshed in
 * the background by one request (yoti_idv_cache_background_update), the
 * store's time being the entry's "lock" once the fetch is over.  The
 * zone's circuit breakers sit in a small header allocated before the
 * table.
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_zone.h"

#include <openssl/rand.h>


#define NGX_HTTP_YOTI_IDV_SHM_POLL_MIN    1
#define NGX_HTTP_YOTI_IDV_SHM_POLL_MAX    16


typedef struct {
    ngx_http_yoti_idv_breaker_t    breakers[NGX_HTTP_YOTI_IDV_BREAKERS];
    ngx_yoti_idv_zone_t           *table;

    /* see ngx_http_yoti_idv_shm_events_set(); 0: none taken yet */
    size_t                         events_len;
    u_char                         events[NGX_HTTP_YOTI_IDV_EVENT_ID_LEN];

    /* see ngx_http_yoti_idv_shm_applied(): a ring, "next" is the oldest */
    ngx_uint_t                     next;
    size_t                         applied_len[NGX_HTTP_YOTI_IDV_APPLIED];
    u_char                         applied[NGX_HTTP_YOTI_IDV_APPLIED]
                                          [NGX_HTTP_YOTI_IDV_EVENT_ID_LEN];
} ngx_http_yoti_idv_shm_sh_t;


struct ngx_http_yoti_idv_zone_s {
    ngx_yoti_idv_zone_t           *sh;
    ngx_http_yoti_idv_shm_sh_t    *hdr;
    ngx_slab_pool_t               *shpool;
    ngx_shm_zone_t                *shm_zone;
    time_t                         ttl;
    ngx_msec_t                     wait;
};


/*
 * the zone's mutex, for whoever may change the table: lookups without it
 * (zone_read()) see the seqlock's count move
 */

#define ngx_http_yoti_idv_shm_wlock(zone)                                    \
    ngx_shmtx_lock(&(zone)->shpool->mutex);                                  \
    ngx_yoti_idv_zone_write_begin((zone)->sh)

#define ngx_http_yoti_idv_shm_wunlock(zone)                                  \
    ngx_yoti_idv_zone_write_end((zone)->sh);                                 \
    ngx_shmtx_unlock(&(zone)->shpool->mutex)


static ngx_int_t ngx_http_yoti_idv_shm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_yoti_idv_shm_take(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_zone_entry_t *e);
static ngx_int_t ngx_http_yoti_idv_shm_copy(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_zone_entry_t *e);
static ngx_int_t ngx_http_yoti_idv_shm_fill(ngx_http_yoti_idv_shm_op_t *op,
    const ngx_yoti_idv_zone_entry_t *e);
static ngx_int_t ngx_http_yoti_idv_shm_read(ngx_http_yoti_idv_shm_op_t *op,
    ngx_msec_t now);
static ngx_uint_t ngx_http_yoti_idv_shm_usable(
    ngx_http_yoti_idv_shm_op_t *op, ngx_yoti_idv_zone_entry_t *e,
    ngx_msec_t now);
static ngx_uint_t ngx_http_yoti_idv_shm_refresh(ngx_http_yoti_idv_zone_t *zone,
    ngx_http_yoti_idv_shm_op_t *op, ngx_yoti_idv_zone_entry_t *e,
    ngx_msec_t now);
static void ngx_http_yoti_idv_shm_poll(ngx_event_t *ev);
static uint32_t ngx_http_yoti_idv_shm_mine(ngx_http_yoti_idv_shm_op_t *op);
static ngx_uint_t ngx_http_yoti_idv_shm_spared(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_zone_entry_t *e, ngx_str_t *session_id);


char *
ngx_http_yoti_idv_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yoti_idv_main_conf_t *ymcf = conf;

    ngx_str_t                      *value;
    ngx_uint_t                      i;
    ngx_http_yoti_idv_zone_t       *zone;
    ngx_http_yoti_idv_zone_conf_t   zcf;

    if (ymcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    switch (ngx_http_yoti_idv_parse_zone(value, cf->args->nelts, &zcf, &i)) {

    case NGX_HTTP_YOTI_IDV_PARAM_OK:
        break;

    case NGX_HTTP_YOTI_IDV_PARAM_ZONE:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\" in \"yoti_idv_cache_zone\": "
                           "name:size expected", &value[1]);
        return NGX_CONF_ERROR;

    case NGX_HTTP_YOTI_IDV_PARAM_SIZE:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in "
                           "\"yoti_idv_cache_zone\"", &value[1]);
        return NGX_CONF_ERROR;

    case NGX_HTTP_YOTI_IDV_PARAM_SMALL:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" of \"yoti_idv_cache_zone\" is too "
                           "small: at least %uz bytes", &value[1],
                           8 * ngx_pagesize);
        return NGX_CONF_ERROR;

    default: /* NGX_HTTP_YOTI_IDV_PARAM_INVALID */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in "
                           "\"yoti_idv_cache_zone\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_yoti_idv_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->ttl = zcf.ttl;
    zone->wait = zcf.wait;

    zone->shm_zone = ngx_shared_memory_add(cf, &zcf.name, zcf.size,
                                           &ngx_http_yoti_idv_module);
    if (zone->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &zcf.name);
        return NGX_CONF_ERROR;
    }

    zone->shm_zone->init = ngx_http_yoti_idv_shm_init_zone;
    zone->shm_zone->data = zone;

    ymcf->zone = zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_yoti_idv_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_yoti_idv_zone_t  *ozone = data;

    int                        huge;
    u_char                    *mem;
    size_t                     size;
    uint64_t                   seed[2];
    ngx_http_yoti_idv_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload keeps the verdicts, and the key they are hashed with */
        zone->sh = ozone->sh;
        zone->hdr = ozone->hdr;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->hdr = zone->shpool->data;
        zone->sh = zone->hdr->table;
        return NGX_OK;
    }

    zone->hdr = ngx_slab_calloc(zone->shpool,
                                sizeof(ngx_http_yoti_idv_shm_sh_t));
    if (zone->hdr == NULL) {
        return NGX_ERROR;
    }

    /* every free page left, once: the table is never allocated from again */

    size = zone->shpool->pfree * ngx_pagesize;

    mem = ngx_slab_alloc(zone->shpool, size);
    if (mem == NULL) {
        return NGX_ERROR;
    }

    /* before the table is written; refused (shmem_enabled): no matter */
    huge = ngx_yoti_idv_zone_huge(mem, size);

    if (RAND_bytes((u_char *) seed, sizeof(seed)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "yoti_idv_cache_zone \"%V\": RAND_bytes() failed",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    zone->sh = ngx_yoti_idv_zone_init(mem, size, seed);

    ngx_explicit_memzero(seed, sizeof(seed));

    if (zone->sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "yoti_idv_cache_zone \"%V\" is too small",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    zone->hdr->table = zone->sh;
    zone->shpool->data = zone->hdr;

    ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                  "yoti_idv_cache_zone \"%V\": %uD entries%s",
                  &shm_zone->shm.name, zone->sh->capacity,
                  huge == 0 ? ", huge pages asked for" : "");

    return NGX_OK;
}


/*
 * NGX_OK: a verdict, for op->session_id when it is set, in op (with the
 * session id of the entry);
 * NGX_DECLINED: none, and this request now fetches it for everyone;
 * NGX_AGAIN: another request is fetching it: op->done() is called when
 * the wait ends, see shm_poll();
 * NGX_ERROR: the zone cannot help (full of fetches, a session id longer
 * than an entry holds).
 */

ngx_int_t
ngx_http_yoti_idv_shm_lookup(ngx_http_yoti_idv_shm_op_t *op)
{
    uint32_t                    n;
    ngx_int_t                   rc;
    ngx_uint_t                  bound;
    ngx_msec_t                  now;
    ngx_yoti_idv_zone_t        *z;
    ngx_http_yoti_idv_zone_t   *zone;
    ngx_yoti_idv_zone_entry_t  *e;

    zone = op->zone;
    z = zone->sh;

    op->rc = NGX_DECLINED;
    op->stale = 0;
    op->refresh = 0;

    /* for the mapping's session, an expired entry waits for the mapping */
    bound = (op->session_id.len != 0);

    if (op->session_id.len > NGX_YOTI_IDV_ZONE_SID_LEN) {
        return NGX_ERROR;
    }

    /* the key is the zone's own: the hash is computed once a request */
    ngx_yoti_idv_zone_hash(z, op->key.data, op->key.len, op->hash);

    now = ngx_current_msec;

    if (ngx_http_yoti_idv_shm_read(op, now) == NGX_OK) {
        return NGX_OK;
    }

    ngx_http_yoti_idv_shm_wlock(zone);

    n = ngx_yoti_idv_zone_find(z, op->hash);

    ngx_log_debug5(NGX_LOG_DEBUG_HTTP, op->log, 0,
                   "yoti_idv zone lookup \"%V\" %016uxL: entry %uD of %uD, "
                   "%uD in use", &op->key, op->hash[0], n, z->capacity,
                   z->count);

    if (n) {
        e = ngx_yoti_idv_zone_entry(z, n);

        rc = ngx_http_yoti_idv_shm_take(op, e);

        if (rc == NGX_OK) {

            /* in the last tenth of its life: this request refreshes it */

            if (op->background
                && (ngx_msec_int_t) ((ngx_msec_t) e->expire - now)
                   < (ngx_msec_int_t) ((ngx_msec_t) e->expire
                                       - (ngx_msec_t) e->lock) / 10)
            {
                (void) ngx_http_yoti_idv_shm_refresh(zone, op, e, now);
            }

            ngx_http_yoti_idv_shm_wunlock(zone);
            return NGX_OK;
        }

        /*
         * expired within the stale window: kept in op for when the
         * provider cannot answer (or answered at once, in the background)
         */

        if (ngx_http_yoti_idv_shm_usable(op, e, now)
            && ngx_http_yoti_idv_shm_copy(op, e) == NGX_OK)
        {
            op->rc = NGX_DECLINED;
            op->stale = 1;

            if (op->background && bound) {
                (void) ngx_http_yoti_idv_shm_refresh(zone, op, e, now);

                ngx_http_yoti_idv_shm_wunlock(zone);

                op->rc = NGX_OK;
                return NGX_OK;
            }
        }

        if ((e->flags & NGX_YOTI_IDV_ZONE_FETCHING)
            && (ngx_msec_int_t) ((ngx_msec_t) e->lock - now) > 0)
        {
            op->gen = e->gen;

            ngx_http_yoti_idv_shm_wunlock(zone);

            op->since = now;
            op->poll = NGX_HTTP_YOTI_IDV_SHM_POLL_MIN;

            op->timer.handler = ngx_http_yoti_idv_shm_poll;
            op->timer.data = op;
            op->timer.log = op->log;

            ngx_add_timer(&op->timer, op->poll);

            return NGX_AGAIN;
        }

    } else {
        n = ngx_yoti_idv_zone_add(z, op->hash,
                                  ngx_yoti_idv_zone_hash64(z,
                                                           op->user_id.data,
                                                           op->user_id.len),
                                  now);

        if (n == 0) {
            ngx_http_yoti_idv_shm_wunlock(zone);
            ngx_log_error(NGX_LOG_WARN, op->log, 0,
                          "yoti_idv: the verdict cannot be cached in "
                          "\"%V\": the zone is full of entries in use",
                          &zone->shm_zone->shm.name);
            return NGX_ERROR;
        }

        e = ngx_yoti_idv_zone_entry(z, n);

        e->verdict = NGX_YOTI_IDV_ERROR;

        /* an invalidation of the session finds the fetch too */
        (void) ngx_yoti_idv_zone_set_sid(z, n, op->session_id.data,
                                         op->session_id.len);
    }

    /* no verdict, nobody fetching it: this request will */

    e->flags |= NGX_YOTI_IDV_ZONE_FETCHING;
    e->lock = now + zone->wait;

    op->locked = e->lock;
    op->generation = z->drops;

    ngx_http_yoti_idv_shm_wunlock(zone);

    op->owner = 1;

    return NGX_DECLINED;
}


/*
 * with the zone locked: the entry's fetch for this request, unless another
 * request has it; the store's time is "lock" until then
 */

static ngx_uint_t
ngx_http_yoti_idv_shm_refresh(ngx_http_yoti_idv_zone_t *zone,
    ngx_http_yoti_idv_shm_op_t *op, ngx_yoti_idv_zone_entry_t *e,
    ngx_msec_t now)
{
    if ((e->flags & NGX_YOTI_IDV_ZONE_FETCHING)
        && (ngx_msec_int_t) ((ngx_msec_t) e->lock - now) > 0)
    {
        return 0;
    }

    e->flags |= NGX_YOTI_IDV_ZONE_FETCHING;
    e->lock = now + zone->wait;

    op->locked = e->lock;
    op->generation = zone->sh->drops;

    op->owner = 1;
    op->refresh = 1;

    return 1;
}


/*
 * with the zone locked: an expired verdict that op->use_stale and the
 * entry's own window still allow
 */

static ngx_uint_t
ngx_http_yoti_idv_shm_usable(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_zone_entry_t *e, ngx_msec_t now)
{
    return op->use_stale
           && e->verdict != NGX_YOTI_IDV_ERROR
           && (ngx_msec_int_t) ((ngx_msec_t) e->stale - now) > 0
           && (ngx_msec_int_t) (now - (ngx_msec_t) e->expire)
              < (ngx_msec_int_t) op->use_stale;
}


/* with the zone locked: a verdict the request can use, into op */

static ngx_int_t
ngx_http_yoti_idv_shm_take(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_zone_entry_t *e)
{
    if (e->verdict == NGX_YOTI_IDV_ERROR
        || (ngx_msec_int_t) ((ngx_msec_t) e->expire - ngx_current_msec) <= 0)
    {
        return NGX_DECLINED;
    }

    return ngx_http_yoti_idv_shm_copy(op, e);
}


/*
 * a hit without the mutex and without a write: a fresh verdict copied out
 * of the zone under its seqlock, already referenced (CLOCK), out of its
 * last tenth when refreshed in the background, for op's session; anything
 * else (and a writer in the way) is for the locked path
 */

static ngx_int_t
ngx_http_yoti_idv_shm_read(ngx_http_yoti_idv_shm_op_t *op, ngx_msec_t now)
{
    uint32_t                   n;
    ngx_yoti_idv_zone_entry_t  e;

    if (ngx_yoti_idv_zone_read(op->zone->sh, op->hash, &e, &n) != 1
        || !(e.flags & NGX_YOTI_IDV_ZONE_REFERENCED)
        || e.verdict == NGX_YOTI_IDV_ERROR
        || (ngx_msec_int_t) ((ngx_msec_t) e.expire - now) <= 0)
    {
        return NGX_DECLINED;
    }

    if (op->background
        && (ngx_msec_int_t) ((ngx_msec_t) e.expire - now)
           < (ngx_msec_int_t) ((ngx_msec_t) e.expire - (ngx_msec_t) e.lock)
             / 10)
    {
        return NGX_DECLINED;
    }

    if (e.sid_len > NGX_YOTI_IDV_ZONE_SID_LEN) {
        return NGX_DECLINED;
    }

    return ngx_http_yoti_idv_shm_fill(op, &e);
}


/* with the zone locked */

static ngx_int_t
ngx_http_yoti_idv_shm_copy(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_zone_entry_t *e)
{
    ngx_int_t  rc;

    rc = ngx_http_yoti_idv_shm_fill(op, e);

    if (rc != NGX_OK) {
        return rc;
    }

    /* CLOCK: a write only the first time the hand would see it */

    if (!(e->flags & NGX_YOTI_IDV_ZONE_REFERENCED)) {
        e->flags |= NGX_YOTI_IDV_ZONE_REFERENCED;
    }

    return NGX_OK;
}


/* the verdict of e into op: e is the zone's, locked, or a copy */

static ngx_int_t
ngx_http_yoti_idv_shm_fill(ngx_http_yoti_idv_shm_op_t *op,
    const ngx_yoti_idv_zone_entry_t *e)
{
    u_char                            *sid;
    const ngx_yoti_idv_zone_reason_t  *reason;

    reason = ngx_yoti_idv_zone_reason(op->zone->sh, e->reason);
    if (reason == NULL) {
        return NGX_DECLINED;
    }

    if (op->session_id.len) {

        if (op->session_id.len != e->sid_len
            || ngx_memcmp(op->session_id.data, e->sid, e->sid_len) != 0)
        {
            /* the user's other session */
            return NGX_DECLINED;
        }

    } else {
        sid = ngx_pnalloc(op->pool, e->sid_len);
        if (sid == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(sid, e->sid, e->sid_len);

        op->session_id.data = sid;
        op->session_id.len = e->sid_len;
    }

    op->verdict = e->verdict;
    ngx_memcpy(op->reason, reason->data, reason->len);
    op->reason[reason->len] = '\0';
    op->reason_len = reason->len;

    op->rc = NGX_OK;

    return NGX_OK;
}


static void
ngx_http_yoti_idv_shm_poll(ngx_event_t *ev)
{
    ngx_http_yoti_idv_shm_op_t *op = ev->data;

    uint32_t                    n;
    ngx_int_t                   rc;
    ngx_msec_t                  now;
    ngx_yoti_idv_zone_t        *z;
    ngx_http_yoti_idv_zone_t   *zone;
    ngx_yoti_idv_zone_entry_t  *e;

    zone = op->zone;
    z = zone->sh;
    now = ngx_current_msec;

    ngx_http_yoti_idv_shm_wlock(zone);

    n = ngx_yoti_idv_zone_find(z, op->hash);
    e = n ? ngx_yoti_idv_zone_entry(z, n) : NULL;

    if (e && (e->flags & NGX_YOTI_IDV_ZONE_FETCHING)
        && (ngx_msec_int_t) ((ngx_msec_t) e->lock - now) > 0
        && (ngx_msec_int_t) (now - op->since) < (ngx_msec_int_t) zone->wait)
    {
        ngx_http_yoti_idv_shm_wunlock(zone);

        op->poll = ngx_min(op->poll * 2, NGX_HTTP_YOTI_IDV_SHM_POLL_MAX);
        ngx_add_timer(&op->timer, op->poll);
        return;
    }

    rc = NGX_DECLINED;

    if (e && !(e->flags & NGX_YOTI_IDV_ZONE_FETCHING) && e->gen != op->gen) {

        /* the burst's fetch is done: its verdict, even an error */

        rc = (e->verdict == NGX_YOTI_IDV_ERROR)
             ? ngx_http_yoti_idv_shm_copy(op, e)
             : ngx_http_yoti_idv_shm_take(op, e);

        if (rc == NGX_OK) {
            op->stale = 0;

        } else if (ngx_http_yoti_idv_shm_usable(op, e, now)) {
            /* the fetch failed and kept the old verdict: serve it stale */
            rc = ngx_http_yoti_idv_shm_copy(op, e);
            op->stale = (rc == NGX_OK);
        }
    }

    ngx_http_yoti_idv_shm_wunlock(zone);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, op->log, 0,
                   "yoti_idv zone wait done after %M ms, rc:%i",
                   now - op->since, rc);

    /* a verdict, or (the wait timed out) the request fetches on its own */
    op->rc = (rc == NGX_OK) ? NGX_OK : NGX_DECLINED;

    op->done(op->data);
}


/*
 * the verdict of the fetch this request made for everyone, kept "stale"
 * seconds past its end for yoti_idv_cache_use_stale; valid -1: the fetch
 * failed, and an expired verdict for the same session stays.  An entry
 * that went meanwhile (invalidated, flushed, evicted after its lock) is
 * not made again: an invalidation wins over the fetch in flight
 */

void
ngx_http_yoti_idv_shm_store(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_verdict_e verdict, const char *reason, ngx_str_t *session_id,
    time_t valid, time_t stale)
{
    uint16_t                    id;
    uint32_t                    n;
    ngx_msec_t                  now;
    ngx_yoti_idv_zone_t        *z;
    ngx_http_yoti_idv_zone_t   *zone;
    ngx_yoti_idv_zone_entry_t  *e;

    if (!op->owner) {
        return;
    }

    op->owner = 0;

    zone = op->zone;
    z = zone->sh;

    /* an error: waiting requests take it, later ones do not */
    valid = ngx_min(valid, zone->ttl);

    now = ngx_current_msec;

    ngx_http_yoti_idv_shm_wlock(zone);

    n = ngx_http_yoti_idv_shm_mine(op);

    if (n == 0) {
        /* gone, or another request's fetch since */
        ngx_http_yoti_idv_shm_wunlock(zone);
        return;
    }

    e = ngx_yoti_idv_zone_entry(z, n);

    if (!ngx_http_yoti_idv_shm_spared(op, e, session_id)) {

        /*
         * an invalidation came during the fetch and the entry was not
         * in the session's index: the verdict may be the one it was for
         */

        e->flags &= ~NGX_YOTI_IDV_ZONE_FETCHING;
        e->lock = now;

        if (++z->gen == 0) {
            z->gen = 1;
        }

        e->gen = z->gen;

        ngx_http_yoti_idv_shm_wunlock(zone);
        return;
    }

    if (valid < 0 && e->verdict != NGX_YOTI_IDV_ERROR
        && (ngx_msec_int_t) ((ngx_msec_t) e->stale - now) > 0
        && e->sid_len == session_id->len
        && (e->sid_len == 0
            || ngx_memcmp(e->sid, session_id->data, e->sid_len) == 0))
    {
        /*
         * valid -1: the fetch failed and the request was answered from
         * the expired verdict; it stays for its stale window, and the
         * waiters see the fetch is over
         */
        e->flags &= ~NGX_YOTI_IDV_ZONE_FETCHING;
        e->lock = now;

        if (++z->gen == 0) {
            z->gen = 1;
        }

        e->gen = z->gen;

        ngx_http_yoti_idv_shm_wunlock(zone);
        return;
    }

    if (valid < 0 || verdict == NGX_YOTI_IDV_ERROR) {
        verdict = NGX_YOTI_IDV_ERROR;
        valid = 0;
        stale = 0;
    }

    id = ngx_yoti_idv_zone_reason_id(z, reason, ngx_strlen(reason));

    if (id == NGX_YOTI_IDV_ZONE_NO_REASON
        || ngx_yoti_idv_zone_set_sid(z, n, session_id->data, session_id->len)
           != 0)
    {
        /* it cannot be held: the waiters fetch on their own */
        e->flags &= ~NGX_YOTI_IDV_ZONE_FETCHING;
        e->lock = now;

        ngx_http_yoti_idv_shm_wunlock(zone);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, op->log, 0,
                       "yoti_idv: verdict not cached in \"%V\": its reason "
                       "table is full or the session id is too long",
                       &zone->shm_zone->shm.name);
        return;
    }

    e->reason = id;
    e->verdict = (uint8_t) verdict;
    e->flags &= ~NGX_YOTI_IDV_ZONE_FETCHING;
    e->lock = now;                  /* the store's time, see lookup */
    e->expire = now + (ngx_msec_t) valid * 1000;
    e->stale = e->expire + (ngx_msec_t) stale * 1000;

    if (++z->gen == 0) {
        z->gen = 1;
    }

    e->gen = z->gen;

    ngx_http_yoti_idv_shm_wunlock(zone);
}


/* the request ends without a verdict for the others: let them go */

void
ngx_http_yoti_idv_shm_release(ngx_http_yoti_idv_shm_op_t *op)
{
    uint32_t                    n;
    ngx_yoti_idv_zone_t        *z;
    ngx_http_yoti_idv_zone_t   *zone;
    ngx_yoti_idv_zone_entry_t  *e;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    if (!op->owner) {
        return;
    }

    op->owner = 0;

    zone = op->zone;
    z = zone->sh;

    ngx_http_yoti_idv_shm_wlock(zone);

    n = ngx_http_yoti_idv_shm_mine(op);

    if (n) {
        e = ngx_yoti_idv_zone_entry(z, n);

        e->flags &= ~NGX_YOTI_IDV_ZONE_FETCHING;
        e->lock = ngx_current_msec;
    }

    ngx_http_yoti_idv_shm_wunlock(zone);
}


/*
 * with the zone locked: the entry of op's key while it is still op's own
 * fetch ("lock" is the deadline op set when it took it), or 0
 */

static uint32_t
ngx_http_yoti_idv_shm_mine(ngx_http_yoti_idv_shm_op_t *op)
{
    uint32_t                    n;
    ngx_yoti_idv_zone_t        *z;
    ngx_yoti_idv_zone_entry_t  *e;

    z = op->zone->sh;

    n = ngx_yoti_idv_zone_find(z, op->hash);

    if (n == 0) {
        return 0;
    }

    e = ngx_yoti_idv_zone_entry(z, n);

    if (!(e->flags & NGX_YOTI_IDV_ZONE_FETCHING) || e->lock != op->locked) {
        return 0;
    }

    return n;
}


/*
 * with the zone locked: no invalidation since op took the fetch, or the
 * entry is in the index of the session it stores, so that an invalidation
 * of that session would have removed it
 */

static ngx_uint_t
ngx_http_yoti_idv_shm_spared(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_zone_entry_t *e, ngx_str_t *session_id)
{
    if (op->zone->sh->drops == op->generation) {
        return 1;
    }

    return (e->flags & NGX_YOTI_IDV_ZONE_SID)
           && e->sid_len == session_id->len
           && ngx_memcmp(e->sid, session_id->data, e->sid_len) == 0;
}


/*
 * whether what op's fetch got may predate an invalidation meant for it:
 * its entry went, became another request's fetch, or an invalidation
 * came while the entry was not in the session's index
 */

ngx_uint_t
ngx_http_yoti_idv_shm_invalidated(ngx_http_yoti_idv_shm_op_t *op,
    ngx_str_t *session_id)
{
    uint32_t                    n;
    ngx_uint_t                  rc;
    ngx_http_yoti_idv_zone_t   *zone;

    if (!op->owner) {
        return 0;
    }

    zone = op->zone;

    if (zone->sh->drops == op->generation) {
        /* unlocked: a stale read only sends it to the locked check */
        return 0;
    }

    ngx_http_yoti_idv_shm_wlock(zone);

    n = ngx_http_yoti_idv_shm_mine(op);

    rc = n == 0
         || !ngx_http_yoti_idv_shm_spared(op,
                                          ngx_yoti_idv_zone_entry(zone->sh, n),
                                          session_id);

    ngx_http_yoti_idv_shm_wunlock(zone);

    return rc;
}


/*
 * every entry (of every policy) for a session id or a user id, through the
 * zone's indexes: the entries on one chain, not the table
 */

ngx_uint_t
ngx_http_yoti_idv_shm_invalidate(ngx_shm_zone_t *shm_zone, ngx_uint_t by,
    ngx_str_t *id)
{
    size_t                     n;
    uint64_t                   uid;
    ngx_yoti_idv_zone_t       *z;
    ngx_http_yoti_idv_zone_t  *zone;

    zone = shm_zone->data;

    if (zone == NULL || zone->sh == NULL || id->len == 0) {
        return 0;
    }

    z = zone->sh;

    switch (by) {

    case NGX_HTTP_YOTI_IDV_BY_SESSION:
        ngx_http_yoti_idv_shm_wlock(zone);
        n = ngx_yoti_idv_zone_invalidate_sid(z, id->data, id->len);
        ngx_http_yoti_idv_shm_wunlock(zone);
        break;

    case NGX_HTTP_YOTI_IDV_BY_USER:
        uid = ngx_yoti_idv_zone_hash64(z, id->data, id->len);

        ngx_http_yoti_idv_shm_wlock(zone);
        n = ngx_yoti_idv_zone_invalidate_uid(z, uid);
        ngx_http_yoti_idv_shm_wunlock(zone);
        break;

    default:
        n = 0;
    }

    return n;
}


/* every entry; the table is rewritten under the lock, O(entries) */

void
ngx_http_yoti_idv_shm_flush(ngx_shm_zone_t *shm_zone)
{
    ngx_http_yoti_idv_zone_t  *zone;

    zone = shm_zone->data;

    if (zone == NULL || zone->sh == NULL) {
        return;
    }

    ngx_http_yoti_idv_shm_wlock(zone);
    ngx_yoti_idv_zone_flush(zone->sh);
    ngx_http_yoti_idv_shm_wunlock(zone);
}


/*
 * a reader took the stream's entries up to "id": a later one, or one
 * behind it (another worker's), either way every entry up to it was taken
 */

void
ngx_http_yoti_idv_shm_events_set(ngx_shm_zone_t *shm_zone, u_char *id,
    size_t len)
{
    ngx_http_yoti_idv_zone_t  *zone;

    zone = shm_zone->data;

    if (zone == NULL || zone->hdr == NULL || len == 0
        || len >= NGX_HTTP_YOTI_IDV_EVENT_ID_LEN)
    {
        return;
    }

    /* the table's seqlock is not for this: the mutex alone */
    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_memcpy(zone->hdr->events, id, len);
    zone->hdr->events_len = len;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* into id (NGX_HTTP_YOTI_IDV_EVENT_ID_LEN bytes): its length, 0: none */

size_t
ngx_http_yoti_idv_shm_events_get(ngx_shm_zone_t *shm_zone, u_char *id)
{
    size_t                     len;
    ngx_http_yoti_idv_zone_t  *zone;

    zone = shm_zone->data;

    if (zone == NULL || zone->hdr == NULL) {
        return 0;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    len = zone->hdr->events_len;

    if (len >= NGX_HTTP_YOTI_IDV_EVENT_ID_LEN) {
        len = 0;
    }

    ngx_memcpy(id, zone->hdr->events, len);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return len;
}


/*
 * The events stream's entries that a notification applied to this zone
 * itself, when Redis answered it: the readers pass over them, so that a
 * verdict fetched right after the notification is not dropped again when
 * the entry comes back on the stream.  A fetch that was out when the
 * notification came is caught by the notification's own drop, as by a
 * reader's (ngx_http_yoti_idv_shm_invalidated()).  The ring keeps the
 * last NGX_HTTP_YOTI_IDV_APPLIED; an older one is applied again.
 */

void
ngx_http_yoti_idv_shm_applied_add(ngx_shm_zone_t *shm_zone, ngx_str_t *id)
{
    ngx_uint_t                 i;
    ngx_http_yoti_idv_zone_t  *zone;

    zone = shm_zone->data;

    if (zone == NULL || zone->hdr == NULL || id->len == 0
        || id->len >= NGX_HTTP_YOTI_IDV_EVENT_ID_LEN)
    {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    i = zone->hdr->next % NGX_HTTP_YOTI_IDV_APPLIED;

    ngx_memcpy(zone->hdr->applied[i], id->data, id->len);
    zone->hdr->applied_len[i] = id->len;
    zone->hdr->next = i + 1;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_uint_t
ngx_http_yoti_idv_shm_applied(ngx_shm_zone_t *shm_zone, u_char *id,
    size_t len)
{
    ngx_uint_t                 i, found;
    ngx_http_yoti_idv_zone_t  *zone;

    zone = shm_zone->data;

    if (zone == NULL || zone->hdr == NULL || len == 0) {
        return 0;
    }

    found = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < NGX_HTTP_YOTI_IDV_APPLIED; i++) {
        if (zone->hdr->applied_len[i] == len
            && ngx_memcmp(zone->hdr->applied[i], id, len) == 0)
        {
            found = 1;
            break;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return found;
}


void
ngx_http_yoti_idv_shm_stats(ngx_shm_zone_t *shm_zone,
    ngx_http_yoti_idv_shm_stats_t *st)
{
    ngx_http_yoti_idv_zone_t   *zone;
    ngx_yoti_idv_zone_stats_t   zs;

    ngx_memzero(st, sizeof(ngx_http_yoti_idv_shm_stats_t));

    zone = shm_zone->data;

    if (zone == NULL || zone->sh == NULL) {
        return;
    }

    ngx_http_yoti_idv_shm_wlock(zone);
    ngx_yoti_idv_zone_stats(zone->sh, &zs);
    ngx_http_yoti_idv_shm_wunlock(zone);

    /* the slab pool's own pages are the zone's, used from the start */

    st->entries = zs.entries;
    st->capacity = zs.capacity;
    st->size = shm_zone->shm.size;
    st->used = shm_zone->shm.size - zs.bytes_total + zs.bytes_used;
    st->evictions = zs.evictions;
}


/* the zone's circuit breakers, and the lock that guards them */

ngx_http_yoti_idv_breaker_t *
ngx_http_yoti_idv_shm_breakers(ngx_http_yoti_idv_zone_t *zone,
    ngx_shmtx_t **mutex)
{
    *mutex = &zone->shpool->mutex;

    return zone->hdr->breakers;
}
