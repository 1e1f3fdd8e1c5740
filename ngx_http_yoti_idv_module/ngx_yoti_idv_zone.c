
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#if (defined __linux__ && !defined _DEFAULT_SOURCE)
#define _DEFAULT_SOURCE                 /* MADV_HUGEPAGE */
#endif

#include <string.h>
#if (defined __linux__)
#include <sys/mman.h>
#endif

#include "ngx_yoti_idv_zone.h"
#include "ngx_yoti_idv_siphash.h"


#define NGX_YOTI_IDV_ZONE_MAGIC     0x31305f69746f79ULL    /* "yoti_01" */


typedef char ngx_yoti_idv_zone_entry_size_check[
    sizeof(ngx_yoti_idv_zone_entry_t) == NGX_YOTI_IDV_ZONE_ENTRY_SIZE
    ? 1 : -1];

typedef char ngx_yoti_idv_zone_reason_size_check[
    sizeof(ngx_yoti_idv_zone_reason_t) == NGX_YOTI_IDV_ZONE_REASON_LEN
    ? 1 : -1];


static inline uint32_t ngx_yoti_idv_zone_bucket(const ngx_yoti_idv_zone_t *z,
    uint64_t h);
static size_t ngx_yoti_idv_zone_layout(size_t size, uint32_t *reasons);
static void ngx_yoti_idv_zone_reset(ngx_yoti_idv_zone_t *z);
static void ngx_yoti_idv_zone_unchain(ngx_yoti_idv_zone_t *z, uint32_t *head,
    size_t next, uint32_t n);
static void ngx_yoti_idv_zone_dunlink(ngx_yoti_idv_zone_t *z, uint32_t *head,
    size_t next, size_t prev, uint32_t n);
static void ngx_yoti_idv_zone_dpush(ngx_yoti_idv_zone_t *z, uint32_t *head,
    size_t next, size_t prev, uint32_t n);
static void ngx_yoti_idv_zone_unlink(ngx_yoti_idv_zone_t *z, uint32_t n);
static void ngx_yoti_idv_zone_move(ngx_yoti_idv_zone_t *z, uint32_t from,
    uint32_t to);
static void ngx_yoti_idv_zone_relink(ngx_yoti_idv_zone_t *z, uint32_t *head,
    size_t next, size_t prev, uint32_t from, uint32_t to);
static void ngx_yoti_idv_zone_free_take(ngx_yoti_idv_zone_t *z, uint32_t n);
static uint32_t ngx_yoti_idv_zone_evict(ngx_yoti_idv_zone_t *z, uint32_t home,
    uint64_t now);


#define ngx_yoti_idv_zone_off(f)  offsetof(ngx_yoti_idv_zone_entry_t, f)

#define ngx_yoti_idv_zone_link(z, n, off)                                    \
    ((uint32_t *) ((unsigned char *) ngx_yoti_idv_zone_entry(z, n) + (off)))


void
ngx_yoti_idv_siphash(const void *in, size_t inlen, const uint64_t k[2],
    int c, int d, unsigned char *out, size_t outlen)
{
    int       i;
    uint64_t  h[2];

    ngx_yoti_idv_sip(in, inlen, k, c, d, outlen == 16, h);

    for (i = 0; i < (int) outlen; i++) {
        out[i] = (unsigned char) (h[i / 8] >> (8 * (i % 8)));
    }
}


void
ngx_yoti_idv_zone_hash(const ngx_yoti_idv_zone_t *z, const void *p,
    size_t len, uint64_t key[2])
{
    ngx_yoti_idv_sip(p, len, z->seed, 1, 3, 1, key);
}


uint64_t
ngx_yoti_idv_zone_hash64(const ngx_yoti_idv_zone_t *z, const void *p,
    size_t len)
{
    uint64_t  h[2];

    ngx_yoti_idv_sip(p, len, z->seed, 1, 3, 0, h);

    return h[0];
}


