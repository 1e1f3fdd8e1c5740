
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_HTTP_YOTI_IDV_REDIS_H_INCLUDED_
#define _NGX_HTTP_YOTI_IDV_REDIS_H_INCLUDED_


/*
 * What the Redis connection code (ngx_http_yoti_idv_redis.c) and the
 * cluster and sentinel router (ngx_http_yoti_idv_redis_ha.c) share: the
 * nodes, the tokens, the worker's router state.  Private to the two, but
 * for hiredis on nginx's events (redis_attach(), redis_add_write()), which
 * the events stream (ngx_http_yoti_idv_events.c) uses too.
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_cluster.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MIN  50
#define NGX_HTTP_YOTI_IDV_REDIS_BACKOFF_MAX  1000

/* the seeds or sentinels, the nodes a cluster announces, a subscriber */
#define NGX_HTTP_YOTI_IDV_REDIS_NODES        64
#define NGX_HTTP_YOTI_IDV_REDIS_NO_NODE      0xff

#define NGX_HTTP_YOTI_IDV_REDIS_REDIRECTS    3
#define NGX_HTTP_YOTI_IDV_REDIS_REFRESH      1000


typedef struct ngx_http_yoti_idv_redis_node_s  ngx_http_yoti_idv_redis_node_t;


struct ngx_http_yoti_idv_redis_token_s {
    ngx_http_yoti_idv_redis_op_t     *op;          /* NULL: nobody waits */
    ngx_http_yoti_idv_redis_node_t   *node;        /* where it was sent */
    ngx_http_yoti_idv_redis_node_t   *ask;         /* ASKING first, there */
    ngx_http_yoti_idv_redis_token_t  *next;        /* waiting for a master */

    ngx_uint_t                        redirects;
    unsigned                          store:1;
    unsigned                          command:1;   /* redis_eval() */

    int                               argc;
    const char                       *argv[NGX_HTTP_YOTI_IDV_REDIS_ARGS];
    size_t                            len[NGX_HTTP_YOTI_IDV_REDIS_ARGS];
};


struct ngx_http_yoti_idv_redis_node_s {
    redisAsyncContext                *ac;
    ngx_connection_t                 *conn;

    ngx_str_t                         name;        /* for logs */
    u_char                           *host;        /* NUL-terminated */
    int                               port;        /* 0: unix socket */

    ngx_event_t                       connect_timer;

    ngx_msec_t                        backoff;
    ngx_msec_t                        retry_at;
    const char                       *error;     /* why it went down */

    ngx_uint_t                        setups;      /* replies to come */

    unsigned                          ready:1;      /* AUTH, SELECT done */
    unsigned                          setup_failed:1;
    unsigned                          sentinel:1;   /* a sentinel */
    unsigned                          used:1;       /* was connected once */

    /* the host and name of nodes learnt at run time */
    u_char                            host_buf[NGX_YOTI_IDV_HOST_LEN];
    u_char                            name_buf[NGX_YOTI_IDV_HOST_LEN
                                               + sizeof("[]:65535")];
};


typedef struct {
    ngx_http_yoti_idv_redis_conf_t   *conf;
    ngx_log_t                        *log;

    ngx_http_yoti_idv_redis_node_t    nodes[NGX_HTTP_YOTI_IDV_REDIS_NODES];
    ngx_uint_t                        nnodes;
    ngx_uint_t                        next;        /* round robin */

    /* cluster= */
    u_char                            slots[NGX_YOTI_IDV_SLOTS];
    ngx_msec_t                        refreshed;
    unsigned                          asked:1;      /* CLUSTER SLOTS */
    unsigned                          loaded:1;     /* a map came */
    unsigned                          refreshing:1;

    /* sentinel=: nodes[0] the master, then the sentinels, a subscriber */
    ngx_uint_t                        nsentinels;
    ngx_http_yoti_idv_redis_node_t   *subscriber;
    ngx_http_yoti_idv_redis_token_t  *pending;
    ngx_http_yoti_idv_redis_token_t **pending_last;
    ngx_uint_t                        tries;       /* sentinels this round */
    ngx_msec_t                        discover_backoff;
    ngx_msec_t                        discover_at;
    unsigned                          master_known:1;
    unsigned                          discovering:1;
    unsigned                          subscribed:1;
} ngx_http_yoti_idv_redis_t;


extern ngx_http_yoti_idv_redis_t  ngx_http_yoti_idv_redis;


#define ngx_http_yoti_idv_redis_is(m)                                        \
    (ngx_http_yoti_idv_redis.conf->mode == NGX_HTTP_YOTI_IDV_REDIS_ ## m)


/* ngx_http_yoti_idv_redis.c */
ngx_connection_t *ngx_http_yoti_idv_redis_attach(redisAsyncContext *ac,
    ngx_log_t *log, void (*cleanup)(void *data));
void ngx_http_yoti_idv_redis_add_write(void *data);
redisAsyncContext *ngx_http_yoti_idv_redis_get(ngx_log_t *log,
    ngx_http_yoti_idv_redis_node_t *node, const char **err);
ngx_int_t ngx_http_yoti_idv_redis_send(ngx_log_t *log,
    ngx_http_yoti_idv_redis_token_t *token, const char **err);
void ngx_http_yoti_idv_redis_finish(ngx_http_yoti_idv_redis_token_t *token,
    const char *error);

/* ngx_http_yoti_idv_redis_ha.c */
ngx_http_yoti_idv_redis_node_t *ngx_http_yoti_idv_redis_node(
    ngx_yoti_idv_endpoint_t *ep, ngx_http_yoti_idv_redis_node_t *asked);
ngx_http_yoti_idv_redis_node_t *ngx_http_yoti_idv_redis_any(void);
void ngx_http_yoti_idv_redis_refresh(void);
ngx_int_t ngx_http_yoti_idv_redis_discover(void);
void ngx_http_yoti_idv_redis_master_lost(void);
void ngx_http_yoti_idv_redis_flush(const char *error);


#endif /* _NGX_HTTP_YOTI_IDV_REDIS_H_INCLUDED_ */
