
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_YOTI_IDV_NOTIFY_H_INCLUDED_
#define _NGX_YOTI_IDV_NOTIFY_H_INCLUDED_


/*
 * Pure units of yoti_idv_notifications: the comparison of the credentials,
 * the notification's body, and the events stream's entries.  No nginx
 * headers, so they can be unit tested on their own.
 */


#include <stddef.h>


#define NGX_YOTI_IDV_NOTIFY_SID_LEN    64
#define NGX_YOTI_IDV_NOTIFY_TOPIC_LEN  64


typedef enum {
    NGX_YOTI_IDV_NOTIFY_OK = 0,
    NGX_YOTI_IDV_NOTIFY_NOT_JSON,       /* not a JSON object */
    NGX_YOTI_IDV_NOTIFY_NO_SESSION,     /* no "session_id" string */
    NGX_YOTI_IDV_NOTIFY_BAD_SESSION     /* outside the session id rules */
} ngx_yoti_idv_notify_rc_e;


typedef struct {
    char                       session_id[NGX_YOTI_IDV_NOTIFY_SID_LEN + 1];
    size_t                     session_id_len;

    /* "" when there is none; cut at NGX_YOTI_IDV_NOTIFY_TOPIC_LEN */
    char                       topic[NGX_YOTI_IDV_NOTIFY_TOPIC_LEN + 1];
    size_t                     topic_len;

    /* the topic can change the session's result, or ends the session */
    int                        invalidates;
} ngx_yoti_idv_notify_t;


/*
 * 1 when the n bytes at "given" equal the len bytes at "expected"; the
 * time depends on len only, never on where the bytes differ
 */
int ngx_yoti_idv_ct_equal(const unsigned char *given, size_t n,
    const unsigned char *expected, size_t len);

ngx_yoti_idv_notify_rc_e ngx_yoti_idv_notify_parse(const char *body,
    size_t len, ngx_yoti_idv_notify_t *n);

/* 1 for the topics that invalidate, see ngx_yoti_idv_notify_t */
int ngx_yoti_idv_notify_topic(const char *topic, size_t len);


#endif /* _NGX_YOTI_IDV_NOTIFY_H_INCLUDED_ */
