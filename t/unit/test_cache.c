
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Unit tests of ngx_yoti_idv_cache.c: the cached-verdict value and the
 * reply to the hot path's MGET, the replies made by hiredis's own reader
 * from RESP bytes.
 */


#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "tap.h"
#include "ngx_yoti_idv_cache.h"


#define LIT(s)  s, sizeof(s) - 1


static void
bad_value(const char *name, const char *p, size_t len)
{
    ngx_yoti_idv_cached_t  c;

    ok(ngx_yoti_idv_cached_parse(p, len, &c) == -1, "refused: %s", name);
}


static void
test_parse(void)
{
    ngx_yoti_idv_cached_t  c;

    ok(ngx_yoti_idv_cached_parse(LIT("1 verified-alice ALLOW ok"), &c) == 0
       && c.verdict == NGX_YOTI_IDV_ALLOW && c.session_id_len == 14
       && memcmp(c.session_id, "verified-alice", 14) == 0
       && c.reason_len == 2 && memcmp(c.reason, "ok", 2) == 0,
       "ALLOW parses");

    ok(ngx_yoti_idv_cached_parse(LIT("1 s DENY check:FACE_COMPARISON:REJECT"),
                                 &c) == 0
       && c.verdict == NGX_YOTI_IDV_DENY && c.reason_len == 28,
       "DENY parses");

    ok(ngx_yoti_idv_cached_parse(LIT("1 s PENDING state:ONGOING"), &c) == 0
       && c.verdict == NGX_YOTI_IDV_PENDING, "PENDING parses");

    bad_value("empty", LIT(""));
    bad_value("version 2", LIT("2 s ALLOW ok"));
    bad_value("no space after the version", LIT("1sALLOW ok"));
    bad_value("no verdict", LIT("1 s"));
    bad_value("no reason", LIT("1 s ALLOW"));
    bad_value("empty reason", LIT("1 s ALLOW "));
    bad_value("ERROR is never cached", LIT("1 s ERROR redis:timeout"));
    bad_value("lowercase verdict", LIT("1 s allow ok"));
    bad_value("verdict prefix", LIT("1 s ALLO ok"));
    bad_value("verdict longer", LIT("1 s ALLOWED ok"));
    bad_value("NUL inside the verdict", LIT("1 s AL\0OW ok"));
    bad_value("NUL after the verdict", LIT("1 s ALLOW\0 ok"));
    bad_value("NULs after the verdict word", LIT("1 s DENY\0\0\0\0 x"));
    bad_value("NUL in the reason", LIT("1 s ALLOW o\0k"));
    bad_value("bad session id", LIT("1 ../x ALLOW ok"));
    bad_value("empty session id", LIT("1  ALLOW ok"));
    bad_value("two spaces", LIT("1 s  ALLOW ok"));
    bad_value("trailing space", LIT("1 s ALLOW ok "));
    bad_value("reason with a space", LIT("1 s ALLOW o k"));
    bad_value("reason with a semicolon", LIT("1 s ALLOW ok;"));
    bad_value("newline", LIT("1 s ALLOW ok\n"));

    {
        char  v[2 + 1 + 6 + 200];

        memcpy(v, "1 s ALLOW ", 10);
        memset(v + 10, 'a', NGX_YOTI_IDV_REASON_LEN);
        bad_value("reason too long", v, 10 + NGX_YOTI_IDV_REASON_LEN);

        ok(ngx_yoti_idv_cached_parse(v, 10 + NGX_YOTI_IDV_REASON_LEN - 1, &c)
           == 0, "the longest reason parses");
    }
}


static void
test_format(void)
{
    size_t                 n;
    char                   buf[256];
    ngx_yoti_idv_cached_t  c;

    n = ngx_yoti_idv_cached_format(buf, sizeof(buf), LIT("sess-1"),
                                   NGX_YOTI_IDV_DENY, "user_mismatch");

    ok(n == sizeof("1 sess-1 DENY user_mismatch") - 1
       && memcmp(buf, "1 sess-1 DENY user_mismatch", n) == 0,
       "format writes the value");

    ok(ngx_yoti_idv_cached_parse(buf, n, &c) == 0
       && c.verdict == NGX_YOTI_IDV_DENY && c.reason_len == 13,
       "format, then parse");

    ok(ngx_yoti_idv_cached_format(buf, sizeof(buf), LIT("s"),
                                  NGX_YOTI_IDV_ERROR, "provider:500") == 0,
       "format refuses ERROR");
    ok(ngx_yoti_idv_cached_format(buf, sizeof(buf), LIT("a b"),
                                  NGX_YOTI_IDV_ALLOW, "ok") == 0,
       "format refuses a bad session id");
    ok(ngx_yoti_idv_cached_format(buf, sizeof(buf), LIT("s"),
                                  NGX_YOTI_IDV_ALLOW, "") == 0,
       "format refuses an empty reason");
    ok(ngx_yoti_idv_cached_format(buf, sizeof(buf), LIT("s"),
                                  NGX_YOTI_IDV_ALLOW, "o k") == 0,
       "format refuses a bad reason");
    ok(ngx_yoti_idv_cached_format(buf, 11, LIT("s"), NGX_YOTI_IDV_ALLOW, "ok")
       == 0, "format refuses a buffer one byte short");
    ok(ngx_yoti_idv_cached_format(buf, 12, LIT("s"), NGX_YOTI_IDV_ALLOW, "ok")
       == 12, "format fits an exact buffer");
}


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


