
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Unit tests of ngx_yoti_idv_sigv4.c: every vector of
 * vectors/aws-sigv4.json (computed with the signer of
 * @aws-sdk/client-rekognition) reproduced exactly, the X-Amz-Date format,
 * and the credentials file parser.  Run from t/unit.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ngx_yoti_idv_sigv4.h"
#include "tap.h"


#define VECTORS  "vectors/aws-sigv4.json"


static char *
slurp(const char *path, size_t *len)
{
    FILE  *fp;
    char  *buf;
    long   n;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }

    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);

    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, fp) != (size_t) n) {
        free(buf);
        fclose(fp);
        return NULL;
    }

    buf[n] = '\0';
    *len = n;
    fclose(fp);

    return buf;
}


static const char *
str(cJSON *obj, const char *name)
{
    cJSON  *v;

    v = cJSON_GetObjectItemCaseSensitive(obj, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}


/* "2026-12-01T18:55:19Z" -> "20261201T185519Z" */

static void
amz_date(const char *iso, char *out)
{
    size_t  i, n;

    for (i = 0, n = 0; iso[i] && n < NGX_YOTI_IDV_AMZ_DATE_LEN; i++) {
        if (iso[i] != '-' && iso[i] != ':') {
            out[n++] = iso[i];
        }
    }
}


static void
test_vectors(void)
{
    int                       n, count;
    char                     *text;
    size_t                    len;
    cJSON                    *root, *v, *in;
    const char               *name, *token;
    ngx_yoti_idv_sigv4_t      s;
    ngx_yoti_idv_sigv4_out_t  out;
    char                      creq[8192], sts[1024], auth[1024];

    text = slurp(VECTORS, &len);
    if (!ok(text != NULL, "read " VECTORS)) {
        return;
    }

    root = cJSON_Parse(text);
    count = 0;

    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(root, "vectors")) {
        name = str(v, "name");
        in = cJSON_GetObjectItemCaseSensitive(v, "input");

        memset(&s, 0, sizeof(s));
        s.region = str(in, "region");
        s.region_len = strlen(s.region);
        s.service = "rekognition";
        s.service_len = sizeof("rekognition") - 1;
        s.host = str(in, "host");
        s.host_len = strlen(s.host);
        s.content_type = "application/x-amz-json-1.1";
        s.content_type_len = strlen(s.content_type);
        s.target = "RekognitionService.GetFaceLivenessSessionResults";
        s.target_len = strlen(s.target);
        s.body = str(in, "body");
        s.body_len = strlen(s.body);
        amz_date(str(in, "date"), s.amz_date);
        s.key_id = str(in, "accessKeyId");
        s.key_id_len = strlen(s.key_id);
        s.secret = str(in, "secretAccessKey");
        s.secret_len = strlen(s.secret);

        token = str(in, "sessionToken");
        s.token = token;
        s.token_len = token ? strlen(token) : 0;

        ok(ngx_yoti_idv_sigv4_sign(&s, &out, creq, sizeof(creq), sts,
                                   sizeof(sts)) == 0,
           "%s: signs", name);

        ok(strcmp(creq, str(v, "canonicalRequest")) == 0,
           "%s: canonical request", name);
        ok(strcmp(sts, str(v, "stringToSign")) == 0,
           "%s: string to sign", name);
        ok(strcmp(out.signature, str(v, "signature")) == 0,
           "%s: signature %s", name, out.signature);
        ok(strcmp(out.payload_hash,
                  str(cJSON_GetObjectItemCaseSensitive(v, "headers"),
                      "x-amz-content-sha256")) == 0,
           "%s: x-amz-content-sha256", name);
        ok(strncmp(s.amz_date,
                   str(cJSON_GetObjectItemCaseSensitive(v, "headers"),
                       "x-amz-date"), NGX_YOTI_IDV_AMZ_DATE_LEN) == 0,
           "%s: x-amz-date", name);

        n = ngx_yoti_idv_sigv4_authorization(&s, &out, auth, sizeof(auth));

        ok(n > 0 && strcmp(auth, str(v, "authorization")) == 0,
           "%s: authorization", name);
        ok((size_t) n + 1 == ngx_yoti_idv_sigv4_authorization_len(&s),
           "%s: authorization length is exact", name);
        ok(ngx_yoti_idv_sigv4_authorization(&s, &out, auth, n) == -1,
           "%s: a buffer one byte short is refused", name);

        /* the same signer with small buffers fails instead of overflowing */
        ok(ngx_yoti_idv_sigv4_sign(&s, &out, creq, 10, NULL, 0) == -1,
           "%s: a small canonical request buffer is refused", name);

        count++;
    }

    ok(count == 4, "%d vectors", count);

    cJSON_Delete(root);
    free(text);
}


static void
test_amz_date(void)
{
    char  d[NGX_YOTI_IDV_AMZ_DATE_LEN + 1];

    d[NGX_YOTI_IDV_AMZ_DATE_LEN] = 'X';

    ok(ngx_yoti_idv_amz_date(1769903999, d) == 0
       && memcmp(d, "20260131T235959Z", 16) == 0
       && d[NGX_YOTI_IDV_AMZ_DATE_LEN] == 'X',
       "amz date of the last second of a day, nothing written past it");
    ok(ngx_yoti_idv_amz_date(0, d) == 0 && memcmp(d, "19700101T000000Z", 16)
       == 0, "amz date of the epoch");
}


