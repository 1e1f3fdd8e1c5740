
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include "ngx_http_yoti_idv_params.h"


static ngx_http_yoti_idv_param_e ngx_http_yoti_idv_parse_address(
    ngx_pool_t *pool, ngx_str_t *value, ngx_uint_t resolve,
    in_port_t default_port, ngx_http_yoti_idv_redis_conf_t *rcf,
    const char **err);
static ngx_http_yoti_idv_param_e ngx_http_yoti_idv_parse_list(
    ngx_pool_t *pool, ngx_str_t *value, ngx_uint_t resolve,
    ngx_http_yoti_idv_redis_conf_t *rcf, const char **err);
static ngx_int_t ngx_http_yoti_idv_param(ngx_str_t *value, char *name,
    size_t len, ngx_str_t *out);


/* "name=" at the start of value: out is what follows */

static ngx_int_t
ngx_http_yoti_idv_param(ngx_str_t *value, char *name, size_t len,
    ngx_str_t *out)
{
    if (value->len < len || ngx_strncmp(value->data, name, len) != 0) {
        return 0;
    }

    out->data = value->data + len;
    out->len = value->len - len;

    return 1;
}


#define ngx_http_yoti_idv_is(value, name, out)                               \
    ngx_http_yoti_idv_param(value, name, sizeof(name) - 1, out)


