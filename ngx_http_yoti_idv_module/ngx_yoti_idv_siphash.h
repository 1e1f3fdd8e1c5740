
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * SipHash (Aumasson, Bernstein), 64 and 128 bits, c rounds per word and d
 * at the end: the zone's key hash (SipHash-1-3-128), inlined where it is
 * used.  Pure C, no nginx headers.
 */


#ifndef _NGX_YOTI_IDV_SIPHASH_H_INCLUDED_
#define _NGX_YOTI_IDV_SIPHASH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>


#define ngx_yoti_idv_sip_rotl(x, b)                                          \
    (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define ngx_yoti_idv_sip_round                                               \
    do {                                                                     \
        v0 += v1; v1 = ngx_yoti_idv_sip_rotl(v1, 13); v1 ^= v0;              \
        v0 = ngx_yoti_idv_sip_rotl(v0, 32);                                  \
        v2 += v3; v3 = ngx_yoti_idv_sip_rotl(v3, 16); v3 ^= v2;              \
        v0 += v3; v3 = ngx_yoti_idv_sip_rotl(v3, 21); v3 ^= v0;              \
        v2 += v1; v1 = ngx_yoti_idv_sip_rotl(v1, 17); v1 ^= v2;              \
        v2 = ngx_yoti_idv_sip_rotl(v2, 32);                                  \
    } while (0)


static inline uint64_t
ngx_yoti_idv_sip_le64(const unsigned char *p)
{
#if (defined __BYTE_ORDER__ && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
    uint64_t  v;

    memcpy(&v, p, 8);

    return v;
#else
    return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
#endif
}


static inline void
ngx_yoti_idv_sip(const unsigned char *p, size_t len, const uint64_t k[2],
    int c, int d, int wide, uint64_t out[2])
{
    int                   i;
    uint64_t              v0, v1, v2, v3, m, b;
    const unsigned char  *end;

    v0 = 0x736f6d6570736575ULL ^ k[0];
    v1 = 0x646f72616e646f6dULL ^ k[1];
    v2 = 0x6c7967656e657261ULL ^ k[0];
    v3 = 0x7465646279746573ULL ^ k[1];

    if (wide) {
        v1 ^= 0xee;
    }

    end = p + (len & ~(size_t) 7);

    for ( /* void */ ; p != end; p += 8) {
        m = ngx_yoti_idv_sip_le64(p);
        v3 ^= m;

        for (i = 0; i < c; i++) {
            ngx_yoti_idv_sip_round;
        }

        v0 ^= m;
    }

    b = (uint64_t) len << 56;

    switch (len & 7) {
    case 7: b |= (uint64_t) p[6] << 48;  /* fall through */
    case 6: b |= (uint64_t) p[5] << 40;  /* fall through */
    case 5: b |= (uint64_t) p[4] << 32;  /* fall through */
    case 4: b |= (uint64_t) p[3] << 24;  /* fall through */
    case 3: b |= (uint64_t) p[2] << 16;  /* fall through */
    case 2: b |= (uint64_t) p[1] << 8;   /* fall through */
    case 1: b |= (uint64_t) p[0];        /* fall through */
    default: break;
    }

    v3 ^= b;

    for (i = 0; i < c; i++) {
        ngx_yoti_idv_sip_round;
    }

    v0 ^= b;

    v2 ^= wide ? 0xee : 0xff;

    for (i = 0; i < d; i++) {
        ngx_yoti_idv_sip_round;
    }

    out[0] = v0 ^ v1 ^ v2 ^ v3;

    if (!wide) {
        return;
    }

    v1 ^= 0xdd;

    for (i = 0; i < d; i++) {
        ngx_yoti_idv_sip_round;
    }

    out[1] = v0 ^ v1 ^ v2 ^ v3;
}


#endif /* _NGX_YOTI_IDV_SIPHASH_H_INCLUDED_ */
