#!/usr/bin/python3
"""`make bench`, the zone at many users (issue 11): zone hits for one user,
for N users (uniform and Zipf-like), two workers with one hot user, the
table's capacity, probe lengths and cost under churn, and callgrind's
Ir/request for one user and for many.

    /usr/bin/python3 bench/zone_users.py --module build/ngx_http_yoti_idv_module.so
        [--users 100000] [--large] [--out bench/results/zone-users.md]

--large makes it 1,000,000 users (a 160m zone, 2M Redis keys, about two
minutes more).  --shmem-huge sets the kernel's transparent huge pages for
shared memory (/sys/kernel/mm/transparent_hugepage/shmem_enabled) to
"advise" for the run and puts the old value back at the end (root only):
what the zone's MADV_HUGEPAGE gets on a machine configured for it.  The users are filled directly: their mapping and verdict
are written to Redis with pipelined MSETs, then one request per user (a
zone miss, a Redis hit) fills the zone; during the measured runs Redis is
not asked (the Redis/req column shows it).  Method and caveats:
bench/README.md.
"""

import argparse
import asyncio
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as B  # noqa: E402
import bench as BB  # noqa: E402


NGINX_CPU = 0
LOAD_CPU = 1
LUA = os.path.join(B.TOP, 'bench/wrk/zone_users.lua')


class Nginx:
    def __init__(self, name, port, proc, workdir, nworkers):
        self.name = name
        self.port = port
        self.proc = proc
        self.dir = workdir
        self.workers = B.wait_workers(proc.pid, nworkers)


SHMEM_ENABLED = '/sys/kernel/mm/transparent_hugepage/shmem_enabled'


def shmem_enabled():
    """the kernel's setting, the bracketed word, or None"""
    try:
        with open(SHMEM_ENABLED) as f:
            m = re.search(r'\[(\w+)\]', f.read())
    except OSError:
        return None
    return m.group(1) if m else None


def set_shmem_enabled(value):
    with open(SHMEM_ENABLED, 'w') as f:
        f.write(value)


