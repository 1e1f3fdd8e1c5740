
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Redis on nginx's event loop: hiredis async contexts, one per server a
 * worker talks to, their sockets nginx connections, hiredis's read/write
 * hooks nginx events, the connect and command timeouts nginx timers.
 *
 * A request's command carries a heap token, not the request: the reply
 * may come after the request timed out or is gone, and then finds a
 * token that points nowhere.
 *
 * Three forms (yoti_idv_redis):
 *
 * - one server: node 0;
 *
 * - cluster=: a small router.  The slot map (slot -> node) comes from
 *   CLUSTER SLOTS, asked at the first lookup, after a MOVED, a
 *   CLUSTERDOWN or a lost node, never more than once a second.  A command
 *   goes to its slot's node, or to any node while the slot is unknown;
 *   MOVED (the map is wrong: fixed for that slot) and ASK (a slot being
 *   migrated: ASKING, then the command, on the target) are followed up
 *   to NGX_HTTP_YOTI_IDV_REDIS_REDIRECTS times.  The two keys of a
 *   lookup share a hash tag (docs/redis.md), so the hot path stays one
 *   MGET on one node.  CLUSTERDOWN and TRYAGAIN fail the request closed;
 *
 * - sentinel=: node 0 is the master, found by asking the sentinels in
 *   turn (SENTINEL get-master-addr-by-name), and confirmed with ROLE on
 *   each new connection.  A +switch-master subscription on one sentinel
 *   moves it without a reload; a lost master connection, a lost
 *   subscription, a ROLE that is not master or a READONLY reply have the
 *   sentinels asked again.  Lookups while nobody knows the master wait in
 *   a list (their own timeout still runs) and go out once it is known.
 */


#include "ngx_http_yoti_idv_redis.h"
#include "ngx_yoti_idv_cache.h"


static void ngx_http_yoti_idv_redis_init(ngx_http_yoti_idv_redis_conf_t *rcf);
static ngx_http_yoti_idv_redis_token_t *ngx_http_yoti_idv_redis_token(
    ngx_log_t *log, ngx_http_yoti_idv_redis_conf_t *rcf, int argc,
    const char **argv, size_t *len);
static void ngx_http_yoti_idv_redis_drop(ngx_http_yoti_idv_redis_node_t *node,
    const char *error);
static void ngx_http_yoti_idv_redis_failed(
    ngx_http_yoti_idv_redis_node_t *node, const char *error);
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
static void ngx_http_yoti_idv_redis_del_write(void *data);
static void ngx_http_yoti_idv_redis_cleanup(void *data);
static void ngx_http_yoti_idv_redis_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static ngx_int_t ngx_http_yoti_idv_redis_redirect(redisAsyncContext *ac,
    redisReply *rep, ngx_http_yoti_idv_redis_token_t *token);
static void ngx_http_yoti_idv_redis_lookup_done(redisAsyncContext *ac,
    redisReply *rep, ngx_http_yoti_idv_redis_op_t *op);
static void ngx_http_yoti_idv_redis_timeout(ngx_event_t *ev);
static void ngx_http_yoti_idv_redis_command_done(redisAsyncContext *ac,
    redisReply *rep, ngx_http_yoti_idv_redis_op_t *op);
static ngx_int_t ngx_http_yoti_idv_redis_copy(ngx_http_yoti_idv_redis_op_t *op,
    ngx_yoti_idv_value_t *values);


ngx_http_yoti_idv_redis_t  ngx_http_yoti_idv_redis;




/* the nodes of the configuration, once a worker first needs Redis */

static void
ngx_http_yoti_idv_redis_init(ngx_http_yoti_idv_redis_conf_t *rcf)
{
    ngx_uint_t                       i;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_addr_t  *a;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;

    rd->conf = rcf;
    rd->log = ngx_cycle->log;
    rd->pending_last = &rd->pending;

    ngx_memset(rd->slots, NGX_HTTP_YOTI_IDV_REDIS_NO_NODE, sizeof(rd->slots));

    switch (rcf->mode) {

    case NGX_HTTP_YOTI_IDV_REDIS_CLUSTER:
        a = rcf->addrs->elts;

        for (i = 0; i < rcf->addrs->nelts; i++) {
            node = &rd->nodes[rd->nnodes++];
            node->name = a[i].name;
            node->host = a[i].host.data;
            node->port = a[i].port;
        }

        break;

    case NGX_HTTP_YOTI_IDV_REDIS_SENTINEL:

        /* the master is not known yet */
        node = &rd->nodes[rd->nnodes++];
        node->host = node->host_buf;
        ngx_str_set(&node->name, "(the master)");

        a = rcf->addrs->elts;

        for (i = 0; i < rcf->addrs->nelts; i++) {
            node = &rd->nodes[rd->nnodes++];
            node->name = a[i].name;
            node->host = a[i].host.data;
            node->port = a[i].port;
            node->sentinel = 1;
        }

        rd->nsentinels = rcf->addrs->nelts;

        /* pubsub: a connection of its own, to one of them */
        rd->subscriber = &rd->nodes[rd->nnodes++];
        rd->subscriber->host = rd->subscriber->host_buf;
        rd->subscriber->sentinel = 1;
        ngx_str_set(&rd->subscriber->name, "(a sentinel)");

        break;

    default: /* NGX_HTTP_YOTI_IDV_REDIS_SINGLE */
        node = &rd->nodes[rd->nnodes++];
        node->name = rcf->name;
        node->host = rcf->host.data;
        node->port = rcf->port;
    }
}


