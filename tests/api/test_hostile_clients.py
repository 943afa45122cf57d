"""Hostile HTTP clients: the server keeps serving and answers precisely (docs/api.md §1, §7).

One seeded run per store (PAHARA_HOSTILE_SEED picks another; the i-th request of a seed is
always the same) drives a real server over raw sockets for about a minute:

  - request lines and heads, mutated: methods, paths with %-escapes and %00, absurd lengths,
    HTTP/1.0 and HTTP/0.9, duplicate Content-Length, chunked bodies with bad sizes, chunk
    extensions and trailers, Expect: 100-continue, pipelining, bodies longer or shorter than
    their Content-Length, connections closed mid-head, mid-body, or right after a request that
    the store's writer answers (POST /v1/check, verify: the suspended-connection path);
  - JSON bodies mutated from valid ones: deep nesting, huge numbers, -0, 1e999, duplicate keys,
    \\u0000, lone surrogates, overlong UTF-8, a BOM, cut short, bytes flipped;
  - every route with every method;
  - a few slow clients, one byte a second, while the rest is served.

Every answer must be a well-formed HTTP/1.1 response.  Every answer from Pahara's routes is
JSON; an error is {"error":{"code","message"}} with the status docs/api.md §7 gives its code,
and where the request's form decides the answer (404, 405, 413, 415, invalid_json) it is that
answer exactly.  libmicrohttpd answers some malformed HTTP itself, with its own HTML pages
(docs/api.md §1 lists them): those are accepted only for requests the generator made malformed
at the HTTP level.  Every few hundred requests an ordinary sign-in must still work and the
server's stderr must hold no sanitizer report.  Requests that carry a real session or service
key are built so that they must be refused; at the end the account they name is as it was,
and the audit log holds nothing but the sign-ins of the canary account.

No assertion is about time; the time budget only bounds how many requests are sent.
"""

import json
import os
import random
import re
import socket
import threading
import time

import pytest

from conftest import assert_ok

SEED = int(os.environ.get("PAHARA_HOSTILE_SEED", "20261127"))
BUDGET = float(os.environ.get("PAHARA_HOSTILE_SECONDS", "10"))  # fuzzing, per store and build
CHECK_EVERY = 300       # requests between two canary sign-ins and stderr checks
READ_TIMEOUT = 20       # seconds for an answer that must come (a hang, not a timing check)
BODY_MAX = 64 * 1024

# docs/api.md §7: the status of every code the API returns.
CODE_STATUS = {
    "invalid_json": 400, "unknown_field": 400, "missing_field": 400, "invalid_field": 400,
    "password_policy": 400, "invalid_argument": 400, "unauthenticated": 401,
    "invalid_credentials": 401, "invalid_code": 401, "reauthentication_required": 403,
    "account_disabled": 403, "backup_code_not_allowed": 403, "forbidden": 403,
    "not_found": 404, "method_not_allowed": 405, "conflict": 409, "invalid_state": 409,
    "too_many": 409, "method_unavailable": 409, "inactive_backup_code": 410,
    "login_ended": 410, "payload_too_large": 413, "unsupported_media_type": 415,
    "rate_limited": 429,
}

# libmicrohttpd's own answers to malformed HTTP (docs/api.md §1), an HTML page each.
MHD_STATUSES = {400, 413, 414, 431, 505}

ID = "A" * 32  # a well-formed sign-in id that names nothing

# (method, pattern, body: "required" | "optional" | "none", a valid body to mutate, harmless):
# harmless routes change nothing whoever calls them with the right method and no body.
ROUTES = [
    ("GET", "/v1/health", "none", None),
    ("POST", "/v1/accounts", "required", {"username": "x-hostile", "password": "pw-123456789"}),
    ("POST", "/v1/login", "required", {"username": "x", "password": "y", "client": "web"}),
    ("POST", "/v1/login/{id}/verify", "required", {"method": "totp", "code": "123456"}),
    ("GET", "/v1/login/{id}", "none", None),
    ("GET", "/v1/factors", "none", None),
    ("POST", "/v1/factors/totp", "optional", {"algorithm": "SHA1", "digits": 6}),
    ("POST", "/v1/factors/totp/confirm", "required", {"code": "123456"}),
    ("POST", "/v1/twofactor/off", "required", {"password": "pw-123456789"}),
    ("GET", "/v1/backup-codes", "none", None),
    ("POST", "/v1/backup-codes", "required", {"count": 1}),
    ("GET", "/v1/temporary-passwords", "none", None),
    ("POST", "/v1/temporary-passwords", "none", None),
    ("DELETE", "/v1/temporary-passwords/{id}", "none", None),
    ("GET", "/v1/sessions", "none", None),
    ("DELETE", "/v1/sessions/{id}", "none", None),
    ("POST", "/v1/sessions/revoke-others", "none", None),
    ("POST", "/v1/reauth", "required", {"password": "pw-123456789"}),
    ("POST", "/v1/password", "required", {"password": "pw-123456789",
                                          "new_password": "pw-987654321"}),
    ("POST", "/v1/check", "required", {"username": "x", "method": "totp", "code": "123456",
                                       "client": "web"}),
    ("POST", "/v1/service/accounts", "required", {"username": "x-hostile",
                                                  "password": "pw-123456789"}),
    ("POST", "/v1/service/accounts/{name}/disable", "none", None),
    ("POST", "/v1/service/accounts/{name}/totp", "optional", {"digits": 6}),
    ("POST", "/v1/service/accounts/{name}/totp/confirm", "required", {"code": "123456"}),
    ("POST", "/v1/service/accounts/{name}/backup-codes", "required", {"count": 1}),
    ("POST", "/v1/test/clock", "required", {"advance": 0}),
    ("POST", "/v1/test/housekeep", "none", None),
    ("POST", "/v1/test/pause", "required", {"ms": 0}),
    ("GET", "/v1/test/counters", "none", None),
]
HARMLESS = {("GET", "/v1/health"), ("GET", "/v1/test/counters")}
# Routes that act without a token: a request to them must be refused by its body.
TOKENLESS = {"/v1/accounts", "/v1/login", "/v1/login/{id}/verify", "/v1/test/clock",
             "/v1/test/housekeep", "/v1/test/pause"}
METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "TRACE", "BREW",
           "get", "CONNECT"]
PARAM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~@+-"


def route_of(method, path):
    """docs/api.md §1: (the route for method and path, the methods the path takes)."""
    allow, hit = [], None
    for m, pattern, body, valid in ROUTES:
        rx = "^" + re.sub(r"\{[a-z]+\}", "[A-Za-z0-9._~@+-]{1,128}", re.escape(pattern)
                          .replace(r"\{", "{").replace(r"\}", "}")) + "$"
        if re.match(rx, path):
            allow.append(m)
            if m == method and hit is None:
                hit = (m, pattern, body, valid)
    return hit, allow


# ---- the strict JSON of the server (jansson, duplicate keys refused) ------------------------

class Refused(Exception):
    pass


def _no_dup(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise Refused("duplicate key")
    return dict(pairs)


def _int(text):
    v = int(text)
    if not -2**63 <= v < 2**63:
        raise Refused("integer out of range")
    return v


def _float(text):
    v = float(text)
    if v in (float("inf"), float("-inf")):
        raise Refused("real overflow")
    return v


def _bad_const(name):
    raise Refused(name)


def _walk_strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from _walk_strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _walk_strings(x)


def json_model(body):
    """What the server makes of a body: the JSON value, or Refused (400 invalid_json).  Nesting
    deeper than jansson's 2048 is refused; deep bodies are made by deep() only."""
    try:
        text = body.decode("utf-8")  # strict: overlong forms, surrogates, stray bytes refused
        if text.startswith("\ufeff"):
            raise Refused("BOM")
        v = json.loads(text, object_pairs_hook=_no_dup, parse_int=_int, parse_float=_float,
                       parse_constant=_bad_const)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Refused(str(e))
    for s in _walk_strings(v):
        if "\x00" in s:
            raise Refused("NUL")  # jansson refuses \\u0000 without JSON_ALLOW_NUL
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise Refused("lone surrogate")
    return v


# ---- answers ---------------------------------------------------------------------------------

class Answer:
    def __init__(self, status, headers, body, raw_head):
        self.status, self.headers, self.body, self.raw_head = status, headers, body, raw_head

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.raw_head!r} {self.body[:300]!r}>"


