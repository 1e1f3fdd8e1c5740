
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_YOTI_IDV_CACHE_H_INCLUDED_
#define _NGX_YOTI_IDV_CACHE_H_INCLUDED_


/*
 * Pure units of the cache layers: the cached-verdict value as Redis holds
 * it, and the shape of the reply to the hot path's MGET.  No nginx headers,
 * so they can be unit tested and fuzzed on their own.
 */


#include <stddef.h>

#include <hiredis/hiredis.h>

#include "ngx_yoti_idv_eval.h"


/*
 * "1 <session id> <ALLOW|DENY|PENDING> <reason>", or with its expiry
 * (yoti_idv_cache_use_stale, _background_update: Redis keeps it longer)
 * "2 <expires, unix time> <session id> <ALLOW|DENY|PENDING> <reason>"
 */

typedef struct {
    long                       expires;     /* 0: "1 ...", none */
    const char                *session_id;  /* points into the value */
    size_t                     session_id_len;
    ngx_yoti_idv_verdict_e     verdict;     /* never ERROR */
    const char                *reason;      /* points into the value */
    size_t                     reason_len;  /* < NGX_YOTI_IDV_REASON_LEN */
} ngx_yoti_idv_cached_t;


/* 0: a well-formed value, in *c; -1: it does not parse, never trust it */
int ngx_yoti_idv_cached_parse(const char *p, size_t len,
    ngx_yoti_idv_cached_t *c);

/*
 * the value for a verdict, into buf; its length, or 0 when the verdict is
 * ERROR (never cached), an argument is not well-formed or buf is too small
 */
size_t ngx_yoti_idv_cached_format(char *buf, size_t size,
    const char *session_id, size_t session_id_len,
    ngx_yoti_idv_verdict_e verdict, const char *reason);

/* as ngx_yoti_idv_cached_format(), "2 <expires> ..." when expires > 0 */
size_t ngx_yoti_idv_cached_format_until(char *buf, size_t size, long expires,
    const char *session_id, size_t session_id_len,
    ngx_yoti_idv_verdict_e verdict, const char *reason);


typedef enum {
    NGX_YOTI_IDV_MGET_OK = 0,
    NGX_YOTI_IDV_MGET_AUTH,         /* an error reply: NOAUTH, WRONGPASS */
    NGX_YOTI_IDV_MGET_ERROR,        /* any other error reply */
    NGX_YOTI_IDV_MGET_SHAPE,        /* not an array of one value a key */
    NGX_YOTI_IDV_MGET_ELEMENT       /* a value neither nil nor a string */
} ngx_yoti_idv_mget_rc_e;


typedef struct {
    const char                *data;        /* NULL: nil (no such key) */
    size_t                     len;
} ngx_yoti_idv_value_t;


/* the reply to MGET of nkeys keys: its values, in order, into out[] */
ngx_yoti_idv_mget_rc_e ngx_yoti_idv_mget_reply(const redisReply *rep,
    size_t nkeys, ngx_yoti_idv_value_t *out);


#endif /* _NGX_YOTI_IDV_CACHE_H_INCLUDED_ */
