
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include "ngx_http_yoti_idv_module.h"
#include "ngx_yoti_idv_sign.h"
#include "ngx_yoti_idv_rekognition.h"


static ngx_int_t ngx_http_yoti_idv_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_yoti_idv_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_yoti_idv_init_process(ngx_cycle_t *cycle);
static void ngx_http_yoti_idv_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_yoti_idv_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_yoti_idv_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_yoti_idv_fingerprint(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *conf);
static char *ngx_http_yoti_idv_redis_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_yoti_idv_cache_valid(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_yoti_idv_create_loc_conf(ngx_conf_t *cf);
static void ngx_http_yoti_idv_user_header(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *conf);
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
static char *ngx_http_yoti_idv_require_param(ngx_conf_t *cf,
    ngx_yoti_idv_req_t *req, ngx_str_t *value);
static char *ngx_http_yoti_idv_check_age(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_yoti_idv_check_status(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_yoti_idv_off_time(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_post_handler_pt  ngx_http_yoti_idv_status_p =
    ngx_http_yoti_idv_check_status;
static ngx_conf_post_handler_pt  ngx_http_yoti_idv_age_p =
    ngx_http_yoti_idv_check_age;


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
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_yoti_idv_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_require_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, require_age),
      &ngx_http_yoti_idv_age_p },

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

    { ngx_string("yoti_idv_cache_use_stale"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_yoti_idv_off_time,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, use_stale),
      NULL },

    { ngx_string("yoti_idv_cache_background_update"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, background_update),
      NULL },

    /* post: the value is in milliseconds */

    { ngx_string("yoti_idv_breaker"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_yoti_idv_off_time,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, breaker),
      (void *) 1 },

    { ngx_string("yoti_idv_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yoti_idv_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_yoti_idv_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_redis_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_main_conf_t, prefix),
      NULL },

    { ngx_string("yoti_idv_cache_valid"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_yoti_idv_cache_valid,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_bind_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_yoti_idv_loc_conf_t, bind_user),
      NULL },

    { ngx_string("yoti_idv_provider"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_yoti_idv_provider,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_aws_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_yoti_idv_aws_region,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_aws_host"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_yoti_idv_aws_host,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_aws_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_yoti_idv_aws_credentials,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_notifications"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_yoti_idv_notifications,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_yoti_idv_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_yoti_idv_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("yoti_idv_metrics_buckets"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_yoti_idv_metrics_buckets,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_yoti_idv_module_ctx = {
    ngx_http_yoti_idv_preconfiguration,    /* preconfiguration */
    ngx_http_yoti_idv_init,                /* postconfiguration */

    ngx_http_yoti_idv_create_main_conf,    /* create main configuration */
    ngx_http_yoti_idv_init_main_conf,      /* init main configuration */

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
    ngx_http_yoti_idv_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_yoti_idv_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_yoti_idv_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_yoti_idv_watch_proxy(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_yoti_idv_add_variables(cf);
}


static ngx_int_t
ngx_http_yoti_idv_init(ngx_conf_t *cf)
{
    ngx_array_t                *handlers;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    ngx_http_yoti_idv_unwatch_proxy();

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * access handlers run last to first: at the front of the array, the
     * gate runs after allow/deny, auth_basic and auth_request, so that
     * only requests they let through can cost a call to the provider
     */

    handlers = &cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers;

    h = ngx_array_push(handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h = handlers->elts;

    ngx_memmove(&h[1], &h[0], (handlers->nelts - 1) * sizeof(*h));

    h[0] = ngx_http_yoti_idv_access_handler;

    /*
     * nginx has no access phase for subrequests: they are gated in the
     * rewrite phase, at the end of the array so before the rewrite
     * module's "return" and "rewrite"
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_yoti_idv_rewrite_handler;

    if (ngx_http_yoti_idv_check_apis(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_yoti_idv_metrics_init(cf);
}


static ngx_int_t
ngx_http_yoti_idv_init_process(ngx_cycle_t *cycle)
{
    (void) ngx_http_yoti_idv_metrics_init_process(cycle);

    if (ngx_http_yoti_idv_aws_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_yoti_idv_events_init_process(cycle);
}


static void
ngx_http_yoti_idv_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_yoti_idv_events_exit_process(cycle);
    ngx_http_yoti_idv_redis_exit_process(cycle);
}


static void *
ngx_http_yoti_idv_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_yoti_idv_main_conf_t));
    if (ymcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     ymcf->redis = NULL;
     *     ymcf->prefix = { 0, NULL };
     */

    ymcf->valid[NGX_HTTP_YOTI_IDV_VALID_ALLOW] = NGX_CONF_UNSET;
    ymcf->valid[NGX_HTTP_YOTI_IDV_VALID_DENY] = NGX_CONF_UNSET;
    ymcf->valid[NGX_HTTP_YOTI_IDV_VALID_PENDING] = NGX_CONF_UNSET;

    return ymcf;
}


static char *
ngx_http_yoti_idv_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_yoti_idv_main_conf_t *ymcf = conf;

    if (ymcf->prefix.data == NULL) {
        ngx_str_set(&ymcf->prefix, "yoti_idv:");
    }

    /* a brace in the prefix would move the keys' hash tag, docs/redis.md */

    if (ymcf->redis && ymcf->redis->mode == NGX_HTTP_YOTI_IDV_REDIS_CLUSTER
        && (ngx_strlchr(ymcf->prefix.data,
                        ymcf->prefix.data + ymcf->prefix.len, '{')
            || ngx_strlchr(ymcf->prefix.data,
                           ymcf->prefix.data + ymcf->prefix.len, '}')))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_redis_prefix\" \"%V\" has a brace, "
                           "which \"yoti_idv_redis cluster=\" does not allow",
                           &ymcf->prefix);
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_value(ymcf->valid[NGX_HTTP_YOTI_IDV_VALID_ALLOW], 600);
    ngx_conf_init_value(ymcf->valid[NGX_HTTP_YOTI_IDV_VALID_DENY], 60);
    ngx_conf_init_value(ymcf->valid[NGX_HTTP_YOTI_IDV_VALID_PENDING], 15);

    if (ymcf->notifications && ymcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_notifications\" requires "
                           "\"yoti_idv_redis\": the nodes learn of a "
                           "notification through it");
        return NGX_CONF_ERROR;
    }

    if (ymcf->notifications
        && ymcf->redis->mode != NGX_HTTP_YOTI_IDV_REDIS_SINGLE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_notifications\" needs one Redis "
                           "server: with \"yoti_idv_redis %s=\" the "
                           "invalidations of the events stream are not "
                           "supported (docs/redis.md)",
                           ymcf->redis->mode == NGX_HTTP_YOTI_IDV_REDIS_CLUSTER
                           ? "cluster" : "sentinel");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
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
     *     conf->aws_region = { 0, NULL };
     *     conf->aws_host = { 0, NULL };
     */

    conf->enable = NGX_CONF_UNSET;
    conf->bind_user = NGX_CONF_UNSET;
    conf->key = NGX_CONF_UNSET_PTR;
    conf->user_id = NGX_CONF_UNSET_PTR;
    conf->session_id = NGX_CONF_UNSET_PTR;
    conf->requires = NGX_CONF_UNSET_PTR;
    conf->require_age = NGX_CONF_UNSET_UINT;
    conf->min_confidence = NGX_CONF_UNSET;
    conf->aws_creds = NGX_CONF_UNSET_PTR;
    conf->pending_status = NGX_CONF_UNSET_UINT;
    conf->error_status = NGX_CONF_UNSET_UINT;
    conf->use_stale = NGX_CONF_UNSET;
    conf->background_update = NGX_CONF_UNSET;
    conf->breaker = NGX_CONF_UNSET_MSEC;
    conf->proxy_kind[0] = NGX_CONF_UNSET_PTR;

    return conf;
}


/*
 * yoti_idv_user_id $http_<name>, the usual case, is read on the hot path
 * by comparing the request's header names with <name> (see gate()),
 * without the complex value and nginx's scan for the variable, unless the
 * configuration defines a variable of that name itself
 */

static void
ngx_http_yoti_idv_user_header(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *conf)
{
    u_char                     *p;
    ngx_str_t                  *v, name;
    ngx_uint_t                  i;
    ngx_hash_key_t             *key;
    ngx_http_core_main_conf_t  *cmcf;

    ngx_str_null(&conf->user_header);

    v = &conf->user_id->value;

    if (conf->user_id->lengths == NULL
        || v->len <= sizeof("$http_") - 1
        || ngx_strncmp(v->data, "$http_", sizeof("$http_") - 1) != 0)
    {
        return;
    }

    name.len = v->len - 1;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return;
    }

    for (i = 0; i < name.len; i++) {
        p = &v->data[i + 1];

        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_'))
        {
            return;
        }

        name.data[i] = ngx_tolower(*p);
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    if (cmcf->variables_keys == NULL) {
        return;
    }

    key = cmcf->variables_keys->keys.elts;

    for (i = 0; i < cmcf->variables_keys->keys.nelts; i++) {
        if (key[i].key.len == name.len
            && ngx_strncmp(key[i].key.data, name.data, name.len) == 0)
        {
            return;
        }
    }

    conf->user_header.data = name.data + sizeof("http_") - 1;
    conf->user_header.len = name.len - (sizeof("http_") - 1);
}


static char *
ngx_http_yoti_idv_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_yoti_idv_loc_conf_t *prev = parent;
    ngx_http_yoti_idv_loc_conf_t *conf = child;

    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ngx_http_yoti_idv_merge_proxy(cf, prev, conf);

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->bind_user, prev->bind_user, 1);
    ngx_conf_merge_str_value(conf->sdk_id, prev->sdk_id, "");
    ngx_conf_merge_str_value(conf->api, prev->api, "");
    ngx_conf_merge_ptr_value(conf->key, prev->key, NULL);
    ngx_conf_merge_ptr_value(conf->user_id, prev->user_id, NULL);
    ngx_conf_merge_ptr_value(conf->session_id, prev->session_id, NULL);

    /* min_confidence= belongs to the requirements it was given with */
    if (conf->requires == NGX_CONF_UNSET_PTR) {
        conf->min_confidence = prev->min_confidence;
    }

    ngx_conf_merge_ptr_value(conf->requires, prev->requires, NULL);
    ngx_conf_merge_uint_value(conf->require_age, prev->require_age, 0);
    ngx_conf_merge_str_value(conf->aws_region, prev->aws_region, "");
    ngx_conf_merge_str_value(conf->aws_host, prev->aws_host, "");
    ngx_conf_merge_ptr_value(conf->aws_creds, prev->aws_creds, NULL);
    ngx_conf_merge_uint_value(conf->pending_status, prev->pending_status,
                              NGX_HTTP_FORBIDDEN);
    ngx_conf_merge_uint_value(conf->error_status, prev->error_status,
                              NGX_HTTP_SERVICE_UNAVAILABLE);
    ngx_conf_merge_sec_value(conf->use_stale, prev->use_stale, 0);

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);

    /* the index sets of docs/redis.md live as long as any verdict */
    ymcf->max_use_stale = ngx_max(ymcf->max_use_stale, conf->use_stale);
    ngx_conf_merge_value(conf->background_update, prev->background_update,
                         0);
    ngx_conf_merge_msec_value(conf->breaker, prev->breaker, 5000);

    conf->breaker_hash = ngx_crc32_long(conf->api.data, conf->api.len);

    if (conf->provider == NULL) {
        conf->provider = prev->provider ? prev->provider
                                        : &ngx_http_yoti_idv_provider_yoti;
    }

    /* Yoti is not a user: its notifications pass the gate of the server */
    if (conf->notify) {
        conf->enable = 0;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    /*
     * "yoti_idv on" can be inherited by the internal location that
     * proxies to the provider; the handler skips the module's own
     * subrequests there, but everything else must be complete
     */

    if (conf->provider->check_conf(cf, conf) != NGX_CONF_OK) {
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

    ngx_http_yoti_idv_user_header(cf, conf);

    /*
     * the age is read from the document fields media of the Yoti API;
     * a provider without one cannot verify it (when the aws_rekognition
     * provider lands, it is refused here by name)
     */

    if (conf->require_age
        && !(conf->provider->name.len == sizeof("yoti") - 1
             && ngx_strncmp(conf->provider->name.data, "yoti",
                            sizeof("yoti") - 1) == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_require_age\" cannot be used with "
                           "the \"%V\" provider: it has no ID document to "
                           "read a date of birth from",
                           &conf->provider->name);
        return NGX_CONF_ERROR;
    }

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);

    if (conf->background_update && ymcf->zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_cache_background_update\" needs "
                           "\"yoti_idv_cache_zone\": the zone makes one "
                           "refresh of a verdict for all workers");
        return NGX_CONF_ERROR;
    }

    if (conf->session_id == NULL && ymcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv\" is on but neither "
                           "\"yoti_idv_session_id\" nor \"yoti_idv_redis\" "
                           "says where the session id comes from");
        return NGX_CONF_ERROR;
    }

    /* Rekognition sessions carry no user: only the mapping binds one */

    if (conf->provider == &ngx_http_yoti_idv_provider_aws
        && conf->session_id && conf->bind_user)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_provider aws_rekognition\" with "
                           "\"yoti_idv_session_id\" needs an explicit "
                           "\"yoti_idv_bind_user off\": a Rekognition "
                           "session names no user, so nothing ties a session "
                           "id from a variable to the requesting user; use "
                           "the Redis mapping to bind sessions to users");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_yoti_idv_fingerprint(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_yoti_idv_metrics_merge(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_yoti_idv_add_api(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * what a verdict depends on besides the session: the policy, and where
 * the session id comes from.  Cached verdicts are keyed by it, so a
 * verdict for a lax policy never serves a strict one, nor one reached
 * with a session id from a cookie a location that trusts only the
 * mapping the application wrote.
 */

static ngx_int_t
ngx_http_yoti_idv_fingerprint(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *conf)
{
    u_char               *p, *text;
    size_t                len;
    ngx_uint_t            i, n;
    unsigned int          md_len;
    ngx_str_t             sdk_id;
    ngx_yoti_idv_req_t   *req;
    u_char                md[EVP_MAX_MD_SIZE];

    req = conf->requires ? conf->requires->elts : NULL;
    n = conf->requires ? conf->requires->nelts : 0;

    len = sizeof("v2\n\n\nbind=0\nsource=variable\n")
          + conf->provider->name.len + conf->sdk_id.len
          + sizeof("region=\nhost=\n") + conf->aws_region.len
          + conf->aws_host.len;

    for (i = 0; i < n; i++) {
        len += req[i].type_len + sizeof(" all\n")
               + sizeof(" liveness_type=") + req[i].liveness_types_len
               + sizeof(" document_type=") + req[i].document_types_len
               + sizeof(" issuing_country=") + req[i].countries_len
               + sizeof(" min_confidence=100.000000\n");
    }

    len += sizeof("age=\n") + NGX_INT_T_LEN;

    text = ngx_pnalloc(cf->temp_pool, len);
    if (text == NULL) {
        return NGX_ERROR;
    }

    /* the SDK id is Yoti's: an inherited one says nothing about AWS */

    if (conf->provider == &ngx_http_yoti_idv_provider_aws) {
        ngx_str_set(&sdk_id, "");

    } else {
        sdk_id = conf->sdk_id;
    }

    p = ngx_sprintf(text, "v2\n%V\n%V\nbind=%i\nsource=%s\n",
                    &conf->provider->name, &sdk_id, conf->bind_user,
                    conf->session_id ? "variable" : "redis");

    /* Yoti's text is unchanged; what else decides an AWS verdict follows */

    if (conf->provider == &ngx_http_yoti_idv_provider_aws) {
        p = ngx_sprintf(p, "region=%V\nhost=%V\n", &conf->aws_region,
                        &conf->aws_host);
    }

    /*
     * the parameters and the age are added only when set: the text, and
     * so the keys, of a policy without them stay what they were
     */

    for (i = 0; i < n; i++) {

        if (conf->provider == &ngx_http_yoti_idv_provider_aws) {
            p = ngx_sprintf(p, "%*s min_confidence=%i.%06i\n",
                            req[i].type_len, req[i].type,
                            conf->min_confidence / 1000000,
                            conf->min_confidence % 1000000);
            continue;
        }

        p = ngx_sprintf(p, "%*s %s", req[i].type_len, req[i].type,
                        req[i].mode == NGX_YOTI_IDV_REQ_ANY ? "any" : "all");

        if (req[i].liveness_types) {
            p = ngx_sprintf(p, " liveness_type=%*s",
                            req[i].liveness_types_len, req[i].liveness_types);
        }

        if (req[i].document_types) {
            p = ngx_sprintf(p, " document_type=%*s",
                            req[i].document_types_len, req[i].document_types);
        }

        if (req[i].countries) {
            p = ngx_sprintf(p, " issuing_country=%*s",
                            req[i].countries_len, req[i].countries);
        }

        *p++ = '\n';
    }

    if (conf->require_age) {
        p = ngx_sprintf(p, "age=%ui\n", conf->require_age);
    }

    if (EVP_Digest(text, p - text, md, &md_len, EVP_sha256(), NULL) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "yoti_idv: SHA-256 is not available");
        return NGX_ERROR;
    }

    ngx_hex_dump(conf->fingerprint, md, NGX_HTTP_YOTI_IDV_FP_LEN / 2);

    return NGX_OK;
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
    u_char               mode[4];
    ngx_str_t           *value, path;
    ngx_file_info_t      fi;
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

    /* the master reads it as root; nobody else needs to */

    if (ngx_file_info(path.data, &fi) == 0 && (fi.st_mode & 0077)) {
        mode[0] = '0' + ((fi.st_mode >> 9) & 7);
        mode[1] = '0' + ((fi.st_mode >> 6) & 7);
        mode[2] = '0' + ((fi.st_mode >> 3) & 7);
        mode[3] = '0' + (fi.st_mode & 7);

        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"yoti_idv_pem_key\" \"%V\" can be read by "
                           "other users (mode %*s): install it with "
                           "\"install -m 0600 -o root\"",
                           &path, (size_t) 4, mode);
    }

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

    ngx_str_t   *value;
    ngx_uint_t   i;

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

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= ' ' || value[1].data[i] == '?'
            || value[1].data[i] == '$' || value[1].data[i] == 0x7f)
        {
            break;
        }
    }

    if (i < value[1].len || value[1].len == 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"yoti_idv_api\" must be the prefix of an "
                           "internal location, without arguments, variables "
                           "or spaces, not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ylcf->api = value[1];

    /* "/_yoti_idv/" and "/_yoti_idv" both name the same prefix */

    while (ylcf->api.len > 1 && ylcf->api.data[ylcf->api.len - 1] == '/') {
        ylcf->api.len--;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_yoti_idv_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_yoti_idv_loc_conf_t *ylcf = conf;

    long                 v;
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

    /*
     * a type the module has never heard of is still required (new types
     * appear before the module knows them), but a misspelled one denies
     * every user: say so at nginx -t
     */

    if (!ngx_yoti_idv_known_type((char *) value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"yoti_idv_require\" \"%V\": unknown check type, "
                           "required as given (a session without such a "
                           "check is denied); the known types are %s",
                           &value[1], ngx_yoti_idv_known_types);
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

    ngx_memzero(req, sizeof(ngx_yoti_idv_req_t));

    req->type = (const char *) value[1].data;
    req->type_len = value[1].len;
    req->mode = 0;

    /* [any|all] [liveness_type=..] [document_type=..] [issuing_country=..] */

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "any") == 0
            || ngx_strcmp(value[i].data, "all") == 0)
        {
            if (req->mode) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate mode \"%V\" in "
                                   "\"yoti_idv_require\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            req->mode = (value[i].data[1] == 'n') ? NGX_YOTI_IDV_REQ_ANY
                                                  : NGX_YOTI_IDV_REQ_ALL;
            continue;
        }

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
            == NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid mode \"%V\" in \"yoti_idv_require\": "
                               "\"any\" or \"all\" expected", &value[i]);
            return NGX_CONF_ERROR;
        }

        /* aws_rekognition: LIVENESS min_confidence=90 */

        if (value[i].len >= 15
            && ngx_strncmp(value[i].data, "min_confidence=", 15) == 0)
        {
            if (ngx_yoti_idv_aws_parse_confidence((char *) value[i].data + 15,
                                                  value[i].len - 15, &v)
                != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\" in \"yoti_idv_require\": "
                                   "a number from 0 to 100 with at most 6 "
                                   "decimals expected", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (ylcf->min_confidence != NGX_CONF_UNSET) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate \"min_confidence=\" in "
                                   "\"yoti_idv_require\"");
                return NGX_CONF_ERROR;
            }

            ylcf->min_confidence = v;
            continue;
        }

        if (ngx_http_yoti_idv_require_param(cf, req, &value[i])
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (req->mode == 0) {
        req->mode = ngx_yoti_idv_default_mode(req->type, req->type_len);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_yoti_idv_require_param(ngx_conf_t *cf, ngx_yoti_idv_req_t *req,
    ngx_str_t *value)
{
    size_t        klen, *lenp;
    u_char       *eq;
    ngx_uint_t    country;
    const char  **listp;

    eq = ngx_strlchr(value->data, value->data + value->len, '=');
    klen = eq - value->data;

    country = 0;

    if (klen == sizeof("liveness_type") - 1
        && ngx_strncmp(value->data, "liveness_type", klen) == 0)
    {
        if (!(req->type_len == sizeof("LIVENESS") - 1
              && ngx_strncmp(req->type, "LIVENESS", req->type_len) == 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"liveness_type=\" applies only to LIVENESS, "
                               "not to \"%*s\" in \"yoti_idv_require\"",
                               req->type_len, req->type);
            return NGX_CONF_ERROR;
        }

        listp = &req->liveness_types;
        lenp = &req->liveness_types_len;

    } else if ((klen == sizeof("document_type") - 1
                && ngx_strncmp(value->data, "document_type", klen) == 0)
               || (klen == sizeof("issuing_country") - 1
                   && ngx_strncmp(value->data, "issuing_country", klen) == 0))
    {
        if (!ngx_yoti_idv_uses_document(req->type, req->type_len)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%*s=\" does not apply to \"%*s\" in "
                               "\"yoti_idv_require\": that check never uses "
                               "an ID document", klen, value->data,
                               req->type_len, req->type);
            return NGX_CONF_ERROR;
        }

        country = (value->data[0] == 'i');

        listp = country ? &req->countries : &req->document_types;
        lenp = country ? &req->countries_len : &req->document_types_len;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"yoti_idv_require\"",
                           value);
        return NGX_CONF_ERROR;
    }

    if (*listp != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate \"%*s=\" in \"yoti_idv_require\"",
                           klen, value->data);
        return NGX_CONF_ERROR;
    }

    if (!ngx_yoti_idv_valid_list((char *) eq + 1,
                                 value->data + value->len - eq - 1, country))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" in \"yoti_idv_require\": %s",
                           value,
                           country ? "a comma-separated list of ISO 3166-1 "
                                     "alpha-3 codes (3 of A-Z) expected"
                                   : "a comma-separated list of 1 to 32 of "
                                     "A-Z, 0-9 and \"_\" expected");
        return NGX_CONF_ERROR;
    }

    *listp = (const char *) eq + 1;
    *lenp = value->data + value->len - eq - 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_yoti_idv_check_age(ngx_conf_t *cf, void *post, void *data)
{
    ngx_uint_t  *np = data;

    if (*np < 1 || *np > NGX_YOTI_IDV_AGE_MAX) {
        return "must be between 1 and 150";
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


/*
 * yoti_idv_redis 127.0.0.1:6379 | host[:port] | unix:/path
 *                | cluster=host[:port],... | sentinel=host[:port],...
 *                [master=name] [sentinel_password=...] [db=N] [user=...]
 *                [password=...] [connect_timeout=time] [timeout=time];
 */

static char *
ngx_http_yoti_idv_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yoti_idv_main_conf_t *ymcf = conf;

    u_char                          *p;
    ngx_str_t                       *value;
    ngx_uint_t                       i;
    const char                      *err;
    ngx_http_yoti_idv_redis_conf_t  *rcf;

    if (ymcf->redis) {
        return "is duplicate";
    }

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_yoti_idv_redis_conf_t));
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    switch (ngx_http_yoti_idv_parse_redis(cf->pool, value, cf->args->nelts,
                                          1, rcf, &i, &err))
    {
    case NGX_HTTP_YOTI_IDV_PARAM_OK:
        ymcf->redis = rcf;
        return NGX_CONF_OK;

    case NGX_HTTP_YOTI_IDV_PARAM_NO_PATH:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no path in \"yoti_idv_redis\" \"%V\"", &value[1]);
        return NGX_CONF_ERROR;

    case NGX_HTTP_YOTI_IDV_PARAM_URL:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s in \"yoti_idv_redis\" \"%V\"", err, &value[1]);
        return NGX_CONF_ERROR;

    case NGX_HTTP_YOTI_IDV_PARAM_NO_ADDR:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no address for \"yoti_idv_redis\" \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;

    case NGX_HTTP_YOTI_IDV_PARAM_CONFLICT:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s in \"yoti_idv_redis\"", err);
        return NGX_CONF_ERROR;

    case NGX_HTTP_YOTI_IDV_PARAM_INVALID:
        break;

    default:
        return NGX_CONF_ERROR;
    }

    /* "password=..." is not echoed */

    p = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%*s\" in \"yoti_idv_redis\"",
                       p ? p - value[i].data + 1 : (ptrdiff_t) value[i].len,
                       value[i].data);

    return NGX_CONF_ERROR;
}


