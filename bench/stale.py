#!/usr/bin/python3
"""`make bench`, the case of yoti_idv_cache_use_stale, _background_update
and yoti_idv_breaker (issue 14): 1,000 known users (a Redis mapping each,
all to a session the mock answers in 50 ms), under steady load from wrk.

    bench/stale.py --module build/ngx_http_yoti_idv_module.so \\
        [--nginx /usr/sbin/nginx] [--users 1000] [--out FILE]

(a) verdicts reaching their end under load, background update off and on:
    latency of the gated requests (a request that waits for the provider
    takes >= 50 ms);
(b) the provider down (every request 503) for 20 s after the verdicts
    expired: the share of requests allowed with use_stale on and off, and
    the provider requests during the outage (the breaker's probes);
(c) recovery: the time from the provider's return until a request gets a
    fresh verdict again.

Starts redis-server, the mock IDV API and nginx (1 worker) on 127.0.0.1,
in a temporary directory, and stops them by pid.
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SESSION = "slow-50-verified-alice"


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
    raise SystemExit("stale: nothing listens on 127.0.0.1:%d" % port)


def get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("X-IDV-Cache"), body


def mock(port, what):
    return get(port, "/__mock/" + what)[2].decode().strip()


def redis_set_users(port, n):
    s = socket.create_connection(("127.0.0.1", port))
    out = b""
    for i in range(1, n + 1):
        k, v = ("yoti_idv:user:u%d" % i).encode(), SESSION.encode()
        out += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
            len(k), k, len(v), v)
    s.sendall(out)
    got = b""
    while got.count(b"\r\n") < n:
        got += s.recv(65536)
    s.close()


def warm(port, n, threads=25):
    """every user once, in parallel: MISS, the provider asked"""
    bad = []

    def work(k):
        for i in range(k, n + 1, threads):
            st, cache, _ = get(port, "/gated", {"X-User-Id": "u%d" % i})
            if st != 200:
                bad.append((i, st, cache))

    ts = [threading.Thread(target=work, args=(k,)) for k in
          range(1, threads + 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if bad:
        raise SystemExit("stale: warm-up failed for %d users: %s"
                         % (len(bad), bad[:3]))


def parse_time(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[unit]


def wrk(port, users, duration, conns=16):
    env = dict(os.environ, BENCH_USERS=str(users))
    out = subprocess.run(
        ["wrk", "-t2", "-c%d" % conns, "-d%ds" % duration, "--timeout", "10s",
         "--latency", "-H", "Connection: close", "-s",
         os.path.join(TOP, "bench/wrk/users.lua"),
         "http://127.0.0.1:%d/gated" % port],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
        check=False).stdout.decode()
    r = {"raw": out}
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, out, re.M)
        r["p" + pct] = parse_time(m.group(1), m.group(2)) if m else None
    m = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)", out)
    r["max"] = parse_time(m.group(1), m.group(2)) if m else None
    m = re.search(r"slow share: ([\d.]+)%", out)
    r["slow"] = float(m.group(1)) if m else None
    return r


class Bench:

    def __init__(self, a, work):
        self.a = a
        self.work = work
        self.procs = []
        self.nginx = None

    def start_common(self):
        self.mock_port, self.redis_port = free_port(), free_port()
        self.procs.append(subprocess.Popen(
            ["/usr/bin/redis-server", "--port", str(self.redis_port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.work],
            stdout=subprocess.DEVNULL))
        self.procs.append(subprocess.Popen(
            [sys.executable, TOP + "/t/mock/idv_mock.py", "--port",
             str(self.mock_port), "--public-key",
             TOP + "/t/keys/test-key-public.pem", "--sdk-id", "bench-sdk",
             "--log", self.work + "/logs/mock.log"]))
        wait_port(self.mock_port)
        wait_port(self.redis_port)
        redis_set_users(self.redis_port, self.a.users)

    def start_nginx(self, valid, loc):
        self.stop_nginx()
        self.port = free_port()
        conf = """
