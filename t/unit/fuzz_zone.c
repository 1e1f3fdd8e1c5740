
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


/*
 * libFuzzer harness of the zone's table: the input is a program of
 * operations (two bytes each) on a zone of 4 to 16 KB, run against the
 * model of zone_model.h, which checks every invariant after each step.
 * make -C t/unit fuzz
 */


#define _POSIX_C_SOURCE  200112L

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "zone_model.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void                 *mem;
    size_t                i, zsize;
    zm_t                  m;
    uint64_t              seed[2] = { 3, 4 };
    ngx_yoti_idv_zone_t  *z;

    if (size < 1) {
        return 0;
    }

    zsize = 4096 * (1 + data[0] % 4);

    if (posix_memalign(&mem, 4096, zsize) != 0) {
        return 0;
    }

    z = ngx_yoti_idv_zone_init(mem, zsize, seed);
    if (z == NULL) {
        abort();
    }

    zm_init(&m, z);

    for (i = 1; i + 1 < size; i += 2) {
        if (zm_step(&m, data[i], data[i + 1]) != 0) {
            fprintf(stderr, "zone model: %s\n", m.error);
            abort();
        }
    }

    free(mem);

    return 0;
}
