
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Push, not wait: invalidations of cached verdicts.
 *
 * One Redis Stream, "<prefix>events", carries them between nodes: an entry
 * "session <id>" drops every verdict for that session, "user <id>" every
 * verdict for that user, "flush" everything.  What writes an entry first
 * deletes the verdicts Redis holds for it, in the same script (see
 * docs/redis.md): yoti_idv_notifications does, an app that revokes does.
 *
 * Each worker reads the stream, see ngx_http_yoti_idv_events.c.
 *
 * The verdict keys of a session and of a user are found through two sets,
 * "<prefix>index:session:<id>" and "<prefix>index:user:<id>", that the
 * store adds each verdict key to.
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_http_yoti_idv_metrics.h"
#include "ngx_yoti_idv_notify.h"


#define NGX_HTTP_YOTI_IDV_NOTIFY_MAX_BODY   16384
#define NGX_HTTP_YOTI_IDV_EVENTS_MAXLEN     "100000"

/* how long a mark of an invalidation outlives it: longer than a fetch */
#define NGX_HTTP_YOTI_IDV_MARK_TTL          "600"

#define NGX_HTTP_YOTI_IDV_AUTH_BASIC        0
#define NGX_HTTP_YOTI_IDV_AUTH_BEARER       1


/*
 * KEYS[1] the index of the session or user, KEYS[2] the stream, KEYS[3]
 * the count of invalidations, KEYS[4] the mark of the session or user;
 * ARGV[1] "session" or "user", ARGV[2] the id, ARGV[3] the stream's
 * length, ARGV[4] how long the mark lives.  The mark holds the count this
 * invalidation took: a fetch whose lookup read a lower count stores
 * nothing (NGX_HTTP_YOTI_IDV_STORE_LUA).
 */

#define NGX_HTTP_YOTI_IDV_INVALIDATE_LUA                                     \
    "local k = redis.call('SMEMBERS', KEYS[1]) "                              \
    "for i = 1, #k do redis.call('DEL', k[i]) end "                           \
    "redis.call('DEL', KEYS[1]) "                                             \
    "redis.call('SET', KEYS[4], redis.call('INCR', KEYS[3]), 'EX', ARGV[4]) " \
    "return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', "       \
    "ARGV[1], ARGV[2])"


/*
 * A fetch's verdict: KEYS[1] its key, then the mark and the index of the
 * session, then those of the user (when the verdict is the user's);
 * ARGV[1] the value, ARGV[2] its lifetime, ARGV[3] the count of
 * invalidations the lookup read ("0": none yet; "": not read, any mark
 * stops the verdict), ARGV[4] the indexes' lifetime.  A mark above the
 * count: an invalidation came between the lookup and now, and what the
 * fetch got may be what it was meant to remove
 */

#define NGX_HTTP_YOTI_IDV_STORE_LUA                                          \
    "local n = tonumber(ARGV[3]) or -1 "                                      \
    "for i = 2, #KEYS, 2 do "                                                 \
    "local m = tonumber(redis.call('GET', KEYS[i])) "                         \
    "if m and m > n then return 0 end "                                       \
    "end "                                                                    \
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) "                     \
    "for i = 3, #KEYS, 2 do "                                                 \
    "redis.call('SADD', KEYS[i], KEYS[1]) "                                   \
    "redis.call('EXPIRE', KEYS[i], ARGV[4]) "                                 \
    "end "                                                                    \
    "return 1"


struct ngx_http_yoti_idv_notify_conf_s {
    ngx_str_t                      file;
    ngx_uint_t                     auth;
    ngx_str_t                      credentials; /* after "Basic " etc. */
};


typedef struct {
    ngx_http_request_t            *request;
    ngx_http_yoti_idv_redis_op_t   op;
    ngx_yoti_idv_notify_t          n;
    unsigned                       waiting:1;
} ngx_http_yoti_idv_notify_ctx_t;