/*
 * NGX_AGAIN: the MGET is out (or waits for the master), op->done() will
 * be called once; NGX_OK: Redis is not usable now, op->error says why;
 * NGX_ERROR: no memory
 */

ngx_int_t
ngx_http_yoti_idv_redis_lookup(ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_http_yoti_idv_redis_op_t *op)
{
    size_t                            len[4];
    ngx_int_t                         rc;
    ngx_uint_t                        i;
    const char                       *argv[4], *err;
    ngx_http_yoti_idv_redis_t        *rd;
    ngx_http_yoti_idv_redis_token_t  *token;

    rd = &ngx_http_yoti_idv_redis;

    op->error = NULL;

    for (i = 0; i < op->nkeys; i++) {
        ngx_str_null(&op->values[i]);
    }

    if (rd->conf == NULL) {
        ngx_http_yoti_idv_redis_init(rcf);
    }

    argv[0] = "MGET";
    len[0] = sizeof("MGET") - 1;

    for (i = 0; i < op->nkeys; i++) {
        argv[i + 1] = (const char *) op->keys[i].data;
        len[i + 1] = op->keys[i].len;
    }

    token = ngx_http_yoti_idv_redis_token(op->log, rcf, op->nkeys + 1, argv,
                                          len);
    if (token == NULL) {
        return NGX_ERROR;
    }

    token->op = op;

    if (rcf->mode == NGX_HTTP_YOTI_IDV_REDIS_SENTINEL && !rd->master_known) {

        if (!rd->discovering && ngx_http_yoti_idv_redis_discover() != NGX_OK)
        {
            ngx_free(token);
            op->error = "redis:sentinel";
            return NGX_OK;
        }

        /* sent by flush() once a sentinel has answered */

        *rd->pending_last = token;
        rd->pending_last = &token->next;

        rc = NGX_AGAIN;

    } else {

        if (rcf->mode == NGX_HTTP_YOTI_IDV_REDIS_CLUSTER && !rd->loaded) {
            ngx_http_yoti_idv_redis_refresh();
        }

        if (rd->refreshing && !rd->loaded) {
            /* the first lookups wait for the slot map: one round trip */
            *rd->pending_last = token;
            rd->pending_last = &token->next;

            rc = NGX_AGAIN;

        } else {
            rc = ngx_http_yoti_idv_redis_send(op->log, token, &err);

            if (rc != NGX_OK) {
                ngx_free(token);
                op->error = err;
                return NGX_OK;
            }
        }
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


/*
 * the command of a token; its arguments are copied where it may be sent
 * again (a redirection, a master found later), and point to the caller's
 * otherwise
 */

static ngx_http_yoti_idv_redis_token_t *
ngx_http_yoti_idv_redis_token(ngx_log_t *log,
    ngx_http_yoti_idv_redis_conf_t *rcf, int argc, const char **argv,
    size_t *len)
{
    int                               i;
    u_char                           *p;
    size_t                            size;
    ngx_uint_t                        copy;
    ngx_http_yoti_idv_redis_token_t  *token;

    copy = (rcf->mode != NGX_HTTP_YOTI_IDV_REDIS_SINGLE);

    size = sizeof(ngx_http_yoti_idv_redis_token_t);

    if (copy) {
        for (i = 0; i < argc; i++) {
            size += len[i];
        }
    }

    token = ngx_alloc(size, log);
    if (token == NULL) {
        return NULL;
    }

    ngx_memzero(token, sizeof(ngx_http_yoti_idv_redis_token_t));

    token->argc = argc;

    p = (u_char *) token + sizeof(ngx_http_yoti_idv_redis_token_t);

    for (i = 0; i < argc; i++) {
        token->len[i] = len[i];

        if (copy) {
            token->argv[i] = (const char *) p;
            p = ngx_cpymem(p, argv[i], len[i]);

        } else {
            token->argv[i] = argv[i];
        }
    }

    return token;
}


/* to the slot's node, the ASK target or the one server; NGX_OK: sent */

ngx_int_t
ngx_http_yoti_idv_redis_send(ngx_log_t *log,
    ngx_http_yoti_idv_redis_token_t *token, const char **err)
{
    ngx_uint_t                       n;
    redisAsyncContext               *ac;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;

    if (token->ask) {
        node = token->ask;

    } else if (ngx_http_yoti_idv_redis_is(CLUSTER)) {
        n = rd->slots[ngx_yoti_idv_key_slot(token->argv[1], token->len[1])];

        if (n == NGX_HTTP_YOTI_IDV_REDIS_NO_NODE) {
            ngx_http_yoti_idv_redis_refresh();
            node = ngx_http_yoti_idv_redis_any();

        } else {
            node = &rd->nodes[n];
        }

    } else {
        node = &rd->nodes[0];
    }

    ac = ngx_http_yoti_idv_redis_get(log, node, err);
    if (ac == NULL) {
        return NGX_ERROR;
    }

    if (token->store && !node->ready) {
        /* a write queued behind a SELECT that may fail could go to db 0 */
        *err = "redis:not_ready";
        return NGX_ERROR;
    }

    if (token->ask
        && redisAsyncCommand(ac, NULL, NULL, "ASKING") != REDIS_OK)
    {
        *err = node->error ? node->error : "redis:closed";
        return NGX_ERROR;
    }

    if (redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_reply, token,
                              token->argc, token->argv, token->len)
        != REDIS_OK)
    {
        *err = node->error ? node->error : "redis:closed";
        return NGX_ERROR;
    }

    token->node = node;

    return NGX_OK;
}


static void
ngx_http_yoti_idv_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_yoti_idv_redis_token_t *token = privdata;

    redisReply                      *rep = reply;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;
    node = ac->data;

    if (token->op == NULL && !token->store) {
        /* the request timed out or is gone */
        ngx_free(token);
        return;
    }

    if (rep == NULL) {
        /* the connection is gone: redis_failed() reacts */
        ngx_http_yoti_idv_redis_finish(token, node->error ? node->error
                                                          : "redis:closed");
        return;
    }

    if (node->setup_failed) {
        /* sent behind a failed AUTH or SELECT: perhaps from another db */
        ngx_http_yoti_idv_redis_finish(token, node->error);
        return;
    }

    if (rep->type == REDIS_REPLY_ERROR
        && rd->conf->mode != NGX_HTTP_YOTI_IDV_REDIS_SINGLE
        && ngx_http_yoti_idv_redis_redirect(ac, rep, token) != NGX_DECLINED)
    {
        return;
    }

    if (token->store) {
        if (rep->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "yoti_idv: caching the verdict in redis failed: "
                          "\"%*s\"", ngx_min(rep->len, 128), rep->str);
        }

        ngx_free(token);
        return;
    }

    if (token->command) {
        ngx_http_yoti_idv_redis_command_done(ac, rep, token->op);

    } else {
        ngx_http_yoti_idv_redis_lookup_done(ac, rep, token->op);
    }

    ngx_free(token);
}