load_module %(module)s;
daemon off;
worker_processes 1;
error_log %(work)s/logs/error.log warn;
pid %(work)s/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %(work)s/tmp;
    proxy_temp_path %(work)s/tmp;
    upstream yoti { server 127.0.0.1:%(mock)d; keepalive 16; }
    yoti_idv_sdk_id bench-sdk;
    yoti_idv_pem_key %(top)s/t/keys/test-key-pkcs1.pem;
    yoti_idv_api /_yoti_idv;
    yoti_idv_redis 127.0.0.1:%(redis)d;
    yoti_idv_redis_prefix yoti_idv:;
    yoti_idv_cache_zone zone:16m ttl=10m;
    yoti_idv_cache_valid APPROVE %(valid)ds;
    server {
        listen 127.0.0.1:%(port)d;
        location /_yoti_idv/ {
            internal;
            proxy_pass http://yoti/idverify/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 2s;
            subrequest_output_buffer_size 64k;
        }
        location /__mock/ {
            proxy_pass http://yoti;
        }
        location /gated {
            yoti_idv on;
            yoti_idv_user_id $http_x_user_id;
            yoti_idv_bind_user off;
            yoti_idv_require LIVENESS;
            %(loc)s
            add_header X-IDV-Cache $yoti_idv_cache always;
            alias %(work)s/ok.txt;
        }
    }
}
""" % {"module": os.path.abspath(self.a.module), "work": self.work,
       "mock": self.mock_port, "redis": self.redis_port, "port": self.port,
       "top": TOP, "valid": valid, "loc": loc}
        with open(self.work + "/nginx.conf", "w") as f:
            f.write(conf)
        self.nginx = subprocess.Popen([self.a.nginx, "-p", self.work, "-c",
                                       self.work + "/nginx.conf"])
        wait_port(self.port)
        mock(self.mock_port, "reset")

    def flush_verdicts(self):
        """every case starts cold: the mappings stay, the verdicts go"""
        s = socket.create_connection(("127.0.0.1", self.redis_port))
        script = (b"for _,k in ipairs(redis.call('KEYS','yoti_idv:verdict:*'))"
                  b" do redis.call('DEL',k) end return 1")
        s.sendall(b"*3\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n0\r\n"
                  % (len(script), script))
        s.recv(100)
        s.close()

    def stop_nginx(self):
        if self.nginx:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
            self.nginx = None

    def stop(self):
        self.stop_nginx()
        for pr in reversed(self.procs):
            try:
                pr.send_signal(signal.SIGTERM)
                pr.wait(5)
            except Exception:
                pr.kill()

    # (a) ------------------------------------------------------------

    def case_a(self, background):
        valid = 20
        self.flush_verdicts()
        self.start_nginx(valid, "yoti_idv_cache_background_update %s;"
                         % ("on" if background else "off"))
        t0 = time.monotonic()
        warm(self.port, self.a.users)
        warmed = time.monotonic() - t0
        c0 = int(mock(self.mock_port, "count"))
        # from before the last tenth until after every verdict's end
        time.sleep(max(0.0, valid * 0.75 - warmed))
        r = wrk(self.port, self.a.users, int(valid * 0.25 + warmed + 4))
        r["provider"] = int(mock(self.mock_port, "count")) - c0
        return r

    # (b), (c) ------------------------------------------------------

    def case_b(self, stale):
        valid = 5
        self.flush_verdicts()
        self.start_nginx(valid, "yoti_idv_cache_use_stale %s;"
                         % ("5m" if stale else "off"))
        warm(self.port, self.a.users)
        mock(self.mock_port, "outage/status-503")
        c0 = int(mock(self.mock_port, "count"))
        t0 = time.monotonic()

        # the provider requests, once a second, to see the breaker's rate
        samples = []
        done = threading.Event()

        def sample():
            while not done.wait(1.0):
                samples.append((time.monotonic() - t0,
                                int(mock(self.mock_port, "count"))))

        th = threading.Thread(target=sample)
        th.start()
        r = wrk(self.port, self.a.users, 20)
        done.set()
        th.join()
        r["outage_s"] = time.monotonic() - t0
        r["provider"] = int(mock(self.mock_port, "count")) - c0
        # the last 8 s: the breaker has been open for a while by then
        late = [s for s in samples if s[0] >= 12.0]
        r["late_rate"] = ((late[-1][1] - late[0][1]) / (late[-1][0] - late[0][0])
                          if len(late) >= 2 else None)

        # (c): the provider is back; until when is each answer stale?
        mock(self.mock_port, "outage/off")
        t1 = time.monotonic()
        fresh = None
        i = 0
        while time.monotonic() - t1 < 10:
            i += 1
            st, cache, _ = get(self.port, "/gated",
                               {"X-User-Id": "u%d" % (i % self.a.users + 1)})
            if st == 200 and cache in ("MISS", "HIT"):
                fresh = time.monotonic() - t1
                break
            time.sleep(0.02)
        r["recovery"] = fresh
        return r


def ms(v):
    return "-" if v is None else ("%.1f ms" % v)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--module", required=True)
    p.add_argument("--nginx", default="/usr/sbin/nginx")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--out")
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="yoti-idv-stale.")
    os.chmod(work, 0o755)
    os.makedirs(work + "/logs")
    os.makedirs(work + "/tmp")
    with open(work + "/ok.txt", "w") as f:
        f.write("ok\n")

    b = Bench(a, work)
    try:
        b.start_common()
        a_off = b.case_a(False)
        a_on = b.case_a(True)
        b_on = b.case_b(True)
        b_off = b.case_b(False)
    finally:
        b.stop()
        if os.environ.get("BENCH_KEEP"):
            print("stale: kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    lines = [
        "### Known users, verdicts at their end, the provider down "
        "(issue 14)",
        "",
        "%d users, each a Redis mapping to a session the mock answers in "
        "50 ms; wrk -t2 -c16, every request a new connection, the users in "
        "turn; nginx 1 worker with the zone and Redis. Load average at the "
        "end: %.2f %.2f %.2f (a shared machine: compare the rows with each "
        "other, not with another run)." % ((a.users,) + load),
        "",
        "(a) The verdicts (20 s) reach their end during the run:",
        "",
        "| background update | requests | p50 | p99 | max | >= 45 ms | "
        "provider requests |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in (("off", a_off), ("on", a_on)):
        lines.append("| %s | %d | %s | %s | %s | %s | %d |" % (
            name, r["requests"], ms(r["p50"]), ms(r["p99"]), ms(r["max"]),
            "-" if r["slow"] is None else "%.3f%%" % r["slow"],
            r["provider"]))
    lines += [
        "",
        "Target: with background update, no request waits for the "
        "provider: a share of requests >= 45 ms no larger than the "
        "machine's own noise, against about one request per user (%d "
        "users) without it.  Off: %s, on: %s." % (
            a.users,
            "-" if a_off["slow"] is None else "%.3f%%" % a_off["slow"],
            "-" if a_on["slow"] is None else "%.3f%%" % a_on["slow"]),
        "",
        "(b) The provider answers 503 to everything for 20 s, from the "
        "moment the verdicts (5 s) were fetched:",
        "",
        "| use_stale | requests | allowed | provider requests | per second "
        "| per second, the last 8 s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in (("5m", b_on), ("off", b_off)):
        n = max(r["requests"], 1)
        lines.append("| %s | %d | %.1f%% | %d | %.1f | %s |" % (
            name, r["requests"], 100.0 * (n - r["non2xx"]) / n,
            r["provider"], r["provider"] / r["outage_s"],
            "-" if r["late_rate"] is None else "%.1f" % r["late_rate"]))
    lines += [
        "",
        "Targets: 100% allowed with use_stale, 0% without it once the "
        "verdicts expired (the first seconds are fresh hits); about one "
        "provider request a second once the breaker is open (it opens "
        "after 5 s of failures, which start when the verdicts expire: "
        "before that every expired user's request still asks).",
        "",
        "(c) Recovery, from the provider's return to the first fresh "
        "verdict: %s with use_stale, %s without (one breaker probe a "
        "second)." % (
            "-" if b_on["recovery"] is None else "%.0f ms"
            % (b_on["recovery"] * 1000),
            "-" if b_off["recovery"] is None else "%.0f ms"
            % (b_off["recovery"] * 1000)),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
