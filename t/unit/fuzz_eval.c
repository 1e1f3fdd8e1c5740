
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


#define REQ(t, m)  { t, sizeof(t) - 1, NGX_YOTI_IDV_REQ_ ## m }


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


static const ngx_yoti_idv_policy_t  policies[] = {
    { NULL, 0, NULL, 0, NULL, 0 },
    { reqs_full, 5, "7938ac1e-0a4a-49b7-953f-08cfa764358f", 36,
      "<YOUR_USER_ID>", 14 },
    { reqs_any, 2, "sess-1", 6, "alice", 5 },
    { reqs_full, 5, "verified-alice", 14, "", 0 },
};


static const int  statuses[] = { 200, 401, 404, 500, 504 };


static void
check(const ngx_yoti_idv_result_t *res)
{
    size_t  i;

    if (res->verdict > NGX_YOTI_IDV_ERROR
        || memchr(res->reason, '\0', sizeof(res->reason)) == NULL
        || memchr(res->detail, '\0', sizeof(res->detail)) == NULL
        || res->reason[0] == '\0')
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
    }

    free(buf);

    return 0;
}
