
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * Unit tests of ngx_yoti_idv_sign.c: the X-Yoti-Auth-Digest against the
 * vectors computed with the official Node SDK, key loading errors, and the
 * UUIDv4 nonce.  Run from t/unit (make -C t/unit test).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ngx_yoti_idv_sign.h"
#include "tap.h"


#define BIG_KEY_FILE  "big-key.tmp"


typedef struct {
    const char  *file;
    const char  *error;
} key_error_t;


static const key_error_t  key_errors[] = {
    { "no-such-key.pem", "cannot open file: No such file or directory" },
    { "test-key-public.pem", "is a public key, not a private key" },
    { "rsa-public-pkcs1.pem", "is a public key, not a private key" },
    { "ec-key.pem", "is not an RSA key (EC)" },
    { "ec-key-sec1.pem", "is not an RSA key (EC)" },
    { "ec-key-with-params.pem", "is not an RSA key (EC)" },
    { "ed25519-key.pem", "is not an RSA key (ED25519)" },
    { "rsa-pss-key.pem", "is not an RSA key (RSA-PSS)" },
    { "encrypted-key.pem",
      "is encrypted; a passphrase-protected key is not supported" },
    { "encrypted-pkcs1.pem",
      "is encrypted; a passphrase-protected key is not supported" },
    { "encrypted-empty-pass.pem",
      "is encrypted; a passphrase-protected key is not supported" },
    { "garbage.pem", "is not a PEM private key" },
    { "test-key.der", "is not a PEM private key" },
    { "empty.pem", "is empty" },
    { "cert.pem", "is a certificate, not a private key" },
    { "damaged-key.pem", "is a damaged or unsupported PEM private key" },
};


static char  path_buf[512];


/* shared keys live in t/keys, extra ones in t/unit/keys */

static const char *
key_path(const char *name)
{
    FILE  *fp;

    snprintf(path_buf, sizeof(path_buf), "../keys/%s", name);

    fp = fopen(path_buf, "rb");
    if (fp != NULL) {
        fclose(fp);
        return path_buf;
    }

    snprintf(path_buf, sizeof(path_buf), "keys/%s", name);

    return path_buf;
}


static char *
slurp(const char *path)
{
    FILE    *fp;
    char    *buf;
    size_t   n;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        return NULL;
    }

    buf = malloc(1 << 20);
    if (buf == NULL) {
        abort();
    }

    n = fread(buf, 1, (1 << 20) - 1, fp);
    buf[n] = '\0';

    fclose(fp);

    return buf;
}


static int
verify(const char *pub_path, const char *msg, const char *b64)
{
    int             rc, n;
    FILE           *fp;
    EVP_PKEY       *pub;
    EVP_MD_CTX     *md;
    unsigned char   sig[1024];

    fp = fopen(pub_path, "rb");
    if (fp == NULL) {
        return 0;
    }

    pub = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
    fclose(fp);

    if (pub == NULL) {
        return 0;
    }

    rc = 0;

    n = EVP_DecodeBlock(sig, (const unsigned char *) b64, (int) strlen(b64));

    /* EVP_DecodeBlock() counts the padding bytes */
    if (n > 0 && strlen(b64) >= 2) {
        n -= (b64[strlen(b64) - 1] == '=') + (b64[strlen(b64) - 2] == '=');
    }

    md = EVP_MD_CTX_new();

    if (n > 0 && md != NULL
        && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1
        && EVP_DigestVerify(md, sig, (size_t) n, (const unsigned char *) msg,
                            strlen(msg)) == 1)
    {
        rc = 1;
    }

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    ERR_clear_error();

    return rc;
}


static void
test_vectors(void)
{
    int                 i, n, k, good;
    char               *text, out[1024], err[256];
    cJSON              *root, *vectors, *v, *msg, *digest;
    EVP_PKEY           *key;
    const char         *pub;

    static const char  *keys[] = {
        "vectors/test-key-pkcs1.pem",
        "vectors/test-key-pkcs8.pem",
        "keys/public-then-private.pem",
    };

    text = slurp("vectors/yoti-signing.json");

    if (!ok(text != NULL, "vectors/yoti-signing.json is readable")) {
        return;
    }

    root = cJSON_Parse(text);
    free(text);

    vectors = cJSON_GetObjectItemCaseSensitive(root, "vectors");

    if (!ok(cJSON_IsArray(vectors) && cJSON_GetArraySize(vectors) >= 3,
            "yoti-signing.json has vectors"))
    {
        cJSON_Delete(root);
        return;
    }

    pub = "vectors/test-key-public.pem";

    for (k = 0; k < (int) (sizeof(keys) / sizeof(keys[0])); k++) {
        key = ngx_yoti_idv_key_load(keys[k], err, sizeof(err));

        if (!ok(key != NULL && err[0] == '\0' && ERR_peek_error() == 0,
                "load %s %s", keys[k], err))
        {
            continue;
        }

        ok(ngx_yoti_idv_digest_len(key) == 345, "digest_len %s is 345",
           keys[k]);

        i = 0;

        cJSON_ArrayForEach(v, vectors) {
            msg = cJSON_GetObjectItemCaseSensitive(v, "message");
            digest = cJSON_GetObjectItemCaseSensitive(v, "x_yoti_auth_digest");

            if (!cJSON_IsString(msg) || !cJSON_IsString(digest)) {
                ok(0, "vector %d is well-formed", i);
                continue;
            }

            memset(out, 'x', sizeof(out));

            n = ngx_yoti_idv_sign(key, (const unsigned char *) msg->valuestring,
                                  strlen(msg->valuestring), out,
                                  ngx_yoti_idv_digest_len(key));

            good = n >= 0 && (size_t) n == strlen(digest->valuestring)
                   && strcmp(out, digest->valuestring) == 0
                   && out[n] == '\0' && out[n + 1] == 'x';

            if (!ok(good, "%s: vector %d (%.40s...)", keys[k], i,
                    msg->valuestring))
            {
                printf("#   got:    %s\n#   expect: %s\n", out,
                       digest->valuestring);
            }

            if (k == 0) {
                ok(verify(pub, msg->valuestring, out),
                   "vector %d verifies with the public key", i);
            }

            i++;
        }

        EVP_PKEY_free(key);
    }

    cJSON_Delete(root);
}


