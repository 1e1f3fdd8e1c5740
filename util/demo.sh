#!/usr/bin/env bash
# `make demo`: nginx with the module in front of a small app, a local mock
# of the Yoti IDV API, a local mock of AWS Rekognition Face Liveness, a
# private Redis holding which session belongs to which user, a few users,
# and what nginx answers each of them.
#
#   util/demo.sh MODULE_SO NGINX_BINARY
#
# Everything listens on 127.0.0.1 only, runs in a temporary directory and
# is stopped (by pid) when the script ends.  KEEP=1 (make demo KEEP=1)
# keeps that directory: nginx.conf to copy from, the logs, the sessions.

set -euo pipefail

module=$1
nginx=$2
top=$(cd "$(dirname "$0")/.." && pwd)

work=$(mktemp -d /tmp/yoti-idv-demo.XXXXXX)
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP:-0}" = 1 ]; then
        echo
        echo "demo: KEEP=1: the configuration is $work/nginx.conf," \
             "the logs are in $work/logs"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "demo: nothing listens on 127.0.0.1:$1" >&2
    exit 1
}

# sessions as the app would have created them, one per user; the ones
# with a date of birth are made relative to today
mkdir -p "$work/sessions" "$work/logs"
python3 "$top/t/mock/gen_sessions.py" --requirements "$work/sessions"
python3 - "$top/t/mock/sessions" "$work/sessions" <<'EOF'
import json, sys
src, dst = sys.argv[1], sys.argv[2]
for fixture, sid, user in [
        ("verified-alice", "3f2b9c1e-6a4d-4e8b-9c0a-1d2e3f4a5b6c", "alice"),
        ("face-comparison-reject", "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "carol"),
        ("ongoing-alice", "9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5", "dave")]:
    with open("%s/%s.json" % (src, fixture)) as f:
        session = json.load(f)
    session["session_id"] = sid
    session["user_tracking_id"] = user
    with open("%s/%s.json" % (dst, sid), "w") as f:
        json.dump(session, f, indent=2)
# henry is 30 and bob 16 (gen_sessions.py made their document fields)
with open("%s/age-adult.json" % dst) as f:
    session = json.load(f)
session["user_tracking_id"] = "henry"
with open("%s/age-adult.json" % dst, "w") as f:
    json.dump(session, f, indent=2)
EOF

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$work" --logfile "$work/logs/redis.log" &
pids+=($!)

mock_port=$(free_port)
python3 "$top/t/mock/idv_mock.py" --port "$mock_port" \
    --public-key "$top/t/keys/test-key-public.pem" --sdk-id demo-sdk-id \
    --sessions "$work/sessions" --log "$work/logs/mock.log" &
pids+=($!)

# AWS Rekognition: a mock that verifies SigV4, and a credentials file
aws_port=$(free_port)
printf '[gate]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    AKIDDEMO0000000001 demo/secret/only > "$work/aws-credentials"
python3 "$top/t/mock/rekognition_mock.py" --port "$aws_port" \
    --region eu-west-1 --key AKIDDEMO0000000001:demo/secret/only \
    --log "$work/logs/rekognition.log" &
pids+=($!)

port=$(free_port)
metrics_port=$(free_port)
cat > "$work/nginx.conf" <<EOF
load_module $module;

daemon off;
master_process on;
worker_processes 1;
error_log $work/logs/error.log info;
pid $work/logs/nginx.pid;

events {
    worker_connections 64;
}

http {
    access_log off;

    client_body_temp_path $work/tmp;
    proxy_temp_path $work/tmp;

    yoti_idv_sdk_id   demo-sdk-id;
    yoti_idv_pem_key  $top/t/keys/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv;

    # the app writes yoti_idv:user:<user id> -> <session id> when it creates
    # a session; verdicts are cached here too, for every nginx node
    yoti_idv_redis        127.0.0.1:$redis_port connect_timeout=200ms timeout=500ms;
    yoti_idv_cache_valid  APPROVE 10m;

    upstream app {
        server 127.0.0.1:$port;
    }

    server {
        listen 127.0.0.1:$port;

        # the internal location that carries the signed request to the
        # IDV API (here the local mock; docs/operations.md has the TLS one)
        location /_yoti_idv/ {
            internal;
            proxy_pass http://127.0.0.1:$mock_port/idverify/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 5s;
            subrequest_output_buffer_size 64k;
        }

        location /members/ {
            yoti_idv             on;
            yoti_idv_user_id     \$http_x_user_id;
            yoti_idv_require     LIVENESS;
            yoti_idv_require     FACE_COMPARISON;

            add_header X-IDV-Verdict \$yoti_idv_verdict always;
            add_header X-IDV-Reason \$yoti_idv_reason always;
            add_header X-IDV-Cache \$yoti_idv_cache always;

            proxy_set_header X-IDV-Verdict \$yoti_idv_verdict;
            proxy_pass http://app/app;
        }

        # 18+: passive liveness, a UK or Irish document, and its date of
        # birth (a second signed request, for the document fields)
        location /adults/ {
            yoti_idv             on;
            yoti_idv_user_id     \$http_x_user_id;
            yoti_idv_require     LIVENESS liveness_type=STATIC;
            yoti_idv_require     ID_DOCUMENT_AUTHENTICITY
                                 document_type=PASSPORT,DRIVING_LICENCE,NATIONAL_ID
                                 issuing_country=GBR,IRL;
            yoti_idv_require_age 18;

            add_header X-IDV-Verdict \$yoti_idv_verdict always;
            add_header X-IDV-Reason \$yoti_idv_reason always;
            add_header X-IDV-Cache \$yoti_idv_cache always;

            proxy_set_header X-IDV-Verdict \$yoti_idv_verdict;
            proxy_pass http://app/app;
        }

        # the same gate with AWS Rekognition Face Liveness (the local mock
        # stands in for https://rekognition.eu-west-1.amazonaws.com/)
        location /_rekognition/ {
            internal;
            proxy_pass http://127.0.0.1:$aws_port/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 5s;
            subrequest_output_buffer_size 512k;
        }

        location /liveness/ {
            yoti_idv                  on;
            yoti_idv_provider         aws_rekognition;
            yoti_idv_api              /_rekognition;
            yoti_idv_aws_region       eu-west-1;
            yoti_idv_aws_host         127.0.0.1:$aws_port;
            yoti_idv_aws_credentials  $work/aws-credentials profile=gate;
            yoti_idv_user_id          \$http_x_user_id;
            yoti_idv_require          LIVENESS min_confidence=90;

            add_header X-IDV-Verdict \$yoti_idv_verdict always;
            add_header X-IDV-Reason \$yoti_idv_reason always;
            add_header X-IDV-Cache \$yoti_idv_cache always;

            proxy_set_header X-IDV-Verdict \$yoti_idv_verdict;
            proxy_pass http://app/app;
        }

        # the protected application
        location = /app {
            return 200 "welcome to the members area, \$http_x_user_id\n";
        }
    }

    # what Prometheus scrapes and a load balancer probes, for this host only
    server {
        listen 127.0.0.1:$metrics_port;

        allow 127.0.0.1;
        deny all;

        location = /metrics { yoti_idv_metrics; }
        location = /healthz { yoti_idv_health; }
    }
}
EOF
mkdir -p "$work/tmp"

"$nginx" -p "$work" -c "$work/nginx.conf" -t -q
"$nginx" -p "$work" -c "$work/nginx.conf" &
pids+=($!)

wait_port "$redis_port"
wait_port "$mock_port"
wait_port "$aws_port"
wait_port "$port"
wait_port "$metrics_port"

# what the app wrote when it created each user's session
alice_session=3f2b9c1e-6a4d-4e8b-9c0a-1d2e3f4a5b6c
redis-cli -p "$redis_port" SET yoti_idv:user:alice "$alice_session" > /dev/null
redis-cli -p "$redis_port" SET yoti_idv:user:carol \
    7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f > /dev/null
redis-cli -p "$redis_port" SET yoti_idv:user:dave \
    9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5 > /dev/null
# Rekognition sessions (CreateFaceLivenessSession), one per user
redis-cli -p "$redis_port" SET yoti_idv:user:frank \
    a1000000-0000-4000-8000-000000000001 > /dev/null
redis-cli -p "$redis_port" SET yoti_idv:user:grace \
    a1000000-0000-4000-8000-000000000002 > /dev/null
redis-cli -p "$redis_port" SET yoti_idv:user:heidi \
    a1000000-0000-4000-8000-000000000005 > /dev/null
# mallory got hold of alice's session id
redis-cli -p "$redis_port" SET yoti_idv:user:mallory "$alice_session" > /dev/null
redis-cli -p "$redis_port" SET yoti_idv:user:henry age-adult > /dev/null
redis-cli -p "$redis_port" SET yoti_idv:user:bob bob-minor > /dev/null

ask() {
    local title=$1 user=$2 path=${3:-/members/} out status verdict reason
    local cache body

    out=$(curl -s -i -H "X-User-Id: $user" "http://127.0.0.1:$port$path")
    status=$(printf '%s\n' "$out" | sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p')
    verdict=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^X-IDV-Verdict: //p')
    reason=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^X-IDV-Reason: //p')
    cache=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^X-IDV-Cache: //p')
    body=$(printf '%s\n' "$out" | tr -d '\r' | sed '1,/^$/d' | sed -n '1p')

    printf '\n%s\n' "$title"
    printf '  GET %s  X-User-Id: %s  (redis: yoti_idv:user:%s -> %s)\n' \
           "$path" "$user" "$user" \
           "$(redis-cli -p "$redis_port" GET "yoti_idv:user:$user")"
    printf '  -> %s  verdict=%s reason=%s cache=%s\n' \
           "$status" "$verdict" "$reason" "$cache"
    case "$status" in
        200) printf '     %s\n' "$body" ;;
    esac
}

echo "nginx on 127.0.0.1:$port gates /members/ on LIVENESS + FACE_COMPARISON;"
echo "the mock IDV API on 127.0.0.1:$mock_port checks every signature;"
echo "redis on 127.0.0.1:$redis_port maps users to sessions and caches verdicts."

ask "1. alice, verified (liveness and face comparison approved): allowed" alice
ask "2. alice again: the verdict comes from Redis, no call to the IDV API" alice
ask "3. carol, whose face comparison was rejected: denied" carol
ask "4. dave, whose session is still ONGOING: pending" dave
ask "5. mallory, whose mapping points at alice's verified session: denied" mallory
ask "6. erin, who has no session yet: denied" erin
ask "7. henry, 30, passive liveness and a UK passport, at the 18+ route: allowed" \
    henry /adults/
ask "8. bob, 16, the same checks: denied (underage)" bob /adults/
ask "9. bob again: the DENY comes from Redis, his document is not read again" \
    bob /adults/

echo
echo "/liveness/ is gated by AWS Rekognition Face Liveness (min_confidence=90),"
echo "signed with SigV4; the mock on 127.0.0.1:$aws_port verifies every signature."

ask "10. frank, SUCCEEDED with Confidence 99.5: allowed" frank /liveness/
ask "11. frank again: his stored pass, no call to Rekognition (AWS deletes a
   session 3 minutes after use: a pass lasts for APPROVE of
   yoti_idv_cache_valid, 10m here)" frank /liveness/
