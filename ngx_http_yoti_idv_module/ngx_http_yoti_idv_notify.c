
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
 * Each worker reads the stream on a connection of its own, on nginx's
 * event loop as ngx_http_yoti_idv_redis.c does: XREAD BLOCK from the last
 * id it saw.  After a lost connection it reads on from that id, so what it
 * missed still takes effect; when that id is gone from the stream (trimmed,
 * or a Redis that restarted empty), what it missed cannot be known, and
 * the zone is dropped.
 *
 * The verdict keys of a session and of a user are found through two sets,
 * "<prefix>index:session:<id>" and "<prefix>index:user:<id>", that the
 * store adds each verdict key to.
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_notify.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_YOTI_IDV_NOTIFY_MAX_BODY   16384
#define NGX_HTTP_YOTI_IDV_EVENTS_MAXLEN     "100000"
#define NGX_HTTP_YOTI_IDV_EVENTS_BLOCK      10000
#define NGX_HTTP_YOTI_IDV_EVENTS_COUNT      "256"
#define NGX_HTTP_YOTI_IDV_EVENTS_ID_LEN     48

#define NGX_HTTP_YOTI_IDV_AUTH_BASIC        0
#define NGX_HTTP_YOTI_IDV_AUTH_BEARER       1


/*
 * KEYS[1] the index of the session or user, KEYS[2] the stream; ARGV[1]
 * "session" or "user", ARGV[2] the id, ARGV[3] the stream's length
 */

#define NGX_HTTP_YOTI_IDV_INVALIDATE_LUA                                     \
    "local k = redis.call('SMEMBERS', KEYS[1]) "                              \
    "for i = 1, #k do redis.call('DEL', k[i]) end "                           \
    "redis.call('DEL', KEYS[1]) "                                             \
    "return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', "       \
    "ARGV[1], ARGV[2])"


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


typedef enum {
    NGX_HTTP_YOTI_IDV_EVENTS_DOWN = 0,  /* the timer reconnects */
    NGX_HTTP_YOTI_IDV_EVENTS_SETUP,     /* AUTH, SELECT, where to read from */
    NGX_HTTP_YOTI_IDV_EVENTS_READING    /* XREAD BLOCK is out */
} ngx_http_yoti_idv_events_state_e;


typedef struct {
    redisAsyncContext                *ac;
    ngx_connection_t                 *conn;
    ngx_http_yoti_idv_redis_conf_t   *conf;
    ngx_shm_zone_t                   *zone;
    ngx_log_t                        *log;

    ngx_str_t                         key;      /* NUL-terminated */

    /* reconnects when DOWN, else the deadline of what is out */
    ngx_event_t                       timer;
    ngx_msec_t                        backoff;

    ngx_http_yoti_idv_events_state_e  state;

    u_char                            last[NGX_HTTP_YOTI_IDV_EVENTS_ID_LEN];
    size_t                            last_len; /* 0: none seen yet */

    /* down before the first read: the zone may hold what it missed */
    unsigned                          missed:1;
} ngx_http_yoti_idv_events_t;


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

static void ngx_http_yoti_idv_events_connect(ngx_http_yoti_idv_events_t *ev);
static void ngx_http_yoti_idv_events_read(ngx_http_yoti_idv_events_t *ev);
static void ngx_http_yoti_idv_events_down(ngx_http_yoti_idv_events_t *ev,
    const char *why);
static void ngx_http_yoti_idv_events_timer(ngx_event_t *e);
static void ngx_http_yoti_idv_events_setup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_events_start_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_events_check_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_events_read_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_yoti_idv_events_apply(ngx_http_yoti_idv_events_t *ev,
    redisReply *entry);
static void ngx_http_yoti_idv_events_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_yoti_idv_events_read_handler(ngx_event_t *e);
static void ngx_http_yoti_idv_events_write_handler(ngx_event_t *e);
static void ngx_http_yoti_idv_events_add_read(void *data);
static void ngx_http_yoti_idv_events_del_read(void *data);
static void ngx_http_yoti_idv_events_add_write(void *data);
static void ngx_http_yoti_idv_events_del_write(void *data);
static void ngx_http_yoti_idv_events_cleanup(void *data);


