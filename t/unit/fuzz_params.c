
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * libFuzzer harness of the directive values: the input, split at spaces
 * into a directive's arguments as nginx's configuration reader would hand
 * them over, goes through the parsers of "yoti_idv_redis" (addresses, the
 * lists of cluster= and sentinel=, parameters and their combinations,
 * names not resolved), "yoti_idv_cache_zone" and the time of
 * "yoti_idv_cache_valid", with nginx's own core beneath them.
 * make -C t/unit fuzz
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_yoti_idv_params.h"


#define FUZZ_ARGS  8


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_log_t  fuzz_log;


/* what the core files linked in want of the rest of nginx */

volatile ngx_cycle_t  *ngx_cycle;


void ngx_cdecl
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                          *copy, *p, *last, *start;
    ngx_str_t                        value[FUZZ_ARGS];
    ngx_uint_t                       n, bad;
    ngx_pool_t                      *pool;
    const char                      *err;
    ngx_http_yoti_idv_zone_conf_t    zcf;
    ngx_http_yoti_idv_redis_conf_t   rcf;

    if (ngx_pagesize == 0) {
        ngx_pagesize = 4096;
        ngx_cacheline_size = 64;
        fuzz_log.log_level = NGX_LOG_EMERG;
    }

    pool = ngx_create_pool(1024, &fuzz_log);
    if (pool == NULL) {
        abort();
    }

    /* the arguments are NUL-terminated, as ngx_conf_read_token() makes */

    copy = ngx_pnalloc(pool, size + 1);
    if (copy == NULL) {
        abort();
    }

    ngx_memcpy(copy, data, size);
    copy[size] = '\0';

    ngx_str_set(&value[0], "directive");
    n = 1;

    p = copy;
    last = copy + size;

    while (p < last && n < FUZZ_ARGS) {
        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        value[n].data = start;
        value[n].len = p - start;
        *p++ = '\0';
        n++;
    }

    if (n > 1) {
        ngx_memzero(&rcf, sizeof(rcf));
        err = NULL;

        if (ngx_http_yoti_idv_parse_redis(pool, value, n, 0, &rcf, &bad, &err)
            == NGX_HTTP_YOTI_IDV_PARAM_OK)
        {
            if (rcf.host.data == NULL || rcf.timeout == 0
                || rcf.connect_timeout == 0
                || rcf.host.data[rcf.host.len] != '\0')
            {
                abort();
            }

            /* the combinations the parser lets through are the valid ones */

            if ((rcf.user.len && rcf.password.len == 0)
                || (rcf.mode == NGX_HTTP_YOTI_IDV_REDIS_SENTINEL
                    && rcf.master.len == 0)
                || (rcf.mode != NGX_HTTP_YOTI_IDV_REDIS_SENTINEL
                    && (rcf.master.len || rcf.sentinel_password.len))
                || (rcf.mode == NGX_HTTP_YOTI_IDV_REDIS_CLUSTER && rcf.db)
                || (rcf.mode != NGX_HTTP_YOTI_IDV_REDIS_SINGLE
                    && (rcf.addrs == NULL || rcf.addrs->nelts == 0
                        || rcf.addrs->nelts
                           > NGX_HTTP_YOTI_IDV_REDIS_MAX_ADDRS
                        || rcf.port == 0)))
            {
                abort();
            }

        } else if (bad == 0 || bad >= n) {
            abort();
        }

        if (ngx_http_yoti_idv_parse_zone(value, n, &zcf, &bad)
            == NGX_HTTP_YOTI_IDV_PARAM_OK)
        {
            if (zcf.name.len == 0 || zcf.size < 8 * ngx_pagesize
                || zcf.ttl <= 0)
            {
                abort();
            }

        } else if (bad == 0 || bad >= n) {
            abort();
        }

        (void) ngx_http_yoti_idv_parse_valid(&value[1]);
    }

    ngx_destroy_pool(pool);

    return 0;
}
