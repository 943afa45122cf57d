"""Bad input (DESIGN, non-negotiable): a clear error with a stable code, nothing changes, and
the server keeps serving.  Every error body is exactly {"error":{"code","message"}}."""

import json
import secrets
import socket

import pytest
import requests

from conftest import assert_error, assert_ok

BODY_MAX = 64 * 1024


def raw(server, method, path, data, content_type="application/json", token=None,
        headers=None):
    h = dict(headers or {})
    if content_type is not None:
        h["Content-Type"] = content_type
    if token:
        h["Authorization"] = "Bearer " + token
    return requests.request(method, server.base + path, data=data, headers=h, timeout=30)


@pytest.fixture
def fresh_name():
    return "bad-" + secrets.token_hex(5)


def assert_nothing_made(server, svc, name):
    """The server still answers, and no account `name` was made by the bad requests."""
    assert server.healthy()
    r = server.post("/v1/service/accounts", {"username": name, "password": "pw-fine-123"},
                    token=svc)
    assert r.status_code == 201, f"a bad request made account {name}: {r.text}"


def create_body(name, **extra):
    body = {"username": name, "password": "pw-fine-123"}
    body.update(extra)
    return body


# ---- size ------------------------------------------------------------------------------


def test_body_over_64_kib_refused(server, svc, fresh_name):
    def padded(total):
        head = json.dumps(create_body(fresh_name))[:-1] + ', "pad": "'
        tail = '"}'
        return (head + "x" * (total - len(head) - len(tail)) + tail).encode()

    over = padded(BODY_MAX + 1)
    assert len(over) == BODY_MAX + 1
    assert_error(raw(server, "POST", "/v1/service/accounts", over, token=svc), 413,
                 "payload_too_large")
    # Without a Content-Length (chunked): the same.
    chunks = (over[i:i + 8192] for i in range(0, len(over), 8192))
    assert_error(raw(server, "POST", "/v1/service/accounts", chunks, token=svc), 413,
                 "payload_too_large")
    # Exactly 64 KiB is not too large: it is read and judged (here: an unknown field).
    exact = padded(BODY_MAX)
    assert_error(raw(server, "POST", "/v1/service/accounts", exact, token=svc), 400,
                 "unknown_field")
    # Far over: an answer or a closed connection, never a crash.
    try:
        r = raw(server, "POST", "/v1/login", b"{" + b" " * (4 * 1024 * 1024) + b"}")
        assert_error(r, 413, "payload_too_large")
    except requests.ConnectionError:
        pass
    # A body on an endpoint that takes none is refused too.
    assert_error(raw(server, "GET", "/v1/health", b"{}"), 400, "invalid_json")
    assert_nothing_made(server, svc, fresh_name)


# ---- content type ----------------------------------------------------------------------


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "application/jsonx", "json", "multipart/form-data; b=x"])
def test_wrong_content_type_refused(server, svc, fresh_name, ctype):
    body = json.dumps(create_body(fresh_name)).encode()
    assert_error(raw(server, "POST", "/v1/service/accounts", body, content_type=ctype,
                     token=svc), 415, "unsupported_media_type")
    assert_nothing_made(server, svc, fresh_name)


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_content_type_with_parameters_accepted(server, svc, ctype):
    name = "ct-" + secrets.token_hex(5)
    r = raw(server, "POST", "/v1/service/accounts", json.dumps(create_body(name)).encode(),
            content_type=ctype, token=svc)
    assert r.status_code == 201, r.text


# ---- JSON ------------------------------------------------------------------------------

