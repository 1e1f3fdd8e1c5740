
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_YOTI_IDV_ZONE_H_INCLUDED_
#define _NGX_YOTI_IDV_ZONE_H_INCLUDED_


/*
 * The table of yoti_idv_cache_zone, on its own: no nginx headers, no
 * locking (the caller holds the zone's mutex), so it can be unit tested
 * and fuzzed on a malloc()ed block.
 *
 * One block holds a header, the reasons' table and an array of 128-byte
 * entries, 128-byte aligned, allocated once.  Entry i also holds the heads
 * of bucket i of the three indexes (by key, by session id, by user id),
 * so a key whose entry sits in its own bucket (the usual case while the
 * bucket's entry is free when the key arrives) is found in one 128-byte
 * line pair, and any other in two.  Every index is a chain of entry
 * numbers (1-based, 0 ends it), no pointers: the block means the same in
 * every process.
 *
 * Keys are a 128-bit SipHash-1-3 of the full cache key, keyed with 128
 * random bits of the zone (set once, kept across reloads, never leave the
 * zone): a PRF, so nobody who does not know the key can make two keys
 * collide, and at a million entries the chance that two of them do by
 * accident is about 2^-89.  The entry does not keep the key itself.
 *
 * Eviction is CLOCK: a hit sets the entry's "referenced" bit (a write
 * only when it was clear: a hot entry is only read), the hand clears it
 * when it passes, and an entry the hand finds expired or unreferenced
 * goes (expired: past both "expire" and "stale").  No list head is
 * rewritten on a hit.  A new key takes its own bucket's entry when the
 * hand would have taken that one as well (see zone_evict()), and a lookup
 * looks at the bucket's own entry first: under churn most keys are found
 * in one line pair.
 */


#include <stddef.h>
#include <stdint.h>


#define NGX_YOTI_IDV_ZONE_ENTRY_SIZE   128
#define NGX_YOTI_IDV_ZONE_SID_LEN      39
#define NGX_YOTI_IDV_ZONE_REASON_LEN   96       /* NGX_YOTI_IDV_REASON_LEN */
#define NGX_YOTI_IDV_ZONE_NO_REASON    0xffff

/* how far the hand goes for one eviction */
#define NGX_YOTI_IDV_ZONE_SCAN         64

/* flags */
#define NGX_YOTI_IDV_ZONE_USED         0x01
#define NGX_YOTI_IDV_ZONE_FETCHING     0x02
#define NGX_YOTI_IDV_ZONE_REFERENCED   0x04
#define NGX_YOTI_IDV_ZONE_SID          0x08     /* in the session index */
#define NGX_YOTI_IDV_ZONE_SPARED       0x10     /* the hand cleared REF */


typedef struct {
    /* the first line: what a lookup reads; a hit reads the session too */
    uint64_t                   key[2];      /* SipHash-1-3-128 of the key */
    uint64_t                   expire;      /* msec: the verdict's end */
    uint64_t                   lock;        /* msec: the fetch's deadline */
    uint32_t                   key_head;    /* bucket i of the key index */
    uint32_t                   next;        /* the key chain; free: next */
    uint32_t                   gen;         /* the zone's store count */
    uint16_t                   reason;      /* into the reasons' table */
    uint8_t                    verdict;
    uint8_t                    flags;
    uint8_t                    sid_len;
    unsigned char              sid[NGX_YOTI_IDV_ZONE_SID_LEN];

    uint64_t                   uid;         /* hash of the user id */
    uint32_t                   sid_head;    /* bucket i: session index */
    uint32_t                   uid_head;    /* bucket i: user index */

    /*
     * doubly linked: one session or one user may have many entries (an
     * id sent with many others), and an entry leaves in O(1)
     */
    uint32_t                   sid_next;    /* free: the previous one */
    uint32_t                   uid_next;
    uint32_t                   sid_prev;
    uint32_t                   uid_prev;

    /*
     * msec: the end of the verdict's stale window (yoti_idv_cache_use_stale),
     * at or after "expire"; the entry is expired for eviction only when
     * both have passed
     */
    uint64_t                   stale;
} ngx_yoti_idv_zone_entry_t;


typedef struct {
    unsigned char              len;
    unsigned char              data[NGX_YOTI_IDV_ZONE_REASON_LEN - 1];
} ngx_yoti_idv_zone_reason_t;


typedef struct {
    uint64_t                   magic;
    uint64_t                   seed[2];
    size_t                     size;        /* the whole block */
    size_t                     entries_off; /* from the block's start */
    size_t                     reasons_off;
    uint32_t                   capacity;
    uint32_t                   count;       /* entries in use */
    uint32_t                   free;        /* the free list's head */
    uint32_t                   hand;        /* 0 .. capacity - 1 */
    uint32_t                   gen;
    uint32_t                   nreasons;
    uint32_t                   reasons_max;
    uint32_t                   drops;       /* invalidations, flushes */
    uint64_t                   evictions;   /* of unexpired entries */
    uint64_t                   seq;         /* odd: a writer is in it */
} ngx_yoti_idv_zone_t;


