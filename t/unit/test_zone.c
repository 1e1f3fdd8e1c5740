
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Unit tests of ngx_yoti_idv_zone.c, the table of yoti_idv_cache_zone:
 * SipHash against the reference vectors, sizes, collisions, chains at
 * full load, eviction order, invalidation, flush, reasons, and a long
 * random program checked against a model (zone_model.h).
 */


#define _POSIX_C_SOURCE  200112L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "zone_model.h"


static const uint64_t  ref_key[2] = {
    0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL
};


static uint64_t  rng = 88172645463325252ULL;


static uint64_t
xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;

    return rng;
}


static ngx_yoti_idv_zone_t *
new_zone(size_t size, void **mem)
{
    uint64_t  seed[2] = { 1, 2 };

    if (posix_memalign(mem, 4096, size) != 0) {
        abort();
    }

    return ngx_yoti_idv_zone_init(*mem, size, seed);
}


static void
test_siphash(void)
{
    size_t         i;
    unsigned char  in[16], out[16];

    /* vectors.h of the reference implementation, SipHash-2-4 */
    static const unsigned char  v128[4][16] = {
        { 0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
          0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93 },
        { 0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44,
          0x34, 0x76, 0x59, 0x11, 0x9b, 0x22, 0xfc, 0x45 },
        { 0x81, 0x77, 0x22, 0x8d, 0xa4, 0xa4, 0x5d, 0xc7,
          0xfc, 0xa3, 0x8b, 0xde, 0xf6, 0x0a, 0xff, 0xe4 },
        { 0x9c, 0x70, 0xb6, 0x0c, 0x52, 0x67, 0xa9, 0x4e,
          0x5f, 0x33, 0xb6, 0xb0, 0x29, 0x85, 0xed, 0x51 }
    };

    static const unsigned char  v64_0[8] = {
        0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72
    };

    static const unsigned char  v64_15[8] = {
        0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1
    };

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (unsigned char) i;
    }

    for (i = 0; i < 4; i++) {
        ngx_yoti_idv_siphash(in, i, ref_key, 2, 4, out, 16);
        ok(memcmp(out, v128[i], 16) == 0, "SipHash-2-4-128, %zu bytes", i);
    }

    ngx_yoti_idv_siphash(in, 0, ref_key, 2, 4, out, 8);
    ok(memcmp(out, v64_0, 8) == 0, "SipHash-2-4-64, empty");

    ngx_yoti_idv_siphash(in, 15, ref_key, 2, 4, out, 8);
    ok(memcmp(out, v64_15, 8) == 0, "SipHash-2-4-64, 15 bytes");
}


static void
test_sizes(void)
{
    void                 *mem;
    size_t                n;
    ngx_yoti_idv_zone_t  *z;

    ok(sizeof(ngx_yoti_idv_zone_entry_t) == 128, "an entry is 128 bytes");

    ok(ngx_yoti_idv_zone_capacity(512) == 0, "512 bytes hold nothing");

    n = ngx_yoti_idv_zone_capacity(1 << 20);
    ok(n >= 8000, "1 MiB holds %zu entries (>= 8000)", n);

    n = ngx_yoti_idv_zone_capacity(16 << 20);
    ok(n >= 128000, "16 MiB holds %zu entries (>= 128000)", n);

    z = new_zone(32768, &mem);
    ok(z && z->capacity > 230 && z->capacity < 256,
       "32k: %u entries", z ? z->capacity : 0);
    ok(z && (((uintptr_t) ngx_yoti_idv_zone_entries(z)) & 127) == 0,
       "entries are 128-byte aligned");
    ok(z && (unsigned char *) ngx_yoti_idv_zone_entries(z)
            + (size_t) z->capacity * 128 <= (unsigned char *) mem + 32768,
       "entries end within the block");
    free(mem);
}