static void
test_sign_edges(void)
{
    int        n, m;
    char       out[400], out2[400], err[256];
    EVP_PKEY  *key, *ec;
    BIO       *bio;
    char      *pem;

    key = ngx_yoti_idv_key_load("vectors/test-key-pkcs1.pem", err,
                                sizeof(err));

    if (!ok(key != NULL, "load the test key")) {
        return;
    }

    n = ngx_yoti_idv_sign(key, (const unsigned char *) "GET&/x", 6, out,
                          sizeof(out));
    m = ngx_yoti_idv_sign(key, (const unsigned char *) "GET&/x", 6, out2,
                          sizeof(out2));
    ok(n == 344 && m == 344 && strcmp(out, out2) == 0,
       "signing is deterministic, 344 base64 chars");
    ok(strchr(out, '\n') == NULL && out[343] == '=', "no newline, padded");
    ok(verify("vectors/test-key-public.pem", "GET&/x", out),
       "signature verifies");

    n = ngx_yoti_idv_sign(key, (const unsigned char *) "GET&/y", 6, out2,
                          sizeof(out2));
    ok(n == 344 && strcmp(out, out2) != 0, "another message, another digest");

    memset(out, 'x', sizeof(out));
    n = ngx_yoti_idv_sign(key, (const unsigned char *) "GET&/x", 6, out, 344);
    ok(n == -1 && out[0] == '\0' && out[1] == 'x',
       "out_len 344 is one too short");

    n = ngx_yoti_idv_sign(key, (const unsigned char *) "GET&/x", 6, out, 345);
    ok(n == 344 && out[344] == '\0', "out_len 345 is enough");

    n = ngx_yoti_idv_sign(key, (const unsigned char *) "GET&/x", 6, out, 0);
    ok(n == -1, "out_len 0");

    n = ngx_yoti_idv_sign(key, (const unsigned char *) "x", 1, NULL, 400);
    ok(n == -1, "out NULL");

    n = ngx_yoti_idv_sign(NULL, (const unsigned char *) "x", 1, out,
                          sizeof(out));
    ok(n == -1 && out[0] == '\0', "key NULL");

    n = ngx_yoti_idv_sign(key, NULL, 1, out, sizeof(out));
    ok(n == -1, "msg NULL with a length");

    n = ngx_yoti_idv_sign(key, NULL, 0, out, sizeof(out));
    ok(n == 344 && verify("vectors/test-key-public.pem", "", out),
       "empty message");

    ok(ngx_yoti_idv_digest_len(NULL) == 0, "digest_len NULL");

    /* a non-RSA key handed to sign() directly */
    pem = slurp(key_path("ec-key.pem"));
    ec = NULL;

    if (pem != NULL) {
        bio = BIO_new_mem_buf(pem, -1);
        ec = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        free(pem);
    }

    if (ok(ec != NULL, "load an EC key with OpenSSL")) {
        n = ngx_yoti_idv_sign(ec, (const unsigned char *) "x", 1, out,
                              sizeof(out));
        ok(n == -1 && out[0] == '\0' && ERR_peek_error() == 0,
           "sign with an EC key fails, error queue empty");
        EVP_PKEY_free(ec);
    }

    ok(ERR_peek_error() == 0, "error queue is empty");

    EVP_PKEY_free(key);
}


static int
err_is_clean(const char *err)
{
    return strchr(err, '\n') == NULL && strchr(err, '\r') == NULL
           && strstr(err, "MII") == NULL && strstr(err, "-----") == NULL;
}


