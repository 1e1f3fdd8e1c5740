
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include <string.h>
#include <arpa/inet.h>

#include "ngx_yoti_idv_cluster.h"


static int ngx_yoti_idv_number(const char *p, size_t len, long max,
    long *out);
static int ngx_yoti_idv_endpoint_parse(const char *p, size_t len,
    ngx_yoti_idv_endpoint_t *ep);
static int ngx_yoti_idv_is_string(const redisReply *rep);


uint16_t
ngx_yoti_idv_crc16(const char *buf, size_t len)
{
    int       i;
    size_t    n;
    uint16_t  crc;

    crc = 0;

    for (n = 0; n < len; n++) {
        crc ^= (uint16_t) ((unsigned char) buf[n]) << 8;

        for (i = 0; i < 8; i++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


/* as keyHashSlot() of Redis's cluster.c */

unsigned
ngx_yoti_idv_key_slot(const char *key, size_t len)
{
    const char  *open, *close;

    open = memchr(key, '{', len);

    if (open != NULL) {
        close = memchr(open + 1, '}', key + len - open - 1);

        if (close != NULL && close != open + 1) {
            key = open + 1;
            len = close - open - 1;
        }
    }

    return ngx_yoti_idv_crc16(key, len) & (NGX_YOTI_IDV_SLOTS - 1);
}


static int
ngx_yoti_idv_number(const char *p, size_t len, long max, long *out)
{
    long    n;
    size_t  i;

    if (len == 0 || len > 10) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        n = n * 10 + (p[i] - '0');
    }

    if (n > max) {
        return -1;
    }

    *out = n;

    return 0;
}


/* "host:port", the port after the last colon (an IPv6 host has some) */

static int
ngx_yoti_idv_endpoint_parse(const char *p, size_t len,
    ngx_yoti_idv_endpoint_t *ep)
{
    long    port;
    size_t  colon;

    for (colon = len; colon > 0; colon--) {
        if (p[colon - 1] == ':') {
            break;
        }
    }

    if (colon == 0) {
        return -1;
    }

    /* Redis 7 may add ",hostname" or "@cport" after the port */

    len -= colon;

    {
        size_t  i;

        for (i = 0; i < len; i++) {
            if (p[colon + i] == '@' || p[colon + i] == ',') {
                len = i;
                break;
            }
        }
    }

    if (ngx_yoti_idv_number(p + colon, len, 65535, &port) != 0
        || port == 0)
    {
        return -1;
    }

    ep->host = p;
    ep->host_len = colon - 1;
    ep->port = (int) port;

    return 0;
}


ngx_yoti_idv_reply_e
ngx_yoti_idv_error_parse(const char *str, size_t len, unsigned *slot,
    ngx_yoti_idv_endpoint_t *ep)
{
    long                  n;
    const char           *p, *last, *space;
    ngx_yoti_idv_reply_e  rc;

    if (len >= 11 && memcmp(str, "CLUSTERDOWN", 11) == 0) {
        return NGX_YOTI_IDV_REPLY_CLUSTERDOWN;
    }

    if (len >= 8 && memcmp(str, "TRYAGAIN", 8) == 0) {
        return NGX_YOTI_IDV_REPLY_TRYAGAIN;
    }

    if (len >= 8 && memcmp(str, "READONLY", 8) == 0) {
        return NGX_YOTI_IDV_REPLY_READONLY;
    }

    if (len >= 6 && memcmp(str, "MOVED ", 6) == 0) {
        rc = NGX_YOTI_IDV_REPLY_MOVED;
        p = str + 6;

    } else if (len >= 4 && memcmp(str, "ASK ", 4) == 0) {
        rc = NGX_YOTI_IDV_REPLY_ASK;
        p = str + 4;

    } else {
        return NGX_YOTI_IDV_REPLY_ERROR;
    }

    last = str + len;

    space = memchr(p, ' ', last - p);
    if (space == NULL
        || ngx_yoti_idv_number(p, space - p, NGX_YOTI_IDV_SLOTS - 1, &n) != 0)
    {
        return NGX_YOTI_IDV_REPLY_ERROR;
    }

    p = space + 1;

    if (memchr(p, ' ', last - p) != NULL
        || ngx_yoti_idv_endpoint_parse(p, last - p, ep) != 0)
    {
        return NGX_YOTI_IDV_REPLY_ERROR;
    }

    *slot = (unsigned) n;

    return rc;
}


static int
ngx_yoti_idv_is_string(const redisReply *rep)
{
    return rep->type == REDIS_REPLY_STRING || rep->type == REDIS_REPLY_STATUS;
}


/*
 * 1) 1) (integer) 0           start
 *    2) (integer) 5460        end
 *    3) 1) "127.0.0.1"        the master: host ("" or NULL: the node
 *       2) (integer) 7000     asked), port, then an id and more
 *    4) ...                   replicas
 */

int
ngx_yoti_idv_slots_check(const redisReply *rep)
{
    size_t       i;
    redisReply  *r, *m;

    if (rep->type != REDIS_REPLY_ARRAY) {
        return -1;
    }

    for (i = 0; i < rep->elements; i++) {
        r = rep->element[i];

        if (r->type != REDIS_REPLY_ARRAY || r->elements < 3
            || r->element[0]->type != REDIS_REPLY_INTEGER
            || r->element[1]->type != REDIS_REPLY_INTEGER
            || r->element[0]->integer < 0
            || r->element[1]->integer < r->element[0]->integer
            || r->element[1]->integer >= NGX_YOTI_IDV_SLOTS
            || r->element[2]->type != REDIS_REPLY_ARRAY
            || r->element[2]->elements < 2)
        {
            return -1;
        }

        m = r->element[2];

        if ((!ngx_yoti_idv_is_string(m->element[0])
             && m->element[0]->type != REDIS_REPLY_NIL)
            || m->element[1]->type != REDIS_REPLY_INTEGER
            || m->element[1]->integer <= 0
            || m->element[1]->integer > 65535)
        {
            return -1;
        }
    }

    return (int) rep->elements;
}


void
ngx_yoti_idv_slots_range(const redisReply *rep, size_t i,
    ngx_yoti_idv_range_t *range)
{
    redisReply  *r, *m;

    r = rep->element[i];
    m = r->element[2];

    range->start = (unsigned) r->element[0]->integer;
    range->end = (unsigned) r->element[1]->integer;

    if (m->element[0]->type == REDIS_REPLY_NIL) {
        range->master.host = "";
        range->master.host_len = 0;

    } else {
        range->master.host = m->element[0]->str;
        range->master.host_len = m->element[0]->len;
    }

    range->master.port = (int) m->element[1]->integer;
}


int
ngx_yoti_idv_master_addr_parse(const redisReply *rep,
    ngx_yoti_idv_endpoint_t *ep)
{
    long  port;

    if (rep->type == REDIS_REPLY_NIL) {
        return 1;
    }

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2
        || !ngx_yoti_idv_is_string(rep->element[0])
        || !ngx_yoti_idv_is_string(rep->element[1])
        || rep->element[0]->len == 0
        || ngx_yoti_idv_number(rep->element[1]->str, rep->element[1]->len,
                               65535, &port) != 0
        || port == 0)
    {
        return -1;
    }

    ep->host = rep->element[0]->str;
    ep->host_len = rep->element[0]->len;
    ep->port = (int) port;

    return 0;
}


int
ngx_yoti_idv_role_is_master(const redisReply *rep)
{
    redisReply  *r;

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
        return -1;
    }

    r = rep->element[0];

    if (!ngx_yoti_idv_is_string(r)) {
        return -1;
    }

    return (r->len == 6 && memcmp(r->str, "master", 6) == 0) ? 1 : 0;
}


