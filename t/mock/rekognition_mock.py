#!/usr/bin/python3
"""Local mock of AWS Rekognition GetFaceLivenessSessionResults, for the
test suite, `make demo` and `make bench`.

    POST / HTTP/1.1
    Content-Type: application/x-amz-json-1.1
    X-Amz-Target: RekognitionService.GetFaceLivenessSessionResults
    {"SessionId":"<uuid>"}

Every request is verified the way AWS verifies Signature Version 4: the
credential scope (key, date, --region, service "rekognition"), X-Amz-Date
within 5 minutes of now, X-Amz-Content-Sha256 against the body, the
session token of temporary credentials, SignedHeaders (host, x-amz-date
and every x-amz-* header sent must be signed), and the signature
recomputed over the signed headers as received.  Host must be --host.
Only the headers in ALLOWED_HEADERS may be sent: anything else (a
client's cookie, X-Forwarded-For, its body) is refused and recorded.

Sessions are fixed UUIDs (SESSIONS below); any other id is
SessionNotFoundException, as AWS answers for a session gone 3 minutes
after it was used.  /__mock/* endpoints expose counters for the tests.

Python standard library only (hmac, hashlib).  Binds to 127.0.0.1 only.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


TARGET = "RekognitionService.GetFaceLivenessSessionResults"
CONTENT_TYPE = "application/x-amz-json-1.1"
SERVICE = "rekognition"
MAX_SKEW = 300                  # seconds, as AWS
MAX_BODY = 1 << 16
MAX_REJECTIONS = 10000

ALLOWED_HEADERS = frozenset([
    "host",
    "connection",
    "content-type",
    "content-length",
    "x-amz-target",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "authorization",
])

AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/, ]+)/(\d{8})/([a-z0-9-]+)/"
    r"([a-z0-9]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), "
    r"Signature=([0-9a-f]{64})$")
SESSION_ID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def result(status, confidence=None, extra=None):
    r = {"Status": status}
    if confidence is not None:
        r["Confidence"] = confidence
    r.update(extra or {})
    return ("result", r)


def error(http, etype, header_only=False):
    return ("error", http, etype, header_only)


OK = "a1000000-0000-4000-8000-0000000000"
ERR = "e4000000-0000-4000-8000-0000000000"

# the sessions the mock knows, by id
SESSIONS = {
    OK + "01": result("SUCCEEDED", 99.5),               # passed
    OK + "02": result("SUCCEEDED", 85.25),              # below 90
    OK + "03": result("SUCCEEDED"),                     # no Confidence
    OK + "04": result("CREATED"),
    OK + "05": result("IN_PROGRESS"),
    OK + "06": result("FAILED", 99.0),
    OK + "07": result("EXPIRED"),
    OK + "08": result("PAUSED_FOR_A_NEW_STATUS"),
    OK + "09": ("garbage",),                            # not JSON
    OK + "0a": ("mismatch",),                           # another SessionId
    OK + "0b": ("huge",),                               # images, ~300 KB
    OK + "0c": result("SUCCEEDED", 90.0),               # exactly 90
    ERR + "01": error(400, "SessionNotFoundException"),
    ERR + "02": error(400, "ThrottlingException"),
    ERR + "03": error(400, "ProvisionedThroughputExceededException"),
    ERR + "04": error(500, "InternalServerError"),
    ERR + "05": error(400, "AccessDeniedException"),
    ERR + "06": error(400, "InvalidParameterException"),
    ERR + "07": ("status", 503),
    ERR + "08": error(403, "ExpiredTokenException"),
    ERR + "09": error(403, "UnrecognizedClientException", header_only=True),
    ERR + "0a": error(500, "ThrottlingException"),
}


class Rejected(Exception):
    def __init__(self, status, etype, message, recorded=True):
        super().__init__(message)
        self.status = status
        self.etype = etype
        self.message = message
        self.recorded = recorded


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.counts = {}
        self.keys = {}
        self.headers = {}
        self.rejections = []

    def record(self, sid, key, names):
        with self.lock:
            self.total += 1
            self.counts[sid] = self.counts.get(sid, 0) + 1
            self.keys[sid] = key
            self.headers[sid] = sorted(names)

    def reject(self, line):
        with self.lock:
            if len(self.rejections) < MAX_REJECTIONS:
                self.rejections.append(line)

    def reset(self):
        with self.lock:
            self.total = 0
            self.counts.clear()
            self.keys.clear()
            self.headers.clear()
            self.rejections.clear()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(secret, date, region, string_to_sign):
    k = sign(("AWS4" + secret).encode(), date)
    k = sign(k, region)
    k = sign(k, SERVICE)
    k = sign(k, "aws4_request")
    return hmac.new(k, string_to_sign.encode(), hashlib.sha256).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rekognition-mock/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60

    def log_request(self, code="-", size="-"):
        pass

    def log_message(self, fmt, *args):
        self.server.log("%s %s" % (self.client_address[0], fmt % args))

    def _send(self, status, body, ctype="application/x-amz-json-1.1",
              extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "00000000-mock")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _error(self, status, etype, message, header_only=False):
        body = {} if header_only else {"__type": etype}
        body["message"] = message
        self._send(status, json.dumps(body).encode(),
                   extra={"X-Amzn-ErrorType": etype + ":http://mock/"})

    def _read_body(self):
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            raise Rejected(400, "MockRejectedException",
                           "a chunked body is not expected")
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            return b""
        n = int(length)
        if n > MAX_BODY:
            self.close_connection = True
            raise Rejected(413, "MockRejectedException", "body too large")
        return self.rfile.read(n)

    def do_GET(self):
        if self.path.startswith("/__mock/"):
            return self._control(self.path[len("/__mock/"):])
        self._read_body()
        self._error(404, "UnknownOperationException", "no such resource")

    def do_POST(self):
        if self.path.startswith("/__mock/"):
            return self._control(self.path[len("/__mock/"):])
        try:
            body = self._read_body()
            sid, key = self._verify(body)
        except Rejected as e:
            if e.recorded:
                self.server.state.reject("%s: %s" % (e.etype, e.message))
            self.server.log("%s -> %d %s: %s" % (self.requestline, e.status,
                                                 e.etype, e.message))
            return self._error(e.status, e.etype, e.message)

        self.server.state.record(sid, key,
                                 [k.lower() for k in self.headers.keys()])
        self._answer(sid)

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def _control(self, what):
        st = self.server.state
        status, text = 200, None
        with st.lock:
            if what == "count":
                text = "%d\n" % st.total
            elif what.startswith("count/"):
                text = "%d\n" % st.counts.get(what[6:], 0)
            elif what.startswith("key/"):
                text = "%s\n" % st.keys.get(what[4:], "")
            elif what.startswith("last-headers/"):
                text = "".join(n + "\n" for n in st.headers.get(what[13:], []))
            elif what == "rejections":
                text = "".join(r + "\n" for r in st.rejections)
        if what == "reset":
            st.reset()
            text = "ok\n"
        if text is None:
            status, text = 404, "unknown control endpoint\n"
        self._send(status, text.encode(), ctype="text/plain")

    # -- Signature Version 4, as AWS checks it ----------------------------

    def _verify(self, body):
        h = self.headers
        names = [k.lower() for k in h.keys()]

        for n in names:
            if n not in ALLOWED_HEADERS:
                raise Rejected(400, "MockRejectedException",
                               "unexpected header %s" % n)
        if len(set(names)) != len(names):
            raise Rejected(400, "MockRejectedException", "a header twice")

        if self.command != "POST" or self.path != "/":
            raise Rejected(400, "MockRejectedException",
                           "%s %s instead of POST /" % (self.command,
                                                        self.path))
        if h.get("Content-Type") != CONTENT_TYPE:
            raise Rejected(400, "MockRejectedException", "Content-Type")
        if h.get("X-Amz-Target") != TARGET:
            raise Rejected(400, "UnknownOperationException", "X-Amz-Target")

        auth = h.get("Authorization")
        if auth is None:
            raise Rejected(403, "MissingAuthenticationTokenException",
                           "no Authorization")
        m = AUTH_RE.match(auth)
        if m is None:
            raise Rejected(403, "IncompleteSignatureException",
                           "malformed Authorization")
        key, cdate, region, service, signed, sig = m.groups()

        keys = self.server.keys
        if key not in keys:
            raise Rejected(403, "UnrecognizedClientException",
                           "unknown access key %s" % key)
        secret, token = keys[key]

        amz_date = h.get("X-Amz-Date", "")
        try:
            t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise Rejected(403, "IncompleteSignatureException", "X-Amz-Date")
        t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
        if abs(time.time() - t) > MAX_SKEW:
            raise Rejected(403, "InvalidSignatureException",
                           "Signature expired: clock skew")
        if cdate != amz_date[:8] or service != SERVICE:
            raise Rejected(403, "InvalidSignatureException",
                           "credential scope date or service")
        if region != self.server.region:
            raise Rejected(403, "InvalidSignatureException",
                           "credential scope region %s" % region)

        sent_token = h.get("X-Amz-Security-Token")
        if token is not None and sent_token != token:
            raise Rejected(403, "UnrecognizedClientException",
                           "the security token is invalid")
        if token is None and sent_token is not None:
            raise Rejected(403, "UnrecognizedClientException",
                           "a security token for permanent credentials")

        signed_list = signed.split(";")
        if signed_list != sorted(set(signed_list)):
            raise Rejected(403, "InvalidSignatureException",
                           "SignedHeaders not sorted")
        for n in ["host", "x-amz-date"] + [n for n in names
                                           if n.startswith("x-amz-")]:
            if n not in signed_list:
                raise Rejected(403, "InvalidSignatureException",
                               "%s is not signed" % n)
        for n in signed_list:
            if h.get(n) is None:
                raise Rejected(403, "InvalidSignatureException",
                               "signed header %s is missing" % n)

        payload = sha256_hex(body)
        if h.get("X-Amz-Content-Sha256") != payload:
            raise Rejected(400, "MockRejectedException",
                           "X-Amz-Content-Sha256 is not the body's")

        canonical = "\n".join([
            "POST", "/", "",
            "".join("%s:%s\n" % (n, " ".join(h.get(n).split()))
                    for n in signed_list),
            signed, payload])
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date,
                         "%s/%s/%s/aws4_request" % (cdate, region, SERVICE),
                         sha256_hex(canonical.encode())])
        if not hmac.compare_digest(signature(secret, cdate, region, sts),
                                   sig):
            raise Rejected(403, "InvalidSignatureException",
                           "the signature does not match")

        # a good signature for another host: AWS would not route it here
        if h.get("Host") != self.server.host:
            raise Rejected(400, "MockRejectedException",
                           "Host %r, expected %r" % (h.get("Host"),
                                                     self.server.host))

        try:
            doc = json.loads(body)
        except ValueError:
            raise Rejected(400, "SerializationException", "body not JSON")
        if (not isinstance(doc, dict) or list(doc) != ["SessionId"]
                or not isinstance(doc["SessionId"], str)):
            raise Rejected(400, "MockRejectedException",
                           "body is not {\"SessionId\": ...}")
        sid = doc["SessionId"]
        if not SESSION_ID_RE.match(sid):
            raise Rejected(400, "InvalidParameterException", "SessionId")
        return sid, key

    def _answer(self, sid):
        s = SESSIONS.get(sid, error(400, "SessionNotFoundException"))
        self.server.log("%s %s -> %s" % (self.requestline, sid, s[0]))

        if s[0] == "result":
            doc = {"SessionId": sid}
            doc.update(s[1])
            return self._send(200, json.dumps(doc).encode())
        if s[0] == "error":
            return self._error(s[1], s[2], "mock " + s[2], s[3])
        if s[0] == "status":
            return self._send(s[1], b"")
        if s[0] == "garbage":
            return self._send(200, b"<html>not json</html>")
        if s[0] == "mismatch":
            doc = {"SessionId": OK + "01", "Status": "SUCCEEDED",
                   "Confidence": 99.0}
            return self._send(200, json.dumps(doc).encode())
        if s[0] == "huge":
            img = base64.b64encode(os.urandom(100 * 1024)).decode()
            box = {"Width": 0.5, "Height": 0.5, "Left": 0.1, "Top": 0.1}
            doc = {"SessionId": sid, "Status": "SUCCEEDED",
                   "Confidence": 97.0,
                   "ReferenceImage": {"Bytes": img, "BoundingBox": box},
                   "AuditImages": [{"Bytes": img, "BoundingBox": box}],
                   "Challenge": {"Type": "FaceMovementAndLightChallenge",
                                 "Version": "1.0.0"}}
            return self._send(200, json.dumps(doc).encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, port, args, log):
        super().__init__(("127.0.0.1", port), Handler)
        self.region = args.region
        self.host = args.host or "127.0.0.1:%d" % self.server_address[1]
        self.keys = {}
        for k in args.key:
            parts = k.split(":", 2)
            if len(parts) < 2:
                raise ValueError("--key KEY_ID:SECRET[:TOKEN]")
            self.keys[parts[0]] = (parts[1],
                                   parts[2] if len(parts) > 2 else None)
        self.state = State()
        self.log = log


class Logger:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a") if path else sys.stderr

    def __call__(self, line):
        with self.lock:
            self.f.write("%s %s\n" % (time.strftime("%H:%M:%S"), line))
            self.f.flush()


def write_port_file(path, port):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".port.", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description="Mock AWS Rekognition (tests)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--region", default="eu-west-1")
    p.add_argument("--host", help="expected Host (127.0.0.1:<port>)")
    p.add_argument("--key", action="append", default=[],
                   help="KEY_ID:SECRET[:TOKEN], repeatable")
    p.add_argument("--parent-pid", type=int)
    args = p.parse_args(argv)

    log = Logger(args.log)
    try:
        server = Server(args.port, args, log)
    except (OSError, ValueError) as e:
        sys.stderr.write("rekognition_mock: %s\n" % e)
        return 1

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda s, f: stop.set())
    signal.signal(signal.SIGINT, lambda s, f: stop.set())

    threading.Thread(target=server.serve_forever,
                     kwargs={"poll_interval": 0.2}, daemon=True).start()

    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    log("listening on 127.0.0.1:%d, region %s, host %s"
        % (port, server.region, server.host))

    while not stop.wait(0.5):
        if args.parent_pid:
            try:
                os.kill(args.parent_pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass

    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
