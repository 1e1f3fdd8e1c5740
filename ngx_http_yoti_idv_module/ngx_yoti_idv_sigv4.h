
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_YOTI_IDV_SIGV4_H_INCLUDED_
#define _NGX_YOTI_IDV_SIGV4_H_INCLUDED_


/*
 * Pure AWS Signature Version 4 for one request shape (OpenSSL HMAC and
 * SHA-256 only, no nginx headers): "POST /" with a JSON body, signed over
 * content-type, host, x-amz-content-sha256, x-amz-date, the optional
 * x-amz-security-token and x-amz-target.  Also the AWS shared credentials
 * file (INI) parser.
 */


#include <stddef.h>
#include <time.h>


#define NGX_YOTI_IDV_AMZ_DATE_LEN    16      /* 20261201T185519Z */
#define NGX_YOTI_IDV_SHA256_HEX_LEN  64

#define NGX_YOTI_IDV_AWS_KEY_ID_MAX  128
#define NGX_YOTI_IDV_AWS_SECRET_MAX  128
#define NGX_YOTI_IDV_AWS_TOKEN_MAX   4096


typedef struct {
    const char  *region;
    size_t       region_len;
    const char  *service;             /* "rekognition" */
    size_t       service_len;
    const char  *host;                /* as sent in Host, with any port */
    size_t       host_len;
    const char  *content_type;
    size_t       content_type_len;
    const char  *target;              /* X-Amz-Target */
    size_t       target_len;
    const char  *body;
    size_t       body_len;

    char         amz_date[NGX_YOTI_IDV_AMZ_DATE_LEN];

    const char  *key_id;
    size_t       key_id_len;
    const char  *secret;
    size_t       secret_len;
    const char  *token;               /* NULL: none */
    size_t       token_len;
} ngx_yoti_idv_sigv4_t;


typedef struct {
    char         payload_hash[NGX_YOTI_IDV_SHA256_HEX_LEN + 1];
    char         signature[NGX_YOTI_IDV_SHA256_HEX_LEN + 1];
} ngx_yoti_idv_sigv4_out_t;


typedef struct {
    char         key_id[NGX_YOTI_IDV_AWS_KEY_ID_MAX + 1];
    size_t       key_id_len;
    char         secret[NGX_YOTI_IDV_AWS_SECRET_MAX + 1];
    size_t       secret_len;
    char         token[NGX_YOTI_IDV_AWS_TOKEN_MAX + 1];
    size_t       token_len;           /* 0: no session token */
} ngx_yoti_idv_aws_creds_t;


/* "YYYYMMDDTHHMMSSZ" of t in UTC, not NUL-terminated; 0 or -1 */
int ngx_yoti_idv_amz_date(time_t t, char *out);

/*
 * Signs: out->payload_hash is the X-Amz-Content-Sha256 value and
 * out->signature the hex signature.  The canonical request and the string
 * to sign go to creq and sts (NUL-terminated) when they are not NULL.
 * Returns 0, or -1 (a buffer too small, OpenSSL failed).
 */
int ngx_yoti_idv_sigv4_sign(const ngx_yoti_idv_sigv4_t *in,
    ngx_yoti_idv_sigv4_out_t *out, char *creq, size_t creq_len, char *sts,
    size_t sts_len);

/*
 * "AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/<service>/
 * aws4_request, SignedHeaders=..., Signature=..." into buf, NUL-terminated.
 * Returns its length, or -1 when buf is too small.
 */
int ngx_yoti_idv_sigv4_authorization(const ngx_yoti_idv_sigv4_t *in,
    const ngx_yoti_idv_sigv4_out_t *out, char *buf, size_t len);

/* the length ngx_yoti_idv_sigv4_authorization() needs, with the NUL */
size_t ngx_yoti_idv_sigv4_authorization_len(const ngx_yoti_idv_sigv4_t *in);

/*
 * Parses an AWS shared credentials file: the section [profile] with
 * aws_access_key_id, aws_secret_access_key and the optional
 * aws_session_token.  Returns 0, or -1 with a one-line reason in err that
 * never quotes a value.
 */
int ngx_yoti_idv_aws_creds_parse(const char *text, size_t len,
    const char *profile, size_t profile_len, ngx_yoti_idv_aws_creds_t *creds,
    char *err, size_t err_len);


#endif /* _NGX_YOTI_IDV_SIGV4_H_INCLUDED_ */
