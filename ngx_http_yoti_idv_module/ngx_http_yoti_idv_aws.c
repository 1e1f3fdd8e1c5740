
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * The aws_rekognition provider: GetFaceLivenessSessionResults signed with
 * SigV4 (ngx_yoti_idv_sigv4.c), its answers evaluated by
 * ngx_yoti_idv_rekognition.c, and the credentials file, which each worker
 * re-reads on a timer when it changed.
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_sigv4.h"
#include "ngx_yoti_idv_rekognition.h"

#include <openssl/crypto.h>


#define NGX_HTTP_YOTI_IDV_AWS_REFRESH   60000
#define NGX_HTTP_YOTI_IDV_AWS_FILE_MAX  65536

#define NGX_HTTP_YOTI_IDV_AWS_TARGET                                          \
    "RekognitionService.GetFaceLivenessSessionResults"
#define NGX_HTTP_YOTI_IDV_AWS_TYPE      "application/x-amz-json-1.1"


struct ngx_http_yoti_idv_aws_creds_s {
    ngx_str_t                      path;        /* NUL-terminated */
    ngx_str_t                      profile;
    ngx_yoti_idv_aws_creds_t       creds;       /* the last good ones */

    /* the file as last read, good or not */
    ngx_file_uniq_t                uniq;
    time_t                         mtime;
    off_t                          size;

    ngx_uint_t                     broken;      /* said so once */
    ngx_event_t                    timer;
};


static ngx_int_t ngx_http_yoti_idv_aws_create_request(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_http_yoti_idv_fetch_t *fetch);
static ngx_uint_t ngx_http_yoti_idv_aws_same_request(
    ngx_http_yoti_idv_loc_conf_t *one, ngx_http_yoti_idv_loc_conf_t *two);
static void ngx_http_yoti_idv_aws_evaluate(ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_answer_t *a, const ngx_yoti_idv_policy_t *policy,
    ngx_yoti_idv_result_t *res);
static char *ngx_http_yoti_idv_aws_check_conf(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *conf);
static ngx_int_t ngx_http_yoti_idv_aws_read(ngx_http_yoti_idv_aws_creds_t *ac,
    char *err, size_t err_len);
static void ngx_http_yoti_idv_aws_refresh(ngx_event_t *ev);
static void ngx_http_yoti_idv_aws_cleanup(void *data);


const ngx_http_yoti_idv_provider_t  ngx_http_yoti_idv_provider_aws = {
    ngx_string("aws_rekognition"),
    ngx_string("X-Amzn-ErrorType"),
    "a lowercase UUID (36 characters of 0-9, a-f and \"-\")",
    ngx_yoti_idv_aws_valid_session_id,
    ngx_http_yoti_idv_aws_create_request,
    ngx_http_yoti_idv_aws_same_request,
    ngx_http_yoti_idv_aws_evaluate,
    ngx_http_yoti_idv_aws_check_conf
};


/*
 * POST <api>/ with {"SessionId":"<id>"}, signed over content-type, host,
 * x-amz-content-sha256, x-amz-date, x-amz-security-token (temporary
 * credentials) and x-amz-target
 */