/* "message", "+switch-master", "<name> <old ip> <old port> <ip> <port>" */

int
ngx_yoti_idv_switch_master_parse(const redisReply *rep, const char *name,
    size_t name_len, ngx_yoti_idv_endpoint_t *ep)
{
    int          i;
    long         port;
    const char  *p, *last, *field[5];
    size_t       flen[5];
    redisReply  *kind, *msg;

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3
        || !ngx_yoti_idv_is_string(rep->element[0]))
    {
        return -1;
    }

    kind = rep->element[0];

    if (kind->len != 7 || memcmp(kind->str, "message", 7) != 0) {
        /* "subscribe" and its count */
        return 1;
    }

    msg = rep->element[2];

    if (!ngx_yoti_idv_is_string(msg)) {
        return -1;
    }

    p = msg->str;
    last = msg->str + msg->len;

    for (i = 0; i < 5; i++) {
        const char  *space;

        if (p >= last) {
            return -1;
        }

        space = (i < 4) ? memchr(p, ' ', last - p) : last;
        if (space == NULL || space == p) {
            return -1;
        }

        field[i] = p;
        flen[i] = space - p;
        p = space + 1;
    }

    if (p < last) {
        /* more than five fields */
        return -1;
    }

    if (ngx_yoti_idv_number(field[4], flen[4], 65535, &port) != 0
        || port == 0)
    {
        return -1;
    }

    if (flen[0] != name_len || memcmp(field[0], name, name_len) != 0) {
        return 1;
    }

    ep->host = field[3];
    ep->host_len = flen[3];
    ep->port = (int) port;

    return 0;
}


int
ngx_yoti_idv_endpoint_ip(const ngx_yoti_idv_endpoint_t *ep, char *buf)
{
    unsigned char  addr[16];

    if (ep->host_len == 0 || ep->host_len >= NGX_YOTI_IDV_HOST_LEN
        || memchr(ep->host, '\0', ep->host_len) != NULL)
    {
        return -1;
    }

    memcpy(buf, ep->host, ep->host_len);
    buf[ep->host_len] = '\0';

    if (inet_pton(AF_INET, buf, addr) == 1
        || inet_pton(AF_INET6, buf, addr) == 1)
    {
        return 0;
    }

    return -1;
}
