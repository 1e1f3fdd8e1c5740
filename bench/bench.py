#!/usr/bin/python3
"""`make bench`: what the gate costs, in one run and one table.

    /usr/bin/python3 bench/bench.py --module build/ngx_http_yoti_idv_module.so
                                    [--nginx /usr/sbin/nginx] [--out FILE]

Starts its own redis-server, the mock IDV API (t/mock/idv_mock.py) and
four nginx instances (worker_processes 1 each, one per case), all
on 127.0.0.1, and stops them by pid at the end.  bench/README.md describes
the cases and the method.  Exits 0 whether the targets are met or not; a
missed target is printed as FAIL.
"""

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as B  # noqa: E402


NGINX_CPU = 0       # nginx (every instance)
LOAD_CPU = 1        # wrk, redis-server, the mock, the Python clients

ALICE = {'X-User-Id': 'alice'}
SLOW_SESSION = 'slow-20-verified-alice'
NOCACHE = {'X-User-Id': 'alice', 'X-IDV-Session': SLOW_SESSION}
SLOW_AGE_SESSION = 'slow-20-age-alice'
NOCACHE_AGE = {'X-User-Id': 'alice', 'X-IDV-Session': SLOW_AGE_SESSION}


# ------------------------------------------------------------------ wrk


def parse_time(v, unit):
    return float(v) * {'us': 1e-3, 'ms': 1.0, 's': 1e3, 'm': 60e3}[unit]


def parse_wrk(out):
    r = {'raw': out}
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    r['rps'] = float(m.group(1)) if m else 0.0
    m = re.search(r'(\d+) requests in ([\d.]+)(us|ms|s|m)', out)
    r['requests'] = int(m.group(1)) if m else 0
    r['elapsed_ms'] = parse_time(m.group(2), m.group(3)) if m else 0.0
    for pct in ('50', '75', '90', '99'):
        m = re.search(r'^\s+%s%%\s+([\d.]+)(us|ms|s|m)\s*$' % pct, out, re.M)
        r['p' + pct] = parse_time(m.group(1), m.group(2)) if m else None
    m = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    r['non2xx'] = int(m.group(1)) if m else 0
    m = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), '
                  r'timeout (\d+)', out)
    r['sock_errors'] = sum(int(x) for x in m.groups()) if m else 0
    return r


def wrk_argv(procs, port, path, headers, duration, conns, threads=1,
             latency=True, pipeline=0):
    argv = procs.cpu_prefix(LOAD_CPU) + [
        'wrk', '-t%d' % threads, '-c%d' % conns, '-d%ds' % duration,
        '--timeout', '10s']
    if latency:
        argv.append('--latency')
    for k, v in headers.items():
        argv += ['-H', '%s: %s' % (k, v)]
    if pipeline:
        argv += ['-s', os.path.join(B.TOP, 'bench/wrk/pipeline.lua')]
    argv.append('http://127.0.0.1:%d%s' % (port, path))
    if pipeline:
        argv += ['--', str(pipeline)]
    return argv


class Nginx:
    def __init__(self, name, port, proc, workdir):
        self.name = name
        self.port = port
        self.proc = proc
        self.dir = workdir
        self.worker = B.wait_workers(proc.pid)[0]


def measure(ctx, ngx, path, headers, duration, pipeline=0):
    """One wrk run, with nginx's CPU time, Redis commands, provider
    requests and other processes' CPU time counted around it."""
    argv = wrk_argv(ctx.procs, ngx.port, path, headers, duration,
                    ctx.args.connections, latency=not pipeline,
                    pipeline=pipeline)
    redis0 = ctx.redis_commands()
    mock0 = B.mock_count(ctx.mock_port)
    ctx.background.start()
    t0 = B.cpu_ns(ngx.worker)
    us0 = B.user_sys_ticks(ngx.worker)
    out = subprocess.run(argv, capture_output=True, text=True,
                         timeout=duration + 60)
    t1 = B.cpu_ns(ngx.worker)
    us1 = B.user_sys_ticks(ngx.worker)
    others = ctx.background.stop()
    mock1 = B.mock_count(ctx.mock_port)
    redis1 = ctx.redis_commands()
    r = parse_wrk(out.stdout + out.stderr)
    if out.returncode != 0 or r['requests'] == 0:
        raise RuntimeError('wrk failed:\n' + out.stdout + out.stderr)
    n = r['requests']
    cpu_s = (t1 - t0) / 1e9
    r['cpu_us'] = cpu_s * 1e6 / n
    r['cpu_pct'] = 100.0 * cpu_s / (r['elapsed_ms'] / 1e3)
    r['others_pct'] = others
    u, k = us1[0] - us0[0], us1[1] - us0[1]
    r['kernel_pct'] = 100.0 * k / (u + k) if u + k else 0.0
    # the second INFO is counted too
    r['redis_per_req'] = max(0, redis1 - redis0 - 1) / n
    r['provider_per_req'] = (mock1 - mock0) / n
    return r