static ngx_int_t
ngx_http_yoti_idv_aws_create_request(ngx_http_request_t *r,
    ngx_http_yoti_idv_loc_conf_t *ylcf, ngx_str_t *session_id,
    ngx_http_yoti_idv_fetch_t *fetch)
{
    int                             n;
    u_char                         *p, *auth, *date, *hash, *token, *clen;
    ngx_yoti_idv_sigv4_t            s;
    ngx_yoti_idv_aws_creds_t       *c;
    ngx_yoti_idv_sigv4_out_t        out;
    ngx_http_yoti_idv_aws_creds_t  *ac;

    ac = ylcf->aws_creds;
    c = &ac->creds;

    fetch->method = NGX_HTTP_POST;
    ngx_str_set(&fetch->method_name, "POST");
    ngx_str_null(&fetch->args);

    fetch->uri.len = ylcf->api.len + 1;
    fetch->uri.data = ngx_pnalloc(r->pool, fetch->uri.len);
    if (fetch->uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(fetch->uri.data, ylcf->api.data, ylcf->api.len);
    *p = '/';

    /* the session id is a UUID: nothing in it needs escaping */

    fetch->body.len = sizeof("{\"SessionId\":\"\"}") - 1 + session_id->len;
    fetch->body.data = ngx_pnalloc(r->pool, fetch->body.len);
    if (fetch->body.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(fetch->body.data, "{\"SessionId\":\"%V\"}", session_id);

    ngx_memzero(&s, sizeof(ngx_yoti_idv_sigv4_t));

    s.region = (char *) ylcf->aws_region.data;
    s.region_len = ylcf->aws_region.len;
    s.service = "rekognition";
    s.service_len = sizeof("rekognition") - 1;
    s.host = (char *) ylcf->aws_signed_host.data;
    s.host_len = ylcf->aws_signed_host.len;
    s.content_type = NGX_HTTP_YOTI_IDV_AWS_TYPE;
    s.content_type_len = sizeof(NGX_HTTP_YOTI_IDV_AWS_TYPE) - 1;
    s.target = NGX_HTTP_YOTI_IDV_AWS_TARGET;
    s.target_len = sizeof(NGX_HTTP_YOTI_IDV_AWS_TARGET) - 1;
    s.body = (char *) fetch->body.data;
    s.body_len = fetch->body.len;
    s.key_id = c->key_id;
    s.key_id_len = c->key_id_len;
    s.secret = c->secret;
    s.secret_len = c->secret_len;

    /*
     * the token is copied: a rotation may replace the credentials before
     * the subrequest writes its headers
     */

    token = NULL;

    if (c->token_len) {
        token = ngx_pnalloc(r->pool, c->token_len);
        if (token == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(token, c->token, c->token_len);

        s.token = (char *) token;
        s.token_len = c->token_len;
    }

    if (ngx_yoti_idv_amz_date(ngx_time(), s.amz_date) != 0
        || ngx_yoti_idv_sigv4_sign(&s, &out, NULL, 0, NULL, 0) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "yoti_idv: signing the request failed");
        return NGX_ERROR;
    }

    auth = ngx_pnalloc(r->pool, ngx_yoti_idv_sigv4_authorization_len(&s));
    date = ngx_pnalloc(r->pool, NGX_YOTI_IDV_AMZ_DATE_LEN);
    hash = ngx_pnalloc(r->pool, NGX_YOTI_IDV_SHA256_HEX_LEN);
    clen = ngx_pnalloc(r->pool, NGX_SIZE_T_LEN);

    if (auth == NULL || date == NULL || hash == NULL || clen == NULL) {
        return NGX_ERROR;
    }

    n = ngx_yoti_idv_sigv4_authorization(&s, &out, (char *) auth,
                                         ngx_yoti_idv_sigv4_authorization_len(
                                                                        &s));
    if (n < 0) {
        return NGX_ERROR;
    }

    ngx_memcpy(date, s.amz_date, NGX_YOTI_IDV_AMZ_DATE_LEN);
    ngx_memcpy(hash, out.payload_hash, NGX_YOTI_IDV_SHA256_HEX_LEN);
    OPENSSL_cleanse(&out, sizeof(out));

    if (ngx_array_init(&fetch->headers, r->pool, 7, sizeof(ngx_keyval_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_yoti_idv_add_header(fetch, "Content-Type",
                                     (u_char *) NGX_HTTP_YOTI_IDV_AWS_TYPE,
                                     sizeof(NGX_HTTP_YOTI_IDV_AWS_TYPE) - 1)
        != NGX_OK
        || ngx_http_yoti_idv_add_header(fetch, "Content-Length", clen,
                                        ngx_sprintf(clen, "%uz",
                                                    fetch->body.len)
                                        - clen)
           != NGX_OK
        || ngx_http_yoti_idv_add_header(fetch, "X-Amz-Target",
                                  (u_char *) NGX_HTTP_YOTI_IDV_AWS_TARGET,
                                  sizeof(NGX_HTTP_YOTI_IDV_AWS_TARGET) - 1)
           != NGX_OK
        || ngx_http_yoti_idv_add_header(fetch, "X-Amz-Date", date,
                                        NGX_YOTI_IDV_AMZ_DATE_LEN)
           != NGX_OK
        || ngx_http_yoti_idv_add_header(fetch, "X-Amz-Content-Sha256", hash,
                                        NGX_YOTI_IDV_SHA256_HEX_LEN)
           != NGX_OK
        || (token
            && ngx_http_yoti_idv_add_header(fetch, "X-Amz-Security-Token",
                                            token, s.token_len)
               != NGX_OK)
        || ngx_http_yoti_idv_add_header(fetch, "Authorization", auth, n)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_yoti_idv_aws_same_request(ngx_http_yoti_idv_loc_conf_t *one,
    ngx_http_yoti_idv_loc_conf_t *two)
{
    return one->aws_creds == two->aws_creds
           && ngx_http_yoti_idv_str_eq(&one->api, &two->api)
           && ngx_http_yoti_idv_str_eq(&one->aws_region, &two->aws_region)
           && ngx_http_yoti_idv_str_eq(&one->aws_signed_host,
                                       &two->aws_signed_host);
}


static void
ngx_http_yoti_idv_aws_evaluate(ngx_http_yoti_idv_loc_conf_t *ylcf,
    ngx_http_yoti_idv_answer_t *a, const ngx_yoti_idv_policy_t *policy,
    ngx_yoti_idv_result_t *res)
{
    u_char  *p, *last;

    if (ngx_yoti_idv_aws_eval_response(a->status,
                                       (const char *) a->error_type.data,
                                       a->error_type.len,
                                       (const char *) a->body.data,
                                       a->body.len, policy,
                                       ylcf->min_confidence, res)
        != NGX_YOTI_IDV_AWS_CONF_ERROR)
    {
        return;
    }

    /* what the operator can fix, by name */

    p = (u_char *) res->detail + ngx_strlen(res->detail);
    last = (u_char *) res->detail + NGX_YOTI_IDV_DETAIL_LEN - 1;

    p = ngx_slprintf(p, last, "; check credentials \"%V\" profile [%V], "
                     "region \"%V\", host \"%V\"", &ylcf->aws_creds->path,
                     &ylcf->aws_creds->profile, &ylcf->aws_region,
                     &ylcf->aws_signed_host);
    *p = '\0';
}


static char *
ngx_http_yoti_idv_aws_check_conf(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *conf)
{
    ngx_yoti_idv_req_t  *req;

    if (conf->aws_region.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_provider aws_rekognition\" needs "
                           "\"yoti_idv_aws_region\"");
        return NGX_CONF_ERROR;
    }

    if (conf->aws_creds == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_provider aws_rekognition\" needs "
                           "\"yoti_idv_aws_credentials\"");
        return NGX_CONF_ERROR;
    }

    req = conf->requires ? conf->requires->elts : NULL;

    if (req == NULL || conf->requires->nelts != 1
        || req[0].type_len != sizeof("LIVENESS") - 1
        || ngx_strncmp(req[0].type, "LIVENESS", req[0].type_len) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_provider aws_rekognition\" needs "
                           "exactly one \"yoti_idv_require LIVENESS "
                           "min_confidence=<0..100>\", and no other type");
        return NGX_CONF_ERROR;
    }

    if (conf->min_confidence == NGX_CONF_UNSET) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_require LIVENESS\" of "
                           "\"yoti_idv_provider aws_rekognition\" needs "
                           "\"min_confidence=\": AWS publishes no "
                           "threshold, choose one from 0 to 100");
        return NGX_CONF_ERROR;
    }

    if (conf->aws_host.len) {
        conf->aws_signed_host = conf->aws_host;
        return NGX_CONF_OK;
    }

    conf->aws_signed_host.len = sizeof("rekognition..amazonaws.com") - 1
                                + conf->aws_region.len;
    conf->aws_signed_host.data = ngx_pnalloc(cf->pool,
                                             conf->aws_signed_host.len);
    if (conf->aws_signed_host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(conf->aws_signed_host.data, "rekognition.%V.amazonaws.com",
                &conf->aws_region);

    return NGX_CONF_OK;
}


/* yoti_idv_provider yoti | aws_rekognition */

char *
ngx_http_yoti_idv_provider(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    ngx_str_t  *value;

    if (ylcf->provider) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "yoti") == 0) {
        ylcf->provider = &ngx_http_yoti_idv_provider_yoti;

    } else if (ngx_strcmp(value[1].data, "aws_rekognition") == 0) {
        ylcf->provider = &ngx_http_yoti_idv_provider_aws;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid provider \"%V\" in \"yoti_idv_provider\": "
                           "\"yoti\" or \"aws_rekognition\" expected",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* yoti_idv_aws_region eu-west-1: it is signed, and names the host */

char *
ngx_http_yoti_idv_aws_region(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    u_char      c;
    ngx_str_t  *value;
    ngx_uint_t  i;

    if (ylcf->aws_region.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            break;
        }
    }

    if (value[1].len == 0 || value[1].len > 32 || i < value[1].len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid region \"%V\" in \"yoti_idv_aws_region\": "
                           "1 to 32 of a-z, 0-9 and \"-\" expected, "
                           "like \"eu-west-1\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ylcf->aws_region = value[1];

    return NGX_CONF_OK;
}


/* yoti_idv_aws_host name[:port]: the Host that is signed */

char *
ngx_http_yoti_idv_aws_host(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    u_char      c;
    ngx_str_t  *value;
    ngx_uint_t  i;

    if (ylcf->aws_host.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':'
              || c == '[' || c == ']'))
        {
            break;
        }
    }

    if (value[1].len == 0 || value[1].len > 255 || i < value[1].len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid host \"%V\" in \"yoti_idv_aws_host\": "
                           "a host name or address with an optional port "
                           "expected, without a scheme or path", &value[1]);
        return NGX_CONF_ERROR;
    }

    ylcf->aws_host = value[1];

    return NGX_CONF_OK;
}


