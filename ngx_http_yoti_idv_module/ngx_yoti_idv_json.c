
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ngx_yoti_idv_json.h"


#if defined(__SANITIZE_ADDRESS__)
#define NGX_YOTI_IDV_ARENA_ASAN  1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NGX_YOTI_IDV_ARENA_ASAN  1
#endif
#endif

#ifdef NGX_YOTI_IDV_ARENA_ASAN
#include <sanitizer/asan_interface.h>
/* a poisoned gap after every allocation: ASan sees an overrun */
#define NGX_YOTI_IDV_ARENA_REDZONE     16
#define ngx_yoti_idv_arena_poison(p, n)    ASAN_POISON_MEMORY_REGION(p, n)
#define ngx_yoti_idv_arena_unpoison(p, n)  ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define NGX_YOTI_IDV_ARENA_REDZONE     0
#define ngx_yoti_idv_arena_poison(p, n)
#define ngx_yoti_idv_arena_unpoison(p, n)
#endif


/* malloc()'s own guarantee on the platforms nginx builds for */
#define NGX_YOTI_IDV_ARENA_ALIGN  16

#define ngx_yoti_idv_arena_align(n)                                          \
    (((n) + (NGX_YOTI_IDV_ARENA_ALIGN - 1))                                  \
     & ~((size_t) NGX_YOTI_IDV_ARENA_ALIGN - 1))

#define NGX_YOTI_IDV_ARENA_HEADER                                            \
    ngx_yoti_idv_arena_align(sizeof(ngx_yoti_idv_arena_block_t))

#define ngx_yoti_idv_arena_data(b)                                           \
    ((unsigned char *) (b) + NGX_YOTI_IDV_ARENA_HEADER)


static ngx_yoti_idv_arena_block_t *ngx_yoti_idv_arena_block(
    ngx_yoti_idv_arena_t *a, size_t need);
static void ngx_yoti_idv_json_init(void);
static int ngx_yoti_idv_json_mine(void);
static void ngx_yoti_idv_json_release(ngx_yoti_idv_arena_t *a);
static void *ngx_yoti_idv_json_malloc(size_t size);
static void ngx_yoti_idv_json_free(void *p);


/*
 * One arena in the process, used by one thread: the first that parses (an
 * nginx worker's only thread; fork() keeps its id).  A parse in any other
 * thread, and cJSON used meanwhile by anything else in another thread, get
 * plain malloc() and free().  Globals and pthread_self(), not __thread: a
 * thread-local variable of a dlopen()ed module costs a __tls_get_addr()
 * call per node (3% of a 500 KB session's cold path).
 */

static ngx_yoti_idv_arena_t   ngx_yoti_idv_json_arena_g;
static ngx_yoti_idv_arena_t  *ngx_yoti_idv_json_active;
static pthread_t              ngx_yoti_idv_json_owner;
static int                    ngx_yoti_idv_json_owned;
static unsigned               ngx_yoti_idv_json_depth;

static int  ngx_yoti_idv_json_mode = -1;     /* -1: not decided yet */
static int  ngx_yoti_idv_json_hooked;


void
ngx_yoti_idv_arena_init(ngx_yoti_idv_arena_t *a, size_t first, size_t limit,
    size_t keep)
{
    memset(a, 0, sizeof(ngx_yoti_idv_arena_t));

    a->first = first ? first : NGX_YOTI_IDV_ARENA_FIRST;
    a->limit = limit ? limit : NGX_YOTI_IDV_ARENA_LIMIT;
    a->keep = keep;
}


void *
ngx_yoti_idv_arena_alloc(ngx_yoti_idv_arena_t *a, size_t size)
{
    size_t                       n;
    unsigned char               *p;
    ngx_yoti_idv_arena_block_t  *b;

    if (size > a->limit) {
        a->failed = 1;
        return NULL;
    }

    n = ngx_yoti_idv_arena_align(size ? size : 1) + NGX_YOTI_IDV_ARENA_REDZONE;

    /* the current block, else the next kept one with room: blocks move
     * only forward until a reset, and never move in memory */

    for (b = a->current; b != NULL; b = b->next) {
        if (b->size - b->used >= n) {
            break;
        }
    }

    if (b == NULL) {
        b = ngx_yoti_idv_arena_block(a, n);
        if (b == NULL) {
            a->failed = 1;
            return NULL;
        }
    }

    a->current = b;

    p = ngx_yoti_idv_arena_data(b) + b->used;
    b->used += n;

    ngx_yoti_idv_arena_unpoison(p, size);

    return p;
}