NOT_JSON_OBJECTS = {
    "empty": b"",
    "malformed": b'{"username": "NAME", "password": ',
    "trailing_garbage": b'{"username": "NAME", "password": "pw-fine-123"} x',
    "two_objects": b'{"username": "NAME", "password": "pw-fine-123"}{}',
    "duplicate_key": b'{"username": "NAME", "password": "pw-fine-123", "username": "NAME"}',
    "duplicate_key_differing": b'{"username": "other", "password": "pw-fine-123", '
                               b'"username": "NAME"}',
    "top_level_array": b'[{"username": "NAME", "password": "pw-fine-123"}]',
    "top_level_string": b'"NAME"',
    "top_level_null": b"null",
    "single_quotes": b"{'username': 'NAME', 'password': 'pw-fine-123'}",
    "comment": b'{"username": "NAME", /* x */ "password": "pw-fine-123"}',
    "invalid_utf8": b'{"username": "NAME\xff\xfe", "password": "pw-fine-123"}',
    "invalid_utf8_in_key": b'{"username": "NAME", "password": "pw-fine-123", "\xc3": 1}',
    "overlong_utf8": b'{"username": "NAME\xc0\xaf", "password": "pw-fine-123"}',
    "utf8_surrogate": b'{"username": "NAME\xed\xa0\x80", "password": "pw-fine-123"}',
    "lone_surrogate_escape": b'{"username": "NAME\\ud800", "password": "pw-fine-123"}',
    "nul_escape": b'{"username": "NAME\\u0000", "password": "pw-fine-123"}',
    "raw_control_char": b'{"username": "NAME\x01", "password": "pw-fine-123"}',
    "deep_nesting": b'{"username": "NAME", "password": "pw-fine-123", "x": '
                    + b"[" * 100000 + b"]" * 100000 + b"}",
    "nan": b'{"username": "NAME", "password": "pw-fine-123", "count": NaN}',
    "huge_integer": b'{"count": 123456789012345678901234567890}',
}


@pytest.mark.parametrize("name", sorted(NOT_JSON_OBJECTS))
def test_invalid_json_refused(server, svc, fresh_name, name):
    body = NOT_JSON_OBJECTS[name].replace(b"NAME", fresh_name.encode())
    if len(body) > BODY_MAX:
        body = body[:BODY_MAX - 1] + b"}"  # stays within the size limit: judged as JSON
    assert_error(raw(server, "POST", "/v1/service/accounts", body, token=svc), 400,
                 "invalid_json")
    assert_nothing_made(server, svc, fresh_name)


def test_invalid_json_refused_on_every_body_endpoint(server, svc):
    u = server.new_user(svc)
    token = u.session()
    for path in ("/v1/login", "/v1/login/" + "A" * 32 + "/verify", "/v1/factors/totp/confirm",
                 "/v1/backup-codes", "/v1/reauth", "/v1/password", "/v1/twofactor/off",
                 "/v1/check", "/v1/service/accounts", "/v1/test/clock", "/v1/test/pause"):
        for body in (b"[]", b'{"a":1,"a":1}', b"{", b'{"a":"\xff"}'):
            tok = svc if "check" in path or "service" in path else token
            assert_error(raw(server, "POST", path, body, token=tok), 400, "invalid_json")
    assert server.healthy()
    assert assert_ok(u.login())["status"] == "signed_in"


def test_test_pause_takes_only_a_sane_ms(server):
    for body, code in (({}, "missing_field"), ({"ms": -1}, "invalid_field"),
                       ({"ms": 10001}, "invalid_field"), ({"ms": "5"}, "invalid_field"),
                       ({"ms": 5, "x": 1}, "unknown_field")):
        assert_error(server.post("/v1/test/pause", body), 400, code)
    assert assert_ok(server.post("/v1/test/pause", {"ms": 0})) == {"ms": 0}


# ---- fields ----------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    {"admin": True}, {"Username": "x"}, {"": 1}, {"\u0001\u00ff'\"": 1}, {"k" * 5000: 1}],
    ids=["plain", "case", "empty", "control", "long"])
def test_unknown_field_refused(server, svc, fresh_name, extra):
    r = server.post("/v1/service/accounts", create_body(fresh_name, **extra), token=svc)
    err = assert_error(r, 400, "unknown_field")
    assert len(err["message"]) < 200, err  # a hostile key is not echoed in full
    assert "\u0001" not in err["message"]
    assert_nothing_made(server, svc, fresh_name)


@pytest.mark.parametrize("password", [5, None, True, ["pw-fine-123"], {"p": 1}, 1.5,
                                      "p" * 1025], ids=["int", "null", "bool", "array",
                                                        "object", "float", "overlong"])
def test_wrong_type_or_overlong_field_refused(server, svc, fresh_name, password):
    r = server.post("/v1/service/accounts", {"username": fresh_name, "password": password},
                    token=svc)
    assert_error(r, 400, "invalid_field")
    assert_nothing_made(server, svc, fresh_name)


