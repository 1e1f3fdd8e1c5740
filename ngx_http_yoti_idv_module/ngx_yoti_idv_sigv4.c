
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/* gmtime_r() under -std=c99 */
#if !defined _POSIX_C_SOURCE || _POSIX_C_SOURCE < 200112L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE  200112L
#endif

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

#include "ngx_yoti_idv_sigv4.h"


#define NGX_YOTI_IDV_SIGV4_ALGORITHM  "AWS4-HMAC-SHA256"


typedef struct {
    char        *p;
    char        *end;
    int          overflow;
} ngx_yoti_idv_buf_t;


static void ngx_yoti_idv_put(ngx_yoti_idv_buf_t *b, const char *s,
    size_t len);
static void ngx_yoti_idv_puts(ngx_yoti_idv_buf_t *b, const char *s);
static int ngx_yoti_idv_sha256_hex(const char *data, size_t len, char *hex);
static int ngx_yoti_idv_hmac(const unsigned char *key, size_t key_len,
    const char *msg, size_t len, unsigned char *md);
static void ngx_yoti_idv_hex(const unsigned char *md, size_t len, char *hex);
static const char *ngx_yoti_idv_signed_headers(const ngx_yoti_idv_sigv4_t *in);
static int ngx_yoti_idv_creds_value(const char *name, const char *v,
    size_t len, char *to, size_t max, size_t *to_len, const char *profile,
    size_t profile_len, char *err, size_t err_len);


int
ngx_yoti_idv_amz_date(time_t t, char *out)
{
    struct tm  tm;
    char       buf[NGX_YOTI_IDV_AMZ_DATE_LEN + 1];

    if (gmtime_r(&t, &tm) == NULL) {
        return -1;
    }

    if (strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm)
        != NGX_YOTI_IDV_AMZ_DATE_LEN)
    {
        return -1;
    }

    memcpy(out, buf, NGX_YOTI_IDV_AMZ_DATE_LEN);

    return 0;
}


