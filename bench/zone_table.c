
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * The zone's table (ngx_yoti_idv_zone.c) on its own, as the hit path uses
 * it: hash the cache key, find the entry, read the verdict and the session
 * id, set the referenced bit.  bench/zone_users.py builds and runs it:
 *
 *     zone_table SIZE_MB [KEYS]
 *
 * prints, as "key value" lines: entries per MiB, the chain lengths of the
 * key index at 50%, 90% and full load, and ns per hit for one hot key, for
 * keys uniform over a half-full and a full table, log-uniform ("Zipf")
 * over a full one, and for a full table under churn (keys uniform over 4x
 * its capacity: every miss adds, evicting).
 */


#define _DEFAULT_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>
#include <sys/mman.h>

#include "ngx_yoti_idv_zone.h"


#define LOOKUPS  2000000


static uint64_t  rng = 0x9e3779b97f4a7c15ULL;
static volatile uint64_t  sink;


static inline uint64_t
xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;

    return rng;
}


static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


/*
 * "<16 hex of the fingerprint>:user:u<n>", as the handler builds it; the
 * user's hash (the zone's SipHash of the user id) is stood in for by the
 * key's
 */

static size_t
make_key(char *buf, uint64_t n)
{
    char    d[24];
    size_t  i, len;

    memcpy(buf, "4111329cfb44e820:user:u", 23);

    i = 0;

    do {
        d[i++] = (char) ('0' + n % 10);
        n /= 10;
    } while (n);

    for (len = 23; i; len++) {
        buf[len] = d[--i];
    }

    return len;
}


static ngx_yoti_idv_zone_t *
fill(ngx_yoti_idv_zone_t *z, uint64_t from, uint64_t to, int chains)
{
    char                        key[64];
    size_t                      len, hist[8];
    uint64_t                    i, h[2], cap;
    uint32_t                    n;
    ngx_yoti_idv_zone_entry_t  *e;

    cap = z->capacity;

    for (i = from; i < to; i++) {
        len = make_key(key, i);
        ngx_yoti_idv_zone_hash(z, key, len, h);

        n = ngx_yoti_idv_zone_add(z, h, h[1] ^ h[0], 1);
        e = ngx_yoti_idv_zone_entry(z, n);
        e->stale = i;       /* the bench's own: which key it is */
        e->expire = 1ULL << 62;
        e->verdict = 1;
        e->reason = 0;
        ngx_yoti_idv_zone_set_sid(z, n, (const unsigned char *)
                                  "7938ac1e-0a4a-49b7-953f-08cfa764358f", 36);

        if (chains && (i + 1 == cap / 2 || i + 1 == cap * 9 / 10
                       || i + 1 == cap))
        {
            ngx_yoti_idv_zone_chains(z, hist, 8);
            printf("chains_%llu 0:%zu 1:%zu 2:%zu 3:%zu 4:%zu 5+:%zu\n",
                   (unsigned long long) ((i + 1) * 100 / cap),
                   hist[0], hist[1], hist[2], hist[3], hist[4],
                   hist[5] + hist[6] + hist[7]);
        }
    }

    return z;
}


/*
 * mode 0: one key; 1: uniform over n; 2: log-uniform over n; 3: churn
 * (uniform over n, a miss adds); 4: uniform over the n keys of present[]
 */

static uint64_t  *present;

static double
lookups(ngx_yoti_idv_zone_t *z, int mode, uint64_t n, size_t *misses)
{
    char                        key[64];
    size_t                      len, miss;
    double                      t0, t1;
    uint64_t                    i, k, h[2], acc;
    uint32_t                    e;
    ngx_yoti_idv_zone_entry_t  *en;

    miss = 0;
    acc = 0;

    t0 = now_ns();

    for (i = 0; i < LOOKUPS; i++) {

        switch (mode) {
        case 0:
            k = 7;
            break;
        case 2:
            k = (uint64_t) pow((double) n,
                               (double) (xorshift() >> 11) / 9007199254740992.0);
            k = (k >= n) ? n - 1 : k;
            break;
        case 4:
            k = present[xorshift() % n];
            break;
        default:
            k = xorshift() % n;
        }

        len = make_key(key, k);
        ngx_yoti_idv_zone_hash(z, key, len, h);

        e = ngx_yoti_idv_zone_find(z, h);

        if (e == 0) {
            miss++;

            if (mode == 3) {
                e = ngx_yoti_idv_zone_add(z, h, h[1] ^ h[0], 2);
                en = ngx_yoti_idv_zone_entry(z, e);
                en->stale = k;
                en->expire = 1ULL << 62;
                en->verdict = 1;
                en->reason = 0;
            }

            continue;
        }

        en = ngx_yoti_idv_zone_entry(z, e);
        acc += en->verdict + en->sid[en->sid_len - 1] + en->expire;

        if (!(en->flags & NGX_YOTI_IDV_ZONE_REFERENCED)) {
            en->flags |= NGX_YOTI_IDV_ZONE_REFERENCED;
        }
    }

    t1 = now_ns();

    sink = acc;
    *misses = miss;

    return (t1 - t0) / LOOKUPS;
}