def mhd_doubled(data, head_req):
    """libmicrohttpd 0.9.75 writes the head of its answer to a Content-Length it cannot
    parse (not a number, or over 2^64) twice: head, head, page, where the head's
    Content-Length counts the page.  Known, and documented (docs/api.md §1): the one answer
    it meant, or None when data is not that."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep or not rest.startswith(head + b"\r\n\r\n"):
        return None
    page = rest[len(head) + 4:]
    a = parse_answers(head + b"\r\n\r\n" + page, head_req)
    assert len(a) == 1 and a[0].status in (400, 413), a
    assert head_req or b"Content-Length</b> header" in a[0].body, a
    return a


def parse_answers(data, head_req=False):
    """Split what the server wrote into answers; every byte must belong to a well-formed
    HTTP/1.1 response with a Content-Length (1xx ones have none, and neither has the
    answer to a HEAD: head_req, for one request).  Returns [Answer]."""
    out = []
    doubled = mhd_doubled(data, head_req)
    if doubled:
        return doubled
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"an answer's head has no end: {data[:500]!r}"
        lines = head.split(b"\r\n")
        m = re.fullmatch(rb"HTTP/1\.1 ([1-5]\d\d) [ -~]+", lines[0])
        assert m, f"bad status line {lines[0]!r} in {data[:500]!r}"
        status = int(m.group(1))
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b": ")
            assert colon and re.fullmatch(rb"[A-Za-z0-9-]+", name), f"bad header {line!r}"
            key = name.decode().lower()
            assert key not in headers or key == "set-cookie", f"header twice: {head!r}"
            headers[key] = value.decode("latin-1")
        if status < 200:
            out.append(Answer(status, headers, b"", head))
            data = rest
            continue
        assert "content-length" in headers, f"no Content-Length: {head!r}"
        n = int(headers["content-length"])
        if head_req and not (rest.startswith(b"<html>") and "content-type" not in headers):
            n = 0  # libmicrohttpd sends its own pages even to a HEAD

        assert len(rest) >= n, f"body shorter than its Content-Length: {data[:600]!r}"
        out.append(Answer(status, headers, rest[:n], head))
        data = rest[n:]
    return out


def check_pahara(a, method="GET"):
    """a came from Pahara's routes: JSON, and an error is exactly the documented shape."""
    assert a.header("content-type") == "application/json; charset=utf-8", a
    assert a.header("cache-control") == "no-store", a
    if method == "HEAD":
        return None
    body = json.loads(a.body, object_pairs_hook=_no_dup)
    if a.status < 400:
        assert a.status in (200, 201), a
        return None
    assert isinstance(body, dict) and set(body) == {"error"}, a
    err = body["error"]
    want = {"code", "message"} | ({"retry_after"} if a.status in (429, 503) else set())
    assert isinstance(err, dict) and set(err) == want, a
    assert isinstance(err["message"], str) and err["message"].strip(), a
    assert CODE_STATUS.get(err["code"]) == a.status, f"code and status disagree: {a}"
    if a.status == 405:
        assert a.header("allow"), a
    return err["code"]


def check_mhd(a, method="GET"):
    """a is libmicrohttpd's own answer to malformed HTTP: an HTML page, documented."""
    assert a.status in MHD_STATUSES, a
    assert a.header("content-type") is None, a
    assert method == "HEAD" or a.body.startswith(b"<html>"), a


# ---- a client ------------------------------------------------------------------------------

class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False  # the server closed first: what it wrote is still there to read

    def read_all(self):
        """Everything the server writes until it closes.  A reset after the server's answer
        (it closed with bytes of ours unread) still leaves the answer."""
        data = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError(f"no end of the answer in {READ_TIMEOUT} s: {data[:300]!r}")
            if not chunk:
                break
            data += chunk
        return data

    def close(self):
        self.sock.close()


LAST_SENT = threading.local()


def exchange(port, data, half_close=True, head_req=False):
    """Send data, half-close (the request ends there: for requests the server might wait on
    for more), read everything until the server closes; returns [Answer].  A well-formed
    request that closes its connection is sent without the half-close: libmicrohttpd takes
    the client's FIN for an abort, and drops an answer not yet queued then."""
    LAST_SENT.data = data
    c = Conn(port)
    try:
        c.send(data)
        if half_close:
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return parse_answers(c.read_all(), head_req)
    finally:
        c.close()


def request_bytes(method, target, headers=(), body=b"", version="HTTP/1.1", length=True):
    head = f"{method} {target}".encode("latin-1") if isinstance(target, str) else \
        method.encode("latin-1") + b" " + target
    if version:
        head += b" " + version.encode()
    lines = [head, b"Host: pahara.test"]
    for k, v in headers:
        lines.append(k.encode("latin-1") + b": " + (v if isinstance(v, bytes) else
                                                     v.encode("latin-1")))
    if length and body:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# ---- the generators -----------------------------------------------------------------------