int
ngx_yoti_idv_sigv4_sign(const ngx_yoti_idv_sigv4_t *in,
    ngx_yoti_idv_sigv4_out_t *out, char *creq, size_t creq_len, char *sts,
    size_t sts_len)
{
    int                  rc;
    size_t               n;
    const char          *signed_headers;
    ngx_yoti_idv_buf_t   b;
    unsigned char        key[EVP_MAX_MD_SIZE], md[EVP_MAX_MD_SIZE];
    char                 kbuf[4 + NGX_YOTI_IDV_AWS_SECRET_MAX];
    char                 creq_hash[NGX_YOTI_IDV_SHA256_HEX_LEN + 1];
    char                 text[2 * NGX_YOTI_IDV_AWS_TOKEN_MAX + 1024];

    rc = -1;

    if (in->secret_len > NGX_YOTI_IDV_AWS_SECRET_MAX
        || in->token_len > NGX_YOTI_IDV_AWS_TOKEN_MAX)
    {
        return -1;
    }

    if (ngx_yoti_idv_sha256_hex(in->body, in->body_len, out->payload_hash)
        != 0)
    {
        return -1;
    }

    signed_headers = ngx_yoti_idv_signed_headers(in);

    /* the canonical request: the headers in the order of their names */

    b.p = text;
    b.end = text + sizeof(text);
    b.overflow = 0;

    ngx_yoti_idv_puts(&b, "POST\n/\n\ncontent-type:");
    ngx_yoti_idv_put(&b, in->content_type, in->content_type_len);
    ngx_yoti_idv_puts(&b, "\nhost:");
    ngx_yoti_idv_put(&b, in->host, in->host_len);
    ngx_yoti_idv_puts(&b, "\nx-amz-content-sha256:");
    ngx_yoti_idv_put(&b, out->payload_hash, NGX_YOTI_IDV_SHA256_HEX_LEN);
    ngx_yoti_idv_puts(&b, "\nx-amz-date:");
    ngx_yoti_idv_put(&b, in->amz_date, NGX_YOTI_IDV_AMZ_DATE_LEN);

    if (in->token) {
        ngx_yoti_idv_puts(&b, "\nx-amz-security-token:");
        ngx_yoti_idv_put(&b, in->token, in->token_len);
    }

    ngx_yoti_idv_puts(&b, "\nx-amz-target:");
    ngx_yoti_idv_put(&b, in->target, in->target_len);
    ngx_yoti_idv_puts(&b, "\n\n");
    ngx_yoti_idv_puts(&b, signed_headers);
    ngx_yoti_idv_puts(&b, "\n");
    ngx_yoti_idv_put(&b, out->payload_hash, NGX_YOTI_IDV_SHA256_HEX_LEN);

    if (b.overflow) {
        goto failed;
    }

    n = b.p - text;

    if (creq) {
        if (n + 1 > creq_len) {
            goto failed;
        }

        memcpy(creq, text, n);
        creq[n] = '\0';
    }

    if (ngx_yoti_idv_sha256_hex(text, n, creq_hash) != 0) {
        goto failed;
    }

    /* the string to sign */

    b.p = text;

    ngx_yoti_idv_puts(&b, NGX_YOTI_IDV_SIGV4_ALGORITHM "\n");
    ngx_yoti_idv_put(&b, in->amz_date, NGX_YOTI_IDV_AMZ_DATE_LEN);
    ngx_yoti_idv_puts(&b, "\n");
    ngx_yoti_idv_put(&b, in->amz_date, 8);
    ngx_yoti_idv_puts(&b, "/");
    ngx_yoti_idv_put(&b, in->region, in->region_len);
    ngx_yoti_idv_puts(&b, "/");
    ngx_yoti_idv_put(&b, in->service, in->service_len);
    ngx_yoti_idv_puts(&b, "/aws4_request\n");
    ngx_yoti_idv_put(&b, creq_hash, NGX_YOTI_IDV_SHA256_HEX_LEN);

    if (b.overflow) {
        goto failed;
    }

    n = b.p - text;

    if (sts) {
        if (n + 1 > sts_len) {
            goto failed;
        }

        memcpy(sts, text, n);
        sts[n] = '\0';
    }

    /* the signing key: HMAC chain over date, region, service, request */

    memcpy(kbuf, "AWS4", 4);
    memcpy(kbuf + 4, in->secret, in->secret_len);

    if (ngx_yoti_idv_hmac((unsigned char *) kbuf, 4 + in->secret_len,
                          in->amz_date, 8, key) != 0
        || ngx_yoti_idv_hmac(key, 32, in->region, in->region_len, key) != 0
        || ngx_yoti_idv_hmac(key, 32, in->service, in->service_len, key) != 0
        || ngx_yoti_idv_hmac(key, 32, "aws4_request", 12, key) != 0
        || ngx_yoti_idv_hmac(key, 32, text, n, md) != 0)
    {
        goto failed;
    }

    ngx_yoti_idv_hex(md, 32, out->signature);

    rc = 0;

failed:

    OPENSSL_cleanse(kbuf, sizeof(kbuf));
    OPENSSL_cleanse(key, sizeof(key));

    return rc;
}


size_t
ngx_yoti_idv_sigv4_authorization_len(const ngx_yoti_idv_sigv4_t *in)
{
    return sizeof(NGX_YOTI_IDV_SIGV4_ALGORITHM " Credential=") - 1
           + in->key_id_len + sizeof("/YYYYMMDD/") - 1 + in->region_len
           + 1 + in->service_len + sizeof("/aws4_request, SignedHeaders=") - 1
           + strlen(ngx_yoti_idv_signed_headers(in))
           + sizeof(", Signature=") - 1 + NGX_YOTI_IDV_SHA256_HEX_LEN + 1;
}


