#!/bin/sh
# Runs the Test::Nginx::Socket suite in t/ against the module just built.
#
#   util/prove.sh MODULE_SO NGINX_BINARY [prove args]
#
# The real Test::Nginx::Socket is used when it is installed; otherwise the
# repository's runner in t/compat, which implements the same sections.
# YOTI_IDV_COMPAT=1 always uses t/compat (make test-valgrind: with
# TEST_NGINX_USE_VALGRIND=1 only t/compat fails a test on valgrind errors).

module=$1
nginx=$2
shift 2

[ $# -eq 0 ] && set -- t

export TEST_NGINX_BINARY="$nginx"
export TEST_NGINX_LOAD_MODULES="$module"

# a free port per test file, both runners
export TEST_NGINX_RANDOMIZE=1

if [ "${YOTI_IDV_COMPAT:-0}" = 0 ] && perl -MTest::Nginx::Socket -e 1 2>/dev/null; then
    echo "prove: using the installed Test::Nginx::Socket"
    exec prove -r "$@"
fi

if [ "${YOTI_IDV_COMPAT:-0}" != 0 ]; then
    echo "prove: YOTI_IDV_COMPAT is set, using t/compat"
else
    echo "prove: Test::Nginx::Socket is not installed, using t/compat"
fi
exec prove -I t/compat -r "$@"
