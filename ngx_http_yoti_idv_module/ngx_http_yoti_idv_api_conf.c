
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * What nginx -t can know of the location a signed request goes to.  It
 * must be internal, or any client reaches it too, and it must proxy
 * (check_api()).  And the proxy module must send the provider nothing but
 * the module's own headers: Debian's "include proxy_params;" at server
 * level gives every location without a "proxy_set_header" of its own
 * the client's Host and address.  The proxy module keeps its header
 * lists to itself, so while the http block is parsed the handler of
 * "proxy_set_header" is wrapped to note each one, where it was set and
 * what it sends (watch_proxy()), and merge_proxy() follows the proxy
 * module's own inheritance: the list of a level replaces the one above
 * only when the level has a "proxy_set_header" of its own.
 */


#include "ngx_http_yoti_idv_module.h"


typedef struct {
    ngx_http_core_srv_conf_t      *cscf;
    ngx_http_yoti_idv_loc_conf_t  *ylcf;
    ngx_str_t                      gated;     /* a location that uses it */
} ngx_http_yoti_idv_api_t;


static ngx_int_t ngx_http_yoti_idv_check_api(ngx_conf_t *cf,
    ngx_http_yoti_idv_api_t *api);
static ngx_int_t ngx_http_yoti_idv_find_location(
    ngx_http_core_loc_conf_t *pclcf, ngx_str_t *uri,
    ngx_http_core_loc_conf_t **found);
static ngx_int_t ngx_http_yoti_idv_find_static(
    ngx_http_location_tree_node_t *node, ngx_str_t *uri,
    ngx_http_core_loc_conf_t **found);
static char *ngx_http_yoti_idv_proxy_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_yoti_idv_unwatch_cleanup(void *data);
static ngx_http_yoti_idv_psh_t *ngx_http_yoti_idv_proxy_level(
    ngx_http_yoti_idv_main_conf_t *ymcf, void *level, ngx_uint_t kind,
    ngx_uint_t *own);
static ngx_uint_t ngx_http_yoti_idv_psh_foreign(ngx_http_yoti_idv_psh_t *h);


/* the proxy module's directives, by NGX_HTTP_YOTI_IDV_PROXY_* */
static ngx_str_t  ngx_http_yoti_idv_proxy_watched[] = {
    ngx_string("proxy_set_header"),
    ngx_string("proxy_set_body")
};

/* while they are watched: the commands, and their own handlers */
static ngx_command_t  *ngx_http_yoti_idv_proxy_cmd[NGX_HTTP_YOTI_IDV_PROXY_N];
static char         *(*ngx_http_yoti_idv_proxy_orig[NGX_HTTP_YOTI_IDV_PROXY_N])
    (ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


/*
 * the server and the API prefix of a gated location, once per pair: the
 * module's subrequests are looked up among the locations of the server
 * of the request they belong to (ngx_http_yoti_idv_init())
 */

ngx_int_t
ngx_http_yoti_idv_add_api(ngx_conf_t *cf, ngx_http_yoti_idv_loc_conf_t *conf)
{
    ngx_uint_t                      i;
    ngx_http_yoti_idv_api_t        *api;
    ngx_http_core_srv_conf_t       *cscf;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);
    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (ymcf->apis == NULL) {
        ymcf->apis = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_yoti_idv_api_t));
        if (ymcf->apis == NULL) {
            return NGX_ERROR;
        }
    }

    api = ymcf->apis->elts;

    for (i = 0; i < ymcf->apis->nelts; i++) {
        if (api[i].cscf == cscf
            && api[i].ylcf->provider == conf->provider
            && api[i].ylcf->api.len == conf->api.len
            && ngx_strncmp(api[i].ylcf->api.data, conf->api.data,
                           conf->api.len) == 0)
        {
            return NGX_OK;
        }
    }

    api = ngx_array_push(ymcf->apis);
    if (api == NULL) {
        return NGX_ERROR;
    }

    api->cscf = cscf;
    api->ylcf = conf;
    api->gated = clcf->name;

    return NGX_OK;
}


