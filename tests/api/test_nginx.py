"""Pahara behind nginx (issue 4): docs/examples/nginx.conf, run as it stands in front of real
nodes by a real nginx (Debian's nginx-light), the client speaking HTTPS to nginx only.

The example is used as written but for its lines marked "# SITE" (its placeholders: ports,
certificate, node addresses, pid and log paths), which `site_config` rewrites one by one; it
also adds paths for nginx's temporary files, which the example leaves at Debian's.  A marked
line that `site_config` does not know fails every test here, so the file and its test cannot
drift apart.

Two nodes need one store they share: the tests with two nodes run on PostgreSQL only (as in
test_postgres.py).  The others run on both stores with one node behind nginx.

Which node served a request is read from nginx's access log, whose `upstream="..."` field (the
example's log format) names the node, or two nodes when nginx went on to a second one."""

import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ROOT, Server, assert_error, assert_ok

EXAMPLE = ROOT / "docs/examples/nginx.conf"
BODY_MAX = 64 * 1024
SITE_NAME = "pahara.example.org"  # the example's server_name
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


@pytest.fixture(scope="module", autouse=True)
def _tools():
    """nginx and openssl are part of `make check` (scripts/deps.sh check installs them): one
    missing fails the tests here, not skips them, so that a machine without them cannot pass."""
    for tool in (NGINX, OPENSSL):
        if not os.path.exists(tool):
            pytest.fail(f"{tool} is not installed: run scripts/deps.sh check")


# ---- the example, made to run here ---------------------------------------------------------