/* a bucket, 1 .. capacity: the multiply-shift range reduction */

static inline uint32_t
ngx_yoti_idv_zone_bucket(const ngx_yoti_idv_zone_t *z, uint64_t h)
{
    return (uint32_t) (((h & 0xffffffff) * z->capacity) >> 32) + 1;
}


/* the entries a block of size bytes holds, and how many reasons */

static size_t
ngx_yoti_idv_zone_layout(size_t size, uint32_t *reasons)
{
    size_t  head, n, r;

    head = (sizeof(ngx_yoti_idv_zone_t) + 7) & ~(size_t) 7;

    /* the entries are aligned: at most one entry's worth is lost */
    if (size < head + 2 * NGX_YOTI_IDV_ZONE_ENTRY_SIZE) {
        return 0;
    }

    n = (size - head - NGX_YOTI_IDV_ZONE_ENTRY_SIZE)
        / NGX_YOTI_IDV_ZONE_ENTRY_SIZE;

    /* reasons are few: one a 128 entries, 16 to 256 */

    r = n / 128;
    r = r < 16 ? 16 : (r > 256 ? 256 : r);

    if (size < head + NGX_YOTI_IDV_ZONE_ENTRY_SIZE
               + r * sizeof(ngx_yoti_idv_zone_reason_t)
               + NGX_YOTI_IDV_ZONE_ENTRY_SIZE)
    {
        return 0;
    }

    n = (size - head - NGX_YOTI_IDV_ZONE_ENTRY_SIZE
         - r * sizeof(ngx_yoti_idv_zone_reason_t))
        / NGX_YOTI_IDV_ZONE_ENTRY_SIZE;

    if (n > 0xfffffffe) {
        n = 0xfffffffe;
    }

    *reasons = (uint32_t) r;

    return n;
}


size_t
ngx_yoti_idv_zone_capacity(size_t size)
{
    uint32_t  r;

    return ngx_yoti_idv_zone_layout(size, &r);
}


/*
 * MADV_HUGEPAGE on the 2 MiB pages of the block, before it is touched: a
 * lookup at a million entries misses the TLB on 4 KiB pages; 0: asked (the
 * kernel may still say no: shared anonymous memory gets huge pages only
 * with /sys/kernel/mm/transparent_hugepage/shmem_enabled "advise" or
 * "within_size"), -1: not possible here
 */

int
ngx_yoti_idv_zone_huge(void *mem, size_t size)
{
#if (defined __linux__ && defined MADV_HUGEPAGE)
    uintptr_t  a, b;

    a = ((uintptr_t) mem + (2 << 20) - 1) & ~(uintptr_t) ((2 << 20) - 1);
    b = ((uintptr_t) mem + size) & ~(uintptr_t) ((2 << 20) - 1);

    if (b <= a) {
        return -1;
    }

    return madvise((void *) a, b - a, MADV_HUGEPAGE);
#else
    (void) mem;
    (void) size;

    return -1;
#endif
}


ngx_yoti_idv_zone_t *
ngx_yoti_idv_zone_init(void *mem, size_t size, const uint64_t seed[2])
{
    size_t                n, off;
    uint32_t              r;
    uintptr_t             a;
    ngx_yoti_idv_zone_t  *z;

    n = ngx_yoti_idv_zone_layout(size, &r);
    if (n == 0) {
        return NULL;
    }

    z = mem;

    memset(z, 0, sizeof(ngx_yoti_idv_zone_t));

    z->magic = NGX_YOTI_IDV_ZONE_MAGIC;
    z->seed[0] = seed[0];
    z->seed[1] = seed[1];
    z->size = size;
    z->capacity = (uint32_t) n;
    z->reasons_max = r;

    z->reasons_off = (sizeof(ngx_yoti_idv_zone_t) + 7) & ~(size_t) 7;

    off = z->reasons_off + r * sizeof(ngx_yoti_idv_zone_reason_t);
    a = (uintptr_t) mem + off;
    a = (a + NGX_YOTI_IDV_ZONE_ENTRY_SIZE - 1)
        & ~(uintptr_t) (NGX_YOTI_IDV_ZONE_ENTRY_SIZE - 1);

    z->entries_off = a - (uintptr_t) mem;

    ngx_yoti_idv_zone_reset(z);

    return z;
}