ngx_int_t
ngx_http_yoti_idv_check_apis(ngx_conf_t *cf)
{
    ngx_uint_t                      i;
    ngx_http_yoti_idv_api_t        *api;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);

    if (ymcf->apis == NULL) {
        return NGX_OK;
    }

    api = ymcf->apis->elts;

    for (i = 0; i < ymcf->apis->nelts; i++) {
        if (ngx_http_yoti_idv_check_api(cf, &api[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The location a signed request goes to must be internal, or it is what
 * any client can reach too (a misspelled "yoti_idv_api" falls into the
 * application's "location /", and the signed request goes to the
 * application), and it must proxy, or nothing reaches the provider.
 * Checked with a request of the provider's shape, as nginx looks
 * locations up; ngx_http_yoti_idv_fetch_astray() checks where a request
 * ended up, after a "rewrite" or an "error_page".
 */

static ngx_int_t
ngx_http_yoti_idv_check_api(ngx_conf_t *cf, ngx_http_yoti_idv_api_t *api)
{
    u_char                        *p;
    ngx_str_t                      uri, *server;
    ngx_http_yoti_idv_psh_t       *h;
    ngx_http_core_loc_conf_t      *clcf, *srv;
    ngx_http_yoti_idv_loc_conf_t  *ylcf;

    static u_char              yoti[] =
        "/sessions/00000000-0000-4000-8000-000000000000";

    uri.len = api->ylcf->api.len + sizeof(yoti) - 1;
    uri.data = ngx_pnalloc(cf->temp_pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(uri.data, api->ylcf->api.data, api->ylcf->api.len);

    if (api->ylcf->provider == &ngx_http_yoti_idv_provider_aws) {
        *p = '/';
        uri.len = api->ylcf->api.len + 1;

    } else {
        ngx_memcpy(p, yoti, sizeof(yoti) - 1);
    }

    srv = api->cscf->ctx->loc_conf[ngx_http_core_module.ctx_index];
    clcf = srv;

    if (ngx_http_yoti_idv_find_location(srv, &uri, &clcf) == NGX_ERROR) {
        return NGX_ERROR;
    }

    server = &api->cscf->server_name;

    if (clcf == srv) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yoti_idv_api %V\" of location \"%V\": no location "
                      "of server \"%V\" takes the signed request \"%V\"; "
                      "the API location must be "
                      "\"location %V/ { internal; proxy_pass ...; }\"",
                      &api->ylcf->api, &api->gated, server, &uri,
                      &api->ylcf->api);
        return NGX_ERROR;
    }

    if (!clcf->internal) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yoti_idv_api %V\" of location \"%V\": the signed "
                      "request \"%V\" goes to location \"%V\" of server "
                      "\"%V\", which is not \"internal\": the application "
                      "or any client would get it; the API location must be "
                      "\"location %V/ { internal; proxy_pass ...; }\"",
                      &api->ylcf->api, &api->gated, &uri, &clcf->name,
                      server, &api->ylcf->api);
        return NGX_ERROR;
    }

    if (clcf->handler == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yoti_idv_api %V\" of location \"%V\": the signed "
                      "request \"%V\" goes to location \"%V\" of server "
                      "\"%V\", which does not proxy: add \"proxy_pass\" to "
                      "the provider's API to it",
                      &api->ylcf->api, &api->gated, &uri, &clcf->name,
                      server);
        return NGX_ERROR;
    }

    ylcf = clcf->loc_conf[ngx_http_yoti_idv_module.ctx_index];
    h = ylcf->proxy_foreign;

    if (h == NULL) {
        return NGX_OK;
    }

    if (ylcf->proxy_inherited) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"yoti_idv_api %V\" of location \"%V\": the API "
                      "location \"%V\" of server \"%V\" inherits "
                      "\"%V\" from %V:%ui, which would send the client's "
                      "data to the provider; %s",
                      &api->ylcf->api, &api->gated, &clcf->name, server,
                      &h->text, &h->file, h->line,
                      ngx_http_yoti_idv_proxy_fix(h));
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "\"yoti_idv_api %V\" of location \"%V\": the API "
                  "location \"%V\" of server \"%V\" has \"%V\" "
                  "(%V:%ui): the provider gets only the module's own "
                  "request; remove it, or set it to \"\" so that nothing "
                  "is sent",
                  &api->ylcf->api, &api->gated, &clcf->name, server,
                  &h->text, &h->file, h->line);

    return NGX_ERROR;
}