ngx_http_yoti_idv_param_e
ngx_http_yoti_idv_parse_redis(ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t n, ngx_uint_t resolve, ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_uint_t *bad, const char **err)
{
    ngx_int_t                  db;
    ngx_str_t                  s;
    ngx_uint_t                 i, has_db;
    ngx_http_yoti_idv_param_e  rc;

    rcf->connect_timeout = 500;
    rcf->timeout = 500;

    *bad = 1;
    has_db = 0;

    /* the first value: one server, or the list of a cluster= or sentinel= */

    if (ngx_http_yoti_idv_is(&value[1], "cluster=", &s)) {
        rcf->mode = NGX_HTTP_YOTI_IDV_REDIS_CLUSTER;
        rc = ngx_http_yoti_idv_parse_list(pool, &s, resolve, rcf, err);

    } else if (ngx_http_yoti_idv_is(&value[1], "sentinel=", &s)) {
        rcf->mode = NGX_HTTP_YOTI_IDV_REDIS_SENTINEL;
        rc = ngx_http_yoti_idv_parse_list(pool, &s, resolve, rcf, err);

    } else {
        rcf->mode = NGX_HTTP_YOTI_IDV_REDIS_SINGLE;
        rc = ngx_http_yoti_idv_parse_address(pool, &value[1], resolve, 6379,
                                             rcf, err);
    }

    if (rc != NGX_HTTP_YOTI_IDV_PARAM_OK) {
        return rc;
    }

    for (i = 2; i < n; i++) {

        *bad = i;

        if (ngx_http_yoti_idv_is(&value[i], "db=", &s)) {
            db = ngx_atoi(s.data, s.len);
            if (db == NGX_ERROR) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            rcf->db = db;
            has_db = 1;
            continue;
        }

        if (ngx_http_yoti_idv_is(&value[i], "password=", &rcf->password)) {
            if (rcf->password.len == 0) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        if (ngx_http_yoti_idv_is(&value[i], "user=", &rcf->user)) {
            if (rcf->user.len == 0) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        if (ngx_http_yoti_idv_is(&value[i], "master=", &rcf->master)) {
            if (rcf->master.len == 0) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        if (ngx_http_yoti_idv_is(&value[i], "sentinel_password=",
                                 &rcf->sentinel_password))
        {
            if (rcf->sentinel_password.len == 0) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        if (ngx_http_yoti_idv_is(&value[i], "connect_timeout=", &s)) {
            rcf->connect_timeout = ngx_parse_time(&s, 0);
            if (rcf->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rcf->connect_timeout == 0)
            {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        if (ngx_http_yoti_idv_is(&value[i], "timeout=", &s)) {
            rcf->timeout = ngx_parse_time(&s, 0);
            if (rcf->timeout == (ngx_msec_t) NGX_ERROR || rcf->timeout == 0) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        /* Redis down: ask the provider, the zone the only cache */

        if (value[i].len == sizeof("fallback=provider") - 1
            && ngx_strncmp(value[i].data, "fallback=provider",
                           sizeof("fallback=provider") - 1) == 0)
        {
            rcf->fallback = 1;
            continue;
        }

        return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
    }

    /* the combinations that cannot work */

    *bad = 1;

    if (rcf->user.len && rcf->password.len == 0) {
        *err = "\"user=\" needs \"password=\"";
        return NGX_HTTP_YOTI_IDV_PARAM_CONFLICT;
    }

    switch (rcf->mode) {

    case NGX_HTTP_YOTI_IDV_REDIS_CLUSTER:

        if (has_db && rcf->db != 0) {
            *err = "\"db=\" other than 0 is not valid with \"cluster=\": "
                   "a cluster has database 0 only";
            return NGX_HTTP_YOTI_IDV_PARAM_CONFLICT;
        }

        if (rcf->master.len || rcf->sentinel_password.len) {
            *err = "\"master=\" and \"sentinel_password=\" need "
                   "\"sentinel=\", not \"cluster=\"";
            return NGX_HTTP_YOTI_IDV_PARAM_CONFLICT;
        }

        break;

    case NGX_HTTP_YOTI_IDV_REDIS_SENTINEL:

        if (rcf->master.len == 0) {
            *err = "\"sentinel=\" needs \"master=\"";
            return NGX_HTTP_YOTI_IDV_PARAM_CONFLICT;
        }

        break;

    default: /* NGX_HTTP_YOTI_IDV_REDIS_SINGLE */

        if (rcf->master.len || rcf->sentinel_password.len) {
            *err = "\"master=\" and \"sentinel_password=\" need "
                   "\"sentinel=\"";
            return NGX_HTTP_YOTI_IDV_PARAM_CONFLICT;
        }
    }

    return NGX_HTTP_YOTI_IDV_PARAM_OK;
}


/*
 * "host[:port],host[:port],..." of cluster= or sentinel=: IP addresses or
 * names resolved now, no unix sockets (a cluster announces IPs)
 */

static ngx_http_yoti_idv_param_e
ngx_http_yoti_idv_parse_list(ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t resolve, ngx_http_yoti_idv_redis_conf_t *rcf,
    const char **err)
{
    u_char                          *p, *last, *comma;
    ngx_str_t                        item;
    ngx_http_yoti_idv_param_e        rc;
    ngx_http_yoti_idv_redis_conf_t   one;
    ngx_http_yoti_idv_redis_addr_t  *a;

    rcf->addrs = ngx_array_create(pool, 4,
                                  sizeof(ngx_http_yoti_idv_redis_addr_t));
    if (rcf->addrs == NULL) {
        return NGX_HTTP_YOTI_IDV_PARAM_NOMEM;
    }

    p = value->data;
    last = value->data + value->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');

        item.data = p;
        item.len = (comma ? comma : last) - p;

        if (item.len == 0) {
            *err = "an empty address";
            return NGX_HTTP_YOTI_IDV_PARAM_URL;
        }

        if (item.len >= 5
            && ngx_strncasecmp(item.data, (u_char *) "unix:", 5) == 0)
        {
            *err = "a unix socket";
            return NGX_HTTP_YOTI_IDV_PARAM_URL;
        }

        ngx_memzero(&one, sizeof(ngx_http_yoti_idv_redis_conf_t));

        /* the port is 6379 for a cluster node, 26379 for a sentinel */

        rc = ngx_http_yoti_idv_parse_address(pool, &item, resolve,
                 (rcf->mode == NGX_HTTP_YOTI_IDV_REDIS_SENTINEL) ? 26379
                                                                  : 6379,
                 &one, err);
        if (rc != NGX_HTTP_YOTI_IDV_PARAM_OK) {
            return rc;
        }

        a = ngx_array_push(rcf->addrs);
        if (a == NULL) {
            return NGX_HTTP_YOTI_IDV_PARAM_NOMEM;
        }

        a->name = item;
        a->host = one.host;
        a->port = one.port;

        if (comma == NULL) {
            break;
        }

        p = comma + 1;
    }

    if (rcf->addrs->nelts > NGX_HTTP_YOTI_IDV_REDIS_MAX_ADDRS) {
        *err = "too many addresses";
        return NGX_HTTP_YOTI_IDV_PARAM_URL;
    }

    a = rcf->addrs->elts;

    rcf->name = *value;
    rcf->host = a[0].host;
    rcf->port = a[0].port;

    return NGX_HTTP_YOTI_IDV_PARAM_OK;
}


/* names are resolved here, at configuration time: a worker never does */

static ngx_http_yoti_idv_param_e
ngx_http_yoti_idv_parse_address(ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t resolve, in_port_t default_port,
    ngx_http_yoti_idv_redis_conf_t *rcf, const char **err)
{
    ngx_url_t  u;

    rcf->name = *value;

    /* hiredis takes the host or path as a C string */

    if (ngx_strlchr(value->data, value->data + value->len, '\0')) {
        *err = "a NUL byte";
        return NGX_HTTP_YOTI_IDV_PARAM_URL;
    }

    /* "UNIX:" too, as nginx takes it (ngx_parse_url() would not) */

    if (value->len >= 5
        && ngx_strncasecmp(value->data, (u_char *) "unix:", 5) == 0)
    {
        if (value->len == 5) {
            return NGX_HTTP_YOTI_IDV_PARAM_NO_PATH;
        }

        /* hiredis would cut a longer path silently */

        if (value->len - 5 >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
            *err = "too long path";
            return NGX_HTTP_YOTI_IDV_PARAM_URL;
        }

        rcf->host.len = value->len - 5;
        rcf->host.data = ngx_pnalloc(pool, rcf->host.len + 1);
        if (rcf->host.data == NULL) {
            return NGX_HTTP_YOTI_IDV_PARAM_NOMEM;
        }

        ngx_cpystrn(rcf->host.data, value->data + 5, rcf->host.len + 1);
        rcf->port = 0;

        return NGX_HTTP_YOTI_IDV_PARAM_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *value;
    u.default_port = default_port;
    u.no_resolve = !resolve;

    if (ngx_parse_url(pool, &u) != NGX_OK) {
        *err = u.err ? u.err : "invalid address";
        return NGX_HTTP_YOTI_IDV_PARAM_URL;
    }

    if (u.naddrs == 0) {
        return NGX_HTTP_YOTI_IDV_PARAM_NO_ADDR;
    }

    rcf->host.data = ngx_pnalloc(pool, NGX_SOCKADDR_STRLEN + 1);
    if (rcf->host.data == NULL) {
        return NGX_HTTP_YOTI_IDV_PARAM_NOMEM;
    }

    rcf->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                  rcf->host.data, NGX_SOCKADDR_STRLEN, 0);
    rcf->host.data[rcf->host.len] = '\0';
    rcf->port = u.port;

    return NGX_HTTP_YOTI_IDV_PARAM_OK;
}


ngx_http_yoti_idv_param_e
ngx_http_yoti_idv_parse_zone(ngx_str_t *value, ngx_uint_t n,
    ngx_http_yoti_idv_zone_conf_t *zcf, ngx_uint_t *bad)
{
    u_char      *p;
    ngx_str_t    s;
    ngx_uint_t   i;

    zcf->ttl = 30;
    zcf->wait = 3000;

    *bad = 1;

    p = ngx_strlchr(value[1].data, value[1].data + value[1].len, ':');

    if (p == NULL || p == value[1].data) {
        return NGX_HTTP_YOTI_IDV_PARAM_ZONE;
    }

    zcf->name.data = value[1].data;
    zcf->name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    zcf->size = ngx_parse_size(&s);

    if (zcf->size == (size_t) NGX_ERROR) {
        return NGX_HTTP_YOTI_IDV_PARAM_SIZE;
    }

    if (zcf->size < (size_t) (8 * ngx_pagesize)) {
        return NGX_HTTP_YOTI_IDV_PARAM_SMALL;
    }

    for (i = 2; i < n; i++) {

        *bad = i;

        if (value[i].len >= 4 && ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            zcf->ttl = ngx_parse_time(&s, 1);
            if (zcf->ttl == (time_t) NGX_ERROR || zcf->ttl == 0) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        if (value[i].len >= 5 && ngx_strncmp(value[i].data, "wait=", 5) == 0)
        {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            zcf->wait = ngx_parse_time(&s, 0);
            if (zcf->wait == (ngx_msec_t) NGX_ERROR) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
    }

    return NGX_HTTP_YOTI_IDV_PARAM_OK;
}


time_t
ngx_http_yoti_idv_parse_valid(ngx_str_t *value)
{
    return ngx_parse_time(value, 1);
}
