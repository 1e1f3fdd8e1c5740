
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_HTTP_YOTI_IDV_METRICS_H_INCLUDED_
#define _NGX_HTTP_YOTI_IDV_METRICS_H_INCLUDED_


/*
 * The counters of yoti_idv_metrics: one array of ngx_atomic_t in a shared
 * memory zone of its own, updated with ngx_atomic_fetch_add() as
 * ngx_http_stub_status does, no lock and no allocation.  The zone exists
 * when a yoti_idv_metrics or yoti_idv_health location does; without one
 * every update is a test of a NULL pointer.  The layers call the inline
 * functions below, one line each.
 */


/* layers that answered a verdict */
#define NGX_HTTP_YOTI_IDV_L_ZONE           0
#define NGX_HTTP_YOTI_IDV_L_REDIS          1
#define NGX_HTTP_YOTI_IDV_L_PROVIDER       2
#define NGX_HTTP_YOTI_IDV_L_NONE           3
#define NGX_HTTP_YOTI_IDV_L_N              4

/* reasons: fixed groups, then one per configured check type */
#define NGX_HTTP_YOTI_IDV_R_GROUPS         16
#define NGX_HTTP_YOTI_IDV_R_TYPES          32
#define NGX_HTTP_YOTI_IDV_R_N  (NGX_HTTP_YOTI_IDV_R_GROUPS                    \
                                + NGX_HTTP_YOTI_IDV_R_TYPES)

/* provider outcomes */
#define NGX_HTTP_YOTI_IDV_O_2XX            0
#define NGX_HTTP_YOTI_IDV_O_4XX            1
#define NGX_HTTP_YOTI_IDV_O_5XX            2
#define NGX_HTTP_YOTI_IDV_O_TIMEOUT        3
#define NGX_HTTP_YOTI_IDV_O_FAILED         4
#define NGX_HTTP_YOTI_IDV_O_TOO_BIG        5
#define NGX_HTTP_YOTI_IDV_O_TRUNCATED      6
#define NGX_HTTP_YOTI_IDV_O_N              7

#define NGX_HTTP_YOTI_IDV_P_N              2        /* yoti, aws_rekognition */
#define NGX_HTTP_YOTI_IDV_BUCKETS_MAX      16

#define NGX_HTTP_YOTI_IDV_REDIS_ERR_N      9

/* notification topics and outcomes (the endpoint itself: issue #12) */
#define NGX_HTTP_YOTI_IDV_T_SESSION_COMPLETION     0
#define NGX_HTTP_YOTI_IDV_T_CHECK_COMPLETION       1
#define NGX_HTTP_YOTI_IDV_T_TASK_COMPLETION        2
#define NGX_HTTP_YOTI_IDV_T_RESOURCE_UPDATE        3
#define NGX_HTTP_YOTI_IDV_T_TOKEN_DELETED          4
#define NGX_HTTP_YOTI_IDV_T_OTHER                  5
#define NGX_HTTP_YOTI_IDV_T_N                      6

#define NGX_HTTP_YOTI_IDV_N_ACCEPTED               0
#define NGX_HTTP_YOTI_IDV_N_UNAUTHORIZED           1
#define NGX_HTTP_YOTI_IDV_N_INVALID                2
#define NGX_HTTP_YOTI_IDV_N_FAILED                 3
#define NGX_HTTP_YOTI_IDV_N_N                      4

#define NGX_HTTP_YOTI_IDV_METRICS_WORKERS          256