static ngx_http_yoti_idv_events_t  ngx_http_yoti_idv_events;


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

        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_yoti_idv_notify_authorized(r, ylcf->notify) != NGX_OK) {
        return ngx_http_yoti_idv_notify_challenge(r, ylcf->notify);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_YOTI_IDV_NOTIFY_MAX_BODY) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
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
        return rc;
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
    u_char                          *p, *index, *stream;
    size_t                           len, argv_len[8];
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_chain_t                     *cl;
    const char                      *argv[8];
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
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (r->request_body == NULL || r->request_body->temp_file) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "yoti_idv: the notification's body went to a file: "
                      "\"client_body_buffer_size\" of this location must be "
                      "at least 16k");
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > NGX_HTTP_YOTI_IDV_NOTIFY_MAX_BODY) {
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
        return;
    }

    if (r->request_body->bufs && r->request_body->bufs->next == NULL) {
        b = r->request_body->bufs->buf;
        p = b->pos;

    } else {
        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        len = 0;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
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
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;

    case NGX_YOTI_IDV_NOTIFY_NO_SESSION:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yoti_idv: the notification has no \"session_id\"");
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;

    default: /* NGX_YOTI_IDV_NOTIFY_BAD_SESSION */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yoti_idv: the notification's \"session_id\" is not "
                      "a session id");
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;
    }

    if (!ctx->n.invalidates) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "yoti_idv: notification of topic \"%s\" about "
                      "session \"%s\" ignored", ctx->n.topic,
                      ctx->n.session_id);
        ngx_http_finalize_request(r,
                                  ngx_http_yoti_idv_notify_send(r, NGX_HTTP_OK,
                                                                "ignored\n"));
        return;
    }

    /* the verdicts in Redis go, and every node is told, in one script */

    index = ngx_pnalloc(r->pool, ymcf->prefix.len + sizeof("index:session:")
                                 + ctx->n.session_id_len);
    stream = ngx_pnalloc(r->pool, ymcf->prefix.len + sizeof("events"));

    if (index == NULL || stream == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    argc = 0;

    argv[argc] = "EVAL";
    argv_len[argc++] = sizeof("EVAL") - 1;
    argv[argc] = NGX_HTTP_YOTI_IDV_INVALIDATE_LUA;
    argv_len[argc++] = sizeof(NGX_HTTP_YOTI_IDV_INVALIDATE_LUA) - 1;
    argv[argc] = "2";
    argv_len[argc++] = 1;

    argv[argc] = (char *) index;
    argv_len[argc++] = ngx_sprintf(index, "%Vindex:session:%*s",
                                   &ymcf->prefix, ctx->n.session_id_len,
                                   ctx->n.session_id)
                       - index;

    argv[argc] = (char *) stream;
    argv_len[argc++] = ngx_sprintf(stream, "%Vevents", &ymcf->prefix)
                       - stream;

    argv[argc] = "session";
    argv_len[argc++] = sizeof("session") - 1;
    argv[argc] = ctx->n.session_id;
    argv_len[argc++] = ctx->n.session_id_len;
    argv[argc] = NGX_HTTP_YOTI_IDV_EVENTS_MAXLEN;
    argv_len[argc++] = sizeof(NGX_HTTP_YOTI_IDV_EVENTS_MAXLEN) - 1;

    ctx->op.pool = r->pool;
    ctx->op.log = r->connection->log;
    ctx->op.done = ngx_http_yoti_idv_notify_done;
    ctx->op.data = ctx;

    rc = ngx_http_yoti_idv_redis_command(ymcf->redis, &ctx->op, argc, argv,
                                         argv_len);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
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

        ngx_http_finalize_request(r,
                            ngx_http_yoti_idv_notify_send(r,
                                           NGX_HTTP_SERVICE_UNAVAILABLE,
                                           "redis is not available\n"));
        ngx_http_run_posted_requests(c);
        return;
    }

    /* this node at once; the others, and this one again, from the stream */

    n = 0;

    if (ngx_http_yoti_idv_events.zone) {
        id.data = (u_char *) ctx->n.session_id;
        id.len = ctx->n.session_id_len;

        n = ngx_http_yoti_idv_shm_invalidate(ngx_http_yoti_idv_events.zone,
                                             NGX_HTTP_YOTI_IDV_BY_SESSION,
                                             &id);
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "yoti_idv: notification \"%s\" about session \"%s\": "
                  "cached verdicts dropped (%ui in this zone)",
                  ctx->n.topic, ctx->n.session_id, n);

    ngx_http_finalize_request(r, ngx_http_yoti_idv_notify_send(r, NGX_HTTP_OK,
                                                               "ok\n"));
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
 * The index of a stored verdict: the sets the invalidation script reads
 * (NGX_HTTP_YOTI_IDV_INVALIDATE_LUA), not waited for.  They live as long
 * as the longest verdict.
 */

