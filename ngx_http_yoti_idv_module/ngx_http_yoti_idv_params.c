
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include "ngx_http_yoti_idv_params.h"


static ngx_http_yoti_idv_param_e ngx_http_yoti_idv_parse_address(
    ngx_pool_t *pool, ngx_str_t *value, ngx_uint_t resolve,
    ngx_http_yoti_idv_redis_conf_t *rcf, const char **err);


ngx_http_yoti_idv_param_e
ngx_http_yoti_idv_parse_redis(ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t n, ngx_uint_t resolve, ngx_http_yoti_idv_redis_conf_t *rcf,
    ngx_uint_t *bad, const char **err)
{
    ngx_int_t                  db;
    ngx_str_t                  s;
    ngx_uint_t                 i;
    ngx_http_yoti_idv_param_e  rc;

    rcf->connect_timeout = 500;
    rcf->timeout = 500;

    *bad = 1;

    rc = ngx_http_yoti_idv_parse_address(pool, &value[1], resolve, rcf, err);
    if (rc != NGX_HTTP_YOTI_IDV_PARAM_OK) {
        return rc;
    }

    for (i = 2; i < n; i++) {

        *bad = i;

        if (value[i].len >= 3 && ngx_strncmp(value[i].data, "db=", 3) == 0) {
            db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (db == NGX_ERROR) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            rcf->db = db;
            continue;
        }

        if (value[i].len >= 9
            && ngx_strncmp(value[i].data, "password=", 9) == 0)
        {
            rcf->password.data = value[i].data + 9;
            rcf->password.len = value[i].len - 9;

            if (rcf->password.len == 0) {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        if (value[i].len >= 16
            && ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0)
        {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            rcf->connect_timeout = ngx_parse_time(&s, 0);
            if (rcf->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rcf->connect_timeout == 0)
            {
                return NGX_HTTP_YOTI_IDV_PARAM_INVALID;
            }

            continue;
        }

        if (value[i].len >= 8
            && ngx_strncmp(value[i].data, "timeout=", 8) == 0)
        {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

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

    return NGX_HTTP_YOTI_IDV_PARAM_OK;
}


/* names are resolved here, at configuration time: a worker never does */

static ngx_http_yoti_idv_param_e
ngx_http_yoti_idv_parse_address(ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t resolve, ngx_http_yoti_idv_redis_conf_t *rcf,
    const char **err)
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
    u.default_port = 6379;
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