class Fuzz:
    """The requests of one seed.  Each case sends, reads and checks; it knows which tokens are
    real (a real one only goes with a request that must be refused)."""

    def __init__(self, server, rng, tokens):
        self.s = server
        self.port = server.port
        self.rng = rng
        self.t = tokens  # session, service, login_id, name, canary
        self.sent = 0
        self.mhd = 0
        self.closed_unanswered = 0

    # pieces

    def fill(self, pattern, real=False):
        r = self.rng
        def one(m):
            if real and m.group(0) == "{id}" and "login" in pattern:
                return self.t["login_id"]
            if real and m.group(0) == "{name}":
                return self.t["name"]
            n = r.choice([1, 8, 32, 32, 43, 128])
            return "".join(r.choice(PARAM_CHARS) for _ in range(n))
        return re.sub(r"\{[a-z]+\}", one, pattern)

    def token(self, may_be_real):
        r = self.rng
        kinds = ["none", "garbage", "unknown", "unknown", "long"]
        if may_be_real:
            kinds += ["session", "service", "session", "service"]
        k = r.choice(kinds)
        if k == "none":
            return k, None
        if k == "garbage":
            return k, "Bearer " + "".join(chr(r.randrange(0x21, 0x7f)) for _ in range(20))
        if k == "unknown":
            return k, r.choice(["Bearer ", "bearer ", "BEARER "]) + "".join(
                r.choice(PARAM_CHARS[:62]) for _ in range(43))
        if k == "long":
            return k, "Bearer " + "A" * r.choice([513, 4000])
        return k, "Bearer " + self.t[k]

    def mutate_json(self, valid):
        """(body bytes, depth or None): a mutation of the valid body."""
        r = self.rng
        text = json.dumps(valid)
        keys = list(valid) or ["x"]
        k = r.choice(keys)
        choice = r.randrange(22)
        if choice == 0:  # deep nesting
            d = r.choice([10, 500, 2047, 2048, 2049, 5000, 20000])
            o = r.choice(["[", '{"a":'])
            c = "]" if o == "[" else "}"
            inner = o * d + "1" + c * d
            return (text[:-1] + f', "{k}x": ' + inner + "}").encode(), d + 1
        if choice == 1:
            v = r.choice(["9" * 30, "-" + "9" * 30, "1e999", "-1e999", "1e-999", "-0",
                          "-0.0", "9223372036854775807", "9223372036854775808",
                          "-9223372036854775808", "-9223372036854775809", "0.5", "1E2",
                          "NaN", "Infinity", "-", "01", ".5", "1.", "0x10"])
            return json.dumps(dict(valid, **{k: 0})).replace(": 0", ": " + v, 1).encode(), None
        if choice == 2:  # duplicate keys
            return (text[:-1] + f", {json.dumps(k)}: {json.dumps(valid.get(k, 1))}" + "}"
                    ).encode(), None
        if choice == 3:
            v = r.choice([r'"\u0000"', r'"a\u0000b"', r'"\ud800"', r'"\udc00x"',
                          r'"\ud800\udc00"', r'"\uDBFF\uDFFF"', r'"\u00e9"', r'"\x41"',
                          r'"\u12"', r'"\uzzzz"'])
            return json.dumps(dict(valid, **{k: "@@"})).replace('"@@"', v, 1).encode(), None
        if choice == 4:  # overlong and stray UTF-8
            bad = r.choice([b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf", b"\xed\xa0\x80",
                            b"\xff", b"\x80", b"\xc3", b"\xf4\x90\x80\x80", b"\xc3\xa9"])
            return json.dumps(dict(valid, **{k: "@@"})).encode().replace(b"@@", bad, 1), None
        if choice == 5:
            return b"\xef\xbb\xbf" + text.encode(), None
        if choice == 6:  # cut short
            b = text.encode()
            return b[:r.randrange(len(b))], None
        if choice == 7:  # bytes flipped
            b = bytearray(text.encode())
            for _ in range(r.randrange(1, 4)):
                b[r.randrange(len(b))] = r.randrange(256)
            return bytes(b), None
        if choice == 8:  # not an object
            return r.choice([b"[]", b"null", b"1", b'"x"', b"true", b"[{}]", b" ", b"{}{}",
                             b"{} x", b"{\"a\":1,}", b"{'a':1}"]), None
        if choice == 9:  # wrong types
            v = r.choice([None, True, [], {}, 1.5, -1, 2**40, "", "x" * 2000, [1, 2]])
            return json.dumps(dict(valid, **{k: v})).encode(), None
        if choice == 10:
            return json.dumps(dict(valid, **{r.choice(["period", "", "\u00e9", "a" * 300,
                                                       "x\u0001"]): 1})).encode(), None
        if choice == 11:  # a field missing
            v = dict(valid)
            v.pop(k, None)
            return json.dumps(v).encode(), None
        if choice == 12:  # raw control characters, whitespace games
            return r.choice([text.replace(":", ":\x00", 1), text.replace(":", ":\x0b", 1),
                             "\n\t " + text + "\r\n ", text.replace('"', "'")]).encode(), None
        if choice == 13:  # huge strings
            return json.dumps(dict(valid, **{k: "x" * r.choice([256, 257, 1025, 60000])})
                              ).encode(), None
        if choice == 14:  # comments and trailing garbage
            return (text + r.choice(["//", "/**/", "\x00", "]", " {}"])).encode(), None
        if choice == 15:  # escapes in keys
            return text.replace(json.dumps(k), r.choice(
                ['"\\u0000"', '"\\ud800"', json.dumps(k)[:-1] + '\\u0000"']), 1).encode(), None
        if choice == 16:  # a big array of numbers
            return json.dumps(dict(valid, x=list(range(r.choice([10, 9000]))))).encode(), None
        return text.encode(), None  # the valid body itself (sent without a real token)

    # cases

    def case_route_matrix(self):
        """Every route with every method; real tokens only where a refusal is certain."""
        r = self.rng
        m, pattern, body_kind, valid = r.choice(ROUTES)
        method = r.choice(METHODS + [m, m])
        path = self.fill(pattern, real=r.random() < 0.3)
        hit, allow = route_of(method, path)
        kind, auth = self.token(may_be_real=hit is None)  # 404/405 whoever asks
        headers = [("Authorization", auth)] if auth else []
        body = b""
        if r.random() < 0.5 and valid is not None:
            body = json.dumps(valid).encode()
        if hit and hit[1] in TOKENLESS:
            body = b"{" if hit[2] == "required" else b"{}"  # refused for its body only
        if body:
            headers.append(("Content-Type", "application/json"))
        headers.append(("Connection", "close"))
        answers = exchange(self.port, request_bytes(method, path, headers, body), False,
                           head_req=method == "HEAD")
        self.expect_one(answers, method, path, hit, allow, body, headers, real=kind in (
            "session", "service"))

    def case_json(self):
        """A body route, a body mutated from a valid one."""
        r = self.rng
        m, pattern, body_kind, valid = r.choice([x for x in ROUTES if x[3] is not None])
        body, depth = self.mutate_json(valid)
        try:
            model = ("refused" if depth and depth > 2048 else "deep" if depth else
                     json_model(body))
        except Refused:
            model = "refused"
        # A real token goes only with a body the server must refuse before any handler.
        real_ok = model == "refused" or not isinstance(model, dict)
        kind, auth = self.token(may_be_real=real_ok)
        if not real_ok and pattern in TOKENLESS:
            return  # a valid body there acts without a token
        path = self.fill(pattern, real=kind != "none" and real_ok)
        headers = [("Content-Type", r.choice(["application/json",
                                              "application/json; charset=utf-8",
                                              "Application/JSON"]))]
        if auth:
            headers.append(("Authorization", auth))
        if r.random() < 0.2:
            headers.append(("Expect", "100-continue"))
        headers.append(("Connection", "close"))
        answers = exchange(self.port, request_bytes(m, path, headers, body), False)
        hit, allow = route_of(m, path)
        self.expect_one(answers, m, path, hit, allow, body, headers, real=kind in (
            "session", "service"), model=model)

    def expect_one(self, answers, method, path, hit, allow, body, headers, real, model=None):
        self.sent += 1
        finals = [a for a in answers if a.status >= 200]
        assert len(finals) == 1, f"{method} {path}: answers {answers}"
        for a in answers:
            if a.status < 200:
                assert a.status == 100 and ("Expect", "100-continue") in headers, answers
        a = finals[0]
        code = check_pahara(a, method)
        if hit is None:
            if allow:
                assert a.status == 405, (method, path, a)
                assert set(a.header("allow").split(", ")) == set(allow), a
            else:
                assert code == "not_found", (method, path, a)
            return
        _, pattern, body_kind, _ = hit
        if len(body) > BODY_MAX:
            assert code == "payload_too_large", a
            return
        ctype = dict(headers).get("Content-Type", "")
        wants_body = body_kind == "required" or (body_kind == "optional" and body)
        if wants_body:
            if not body:
                assert code == "invalid_json", a
                return
            if ctype.split(";")[0].strip().lower() != "application/json":
                assert code == "unsupported_media_type", a
                return
            if model is None:
                try:
                    model = json_model(body)
                except Refused:
                    model = "refused"
            if model == "refused" or (model != "deep" and not isinstance(model, dict)):
                assert code == "invalid_json", (method, path, body[:200], a)
                return
        elif body:
            assert code == "invalid_json", a
            return
        if real:
            assert a.status >= 400, f"a request with a real token was not refused: {a}"
        if (method, pattern) not in HARMLESS:
            assert a.status >= 400 or not real, a

    def case_head(self):
        """Request lines and heads, mutated."""
        r = self.rng
        method = r.choice(METHODS + ["", "G ET", "GET\x01", "\xff", "A" * 300])
        m, pattern, _, _ = r.choice(ROUTES)
        path = self.fill(pattern)
        choice = r.randrange(10)
        if choice == 0:
            path = path + r.choice(["%00", "%00junk", "%2F", "%", "%zz", "%C0%AF", "/..",
                                    "/./", "//", "?%00=%00", "?a=%ff&b", "#frag"])
        elif choice == 1:
            path = "/" + "a" * r.choice([100, 4000, 10000, 17000])
        elif choice == 2:
            path = r.choice(["*", "", "http://x/v1/health", "v1/health", "/v1/health?" +
                             "&".join(f"a{i}=1" for i in range(r.choice([5, 300])))])
        elif choice == 3:
            path = "".join(r.choice("%/aZ09 \t\x7f\xc3\xa9") for _ in range(r.randrange(40)))
        version = r.choice(["HTTP/1.1"] * 6 + ["HTTP/1.0", "", "HTTP/0.9", "HTTP/2.0",
                                               "HTTP/1.1x", "http/1.1", "HTTP/9.9"])
        headers = []
        for _ in range(r.randrange(4)):
            headers.append(r.choice([
                ("X-" + "a" * r.choice([1, 100]), "b" * r.choice([0, 10, 5000, 17000])),
                ("Content-Length", r.choice(["0", "-1", "abc", "1 1", "99999999999999999999",
                                             "70000", "+5", " 3"])),
                ("Transfer-Encoding", r.choice(["chunked", "gzip", "chunked, chunked",
                                                "identity"])),
                ("Expect", r.choice(["100-continue", "200-ok"])),
                ("Connection", r.choice(["keep-alive", "close", "upgrade"])),
                ("Host", ""), ("", "empty name"), ("Bad Name", "x"), ("X", "a\x00b"),
            ]))
        headers.append(("Connection", "close"))
        try:
            head = request_bytes(method, path.encode("latin-1", "replace"), headers,
                                 version=version)
        except UnicodeEncodeError:
            return
        if r.random() < 0.2:
            head = head.replace(b"\r\n", b"\n")
        self.expect_any(exchange(self.port, head, head_req=method == "HEAD"), method)

    def expect_any(self, answers, method="GET"):
        """A request the generator may have made malformed: whatever is answered is
        well-formed (parse_answers), from Pahara's routes or libmicrohttpd's pages."""
        self.sent += 1
        if not answers:
            self.closed_unanswered += 1
        for a in answers:
            if a.status < 200:
                continue
            if a.header("content-type"):
                check_pahara(a, method)
            else:
                check_mhd(a, method)
                self.mhd += 1

    def case_framing(self):
        """Content-Length and chunked bodies, right and wrong; pipelining."""
        r = self.rng
        m, pattern, _, valid = r.choice([x for x in ROUTES if x[2] == "required" and
                                         x[1] not in TOKENLESS])  # the key refuses it
        path = self.fill(pattern)
        body = json.dumps(valid).encode()
        base = [("Content-Type", "application/json"),
                ("Authorization", "Bearer " + "Z" * 43)]
        choice = r.randrange(10)
        if choice == 0:  # duplicate Content-Length, same and different
            n = r.choice([len(body), len(body) + 1, 0])
            data = request_bytes(m, path, base + [("Content-Length", str(len(body))),
                                                  ("Content-Length", str(n))], body,
                                 length=False)
        elif choice in (1, 2):  # chunked, with extensions and trailers, sizes good or bad
            size = r.choice(["%x" % len(body), "%X" % len(body), "%x;ext=1" % len(body),
                             "%x ; a=\"b\"" % len(body), "zz", "-1", "", "0x10",
                             "f" * 20, "%x" % (len(body) + 5)])
            trailer = r.choice([b"", b"X-Trailer: 1\r\n", b"Content-Length: 1\r\n",
                                b"bad trailer\r\n"])
            chunked = size.encode() + b"\r\n" + body + b"\r\n0\r\n" + trailer + b"\r\n"
            te = [("Transfer-Encoding", "chunked")]
            if r.random() < 0.3:
                te.append(("Content-Length", str(len(body))))
            data = request_bytes(m, path, base + te, chunked, length=False)
        elif choice == 3:  # pipelined: several requests, the last closes
            reqs = [request_bytes("GET", "/v1/health"),
                    request_bytes(m, path, base, body),
                    request_bytes("DELETE", "/v1/nothing"),
                    request_bytes("GET", "/v1/health", [("Connection", "close")])]
            answers = exchange(self.port, b"".join(reqs))
            self.sent += 1
            assert [a.status for a in answers] == [200, 401, 404, 200], answers
            for a in answers:
                check_pahara(a)
            return
        elif choice == 4:  # a body longer than its Content-Length: the rest is a request
            extra = r.choice([b"GET /v1/health HTTP/1.1\r\nConnection: close\r\n\r\n",
                              b"garbage\r\n\r\n", b"}}}}"])
            data = request_bytes(m, path, base + [("Content-Length", str(len(body)))], body +
                                 extra, length=False)
        elif choice == 5:  # shorter: the server waits for the rest, the client goes
            data = request_bytes(m, path, base + [("Content-Length", str(len(body) + 10))],
                                 body, length=False)
        elif choice == 6:  # Expect: 100-continue, body too large
            data = request_bytes(m, path, base + [("Expect", "100-continue"),
                                                  ("Content-Length", str(BODY_MAX + 1))],
                                 b"x" * (BODY_MAX + 1), length=False)
        elif choice == 7:  # HTTP/1.0 and HTTP/0.9
            data = r.choice([b"GET /v1/health HTTP/1.0\r\n\r\n", b"GET /v1/health\r\n",
                             b"GET /v1/health\r\n\r\n", request_bytes(m, path, base, body,
                                                                      version="HTTP/1.0")])
        else:  # a body far over the limit: 413 or, past the discard cap, the connection goes
            n = r.choice([BODY_MAX + 1, 3 * BODY_MAX, 2 * 1024 * 1024])
            data = request_bytes(m, path, base + [("Content-Length", str(n))], b"x" * n,
                                 length=False)
        self.expect_any(exchange(self.port, data))

    def case_cut(self):
        """A connection closed mid-head, mid-body, or right after a request the writer
        answers (the connection is suspended meanwhile)."""
        r = self.rng
        choice = r.randrange(4)
        if choice == 0:  # /v1/check, well-formed, an unknown key: answered by the writer
            body = json.dumps({"username": self.t["name"], "method": "totp",
                               "code": "%06d" % r.randrange(10**6)}).encode()
            data = request_bytes("POST", "/v1/check", [
                ("Content-Type", "application/json"),
                ("Authorization", "Bearer " + "".join(r.choice(PARAM_CHARS[:62])
                                                      for _ in range(43)))], body)
        elif choice == 1:  # verify of a sign-in that does not exist: on the pool
            body = json.dumps({"method": "totp", "code": "123456"}).encode()
            data = request_bytes("POST", f"/v1/login/{self.fill('{id}')}/verify",
                                 [("Content-Type", "application/json")], body)
        elif choice == 2:  # service account not found: on the pool, with a real key
            data = request_bytes("POST", "/v1/service/accounts/no-such-" +
                                 str(r.randrange(10**6)) + "/backup-codes", [
                                     ("Content-Type", "application/json"),
                                     ("Authorization", "Bearer " + self.t["service"])],
                                 b'{"count": 1}')
        else:
            data = request_bytes("POST", "/v1/check", [("Content-Type", "application/json")],
                                 b'{"username": "x", "method": "totp", "code": "1"}')
            data = data[:r.randrange(1, len(data))]  # mid-head or mid-body
        c = Conn(self.port)
        c.send(data)
        if r.random() < 0.5:  # a reset, not a close: unread bytes then SO_LINGER 0
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00"
                              b"\x00\x00")
        c.close()
        self.sent += 1

    CASES = [("case_route_matrix", 4), ("case_json", 6), ("case_head", 3),
             ("case_framing", 3), ("case_cut", 2)]

    def one(self):
        names = [n for n, w in self.CASES for _ in range(w)]
        getattr(self, self.rng.choice(names))()