/*
 * the errors of a cluster or of a demoted master: NGX_DECLINED: another
 * error, for the caller; NGX_OK: sent again, or finished
 */

static ngx_int_t
ngx_http_yoti_idv_redis_redirect(redisAsyncContext *ac, redisReply *rep,
    ngx_http_yoti_idv_redis_token_t *token)
{
    unsigned                         slot;
    ngx_log_t                       *log;
    const char                      *err;
    ngx_yoti_idv_reply_e             rc;
    ngx_yoti_idv_endpoint_t          ep;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node, *to;

    rd = &ngx_http_yoti_idv_redis;
    node = ac->data;
    log = token->op ? token->op->log : rd->log;

    rc = ngx_yoti_idv_error_parse(rep->str, rep->len, &slot, &ep);

    switch (rc) {

    case NGX_YOTI_IDV_REPLY_MOVED:
    case NGX_YOTI_IDV_REPLY_ASK:

        if (!ngx_http_yoti_idv_redis_is(CLUSTER)) {
            return NGX_DECLINED;
        }

        if (token->redirects++ == NGX_HTTP_YOTI_IDV_REDIS_REDIRECTS) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "yoti_idv: redis cluster: more than %d "
                          "redirections for slot %ud, last \"%*s\"",
                          NGX_HTTP_YOTI_IDV_REDIS_REDIRECTS, slot,
                          ngx_min(rep->len, 128), rep->str);
            ngx_http_yoti_idv_redis_finish(token, "redis:cluster");
            return NGX_OK;
        }

        to = ngx_http_yoti_idv_redis_node(&ep, node);
        if (to == NULL) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "yoti_idv: redis cluster node \"%V\" redirects to "
                          "an address the module cannot use: \"%*s\"",
                          &node->name, ngx_min(rep->len, 128), rep->str);
            ngx_http_yoti_idv_redis_finish(token, "redis:cluster");
            return NGX_OK;
        }

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                       "yoti_idv redis %s slot %ud to \"%V\"",
                       rc == NGX_YOTI_IDV_REPLY_MOVED ? "moved" : "ask",
                       slot, &to->name);

        if (rc == NGX_YOTI_IDV_REPLY_MOVED) {
            /* the map is wrong: this slot at once, the rest soon */
            rd->slots[slot] = (u_char) (to - rd->nodes);
            token->ask = NULL;
            ngx_http_yoti_idv_redis_refresh();

        } else {
            /* only this command, while the slot migrates */
            token->ask = to;
        }

        if (ngx_http_yoti_idv_redis_send(log, token, &err) != NGX_OK) {
            ngx_http_yoti_idv_redis_finish(token, err);
        }

        return NGX_OK;

    case NGX_YOTI_IDV_REPLY_CLUSTERDOWN:
    case NGX_YOTI_IDV_REPLY_TRYAGAIN:

        if (!ngx_http_yoti_idv_redis_is(CLUSTER)) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "yoti_idv: redis cluster node \"%V\" answered "
                      "\"%*s\"", &node->name, ngx_min(rep->len, 128),
                      rep->str);

        if (rc == NGX_YOTI_IDV_REPLY_CLUSTERDOWN) {
            ngx_http_yoti_idv_redis_refresh();
        }

        ngx_http_yoti_idv_redis_finish(token, "redis:cluster");
        return NGX_OK;

    case NGX_YOTI_IDV_REPLY_READONLY:

        if (!ngx_http_yoti_idv_redis_is(SENTINEL)) {
            return NGX_DECLINED;
        }

        /* the master was demoted under our connection */

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "yoti_idv: redis at \"%V\" is a replica now, asking "
                      "the sentinels for the master", &node->name);

        ngx_http_yoti_idv_redis_finish(token, "redis:readonly");

        if (node == &rd->nodes[0]) {
            rd->master_known = 0;
            redisAsyncDisconnect(ac);
        }

        return NGX_OK;

    default:
        return NGX_DECLINED;
    }
}


