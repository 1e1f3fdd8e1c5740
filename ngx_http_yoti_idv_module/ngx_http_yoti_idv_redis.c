
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Redis on nginx's event loop: one hiredis async context per worker, its
 * socket an nginx connection, hiredis's read/write hooks nginx events,
 * the connect and command timeouts nginx timers.
 *
 * A request's command carries a heap token, not the request: the reply
 * may come after the request timed out or is gone, and then finds a
 * token that points nowhere.
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_cache.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MIN  50
#define NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MAX  1000

struct ngx_http_yoti_idv_redis_token_s {
    ngx_http_yoti_idv_redis_op_t  *op;          /* NULL: nobody waits */
};


typedef struct {
    redisAsyncContext                *ac;
    ngx_connection_t                 *conn;
    ngx_http_yoti_idv_redis_conf_t   *conf;
    ngx_log_t                        *log;

    ngx_event_t                       connect_timer;

    ngx_msec_t                        backoff;
    ngx_msec_t                        retry_at;
    const char                       *error;     /* why it went down */

    unsigned                          ready:1;      /* AUTH, SELECT done */
    unsigned                          setup_failed:1;
} ngx_http_yoti_idv_redis_t;


static redisAsyncContext *ngx_http_yoti_idv_redis_get(ngx_log_t *log,
    ngx_http_yoti_idv_redis_conf_t *rcf, const char **err);
static void ngx_http_yoti_idv_redis_drop(const char *error);
static void ngx_http_yoti_idv_redis_failed(const char *error);
static void ngx_http_yoti_idv_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_yoti_idv_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_yoti_idv_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_yoti_idv_redis_setup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_redis_read_handler(ngx_event_t *ev);
static void ngx_http_yoti_idv_redis_write_handler(ngx_event_t *ev);
static void ngx_http_yoti_idv_redis_add_read(void *data);
static void ngx_http_yoti_idv_redis_del_read(void *data);
static void ngx_http_yoti_idv_redis_add_write(void *data);
static void ngx_http_yoti_idv_redis_del_write(void *data);
static void ngx_http_yoti_idv_redis_cleanup(void *data);
static void ngx_http_yoti_idv_redis_lookup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_redis_store_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_redis_timeout(ngx_event_t *ev);
static ngx_int_t ngx_http_yoti_idv_redis_copy(ngx_http_yoti_idv_redis_op_t *op,
    ngx_yoti_idv_value_t *values);


static ngx_http_yoti_idv_redis_t  ngx_http_yoti_idv_redis;


/*
 * NGX_AGAIN: the MGET is out, op->done() will be called once;
 * NGX_OK: Redis is not usable now, op->error says why;
 * NGX_ERROR: no memory
 */

ngx_int_t
ngx_http_yoti_idv_redis_lookup(ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_http_yoti_idv_redis_op_t *op)
{
    size_t                            len[3];
    ngx_uint_t                        i;
    const char                       *argv[3], *err;
    redisAsyncContext                *ac;
    ngx_http_yoti_idv_redis_token_t  *token;

    op->error = NULL;
    ngx_str_null(&op->values[0]);
    ngx_str_null(&op->values[1]);

    ac = ngx_http_yoti_idv_redis_get(op->log, rcf, &err);

    if (ac == NULL) {
        op->error = err;
        return NGX_OK;
    }

    argv[0] = "MGET";
    len[0] = sizeof("MGET") - 1;

    for (i = 0; i < op->nkeys; i++) {
        argv[i + 1] = (const char *) op->keys[i].data;
        len[i + 1] = op->keys[i].len;
    }

    token = ngx_alloc(sizeof(ngx_http_yoti_idv_redis_token_t), op->log);
    if (token == NULL) {
        return NGX_ERROR;
    }

    token->op = op;

    if (redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_lookup_reply,
                              token, op->nkeys + 1, argv, len)
        != REDIS_OK)
    {
        ngx_free(token);
        op->error = ngx_http_yoti_idv_redis.error
                    ? ngx_http_yoti_idv_redis.error : "redis:closed";
        return NGX_OK;
    }

    op->token = token;
    ngx_http_yoti_idv_metric_inc(REDIS_MGET);

    op->timer.handler = ngx_http_yoti_idv_redis_timeout;
    op->timer.data = op;
    op->timer.log = op->log;

    ngx_add_timer(&op->timer, rcf->timeout);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, op->log, 0,
                   "yoti_idv redis lookup, %ui keys", op->nkeys);

    return NGX_AGAIN;
}


