
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _ZONE_MODEL_H_INCLUDED_
#define _ZONE_MODEL_H_INCLUDED_


/*
 * The zone's table against a plain array of what it should hold: a
 * program of operations (from a PRNG in test_zone.c, from the input in
 * fuzz_zone.c) runs on both, and every structural invariant is checked
 * after each: each used entry is found by its key and on the chains of its
 * user and session, the free list and the used entries make up the
 * capacity, nothing that was not removed or evicted is lost.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_yoti_idv_zone.h"


#define ZM_KEYS  64


typedef struct {
    uint64_t   key[2];
    uint64_t   uid;
    unsigned char sid[8];
    size_t     sid_len;
    uint32_t   n;          /* the zone's entry, 0: not in the zone */
} zm_key_t;


typedef struct {
    ngx_yoti_idv_zone_t  *z;
    zm_key_t              keys[ZM_KEYS];
    uint64_t              now;
    const char           *error;
} zm_t;


static int
zm_check(zm_t *m)
{
    size_t                      used, nfree, i;
    uint32_t                    n, b;
    ngx_yoti_idv_zone_t        *z;
    ngx_yoti_idv_zone_entry_t  *e;

    z = m->z;

    used = 0;
    nfree = 0;

    for (n = 1; n <= z->capacity; n++) {
        e = ngx_yoti_idv_zone_entry(z, n);

        if (!(e->flags & NGX_YOTI_IDV_ZONE_USED)) {
            continue;
        }

        used++;

        if (ngx_yoti_idv_zone_find(z, e->key) != n) {
            m->error = "a used entry is not found by its key";
            return -1;
        }

        for (b = ngx_yoti_idv_zone_entry(z, (uint32_t)
                 (((e->uid & 0xffffffff) * z->capacity) >> 32) + 1)->uid_head;
             b && b != n;
             b = ngx_yoti_idv_zone_entry(z, b)->uid_next)
        { /* void */ }

        if (b != n) {
            m->error = "a used entry is not on its user's chain";
            return -1;
        }

        if ((e->uid_prev
             && ngx_yoti_idv_zone_entry(z, e->uid_prev)->uid_next != n)
            || (e->uid_next
                && ngx_yoti_idv_zone_entry(z, e->uid_next)->uid_prev != n)
            || ((e->flags & NGX_YOTI_IDV_ZONE_SID) && e->sid_prev
                && ngx_yoti_idv_zone_entry(z, e->sid_prev)->sid_next != n)
            || ((e->flags & NGX_YOTI_IDV_ZONE_SID) && e->sid_next
                && ngx_yoti_idv_zone_entry(z, e->sid_next)->sid_prev != n))
        {
            m->error = "a session or user chain's links disagree";
            return -1;
        }
    }

    for (n = z->free; n; n = ngx_yoti_idv_zone_entry(z, n)->next) {
        if (ngx_yoti_idv_zone_entry(z, n)->flags & NGX_YOTI_IDV_ZONE_USED) {
            m->error = "a used entry on the free list";
            return -1;
        }

        if (++nfree > z->capacity) {
            m->error = "the free list loops";
            return -1;
        }
    }

    if (used != z->count || used + nfree != z->capacity) {
        m->error = "count, used and free entries disagree";
        return -1;
    }

    for (i = 0; i < ZM_KEYS; i++) {
        n = ngx_yoti_idv_zone_find(z, m->keys[i].key);

        if (m->keys[i].n && n != m->keys[i].n) {
            m->error = "a key the model holds is lost";
            return -1;
        }

        if (n && m->keys[i].n == 0) {
            m->error = "a key the model dropped is found";
            return -1;
        }
    }

    return 0;
}


/*
 * the model after an add: whatever the zone no longer finds was evicted,
 * one key at most; a key may have moved (a new key takes its own bucket's
 * entry from a key of another bucket)
 */

static int
zm_sync(zm_t *m)
{
    size_t    i, gone;
    uint32_t  n;

    gone = 0;

    for (i = 0; i < ZM_KEYS; i++) {
        if (m->keys[i].n == 0) {
            continue;
        }

        n = ngx_yoti_idv_zone_find(m->z, m->keys[i].key);

        if (n == 0) {
            gone++;

        } else if (n != m->keys[i].n
                   && (ngx_yoti_idv_zone_entry(m->z, n)->uid
                       != m->keys[i].uid))
        {
            m->error = "a moved entry lost its user";
            return -1;
        }

        m->keys[i].n = n;
    }

    if (gone > 1) {
        m->error = "an add evicted more than one entry";
        return -1;
    }

    return 0;
}