/* a command that ends without a usable reply */

void
ngx_http_yoti_idv_redis_finish(ngx_http_yoti_idv_redis_token_t *token,
    const char *error)
{
    ngx_http_yoti_idv_redis_op_t  *op;

    op = token->op;
    ngx_free(token);

    if (op == NULL) {
        return;
    }

    op->token = NULL;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    op->error = error;
    op->done(op->data);
}


static void
ngx_http_yoti_idv_redis_lookup_done(redisAsyncContext *ac, redisReply *rep,
    ngx_http_yoti_idv_redis_op_t *op)
{
    ngx_yoti_idv_value_t             values[3];
    ngx_yoti_idv_mget_rc_e           rc;
    ngx_http_yoti_idv_redis_node_t  *node;

    node = ac->data;

    op->token = NULL;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    rc = ngx_yoti_idv_mget_reply(rep, op->nkeys, values);

    switch (rc) {

    case NGX_YOTI_IDV_MGET_OK:
        /* a server that answers: the next failure backs off from scratch */
        node->backoff = 0;
        node->error = NULL;
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

    ngx_http_yoti_idv_redis_node_t  *node;

    node = op->token ? op->token->node : NULL;

    if (node) {
        ngx_log_error(NGX_LOG_ERR, op->log, 0,
                      "yoti_idv: redis at \"%V\" did not answer in time",
                      &node->name);

    } else if (ngx_http_yoti_idv_redis_is(SENTINEL)) {
        ngx_log_error(NGX_LOG_ERR, op->log, 0,
                      "yoti_idv: no sentinel named the redis master in time");

    } else {
        ngx_log_error(NGX_LOG_ERR, op->log, 0,
                      "yoti_idv: the redis cluster's slot map did not come "
                      "in time");
    }

    ngx_http_yoti_idv_redis_cancel(op);

    op->error = (node || ngx_http_yoti_idv_redis_is(CLUSTER))
                ? "redis:timeout" : "redis:sentinel";

    /* a server that does not answer one command will not answer others */

    if (node) {
        ngx_http_yoti_idv_redis_drop(node, "redis:timeout");
    }

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
    size_t                            len[5];
    u_char                            ex[NGX_TIME_T_LEN];
    const char                       *argv[5], *err;
    ngx_http_yoti_idv_redis_t        *rd;
    ngx_http_yoti_idv_redis_token_t  *token;

    rd = &ngx_http_yoti_idv_redis;

    if (rd->conf == NULL) {
        ngx_http_yoti_idv_redis_init(rcf);
    }

    if (rcf->mode == NGX_HTTP_YOTI_IDV_REDIS_SENTINEL && !rd->master_known) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                       "yoti_idv redis store skipped: no master known");
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

    token = ngx_http_yoti_idv_redis_token(log, rcf, 5, argv, len);
    if (token == NULL) {
        return;
    }

    token->store = 1;

    if (ngx_http_yoti_idv_redis_send(log, token, &err) != NGX_OK) {
        ngx_free(token);

        if (ngx_strcmp(err, "redis:not_ready") == 0) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                           "yoti_idv redis store skipped: "
                           "connection not ready");
            return;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "yoti_idv redis store skipped: %s", err);
        return;
    }

    ngx_http_yoti_idv_metric_inc(REDIS_SET);
}