/* yoti_idv_aws_credentials file [profile=name] */

char *
ngx_http_yoti_idv_aws_credentials(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    char                             err[256];
    ngx_str_t                       *value, path, profile;
    ngx_uint_t                       i;
    ngx_pool_cleanup_t              *cln;
    ngx_http_yoti_idv_aws_creds_t   *ac, **acp;
    ngx_http_yoti_idv_main_conf_t   *ymcf;

    if (ylcf->aws_creds != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_set(&profile, "default");

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "profile=", 8) != 0
            || value[2].len == 8)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in "
                               "\"yoti_idv_aws_credentials\": "
                               "\"profile=<name>\" expected", &value[2]);
            return NGX_CONF_ERROR;
        }

        profile.data = value[2].data + 8;
        profile.len = value[2].len - 8;
    }

    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);

    if (ymcf->aws_creds == NULL) {
        ymcf->aws_creds = ngx_array_create(cf->pool, 2, sizeof(void *));
        if (ymcf->aws_creds == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /* one copy, and one timer, for each file and profile */

    acp = ymcf->aws_creds->elts;

    for (i = 0; i < ymcf->aws_creds->nelts; i++) {
        if (acp[i]->path.len == path.len
            && ngx_strncmp(acp[i]->path.data, path.data, path.len) == 0
            && acp[i]->profile.len == profile.len
            && ngx_strncmp(acp[i]->profile.data, profile.data, profile.len)
               == 0)
        {
            ylcf->aws_creds = acp[i];
            return NGX_CONF_OK;
        }
    }

    cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_http_yoti_idv_aws_creds_t));
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    ac = cln->data;
    ngx_memzero(ac, sizeof(ngx_http_yoti_idv_aws_creds_t));

    cln->handler = ngx_http_yoti_idv_aws_cleanup;

    ac->path = path;
    ac->profile = profile;

    if (ngx_http_yoti_idv_aws_read(ac, err, sizeof(err)) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_aws_credentials\" \"%V\" profile "
                           "[%V]: %s", &path, &profile, err);
        return NGX_CONF_ERROR;
    }

    acp = ngx_array_push(ymcf->aws_creds);
    if (acp == NULL) {
        return NGX_CONF_ERROR;
    }

    *acp = ac;
    ylcf->aws_creds = ac;

    return NGX_CONF_OK;
}


