
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * yoti_idv_cache_zone: verdicts shared by the workers of one nginx, an
 * rbtree of hashed keys with an LRU queue, as limit_req's zone.
 *
 * An entry is either a verdict (valid until "expire") or a fetch in
 * progress (until "lock"): the first request that misses takes the fetch,
 * the others, in any worker, poll the entry every few milliseconds and
 * take its verdict, so a burst costs one provider request.
 */


#include "ngx_http_yoti_idv_module.h"


#define NGX_HTTP_YOTI_IDV_SHM_SID_LEN     64

#define NGX_HTTP_YOTI_IDV_SHM_POLL_MIN    1
#define NGX_HTTP_YOTI_IDV_SHM_POLL_MAX    16


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_queue_t                    queue;

    /* the entries of a session and of a user, see shm_invalidate() */
    ngx_rbtree_t                   sidx;
    ngx_rbtree_node_t              sidx_sentinel;
    ngx_rbtree_t                   uidx;
    ngx_rbtree_node_t              uidx_sentinel;

    /* one more at every invalidation: a fetch that saw one is not kept */
    ngx_atomic_uint_t              generation;
    ngx_atomic_uint_t              evictions;   /* for yoti_idv_metrics */

    /* the circuit breakers of the workers, see the breaker's file */
    ngx_http_yoti_idv_breaker_t    breakers[NGX_HTTP_YOTI_IDV_BREAKERS];
} ngx_http_yoti_idv_shm_sh_t;


struct ngx_http_yoti_idv_zone_s {
    ngx_http_yoti_idv_shm_sh_t    *sh;
    ngx_slab_pool_t               *shpool;
    ngx_shm_zone_t                *shm_zone;
    time_t                         ttl;
    ngx_msec_t                     wait;
};


/* lives at &node->color, as in limit_req */

typedef struct {
    u_char                         color;
    u_char                         verdict;     /* ngx_yoti_idv_verdict_e */
    u_char                         fetching;
    u_char                         sid_len;
    u_char                         indexed;     /* BY_SESSION | BY_USER */
    u_short                        key_len;
    u_short                        reason_len;
    ngx_queue_t                    queue;
    ngx_msec_t                     expire;      /* the verdict's end */
    ngx_msec_t                     stale;       /* kept until, expired */
    ngx_msec_t                     lock;        /* the fetch's deadline */
    ngx_msec_t                     updated;
    ngx_rbtree_node_t              sidx;        /* key: crc32 of the sid */
    ngx_rbtree_node_t              uidx;        /* key: crc32 of the user */
    u_char                         sid[NGX_HTTP_YOTI_IDV_SHM_SID_LEN];
    u_char                         reason[NGX_YOTI_IDV_REASON_LEN];
    u_char                         key[1];
} ngx_http_yoti_idv_shm_node_t;


static ngx_int_t ngx_http_yoti_idv_shm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_yoti_idv_shm_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_yoti_idv_shm_node_t *ngx_http_yoti_idv_shm_find(
    ngx_http_yoti_idv_zone_t *zone, ngx_str_t *key, uint32_t hash);
static ngx_http_yoti_idv_shm_node_t *ngx_http_yoti_idv_shm_add(
    ngx_http_yoti_idv_zone_t *zone, ngx_str_t *key, uint32_t hash);
static void ngx_http_yoti_idv_shm_expire(ngx_http_yoti_idv_zone_t *zone,
    ngx_uint_t force);
static ngx_int_t ngx_http_yoti_idv_shm_take(ngx_http_yoti_idv_shm_op_t *op,
    ngx_http_yoti_idv_shm_node_t *yn);
static ngx_int_t ngx_http_yoti_idv_shm_copy(ngx_http_yoti_idv_shm_op_t *op,
    ngx_http_yoti_idv_shm_node_t *yn);
static ngx_uint_t ngx_http_yoti_idv_shm_usable(ngx_http_yoti_idv_shm_op_t *op,
    ngx_http_yoti_idv_shm_node_t *yn, ngx_msec_t now);
static void ngx_http_yoti_idv_shm_poll(ngx_event_t *ev);
static ngx_uint_t ngx_http_yoti_idv_shm_spared(
    ngx_http_yoti_idv_shm_node_t *yn, ngx_str_t *session_id);
