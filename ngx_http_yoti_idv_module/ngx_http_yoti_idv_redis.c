
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

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MIN  50
#define NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MAX  1000

struct ngx_http_yoti_idv_redis_token_s {
    ngx_http_yoti_idv_ctx_t       *ctx;         /* NULL: nobody waits */
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
static void ngx_http_yoti_idv_redis_wake(ngx_event_t *ev);
static ngx_int_t ngx_http_yoti_idv_redis_copy(ngx_http_request_t *r,
    redisReply *reply, ngx_str_t *s);
static u_char *ngx_http_yoti_idv_redis_verdict_key(u_char *p,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_ctx_t *ctx);


static ngx_http_yoti_idv_redis_t  ngx_http_yoti_idv_redis;


/*
 * MGET <prefix>user:<user id> <prefix>verdict:<fp>:user:<user id>, or
 * MGET <prefix>verdict:<fp>:... when the session id comes from a variable:
 * the hot path is one round trip
 */

ngx_int_t
ngx_http_yoti_idv_redis_lookup(ngx_http_request_t *r,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_ctx_t *ctx)
{
    int                               argc;
    u_char                           *p, *mapping, *verdict;
    size_t                            len[3];
    const char                       *argv[3], *err;
    redisAsyncContext                *ac;
    ngx_http_yoti_idv_redis_token_t  *token;

    ctx->lookup_ylcf = ylcf;
    ctx->redis_error = NULL;
    ngx_str_null(&ctx->mapping);
    ngx_str_null(&ctx->cached);

    ac = ngx_http_yoti_idv_redis_get(r->connection->log, ymcf->redis, &err);

    if (ac == NULL) {
        ctx->redis_error = err;
        return NGX_OK;
    }

    argc = 0;
    argv[argc] = "MGET";
    len[argc++] = sizeof("MGET") - 1;

    if (ctx->has_mapping) {
        mapping = ngx_pnalloc(r->pool, ymcf->prefix.len + sizeof("user:") - 1
                                       + ctx->user_id.len);
        if (mapping == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(mapping, ymcf->prefix.data, ymcf->prefix.len);
        p = ngx_cpymem(p, "user:", sizeof("user:") - 1);
        p = ngx_cpymem(p, ctx->user_id.data, ctx->user_id.len);

        argv[argc] = (const char *) mapping;
        len[argc++] = p - mapping;
    }

    verdict = ngx_pnalloc(r->pool, ymcf->prefix.len + sizeof("verdict:") - 1
                                   + ctx->cache_key.len);
    if (verdict == NULL) {
        return NGX_ERROR;
    }

    p = ngx_http_yoti_idv_redis_verdict_key(verdict, ymcf, ctx);

    argv[argc] = (const char *) verdict;
    len[argc++] = p - verdict;

    token = ngx_alloc(sizeof(ngx_http_yoti_idv_redis_token_t),
                      r->connection->log);
    if (token == NULL) {
        return NGX_ERROR;
    }

    token->ctx = ctx;

    if (redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_lookup_reply,
                              token, argc, argv, len)
        != REDIS_OK)
    {
        ngx_free(token);
        ctx->redis_error = ngx_http_yoti_idv_redis.error
                           ? ngx_http_yoti_idv_redis.error : "redis:closed";
        return NGX_OK;
    }

    ctx->token = token;
    ctx->looking_up = 1;

    ctx->redis_timer.handler = ngx_http_yoti_idv_redis_timeout;
    ctx->redis_timer.data = r;
    ctx->redis_timer.log = r->connection->log;

    ctx->redis_wake.handler = ngx_http_yoti_idv_redis_wake;
    ctx->redis_wake.data = r;
    ctx->redis_wake.log = r->connection->log;

    ngx_add_timer(&ctx->redis_timer, ymcf->redis->timeout);

    /* the request waits for the reply, see redis_wake() */
    r->main->count++;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "yoti_idv redis lookup, %d keys, mapping:%ui",
                   argc - 1, (ngx_uint_t) ctx->has_mapping);