static void
test_collisions(void)
{
    void                       *mem;
    uint32_t                    n[4], i;
    uint64_t                    key[4][2];
    ngx_yoti_idv_zone_t        *z;
    ngx_yoti_idv_zone_entry_t  *e;

    z = new_zone(65536, &mem);

    /* one bucket (the low 32 bits), even one key[0]: key[1] tells */

    for (i = 0; i < 4; i++) {
        key[i][0] = (i < 2) ? 42 : (42 | (uint64_t) (i + 1) << 32);
        key[i][1] = i;
        n[i] = ngx_yoti_idv_zone_add(z, key[i], i, 10);
        e = ngx_yoti_idv_zone_entry(z, n[i]);
        e->expire = 100;
    }

    for (i = 0; i < 4; i++) {
        ok(ngx_yoti_idv_zone_find(z, key[i]) == n[i],
           "colliding key %u found", i);
    }

    ngx_yoti_idv_zone_remove(z, n[1]);

    ok(ngx_yoti_idv_zone_find(z, key[1]) == 0, "the removed one is gone");
    ok(ngx_yoti_idv_zone_find(z, key[0]) == n[0]
       && ngx_yoti_idv_zone_find(z, key[2]) == n[2]
       && ngx_yoti_idv_zone_find(z, key[3]) == n[3],
       "the others of its bucket stay");

    ok(n[0] == (uint32_t) (((42 & 0xffffffff) * (uint64_t) z->capacity) >> 32)
               + 1,
       "the first key of a bucket took the bucket's own entry");

    free(mem);
}


static void
test_full_load(void)
{
    void                 *mem;
    size_t                hist[16], i, found, maxlen, load;
    uint32_t              n, cap;
    uint64_t              key[2], *keys;
    ngx_yoti_idv_zone_t  *z;

    z = new_zone(1 << 20, &mem);
    cap = z->capacity;

    keys = malloc(cap * 2 * sizeof(uint64_t));

    for (i = 0; i < cap; i++) {
        key[0] = xorshift();
        key[1] = xorshift();
        keys[2 * i] = key[0];
        keys[2 * i + 1] = key[1];

        n = ngx_yoti_idv_zone_add(z, key, xorshift(), 10);
        ngx_yoti_idv_zone_entry(z, n)->expire = 1000;

        load = (i + 1) * 100 / cap;

        if (load == 50 || load == 90 || i + 1 == cap) {
            if ((i + 1) * 100 % cap >= 100 && i + 1 != cap) {
                continue;
            }

            ngx_yoti_idv_zone_chains(z, hist, 16);

            for (maxlen = 15; maxlen && hist[maxlen] == 0; maxlen--) {
                /* void */
            }

            printf("# load %zu%%: chains 0:%zu 1:%zu 2:%zu 3:%zu 4:%zu "
                   "5+:%zu, longest %zu\n", load, hist[0], hist[1], hist[2],
                   hist[3], hist[4],
                   hist[5] + hist[6] + hist[7] + hist[8] + hist[15], maxlen);

            ok(maxlen < 12, "load %zu%%: the longest chain is %zu", load,
               maxlen);
        }
    }

    ok(z->count == cap && z->free == 0, "full: %u entries", z->count);

    found = 0;

    for (i = 0; i < cap; i++) {
        found += ngx_yoti_idv_zone_find(z, &keys[2 * i]) != 0;
    }

    ok(found == cap, "every key found at full load");
    ok(z->evictions == 0, "no eviction while it filled");

    free(keys);
    free(mem);
}


