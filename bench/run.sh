#!/usr/bin/env bash
# `make bench`: the gate's cost, in one run and one table.
#
#   bench/run.sh MODULE_SO [NGINX_BINARY] [bench.py options]
#
# Starts its own nginx instances, redis-server and the mock IDV API on
# 127.0.0.1, runs wrk, valgrind (callgrind) and a burst client against
# them, prints the table and writes it to bench/results/latest.md; then
# bench/zone_users.py measures the zone at many users
# (bench/results/zone-users.md), bench/cold_path.py compares the cold
# path of the two providers (bench/results/cold-path.md), both appended
# to latest.md, bench/redis_ha.py measures Redis
# Cluster and Sentinel (bench/results/redis-ha.md), bench/stale.py
# stale verdicts, background update and the breaker (bench/results/stale.md),
# and bench/propagation.py how fast a notification or a revocation reaches
# two nodes' zones (bench/results/propagation.md).
# Everything it starts is stopped by pid when it ends.  See
# bench/README.md.  Exits 0 even when a target is missed (FAIL is printed).

set -euo pipefail

module=${1:?usage: bench/run.sh MODULE_SO [NGINX_BINARY] [options]}
nginx=${2:-/usr/sbin/nginx}
shift $(( $# >= 2 ? 2 : 1 ))

/usr/bin/python3 "$(dirname "$0")/bench.py" \
    --module "$module" --nginx "$nginx" "$@"

# the zone at many users (issue 11): ZONE_BENCH_OPTS=--large for 1M users
/usr/bin/python3 "$(dirname "$0")/zone_users.py" \
    --module "$module" --nginx "$nginx" ${ZONE_BENCH_OPTS:-}
# Redis high availability: the Redis-only hit against one server, a cluster
# and a Sentinel master (commands counted by Redis), and the failover
# windows (bench/results/redis-ha.md)
/usr/bin/python3 "$(dirname "$0")/redis_ha.py" \
    --module "$module" --nginx "$nginx" \
    --out "$(dirname "$0")/results/redis-ha.md"

# the cold path of each provider: CPU per signed fetch, Yoti and Rekognition
/usr/bin/python3 "$(dirname "$0")/cold_path.py" \
    --module "$module" --nginx "$nginx" \
    --out "$(dirname "$0")/results/cold-path.md"

# issue 11's rows in latest.md too, beside the gate's: the same run
results="$(dirname "$0")/results"
{
    printf '\n\n'
    sed -e '1s/^# /## /' -e '2,$s/^## /### /' "$results/zone-users.md"
    printf '\n\n## The cold path (bench/cold_path.py)\n\n'
    sed -e 's/^## /### /' "$results/cold-path.md"
    # and what limits the targets that fail, as bench/README.md says
    printf '\n\n## What limits the targets of issue 11 that fail\n\n'
    printf 'From [bench/README.md](../README.md), measured as above.\n\n'
    sed -n -e '/^### What limits the zone targets that fail/,/^## /p' \
        "$(dirname "$0")/README.md" | sed -e '$d'
    printf '\n'
    sed -n -e '/^Why the 5 KB target is missed/,/^## /p' \
        "$(dirname "$0")/README.md" | sed -e '$d' -e '1s/^/### The cold path\n\n/'
} >> "$results/latest.md"

# known users near expiry and through a provider outage: background
# update, use_stale, the breaker (issue 14)
/usr/bin/python3 "$(dirname "$0")/stale.py" \
    --module "$module" --nginx "$nginx" \
    --out "$(dirname "$0")/results/stale.md"

# push, not wait: notification and revocation to two nodes, 100 tries each
exec /usr/bin/python3 "$(dirname "$0")/propagation.py" \
    --module "$module" --nginx "$nginx" \
    --out "$(dirname "$0")/results/propagation.md"