static void
test_key_errors(void)
{
    int        good;
    char       err[256], small[8];
    FILE      *fp;
    size_t     i;
    EVP_PKEY  *key;

    for (i = 0; i < sizeof(key_errors) / sizeof(key_errors[0]); i++) {
        memset(err, 'x', sizeof(err));

        key = ngx_yoti_idv_key_load(key_path(key_errors[i].file), err,
                                    sizeof(err));

        good = key == NULL && strcmp(err, key_errors[i].error) == 0
               && err_is_clean(err) && ERR_peek_error() == 0;

        if (!ok(good, "%s: %s", key_errors[i].file, key_errors[i].error)) {
            printf("#   got: %s (%s)\n", key ? "a key" : "NULL",
                   memchr(err, '\0', sizeof(err)) ? err : "unterminated");
        }

        EVP_PKEY_free(key);
    }

    key = ngx_yoti_idv_key_load("keys", err, sizeof(err));
    ok(key == NULL && strcmp(err, "cannot read file: Is a directory") == 0,
       "a directory: %s", err);
    EVP_PKEY_free(key);

    key = ngx_yoti_idv_key_load(NULL, err, sizeof(err));
    ok(key == NULL && strcmp(err, "no file name") == 0, "NULL path");

    key = ngx_yoti_idv_key_load("", err, sizeof(err));
    ok(key == NULL && strcmp(err, "no file name") == 0, "empty path");

    /* anything over 64 KB is refused before parsing */
    fp = fopen(BIG_KEY_FILE, "wb");

    if (ok(fp != NULL, "create " BIG_KEY_FILE)) {
        for (i = 0; i < 70000; i++) {
            fputc('A', fp);
        }

        fclose(fp);

        key = ngx_yoti_idv_key_load(BIG_KEY_FILE, err, sizeof(err));
        ok(key == NULL && strstr(err, "is too large") == err,
           "too large: %s", err);
        EVP_PKEY_free(key);

        remove(BIG_KEY_FILE);
    }

    memset(small, 'x', sizeof(small));
    key = ngx_yoti_idv_key_load(key_path("ec-key.pem"), small, sizeof(small));
    ok(key == NULL && strcmp(small, "is not ") == 0,
       "a short err buffer is truncated and terminated");

    key = ngx_yoti_idv_key_load(key_path("ec-key.pem"), NULL, 0);
    ok(key == NULL, "err NULL is allowed");

    key = ngx_yoti_idv_key_load(key_path("ec-key.pem"), small, 0);
    ok(key == NULL && small[0] == 'i', "err_len 0 writes nothing");

    key = ngx_yoti_idv_key_load(key_path("test-key-pkcs1.pem"), NULL, 0);
    ok(key != NULL, "shared t/keys/test-key-pkcs1.pem loads");
    EVP_PKEY_free(key);

    key = ngx_yoti_idv_key_load(key_path("other-key.pem"), err, sizeof(err));
    ok(key != NULL && err[0] == '\0', "another RSA key loads");
    EVP_PKEY_free(key);

    /* an error already queued by someone else does not confuse the load */
    ERR_raise(ERR_LIB_PEM, 1);
    key = ngx_yoti_idv_key_load("vectors/test-key-pkcs8.pem", err,
                                sizeof(err));
    ok(key != NULL && ERR_peek_error() == 0,
       "loads with a stale error queued, leaves the queue empty");
    EVP_PKEY_free(key);
}


static int
cmp36(const void *a, const void *b)
{
    return memcmp(a, b, 36);
}


static void
test_uuid(void)
{
    int      good, dup;
    char     c, *all, out[40];
    size_t   i, j;

    memset(out, '#', sizeof(out));

    ok(ngx_yoti_idv_uuid4(out) == 0, "uuid4 returns 0");
    ok(out[36] == '#', "nothing written past 36 bytes");
    ok(ngx_yoti_idv_uuid4(NULL) == -1, "uuid4 NULL");

    all = malloc(1000 * 36);
    if (all == NULL) {
        abort();
    }

    good = 1;

    for (i = 0; i < 1000; i++) {
        if (ngx_yoti_idv_uuid4(all + i * 36) != 0) {
            good = 0;
            break;
        }

        for (j = 0; j < 36; j++) {
            c = all[i * 36 + j];

            if (j == 8 || j == 13 || j == 18 || j == 23) {
                good = good && c == '-';

            } else {
                good = good && ((c >= '0' && c <= '9')
                                || (c >= 'a' && c <= 'f'));
            }
        }

        good = good && all[i * 36 + 14] == '4'
               && strchr("89ab", all[i * 36 + 19]) != NULL;
    }

    ok(good, "1000 uuids: 8-4-4-4-12 lowercase hex, version 4, variant 8-b");

    qsort(all, 1000, 36, cmp36);

    dup = 0;

    for (i = 1; i < 1000; i++) {
        if (memcmp(all + (i - 1) * 36, all + i * 36, 36) == 0) {
            dup++;
        }
    }

    ok(dup == 0, "1000 uuids are distinct");

    free(all);
}


int
main(void)
{
    test_vectors();
    test_sign_edges();
    test_key_errors();
    test_uuid();

    return tap_done();
}