# ---- slow clients -----------------------------------------------------------------------

class Slow(threading.Thread):
    """Sends a request one byte a second, then reads the answer."""

    def __init__(self, port, data, stop):
        super().__init__(daemon=True)
        self.port, self.data, self.stop_ = port, data, stop
        self.answers = None
        self.error = None

    def run(self):
        try:
            c = Conn(self.port)
            for i in range(len(self.data)):
                if self.stop_.wait(1.0):
                    c.close()
                    return
                c.send(self.data[i:i + 1])
            data = b""
            while chunk := c.sock.recv(65536):  # an answer, or the server's close
                data += chunk
                try:
                    if parse_answers(data):
                        break
                except AssertionError:
                    continue  # not all there yet
            self.answers = parse_answers(data)
            c.close()
        except BaseException as e:
            self.error = e


# ---- the test ---------------------------------------------------------------------------------

def snapshot(s, user):
    return s.admin("user", "show", user.name).stdout


def audit_lines(s):
    return s.admin("audit").stdout.splitlines()


def canary_sign_in(s, canary):
    tok = canary.sign_in_totp()
    assert_ok(s.get("/v1/factors", token=tok))


def test_hostile_clients_keep_the_server_serving(make_server):
    s = make_server()
    svc = s.service_key()
    target = s.new_user(svc)
    session = target.with_totp()
    login_id = target.start()
    canary = s.new_user(svc)
    canary.with_totp()
    before_target = snapshot(s, target)
    audit_before = audit_lines(s)

    rng = random.Random(SEED)
    fuzz = Fuzz(s, rng, {"session": session, "service": svc, "login_id": login_id,
                         "name": target.name})
    stop = threading.Event()
    slow = [Slow(s.port, b"GET /v1/health HTTP/1.1\r\n\r\n", stop),
            Slow(s.port, b"GET /v1/nope HTTP/1.0\r\n\r\n", stop),
            Slow(s.port, request_bytes("POST", "/v1/check", [
                ("Content-Type", "application/json"), ("Authorization", "Bearer " + svc)],
                b'{"username":"x","method":"totp","code":"1"}')[:40], stop)]
    for t in slow:
        t.start()
    deadline = time.monotonic() + BUDGET
    i = 0
    try:
        while time.monotonic() < deadline:
            try:
                fuzz.one()
            except AssertionError as e:
                sent = getattr(LAST_SENT, "data", b"")
                raise AssertionError(f"request {i} of seed {SEED}: {e}\nsent: {sent[:800]!r}"
                                     ) from None
            i += 1
            if i % CHECK_EVERY == 0:
                canary_sign_in(s, canary)
                s.assert_sanitizer_clean()
                assert s.proc.poll() is None, s.stderr()
    finally:
        stop.set()
    for t in slow[:2]:
        t.join(60)
    for t in slow[:2]:
        assert t.error is None, t.error
        if t.answers is not None:  # all sent within the budget
            assert len(t.answers) == 1 and t.answers[0].status in (200, 404), t.answers
            check_pahara(t.answers[0])

    canary_sign_in(s, canary)
    s.assert_sanitizer_clean()
    assert s.healthy()
    assert fuzz.sent > 500, fuzz.sent
    # Nothing the hostile requests carried a real token for has changed, and the audit log
    # holds only the canary's sign-ins.
    assert snapshot(s, target) == before_target
    added = audit_lines(s)[len(audit_before):]
    assert added, "the canary's sign-ins are audited"
    for line in added:
        assert line.split("\t")[3] == canary.name, f"audited during the fuzz: {line}"
    print(f"seed {SEED}: {fuzz.sent} requests, {fuzz.mhd} answered by libmicrohttpd, "
          f"{fuzz.closed_unanswered} closed unanswered")