static void
ngx_http_yoti_idv_redis_lookup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_yoti_idv_redis_token_t *token = privdata;

    redisReply                    *rep = reply;
    ngx_yoti_idv_value_t           values[2];
    ngx_yoti_idv_mget_rc_e         rc;
    ngx_http_yoti_idv_redis_op_t  *op;

    op = token->op;
    ngx_free(token);

    if (op == NULL) {
        /* the request timed out or is gone */
        return;
    }

    op->token = NULL;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    if (rep == NULL) {
        op->error = ngx_http_yoti_idv_redis.error
                    ? ngx_http_yoti_idv_redis.error : "redis:closed";
        goto done;
    }

    if (ngx_http_yoti_idv_redis.setup_failed) {
        /* sent behind a failed AUTH or SELECT: perhaps from another db */
        op->error = ngx_http_yoti_idv_redis.error;
        goto done;
    }

    rc = ngx_yoti_idv_mget_reply(rep, op->nkeys, values);

    switch (rc) {

    case NGX_YOTI_IDV_MGET_OK:
        /* a server that answers: the next failure backs off from scratch */
        ngx_http_yoti_idv_redis.backoff = 0;
        ngx_http_yoti_idv_redis.error = NULL;
        ngx_http_yoti_idv_metric_redis_up(1);

        if (ngx_http_yoti_idv_redis_copy(op, values) != NGX_OK) {
            op->error = "redis:error";
        }

        break;

    case NGX_YOTI_IDV_MGET_AUTH:
    case NGX_YOTI_IDV_MGET_ERROR:
        ngx_log_error(NGX_LOG_ERR, op->log, 0,
                      "yoti_idv: redis answered \"%*s\"",
                      ngx_min(rep->len, 128), rep->str);
        op->error = (rc == NGX_YOTI_IDV_MGET_AUTH) ? "redis:auth"
                                                   : "redis:error";
        break;

    default: /* NGX_YOTI_IDV_MGET_SHAPE, NGX_YOTI_IDV_MGET_ELEMENT */
        ngx_log_error(NGX_LOG_ERR, op->log, 0,
                      "yoti_idv: unexpected redis reply type %d to MGET",
                      rep->type);
        op->error = "redis:error";
    }

done:

    op->done(op->data);
}


/* the values live in hiredis's reply: copied to the request's pool */

static ngx_int_t
ngx_http_yoti_idv_redis_copy(ngx_http_yoti_idv_redis_op_t *op,
    ngx_yoti_idv_value_t *values)
{
    ngx_uint_t  i;

    for (i = 0; i < op->nkeys; i++) {

        if (values[i].data == NULL) {
            ngx_str_null(&op->values[i]);
            continue;
        }

        /* an empty value stays distinguishable from a missing one */

        op->values[i].data = ngx_pnalloc(op->pool, values[i].len + 1);
        if (op->values[i].data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(op->values[i].data, values[i].data, values[i].len);
        op->values[i].data[values[i].len] = '\0';
        op->values[i].len = values[i].len;
    }

    return NGX_OK;
}


static void
ngx_http_yoti_idv_redis_timeout(ngx_event_t *ev)
{
    ngx_http_yoti_idv_redis_op_t *op = ev->data;

    ngx_log_error(NGX_LOG_ERR, op->log, 0,
                  "yoti_idv: redis at \"%V\" did not answer in time",
                  &ngx_http_yoti_idv_redis.conf->name);

    ngx_http_yoti_idv_redis_cancel(op);

    op->error = "redis:timeout";

    /* a server that does not answer one command will not answer others */
    ngx_http_yoti_idv_redis_drop("redis:timeout");

    op->done(op->data);
}


/* the request leaves its command behind: the reply will find no one */

void
ngx_http_yoti_idv_redis_cancel(ngx_http_yoti_idv_redis_op_t *op)
{
    if (op->token) {
        op->token->op = NULL;
        op->token = NULL;
    }

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }
}


/* SET <key> <value> EX <ttl>, not waited for */

void
ngx_http_yoti_idv_redis_store(ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_log_t *log, ngx_str_t *key, ngx_str_t *value, time_t ttl)
{
    size_t              len[5];
    u_char              ex[NGX_TIME_T_LEN];
    const char         *argv[5], *err;
    redisAsyncContext  *ac;

    ac = ngx_http_yoti_idv_redis_get(log, rcf, &err);
    if (ac == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "yoti_idv redis store skipped: %s", err);
        return;
    }

    if (!ngx_http_yoti_idv_redis.ready) {
        /* a write queued behind a SELECT that may fail could go to db 0 */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                       "yoti_idv redis store skipped: connection not ready");
        return;
    }

    argv[0] = "SET";
    len[0] = sizeof("SET") - 1;
    argv[1] = (const char *) key->data;
    len[1] = key->len;
    argv[2] = (const char *) value->data;
    len[2] = value->len;
    argv[3] = "EX";
    len[3] = sizeof("EX") - 1;

    /* hiredis copies the arguments into its buffer at once */
    argv[4] = (const char *) ex;
    len[4] = ngx_sprintf(ex, "%T", ttl) - ex;

    if (redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_store_reply, NULL,
                              5, argv, len)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "yoti_idv: the verdict could not be cached in redis");
        return;
    }

    ngx_http_yoti_idv_metric_inc(REDIS_SET);
}