void
ngx_http_yoti_idv_notify_index(ngx_http_yoti_idv_main_conf_t *ymcf,
    ngx_log_t *log, ngx_str_t *verdict_key, ngx_str_t *session_id,
    ngx_str_t *user_id)
{
    u_char      *p, ttl[NGX_TIME_T_LEN];
    size_t       len[3];
    time_t       valid;
    ngx_uint_t   i;
    ngx_str_t    set, *id;
    const char  *argv[3];

    valid = 0;

    for (i = 0; i < NGX_HTTP_YOTI_IDV_VALID_N; i++) {
        valid = ngx_max(valid, ymcf->valid[i]);
    }

    for (i = 0; i < 2; i++) {

        id = (i == 0) ? session_id : user_id;

        if (id == NULL || id->len == 0) {
            continue;
        }

        set.len = ymcf->prefix.len + sizeof("index:session:") - 1 + id->len;
        set.data = ngx_alloc(set.len, log);
        if (set.data == NULL) {
            return;
        }

        p = ngx_cpymem(set.data, ymcf->prefix.data, ymcf->prefix.len);

        if (i == 0) {
            p = ngx_cpymem(p, "index:session:", sizeof("index:session:") - 1);

        } else {
            p = ngx_cpymem(p, "index:user:", sizeof("index:user:") - 1);
        }

        p = ngx_cpymem(p, id->data, id->len);
        set.len = p - set.data;

        /* hiredis copies the arguments at once */

        argv[0] = "SADD";
        len[0] = sizeof("SADD") - 1;
        argv[1] = (char *) set.data;
        len[1] = set.len;
        argv[2] = (char *) verdict_key->data;
        len[2] = verdict_key->len;

        ngx_http_yoti_idv_redis_send(ymcf->redis, log, 3, argv, len);

        argv[0] = "EXPIRE";
        len[0] = sizeof("EXPIRE") - 1;
        argv[2] = (char *) ttl;
        len[2] = ngx_sprintf(ttl, "%T", valid) - ttl;

        ngx_http_yoti_idv_redis_send(ymcf->redis, log, 3, argv, len);

        ngx_free(set.data);
    }
}


/* ---- the events stream, one reader per worker ------------------------ */

ngx_int_t
ngx_http_yoti_idv_notify_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_list_part_t                *part;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_yoti_idv_events_t     *ev;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    ymcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_yoti_idv_module);

    if (ymcf == NULL || ymcf->redis == NULL || ymcf->zone == NULL) {
        /* without a zone, every verdict is read from Redis: nothing to do */
        return NGX_OK;
    }

    ev = &ngx_http_yoti_idv_events;

    part = &cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag == &ngx_http_yoti_idv_module) {
            ev->zone = &shm_zone[i];
            break;
        }
    }

    if (ev->zone == NULL) {
        return NGX_OK;
    }

    ev->conf = ymcf->redis;
    ev->log = cycle->log;

    ev->key.len = ymcf->prefix.len + sizeof("events") - 1;
    ev->key.data = ngx_pnalloc(cycle->pool, ev->key.len + 1);
    if (ev->key.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ev->key.data, "%Vevents%Z", &ymcf->prefix);

    ev->timer.handler = ngx_http_yoti_idv_events_timer;
    ev->timer.data = ev;
    ev->timer.log = cycle->log;
    ev->timer.cancelable = 1;

    ev->state = NGX_HTTP_YOTI_IDV_EVENTS_DOWN;

    ngx_http_yoti_idv_events_connect(ev);

    return NGX_OK;
}