def test_field_limits_on_sign_in(server, svc):
    u = server.new_user(svc)
    for body, code in [
        ({"username": "x" * 65, "password": "p", "client": "web"}, "invalid_field"),
        ({"username": u.name, "password": "p" * 1025, "client": "web"}, "invalid_field"),
        ({"username": u.name, "password": u.password, "client": "c" * 1000}, "invalid_field"),
        ({"username": u.name, "password": u.password, "client": ""}, "invalid_field"),
        ({"username": "", "password": u.password, "client": "web"}, "invalid_field"),
        ({"username": u.name, "password": u.password, "client": 1}, "invalid_field"),
        ({"username": u.name, "password": u.password}, "missing_field"),
        ({"username": u.name, "client": "web"}, "missing_field"),
        ({}, "missing_field"),
    ]:
        assert_error(server.post("/v1/login", body), 400, code)
    token = u.session()
    for body, code in [
        ({"count": "2"}, "invalid_field"),
        ({"count": 1.0}, "invalid_field"),
        ({"count": True}, "invalid_field"),
        ({"count": -1}, "invalid_field"),
        ({"count": 2 ** 63 - 1}, "invalid_field"),
    ]:
        assert_error(server.post("/v1/backup-codes", body, token=token), 400, code)
    lid = "A" * 32
    for body, code in [
        ({"method": "sms", "code": "123456"}, "invalid_field"),
        ({"method": "totp", "code": "1" * 65}, "invalid_field"),
        ({"method": "totp"}, "missing_field"),
        ({"code": "123456"}, "missing_field"),
    ]:
        assert_error(server.post(f"/v1/login/{lid}/verify", body), 400, code)
    assert server.healthy()


@pytest.mark.parametrize("missing", ["username"])
def test_missing_field_refused(server, svc, fresh_name, missing):
    body = create_body(fresh_name)
    del body[missing]
    assert_error(server.post("/v1/service/accounts", body, token=svc), 400, "missing_field")
    assert_nothing_made(server, svc, fresh_name)


def test_bad_bodies_change_nothing(server, svc):
    """A password change, backup-code generation and two-factor off with bad bodies."""
    u = server.new_user(svc)
    token = u.with_totp()
    for body in (b'{"password": "%s", "new_password": "pw-new-12345", "x": 1}',
                 b'{"password": "%s", "new_password": 12345678}',
                 b'{"password": "%s", "new_password": "pw-new-12345", '
                 b'"new_password": "pw-new-12345"}',
                 b'{"password": "%s", "new_password": "pw-new-\xff2345"}'):
        body = body.replace(b"%s", u.password.encode())
        r = raw(server, "POST", "/v1/password", body, token=token)
        assert r.status_code == 400, r.text
    for body in (b'{"count": 5, "x": 1}', b'{"count": 6}', b'{"count": 5, "count": 5}'):
        assert raw(server, "POST", "/v1/backup-codes", body, token=token).status_code == 400
    code = u.next_totp()
    for body in ({"password": u.password, "method": "totp", "code": code, "x": 1},
                 {"password": u.password, "method": "totp", "code": int(code)},
                 {"password": u.password, "method": ["totp"], "code": code}):
        assert server.post("/v1/twofactor/off", body, token=token).status_code == 400
    # Nothing changed: same password, one backup code, two-factor on, the code unused.
    assert assert_ok(u.login())["status"] == "second_step"
    assert assert_ok(server.get("/v1/backup-codes", token=token))["active"] == 1
    assert assert_ok(u.check("totp", code)) == {"status": "ok"}


# ---- routes and methods ----------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/", "/v1", "/v1/", "/v1/nope", "/v1/health/", "/v1//health", "/V1/health",
    "/v1/login/", "/v1/login//verify", "/v1/sessions/1/2", "/v1/login/%2F/verify",
    "/v1/login/" + "A" * 200 + "/verify", "/v1/health%20", "/v1/../v1/health",
    "/v1/" + "x" * 3000])
def test_unknown_route_404(server, path):
    r = requests.get(server.base + path, timeout=30)
    if path == "/v1/../v1/health" and r.status_code == 200:
        return  # the client normalised it: a real route
    assert_error(r, 404, "not_found")
    assert server.healthy()


