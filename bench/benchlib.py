"""What bench.py and redis_restart.py share: processes started and stopped
by pid, free loopback ports, the mock IDV API, redis-server, nginx
configurations, and a small Redis client.

Python 3 standard library only.  Everything listens on 127.0.0.1.
"""

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = '/usr/bin/python3'
SDK_ID = 'bench-sdk-id'
PREFIX = 'yoti_idv:'


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def now_ms():
    return int(time.time() * 1000)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=15.0, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError('process %d exited (%s) before listening on %d'
                               % (proc.pid, proc.returncode, port))
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('nothing listens on 127.0.0.1:%d' % port)


class Procs:
    """Children started here, stopped here by pid: TERM, then KILL."""

    def __init__(self, ncpu):
        self.procs = []
        self.pin = ncpu >= 2 and shutil.which('taskset') is not None

    def cpu_prefix(self, cpu):
        if self.pin and cpu is not None:
            return ['taskset', '-c', str(cpu)]
        return []

    def start(self, argv, cpu=None, **kw):
        # taskset execs the command: the pid is the command's own
        p = subprocess.Popen(self.cpu_prefix(cpu) + argv, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=10.0):
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p)


def install_signal_handlers():
    def bail(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, bail)
    signal.signal(signal.SIGINT, bail)
    signal.signal(signal.SIGHUP, bail)


# ---------------------------------------------------------------- Redis


class Redis:
    """RESP over a socket: enough for SET, GET, SAVE, FLUSHALL."""

    def __init__(self, port):
        self.port = port
        self.sock = None

    def cmd(self, *args):
        if self.sock is None:
            self.sock = socket.create_connection(('127.0.0.1', self.port), 2)
            self.rf = self.sock.makefile('rb')
        out = [b'*%d\r\n' % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b'$%d\r\n%s\r\n' % (len(a), a))
        self.sock.sendall(b''.join(out))
        return self._reply()

    def _reply(self):
        line = self.rf.readline()
        if not line:
            raise ConnectionError('redis closed the connection')
        t, rest = line[:1], line[1:-2]
        if t == b'+':
            return rest.decode()
        if t == b'-':
            raise RuntimeError('redis: ' + rest.decode())
        if t == b':':
            return int(rest)
        if t == b'$':
            n = int(rest)
            if n < 0:
                return None
            data = self.rf.read(n + 2)[:-2]
            return data.decode()
        if t == b'*':
            return [self._reply() for _ in range(int(rest))]
        raise RuntimeError('redis: unexpected reply %r' % line)

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None


def redis_argv(port, work):
    return ['redis-server', '--port', str(port), '--bind', '127.0.0.1',
            '--save', '', '--appendonly', 'no', '--dir', work,
            '--dbfilename', 'dump.rdb', '--logfile', work + '/logs/redis.log']


# ------------------------------------------------------------- the mock


def write_sessions(work, users):
    """A fixture per user: verified-alice.json with that user_tracking_id,
    as verified-<user>.json."""
    src = os.path.join(TOP, 't/mock/sessions/verified-alice.json')
    dst = os.path.join(work, 'sessions')
    os.makedirs(dst, exist_ok=True)
    with open(src) as f:
        session = json.load(f)
    for user in users:
        s = dict(session)
        s['session_id'] = 'verified-' + user
        s['user_tracking_id'] = user
        with open(os.path.join(dst, 'verified-%s.json' % user), 'w') as f:
            json.dump(s, f)
    return dst


def write_age_session(work, sid, media_delay_ms, dob):
    """<sid>.json: verified-alice whose document fields media (id
    slow-<ms>-..., so the mock delays it as it delays the session) says
    date_of_birth dob, in media/slow-<ms>-<sid>/ for the session as the
    mock is asked for it."""
    src = os.path.join(TOP, 't/mock/sessions/verified-alice.json')
    dst = os.path.join(work, 'sessions')
    with open(src) as f:
        session = json.load(f)
    session['session_id'] = sid
    media = session['resources']['id_documents'][0]['document_fields']['media']
    media['id'] = 'slow-%d-%s' % (media_delay_ms, media['id'])
    with open(os.path.join(dst, sid + '.json'), 'w') as f:
        json.dump(session, f)
    d = os.path.join(dst, 'media', 'slow-%d-%s' % (media_delay_ms, sid))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, media['id'] + '.json'), 'w') as f:
        json.dump({'full_name': 'Alice Example', 'date_of_birth': dob}, f)


def mock_argv(port, work):
    return [PYTHON, os.path.join(TOP, 't/mock/idv_mock.py'),
            '--port', str(port),
            '--public-key', os.path.join(TOP, 't/keys/test-key-public.pem'),
            '--sdk-id', SDK_ID, '--sessions', work + '/sessions',
            '--log', work + '/logs/mock.log']