void
ngx_http_yoti_idv_notify_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_yoti_idv_events_t  *ev;

    ev = &ngx_http_yoti_idv_events;

    ev->zone = NULL;

    if (ev->timer.timer_set) {
        ngx_del_timer(&ev->timer);
    }

    if (ev->ac) {
        redisAsyncFree(ev->ac);
    }
}


static void
ngx_http_yoti_idv_events_connect(ngx_http_yoti_idv_events_t *ev)
{
    size_t                           len[3];
    u_char                           db[NGX_INT_T_LEN];
    const char                      *argv[3];
    redisAsyncContext               *ac;
    ngx_connection_t                *c;
    ngx_http_yoti_idv_redis_conf_t  *rcf;

    rcf = ev->conf;

    if (rcf->port == 0) {
        ac = redisAsyncConnectUnix((const char *) rcf->host.data);

    } else {
        ac = redisAsyncConnect((const char *) rcf->host.data, rcf->port);
    }

    if (ac == NULL) {
        ngx_http_yoti_idv_events_down(ev, "no memory for a redis context");
        return;
    }

    if (ac->err) {
        redisAsyncFree(ac);
        ngx_http_yoti_idv_events_down(ev, "cannot connect");
        return;
    }

    c = ngx_get_connection(ac->c.fd, ev->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_yoti_idv_events_down(ev, "no free connection");
        return;
    }

    c->data = ac;
    c->read->handler = ngx_http_yoti_idv_events_read_handler;
    c->write->handler = ngx_http_yoti_idv_events_write_handler;
    c->read->log = ev->log;
    c->write->log = ev->log;

    ac->data = ev;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_yoti_idv_events_add_read;
    ac->ev.delRead = ngx_http_yoti_idv_events_del_read;
    ac->ev.addWrite = ngx_http_yoti_idv_events_add_write;
    ac->ev.delWrite = ngx_http_yoti_idv_events_del_write;
    ac->ev.cleanup = ngx_http_yoti_idv_events_cleanup;

    ev->ac = ac;
    ev->conn = c;
    ev->state = NGX_HTTP_YOTI_IDV_EVENTS_SETUP;

    redisAsyncSetDisconnectCallback(ac, ngx_http_yoti_idv_events_disconnected);

    ngx_http_yoti_idv_events_add_write(c);

    /* the connect, the setup and the first reply within this time */
    ngx_add_timer(&ev->timer, rcf->connect_timeout + rcf->timeout);

    if (rcf->password.len) {
        argv[0] = "AUTH";
        len[0] = sizeof("AUTH") - 1;
        argv[1] = (const char *) rcf->password.data;
        len[1] = rcf->password.len;

        (void) redisAsyncCommandArgv(ac, ngx_http_yoti_idv_events_setup_reply,
                                     (void *) "AUTH", 2, argv, len);
    }

    if (rcf->db) {
        argv[0] = "SELECT";
        len[0] = sizeof("SELECT") - 1;
        argv[1] = (const char *) db;
        len[1] = ngx_sprintf(db, "%ui", rcf->db) - db;

        (void) redisAsyncCommandArgv(ac, ngx_http_yoti_idv_events_setup_reply,
                                     (void *) "SELECT", 2, argv, len);
    }

    /* a name for CLIENT LIST, and for the tests that kill it */

    argv[0] = "CLIENT";
    len[0] = sizeof("CLIENT") - 1;
    argv[1] = "SETNAME";
    len[1] = sizeof("SETNAME") - 1;
    argv[2] = "yoti_idv_events";
    len[2] = sizeof("yoti_idv_events") - 1;

    (void) redisAsyncCommandArgv(ac, ngx_http_yoti_idv_events_setup_reply,
                                 (void *) "CLIENT SETNAME", 3, argv, len);

    if (ev->last_len == 0) {
        /* the first connection: from the newest entry on */
        (void) redisAsyncCommand(ac, ngx_http_yoti_idv_events_start_reply,
                                 ev, "XREVRANGE %s + - COUNT 1",
                                 ev->key.data);

    } else if (ev->last_len == 3 && ngx_strncmp(ev->last, "0-0", 3) == 0) {
        /* the stream was empty: is it still? */
        (void) redisAsyncCommand(ac, ngx_http_yoti_idv_events_check_reply,
                                 ev, "XRANGE %s - + COUNT 1", ev->key.data);

    } else {
        /* is the last entry seen still there, and so all after it? */
        (void) redisAsyncCommand(ac, ngx_http_yoti_idv_events_check_reply,
                                 ev, "XRANGE %s %b %b", ev->key.data,
                                 ev->last, ev->last_len,
                                 ev->last, ev->last_len);
    }
}