def test_path_with_escaped_nul_is_not_a_shorter_path(server, svc):
    """A %00 in the path must not cut it short: /v1/health%00junk is not /v1/health, and
    DELETE /v1/sessions/ID%00junk must not revoke session ID."""
    u = server.new_user(svc)
    token = u.session()
    other = u.session()
    sid = [x["id"] for x in assert_ok(server.get("/v1/sessions", token=token))["sessions"]
           if not x["current"]][0]
    r = requests.delete(f"{server.base}/v1/sessions/{sid}%00junk",
                        headers={"Authorization": "Bearer " + token}, timeout=30)
    assert r.status_code == 404, r.text
    assert_ok(server.get("/v1/sessions", token=other))
    assert_error(requests.get(server.base + "/v1/health%00junk", timeout=30), 404, "not_found")
    assert server.healthy()


class RawAnswer:
    """An answer read off the socket, with enough of requests.Response for assert_error()."""

    def __init__(self, data):
        head, self.content = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status_code = int(lines[0].split(" ", 2)[1])
        self.headers = requests.structures.CaseInsensitiveDict(
            line.split(": ", 1) for line in lines[1:])
        self.text = self.content.decode("latin-1")


def raw_request(server, request_line):
    """Send request_line (bytes, as they are: no client library would send these) and read
    the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as c:
        c.sendall(request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := c.recv(65536):
            data += chunk
    return RawAnswer(data)


@pytest.mark.parametrize("target,shown", [
    (b"/v1/%FF", "/v1/?"),                           # decodes to a byte that is not UTF-8
    (b"/v1/\xc3", "/v1/?"),                          # sent raw
    (b"/v1/login/%FF/verify", "/v1/login/?/verify"),
    (b"/v1/%01x%7F", "/v1/?x?"),                     # control characters
    (b"/v1/caf%C3%A9", "/v1/caf\u00e9"),             # UTF-8 stays
    (b"/v1/x" + b"%C3%A9" * 150, "/v1/x" + "\u00e9" * 97),  # cut between two characters
], ids=["escaped", "raw", "in-a-route", "controls", "utf8", "cut"])
def test_unknown_path_that_is_not_utf8_is_404(server, target, shown):
    """The 404's message quotes the path: as UTF-8, whatever bytes it holds, never a 500."""
    err = assert_error(raw_request(server, b"GET " + target + b" HTTP/1.1"), 404, "not_found")
    assert err["message"] == "no endpoint GET " + shown
    assert server.healthy()


@pytest.mark.parametrize("method,shown", [
    (b"\xff", "?"), (b"G\xc3\xa9T", "G\u00e9T"), (b"\xc3\xa9" * 4, "\u00e9" * 3),
    (b"GET\x01", "GET?"),
], ids=["not-utf8", "utf8", "cut", "control"])
def test_unknown_method_that_is_not_utf8_is_405(server, method, shown):
    r = raw_request(server, method + b" /v1/health HTTP/1.1")
    err = assert_error(r, 405, "method_not_allowed")
    assert err["message"] == shown + " is not allowed here; use GET"
    assert r.headers["Allow"] == "GET"
    assert server.healthy()


@pytest.mark.parametrize("method,path,allow", [
    ("PUT", "/v1/login", {"POST"}),
    ("GET", "/v1/login", {"POST"}),
    ("DELETE", "/v1/health", {"GET"}),
    ("POST", "/v1/health", {"GET"}),
    ("PATCH", "/v1/backup-codes", {"GET", "POST"}),
    ("GET", "/v1/login/" + "A" * 32 + "/verify", {"POST"}),
    ("POST", "/v1/sessions/12", {"DELETE"}),
    ("PUT", "/v1/temporary-passwords", {"GET", "POST"}),
    ("GET", "/v1/check", {"POST"}),
    ("BREW", "/v1/health", {"GET"}),
])
def test_wrong_method_405_with_allow(server, method, path, allow):
    r = requests.request(method, server.base + path, timeout=30)
    assert_error(r, 405, "method_not_allowed")
    got = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert got == allow, r.headers
    assert server.healthy()


def test_many_bad_requests_then_still_serving(server, svc):
    """A burst of garbage on kept-alive and fresh connections; then real work still works."""
    sess = requests.Session()
    for i in range(200):
        body = secrets.token_bytes(secrets.randbelow(300))
        r = sess.post(server.base + "/v1/login", data=b"{" + body,
                      headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_json"
    sess.close()
    u = server.new_user(svc)
    u.with_totp()
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}
