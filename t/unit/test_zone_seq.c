
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * The zone's lock-free lookup (ngx_yoti_idv_zone_read()) against a writer
 * in another process, on shared memory as nginx has it: the writer keeps
 * adding, rewriting (every field of an entry from one number, its session
 * id too) and removing entries of a small zone, so chains change, entries
 * move between keys and eviction runs; two readers look keys up without
 * any lock and check every entry they are given is whole: the key's own,
 * all its fields from the same write.  A reader that copies without the
 * seqlock's check runs too, to show the writer does tear entries.
 */


#define _DEFAULT_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "tap.h"
#include "ngx_yoti_idv_zone.h"


#define KEYS       600
#define SECONDS    1.0


typedef struct {
    volatile int       stop;
    uint64_t           hits[3];
    uint64_t           torn[3];
    uint64_t           busy[3];
    uint64_t           misses[3];
    uint64_t           writes;
} shared_t;


static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
make_key(uint64_t k, uint64_t key[2])
{
    key[0] = (k + 1) * 0x9e3779b97f4a7c15ULL;
    key[1] = k ^ 0x5555;
}


/* every field of the entry from v, its session id too */

static void
write_entry(ngx_yoti_idv_zone_t *z, uint32_t n, uint64_t v)
{
    size_t                      len, i;
    unsigned char               sid[NGX_YOTI_IDV_ZONE_SID_LEN];
    ngx_yoti_idv_zone_entry_t  *e;

    e = ngx_yoti_idv_zone_entry(z, n);

    len = 1 + v % NGX_YOTI_IDV_ZONE_SID_LEN;

    for (i = 0; i < len; i++) {
        sid[i] = (unsigned char) (v + i);
    }

    e->expire = v;
    e->verdict = (uint8_t) v;
    e->gen = (uint32_t) v;
    (void) ngx_yoti_idv_zone_set_sid(z, n, sid, len);
    e->reason = (uint16_t) (v & 0x7fff);
    e->lock = v;
    e->stale = v;
}


/* 0: whole */

static int
check_entry(const ngx_yoti_idv_zone_entry_t *e, uint64_t k)
{
    size_t    i;
    uint64_t  v, key[2];

    make_key(k, key);

    if (e->key[0] != key[0] || e->key[1] != key[1] || e->uid != k) {
        return 1;
    }

    v = e->expire;

    if (e->lock != v || e->stale != v || e->gen != (uint32_t) v
        || e->verdict != (uint8_t) v || e->reason != (uint16_t) (v & 0x7fff)
        || e->sid_len != 1 + v % NGX_YOTI_IDV_ZONE_SID_LEN)
    {
        return 1;
    }

    for (i = 0; i < e->sid_len; i++) {
        if (e->sid[i] != (unsigned char) (v + i)) {
            return 1;
        }
    }

    return 0;
}


static void
writer(ngx_yoti_idv_zone_t *z, shared_t *sh)
{
    uint32_t  n;
    uint64_t  k, v, key[2], r;

    r = 88172645463325252ULL;
    v = 1;

    while (!sh->stop) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;

        k = r % KEYS;
        make_key(k, key);

        ngx_yoti_idv_zone_write_begin(z);

        n = ngx_yoti_idv_zone_find(z, key);

        if (n && (r >> 32) % 4 == 0) {
            ngx_yoti_idv_zone_remove(z, n);

        } else {
            if (n == 0) {
                n = ngx_yoti_idv_zone_add(z, key, k, 1);
            }

            if (n) {
                write_entry(z, n, v++);
            }
        }

        ngx_yoti_idv_zone_write_end(z);

        sh->writes++;
    }
}


/* the same walk as zone_read(), with no seqlock: bounded, a plain copy */

static int
raw_read(ngx_yoti_idv_zone_t *z, const uint64_t key[2],
    ngx_yoti_idv_zone_entry_t *out)
{
    uint32_t                             n, b, steps;
    volatile ngx_yoti_idv_zone_entry_t  *e;

    b = (uint32_t) (((key[0] & 0xffffffff) * z->capacity) >> 32) + 1;
    e = ngx_yoti_idv_zone_entry(z, b);

    if ((e->flags & NGX_YOTI_IDV_ZONE_USED)
        && e->key[0] == key[0] && e->key[1] == key[1])
    {
        memcpy(out, (void *) e, sizeof(*out));
        return 1;
    }

    n = e->key_head;

    for (steps = 0; n && n <= z->capacity && steps < 64; steps++) {
        e = ngx_yoti_idv_zone_entry(z, n);

        if (e->key[0] == key[0] && e->key[1] == key[1]) {
            memcpy(out, (void *) e, sizeof(*out));
            return 1;
        }

        n = e->next;
    }

    return 0;
}


/* mode 0, 1: through zone_read(); 2: a plain copy, no seqlock */

static void
reader(ngx_yoti_idv_zone_t *z, shared_t *sh, int mode)
{
    int                        rc;
    uint32_t                   n;
    uint64_t                   k, key[2], r;
    ngx_yoti_idv_zone_entry_t  e;

    r = 0x2545f4914f6cdd1dULL + mode;

    while (!sh->stop) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;

        k = r % KEYS;
        make_key(k, key);

        if (mode < 2) {
            rc = ngx_yoti_idv_zone_read(z, key, &e, &n);

        } else {
            rc = raw_read(z, key, &e);
        }

        if (rc == -1) {
            sh->busy[mode]++;

        } else if (rc == 0) {
            sh->misses[mode]++;

        } else if (check_entry(&e, k)) {
            sh->torn[mode]++;

        } else {
            sh->hits[mode]++;
        }
    }
}


int
main(void)
{
    int                   i, status;
    void                 *mem;
    pid_t                 pid[4];
    size_t                size;
    double                t;
    uint64_t              seed[2] = { 3, 4 };
    shared_t             *sh;
    ngx_yoti_idv_zone_t  *z;

    size = 65536;

    mem = mmap(NULL, size + 4096, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return 1;
    }

    sh = mem;
    memset(sh, 0, sizeof(shared_t));

    z = ngx_yoti_idv_zone_init((char *) mem + 4096, size, seed);
    if (z == NULL) {
        return 1;
    }

    /* more keys than entries: adds evict */
    ok(z->capacity < KEYS, "%u entries for %d keys", z->capacity, KEYS);

    for (i = 0; i < 4; i++) {
        pid[i] = fork();

        if (pid[i] == 0) {
            if (i == 3) {
                writer(z, sh);

            } else {
                reader(z, sh, i);
            }

            _exit(0);
        }
    }

    t = now_s();

    while (now_s() - t < SECONDS) {
        usleep(10000);
    }

    sh->stop = 1;

    for (i = 0; i < 4; i++) {
        waitpid(pid[i], &status, 0);
    }

    ok(sh->writes > 10000, "the writer made %llu changes",
       (unsigned long long) sh->writes);

    for (i = 0; i < 2; i++) {
        ok(sh->hits[i] > 1000 && sh->torn[i] == 0,
           "reader %d: %llu whole entries, %llu torn, %llu misses, "
           "%llu given up to the lock", i,
           (unsigned long long) sh->hits[i], (unsigned long long) sh->torn[i],
           (unsigned long long) sh->misses[i],
           (unsigned long long) sh->busy[i]);
    }

    printf("# without the seqlock's check: %llu whole, %llu torn\n",
           (unsigned long long) sh->hits[2], (unsigned long long) sh->torn[2]);

    munmap(mem, size + 4096);

    return tap_done();
}