static void
test_eviction(void)
{
    void                       *mem;
    size_t                      i, kept, lost;
    uint32_t                    cap, n;
    uint64_t                    key[2];
    ngx_yoti_idv_zone_t        *z;
    ngx_yoti_idv_zone_entry_t  *e;

    z = new_zone(65536, &mem);
    cap = z->capacity;

    /* full of live verdicts; every other one read since */

    for (i = 0; i < cap; i++) {
        key[0] = i * 0x9e3779b97f4a7c15ULL;
        key[1] = i;
        n = ngx_yoti_idv_zone_add(z, key, i, 10);
        e = ngx_yoti_idv_zone_entry(z, n);
        e->expire = 100000;

        if (i % 2) {
            e->flags |= NGX_YOTI_IDV_ZONE_REFERENCED;
        }
    }

    /* half as many new ones: the hand takes the unreferenced first */

    for (i = 0; i < cap / 2; i++) {
        key[0] = (i + cap) * 0x9e3779b97f4a7c15ULL;
        key[1] = i + cap;
        n = ngx_yoti_idv_zone_add(z, key, i, 20);
        ngx_yoti_idv_zone_entry(z, n)->expire = 100000;
    }

    kept = 0;
    lost = 0;

    for (i = 0; i < cap; i++) {
        key[0] = i * 0x9e3779b97f4a7c15ULL;
        key[1] = i;

        if (ngx_yoti_idv_zone_find(z, key)) {
            kept += (i % 2);

        } else {
            lost += (i % 2);
        }
    }

    ok(lost == 0 && kept == cap / 2,
       "every entry read since survives (%zu of %u)", kept, cap / 2);
    ok(z->evictions == cap / 2, "evictions counted: %llu",
       (unsigned long long) z->evictions);

    /* expired ones go first, and are not counted as evictions */

    ngx_yoti_idv_zone_flush(z);

    for (i = 0; i < cap; i++) {
        key[0] = i * 0x9e3779b97f4a7c15ULL;
        key[1] = i;
        n = ngx_yoti_idv_zone_add(z, key, i, 10);
        ngx_yoti_idv_zone_entry(z, n)->expire = (i % 3 == 0) ? 50 : 100000;
    }

    key[0] = 0x1234;
    key[1] = 0x5678;
    n = ngx_yoti_idv_zone_add(z, key, 0, 60);
    ok(n != 0 && z->evictions == cap / 2, "an expired entry made room");

    /* a fetch in progress is never taken */

    ngx_yoti_idv_zone_flush(z);

    for (i = 0; i < cap; i++) {
        key[0] = i * 0x9e3779b97f4a7c15ULL;
        key[1] = i;
        n = ngx_yoti_idv_zone_add(z, key, i, 10);
        e = ngx_yoti_idv_zone_entry(z, n);
        e->flags |= NGX_YOTI_IDV_ZONE_FETCHING;
        e->lock = 1000;
    }

    key[0] = 0x1234;
    key[1] = 0x5678;
    ok(ngx_yoti_idv_zone_add(z, key, 0, 60) == 0,
       "a zone of fetches in progress refuses");
    ok(ngx_yoti_idv_zone_add(z, key, 0, 1000) != 0,
       "...until their lock passes");

    free(mem);
}


static void
test_invalidate(void)
{
    void                 *mem;
    size_t                i;
    uint32_t              n, s1[6];
    uint64_t              key[2];
    ngx_yoti_idv_zone_t  *z;

    z = new_zone(65536, &mem);

    /* user 7 with two sessions under three policies, user 8 with one */

    for (i = 0; i < 6; i++) {
        key[0] = xorshift();
        key[1] = xorshift();
        n = ngx_yoti_idv_zone_add(z, key, (i < 4) ? 7 : 8, 10);
        s1[i] = n;
        ok(ngx_yoti_idv_zone_set_sid(z, n,
               (const unsigned char *) ((i % 2) ? "sess-b" : "sess-a"), 6)
           == 0, "a session for entry %zu", i);
    }

    ok(ngx_yoti_idv_zone_set_sid(z, s1[0], (const unsigned char *)
           "0123456789012345678901234567890123456789", 40) == -1,
       "a session id too long is refused");

    ok(ngx_yoti_idv_zone_invalidate_sid(z, (const unsigned char *) "sess-b",
                                        6) == 3,
       "by session: the three entries of sess-b");
    ok(ngx_yoti_idv_zone_invalidate_sid(z, (const unsigned char *) "sess-b",
                                        6) == 0,
       "...and then none");
    ok(z->count == 3, "three are left");

    ok(ngx_yoti_idv_zone_invalidate_uid(z, 7) == 2,
       "by user: the other two of user 7");
    ok(ngx_yoti_idv_zone_invalidate_uid(z, 9) == 0, "a user with none");
    ok(z->count == 1, "user 8's entry is left");

    /* a session moves: the index follows */

    ok(ngx_yoti_idv_zone_set_sid(z, s1[4], (const unsigned char *) "sess-c",
                                 6) == 0
       && ngx_yoti_idv_zone_invalidate_sid(z,
                                   (const unsigned char *) "sess-a", 6) == 0
       && ngx_yoti_idv_zone_invalidate_sid(z,
                                   (const unsigned char *) "sess-c", 6) == 1,
       "a new session for an entry moves it in the index");

    free(mem);
}


/*
 * one session and one user on every entry (an id sent with many others):
 * entries still leave in O(1), and both invalidations find them all
 */

