
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * The events stream, "<prefix>events" (see ngx_http_yoti_idv_notify.c):
 * each worker of a node with a zone reads it on a connection of its own,
 * on nginx's event loop as ngx_http_yoti_idv_redis.c does, its socket an
 * nginx connection and its timeouts nginx timers: XREAD BLOCK from the
 * last id it saw.  After a lost connection it reads on from that id, so
 * what it missed still takes effect; when that id is gone from the stream
 * (trimmed, or a Redis that restarted empty), what it missed cannot be
 * known, and the zone is dropped.  The id is kept in the zone too, so
 * that the workers of a reload, or one that replaces a worker that died,
 * read on from where the zone's readers were, not from the newest entry.
 * A reconnect is scheduled from one place, the context's cleanup.
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_http_yoti_idv_redis.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_YOTI_IDV_EVENTS_BLOCK      10000
#define NGX_HTTP_YOTI_IDV_EVENTS_COUNT      "256"


typedef enum {
    NGX_HTTP_YOTI_IDV_EVENTS_DOWN = 0,  /* the timer reconnects */
    NGX_HTTP_YOTI_IDV_EVENTS_SETUP,     /* AUTH, SELECT, where to read from */
    NGX_HTTP_YOTI_IDV_EVENTS_READING    /* XREAD BLOCK is out */
} ngx_http_yoti_idv_events_state_e;


typedef struct {
    redisAsyncContext                *ac;
    ngx_connection_t                 *conn;
    ngx_http_yoti_idv_redis_conf_t   *conf;
    ngx_shm_zone_t                   *zone;
    ngx_log_t                        *log;

    ngx_str_t                         key;      /* NUL-terminated */

    /* reconnects when DOWN, else the deadline of what is out */
    ngx_event_t                       timer;
    ngx_msec_t                        backoff;

    ngx_http_yoti_idv_events_state_e  state;

    u_char                            last[NGX_HTTP_YOTI_IDV_EVENT_ID_LEN];
    size_t                            last_len; /* 0: none seen yet */

    /* down before the first read: the zone may hold what it missed */
    unsigned                          missed:1;
} ngx_http_yoti_idv_events_t;


static void ngx_http_yoti_idv_events_connect(ngx_http_yoti_idv_events_t *ev);
static void ngx_http_yoti_idv_events_read(ngx_http_yoti_idv_events_t *ev);
static void ngx_http_yoti_idv_events_down(ngx_http_yoti_idv_events_t *ev,
    const char *why);
static void ngx_http_yoti_idv_events_timer(ngx_event_t *e);
static void ngx_http_yoti_idv_events_setup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_events_start_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_events_check_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_events_read_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_events_apply(ngx_http_yoti_idv_events_t *ev,
    redisReply *entry);
static void ngx_http_yoti_idv_events_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_yoti_idv_events_cleanup(void *data);


static ngx_http_yoti_idv_events_t  ngx_http_yoti_idv_events;


/* the zone this worker's invalidations go to, NULL: none */

ngx_shm_zone_t *
ngx_http_yoti_idv_events_zone(void)
{
    return ngx_http_yoti_idv_events.zone;
}