static void
ngx_http_yoti_idv_events_setup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    const char *cmd = privdata;

    redisReply                  *rep = reply;
    ngx_http_yoti_idv_events_t  *ev;

    ev = ac->data;

    if (rep == NULL || rep->type != REDIS_REPLY_ERROR) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "yoti_idv: redis at \"%V\" refused %s on the events "
                  "connection: \"%*s\"", &ev->conf->name, cmd,
                  ngx_min(rep->len, 128), rep->str);

    redisAsyncDisconnect(ac);
}


static void
ngx_http_yoti_idv_events_start_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                  *rep = reply, *entry;
    ngx_http_yoti_idv_events_t  *ev;

    ev = ac->data;

    if (rep == NULL || ev->state != NGX_HTTP_YOTI_IDV_EVENTS_SETUP) {
        return;
    }

    if (rep->type != REDIS_REPLY_ARRAY) {
        ngx_http_yoti_idv_events_down(ev, "unexpected reply to XREVRANGE");
        return;
    }

    if (rep->elements == 0) {
        ngx_memcpy(ev->last, "0-0", 3);
        ev->last_len = 3;

    } else {
        entry = rep->element[0];

        if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 1
            || entry->element[0]->type != REDIS_REPLY_STRING
            || entry->element[0]->len >= NGX_HTTP_YOTI_IDV_EVENTS_ID_LEN)
        {
            ngx_http_yoti_idv_events_down(ev,
                                          "unexpected reply to XREVRANGE");
            return;
        }

        ngx_memcpy(ev->last, entry->element[0]->str, entry->element[0]->len);
        ev->last_len = entry->element[0]->len;
    }

    if (ev->missed) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "yoti_idv: the events connection to redis at \"%V\" "
                      "was down since this worker started: the cached "
                      "verdicts of the zone are dropped", &ev->conf->name);

        ngx_http_yoti_idv_shm_flush(ev->zone);
        ev->missed = 0;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "yoti_idv events from \"%*s\"", ev->last_len, ev->last);

    ngx_http_yoti_idv_events_read(ev);
}


static void
ngx_http_yoti_idv_events_check_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                  *rep = reply;
    ngx_uint_t                   empty, gap;
    ngx_http_yoti_idv_events_t  *ev;

    ev = ac->data;

    if (rep == NULL || ev->state != NGX_HTTP_YOTI_IDV_EVENTS_SETUP) {
        return;
    }

    if (rep->type != REDIS_REPLY_ARRAY) {
        ngx_http_yoti_idv_events_down(ev, "unexpected reply to XRANGE");
        return;
    }

    empty = (ev->last_len == 3 && ngx_strncmp(ev->last, "0-0", 3) == 0);

    /* the stream was empty and is not (perhaps trimmed), or lost our id */
    gap = empty ? (rep->elements != 0) : (rep->elements == 0);

    if (gap) {
        ngx_log_error(NGX_LOG_WARN, ev->log, 0,
                      "yoti_idv: the invalidations missed while the events "
                      "connection to redis at \"%V\" was down are not all in "
                      "\"%V\" any more: the cached verdicts of the zone are "
                      "dropped", &ev->conf->name, &ev->key);

        ngx_http_yoti_idv_shm_flush(ev->zone);
    }

    ngx_http_yoti_idv_events_read(ev);
}