def site_config(text, *, prefix, https_port, http_port, cert, key, nodes):
    """The example with its "# SITE" lines rewritten for this test: nginx's own files under
    prefix, both servers on 127.0.0.1 and the given ports, the test's certificate, and one
    `server` line per node address in the upstream (in place of the example's, with the first
    one's parameters)."""
    out, nodes_done, marked = [], False, 0
    for line in text.splitlines():
        if not line.rstrip().endswith("# SITE"):
            out.append(line)
            if line.strip() == "http {":  # the example keeps Debian's temporary paths
                out += [f"    {d}_temp_path {prefix}/{d}_temp;"
                        for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")]
            continue
        marked += 1
        indent = line[:len(line) - len(line.lstrip())]
        words = line.split("#", 1)[0].rstrip().rstrip(";").split()
        d, args = words[0], words[1:]
        if d == "pid":
            new = [f"pid {prefix}/nginx.pid;"]
        elif d == "error_log":
            new = [f"error_log {prefix}/error.log info;"]
        elif d == "access_log":
            new = [f"access_log {prefix}/access.log {' '.join(args[1:])};"]
        elif d == "listen" and args == ["443", "ssl"]:
            new = [f"listen 127.0.0.1:{https_port} ssl;"]
        elif d == "listen" and args == ["80"]:
            new = [f"listen 127.0.0.1:{http_port};"]
        elif d == "server_name":
            new = [line.strip()]  # as it is: the redirect names it
        elif d == "ssl_certificate":
            new = [f"ssl_certificate {cert};"]
        elif d == "ssl_certificate_key":
            new = [f"ssl_certificate_key {key};"]
        elif d == "server":  # the upstream's nodes
            new = [] if nodes_done else [" ".join(["server", n, *args[1:]]) + ";" for n in nodes]
            nodes_done = True
        else:
            raise AssertionError(f"{EXAMPLE}: a SITE line this test does not know: {line!r}")
        out += [indent + n for n in new]
    assert nodes_done and marked >= 10, f"{EXAMPLE}: its SITE lines are not where expected"
    return "\n".join(out) + "\n"


def free_ports(n):
    """n different free ports on 127.0.0.1 (free now: nginx may still find one taken)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# The request line; one that nginx refused as too long is logged as far as nginx read it.
LOG_LINE = re.compile(r'"(?P<method>\S+) (?P<path>[^" ]+)[^"]*" (?P<status>\d+) .*'
                      r'upstream="(?P<upstream>[^"]*)"')


class Nginx:
    """nginx -p PREFIX -c PREFIX/nginx.conf, in the foreground, on two free loopback ports.

    PREFIX is a directory of its own (mode 0755, outside pytest's private tmp): as root, nginx's
    workers run as the example's `user` (www-data) and must reach their temporary files."""

    def __init__(self, tls, nodes):
        self.cert, self.key = tls
        self.nodes = nodes
        self.prefix = pathlib.Path(tempfile.mkdtemp(prefix="pahara-nginx-"))
        self.prefix.chmod(0o755)
        self.proc = None

    def start(self):
        for attempt in range(4):  # a port free a moment ago may be taken when nginx binds it
            self.https_port, self.http_port = free_ports(2)
            conf = site_config(EXAMPLE.read_text(), prefix=self.prefix,
                               https_port=self.https_port, http_port=self.http_port,
                               cert=self.cert, key=self.key, nodes=self.nodes)
            (self.prefix / "nginx.conf").write_text(conf)
            for old in ("error.log", "access.log", "nginx.pid"):
                (self.prefix / old).unlink(missing_ok=True)
            self.stderr_path = self.prefix / f"stderr.{attempt}"
            with open(self.stderr_path, "wb") as err:
                self.proc = subprocess.Popen(
                    [NGINX, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
                     "-g", "daemon off;"],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err)
            if self._wait_listening():
                return self
            if "Address already in use" not in self.errors():
                pytest.fail(f"nginx did not start: {self.errors()}")
        pytest.fail(f"nginx found no free ports: {self.errors()}")

    def _wait_listening(self):
        """True once nginx has written its pid file, which it does after binding its ports;
        False if it exits first (after trying to bind for 2.5 s)."""
        pid_file = self.prefix / "nginx.pid"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if pid_file.read_text().strip() == str(self.proc.pid):
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait(5)
        pytest.fail(f"nginx did not start within 15 s: {self.errors()}")

    def errors(self):
        text = self.stderr_path.read_text(errors="replace")
        log = self.prefix / "error.log"
        if log.exists():
            text += log.read_text(errors="replace")
        return text[-4000:]

    def stop(self):
        """Fast shutdown (SIGTERM); nginx must exit 0 and have logged nothing grave."""
        try:
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    rc = self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
                    pytest.fail(f"nginx did not stop within 10 s: {self.errors()}")
                assert rc == 0, f"nginx exited {rc}: {self.errors()}"
                text = self.errors()
                for grave in ("[emerg]", "[alert]"):
                    assert grave not in text, text
        finally:
            shutil.rmtree(self.prefix, ignore_errors=True)

    # the access log

    def log(self, count=None):
        """The access log's lines as dicts (method, path, status, upstream); with count, waits
        until there are that many (nginx writes a line once the answer is sent)."""
        deadline = time.monotonic() + 5
        while True:
            path = self.prefix / "access.log"
            lines = path.read_text().splitlines() if path.exists() else []
            if count is None or len(lines) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        out = []
        for line in lines:
            m = LOG_LINE.search(line)
            assert m, f"an access log line not in the example's format: {line!r}"
            out.append(m.groupdict())
        assert count is None or len(out) == count, out
        return out


class Response:
    """What conftest's assert_ok / assert_error read from a requests.Response."""

    def __init__(self, r):
        self.status_code = r.status
        self.headers = r.headers
        self.content = r.read()
        self.text = self.content.decode(errors="replace")

    def json(self):
        return json.loads(self.content)


class Front:
    """The site as a client sees it: HTTPS to nginx over one keep-alive connection from
    `source` (a loopback address), the certificate checked.  It stands in for a Server in
    conftest's User helpers: requests go through nginx, the test clock is moved on each running
    node directly (every node has its own)."""

    get, post, delete = Server.get, Server.post, Server.delete
    new_user, now, step = Server.new_user, Server.now, Server.step

    def __init__(self, proxy, nodes, ca, source="127.0.0.1"):
        self.proxy = proxy
        self.nodes = nodes
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.source = source
        self.offset = nodes[0].offset
        assert all(n.offset == self.offset for n in nodes)
        self.conn = None
        self.sent = 0  # requests answered: nginx's access log has (or soon will have) a line each

    def request(self, method, path, body=None, token=None, headers=None, data=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(
                "127.0.0.1", self.proxy.https_port, context=self.ctx, timeout=30,
                source_address=(self.source, 0))
        chunked = data is not None and not isinstance(data, (bytes, str))
        try:
            self.conn.request(method, path, body=data, headers=h, encode_chunked=chunked)
            r = Response(self.conn.getresponse())
        except BaseException:
            self.close()
            raise
        self.sent += 1
        return r

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def service_key(self):
        return self.nodes[0].service_key()

    def advance(self, seconds):
        for n in self.nodes:
            if n.proc.poll() is None:
                n.advance(seconds)
        self.offset += int(seconds)


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A self-signed certificate for the example's name and for 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                    f"/CN={SITE_NAME}", "-addext", f"subjectAltName=DNS:{SITE_NAME},IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def nginx(tls):
    """nginx(upstreams) -> a started Nginx in front of those addresses; stopped afterwards,
    also when the test fails."""
    started = []

    def start(upstreams):
        p = Nginx(tls, upstreams)
        started.append(p)
        return p.start()

    yield start
    errors = []
    for p in started:
        try:
            p.stop()
        except BaseException as e:  # stop every nginx, report the first failure
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture
def site(make_server, nginx, tls):
    """site(n, config) -> (front, nodes, proxy): n nodes of one site behind nginx, each
    trusting nginx (127.0.0.1) as a proxy.  More than one node needs PostgreSQL."""
    fronts = []

    def build(n=1, config=None):
        cfg = {"trusted_proxies": "127.0.0.1"}
        cfg.update(config or {})
        nodes = [make_server(config=cfg, name="node1")]
        for i in range(2, n + 1):
            nodes.append(_another_node(make_server, nodes[0], cfg, f"node{i}"))
        proxy = nginx([_addr(s) for s in nodes])
        front = Front(proxy, nodes, tls[0])
        fronts.append(front)
        return front, nodes, proxy

    yield build
    for f in fronts:
        f.close()


def _another_node(make_server, a, config, name):
    """Another node of a's site: the same database and key files."""
    data = make_server.base / name / "data"
    data.mkdir(mode=0o700, parents=True)
    for k in ("master.key", "codehash.key"):
        shutil.copy(a.data_dir / k, data / k)
    return make_server(config=config, name=name, store_url=a.store_url)


def _needs_postgresql(store):
    if store != "postgresql":
        pytest.skip("two nodes share a PostgreSQL database")


def _addr(s):
    """A node's address, as the upstream and the access log name it."""
    return f"127.0.0.1:{s.port}"


# ---- the tests -----------------------------------------------------------------------------


def test_a_sign_in_over_https_is_served_by_both_nodes(site, store):
    _needs_postgresql(store)
    front, (a, b), proxy = site(2)
    u = front.new_user(front.service_key())
    u.with_totp()
    before = front.sent
    lid = u.start()
    body = assert_ok(u.verify(lid, "totp", u.next_totp()))
    assert body["status"] == "signed_in", body
    sessions = assert_ok(front.get("/v1/sessions", token=body["session"]))["sessions"]
    assert [s["current"] for s in sessions].count(True) == 1
    log = proxy.log(front.sent)[before:]
    assert len(log) == 3, log
    assert [(e["method"], e["status"]) for e in log] == [("POST", "200")] * 2 + [("GET", "200")]
    assert log[1]["path"] == f"/v1/login/{lid}/verify"
    # nginx takes turns among the nodes: the password went to one, the code to the other.
    nodes = {_addr(a), _addr(b)}
    assert {log[0]["upstream"], log[1]["upstream"]} == nodes, log
    assert {e["upstream"] for e in proxy.log()} == nodes


def test_the_nodes_see_the_clients_address_not_nginxs(site):
    front, (node,), proxy = site(1, {"password_attempts_per_ip": 3,
                                     "password_attempts_window": 600})
    u = node.new_user(node.service_key(), password="pw-right-123")
    # Two clients, from two loopback addresses; the first claims other addresses too.
    c2 = Front(proxy, [node], proxy.cert, source="127.0.0.2")
    c3 = Front(proxy, [node], proxy.cert, source="127.0.0.3")
    try:
        wrong = {"username": u.name, "password": "pw-wrong-123", "client": "web"}
        codes = [c2.post("/v1/login", wrong,
                         headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                 for i in range(4)]
        # The per-address limit counts 127.0.0.2, whatever it claims: 3 attempts, then 429.
        assert codes == [401, 401, 401, 429], codes
        # Someone else behind the same nginx has a limit of their own.
        assert_error(c3.post("/v1/login", wrong), 401, "invalid_credentials")
        assert_error(c2.post("/v1/login", wrong, headers={"X-Forwarded-For": "127.0.0.3"}),
                     429, "rate_limited")
    finally:
        c2.close()
        c3.close()
    # Every attempt is audited with the client's address (the refused ones too, though not
    # under the account: `audit --user` leaves them out, so read them all).
    audit = [f for f in (line.split("\t") for line in node.admin("audit").stdout.splitlines())
             if f[1] == "login.password" and f[3] == u.name]
    assert [(f[2], f[4]) for f in audit] == [("invalid_password", "127.0.0.2")] * 3 + [
        ("rate_limited", "127.0.0.2"), ("invalid_password", "127.0.0.3"),
        ("rate_limited", "127.0.0.2")], audit


def test_a_stopped_node_is_passed_over(site, store):
    _needs_postgresql(store)
    front, (a, b), proxy = site(2)
    u = front.new_user(front.service_key())
    token = u.with_totp()
    a.stop()
    before = front.sent
    # Reads, a whole sign-in, and code checks: each is answered by the node that is left.
    for _ in range(3):
        assert_ok(front.get("/v1/sessions", token=token))
        session = u.sign_in_totp()
        assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}
    assert_ok(front.get("/v1/sessions", token=session))
    log = proxy.log(front.sent)[before:]
    assert len(log) >= 13, log
    assert all(e["status"] == "200" for e in log), log
    assert all(e["upstream"].split(", ")[-1] == _addr(b) for e in log), log
    # nginx tried a (its turn), found the connection refused, and went on to b; after 3 such
    # failures (the example's max_fails) it left a out (for 10 s).  Nothing had been sent to a,
    # so even a POST may go on.
    assert [e["upstream"] for e in log].count(f"{_addr(a)}, {_addr(b)}") >= 1, log


class _Swallower:
    """A node that takes a request and closes the connection without an answer, as a node that
    dies while it handles it.  Keeps the request line of each request it got."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.got = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                if data:
                    self.got.append(data.split(b"\r\n", 1)[0].decode())

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        self.sock.close()
        self.thread.join(5)


@pytest.mark.parametrize("method,path,retried", [
    ("GET", "/v1/health", True),
    ("POST", "/v1/check", False),
])
def test_a_post_is_never_sent_to_a_second_node(make_server, nginx, tls, method, path, retried):
    """A node that got the request and then failed: nginx sends a GET on to the next node, but
    answers a POST with 502 (the first node may have consumed a code)."""
    real = make_server(config={"trusted_proxies": "127.0.0.1"})
    dying = _Swallower()
    try:
        proxy = nginx([dying.addr, _addr(real)])
        front = Front(proxy, [real], tls[0])
        body = {"username": "nobody", "method": "totp", "code": "123456"}
        # nginx takes turns: within two requests, one goes to the dying node first.
        for n in range(2):
            r = front.request(method, path, body if method == "POST" else None,
                              token="x" * 43 if method == "POST" else None)
            e = proxy.log(n + 1)[n]
            if e["upstream"].startswith(dying.addr):
                break
        else:
            pytest.fail(f"no request reached the dying node: {proxy.log()}")
        front.close()
        assert dying.got == [f"{method} {path} HTTP/1.1"], dying.got
        if retried:
            assert e["upstream"] == f"{dying.addr}, {_addr(real)}", e
            assert r.status_code == 200, r.text
        else:
            assert e["upstream"] == dying.addr, e
            assert r.status_code == 502, r.text
    finally:
        dying.close()


def test_plain_http_is_redirected_to_https(site):
    _, _, proxy = site(1)
    for method in ("GET", "POST"):
        c = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)
        try:
            c.request(method, "/v1/login?x=1", body=b"{}" if method == "POST" else None,
                      headers={"Host": "attacker.example"})
            r = c.getresponse()
            r.read()
        finally:
            c.close()
        assert r.status == 301
        # To the configured name, whatever Host the client sent.
        assert r.headers["Location"] == f"https://{SITE_NAME}/v1/login?x=1"
    # Neither went to a node.
    assert [e["upstream"] for e in proxy.log(2)] == ["-", "-"]


def test_a_body_over_64_kib_is_refused_by_nginx(site):
    front, (node,), proxy = site(1)
    svc = front.service_key()

    def padded(total):
        head = json.dumps({"username": "big-one", "password": "pw-fine-123"})[:-1] + ', "pad": "'
        tail = '"}'
        return (head + "x" * (total - len(head) - len(tail)) + tail).encode()

    exact, over = padded(BODY_MAX), padded(BODY_MAX + 1)
    assert len(exact) == BODY_MAX and len(over) == BODY_MAX + 1
    hdrs = {"Content-Type": "application/json", "Authorization": "Bearer " + svc}
    # 64 KiB goes through to the node, which reads it and judges it (an unknown field).
    assert_error(front.request("POST", "/v1/service/accounts", data=exact, headers=hdrs), 400,
                 "unknown_field")
    # One byte more is refused by nginx, in Pahara's words; also without a Content-Length.
    assert_error(front.request("POST", "/v1/service/accounts", data=over, headers=hdrs), 413,
                 "payload_too_large")
    chunks = [over[i:i + 8192] for i in range(0, len(over), 8192)]
    assert_error(front.request("POST", "/v1/service/accounts", data=iter(chunks), headers=hdrs),
                 413, "payload_too_large")
    log = proxy.log(3)
    assert [e["status"] for e in log] == ["400", "413", "413"], log
    assert [e["upstream"] for e in log] == [_addr(node), "-", "-"], log
    assert node.healthy()


# ---- request heads -------------------------------------------------------------------------
#
# A node has 16 KiB of memory per connection (operations.md §11).  A head too large for it gets
# 431, but one that only just overflows it gets no answer: the node closes the connection.  So
# do heads whose many headers or query parameters (about 64 bytes of the node's bookkeeping
# each) exhaust it, even in 1.5 KB.  nginx, with nothing in its way, counted that as a failed
# node, sent a GET on to the next node, which failed the same way, and answered 502 "no live
# upstreams" to everyone for the next 10 s.


def _head(size, line_max=4000, path="/v1/health"):
    """A GET of exactly size bytes (request line, headers, blank line) filled with X-Pad-N
    headers of at most line_max bytes each."""
    head = f"GET {path} HTTP/1.1\r\nHost: {SITE_NAME}\r\nConnection: close\r\n".encode()
    pads = []
    left = size - len(head) - 2
    while left > 0:
        name = f"X-Pad-{len(pads)}: ".encode()
        n = min(line_max, left)
        if 0 < left - n < len(name) + 3:  # the last one too short for a header of its own
            n = left - (len(name) + 3)
        pads.append(name + b"a" * (n - len(name) - 2) + b"\r\n")
        left -= n
    out = head + b"".join(pads) + b"\r\n"
    assert len(out) == size, (len(out), size)
    return out


def _send(proxy, head):
    """head sent to nginx on a connection of its own; returns the status of the answer and its
    body.  nginx may answer, and close, before it has read all of head."""
    ctx = ssl.create_default_context(cafile=str(proxy.cert))
    with socket.create_connection(("127.0.0.1", proxy.https_port), timeout=30) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        try:
            s.sendall(head)
        except OSError:
            pass  # closed by nginx: its answer was sent before that
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            pass
    status, _, rest = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", status)
    assert m, f"no answer to a head of {len(head)} bytes: {data[:200]!r}"
    return int(m.group(1)), rest.decode(errors="replace")


def test_heads_a_node_cannot_answer_are_refused_by_nginx(site, store):
    _needs_postgresql(store)
    front, (a, b), proxy = site(2)
    cases = []
    # Around the node's 16 KiB: a head that only just overflows it got no answer from the node.
    # nginx refuses all of them, and heads of every size above its own limit of about 9 KiB.
    for size in list(range(15_000, 16_600, 64)) + [9_500, 64 * 1024]:
        cases.append((f"a head of {size} bytes", _head(size), 400))
    # A header line, or the request line, longer than one of nginx's 4 KiB buffers.
    cases.append(("a header line of 5000 bytes", _head(5100, line_max=5000), 400))
    for size in (5000, 64 * 1024):
        path = "/v1/health?q=" + "a" * (size - 13)
        cases.append((f"a path of {size} bytes", _head(len(path) + 200, path=path), 414))
    # Many query parameters: more than 16 are refused.  (Some 250 made a node close.)
    for n in (16, 17, 250, 300):
        path = "/v1/health?" + "&".join(["a"] * n)
        cases.append((f"{n} query parameters", _head(len(path) + 200, path=path),
                      200 if n <= 16 else 414))
    # Many headers: they stay at nginx, which sends a node only the headers Pahara reads.
    # (Some 230 empty ones made a node close.)
    for n in range(200, 264, 4):
        head = _head(100).replace(b"\r\n\r\n", b"\r\n" + b"X: \r\n" * n + b"\r\n")
        cases.append((f"{n} empty headers", head, 200))

    for what, head, status in cases:
        got, body = _send(proxy, head)
        assert got == status, f"{what}: {got} {body[:300]}"
        if status == 400:
            assert "Request Header Or Cookie Too Large" in body, f"{what}: {body[:300]}"
        elif status == 414:
            assert "414 Request-URI Too Large" in body, f"{what}: {body[:300]}"

    log = proxy.log(len(cases))
    nodes = {_addr(a), _addr(b)}
    for (what, _, status), e in zip(cases, log):
        assert e["status"] == str(status), (what, e)
        # nginx's own answers never reached a node; the others reached one, at the first try.
        assert e["upstream"] in (nodes if status == 200 else {"-"}), (what, e)
    # Both nodes are still in service: the next requests go to each in turn, at the first try.
    before = len(log)
    for _ in range(6):
        assert_ok(front.get("/v1/health"))
    log = proxy.log(before + front.sent)[before:]
    assert [e["status"] for e in log] == ["200"] * 6, log
    assert all(e["upstream"] in nodes for e in log), log
    assert {e["upstream"] for e in log} == nodes, log
    # nginx had no trouble with a node ("upstream prematurely closed connection", "no live
    # upstreams", ...).
    errors = (proxy.prefix / "error.log").read_text(errors="replace")
    assert "upstream" not in errors, proxy.errors()
    assert a.healthy() and b.healthy()


def test_a_large_head_of_a_real_client_goes_through(site):
    """A head of some 3 KB, such as a browser with cookies of other applications might send:
    the headers Pahara reads reach the node, and the request is served."""
    front, (node,), proxy = site(1)
    u = front.new_user(front.service_key())
    agent = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.0.0 Safari/537.36 ")
    agent += "Extension/" + "x" * (480 - len(agent) - 10)
    headers = {
        "User-Agent": agent,
        "Accept": "application/json, text/plain, */*",
        "Accept-Language": "en-GB,en;q=0.9,de;q=0.8,fr;q=0.7,es;q=0.6,it;q=0.5,nl;q=0.4",
        "Cookie": "; ".join(f"app{i}=" + _cookie_value(i, 90) for i in range(22)),
        "X-Request-Id": "r-" + "0123456789abcdef" * 4,
        "Origin": "https://shop.example.org",
        "Referer": "https://shop.example.org/account/security?tab=two-factor&from=" + "x" * 200,
    }
    size = sum(len(k) + len(v) + 4 for k, v in headers.items())
    assert 3000 <= size <= 4000, size
    # A sign-in: a POST whose JSON body (and Content-Type) reach the node.
    r = front.post("/v1/login", {"username": u.name, "password": u.password, "client": "web"},
                   headers=headers)
    body = assert_ok(r)
    assert body["status"] == "signed_in", body
    # A read and a change, with the session's token in Authorization, and the same head.
    sessions = assert_ok(front.get("/v1/sessions", token=body["session"], headers=headers))
    assert [s["current"] for s in sessions["sessions"]] == [True], sessions
    assert_ok(front.post("/v1/sessions/revoke-others", token=body["session"], headers=headers))
    log = proxy.log(front.sent)
    assert [(e["status"], e["upstream"]) for e in log[-3:]] == [("200", _addr(node))] * 3, log
    # The node got the User-Agent: the audit log has (the start of) it as the change's client.
    audit = [f for f in (line.split("\t") for line in node.admin("audit").stdout.splitlines())
             if f[1] == "session.revoke_others" and f[3] == u.name]
    assert len(audit) == 1 and audit[0][2] == "ok", audit
    assert len(audit[0][5]) >= 40 and agent.startswith(audit[0][5]), audit


def _cookie_value(seed, n):
    return (f"{seed:02d}" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789" * 4)[:n]