redisAsyncContext *
ngx_http_yoti_idv_redis_get(ngx_log_t *log,
    ngx_http_yoti_idv_redis_node_t *node, const char **err)
{
    int                              n;
    size_t                           len[3];
    u_char                           db[NGX_INT_T_LEN];
    const char                      *argv[3];
    redisAsyncContext               *ac;
    ngx_connection_t                *c;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_conf_t  *rcf;

    rd = &ngx_http_yoti_idv_redis;
    rcf = rd->conf;

    if (node->ac) {
        return node->ac;
    }

    /* after a failure, not before the backoff ends */

    if (node->used && (ngx_msec_int_t) (node->retry_at - ngx_current_msec) > 0)
    {
        *err = node->error ? node->error : "redis:down";
        return NULL;
    }

    ngx_http_yoti_idv_metric_add(NGX_HTTP_YOTI_IDV_M_REDIS_RECONNECTS,
                                 node->used);
    node->used = 1;

    /* the address was resolved at configuration time: no DNS here */

    if (node->port == 0) {
        ac = redisAsyncConnectUnix((const char *) node->host);

    } else {
        ac = redisAsyncConnect((const char *) node->host, node->port);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "yoti_idv: no memory for a redis context");
        *err = "redis:connect";
        return NULL;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "yoti_idv: cannot connect to %s at \"%V\": %s",
                      node->sentinel ? "sentinel" : "redis", &node->name,
                      ac->errstr);
        redisAsyncFree(ac);
        ngx_http_yoti_idv_redis_failed(node, "redis:connect");
        *err = "redis:connect";
        return NULL;
    }

    c = ngx_http_yoti_idv_redis_attach(ac, rd->log,
                                       ngx_http_yoti_idv_redis_cleanup);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_yoti_idv_redis_failed(node, "redis:connect");
        *err = "redis:connect";
        return NULL;
    }

    ac->data = node;

    node->ac = ac;
    node->conn = c;
    node->setups = 0;
    node->ready = 0;
    node->setup_failed = 0;

    redisAsyncSetConnectCallback(ac, ngx_http_yoti_idv_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_yoti_idv_redis_disconnected);

    /* the connect completes on the first write event */
    ngx_http_yoti_idv_redis_add_write(c);

    node->connect_timer.handler = ngx_http_yoti_idv_redis_connect_timeout;
    node->connect_timer.data = node;
    node->connect_timer.log = rd->log;
    node->connect_timer.cancelable = 1;

    ngx_add_timer(&node->connect_timer, rcf->connect_timeout);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                   "yoti_idv redis connecting to \"%V\"", &node->name);

    /*
     * AUTH, SELECT and (for a master named by the sentinels) ROLE go
     * first on the connection, commands queue behind
     */

    if (node->sentinel) {

        if (rcf->sentinel_password.len) {
            argv[0] = "AUTH";
            len[0] = sizeof("AUTH") - 1;
            argv[1] = (const char *) rcf->sentinel_password.data;
            len[1] = rcf->sentinel_password.len;

            if (redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_setup_reply,
                                      (void *) "AUTH", 2, argv, len)
                != REDIS_OK)
            {
                goto failed;
            }

            node->setups++;
        }

        goto done;
    }

    /* AUTH <password>, or AUTH <user> <password> for an ACL user */

    if (rcf->password.len) {
        argv[0] = "AUTH";
        len[0] = sizeof("AUTH") - 1;
        n = 1;

        if (rcf->user.len) {
            argv[n] = (const char *) rcf->user.data;
            len[n++] = rcf->user.len;
        }

        argv[n] = (const char *) rcf->password.data;
        len[n++] = rcf->password.len;

        if (redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_setup_reply,
                                  (void *) "AUTH", n, argv, len)
            != REDIS_OK)
        {
            goto failed;
        }

        node->setups++;
    }

    if (rcf->db) {
        argv[0] = "SELECT";
        len[0] = sizeof("SELECT") - 1;
        argv[1] = (const char *) db;
        len[1] = ngx_sprintf(db, "%ui", rcf->db) - db;

        if (redisAsyncCommandArgv(ac, ngx_http_yoti_idv_redis_setup_reply,
                                  (void *) "SELECT", 2, argv, len)
            != REDIS_OK)
        {
            goto failed;
        }

        node->setups++;
    }

    if (rcf->mode == NGX_HTTP_YOTI_IDV_REDIS_SENTINEL) {
        if (redisAsyncCommand(ac, ngx_http_yoti_idv_redis_setup_reply,
                              (void *) "ROLE", "ROLE")
            != REDIS_OK)
        {
            goto failed;
        }

        node->setups++;
    }

