#!/usr/bin/env bash
# `make bench-redis-restart`: Redis killed and restarted under load.
#
#   bench/redis-restart.sh MODULE_SO [NGINX_BINARY] [redis_restart.py options]
#
# wrk loads a gated location for 20 s; redis-server is killed at 5 s and
# started again on the same port at 10 s.  Checks that no worker crashed,
# that 503 came only while Redis was down and that only 200s came again
# within 2 s of the restart; prints the report and writes it to
# bench/results/redis-restart.md.  Exits 1 if a check fails.

set -euo pipefail

module=${1:?usage: bench/redis-restart.sh MODULE_SO [NGINX_BINARY] [options]}
nginx=${2:-/usr/sbin/nginx}
shift $(( $# >= 2 ? 2 : 1 ))

exec /usr/bin/python3 "$(dirname "$0")/redis_restart.py" \
    --module "$module" --nginx "$nginx" "$@"
