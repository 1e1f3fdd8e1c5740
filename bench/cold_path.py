#!/usr/bin/python3
"""`make bench`, the cold path of each provider: CPU of the nginx worker
per gated request without any cache, that is one signature and one
subrequest to the provider per request.  Yoti signs with RSA-2048
(X-Yoti-Auth-Digest), Rekognition with SigV4 (HMAC-SHA256).

    bench/cold_path.py --module build/ngx_http_yoti_idv_module.so \\
        [--nginx /usr/sbin/nginx] [--requests 2000] [--out FILE]

Starts nginx (1 worker), the mock IDV API and the mock Rekognition on
127.0.0.1, in a temporary directory; sends the requests one after the
other over keep-alive connections; reads the worker's utime + stime from
/proc before and after.  Everything it starts is stopped by pid.
"""

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("cold_path: nothing listens on 127.0.0.1:%d" % port)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def worker_of(master):
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                return int(d)
    raise SystemExit("cold_path: no nginx worker")


def run(port, path, headers, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    statuses = {}
    for _ in range(n):
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        r.read()
        statuses[r.status] = statuses.get(r.status, 0) + 1
    c.close()
    return statuses


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--module", required=True)
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--out")
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="yoti-idv-cold.")
    os.chmod(work, 0o755)      # the worker (nobody) reads ok.txt
    procs = []
    try:
        yoti_port, aws_port, port = free_port(), free_port(), free_port()
        os.makedirs(work + "/logs")
        with open(work + "/aws-credentials", "w") as f:
            f.write("[default]\naws_access_key_id = AKIDBENCH000000001\n"
                    "aws_secret_access_key = bench/secret\n")
        procs.append(subprocess.Popen(
            [sys.executable, TOP + "/t/mock/idv_mock.py", "--port",
             str(yoti_port), "--public-key", TOP + "/t/keys/test-key-public.pem",
             "--sdk-id", "bench-sdk", "--log", work + "/logs/yoti.log"]))
        procs.append(subprocess.Popen(
            [sys.executable, TOP + "/t/mock/rekognition_mock.py", "--port",
             str(aws_port), "--key", "AKIDBENCH000000001:bench/secret",
             "--log", work + "/logs/aws.log"]))
        conf = """
load_module %(module)s;
daemon off;
worker_processes 1;
error_log %(work)s/logs/error.log warn;
pid %(work)s/logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(work)s/tmp;
    proxy_temp_path %(work)s/tmp;
    upstream yoti { server 127.0.0.1:%(yoti)d; keepalive 8; }
    upstream aws { server 127.0.0.1:%(aws)d; keepalive 8; }
    server {
        listen 127.0.0.1:%(port)d;
        location /_yoti_idv/ {
            internal;
            proxy_pass http://yoti/idverify/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            subrequest_output_buffer_size 64k;
        }
        location /_rekognition/ {
            internal;
            proxy_pass http://aws/;
            proxy_set_header Host 127.0.0.1:%(aws)d;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            subrequest_output_buffer_size 512k;
        }
        location /yoti {
            yoti_idv on;
            yoti_idv_sdk_id bench-sdk;
            yoti_idv_pem_key %(top)s/t/keys/test-key-pkcs1.pem;
            yoti_idv_api /_yoti_idv;
            yoti_idv_user_id $http_x_user_id;
            yoti_idv_session_id $http_x_session_id;
            yoti_idv_bind_user off;
            yoti_idv_require LIVENESS;
            alias %(work)s/ok.txt;
        }
        location /aws {
            yoti_idv on;
            yoti_idv_provider aws_rekognition;
            yoti_idv_api /_rekognition;
            yoti_idv_aws_region eu-west-1;
            yoti_idv_aws_host 127.0.0.1:%(aws)d;
            yoti_idv_aws_credentials %(work)s/aws-credentials;
            yoti_idv_user_id $http_x_user_id;
            yoti_idv_session_id $http_x_session_id;
            yoti_idv_bind_user off;
            yoti_idv_require LIVENESS min_confidence=90;
            alias %(work)s/ok.txt;
        }
    }
}
""" % {"module": os.path.abspath(a.module), "work": work, "yoti": yoti_port,
       "aws": aws_port, "port": port, "top": TOP}
        os.makedirs(work + "/tmp")
        with open(work + "/ok.txt", "w") as f:
            f.write("ok\n")
        with open(work + "/nginx.conf", "w") as f:
            f.write(conf)
        procs.append(subprocess.Popen([a.nginx, "-p", work, "-c",
                                       work + "/nginx.conf"]))
        for pt in (yoti_port, aws_port, port):
            wait_port(pt)
        worker = worker_of(procs[-1].pid)

        cases = [
            ("Yoti (RSA-2048, GET)", "/yoti",
             {"X-User-Id": "alice", "X-Session-Id": "verified-alice"}),
            ("Rekognition (SigV4, POST)", "/aws",
             {"X-User-Id": "alice",
              "X-Session-Id": "a1000000-0000-4000-8000-000000000001"}),
        ]
        rows = []
        for name, path, headers in cases:
            run(port, path, headers, 50)              # warm up
            c0, t0 = cpu_seconds(worker), time.monotonic()
            st = run(port, path, headers, a.requests)
            c1, t1 = cpu_seconds(worker), time.monotonic()
            rows.append((name, a.requests, st, (c1 - c0) / a.requests * 1e6,
                         (t1 - t0) / a.requests * 1e3))

        lines = ["| cold path, no cache | requests | statuses | "
                 "worker CPU per request | wall time per request |",
                 "| --- | --- | --- | --- | --- |"]
        for name, n, st, cpu, wall in rows:
            lines.append("| %s | %d | %s | %.0f us | %.2f ms |" % (
                name, n, " ".join("%d:%d" % kv for kv in sorted(st.items())),
                cpu, wall))
        counts = []
        for pt in (yoti_port, aws_port):
            c = http.client.HTTPConnection("127.0.0.1", pt, timeout=5)
            c.request("GET", "/__mock/count")
            counts.append(c.getresponse().read().decode().strip())
            c.close()
        lines.append("")
        lines.append("The mocks counted %s (Yoti) and %s (Rekognition) signed "
                     "requests, warm-up included." % tuple(counts))
        lines.append("Worker CPU includes the subrequest (proxying to the "
                     "local mock) for both; the difference is the signing. "
                     "CPU is read in clock ticks (%d/s) over the run." % TICK)
        text = "\n".join(lines) + "\n"
        print(text)
        if a.out:
            with open(a.out, "w") as f:
                f.write(text)
    finally:
        for pr in reversed(procs):
            try:
                pr.send_signal(signal.SIGTERM)
                pr.wait(5)
            except Exception:
                pr.kill()
        if os.environ.get("BENCH_KEEP"):
            print("cold_path: kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