done:

    node->ready = (node->setups == 0);

    return ac;

failed:

    ngx_http_yoti_idv_redis_drop(node, "redis:connect");
    *err = "redis:connect";
    return NULL;
}


static void
ngx_http_yoti_idv_redis_setup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    const char *cmd = privdata;

    int                              role;
    redisReply                      *rep = reply;
    const char                      *param;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;
    node = ac->data;

    if (rep == NULL || node->setup_failed) {
        return;
    }

    if (cmd[0] == 'R' && rep->type != REDIS_REPLY_ERROR) {

        role = ngx_yoti_idv_role_is_master(rep);

        if (role == 1) {
            goto ok;
        }

        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "yoti_idv: redis at \"%V\" is not the master of "
                      "\"%V\" (ROLE: \"%*s\"), asking the sentinels again",
                      &node->name, &rd->conf->master,
                      (role == 0) ? ngx_min(rep->element[0]->len, 32) : 1,
                      (role == 0) ? rep->element[0]->str : "?");

        node->setup_failed = 1;
        ngx_http_yoti_idv_redis_failed(node, "redis:role");

        /* the address has to be asked for again */
        node->backoff = 0;
        rd->master_known = 0;

        redisAsyncDisconnect(ac);
        return;
    }

    if (rep->type != REDIS_REPLY_ERROR) {
        goto ok;
    }

    /* the password is not logged */

    if (node->sentinel) {
        param = "sentinel_password=";

    } else if (cmd[0] == 'A') {
        param = rd->conf->user.len ? "user= and password=" : "password=";

    } else if (cmd[0] == 'S') {
        param = "db=";

    } else {
        param = "user=";
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "yoti_idv: %s at \"%V\" refused %s: \"%*s\", check "
                  "the %s parameter%s of \"yoti_idv_redis\"",
                  node->sentinel ? "sentinel" : "redis",
                  &node->name, cmd, ngx_min(rep->len, 128), rep->str, param,
                  (param[0] == 'u' && param[5] == ' ') ? "s" : "");

    node->setup_failed = 1;
    ngx_http_yoti_idv_redis_failed(node, (cmd[0] == 'A') ? "redis:auth"
                                         : (cmd[0] == 'S') ? "redis:select"
                                                           : "redis:error");

    /* replies queued behind fail too, and the backoff spares the server */
    redisAsyncDisconnect(ac);
    return;

ok:

    if (--node->setups == 0) {
        node->ready = 1;
    }
}


static void
ngx_http_yoti_idv_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_yoti_idv_redis_node_t  *node = ac->data;

    if (node->connect_timer.timer_set) {
        ngx_del_timer(&node->connect_timer);
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_yoti_idv_redis.log, 0,
                      "yoti_idv: cannot connect to %s at \"%V\": %s",
                      node->sentinel ? "sentinel" : "redis", &node->name,
                      ac->errstr);
        ngx_http_yoti_idv_redis_failed(node, "redis:connect");
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_http_yoti_idv_redis.log, 0,
                   "yoti_idv redis connected to \"%V\"", &node->name);

    ngx_http_yoti_idv_metric_redis_up(node->ready);

    /* an idle connection a firewall dropped is noticed, not waited on */

    if (node->port && redisEnableKeepAlive((redisContext *) &ac->c)
                      != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_http_yoti_idv_redis.log, 0,
                      "yoti_idv: no TCP keepalive on the redis connection");
    }

    /* the backoff ends with a good reply, see lookup_done() */
}