/* indexes into the counters */
enum {
    NGX_HTTP_YOTI_IDV_M_VERDICT = 0,
    NGX_HTTP_YOTI_IDV_M_REASON = NGX_HTTP_YOTI_IDV_M_VERDICT
                                 + 4 * NGX_HTTP_YOTI_IDV_L_N,
    NGX_HTTP_YOTI_IDV_M_ZONE_HIT = NGX_HTTP_YOTI_IDV_M_REASON
                                   + NGX_HTTP_YOTI_IDV_R_N,
    NGX_HTTP_YOTI_IDV_M_ZONE_MISS,
    NGX_HTTP_YOTI_IDV_M_ZONE_STALE,
    NGX_HTTP_YOTI_IDV_M_REDIS_HIT,
    NGX_HTTP_YOTI_IDV_M_REDIS_MISS,
    NGX_HTTP_YOTI_IDV_M_REDIS_STALE,
    NGX_HTTP_YOTI_IDV_M_PROVIDER,
    NGX_HTTP_YOTI_IDV_M_HIST = NGX_HTTP_YOTI_IDV_M_PROVIDER
                               + NGX_HTTP_YOTI_IDV_P_N
                                 * NGX_HTTP_YOTI_IDV_O_N,
    NGX_HTTP_YOTI_IDV_M_HIST_SUM = NGX_HTTP_YOTI_IDV_M_HIST
                                   + NGX_HTTP_YOTI_IDV_P_N
                                     * (NGX_HTTP_YOTI_IDV_BUCKETS_MAX + 1),
    NGX_HTTP_YOTI_IDV_M_HIST_COUNT = NGX_HTTP_YOTI_IDV_M_HIST_SUM
                                     + NGX_HTTP_YOTI_IDV_P_N,
    NGX_HTTP_YOTI_IDV_M_REDIS_MGET = NGX_HTTP_YOTI_IDV_M_HIST_COUNT
                                     + NGX_HTTP_YOTI_IDV_P_N,
    NGX_HTTP_YOTI_IDV_M_REDIS_SET,
    NGX_HTTP_YOTI_IDV_M_REDIS_ERROR,
    NGX_HTTP_YOTI_IDV_M_REDIS_RECONNECTS = NGX_HTTP_YOTI_IDV_M_REDIS_ERROR
                                           + NGX_HTTP_YOTI_IDV_REDIS_ERR_N,
    NGX_HTTP_YOTI_IDV_M_BURST_WAITS,
    NGX_HTTP_YOTI_IDV_M_BURST_SAVED,
    NGX_HTTP_YOTI_IDV_M_NOTIFY,
    NGX_HTTP_YOTI_IDV_M_N = NGX_HTTP_YOTI_IDV_M_NOTIFY
                            + NGX_HTTP_YOTI_IDV_T_N * NGX_HTTP_YOTI_IDV_N_N
};


#define NGX_HTTP_YOTI_IDV_METRICS_TYPE_LEN         64


struct ngx_http_yoti_idv_metrics_conf_s {
    ngx_shm_zone_t                *shm_zone;
    ngx_uint_t                     nbuckets;
    ngx_msec_t                     buckets[NGX_HTTP_YOTI_IDV_BUCKETS_MAX];
    ngx_array_t                    types;       /* ngx_str_t, each once */
    unsigned                       used:1;
    unsigned                       notifications:1;
};


/* the zone */

typedef struct {
    ngx_atomic_t                   c[NGX_HTTP_YOTI_IDV_M_N];
    ngx_atomic_t                   redis_up[NGX_HTTP_YOTI_IDV_METRICS_WORKERS];

    /* ngx_time() of the last provider answer that worked, or failed */
    ngx_atomic_t                   provider_ok;
    ngx_atomic_t                   provider_failed;

    ngx_uint_t                     nbuckets;
    ngx_msec_t                     buckets[NGX_HTTP_YOTI_IDV_BUCKETS_MAX];

    ngx_atomic_t                   ntypes;
    u_char                         type_len[NGX_HTTP_YOTI_IDV_R_TYPES];
    u_char                         types[NGX_HTTP_YOTI_IDV_R_TYPES]
                                        [NGX_HTTP_YOTI_IDV_METRICS_TYPE_LEN];
} ngx_http_yoti_idv_metrics_sh_t;


extern ngx_http_yoti_idv_metrics_sh_t  *ngx_http_yoti_idv_metrics_sh;
extern const char  *ngx_http_yoti_idv_reason_groups[];
extern const char  *ngx_http_yoti_idv_redis_errors[];
extern const char  *ngx_http_yoti_idv_topics[];

ngx_int_t ngx_http_yoti_idv_metrics_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_yoti_idv_health_handler(ngx_http_request_t *r);


/* what a worker updates; NULL: no metrics configured */
extern ngx_atomic_t  *ngx_http_yoti_idv_metrics;


static ngx_inline void
ngx_http_yoti_idv_metric_add(ngx_uint_t m, ngx_atomic_int_t n)
{
    if (ngx_http_yoti_idv_metrics) {
        (void) ngx_atomic_fetch_add(&ngx_http_yoti_idv_metrics[m], n);
    }
}


#define ngx_http_yoti_idv_metric_inc(m)                                       \
    ngx_http_yoti_idv_metric_add(NGX_HTTP_YOTI_IDV_M_##m, 1)

#define ngx_http_yoti_idv_metric_notification(topic, outcome)                 \
    ngx_http_yoti_idv_metric_add(NGX_HTTP_YOTI_IDV_M_NOTIFY                   \
                                 + (topic) * NGX_HTTP_YOTI_IDV_N_N            \
                                 + (outcome), 1)


/* this worker's connection to Redis is up (1) or down (0) */
void ngx_http_yoti_idv_metric_redis_up(ngx_uint_t up);

/* a lookup that failed, by the kind in its "redis:..." reason */
void ngx_http_yoti_idv_metric_redis_error(const char *error);

/* the topic of a notification, as it arrives, to its index */
ngx_uint_t ngx_http_yoti_idv_metric_topic(u_char *topic, size_t len);


#endif /* _NGX_HTTP_YOTI_IDV_METRICS_H_INCLUDED_ */