/*
 * ngx_http_core_find_location(), for a URI at configuration time: *found
 * is the location it leads to (unchanged when none)
 */

static ngx_int_t
ngx_http_yoti_idv_find_location(ngx_http_core_loc_conf_t *pclcf,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **found)
{
    ngx_int_t                  rc;
#if (NGX_PCRE)
    ngx_uint_t                 noregex;
    ngx_http_core_loc_conf_t **clcfp;

    noregex = 0;
#endif

    rc = ngx_http_yoti_idv_find_static(pclcf->static_locations, uri, found);

    if (rc == NGX_AGAIN) {

#if (NGX_PCRE)
        noregex = (*found)->noregex;
#endif

        /* nested locations */

        rc = ngx_http_yoti_idv_find_location(*found, uri, found);
    }

    if (rc == NGX_OK) {
        return NGX_OK;
    }

#if (NGX_PCRE)

    if (noregex == 0 && pclcf->regex_locations) {

        for (clcfp = pclcf->regex_locations; *clcfp; clcfp++) {

            if (ngx_regex_exec((*clcfp)->regex->regex, uri, NULL, 0) >= 0) {
                *found = *clcfp;
                (void) ngx_http_yoti_idv_find_location(*clcfp, uri, found);
                return NGX_OK;
            }
        }
    }

#endif

    return rc;
}


/*
 * ngx_http_core_find_static_location(): NGX_OK for an exact match,
 * NGX_AGAIN for a prefix, NGX_DECLINED for none
 */

static ngx_int_t
ngx_http_yoti_idv_find_static(ngx_http_location_tree_node_t *node,
    ngx_str_t *uri, ngx_http_core_loc_conf_t **found)
{
    u_char     *p;
    size_t      len, n;
    ngx_int_t   rc, rv;

    len = uri->len;
    p = uri->data;

    rv = NGX_DECLINED;

    while (node) {

        n = (len <= (size_t) node->len) ? len : node->len;

        rc = ngx_filename_cmp(p, node->name, n);

        if (rc != 0) {
            node = (rc < 0) ? node->left : node->right;
            continue;
        }

        if (len > (size_t) node->len) {

            if (node->inclusive) {
                *found = node->inclusive;
                rv = NGX_AGAIN;

                node = node->tree;
                p += n;
                len -= n;

                continue;
            }

            node = node->right;
            continue;
        }

        if (len == (size_t) node->len) {

            if (node->exact) {
                *found = node->exact;
                return NGX_OK;
            }

            *found = node->inclusive;
            return NGX_AGAIN;
        }

        node = node->left;
    }

    return rv;
}


/* what to do about an inherited directive */

const char *
ngx_http_yoti_idv_proxy_fix(ngx_http_yoti_idv_psh_t *h)
{
    if (h->kind == NGX_HTTP_YOTI_IDV_PROXY_BODY) {
        return "move \"proxy_set_body\" into the locations that need it: "
               "a location cannot unset it";
    }

    return "give the location a \"proxy_set_header\" of its own "
           "(\"proxy_set_header Connection \"\";\" is enough): it then "
           "inherits none";
}


/*
 * preconfiguration: from here to the end of the http block, each
 * "proxy_set_header" and "proxy_set_body" goes through
 * ngx_http_yoti_idv_proxy_set()
 */