static void
ngx_http_yoti_idv_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_yoti_idv_redis_node_t  *node = ac->data;

    /* the module's own drops were accounted for in redis_drop() */

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_yoti_idv_redis.log, 0,
                      "yoti_idv: connection to %s at \"%V\" lost: %s",
                      node->sentinel ? "sentinel" : "redis", &node->name,
                      ac->errstr);
        ngx_http_yoti_idv_redis_failed(node, "redis:closed");
    }
}


static void
ngx_http_yoti_idv_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_yoti_idv_redis_node_t  *node = ev->data;

    ngx_log_error(NGX_LOG_ERR, ngx_http_yoti_idv_redis.log, 0,
                  "yoti_idv: connecting to %s at \"%V\" timed out",
                  node->sentinel ? "sentinel" : "redis", &node->name);

    ngx_http_yoti_idv_redis_drop(node, "redis:connect_timeout");
}


/* frees the context now: pending commands get no reply (NULL) */

static void
ngx_http_yoti_idv_redis_drop(ngx_http_yoti_idv_redis_node_t *node,
    const char *error)
{
    redisAsyncContext  *ac;

    ac = node->ac;

    ngx_http_yoti_idv_redis_failed(node, error);

    if (ac) {
        redisAsyncFree(ac);
    }
}


static void
ngx_http_yoti_idv_redis_failed(ngx_http_yoti_idv_redis_node_t *node,
    const char *error)
{
    ngx_http_yoti_idv_redis_t  *rd;

    rd = &ngx_http_yoti_idv_redis;

    node->error = error;
    ngx_http_yoti_idv_metric_redis_up(0);

    node->backoff = node->backoff ? ngx_min(node->backoff * 2,
                                            NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MAX)
                                  : NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MIN;

    node->retry_at = ngx_current_msec + node->backoff;

    switch (rd->conf->mode) {

    case NGX_HTTP_YOTI_IDV_REDIS_CLUSTER:
        /* a lost node: perhaps a failover, the map will say */
        ngx_http_yoti_idv_redis_refresh();
        break;

    case NGX_HTTP_YOTI_IDV_REDIS_SENTINEL:

        if (node == &rd->nodes[0] || node == rd->subscriber) {
            ngx_http_yoti_idv_redis_master_lost();
        }

        break;

    default:
        break;
    }
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
 * hiredis on nginx's events, for every connection of the module (this
 * file's and the events stream's): an nginx connection for the context's
 * socket, its handlers, and hiredis's hooks; "cleanup" runs when hiredis
 * frees the context
 */

ngx_connection_t *
ngx_http_yoti_idv_redis_attach(redisAsyncContext *ac, ngx_log_t *log,
    void (*cleanup)(void *data))
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NULL;
    }

    c->data = ac;
    c->read->handler = ngx_http_yoti_idv_redis_read_handler;
    c->write->handler = ngx_http_yoti_idv_redis_write_handler;
    c->read->log = log;
    c->write->log = log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_yoti_idv_redis_add_read;
    ac->ev.delRead = ngx_http_yoti_idv_redis_del_read;
    ac->ev.addWrite = ngx_http_yoti_idv_redis_add_write;
    ac->ev.delWrite = ngx_http_yoti_idv_redis_del_write;
    ac->ev.cleanup = cleanup;

    return c;
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


void
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

    redisAsyncContext               *ac;
    ngx_http_yoti_idv_redis_node_t  *node;

    ac = c->data;
    node = ac->data;

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

    if (node->connect_timer.timer_set) {
        ngx_del_timer(&node->connect_timer);
    }

    if (node->conn == c) {
        node->ac = NULL;
        node->conn = NULL;
        node->ready = 0;
    }
}


void
ngx_http_yoti_idv_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i;
    ngx_http_yoti_idv_redis_t        *rd;
    ngx_http_yoti_idv_redis_token_t  *token, *next;

    rd = &ngx_http_yoti_idv_redis;

    for (token = rd->pending; token; token = next) {
        next = token->next;

        if (token->op) {
            token->op->token = NULL;
        }

        ngx_free(token);
    }

    rd->pending = NULL;
    rd->pending_last = &rd->pending;

    for (i = 0; i < rd->nnodes; i++) {
        if (rd->nodes[i].ac) {
            rd->nodes[i].error = "redis:closed";
            redisAsyncFree(rd->nodes[i].ac);
        }
    }
}