static void
ngx_http_yoti_idv_events_read(ngx_http_yoti_idv_events_t *ev)
{
    size_t       len[9];
    const char  *argv[9];

    if (ev->zone == NULL || ngx_exiting) {
        return;
    }

    argv[0] = "XREAD";
    len[0] = sizeof("XREAD") - 1;
    argv[1] = "COUNT";
    len[1] = sizeof("COUNT") - 1;
    argv[2] = NGX_HTTP_YOTI_IDV_EVENTS_COUNT;
    len[2] = sizeof(NGX_HTTP_YOTI_IDV_EVENTS_COUNT) - 1;
    argv[3] = "BLOCK";
    len[3] = sizeof("BLOCK") - 1;
    argv[4] = "10000";
    len[4] = sizeof("10000") - 1;
    argv[5] = "STREAMS";
    len[5] = sizeof("STREAMS") - 1;
    argv[6] = (char *) ev->key.data;
    len[6] = ev->key.len;
    argv[7] = (char *) ev->last;
    len[7] = ev->last_len;

    if (redisAsyncCommandArgv(ev->ac, ngx_http_yoti_idv_events_read_reply,
                              ev, 8, argv, len)
        != REDIS_OK)
    {
        ngx_http_yoti_idv_events_down(ev, "XREAD not sent");
        return;
    }

    ev->state = NGX_HTTP_YOTI_IDV_EVENTS_READING;

    if (ev->timer.timer_set) {
        ngx_del_timer(&ev->timer);
    }

    ngx_add_timer(&ev->timer,
                  NGX_HTTP_YOTI_IDV_EVENTS_BLOCK + ev->conf->timeout);
}


static void
ngx_http_yoti_idv_events_read_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    size_t                       i;
    redisReply                  *rep = reply, *entries;
    ngx_http_yoti_idv_events_t  *ev;

    ev = ac->data;

    if (rep == NULL || ev->zone == NULL) {
        return;
    }

    if (rep->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "yoti_idv: redis at \"%V\" answered \"%*s\" to XREAD "
                      "on \"%V\"", &ev->conf->name, ngx_min(rep->len, 128),
                      rep->str, &ev->key);
        ngx_http_yoti_idv_events_down(ev, NULL);
        return;
    }

    /* a good reply: the next failure backs off from scratch */
    ev->backoff = 0;

    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1
        && rep->element[0]->type == REDIS_REPLY_ARRAY
        && rep->element[0]->elements == 2
        && rep->element[0]->element[1]->type == REDIS_REPLY_ARRAY)
    {
        entries = rep->element[0]->element[1];

        for (i = 0; i < entries->elements; i++) {
            ngx_http_yoti_idv_events_apply(ev, entries->element[i]);
        }

    } else if (rep->type != REDIS_REPLY_NIL) {
        ngx_http_yoti_idv_events_down(ev, "unexpected reply to XREAD");
        return;
    }

    ngx_http_yoti_idv_events_read(ev);
}


/* [id, [field, value, ...]] */

