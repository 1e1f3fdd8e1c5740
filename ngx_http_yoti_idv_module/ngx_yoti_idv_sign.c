
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "ngx_yoti_idv_sign.h"


/* a 16384-bit RSA key is about 12 KB of PEM */
#define NGX_YOTI_IDV_KEY_MAX  65536


#if (defined __GNUC__ || defined __clang__)
#define NGX_YOTI_IDV_PRINTF(f, a)  __attribute__ ((format (printf, f, a)))
#else
#define NGX_YOTI_IDV_PRINTF(f, a)
#endif


static void ngx_yoti_idv_key_error(char *err, size_t err_len,
    const char *fmt, ...) NGX_YOTI_IDV_PRINTF(3, 4);
static int ngx_yoti_idv_no_passphrase(char *buf, int size, int rwflag,
    void *data);
static int ngx_yoti_idv_contains(const char *p, size_t len, const char *s);
static const char *ngx_yoti_idv_key_why(const char *p, size_t len);
static EVP_PKEY_CTX *ngx_yoti_idv_sign_ctx(EVP_PKEY *key);


/*
 * Prepared signing contexts of the last keys used (one thread: an nginx
 * worker's).  EVP_DigestSignInit() per request fetches the algorithms,
 * takes OpenSSL's locks and allocates; a kept EVP_PKEY_CTX, a SHA-256 and
 * EVP_PKEY_sign() is what `openssl speed rsa2048` measures.  A context
 * holds a reference to its key, so a cached key's address is never reused
 * by another key while it is here.
 */

#define NGX_YOTI_IDV_SIGN_CACHE  4

static struct {
    EVP_PKEY      *key;
    EVP_PKEY_CTX  *ctx;
} ngx_yoti_idv_sign_cache[NGX_YOTI_IDV_SIGN_CACHE];

static unsigned  ngx_yoti_idv_sign_next;


EVP_PKEY *
ngx_yoti_idv_key_load(const char *path, char *err, size_t err_len)
{
    int          type;
    BIO         *bio;
    FILE        *fp;
    char        *buf;
    size_t       n;
    EVP_PKEY    *key;
    const char  *name;

    ERR_clear_error();

    if (err != NULL && err_len != 0) {
        err[0] = '\0';
    }

    if (path == NULL || path[0] == '\0') {
        ngx_yoti_idv_key_error(err, err_len, "no file name");
        return NULL;
    }

    fp = fopen(path, "rb");
    if (fp == NULL) {
        ngx_yoti_idv_key_error(err, err_len, "cannot open file: %s",
                               strerror(errno));
        return NULL;
    }

    buf = malloc(NGX_YOTI_IDV_KEY_MAX + 1);
    if (buf == NULL) {
        fclose(fp);
        ngx_yoti_idv_key_error(err, err_len, "cannot read file: out of memory");
        return NULL;
    }

    errno = 0;
    n = fread(buf, 1, NGX_YOTI_IDV_KEY_MAX + 1, fp);

    if (ferror(fp)) {
        ngx_yoti_idv_key_error(err, err_len, "cannot read file: %s",
                               errno ? strerror(errno) : "read error");
        fclose(fp);
        free(buf);
        return NULL;
    }

    fclose(fp);

    key = NULL;

    if (n == 0) {
        ngx_yoti_idv_key_error(err, err_len, "is empty");
        goto done;
    }

    if (n > NGX_YOTI_IDV_KEY_MAX) {
        ngx_yoti_idv_key_error(err, err_len,
                               "is too large for a PEM private key "
                               "(over %d bytes)", NGX_YOTI_IDV_KEY_MAX);
        goto done;
    }

    bio = BIO_new_mem_buf(buf, (int) n);
    if (bio == NULL) {
        ngx_yoti_idv_key_error(err, err_len, "cannot read file: out of memory");
        goto done;
    }

    /* the callback refuses: OpenSSL's default one would prompt on a tty */
    key = PEM_read_bio_PrivateKey(bio, NULL, ngx_yoti_idv_no_passphrase, NULL);

    BIO_free(bio);

    if (key == NULL) {
        ngx_yoti_idv_key_error(err, err_len, "%s",
                               ngx_yoti_idv_key_why(buf, n));
        goto done;
    }

    type = EVP_PKEY_get_base_id(key);

    if (type != EVP_PKEY_RSA) {
        name = EVP_PKEY_get0_type_name(key);

        if (type == EVP_PKEY_RSA_PSS) {
            name = "RSA-PSS";
        }

        ngx_yoti_idv_key_error(err, err_len, "is not an RSA key (%s)",
                               name ? name : "unknown type");
        EVP_PKEY_free(key);
        key = NULL;
    }

done:

    OPENSSL_cleanse(buf, NGX_YOTI_IDV_KEY_MAX + 1);
    free(buf);

    ERR_clear_error();

    return key;
}


size_t
ngx_yoti_idv_digest_len(EVP_PKEY *key)
{
    int  n;

    if (key == NULL) {
        return 0;
    }

    n = EVP_PKEY_get_size(key);

    if (n <= 0) {
        return 0;
    }

    return 4 * (((size_t) n + 2) / 3) + 1;
}