int
ngx_yoti_idv_sigv4_authorization(const ngx_yoti_idv_sigv4_t *in,
    const ngx_yoti_idv_sigv4_out_t *out, char *buf, size_t len)
{
    ngx_yoti_idv_buf_t  b;

    if (len == 0) {
        return -1;
    }

    b.p = buf;
    b.end = buf + len - 1;
    b.overflow = 0;

    ngx_yoti_idv_puts(&b, NGX_YOTI_IDV_SIGV4_ALGORITHM " Credential=");
    ngx_yoti_idv_put(&b, in->key_id, in->key_id_len);
    ngx_yoti_idv_puts(&b, "/");
    ngx_yoti_idv_put(&b, in->amz_date, 8);
    ngx_yoti_idv_puts(&b, "/");
    ngx_yoti_idv_put(&b, in->region, in->region_len);
    ngx_yoti_idv_puts(&b, "/");
    ngx_yoti_idv_put(&b, in->service, in->service_len);
    ngx_yoti_idv_puts(&b, "/aws4_request, SignedHeaders=");
    ngx_yoti_idv_puts(&b, ngx_yoti_idv_signed_headers(in));
    ngx_yoti_idv_puts(&b, ", Signature=");
    ngx_yoti_idv_put(&b, out->signature, NGX_YOTI_IDV_SHA256_HEX_LEN);

    if (b.overflow) {
        return -1;
    }

    *b.p = '\0';

    return (int) (b.p - buf);
}


int
ngx_yoti_idv_aws_creds_parse(const char *text, size_t len,
    const char *profile, size_t profile_len, ngx_yoti_idv_aws_creds_t *creds,
    char *err, size_t err_len)
{
    int          in_profile, found, have_id, have_secret, have_token;
    size_t       klen, vlen;
    const char  *p, *end, *eol, *k, *v, *e;

    memset(creds, 0, sizeof(ngx_yoti_idv_aws_creds_t));

    if (err_len) {
        err[0] = '\0';
    }

    if (memchr(text, '\0', len) != NULL) {
        snprintf(err, err_len, "contains a NUL byte");
        return -1;
    }

    in_profile = 0;
    found = 0;
    have_id = 0;
    have_secret = 0;
    have_token = 0;

    p = text;
    end = text + len;

    for ( /* void */ ; p < end; p = eol + 1) {

        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        /* trim, also a CR of a CRLF line */

        e = eol;

        while (p < e && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
            e--;
        }

        if (p == e || *p == '#' || *p == ';') {
            continue;
        }

        if (*p == '[') {
            if (e[-1] != ']') {
                snprintf(err, err_len, "has a section line without \"]\"");
                goto failed;
            }

            k = p + 1;
            klen = e - 1 - k;

            while (klen && (*k == ' ' || *k == '\t')) {
                k++;
                klen--;
            }

            while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t')) {
                klen--;
            }

            in_profile = (klen == profile_len
                          && memcmp(k, profile, profile_len) == 0);

            if (in_profile) {
                found = 1;
            }

            continue;
        }

        if (!in_profile) {
            continue;
        }

        v = memchr(p, '=', e - p);
        if (v == NULL) {
            snprintf(err, err_len, "has a line without \"=\" in profile "
                     "[%.*s]", (int) profile_len, profile);
            goto failed;
        }

        k = p;
        klen = v - p;

        while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t')) {
            klen--;
        }

        v++;

        while (v < e && (*v == ' ' || *v == '\t')) {
            v++;
        }

        vlen = e - v;

#define NGX_YOTI_IDV_IS(name)                                                 \
        (klen == sizeof(name) - 1 && memcmp(k, name, klen) == 0)

        if (NGX_YOTI_IDV_IS("aws_access_key_id")) {
            if (have_id++
                || ngx_yoti_idv_creds_value("aws_access_key_id", v, vlen,
                                            creds->key_id,
                                            NGX_YOTI_IDV_AWS_KEY_ID_MAX,
                                            &creds->key_id_len, profile,
                                            profile_len, err, err_len)
                   != 0)
            {
                goto duplicate;
            }

        } else if (NGX_YOTI_IDV_IS("aws_secret_access_key")) {
            if (have_secret++
                || ngx_yoti_idv_creds_value("aws_secret_access_key", v, vlen,
                                            creds->secret,
                                            NGX_YOTI_IDV_AWS_SECRET_MAX,
                                            &creds->secret_len, profile,
                                            profile_len, err, err_len)
                   != 0)
            {
                goto duplicate;
            }

        } else if (NGX_YOTI_IDV_IS("aws_session_token")) {
            if (have_token++
                || ngx_yoti_idv_creds_value("aws_session_token", v, vlen,
                                            creds->token,
                                            NGX_YOTI_IDV_AWS_TOKEN_MAX,
                                            &creds->token_len, profile,
                                            profile_len, err, err_len)
                   != 0)
            {
                goto duplicate;
            }
        }

