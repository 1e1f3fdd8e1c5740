
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include <string.h>

#include <cjson/cJSON.h>

#include "ngx_yoti_idv_eval.h"
#include "ngx_yoti_idv_notify.h"
#include "ngx_yoti_idv_json.h"


static const char  *ngx_yoti_idv_notify_topics[] = {
    "session_completion",
    "check_completion",
    "task_completion",
    "resource_update",
    "client_session_token_deleted",
    NULL
};


int
ngx_yoti_idv_ct_equal(const unsigned char *given, size_t n,
    const unsigned char *expected, size_t len)
{
    size_t                  i;
    volatile unsigned char  diff;

    /* every byte of "expected" is looked at, whatever "given" holds */

    diff = (n != len);

    for (i = 0; i < len; i++) {
        diff |= expected[i]
                ^ (i < n ? given[i] : (unsigned char) ~expected[i]);
    }

    return diff == 0;
}


ngx_yoti_idv_notify_rc_e
ngx_yoti_idv_notify_parse(const char *body, size_t len,
    ngx_yoti_idv_notify_t *n)
{
    size_t                     l;
    cJSON                     *root, *sid, *topic;
    unsigned char              c;
    ngx_yoti_idv_notify_rc_e   rc;

    memset(n, 0, sizeof(ngx_yoti_idv_notify_t));

    /* cJSON's strings end at an escaped NUL: "a\u0000b" would read "a" */

    for (l = 0; l + 6 <= len; l++) {
        if (body[l] == '\\' && memcmp(body + l + 1, "u0000", 5) == 0) {
            return NGX_YOTI_IDV_NOTIFY_NOT_JSON;
        }
    }

    root = ngx_yoti_idv_json_parse(body, len, 0, NULL, NULL);

    if (root == NULL || !cJSON_IsObject(root)) {
        ngx_yoti_idv_json_delete(root);
        return NGX_YOTI_IDV_NOTIFY_NOT_JSON;
    }

    sid = cJSON_GetObjectItemCaseSensitive(root, "session_id");

    if (!cJSON_IsString(sid) || sid->valuestring == NULL) {
        rc = NGX_YOTI_IDV_NOTIFY_NO_SESSION;
        goto done;
    }

    l = strlen(sid->valuestring);

    if (l > NGX_YOTI_IDV_NOTIFY_SID_LEN
        || !ngx_yoti_idv_valid_session_id(sid->valuestring, l))
    {
        rc = NGX_YOTI_IDV_NOTIFY_BAD_SESSION;
        goto done;
    }

    memcpy(n->session_id, sid->valuestring, l);
    n->session_id_len = l;

    topic = cJSON_GetObjectItemCaseSensitive(root, "topic");

    if (cJSON_IsString(topic) && topic->valuestring) {
        l = strlen(topic->valuestring);

        /* for the log only: printable ASCII, cut */

        for (n->topic_len = 0;
             n->topic_len < l && n->topic_len < NGX_YOTI_IDV_NOTIFY_TOPIC_LEN;
             n->topic_len++)
        {
            c = (unsigned char) topic->valuestring[n->topic_len];
            n->topic[n->topic_len] = (c >= 0x21 && c < 0x7f && c != '"'
                                      && c != '\\') ? c : '?';
        }

        n->invalidates = (l <= NGX_YOTI_IDV_NOTIFY_TOPIC_LEN)
                         && ngx_yoti_idv_notify_topic(topic->valuestring, l);
    }

    rc = NGX_YOTI_IDV_NOTIFY_OK;

done:

    ngx_yoti_idv_json_delete(root);

    return rc;
}


int
ngx_yoti_idv_notify_topic(const char *topic, size_t len)
{
    const char  **t;

    for (t = ngx_yoti_idv_notify_topics; *t; t++) {
        if (strlen(*t) == len && memcmp(*t, topic, len) == 0) {
            return 1;
        }
    }

    return 0;
}
