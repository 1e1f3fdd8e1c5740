
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * libFuzzer harness of the cluster and sentinel router's pure units: every
 * input is a key (its slot), an error reply's text (MOVED, ASK, ...), and
 * RESP bytes for hiredis's reader, each reply going through the parsers of
 * CLUSTER SLOTS, SENTINEL get-master-addr-by-name, ROLE and +switch-master;
 * what they return must point into the input and be in range.
 * make -C t/unit fuzz
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "ngx_yoti_idv_cluster.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
check_endpoint(const ngx_yoti_idv_endpoint_t *ep, const char *p, size_t len)
{
    char  buf[NGX_YOTI_IDV_HOST_LEN];

    if (ep->port <= 0 || ep->port > 65535
        || (ep->host_len && (ep->host < p || ep->host + ep->host_len > p + len)))
    {
        abort();
    }

    if (ngx_yoti_idv_endpoint_ip(ep, buf) == 0
        && (strlen(buf) != ep->host_len
            || memcmp(buf, ep->host, ep->host_len) != 0))
    {
        abort();
    }
}


static void
check_string_reply(const redisReply *rep)
{
    unsigned                 slot;
    ngx_yoti_idv_endpoint_t  ep;

    switch (ngx_yoti_idv_error_parse(rep->str, rep->len, &slot, &ep)) {

    case NGX_YOTI_IDV_REPLY_MOVED:
    case NGX_YOTI_IDV_REPLY_ASK:
        if (slot >= NGX_YOTI_IDV_SLOTS) {
            abort();
        }

        if (ep.host_len) {
            check_endpoint(&ep, rep->str, rep->len);
        }

        break;

    default:
        break;
    }
}


/* a reply's strings live somewhere in it: the bounds checked are its own */

static void
check_reply(const redisReply *rep)
{
    int                      i, n;
    ngx_yoti_idv_range_t     range;
    ngx_yoti_idv_endpoint_t  ep;

    n = ngx_yoti_idv_slots_check(rep);

    for (i = 0; i < n; i++) {
        ngx_yoti_idv_slots_range(rep, i, &range);

        if (range.start > range.end || range.end >= NGX_YOTI_IDV_SLOTS
            || range.master.port <= 0 || range.master.port > 65535)
        {
            abort();
        }
    }

    if (ngx_yoti_idv_master_addr_parse(rep, &ep) == 0
        && (ep.host_len == 0 || ep.port <= 0 || ep.port > 65535))
    {
        abort();
    }

    (void) ngx_yoti_idv_role_is_master(rep);

    if (ngx_yoti_idv_switch_master_parse(rep, "gate", 4, &ep) == 0) {
        check_endpoint(&ep, rep->element[2]->str, rep->element[2]->len);
    }

    if (rep->type == REDIS_REPLY_ERROR || rep->type == REDIS_REPLY_STRING) {
        check_string_reply(rep);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void                     *r;
    size_t                    i;
    unsigned                  slot;
    redisReader              *reader;
    ngx_yoti_idv_endpoint_t   ep;

    if (ngx_yoti_idv_key_slot((const char *) data, size)
        >= NGX_YOTI_IDV_SLOTS)
    {
        abort();
    }

    switch (ngx_yoti_idv_error_parse((const char *) data, size, &slot, &ep)) {

    case NGX_YOTI_IDV_REPLY_MOVED:
    case NGX_YOTI_IDV_REPLY_ASK:
        if (slot >= NGX_YOTI_IDV_SLOTS) {
            abort();
        }

        if (ep.host_len) {
            check_endpoint(&ep, (const char *) data, size);
        }

        break;

    default:
        break;
    }

    /*
     * hiredis 0.14 allocates whatever count or length a reply announces
     * (no "maxelements" before 1.0): as fuzz_cache.c does, only sizes a
     * server of ours could send go to its reader
     */

    for (i = 0; i < size; i++) {
        size_t  k, n;

        if ((data[i] != '*' && data[i] != '$')
            || (i > 0 && data[i - 1] != '\n'))
        {
            continue;
        }

        for (n = 0, k = i + 1; k < size && data[k] >= '0' && data[k] <= '9';
             k++)
        {
            n = n * 10 + (data[k] - '0');

            if (n > 65536) {
                return 0;
            }
        }
    }

    reader = redisReaderCreate();
    if (reader == NULL) {
        abort();
    }

    if (redisReaderFeed(reader, (const char *) data, size) == REDIS_OK) {
        for ( ;; ) {
            r = NULL;

            if (redisReaderGetReply(reader, &r) != REDIS_OK || r == NULL) {
                break;
            }

            check_reply(r);
            freeReplyObject(r);
        }
    }

    redisReaderFree(reader);

    return 0;
}
