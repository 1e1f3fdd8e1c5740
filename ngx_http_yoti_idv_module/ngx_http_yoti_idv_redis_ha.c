
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * The cluster and sentinel router of yoti_idv_redis, see the top of
 * ngx_http_yoti_idv_redis.c: the nodes a cluster announces, its slot map
 * (CLUSTER SLOTS), the sentinels' master (get-master-addr-by-name,
 * +switch-master), and the lookups that wait for either.
 */


#include "ngx_http_yoti_idv_redis.h"


static void ngx_http_yoti_idv_redis_set_address(
    ngx_http_yoti_idv_redis_node_t *node, u_char *host, int port);
static void ngx_http_yoti_idv_redis_slots_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_redis_master_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_redis_master_is(ngx_yoti_idv_endpoint_t *ep,
    ngx_http_yoti_idv_redis_node_t *from);
static void ngx_http_yoti_idv_redis_subscribe(
    ngx_http_yoti_idv_redis_node_t *sentinel);
static void ngx_http_yoti_idv_redis_switch_reply(redisAsyncContext *ac,
    void *reply, void *privdata);


/* a cluster node by its address, added when it is new */

ngx_http_yoti_idv_redis_node_t *
ngx_http_yoti_idv_redis_node(ngx_yoti_idv_endpoint_t *ep,
    ngx_http_yoti_idv_redis_node_t *asked)
{
    u_char                           host[NGX_YOTI_IDV_HOST_LEN];
    ngx_uint_t                       i;
    ngx_yoti_idv_endpoint_t          same;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;

    if (ep->host_len == 0) {
        /* "the address you reached me at" */
        same.host = (const char *) asked->host;
        same.host_len = ngx_strlen(asked->host);
        same.port = ep->port;
        ep = &same;
    }

    if (ngx_yoti_idv_endpoint_ip(ep, (char *) host) != 0) {
        return NULL;
    }

    for (i = 0; i < rd->nnodes; i++) {
        node = &rd->nodes[i];

        if (node->port == ep->port
            && ngx_strcmp(node->host, host) == 0)
        {
            return node;
        }
    }

    if (rd->nnodes == NGX_HTTP_YOTI_IDV_REDIS_NODES) {
        return NULL;
    }

    node = &rd->nodes[rd->nnodes++];

    ngx_http_yoti_idv_redis_set_address(node, host, ep->port);

    return node;
}


static void
ngx_http_yoti_idv_redis_set_address(ngx_http_yoti_idv_redis_node_t *node,
    u_char *host, int port)
{
    ngx_uint_t  v6;

    v6 = (ngx_strlchr(host, host + ngx_strlen(host), ':') != NULL);

    ngx_cpystrn(node->host_buf, host, NGX_YOTI_IDV_HOST_LEN);
    node->host = node->host_buf;
    node->port = port;

    node->name.data = node->name_buf;
    node->name.len = ngx_sprintf(node->name_buf, v6 ? "[%s]:%d" : "%s:%d",
                                 node->host_buf, port)
                     - node->name_buf;
}


/* a node for a slot nobody knows yet: the next one not backing off */

ngx_http_yoti_idv_redis_node_t *
ngx_http_yoti_idv_redis_any(void)
{
    ngx_uint_t                       i;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;

    for (i = 0; i < rd->nnodes; i++) {
        node = &rd->nodes[(rd->next + i) % rd->nnodes];

        if (node->ac
            || !node->used
            || (ngx_msec_int_t) (node->retry_at - ngx_current_msec) <= 0)
        {
            return node;
        }
    }

    /* all back off: the one tried next says why */
    return &rd->nodes[rd->next++ % rd->nnodes];
}


/* CLUSTER SLOTS, at most once a second, to a node that is not down */

void
ngx_http_yoti_idv_redis_refresh(void)
{
    ngx_uint_t                       i;
    const char                      *err;
    redisAsyncContext               *ac;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;

    if (rd->refreshing
        || (rd->asked
            && (ngx_msec_int_t) (ngx_current_msec - rd->refreshed)
               < NGX_HTTP_YOTI_IDV_REDIS_REFRESH))
    {
        return;
    }

    for (i = 0; i < rd->nnodes; i++) {
        node = &rd->nodes[(rd->next + i) % rd->nnodes];

        /*
         * not a node that failed lately, even with its context still
         * there: a refresh from its failure callback would go down with it
         */

        if (node->used
            && (ngx_msec_int_t) (node->retry_at - ngx_current_msec) > 0)
        {
            continue;
        }

        ac = ngx_http_yoti_idv_redis_get(rd->log, node, &err);
        if (ac == NULL) {
            continue;
        }

        if (redisAsyncCommand(ac, ngx_http_yoti_idv_redis_slots_reply, NULL,
                              "CLUSTER SLOTS")
            == REDIS_OK)
        {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                           "yoti_idv redis cluster slots from \"%V\"",
                           &node->name);

            rd->refreshing = 1;
            rd->refreshed = ngx_current_msec;
            rd->asked = 1;
            return;
        }
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "yoti_idv redis cluster slots: no node to ask");
}