/* every entry free, every index empty */

static void
ngx_yoti_idv_zone_reset(ngx_yoti_idv_zone_t *z)
{
    uint32_t                    i;
    ngx_yoti_idv_zone_entry_t  *e;

    e = ngx_yoti_idv_zone_entries(z);

    memset(e, 0, (size_t) z->capacity * sizeof(ngx_yoti_idv_zone_entry_t));

    /* the free list is doubly linked: "next" and, backwards, "sid_next" */

    for (i = 0; i < z->capacity; i++) {
        e[i].next = (i + 1 < z->capacity) ? i + 2 : 0;
        e[i].sid_next = i;
    }

    z->free = 1;
    z->count = 0;
    z->hand = 0;
}


uint32_t
ngx_yoti_idv_zone_find(ngx_yoti_idv_zone_t *z, const uint64_t key[2])
{
    uint32_t                    n, b;
    ngx_yoti_idv_zone_entry_t  *e;

    b = ngx_yoti_idv_zone_bucket(z, key[0]);
    e = ngx_yoti_idv_zone_entry(z, b);

    /* the bucket's own entry first: the line is read anyway */

    if ((e->flags & NGX_YOTI_IDV_ZONE_USED)
        && e->key[0] == key[0] && e->key[1] == key[1])
    {
        return b;
    }

    n = e->key_head;

    while (n) {
        e = ngx_yoti_idv_zone_entry(z, n);

        if (e->key[0] == key[0] && e->key[1] == key[1]) {
            return n;
        }

        n = e->next;
    }

    return 0;
}


#define ngx_yoti_idv_zone_load(p)  __atomic_load_n(p, __ATOMIC_RELAXED)

#define NGX_YOTI_IDV_ZONE_READ_TRIES   3
#define NGX_YOTI_IDV_ZONE_READ_CHAIN   64


/* word by word, each load whole: a torn word cannot be, a torn entry can */

static inline void
ngx_yoti_idv_zone_copy(const ngx_yoti_idv_zone_entry_t *e,
    ngx_yoti_idv_zone_entry_t *out)
{
    size_t           i;
    uint64_t        *d;
    const uint64_t  *s;

    s = (const uint64_t *) (const void *) e;
    d = (uint64_t *) (void *) out;

    for (i = 0; i < sizeof(ngx_yoti_idv_zone_entry_t) / 8; i++) {
        d[i] = ngx_yoti_idv_zone_load(&s[i]);
    }
}