/*
 * Reads and parses the file: a small local read, as nginx reads its own
 * files.  The credentials change only when the whole profile is good.
 */

static ngx_int_t
ngx_http_yoti_idv_aws_read(ngx_http_yoti_idv_aws_creds_t *ac, char *err,
    size_t err_len)
{
    u_char                    *p, *buf;
    size_t                     size;
    ssize_t                    n;
    ngx_fd_t                   fd;
    ngx_int_t                  rc;
    ngx_err_t                  e;
    ngx_file_info_t            fi;
    ngx_yoti_idv_aws_creds_t  *tmp;
    u_char                     msg[128];

    rc = NGX_ERROR;
    buf = NULL;
    tmp = NULL;

    fd = ngx_open_file(ac->path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        e = ngx_errno;
        p = ngx_strerror(e, msg, sizeof(msg) - 1);
        *p = '\0';
        ngx_snprintf((u_char *) err, err_len, "cannot open file: %s%Z", msg);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_snprintf((u_char *) err, err_len, "cannot stat the file%Z");
        goto done;
    }

    ac->uniq = ngx_file_uniq(&fi);
    ac->mtime = ngx_file_mtime(&fi);
    ac->size = ngx_file_size(&fi);

    if (!ngx_is_file(&fi)) {
        ngx_snprintf((u_char *) err, err_len, "is not a file%Z");
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_YOTI_IDV_AWS_FILE_MAX) {
        ngx_snprintf((u_char *) err, err_len, "is larger than %d bytes%Z",
                     NGX_HTTP_YOTI_IDV_AWS_FILE_MAX);
        goto done;
    }

    size = (size_t) ngx_file_size(&fi);

    buf = ngx_alloc(size + 1, ngx_cycle->log);
    tmp = ngx_alloc(sizeof(ngx_yoti_idv_aws_creds_t), ngx_cycle->log);

    if (buf == NULL || tmp == NULL) {
        ngx_snprintf((u_char *) err, err_len, "out of memory%Z");
        goto done;
    }

    n = ngx_read_fd(fd, buf, size + 1);

    if (n == -1) {
        e = ngx_errno;
        p = ngx_strerror(e, msg, sizeof(msg) - 1);
        *p = '\0';
        ngx_snprintf((u_char *) err, err_len, "cannot read the file: %s%Z",
                     msg);
        goto done;
    }

    if ((size_t) n != size) {
        ngx_snprintf((u_char *) err, err_len, "changed while it was read%Z");
        goto done;
    }

    if (ngx_yoti_idv_aws_creds_parse((char *) buf, size,
                                     (char *) ac->profile.data,
                                     ac->profile.len, tmp, err, err_len)
        != 0)
    {
        goto done;
    }

    ngx_memcpy(&ac->creds, tmp, sizeof(ngx_yoti_idv_aws_creds_t));

    rc = NGX_OK;

done:

    if (buf) {
        OPENSSL_cleanse(buf, size + 1);
        ngx_free(buf);
    }

    if (tmp) {
        OPENSSL_cleanse(tmp, sizeof(ngx_yoti_idv_aws_creds_t));
        ngx_free(tmp);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", &ac->path);
    }

    return rc;
}


