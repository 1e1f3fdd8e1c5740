#!/usr/bin/python3
"""Local mock of the Yoti IDV API, for the test suite and `make demo`.

Implements only what ngx_http_yoti_idv_module calls:

    GET /idverify/v1/sessions/<id>?sdkId=<sdk>&nonce=<uuid4>&timestamp=<ms>

and verifies it the way the real service does (see /work/shared/API-NOTES.md
section 1, or t/mock/README.md):

  * signed message = "GET&" + path relative to /idverify/v1 + "?" + the raw
    query string exactly as received; X-Yoti-Auth-Digest must be
    base64(RSA PKCS#1 v1.5 signature over SHA-256(message)) made with the
    private half of --public-key;
  * sdkId must equal --sdk-id, the nonce must be a fresh lowercase UUIDv4,
    the timestamp (epoch ms) within --max-skew-ms of now;
  * the request may carry only the headers in ALLOWED_HEADERS and no body:
    this is how the test suite proves that nothing from the client (cookies,
    Authorization, X-Forwarded-For, bodies...) leaks to the provider.

    GET /idverify/v1/sessions/<id>/media/<media id>/content?<the same query>

signed and verified the same way (the message is "GET&/sessions/<id>/media/
<media id>/content?..."); it serves <sessions>/media/<id>/<media id>.json,
so a media id answers only for its own session, and media ids starting
with status-<code>-, garbage-, empty- (204) and slow-<ms>- simulate
failures.  Media requests are counted under "<id>/media"
(/__mock/count/<id>/media) and in /__mock/count-media.

Session results come from <sessions>/<id>.json; a few id prefixes simulate
provider failures (status-, slow-, garbage-, empty-, truncated-, huge-,
close-), grow a fixture (large-) or change how the answer is framed (eof-,
chunked-, chunkcut-, nosid-).  /__mock/* endpoints expose counters for the
tests, and /__mock/app/<tag> plays a counted application.

Only the Python standard library and python3-cryptography (Debian package)
are used.  The server binds to 127.0.0.1 only.
"""

import argparse
import base64
import binascii
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


API_BASE = "/idverify/v1"
SESSIONS_PREFIX = API_BASE + "/sessions/"
CONTROL_PREFIX = "/__mock/"

# The only request headers the module is allowed to send (lowercase).
ALLOWED_HEADERS = frozenset([
    "host",
    "connection",
    "accept",
    "x-yoti-auth-digest",
    "x-yoti-sdk",
    "x-yoti-sdk-version",
])

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
NONCE_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMESTAMP_RE = re.compile(r"^[0-9]{1,16}$")
BIGERROR_ID_RE = re.compile(r"^bigerror-(\d{3})(?:-.*)?$")
STATUS_ID_RE = re.compile(r"^status-([0-9]{3})(?:-.*)?$")
SLOW_ID_RE = re.compile(r"^slow-([0-9]{1,6})-(.+)$")
MEDIA_PATH_RE = re.compile(r"^([^/]*)/media/([^/]*)/content$")
LARGE_ID_RE = re.compile(r"^large-([0-9]{1,5})-(.+)$")
LARGE_MAX_KB = 16384
FRAMING_ID_RE = re.compile(r"^(eof|chunked|chunkcut)-(.+)$")

MAX_SLOW_MS = 120000            # upper bound for slow-<ms>-... sleeps
MAX_DISCARD_BODY = 1 << 20      # bytes of an unexpected body we drain
MAX_REJECTIONS = 10000          # bounded memory for /__mock/rejections
HUGE_PADDING = 1 << 20          # "padding" field size of huge-* sessions

# Yoti-style error codes for the simulated status-<code>-* responses.
ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