    return NGX_AGAIN;
}


static u_char *
ngx_http_yoti_idv_redis_verdict_key(u_char *p,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_ctx_t *ctx)
{
    p = ngx_cpymem(p, ymcf->prefix.data, ymcf->prefix.len);
    p = ngx_cpymem(p, "verdict:", sizeof("verdict:") - 1);
    return ngx_cpymem(p, ctx->cache_key.data, ctx->cache_key.len);
}


static void
ngx_http_yoti_idv_redis_lookup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_yoti_idv_redis_token_t *token = privdata;

    size_t                    i;
    ngx_str_t                *dst[2];
    redisReply               *rep = reply;
    ngx_http_request_t       *r;
    ngx_http_yoti_idv_ctx_t  *ctx;

    ctx = token->ctx;
    ngx_free(token);

    if (ctx == NULL) {
        /* the request timed out or is gone */
        return;
    }

    r = ctx->request;

    ctx->token = NULL;
    ctx->looking_up = 0;

    if (ctx->redis_timer.timer_set) {
        ngx_del_timer(&ctx->redis_timer);
    }

    if (rep == NULL) {
        ctx->redis_error = ngx_http_yoti_idv_redis.error
                           ? ngx_http_yoti_idv_redis.error : "redis:closed";
        goto done;
    }

    if (ngx_http_yoti_idv_redis.setup_failed) {
        /* sent behind a failed AUTH or SELECT: perhaps from another db */
        ctx->redis_error = ngx_http_yoti_idv_redis.error;
        goto done;
    }

    if (rep->type != REDIS_REPLY_ERROR) {
        /* a server that answers: the next failure backs off from scratch */
        ngx_http_yoti_idv_redis.backoff = 0;
        ngx_http_yoti_idv_redis.error = NULL;
    }

    if (rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yoti_idv: redis answered \"%*s\"",
                      ngx_min(rep->len, 128), rep->str);

        ctx->redis_error = (ngx_strncmp(rep->str, "NOAUTH", 6) == 0
                            || ngx_strncmp(rep->str, "WRONGPASS", 9) == 0)
                           ? "redis:auth" : "redis:error";
        goto done;
    }

    if (rep->type != REDIS_REPLY_ARRAY
        || rep->elements != (size_t) (ctx->has_mapping ? 2 : 1))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yoti_idv: unexpected redis reply type %d to MGET",
                      rep->type);
        ctx->redis_error = "redis:error";
        goto done;
    }

    dst[0] = ctx->has_mapping ? &ctx->mapping : &ctx->cached;
    dst[1] = &ctx->cached;

    for (i = 0; i < rep->elements; i++) {
        if (ngx_http_yoti_idv_redis_copy(r, rep->element[i], dst[i])
            != NGX_OK)
        {
            ctx->redis_error = "redis:error";
            goto done;
        }
    }

done:

    ngx_post_event(&ctx->redis_wake, &ngx_posted_events);
}


static ngx_int_t
ngx_http_yoti_idv_redis_copy(ngx_http_request_t *r, redisReply *reply,
    ngx_str_t *s)
{
    if (reply->type == REDIS_REPLY_NIL) {
        ngx_str_null(s);
        return NGX_OK;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yoti_idv: unexpected redis reply type %d in MGET",
                      reply->type);
        return NGX_ERROR;
    }

    s->len = reply->len;
    s->data = ngx_pnalloc(r->pool, reply->len + 1);
    if (s->data == NULL) {
        return NGX_ERROR;
    }

    /* an empty value stays distinguishable from a missing one */
    ngx_memcpy(s->data, reply->str, reply->len);
    s->data[reply->len] = '\0';

    return NGX_OK;
}


