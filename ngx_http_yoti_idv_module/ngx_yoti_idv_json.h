
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_YOTI_IDV_JSON_H_INCLUDED_
#define _NGX_YOTI_IDV_JSON_H_INCLUDED_


/*
 * A pure unit (cJSON only, no nginx headers): the provider's answers are
 * parsed into an arena, a chain of blocks bump-allocated and reused from
 * one parse to the next, instead of one malloc() and one free() per JSON
 * node and string.
 *
 * cJSON's allocation hooks are process-global (cJSON_InitHooks), so they
 * are installed once and dispatch: while ngx_yoti_idv_json_parse() runs
 * (in the thread that parsed first: an nginx worker's) they allocate from
 * the arena and free nothing (the arena is reset as a whole); at any other
 * time, or in any other thread, they are malloc() and free(), as cJSON's
 * defaults are.  A tree from
 * ngx_yoti_idv_json_parse() is released with ngx_yoti_idv_json_delete()
 * only, never with cJSON_Delete(); parses may nest (the arena is reset when
 * the last tree is released).
 *
 * The environment variable YOTI_IDV_JSON_ARENA=off (nginx: "env
 * YOTI_IDV_JSON_ARENA=off;") parses with cJSON's own malloc() per node, as
 * before the arena: the benchmark's baseline.
 */


#include <stddef.h>

#include <cjson/cJSON.h>


/* the first block; later blocks double, up to NGX_YOTI_IDV_ARENA_BLOCK_MAX */
#define NGX_YOTI_IDV_ARENA_FIRST      (64 * 1024)
#define NGX_YOTI_IDV_ARENA_BLOCK_MAX  (1024 * 1024)

/* what one parse may take in all; beyond it the parse fails (no memory) */
#define NGX_YOTI_IDV_ARENA_LIMIT      (64 * 1024 * 1024)

/* what a reset keeps for the next parse; blocks beyond it are freed */
#define NGX_YOTI_IDV_ARENA_KEEP       (4 * 1024 * 1024)


typedef struct ngx_yoti_idv_arena_block_s  ngx_yoti_idv_arena_block_t;

struct ngx_yoti_idv_arena_block_s {
    ngx_yoti_idv_arena_block_t  *next;
    size_t                       size;     /* bytes after the header */
    size_t                       used;
};


typedef struct {
    ngx_yoti_idv_arena_block_t  *head;
    ngx_yoti_idv_arena_block_t  *current;
    size_t                       total;    /* bytes of all blocks' data */
    size_t                       first;
    size_t                       limit;
    size_t                       keep;
    unsigned                     blocks;
    unsigned                     failed;   /* an allocation hit the limit */
} ngx_yoti_idv_arena_t;


/* the arena itself (unit tested on its own) */
void ngx_yoti_idv_arena_init(ngx_yoti_idv_arena_t *a, size_t first,
    size_t limit, size_t keep);
void *ngx_yoti_idv_arena_alloc(ngx_yoti_idv_arena_t *a, size_t size);
int ngx_yoti_idv_arena_owns(const ngx_yoti_idv_arena_t *a, const void *p);
void ngx_yoti_idv_arena_reset(ngx_yoti_idv_arena_t *a);
void ngx_yoti_idv_arena_destroy(ngx_yoti_idv_arena_t *a);


/*
 * json[0 .. len) is parsed from a NUL-terminated copy; cJSON is given
 * len + 1 bytes when require_null is set (nothing may follow the value),
 * len bytes otherwise.  On NULL, *end (if not NULL) is where cJSON
 * stopped, relative to json, or (size_t) -1, and *nomem (if not NULL) is
 * 1 when memory (or the arena's limit) was the cause.
 */
cJSON *ngx_yoti_idv_json_parse(const char *json, size_t len, int require_null,
    size_t *end, int *nomem);
void ngx_yoti_idv_json_delete(cJSON *root);

/* the arena (the unit tests' view), and the mode */
ngx_yoti_idv_arena_t *ngx_yoti_idv_json_arena(void);
int ngx_yoti_idv_json_arena_on(void);
/* -1: as YOTI_IDV_JSON_ARENA says (the default), 0: malloc, 1: arena */
void ngx_yoti_idv_json_set_mode(int mode);


#endif /* _NGX_YOTI_IDV_JSON_H_INCLUDED_ */