class Rejected(Exception):
    """A request the mock refuses: HTTP status plus a Yoti-style error."""

    def __init__(self, status, code, message, errors=None, close=False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.close = close


class MockState:
    """Everything shared between request threads, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.total = 0
        self.media_total = 0
        self.counts = {}
        self.last_headers = {}
        self.rejections = []
        self.nonces = set()         # never cleared, not even by reset
        self.outage = None          # a special-id prefix for every session

    def record_request(self, session_id, header_names):
        with self.lock:
            self.total += 1
            self.counts[session_id] = self.counts.get(session_id, 0) + 1
            self.last_headers[session_id] = sorted(header_names)

    def record_media(self):
        with self.lock:
            self.media_total += 1

    def record_rejection(self, line):
        with self.lock:
            if len(self.rejections) < MAX_REJECTIONS:
                self.rejections.append(line)

    def use_nonce(self, nonce):
        """Remember a nonce; False when it was seen before."""
        with self.lock:
            if nonce in self.nonces:
                return False
            self.nonces.add(nonce)
            return True

    def reset(self):
        with self.lock:
            self.total = 0
            self.media_total = 0
            self.counts.clear()
            self.last_headers.clear()
            self.rejections.clear()
            self.outage = None


class Logger:
    """Line-oriented, thread-safe log to stderr or a file."""

    def __init__(self, path):
        self.lock = threading.Lock()
        if path:
            self.stream = open(path, "a", buffering=1, encoding="utf-8",
                               errors="replace")
        else:
            self.stream = sys.stderr

    def __call__(self, fmt, *args):
        line = "%s idv_mock[%d]: %s\n" % (
            time.strftime("%Y-%m-%dT%H:%M:%S"), os.getpid(),
            fmt % args if args else fmt)
        with self.lock:
            try:
                self.stream.write(line)
                self.stream.flush()
            except (OSError, ValueError):
                pass


def yoti_error(code, message, errors=None):
    """Body of a Yoti API error response."""
    body = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return (json.dumps(body) + "\n").encode()


def load_public_key(path):
    """RSA public key from a PEM file (a private key PEM is accepted too)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None)
            key = key.public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ValueError("%s: not a PEM key" % path)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("%s: not an RSA key" % path)
    return key


_large_cache = {}
_large_lock = threading.Lock()


