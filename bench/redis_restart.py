#!/usr/bin/python3
"""`make bench-redis-restart`: Redis dies under load and comes back.

    /usr/bin/python3 bench/redis_restart.py --module build/ngx_http_yoti_idv_module.so
                                            [--nginx /usr/sbin/nginx] [--out FILE]

For each mode (Redis mapping without the zone, then with a zone of
ttl=2s), wrk loads a gated location for 20 s; at 5 s redis-server is
killed (SIGKILL), at 10 s it is started again on the same port (it loads
the snapshot holding the user->session mappings, and the mappings are
written again).  wrk's Lua script (bench/wrk/statuses.lua) counts the
answers by status every 100 ms.  Then the checks: no worker died (same
pid, no "exited on signal"), 503 only while Redis was down, only 200
again within --recovery seconds of the restart.  Exits 0 when every check
passes, 1 otherwise.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib as B  # noqa: E402

NGINX_CPU = 0
LOAD_CPU = 1

USERS = {'alice': 'verified-alice'}


def start_redis(ctx, port):
    p = ctx.procs.start(B.redis_argv(port, ctx.work), cpu=LOAD_CPU)
    B.wait_port(port, proc=p)
    return p


def write_mappings(port):
    rc = B.Redis(port)
    for user, sid in USERS.items():
        rc.cmd('SET', B.PREFIX + 'user:' + user, sid)
    rc.close()


def read_statuses(path):
    buckets, first, last = {}, {}, {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if w[0] == 'b':
                b, st, n = int(w[1]), int(w[2]), int(w[3])
                buckets.setdefault(b, {})
                buckets[b][st] = buckets[b].get(st, 0) + n
            elif w[0] == 'first':
                st, t = int(w[1]), int(w[2])
                first[st] = min(first.get(st, t), t)
            elif w[0] == 'last':
                st, t = int(w[1]), int(w[2])
                last[st] = max(last.get(st, t), t)
    return buckets, first, last


def run_mode(ctx, mode):
    a = ctx.args
    work = ctx.work
    redis_port = B.free_port()

    # the snapshot the restarted server loads: the mappings, as a Redis
    # with persistence would keep them
    rdb = os.path.join(work, 'dump.rdb')
    if os.path.exists(rdb):
        os.unlink(rdb)
    redis = start_redis(ctx, redis_port)
    write_mappings(redis_port)
    B.Redis(redis_port).cmd('SAVE')

    port = B.free_port()
    if mode == 'redis':
        d, conf = B.nginx_conf(work, 'nginx-' + mode, port, 'redis',
                               ctx.mock_port, redis_port, a.module)
    else:
        d, conf = B.nginx_conf(work, 'nginx-' + mode, port, 'zone',
                               ctx.mock_port, redis_port, a.module,
                               zone_args='restart:4m ttl=%s' % a.zone_ttl)
    r = subprocess.run([a.nginx, '-p', d, '-c', conf, '-t', '-q'],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError('nginx -t: ' + r.stdout + r.stderr)
    ngx = ctx.procs.start([a.nginx, '-p', d, '-c', conf], cpu=NGINX_CPU)
    B.wait_port(port, proc=ngx)
    workers = B.wait_workers(ngx.pid)

    st, _ = B.http_get(port, '/gated', {'X-User-Id': 'alice'})
    if st != 200:
        raise RuntimeError('%s: /gated answered %d before the run'
                           % (mode, st))

    out = os.path.join(work, 'statuses-%s.txt' % mode)
    argv = ctx.procs.cpu_prefix(LOAD_CPU) + [
        'wrk', '-t1', '-c%d' % a.connections, '-d%ds' % a.duration,
        '--timeout', '2s', '-H', 'X-User-Id: alice',
        '-s', os.path.join(B.TOP, 'bench/wrk/statuses.lua'),
        'http://127.0.0.1:%d/gated' % port]

    B.log('redis-restart: %s: wrk for %d s, kill at %d s, restart at %d s'
          % (mode, a.duration, a.kill_at, a.restart_at))
    t0 = B.now_ms()
    env = dict(os.environ, BENCH_STATUS_OUT=out, BENCH_T0=str(t0))
    ctx.background.start()
    w = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    ctx.procs.procs.append(w)
    try:
        time.sleep(max(0, t0 + a.kill_at * 1000 - B.now_ms()) / 1000)
        t_kill = B.now_ms()
        ctx.procs.stop(redis, sig=signal.SIGKILL)
        B.log('redis-restart: %s: redis-server killed at +%.1f s'
              % (mode, (t_kill - t0) / 1000))

        time.sleep(max(0, t0 + a.restart_at * 1000 - B.now_ms()) / 1000)
        t_start = B.now_ms()
        redis = start_redis(ctx, redis_port)
        t_up = B.now_ms()
        write_mappings(redis_port)
        t_mapped = B.now_ms()
        B.log('redis-restart: %s: redis-server started at +%.1f s, '
              'listening at +%.1f s, mappings written at +%.1f s'
              % (mode, (t_start - t0) / 1000, (t_up - t0) / 1000,
                 (t_mapped - t0) / 1000))

        wrk_out, _ = w.communicate(timeout=a.duration + 60)
    finally:
        ctx.procs.stop(w)
    others = ctx.background.stop()

    time.sleep(0.3)
    workers_after = B.wait_workers(ngx.pid)
    master_alive = ngx.poll() is None
    ctx.procs.stop(ngx)
    ctx.procs.stop(redis)

    with open(os.path.join(d, 'logs/error.log'), errors='replace') as f:
        errlog = f.read()

    buckets, first, last = read_statuses(out)
    m = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), '
                  r'timeout (\d+)', wrk_out)
    sock = [int(x) for x in m.groups()] if m else [0, 0, 0, 0]
    m = re.search(r'(\d+) requests in', wrk_out)
    total = int(m.group(1)) if m else 0

    return {
        'mode': mode, 't0': t0, 't_kill': t_kill, 't_start': t_start,
        't_up': t_up, 't_mapped': t_mapped, 'buckets': buckets,
        'first': first, 'last': last, 'sock': sock, 'total': total,
        'workers': workers, 'workers_after': workers_after,
        'master_alive': master_alive, 'errlog': errlog, 'wrk': wrk_out,
        'others': others,
    }


def analyse(ctx, r):
    a = ctx.args
    checks = []

    def check(ok, what):
        checks.append((ok, what))

    t0, t_kill, t_up = r['t0'], r['t_kill'], r['t_up']
    statuses = set()
    for b in r['buckets'].values():
        statuses |= set(b)

    check(r['master_alive'] and r['workers'] == r['workers_after'],
          'nginx master alive, worker pid unchanged (%s -> %s)'
          % (r['workers'], r['workers_after']))
    n = len(re.findall(r'exited on signal', r['errlog']))
    check(n == 0, '"exited on signal" in the error log: %d' % n)
    n = len(re.findall(r'\[(alert|crit|emerg)\]', r['errlog']))
    check(n == 0, '[alert], [crit] or [emerg] lines in the error log: %d' % n)

    other = sorted(s for s in statuses if s not in (200, 503))
    check(not other, 'statuses other than 200 and 503: %s'
          % (', '.join('%d x%d' % (s, sum(b.get(s, 0) for b in
                                          r['buckets'].values()))
                       for s in other) or 'none'))
    check(sum(r['sock']) == 0,
          'wrk socket errors (connect, read, write, timeout): %s'
          % ', '.join(map(str, r['sock'])))

    f503 = r['first'].get(503)
    l503 = r['last'].get(503)
    if f503 is None:
        # the outage went unnoticed: the run tested nothing
        check(False, 'no 503 at all while redis was down')
    else:
        check(f503 >= t_kill,
              'first 503 at +%.2f s, %d ms after the kill (must not precede '
              'it)' % ((f503 - t0) / 1000, f503 - t_kill))
        check(l503 <= t_up + a.recovery * 1000,
              'last 503 at +%.2f s, %d ms after redis listened again '
              '(limit %d ms)' % ((l503 - t0) / 1000, l503 - t_up,
                                 a.recovery * 1000))

    # 200 again: the first 200 after the restart, and only 200s from the
    # end of the recovery allowance on
    f200 = min((b for b, c in r['buckets'].items()
                if 200 in c and b >= t_up - (t_up - t0) % 100), default=None)

    def total(cond):
        out = {}
        for b, c in r['buckets'].items():
            if cond(b):
                for st, n in c.items():
                    out[st] = out.get(st, 0) + n
        return out

    after = total(lambda b: b >= t_up + a.recovery * 1000)
    check(f200 is not None and set(after) == {200},
          'after redis listened again: first 200 in the 100 ms bucket at '
          '+%s s; from +%.1f s on: %s'
          % ('%.1f' % ((f200 - t0) / 1000) if f200 else 'never',
             (t_up + a.recovery * 1000 - t0) / 1000,
             ', '.join('%d x%d' % kv for kv in sorted(after.items()))))
    before = total(lambda b: b + 100 <= t_kill)
    check(set(before) == {200},
          'before the kill: %s' % ', '.join('%d x%d' % kv
                                            for kv in sorted(before.items())))

    r['checks'] = checks
    r['ok'] = all(ok for ok, _ in checks)
    return r


def per_second(r):
    t0 = r['t0']
    secs = {}
    for b, c in r['buckets'].items():
        s = (b - t0) // 1000
        d = secs.setdefault(s, {})
        for st, n in c.items():
            d[st] = d.get(st, 0) + n
    return secs


def report(ctx, results):
    a = ctx.args
    lines = []
    L = lines.append
    L('# Redis restart under load')
    L('')
    L('`make bench-redis-restart`, %s, module at %s.'
      % (time.strftime('%Y-%m-%d %H:%M %Z'), B.git_rev()))
    L('')
    L('wrk -t1 -c%d -d%ds against a gated location (`empty_gif` behind '
      '`yoti_idv`, the session id from the Redis mapping '
      '`%suser:alice`); redis-server killed (SIGKILL) at %d s and started '
      'again on the same port at %d s. The restarted server loads the '
      'snapshot that holds the mappings (as a Redis with persistence '
      'would), and the script writes them again once it listens; the '
      'verdict cache in Redis starts empty, so the first request after '
      'the restart asks the provider (the mock) again. nginx: '
      '`yoti_idv_redis ... connect_timeout=200ms timeout=500ms`, '
      '`worker_processes 1`. Answers counted by bench/wrk/statuses.lua.'
      % (a.connections, a.duration, B.PREFIX, a.kill_at, a.restart_at))
    L('')
    for r in results:
        title = {'redis': 'Redis mapping and verdict cache, no zone',
                 'zone': 'Redis, and a zone with ttl=%s in front'
                 % a.zone_ttl}[r['mode']]
        L('## %s: %s' % (title, 'PASS' if r['ok'] else '**FAIL**'))
        L('')
        L('Timeline (s from the start of wrk): kill +%.2f, restart +%.2f, '
          'listening +%.2f, mappings written again +%.2f. %s requests in '
          'all.' % ((r['t_kill'] - r['t0']) / 1000,
                    (r['t_start'] - r['t0']) / 1000,
                    (r['t_up'] - r['t0']) / 1000,
                    (r['t_mapped'] - r['t0']) / 1000,
                    '{:,}'.format(r['total'])))
        L('')
        secs = per_second(r)
        statuses = sorted({s for d in secs.values() for s in d})
        L('| second | ' + ' | '.join(str(s) for s in statuses)
          + ' | Redis |')
        L('|---:|' + '---:|' * len(statuses) + '---|')
        for s in sorted(secs):
            if s < 0 or s >= a.duration:
                continue
            lo, hi = r['t0'] + s * 1000, r['t0'] + (s + 1) * 1000
            if lo <= r['t_kill'] < hi:
                state = 'killed at +%.2f s' % ((r['t_kill'] - r['t0']) / 1000)
            elif lo <= r['t_up'] < hi:
                state = 'listening again at +%.2f s' % (
                    (r['t_up'] - r['t0']) / 1000)
            elif hi <= r['t_kill'] or lo >= r['t_up']:
                state = 'up'
            else:
                state = 'down'
            L('| %d | %s | %s |' % (s, ' | '.join(
                '{:,}'.format(secs[s].get(st, 0)) for st in statuses), state))
        L('')
        for ok, what in r['checks']:
            L('- %s %s' % ('PASS' if ok else '**FAIL**', what))
        n_err = len(re.findall(r'\[error\]', r['errlog']))
        L('- error log: %s lines, %s at [error] (%s bytes)'
          % ('{:,}'.format(r['errlog'].count('\n')),
             '{:,}'.format(n_err), '{:,}'.format(len(r['errlog']))))
        L('- other processes on the machine used %.0f%% of one CPU during '
          'the run%s' % (r['others'], ' (throughput figures disturbed)'
                         if r['others'] > 5 else ''))
        L('')
    L('Machine: %s' % '; '.join('%s %s' % kv for kv in B.machine()
                                if kv[0] in ('nproc', 'CPU', 'kernel',
                                             'nginx', 'redis')))
    L('')
    return '\n'.join(lines)


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--module', required=True)
    ap.add_argument('--nginx', default='/usr/sbin/nginx')
    ap.add_argument('--out', default=os.path.join(
        B.TOP, 'bench/results/redis-restart.md'))
    ap.add_argument('--duration', type=int, default=20)
    ap.add_argument('--kill-at', type=int, default=5)
    ap.add_argument('--restart-at', type=int, default=10)
    ap.add_argument('--recovery', type=int, default=2,
                    help='seconds after the restart by which only 200s')
    ap.add_argument('--connections', type=int, default=16)
    ap.add_argument('--zone-ttl', default='2s')
    ap.add_argument('--modes', default='redis,zone')
    ap.add_argument('--wait-quiet', type=int, default=0, metavar='SECONDS',
                    help='first wait up to SECONDS for other processes to '
                    'use less than 5%% of a CPU')
    a = ap.parse_args()
    a.module = os.path.abspath(a.module)

    B.install_signal_handlers()
    ctx = Ctx()
    ctx.args = a
    ctx.procs = B.Procs(len(os.sched_getaffinity(0)))
    ctx.background = B.Background()
    ctx.work = B.make_work('yoti-idv-redis-restart.')
    os.chmod(ctx.work, 0o755)
    os.makedirs(ctx.work + '/logs')
    keep = os.environ.get('BENCH_KEEP')

    results = []
    try:
        B.wait_quiet(a.wait_quiet, 'redis-restart')
        B.write_sessions(ctx.work, list(USERS))
        ctx.mock_port = B.free_port()
        mock = B.start_mock(ctx.procs, ctx.mock_port, ctx.work,
                            LOAD_CPU)
        B.wait_port(ctx.mock_port, proc=mock)
        for mode in a.modes.split(','):
            results.append(analyse(ctx, run_mode(ctx, mode)))
    finally:
        ctx.procs.stop_all()
        if keep:
            B.log('redis-restart: kept %s' % ctx.work)
        else:
            subprocess.run(['rm', '-rf', ctx.work])

    text = report(ctx, results)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, 'w') as f:
        f.write(text)
    print(text)
    ok = all(r['ok'] for r in results)
    print('redis-restart: %s, written to %s'
          % ('PASS' if ok else 'FAIL', os.path.relpath(a.out, os.getcwd())))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