int
ngx_yoti_idv_zone_read(const ngx_yoti_idv_zone_t *z, const uint64_t key[2],
    ngx_yoti_idv_zone_entry_t *out, uint32_t *np)
{
    int                               try, found;
    uint32_t                          n, b, cap, steps;
    uint64_t                          s1, s2;
    const ngx_yoti_idv_zone_entry_t  *e;

    cap = z->capacity;                  /* set once, at the zone's init */
    b = ngx_yoti_idv_zone_bucket(z, key[0]);

    for (try = 0; try < NGX_YOTI_IDV_ZONE_READ_TRIES; try++) {

        s1 = __atomic_load_n(&z->seq, __ATOMIC_ACQUIRE);

        if (s1 & 1) {
            continue;
        }

        found = 0;
        n = b;
        e = ngx_yoti_idv_zone_entry(z, b);

        /* the bucket's own entry first, as zone_find() */

        if ((ngx_yoti_idv_zone_load(&e->flags) & NGX_YOTI_IDV_ZONE_USED)
            && ngx_yoti_idv_zone_load(&e->key[0]) == key[0]
            && ngx_yoti_idv_zone_load(&e->key[1]) == key[1])
        {
            found = 1;

        } else {
            n = ngx_yoti_idv_zone_load(&e->key_head);

            /* a chain changed under it may be any, even a loop: bounded */

            for (steps = 0; n && n <= cap; steps++) {

                if (steps == NGX_YOTI_IDV_ZONE_READ_CHAIN) {
                    n = cap + 1;
                    break;
                }

                e = ngx_yoti_idv_zone_entry(z, n);

                if (ngx_yoti_idv_zone_load(&e->key[0]) == key[0]
                    && ngx_yoti_idv_zone_load(&e->key[1]) == key[1])
                {
                    found = 1;
                    break;
                }

                n = ngx_yoti_idv_zone_load(&e->next);
            }

            if (n > cap) {
                /* torn: only a writer makes that */
                continue;
            }
        }

        if (found) {
            ngx_yoti_idv_zone_copy(e, out);
        }

        __atomic_thread_fence(__ATOMIC_ACQUIRE);

        s2 = ngx_yoti_idv_zone_load(&z->seq);

        if (s1 != s2) {
            continue;
        }

        *np = found ? n : 0;

        return found;
    }

    return -1;
}


uint32_t
ngx_yoti_idv_zone_add(ngx_yoti_idv_zone_t *z, const uint64_t key[2],
    uint64_t uid, uint64_t now)
{
    uint32_t                    n, b, u;
    ngx_yoti_idv_zone_entry_t  *e, *home;

    b = ngx_yoti_idv_zone_bucket(z, key[0]);
    home = ngx_yoti_idv_zone_entry(z, b);

    if (z->free) {
        n = (home->flags & NGX_YOTI_IDV_ZONE_USED) ? z->free : b;
        ngx_yoti_idv_zone_free_take(z, n);

    } else {
        n = ngx_yoti_idv_zone_evict(z, b, now);
        if (n == 0) {
            return 0;
        }
    }

    /*
     * its own bucket's entry, found in one line pair: free, or held by a
     * key of another bucket, which moves to the entry just taken
     */

    if (n != b && (home->flags & NGX_YOTI_IDV_ZONE_USED)
        && ngx_yoti_idv_zone_bucket(z, home->key[0]) != b)
    {
        ngx_yoti_idv_zone_move(z, b, n);
        n = b;
    }

    e = ngx_yoti_idv_zone_entry(z, n);

    /* the bucket heads the entry holds are not its own */

    e->key[0] = key[0];
    e->key[1] = key[1];
    e->expire = now;
    e->lock = now;
    e->gen = 0;
    e->reason = NGX_YOTI_IDV_ZONE_NO_REASON;
    e->verdict = 0;
    e->flags = NGX_YOTI_IDV_ZONE_USED;
    e->sid_len = 0;
    e->uid = uid;
    e->sid_next = 0;
    e->sid_prev = 0;
    e->stale = now;

    e->next = home->key_head;
    home->key_head = n;

    u = ngx_yoti_idv_zone_bucket(z, uid);
    ngx_yoti_idv_zone_dpush(z, &ngx_yoti_idv_zone_entry(z, u)->uid_head,
                            ngx_yoti_idv_zone_off(uid_next),
                            ngx_yoti_idv_zone_off(uid_prev), n);

    z->count++;

    return n;
}


static void
ngx_yoti_idv_zone_free_take(ngx_yoti_idv_zone_t *z, uint32_t n)
{
    uint32_t                    prev, next;
    ngx_yoti_idv_zone_entry_t  *e;

    e = ngx_yoti_idv_zone_entry(z, n);

    prev = e->sid_next;
    next = e->next;

    if (prev) {
        ngx_yoti_idv_zone_entry(z, prev)->next = next;

    } else {
        z->free = next;
    }

    if (next) {
        ngx_yoti_idv_zone_entry(z, next)->sid_next = prev;
    }
}