typedef struct {
    const char  *text;
    const char  *profile;
    const char  *error;         /* NULL: parses */
    const char  *key_id;
    const char  *token;         /* "" for none */
} creds_case_t;


static const creds_case_t  creds_cases[] = {
    { "[default]\naws_access_key_id = AKIDONE\n"
      "aws_secret_access_key = s3cr3t/ONE\n",
      "default", NULL, "AKIDONE", "" },
    { "[default]\r\naws_access_key_id=AKIDONE\r\n"
      "aws_secret_access_key=x\r\n", "default", NULL, "AKIDONE", "" },
    { "# comment\n; other\n[other]\naws_access_key_id = AKIDOTHER\n"
      "aws_secret_access_key = a\n[ gate ]\nregion = eu-west-1\n"
      "aws_access_key_id = AKIDGATE\naws_secret_access_key = b\n"
      "aws_session_token = TOKEN/+=\n[after]\naws_access_key_id = X\n",
      "gate", NULL, "AKIDGATE", "TOKEN/+=" },
    { "[default]\naws_access_key_id = A\naws_secret_access_key = B",
      "default", NULL, "A", "" },
    { "[default]\naws_access_key_id = A\n", "gate",
      "has no profile [gate]", NULL, NULL },
    { "", "default", "has no profile [default]", NULL, NULL },
    { "[default]\naws_secret_access_key = B\n", "default",
      "profile [default] has no aws_access_key_id", NULL, NULL },
    { "[default]\naws_access_key_id = A\n", "default",
      "profile [default] has no aws_secret_access_key", NULL, NULL },
    { "[default]\naws_access_key_id = A\naws_access_key_id = C\n"
      "aws_secret_access_key = B\n", "default",
      "profile [default] has aws_access_key_id twice", NULL, NULL },
    { "[default]\naws_access_key_id =\naws_secret_access_key = B\n",
      "default", "aws_access_key_id of profile [default] is empty",
      NULL, NULL },
    { "[default]\naws_access_key_id = A B\naws_secret_access_key = B\n",
      "default", "aws_access_key_id of profile [default] has a character "
      "that is not printable ASCII", NULL, NULL },
    { "[default]\ngarbage\n", "default",
      "has a line without \"=\" in profile [default]", NULL, NULL },
    { "[default\n", "default", "has a section line without \"]\"",
      NULL, NULL },
};


static void
test_creds(void)
{
    int                        rc;
    size_t                     i;
    char                       err[256], *big;
    ngx_yoti_idv_aws_creds_t   c;
    const creds_case_t        *t;

    for (i = 0; i < sizeof(creds_cases) / sizeof(creds_cases[0]); i++) {
        t = &creds_cases[i];
        err[0] = '\0';

        rc = ngx_yoti_idv_aws_creds_parse(t->text, strlen(t->text),
                                          t->profile, strlen(t->profile),
                                          &c, err, sizeof(err));

        if (t->error == NULL) {
            ok(rc == 0 && strcmp(c.key_id, t->key_id) == 0
               && strcmp(c.token, t->token) == 0
               && c.token_len == strlen(t->token),
               "creds %zu: parses, key id %s", i, c.key_id);

        } else {
            ok(rc == -1 && strcmp(err, t->error) == 0
               && c.key_id_len == 0 && c.secret[0] == '\0',
               "creds %zu: \"%s\" (%s)", i, t->error, err);
        }

        /* never a value in the message */
        ok(strstr(err, "AKID") == NULL && strstr(err, "s3cr3t") == NULL,
           "creds %zu: the message quotes no value", i);
    }

    ok(ngx_yoti_idv_aws_creds_parse("[default]\0x", 11, "default", 7, &c,
                                    err, sizeof(err)) == -1
       && strcmp(err, "contains a NUL byte") == 0, "creds: a NUL byte");

    /* a session token longer than the limit */

    big = malloc(NGX_YOTI_IDV_AWS_TOKEN_MAX + 200);
    if (big) {
        rc = sprintf(big, "[default]\naws_access_key_id = A\n"
                     "aws_secret_access_key = B\naws_session_token = ");
        memset(big + rc, 'T', NGX_YOTI_IDV_AWS_TOKEN_MAX + 1);
        big[rc + NGX_YOTI_IDV_AWS_TOKEN_MAX + 1] = '\n';

        ok(ngx_yoti_idv_aws_creds_parse(big,
                                        rc + NGX_YOTI_IDV_AWS_TOKEN_MAX + 2,
                                        "default", 7, &c, err, sizeof(err))
           == -1
           && strcmp(err, "aws_session_token of profile [default] is longer "
                     "than 4096 bytes") == 0, "creds: a token too long (%s)",
           err);

        free(big);
    }
}


int
main(void)
{
    test_vectors();
    test_amz_date();
    test_creds();

    return tap_done();
}