static void
ngx_http_yoti_idv_events_apply(ngx_http_yoti_idv_events_t *ev,
    redisReply *entry)
{
    size_t       i;
    ngx_str_t    id;
    ngx_uint_t   n;
    redisReply  *fields, *f, *v;

    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2
        || entry->element[0]->type != REDIS_REPLY_STRING
        || entry->element[0]->len >= NGX_HTTP_YOTI_IDV_EVENTS_ID_LEN)
    {
        return;
    }

    ngx_memcpy(ev->last, entry->element[0]->str, entry->element[0]->len);
    ev->last_len = entry->element[0]->len;

    fields = entry->element[1];

    if (fields->type != REDIS_REPLY_ARRAY) {
        return;
    }

    for (i = 0; i + 1 < fields->elements; i += 2) {
        f = fields->element[i];
        v = fields->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        id.data = (u_char *) v->str;
        id.len = v->len;

        if (f->len == 7 && ngx_strncmp(f->str, "session", 7) == 0) {
            n = ngx_http_yoti_idv_shm_invalidate(ev->zone,
                                                 NGX_HTTP_YOTI_IDV_BY_SESSION,
                                                 &id);

        } else if (f->len == 4 && ngx_strncmp(f->str, "user", 4) == 0) {
            n = ngx_http_yoti_idv_shm_invalidate(ev->zone,
                                                 NGX_HTTP_YOTI_IDV_BY_USER,
                                                 &id);

        } else if (f->len == 5 && ngx_strncmp(f->str, "flush", 5) == 0) {
            ngx_http_yoti_idv_shm_flush(ev->zone);
            n = 0;

        } else {
            continue;
        }

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "yoti_idv event %*s: %ui entries dropped",
                       f->len, f->str, n, 0);
    }
}


/* the connection goes (when there is one), the timer reconnects */

static void
ngx_http_yoti_idv_events_down(ngx_http_yoti_idv_events_t *ev,
    const char *why)
{
    if (why) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "yoti_idv: events connection to redis at \"%V\": %s",
                      &ev->conf->name, why);
    }

    if (ev->ac) {
        /* in a reply callback hiredis frees it once the callback returns */
        redisAsyncFree(ev->ac);
        return;
    }

    /* no context (it failed at once): the cleanup will not run */
    ev->state = NGX_HTTP_YOTI_IDV_EVENTS_DOWN;

    if (ev->last_len == 0) {
        ev->missed = 1;
    }

    if (ev->zone == NULL || ngx_exiting) {
        return;
    }

    ev->backoff = ev->backoff ? ngx_min(ev->backoff * 2, 1000) : 50;

    if (ev->timer.timer_set) {
        ngx_del_timer(&ev->timer);
    }

    ngx_add_timer(&ev->timer, ev->backoff);
}


static void
ngx_http_yoti_idv_events_timer(ngx_event_t *e)
{
    ngx_http_yoti_idv_events_t *ev = e->data;

    if (ev->state == NGX_HTTP_YOTI_IDV_EVENTS_DOWN) {
        ngx_http_yoti_idv_events_connect(ev);
        return;
    }

    ngx_http_yoti_idv_events_down(ev, "redis did not answer in time");
}


static void
ngx_http_yoti_idv_events_disconnected(const redisAsyncContext *ac,
    int status)
{
    ngx_http_yoti_idv_events_t  *ev = ac->data;

    if (status != REDIS_OK && ev->zone) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "yoti_idv: events connection to redis at \"%V\" "
                      "lost: %s", &ev->conf->name, ac->errstr);
    }
}


static void
ngx_http_yoti_idv_events_read_handler(ngx_event_t *e)
{
    ngx_connection_t  *c = e->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_yoti_idv_events_write_handler(ngx_event_t *e)
{
    ngx_connection_t  *c = e->data;

    redisAsyncHandleWrite(c->data);
}


/* level-triggered, as in ngx_http_yoti_idv_redis.c */

static void
ngx_http_yoti_idv_events_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "yoti_idv: cannot watch the events connection");
        }
    }
}


static void
ngx_http_yoti_idv_events_del_read(void *data)
{
    ngx_connection_t  *c = data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_yoti_idv_events_add_write(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "yoti_idv: cannot watch the events connection");
        }
    }
}


static void
ngx_http_yoti_idv_events_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis frees the context: the one place a reconnect is scheduled */

static void
ngx_http_yoti_idv_events_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    ngx_http_yoti_idv_events_t  *ev;

    ev = &ngx_http_yoti_idv_events;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    if (ev->conn != c) {
        return;
    }

    ev->ac = NULL;
    ev->conn = NULL;

    ngx_http_yoti_idv_events_down(ev, NULL);
}
