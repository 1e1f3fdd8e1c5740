
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_sign.h"


static ngx_int_t ngx_http_yoti_idv_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_yoti_idv_init(ngx_conf_t *cf);
static void *ngx_http_yoti_idv_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_yoti_idv_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_yoti_idv_sdk_id(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_yoti_idv_pem_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_yoti_idv_key_cleanup(void *data);
static char *ngx_http_yoti_idv_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_yoti_idv_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_yoti_idv_check_status(ngx_conf_t *cf, void *post,
    void *data);


static ngx_conf_post_handler_pt  ngx_http_yoti_idv_status_p =
    ngx_http_yoti_idv_check_status;


static ngx_command_t  ngx_http_yoti_idv_commands[] = {

    { ngx_string("yoti_idv"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, enable),
      NULL },

    { ngx_string("yoti_idv_sdk_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_yoti_idv_sdk_id,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_pem_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_yoti_idv_pem_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_api"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_yoti_idv_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_user_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, user_id),
      NULL },

    { ngx_string("yoti_idv_session_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, session_id),
      NULL },

    { ngx_string("yoti_idv_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_yoti_idv_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_pending_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, pending_status),
      &ngx_http_yoti_idv_status_p },

    { ngx_string("yoti_idv_error_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, error_status),
      &ngx_http_yoti_idv_status_p },

    { ngx_string("yoti_idv_bind_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, bind_user),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_yoti_idv_module_ctx = {
    ngx_http_yoti_idv_preconfiguration,    /* preconfiguration */
    ngx_http_yoti_idv_init,                /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_yoti_idv_create_loc_conf,     /* create location configuration */
    ngx_http_yoti_idv_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_yoti_idv_module = {
    NGX_MODULE_V1,
    &ngx_http_yoti_idv_module_ctx,         /* module context */
    ngx_http_yoti_idv_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_yoti_idv_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_yoti_idv_add_variables(cf);
}


static ngx_int_t
ngx_http_yoti_idv_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_yoti_idv_handler;

    return NGX_OK;
}


static void *
ngx_http_yoti_idv_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_yoti_idv_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_yoti_idv_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->sdk_id = { 0, NULL };
     *     conf->api = { 0, NULL };
     *     conf->provider = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->bind_user = NGX_CONF_UNSET;
    conf->key = NGX_CONF_UNSET_PTR;
    conf->user_id = NGX_CONF_UNSET_PTR;
    conf->session_id = NGX_CONF_UNSET_PTR;
    conf->requires = NGX_CONF_UNSET_PTR;
    conf->pending_status = NGX_CONF_UNSET_UINT;
    conf->error_status = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_yoti_idv_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_yoti_idv_loc_conf_t *prev = parent;
    ngx_http_yoti_idv_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->bind_user, prev->bind_user, 1);
    ngx_conf_merge_str_value(conf->sdk_id, prev->sdk_id, "");
    ngx_conf_merge_str_value(conf->api, prev->api, "");
    ngx_conf_merge_ptr_value(conf->key, prev->key, NULL);
    ngx_conf_merge_ptr_value(conf->user_id, prev->user_id, NULL);
    ngx_conf_merge_ptr_value(conf->session_id, prev->session_id, NULL);
    ngx_conf_merge_ptr_value(conf->requires, prev->requires, NULL);
    ngx_conf_merge_uint_value(conf->pending_status, prev->pending_status,
                              NGX_HTTP_FORBIDDEN);
    ngx_conf_merge_uint_value(conf->error_status, prev->error_status,
                              NGX_HTTP_SERVICE_UNAVAILABLE);

    if (conf->provider == NULL) {
        conf->provider = prev->provider ? prev->provider
                                        : &ngx_http_yoti_idv_provider_yoti;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    /*
     * "yoti_idv on" can be inherited by the internal location that
     * proxies to the provider; the handler skips the module's own
     * subrequests there, but everything else must be complete
     */

    if (conf->sdk_id.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv\" is on but \"yoti_idv_sdk_id\" "
                           "is not set");
        return NGX_CONF_ERROR;
    }

    if (conf->key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv\" is on but \"yoti_idv_pem_key\" "
                           "is not set");
        return NGX_CONF_ERROR;
    }

    if (conf->api.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv\" is on but \"yoti_idv_api\" "
                           "is not set");
        return NGX_CONF_ERROR;
    }

    if (conf->user_id == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv\" is on but \"yoti_idv_user_id\" "
                           "is not set");
        return NGX_CONF_ERROR;
    }

    if (conf->session_id == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv\" is on but \"yoti_idv_session_id\" "
                           "is not set");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_yoti_idv_sdk_id(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    size_t      len;
    ngx_str_t  *value;

    if (ylcf->sdk_id.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_sdk_id\" must not be empty");
        return NGX_CONF_ERROR;
    }

    /* the SDK id is signed exactly as it goes on the wire */

    len = value[1].len
          + 2 * ngx_escape_uri(NULL, value[1].data, value[1].len,
                               NGX_ESCAPE_ARGS);

    ylcf->sdk_id.data = ngx_pnalloc(cf->pool, len);
    if (ylcf->sdk_id.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_escape_uri(ylcf->sdk_id.data, value[1].data, value[1].len,
                   NGX_ESCAPE_ARGS);

    ylcf->sdk_id.len = len;

    return NGX_CONF_OK;
}


static char *
ngx_http_yoti_idv_pem_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    char                 err[256];
    ngx_str_t           *value, path;
    ngx_pool_cleanup_t  *cln;

    if (ylcf->key != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    /* ngx_conf_full_name() returns a null-terminated string */

    ylcf->key = ngx_yoti_idv_key_load((char *) path.data, err, sizeof(err));

    if (ylcf->key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_pem_key\" \"%V\": %s", &path, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_yoti_idv_key_cleanup;
    cln->data = ylcf->key;

    return NGX_CONF_OK;
}


static void
ngx_http_yoti_idv_key_cleanup(void *data)
{
    EVP_PKEY_free(data);
}


static char *
ngx_http_yoti_idv_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    ngx_str_t  *value;

    if (ylcf->api.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_api\" must be a URI starting "
                           "with \"/\", not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '?')
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, '$'))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_api\" must be a plain location "
                           "prefix without arguments or variables, "
                           "not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ylcf->api = value[1];

    /* "/_yoti_idv/" and "/_yoti_idv" both name the same prefix */

    while (ylcf->api.len > 1 && ylcf->api.data[ylcf->api.len - 1] == '/') {
        ylcf->api.len--;
    }

    if (ylcf->api.len == 1) {
        ylcf->api.len = 0;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_yoti_idv_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    ngx_str_t           *value;
    ngx_uint_t           i;
    ngx_yoti_idv_req_t  *req;

    value = cf->args->elts;

    if (!ngx_yoti_idv_valid_type((char *) value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid check type \"%V\" in \"yoti_idv_require\": "
                           "1 to 64 of A-Z, 0-9 and \"_\" expected",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ylcf->requires == NGX_CONF_UNSET_PTR) {
        ylcf->requires = ngx_array_create(cf->pool, 4,
                                          sizeof(ngx_yoti_idv_req_t));
        if (ylcf->requires == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ylcf->requires->elts;

    for (i = 0; i < ylcf->requires->nelts; i++) {
        if (req[i].type_len == value[1].len
            && ngx_strncmp(req[i].type, value[1].data, value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate \"yoti_idv_require\" for \"%V\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(ylcf->requires);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    req->type = (const char *) value[1].data;
    req->type_len = value[1].len;

    if (cf->args->nelts == 2) {
        req->mode = ngx_yoti_idv_default_mode(req->type, req->type_len);
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[2].data, "any") == 0) {
        req->mode = NGX_YOTI_IDV_REQ_ANY;

    } else if (ngx_strcmp(value[2].data, "all") == 0) {
        req->mode = NGX_YOTI_IDV_REQ_ALL;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid mode \"%V\" in \"yoti_idv_require\": "
                           "\"any\" or \"all\" expected", &value[2]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_yoti_idv_check_status(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *sp = data;

    if (*sp < 400 || *sp > 599) {
        return "must be between 400 and 599";
    }

    return NGX_CONF_OK;
}