ngx_int_t
ngx_http_yoti_idv_events_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_list_part_t                *part;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_yoti_idv_events_t     *ev;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    ymcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_yoti_idv_module);

    if (ymcf == NULL || ymcf->redis == NULL || ymcf->zone == NULL) {
        /* without a zone, every verdict is read from Redis: nothing to do */
        return NGX_OK;
    }

    if (ymcf->redis->mode != NGX_HTTP_YOTI_IDV_REDIS_SINGLE) {
        /*
         * one server only: a cluster cannot run the invalidation script,
         * and the stream of a Sentinel master is not followed across
         * failovers; the zone's entries live their ttl= (docs/redis.md)
         */
        return NGX_OK;
    }

    ev = &ngx_http_yoti_idv_events;

    part = &cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag == &ngx_http_yoti_idv_module) {
            ev->zone = &shm_zone[i];
            break;
        }
    }

    if (ev->zone == NULL) {
        return NGX_OK;
    }

    ev->conf = ymcf->redis;
    ev->log = cycle->log;

    ev->key.len = ymcf->prefix.len + sizeof("events") - 1;
    ev->key.data = ngx_pnalloc(cycle->pool, ev->key.len + 1);
    if (ev->key.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ev->key.data, "%Vevents%Z", &ymcf->prefix);

    ev->timer.handler = ngx_http_yoti_idv_events_timer;
    ev->timer.data = ev;
    ev->timer.log = cycle->log;
    ev->timer.cancelable = 1;

    ev->state = NGX_HTTP_YOTI_IDV_EVENTS_DOWN;

    /*
     * where the zone's readers were (a reload, a worker that died): what
     * came after it was read by nobody, and this worker reads on from it
     */
    ev->last_len = ngx_http_yoti_idv_shm_events_get(ev->zone, ev->last);

    ngx_http_yoti_idv_events_connect(ev);

    return NGX_OK;
}


void
ngx_http_yoti_idv_events_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_yoti_idv_events_t  *ev;

    ev = &ngx_http_yoti_idv_events;

    ev->zone = NULL;

    if (ev->timer.timer_set) {
        ngx_del_timer(&ev->timer);
    }

    if (ev->ac) {
        redisAsyncFree(ev->ac);
    }
}


static void
ngx_http_yoti_idv_events_connect(ngx_http_yoti_idv_events_t *ev)
{
    int                              n;
    size_t                           len[3];
    u_char                           db[NGX_INT_T_LEN];
    const char                      *argv[3];
    redisAsyncContext               *ac;
    ngx_connection_t                *c;
    ngx_http_yoti_idv_redis_conf_t  *rcf;

    rcf = ev->conf;

    if (rcf->port == 0) {
        ac = redisAsyncConnectUnix((const char *) rcf->host.data);

    } else {
        ac = redisAsyncConnect((const char *) rcf->host.data, rcf->port);
    }

    if (ac == NULL) {
        ngx_http_yoti_idv_events_down(ev, "no memory for a redis context");
        return;
    }

    if (ac->err) {
        redisAsyncFree(ac);
        ngx_http_yoti_idv_events_down(ev, "cannot connect");
        return;
    }

    c = ngx_http_yoti_idv_redis_attach(ac, ev->log,
                                       ngx_http_yoti_idv_events_cleanup);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_yoti_idv_events_down(ev, "no free connection");
        return;
    }

    ac->data = ev;

    ev->ac = ac;
    ev->conn = c;
    ev->state = NGX_HTTP_YOTI_IDV_EVENTS_SETUP;

    redisAsyncSetDisconnectCallback(ac, ngx_http_yoti_idv_events_disconnected);

    ngx_http_yoti_idv_redis_add_write(c);

    /* the connect, the setup and the first reply within this time */
    ngx_add_timer(&ev->timer, rcf->connect_timeout + rcf->timeout);

    if (rcf->password.len) {
        n = 0;

        argv[n] = "AUTH";
        len[n++] = sizeof("AUTH") - 1;

        if (rcf->user.len) {
            /* a Redis 6 ACL user, as for the lookups */
            argv[n] = (const char *) rcf->user.data;
            len[n++] = rcf->user.len;
        }

        argv[n] = (const char *) rcf->password.data;
        len[n++] = rcf->password.len;

        (void) redisAsyncCommandArgv(ac, ngx_http_yoti_idv_events_setup_reply,
                                     (void *) "AUTH", n, argv, len);
    }

    if (rcf->db) {
        argv[0] = "SELECT";
        len[0] = sizeof("SELECT") - 1;
        argv[1] = (const char *) db;
        len[1] = ngx_sprintf(db, "%ui", rcf->db) - db;

        (void) redisAsyncCommandArgv(ac, ngx_http_yoti_idv_events_setup_reply,
                                     (void *) "SELECT", 2, argv, len);
    }

    /* a name for CLIENT LIST, and for the tests that kill it */

    argv[0] = "CLIENT";
    len[0] = sizeof("CLIENT") - 1;
    argv[1] = "SETNAME";
    len[1] = sizeof("SETNAME") - 1;
    argv[2] = "yoti_idv_events";
    len[2] = sizeof("yoti_idv_events") - 1;

    (void) redisAsyncCommandArgv(ac, ngx_http_yoti_idv_events_setup_reply,
                                 (void *) "CLIENT SETNAME", 3, argv, len);

    if (ev->last_len == 0) {
        /* the first connection: from the newest entry on */
        (void) redisAsyncCommand(ac, ngx_http_yoti_idv_events_start_reply,
                                 ev, "XREVRANGE %s + - COUNT 1",
                                 ev->key.data);

    } else if (ev->last_len == 3 && ngx_strncmp(ev->last, "0-0", 3) == 0) {
        /* the stream was empty: is it still? */
        (void) redisAsyncCommand(ac, ngx_http_yoti_idv_events_check_reply,
                                 ev, "XRANGE %s - + COUNT 1", ev->key.data);

    } else {
        /* is the last entry seen still there, and so all after it? */
        (void) redisAsyncCommand(ac, ngx_http_yoti_idv_events_check_reply,
                                 ev, "XRANGE %s %b %b", ev->key.data,
                                 ev->last, ev->last_len,
                                 ev->last, ev->last_len);
    }
}