/* yoti_idv_cache_valid APPROVE|REJECT|PENDING time; ALLOW and DENY too */

static char *
ngx_http_yoti_idv_cache_valid(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_yoti_idv_main_conf_t *ymcf = conf;

    time_t       valid;
    ngx_str_t   *value;
    ngx_uint_t   i;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "APPROVE") == 0
        || ngx_strcmp(value[1].data, "ALLOW") == 0)
    {
        i = NGX_HTTP_YOTI_IDV_VALID_ALLOW;

    } else if (ngx_strcmp(value[1].data, "REJECT") == 0
               || ngx_strcmp(value[1].data, "DENY") == 0)
    {
        i = NGX_HTTP_YOTI_IDV_VALID_DENY;

    } else if (ngx_strcmp(value[1].data, "PENDING") == 0) {
        i = NGX_HTTP_YOTI_IDV_VALID_PENDING;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid verdict \"%V\" in "
                           "\"yoti_idv_cache_valid\": APPROVE, REJECT or "
                           "PENDING expected", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ymcf->valid[i] != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    valid = ngx_http_yoti_idv_parse_valid(&value[2]);
    if (valid == (time_t) NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time \"%V\" in \"yoti_idv_cache_valid\"",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    ymcf->valid[i] = valid;

    return NGX_CONF_OK;
}


/* "off" or a time: seconds, or with cmd->post milliseconds */

static char *
ngx_http_yoti_idv_off_time(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    time_t      *sp;
    ngx_int_t    n;
    ngx_str_t   *value;
    ngx_msec_t  *mp;

    value = cf->args->elts;

    sp = NULL;
    mp = NULL;

    if (cmd->post) {
        mp = (ngx_msec_t *) (p + cmd->offset);

        if (*mp != NGX_CONF_UNSET_MSEC) {
            return "is duplicate";
        }

    } else {
        sp = (time_t *) (p + cmd->offset);

        if (*sp != NGX_CONF_UNSET) {
            return "is duplicate";
        }
    }

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        n = 0;

    } else {
        n = ngx_parse_time(&value[1], cmd->post ? 0 : 1);

        if (n == NGX_ERROR || n == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\": \"off\" or "
                               "a time expected", &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    if (cmd->post) {
        *mp = (ngx_msec_t) n;

    } else {
        *sp = (time_t) n;
    }

    return NGX_CONF_OK;
}