static ngx_int_t ngx_http_yoti_idv_notify_handler(ngx_http_request_t *r);
static void ngx_http_yoti_idv_notify_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_yoti_idv_notify_authorized(ngx_http_request_t *r,
    ngx_http_yoti_idv_notify_conf_t *ncf);
static ngx_int_t ngx_http_yoti_idv_notify_challenge(ngx_http_request_t *r,
    ngx_http_yoti_idv_notify_conf_t *ncf);
static void ngx_http_yoti_idv_notify_done(void *data);
static void ngx_http_yoti_idv_notify_cleanup(void *data);
static ngx_int_t ngx_http_yoti_idv_notify_send(ngx_http_request_t *r,
    ngx_uint_t status, char *text);
static ngx_int_t ngx_http_yoti_idv_notify_count(
    ngx_http_yoti_idv_notify_ctx_t *ctx, ngx_uint_t outcome, ngx_int_t rc);
static u_char *ngx_http_yoti_idv_notify_key(u_char *p,
    ngx_http_yoti_idv_main_conf_t *ymcf, const char *what, const char *kind,
    size_t len, u_char *id);



/* yoti_idv_notifications file [auth=basic|bearer] */

char *
ngx_http_yoti_idv_notifications(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    u_char                           *p, *last;
    ssize_t                           n;
    ngx_str_t                        *value, token;
    ngx_uint_t                        i;
    ngx_file_t                        file;
    ngx_file_info_t                   fi;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_yoti_idv_main_conf_t    *ymcf;
    ngx_http_yoti_idv_notify_conf_t  *ncf;

    if (ylcf->notify) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ncf = ngx_pcalloc(cf->pool, sizeof(ngx_http_yoti_idv_notify_conf_t));
    if (ncf == NULL) {
        return NGX_CONF_ERROR;
    }

    ncf->auth = NGX_HTTP_YOTI_IDV_AUTH_BASIC;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "auth=basic") == 0) {
            ncf->auth = NGX_HTTP_YOTI_IDV_AUTH_BASIC;
            continue;
        }

        if (ngx_strcmp(value[i].data, "auth=bearer") == 0) {
            ncf->auth = NGX_HTTP_YOTI_IDV_AUTH_BEARER;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in "
                           "\"yoti_idv_notifications\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    ncf->file = value[1];

    if (ngx_conf_full_name(cf->cycle, &ncf->file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* read once, at nginx -t and reload: never on the request path */

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = ncf->file;
    file.log = cf->log;

    file.fd = ngx_open_file(ncf->file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &ncf->file);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 4096)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the token file \"%V\" of "
                           "\"yoti_idv_notifications\" is not a file of at "
                           "most 4096 bytes", &ncf->file);
        goto failed;
    }

    p = ngx_pnalloc(cf->pool, 4097);
    if (p == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, p, 4097, 0);

    if (n == NGX_ERROR) {
        goto failed;
    }

    (void) ngx_close_file(file.fd);

    /* a trailing newline (echo > file) is not part of the token */

    last = p + n;

    while (last > p && (last[-1] == '\n' || last[-1] == '\r'
                        || last[-1] == ' ' || last[-1] == '\t'))
    {
        last--;
    }

    token.data = p;
    token.len = last - p;

    if (token.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the token file \"%V\" of "
                           "\"yoti_idv_notifications\" is empty", &ncf->file);
        return NGX_CONF_ERROR;
    }

    for (p = token.data; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the token file \"%V\" of "
                               "\"yoti_idv_notifications\" holds a control "
                               "character", &ncf->file);
            return NGX_CONF_ERROR;
        }
    }

    if (ncf->auth == NGX_HTTP_YOTI_IDV_AUTH_BASIC) {
        ncf->credentials.len = ngx_base64_encoded_length(token.len);
        ncf->credentials.data = ngx_pnalloc(cf->pool, ncf->credentials.len);
        if (ncf->credentials.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_encode_base64(&ncf->credentials, &token);

    } else {
        ncf->credentials = token;
    }

    ylcf->notify = ncf;

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);
    ymcf->notifications = 1;

    /* yoti_idv_metrics shows the notifications' counters */

    if (ngx_http_yoti_idv_metrics_notifications(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_yoti_idv_notify_handler;

    /* nginx itself answers 413 above the limit, and never buffers to disk */

    if (clcf->client_max_body_size == NGX_CONF_UNSET) {
        clcf->client_max_body_size = NGX_HTTP_YOTI_IDV_NOTIFY_MAX_BODY;
    }

    if (clcf->client_body_buffer_size == NGX_CONF_UNSET_SIZE) {
        clcf->client_body_buffer_size = NGX_HTTP_YOTI_IDV_NOTIFY_MAX_BODY;
    }

    return NGX_CONF_OK;

failed:

    (void) ngx_close_file(file.fd);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_yoti_idv_notify_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_table_elt_t                  *h;
    ngx_pool_cleanup_t               *cln;
    ngx_http_yoti_idv_loc_conf_t     *ylcf;
    ngx_http_yoti_idv_notify_ctx_t   *ctx;

    ylcf = ngx_http_get_module_loc_conf(r, ngx_http_yoti_idv_module);

    if (ylcf->notify == NULL) {
        return NGX_DECLINED;
    }

    if (r->method != NGX_HTTP_POST) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "POST");

        return ngx_http_yoti_idv_notify_count(NULL, NGX_HTTP_YOTI_IDV_N_INVALID,
                                              NGX_HTTP_NOT_ALLOWED);
    }

    if (ngx_http_yoti_idv_notify_authorized(r, ylcf->notify) != NGX_OK) {
        return ngx_http_yoti_idv_notify_count(NULL,
                                    NGX_HTTP_YOTI_IDV_N_UNAUTHORIZED,
                                    ngx_http_yoti_idv_notify_challenge(r,
                                                               ylcf->notify));
    }

    if (r->headers_in.content_length_n > NGX_HTTP_YOTI_IDV_NOTIFY_MAX_BODY) {
        return ngx_http_yoti_idv_notify_count(NULL, NGX_HTTP_YOTI_IDV_N_INVALID,
                                    NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
    }

    /*
     * not the module's context, which is the gate's ($yoti_idv_*): on the
     * pool, whose cleanup leaves a command in flight behind
     */

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_yoti_idv_notify_ctx_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_yoti_idv_notify_ctx_t));
    ctx->request = r;

    cln->handler = ngx_http_yoti_idv_notify_cleanup;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_yoti_idv_notify_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return ngx_http_yoti_idv_notify_count(NULL,
                                    rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
                                    ? NGX_HTTP_YOTI_IDV_N_INVALID
                                    : NGX_HTTP_YOTI_IDV_N_FAILED, rc);
    }

    return NGX_DONE;
}