ngx_int_t
ngx_http_yoti_idv_aws_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_http_yoti_idv_aws_creds_t **acp;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_yoti_idv_module);

    if (ymcf == NULL || ymcf->aws_creds == NULL) {
        return NGX_OK;
    }

    acp = ymcf->aws_creds->elts;

    for (i = 0; i < ymcf->aws_creds->nelts; i++) {
        acp[i]->timer.handler = ngx_http_yoti_idv_aws_refresh;
        acp[i]->timer.data = acp[i];
        acp[i]->timer.log = cycle->log;
        acp[i]->timer.cancelable = 1;

        ngx_add_timer(&acp[i]->timer, NGX_HTTP_YOTI_IDV_AWS_REFRESH);
    }

    return NGX_OK;
}


/*
 * Once a minute: a stat, and a read only when the file changed.  A
 * broken file keeps the last good credentials, and is said once.
 */

static void
ngx_http_yoti_idv_aws_refresh(ngx_event_t *ev)
{
    ngx_http_yoti_idv_aws_creds_t *ac = ev->data;

    char             err[256];
    ngx_file_info_t  fi;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_YOTI_IDV_AWS_REFRESH);

    if (ngx_file_info(ac->path.data, &fi) == NGX_FILE_ERROR) {

        if (!ac->broken) {
            ngx_log_error(NGX_LOG_ERR, ev->log, ngx_errno,
                          "yoti_idv: cannot stat the credentials file "
                          "\"%V\", keeping the credentials of profile [%V] "
                          "it had", &ac->path, &ac->profile);
            ac->broken = 1;
        }

        /* whatever comes back is read */
        ac->mtime = 0;

        return;
    }

    if (ngx_file_uniq(&fi) == ac->uniq && ngx_file_mtime(&fi) == ac->mtime
        && ngx_file_size(&fi) == ac->size)
    {
        return;
    }

    if (ngx_http_yoti_idv_aws_read(ac, err, sizeof(err)) != NGX_OK) {

        if (!ac->broken) {
            ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                          "yoti_idv: the credentials file \"%V\" profile "
                          "[%V] %s, keeping the credentials it had",
                          &ac->path, &ac->profile, err);
            ac->broken = 1;
        }

        return;
    }

    ac->broken = 0;

    ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                  "yoti_idv: read the credentials file \"%V\" profile [%V] "
                  "again", &ac->path, &ac->profile);
}


static void
ngx_http_yoti_idv_aws_cleanup(void *data)
{
    ngx_http_yoti_idv_aws_creds_t *ac = data;

    if (ac->timer.timer_set) {
        ngx_del_timer(&ac->timer);
    }

    OPENSSL_cleanse(&ac->creds, sizeof(ngx_yoti_idv_aws_creds_t));
}