static void
ngx_http_yoti_idv_redis_store_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply  *rep = reply;

    if (rep && rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_http_yoti_idv_redis.log, 0,
                      "yoti_idv: caching the verdict in redis failed: "
                      "\"%*s\"", ngx_min(rep->len, 128), rep->str);
    }
}


static redisAsyncContext *
ngx_http_yoti_idv_redis_get(ngx_log_t *log,
    ngx_http_yoti_idv_redis_conf_t *rcf, const char **err)
{
    int                         n;
    size_t                      len[2];
    u_char                      db[NGX_INT_T_LEN];
    const char                 *argv[2];
    redisAsyncContext          *ac;
    ngx_connection_t           *c;
    ngx_http_yoti_idv_redis_t  *rd;

    rd = &ngx_http_yoti_idv_redis;

    if (rd->ac) {
        return rd->ac;
    }

    /* after a failure, not before the backoff ends */

    if (rd->conf && (ngx_msec_int_t) (rd->retry_at - ngx_current_msec) > 0) {
        *err = rd->error ? rd->error : "redis:down";
        return NULL;
    }

    ngx_http_yoti_idv_metric_add(NGX_HTTP_YOTI_IDV_M_REDIS_RECONNECTS,
                                 rd->conf != NULL);
    rd->conf = rcf;
    rd->log = ngx_cycle->log;

    /* the address was resolved at configuration time: no DNS here */

    if (rcf->port == 0) {
        ac = redisAsyncConnectUnix((const char *) rcf->host.data);

    } else {
        ac = redisAsyncConnect((const char *) rcf->host.data, rcf->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "yoti_idv: no memory for a redis context");
        *err = "redis:connect";
        return NULL;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "yoti_idv: cannot connect to redis at \"%V\": %s",
                      &rcf->name, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_yoti_idv_redis_failed("redis:connect");
        *err = "redis:connect";
        return NULL;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_yoti_idv_redis_failed("redis:connect");
        *err = "redis:connect";
        return NULL;
    }

    c->data = ac;
    c->read->handler = ngx_http_yoti_idv_redis_read_handler;
    c->write->handler = ngx_http_yoti_idv_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    ac->data = rd;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_yoti_idv_redis_add_read;
    ac->ev.delRead = ngx_http_yoti_idv_redis_del_read;
    ac->ev.addWrite = ngx_http_yoti_idv_redis_add_write;
    ac->ev.delWrite = ngx_http_yoti_idv_redis_del_write;
    ac->ev.cleanup = ngx_http_yoti_idv_redis_cleanup;

    rd->ac = ac;
    rd->conn = c;
    rd->ready = (rcf->password.len == 0 && rcf->db == 0);
    rd->setup_failed = 0;

    redisAsyncSetConnectCallback(ac, ngx_http_yoti_idv_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_yoti_idv_redis_disconnected);

    /* the connect completes on the first write event */
    ngx_http_yoti_idv_redis_add_write(c);

    rd->connect_timer.handler = ngx_http_yoti_idv_redis_connect_timeout;
    rd->connect_timer.data = c;
    rd->connect_timer.log = rd->log;
    rd->connect_timer.cancelable = 1;

    ngx_add_timer(&rd->connect_timer, rcf->connect_timeout);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "yoti_idv redis connecting to \"%V\"", &rcf->name);

    /* AUTH and SELECT go first on the connection, commands queue behind */

    if (rcf->password.len) {
        argv[0] = "AUTH";
        len[0] = sizeof("AUTH") - 1;
        argv[1] = (const char *) rcf->password.data;
        len[1] = rcf->password.len;

        n = redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_setup_reply,
                                  (void *) "AUTH", 2, argv, len);
        if (n != REDIS_OK) {
            goto failed;
        }
    }

    if (rcf->db) {
        argv[0] = "SELECT";
        len[0] = sizeof("SELECT") - 1;
        argv[1] = (const char *) db;
        len[1] = ngx_sprintf(db, "%ui", rcf->db) - db;

        n = redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_setup_reply,
                                  (void *) "SELECT", 2, argv, len);
        if (n != REDIS_OK) {
            goto failed;
        }
    }

    return ac;