/*
 * CLOCK, at most NGX_YOTI_IDV_ZONE_SCAN entries: the first expired or
 * unreferenced one, else the first whose bit the hand cleared; never a
 * fetch in progress.  The new key's own bucket entry (home) goes instead
 * when the hand would have taken it as well: expired when the victim is,
 * else never read since it came (unreferenced, and not spared by the hand
 * yet: a second chance lasts until the hand comes back); the key is then
 * found in one line pair, not two
 */

static uint32_t
ngx_yoti_idv_zone_evict(ngx_yoti_idv_zone_t *z, uint32_t home, uint64_t now)
{
    uint32_t                    i, n, first, victim;
    ngx_yoti_idv_zone_entry_t  *e, *h;

    first = 0;
    victim = 0;

    for (i = 0; i < NGX_YOTI_IDV_ZONE_SCAN && i < z->capacity; i++) {

        n = z->hand + 1;
        z->hand = (n == z->capacity) ? 0 : n;

        e = ngx_yoti_idv_zone_entry(z, n);

        if (!(e->flags & NGX_YOTI_IDV_ZONE_USED)) {
            continue;
        }

        if ((e->flags & NGX_YOTI_IDV_ZONE_FETCHING)
            && (int64_t) (e->lock - now) > 0)
        {
            continue;
        }

        if (ngx_yoti_idv_zone_expired(e, now)) {
            victim = n;
            break;
        }

        if (e->flags & NGX_YOTI_IDV_ZONE_REFERENCED) {
            e->flags &= ~NGX_YOTI_IDV_ZONE_REFERENCED;
            e->flags |= NGX_YOTI_IDV_ZONE_SPARED;

            if (first == 0) {
                first = n;
            }

            continue;
        }

        victim = n;
        break;
    }

    if (victim == 0) {
        victim = first;

        if (victim == 0) {
            return 0;
        }
    }

    h = ngx_yoti_idv_zone_entry(z, home);

    if (victim != home
        && (h->flags & NGX_YOTI_IDV_ZONE_USED)
        && !((h->flags & NGX_YOTI_IDV_ZONE_FETCHING)
             && (int64_t) (h->lock - now) > 0))
    {
        if (ngx_yoti_idv_zone_expired(h, now)
            || (!(h->flags & (NGX_YOTI_IDV_ZONE_REFERENCED
                              |NGX_YOTI_IDV_ZONE_SPARED))
                && !ngx_yoti_idv_zone_expired(
                        ngx_yoti_idv_zone_entry(z, victim), now)))
        {
            victim = home;
        }
    }

    if (!ngx_yoti_idv_zone_expired(ngx_yoti_idv_zone_entry(z, victim), now)) {
        z->evictions++;
    }

    ngx_yoti_idv_zone_unlink(z, victim);

    return victim;
}


static void
ngx_yoti_idv_zone_unchain(ngx_yoti_idv_zone_t *z, uint32_t *head,
    size_t next, uint32_t n)
{
    uint32_t  *p;

    for (p = head; *p; p = ngx_yoti_idv_zone_link(z, *p, next)) {

        if (*p == n) {
            *p = *ngx_yoti_idv_zone_link(z, n, next);
            return;
        }
    }
}


static void
ngx_yoti_idv_zone_dunlink(ngx_yoti_idv_zone_t *z, uint32_t *head,
    size_t next, size_t prev, uint32_t n)
{
    uint32_t  nx, pv;

    nx = *ngx_yoti_idv_zone_link(z, n, next);
    pv = *ngx_yoti_idv_zone_link(z, n, prev);

    if (pv) {
        *ngx_yoti_idv_zone_link(z, pv, next) = nx;

    } else {
        *head = nx;
    }

    if (nx) {
        *ngx_yoti_idv_zone_link(z, nx, prev) = pv;
    }
}


