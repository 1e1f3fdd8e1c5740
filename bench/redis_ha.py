#!/usr/bin/python3
"""`make bench`, the Redis high-availability part: bench/results/redis-ha.md

    /usr/bin/python3 bench/redis_ha.py --module build/ngx_http_yoti_idv_module.so
                                       [--nginx /usr/sbin/nginx] [--out FILE]

Starts its own redis-server (one), a Redis Cluster of three masters with a
replica each (redis-cli --cluster create), a master with a replica and
three sentinels, the mock IDV API, and one nginx (worker_processes 1) for
each form of yoti_idv_redis, all on 127.0.0.1, stopped by pid at the end.

1. The Redis-only hit (no zone: every request reads Redis) against one
   server, the cluster and the Sentinel master: requests per second and
   latency (wrk), and the commands Redis counted (INFO commandstats):
   MGETs per request, redirected MGETs, and how the cluster's masters
   shared them.
2. The failover window, for Sentinel and for Cluster: a client sends one
   request after another (a new connection each, 10 ms apart) for a user
   of the master; the master is killed (SIGKILL); the window is the time
   from the kill to the first allowed request after it.  The sentinels'
   down-after-milliseconds and the cluster's cluster-node-timeout are
   --node-timeout (1000 ms by default), the settings of the tests.

Exits 0; the numbers are measurements, not targets.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as B  # noqa: E402

NGINX_CPU = 0
LOAD_CPU = 1
USERS = ['u%d' % i for i in range(1, 31)]


class Ctx:
    pass


def info_calls(port, cmd):
    info = B.Redis(port).cmd('INFO', 'commandstats')
    m = re.search(r'^cmdstat_%s:calls=(\d+).*?rejected_calls=(\d+)'
                  % re.escape(cmd), info, re.M)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def redis_server(ctx, port, *extra):
    d = '%s/redis-%d' % (ctx.work, port)
    os.makedirs(d, exist_ok=True)
    p = ctx.procs.start(['redis-server', '--port', str(port), '--bind',
                         '127.0.0.1', '--save', '', '--appendonly', 'no',
                         '--dir', d, '--logfile', d + '/redis.log',
                         '--repl-diskless-sync-delay', '0'] + list(extra),
                        cpu=LOAD_CPU)
    B.wait_port(port, proc=p)
    ctx.servers[port] = p
    return p


def wait_for(what, cond, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return
        except (OSError, RuntimeError, ConnectionError):
            pass
        time.sleep(0.05)
    raise RuntimeError('bench: %s did not happen in %ds' % (what, timeout))


def link_up(port):
    return 'master_link_status:up' in B.Redis(port).cmd('INFO', 'replication')


# ------------------------------------------------------------- set-ups


def cluster_port():
    """A free port whose cluster bus port (+10000) is free too."""
    import socket
    while True:
        p = B.free_port()
        if p + 10000 > 65535:
            continue
        s = socket.socket()
        try:
            s.bind(('127.0.0.1', p + 10000))
            return p
        except OSError:
            continue
        finally:
            s.close()


def start_cluster(ctx):
    ports = [cluster_port() for _ in range(6)]
    for p in ports:
        redis_server(ctx, p, '--cluster-enabled', 'yes',
                     '--cluster-config-file', 'nodes.conf',
                     '--cluster-node-timeout', str(ctx.args.node_timeout))
    r = subprocess.run(['redis-cli', '--cluster', 'create']
                       + ['127.0.0.1:%d' % p for p in ports]
                       + ['--cluster-replicas', '1', '--cluster-yes'],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError('redis-cli --cluster create: ' + r.stdout[-2000:])

    def ok():
        for p in ports:
            if 'cluster_state:ok' not in B.Redis(p).cmd('CLUSTER', 'INFO'):
                return False
            if ('role:slave' in B.Redis(p).cmd('INFO', 'replication')
                    and not link_up(p)):
                return False
        return True

    wait_for('cluster_state:ok', ok)
    ctx.cluster = ports


def cluster_masters(ctx):
    live = [p for p in ctx.cluster if ctx.servers[p].poll() is None]
    return {r[2][1]: (r[0], r[1]) for r in
            B.Redis(live[0]).cmd('CLUSTER', 'SLOTS')}


def cluster_owner(ctx, key):
    live = [p for p in ctx.cluster if ctx.servers[p].poll() is None]
    slot = B.Redis(live[0]).cmd('CLUSTER', 'KEYSLOT', key)
    for port, (lo, hi) in cluster_masters(ctx).items():
        if lo <= slot <= hi:
            return port
    return None


def start_sentinel(ctx):
    master, replica = B.free_port(), B.free_port()
    redis_server(ctx, master)
    redis_server(ctx, replica, '--replicaof', '127.0.0.1', str(master))
    ctx.sentinels = []
    for _ in range(3):
        p = B.free_port()
        d = '%s/sentinel-%d' % (ctx.work, p)
        os.makedirs(d)
        with open(d + '/sentinel.conf', 'w') as f:
            f.write('port %d\nbind 127.0.0.1\ndir %s\nlogfile %s/log\n'
                    'sentinel monitor gate 127.0.0.1 %d 2\n'
                    'sentinel down-after-milliseconds gate %d\n'
                    'sentinel failover-timeout gate 10000\n'
                    % (p, d, d, master, ctx.args.node_timeout))
        s = ctx.procs.start(['redis-sentinel', d + '/sentinel.conf'],
                            cpu=LOAD_CPU)
        B.wait_port(p, proc=s)
        ctx.servers[p] = s
        ctx.sentinels.append(p)

    def ok():
        for p in ctx.sentinels:
            m = B.Redis(p).cmd('SENTINEL', 'MASTER', 'gate')
            h = dict(zip(m[0::2], m[1::2]))
            if int(h['num-slaves']) < 1 or int(h['num-other-sentinels']) < 2:
                return False
        return link_up(replica)

    wait_for('the sentinels', ok)
    ctx.smaster, ctx.sreplica = master, replica


def start_nginx(ctx, name, directive, tagged):
    port = B.free_port()
    d, path = B.nginx_conf(ctx.work, name, port, 'redis', ctx.mock_port, 1,
                           ctx.args.module)
    with open(path) as f:
        conf = f.read()
    conf = re.sub(r'yoti_idv_redis 127\.0\.0\.1:1 [^;]*;', directive, conf)
    with open(path, 'w') as f:
        f.write(conf)
    p = ctx.procs.start([ctx.args.nginx, '-c', path, '-p', d],
                        cpu=NGINX_CPU, stderr=subprocess.DEVNULL)
    B.wait_port(port, proc=p)
    B.wait_workers(p.pid)
    n = Ctx()
    n.port, n.proc, n.dir, n.tagged = port, p, d, tagged
    return n


def mapping_key(user, tagged):
    return B.PREFIX + ('{user:%s}' % user if tagged else 'user:%s' % user)


def write_mappings(ctx, ngx, set_):
    for u in USERS:
        set_(mapping_key(u, ngx.tagged), 'verified-' + u)
    # the first request of each user fetches, the others are hits
    for u in USERS:
        st, _ = B.http_get(ngx.port, '/gated', {'X-User-Id': u})
        if st != 200:
            raise RuntimeError('bench: %s: warm-up of %s: %d'
                               % (ngx.dir, u, st))


def cluster_set(ctx):
    def set_(key, value):
        B.Redis(cluster_owner(ctx, key)).cmd('SET', key, value)
    return set_


# --------------------------------------------------------------- cases


def hit_case(ctx, name, ngx, servers):
    before = {p: info_calls(p, 'mget') for p in servers}
    argv = ctx.procs.cpu_prefix(LOAD_CPU) + [
        'wrk', '-t1', '-c%d' % ctx.args.connections,
        '-d%ds' % ctx.args.duration, '--latency', '--timeout', '5s',
        '-s', os.path.join(B.TOP, 'bench/wrk/users.lua'),
        'http://127.0.0.1:%d/gated' % ngx.port, '--', str(len(USERS))]
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    after = {p: info_calls(p, 'mget') for p in servers}

    r = {'name': name}
    m = re.search(r'(\d+) requests in', out)
    r['requests'] = int(m.group(1)) if m else 0
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    r['rps'] = float(m.group(1)) if m else 0.0
    for pct in ('50', '99'):
        m = re.search(r'^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$' % pct, out, re.M)
        r['p' + pct] = (float(m.group(1))
                        * {'us': 1e-3, 'ms': 1, 's': 1e3}[m.group(2)]
                        if m else None)
    m = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    r['non2xx'] = int(m.group(1)) if m else 0
    r['mget'] = sum(after[p][0] - before[p][0] for p in servers)
    r['rejected'] = sum(after[p][1] - before[p][1] for p in servers)
    r['split'] = [after[p][0] - before[p][0] for p in servers]
    # wrk's count leaves out the requests still in flight when it stops
    r['per_request'] = r['mget'] / r['requests'] if r['requests'] else 0
    B.log('redis-ha: %s: %d requests, %d MGET' % (name, r['requests'],
                                                  r['mget']))
    return r


def failover_case(ctx, name, ngx, user, kill_port):
    seen = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            t = time.monotonic()
            try:
                st, _ = B.http_get(ngx.port, '/gated', {'X-User-Id': user},
                                   timeout=5)
            except OSError:
                st = 0
            seen.append((t, st))
            time.sleep(0.01)

    th = threading.Thread(target=client)
    th.start()
    time.sleep(1.0)

    t0 = time.monotonic()
    ctx.procs.stop(ctx.servers[kill_port], sig=signal.SIGKILL)

    first_ok = None
    end = t0 + 60
    while time.monotonic() < end and first_ok is None:
        time.sleep(0.05)
        for t, st in list(seen):
            if t > t0 and st == 200:
                first_ok = t
                break
    time.sleep(0.5)
    stop.set()
    th.join()

    after = [st for t, st in seen if t > t0]
    before = [st for t, st in seen if t <= t0]
    r = {'name': name, 'before': len(before),
         'before_ok': before.count(200),
         'refused': sum(1 for t, st in seen
                        if t > t0 and (first_ok is None or t < first_ok)),
         'other': sorted(set(st for t, st in seen if t > t0
                             and (first_ok is None or t < first_ok))),
         'window_ms': None if first_ok is None else (first_ok - t0) * 1000,
         'after_ok': all(st == 200 for t, st in seen
                         if first_ok is not None and t >= first_ok),
         'n_after': len(after)}
    B.log('redis-ha: %s: window %s ms' % (name, r['window_ms']))
    return r


# -------------------------------------------------------------- report


def fmt(v, f='%.2f'):
    return 'n/a' if v is None else f % v


def report(ctx, hits, windows):
    a = ctx.args
    lines = ['# Redis high availability: hit cost and failover window', '',
             'Machine: %s; module %s.' % (
                 '; '.join('%s %s' % kv for kv in B.machine()),
                 B.git_rev()),
             '',
             'nginx: one worker on CPU %d; wrk (1 thread, %d connections, '
             '%d s, %d users in turn), redis and the mock on CPU %d. Redis '
             'only: no zone, every request reads Redis. Counts from the '
             "servers' own INFO commandstats." % (
                 NGINX_CPU, a.connections, a.duration, len(USERS), LOAD_CPU),
             '',
             '| Case | Requests/s | p50 ms | p99 ms | non-2xx | MGET / request | redirected MGETs | MGETs by master |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in hits:
        lines.append('| %s | %.0f | %s | %s | %d | %.3f | %d | %s |' % (
            r['name'], r['rps'], fmt(r['p50']), fmt(r['p99']), r['non2xx'],
            r['per_request'], r['rejected'],
            ' / '.join(str(x) for x in r['split'])))
    lines += ['',
              'MGET / request is the commands Redis counted over the '
              'requests wrk counted (wrk leaves out the few still in flight '
              'when it stops, so slightly above 1.000 is one round trip a '
              'request).', '',
              '## Failover window', '',
              'One request after another for a user of the master (a new '
              'connection each, 10 ms apart); the master killed with '
              'SIGKILL; down-after-milliseconds (Sentinel) and '
              'cluster-node-timeout (Cluster) %d ms.' % a.node_timeout, '',
              '| Form | Window (kill to first allowed request) | Requests refused meanwhile (statuses) | All allowed after |',
              '| --- | --- | --- | --- |']
    for r in windows:
        lines.append('| %s | %s ms | %d (%s) | %s |' % (
            r['name'], fmt(r['window_ms'], '%.0f'), r['refused'],
            ', '.join(str(x) for x in r['other']) or '-',
            'yes' if r['after_ok'] else 'NO'))
    lines += ['', 'Note: %s' % (a.note or 'the machine may be shared: '
                                'compare the forms within one run, not '
                                'across runs.'), '']
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--module', required=True)
    ap.add_argument('--nginx', default='/usr/sbin/nginx')
    ap.add_argument('--out', default=os.path.join(
        B.TOP, 'bench/results/redis-ha.md'))
    ap.add_argument('--duration', type=int, default=10)
    ap.add_argument('--connections', type=int, default=16)
    ap.add_argument('--node-timeout', type=int, default=1000)
    ap.add_argument('--note', default='')
    a = ap.parse_args()
    a.module = os.path.abspath(a.module)

    B.install_signal_handlers()
    ctx = Ctx()
    ctx.args = a
    ctx.procs = B.Procs(len(os.sched_getaffinity(0)))
    ctx.servers = {}
    ctx.work = B.make_work('yoti-idv-redis-ha.')
    os.chmod(ctx.work, 0o755)
    os.makedirs(ctx.work + '/logs')

    try:
        B.write_sessions(ctx.work, USERS)
        ctx.mock_port = B.free_port()
        mock = B.start_mock(ctx.procs, ctx.mock_port, ctx.work, LOAD_CPU)
        B.wait_port(ctx.mock_port, proc=mock)

        single = B.free_port()
        redis_server(ctx, single)
        start_cluster(ctx)
        start_sentinel(ctx)

        opts = 'connect_timeout=200ms timeout=500ms'
        n1 = start_nginx(ctx, 'single', 'yoti_idv_redis 127.0.0.1:%d %s;'
                         % (single, opts), False)
        nc = start_nginx(ctx, 'cluster', 'yoti_idv_redis cluster=%s %s;'
                         % (','.join('127.0.0.1:%d' % p
                                     for p in ctx.cluster[:2]), opts), True)
        ns = start_nginx(ctx, 'sentinel', 'yoti_idv_redis sentinel=%s '
                         'master=gate %s;' % (','.join(
                             '127.0.0.1:%d' % p for p in ctx.sentinels),
                             opts), False)

        write_mappings(ctx, n1, lambda k, v: B.Redis(single).cmd('SET', k, v))
        write_mappings(ctx, nc, cluster_set(ctx))
        write_mappings(ctx, ns,
                       lambda k, v: B.Redis(ctx.smaster).cmd('SET', k, v))
        B.Redis(ctx.smaster).cmd('WAIT', 1, 2000)
        for p in cluster_masters(ctx):
            B.Redis(p).cmd('WAIT', 1, 2000)

        masters = sorted(cluster_masters(ctx))
        hits = [hit_case(ctx, 'one server', n1, [single]),
                hit_case(ctx, 'cluster, 3 masters', nc, masters),
                hit_case(ctx, 'sentinel (the master)', ns, [ctx.smaster])]

        victim = cluster_owner(ctx, mapping_key('u1', True))
        windows = [failover_case(ctx, 'Sentinel', ns, 'u1', ctx.smaster),
                   failover_case(ctx, 'Cluster', nc, 'u1', victim)]
    finally:
        ctx.procs.stop_all()
        if os.environ.get('BENCH_KEEP'):
            B.log('redis-ha: kept %s' % ctx.work)
        else:
            subprocess.run(['rm', '-rf', ctx.work])

    text = report(ctx, hits, windows)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        f.write(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