static void
ngx_http_yoti_idv_redis_timeout(ngx_event_t *ev)
{
    ngx_http_request_t       *r = ev->data;

    ngx_http_yoti_idv_ctx_t  *ctx;

    ctx = ngx_http_yoti_idv_get_ctx(r);

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "yoti_idv: redis at \"%V\" did not answer in time",
                  &ngx_http_yoti_idv_redis.conf->name);

    ngx_http_yoti_idv_redis_detach(ctx);

    ctx->redis_error = "redis:timeout";

    /* a server that does not answer one command will not answer others */
    ngx_http_yoti_idv_redis_drop("redis:timeout");

    ngx_http_yoti_idv_redis_wake(&ctx->redis_wake);
}


/* the request leaves its command behind: the reply will find no one */

void
ngx_http_yoti_idv_redis_detach(ngx_http_yoti_idv_ctx_t *ctx)
{
    if (ctx->token) {
        ctx->token->ctx = NULL;
        ctx->token = NULL;
    }

    if (ctx->redis_timer.timer_set) {
        ngx_del_timer(&ctx->redis_timer);
    }

    if (ctx->redis_wake.posted) {
        ngx_delete_posted_event(&ctx->redis_wake);
    }

    ctx->looking_up = 0;
}


static void
ngx_http_yoti_idv_redis_wake(ngx_event_t *ev)
{
    ngx_http_request_t  *r = ev->data;

    ngx_connection_t  *c;

    c = r->connection;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "yoti_idv redis wake");

    r->main->count--;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/* SET <verdict key> "1 <session id> <VERDICT> <reason>" EX <ttl> */

void
ngx_http_yoti_idv_redis_store(ngx_http_request_t *r,
    ngx_http_yoti_idv_main_conf_t *ymcf, ngx_http_yoti_idv_ctx_t *ctx)
{
    u_char             *key, *value, *ttl, *p;
    size_t              len[6];
    time_t              valid;
    const char         *argv[6], *err, *verdict;
    ngx_uint_t          i;
    redisAsyncContext  *ac;

    switch (ctx->result.verdict) {

    case NGX_YOTI_IDV_ALLOW:
        i = NGX_HTTP_YOTI_IDV_VALID_ALLOW;
        break;

    case NGX_YOTI_IDV_DENY:
        i = NGX_HTTP_YOTI_IDV_VALID_DENY;
        break;

    case NGX_YOTI_IDV_PENDING:
        i = NGX_HTTP_YOTI_IDV_VALID_PENDING;
        break;

    default:
        /* an error is never cached */
        return;
    }

    valid = ymcf->valid[i];

    if (valid == 0) {
        return;
    }

    ac = ngx_http_yoti_idv_redis_get(r->connection->log, ymcf->redis, &err);
    if (ac == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv redis store skipped: %s", err);
        return;
    }

    if (!ngx_http_yoti_idv_redis.ready) {
        /* a write queued behind a SELECT that may fail could go to db 0 */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "yoti_idv redis store skipped: connection not ready");
        return;
    }

    key = ngx_pnalloc(r->pool, ymcf->prefix.len + sizeof("verdict:") - 1
                               + ctx->cache_key.len);
    if (key == NULL) {
        return;
    }

    p = ngx_http_yoti_idv_redis_verdict_key(key, ymcf, ctx);

    argv[0] = "SET";
    len[0] = sizeof("SET") - 1;
    argv[1] = (const char *) key;
    len[1] = p - key;

    verdict = ngx_yoti_idv_verdict_name(ctx->result.verdict);

    value = ngx_pnalloc(r->pool, sizeof("1   ") + ctx->session_id.len
                                 + ngx_strlen(verdict)
                                 + ngx_strlen(ctx->result.reason));
    if (value == NULL) {
        return;
    }

    p = ngx_sprintf(value, "1 %V %s %s", &ctx->session_id, verdict,
                    ctx->result.reason);

    argv[2] = (const char *) value;
    len[2] = p - value;

    argv[3] = "EX";
    len[3] = sizeof("EX") - 1;

    ttl = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (ttl == NULL) {
        return;
    }

    argv[4] = (const char *) ttl;
    len[4] = ngx_sprintf(ttl, "%T", valid) - ttl;

    if (redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_store_reply, NULL,
                              5, argv, len)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "yoti_idv: the verdict could not be cached in redis");
    }
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