/* a new block at the end of the chain: at least "need" bytes */

static ngx_yoti_idv_arena_block_t *
ngx_yoti_idv_arena_block(ngx_yoti_idv_arena_t *a, size_t need)
{
    size_t                       size;
    ngx_yoti_idv_arena_block_t  *b, **last;

    if (a->head == NULL) {
        size = a->first;

    } else {
        /* double what there is, up to the maximum block */
        size = a->total;

        if (size > NGX_YOTI_IDV_ARENA_BLOCK_MAX) {
            size = NGX_YOTI_IDV_ARENA_BLOCK_MAX;
        }
    }

    if (size < need) {
        size = need;
    }

    if (size > a->limit || a->total > a->limit - size) {
        size = a->limit - a->total;

        if (a->total >= a->limit || size < need) {
            return NULL;
        }
    }

    b = malloc(NGX_YOTI_IDV_ARENA_HEADER + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = NULL;
    b->size = size;
    b->used = 0;

    ngx_yoti_idv_arena_poison(ngx_yoti_idv_arena_data(b), size);

    for (last = &a->head; *last != NULL; last = &(*last)->next) {
        /* void */
    }

    *last = b;

    a->total += size;
    a->blocks++;

    return b;
}


int
ngx_yoti_idv_arena_owns(const ngx_yoti_idv_arena_t *a, const void *p)
{
    uintptr_t                    u, d;
    ngx_yoti_idv_arena_block_t  *b;

    u = (uintptr_t) p;

    for (b = a->head; b != NULL; b = b->next) {
        d = (uintptr_t) ngx_yoti_idv_arena_data(b);

        if (u >= d && u < d + b->size) {
            return 1;
        }
    }

    return 0;
}


/* everything allocated is gone; the blocks up to "keep" bytes stay */

void
ngx_yoti_idv_arena_reset(ngx_yoti_idv_arena_t *a)
{
    size_t                       kept;
    ngx_yoti_idv_arena_block_t  *b, *next, **link;

    kept = 0;
    link = &a->head;

    for (b = a->head; b != NULL; b = next) {
        next = b->next;

        if (b == a->head || kept + b->size <= a->keep) {
            kept += b->size;
            b->used = 0;
            ngx_yoti_idv_arena_poison(ngx_yoti_idv_arena_data(b), b->size);
            *link = b;
            link = &b->next;
            continue;
        }

        ngx_yoti_idv_arena_unpoison(ngx_yoti_idv_arena_data(b), b->size);
        free(b);
        a->blocks--;
    }

    *link = NULL;

    a->total = kept;
    a->current = a->head;
    a->failed = 0;
}


void
ngx_yoti_idv_arena_destroy(ngx_yoti_idv_arena_t *a)
{
    ngx_yoti_idv_arena_block_t  *b, *next;

    for (b = a->head; b != NULL; b = next) {
        next = b->next;
        ngx_yoti_idv_arena_unpoison(ngx_yoti_idv_arena_data(b), b->size);
        free(b);
    }

    a->head = NULL;
    a->current = NULL;
    a->total = 0;
    a->blocks = 0;
    a->failed = 0;
}


/* the hooks: only while a parse runs in this thread do they use the arena */

static void *
ngx_yoti_idv_json_malloc(size_t size)
{
    if (ngx_yoti_idv_json_active != NULL && ngx_yoti_idv_json_mine()) {
        return ngx_yoti_idv_arena_alloc(ngx_yoti_idv_json_active, size);
    }

    return malloc(size);
}


static void
ngx_yoti_idv_json_free(void *p)
{
    if (p == NULL) {
        return;
    }

    if (ngx_yoti_idv_json_owned && ngx_yoti_idv_json_mine()) {

        if (ngx_yoti_idv_json_active != NULL) {
            /* cJSON frees a failed parse's nodes: the reset takes them */
            return;
        }

        if (ngx_yoti_idv_arena_owns(&ngx_yoti_idv_json_arena_g, p)) {
            return;
        }
    }

    free(p);
}


static int
ngx_yoti_idv_json_mine(void)
{
    return pthread_equal(ngx_yoti_idv_json_owner, pthread_self());
}


static void
ngx_yoti_idv_json_init(void)
{
    const char   *env;
    cJSON_Hooks   hooks;

    if (ngx_yoti_idv_json_mode == -1) {
        env = getenv("YOTI_IDV_JSON_ARENA");
        ngx_yoti_idv_json_mode = !(env != NULL && strcmp(env, "off") == 0);
    }

    if (ngx_yoti_idv_json_mode == 1 && !ngx_yoti_idv_json_hooked) {
        hooks.malloc_fn = ngx_yoti_idv_json_malloc;
        hooks.free_fn = ngx_yoti_idv_json_free;
        cJSON_InitHooks(&hooks);
        ngx_yoti_idv_json_hooked = 1;
    }
}


void
ngx_yoti_idv_json_set_mode(int mode)
{
    ngx_yoti_idv_json_mode = mode;
    ngx_yoti_idv_json_init();
}


int
ngx_yoti_idv_json_arena_on(void)
{
    ngx_yoti_idv_json_init();

    return ngx_yoti_idv_json_mode == 1;
}


ngx_yoti_idv_arena_t *
ngx_yoti_idv_json_arena(void)
{
    return &ngx_yoti_idv_json_arena_g;
}


cJSON *
ngx_yoti_idv_json_parse(const char *json, size_t len, int require_null,
    size_t *end, int *nomem)
{
    int                    arena;
    char                  *buf;
    cJSON                 *root;
    const char            *stop;
    ngx_yoti_idv_arena_t  *a;

    if (end != NULL) {
        *end = (size_t) -1;
    }

    if (nomem != NULL) {
        *nomem = 0;
    }

    if (len == (size_t) -1) {
        if (nomem != NULL) {
            *nomem = 1;
        }

        return NULL;
    }

    arena = ngx_yoti_idv_json_arena_on();
    a = &ngx_yoti_idv_json_arena_g;

    if (arena) {
        if (!ngx_yoti_idv_json_owned) {
            ngx_yoti_idv_json_owner = pthread_self();
            ngx_yoti_idv_json_owned = 1;

        } else if (!ngx_yoti_idv_json_mine()) {
            arena = 0;
        }
    }

    if (arena) {
        if (a->first == 0) {
            ngx_yoti_idv_arena_init(a, NGX_YOTI_IDV_ARENA_FIRST,
                                    NGX_YOTI_IDV_ARENA_LIMIT,
                                    NGX_YOTI_IDV_ARENA_KEEP);
        }

        if (ngx_yoti_idv_json_depth == 0) {
            ngx_yoti_idv_arena_reset(a);
        }

        ngx_yoti_idv_json_depth++;
        ngx_yoti_idv_json_active = a;
        a->failed = 0;

        buf = ngx_yoti_idv_arena_alloc(a, len + 1);

    } else {
        buf = malloc(len + 1);
    }

    root = NULL;
    stop = NULL;

    if (buf != NULL) {
        if (len != 0) {
            memcpy(buf, json, len);
        }

        buf[len] = '\0';

        root = cJSON_ParseWithLengthOpts(buf, require_null ? len + 1 : len,
                                         &stop, require_null);
    }

    if (arena) {
        ngx_yoti_idv_json_active = NULL;
    }

    if (root == NULL) {
        if (end != NULL && buf != NULL && stop != NULL && stop >= buf
            && stop <= buf + len)
        {
            *end = (size_t) (stop - buf);
        }

        if (nomem != NULL) {
            *nomem = (buf == NULL || (arena && a->failed));
        }
    }

    if (!arena) {
        free(buf);

    } else if (root == NULL) {
        ngx_yoti_idv_json_release(a);
    }

    return root;
}


void
ngx_yoti_idv_json_delete(cJSON *root)
{
    ngx_yoti_idv_arena_t  *a;

    if (root == NULL) {
        return;
    }

    a = &ngx_yoti_idv_json_arena_g;

    if (!ngx_yoti_idv_json_owned || !ngx_yoti_idv_json_mine()) {
        /* parsed with malloc(): the arena was off, or another thread */
        cJSON_Delete(root);
        return;
    }

    if (!ngx_yoti_idv_arena_owns(a, root)) {
        /* malloc()'s: the arena was off, or another's hooks were set */
        cJSON_Delete(root);

        if (ngx_yoti_idv_json_mode != 1) {
            return;
        }
    }

    ngx_yoti_idv_json_release(a);
}


/* the end of one parse's turn: the last one resets the arena */

static void
ngx_yoti_idv_json_release(ngx_yoti_idv_arena_t *a)
{
    if (ngx_yoti_idv_json_depth == 0) {
        return;
    }

    if (--ngx_yoti_idv_json_depth == 0) {
        ngx_yoti_idv_arena_reset(a);
    }
}
