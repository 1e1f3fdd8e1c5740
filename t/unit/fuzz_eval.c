
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * libFuzzer harness of the evaluator: every input is evaluated as a 200
 * session result under several policies and as an error body, and every
 * result must be well-formed.  make -C t/unit fuzz
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_yoti_idv_eval.h"


#define REQ(t, m)                                                            \
    { t, sizeof(t) - 1, NGX_YOTI_IDV_REQ_ ## m, NULL, 0, NULL, 0, NULL, 0 }
#define REQF(t, m, l, d, c)                                                  \
    { t, sizeof(t) - 1, NGX_YOTI_IDV_REQ_ ## m, l, l ? sizeof(l) - 1 : 0,   \
      d, d ? sizeof(d) - 1 : 0, c, c ? sizeof(c) - 1 : 0 }


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const ngx_yoti_idv_req_t  reqs_full[] = {
    REQ("LIVENESS", ANY),
    REQ("FACE_COMPARISON", ALL),
    REQ("FAMILIAR_FACE_SEARCH", ALL),
    REQ("ID_DOCUMENT_AUTHENTICITY", ALL),
    REQ("IDENTITY_PROFILE", ALL),
};

static const ngx_yoti_idv_req_t  reqs_any[] = {
    REQ("FAMILIAR_FACE_SEARCH", ANY),
    REQ("LIVENESS", ALL),
};


static const ngx_yoti_idv_req_t  reqs_filtered[] = {
    REQF("LIVENESS", ANY, "STATIC", NULL, NULL),
    REQF("ID_DOCUMENT_AUTHENTICITY", ALL, NULL, "PASSPORT,DRIVING_LICENCE",
         "GBR,IRL"),
    REQF("FACE_COMPARISON", ALL, NULL, NULL, "GBR"),
};

static const ngx_yoti_idv_req_t  reqs_all_zoom[] = {
    REQF("LIVENESS", ALL, "ZOOM,STATIC", NULL, NULL),
    REQF("BRAND_NEW_CHECK", ANY, NULL, "NATIONAL_ID", NULL),
};


static const ngx_yoti_idv_policy_t  policies[] = {
    { NULL, 0, NULL, 0, NULL, 0, 0, 0, 0, 0 },
    { reqs_full, 5, "7938ac1e-0a4a-49b7-953f-08cfa764358f", 36,
      "<YOUR_USER_ID>", 14, 0, 0, 0, 0 },
    { reqs_any, 2, "sess-1", 6, "alice", 5, 0, 0, 0, 0 },
    { reqs_full, 5, "verified-alice", 14, "", 0, 0, 0, 0, 0 },
    { reqs_filtered, 3, "sess-1", 6, "alice", 5, 18, 2024, 2, 29 },
    { reqs_all_zoom, 2, NULL, 0, NULL, 0, 150, 9999, 12, 31 },
    { NULL, 0, NULL, 0, NULL, 0, 1, 1, 1, 1 },
};

/* the policies with an age: the input is also document fields media */
static const size_t  aged[] = { 4, 5, 6 };


static const int  statuses[] = { 200, 401, 404, 500, 504 };


static void
check(const ngx_yoti_idv_result_t *res)
{
    size_t  i;

    if (res->verdict > NGX_YOTI_IDV_ERROR
        || memchr(res->reason, '\0', sizeof(res->reason)) == NULL
        || memchr(res->detail, '\0', sizeof(res->detail)) == NULL
        || memchr(res->media_id, '\0', sizeof(res->media_id)) == NULL
        || res->reason[0] == '\0')
    {
        abort();
    }

    /* a media id comes only with the fail-closed "still to check" */
    if ((res->media_id[0] != '\0')
        != (strcmp(res->reason, "internal:age_unchecked") == 0)
        || (res->media_id[0] != '\0' && res->verdict != NGX_YOTI_IDV_ERROR)
        || !ngx_yoti_idv_valid_session_id(res->media_id,
                                          strlen(res->media_id))
           != (res->media_id[0] == '\0'))
    {
        abort();
    }

    if ((res->age_days != 0) != (strcmp(res->reason, "age:underage") == 0)
        || res->age_days < 0)
    {
        abort();
    }

    for (i = 0; res->reason[i] != '\0'; i++) {
        if (strchr("abcdefghijklmnopqrstuvwxyz"
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:",
                   res->reason[i]) == NULL)
        {
            abort();
        }
    }

    for (i = 0; res->detail[i] != '\0'; i++) {
        if ((unsigned char) res->detail[i] < 0x20
            || (unsigned char) res->detail[i] > 0x7e)
        {
            abort();
        }
    }

    if ((res->verdict == NGX_YOTI_IDV_ALLOW)
        != (strcmp(res->reason, "ok") == 0))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                   *buf;
    size_t                  i;
    ngx_yoti_idv_result_t   res, res2;

    /* an exact-size copy: any read past the end is caught by ASan */
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
        memset(&res, 0xa5, sizeof(res));
        ngx_yoti_idv_eval_session(buf, size, &policies[i], &res);
        check(&res);

        /* deterministic */
        memset(&res2, 0x5a, sizeof(res2));
        ngx_yoti_idv_eval_response(200, buf, size, &policies[i], &res2);
        check(&res2);

        if (res.verdict != res2.verdict
            || strcmp(res.reason, res2.reason) != 0
            || strcmp(res.detail, res2.detail) != 0)
        {
            abort();
        }

        /* binding to a user never turns a DENY or ERROR into ALLOW */
        if (i == 0 && res.verdict != NGX_YOTI_IDV_ALLOW) {
            ngx_yoti_idv_eval_session(buf, size, &policies[3], &res2);

            if (res2.verdict == NGX_YOTI_IDV_ALLOW) {
                abort();
            }
        }
    }

    for (i = 1; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        ngx_yoti_idv_eval_response(statuses[i], buf, size, &policies[1], &res);
        check(&res);

        if (res.verdict == NGX_YOTI_IDV_ALLOW) {
            abort();
        }

        /* a media fetch that is not 200 never allows */
        ngx_yoti_idv_eval_media(statuses[i], buf, size, &policies[4], &res);
        check(&res);

        if (res.verdict == NGX_YOTI_IDV_ALLOW) {
            abort();
        }
    }

    /* the same input as the document fields, and never an age check left */
    for (i = 0; i < sizeof(aged) / sizeof(aged[0]); i++) {
        memset(&res, 0xa5, sizeof(res));
        ngx_yoti_idv_eval_media(200, buf, size, &policies[aged[i]], &res);
        check(&res);

        if (res.media_id[0] != '\0') {
            abort();
        }
    }

    /* without an age, the media evaluator refuses to decide */
    ngx_yoti_idv_eval_media(200, buf, size, &policies[1], &res);
    check(&res);

    if (res.verdict != NGX_YOTI_IDV_ERROR) {
        abort();
    }

    free(buf);

    return 0;
}