def start_mock(procs, port, work, cpu):
    # its log goes to logs/mock.log; what Python's server prints on stderr
    # (a peer that reset a connection) to logs/mock.stderr
    with open(work + '/logs/mock.stderr', 'ab') as err:
        return procs.start(mock_argv(port, work), cpu=cpu,
                           stdout=subprocess.DEVNULL, stderr=err)


def http_get(port, path, headers=None, timeout=10.0):
    """GET over a fresh connection: (status, body)."""
    import http.client
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        c.request('GET', path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def mock_count(port, sid=None):
    path = '/__mock/count' + ('/' + sid if sid else '')
    return int(http_get(port, path)[1].decode().strip())


def mock_reset(port):
    http_get(port, '/__mock/reset')


# ---------------------------------------------------------------- nginx


def nginx_conf(work, name, port, variant, mock_port, redis_port, module,
               zone_args='bench:16m ttl=10m', single=False, metrics=False):
    """variant: 'zone' (cache zone + Redis mapping), 'redis' (Redis
    mapping and verdict cache, no zone), 'none' (no zone, no Redis: the
    session id from X-IDV-Session).  metrics: a yoti_idv_metrics
    location, which turns the counters on."""

    http = []
    if variant == 'zone':
        http.append('yoti_idv_cache_zone %s;' % zone_args)
    if variant in ('zone', 'redis'):
        http.append('yoti_idv_redis 127.0.0.1:%d connect_timeout=200ms '
                    'timeout=500ms;' % redis_port)
        session = ''
    else:
        session = 'yoti_idv_session_id  $http_x_idv_session;'

    d = '%s/%s' % (work, name)
    os.makedirs(d + '/logs', exist_ok=True)
    os.makedirs(d + '/tmp', exist_ok=True)

    conf = """load_module %(module)s;

daemon off;
master_process %(master)s;
worker_processes 1;
error_log %(d)s/logs/error.log notice;
pid %(d)s/logs/nginx.pid;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path %(d)s/tmp;
    proxy_temp_path %(d)s/tmp;

    yoti_idv_sdk_id   %(sdk)s;
    yoti_idv_pem_key  %(top)s/t/keys/test-key-pkcs1.pem;
    yoti_idv_api      /_yoti_idv/;
    yoti_idv_cache_valid APPROVE 10m;
    %(http)s

    upstream idv_mock {
        server 127.0.0.1:%(mock_port)d;
        keepalive 32;
    }

    server {
        listen 127.0.0.1:%(port)d backlog=1024;

        location /_yoti_idv/ {
            internal;
            proxy_pass http://idv_mock/idverify/v1/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 5s;
            subrequest_output_buffer_size 64k;
        }

        # case 1, the baseline: the cheap "application" without the gate
        location = /open {
            empty_gif;
        }

        # cases 2-5: the same application behind the gate
        location = /gated {
            yoti_idv             on;
            yoti_idv_user_id     $http_x_user_id;
            %(session)s
            yoti_idv_require     LIVENESS;
            yoti_idv_require     FACE_COMPARISON;
            empty_gif;
        }

        # case 4b: the same, 18+: a second signed fetch, the document fields
        location = /gated-age {
            yoti_idv             on;
            yoti_idv_user_id     $http_x_user_id;
            %(session)s
            yoti_idv_require     LIVENESS liveness_type=STATIC;
            yoti_idv_require     FACE_COMPARISON;
            yoti_idv_require     ID_DOCUMENT_AUTHENTICITY;
            yoti_idv_require_age 18;
            empty_gif;
        }

        location = /status {
            stub_status;
        }
        %(metrics)s
    }
}
""" % dict(module=module, master='off' if single else 'on', d=d,
           sdk=SDK_ID, top=TOP, http='\n    '.join(http),
           mock_port=mock_port, port=port, session=session,
           # the same location tree with the counters off
           metrics='location = /metrics { yoti_idv_metrics; }'
                   if metrics else 'location = /metrics { return 204; }')

    path = d + '/nginx.conf'
    with open(path, 'w') as f:
        f.write(conf)
    return d, path


def nginx_workers(master_pid):
    try:
        with open('/proc/%d/task/%d/children' % (master_pid, master_pid)) as f:
            return sorted(int(x) for x in f.read().split())
    except OSError:
        return []


def wait_workers(master_pid, n=1, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        w = nginx_workers(master_pid)
        if len(w) >= n:
            return w
        time.sleep(0.05)
    raise RuntimeError('nginx %d started no worker' % master_pid)


def proc_status(pid, field):
    """A field of /proc/<pid>/status in kB (VmRSS, RssAnon, ...)."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return None


def cpu_ns(pid):
    """Time a process has spent on a CPU, user and kernel, in ns
    (/proc/<pid>/schedstat; utime + stime of /proc/<pid>/stat, in clock
    ticks, where schedstat is missing)."""
    try:
        with open('/proc/%d/schedstat' % pid) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return ((int(fields[11]) + int(fields[12])) * 10**9
                // os.sysconf('SC_CLK_TCK'))


def stub_requests(port):
    body = http_get(port, '/status')[1].decode()
    m = re.search(r'^\s*(\d+)\s+(\d+)\s+(\d+)\s*$', body, re.M)
    return int(m.group(3))


# -------------------------------------------------------------- machine


def machine():
    def run(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True,
                               timeout=10)
            return (r.stdout + r.stderr).strip()
        except OSError:
            return 'n/a'

    cpu = 'unknown'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass

    mem = proc_meminfo()
    return [
        ('date', time.strftime('%Y-%m-%d %H:%M:%S %Z')),
        ('nproc', run(['nproc'])),
        ('CPU', cpu),
        ('memory', mem),
        ('kernel', '%s %s' % (platform.system(), platform.release())),
        ('OS', os_release()),
        ('nginx', run(['/usr/sbin/nginx', '-v'])),
        ('wrk', run(['wrk', '-v']).splitlines()[0] if shutil.which('wrk')
         else 'n/a'),
        ('redis', run(['redis-server', '--version'])),
        ('valgrind', run(['valgrind', '--version'])),
    ]


def proc_meminfo():
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal:'):
                    return '%.1f GiB' % (int(line.split()[1]) / 1048576)
    except OSError:
        pass
    return 'unknown'


def os_release():
    try:
        with open('/etc/os-release') as f:
            for line in f:
                if line.startswith('PRETTY_NAME='):
                    return line.split('=', 1)[1].strip().strip('"')
    except OSError:
        pass
    return 'unknown'


def git_rev():
    try:
        r = subprocess.run(['git', '-C', TOP, 'rev-parse', '--short', 'HEAD'],
                           capture_output=True, text=True, timeout=10)
        rev = r.stdout.strip()
        r = subprocess.run(['git', '-C', TOP, 'status', '--porcelain',
                            '--untracked-files=no', '--',
                            'ngx_http_yoti_idv_module', 'config'],
                           capture_output=True, text=True, timeout=10)
        if r.stdout.strip():
            rev += ' (module sources modified)'
        return rev
    except OSError:
        return 'unknown'


def make_work(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def user_sys_ticks(pid):
    """(utime, stime) of a process, clock ticks."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]), int(fields[12])


def _processes():
    """pid -> (ppid, cpu ns, kernel thread?) of every process."""
    procs = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                kthread = not f.read(1)
            with open('/proc/%d/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            ppid = int(fields[1])
            ns = ((int(fields[11]) + int(fields[12])) * 10**9
                  // os.sysconf('SC_CLK_TCK'))
            procs[pid] = (ppid, ns, kthread)
        except (OSError, ValueError, IndexError):
            continue
    return procs


def _descendants(procs, root):
    children = {}
    for pid, v in procs.items():
        children.setdefault(v[0], []).append(pid)
    out, todo = set(), [root]
    while todo:
        p = todo.pop()
        out.add(p)
        todo.extend(children.get(p, []))
    return out


class Background:
    """CPU time used by processes that are not this benchmark's: another
    job on the machine that competes for its CPUs.  All the CPU time the
    kernel counted (/proc/stat: user, nice, system, irq, softirq, steal),
    minus what this process and its children used (alive: /proc/<pid>/stat,
    all threads; ended: os.times()) and what kernel threads used (on a
    test machine, mostly the network work of this benchmark)."""

    def __init__(self):
        self.root = os.getpid()

    @staticmethod
    def _busy():
        with open('/proc/stat') as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
        return busy * 10**9 // os.sysconf('SC_CLK_TCK')

    def _ours(self):
        procs = _processes()
        mine = _descendants(procs, self.root)
        ours = {pid: v[1] for pid, v in procs.items()
                if pid in mine or v[2]}
        t = os.times()
        return ours, int((t.children_user + t.children_system) * 1e9)

    def start(self):
        self.t = time.monotonic()
        self.busy = self._busy()
        self.ours, self.reaped = self._ours()

    def stop(self):
        """Average share of one CPU used by others since start()."""
        busy = self._busy() - self.busy
        ours, reaped = self._ours()
        used = reaped - self.reaped
        for pid, ns in ours.items():
            used += ns - self.ours.get(pid, 0)
        elapsed = time.monotonic() - self.t
        if elapsed <= 0:
            return 0.0
        return max(0.0, 100.0 * (busy - used) / 1e9 / elapsed)


def wait_quiet(seconds, who):
    """Wait up to `seconds` for other processes to use less than 5% of a
    CPU (measured over 2 s)."""
    if not seconds:
        return
    bg = Background()
    end = time.monotonic() + seconds
    while True:
        bg.start()
        time.sleep(2)
        others = bg.stop()
        if others < 5:
            return
        if time.monotonic() > end:
            log('%s: other processes still use %.0f%% of a CPU, going on'
                % (who, others))
            return
        log('%s: other processes use %.0f%% of a CPU, waiting'
            % (who, others))