int
ngx_yoti_idv_sign(EVP_PKEY *key, const unsigned char *msg, size_t len,
    char *out, size_t out_len)
{
    int             rc;
    size_t          need, siglen;
    unsigned        hash_len;
    EVP_MD_CTX     *md;
    EVP_PKEY_CTX   *pctx;
    unsigned char  *sig, hash[EVP_MAX_MD_SIZE];

    if (out != NULL && out_len != 0) {
        out[0] = '\0';
    }

    need = ngx_yoti_idv_digest_len(key);

    if (need == 0 || out == NULL || out_len < need
        || (msg == NULL && len != 0))
    {
        return -1;
    }

    siglen = (size_t) EVP_PKEY_get_size(key);

    sig = malloc(siglen);
    if (sig == NULL) {
        return -1;
    }

    rc = -1;
    pctx = NULL;
    md = NULL;

    /* the kept context; any failure there takes the general way */

    pctx = ngx_yoti_idv_sign_ctx(key);

    if (pctx != NULL
        && EVP_Digest(msg ? msg : (const unsigned char *) "", len, hash,
                      &hash_len, EVP_sha256(), NULL) == 1
        && EVP_PKEY_sign(pctx, sig, &siglen, hash, hash_len) == 1)
    {
        goto done;
    }

    siglen = (size_t) EVP_PKEY_get_size(key);
    pctx = NULL;

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        goto failed;
    }

    if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) != 1) {
        goto failed;
    }

    /* pctx belongs to md */
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) {
        goto failed;
    }

    if (EVP_DigestSign(md, sig, &siglen,
                       msg ? msg : (const unsigned char *) "", len)
        != 1)
    {
        goto failed;
    }

done:

    if (siglen > INT_MAX || 4 * ((siglen + 2) / 3) + 1 > out_len) {
        goto failed;
    }

    rc = EVP_EncodeBlock((unsigned char *) out, sig, (int) siglen);

failed:

    if (rc < 0) {
        out[0] = '\0';
    }

    EVP_MD_CTX_free(md);
    free(sig);

    ERR_clear_error();

    return rc;
}


static EVP_PKEY_CTX *
ngx_yoti_idv_sign_ctx(EVP_PKEY *key)
{
    unsigned       i;
    EVP_PKEY_CTX  *ctx;

    for (i = 0; i < NGX_YOTI_IDV_SIGN_CACHE; i++) {
        if (ngx_yoti_idv_sign_cache[i].key == key) {
            return ngx_yoti_idv_sign_cache[i].ctx;
        }
    }

    ctx = EVP_PKEY_CTX_new(key, NULL);
    if (ctx == NULL) {
        return NULL;
    }

    if (EVP_PKEY_sign_init(ctx) <= 0
        || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0
        || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0)
    {
        EVP_PKEY_CTX_free(ctx);
        ERR_clear_error();
        return NULL;
    }

    i = ngx_yoti_idv_sign_next++ % NGX_YOTI_IDV_SIGN_CACHE;

    EVP_PKEY_CTX_free(ngx_yoti_idv_sign_cache[i].ctx);

    ngx_yoti_idv_sign_cache[i].key = key;
    ngx_yoti_idv_sign_cache[i].ctx = ctx;

    return ctx;
}


int
ngx_yoti_idv_uuid4(char *out)
{
    size_t         i;
    unsigned char  b[16];

    static const char  hex[] = "0123456789abcdef";

    if (out == NULL) {
        return -1;
    }

    if (RAND_bytes(b, sizeof(b)) != 1) {
        ERR_clear_error();
        return -1;
    }

    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);

    for (i = 0; i < sizeof(b); i++) {

        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *out++ = '-';
        }

        *out++ = hex[b[i] >> 4];
        *out++ = hex[b[i] & 0x0f];
    }

    return 0;
}


static void
ngx_yoti_idv_key_error(char *err, size_t err_len, const char *fmt, ...)
{
    va_list  args;

    if (err == NULL || err_len == 0) {
        return;
    }

    va_start(args, fmt);
    if (vsnprintf(err, err_len, fmt, args) < 0) {
        err[0] = '\0';
    }
    va_end(args);
}


static int
ngx_yoti_idv_no_passphrase(char *buf, int size, int rwflag, void *data)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) data;

    return -1;
}


static int
ngx_yoti_idv_contains(const char *p, size_t len, const char *s)
{
    size_t  i, n;

    n = strlen(s);

    for (i = 0; n <= len && i <= len - n; i++) {
        if (memcmp(p + i, s, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* why OpenSSL found no private key: the PEM labels tell what the file is */

static const char *
ngx_yoti_idv_key_why(const char *p, size_t len)
{
    if (ngx_yoti_idv_contains(p, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || ngx_yoti_idv_contains(p, len, "Proc-Type: 4,ENCRYPTED"))
    {
        return "is encrypted; a passphrase-protected key is not supported";
    }

    if (ngx_yoti_idv_contains(p, len, "PRIVATE KEY-----")) {
        return "is a damaged or unsupported PEM private key";
    }

    if (ngx_yoti_idv_contains(p, len, "PUBLIC KEY-----")) {
        return "is a public key, not a private key";
    }

    if (ngx_yoti_idv_contains(p, len, "-----BEGIN CERTIFICATE-----")) {
        return "is a certificate, not a private key";
    }

    return "is not a PEM private key";
}
