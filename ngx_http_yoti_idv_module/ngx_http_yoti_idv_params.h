
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_HTTP_YOTI_IDV_PARAMS_H_INCLUDED_
#define _NGX_HTTP_YOTI_IDV_PARAMS_H_INCLUDED_


/*
 * The values of the directives that take parameters, parsed with nginx
 * core only (no ngx_http.h), so that a fuzzer can run them without an
 * nginx: each returns what is wrong (NGX_HTTP_YOTI_IDV_PARAM_OK: nothing)
 * with *bad the index of the value at fault, and the directive handlers
 * turn that into their messages.
 */


#include <ngx_config.h>
#include <ngx_core.h>


typedef enum {
    NGX_HTTP_YOTI_IDV_PARAM_OK = 0,
    NGX_HTTP_YOTI_IDV_PARAM_INVALID,    /* a parameter */
    NGX_HTTP_YOTI_IDV_PARAM_NO_PATH,    /* "unix:" alone */
    NGX_HTTP_YOTI_IDV_PARAM_URL,        /* *err: ngx_parse_url()'s text */
    NGX_HTTP_YOTI_IDV_PARAM_NO_ADDR,    /* a name without addresses */
    NGX_HTTP_YOTI_IDV_PARAM_ZONE,       /* not name:size */
    NGX_HTTP_YOTI_IDV_PARAM_SIZE,       /* a size that does not parse */
    NGX_HTTP_YOTI_IDV_PARAM_SMALL,      /* under 8 pages */
    NGX_HTTP_YOTI_IDV_PARAM_CONFLICT,   /* *err: which parameters clash */
    NGX_HTTP_YOTI_IDV_PARAM_NOMEM
} ngx_http_yoti_idv_param_e;


/* cluster= seeds and nodes, sentinel= sentinels */
#define NGX_HTTP_YOTI_IDV_REDIS_MAX_ADDRS  16


typedef enum {
    NGX_HTTP_YOTI_IDV_REDIS_SINGLE = 0,
    NGX_HTTP_YOTI_IDV_REDIS_CLUSTER,
    NGX_HTTP_YOTI_IDV_REDIS_SENTINEL
} ngx_http_yoti_idv_redis_mode_e;


/* one address of a list: cluster= seeds, sentinel= sentinels */

typedef struct {
    ngx_str_t                      name;        /* as configured, for logs */
    ngx_str_t                      host;        /* an IP, NUL-terminated */
    int                            port;
} ngx_http_yoti_idv_redis_addr_t;


typedef struct {
    ngx_http_yoti_idv_redis_mode_e  mode;

    /* SINGLE: the server; CLUSTER, SENTINEL: the first of addrs */
    ngx_str_t                      name;        /* as configured, for logs */
    ngx_str_t                      host;        /* IP or unix path, NUL */
    int                            port;        /* 0: unix socket */

    ngx_array_t                   *addrs;       /* CLUSTER, SENTINEL */
    ngx_str_t                      master;      /* SENTINEL: master= */
    ngx_str_t                      sentinel_password;

    ngx_uint_t                     db;
    ngx_str_t                      user;        /* ACL user, or empty */
    ngx_str_t                      password;
    ngx_msec_t                     connect_timeout;
    ngx_msec_t                     timeout;
    ngx_uint_t                     fallback;    /* fallback=provider */
} ngx_http_yoti_idv_redis_conf_t;


typedef struct {
    ngx_str_t                      name;
    size_t                         size;
    time_t                         ttl;
    ngx_msec_t                     wait;
} ngx_http_yoti_idv_zone_conf_t;


/*
 * yoti_idv_redis host[:port] | unix:/path
 *                | cluster=host[:port],... | sentinel=host[:port],...
 *                [master=name] [sentinel_password=...]
 *                [db=N] [user=...] [password=...]
 *                [connect_timeout=time] [timeout=time]
 *                [fallback=provider];
 * value[0] is the directive's name; "resolve" 0 keeps names unresolved
 */
ngx_http_yoti_idv_param_e ngx_http_yoti_idv_parse_redis(ngx_pool_t *pool,
    ngx_str_t *value, ngx_uint_t n, ngx_uint_t resolve,
    ngx_http_yoti_idv_redis_conf_t *rcf, ngx_uint_t *bad, const char **err);

/* yoti_idv_cache_zone name:size [ttl=time] [wait=time]; */
ngx_http_yoti_idv_param_e ngx_http_yoti_idv_parse_zone(ngx_str_t *value,
    ngx_uint_t n, ngx_http_yoti_idv_zone_conf_t *zcf, ngx_uint_t *bad);

/* the time of yoti_idv_cache_valid, in seconds; NGX_ERROR if invalid */
time_t ngx_http_yoti_idv_parse_valid(ngx_str_t *value);


#endif /* _NGX_HTTP_YOTI_IDV_PARAMS_H_INCLUDED_ */
