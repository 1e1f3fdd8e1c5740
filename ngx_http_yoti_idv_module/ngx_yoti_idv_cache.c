
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include <stdio.h>
#include <string.h>

#include "ngx_yoti_idv_cache.h"


static int ngx_yoti_idv_reason_char(int c);


static const ngx_yoti_idv_verdict_e  ngx_yoti_idv_cached_verdicts[] = {
    NGX_YOTI_IDV_ALLOW,
    NGX_YOTI_IDV_DENY,
    NGX_YOTI_IDV_PENDING
};


int
ngx_yoti_idv_cached_parse(const char *p, size_t len, ngx_yoti_idv_cached_t *c)
{
    size_t       n, i;
    const char  *last, *sid, *verdict, *reason, *name;

    last = p + len;

    c->expires = 0;

    if (len >= 2 && p[0] == '2' && p[1] == ' ') {

        /* "2 <expires, unix time> ...": as "1 ...", with its expiry */

        p += 2;

        for (n = 0; p < last && *p >= '0' && *p <= '9'; p++) {
            if (n > 9999999999UL) {
                return -1;
            }

            n = n * 10 + (*p - '0');
        }

        if (n == 0 || p == last || *p != ' ') {
            return -1;
        }

        c->expires = (long) n;
        sid = p + 1;

    } else if (len >= 2 && p[0] == '1' && p[1] == ' ') {
        sid = p + 2;

    } else {
        return -1;
    }

    verdict = memchr(sid, ' ', last - sid);
    if (verdict == NULL
        || !ngx_yoti_idv_valid_session_id(sid, verdict - sid))
    {
        return -1;
    }

    verdict++;

    reason = memchr(verdict, ' ', last - verdict);
    if (reason == NULL) {
        return -1;
    }

    /* lengths first: the value may hold any byte, NUL among them */

    n = reason - verdict;

    for (i = 0; i < sizeof(ngx_yoti_idv_cached_verdicts)
                    / sizeof(ngx_yoti_idv_cached_verdicts[0]); i++)
    {
        name = ngx_yoti_idv_verdict_name(ngx_yoti_idv_cached_verdicts[i]);

        if (strlen(name) == n && memcmp(verdict, name, n) == 0) {
            break;
        }
    }

    if (i == sizeof(ngx_yoti_idv_cached_verdicts)
             / sizeof(ngx_yoti_idv_cached_verdicts[0]))
    {
        return -1;
    }

    reason++;

    if (reason == last || (size_t) (last - reason) >= NGX_YOTI_IDV_REASON_LEN) {
        return -1;
    }

    for (p = reason; p < last; p++) {
        if (!ngx_yoti_idv_reason_char((unsigned char) *p)) {
            return -1;
        }
    }

    c->session_id = sid;
    c->session_id_len = verdict - 1 - sid;
    c->verdict = ngx_yoti_idv_cached_verdicts[i];
    c->reason = reason;
    c->reason_len = last - reason;

    return 0;
}


size_t
ngx_yoti_idv_cached_format(char *buf, size_t size, const char *session_id,
    size_t session_id_len, ngx_yoti_idv_verdict_e verdict, const char *reason)
{
    return ngx_yoti_idv_cached_format_until(buf, size, 0, session_id,
                                            session_id_len, verdict, reason);
}


size_t
ngx_yoti_idv_cached_format_until(char *buf, size_t size, long expires,
    const char *session_id, size_t session_id_len,
    ngx_yoti_idv_verdict_e verdict, const char *reason)
{
    char        *p;
    size_t       vlen, rlen, i, elen;
    const char  *name;
    char         exp[24];

    if (verdict != NGX_YOTI_IDV_ALLOW && verdict != NGX_YOTI_IDV_DENY
        && verdict != NGX_YOTI_IDV_PENDING)
    {
        return 0;
    }

    if (!ngx_yoti_idv_valid_session_id(session_id, session_id_len)) {
        return 0;
    }

    rlen = strlen(reason);

    if (rlen == 0 || rlen >= NGX_YOTI_IDV_REASON_LEN) {
        return 0;
    }

    for (i = 0; i < rlen; i++) {
        if (!ngx_yoti_idv_reason_char((unsigned char) reason[i])) {
            return 0;
        }
    }

    name = ngx_yoti_idv_verdict_name(verdict);
    vlen = strlen(name);

    elen = 0;

    if (expires > 0) {
        elen = (size_t) snprintf(exp, sizeof(exp), "%ld ", expires);
    }

    if (size < sizeof("1   ") - 1 + elen + session_id_len + vlen + rlen) {
        return 0;
    }

    p = buf;

    if (elen) {
        *p++ = '2';
        *p++ = ' ';
        memcpy(p, exp, elen);
        p += elen;

    } else {
        *p++ = '1';
        *p++ = ' ';
    }
    memcpy(p, session_id, session_id_len);
    p += session_id_len;
    *p++ = ' ';
    memcpy(p, name, vlen);
    p += vlen;
    *p++ = ' ';
    memcpy(p, reason, rlen);
    p += rlen;

    return p - buf;
}


static int
ngx_yoti_idv_reason_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '_' || c == ':' || c == '-' || c == '.';
}


ngx_yoti_idv_mget_rc_e
ngx_yoti_idv_mget_reply(const redisReply *rep, size_t nkeys,
    ngx_yoti_idv_value_t *out)
{
    size_t       i;
    redisReply  *e;

    if (rep->type == REDIS_REPLY_ERROR) {

        if ((rep->len >= 6 && memcmp(rep->str, "NOAUTH", 6) == 0)
            || (rep->len >= 9 && memcmp(rep->str, "WRONGPASS", 9) == 0))
        {
            return NGX_YOTI_IDV_MGET_AUTH;
        }

        return NGX_YOTI_IDV_MGET_ERROR;
    }

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != nkeys) {
        return NGX_YOTI_IDV_MGET_SHAPE;
    }

    for (i = 0; i < nkeys; i++) {
        e = rep->element[i];

        if (e == NULL) {
            return NGX_YOTI_IDV_MGET_ELEMENT;
        }

        if (e->type == REDIS_REPLY_NIL) {
            out[i].data = NULL;
            out[i].len = 0;
            continue;
        }

        if (e->type != REDIS_REPLY_STRING) {
            return NGX_YOTI_IDV_MGET_ELEMENT;
        }

        /* an empty value stays distinguishable from a missing one */
        out[i].data = e->str ? e->str : "";
        out[i].len = e->len;
    }

    return NGX_YOTI_IDV_MGET_OK;
}