typedef struct {
    size_t                     entries;
    size_t                     capacity;
    size_t                     bytes_used;
    size_t                     bytes_total;
    uint64_t                   evictions;
} ngx_yoti_idv_zone_stats_t;


#define ngx_yoti_idv_zone_entries(z)                                         \
    ((ngx_yoti_idv_zone_entry_t *) ((unsigned char *) (z) + (z)->entries_off))

/* past its verdict and its stale window */
#define ngx_yoti_idv_zone_expired(e, now)                                    \
    ((int64_t) ((e)->expire - (now)) <= 0 && (int64_t) ((e)->stale - (now)) <= 0)

/* n: 1 .. capacity */
#define ngx_yoti_idv_zone_entry(z, n)  (&ngx_yoti_idv_zone_entries(z)[(n) - 1])


/* the zone in mem (size bytes, 8-byte aligned); NULL: too small */
ngx_yoti_idv_zone_t *ngx_yoti_idv_zone_init(void *mem, size_t size,
    const uint64_t seed[2]);
/* MADV_HUGEPAGE on the block, before the init: 0, or -1 */
int ngx_yoti_idv_zone_huge(void *mem, size_t size);
/* what a zone of this size holds */
size_t ngx_yoti_idv_zone_capacity(size_t size);

void ngx_yoti_idv_zone_hash(const ngx_yoti_idv_zone_t *z, const void *p,
    size_t len, uint64_t key[2]);
uint64_t ngx_yoti_idv_zone_hash64(const ngx_yoti_idv_zone_t *z,
    const void *p, size_t len);

/* SipHash-c-d, 64 or 128 bits out (outlen 8 or 16), as the reference */
void ngx_yoti_idv_siphash(const void *in, size_t inlen, const uint64_t k[2],
    int c, int d, unsigned char *out, size_t outlen);

/*
 * The seqlock of lookups without the mutex (zone_read()): whoever changes
 * the table, under the mutex, does it between write_begin() and
 * write_end(); a reader copies what it needs out and takes it only when
 * "seq" was even and is unchanged after.
 */

static inline void
ngx_yoti_idv_zone_write_begin(ngx_yoti_idv_zone_t *z)
{
    __atomic_store_n(&z->seq, z->seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}


static inline void
ngx_yoti_idv_zone_write_end(ngx_yoti_idv_zone_t *z)
{
    __atomic_store_n(&z->seq, z->seq + 1, __ATOMIC_RELEASE);
}


/*
 * without the mutex: a consistent copy of the entry of the key in *out
 * and its number in *n: 1; none: 0; a writer got in the way (each time
 * of a few tries): -1, and the caller takes the mutex
 */
int ngx_yoti_idv_zone_read(const ngx_yoti_idv_zone_t *z,
    const uint64_t key[2], ngx_yoti_idv_zone_entry_t *out, uint32_t *n);

/* the entry of the key: its number, or 0 */
uint32_t ngx_yoti_idv_zone_find(ngx_yoti_idv_zone_t *z,
    const uint64_t key[2]);

/*
 * a new entry for the key (not in the zone), of the user: a free one, or
 * the one the hand evicts; 0 when every entry it looked at is a fetch in
 * progress
 */
uint32_t ngx_yoti_idv_zone_add(ngx_yoti_idv_zone_t *z, const uint64_t key[2],
    uint64_t uid, uint64_t now);
void ngx_yoti_idv_zone_remove(ngx_yoti_idv_zone_t *z, uint32_t n);

/* the session of entry n, in the session index; -1: too long */
int ngx_yoti_idv_zone_set_sid(ngx_yoti_idv_zone_t *z, uint32_t n,
    const unsigned char *sid, size_t len);

/* how many entries went */
size_t ngx_yoti_idv_zone_invalidate_sid(ngx_yoti_idv_zone_t *z,
    const unsigned char *sid, size_t len);
size_t ngx_yoti_idv_zone_invalidate_uid(ngx_yoti_idv_zone_t *z,
    uint64_t uid);
void ngx_yoti_idv_zone_flush(ngx_yoti_idv_zone_t *z);

/* the reason's id, once; NGX_YOTI_IDV_ZONE_NO_REASON: the table is full */
uint16_t ngx_yoti_idv_zone_reason_id(ngx_yoti_idv_zone_t *z,
    const char *reason, size_t len);
const ngx_yoti_idv_zone_reason_t *ngx_yoti_idv_zone_reason(
    const ngx_yoti_idv_zone_t *z, uint16_t id);

void ngx_yoti_idv_zone_stats(const ngx_yoti_idv_zone_t *z,
    ngx_yoti_idv_zone_stats_t *st);

/* the chain lengths of the key index: hist[i] buckets with i entries */
void ngx_yoti_idv_zone_chains(const ngx_yoti_idv_zone_t *z, size_t *hist,
    size_t n);


#endif /* _NGX_YOTI_IDV_ZONE_H_INCLUDED_ */
