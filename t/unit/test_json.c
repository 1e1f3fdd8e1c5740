
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Unit tests of ngx_yoti_idv_json.c: the arena (growth over several
 * blocks, nothing moving, the limit, reuse without growth, what a reset
 * keeps) and the parses into it (nested, failed, too big, the hooks
 * outside a parse, the malloc() mode).
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "ngx_yoti_idv_json.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TEST_ASAN  1
#endif


static void
test_arena_growth(void)
{
    int                    i, good;
    unsigned char         *p[200];
    size_t                 total;
    unsigned               blocks;
    ngx_yoti_idv_arena_t   a;

    ngx_yoti_idv_arena_init(&a, 1024, 4 * 1024 * 1024, (size_t) -1);

    ok(a.head == NULL && a.blocks == 0, "nothing allocated before use");

    good = 1;

    for (i = 0; i < 200; i++) {
        p[i] = ngx_yoti_idv_arena_alloc(&a, 100 + i);

        if (p[i] == NULL || ((uintptr_t) p[i] & 15) != 0) {
            good = 0;
            break;
        }

        memset(p[i], i, 100 + i);
    }

    ok(good, "200 allocations, each 16-byte aligned");
    ok(a.blocks >= 4, "growth past several blocks (%u)", a.blocks);

    good = 1;

    for (i = 0; i < 200 && good; i++) {
        size_t  j;

        for (j = 0; j < (size_t) (100 + i); j++) {
            if (p[i][j] != (unsigned char) i) {
                good = 0;
                break;
            }
        }

        good = good && ngx_yoti_idv_arena_owns(&a, p[i]);
    }

    ok(good, "every allocation kept its bytes: blocks never move");

    ok(!ngx_yoti_idv_arena_owns(&a, &a), "a pointer elsewhere is not owned");

    /* one allocation bigger than a block of its own */
    p[0] = ngx_yoti_idv_arena_alloc(&a, 3 * NGX_YOTI_IDV_ARENA_BLOCK_MAX / 4);
    ok(p[0] != NULL, "a large allocation gets a block of its size");

    total = a.total;
    blocks = a.blocks;

    /* reuse: the same allocations again take no new block */

    ngx_yoti_idv_arena_reset(&a);

    ok(a.total == total && a.blocks == blocks,
       "keep=all: a reset keeps every block (%u)", blocks);

    for (i = 0; i < 200; i++) {
        p[i] = ngx_yoti_idv_arena_alloc(&a, 100 + i);
    }

    ok(a.blocks == blocks && a.total == total,
       "the same allocations after a reset: no new block");

    ngx_yoti_idv_arena_destroy(&a);

    ok(a.head == NULL && a.total == 0, "destroyed");
}


static void
test_arena_keep(void)
{
    int                    i;
    ngx_yoti_idv_arena_t   a;

    ngx_yoti_idv_arena_init(&a, 4096, 1024 * 1024, 8192);

    for (i = 0; i < 100; i++) {
        (void) ngx_yoti_idv_arena_alloc(&a, 1000);
    }

    ok(a.total > 8192 && a.blocks > 2, "grown to %lu bytes in %u blocks",
       (unsigned long) a.total, a.blocks);

    ngx_yoti_idv_arena_reset(&a);

    ok(a.total <= 8192 && a.blocks >= 1 && a.head != NULL,
       "a reset frees the blocks past keep=8192 (%lu kept)",
       (unsigned long) a.total);

    ok(ngx_yoti_idv_arena_alloc(&a, 10) != NULL, "usable after the reset");

    ngx_yoti_idv_arena_destroy(&a);
}


/* under ASan the arena poisons what is not handed out: overruns are seen */