ngx_int_t
ngx_http_yoti_idv_watch_proxy(ngx_conf_t *cf)
{
    ngx_uint_t                      i, k;
    ngx_module_t                   *m;
    ngx_command_t                  *cmd;
    ngx_pool_cleanup_t             *cln;
    ngx_http_conf_ctx_t            *ctx;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    /* by name: nginx can be built without the proxy module */

    for (i = 0; cf->cycle->modules[i]; i++) {
        m = cf->cycle->modules[i];

        if (m->type == NGX_HTTP_MODULE
            && ngx_strcmp(m->name, "ngx_http_proxy_module") == 0)
        {
            break;
        }
    }

    m = cf->cycle->modules[i];

    if (m == NULL) {
        return NGX_OK;
    }

    /* a configuration that fails before the end of the http block */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_yoti_idv_unwatch_cleanup;

    for (cmd = m->commands; cmd->name.len; cmd++) {

        for (k = 0; k < NGX_HTTP_YOTI_IDV_PROXY_N; k++) {
            if (cmd->name.len == ngx_http_yoti_idv_proxy_watched[k].len
                && ngx_strncmp(cmd->name.data,
                               ngx_http_yoti_idv_proxy_watched[k].data,
                               cmd->name.len) == 0)
            {
                break;
            }
        }

        if (k == NGX_HTTP_YOTI_IDV_PROXY_N) {
            continue;
        }

        if (cmd->set != ngx_http_yoti_idv_proxy_set) {
            ngx_http_yoti_idv_proxy_orig[k] = cmd->set;
            cmd->set = ngx_http_yoti_idv_proxy_set;
        }

        ngx_http_yoti_idv_proxy_cmd[k] = cmd;
    }

    ctx = cf->ctx;
    ymcf = ctx->main_conf[ngx_http_yoti_idv_module.ctx_index];
    ymcf->http_proxy = ctx->loc_conf[m->ctx_index];
    ymcf->proxy_index = m->ctx_index;

    return NGX_OK;
}


/* postconfiguration: a reload can unload this module, not the proxy one */

void
ngx_http_yoti_idv_unwatch_proxy(void)
{
    ngx_uint_t      k;
    ngx_command_t  *cmd;

    for (k = 0; k < NGX_HTTP_YOTI_IDV_PROXY_N; k++) {
        cmd = ngx_http_yoti_idv_proxy_cmd[k];

        if (cmd && cmd->set == ngx_http_yoti_idv_proxy_set) {
            cmd->set = ngx_http_yoti_idv_proxy_orig[k];
        }

        ngx_http_yoti_idv_proxy_cmd[k] = NULL;
    }
}


static void
ngx_http_yoti_idv_unwatch_cleanup(void *data)
{
    ngx_http_yoti_idv_unwatch_proxy();
}


