
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _NGX_YOTI_IDV_SIGN_H_INCLUDED_
#define _NGX_YOTI_IDV_SIGN_H_INCLUDED_


/*
 * Pure signing helpers (OpenSSL only, no nginx headers): the Yoti request
 * signature X-Yoti-Auth-Digest and the request nonce.
 */


#include <stddef.h>

#include <openssl/evp.h>


#define NGX_YOTI_IDV_UUID_LEN  36


/*
 * Reads and parses a PEM RSA private key, PKCS#1 ("BEGIN RSA PRIVATE KEY")
 * or PKCS#8 ("BEGIN PRIVATE KEY").  On failure returns NULL and writes a
 * one-line reason, without key material, into err.  Never asks for a
 * passphrase.  Leaves the OpenSSL error queue empty.
 */
EVP_PKEY *ngx_yoti_idv_key_load(const char *path, char *err, size_t err_len);

/* size of the buffer ngx_yoti_idv_sign() needs for this key, with the NUL */
size_t ngx_yoti_idv_digest_len(EVP_PKEY *key);

/*
 * base64 (standard alphabet, padded, no newlines) of the RSA PKCS#1 v1.5
 * signature over SHA-256 of msg, NUL-terminated in out.  Returns the length
 * written without the NUL, or -1.
 */
int ngx_yoti_idv_sign(EVP_PKEY *key, const unsigned char *msg, size_t len,
    char *out, size_t out_len);

/*
 * A fresh lowercase UUIDv4 from RAND_bytes() in out[0..35]; nothing is
 * written past the 36 bytes.  Returns 0 or -1.
 */
int ngx_yoti_idv_uuid4(char *out);


#endif /* _NGX_YOTI_IDV_SIGN_H_INCLUDED_ */
