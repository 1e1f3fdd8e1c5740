
/*
 * Copyright (C) ngx_http_yoti_idv_module authors
 */


#ifndef _TAP_H_INCLUDED_
#define _TAP_H_INCLUDED_


/* minimal TAP-ish output: "ok N - name" lines and "N passed, M failed" */


#include <stdarg.h>
#include <stdio.h>


static int  tap_passed;
static int  tap_failed;


#if (defined __GNUC__ || defined __clang__)
static int ok(int cond, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
#endif


static int
ok(int cond, const char *fmt, ...)
{
    va_list  args;

    if (cond) {
        tap_passed++;
        printf("ok %d - ", tap_passed + tap_failed);

    } else {
        tap_failed++;
        printf("not ok %d - ", tap_passed + tap_failed);
    }

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
    fflush(stdout);

    return cond;
}


static int
tap_done(void)
{
    printf("%d passed, %d failed\n", tap_passed, tap_failed);

    return tap_failed ? 1 : 0;
}


#endif /* _TAP_H_INCLUDED_ */