# ---- regressions found by the run above ------------------------------------------------------

def read_until_closed(c):
    data = b""
    while chunk := c.sock.recv(65536):  # READ_TIMEOUT: a connection left open fails here
        data += chunk
    return data


@pytest.mark.parametrize("framing", ["two-lengths", "length-and-chunked"])
def test_request_of_doubtful_length_refused_and_connection_closed(server, svc, framing):
    """RFC 9112 §6.3: a request whose head gives two different Content-Length, or both
    Content-Length and Transfer-Encoding, has no sure end.  Acting on it, and reading on
    after it, lets a proxy that reads the other length smuggle a request past itself: it is
    refused with 400 invalid_argument, nothing is done, and the connection is closed."""
    name = "smuggle-" + str(random.Random(framing).randrange(10**9))
    body = json.dumps({"username": name}).encode()
    smuggled = b"GET /v1/health HTTP/1.1\r\nHost: pahara.test\r\n\r\n"
    if framing == "two-lengths":
        framed = [("Content-Length", str(len(body))),
                  ("Content-Length", str(len(body) + len(smuggled)))]
        rest = body + smuggled
    else:
        framed = [("Transfer-Encoding", "chunked"), ("Content-Length", str(len(body)))]
        rest = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n" + smuggled
    c = Conn(server.port)
    c.send(request_bytes("POST", "/v1/service/accounts", [
        ("Content-Type", "application/json"), ("Authorization", "Bearer " + svc)] + framed,
        rest, length=False))
    answers = parse_answers(read_until_closed(c))
    c.close()
    assert len(answers) == 1, answers
    assert check_pahara(answers[0]) == "invalid_argument", answers
    assert answers[0].status == 400 and answers[0].header("connection") == "close", answers
    # Nothing was made: the name is still free.
    r = server.post("/v1/service/accounts", {"username": name}, token=svc)
    assert r.status_code == 201, r.text