ask "12. grace, SUCCEEDED with Confidence 85.25, below 90: denied" grace /liveness/
ask "13. heidi, whose liveness check is IN_PROGRESS: pending" heidi /liveness/

echo
echo "nginx's error log (info) for these requests:"
grep -o 'yoti_idv: .*' "$work/logs/error.log" | sed 's/, client: .*//; s/^/  /'
echo
echo "the mock IDV API saw $(curl -s "http://127.0.0.1:$mock_port/__mock/count" | tr -d '\n') signed requests for 9 answers"
echo "($(curl -s "http://127.0.0.1:$mock_port/__mock/count-media" | tr -d '\n') of them for document fields),"
echo "the Rekognition mock $(curl -s "http://127.0.0.1:$aws_port/__mock/count" | tr -d '\n') signed requests for 4 answers; stopping."

echo
echo "GET http://127.0.0.1:$metrics_port/healthz -> $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$metrics_port/healthz") $(curl -s "http://127.0.0.1:$metrics_port/healthz")"
echo
echo "GET http://127.0.0.1:$metrics_port/metrics: what these requests produced"
echo "(the series that are not 0; docs/operations.md, \"Monitoring\", has them all):"
curl -s "http://127.0.0.1:$metrics_port/metrics" \
    | grep -v '^#' | grep -v ' 0$' | sed 's/^/  /'