/* "Basic <credentials>" or "Bearer <token>": the scheme in any case */

static ngx_int_t
ngx_http_yoti_idv_notify_authorized(ngx_http_request_t *r,
    ngx_http_yoti_idv_notify_conf_t *ncf)
{
    u_char     *p, *last;
    ngx_str_t   scheme;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    if (ncf->auth == NGX_HTTP_YOTI_IDV_AUTH_BASIC) {
        ngx_str_set(&scheme, "Basic ");

    } else {
        ngx_str_set(&scheme, "Bearer ");
    }

    if ((size_t) (last - p) < scheme.len
        || ngx_strncasecmp(p, scheme.data, scheme.len) != 0)
    {
        return NGX_DECLINED;
    }

    p += scheme.len;

    while (p < last && *p == ' ') {
        p++;
    }

    /* the time does not tell how much of the token matched */

    if (!ngx_yoti_idv_ct_equal(p, last - p, ncf->credentials.data,
                               ncf->credentials.len))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_yoti_idv_notify_challenge(ngx_http_request_t *r,
    ngx_http_yoti_idv_notify_conf_t *ncf)
{
    ngx_table_elt_t  *h;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "yoti_idv: notification %s",
                  r->headers_in.authorization
                  ? "with wrong credentials" : "without credentials");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "WWW-Authenticate");

    if (ncf->auth == NGX_HTTP_YOTI_IDV_AUTH_BASIC) {
        ngx_str_set(&h->value, "Basic realm=\"yoti_idv\"");

    } else {
        ngx_str_set(&h->value, "Bearer realm=\"yoti_idv\"");
    }

    r->headers_out.www_authenticate = h;

    return NGX_HTTP_UNAUTHORIZED;
}