static void
test_arena_poison(void)
{
#ifdef TEST_ASAN
    unsigned char         *p, *q;
    ngx_yoti_idv_arena_t   a;

    ngx_yoti_idv_arena_init(&a, 4096, 1024 * 1024, 0);

    p = ngx_yoti_idv_arena_alloc(&a, 10);
    q = ngx_yoti_idv_arena_alloc(&a, 10);

    ok(p != NULL && !__asan_address_is_poisoned(p)
       && !__asan_address_is_poisoned(p + 9), "ASan: an allocation is usable");
    ok(__asan_address_is_poisoned(p + 10) && __asan_address_is_poisoned(q - 1),
       "ASan: the bytes after it are poisoned (redzone)");
    ok(__asan_address_is_poisoned(q + 64), "ASan: the rest of the block too");

    ngx_yoti_idv_arena_reset(&a);

    ok(__asan_address_is_poisoned(p), "ASan: a reset poisons what was given");

    ngx_yoti_idv_arena_destroy(&a);
#else
    ok(1, "not built with ASan: no poisoning to check");
#endif
}


static void
test_arena_limit(void)
{
    int                    i, n;
    ngx_yoti_idv_arena_t   a;

    ngx_yoti_idv_arena_init(&a, 1024, 8192, 0);

    for (n = 0, i = 0; i < 1000; i++) {
        if (ngx_yoti_idv_arena_alloc(&a, 64) == NULL) {
            break;
        }

        n++;
    }

    ok(i < 1000 && a.failed, "the limit stops the arena (%d allocations)", n);
    ok(a.total <= 8192, "never more than the limit (%lu)",
       (unsigned long) a.total);
    ok(ngx_yoti_idv_arena_alloc(&a, 9000) == NULL,
       "an allocation above the limit fails");
    ok(ngx_yoti_idv_arena_alloc(&a, (size_t) -1) == NULL,
       "SIZE_MAX fails, no overflow");

    ngx_yoti_idv_arena_reset(&a);

    ok(!a.failed && ngx_yoti_idv_arena_alloc(&a, 64) != NULL,
       "a reset clears the failure");

    ngx_yoti_idv_arena_destroy(&a);
}


/* {"items":[{"id":"...","n":i,"ok":true,"tags":["a","b"]},...]} */

static char *
big_doc(size_t want, size_t *len)
{
    int     i;
    char   *s;
    size_t  n;

    s = malloc(want + 256);
    if (s == NULL) {
        return NULL;
    }

    n = (size_t) sprintf(s, "{\"items\":[");

    for (i = 0; n < want; i++) {
        n += (size_t) sprintf(s + n, "%s{\"id\":\"media-%08d\",\"n\":%d,"
                              "\"ok\":true,\"tags\":[\"a\",\"b\"]}",
                              i ? "," : "", i, i);
    }

    n += (size_t) sprintf(s + n, "],\"last\":\"end\"}");

    *len = n;

    return s;
}