def measure_concurrent(ctx, jobs, duration):
    """Pipelined wrk runs against several nginx instances at once, one
    wrk each (all on LOAD_CPU); per instance: req/s, and the worker's CPU
    time per request over the same seconds."""
    a = ctx.args
    ctx.background.start()
    cpu0 = {k: B.cpu_ns(n.worker) for n, k, _, _ in jobs}
    us0 = {k: B.user_sys_ticks(n.worker) for n, k, _, _ in jobs}
    t0 = time.monotonic()
    ps = {}
    try:
        for n, k, path, headers in jobs:
            ps[k] = ctx.procs.start(
                wrk_argv(ctx.procs, n.port, path, headers, duration,
                         a.connections, latency=False, pipeline=a.pipeline),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        outs = {k: p.communicate(timeout=duration + 60)[0]
                for k, p in ps.items()}
    finally:
        for p in ps.values():
            ctx.procs.stop(p)
    elapsed = time.monotonic() - t0
    cpu1 = {k: B.cpu_ns(n.worker) for n, k, _, _ in jobs}
    us1 = {k: B.user_sys_ticks(n.worker) for n, k, _, _ in jobs}
    others = ctx.background.stop()
    res = {}
    for n, k, _, _ in jobs:
        r = parse_wrk(outs[k])
        if r['requests'] == 0:
            raise RuntimeError('wrk failed:\n' + outs[k])
        cpu_s = (cpu1[k] - cpu0[k]) / 1e9
        r['cpu_us'] = cpu_s * 1e6 / r['requests']
        r['cpu_pct'] = 100.0 * cpu_s / elapsed
        r['others_pct'] = others
        u, s_ = us1[k][0] - us0[k][0], us1[k][1] - us0[k][1]
        r['kernel_pct'] = 100.0 * s_ / (u + s_) if u + s_ else 0.0
        res[k] = r
    return res


def warm(ctx, ngx, path, headers):
    subprocess.run(wrk_argv(ctx.procs, ngx.port, path, headers,
                            ctx.args.warmup, ctx.args.connections,
                            latency=False),
                   capture_output=True, timeout=ctx.args.warmup + 60)


# ---------------------------------------------------------------- burst


async def burst(port, n, headers):
    conns = await asyncio.wait_for(asyncio.gather(*[
        asyncio.open_connection('127.0.0.1', port) for _ in range(n)]),
        timeout=30)
    req = ('GET /gated HTTP/1.1\r\nHost: bench\r\n'
           + ''.join('%s: %s\r\n' % kv for kv in headers.items())
           + 'Connection: close\r\n\r\n').encode()

    t0 = time.perf_counter()
    for _, w in conns:
        w.write(req)
    sent = time.perf_counter() - t0

    async def one(r, w):
        data = await r.read()
        t = time.perf_counter() - t0
        w.close()
        try:
            status = int(data.split(b' ', 2)[1])
        except (IndexError, ValueError):
            status = 0
        return t * 1e3, status

    # bounded: a gate that never answers fails the bench, it does not
    # hang it
    res = await asyncio.wait_for(
        asyncio.gather(*[one(r, w) for r, w in conns]), timeout=60)
    lat = sorted(t for t, _ in res)
    statuses = {}
    for _, s in res:
        statuses[s] = statuses.get(s, 0) + 1
    return {
        'n': n,
        'send_spread_ms': sent * 1e3,
        'p50': statistics.median(lat),
        'min': lat[0],
        'max': lat[-1],
        'statuses': statuses,
    }


def run_burst(ctx, ngx, user, sid):
    B.mock_reset(ctx.mock_port)
    r = asyncio.run(burst(ngx.port, ctx.args.burst, {'X-User-Id': user}))
    r['provider'] = B.mock_count(ctx.mock_port, sid)
    return r


# ------------------------------------------------------------- callgrind


def seq_requests(port, path, headers, n):
    """n requests, one after the other, on one keep-alive connection."""
    import http.client
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    bad = 0
    try:
        for _ in range(n):
            c.request('GET', path, headers=headers)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                bad += 1
    finally:
        c.close()
    if bad:
        raise RuntimeError('%d of %d requests to %s were not 200'
                           % (bad, n, path))


def callgrind_control(args, pid):
    r = subprocess.run(['callgrind_control'] + args + [str(pid)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or 'OK' not in r.stdout:
        raise RuntimeError('callgrind_control %s: %s%s'
                           % (' '.join(args), r.stdout, r.stderr))


def dump_totals(path):
    with open(path) as f:
        for line in f:
            if line.startswith('totals:') or line.startswith('summary:'):
                return int(line.split()[1])
    raise RuntimeError('no totals in ' + path)


def self_costs(path):
    """Exclusive Ir of a callgrind dump (callgrind_annotate): per function,
    keyed by "function (source file, or object where no source)", and per
    object (executable or library)."""
    r = subprocess.run(['callgrind_annotate', '--threshold=100', '--auto=no',
                        path], capture_output=True, text=True, timeout=120)
    costs, objs = {}, {}
    for line in r.stdout.splitlines():
        m = re.match(r'\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.+?)(?: \[(.*)\])?$',
                     line)
        if not m or m.group(2) == '100.0' or 'PROGRAM TOTALS' in line:
            continue
        ir = int(m.group(1).replace(',', ''))
        where = m.group(3)
        fn = where.rsplit(':', 1)[-1]
        src = where.rsplit(':', 1)[0] if ':' in where else '???'
        obj = os.path.basename(m.group(4) or '')
        if not obj:
            # callgrind_annotate leaves the object out where it knows the
            # source: the module's functions (and nginx's inline functions
            # in them), glibc's (built from "./...")
            if 'yoti_idv' in fn or 'yoti_idv' in src:
                obj = 'ngx_http_yoti_idv_module.so'
            elif src.startswith('./'):
                obj = 'libc.so.6'
            else:
                obj = '?'
        key = '%s (%s)' % (fn, obj if src == '???'
                           else os.path.basename(src))
        costs[key] = costs.get(key, 0) + ir
        objs[obj] = objs.get(obj, 0) + ir
    return costs, objs


def cost_diff(base_dump, gated_dump, n, top=10):
    """Where a gated request's extra instructions go: the functions whose
    exclusive Ir per request grew most over the baseline's, the rest, and
    the growth per object."""
    a, ao = self_costs(base_dump)
    b, bo = self_costs(gated_dump)
    diff = [(k, (b.get(k, 0) - a.get(k, 0)) / n) for k in set(a) | set(b)]
    diff.sort(key=lambda kv: -kv[1])
    total = (sum(b.values()) - sum(a.values())) / n
    shown = diff[:top]
    objs = [(k, (bo.get(k, 0) - ao.get(k, 0)) / n) for k in set(ao) | set(bo)]
    objs = [kv for kv in sorted(objs, key=lambda kv: -kv[1])
            if abs(kv[1]) >= 1]
    return shown, total - sum(v for _, v in shown), objs


def callgrind_case(ctx, variant, paths, metrics=False):
    """nginx in one process (master_process off) under callgrind:
    warm-up, zero the counters, n requests per path, one dump each."""
    name = 'cg-' + variant + ('-metrics' if metrics else '')
    port = B.free_port()
    d, conf = B.nginx_conf(ctx.work, name, port, variant, ctx.mock_port,
                           ctx.redis_port, ctx.args.module, single=True,
                           zone_args='%s:16m ttl=10m' % name,
                           metrics=metrics)
    out = '%s/callgrind.out' % d
    p = ctx.procs.start(
        ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
         ctx.args.nginx, '-p', d, '-c', conf],
        cpu=NGINX_CPU, stdout=subprocess.DEVNULL,
        stderr=open(d + '/logs/valgrind.log', 'w'))
    try:
        B.wait_port(port, timeout=120, proc=p)
        n = ctx.args.cg_requests
        for path, headers in paths.values():
            seq_requests(port, path, headers, 200)
        callgrind_control(['-z'], p.pid)
        res = {}
        for i, (label, (path, headers)) in enumerate(paths.items(), 1):
            seq_requests(port, path, headers, n)
            callgrind_control(['-d', label], p.pid)
            dump = '%s.%d' % (out, i)
            res[label] = {'ir': dump_totals(dump) / n, 'dump': dump}
        if metrics:
            # the counters did count: every zone hit of the run
            st, body = B.http_get(port, '/metrics')
            m = re.search(r'^nginx_yoti_idv_verdicts_total\{verdict="allow",'
                          r'layer="zone"\} (\d+)$', body.decode(), re.M)
            res['counted'] = int(m.group(1)) if st == 200 and m else None
    finally:
        ctx.procs.stop(p, timeout=60)
    return res


# ---------------------------------------------------------------- RSS


def rss_run(ctx, ngx):
    target = ctx.args.rss_requests
    # warm-up with the same load: connections and buffers allocated
    subprocess.run(wrk_argv(ctx.procs, ngx.port, '/gated', ALICE, 2,
                            ctx.args.connections, latency=False),
                   capture_output=True, timeout=60)
    before = {f: B.proc_status(ngx.worker, f)
              for f in ('VmRSS', 'RssAnon', 'RssShmem')}
    mock0 = B.mock_count(ctx.mock_port)
    redis0 = ctx.redis_commands()
    start = B.stub_requests(ngx.port)
    polls = 1
    t0 = time.monotonic()
    p = ctx.procs.start(wrk_argv(ctx.procs, ngx.port, '/gated', ALICE, 600,
                                 ctx.args.connections, latency=False),
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True)
    try:
        while True:
            time.sleep(0.2)
            polls += 1
            if B.stub_requests(ngx.port) - start - polls >= target:
                break
            if p.poll() is not None:
                raise RuntimeError('wrk ended early')
            if time.monotonic() - t0 > 300:
                raise RuntimeError('%d requests took more than 300 s'
                                   % target)
        os.kill(p.pid, signal.SIGINT)
        out, _ = p.communicate(timeout=30)
    finally:
        ctx.procs.stop(p)
    elapsed = time.monotonic() - t0
    served = B.stub_requests(ngx.port) - start - polls - 1
    time.sleep(0.5)
    after = {f: B.proc_status(ngx.worker, f)
             for f in ('VmRSS', 'RssAnon', 'RssShmem')}
    w = parse_wrk(out)
    return {'before': before, 'after': after, 'served': served,
            'elapsed': elapsed, 'non2xx': w['non2xx'],
            'sock_errors': w['sock_errors'],
            'provider': B.mock_count(ctx.mock_port) - mock0,
            'redis': max(0, ctx.redis_commands() - redis0 - 1)}


# --------------------------------------------------------------- report


def fmt_ms(v):
    if v is None:
        return 'n/a'
    if v < 1:
        return '%.0f us' % (v * 1e3)
    if v < 10:
        return '%.2f ms' % v
    return '%.1f ms' % v


def verdict(ok):
    return 'PASS' if ok else '**FAIL**'


def report(ctx, res):
    a = ctx.args
    sat, ka = res['sat'], res['ka']
    lines = []
    L = lines.append

    L('# Benchmark: ngx_http_yoti_idv_module')
    L('')
    L('`make bench`, one run, %s, module at %s. Method: '
      '[bench/README.md](../README.md).'
      % (time.strftime('%Y-%m-%d %H:%M %Z'), B.git_rev()))
    L('')
    L('## Results')
    L('')
    L('The "application" is `empty_gif` in every case, with and without '
      'the gate in front of it; every ratio is to case 1 of this run. '
      'nginx runs `worker_processes 1`%s.'
      % (', pinned to CPU %d; wrk, redis-server and the mock share CPU %d'
         % (NGINX_CPU, LOAD_CPU) if ctx.procs.pin else ' (not pinned)'))
    L('')
    L('- **saturated**: cases 1, 2, 2m and 3 at the same time, each on its '
      'own nginx, the four workers sharing CPU %d (about a quarter each), '
      'each loaded by its own wrk -t1 -c%d with %d requests pipelined per '
      'connection (bench/wrk/pipeline.lua), so that the workers, not wrk, '
      'are the bottleneck; %d rounds of %d s. Measured side by side, the '
      'cases see the same machine: a virtual machine\'s speed changes by '
      'up to 2x from one second to the next, and would otherwise decide '
      'the ratios.' % (NGINX_CPU, a.connections, a.pipeline, a.rounds,
                       a.sat_duration))
    L('- **CPU/req**: each worker\'s CPU time (user + system, '
      '/proc/<pid>/schedstat) divided by the requests it served, median of '
      'the rounds; *saturated req/s per CPU* = 1 / CPU/req, what one '
      'worker would serve with a whole CPU. **capacity** = CPU/req of '
      'case 1 / CPU/req of the case, in the same round: the throughput '
      'ratio of saturated workers; median of the rounds [min-max]. **The '
      'targets are judged on it.** *measured* = the ratio of the req/s '
      'wrk saw in the same round (the workers get equal CPU shares, so it '
      'agrees with capacity when they are saturated).')
    L('- **keep-alive**: wrk -t1 -c%d -d%ds --latency, one request at a '
      'time per connection, one case at a time: req/s (and its ratio), '
      'p50 and p99 latency; %d rounds per case, interleaved (1 2 3 4, '
      '4 3 2 1, ...), medians shown. wrk is often the bottleneck here. '
      'With %d '
      'connections in a closed loop, p50 is about %d / req/s. Every case '
      'had a %d s warm-up first.'
      % (a.connections, max(1, round(a.duration / a.ka_rounds)),
         a.ka_rounds, a.connections, a.connections, a.warmup))
    L('- **Redis/req**, **provider/req**: commands Redis processed and '
      'requests the mock IDV API received during the keep-alive run, per '
      'request: what each case really exercised.')
    L('')
    L('| # | case | saturated req/s per CPU | nginx CPU | CPU/req '
      '| capacity | measured | keep-alive req/s | ratio | p50 | p99 '
      '| Redis/req | provider/req | target | result |')
    L('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:'
      '|---|---|')

    rows = [
        ('1', 'ungated baseline `/open`', 'base', None),
        ('2', 'gated, verdict in the zone (zone + Redis)', 'zone', 0.90),
        ('2m', 'case 2 with a `yoti_idv_metrics` location: the counters '
         'on', 'zmetrics', None),
        ('3', 'gated, verdict in Redis only (no zone): one round trip',
         'redis', 0.50),
        ('4', 'gated, no cache: sign + fetch `%s` every request'
         % SLOW_SESSION, 'nocache', None),
        ('4b', 'gated 18+ (`yoti_idv_require_age`), no cache: sign + fetch '
         '`%s` and then its document fields (20 ms too) every request: '
         'two signed fetches' % SLOW_AGE_SESSION, 'age', None),
    ]

    def med(xs):
        return statistics.median(xs)

    def rng(xs, f):
        return '%s [%s-%s]' % (f(med(xs)), f(min(xs)), f(max(xs)))

    def n0(x):
        return '{:,.0f}'.format(x)

    def r3(x):
        return '%.3f' % x

    ctx.fails = []
    ctx.ratios = {}
    base_runs = sat['base']
    for num, title, key, target in rows:
        k = ka[key]
        kratio = k['ratio']
        errors = k['non2xx'] + k['sock_errors']
        if key in sat:
            runs = sat[key]
            errors += sum(r['non2xx'] + r['sock_errors'] for r in runs)
            cap = [b['cpu_us'] / r['cpu_us']
                   for b, r in zip(base_runs, runs)]
            mes = [r['rps'] / b['rps'] for b, r in zip(base_runs, runs)]
            ratio = med(cap)
            ctx.ratios[key] = (ratio, med(mes), min(cap), max(cap))
            cpu_us = med([r['cpu_us'] for r in runs])
            sat_cols = ' | '.join([
                n0(1e6 / cpu_us),
                '%.0f%%' % med([r['cpu_pct'] for r in runs]),
                '%.2f us' % cpu_us,
                '**%s**' % rng(cap, r3) if key != 'base' else '1',
                r3(med(mes)) if key != 'base' else '1'])
        else:
            ratio = None
            # the provider's delay bounds it: keep-alive figures only
            sat_cols = '- | %.0f%% | %.0f us | %.3f | -' % (
                k['cpu_pct'], k['cpu_us'], ka['base']['cpu_us'] / k['cpu_us'])
        if target is not None:
            ok = ratio >= target and errors == 0
            tgt = 'capacity >= %.2f' % target
            result = verdict(ok)
            if abs(ratio - target) < 0.02:
                result += ' (within 0.02 of the target)'
            if not ok:
                ctx.fails.append('case %s' % num)
        else:
            tgt, result = '', ''
            if errors:
                result = '**FAIL** (errors)'
                ctx.fails.append('case %s' % num)
        L('| %s | %s | %s | %s | %.3f | %s | %s | %.2f | %.2f | %s | %s |'
          % (num, title, sat_cols, n0(k['rps']), kratio,
             fmt_ms(k['p50']), fmt_ms(k['p99']), k['redis_per_req'],
             k['provider_per_req'], tgt, result))
        if errors:
            L('|   | ^ errors: non-2xx or socket errors: %d | | | | | | | | '
              '| | | | | | |' % errors)

    bz = res['burst']
    ok = bz['provider'] == 1 and bz['statuses'] == {200: bz['n']}
    if not ok:
        ctx.fails.append('case 5')
    L('| 5 | burst: %d concurrent first requests of one user, cold zone, '
      'provider `slow-300` | | | | | | | | %s | max %s | | %d in all '
      '| exactly 1 provider request | %s |'
      % (bz['n'], fmt_ms(bz['p50']), fmt_ms(bz['max']), bz['provider'],
         verdict(ok)))
    bn = res.get('burst_nozone')
    if bn:
        L('| 5b | the same burst without the zone (Redis only), for '
          'comparison | | | | | | | | %s | max %s | | %d in all | | |'
          % (fmt_ms(bn['p50']), fmt_ms(bn['max']), bn['provider']))
    L('')
    L('Burst (case 5): %d requests written on %d open connections within '
      '%.1f ms; answers: %s; p50 and max are from the first write to each '
      'answer (the provider takes 300 ms).'
      % (bz['n'], bz['n'], bz['send_spread_ms'],
         ', '.join('%s x%d' % kv for kv in sorted(bz['statuses'].items()))))
    if bn:
        L('Without the zone (5b): answers %s, %d provider requests.'
          % (', '.join('%s x%d' % kv for kv in sorted(bn['statuses'].items())),
             bn['provider']))
    L('')
    L('The nginx worker spent %.0f%% of its CPU time in the kernel in '
      'the saturated baseline runs, %.0f%% with a zone hit (socket reads '
      'and writes, epoll, loopback TCP; /proc/<pid>/stat).'
      % (statistics.median([r['kernel_pct'] for r in sat['base']]),
         statistics.median([r['kernel_pct'] for r in sat['zone']])))
    L('')
    others = [r['others_pct'] for rs in sat.values() for r in rs] + [
        r['others_pct'] for r in ka.values()]
    L('Other processes on the machine used %.0f%% of one CPU on average '
      'during the measured runs, %.0f%% at most%s.'
      % (statistics.mean(others), max(others),
         ' (**the run was disturbed**: the figures are less reliable than '
         'usual)' if max(others) > 5 else ''))
    L('')

    cg = res.get('callgrind')
    if cg:
        L('## Instructions per request (callgrind)')
        L('')
        L('nginx as one process (`master_process off`) under `valgrind '
          '--tool=callgrind`; after 200 warm-up requests per location the '
          'counters are zeroed, then %d requests are sent one after the '
          'other on one keep-alive connection and the counters dumped. '
          'Ir = instructions executed by nginx in user space (the kernel '
          'is not counted), divided by %d.'
          % (a.cg_requests, a.cg_requests))
        L('')
        L('| case | Ir/request | gate cost (- baseline) |')
        L('|---|---:|---:|')
        b = cg['zone']['open']['ir']
        L('| 1 ungated baseline | {:,.0f} | |'.format(b))
        L('| 2 gated, zone hit | {:,.0f} | +{:,.0f} ({:+.1f}%) |'.format(
            cg['zone']['gated']['ir'], cg['zone']['gated']['ir'] - b,
            100.0 * (cg['zone']['gated']['ir'] - b) / b))
        if 'zmetrics' in cg:
            z = cg['zone']['gated']['ir']
            zm = cg['zmetrics']['gated']['ir']
            L('| 2m gated, zone hit, counters on (its own nginx; baseline '
              'there {:,.0f}) | {:,.0f} | {:+,.0f} over case 2 ({:+.2f}%) '
              '|'.format(cg['zmetrics']['open']['ir'], zm, zm - z,
                         100.0 * (zm - z) / z))
        if 'redis' in cg:
            b3 = cg['redis']['open']['ir']
            L('| 3 gated, Redis hit (its own nginx; baseline there {:,.0f}) '
              '| {:,.0f} | +{:,.0f} ({:+.1f}%) |'.format(
                  b3, cg['redis']['gated']['ir'],
                  cg['redis']['gated']['ir'] - b3,
                  100.0 * (cg['redis']['gated']['ir'] - b3) / b3))
        L('')
        if 'zmetrics' in cg:
            L('Case 2m counted %s zone-hit `allow` verdicts in its own '
              '`/metrics` after the run (%d warm-up and %d measured '
              'requests to `/gated`); cases 1-3 have a `location = '
              '/metrics { return 204; }` instead, so that the location '
              'trees are the same.' % (
                  '{:,}'.format(cg['zmetrics']['counted'])
                  if cg['zmetrics'].get('counted') is not None else 'no',
                  200, a.cg_requests))
            L('')
        for v, title in (('zone', 'case 2, zone hit'),
                         ('zmetrics', 'case 2m over case 2 (the baseline '
                          'here is case 2\'s zone hit): the counters'),
                         ('redis', 'case 3, Redis hit')):
            if v not in cg:
                continue
            shown, rest, objs = cg[v]['diff']
            L('Where the gate\'s instructions go, %s: per object, and the '
              'functions whose own (exclusive) Ir per request grew most over '
              'the baseline (callgrind_annotate of both dumps; `0x...` are '
              'static functions of Debian\'s nginx binary, which has no '
              'symbols for them):' % title)
            L('')
            L('| object | +Ir/request |')
            L('|---|---:|')
            for obj, ir in objs:
                L('| %s | %s |' % (obj, '{:+,.0f}'.format(ir)))
            L('')
            L('| function (source file or object) | +Ir/request |')
            L('|---|---:|')
            for fn, ir in shown:
                L('| `%s` | %s |' % (fn, '{:+,.0f}'.format(ir)))
            L('| everything else | %s |' % '{:+,.0f}'.format(rest))
            L('')

    rss = res['rss']
    delta = rss['after']['VmRSS'] - rss['before']['VmRSS']
    ok = (abs(delta) <= 512 and rss['non2xx'] == 0
          and rss['served'] >= a.rss_requests)
    if not ok:
        ctx.fails.append('RSS')
    L('## Worker memory over %s gated requests (zone hits)'
      % '{:,}'.format(a.rss_requests))
    L('')
    L('| | VmRSS | RssAnon | RssShmem |')
    L('|---|---:|---:|---:|')
    for k in ('before', 'after'):
        L('| %s | %d kB | %d kB | %d kB |' % (
            k, rss[k]['VmRSS'], rss[k]['RssAnon'], rss[k]['RssShmem']))
    L('| delta | %+d kB | %+d kB | %+d kB |' % tuple(
        rss['after'][f] - rss['before'][f]
        for f in ('VmRSS', 'RssAnon', 'RssShmem')))
    L('')
    L('%s requests served in %.1f s (nginx stub_status), non-2xx %d, '
      'socket errors %d, provider requests %d, Redis commands %d. '
      'Target: VmRSS delta within 512 kB: %s.'
      % ('{:,}'.format(rss['served']), rss['elapsed'], rss['non2xx'],
         rss['sock_errors'], rss['provider'], rss['redis'], verdict(ok)))
    L('')

    bad = [h for h in res['health']
           if not h['same_worker'] or h['crashes'] or h['alerts']]
    if bad:
        ctx.fails.append('nginx health')
    L('nginx: %s. Error log lines at [error]: %s.' % (
        'every worker ran from start to end, no "exited on signal", no '
        '[alert], [crit] or [emerg]' if not bad else '**FAIL**: %s' % bad,
        ', '.join('%s %d' % (h['name'], h['errors'])
                  for h in res['health'])))
    L('')

    L('## Targets')
    L('')
    L('- zone hit >= 0.90 of baseline throughput: %s (capacity %.3f '
      '[%.3f-%.3f], measured %.3f; callgrind: %s instructions per '
      'request)' % (verdict('case 2' not in ctx.fails),
                    ctx.ratios['zone'][0], ctx.ratios['zone'][2],
                    ctx.ratios['zone'][3], ctx.ratios['zone'][1],
                    '{:+,.0f}'.format(res['callgrind']['zone']['gated']['ir']
                                      - res['callgrind']['zone']['open']['ir'])
                    if res.get('callgrind') else 'not run'))
    if 'zmetrics' in ctx.ratios:
        cm = [z['cpu_us'] / m['cpu_us']
              for z, m in zip(sat['zone'], sat['zmetrics'])]
        cg = res.get('callgrind')
        ir = None
        if cg and 'zmetrics' in cg:
            ir = (cg['zmetrics']['gated']['ir'] - cg['zone']['gated']['ir']) \
                 / cg['zone']['gated']['ir']
        ok = ir < 0.02 if ir is not None else statistics.median(cm) >= 0.98
        if not ok:
            ctx.fails.append('case 2m')
        L('- the counters (case 2m) cost a zone hit under 2%%: %s '
          '(callgrind: %s Ir/request; capacity of 2m over 2 in the same '
          'rounds %.3f [%.3f-%.3f], judged on callgrind, which the '
          'machine\'s load does not move)'
          % (verdict(ok), '%+.2f%%' % (100.0 * ir) if ir is not None
             else 'not run', statistics.median(cm), min(cm), max(cm)))
    L('- Redis-only hit >= 0.50 of baseline throughput: %s (capacity %.3f '
      '[%.3f-%.3f], measured %.3f)'
      % (verdict('case 3' not in ctx.fails), ctx.ratios['redis'][0],
         ctx.ratios['redis'][2], ctx.ratios['redis'][3],
         ctx.ratios['redis'][1]))
    L('- burst of %d -> exactly 1 provider request: %s'
      % (a.burst, verdict('case 5' not in ctx.fails)))
    L('- worker RSS flat over %s zone hits: %s'
      % ('{:,}'.format(a.rss_requests), verdict('RSS' not in ctx.fails)))
    L('')

    L('## Machine')
    L('')
    for k, v in B.machine():
        L('- %s: %s' % (k, v.replace('\n', '; ')))
    L('- CPU pinning: %s' % (
        'nginx on CPU %d; wrk, redis-server and the mock on CPU %d '
        '(taskset)' % (NGINX_CPU, LOAD_CPU) if ctx.procs.pin
        else 'none (fewer than 2 CPUs or no taskset)'))
    L('')
    return '\n'.join(lines)


# ------------------------------------------------------------------ main


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--module', required=True)
    ap.add_argument('--nginx', default='/usr/sbin/nginx')
    ap.add_argument('--out', default=os.path.join(B.TOP,
                                                  'bench/results/latest.md'))
    ap.add_argument('--duration', type=int, default=12,
                    help='seconds of keep-alive (latency) load per case, '
                    'split into --ka-rounds runs')
    ap.add_argument('--ka-rounds', type=int, default=3)
    ap.add_argument('--sat-duration', type=int, default=4,
                    help='seconds of each pipelined (saturation) run')
    ap.add_argument('--rounds', type=int, default=6)
    ap.add_argument('--pipeline', type=int, default=16)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--connections', type=int, default=32)
    ap.add_argument('--burst', type=int, default=200)
    ap.add_argument('--cg-requests', type=int, default=2000)
    ap.add_argument('--rss-requests', type=int, default=1000000)
    ap.add_argument('--no-callgrind', action='store_true')
    ap.add_argument('--wait-quiet', type=int, default=0, metavar='SECONDS',
                    help='first wait up to SECONDS for other processes to '
                    'use less than 5%% of a CPU')
    a = ap.parse_args()
    a.module = os.path.abspath(a.module)

    B.install_signal_handlers()

    ctx = Ctx()
    ctx.args = a
    ncpu = len(os.sched_getaffinity(0))
    ctx.procs = B.Procs(ncpu)
    ctx.background = B.Background()
    ctx.work = B.make_work('yoti-idv-bench.')
    os.chmod(ctx.work, 0o755)
    os.makedirs(ctx.work + '/logs')
    t_start = time.monotonic()
    keep = os.environ.get('BENCH_KEEP')

    try:
        res = run(ctx)
    finally:
        ctx.procs.stop_all()
        if keep:
            B.log('bench: kept %s' % ctx.work)
        else:
            subprocess.run(['rm', '-rf', ctx.work])

    text = report(ctx, res)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        f.write(text)
    print(text)
    print('bench: written to %s in %.0f s' % (
        os.path.relpath(a.out, os.getcwd()), time.monotonic() - t_start))
    if ctx.fails:
        print('bench: FAIL: %s (see above)' % ', '.join(ctx.fails))
    return 0


def run(ctx):
    a = ctx.args
    procs = ctx.procs
    work = ctx.work

    B.wait_quiet(a.wait_quiet, 'bench')

    B.write_sessions(work, ['alice', 'burst1', 'burst2'])
    B.write_age_session(work, 'age-alice', 20, '1990-01-01')

    ctx.redis_port = B.free_port()
    redis = procs.start(B.redis_argv(ctx.redis_port, work), cpu=LOAD_CPU)
    ctx.mock_port = B.free_port()
    mock = B.start_mock(procs, ctx.mock_port, work, LOAD_CPU)
    B.wait_port(ctx.redis_port, proc=redis)
    B.wait_port(ctx.mock_port, proc=mock)

    rc = B.Redis(ctx.redis_port)
    rc.cmd('SET', B.PREFIX + 'user:alice', 'verified-alice')
    rc.cmd('SET', B.PREFIX + 'user:burst1', 'slow-300-verified-burst1')
    rc.cmd('SET', B.PREFIX + 'user:burst2', 'slow-300-verified-burst2')

    def redis_commands():
        info = rc.cmd('INFO', 'stats')
        m = re.search(r'total_commands_processed:(\d+)', info)
        return int(m.group(1))
    ctx.redis_commands = redis_commands

    # one nginx per case: the concurrent runs tell the cases apart by
    # the worker's CPU time; case 1's has the zone configuration too
    ngx = {}
    # case 2m is case 2 with yoti_idv_metrics: the counters on
    for name, variant in (('base', 'zone'), ('zone', 'zone'),
                          ('zmetrics', 'zone'),
                          ('redis', 'redis'), ('nocache', 'none'),
                          ('age', 'none')):
        port = B.free_port()
        d, conf = B.nginx_conf(work, 'nginx-' + name, port, variant,
                               ctx.mock_port, ctx.redis_port, a.module,
                               zone_args='%s:16m ttl=10m' % name,
                               metrics=(name == 'zmetrics'))
        r = subprocess.run([a.nginx, '-p', d, '-c', conf, '-t', '-q'],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError('nginx -t: ' + r.stdout + r.stderr)
        p = procs.start([a.nginx, '-p', d, '-c', conf], cpu=NGINX_CPU)
        B.wait_port(port, proc=p)
        ngx[name] = Nginx(name, port, p, d)

    res = {'sat': {}, 'ka': {}}
    cases = (('base', '/open', ALICE),
             ('zone', '/gated', ALICE),
             ('zmetrics', '/gated', ALICE),
             ('redis', '/gated', ALICE),
             ('nocache', '/gated', NOCACHE),
             ('age', '/gated-age', NOCACHE_AGE))

    # every case answers 200 before anything is measured
    for key, path, headers in cases:
        st, _ = B.http_get(ngx[key].port, path, headers)
        if st != 200:
            raise RuntimeError('%s %s answered %d' % (key, path, st))

    for key, path, headers in cases:
        warm(ctx, ngx[key], path, headers)

    # throughput at saturation: cases 1, 2, 2m and 3 at the same time,
    # their nginx workers sharing CPU 0, so that the machine's changes of
    # speed hit them alike
    runs = {}
    for i in range(a.rounds):
        rr = measure_concurrent(ctx, [(ngx[k], k, path, headers)
                                      for k, path, headers in cases[:4]],
                                a.sat_duration)
        for k, r in rr.items():
            runs.setdefault(k, []).append(r)
        B.log('bench: round %d: %s; CPU 0 %.0f%% busy, others %.0f%%'
              % (i + 1, ', '.join('%s %.0f req/s %.2f us/req' % (
                  k, r['rps'], r['cpu_us']) for k, r in rr.items()),
                 sum(r['cpu_pct'] for r in rr.values()),
                 rr['base']['others_pct']))
    res['sat'] = runs

    # latency: keep-alive, no pipelining, --duration split into
    # interleaved rounds too
    ka_runs = {}
    n = a.ka_rounds
    for i in range(n):
        order = cases if i % 2 == 0 else cases[::-1]
        for key, path, headers in order:
            r = measure(ctx, ngx[key], path, headers,
                        max(1, round(a.duration / n)))
            ka_runs.setdefault(key, []).append(r)
            B.log('bench: keep-alive %d %-7s %8.0f req/s, p50 %s, p99 %s, '
                  'nginx %3.0f%% CPU, %.2f us/req, others %.0f%%'
                  % (i + 1, key, r['rps'], fmt_ms(r['p50']),
                     fmt_ms(r['p99']), r['cpu_pct'], r['cpu_us'],
                     r['others_pct']))
    res['ka_runs'] = ka_runs
    for key, runs in ka_runs.items():
        m = {}
        for f in ('rps', 'p50', 'p99', 'cpu_pct', 'cpu_us',
                  'redis_per_req', 'provider_per_req'):
            m[f] = statistics.median(r[f] for r in runs)
        for f in ('non2xx', 'sock_errors'):
            m[f] = sum(r[f] for r in runs)
        m['ratio'] = statistics.median(
            r['rps'] / b['rps'] for b, r in zip(ka_runs['base'], runs))
        m['others_pct'] = max(r['others_pct'] for r in runs)
        res['ka'][key] = m

    B.log('bench: burst of %d' % a.burst)
    res['burst'] = run_burst(ctx, ngx['zone'], 'burst1',
                             'slow-300-verified-burst1')
    res['burst_nozone'] = run_burst(ctx, ngx['redis'], 'burst2',
                                    'slow-300-verified-burst2')

    B.log('bench: RSS over %d requests' % a.rss_requests)
    res['rss'] = rss_run(ctx, ngx['zone'])

    # nothing crashed, nothing alarming was logged
    res['health'] = []
    for n in ngx.values():
        workers = B.nginx_workers(n.proc.pid)
        with open(n.dir + '/logs/error.log', errors='replace') as f:
            log = f.read()
        res['health'].append({
            'name': n.name,
            'same_worker': n.proc.poll() is None and workers == [n.worker],
            'crashes': log.count('exited on signal'),
            'alerts': len(re.findall(r'\[(alert|crit|emerg)\]', log)),
            'errors': log.count('[error]')})
        procs.stop(n.proc)

    if not a.no_callgrind:
        B.log('bench: callgrind')
        cg = {}
        paths = {'open': ('/open', ALICE), 'gated': ('/gated', ALICE)}
        cg['zone'] = callgrind_case(ctx, 'zone', paths)
        cg['zmetrics'] = callgrind_case(ctx, 'zone', paths, metrics=True)
        cg['redis'] = callgrind_case(ctx, 'redis', paths)
        for v in ('zone', 'redis'):
            cg[v]['diff'] = cost_diff(cg[v]['open']['dump'],
                                      cg[v]['gated']['dump'], a.cg_requests)
        cg['zmetrics']['diff'] = cost_diff(cg['zone']['gated']['dump'],
                                           cg['zmetrics']['gated']['dump'],
                                           a.cg_requests)
        res['callgrind'] = cg

    return res


if __name__ == '__main__':
    sys.exit(main())