static void
ngx_http_yoti_idv_notify_body(ngx_http_request_t *r)
{
    int                              argc;
    u_char                          *p, *index, *stream, *mark;
    size_t                           len;
    size_t                           argv_len[NGX_HTTP_YOTI_IDV_REDIS_ARGS];
    ngx_int_t                        rc;
    ngx_str_t                        count;
    ngx_buf_t                       *b;
    ngx_chain_t                     *cl;
    const char                      *argv[NGX_HTTP_YOTI_IDV_REDIS_ARGS];
    ngx_pool_cleanup_t              *cln;
    ngx_http_yoti_idv_notify_ctx_t  *ctx;
    ngx_http_yoti_idv_main_conf_t   *ymcf;

    ymcf = ngx_http_get_module_main_conf(r, ngx_http_yoti_idv_module);

    ctx = NULL;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_yoti_idv_notify_cleanup) {
            ctx = cln->data;
            break;
        }
    }

    if (ctx == NULL) {
        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(NULL,
                                         NGX_HTTP_YOTI_IDV_N_FAILED,
                                         NGX_HTTP_INTERNAL_SERVER_ERROR));
        return;
    }

    if (r->request_body == NULL || r->request_body->temp_file) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yoti_idv: the notification's body went to a file: "
                      "\"client_body_buffer_size\" of this location must be "
                      "at least 16k");
        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_FAILED,
                                         NGX_HTTP_INTERNAL_SERVER_ERROR));
        return;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > NGX_HTTP_YOTI_IDV_NOTIFY_MAX_BODY) {
        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_INVALID,
                                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE));
        return;
    }

    if (r->request_body->bufs && r->request_body->bufs->next == NULL) {
        b = r->request_body->bufs->buf;
        p = b->pos;

    } else {
        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_FAILED,
                                         NGX_HTTP_INTERNAL_SERVER_ERROR));
            return;
        }

        len = 0;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {

            /* a chunked body's last buffer can be empty, with no memory */
            if (ngx_buf_size(cl->buf) == 0) {
                continue;
            }

            ngx_memcpy(p + len, cl->buf->pos, ngx_buf_size(cl->buf));
            len += ngx_buf_size(cl->buf);
        }
    }

    switch (ngx_yoti_idv_notify_parse((char *) p, len, &ctx->n)) {

    case NGX_YOTI_IDV_NOTIFY_OK:
        break;

    case NGX_YOTI_IDV_NOTIFY_NOT_JSON:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yoti_idv: the notification is not a JSON object");
        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_INVALID,
                                         NGX_HTTP_BAD_REQUEST));
        return;

    case NGX_YOTI_IDV_NOTIFY_NO_SESSION:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yoti_idv: the notification has no \"session_id\"");
        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_INVALID,
                                         NGX_HTTP_BAD_REQUEST));
        return;

    default: /* NGX_YOTI_IDV_NOTIFY_BAD_SESSION */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yoti_idv: the notification's \"session_id\" is not "
                      "a session id");
        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_INVALID,
                                         NGX_HTTP_BAD_REQUEST));
        return;
    }

    if (!ctx->n.invalidates) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yoti_idv: notification of topic \"%s\" about "
                      "session \"%s\" ignored", ctx->n.topic,
                      ctx->n.session_id);
        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_ACCEPTED,
                                         ngx_http_yoti_idv_notify_send(r,
                                                 NGX_HTTP_OK, "ignored\n")));
        return;
    }

    /* the verdicts in Redis go, and every node is told, in one script */

    index = ngx_pnalloc(r->pool, ymcf->prefix.len + sizeof("index:session:")
                                 + ctx->n.session_id_len);
    stream = ngx_pnalloc(r->pool, ymcf->prefix.len + sizeof("events"));
    mark = ngx_pnalloc(r->pool, ymcf->prefix.len
                                + sizeof("invalidated:session:")
                                + ctx->n.session_id_len);

    if (index == NULL || stream == NULL || mark == NULL
        || ngx_http_yoti_idv_notify_count_key(ymcf, r->pool, &count)
           != NGX_OK)
    {
        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_FAILED,
                                         NGX_HTTP_INTERNAL_SERVER_ERROR));
        return;
    }

    argc = 0;

    argv[argc] = "EVAL";
    argv_len[argc++] = sizeof("EVAL") - 1;
    argv[argc] = NGX_HTTP_YOTI_IDV_INVALIDATE_LUA;
    argv_len[argc++] = sizeof(NGX_HTTP_YOTI_IDV_INVALIDATE_LUA) - 1;
    argv[argc] = "4";
    argv_len[argc++] = 1;

    argv[argc] = (char *) index;
    argv_len[argc++] = ngx_http_yoti_idv_notify_key(index, ymcf, "index",
                                   "session", ctx->n.session_id_len,
                                   (u_char *) ctx->n.session_id)
                       - index;

    argv[argc] = (char *) stream;
    argv_len[argc++] = ngx_sprintf(stream, "%Vevents", &ymcf->prefix)
                       - stream;

    argv[argc] = (char *) count.data;
    argv_len[argc++] = count.len;

    argv[argc] = (char *) mark;
    argv_len[argc++] = ngx_http_yoti_idv_notify_key(mark, ymcf,
                                   "invalidated", "session",
                                   ctx->n.session_id_len,
                                   (u_char *) ctx->n.session_id)
                       - mark;

    argv[argc] = "session";
    argv_len[argc++] = sizeof("session") - 1;
    argv[argc] = ctx->n.session_id;
    argv_len[argc++] = ctx->n.session_id_len;
    argv[argc] = NGX_HTTP_YOTI_IDV_EVENTS_MAXLEN;
    argv_len[argc++] = sizeof(NGX_HTTP_YOTI_IDV_EVENTS_MAXLEN) - 1;
    argv[argc] = NGX_HTTP_YOTI_IDV_MARK_TTL;
    argv_len[argc++] = sizeof(NGX_HTTP_YOTI_IDV_MARK_TTL) - 1;

    ctx->op.pool = r->pool;
    ctx->op.log = r->connection->log;
    ctx->op.done = ngx_http_yoti_idv_notify_done;
    ctx->op.data = ctx;

    rc = ngx_http_yoti_idv_redis_eval(ymcf->redis, &ctx->op, argc, argv,
                                      argv_len);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_FAILED,
                                         NGX_HTTP_INTERNAL_SERVER_ERROR));
        return;
    }

    if (rc == NGX_OK) {
        /* Redis is not usable: Yoti tries again later */
        ngx_http_yoti_idv_notify_done(ctx);
        return;
    }

    ctx->waiting = 1;
}