failed:

    ngx_http_yoti_idv_redis_drop("redis:connect");
    *err = "redis:connect";
    return NULL;
}


static void
ngx_http_yoti_idv_redis_setup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    const char *cmd = privdata;

    redisReply                      *rep = reply;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_conf_t  *rcf;

    rd = &ngx_http_yoti_idv_redis;
    rcf = rd->conf;

    if (rep == NULL) {
        return;
    }

    if (rep->type != REDIS_REPLY_ERROR) {

        /* SELECT, when there is one, comes last */

        if (cmd[0] == 'S' || rcf->db == 0) {
            rd->ready = 1;
        }

        return;
    }

    /* the password is not logged */

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "yoti_idv: redis at \"%V\" refused %s: \"%*s\", check "
                  "the %s parameter of \"yoti_idv_redis\"",
                  &rcf->name, cmd, ngx_min(rep->len, 128), rep->str,
                  cmd[0] == 'A' ? "password=" : "db=");

    rd->setup_failed = 1;
    ngx_http_yoti_idv_redis_failed((cmd[0] == 'A') ? "redis:auth"
                                                   : "redis:select");

    /* replies queued behind fail too, and the backoff spares the server */
    redisAsyncDisconnect(ac);
}


static void
ngx_http_yoti_idv_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_yoti_idv_redis_t  *rd = ac->data;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "yoti_idv: cannot connect to redis at \"%V\": %s",
                      &rd->conf->name, ac->errstr);
        ngx_http_yoti_idv_redis_failed("redis:connect");
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "yoti_idv redis connected to \"%V\"", &rd->conf->name);

    ngx_http_yoti_idv_metric_redis_up(rd->ready);

    /* an idle connection a firewall dropped is noticed, not waited on */

    if (rd->conf->port && redisEnableKeepAlive((redisContext *) &ac->c)
                          != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "yoti_idv: no TCP keepalive on the redis connection");
    }

    /* the backoff ends with a good reply, see lookup_reply() */
}


static void
ngx_http_yoti_idv_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_yoti_idv_redis_t  *rd = ac->data;

    /* the module's own drops were accounted for in redis_drop() */

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "yoti_idv: connection to redis at \"%V\" lost: %s",
                      &rd->conf->name, ac->errstr);
        ngx_http_yoti_idv_redis_failed("redis:closed");
    }
}


static void
ngx_http_yoti_idv_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_yoti_idv_redis_t  *rd;

    rd = &ngx_http_yoti_idv_redis;

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "yoti_idv: connecting to redis at \"%V\" timed out",
                  &rd->conf->name);

    ngx_http_yoti_idv_redis_drop("redis:connect_timeout");
}


/* frees the context now: pending commands get no reply (NULL) */

static void
ngx_http_yoti_idv_redis_drop(const char *error)
{
    redisAsyncContext  *ac;

    ac = ngx_http_yoti_idv_redis.ac;

    ngx_http_yoti_idv_redis_failed(error);

    if (ac) {
        redisAsyncFree(ac);
    }
}


static void
ngx_http_yoti_idv_redis_failed(const char *error)
{
    ngx_http_yoti_idv_redis_t  *rd;

    rd = &ngx_http_yoti_idv_redis;

    rd->error = error;
    ngx_http_yoti_idv_metric_redis_up(0);

    rd->backoff = rd->backoff ? ngx_min(rd->backoff * 2,
                                        NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MAX)
                              : NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MIN;

    rd->retry_at = ngx_current_msec + rd->backoff;
}


static void
ngx_http_yoti_idv_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_yoti_idv_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


/*
 * level-triggered: hiredis reads at most 16k per call, and an edge would
 * not come again for the rest of a larger reply
 */

static void
ngx_http_yoti_idv_redis_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "yoti_idv: cannot watch the redis connection");
        }
    }
}


static void
ngx_http_yoti_idv_redis_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_yoti_idv_redis_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "yoti_idv: cannot watch the redis connection");
        }
    }
}


static void
ngx_http_yoti_idv_redis_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis frees the context and then closes the socket itself */

static void
ngx_http_yoti_idv_redis_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    ngx_http_yoti_idv_redis_t  *rd;

    rd = &ngx_http_yoti_idv_redis;

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

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->conn == c) {
        rd->ac = NULL;
        rd->conn = NULL;
        rd->ready = 0;
    }
}


void
ngx_http_yoti_idv_redis_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_yoti_idv_redis.ac) {
        ngx_http_yoti_idv_redis.error = "redis:closed";
        redisAsyncFree(ngx_http_yoti_idv_redis.ac);
    }
}