static char *
ngx_http_yoti_idv_proxy_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                           *rv;
    u_char                         *p;
    ngx_str_t                      *value;
    ngx_uint_t                      k, i;
    ngx_http_yoti_idv_psh_t        *h;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    for (k = 0; k < NGX_HTTP_YOTI_IDV_PROXY_N; k++) {
        if (cmd == ngx_http_yoti_idv_proxy_cmd[k]) {
            break;
        }
    }

    if (k == NGX_HTTP_YOTI_IDV_PROXY_N) {
        /* cannot be: only the watched commands lead here */
        return "is not watched by the yoti_idv module";
    }

    rv = ngx_http_yoti_idv_proxy_orig[k](cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);

    if (ymcf->proxy_sets == NULL) {
        ymcf->proxy_sets = ngx_array_create(cf->pool, 8,
                                            sizeof(ngx_http_yoti_idv_psh_t));
        if (ymcf->proxy_sets == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    h = ngx_array_push(ymcf->proxy_sets);
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    h->level = conf;
    h->kind = k;

    if (k == NGX_HTTP_YOTI_IDV_PROXY_HEADER) {
        h->key = value[1];
        h->value = value[2];

    } else {
        ngx_str_null(&h->key);
        h->value = value[1];
    }

    h->text.len = cf->args->nelts - 1;

    for (i = 0; i < cf->args->nelts; i++) {
        h->text.len += value[i].len;
    }

    h->text.data = ngx_pnalloc(cf->pool, h->text.len);
    if (h->text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = h->text.data;

    for (i = 0; i < cf->args->nelts; i++) {
        if (i) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, value[i].data, value[i].len);
    }

    h->file = cf->conf_file->file.name;
    h->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/*
 * merge_loc_conf(), for every level: cf->ctx holds the level's own
 * configurations, the proxy module's among them.  Of each kind, a level
 * with a directive of its own has its own list, otherwise the one above.
 */

void
ngx_http_yoti_idv_merge_proxy(ngx_conf_t *cf,
    ngx_http_yoti_idv_loc_conf_t *prev, ngx_http_yoti_idv_loc_conf_t *conf)
{
    void                           *here;
    ngx_uint_t                      k, own;
    ngx_http_conf_ctx_t            *ctx;
    ngx_http_yoti_idv_psh_t        *h;
    ngx_http_yoti_idv_main_conf_t  *ymcf;

    ymcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_yoti_idv_module);
    ctx = cf->ctx;

    if (prev->proxy_kind[0] == NGX_CONF_UNSET_PTR) {
        /* the http level, merged into nothing */
        for (k = 0; k < NGX_HTTP_YOTI_IDV_PROXY_N; k++) {
            prev->proxy_kind[k] = ngx_http_yoti_idv_proxy_level(ymcf,
                                                    ymcf->http_proxy, k, &own);
            prev->proxy_kind_inherited[k] = 0;
        }
    }

    here = ymcf->http_proxy ? ctx->loc_conf[ymcf->proxy_index] : NULL;

    conf->proxy_foreign = NULL;
    conf->proxy_inherited = 0;

    for (k = 0; k < NGX_HTTP_YOTI_IDV_PROXY_N; k++) {

        h = ngx_http_yoti_idv_proxy_level(ymcf, here, k, &own);

        if (own) {
            conf->proxy_kind[k] = h;
            conf->proxy_kind_inherited[k] = 0;

        } else {
            conf->proxy_kind[k] = prev->proxy_kind[k];
            conf->proxy_kind_inherited[k] = (prev->proxy_kind[k] != NULL);
        }

        if (conf->proxy_foreign == NULL && conf->proxy_kind[k]) {
            conf->proxy_foreign = conf->proxy_kind[k];
            conf->proxy_inherited = conf->proxy_kind_inherited[k];
        }
    }
}


/*
 * the first directive of a kind in a level's list that the provider must
 * not get, and whether the level has a list of that kind
 */

static ngx_http_yoti_idv_psh_t *
ngx_http_yoti_idv_proxy_level(ngx_http_yoti_idv_main_conf_t *ymcf,
    void *level, ngx_uint_t kind, ngx_uint_t *own)
{
    ngx_uint_t                i;
    ngx_http_yoti_idv_psh_t  *h, *foreign;

    *own = 0;

    if (ymcf->proxy_sets == NULL || level == NULL) {
        return NULL;
    }

    foreign = NULL;
    h = ymcf->proxy_sets->elts;

    for (i = 0; i < ymcf->proxy_sets->nelts; i++) {

        if (h[i].level != level || h[i].kind != kind) {
            continue;
        }

        *own = 1;

        if (foreign == NULL && ngx_http_yoti_idv_psh_foreign(&h[i])) {
            foreign = &h[i];
        }
    }

    return foreign;
}


/*
 * What the provider must not get: a header set to "" (or an empty body)
 * is not sent; Host and Connection are the proxy module's own, and
 * harmless unless they carry a variable other than $proxy_host and
 * $proxy_port ("Host $host" is the client's); any other header, or any
 * body, is not the module's.
 */

static ngx_uint_t
ngx_http_yoti_idv_psh_foreign(ngx_http_yoti_idv_psh_t *h)
{
    u_char     *p, *last, *name;
    ngx_str_t  *key;

    key = &h->key;

    if (h->value.len == 0) {
        return 0;
    }

    if (h->kind != NGX_HTTP_YOTI_IDV_PROXY_HEADER
        || !((key->len == sizeof("Host") - 1
              && ngx_strncasecmp(key->data, (u_char *) "Host", 4) == 0)
             || (key->len == sizeof("Connection") - 1
                 && ngx_strncasecmp(key->data, (u_char *) "Connection", 10)
                    == 0)))
    {
        return 1;
    }
    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {

        if (*p++ != '$') {
            continue;
        }

        if (p < last && *p == '{') {
            p++;
        }

        name = p;

        while (p < last
               && (*p == '_' || (*p >= 'a' && *p <= 'z')
                   || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
        {
            p++;
        }

        if (!((p - name == sizeof("proxy_host") - 1
               && ngx_strncmp(name, "proxy_host", p - name) == 0)
              || (p - name == sizeof("proxy_port") - 1
                  && ngx_strncmp(name, "proxy_port", p - name) == 0)))
        {
            return 1;
        }
    }

    return 0;
}
