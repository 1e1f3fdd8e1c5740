
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Unit tests of ngx_yoti_idv_cluster.c: key slots (the expected slots are
 * what Redis 7.0's CLUSTER KEYSLOT answers), cluster errors, and the
 * replies of CLUSTER SLOTS, SENTINEL get-master-addr-by-name, ROLE and
 * +switch-master, made by hiredis's own reader from RESP bytes.
 */


#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "tap.h"
#include "ngx_yoti_idv_cluster.h"


#define LIT(s)  s, sizeof(s) - 1


static redisReply *
reply(const char *resp, size_t len)
{
    void         *r;
    redisReader  *reader;

    reader = redisReaderCreate();

    r = NULL;

    if (redisReaderFeed(reader, resp, len) != REDIS_OK
        || redisReaderGetReply(reader, &r) != REDIS_OK || r == NULL)
    {
        abort();
    }

    redisReaderFree(reader);

    return r;
}


static int
host_is(const ngx_yoti_idv_endpoint_t *ep, const char *host, int port)
{
    return ep->host_len == strlen(host)
           && memcmp(ep->host, host, ep->host_len) == 0
           && ep->port == port;
}


static void
slot(const char *key, unsigned expect)
{
    unsigned  s;

    s = ngx_yoti_idv_key_slot(key, strlen(key));

    ok(s == expect, "slot of \"%s\" is %u (got %u)", key, expect, s);
}


static void
test_slots(void)
{
    ok(ngx_yoti_idv_crc16(LIT("123456789")) == 0x31c3,
       "CRC16 check value of \"123456789\"");

    slot("123456789", 12739);
    slot("foo", 12182);
    slot("bar", 5061);
    slot("hello", 866);
    slot("{user1000}.following", 3443);
    slot("{}x", 10595);             /* an empty tag: the whole key */
    slot("a{}b{c}", 7353);          /* only the first "{" counts */
    slot("{{a}}", 10276);           /* the tag is "{a" */
    slot("}{x", 12645);             /* no "}" after the "{" */
    slot("", 0);

    /* the cluster key layout of docs/redis.md: one slot a user */

    slot("yoti_idv:{user:alice}", 4489);
    slot("yoti_idv:verdict:36fdda08a3c3787e:{user:alice}", 4489);

    ok(ngx_yoti_idv_key_slot(LIT("p:{user:}odd{}"))
       == ngx_yoti_idv_key_slot(LIT("p:verdict:0123456789abcdef:{user:}odd{}")),
       "a user id with braces: both keys in one slot");

    ok(ngx_yoti_idv_key_slot(LIT("x{a\0b}y"))
       == (ngx_yoti_idv_crc16(LIT("a\0b")) & 16383),
       "a NUL byte in a tag is hashed like any other");
}


static void
test_errors(void)
{
    unsigned                 s;
    ngx_yoti_idv_endpoint_t  ep;

    ok(ngx_yoti_idv_error_parse(LIT("MOVED 3999 127.0.0.1:6381"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_MOVED && s == 3999
       && host_is(&ep, "127.0.0.1", 6381), "MOVED");

    ok(ngx_yoti_idv_error_parse(LIT("ASK 16383 10.0.0.2:7002"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_ASK && s == 16383
       && host_is(&ep, "10.0.0.2", 7002), "ASK");

    ok(ngx_yoti_idv_error_parse(LIT("MOVED 0 ::1:7000"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_MOVED && s == 0 && host_is(&ep, "::1", 7000),
       "MOVED to an IPv6 address");

    ok(ngx_yoti_idv_error_parse(LIT("MOVED 12 :7000"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_MOVED && ep.host_len == 0 && ep.port == 7000,
       "MOVED with an unknown endpoint: the same host");

    ok(ngx_yoti_idv_error_parse(LIT("CLUSTERDOWN The cluster is down"),
                                &s, &ep)
       == NGX_YOTI_IDV_REPLY_CLUSTERDOWN, "CLUSTERDOWN");

    ok(ngx_yoti_idv_error_parse(LIT("TRYAGAIN Multiple keys request during "
                                    "rehashing of slot"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_TRYAGAIN, "TRYAGAIN");

    ok(ngx_yoti_idv_error_parse(LIT("READONLY You can't write against a "
                                    "read only replica."), &s, &ep)
       == NGX_YOTI_IDV_REPLY_READONLY, "READONLY");

    ok(ngx_yoti_idv_error_parse(LIT("NOPERM this user has no permissions"),
                                &s, &ep)
       == NGX_YOTI_IDV_REPLY_ERROR, "another error");

    ok(ngx_yoti_idv_error_parse(LIT("MOVED 16384 127.0.0.1:7000"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_ERROR, "MOVED to slot 16384: not one");
    ok(ngx_yoti_idv_error_parse(LIT("MOVED 1 127.0.0.1:0"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_ERROR, "MOVED to port 0");
    ok(ngx_yoti_idv_error_parse(LIT("MOVED 1 127.0.0.1:65536"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_ERROR, "MOVED to port 65536");
    ok(ngx_yoti_idv_error_parse(LIT("MOVED 1 127.0.0.1"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_ERROR, "MOVED without a port");
    ok(ngx_yoti_idv_error_parse(LIT("MOVED x 127.0.0.1:1"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_ERROR, "MOVED without a slot");
    ok(ngx_yoti_idv_error_parse(LIT("MOVED 1 127.0.0.1:1 x"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_ERROR, "MOVED with more");
    ok(ngx_yoti_idv_error_parse(LIT("MOVED "), &s, &ep)
       == NGX_YOTI_IDV_REPLY_ERROR, "MOVED alone");
    ok(ngx_yoti_idv_error_parse(LIT("ASK 99999999999 h:1"), &s, &ep)
       == NGX_YOTI_IDV_REPLY_ERROR, "a slot too long");
}


static void
test_cluster_slots(void)
{
    redisReply            *r;
    ngx_yoti_idv_range_t   range;

    /* three masters with a replica each, as Redis 7.0 answers */

    r = reply(LIT("*3\r\n"
        "*4\r\n:0\r\n:5460\r\n"
            "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$4\r\naaaa\r\n"
            "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$4\r\ndddd\r\n"
        "*3\r\n:5461\r\n:10922\r\n"
            "*4\r\n$9\r\n127.0.0.1\r\n:7001\r\n$4\r\nbbbb\r\n*0\r\n"
        "*3\r\n:10923\r\n:16383\r\n"
            "*3\r\n$-1\r\n:7002\r\n$4\r\ncccc\r\n"));

    ok(ngx_yoti_idv_slots_check(r) == 3, "CLUSTER SLOTS: three ranges");

    ngx_yoti_idv_slots_range(r, 0, &range);
    ok(range.start == 0 && range.end == 5460
       && host_is(&range.master, "127.0.0.1", 7000), "the first range");

    ngx_yoti_idv_slots_range(r, 1, &range);
    ok(range.start == 5461 && range.end == 10922
       && host_is(&range.master, "127.0.0.1", 7001),
       "a range without replicas, with Redis 7's metadata");

    ngx_yoti_idv_slots_range(r, 2, &range);
    ok(range.start == 10923 && range.end == 16383
       && range.master.host_len == 0 && range.master.port == 7002,
       "a NULL host: the node asked");

    freeReplyObject(r);

    r = reply(LIT("*0\r\n"));
    ok(ngx_yoti_idv_slots_check(r) == 0, "no slots assigned");
    freeReplyObject(r);

    r = reply(LIT("-ERR This instance has cluster support disabled\r\n"));
    ok(ngx_yoti_idv_slots_check(r) == -1, "an error reply");
    freeReplyObject(r);

    r = reply(LIT("*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$1\r\nh\r\n:1\r\n"));
    ok(ngx_yoti_idv_slots_check(r) == -1, "a range that ends first");
    freeReplyObject(r);

    r = reply(LIT("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n"));
    ok(ngx_yoti_idv_slots_check(r) == -1, "slot 16384");
    freeReplyObject(r);

    r = reply(LIT("*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\nh\r\n:0\r\n"));
    ok(ngx_yoti_idv_slots_check(r) == -1, "port 0");
    freeReplyObject(r);

    r = reply(LIT("*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\nh\r\n"));
    ok(ngx_yoti_idv_slots_check(r) == -1, "a master without a port");
    freeReplyObject(r);

    r = reply(LIT("*1\r\n*2\r\n:0\r\n:1\r\n"));
    ok(ngx_yoti_idv_slots_check(r) == -1, "a range without a master");
    freeReplyObject(r);

    r = reply(LIT("*1\r\n*3\r\n$1\r\n0\r\n:1\r\n*2\r\n$1\r\nh\r\n:1\r\n"));
    ok(ngx_yoti_idv_slots_check(r) == -1, "a start that is a string");
    freeReplyObject(r);

    r = reply(LIT("*1\r\n:1\r\n"));
    ok(ngx_yoti_idv_slots_check(r) == -1, "a range that is a number");
    freeReplyObject(r);
}


static void
test_sentinel(void)
{
    redisReply               *r;
    ngx_yoti_idv_endpoint_t   ep;

    r = reply(LIT("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n"));
    ok(ngx_yoti_idv_master_addr_parse(r, &ep) == 0
       && host_is(&ep, "127.0.0.1", 6380), "get-master-addr-by-name");
    freeReplyObject(r);

    r = reply(LIT("*-1\r\n"));
    ok(ngx_yoti_idv_master_addr_parse(r, &ep) == 1,
       "get-master-addr-by-name: an unknown master");
    freeReplyObject(r);

    r = reply(LIT("*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n"));
    ok(ngx_yoti_idv_master_addr_parse(r, &ep) == -1, "port 0");
    freeReplyObject(r);

    r = reply(LIT("*2\r\n$0\r\n\r\n$4\r\n6380\r\n"));
    ok(ngx_yoti_idv_master_addr_parse(r, &ep) == -1, "an empty host");
    freeReplyObject(r);

    r = reply(LIT("*1\r\n$9\r\n127.0.0.1\r\n"));
    ok(ngx_yoti_idv_master_addr_parse(r, &ep) == -1, "no port");
    freeReplyObject(r);

    r = reply(LIT("-ERR No such master with that name\r\n"));
    ok(ngx_yoti_idv_master_addr_parse(r, &ep) == -1, "an error");
    freeReplyObject(r);

    r = reply(LIT("*3\r\n$6\r\nmaster\r\n:3129659\r\n*0\r\n"));
    ok(ngx_yoti_idv_role_is_master(r) == 1, "ROLE: master");
    freeReplyObject(r);

    r = reply(LIT("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n"
                  "$9\r\nconnected\r\n:3167038\r\n"));
    ok(ngx_yoti_idv_role_is_master(r) == 0, "ROLE: a replica");
    freeReplyObject(r);

    r = reply(LIT("*2\r\n$8\r\nsentinel\r\n*0\r\n"));
    ok(ngx_yoti_idv_role_is_master(r) == 0, "ROLE: a sentinel");
    freeReplyObject(r);

    r = reply(LIT("-NOPERM no ROLE\r\n"));
    ok(ngx_yoti_idv_role_is_master(r) == -1, "ROLE: an error");
    freeReplyObject(r);

    r = reply(LIT("*0\r\n"));
    ok(ngx_yoti_idv_role_is_master(r) == -1, "ROLE: empty");
    freeReplyObject(r);

    r = reply(LIT("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n"
                  "$38\r\ngate 127.0.0.1 6380 127.0.0.1 6381 xyz\r\n"));
    ok(ngx_yoti_idv_switch_master_parse(r, LIT("gate"), &ep) == -1,
       "+switch-master with six fields");
    freeReplyObject(r);

    r = reply(LIT("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n"
                  "$34\r\ngate 127.0.0.1 6380 127.0.0.1 6381\r\n"));
    ok(ngx_yoti_idv_switch_master_parse(r, LIT("gate"), &ep) == 0
       && host_is(&ep, "127.0.0.1", 6381), "+switch-master");
    ok(ngx_yoti_idv_switch_master_parse(r, LIT("other"), &ep) == 1,
       "+switch-master of another master");
    ok(ngx_yoti_idv_switch_master_parse(r, LIT("gat"), &ep) == 1,
       "+switch-master of a master with a longer name");
    freeReplyObject(r);

    r = reply(LIT("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"));
    ok(ngx_yoti_idv_switch_master_parse(r, LIT("gate"), &ep) == 1,
       "the subscription's confirmation");
    freeReplyObject(r);

    r = reply(LIT("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n"
                  "$23\r\ngate 127.0.0.1 6380 h 0\r\n"));
    ok(ngx_yoti_idv_switch_master_parse(r, LIT("gate"), &ep) == -1,
       "+switch-master to port 0");
    freeReplyObject(r);

    r = reply(LIT("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n"
                  "$17\r\ngate  6380 h 6381\r\n"));
    ok(ngx_yoti_idv_switch_master_parse(r, LIT("gate"), &ep) == -1,
       "+switch-master with an empty field");
    freeReplyObject(r);

    r = reply(LIT("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n"
                  "$4\r\ngate\r\n"));
    ok(ngx_yoti_idv_switch_master_parse(r, LIT("gate"), &ep) == -1,
       "+switch-master with the name only");
    freeReplyObject(r);

    r = reply(LIT("*2\r\n$7\r\nmessage\r\n$1\r\nx\r\n"));
    ok(ngx_yoti_idv_switch_master_parse(r, LIT("gate"), &ep) == -1,
       "a message of two elements");
    freeReplyObject(r);
}


static void
test_ip(void)
{
    char                     buf[NGX_YOTI_IDV_HOST_LEN];
    ngx_yoti_idv_endpoint_t  ep;

    ep.port = 1;

    ep.host = "127.0.0.1";
    ep.host_len = 9;
    ok(ngx_yoti_idv_endpoint_ip(&ep, buf) == 0 && strcmp(buf, "127.0.0.1")
       == 0, "an IPv4 address");

    ep.host = "::1";
    ep.host_len = 3;
    ok(ngx_yoti_idv_endpoint_ip(&ep, buf) == 0, "an IPv6 address");

    ep.host = "redis.internal";
    ep.host_len = 14;
    ok(ngx_yoti_idv_endpoint_ip(&ep, buf) == -1, "a name: no DNS");

    ep.host = "127.0.0.1x";
    ep.host_len = 9;
    ok(ngx_yoti_idv_endpoint_ip(&ep, buf) == 0, "the length counts");

    ep.host = "127.0\0.1";
    ep.host_len = 8;
    ok(ngx_yoti_idv_endpoint_ip(&ep, buf) == -1, "a NUL byte");

    ep.host = "";
    ep.host_len = 0;
    ok(ngx_yoti_idv_endpoint_ip(&ep, buf) == -1, "empty");
}


int
main(void)
{
    test_slots();
    test_errors();
    test_cluster_slots();
    test_sentinel();
    test_ip();

    return tap_done();
}