static void
ngx_http_yoti_idv_redis_slots_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    int                              n, i;
    unsigned                         s;
    redisReply                      *rep = reply;
    ngx_yoti_idv_range_t             range;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node, *to;

    rd = &ngx_http_yoti_idv_redis;
    node = ac->data;

    rd->refreshing = 0;

    if (rep == NULL || node->setup_failed) {
        /* asked again at the next trigger, a second after this one */
        goto done;
    }

    n = ngx_yoti_idv_slots_check(rep);

    if (n < 0) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "yoti_idv: redis at \"%V\" gave no slot map: %s%*s%s",
                      &node->name,
                      rep->type == REDIS_REPLY_ERROR ? "\"" : "",
                      rep->type == REDIS_REPLY_ERROR
                      ? ngx_min(rep->len, 128) : 0,
                      rep->type == REDIS_REPLY_ERROR ? rep->str : "",
                      rep->type == REDIS_REPLY_ERROR ? "\"" : "a bad reply");
        goto done;
    }

    ngx_memset(rd->slots, NGX_HTTP_YOTI_IDV_REDIS_NO_NODE, sizeof(rd->slots));

    for (i = 0; i < n; i++) {
        ngx_yoti_idv_slots_range(rep, i, &range);

        to = ngx_http_yoti_idv_redis_node(&range.master, node);

        if (to == NULL) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "yoti_idv: redis cluster node for slots %ud-%ud "
                          "is not at an IP address the module can use "
                          "(or there are more than %d nodes)",
                          range.start, range.end,
                          NGX_HTTP_YOTI_IDV_REDIS_NODES);
            continue;
        }

        for (s = range.start; s <= range.end; s++) {
            rd->slots[s] = (u_char) (to - rd->nodes);
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "yoti_idv redis cluster: %d ranges, %ui nodes",
                   n, rd->nnodes);

    rd->loaded = 1;

done:

    /* the first lookups waited for a map; without one, any node */
    ngx_http_yoti_idv_redis_flush(NULL);
}


/*
 * SENTINEL get-master-addr-by-name, to the next sentinel not backing off;
 * NGX_ERROR: none to ask now
 */

ngx_int_t
ngx_http_yoti_idv_redis_discover(void)
{
    ngx_uint_t                       i;
    const char                      *err;
    redisAsyncContext               *ac;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;

    if (rd->discover_backoff
        && (ngx_msec_int_t) (rd->discover_at - ngx_current_msec) > 0)
    {
        return NGX_ERROR;
    }

    for ( /* void */ ; rd->tries < rd->nsentinels; rd->tries++) {

        i = 1 + rd->next++ % rd->nsentinels;
        node = &rd->nodes[i];

        ac = ngx_http_yoti_idv_redis_get(rd->log, node, &err);
        if (ac == NULL) {
            continue;
        }

        if (redisAsyncCommand(ac, ngx_http_yoti_idv_redis_master_reply, NULL,
                              "SENTINEL get-master-addr-by-name %b",
                              rd->conf->master.data,
                              rd->conf->master.len)
            == REDIS_OK)
        {
            rd->tries++;
            rd->discovering = 1;
            return NGX_OK;
        }
    }

    /* every sentinel failed this round: wait before the next */

    rd->tries = 0;
    rd->discover_backoff = rd->discover_backoff
                           ? ngx_min(rd->discover_backoff * 2,
                                     NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MAX)
                           : NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MIN;
    rd->discover_at = ngx_current_msec + rd->discover_backoff;

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "yoti_idv: no sentinel of \"%V\" names the master "
                  "\"%V\", see the lines above",
                  &rd->conf->name, &rd->conf->master);

    return NGX_ERROR;
}


static void
ngx_http_yoti_idv_redis_master_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    u_char                           host[NGX_YOTI_IDV_HOST_LEN];
    ngx_int_t                        rc;
    redisReply                      *rep = reply;
    ngx_yoti_idv_endpoint_t          ep;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;
    node = ac->data;

    rd->discovering = 0;

    if (rep == NULL || node->setup_failed) {
        goto next;
    }

    rc = ngx_yoti_idv_master_addr_parse(rep, &ep);

    if (rc == 0 && ngx_yoti_idv_endpoint_ip(&ep, (char *) host) == 0) {
        rd->tries = 0;
        rd->discover_backoff = 0;
        node->backoff = 0;

        /* a subscription that is replaced would unset master_known */
        ngx_http_yoti_idv_redis_subscribe(node);
        ngx_http_yoti_idv_redis_master_is(&ep, node);
        ngx_http_yoti_idv_redis_flush(NULL);
        return;
    }

    if (rc == 1) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "yoti_idv: sentinel at \"%V\" does not know the "
                      "master \"%V\", check the master= parameter of "
                      "\"yoti_idv_redis\"", &node->name, &rd->conf->master);

    } else {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "yoti_idv: sentinel at \"%V\" gave no usable address "
                      "for the master \"%V\"%s%*s%s", &node->name,
                      &rd->conf->master,
                      rep->type == REDIS_REPLY_ERROR ? ": \"" : "",
                      rep->type == REDIS_REPLY_ERROR
                      ? ngx_min(rep->len, 128) : 0,
                      rep->type == REDIS_REPLY_ERROR ? rep->str : "",
                      rep->type == REDIS_REPLY_ERROR ? "\"" : "");
    }