static void
ngx_http_yoti_idv_notify_done(void *data)
{
    ngx_http_yoti_idv_notify_ctx_t *ctx = data;

    ngx_str_t            id;
    ngx_uint_t           n;
    ngx_shm_zone_t      *zone;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    ctx->waiting = 0;

    if (ctx->op.error) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "yoti_idv: notification about session \"%s\" not "
                      "passed on: %s; answered 503 for a retry",
                      ctx->n.session_id, ctx->op.error);

        ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                         NGX_HTTP_YOTI_IDV_N_FAILED,
                                         ngx_http_yoti_idv_notify_send(r,
                                             NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "redis is not available\n")));
        ngx_http_run_posted_requests(c);
        return;
    }

    /*
     * this node at once, the others from the stream; this node's readers
     * pass over the entry (the script's answer is its id)
     */

    n = 0;

    zone = ngx_http_yoti_idv_events_zone();

    if (zone) {
        id.data = (u_char *) ctx->n.session_id;
        id.len = ctx->n.session_id_len;

        n = ngx_http_yoti_idv_shm_invalidate(zone,
                                             NGX_HTTP_YOTI_IDV_BY_SESSION,
                                             &id);

        ngx_http_yoti_idv_shm_applied_add(zone, &ctx->op.values[0]);
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "yoti_idv: notification \"%s\" about session \"%s\": "
                  "cached verdicts dropped (%ui in this zone)",
                  ctx->n.topic, ctx->n.session_id, n);

    ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_count(ctx,
                                     NGX_HTTP_YOTI_IDV_N_ACCEPTED,
                                     ngx_http_yoti_idv_notify_send(r,
                                                     NGX_HTTP_OK, "ok\n")));
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_yoti_idv_notify_cleanup(void *data)
{
    ngx_http_yoti_idv_notify_ctx_t *ctx = data;

    if (ctx->waiting) {
        ngx_http_yoti_idv_redis_cancel(&ctx->op);
        ctx->waiting = 0;
    }
}


