
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Unit tests of ngx_yoti_idv_notify.c: the constant-time comparison of
 * the notification's credentials, and the notification's body.
 */


#include <string.h>
#include <time.h>

#include "tap.h"
#include "ngx_yoti_idv_notify.h"


#define LIT(s)  s, sizeof(s) - 1
#define U(s)    (const unsigned char *) s, sizeof(s) - 1


static void
test_ct_equal(void)
{
    ok(ngx_yoti_idv_ct_equal(U("s3cr3t"), U("s3cr3t")), "equal");
    ok(!ngx_yoti_idv_ct_equal(U("s3cr3T"), U("s3cr3t")), "the last differs");
    ok(!ngx_yoti_idv_ct_equal(U("S3cr3t"), U("s3cr3t")),
       "the first differs");
    ok(!ngx_yoti_idv_ct_equal(U("s3cr3"), U("s3cr3t")), "a prefix");
    ok(!ngx_yoti_idv_ct_equal(U("s3cr3tt"), U("s3cr3t")), "longer");
    ok(!ngx_yoti_idv_ct_equal(U(""), U("s3cr3t")), "empty");
    ok(!ngx_yoti_idv_ct_equal((const unsigned char *) "s3cr3t\0", 7,
                              U("s3cr3t")), "a NUL more");

    /* a given byte equal to ~expected where it is missing must not match */
    ok(!ngx_yoti_idv_ct_equal((const unsigned char *) "\x8c", 1,
                              (const unsigned char *) "s\x8c", 2),
       "short, with the filler's value");
}


/*
 * The time does not depend on where the bytes differ: a mismatch at the
 * first byte and one at the last take the same time, within a wide margin
 * (a comparison that stops early would differ by the length, 64 KiB).
 */

static double
ct_time(const unsigned char *given, const unsigned char *expected,
    size_t len)
{
    int              i, r;
    struct timespec  a, b;

    r = 0;

    clock_gettime(CLOCK_MONOTONIC, &a);

    for (i = 0; i < 200; i++) {
        r += ngx_yoti_idv_ct_equal(given, len, expected, len);
    }

    clock_gettime(CLOCK_MONOTONIC, &b);

    return (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) + r;
}


static void
test_ct_timing(void)
{
    int                   i;
    double                first, last, t;
    static unsigned char  expected[65536], early[65536], late[65536];

    memset(expected, 'a', sizeof(expected));
    memcpy(early, expected, sizeof(expected));
    memcpy(late, expected, sizeof(expected));
    early[0] = 'b';
    late[sizeof(late) - 1] = 'b';

    first = 1e300;
    last = 1e300;

    /* the best of several runs: the noise of a shared machine goes */

    for (i = 0; i < 7; i++) {
        t = ct_time(early, expected, sizeof(expected));
        first = t < first ? t : first;
        t = ct_time(late, expected, sizeof(expected));
        last = t < last ? t : last;
    }

    ok(first > last / 3 && first < last * 3,
       "a mismatch at the first byte takes as long as at the last "
       "(%.0f ns, %.0f ns)", first, last);
}


static void
test_parse(void)
{
    ngx_yoti_idv_notify_t  n;

    ok(ngx_yoti_idv_notify_parse(
           LIT("{\"session_id\":\"verified-alice\","
               "\"topic\":\"session_completion\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_OK
       && n.session_id_len == 14
       && strcmp(n.session_id, "verified-alice") == 0
       && strcmp(n.topic, "session_completion") == 0
       && n.invalidates,
       "session_completion");

    ok(ngx_yoti_idv_notify_parse(
           LIT("{\"session_id\":\"s1\",\"topic\":\"check_completion\","
               "\"check_id\":\"c\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_OK && n.invalidates, "check_completion");

    ok(ngx_yoti_idv_notify_parse(
           LIT("{\"session_id\":\"s1\",\"topic\":\"task_completion\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_OK && n.invalidates, "task_completion");

    ok(ngx_yoti_idv_notify_parse(
           LIT("{\"session_id\":\"s1\",\"topic\":\"resource_update\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_OK && n.invalidates, "resource_update");

    ok(ngx_yoti_idv_notify_parse(
           LIT("{\"topic\":\"client_session_token_deleted\","
               "\"session_id\":\"s1\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_OK && n.invalidates,
       "client_session_token_deleted");

    ok(ngx_yoti_idv_notify_parse(
           LIT("{\"session_id\":\"s1\",\"topic\":\"SESSION_COMPLETION\"}"),
           &n)
       == NGX_YOTI_IDV_NOTIFY_OK && !n.invalidates,
       "topics arrive lower-case: an upper-case one is unknown");

    ok(ngx_yoti_idv_notify_parse(
           LIT("{\"session_id\":\"s1\",\"topic\":\"new\\\"one\\n\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_OK && !n.invalidates
       && strcmp(n.topic, "new?one?") == 0,
       "an unknown topic, made safe for the log");

    ok(ngx_yoti_idv_notify_parse(LIT("{\"session_id\":\"s1\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_OK && !n.invalidates && n.topic_len == 0,
       "no topic");

    ok(ngx_yoti_idv_notify_parse(LIT("session_id=s1"), &n)
       == NGX_YOTI_IDV_NOTIFY_NOT_JSON, "not JSON");
    ok(ngx_yoti_idv_notify_parse(LIT("[\"s1\"]"), &n)
       == NGX_YOTI_IDV_NOTIFY_NOT_JSON, "an array");
    ok(ngx_yoti_idv_notify_parse(LIT(""), &n)
       == NGX_YOTI_IDV_NOTIFY_NOT_JSON, "empty");
    ok(ngx_yoti_idv_notify_parse(LIT("{\"session_id\":\"s1\""), &n)
       == NGX_YOTI_IDV_NOTIFY_NOT_JSON, "cut");
    ok(ngx_yoti_idv_notify_parse(LIT("{\"topic\":\"session_completion\"}"),
                                 &n)
       == NGX_YOTI_IDV_NOTIFY_NO_SESSION, "no session_id");
    ok(ngx_yoti_idv_notify_parse(LIT("{\"session_id\":7}"), &n)
       == NGX_YOTI_IDV_NOTIFY_NO_SESSION, "a number");
    ok(ngx_yoti_idv_notify_parse(LIT("{\"session_id\":\"\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_BAD_SESSION, "an empty session id");
    ok(ngx_yoti_idv_notify_parse(LIT("{\"session_id\":\"../x\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_BAD_SESSION, "a path");
    ok(ngx_yoti_idv_notify_parse(
           LIT("{\"session_id\":\"a\\u0000b\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_NOT_JSON, "an escaped NUL inside");
    ok(ngx_yoti_idv_notify_parse(
           LIT("{\"session_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"), &n)
       == NGX_YOTI_IDV_NOTIFY_BAD_SESSION, "a session id too long");
}


int
main(void)
{
    test_ct_equal();
    test_ct_timing();
    test_parse();

    return tap_done();
}