static void
mget(const char *name, const char *resp, size_t len, size_t nkeys,
    ngx_yoti_idv_mget_rc_e expect)
{
    redisReply            *r;
    ngx_yoti_idv_value_t   v[2];

    r = reply(resp, len);
    ok(ngx_yoti_idv_mget_reply(r, nkeys, v) == expect, "mget: %s", name);
    freeReplyObject(r);
}


static void
test_mget(void)
{
    redisReply            *r;
    ngx_yoti_idv_value_t   v[2];

    r = reply(LIT("*2\r\n$14\r\nverified-alice\r\n$-1\r\n"));
    ok(ngx_yoti_idv_mget_reply(r, 2, v) == NGX_YOTI_IDV_MGET_OK
       && v[0].len == 14 && memcmp(v[0].data, "verified-alice", 14) == 0
       && v[1].data == NULL, "mget: a mapping and no verdict");
    freeReplyObject(r);

    r = reply(LIT("*2\r\n$0\r\n\r\n$3\r\na\0b\r\n"));
    ok(ngx_yoti_idv_mget_reply(r, 2, v) == NGX_YOTI_IDV_MGET_OK
       && v[0].data != NULL && v[0].len == 0 && v[1].len == 3
       && memcmp(v[1].data, "a\0b", 3) == 0,
       "mget: an empty value is not a missing one, values are binary");
    freeReplyObject(r);

    mget("NOAUTH", LIT("-NOAUTH Authentication required.\r\n"), 2,
         NGX_YOTI_IDV_MGET_AUTH);
    mget("WRONGPASS", LIT("-WRONGPASS invalid username-password pair\r\n"),
         2, NGX_YOTI_IDV_MGET_AUTH);
    mget("another error", LIT("-ERR unknown command\r\n"), 2,
         NGX_YOTI_IDV_MGET_ERROR);
    mget("a status reply", LIT("+OK\r\n"), 1, NGX_YOTI_IDV_MGET_SHAPE);
    mget("an integer reply", LIT(":1\r\n"), 1, NGX_YOTI_IDV_MGET_SHAPE);
    mget("too few values", LIT("*1\r\n$-1\r\n"), 2, NGX_YOTI_IDV_MGET_SHAPE);
    mget("too many values", LIT("*2\r\n$-1\r\n$-1\r\n"), 1,
         NGX_YOTI_IDV_MGET_SHAPE);
    mget("a nil array", LIT("*-1\r\n"), 1, NGX_YOTI_IDV_MGET_SHAPE);
    mget("an integer value", LIT("*1\r\n:7\r\n"), 1,
         NGX_YOTI_IDV_MGET_ELEMENT);
    mget("an array value", LIT("*1\r\n*1\r\n$1\r\nx\r\n"), 1,
         NGX_YOTI_IDV_MGET_ELEMENT);
    mget("a status value", LIT("*1\r\n+OK\r\n"), 1,
         NGX_YOTI_IDV_MGET_ELEMENT);
}


/* "2 <expires> ...": yoti_idv_cache_use_stale keeps the expiry */

static void
test_expires(void)
{
    size_t                 n;
    ngx_yoti_idv_cached_t  c;
    char                   buf[256];

    ok(ngx_yoti_idv_cached_parse(LIT("1 s ALLOW ok"), &c) == 0
       && c.expires == 0, "1: no expiry");

    ok(ngx_yoti_idv_cached_parse(LIT("2 1796170000 verified-alice ALLOW ok"),
                                 &c) == 0
       && c.expires == 1796170000L && c.verdict == NGX_YOTI_IDV_ALLOW
       && c.session_id_len == 14
       && memcmp(c.session_id, "verified-alice", 14) == 0
       && c.reason_len == 2, "2: the expiry and the rest");

    bad_value("2 without an expiry", LIT("2 s ALLOW ok"));
    bad_value("2 with a zero expiry", LIT("2 0 s ALLOW ok"));
    bad_value("2 with a negative expiry", LIT("2 -5 s ALLOW ok"));
    bad_value("2 with an expiry and nothing else", LIT("2 1796170000"));
    bad_value("2 with an expiry and no space", LIT("2 1796170000s ALLOW ok"));
    bad_value("2 with an expiry too large",
              LIT("2 999999999999999999999 s ALLOW ok"));
    bad_value("2 with a bad session", LIT("2 1796170000 ../x ALLOW ok"));

    n = ngx_yoti_idv_cached_format_until(buf, sizeof(buf), 1796170000L,
                                         LIT("sess-1"), NGX_YOTI_IDV_DENY,
                                         "check:LIVENESS:REJECT");
    ok(n == sizeof("2 1796170000 sess-1 DENY check:LIVENESS:REJECT") - 1
       && memcmp(buf, "2 1796170000 sess-1 DENY check:LIVENESS:REJECT", n)
          == 0, "format with an expiry");

    ok(ngx_yoti_idv_cached_parse(buf, n, &c) == 0
       && c.expires == 1796170000L && c.verdict == NGX_YOTI_IDV_DENY,
       "...and it parses back");

    n = ngx_yoti_idv_cached_format_until(buf, sizeof(buf), 0, LIT("s"),
                                         NGX_YOTI_IDV_ALLOW, "ok");
    ok(n == 12 && memcmp(buf, "1 s ALLOW ok", 12) == 0,
       "format without one: \"1 ...\" as before");

    ok(ngx_yoti_idv_cached_format_until(buf, 20, 1796170000L, LIT("s"),
                                        NGX_YOTI_IDV_ALLOW, "ok") == 0,
       "format: too small for the expiry");
}


int
main(void)
{
    test_parse();
    test_format();
    test_expires();
    test_mget();

    return tap_done();
}