static void
ngx_yoti_idv_zone_dpush(ngx_yoti_idv_zone_t *z, uint32_t *head,
    size_t next, size_t prev, uint32_t n)
{
    *ngx_yoti_idv_zone_link(z, n, next) = *head;
    *ngx_yoti_idv_zone_link(z, n, prev) = 0;

    if (*head) {
        *ngx_yoti_idv_zone_link(z, *head, prev) = n;
    }

    *head = n;
}


/* out of every index; the caller frees or reuses it */

static void
ngx_yoti_idv_zone_unlink(ngx_yoti_idv_zone_t *z, uint32_t n)
{
    uint32_t                    b;
    ngx_yoti_idv_zone_entry_t  *e;

    e = ngx_yoti_idv_zone_entry(z, n);

    b = ngx_yoti_idv_zone_bucket(z, e->key[0]);
    ngx_yoti_idv_zone_unchain(z, &ngx_yoti_idv_zone_entry(z, b)->key_head,
                              offsetof(ngx_yoti_idv_zone_entry_t, next), n);

    b = ngx_yoti_idv_zone_bucket(z, e->uid);
    ngx_yoti_idv_zone_dunlink(z, &ngx_yoti_idv_zone_entry(z, b)->uid_head,
                              ngx_yoti_idv_zone_off(uid_next),
                              ngx_yoti_idv_zone_off(uid_prev), n);

    if (e->flags & NGX_YOTI_IDV_ZONE_SID) {
        b = ngx_yoti_idv_zone_bucket(z, ngx_yoti_idv_zone_hash64(z, e->sid,
                                                               e->sid_len));
        ngx_yoti_idv_zone_dunlink(z, &ngx_yoti_idv_zone_entry(z, b)->sid_head,
                                  ngx_yoti_idv_zone_off(sid_next),
                                  ngx_yoti_idv_zone_off(sid_prev), n);
    }

    e->flags = 0;
    e->next = 0;
    e->sid_next = 0;
    e->uid_next = 0;
    e->sid_prev = 0;
    e->uid_prev = 0;

    z->count--;
}


/*
 * the verdict of entry "from" (in use) to entry "to" (in no index), every
 * index following it; the bucket heads stay where they are.  "from" is
 * left in no index, not free: the caller's
 */

static void
ngx_yoti_idv_zone_move(ngx_yoti_idv_zone_t *z, uint32_t from, uint32_t to)
{
    uint32_t                    b, *p;
    ngx_yoti_idv_zone_entry_t  *e, *t;

    e = ngx_yoti_idv_zone_entry(z, from);
    t = ngx_yoti_idv_zone_entry(z, to);

    b = ngx_yoti_idv_zone_bucket(z, e->key[0]);

    for (p = &ngx_yoti_idv_zone_entry(z, b)->key_head;
         *p != from;
         p = &ngx_yoti_idv_zone_entry(z, *p)->next)
    {
        /* void */
    }

    *p = to;

    b = ngx_yoti_idv_zone_bucket(z, e->uid);
    ngx_yoti_idv_zone_relink(z, &ngx_yoti_idv_zone_entry(z, b)->uid_head,
                             ngx_yoti_idv_zone_off(uid_next),
                             ngx_yoti_idv_zone_off(uid_prev), from, to);

    if (e->flags & NGX_YOTI_IDV_ZONE_SID) {
        b = ngx_yoti_idv_zone_bucket(z, ngx_yoti_idv_zone_hash64(z, e->sid,
                                                               e->sid_len));
        ngx_yoti_idv_zone_relink(z, &ngx_yoti_idv_zone_entry(z, b)->sid_head,
                                 ngx_yoti_idv_zone_off(sid_next),
                                 ngx_yoti_idv_zone_off(sid_prev), from, to);
    }

    t->key[0] = e->key[0];
    t->key[1] = e->key[1];
    t->expire = e->expire;
    t->lock = e->lock;
    t->next = e->next;
    t->gen = e->gen;
    t->reason = e->reason;
    t->verdict = e->verdict;
    t->flags = e->flags;
    t->sid_len = e->sid_len;
    memcpy(t->sid, e->sid, NGX_YOTI_IDV_ZONE_SID_LEN);
    t->uid = e->uid;
    t->sid_next = e->sid_next;
    t->uid_next = e->uid_next;
    t->sid_prev = e->sid_prev;
    t->uid_prev = e->uid_prev;
    t->stale = e->stale;

    e->flags = 0;
    e->next = 0;
    e->sid_next = 0;
    e->uid_next = 0;
    e->sid_prev = 0;
    e->uid_prev = 0;
}