/*
 * as nginx maps a zone: shared anonymous memory (ZONE_TABLE_PRIVATE=1:
 * private), with MADV_HUGEPAGE as the module asks for it
 * (ZONE_TABLE_HUGE=0: not); what the kernel made of it is in
 * /proc/self/smaps, printed as "huge_kb"
 */

static void *
map_zone(size_t size)
{
    int    flags;
    void  *p;
    char  *v;

    v = getenv("ZONE_TABLE_PRIVATE");
    flags = (v && *v == '1') ? MAP_PRIVATE : MAP_SHARED;

    p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }

    v = getenv("ZONE_TABLE_HUGE");

    if (v == NULL || *v != '0') {
        printf("madvise %d\n", ngx_yoti_idv_zone_huge(p, size));
    }

    return p;
}


static void
huge_kb(void)
{
    char   line[256];
    long   kb, total;
    FILE  *f;

    f = fopen("/proc/self/smaps", "r");
    if (f == NULL) {
        return;
    }

    total = 0;

    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1
            || sscanf(line, "ShmemPmdMapped: %ld kB", &kb) == 1)
        {
            total += kb;
        }
    }

    fclose(f);

    printf("huge_kb %ld\n", total);
}


/* how many entries sit in their own bucket: a hit on them reads one entry */

static void
at_home(ngx_yoti_idv_zone_t *z, const char *name)
{
    uint32_t                    k, b;
    uint64_t                    used, home;
    ngx_yoti_idv_zone_entry_t  *e;

    used = 0;
    home = 0;

    for (k = 1; k <= z->capacity; k++) {
        e = ngx_yoti_idv_zone_entry(z, k);

        if (!(e->flags & NGX_YOTI_IDV_ZONE_USED)) {
            continue;
        }

        used++;
        b = (uint32_t) (((e->key[0] & 0xffffffff) * z->capacity) >> 32) + 1;
        home += (b == k);
    }

    printf("at_home_%s %.1f\n", name, used ? 100.0 * home / used : 0.0);
}


int
main(int argc, char **argv)
{
    void                 *mem, *mem2;
    size_t                size, miss, hits;
    double                ns;
    uint64_t              seed[2] = { 0x1234, 0x5678 }, cap, keys, k;
    ngx_yoti_idv_zone_t  *z, *z2;

    if (argc < 2) {
        fprintf(stderr, "usage: zone_table SIZE_MB [KEYS]\n");
        return 2;
    }

    size = (size_t) atol(argv[1]) << 20;

    mem = map_zone(size);
    mem2 = map_zone(size);

    if (mem == NULL || mem2 == NULL) {
        return 1;
    }

    z = ngx_yoti_idv_zone_init(mem, size, seed);
    z2 = ngx_yoti_idv_zone_init(mem2, size, seed);

    if (z == NULL || z2 == NULL) {
        return 1;
    }

    cap = z->capacity;
    keys = (argc > 2) ? (uint64_t) atoll(argv[2]) : cap;
    keys = keys > cap ? cap : keys;

    ngx_yoti_idv_zone_reason_id(z, "ok", 2);
    ngx_yoti_idv_zone_reason_id(z2, "ok", 2);

    printf("capacity %llu\n", (unsigned long long) cap);
    printf("entry_bytes %zu\n", sizeof(ngx_yoti_idv_zone_entry_t));
    printf("entries_per_mib %.0f\n", (double) cap / (size >> 20));

    present = malloc(cap * sizeof(uint64_t));
    if (present == NULL) {
        return 1;
    }

    /* half full: z2; hits uniform over what it holds, as for the churn */
    fill(z2, 0, cap / 2, 0);

    for (k = 0; k < cap / 2; k++) {
        present[k] = k;
    }

    ns = lookups(z2, 4, cap / 2, &miss);
    printf("ns_half_hit %.1f misses %zu\n", ns, miss);
    at_home(z2, "half");

    /* full: z, chains printed on the way */
    fill(z, 0, keys, 1);

    huge_kb();
    at_home(z, "full");

    ns = lookups(z, 0, keys, &miss);
    printf("ns_one %.1f misses %zu\n", ns, miss);

    ns = lookups(z, 1, keys, &miss);
    printf("ns_uniform %.1f misses %zu\n", ns, miss);

    ns = lookups(z, 2, keys, &miss);
    printf("ns_zipf %.1f misses %zu\n", ns, miss);

    ns = lookups(z, 3, cap * 4, &miss);
    hits = LOOKUPS - miss;
    printf("ns_churn_op %.1f misses %zu hits %zu evictions %llu\n", ns, miss,
           hits, (unsigned long long) z->evictions);

    /* what the churn left: hits only, uniform over it */

    for (hits = 0, k = 1; k <= cap; k++) {
        if (ngx_yoti_idv_zone_entry(z, k)->flags & NGX_YOTI_IDV_ZONE_USED) {
            present[hits++] = ngx_yoti_idv_zone_entry(z, k)->stale;
        }
    }

    ns = lookups(z, 4, hits, &miss);
    printf("ns_churn_hit %.1f misses %zu entries %zu\n", ns, miss, hits);
    at_home(z, "churn");

    free(present);

    munmap(mem, size);
    munmap(mem2, size);

    return 0;
}