#undef NGX_YOTI_IDV_IS

        /* other keys (region, output, ...) are not ours */
    }

    if (!found) {
        snprintf(err, err_len, "has no profile [%.*s]", (int) profile_len,
                 profile);
        goto failed;
    }

    if (!have_id || !have_secret) {
        snprintf(err, err_len, "profile [%.*s] has no %s", (int) profile_len,
                 profile, have_id ? "aws_secret_access_key"
                                  : "aws_access_key_id");
        goto failed;
    }

    return 0;

duplicate:

    if (err[0] == '\0' || have_id > 1 || have_secret > 1 || have_token > 1) {
        snprintf(err, err_len, "profile [%.*s] has %s twice",
                 (int) profile_len, profile,
                 have_id > 1 ? "aws_access_key_id"
                 : have_secret > 1 ? "aws_secret_access_key"
                 : "aws_session_token");
    }

failed:

    OPENSSL_cleanse(creds, sizeof(ngx_yoti_idv_aws_creds_t));

    return -1;
}


/* a value is 1 to max printable ASCII characters without spaces */

static int
ngx_yoti_idv_creds_value(const char *name, const char *v, size_t len,
    char *to, size_t max, size_t *to_len, const char *profile,
    size_t profile_len, char *err, size_t err_len)
{
    size_t  i;

    if (len == 0) {
        snprintf(err, err_len, "%s of profile [%.*s] is empty", name,
                 (int) profile_len, profile);
        return -1;
    }

    if (len > max) {
        snprintf(err, err_len, "%s of profile [%.*s] is longer than %zu "
                 "bytes", name, (int) profile_len, profile, max);
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (v[i] <= ' ' || v[i] >= 0x7f) {
            snprintf(err, err_len, "%s of profile [%.*s] has a character "
                     "that is not printable ASCII", name, (int) profile_len,
                     profile);
            return -1;
        }
    }

    memcpy(to, v, len);
    to[len] = '\0';
    *to_len = len;

    return 0;
}


static const char *
ngx_yoti_idv_signed_headers(const ngx_yoti_idv_sigv4_t *in)
{
    return in->token ? "content-type;host;x-amz-content-sha256;x-amz-date;"
                       "x-amz-security-token;x-amz-target"
                     : "content-type;host;x-amz-content-sha256;x-amz-date;"
                       "x-amz-target";
}


static void
ngx_yoti_idv_put(ngx_yoti_idv_buf_t *b, const char *s, size_t len)
{
    if (b->overflow || (size_t) (b->end - b->p) < len) {
        b->overflow = 1;
        return;
    }

    memcpy(b->p, s, len);
    b->p += len;
}


static void
ngx_yoti_idv_puts(ngx_yoti_idv_buf_t *b, const char *s)
{
    ngx_yoti_idv_put(b, s, strlen(s));
}


static int
ngx_yoti_idv_sha256_hex(const char *data, size_t len, char *hex)
{
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
        return -1;
    }

    ngx_yoti_idv_hex(md, n, hex);

    return 0;
}


static int
ngx_yoti_idv_hmac(const unsigned char *key, size_t key_len, const char *msg,
    size_t len, unsigned char *md)
{
    unsigned int   n;
    unsigned char  tmp[EVP_MAX_MD_SIZE];

    /* md may be the key: HMAC() reads the key before it writes */

    if (HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) msg,
             len, tmp, &n) == NULL
        || n != 32)
    {
        return -1;
    }

    memcpy(md, tmp, 32);
    OPENSSL_cleanse(tmp, sizeof(tmp));

    return 0;
}


static void
ngx_yoti_idv_hex(const unsigned char *md, size_t len, char *hex)
{
    size_t             i;
    static const char  digits[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0x0f];
    }

    hex[2 * len] = '\0';
}
