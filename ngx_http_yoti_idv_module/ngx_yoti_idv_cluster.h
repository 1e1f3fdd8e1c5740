
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_YOTI_IDV_CLUSTER_H_INCLUDED_
#define _NGX_YOTI_IDV_CLUSTER_H_INCLUDED_


/*
 * Pure units of the Redis Cluster and Sentinel router: key slots (CRC16,
 * hash tags), the redirections and temporary errors of a cluster, the
 * replies to CLUSTER SLOTS, SENTINEL get-master-addr-by-name and ROLE,
 * and +switch-master messages.  No nginx headers, so they can be unit
 * tested and fuzzed on their own.
 */


#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>


#define NGX_YOTI_IDV_SLOTS     16384

/* an IPv6 literal with a zone is longer than an INET6_ADDRSTRLEN */
#define NGX_YOTI_IDV_HOST_LEN  64


/* an address as a server announces it: host may be empty ("the same") */

typedef struct {
    const char                *host;        /* points into the reply */
    size_t                     host_len;
    int                        port;
} ngx_yoti_idv_endpoint_t;


/* CRC16-CCITT (XMODEM), the cluster's key hash */
uint16_t ngx_yoti_idv_crc16(const char *buf, size_t len);

/* the slot of a key: of its hash tag, the first "{...}" not empty */
unsigned ngx_yoti_idv_key_slot(const char *key, size_t len);


typedef enum {
    NGX_YOTI_IDV_REPLY_ERROR = 0,   /* any other error */
    NGX_YOTI_IDV_REPLY_MOVED,       /* slot and endpoint */
    NGX_YOTI_IDV_REPLY_ASK,         /* slot and endpoint */
    NGX_YOTI_IDV_REPLY_CLUSTERDOWN,
    NGX_YOTI_IDV_REPLY_TRYAGAIN,
    NGX_YOTI_IDV_REPLY_READONLY     /* a replica, after a failover */
} ngx_yoti_idv_reply_e;


/* what an error reply "MOVED 3999 127.0.0.1:6381" and the like says */
ngx_yoti_idv_reply_e ngx_yoti_idv_error_parse(const char *str, size_t len,
    unsigned *slot, ngx_yoti_idv_endpoint_t *ep);


typedef struct {
    unsigned                   start;
    unsigned                   end;         /* inclusive */
    ngx_yoti_idv_endpoint_t    master;
} ngx_yoti_idv_range_t;


/*
 * a reply to CLUSTER SLOTS: the number of ranges, -1 if it is not one;
 * then ngx_yoti_idv_slots_range() gives each
 */
int ngx_yoti_idv_slots_check(const redisReply *rep);
void ngx_yoti_idv_slots_range(const redisReply *rep, size_t i,
    ngx_yoti_idv_range_t *range);

/*
 * a reply to SENTINEL get-master-addr-by-name: 0 and the master's
 * address, 1 for nil (the sentinel does not know the master), -1 if
 * malformed
 */
int ngx_yoti_idv_master_addr_parse(const redisReply *rep,
    ngx_yoti_idv_endpoint_t *ep);

/* a reply to ROLE: 1 a master, 0 another role, -1 not a reply to ROLE */
int ngx_yoti_idv_role_is_master(const redisReply *rep);

/*
 * a message on the +switch-master channel: 0 and the new master's address
 * when it names the master "name", 1 for anything else (the subscription's
 * confirmation, another master), -1 if malformed
 */
int ngx_yoti_idv_switch_master_parse(const redisReply *rep,
    const char *name, size_t name_len, ngx_yoti_idv_endpoint_t *ep);

/*
 * the endpoint's host as a NUL-terminated numeric IP in buf, which has
 * NGX_YOTI_IDV_HOST_LEN bytes: 0, or -1 if it is not an IP literal (a
 * name would need DNS, which a worker never does)
 */
int ngx_yoti_idv_endpoint_ip(const ngx_yoti_idv_endpoint_t *ep, char *buf);


#endif /* _NGX_YOTI_IDV_CLUSTER_H_INCLUDED_ */