static ngx_int_t
ngx_http_yoti_idv_notify_send(ngx_http_request_t *r, ngx_uint_t status,
    char *text)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = ngx_strlen(text);
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) text;
    b->last = b->pos + ngx_strlen(text);
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, &out);
}


/*
 * yoti_idv_metrics: the notification by topic (once it parsed, "other"
 * before) and outcome; returns rc
 */

static ngx_int_t
ngx_http_yoti_idv_notify_count(ngx_http_yoti_idv_notify_ctx_t *ctx,
    ngx_uint_t outcome, ngx_int_t rc)
{
    ngx_uint_t  topic;

    topic = NGX_HTTP_YOTI_IDV_T_OTHER;

    if (ctx && ctx->n.topic_len) {
        topic = ngx_http_yoti_idv_metric_topic((u_char *) ctx->n.topic,
                                               ctx->n.topic_len);
    }

    ngx_http_yoti_idv_metric_notification(topic, outcome);

    return rc;
}


/*
 * Where the invalidations reach a fetch's verdict: the lookup reads their
 * count (ngx_http_yoti_idv_notify_count_key()), the verdict is stored by
 * NGX_HTTP_YOTI_IDV_STORE_LUA with the indexes the invalidation script
 * reads.  One server (or Sentinel's master), with a zone or a
 * notifications location; a cluster's keys would be in different slots
 * (docs/redis.md), and without either nothing invalidates.
 */

ngx_uint_t
ngx_http_yoti_idv_notify_marks(ngx_http_yoti_idv_main_conf_t *ymcf)
{
    return ymcf->redis
           && ymcf->redis->mode != NGX_HTTP_YOTI_IDV_REDIS_CLUSTER
           && (ymcf->zone || ymcf->notifications);
}


ngx_int_t
ngx_http_yoti_idv_notify_count_key(ngx_http_yoti_idv_main_conf_t *ymcf,
    ngx_pool_t *pool, ngx_str_t *key)
{
    key->data = ngx_pnalloc(pool, ymcf->prefix.len + sizeof("invalidations"));
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_sprintf(key->data, "%Vinvalidations", &ymcf->prefix)
               - key->data;

    return NGX_OK;
}


/*
 * "<prefix><what>:<kind>:<id>": an index ("index") or the mark of an
 * invalidation ("invalidated") of a session or a user, as both scripts
 * name them; p has room for it
 */

static u_char *
ngx_http_yoti_idv_notify_key(u_char *p, ngx_http_yoti_idv_main_conf_t *ymcf,
    const char *what, const char *kind, size_t len, u_char *id)
{
    return ngx_sprintf(p, "%V%s:%s:%*s", &ymcf->prefix, what, kind, len, id);
}