def large_session(body, kb, session_id):
    """The fixture `body` grown to at least `kb` KiB of many small JSON
    nodes: the frames of its first document page repeated (each a media
    object of four strings, ~150 bytes), as a session with many captures
    looks; compact, `session_id` the id asked for.  None if the fixture has
    no document page to grow."""
    key = (body, kb, session_id)
    with _large_lock:
        if key in _large_cache:
            return _large_cache[key]
    try:
        doc = json.loads(body)
        page = doc["resources"]["id_documents"][0]["pages"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    doc["session_id"] = session_id
    frames = page.setdefault("frames", [])
    size = len(json.dumps(doc))
    i = 0
    while size < kb * 1024:
        frame = {"media": {
            "id": "%08x-0000-4000-8000-%012x" % (i, i),
            "type": "IMAGE",
            "created": "2025-06-04T08:50:32Z",
            "last_updated": "2025-06-04T08:50:32Z",
        }}
        frames.append(frame)
        size += len(json.dumps(frame)) + 2
        i += 1
    out = json.dumps(doc).encode()
    with _large_lock:
        if len(_large_cache) > 16:
            _large_cache.clear()
        _large_cache[key] = out
    return out


def huge_session(session_id):
    """A valid COMPLETED session of a little over 1 MiB."""
    session = {
        "client_session_token_ttl": 0,
        "session_id": session_id,
        "state": "COMPLETED",
        "user_tracking_id": "alice",
        "resources": {
            "id_documents": [],
            "supplementary_documents": [],
            "liveness_capture": [],
            "face_capture": [],
            "applicant_profiles": [],
        },
        "checks": [{
            "type": "LIVENESS",
            "id": "b1e04326-6bba-4a4e-97c5-7191d60c17d9",
            "state": "DONE",
            "resources_used": ["e3d4ce28-4291-4dd4-a650-33fd5c3b0e0f"],
            "generated_media": [],
            "report": {
                "recommendation": {"value": "APPROVE"},
                "breakdown": [{
                    "sub_check": "liveness_auth",
                    "result": "PASS",
                    "details": [],
                    "process": "AUTOMATED",
                }],
            },
            "created": "2025-06-04T08:51:00Z",
            "last_updated": "2025-06-04T08:51:02Z",
        }],
        "biometric_consent": "2025-06-04T08:50:43Z",
        "padding": "x" * HUGE_PADDING,
    }
    return json.dumps(session, indent=4).encode()


class Handler(BaseHTTPRequestHandler):
    """One connection; may serve several keep-alive requests."""

    protocol_version = "HTTP/1.1"
    server_version = "idv-mock/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60                    # idle keep-alive connections

    # -- plumbing ---------------------------------------------------------

    def log_request(self, code="-", size="-"):
        # Replaced by our own one line per request (see _log_outcome).
        pass

    def log_message(self, fmt, *args):
        # Reached for malformed requests (send_error) only.
        self.server.log("%s %s", self.client_addr(), fmt % args)

    def client_addr(self):
        return "%s:%d" % self.client_address[:2]

    def _send(self, status, body=b"", ctype="application/json",
              extra=None, close=False):
        framing = getattr(self, "framing", None)
        if framing and status >= 200 and status not in (204, 304):
            self._send_framed(status, body, ctype, framing)
            return
        self.send_response(status)
        if status >= 200 and status not in (204, 304):
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        else:
            body = b""
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if close:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()

    def _send_framed(self, status, body, ctype, framing):
        """The body without Content-Length: "eof" ends it by closing the
        connection, "chunked" sends it in chunks with the last chunk,
        "chunkcut" sends every chunk of it but not the last (empty) one,
        then closes."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if framing == "eof":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_header("Transfer-Encoding", "chunked")
            if framing == "chunkcut":
                self.send_header("Connection", "close")
            self.end_headers()
            for i in range(0, len(body), 4096):
                piece = body[i:i + 4096]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if framing == "chunked":
                self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        if framing != "chunked":
            self.close_connection = True

    def _log_outcome(self, outcome):
        # self.requestline holds method, path with query, version: the
        # query (sdkId, nonce, timestamp) is fine to log, the digest header
        # never is.
        self.server.log("%s \"%s\" -> %s", self.client_addr(),
                        self.requestline, outcome)

    def _discard_body(self):
        """Drain a Content-Length body so the reply is not lost to a RST.
        A chunked body is not parsed: the connection is closed instead."""
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.strip().isdigit():
            return
        left = min(int(length), MAX_DISCARD_BODY)
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)

    # -- dispatch ---------------------------------------------------------

    def _dispatch(self):
        path, _, _ = self.path.partition("?")
        try:
            if path.startswith(CONTROL_PREFIX):
                self._control(path[len(CONTROL_PREFIX):])
            elif path.startswith(SESSIONS_PREFIX):
                self._session(path)
            else:
                self._discard_body()
                # not the API's: a front end's page, not a Yoti error body
                # (a wrong proxy_pass path, t/041-api-404.t)
                self._send(404, b"404 page not found\n", ctype="text/plain")
                self._log_outcome("404 unknown path")
        except (BrokenPipeError, ConnectionResetError) as e:
            self.close_connection = True
            self.server.log("%s \"%s\" -> client went away (%s)",
                            self.client_addr(), self.requestline, e)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _dispatch
    do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _dispatch

    # -- /__mock/ control endpoints (unsigned) -----------------------------

    def _control(self, what):
        state = self.server.state
        self._discard_body()
        status, text = 200, None

        if what == "count" and self.command == "GET":
            with state.lock:
                text = "%d\n" % state.total
        elif what == "count-media" and self.command == "GET":
            with state.lock:
                text = "%d\n" % state.media_total
        elif what.startswith("count/") and self.command == "GET":
            sid = urllib.parse.unquote(what[len("count/"):])
            with state.lock:
                text = "%d\n" % state.counts.get(sid, 0)
        elif what.startswith("last-headers/") and self.command == "GET":
            sid = urllib.parse.unquote(what[len("last-headers/"):])
            with state.lock:
                names = state.last_headers.get(sid)
            if names is None:
                status, text = 404, ""
            else:
                text = "".join(n + "\n" for n in names)
        elif what.startswith("app/") and self.command == "GET":
            # plays an application behind nginx: counted like a session
            # under "app/<tag>" (not in the total), see /__mock/count/
            with state.lock:
                state.counts[what] = state.counts.get(what, 0) + 1
            text = "app %s %s %s\n" % (
                what[len("app/"):],
                self.headers.get("X-IDV-Verdict", "-"),
                self.headers.get("X-IDV-Session", "-"))
        elif what == "rejections" and self.command == "GET":
            with state.lock:
                text = "".join(line + "\n" for line in state.rejections)
        elif what.startswith("sleep/") and self.command == "GET":
            # lets a test's request list wait for something to happen
            try:
                ms = min(int(what[len("sleep/"):]), MAX_SLOW_MS)
            except ValueError:
                ms = -1
            if ms < 0:
                status, text = 400, "bad sleep\n"
            else:
                time.sleep(ms / 1000.0)
                text = "slept %d\n" % ms
        elif what.startswith("outage/") and self.command == "GET":
            # every session request answers as the special id
            # "<mode>-<id>" would: status-503, close, slow-3000, status-404
            mode = what[len("outage/"):]
            with state.lock:
                state.outage = None if mode == "off" else mode
            text = "outage %s\n" % mode
        elif what == "reset" and self.command in ("GET", "POST"):
            state.reset()
            text = "ok\n"
        else:
            status, text = 404, "unknown control endpoint\n"

        self._send(status, text.encode(), ctype="text/plain; charset=utf-8")
        self._log_outcome("%d control" % status)

    # -- GET /idverify/v1/sessions/<id> -------------------------------------

    def _session(self, path):
        state = self.server.state
        sid = path[len(SESSIONS_PREFIX):]
        names = [n.lower() for n in self.headers.keys()]
        media = None

        m = MEDIA_PATH_RE.match(sid)
        if m:
            sid, media = m.group(1), m.group(2)
            state.record_media()
        self.framing = None
        self.drop_session_id = False

        # Counted whatever the outcome: tests use this to prove a cache hit
        # or a refused session id never reached the provider.
        state.record_request(sid if media is None else sid + "/media", names)

        try:
            self._verify(path, sid, names)
            if media is not None and not SESSION_ID_RE.match(media):
                raise Rejected(400, "INVALID_MEDIA_ID",
                               "invalid media id %r" % media)
        except Rejected as e:
            # A request with a body is answered and then the connection is
            # closed: simpler than trusting its framing.
            close = e.close or "content-length" in names \
                or "transfer-encoding" in names
            if close:
                self._discard_body()
            line = "%d %s %s %s: %s" % (e.status, self.command, path,
                                        e.code, e.message)
            state.record_rejection(line)
            self._send(e.status, yoti_error(e.code, e.message, e.errors),
                       close=close)
            self._log_outcome("%d %s (%s)" % (e.status, e.code, e.message))
            return

        if media is not None:
            self._media(sid, media)
            return

        with state.lock:
            outage = state.outage
        if outage is not None:
            self._respond(outage + "-" + sid, sid)
            return

        self._respond(sid, sid)

    def _media(self, sid, media):
        """The document fields media of session sid."""
        m = SLOW_ID_RE.match(media)
        if m:
            time.sleep(min(int(m.group(1)), MAX_SLOW_MS) / 1000.0)

        m = STATUS_ID_RE.match(media)
        if m and 200 <= int(m.group(1)) <= 599:
            status = int(m.group(1))
            self._send(status,
                       yoti_error(ERROR_CODES.get(status, "ERROR"),
                                  "simulated media %d" % status))
            self._log_outcome("%d simulated media" % status)
            return

        if media.startswith("garbage-"):
            self._send(200, b"<html>not json</html>")
            self._log_outcome("200 garbage media")
            return

        if media.startswith("empty-"):
            self._send(204)
            self._log_outcome("204 no media content")
            return

        # media of another session is not found, as with the real API
        fname = os.path.join(self.server.sessions_dir, "media", sid,
                             media + ".json")
        try:
            with open(fname, "rb") as f:
                body = f.read()
        except (FileNotFoundError, NotADirectoryError):
            self._send(404, yoti_error("NOT_FOUND", "media not found"))
            self._log_outcome("404 media not found")
            return

        self._send(200, body)
        self._log_outcome("200 media %s/%s" % (sid, media))

    def _verify(self, path, sid, names):
        """Raise Rejected unless this is a request Yoti would accept."""
        srv = self.server

        if self.command != "GET":
            raise Rejected(405, "METHOD_NOT_ALLOWED",
                           "method %s not allowed" % self.command,
                           close=True)

        # Header allowlist.  A body always comes with Content-Length or
        # Transfer-Encoding, neither of which is allowed, so this also
        # refuses any request body.
        seen = set()
        for name in names:
            if name not in ALLOWED_HEADERS:
                raise Rejected(400, "UNEXPECTED_HEADER",
                               "unexpected header %s" % name,
                               [{"property": name,
                                 "message": "header not allowed"}])
            if name in seen:
                raise Rejected(400, "UNEXPECTED_HEADER",
                               "duplicate header %s" % name,
                               [{"property": name,
                                 "message": "header sent twice"}])
            seen.add(name)

        if not SESSION_ID_RE.match(sid):
            raise Rejected(400, "INVALID_SESSION_ID",
                           "invalid session id %r" % sid)

        # Query parameters, each exactly once and non-empty.
        query = self.path.partition("?")[2]
        try:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True,
                                           strict_parsing=bool(query))
        except ValueError:
            raise Rejected(400, "INVALID_PARAMETER",
                           "malformed query string")
        params = {}
        for k, v in pairs:
            if k in params:
                raise Rejected(400, "INVALID_PARAMETER",
                               "duplicate parameter %s" % k,
                               [{"property": k, "message": "duplicate"}])
            params[k] = v
        missing = [p for p in ("sdkId", "nonce", "timestamp")
                   if not params.get(p)]
        if missing:
            raise Rejected(400, "MISSING_PARAMETER",
                           "missing query parameter %s" % ", ".join(missing),
                           [{"property": p, "message": "must not be empty"}
                            for p in missing])

        digest = self.headers.get("X-Yoti-Auth-Digest")
        if not digest:
            raise Rejected(400, "MISSING_PARAMETER",
                           "missing header X-Yoti-Auth-Digest",
                           [{"property": "X-Yoti-Auth-Digest",
                             "message": "must not be empty"}])

        # The request target is decoded as latin-1 by http.server: encoding
        # it back gives the exact bytes received.
        message = ("GET&" + path[len(API_BASE):] + "?" + query)
        try:
            signature = base64.b64decode(digest.strip(), validate=True)
            srv.public_key.verify(signature, message.encode("latin-1"),
                                  padding.PKCS1v15(), hashes.SHA256())
        except (binascii.Error, ValueError, InvalidSignature):
            raise Rejected(401, "UNAUTHORIZED",
                           "invalid X-Yoti-Auth-Digest signature")

        if params["sdkId"] != srv.sdk_id:
            raise Rejected(401, "UNAUTHORIZED",
                           "unknown sdkId %s" % params["sdkId"])

        nonce = params["nonce"]
        if not NONCE_RE.match(nonce):
            raise Rejected(401, "UNAUTHORIZED",
                           "nonce is not a lowercase UUIDv4")
        if not srv.state.use_nonce(nonce):
            raise Rejected(401, "UNAUTHORIZED", "nonce reused: %s" % nonce)

        ts = params["timestamp"]
        if not TIMESTAMP_RE.match(ts):
            raise Rejected(401, "UNAUTHORIZED",
                           "timestamp is not epoch milliseconds")
        skew = int(ts) - int(time.time() * 1000)
        if abs(skew) > srv.max_skew_ms:
            raise Rejected(401, "UNAUTHORIZED",
                           "timestamp out of range (skew %d ms)" % skew)

    def _respond(self, sid, requested):
        """Serve session `sid` for a request that asked for `requested`."""

        m = SLOW_ID_RE.match(sid)
        if m:
            ms = min(int(m.group(1)), MAX_SLOW_MS)
            time.sleep(ms / 1000.0)
            self._respond(m.group(2), requested)
            return

        m = FRAMING_ID_RE.match(sid)
        if m:
            self.framing = m.group(1)
            self._respond(m.group(2), requested)
            return

        if sid.startswith("nosid-"):
            self.drop_session_id = True
            self._respond(sid[len("nosid-"):], requested)
            return

        m = BIGERROR_ID_RE.match(sid)
        if m and 400 <= int(m.group(1)) <= 599:
            # an HTML error page from something in front of the provider,
            # larger than any subrequest buffer
            page = (b"<html><body>" + b"<p>upstream error</p>" * 5000
                    + b"</body></html>")
            self._send(int(m.group(1)), page, ctype="text/html")
            self._log_outcome("%s big error page (%d bytes)"
                              % (m.group(1), len(page)))
            return

        m = STATUS_ID_RE.match(sid)
        if m and 200 <= int(m.group(1)) <= 599:
            status = int(m.group(1))
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "simulated error"
            extra = {"Retry-After": "1"} if status in (429, 503) else None
            self._send(status,
                       yoti_error(ERROR_CODES.get(status, "ERROR"),
                                  "simulated %d %s" % (status, phrase)),
                       extra=extra)
            self._log_outcome("%d simulated" % status)
            return

        if sid.startswith("garbage-"):
            self._send(200, b"<html>not json</html>")
            self._log_outcome("200 garbage body")
            return

        if sid.startswith("empty-"):
            self._send(200, b"")
            self._log_outcome("200 empty body")
            return

        if sid.startswith("truncated-"):
            body = self.server.seed_json(requested)
            self._send(200, body[:len(body) // 2])
            self._log_outcome("200 truncated body")
            return

        if sid.startswith("cut-"):
            # Announce the whole document, send half, close: the transfer
            # breaks in the middle of the body.
            body = self.server.seed_json(requested)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self._log_outcome("200 body cut after %d of %d bytes"
                              % (len(body) // 2, len(body)))
            return

        m = LARGE_ID_RE.match(sid)
        if m and 1 <= int(m.group(1)) <= LARGE_MAX_KB:
            fname = os.path.join(self.server.sessions_dir,
                                 m.group(2) + ".json")
            try:
                with open(fname, "rb") as f:
                    body = large_session(f.read(), int(m.group(1)),
                                         requested)
            except OSError:
                body = None
            if body is None:
                self._send(404, yoti_error("NOT_FOUND", "session not found"))
                self._log_outcome("404 no fixture to grow")
                return
            self._send(200, body)
            self._log_outcome("200 large body (%d bytes)" % len(body))
            return

        if sid.startswith("huge-"):
            body = huge_session(requested)
            self._send(200, body)
            self._log_outcome("200 huge body (%d bytes)" % len(body))
            return

        if sid.startswith("close-"):
            # No response at all; finish() then closes the socket.
            self.close_connection = True
            self._log_outcome("connection closed without response")
            return

        fname = os.path.join(self.server.sessions_dir, sid + ".json")
        try:
            with open(fname, "rb") as f:
                body = f.read()
        except FileNotFoundError:
            self._send(404, yoti_error("NOT_FOUND", "session not found"))
            self._log_outcome("404 session not found")
            return

        if requested != sid:
            body = rename_session(body, sid, requested)
        if self.drop_session_id:
            doc = json.loads(body)
            doc.pop("session_id", None)
            body = (json.dumps(doc, indent=4) + "\n").encode()
        self._send(200, body)
        self._log_outcome("200 %s.json%s%s" % (
            sid, " without session_id" if self.drop_session_id else "",
            " (%s)" % self.framing if self.framing else ""))


def rename_session(body, old, new):
    """Fixture served under another id (slow-<ms>-<id>): report the id that
    was asked for, unless the fixture deliberately carries a different one
    (session-id-mismatch) or is not a JSON object at all."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if isinstance(doc, dict) and doc.get("session_id") == old:
        doc["session_id"] = new
        return (json.dumps(doc, indent=4) + "\n").encode()
    return body


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, port, args, log):
        self.public_key = load_public_key(args.public_key)
        super().__init__(("127.0.0.1", port), Handler)
        self.sdk_id = args.sdk_id
        self.sessions_dir = args.sessions
        self.max_skew_ms = args.max_skew_ms
        self.state = MockState()
        self.log = log

    def seed_json(self, session_id):
        """The seed session (face-check-ffs-reject fixture) as bytes."""
        fname = os.path.join(self.sessions_dir, "face-check-ffs-reject.json")
        try:
            with open(fname, "rb") as f:
                body = f.read()
        except OSError:
            body = huge_session(session_id).replace(b"x" * HUGE_PADDING, b"")
        return rename_session(body, "face-check-ffs-reject", session_id)