/*
 * For the invalidations (ngx_http_yoti_idv_notify.c): any command, through
 * the same tokens, router and rules as the lookup and the store.
 */

/*
 * not waited for, only once the connection is ready (see redis_store());
 * NGX_OK: sent
 */

ngx_int_t
ngx_http_yoti_idv_redis_fire(ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_log_t *log, int argc, const char **argv, size_t *len)
{
    const char                       *err;
    ngx_http_yoti_idv_redis_t        *rd;
    ngx_http_yoti_idv_redis_token_t  *token;

    rd = &ngx_http_yoti_idv_redis;

    if (argc > NGX_HTTP_YOTI_IDV_REDIS_ARGS) {
        return NGX_ERROR;
    }

    if (rd->conf == NULL) {
        ngx_http_yoti_idv_redis_init(rcf);
    }

    if (rcf->mode == NGX_HTTP_YOTI_IDV_REDIS_SENTINEL && !rd->master_known) {
        return NGX_DECLINED;
    }

    token = ngx_http_yoti_idv_redis_token(log, rcf, argc, argv, len);
    if (token == NULL) {
        return NGX_ERROR;
    }

    token->store = 1;

    if (ngx_http_yoti_idv_redis_send(log, token, &err) != NGX_OK) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, 0,
                       "yoti_idv redis command skipped: %s", err);
        ngx_free(token);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * waited for: NGX_AGAIN, op->done() will be called once, with op->error
 * NULL when Redis answered anything but an error; NGX_OK: Redis is not
 * usable now, op->error says why; NGX_ERROR: no memory
 */

ngx_int_t
ngx_http_yoti_idv_redis_eval(ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_http_yoti_idv_redis_op_t *op, int argc, const char **argv,
    size_t *len)
{
    const char                       *err;
    ngx_http_yoti_idv_redis_t        *rd;
    ngx_http_yoti_idv_redis_token_t  *token;

    rd = &ngx_http_yoti_idv_redis;

    op->error = NULL;

    if (argc > NGX_HTTP_YOTI_IDV_REDIS_ARGS) {
        return NGX_ERROR;
    }

    if (rd->conf == NULL) {
        ngx_http_yoti_idv_redis_init(rcf);
    }

    if (rcf->mode == NGX_HTTP_YOTI_IDV_REDIS_SENTINEL && !rd->master_known) {
        /* the notification is retried by its sender: no waiting list */
        if (!rd->discovering) {
            (void) ngx_http_yoti_idv_redis_discover();
        }

        op->error = "redis:sentinel";
        return NGX_OK;
    }

    token = ngx_http_yoti_idv_redis_token(op->log, rcf, argc, argv, len);
    if (token == NULL) {
        return NGX_ERROR;
    }

    token->op = op;
    token->command = 1;

    if (ngx_http_yoti_idv_redis_send(op->log, token, &err) != NGX_OK) {
        ngx_free(token);
        op->error = err;
        return NGX_OK;
    }

    op->token = token;

    op->timer.handler = ngx_http_yoti_idv_redis_timeout;
    op->timer.data = op;
    op->timer.log = op->log;

    ngx_add_timer(&op->timer, rcf->timeout);

    return NGX_AGAIN;
}


static void
ngx_http_yoti_idv_redis_command_done(redisAsyncContext *ac, redisReply *rep,
    ngx_http_yoti_idv_redis_op_t *op)
{
    u_char                          *p;
    ngx_http_yoti_idv_redis_node_t  *node;

    node = ac->data;

    op->token = NULL;

    if (op->timer.timer_set) {
        ngx_del_timer(&op->timer);
    }

    if (rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, op->log, 0,
                      "yoti_idv: redis answered \"%*s\"",
                      ngx_min(rep->len, 128), rep->str);
        op->error = "redis:error";

    } else {
        node->backoff = 0;
        node->error = NULL;
    }

    /* nil, or not: SET NX tells whether it was set; a string is kept */

    ngx_str_set(&op->values[0], "");

    if (rep->type == REDIS_REPLY_NIL) {
        ngx_str_null(&op->values[0]);

    } else if (rep->type == REDIS_REPLY_STRING && rep->len && op->pool) {
        p = ngx_pnalloc(op->pool, rep->len);

        if (p) {
            ngx_memcpy(p, rep->str, rep->len);
            op->values[0].data = p;
            op->values[0].len = rep->len;
        }
    }

    op->done(op->data);
}