static void
ngx_http_yoti_idv_events_setup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    const char *cmd = privdata;

    redisReply                  *rep = reply;
    ngx_http_yoti_idv_events_t  *ev;

    ev = ac->data;

    if (rep == NULL || rep->type != REDIS_REPLY_ERROR) {
        return;
    }

    if (cmd[0] == 'C') {
        /* only a name for CLIENT LIST: an ACL may refuse it */
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "yoti_idv: redis at \"%V\" refused CLIENT SETNAME on "
                      "the events connection: \"%*s\"", &ev->conf->name,
                      ngx_min(rep->len, 128), rep->str);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "yoti_idv: redis at \"%V\" refused %s on the events "
                  "connection: \"%*s\"", &ev->conf->name, cmd,
                  ngx_min(rep->len, 128), rep->str);

    redisAsyncDisconnect(ac);
}


static void
ngx_http_yoti_idv_events_start_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                  *rep = reply, *entry;
    ngx_http_yoti_idv_events_t  *ev;

    ev = ac->data;

    if (rep == NULL || ev->state != NGX_HTTP_YOTI_IDV_EVENTS_SETUP) {
        return;
    }

    if (rep->type != REDIS_REPLY_ARRAY) {
        ngx_http_yoti_idv_events_down(ev, "unexpected reply to XREVRANGE");
        return;
    }

    if (rep->elements == 0) {
        ngx_memcpy(ev->last, "0-0", 3);
        ev->last_len = 3;

    } else {
        entry = rep->element[0];

        if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 1
            || entry->element[0]->type != REDIS_REPLY_STRING
            || entry->element[0]->len >= NGX_HTTP_YOTI_IDV_EVENT_ID_LEN)
        {
            ngx_http_yoti_idv_events_down(ev,
                                          "unexpected reply to XREVRANGE");
            return;
        }

        ngx_memcpy(ev->last, entry->element[0]->str, entry->element[0]->len);
        ev->last_len = entry->element[0]->len;
    }

    ngx_http_yoti_idv_shm_events_set(ev->zone, ev->last, ev->last_len);

    if (ev->missed) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "yoti_idv: the events connection to redis at \"%V\" "
                      "was down since this worker started: the cached "
                      "verdicts of the zone are dropped", &ev->conf->name);

        ngx_http_yoti_idv_shm_flush(ev->zone);
        ev->missed = 0;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "yoti_idv events from \"%*s\"", ev->last_len, ev->last);

    ngx_http_yoti_idv_events_read(ev);
}