/* one operation, from two bytes; -1 and m->error when something broke */

static int
zm_step(zm_t *m, unsigned op, unsigned arg)
{
    size_t       i, gone, want;
    uint32_t     n;
    zm_key_t    *k;
    ngx_yoti_idv_zone_entry_t  *e;

    k = &m->keys[arg % ZM_KEYS];

    switch (op % 8) {

    case 0:
    case 1:
        /* a lookup that misses adds */
        if (k->n) {
            e = ngx_yoti_idv_zone_entry(m->z, k->n);
            e->flags |= NGX_YOTI_IDV_ZONE_REFERENCED;
            break;
        }

        n = ngx_yoti_idv_zone_add(m->z, k->key, k->uid, m->now);

        if (zm_sync(m) != 0) {
            return -1;
        }

        if (n == 0) {
            break;
        }

        k->n = n;
        e = ngx_yoti_idv_zone_entry(m->z, n);
        e->expire = m->now + (arg & 0x30);

        if (arg & 1) {
            e->flags |= NGX_YOTI_IDV_ZONE_FETCHING;
            e->lock = m->now + (arg & 0x0c);
        }

        if (k->sid_len
            && ngx_yoti_idv_zone_set_sid(m->z, n, k->sid, k->sid_len) != 0)
        {
            m->error = "set_sid refused a short session id";
            return -1;
        }

        break;

    case 2:
        if (k->n) {
            ngx_yoti_idv_zone_remove(m->z, k->n);
            k->n = 0;
        }
        break;

    case 3:
        want = 0;

        for (i = 0; i < ZM_KEYS; i++) {
            if (m->keys[i].n && m->keys[i].sid_len == k->sid_len
                && memcmp(m->keys[i].sid, k->sid, k->sid_len) == 0)
            {
                want++;
            }
        }

        gone = ngx_yoti_idv_zone_invalidate_sid(m->z, k->sid, k->sid_len);

        if (k->sid_len && gone != want) {
            m->error = "invalidate by session: not every entry went";
            return -1;
        }

        if (k->sid_len) {
            for (i = 0; i < ZM_KEYS; i++) {
                if (m->keys[i].sid_len == k->sid_len
                    && memcmp(m->keys[i].sid, k->sid, k->sid_len) == 0)
                {
                    m->keys[i].n = 0;
                }
            }
        }

        break;

    case 4:
        want = 0;

        for (i = 0; i < ZM_KEYS; i++) {
            if (m->keys[i].n && m->keys[i].uid == k->uid) {
                want++;
            }
        }

        gone = ngx_yoti_idv_zone_invalidate_uid(m->z, k->uid);

        if (gone != want) {
            m->error = "invalidate by user: not every entry went";
            return -1;
        }

        for (i = 0; i < ZM_KEYS; i++) {
            if (m->keys[i].uid == k->uid) {
                m->keys[i].n = 0;
            }
        }

        break;

    case 5:
        /* a new session for the entry */
        k->sid[0] = (unsigned char) ('a' + arg % 5);
        k->sid_len = 1 + arg % 3;

        if (k->n
            && ngx_yoti_idv_zone_set_sid(m->z, k->n, k->sid, k->sid_len) != 0)
        {
            m->error = "set_sid refused a short session id";
            return -1;
        }

        break;

    case 6:
        m->now += arg & 0x1f;
        break;

    default:
        if ((arg & 0x3f) == 0) {
            ngx_yoti_idv_zone_flush(m->z);

            for (i = 0; i < ZM_KEYS; i++) {
                m->keys[i].n = 0;
            }
        }

        break;
    }

    return zm_check(m);
}


static void
zm_init(zm_t *m, ngx_yoti_idv_zone_t *z)
{
    size_t  i;

    memset(m, 0, sizeof(zm_t));

    m->z = z;
    m->now = 1000;

    for (i = 0; i < ZM_KEYS; i++) {
        /* a few share a bucket, a few share even key[0] */
        m->keys[i].key[0] = (i % 4 == 0) ? 7 : 0x9e3779b97f4a7c15ULL * i;
        m->keys[i].key[1] = i;
        m->keys[i].uid = i % 9;
        m->keys[i].sid[0] = (unsigned char) ("abcde"[i % 5]);
        m->keys[i].sid_len = 1 + i % 3;
    }
}


#endif /* _ZONE_MODEL_H_INCLUDED_ */