static void
test_long_chains(void)
{
    void                 *mem;
    size_t                i;
    double                t;
    uint32_t              n;
    uint64_t              key[2];
    ngx_yoti_idv_zone_t  *z;

    z = new_zone(4 << 20, &mem);

    t = (double) clock();

    for (i = 0; i < 4 * (size_t) z->capacity; i++) {
        key[0] = xorshift();
        key[1] = xorshift();
        n = ngx_yoti_idv_zone_add(z, key, 42, 10);
        ngx_yoti_idv_zone_entry(z, n)->expire = 100000;
        ngx_yoti_idv_zone_set_sid(z, n, (const unsigned char *) "one", 3);
    }

    t = ((double) clock() - t) / CLOCKS_PER_SEC;

    ok(t < 2.0, "%zu adds, %u evicted, on one session chain: %.2f s", i,
       z->capacity * 3, t);

    ok(ngx_yoti_idv_zone_invalidate_sid(z, (const unsigned char *) "one", 3)
       == z->capacity && z->count == 0, "by session: all of them");

    free(mem);
}


static void
test_flush_and_reasons(void)
{
    void                              *mem;
    size_t                             i;
    uint16_t                           a, b;
    uint64_t                           key[2];
    ngx_yoti_idv_zone_t               *z;
    ngx_yoti_idv_zone_stats_t          st;
    const ngx_yoti_idv_zone_reason_t  *r;

    z = new_zone(65536, &mem);

    for (i = 0; i < z->capacity; i++) {
        key[0] = xorshift();
        key[1] = xorshift();
        ngx_yoti_idv_zone_add(z, key, i, 10);
    }

    ngx_yoti_idv_zone_stats(z, &st);
    ok(st.entries == z->capacity && st.capacity == z->capacity
       && st.bytes_total == 65536 && st.bytes_used <= 65536
       && st.bytes_used > z->capacity * 128, "stats of a full zone");

    ngx_yoti_idv_zone_flush(z);

    ngx_yoti_idv_zone_stats(z, &st);
    ok(st.entries == 0 && st.bytes_used < 65536 - z->capacity * 120,
       "flushed: no entries");
    ok(ngx_yoti_idv_zone_find(z, key) == 0, "flushed: the last key is gone");

    a = ngx_yoti_idv_zone_reason_id(z, "ok", 2);
    b = ngx_yoti_idv_zone_reason_id(z, "check:LIVENESS:REJECT", 21);
    ok(a == 0 && b == 1 && ngx_yoti_idv_zone_reason_id(z, "ok", 2) == 0,
       "a reason is stored once");

    r = ngx_yoti_idv_zone_reason(z, b);
    ok(r && r->len == 21 && memcmp(r->data, "check:LIVENESS:REJECT", 21) == 0,
       "...and read back by its id");
    ok(ngx_yoti_idv_zone_reason(z, 7) == NULL, "an unknown id is none");

    for (i = 2; i < z->reasons_max; i++) {
        char  buf[16];

        snprintf(buf, sizeof(buf), "r%zu", i);
        ngx_yoti_idv_zone_reason_id(z, buf, strlen(buf));
    }

    ok(ngx_yoti_idv_zone_reason_id(z, "one more", 8)
       == NGX_YOTI_IDV_ZONE_NO_REASON, "a full table of reasons refuses");
    ok(ngx_yoti_idv_zone_reason_id(z, "ok", 2) == 0,
       "...but knows the ones it has");

    free(mem);
}


static void
test_model(void)
{
    int                   rc;
    void                 *mem;
    size_t                i, size;
    zm_t                  m;
    ngx_yoti_idv_zone_t  *z;

    /* small zones, so that eviction runs all the time */

    for (size = 4096; size <= 16384; size += 4096) {
        z = new_zone(size, &mem);
        zm_init(&m, z);

        rc = 0;

        for (i = 0; i < 200000 && rc == 0; i++) {
            rc = zm_step(&m, (unsigned) xorshift(), (unsigned) xorshift());
        }

        ok(rc == 0, "%zu random operations on %u entries: %s", i,
           z->capacity, m.error ? m.error : "model holds");

        free(mem);
    }
}


int
main(void)
{
    test_siphash();
    test_sizes();
    test_collisions();
    test_full_load();
    test_eviction();
    test_invalidate();
    test_long_chains();
    test_flush_and_reasons();
    test_model();

    return tap_done();
}
