
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * libFuzzer harness of what the module reads back from Redis: every input
 * is parsed as a cached verdict value, and fed as RESP bytes to hiredis's
 * reader; each reply it makes goes through ngx_yoti_idv_mget_reply() for
 * one and two keys, and the values it yields through the mapping and the
 * cached-verdict checks, as the hot path does.  make -C t/unit fuzz
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ngx_yoti_idv_cache.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
check_value(const char *p, size_t len)
{
    size_t                 n;
    char                   buf[256];
    ngx_yoti_idv_cached_t  c, c2;

    if (ngx_yoti_idv_cached_parse(p, len, &c) != 0) {
        return;
    }

    /* what it returns points into the value and is well-formed */

    if (c.session_id < p || c.session_id + c.session_id_len > p + len
        || c.reason < p || c.reason + c.reason_len > p + len
        || c.reason_len == 0 || c.reason_len >= NGX_YOTI_IDV_REASON_LEN
        || !ngx_yoti_idv_valid_session_id(c.session_id, c.session_id_len)
        || (c.verdict != NGX_YOTI_IDV_ALLOW && c.verdict != NGX_YOTI_IDV_DENY
            && c.verdict != NGX_YOTI_IDV_PENDING))
    {
        abort();
    }

    /* a value that parses is exactly what format() writes for it */

    memcpy(buf, c.reason, c.reason_len);
    buf[c.reason_len] = '\0';

    {
        char  out[2 + 24 + 64 + 1 + 7 + 1 + NGX_YOTI_IDV_REASON_LEN];

        /* "2 <expires> ..." (yoti_idv_cache_use_stale) or "1 ..." */
        n = ngx_yoti_idv_cached_format_until(out, sizeof(out), c.expires,
                                             c.session_id, c.session_id_len,
                                             c.verdict, buf);

        /*
         * byte for byte for "1 ...": the expiry of "2 ..." may be written
         * with leading zeros by someone else, it is the same time
         */
        if (n == 0 || (c.expires == 0 && (n != len || memcmp(out, p, len) != 0)))
        {
            abort();
        }

        if (ngx_yoti_idv_cached_parse(out, n, &c2) != 0
            || c2.expires != c.expires
            || c2.verdict != c.verdict
            || c2.session_id_len != c.session_id_len
            || c2.reason_len != c.reason_len)
        {
            abort();
        }
    }
}


static void
check_reply(redisReply *rep)
{
    size_t                  nkeys, i;
    ngx_yoti_idv_value_t    values[2];
    ngx_yoti_idv_mget_rc_e  rc;

    for (nkeys = 1; nkeys <= 2; nkeys++) {

        memset(values, 0x5a, sizeof(values));

        rc = ngx_yoti_idv_mget_reply(rep, nkeys, values);

        if (rc > NGX_YOTI_IDV_MGET_ELEMENT) {
            abort();
        }

        if (rc != NGX_YOTI_IDV_MGET_OK) {
            continue;
        }

        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != nkeys) {
            abort();
        }

        for (i = 0; i < nkeys; i++) {

            if (values[i].data == NULL) {
                if (rep->element[i]->type != REDIS_REPLY_NIL) {
                    abort();
                }

                continue;
            }

            /* the mapping, then the cached verdict, as the handler reads */

            if (i == 0 && nkeys == 2) {
                (void) ngx_yoti_idv_valid_session_id(values[i].data,
                                                     values[i].len);

            } else {
                check_value(values[i].data, values[i].len);
            }
        }
    }
}


/*
 * hiredis 0.14 allocates whatever count or length a server announces (it
 * has no "maxelements" before 1.0): the module trusts its Redis server
 * with that, and the harness keeps announced sizes to what a server of
 * ours could send, so that it fuzzes our code, not malloc()
 */

static int
plausible(const char *p, size_t size)
{
    size_t  i, n;

    for (i = 0; i < size; i++) {

        if ((p[i] != '*' && p[i] != '$') || (i > 0 && p[i - 1] != '\n')) {
            continue;
        }

        for (n = 0, i++; i < size && p[i] >= '0' && p[i] <= '9'; i++) {
            n = n * 10 + (p[i] - '0');

            if (n > 65536) {
                return 0;
            }
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         *buf;
    void         *reply;
    redisReader  *reader;

    /* an exact-size copy: any read past the end is caught by ASan */

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        abort();
    }

    memcpy(buf, data, size);

    check_value(buf, size);

    if (!plausible(buf, size)) {
        free(buf);
        return 0;
    }

    reader = redisReaderCreate();
    if (reader == NULL) {
        abort();
    }

    if (redisReaderFeed(reader, buf, size) == REDIS_OK) {

        for ( ;; ) {
            reply = NULL;

            if (redisReaderGetReply(reader, &reply) != REDIS_OK
                || reply == NULL)
            {
                break;
            }

            check_reply(reply);
            freeReplyObject(reply);
        }
    }

    redisReaderFree(reader);
    free(buf);

    return 0;
}