def test_same_content_length_twice_is_one_length(server, svc):
    """RFC 9112 §6.3 lets a recipient take a length repeated with the same value."""
    name = "twice-" + str(random.Random(7).randrange(10**9))
    body = json.dumps({"username": name}).encode()
    answers = exchange(server.port, request_bytes("POST", "/v1/service/accounts", [
        ("Content-Type", "application/json"), ("Authorization", "Bearer " + svc),
        ("Content-Length", str(len(body))), ("Content-Length", str(len(body))),
        ("Connection", "close")], body, length=False), half_close=False)
    assert [a.status for a in answers] == [201], answers


def _request_then_leave(port, data, how):
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(data)
        if how == "half-close":
            sock.shutdown(socket.SHUT_WR)
            try:
                sock.recv(65536)
            except OSError:
                pass
        # "close": leave at once, answered or not


@pytest.mark.parametrize("how", ["half-close", "close"])
def test_client_leaving_while_its_answer_is_made_elsewhere(server, how):
    """A request answered on another thread (a worker pool, the store's writer) whose client
    leaves at once: libmicrohttpd may end the connection the moment the answer resumes it,
    while the answering thread still held the request's lock, and the request was freed under
    it (a write after free that corrupted the heap: the release build crashed within seconds
    of the hostile-client run).  Many such requests from four threads at once, then the
    server must still answer and stop cleanly (the fixture checks its exit and stderr)."""
    body = b'{"username":"x","password":"y"}'
    data = request_bytes("POST", "/v1/service/accounts",
                         [("Content-Type", "application/json")], body)

    def leave_many():
        for _ in range(150):
            _request_then_leave(server.port, data, how)

    threads = [threading.Thread(target=leave_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_ok(server.get("/v1/health"))
    server.assert_sanitizer_clean()