static void
ngx_http_yoti_idv_events_check_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                  *rep = reply;
    ngx_uint_t                   empty, gap;
    ngx_http_yoti_idv_events_t  *ev;

    ev = ac->data;

    if (rep == NULL || ev->state != NGX_HTTP_YOTI_IDV_EVENTS_SETUP) {
        return;
    }

    if (rep->type != REDIS_REPLY_ARRAY) {
        ngx_http_yoti_idv_events_down(ev, "unexpected reply to XRANGE");
        return;
    }

    empty = (ev->last_len == 3 && ngx_strncmp(ev->last, "0-0", 3) == 0);

    /* the stream was empty and is not (perhaps trimmed), or lost our id */
    gap = empty ? (rep->elements != 0) : (rep->elements == 0);

    if (gap) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "yoti_idv: the invalidations missed while the events "
                      "connection to redis at \"%V\" was down are not all in "
                      "\"%V\" any more: the cached verdicts of the zone are "
                      "dropped", &ev->conf->name, &ev->key);

        ngx_http_yoti_idv_shm_flush(ev->zone);
    }

    ngx_http_yoti_idv_events_read(ev);
}


static void
ngx_http_yoti_idv_events_read(ngx_http_yoti_idv_events_t *ev)
{
    size_t       len[9];
    const char  *argv[9];

    if (ev->zone == NULL || ngx_exiting) {
        return;
    }

    argv[0] = "XREAD";
    len[0] = sizeof("XREAD") - 1;
    argv[1] = "COUNT";
    len[1] = sizeof("COUNT") - 1;
    argv[2] = NGX_HTTP_YOTI_IDV_EVENTS_COUNT;
    len[2] = sizeof(NGX_HTTP_YOTI_IDV_EVENTS_COUNT) - 1;
    argv[3] = "BLOCK";
    len[3] = sizeof("BLOCK") - 1;
    argv[4] = "10000";
    len[4] = sizeof("10000") - 1;
    argv[5] = "STREAMS";
    len[5] = sizeof("STREAMS") - 1;
    argv[6] = (char *) ev->key.data;
    len[6] = ev->key.len;
    argv[7] = (char *) ev->last;
    len[7] = ev->last_len;

    if (redisAsyncCommandArgv(ev->ac, ngx_http_yoti_idv_events_read_reply,
                              ev, 8, argv, len)
        != REDIS_OK)
    {
        ngx_http_yoti_idv_events_down(ev, "XREAD not sent");
        return;
    }

    ev->state = NGX_HTTP_YOTI_IDV_EVENTS_READING;

    if (ev->timer.timer_set) {
        ngx_del_timer(&ev->timer);
    }

    ngx_add_timer(&ev->timer,
                  NGX_HTTP_YOTI_IDV_EVENTS_BLOCK + ev->conf->timeout);
}


static void
ngx_http_yoti_idv_events_read_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    size_t                       i;
    redisReply                  *rep = reply, *entries;
    ngx_http_yoti_idv_events_t  *ev;

    ev = ac->data;

    if (rep == NULL || ev->zone == NULL) {
        return;
    }

    if (rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "yoti_idv: redis at \"%V\" answered \"%*s\" to XREAD "
                      "on \"%V\"", &ev->conf->name, ngx_min(rep->len, 128),
                      rep->str, &ev->key);
        ngx_http_yoti_idv_events_down(ev, NULL);
        return;
    }

    /* a good reply: the next failure backs off from scratch */
    ev->backoff = 0;

    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1
        && rep->element[0]->type == REDIS_REPLY_ARRAY
        && rep->element[0]->elements == 2
        && rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
    {
        entries = rep->element[0]->element[1];

        for (i = 0; i < entries->elements; i++) {
            ngx_http_yoti_idv_events_apply(ev, entries->element[i]);
        }

        /* taken, in order: the next worker needs none of them again */
        ngx_http_yoti_idv_shm_events_set(ev->zone, ev->last, ev->last_len);

    } else if (rep->type != REDIS_REPLY_NIL) {
        ngx_http_yoti_idv_events_down(ev, "unexpected reply to XREAD");
        return;
    }

    ngx_http_yoti_idv_events_read(ev);
}


/* [id, [field, value, ...]] */