static void ngx_http_yoti_idv_shm_index(ngx_http_yoti_idv_zone_t *zone,
    ngx_http_yoti_idv_shm_node_t *yn);
static void ngx_http_yoti_idv_shm_delete(ngx_http_yoti_idv_zone_t *zone,
    ngx_http_yoti_idv_shm_node_t *yn);
static ngx_uint_t ngx_http_yoti_idv_shm_collect(ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel, ngx_uint_t by, uint32_t hash, ngx_str_t *id,
    ngx_http_yoti_idv_shm_node_t **found, ngx_uint_t n);


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

    size_t                     len;
    ngx_http_yoti_idv_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload keeps the verdicts */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_yoti_idv_shm_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_yoti_idv_shm_insert_value);

    ngx_queue_init(&zone->sh->queue);

    ngx_rbtree_init(&zone->sh->sidx, &zone->sh->sidx_sentinel,
                    ngx_rbtree_insert_value);
    ngx_rbtree_init(&zone->sh->uidx, &zone->sh->uidx_sentinel,
                    ngx_rbtree_insert_value);

    ngx_memzero(zone->sh->breakers, sizeof(zone->sh->breakers));

    len = sizeof(" in yoti_idv_cache_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in yoti_idv_cache_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts, it does not log every failed allocation */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_yoti_idv_shm_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t             **p;
    ngx_http_yoti_idv_shm_node_t   *yn, *ynt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            yn = (ngx_http_yoti_idv_shm_node_t *) &node->color;
            ynt = (ngx_http_yoti_idv_shm_node_t *) &temp->color;

            p = (ngx_memn2cmp(yn->key, ynt->key, yn->key_len, ynt->key_len)
                 < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * NGX_OK: a verdict, for op->session_id when it is set, in op (with the
 * session id of the entry);
 * NGX_DECLINED: none, and this request now fetches it for everyone;
 * NGX_AGAIN: another request is fetching it: op->done() is called when
 * the wait ends, see shm_poll();
 * NGX_ERROR: the zone cannot help (no memory, a key too long).
 */

ngx_int_t
ngx_http_yoti_idv_shm_lookup(ngx_http_yoti_idv_shm_op_t *op)
{
    ngx_int_t                      rc;
    ngx_uint_t                     bound;
    ngx_msec_t                     now;
    ngx_http_yoti_idv_zone_t      *zone;
    ngx_http_yoti_idv_shm_node_t  *yn;

    zone = op->zone;

    op->rc = NGX_DECLINED;
    op->stale = 0;
    op->refresh = 0;

    /* for the mapping's session, an expired entry waits for the mapping */
    bound = (op->session_id.len != 0);

    if (op->key.len > 0xffff) {
        return NGX_ERROR;
    }

    now = ngx_current_msec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* for the fetch this request may own, a refresh included */
    op->generation = zone->sh->generation;

    yn = ngx_http_yoti_idv_shm_find(zone, &op->key, op->hash);

    if (yn) {
        rc = ngx_http_yoti_idv_shm_take(op, yn);

        if (rc == NGX_OK && op->background
            && (ngx_msec_int_t) (yn->expire - now)
               < (ngx_msec_int_t) (yn->expire - yn->updated) / 10
            && !(yn->fetching && (ngx_msec_int_t) (yn->lock - now) > 0))
        {
            /* in the last tenth of its life: this request refreshes it */
            yn->fetching = 1;
            yn->lock = now + zone->wait;
            op->owner = 1;
            op->refresh = 1;
        }

        if (rc == NGX_OK) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_OK;
        }

        /*
         * expired within the stale window: kept in op for when the
         * provider cannot answer (or answered at once, in the background)
         */

        if (ngx_http_yoti_idv_shm_usable(op, yn, now)
            && ngx_http_yoti_idv_shm_copy(op, yn) == NGX_OK)
        {
            op->rc = NGX_DECLINED;
            op->stale = 1;

            if (op->background && bound) {

                if (!(yn->fetching && (ngx_msec_int_t) (yn->lock - now) > 0)) {
                    yn->fetching = 1;
                    yn->lock = now + zone->wait;
                    op->owner = 1;
                    op->refresh = 1;
                }

                ngx_shmtx_unlock(&zone->shpool->mutex);

                op->rc = NGX_OK;
                return NGX_OK;
            }
        }

        if (yn->fetching && (ngx_msec_int_t) (yn->lock - now) > 0) {
            ngx_shmtx_unlock(&zone->shpool->mutex);

            op->since = now;
            op->poll = NGX_HTTP_YOTI_IDV_SHM_POLL_MIN;

            op->timer.handler = ngx_http_yoti_idv_shm_poll;
            op->timer.data = op;
            op->timer.log = op->log;

            ngx_add_timer(&op->timer, op->poll);

            return NGX_AGAIN;
        }

    } else {
        yn = ngx_http_yoti_idv_shm_add(zone, &op->key, op->hash);

        if (yn == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            ngx_log_error(NGX_LOG_WARN, op->log, 0,
                          "yoti_idv: the verdict cannot be cached in "
                          "\"%V\": the zone is full of entries in use",
                          &zone->shm_zone->shm.name);
            return NGX_ERROR;
        }
    }

    /* no verdict, nobody fetching it: this request will */

    yn->fetching = 1;
    yn->lock = now + zone->wait;

    if (yn->sid_len == 0 && op->session_id.len
        && op->session_id.len <= NGX_HTTP_YOTI_IDV_SHM_SID_LEN)
    {
        /* the session is known before the fetch: invalidations find it */
        ngx_memcpy(yn->sid, op->session_id.data, op->session_id.len);
        yn->sid_len = (u_char) op->session_id.len;
        ngx_http_yoti_idv_shm_index(zone, yn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    op->owner = 1;

    return NGX_DECLINED;
}


/*
 * with the zone locked: an expired verdict that op->use_stale and the
 * entry's own window still allow
 */

static ngx_uint_t
ngx_http_yoti_idv_shm_usable(ngx_http_yoti_idv_shm_op_t *op,
    ngx_http_yoti_idv_shm_node_t *yn, ngx_msec_t now)
{
    return op->use_stale
           && yn->verdict != NGX_YOTI_IDV_ERROR
           && (ngx_msec_int_t) (yn->stale - now) > 0
           && (ngx_msec_int_t) (now - yn->expire)
              < (ngx_msec_int_t) op->use_stale;
}


/* with the zone locked: a verdict the request can use, into op */

static ngx_int_t
ngx_http_yoti_idv_shm_take(ngx_http_yoti_idv_shm_op_t *op,
    ngx_http_yoti_idv_shm_node_t *yn)
{
    if (yn->verdict == NGX_YOTI_IDV_ERROR
        || (ngx_msec_int_t) (yn->expire - ngx_current_msec) <= 0)
    {
        return NGX_DECLINED;
    }

    return ngx_http_yoti_idv_shm_copy(op, yn);
}


/* with the zone locked */

static ngx_int_t
ngx_http_yoti_idv_shm_copy(ngx_http_yoti_idv_shm_op_t *op,
    ngx_http_yoti_idv_shm_node_t *yn)
{
    u_char  *sid;

    if (op->session_id.len) {

        if (op->session_id.len != yn->sid_len
            || ngx_memcmp(op->session_id.data, yn->sid, yn->sid_len) != 0)
        {
            /* the user's other session */
            return NGX_DECLINED;
        }

    } else {
        sid = ngx_pnalloc(op->pool, yn->sid_len);
        if (sid == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(sid, yn->sid, yn->sid_len);

        op->session_id.data = sid;
        op->session_id.len = yn->sid_len;
    }

    op->verdict = yn->verdict;
    ngx_memcpy(op->reason, yn->reason, yn->reason_len);
    op->reason[yn->reason_len] = '\0';
    op->reason_len = yn->reason_len;

    op->rc = NGX_OK;

    return NGX_OK;
}


static void
ngx_http_yoti_idv_shm_poll(ngx_event_t *ev)
{
    ngx_http_yoti_idv_shm_op_t *op = ev->data;

    ngx_int_t                      rc;
    ngx_msec_t                     now;
    ngx_http_yoti_idv_zone_t      *zone;
    ngx_http_yoti_idv_shm_node_t  *yn;

    zone = op->zone;
    now = ngx_current_msec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    yn = ngx_http_yoti_idv_shm_find(zone, &op->key, op->hash);

    if (yn && yn->fetching && (ngx_msec_int_t) (yn->lock - now) > 0
        && (ngx_msec_int_t) (now - op->since) < (ngx_msec_int_t) zone->wait)
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);

        op->poll = ngx_min(op->poll * 2, NGX_HTTP_YOTI_IDV_SHM_POLL_MAX);
        ngx_add_timer(&op->timer, op->poll);
        return;
    }

    rc = NGX_DECLINED;

    if (yn && !yn->fetching
        && (ngx_msec_int_t) (yn->updated - op->since) >= 0)
    {
        /* the burst's fetch is done: its verdict, even an error */

        rc = (yn->verdict == NGX_YOTI_IDV_ERROR)
             ? ngx_http_yoti_idv_shm_copy(op, yn)
             : ngx_http_yoti_idv_shm_take(op, yn);

        if (rc == NGX_OK) {
            op->stale = 0;

        } else if (ngx_http_yoti_idv_shm_usable(op, yn, now)) {
            /* the fetch failed and kept the old verdict: serve it stale */
            rc = ngx_http_yoti_idv_shm_copy(op, yn);
            op->stale = (rc == NGX_OK);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

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
 * failed, and an expired verdict for the same session stays
 */

void
ngx_http_yoti_idv_shm_store(ngx_http_yoti_idv_shm_op_t *op,
    ngx_yoti_idv_verdict_e verdict, const char *reason, ngx_str_t *session_id,
    time_t valid, time_t stale)
{
    size_t                         len;
    ngx_msec_t                     now;
    ngx_http_yoti_idv_zone_t      *zone;
    ngx_http_yoti_idv_shm_node_t  *yn;

    if (!op->owner) {
        return;
    }

    op->owner = 0;

    zone = op->zone;

    /* an error: waiting requests take it, later ones do not */
    valid = ngx_min(valid, zone->ttl);

    now = ngx_current_msec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* the entry may have been evicted meanwhile */

    yn = ngx_http_yoti_idv_shm_find(zone, &op->key, op->hash);

    if (zone->sh->generation != op->generation
        && !ngx_http_yoti_idv_shm_spared(yn, session_id))
    {
        /*
         * an invalidation came while this fetch ran, and took the entry
         * or could not tell whether it was meant (the entry was not
         * indexed under the session fetched): what the fetch got may
         * predate it
         */

        if (yn && yn->fetching) {
            yn->fetching = 0;
            yn->lock = now;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    if (yn == NULL) {
        yn = ngx_http_yoti_idv_shm_add(zone, &op->key, op->hash);

        if (yn == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return;
        }
    }

    if (valid < 0 && yn->verdict != NGX_YOTI_IDV_ERROR
        && (ngx_msec_int_t) (yn->stale - now) > 0
        && yn->sid_len == session_id->len
        && ngx_memcmp(yn->sid, session_id->data, yn->sid_len) == 0)
    {
        /*
         * valid -1: the fetch failed and the request was answered from
         * the expired verdict; it stays for its stale window
         */
        yn->fetching = 0;
        yn->lock = now;
        yn->updated = now;

        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    if (valid < 0 || verdict == NGX_YOTI_IDV_ERROR) {
        verdict = NGX_YOTI_IDV_ERROR;
        valid = 0;
        stale = 0;
    }

    len = ngx_min(session_id->len, NGX_HTTP_YOTI_IDV_SHM_SID_LEN);

    if ((yn->indexed & NGX_HTTP_YOTI_IDV_BY_SESSION)
        && (yn->sid_len != len || ngx_memcmp(yn->sid, session_id->data, len)))
    {
        /* the user's new session: indexed anew below */
        ngx_rbtree_delete(&zone->sh->sidx, &yn->sidx);
        yn->indexed &= ~NGX_HTTP_YOTI_IDV_BY_SESSION;
    }

    ngx_memcpy(yn->sid, session_id->data, len);
    yn->sid_len = (u_char) len;

    len = ngx_strlen(reason);
    ngx_memcpy(yn->reason, reason, len);
    yn->reason_len = (u_short) len;

    yn->verdict = (u_char) verdict;
    yn->fetching = 0;
    yn->updated = now;
    yn->expire = now + (ngx_msec_t) valid * 1000;
    yn->stale = yn->expire + (ngx_msec_t) stale * 1000;

    ngx_http_yoti_idv_shm_index(zone, yn);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* the request ends without a verdict for the others: let them go */

void
ngx_http_yoti_idv_shm_release(ngx_http_yoti_idv_shm_op_t *op)
{
    ngx_http_yoti_idv_zone_t      *zone;
    ngx_http_yoti_idv_shm_node_t  *yn;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    if (!op->owner) {
        return;
    }

    op->owner = 0;

    zone = op->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    yn = ngx_http_yoti_idv_shm_find(zone, &op->key, op->hash);

    if (yn && yn->fetching) {
        yn->fetching = 0;
        yn->lock = ngx_current_msec;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static ngx_http_yoti_idv_shm_node_t *
ngx_http_yoti_idv_shm_find(ngx_http_yoti_idv_zone_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                      rc;
    ngx_rbtree_node_t             *node, *sentinel;
    ngx_http_yoti_idv_shm_node_t  *yn;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        yn = (ngx_http_yoti_idv_shm_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, yn->key, key->len, yn->key_len);

        if (rc == 0) {
            ngx_queue_remove(&yn->queue);
            ngx_queue_insert_head(&zone->sh->queue, &yn->queue);
            return yn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* with the zone locked */

static ngx_http_yoti_idv_shm_node_t *
ngx_http_yoti_idv_shm_add(ngx_http_yoti_idv_zone_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    size_t                         size;
    ngx_uint_t                     n;
    ngx_rbtree_node_t             *node;
    ngx_http_yoti_idv_shm_node_t  *yn;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_yoti_idv_shm_node_t, key)
           + key->len;

    ngx_http_yoti_idv_shm_expire(zone, 0);

    node = ngx_slab_alloc_locked(zone->shpool, size);

    /* full: the least recently used entries go first */

    for (n = 0; node == NULL && n < 64; n++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return NULL;
        }

        ngx_http_yoti_idv_shm_expire(zone, 1);

        node = ngx_slab_alloc_locked(zone->shpool, size);
    }

    if (node == NULL) {
        return NULL;
    }

    node->key = hash;

    yn = (ngx_http_yoti_idv_shm_node_t *) &node->color;

    yn->verdict = NGX_YOTI_IDV_ERROR;
    yn->fetching = 0;
    yn->sid_len = 0;
    yn->indexed = 0;
    yn->reason_len = 0;
    yn->key_len = (u_short) key->len;
    yn->expire = ngx_current_msec;
    yn->stale = ngx_current_msec;
    yn->lock = ngx_current_msec;
    yn->updated = ngx_current_msec;

    ngx_memcpy(yn->key, key->data, key->len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    ngx_queue_insert_head(&zone->sh->queue, &yn->queue);

    ngx_http_yoti_idv_shm_index(zone, yn);

    return yn;
}


/*
 * frees up to two expired entries from the LRU's tail, or with "force"
 * the oldest entry, expired or not (but not one being fetched)
 */

static void
ngx_http_yoti_idv_shm_expire(ngx_http_yoti_idv_zone_t *zone, ngx_uint_t force)
{
    ngx_uint_t                     n;
    ngx_msec_t                     now;
    ngx_queue_t                   *q;
    ngx_http_yoti_idv_shm_node_t  *yn;

    now = ngx_current_msec;

    for (n = 0; n < 3; n++) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->queue);

        yn = ngx_queue_data(q, ngx_http_yoti_idv_shm_node_t, queue);

        if (yn->fetching && (ngx_msec_int_t) (yn->lock - now) > 0) {
            /* a fetch others wait for: move it out of the way */
            ngx_queue_remove(q);
            ngx_queue_insert_head(&zone->sh->queue, q);

            if (force) {
                continue;
            }

            return;
        }

        if (!force && (ngx_msec_int_t) (yn->stale - now) > 0) {
            return;
        }

        ngx_http_yoti_idv_shm_delete(zone, yn);

        if (force) {
            zone->sh->evictions++;
            return;
        }
    }
}


/*
 * Invalidation (yoti_idv_notifications, the events stream): the entries
 * of a session or a user are found through two more rbtrees, keyed by the
 * crc32 of the session id and of the user id, so that dropping them costs
 * a lookup, not a scan.  Only the helpers below and shm_delete() know
 * about them.
 */

/* with the zone locked: into the indexes what the entry is known for */

static void
ngx_http_yoti_idv_shm_index(ngx_http_yoti_idv_zone_t *zone,
    ngx_http_yoti_idv_shm_node_t *yn)
{
    u_char  *p;
    size_t   len;

    p = yn->key + NGX_HTTP_YOTI_IDV_FP_LEN;
    len = yn->key_len - ngx_min(yn->key_len, NGX_HTTP_YOTI_IDV_FP_LEN);

    if (!(yn->indexed & NGX_HTTP_YOTI_IDV_BY_USER)
        && len > sizeof(":user:") - 1
        && ngx_strncmp(p, ":user:", sizeof(":user:") - 1) == 0)
    {
        p += sizeof(":user:") - 1;
        len -= sizeof(":user:") - 1;

        yn->uidx.key = ngx_crc32_long(p, len);
        ngx_rbtree_insert(&zone->sh->uidx, &yn->uidx);
        yn->indexed |= NGX_HTTP_YOTI_IDV_BY_USER;
    }

    if (!(yn->indexed & NGX_HTTP_YOTI_IDV_BY_SESSION)) {

        if (yn->sid_len == 0
            && len > sizeof(":session:") - 1
            && len - (sizeof(":session:") - 1)
               <= NGX_HTTP_YOTI_IDV_SHM_SID_LEN
            && ngx_strncmp(p, ":session:", sizeof(":session:") - 1) == 0)
        {
            /* an unbound policy: the key names the session */
            len -= sizeof(":session:") - 1;
            ngx_memcpy(yn->sid, p + sizeof(":session:") - 1, len);
            yn->sid_len = (u_char) len;
        }

        if (yn->sid_len) {
            yn->sidx.key = ngx_crc32_long(yn->sid, yn->sid_len);
            ngx_rbtree_insert(&zone->sh->sidx, &yn->sidx);
            yn->indexed |= NGX_HTTP_YOTI_IDV_BY_SESSION;
        }
    }
}


/* with the zone locked: the entry leaves the tree, the queue, the indexes */

static void
ngx_http_yoti_idv_shm_delete(ngx_http_yoti_idv_zone_t *zone,
    ngx_http_yoti_idv_shm_node_t *yn)
{
    ngx_rbtree_node_t  *node;

    if (yn->indexed & NGX_HTTP_YOTI_IDV_BY_SESSION) {
        ngx_rbtree_delete(&zone->sh->sidx, &yn->sidx);
    }

    if (yn->indexed & NGX_HTTP_YOTI_IDV_BY_USER) {
        ngx_rbtree_delete(&zone->sh->uidx, &yn->uidx);
    }

    ngx_queue_remove(&yn->queue);

    node = (ngx_rbtree_node_t *)
               ((u_char *) yn - offsetof(ngx_rbtree_node_t, color));

    ngx_rbtree_delete(&zone->sh->rbtree, node);

    ngx_slab_free_locked(zone->shpool, node);
}


/* with the zone locked: up to n entries of the id, into found[] */

static ngx_uint_t
ngx_http_yoti_idv_shm_collect(ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel, ngx_uint_t by, uint32_t hash, ngx_str_t *id,
    ngx_http_yoti_idv_shm_node_t **found, ngx_uint_t n)
{
    u_char                        *p;
    size_t                         len;
    ngx_uint_t                     k;
    ngx_http_yoti_idv_shm_node_t  *yn;

    k = 0;

    while (node != sentinel && k < n) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* equal keys may sit on either side after rotations */

        if (by == NGX_HTTP_YOTI_IDV_BY_SESSION) {
            yn = (ngx_http_yoti_idv_shm_node_t *)
                     ((u_char *) node
                      - offsetof(ngx_http_yoti_idv_shm_node_t, sidx));
            p = yn->sid;
            len = yn->sid_len;

        } else {
            yn = (ngx_http_yoti_idv_shm_node_t *)
                     ((u_char *) node
                      - offsetof(ngx_http_yoti_idv_shm_node_t, uidx));
            p = yn->key + NGX_HTTP_YOTI_IDV_FP_LEN + sizeof(":user:") - 1;
            len = yn->key_len - NGX_HTTP_YOTI_IDV_FP_LEN
                  - (sizeof(":user:") - 1);
        }

        if (len == id->len && ngx_memcmp(p, id->data, len) == 0) {
            found[k++] = yn;
        }

        k += ngx_http_yoti_idv_shm_collect(node->left, sentinel, by, hash,
                                           id, found + k, n - k);
        node = node->right;
    }

    return k;
}


/*
 * every entry, of any policy, for the session id or the user tracking id;
 * a fetch in progress for it is not kept when it ends, see shm_store()
 */

ngx_uint_t
ngx_http_yoti_idv_shm_invalidate(ngx_shm_zone_t *shm_zone, ngx_uint_t by,
    ngx_str_t *id)
{
    uint32_t                       hash;
    ngx_uint_t                     i, n, total;
    ngx_rbtree_t                  *tree;
    ngx_http_yoti_idv_zone_t      *zone;
    ngx_http_yoti_idv_shm_node_t  *found[64];

    zone = shm_zone->data;

    hash = ngx_crc32_long(id->data, id->len);

    total = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zone->sh->generation++;

    tree = (by == NGX_HTTP_YOTI_IDV_BY_SESSION) ? &zone->sh->sidx
                                                : &zone->sh->uidx;

    do {
        n = ngx_http_yoti_idv_shm_collect(tree->root, tree->sentinel, by,
                                          hash, id, found, 64);

        for (i = 0; i < n; i++) {
            ngx_http_yoti_idv_shm_delete(zone, found[i]);
        }

        total += n;

    } while (n == 64);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return total;
}


/* a gap in the invalidations that cannot be covered: nothing stays */

void
ngx_http_yoti_idv_shm_flush(ngx_shm_zone_t *shm_zone)
{
    ngx_queue_t                   *q;
    ngx_http_yoti_idv_zone_t      *zone;
    ngx_http_yoti_idv_shm_node_t  *yn;

    zone = shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zone->sh->generation++;

    while (!ngx_queue_empty(&zone->sh->queue)) {
        q = ngx_queue_last(&zone->sh->queue);
        yn = ngx_queue_data(q, ngx_http_yoti_idv_shm_node_t, queue);
        ngx_http_yoti_idv_shm_delete(zone, yn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* for yoti_idv_metrics: not on the request path, the walk is fine */

void
ngx_http_yoti_idv_shm_stats(ngx_shm_zone_t *shm_zone,
    ngx_http_yoti_idv_shm_stats_t *st)
{
    ngx_queue_t               *q;
    ngx_http_yoti_idv_zone_t  *zone;

    zone = shm_zone->data;

    ngx_memzero(st, sizeof(ngx_http_yoti_idv_shm_stats_t));

    st->size = shm_zone->shm.size;

    if (zone->sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->queue);
         q != ngx_queue_sentinel(&zone->sh->queue);
         q = ngx_queue_next(q))
    {
        st->entries++;
    }

    st->used = st->size - zone->shpool->pfree * ngx_pagesize;
    st->evictions = zone->sh->evictions;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * with the zone locked, after an invalidation: the entry is still there
 * and indexed under the session, so that the invalidation would have
 * taken it had it been meant
 */

static ngx_uint_t
ngx_http_yoti_idv_shm_spared(ngx_http_yoti_idv_shm_node_t *yn,
    ngx_str_t *session_id)
{
    return yn != NULL
           && (yn->indexed & NGX_HTTP_YOTI_IDV_BY_SESSION)
           && yn->sid_len == session_id->len
           && ngx_memcmp(yn->sid, session_id->data, yn->sid_len) == 0;
}


/*
 * an invalidation that may be meant for the session came since this
 * request took the fetch: what the fetch got (or an expired verdict it
 * kept) may predate it
 */

ngx_uint_t
ngx_http_yoti_idv_shm_invalidated(ngx_http_yoti_idv_shm_op_t *op,
    ngx_str_t *session_id)
{
    ngx_uint_t                     rc;
    ngx_http_yoti_idv_zone_t      *zone;
    ngx_http_yoti_idv_shm_node_t  *yn;

    zone = op->zone;

    if (!op->owner || zone->sh->generation == op->generation) {
        return 0;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    yn = ngx_http_yoti_idv_shm_find(zone, &op->key, op->hash);

    rc = !ngx_http_yoti_idv_shm_spared(yn, session_id);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/* the zone's circuit breakers, and the lock that guards them */

ngx_http_yoti_idv_breaker_t *
ngx_http_yoti_idv_shm_breakers(ngx_http_yoti_idv_zone_t *zone,
    ngx_shmtx_t **mutex)
{
    *mutex = &zone->shpool->mutex;

    return zone->sh->breakers;
}