next:

    /* the next sentinel, or the waiting lookups fail */

    if (ngx_http_yoti_idv_redis_discover() != NGX_OK) {
        ngx_http_yoti_idv_redis_flush("redis:sentinel");
    }
}


/* the master the sentinels name: a new address drops the old connection */

static void
ngx_http_yoti_idv_redis_master_is(ngx_yoti_idv_endpoint_t *ep,
    ngx_http_yoti_idv_redis_node_t *from)
{
    u_char                           host[NGX_YOTI_IDV_HOST_LEN];
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *master;

    rd = &ngx_http_yoti_idv_redis;
    master = &rd->nodes[0];

    if (ngx_yoti_idv_endpoint_ip(ep, (char *) host) != 0) {
        return;
    }

    rd->master_known = 1;

    if (master->port == ep->port && ngx_strcmp(master->host, host) == 0) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "yoti_idv: sentinel at \"%V\" names %*s:%d the master "
                  "\"%V\"", &from->name, ep->host_len, ep->host, ep->port,
                  &rd->conf->master);

    if (master->ac) {
        /* not in one of its callbacks: a sentinel's */
        redisAsyncFree(master->ac);
    }

    ngx_http_yoti_idv_redis_set_address(master, host, ep->port);

    master->used = 0;
    master->backoff = 0;
    master->error = NULL;
}


static void
ngx_http_yoti_idv_redis_subscribe(ngx_http_yoti_idv_redis_node_t *sentinel)
{
    const char                      *err;
    redisAsyncContext               *ac;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *sub;

    rd = &ngx_http_yoti_idv_redis;
    sub = rd->subscriber;

    if (rd->subscribed) {
        return;
    }

    if (sub->ac) {
        redisAsyncFree(sub->ac);
    }

    ngx_http_yoti_idv_redis_set_address(sub, sentinel->host, sentinel->port);
    sub->used = 0;

    ac = ngx_http_yoti_idv_redis_get(rd->log, sub, &err);
    if (ac == NULL) {
        return;
    }

    if (redisAsyncCommand(ac, ngx_http_yoti_idv_redis_switch_reply, NULL,
                          "SUBSCRIBE +switch-master")
        == REDIS_OK)
    {
        rd->subscribed = 1;
    }
}


static void
ngx_http_yoti_idv_redis_switch_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_int_t                        rc;
    redisReply                      *rep = reply;
    ngx_yoti_idv_endpoint_t          ep;
    ngx_http_yoti_idv_redis_t       *rd;
    ngx_http_yoti_idv_redis_node_t  *node;

    rd = &ngx_http_yoti_idv_redis;
    node = ac->data;

    if (rep == NULL) {
        /* the subscription is gone: a switch could be missed */
        rd->subscribed = 0;
        rd->master_known = 0;
        return;
    }

    if (rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "yoti_idv: sentinel at \"%V\" refused SUBSCRIBE: "
                      "\"%*s\"", &node->name, ngx_min(rep->len, 128),
                      rep->str);
        rd->subscribed = 0;
        redisAsyncDisconnect(ac);
        return;
    }

    rc = ngx_yoti_idv_switch_master_parse(rep, (char *) rd->conf->master.data,
                                          rd->conf->master.len, &ep);

    if (rc == 0) {
        ngx_http_yoti_idv_redis_master_is(&ep, node);
        ngx_http_yoti_idv_redis_flush(NULL);
        return;
    }

    if (rc < 0) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "yoti_idv: sentinel at \"%V\" sent a +switch-master "
                      "message that does not parse", &node->name);
    }
}


void
ngx_http_yoti_idv_redis_master_lost(void)
{
    ngx_http_yoti_idv_redis.master_known = 0;
}


/* the lookups that waited for a master: sent, or failed with error */

void
ngx_http_yoti_idv_redis_flush(const char *error)
{
    const char                       *err;
    ngx_http_yoti_idv_redis_t        *rd;
    ngx_http_yoti_idv_redis_token_t  *token, *next;

    rd = &ngx_http_yoti_idv_redis;

    token = rd->pending;

    rd->pending = NULL;
    rd->pending_last = &rd->pending;

    for ( /* void */ ; token; token = next) {
        next = token->next;
        token->next = NULL;

        if (token->op == NULL) {
            ngx_free(token);
            continue;
        }

        if (error) {
            ngx_http_yoti_idv_redis_finish(token, error);
            continue;
        }

        if (ngx_http_yoti_idv_redis_send(token->op->log, token, &err)
            != NGX_OK)
        {
            ngx_http_yoti_idv_redis_finish(token, err);
        }
    }
}