/* a doubly linked chain: "to" where "from" was */

static void
ngx_yoti_idv_zone_relink(ngx_yoti_idv_zone_t *z, uint32_t *head,
    size_t next, size_t prev, uint32_t from, uint32_t to)
{
    uint32_t  nx, pv;

    nx = *ngx_yoti_idv_zone_link(z, from, next);
    pv = *ngx_yoti_idv_zone_link(z, from, prev);

    if (pv) {
        *ngx_yoti_idv_zone_link(z, pv, next) = to;

    } else {
        *head = to;
    }

    if (nx) {
        *ngx_yoti_idv_zone_link(z, nx, prev) = to;
    }
}


void
ngx_yoti_idv_zone_remove(ngx_yoti_idv_zone_t *z, uint32_t n)
{
    ngx_yoti_idv_zone_entry_t  *e;

    ngx_yoti_idv_zone_unlink(z, n);

    e = ngx_yoti_idv_zone_entry(z, n);

    e->next = z->free;
    e->sid_next = 0;

    if (z->free) {
        ngx_yoti_idv_zone_entry(z, z->free)->sid_next = n;
    }

    z->free = n;
}


int
ngx_yoti_idv_zone_set_sid(ngx_yoti_idv_zone_t *z, uint32_t n,
    const unsigned char *sid, size_t len)
{
    uint32_t                    b;
    ngx_yoti_idv_zone_entry_t  *e;

    if (len > NGX_YOTI_IDV_ZONE_SID_LEN) {
        return -1;
    }

    e = ngx_yoti_idv_zone_entry(z, n);

    if (e->flags & NGX_YOTI_IDV_ZONE_SID) {

        if (e->sid_len == len && (len == 0 || memcmp(e->sid, sid, len) == 0))
        {
            return 0;
        }

        b = ngx_yoti_idv_zone_bucket(z, ngx_yoti_idv_zone_hash64(z, e->sid,
                                                               e->sid_len));
        ngx_yoti_idv_zone_dunlink(z, &ngx_yoti_idv_zone_entry(z, b)->sid_head,
                                  ngx_yoti_idv_zone_off(sid_next),
                                  ngx_yoti_idv_zone_off(sid_prev), n);

        e->flags &= ~NGX_YOTI_IDV_ZONE_SID;
    }

    e->sid_len = (uint8_t) len;

    if (len == 0) {
        /* no session yet: sid may be NULL, nothing to copy or index */
        return 0;
    }

    memcpy(e->sid, sid, len);

    b = ngx_yoti_idv_zone_bucket(z, ngx_yoti_idv_zone_hash64(z, sid, len));

    ngx_yoti_idv_zone_dpush(z, &ngx_yoti_idv_zone_entry(z, b)->sid_head,
                            ngx_yoti_idv_zone_off(sid_next),
                            ngx_yoti_idv_zone_off(sid_prev), n);
    e->flags |= NGX_YOTI_IDV_ZONE_SID;

    return 0;
}