def write_port_file(path, port):
    """Write "<port>\\n" atomically: readers never see a partial file."""
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".port.", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def parse_args(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description="Mock Yoti IDV API (tests only)")
    p.add_argument("--port", type=int, required=True,
                   help="TCP port on 127.0.0.1; 0 picks a free one")
    p.add_argument("--public-key", required=True,
                   help="PEM RSA public key that verifies X-Yoti-Auth-Digest")
    p.add_argument("--sdk-id", required=True, help="expected sdkId")
    p.add_argument("--sessions", default=os.path.join(here, "sessions"),
                   help="directory of <session id>.json fixtures")
    p.add_argument("--port-file",
                   help="write the listening port here (atomically)")
    p.add_argument("--log", help="log file (default: stderr)")
    p.add_argument("--max-skew-ms", type=int, default=300000,
                   help="accepted |timestamp - now| (default 300000)")
    p.add_argument("--parent-pid", type=int,
                   help="exit when this process is gone (test harness)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    log = Logger(args.log)

    try:
        server = MockServer(args.port, args, log)
    except (OSError, ValueError) as e:
        sys.stderr.write("idv_mock: %s\n" % e)
        return 1

    port = server.server_address[1]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    worker = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.2}, daemon=True)
    worker.start()

    # The socket is listening (bound in the constructor): announce the port.
    if args.port_file:
        write_port_file(args.port_file, port)
    if args.port == 0:
        print(port, flush=True)
    log("listening on 127.0.0.1:%d, sdkId %s, sessions %s",
        port, args.sdk_id, args.sessions)

    # --parent-pid: when that process is our parent (the Perl harness
    # fork+execs us) watch getppid(), which survives pid reuse; otherwise
    # poll the pid.
    direct_child = args.parent_pid == os.getppid()
    while not stop.wait(0.5):
        if args.parent_pid:
            if direct_child:
                gone = os.getppid() != args.parent_pid
            else:
                gone = not pid_alive(args.parent_pid)
            if gone:
                log("parent %d gone", args.parent_pid)
                break

    log("shutting down")
    server.shutdown()
    server.server_close()
    if args.port_file:
        try:
            os.unlink(args.port_file)
        except OSError:
            pass
    return 0


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main())
