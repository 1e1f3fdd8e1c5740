#!/bin/sh
# `make test-asan`: the t/ suite against nginx and the module built with
# -fsanitize=address,undefined; fails on any sanitizer report.
#
#   util/test-asan.sh MODULE_SO NGINX_BINARY LOG_DIR [prove args]
#
# Always the t/compat runner (nginx in the foreground, our child).  Every
# nginx process, workers included, writes its AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer reports to LOG_DIR/san.PID;
# after the run, any such file fails the target and is printed.
#
# LeakSanitizer is on, and a leak fails the target when the allocation's
# stack has a frame of the module (ngx_http_yoti_idv_*, ngx_yoti_idv_*,
# its .so): the module's own allocations, and what it has cJSON, hiredis
# or OpenSSL allocate.  nginx itself does not free everything before it
# exits (the init cycle's pool after a failed configuration test, the
# connection and event arrays of a single-process nginx, PCRE2 contexts):
# leaks whose stacks have no frame of the module are nginx's own; they are
# counted and listed by their first nginx frame, never failing the target.
# fast_unwind_on_malloc=0: Debian's libraries have no frame pointers, and
# a module frame must not be lost below one of their frames.
# LeakSanitizer's exit code is 0, so that nginx exits as it would
# unsanitized (the runner checks how nginx -t and must_die exit).
# t/asan.suppress lists ASan reports of nginx's own design.
#
# UndefinedBehaviorSanitizer: Debian's gcc runtime ignores log_path, so its
# reports go to stderr, which is the error log of every nginx process once
# it is open.  TEST_NGINX_SAN_DIR makes the t/compat runner fail the block
# whose error log has a "runtime error:" line, and copy every report (of
# error.log and of nginx's early stderr) to LOG_DIR/san.ubsan.*, counted
# here like the others.  halt_on_error=0: nginx goes on, so that the test
# reports it.  t/ubsan.suppress lists nginx's own undefined behaviour.

module=$1
nginx=$2
logs=$3
shift 3

top=$(cd "$(dirname "$0")/.." && pwd)

rm -rf "$logs"
mkdir -p "$logs"

ASAN_OPTIONS="log_path=$logs/san:detect_leaks=1:abort_on_error=0"
ASAN_OPTIONS="$ASAN_OPTIONS:suppressions=$top/t/asan.suppress"
ASAN_OPTIONS="$ASAN_OPTIONS:detect_stack_use_after_return=1"
ASAN_OPTIONS="$ASAN_OPTIONS:strict_string_checks=1:check_initialization_order=1"
ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0"
UBSAN_OPTIONS="$UBSAN_OPTIONS:suppressions=$top/t/ubsan.suppress"
TEST_NGINX_SAN_DIR=$logs
LSAN_OPTIONS="exitcode=0"
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TEST_NGINX_SAN_DIR

YOTI_IDV_COMPAT=1 "$top/util/prove.sh" "$module" "$nginx" "$@"
rc=$?

reports=$(find "$logs" -type f -name 'san.*' | sort)

# one line per report file: "fail FILE" or "nginx FRAME..." (leaks only,
# none with a module frame)
verdicts=$(
    for f in $reports; do
        awk -v file="$f" '
            /ERROR: / && !/ERROR: LeakSanitizer: detected memory leaks/ {
                fail = 1
            }
            /runtime error:/ { fail = 1 }
            /^(Direct|Indirect) leak of/ { inleak = 1; first = ""; next }
            inleak && /^$/ { inleak = 0; if (first != "") own[first]++; next }
            inleak && /ngx_http_yoti_idv_|ngx_yoti_idv_|yoti_idv_module\.so/ {
                fail = 1
            }
            inleak && first == "" && / in [A-Za-z_]/ \
                && !/ in (__interceptor_|ngx_(alloc|calloc|memalign|create_pool|p[cn]?alloc[a-z_]*|regex_malloc) )/ {
                sub(/.* in /, ""); sub(/ .*/, ""); first = $0
            }
            END {
                if (fail) { print "fail", file; exit }
                for (f in own) printf "nginx %s\n", f
            }
        ' "$f"
    done
)

failed=$(echo "$verdicts" | awk '$1 == "fail" { print $2 }')

own=$(echo "$verdicts" | awk '$1 == "nginx" { print $2 }' | sort | uniq -c)
if [ -n "$own" ]; then
    echo "test-asan: leaks of nginx itself at exit (no frame of the module)," \
         "by the nginx function that allocated, not counted:"
    echo "$own"
fi

if [ -n "$failed" ]; then
    for f in $failed; do
        echo "==== $f"
        cat "$f"
    done
    echo "test-asan: $(echo "$failed" | wc -l) sanitizer report file(s)" \
         "in $logs"
    exit 1
fi

if [ $rc -ne 0 ]; then
    echo "test-asan: the suite failed (no sanitizer reports of the module)"
    exit $rc
fi

echo "test-asan: no sanitizer reports of the module"