static void
test_parse(void)
{
    int                    nomem, i, good;
    char                  *doc, *out;
    cJSON                 *a, *b, *o;
    size_t                 end, len, total;
    ngx_yoti_idv_arena_t  *arena;

    ngx_yoti_idv_json_set_mode(1);
    arena = ngx_yoti_idv_json_arena();

    a = ngx_yoti_idv_json_parse("{\"x\":\"one\",\"y\":[1,2,3]}", 23, 1,
                                &end, &nomem);
    ok(a != NULL && ngx_yoti_idv_arena_owns(arena, a),
       "parsed into the arena");

    /* a nested parse keeps the first tree */
    b = ngx_yoti_idv_json_parse("{\"x\":\"two\"}xyz", 11, 1, &end, &nomem);

    ok(b != NULL
       && strcmp(cJSON_GetObjectItem(b, "x")->valuestring, "two") == 0,
       "a nested parse (only len bytes are parsed)");

    ngx_yoti_idv_json_delete(b);

    ok(strcmp(cJSON_GetObjectItem(a, "x")->valuestring, "one") == 0
       && cJSON_GetArraySize(cJSON_GetObjectItem(a, "y")) == 3,
       "the outer tree survives the inner one's delete");

    /* printing an arena tree: cJSON's output buffer is malloc()'s */
    out = cJSON_PrintUnformatted(a);
    ok(out != NULL && strcmp(out, "{\"x\":\"one\",\"y\":[1,2,3]}") == 0,
       "cJSON_Print of an arena tree");
    cJSON_free(out);

    ngx_yoti_idv_json_delete(a);

    ok(arena->head != NULL && arena->head->used == 0,
       "the last delete resets the arena");

    /* the hooks outside a parse: malloc() and free() */
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "k", "v");
    ok(o != NULL && !ngx_yoti_idv_arena_owns(arena, o),
       "cJSON_Create outside a parse uses malloc()");
    out = cJSON_Print(o);
    ok(out != NULL, "cJSON_Print outside a parse");
    cJSON_free(out);
    cJSON_Delete(o);

    /* failures */

    a = ngx_yoti_idv_json_parse("{\"a\":[1,2,", 10, 1, &end, &nomem);
    ok(a == NULL && !nomem && end != (size_t) -1 && end <= 10,
       "invalid JSON: NULL, not memory, offset %lu", (unsigned long) end);
    ok(arena->head->used == 0, "a failed parse resets the arena");

    a = ngx_yoti_idv_json_parse("{} x", 4, 1, &end, &nomem);
    ok(a == NULL && !nomem, "require_null: nothing after the value");

    a = ngx_yoti_idv_json_parse("{} x", 4, 0, &end, &nomem);
    ok(a != NULL, "without require_null: data after the value is left");
    ngx_yoti_idv_json_delete(a);

    a = ngx_yoti_idv_json_parse(NULL, 0, 0, &end, &nomem);
    ok(a == NULL && !nomem, "an empty body");

    ngx_yoti_idv_json_delete(NULL);
    ok(1, "delete(NULL) is nothing");

    /* a 500 KB document, again and again: the arena does not grow */

    doc = big_doc(500 * 1024, &len);

    a = ngx_yoti_idv_json_parse(doc, len, 1, &end, &nomem);
    ok(a != NULL && cJSON_GetArraySize(cJSON_GetObjectItem(a, "items")) > 5000
       && strcmp(cJSON_GetObjectItem(a, "last")->valuestring, "end") == 0,
       "a %lu-byte document (%d items) in %u blocks", (unsigned long) len,
       cJSON_GetArraySize(cJSON_GetObjectItem(a, "items")), arena->blocks);
    ngx_yoti_idv_json_delete(a);

    total = arena->total;
    good = 1;

    for (i = 0; i < 20; i++) {
        a = ngx_yoti_idv_json_parse(doc, len, 1, &end, &nomem);
        good = good && a != NULL;
        ngx_yoti_idv_json_delete(a);
    }

    ok(good && arena->total == total,
       "20 parses more: the same %lu bytes reused", (unsigned long) total);

    /* the limit: a clean failure, then normal again */

    arena->limit = 256 * 1024;
    a = ngx_yoti_idv_json_parse(doc, len, 1, &end, &nomem);
    ok(a == NULL && nomem, "past the arena's limit: NULL, no memory");
    arena->limit = NGX_YOTI_IDV_ARENA_LIMIT;

    a = ngx_yoti_idv_json_parse(doc, len, 1, &end, &nomem);
    ok(a != NULL, "under the limit again: parsed");
    ngx_yoti_idv_json_delete(a);

    /* the malloc() mode (YOTI_IDV_JSON_ARENA=off): same trees */

    ngx_yoti_idv_json_set_mode(0);
    ok(!ngx_yoti_idv_json_arena_on(), "malloc mode");

    a = ngx_yoti_idv_json_parse(doc, len, 1, &end, &nomem);
    ok(a != NULL && !ngx_yoti_idv_arena_owns(arena, a)
       && cJSON_GetArraySize(cJSON_GetObjectItem(a, "items")) > 5000,
       "malloc mode parses with malloc()");
    ngx_yoti_idv_json_delete(a);

    ngx_yoti_idv_json_set_mode(1);

    free(doc);

    ngx_yoti_idv_arena_destroy(arena);
}


int
main(void)
{
    test_arena_growth();
    test_arena_keep();
    test_arena_poison();
    test_arena_limit();
    test_parse();

    return tap_done();
}