/*
 * EVAL of NGX_HTTP_YOTI_IDV_STORE_LUA, not waited for: the verdict under
 * verdict_key for ttl seconds unless the session (or the user, when
 * user_id is given) was invalidated after the lookup read "count" (NULL:
 * not read).  The indexes live as long as the longest verdict.
 */

void
ngx_http_yoti_idv_notify_store(ngx_http_yoti_idv_main_conf_t *ymcf,
    ngx_log_t *log, ngx_str_t *verdict_key, ngx_str_t *value, time_t ttl,
    ngx_str_t *count, ngx_str_t *session_id, ngx_str_t *user_id)
{
    u_char      *p, *keys, ex[NGX_TIME_T_LEN], index_ex[NGX_TIME_T_LEN];
    int          argc, nkeys;
    size_t       len[NGX_HTTP_YOTI_IDV_REDIS_ARGS], size;
    time_t       valid;
    ngx_uint_t   i;
    ngx_str_t   *id;
    const char  *argv[NGX_HTTP_YOTI_IDV_REDIS_ARGS], *kind;
    u_char       n[2];

    size = 0;

    for (i = 0; i < 2; i++) {
        id = (i == 0) ? session_id : user_id;

        if (id && id->len) {
            size += 2 * ymcf->prefix.len + sizeof("invalidated:session:")
                    + sizeof("index:session:") + 2 * id->len;
        }
    }

    keys = ngx_alloc(size + 1, log);
    if (keys == NULL) {
        return;
    }

    argc = 0;
    argv[argc] = "EVAL";
    len[argc++] = sizeof("EVAL") - 1;
    argv[argc] = NGX_HTTP_YOTI_IDV_STORE_LUA;
    len[argc++] = sizeof(NGX_HTTP_YOTI_IDV_STORE_LUA) - 1;
    argv[argc] = (const char *) n;
    len[argc++] = 1;

    argv[argc] = (const char *) verdict_key->data;
    len[argc++] = verdict_key->len;
    nkeys = 1;

    /* hiredis copies the arguments at once */

    p = keys;

    for (i = 0; i < 2; i++) {
        id = (i == 0) ? session_id : user_id;

        if (id == NULL || id->len == 0) {
            continue;
        }

        kind = (i == 0) ? "session" : "user";

        argv[argc] = (const char *) p;
        p = ngx_http_yoti_idv_notify_key(p, ymcf, "invalidated", kind,
                                         id->len, id->data);
        len[argc] = p - (u_char *) argv[argc];
        argc++;

        argv[argc] = (const char *) p;
        p = ngx_http_yoti_idv_notify_key(p, ymcf, "index", kind,
                                         id->len, id->data);
        len[argc] = p - (u_char *) argv[argc];
        argc++;

        nkeys += 2;
    }

    n[0] = (u_char) ('0' + nkeys);
    n[1] = '\0';

    argv[argc] = (const char *) value->data;
    len[argc++] = value->len;

    argv[argc] = (const char *) ex;
    len[argc++] = ngx_sprintf(ex, "%T", ttl) - ex;

    /* "0": no invalidation yet (nil); "": the count was not read */

    if (count == NULL) {
        argv[argc] = "";
        len[argc++] = 0;

    } else if (count->data == NULL) {
        argv[argc] = "0";
        len[argc++] = 1;

    } else {
        argv[argc] = (const char *) count->data;
        len[argc++] = count->len;
    }

    /* the longest a verdict is kept, its stale window included */

    valid = 0;

    for (i = 0; i < NGX_HTTP_YOTI_IDV_VALID_N; i++) {
        valid = ngx_max(valid, ymcf->valid[i]);
    }

    valid += ymcf->max_use_stale;

    argv[argc] = (const char *) index_ex;
    len[argc++] = ngx_sprintf(index_ex, "%T", valid) - index_ex;

    if (ngx_http_yoti_idv_redis_fire(ymcf->redis, log, argc, argv, len)
        == NGX_OK)
    {
        ngx_http_yoti_idv_metric_inc(REDIS_SET);
    }

    ngx_free(keys);
}