def shmem_huge_kb(ngx):
    """huge pages the worker maps of shared memory: the zone's"""
    try:
        with open('/proc/%d/smaps_rollup' % ngx.workers[0]) as f:
            m = re.search(r'^ShmemPmdMapped:\s+(\d+) kB', f.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def cpu(ngx):
    return sum(B.cpu_ns(w) for w in ngx.workers)


def start_nginx(ctx, name, zone_mb, workers=1, pin=True, access=False):
    """access: /open with nginx's allow/deny before its empty_gif (the
    same location tree as the others, one access-phase check more)"""
    a = ctx.args
    port = B.free_port()
    d, conf = B.nginx_conf(ctx.work, 'nginx-' + name, port, 'zone',
                           ctx.mock_port, ctx.redis_port, a.module,
                           zone_args='%s:%dm ttl=10m' % (name, zone_mb))
    with open(conf) as f:
        text = f.read()
    text = text.replace('worker_processes 1;',
                        'worker_processes %d;' % workers)
    if access:
        old = 'location = /open {\n'
        assert old in text
        text = text.replace(old, old + '            allow 127.0.0.1;\n'
                                 '            deny all;\n')
    with open(conf, 'w') as f:
        f.write(text)
    p = ctx.procs.start([a.nginx, '-p', d, '-c', conf],
                        cpu=NGINX_CPU if pin else None)
    B.wait_port(port, proc=p)
    return Nginx(name, port, p, d, workers)


def zone_entries(ngx):
    with open(ngx.dir + '/logs/error.log', errors='replace') as f:
        m = re.search(r'yoti_idv_cache_zone "%s": (\d+) entries' % ngx.name,
                      f.read())
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------- fill


def redis_fill(port, users, fp_prefix, value):
    """user:u<i> -> verified-alice and the verdict of u<i>, pipelined."""
    s = socket.create_connection(('127.0.0.1', port), 30)
    rf = s.makefile('rb')
    per, pending = 500, 0

    def cmd(args):
        out = [b'*%d\r\n' % len(args)]
        for x in args:
            out.append(b'$%d\r\n%s\r\n' % (len(x), x))
        return b''.join(out)

    buf = []
    for start in range(0, users, per):
        args = [b'MSET']
        for i in range(start, min(users, start + per)):
            u = b'u%d' % i
            args += [B.PREFIX.encode() + b'user:' + u, b'verified-alice',
                     fp_prefix + u, value]
        buf.append(cmd(args))
        pending += 1
        if len(buf) == 20:
            s.sendall(b''.join(buf))
            buf = []
            while pending:
                if not rf.readline().startswith(b'+OK'):
                    raise RuntimeError('redis: MSET failed')
                pending -= 1
    if buf:
        s.sendall(b''.join(buf))
    while pending:
        if not rf.readline().startswith(b'+OK'):
            raise RuntimeError('redis: MSET failed')
        pending -= 1
    s.close()


async def warm_users(port, users, conns=16, depth=32):
    """One request per user u0 .. u<users-1>, pipelined; the statuses."""
    statuses = {}

    async def one(ids):
        r = w = None
        for i in range(0, len(ids), depth):
            # nginx closes a connection after keepalive_requests (1000)
            if i % 512 == 0:
                if w:
                    w.close()
                r, w = await asyncio.open_connection('127.0.0.1', port)
            part = ids[i:i + depth]
            w.write(b''.join(b'GET /gated HTTP/1.1\r\nHost: bench\r\n'
                             b'X-User-Id: u%d\r\n\r\n' % u for u in part))
            await w.drain()
            for _ in part:
                hdr = await r.readuntil(b'\r\n\r\n')
                m = re.search(rb'content-length: *(\d+)', hdr, re.I)
                if m:
                    await r.readexactly(int(m.group(1)))
                st = int(hdr.split(b' ', 2)[1])
                statuses[st] = statuses.get(st, 0) + 1
        if w:
            w.close()

    ids = list(range(users))
    await asyncio.gather(*[one(ids[k::conns]) for k in range(conns)])
    return statuses


# ------------------------------------------------------------ measuring


def concurrent(ctx, jobs, duration):
    """jobs: (key, ngx, path, users, mode); wrk each, at the same time."""
    a = ctx.args
    ctx.background.start()
    c0 = {k: cpu(n) for k, n, _, _, _ in jobs}
    red0 = ctx.redis_commands()
    t0 = time.monotonic()
    ps = {}
    try:
        for k, n, path, users, mode in jobs:
            argv = ctx.procs.cpu_prefix(LOAD_CPU) + [
                'wrk', '-t1', '-c%d' % a.connections, '-d%ds' % duration,
                '--timeout', '10s', '-s', LUA,
                'http://127.0.0.1:%d%s' % (n.port, path), '--',
                str(a.pipeline), str(users), mode]
            ps[k] = ctx.procs.start(argv, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
        outs = {k: p.communicate(timeout=duration + 60)[0]
                for k, p in ps.items()}
    finally:
        for p in ps.values():
            ctx.procs.stop(p)
    elapsed = time.monotonic() - t0
    red1 = ctx.redis_commands()
    others = ctx.background.stop()
    res = {}
    total = 0
    for k, n, _, _, _ in jobs:
        r = BB.parse_wrk(outs[k])
        if r['requests'] == 0:
            raise RuntimeError('wrk failed:\n' + outs[k])
        r['cpu_us'] = (cpu(n) - c0[k]) / 1e3 / r['requests']
        r['others_pct'] = others
        r['elapsed'] = elapsed
        res[k] = r
        total += r['requests']
    for r in res.values():
        r['redis_per_req'] = max(0, red1 - red0 - 1) / total
    return res


def seq(port, path, users, n, mode):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    import random
    rnd = random.Random(11)
    bad = 0
    try:
        for _ in range(n):
            u = 'alice' if mode == 'one' else 'u%d' % rnd.randrange(users)
            c.request('GET', path, headers={'X-User-Id': u})
            r = c.getresponse()
            r.read()
            bad += r.status != 200
    finally:
        c.close()
    if bad:
        raise RuntimeError('%d of %d requests were not 200' % (bad, n))


def callgrind(ctx, users, zone_mb):
    a = ctx.args
    port = B.free_port()
    d, conf = B.nginx_conf(ctx.work, 'cg-users', port, 'zone', ctx.mock_port,
                           ctx.redis_port, a.module,
                           zone_args='cg:%dm ttl=10m' % zone_mb, single=True)
    out = '%s/callgrind.out' % d
    p = ctx.procs.start(
        ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out]
        + os.environ.get('ZONE_CALLGRIND_ARGS', '').split()
        + [a.nginx, '-p', d, '-c', conf],
        cpu=NGINX_CPU, stdout=subprocess.DEVNULL,
        stderr=open(d + '/logs/valgrind.log', 'w'))
    res = {}
    try:
        B.wait_port(port, timeout=120, proc=p)
        seq(port, '/open', 1, 200, 'one')
        seq(port, '/gated', 1, 200, 'one')
        st = asyncio.run(warm_users(port, users, conns=4, depth=32))
        if set(st) != {200}:
            raise RuntimeError('callgrind warm-up: %r' % st)
        BB.callgrind_control(['-z'], p.pid)
        n = a.cg_requests
        for i, (label, path, mode) in enumerate((
                ('open', '/open', 'one'), ('one', '/gated', 'one'),
                ('users', '/gated', 'uniform')), 1):
            seq(port, path, users, n, mode)
            BB.callgrind_control(['-d', label], p.pid)
            dump = '%s.%d' % (out, i)
            res[label] = {'ir': BB.dump_totals(dump) / n, 'dump': dump}
        res['diff_one'] = BB.cost_diff(res['open']['dump'],
                                       res['one']['dump'], n, top=8)
        res['diff_users'] = BB.cost_diff(res['open']['dump'],
                                         res['users']['dump'], n, top=8)
    finally:
        ctx.procs.stop(p, timeout=60)
    return res


def zone_table(ctx, mb):
    exe = ctx.work + '/zone_table'
    src = os.path.join(B.TOP, 'ngx_http_yoti_idv_module')
    subprocess.run(['cc', '-O2', '-std=c99', '-I' + src, '-o', exe,
                    os.path.join(B.TOP, 'bench/zone_table.c'),
                    src + '/ngx_yoti_idv_zone.c', '-lm'], check=True)
    out = subprocess.run(
        B.Procs(2).cpu_prefix(NGINX_CPU) + [exe, str(mb)],
        capture_output=True, text=True, check=True, timeout=600).stdout
    r = {}
    for line in out.splitlines():
        k, _, v = line.partition(' ')
        r[k] = v
    return r


# -------------------------------------------------------------- report


class Ctx:
    fails = []


def run(ctx):
    a = ctx.args
    procs = ctx.procs
    n = 1000000 if a.large else a.users
    zone_mb = max(16, int(n * 1.05 / 8000) + 1)

    B.wait_quiet(a.wait_quiet, 'zone bench')
    B.write_sessions(ctx.work, ['alice'])

    ctx.redis_port = B.free_port()
    redis = procs.start(B.redis_argv(ctx.redis_port, ctx.work), cpu=LOAD_CPU)
    ctx.mock_port = B.free_port()
    mock = B.start_mock(procs, ctx.mock_port, ctx.work, LOAD_CPU)
    B.wait_port(ctx.redis_port, proc=redis)
    B.wait_port(ctx.mock_port, proc=mock)

    rc = B.Redis(ctx.redis_port)
    rc.cmd('SET', B.PREFIX + 'user:alice', 'verified-alice')

    def redis_commands():
        m = re.search(r'total_commands_processed:(\d+)',
                      rc.cmd('INFO', 'stats'))
        return int(m.group(1))
    ctx.redis_commands = redis_commands

    ngx = {}
    ngx['base'] = start_nginx(ctx, 'base', 16)
    ngx['one'] = start_nginx(ctx, 'one', 16)
    ngx['uni'] = start_nginx(ctx, 'uni', zone_mb)
    ngx['zipf'] = start_nginx(ctx, 'zipf', zone_mb)

    # alice's verdict, from the provider, gives the key and the value
    st, _ = B.http_get(ngx['one'].port, '/gated', {'X-User-Id': 'alice'})
    if st != 200:
        raise RuntimeError('/gated answered %d' % st)
    keys = [k for k in rc.cmd('KEYS', B.PREFIX + 'verdict:*')
            if k.endswith(':user:alice')]
    value = rc.cmd('GET', keys[0])
    fp_prefix = keys[0][:-len('alice')].encode()

    t = time.monotonic()
    redis_fill(ctx.redis_port, n, fp_prefix, value.encode())
    B.log('zone bench: %d users written to Redis in %.1f s'
          % (n, time.monotonic() - t))

    for k in ('uni', 'zipf'):
        t = time.monotonic()
        st = asyncio.run(warm_users(ngx[k].port, n))
        B.log('zone bench: %s: %d users into the zone in %.1f s: %r'
              % (k, n, time.monotonic() - t, st))
        if set(st) != {200}:
            raise RuntimeError('warm-up: %r' % st)
    for k in ('base', 'one'):
        BB.subprocess.run(BB.wrk_argv(procs, ngx[k].port,
                                      '/open' if k == 'base' else '/gated',
                                      {'X-User-Id': 'alice'}, 2,
                                      a.connections, latency=False),
                          capture_output=True, timeout=60)

    res = {'n': n, 'zone_mb': zone_mb, 'rounds': []}
    for i in range(a.rounds):
        rr = concurrent(ctx, [('base', ngx['base'], '/open', n, 'uniform'),
                              ('one', ngx['one'], '/gated', 1, 'one'),
                              ('uni', ngx['uni'], '/gated', n, 'uniform'),
                              ('zipf', ngx['zipf'], '/gated', n, 'zipf')],
                        a.sat_duration)
        res['rounds'].append(rr)
        B.log('zone bench: round %d: %s; others %.0f%%, Redis/req %.3f'
              % (i + 1, ', '.join('%s %.2f us/req' % (k, r['cpu_us'])
                                  for k, r in rr.items()),
                 rr['base']['others_pct'], rr['base']['redis_per_req']))

    res['entries_16m'] = zone_entries(ngx['one'])
    res['entries_big'] = zone_entries(ngx['uni'])
    res['huge_kb'] = {k: shmem_huge_kb(ngx[k]) for k in ('uni', 'zipf')}
    for k in ('uni', 'zipf'):
        procs.stop(ngx[k].proc)

    # the same 1-user hits beside light neighbours: a second ungated
    # instance (the method's noise floor) and nginx's own allow/deny
    ngx['base2'] = start_nginx(ctx, 'base2', 16)
    ngx['access'] = start_nginx(ctx, 'access', 16, access=True)
    res['reference'] = []
    for i in range(a.rounds):
        rr = concurrent(ctx, [('base', ngx['base'], '/open', 1, 'one'),
                              ('base2', ngx['base2'], '/open', 1, 'one'),
                              ('access', ngx['access'], '/open', 1, 'one'),
                              ('one', ngx['one'], '/gated', 1, 'one')],
                        a.sat_duration)
        res['reference'].append(rr)
        B.log('zone bench: reference round %d: %s'
              % (i + 1, ', '.join('%s %.2f us/req' % (k, r['cpu_us'])
                                  for k, r in rr.items())))
    for k in list(ngx):
        procs.stop(ngx[k].proc)

    # two workers, one hot user, against one worker: pairs side by side
    w1 = {'base': start_nginx(ctx, 'base1', 16),
          'one': start_nginx(ctx, 'one1', 16)}
    w2 = {'base': start_nginx(ctx, 'base2', 16, workers=2, pin=False),
          'one': start_nginx(ctx, 'one2', 16, workers=2, pin=False)}
    for g in (w1, w2):
        B.http_get(g['one'].port, '/gated', {'X-User-Id': 'alice'})
    res['workers'] = []
    for i in range(a.rounds):
        r = {}
        for label, g in (('1', w1), ('2', w2)):
            rr = concurrent(ctx, [('base', g['base'], '/open', 1, 'one'),
                                  ('one', g['one'], '/gated', 1, 'one')],
                            a.sat_duration)
            r[label] = rr['one']['cpu_us'] - rr['base']['cpu_us']
        res['workers'].append(r)
        B.log('zone bench: workers round %d: gate cost 1 worker %.2f us, '
              '2 workers %.2f us' % (i + 1, r['1'], r['2']))
    for g in (w1, w2):
        for x in g.values():
            procs.stop(x.proc)

    B.log('zone bench: the table alone')
    res['table'] = zone_table(ctx, zone_mb)

    if not a.no_callgrind:
        B.log('zone bench: callgrind, 1 user and %d users' % a.cg_users)
        res['cg'] = callgrind(ctx, a.cg_users,
                              max(16, int(a.cg_users * 1.05 / 8000) + 1))
    return res


def report(ctx, res):
    a = ctx.args
    n = res['n']
    rounds = res['rounds']

    def cap(k):
        v = [r['base']['cpu_us'] / r[k]['cpu_us'] for r in rounds]
        return statistics.median(v), min(v), max(v)

    def mark(ok, name):
        if not ok:
            ctx.fails.append(name)
        return 'PASS' if ok else '**FAIL**'

    one, uni, zipf = cap('one'), cap('uni'), cap('zipf')
    others = max(r['base']['others_pct'] for r in rounds)
    redis = max(r['base']['redis_per_req'] for r in rounds)
    wr = [r['2'] / r['1'] for r in res['workers'] if r['1'] > 0]
    wratio = statistics.median(wr) if wr else float('nan')
    t = res['table']
    per_mib = res['entries_16m'] / 16 if res['entries_16m'] else 0
    half = float(t['ns_half_hit'].split()[0])
    churn = float(t['ns_churn_hit'].split()[0])

    L = []
    L.append('# Benchmark: the zone at many users\n')
    L.append('`bench/zone_users.py`%s, one run, %s, module at %s. Method: '
             '[bench/README.md](../README.md#the-zone-at-many-users).\n'
             % ((' --large' if a.large else '')
                + (' --shmem-huge' if a.shmem_huge else ''),
                time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
                B.git_rev()))
    L.append('Other processes used up to %.0f%% of one CPU during the '
             'measured runs%s.\n' % (others, ' (**disturbed**: the figures '
                                     'are noisy, rerun on a quiet machine)'
                                     if others > 5 else ''))
    L.append('| case | measured | target | result |')
    L.append('|---|---:|---|---|')
    L.append('| zone hit, 1 user | %.3f [%.3f-%.3f] of ungated | >= 0.97 | %s |'
             % (one + (mark(one[0] >= 0.97, '1 user'),)))
    ok = uni[0] >= 0.90 and uni[0] >= 0.95 * one[0]
    L.append('| zone hit, %s distinct users, uniform | %.3f [%.3f-%.3f] '
             '(%.1f%% below 1 user) | >= 0.90, within 5%% of 1 user | %s |'
             % ('{:,}'.format(n), uni[0], uni[1], uni[2],
                100 * (1 - uni[0] / one[0]), mark(ok, 'uniform')))
    L.append('| zone hit, %s users, Zipf (log-uniform rank) | %.3f '
             '[%.3f-%.3f] | >= 0.93 | %s |'
             % (('{:,}'.format(n),) + zipf
                + (mark(zipf[0] >= 0.93, 'zipf'),)))
    L.append('| entries per MiB of zone (nginx: the 16m zone holds %s) | '
             '%.0f | >= 8,000 | %s |'
             % ('{:,}'.format(res['entries_16m'] or 0), per_mib,
                mark(per_mib >= 8000, 'entries per MiB')))
    L.append('| two workers, one hot user: gate cost per request | %.2fx '
             'one worker\'s | <= 1.2x | %s |'
             % (wratio, mark(wratio <= 1.2, 'two workers')))
    L.append('| full zone under churn (uniform over 4x its capacity): ns '
             'per hit, the table alone | %.0f ns against %.0f ns half full '
             '(%.2fx) | no slower | %s |'
             % (churn, half, churn / half,
                mark(churn <= half * 1.05, 'churn')))
    L.append('')
    L.append('Redis commands per request during the measured runs: %.3f '
             '(0: every request of the many-users cases was a zone hit). '
             'The %s-user zones are %dm (%s entries).\n'
             % (redis, '{:,}'.format(n), res['zone_mb'],
                '{:,}'.format(res['entries_big'] or 0)))
    hk = res.get('huge_kb', {})
    L.append('Huge pages: the kernel\'s `shmem_enabled` was `%s`%s; the '
             'uniform and Zipf workers mapped %s and %s kB of their zones in '
             'huge pages (`ShmemPmdMapped`).\n'
             % (a.shmem, ' (set by `--shmem-huge` for the run, `%s` before '
                'and after)' % a.shmem_was if a.shmem != a.shmem_was else '',
                hk.get('uni', '?'), hk.get('zipf', '?')))
    L.append('Per round, CPU/req (us): ' + '; '.join(
        'base %.2f, 1 user %.2f, uniform %.2f, zipf %.2f'
        % (r['base']['cpu_us'], r['one']['cpu_us'], r['uni']['cpu_us'],
           r['zipf']['cpu_us']) for r in rounds) + '.\n')
    L.append('Two workers: gate cost (us/req, gated minus ungated, '
             '1 worker / 2 workers) per round: ' + '; '.join(
                 '%.2f / %.2f' % (r['1'], r['2']) for r in res['workers'])
             + '.\n')
    if res.get('reference'):
        ref = res['reference']

        def rcap(k):
            v = [r['base']['cpu_us'] / r[k]['cpu_us'] for r in ref]
            return statistics.median(v), min(v), max(v)

        L.append('### Beside light neighbours\n')
        L.append('The 1-user zone hits again, the uniform and Zipf instances '
                 '(and their %dm zones) stopped: four instances still share '
                 'CPU 0, the others all answer from a few cache lines. '
                 'Capacity against the same ungated baseline, median of %d '
                 'rounds:\n' % (res['zone_mb'], len(ref)))
        L.append('| case | capacity |')
        L.append('|---|---:|')
        for k, what in (('base2', 'a second ungated instance, `/open`: '
                         'the method\'s noise floor'),
                        ('access', '`/open` with nginx\'s own access check, '
                         '`allow 127.0.0.1; deny all;` '
                         '(ngx_http_access_module)'),
                        ('one', 'zone hit, 1 user')):
            L.append('| %s | %.3f [%.3f-%.3f] |' % ((what,) + rcap(k)))
        L.append('')
    L.append('## The table alone (bench/zone_table.c, %s MiB)\n' % res['zone_mb'])
    L.append('Memory per entry: %s bytes, no other per-entry memory (the '
             'indexes\' heads are in the entries); %s entries, %s per MiB.\n'
             % (t['entry_bytes'], t['capacity'], t['entries_per_mib']))
    L.append('Entries in their own bucket (a hit reads that one entry; the '
             'others read it and their chain): %s%% half full, %s%% full, '
             '%s%% after the churn. Huge pages given to the table '
             '(shared anonymous memory, MADV_HUGEPAGE): %s kB.\n'
             % (t.get('at_home_half', '?'), t.get('at_home_full', '?'),
                t.get('at_home_churn', '?'), t.get('huge_kb', '?')))
    L.append('| load | chains of the key index with 0 / 1 / 2 / 3 / 4 / 5+ '
             'entries |')
    L.append('|---|---|')
    for k in sorted(x for x in t if x.startswith('chains_')):
        L.append('| %s%% | %s |' % (k[7:], t[k].replace(' ', ' / ')))
    L.append('')
    L.append('| lookup (hash of the key + find + read), ns | |')
    L.append('|---|---:|')
    for k, what in (('ns_one', 'one hot key'),
                    ('ns_half_hit', 'half full, uniform hits'),
                    ('ns_uniform', 'full, uniform'),
                    ('ns_zipf', 'full, Zipf'),
                    ('ns_churn_op', 'churn: every operation (75% misses, '
                     'each adds and evicts)'),
                    ('ns_churn_hit', 'after churn: uniform hits')):
        L.append('| %s | %s |' % (what, t[k].split()[0]))
    L.append('')
    if 'cg' in res:
        cg = res['cg']
        L.append('## Instructions per request (callgrind)\n')
        L.append('| case | Ir/request | gate cost |')
        L.append('|---|---:|---:|')
        L.append('| ungated | {:,.0f} | |'.format(cg['open']['ir']))
        for k, what in (('one', '1 user'),
                        ('users', '%s users, uniform' %
                         '{:,}'.format(a.cg_users))):
            L.append('| zone hit, %s | {:,.0f} | +{:,.0f} |'.format(
                cg[k]['ir'], cg[k]['ir'] - cg['open']['ir']) % what)
        L.append('')
        for k, what in (('diff_one', '1 user'), ('diff_users', 'many users')):
            shown, rest, objs = cg[k]
            L.append('Zone hit, %s: the functions whose Ir/request grew '
                     'most: ' % what + ', '.join(
                         '`%s` +%.0f' % (f, v) for f, v in shown)
                     + ', everything else %+.0f.\n' % rest)
    return '\n'.join(L) + '\n'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--module', required=True)
    ap.add_argument('--nginx', default='/usr/sbin/nginx')
    ap.add_argument('--out', default=os.path.join(
        B.TOP, 'bench/results/zone-users.md'))
    ap.add_argument('--users', type=int, default=100000)
    ap.add_argument('--large', action='store_true',
                    help='1,000,000 users')
    ap.add_argument('--rounds', type=int, default=4)
    ap.add_argument('--sat-duration', type=int, default=4)
    ap.add_argument('--pipeline', type=int, default=16)
    ap.add_argument('--connections', type=int, default=32)
    ap.add_argument('--cg-users', type=int, default=100000)
    ap.add_argument('--cg-requests', type=int, default=2000)
    ap.add_argument('--no-callgrind', action='store_true')
    ap.add_argument('--wait-quiet', type=int, default=0)
    ap.add_argument('--shmem-huge', action='store_true',
                    help='shmem_enabled "advise" for the run (root)')
    a = ap.parse_args()
    a.module = os.path.abspath(a.module)
    a.shmem_was = shmem_enabled()
    a.shmem_set = False

    B.install_signal_handlers()
    ctx = Ctx()
    ctx.args = a
    ctx.procs = B.Procs(len(os.sched_getaffinity(0)))
    ctx.background = B.Background()
    ctx.work = B.make_work('yoti-idv-zone-bench.')
    os.chmod(ctx.work, 0o755)
    os.makedirs(ctx.work + '/logs')
    t0 = time.monotonic()
    try:
        if a.shmem_huge and a.shmem_was != 'advise':
            set_shmem_enabled('advise')
            a.shmem_set = True
        a.shmem = shmem_enabled()
        res = run(ctx)
    finally:
        ctx.procs.stop_all()
        if a.shmem_set:
            set_shmem_enabled(a.shmem_was)
        if not os.environ.get('BENCH_KEEP'):
            subprocess.run(['rm', '-rf', ctx.work])
    text = report(ctx, res)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        f.write(text)
    print(text)
    print('zone bench: written to %s in %.0f s'
          % (os.path.relpath(a.out, os.getcwd()), time.monotonic() - t0))
    if ctx.fails:
        print('zone bench: FAIL: %s (see above)' % ', '.join(ctx.fails))
    return 0


if __name__ == '__main__':
    sys.exit(main())