static void
ngx_http_yoti_idv_events_apply(ngx_http_yoti_idv_events_t *ev,
    redisReply *entry)
{
    size_t       i;
    ngx_str_t    id;
    ngx_uint_t   n;
    redisReply  *fields, *f, *v;

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
        || entry->element[0]->type != REDIS_REPLY_STRING
        || entry->element[0]->len >= NGX_HTTP_YOTI_IDV_EVENT_ID_LEN)
    {
        return;
    }

    ngx_memcpy(ev->last, entry->element[0]->str, entry->element[0]->len);
    ev->last_len = entry->element[0]->len;

    if (ngx_http_yoti_idv_shm_applied(ev->zone, ev->last, ev->last_len)) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "yoti_idv event %*s: applied by its notification",
                       ev->last_len, ev->last);
        return;
    }

    fields = entry->element[1];

    if (fields->type != REDIS_REPLY_ARRAY) {
        return;
    }

    for (i = 0; i + 1 < fields->elements; i += 2) {
        f = fields->element[i];
        v = fields->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        id.data = (u_char *) v->str;
        id.len = v->len;

        if (f->len == 7 && ngx_strncmp(f->str, "session", 7) == 0) {
            n = ngx_http_yoti_idv_shm_invalidate(ev->zone,
                                                 NGX_HTTP_YOTI_IDV_BY_SESSION,
                                                 &id);

        } else if (f->len == 4 && ngx_strncmp(f->str, "user", 4) == 0) {
            n = ngx_http_yoti_idv_shm_invalidate(ev->zone,
                                                 NGX_HTTP_YOTI_IDV_BY_USER,
                                                 &id);

        } else if (f->len == 5 && ngx_strncmp(f->str, "flush", 5) == 0) {
            ngx_http_yoti_idv_shm_flush(ev->zone);
            n = 0;

        } else {
            continue;
        }

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "yoti_idv event %*s: %ui entries dropped",
                       f->len, f->str, n, 0);
    }
}


/* the connection goes (when there is one), the timer reconnects */

static void
ngx_http_yoti_idv_events_down(ngx_http_yoti_idv_events_t *ev,
    const char *why)
{
    if (why) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "yoti_idv: events connection to redis at \"%V\": %s",
                      &ev->conf->name, why);
    }

    if (ev->ac) {
        /* in a reply callback hiredis frees it once the callback returns */
        redisAsyncFree(ev->ac);
        return;
    }

    /* no context (it failed at once): the cleanup will not run */
    ev->state = NGX_HTTP_YOTI_IDV_EVENTS_DOWN;

    if (ev->last_len == 0) {
        ev->missed = 1;
    }

    if (ev->zone == NULL || ngx_exiting) {
        return;
    }

    ev->backoff = ev->backoff ? ngx_min(ev->backoff * 2, 1000) : 50;

    if (ev->timer.timer_set) {
        ngx_del_timer(&ev->timer);
    }

    ngx_add_timer(&ev->timer, ev->backoff);
}


static void
ngx_http_yoti_idv_events_timer(ngx_event_t *e)
{
    ngx_http_yoti_idv_events_t *ev = e->data;

    if (ev->state == NGX_HTTP_YOTI_IDV_EVENTS_DOWN) {
        ngx_http_yoti_idv_events_connect(ev);
        return;
    }

    ngx_http_yoti_idv_events_down(ev, "redis did not answer in time");
}


static void
ngx_http_yoti_idv_events_disconnected(const redisAsyncContext *ac,
    int status)
{
    ngx_http_yoti_idv_events_t  *ev = ac->data;

    if (status != REDIS_OK && ev->zone) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "yoti_idv: events connection to redis at \"%V\" "
                      "lost: %s", &ev->conf->name, ac->errstr);
    }
}


/* hiredis frees the context: the one place a reconnect is scheduled */

static void
ngx_http_yoti_idv_events_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    ngx_http_yoti_idv_events_t  *ev;

    ev = &ngx_http_yoti_idv_events;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    if (ev->conn != c) {
        return;
    }

    ev->ac = NULL;
    ev->conn = NULL;

    ngx_http_yoti_idv_events_down(ev, NULL);
}