size_t
ngx_yoti_idv_zone_invalidate_sid(ngx_yoti_idv_zone_t *z,
    const unsigned char *sid, size_t len)
{
    size_t                      gone;
    uint32_t                    n, next;
    ngx_yoti_idv_zone_entry_t  *e;

    /* a fetch in flight for a session not yet known may be for this one */
    z->drops++;

    if (len == 0 || len > NGX_YOTI_IDV_ZONE_SID_LEN) {
        return 0;
    }

    n = ngx_yoti_idv_zone_entry(z, ngx_yoti_idv_zone_bucket(z,
                                  ngx_yoti_idv_zone_hash64(z, sid, len)))
            ->sid_head;

    gone = 0;

    while (n) {
        e = ngx_yoti_idv_zone_entry(z, n);
        next = e->sid_next;

        if (e->sid_len == len && memcmp(e->sid, sid, len) == 0) {
            ngx_yoti_idv_zone_remove(z, n);
            gone++;
        }

        n = next;
    }

    return gone;
}


size_t
ngx_yoti_idv_zone_invalidate_uid(ngx_yoti_idv_zone_t *z, uint64_t uid)
{
    size_t                      gone;
    uint32_t                    n, next;
    ngx_yoti_idv_zone_entry_t  *e;

    z->drops++;

    n = ngx_yoti_idv_zone_entry(z, ngx_yoti_idv_zone_bucket(z, uid))
            ->uid_head;

    gone = 0;

    while (n) {
        e = ngx_yoti_idv_zone_entry(z, n);
        next = e->uid_next;

        if (e->uid == uid) {
            ngx_yoti_idv_zone_remove(z, n);
            gone++;
        }

        n = next;
    }

    return gone;
}


void
ngx_yoti_idv_zone_flush(ngx_yoti_idv_zone_t *z)
{
    uint32_t  drops;

    drops = z->drops;

    ngx_yoti_idv_zone_reset(z);

    z->drops = drops + 1;
}


uint16_t
ngx_yoti_idv_zone_reason_id(ngx_yoti_idv_zone_t *z, const char *reason,
    size_t len)
{
    uint32_t                     i;
    ngx_yoti_idv_zone_reason_t  *r;

    if (len >= NGX_YOTI_IDV_ZONE_REASON_LEN) {
        return NGX_YOTI_IDV_ZONE_NO_REASON;
    }

    r = (ngx_yoti_idv_zone_reason_t *) ((unsigned char *) z
                                        + z->reasons_off);

    for (i = 0; i < z->nreasons; i++) {
        if (r[i].len == len && memcmp(r[i].data, reason, len) == 0) {
            return (uint16_t) i;
        }
    }

    if (z->nreasons == z->reasons_max) {
        return NGX_YOTI_IDV_ZONE_NO_REASON;
    }

    r[i].len = (unsigned char) len;
    memcpy(r[i].data, reason, len);

    z->nreasons++;

    return (uint16_t) i;
}


const ngx_yoti_idv_zone_reason_t *
ngx_yoti_idv_zone_reason(const ngx_yoti_idv_zone_t *z, uint16_t id)
{
    if (id >= z->nreasons) {
        return NULL;
    }

    return (const ngx_yoti_idv_zone_reason_t *)
               ((const unsigned char *) z + z->reasons_off) + id;
}


void
ngx_yoti_idv_zone_stats(const ngx_yoti_idv_zone_t *z,
    ngx_yoti_idv_zone_stats_t *st)
{
    st->entries = z->count;
    st->capacity = z->capacity;
    st->bytes_total = z->size;
    st->bytes_used = z->entries_off
                     + (size_t) z->count * NGX_YOTI_IDV_ZONE_ENTRY_SIZE;
    st->evictions = z->evictions;
}


void
ngx_yoti_idv_zone_chains(const ngx_yoti_idv_zone_t *z, size_t *hist,
    size_t n)
{
    size_t                            len;
    uint32_t                          b, i;
    const ngx_yoti_idv_zone_entry_t  *e;

    e = (const ngx_yoti_idv_zone_entry_t *) ((const unsigned char *) z
                                             + z->entries_off);

    memset(hist, 0, n * sizeof(size_t));

    for (b = 0; b < z->capacity; b++) {
        len = 0;

        for (i = e[b].key_head; i; i = e[i - 1].next) {
            len++;
        }

        hist[len < n ? len : n - 1]++;
    }
}
