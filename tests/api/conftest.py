"""Fixtures for the end-to-end tests of Pahara's JSON API (DESIGN.md §3, §4).

`make api-tests` runs this suite twice: PAHARA_BIN=build/tst/pahara (release code plus the
test-only clock) and PAHARA_BIN=build/san/pahara (the same under ASan + UBSan).  Every test talks
HTTP to a real `pahara serve --test-clock` process:

  - `server`       one server per test module; tests make fresh accounts so they never meet;
  - `make_server`  servers of the test's own (a clock that only it moves, a kill, a config);
  - every server is stopped with SIGTERM at the end and must exit 0 within 10 s with no
    sanitizer report on stderr.

Stores: every test runs twice, once on SQLite (the store in --data DIR) and once on PostgreSQL
(--store URL, a database of its own for each server, made on the server PAHARA_TEST_PG names;
the key files stay in --data DIR).  `make api-tests` starts a private PostgreSQL for the run
(scripts/pg.sh); without PAHARA_TEST_PG, as when pytest is run by hand, the PostgreSQL runs are
skipped.  A test that reads the SQLite file itself is marked `sqlite_only`.

Time: the server's clock is the real clock plus what the tests moved it by (POST
/v1/test/clock).  TOTP codes are computed for the server's time, never for the test's.
"""

import hashlib
import json
import os
import pathlib
import queue
import secrets
import select
import signal
import sqlite3
import subprocess
import threading
import time

import pyotp
import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("PAHARA_TEST_PG", "")
STORES = ("sqlite", "postgresql")

# Fast Argon2id so that sign-ins cost milliseconds; the per-IP throttle is wide open except in
# the test about it, which starts a server with its own settings.
TEST_CONFIG = {
    "argon2_memory_kib": 1024,
    "argon2_passes": 1,
    "password_attempts_per_ip": 32,
    "password_attempts_window": 1,
}

TOTP_PERIOD = 30
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error", "ERROR: LeakSanitizer")


def assert_no_sanitizer_report(text, source):
    """A sanitizer report in text (a process's whole stderr) fails the test, whatever else
    passed."""
    for mark in SANITIZER_MARKS:
        assert mark not in text, f"sanitizer report from {source}:\n{text[-8000:]}"


def _binary():
    path = pathlib.Path(os.environ.get("PAHARA_BIN", "build/tst/pahara"))
    if not path.is_absolute():
        path = ROOT / path
    if not path.is_file():
        pytest.exit(f"PAHARA_BIN: no binary at {path}; run `make api-tests`", returncode=2)
    return str(path)


BIN = _binary()


def _env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:exitcode=86:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:exitcode=87:print_stacktrace=1")
    return env


# ---- checking answers --------------------------------------------------------------------


def assert_error(r, status, code):
    """r is exactly the error `code` with `status`: body {"error":{"code","message"}} and,
    for 429 and 503 only, "retry_after" (matching the Retry-After header).  Returns the inner
    object."""
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code}: {r.text}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = json.loads(r.content, object_pairs_hook=_no_duplicates)
    assert isinstance(body, dict) and set(body) == {"error"}, r.text
    err = body["error"]
    want = {"code", "message"} | ({"retry_after"} if status in (429, 503) else set())
    assert isinstance(err, dict) and set(err) == want, r.text
    assert err["code"] == code, r.text
    assert isinstance(err["message"], str) and err["message"].strip(), r.text
    if status in (429, 503):
        assert isinstance(err["retry_after"], int) and err["retry_after"] >= 1, r.text
        assert r.headers.get("Retry-After") == str(err["retry_after"]), r.headers
    return err


def assert_ok(r, status=200):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    return r.json()


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in a response: {keys}"
    return dict(pairs)


# ---- the server --------------------------------------------------------------------------


class Server:
    """One `pahara serve` process on 127.0.0.1:<free port> over data_dir (key files, and the
    SQLite store unless store_url names a PostgreSQL database)."""

    def __init__(self, workdir, config=None, store_url=None):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.store_url = store_url
        self.store_args = ["--store", store_url] if store_url else []
        self.config_path = self.workdir / "pahara.conf"
        cfg = dict(TEST_CONFIG)
        cfg.update(config or {})
        self.config_path.write_text("".join(f"{k} = {v}\n" for k, v in cfg.items()))
        self.offset = 0  # seconds the tests moved the server's clock by
        self.proc = None
        self.runs = 0
        self.http = None
        self._services = 0

    # life cycle

    def start(self):
        self.runs += 1
        self._reaped = False
        self.stderr_path = self.workdir / f"stderr.{self.runs}"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data", str(self.data_dir),
             *self.store_args, "--config", str(self.config_path), "--test-clock"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=_env())
        line = self._first_line(timeout=15)
        prefix = "pahara: listening on http://127.0.0.1:"
        assert line.startswith(prefix), f"unexpected first line {line!r}; {self.stderr()}"
        self.port = int(line[len(prefix):])
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()
        # The clock starts at the real time again: put back what the tests had moved.
        if self.offset:
            r = self.http.post(self.base + "/v1/test/clock", json={"advance": self.offset})
            assert r.status_code == 200, r.text
        return self

    def _first_line(self, timeout):
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.proc.kill()
                pytest.fail(f"server did not say where it listens in {timeout} s; "
                            f"{self.stderr()}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(5)
                    pytest.fail(f"server exited with {self.proc.returncode} before listening; "
                                f"{self.stderr()}")
                buf += chunk
        return buf.split(b"\n", 1)[0].decode()

    def stderr(self):
        try:
            return "stderr: " + self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "stderr: (none)"

    def _after_exit(self):
        self._reaped = True
        if self.http:
            self.http.close()
            self.http = None
        self._stderr.close()
        self.proc.stdout.close()
        self.assert_sanitizer_clean()

    def assert_sanitizer_clean(self):
        """No sanitizer report in the server's stderr so far (all of it, not stderr()'s tail)."""
        assert_no_sanitizer_report(self.stderr_path.read_text(errors="replace"), "the server")

    def stop(self):
        """SIGTERM; the server must answer what it has, exit 0 within 10 s, and be clean."""
        if not self.proc or self._reaped:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self._after_exit()
            pytest.fail(f"server did not exit within 10 s of SIGTERM; {self.stderr()}")
        self._after_exit()
        assert rc == 0, f"server exited {rc} after SIGTERM; {self.stderr()}"

    def kill(self):
        """SIGKILL: no chance to flush anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._after_exit()

    # HTTP

    def request(self, method, path, body=None, token=None, headers=None, data=None, **kw):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        return self.http.request(method, self.base + path, data=data, headers=h, timeout=30,
                                 **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def healthy(self):
        r = self.get("/v1/health")
        return r.status_code == 200 and r.json() == {"status": "ok"}

    # the clock

    def argon2id_runs(self):
        """The server's Argon2id runs so far (GET /v1/test/counters, test builds)."""
        return assert_ok(self.get("/v1/test/counters"))["argon2id"]

    def queued_writes(self):
        """The writes the server has queued for its store so far (GET /v1/test/counters)."""
        return assert_ok(self.get("/v1/test/counters"))["submitted"]

    def advance(self, seconds):
        """Move the server's clock forward; returns the server's time after the move."""
        r = self.post("/v1/test/clock", {"advance": int(seconds)})
        assert r.status_code == 200, r.text
        self.offset += int(seconds)
        return r.json()["now"]

    def now(self):
        return time.time() + self.offset

    def step(self):
        return int(self.now()) // TOTP_PERIOD

    # service keys and accounts

    def admin(self, *args, check=True):
        """`pahara admin --data DIR --config CFG ARGS...` while the server runs."""
        r = subprocess.run([BIN, "admin", "--data", str(self.data_dir), *self.store_args,
                            "--config", str(self.config_path), *args],
                           capture_output=True, text=True, timeout=60, env=_env())
        assert_no_sanitizer_report(r.stderr, f"pahara admin {' '.join(args)}")
        if check:
            assert r.returncode == 0, f"pahara admin {' '.join(args)}: {r.returncode}: {r.stderr}"
        return r

    def audit(self, user=None):
        """The audit log (`pahara admin audit`, of account user only if given), oldest first,
        as lists of its tab-separated fields: time, event, outcome, account, IP, client,
        detail."""
        args = ("--user", user) if user else ()
        return [ln.split("\t") for ln in self.admin("audit", *args).stdout.splitlines()]

    def service_key(self, name=None):
        """A new service and its key, from `pahara admin service add NAME` (the key alone on
        the last line of its output).  The server keeps running meanwhile."""
        self._services += 1
        name = name or f"svc{self._services}-{secrets.token_hex(3)}"
        r = self.admin("service", "add", name)
        key = r.stdout.strip().splitlines()[-1].strip()
        assert len(key) == 43 and key.isalnum(), f"service key line: {r.stdout!r}"
        return key

    def new_user(self, service_key, prefix="u", password=None):
        name = f"{prefix}-{secrets.token_hex(5)}"
        password = password or "pw-" + secrets.token_urlsafe(12)
        r = self.post("/v1/service/accounts", {"username": name, "password": password},
                      token=service_key)
        assert r.status_code == 201, r.text
        assert r.json() == {"username": name}
        return User(self, name, password, service_key)


class User:
    """An account made through the service API, and what the tests know about it."""

    def __init__(self, server, name, password, service_key):
        self.s = server
        self.name = name
        self.password = password
        self.service_key = service_key
        self.secret = None
        self.totp_digits = 6             # the generator's parameters, as enrolled
        self.totp_digest = hashlib.sha1
        self.last_step = -1  # the latest TOTP step handed out (maybe accepted)
        self.backup = {}     # generation -> code text

    # sign-in

    def login(self, client="web", password=None, through_throttle=True):
        """POST /v1/login; with through_throttle, the per-IP throttle (not under test then)
        is waited out on the server's clock."""
        body = {"username": self.name, "password": password or self.password, "client": client}
        r = self.s.post("/v1/login", body)
        for _ in range(5):
            if not through_throttle or r.status_code != 429:
                break
            self.s.advance(r.json()["error"]["retry_after"])
            r = self.s.post("/v1/login", body)
        return r

    def start(self, client="web"):
        """A sign-in that stops at the second step; returns its login id."""
        body = assert_ok(self.login(client))
        assert body["status"] == "second_step", body
        return body["login_id"]

    def session(self, client="web"):
        """A session for an account with two-factor off."""
        body = assert_ok(self.login(client))
        assert body["status"] == "signed_in", body
        return body["session"]

    def verify(self, login_id, method, code, through_backoff=True):
        """POST /v1/login/{id}/verify; with through_backoff, a 429 of the account's backoff
        is waited out on the server's clock and the code sent again."""
        return self._retry(lambda: self.s.post(f"/v1/login/{login_id}/verify",
                                               {"method": method, "code": code}),
                           through_backoff)

    def check(self, method, code, client=None, through_backoff=True):
        """POST /v1/check as the service that made the account."""
        body = {"username": self.name, "method": method, "code": code}
        if client is not None:
            body["client"] = client
        return self._retry(lambda: self.s.post("/v1/check", body, token=self.service_key),
                           through_backoff)

    def lock_out(self, failures=10):
        """Wrong codes, waiting out each backoff, until the account is locked (DESIGN §3:
        `failures` wrong codes within the window); returns the lockout's retry_after."""
        for _ in range(failures):
            assert_error(self.check("totp", "000004"), 401, "invalid_code")
        r = self.check("totp", self.next_totp(), through_backoff=False)
        assert_error(r, 429, "rate_limited")
        return r.json()["error"]["retry_after"]

    def _retry(self, send, through_backoff):
        r = send()
        while through_backoff and r.status_code == 429:
            self.s.advance(r.json()["error"]["retry_after"])
            r = send()
        return r

    # the code generator

    def code_at(self, t):
        return pyotp.TOTP(self.secret, digits=self.totp_digits,
                          digest=self.totp_digest).at(int(t))

    def next_totp(self):
        """A code for a time step after every one handed out before (moving the server's
        clock on when needed), so that replay protection does not refuse it."""
        if self.s.step() <= self.last_step:
            self.s.advance((self.last_step + 1) * TOTP_PERIOD - int(self.s.now()) + 1)
        t = self.s.now()
        self.last_step = int(t) // TOTP_PERIOD
        return self.code_at(t)

    def enable_totp(self, token):
        """Turn two-factor on with a code generator; returns the first backup code."""
        body = assert_ok(self.s.post("/v1/factors/totp", token=token))
        self.secret = body["secret"]
        assert body["uri"].startswith("otpauth://totp/"), body
        r = self.s.post("/v1/factors/totp/confirm", {"code": self.next_totp()}, token=token)
        body = assert_ok(r)
        assert len(body["backup_codes"]) == 1, body
        self.backup[1] = body["backup_codes"][0]
        return body["backup_codes"][0]

    def with_totp(self):
        """Two-factor on; returns the session that turned it on."""
        token = self.session()
        self.enable_totp(token)
        return token

    def sign_in_totp(self, client="web"):
        lid = self.start(client)
        body = assert_ok(self.verify(lid, "totp", self.next_totp()))
        assert body["status"] == "signed_in", body
        return body["session"]

    def generate_backup(self, token, count):
        body = assert_ok(self.s.post("/v1/backup-codes", {"count": count}, token=token))
        assert len(body["codes"]) == count == len(body["generations"]), body
        for g, c in zip(body["generations"], body["codes"]):
            self.backup[g] = c
        return body


# ---- fixtures ----------------------------------------------------------------------------


class _Databases:
    """Databases for the tests' servers on PG_URL's server, one each, as fresh as new.  A thread
    makes them ahead of need (CREATE DATABASE writes and flushes a few MB), and empties the
    database of a finished test (its schema dropped) for a later one, which costs far less."""

    AHEAD = 2

    def __init__(self, url):
        self.url = url
        self.ready = queue.Queue()  # URLs of empty databases
        self.used = queue.Queue()   # URLs whose servers have stopped
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._fill, daemon=True)
        self.thread.start()

    def _pg(self, *args):
        return subprocess.run([str(ROOT / "scripts/pg.sh"), *args], capture_output=True,
                              text=True, timeout=60)

    def _make(self):
        """A new database's URL, or the error of the last of a few tries (handed to the test
        that asks next).  A test may have the server down for a moment (test_postgres.py)."""
        for attempt in range(10):
            try:
                r = self._pg("newdb", self.url)
                if r.returncode == 0:
                    return r.stdout.strip()
                err = RuntimeError(r.stderr)
            except Exception as e:
                err = e
            if self.stopping.wait(0.5 * (attempt + 1)):
                break
        return err

    def _fill(self):
        while not self.stopping.is_set():
            try:
                url = self.used.get(timeout=0.1)
            except queue.Empty:
                url = None
            if url:
                if self._pg("empty", url).returncode == 0:  # else it is left as it is
                    self.ready.put(url)
            elif self.ready.qsize() < self.AHEAD:
                self.ready.put(self._make())

    def get(self):
        item = self.ready.get(timeout=120)
        if isinstance(item, Exception):
            pytest.fail(f"cannot make a PostgreSQL database on {self.url}: {item}")
        return item

    def done(self, url):
        """url's servers have stopped: empty it for another test."""
        self.used.put(url)

    def stop(self):
        self.stopping.set()
        self.thread.join(60)


@pytest.fixture(scope="session")
def _pg_databases():
    """The maker of PostgreSQL databases, or None without PAHARA_TEST_PG."""
    dbs = _Databases(PG_URL) if PG_URL else None
    yield dbs
    if dbs:
        dbs.stop()


class _Servers:
    def __init__(self, base, store, databases):
        self.base = pathlib.Path(base)
        self.store = store
        self.databases = databases
        self.databases_got = []
        self.all = []

    def __call__(self, config=None, name=None, store_url=None):
        """A started server; store_url: on that PostgreSQL database (another node of a site)
        instead of a fresh one."""
        if store_url is None and self.store == "postgresql":
            store_url = self.databases.get()
            self.databases_got.append(store_url)
        s = Server(self.base / (name or f"srv{len(self.all)}"), config, store_url=store_url)
        self.all.append(s)
        return s.start()

    def stop_all(self):
        errors = []
        for s in self.all:
            try:
                s.stop()
            except BaseException as e:  # report every server, not only the first
                errors.append(e)
        for url in self.databases_got:  # every server on it has exited
            self.databases.done(url)
        self.databases_got = []
        if errors:
            raise errors[0]


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: the test reads the SQLite file itself")


@pytest.fixture(scope="module", params=STORES)
def store(request, _pg_databases):
    """The kind of store of every server the test makes (each test runs on both)."""
    if request.param == "postgresql" and not _pg_databases:
        pytest.skip("PAHARA_TEST_PG names no PostgreSQL server (`make api-tests` starts one)")
    return request.param


def pytest_collection_modifyitems(config, items):
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (callspec and callspec.params.get("store") == "postgresql"
                and item.get_closest_marker("sqlite_only")):
            item.add_marker(pytest.mark.skip(reason="reads the SQLite file itself"))


@pytest.fixture(scope="module")
def server(tmp_path_factory, store, _pg_databases):
    """One server for the whole module; tests make their own accounts on it."""
    servers = _Servers(tmp_path_factory.mktemp("api"), store, _pg_databases)
    s = servers(name="shared")
    yield s
    servers.stop_all()


@pytest.fixture(scope="module")
def svc(server):
    """A service key on the module's server."""
    return server.service_key()


@pytest.fixture(autouse=True)
def _fresh_ip_window(request):
    """Each test on the shared server starts with the per-IP password window empty (it is
    one second long in TEST_CONFIG), so that the tests before it cannot throttle it."""
    if "server" in request.fixturenames:
        request.getfixturevalue("server").advance(2)


@pytest.fixture
def make_server(tmp_path, store, _pg_databases):
    """make_server(config=None, name=None, store_url=None) -> a started server of this test's
    own."""
    servers = _Servers(tmp_path, store, _pg_databases)
    yield servers
    servers.stop_all()


def parallel(n, fn):
    """Run fn(i) for i in range(n) on n threads at once; returns the results in order."""
    out = [None] * n
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        try:
            out[i] = fn(i)
        except BaseException as e:  # surfaced to the test below
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for o in out:
        if isinstance(o, BaseException):
            raise o
    return out


class WriterHeld:
    """SQLite only: holds the database's write lock from outside the server (BEGIN IMMEDIATE
    on a connection of the test's own), so that the server's writer waits for it while its
    readers go on (WAL).  Requests sent meanwhile make their reads and queue their writes,
    which then run in the order they were sent:

        with WriterHeld(s):
            ...send requests on threads, each after the one before has queued...
    """

    def __init__(self, server):
        self.db = sqlite3.connect(str(server.data_dir / "pahara.db"), isolation_level=None,
                                  timeout=10)

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc):
        self.db.execute("ROLLBACK")
        self.db.close()
        return False


def in_background(send):
    """send() on a thread of its own; returns a function that waits for it and gives its
    answer."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", send()))
    t.start()

    def result():
        t.join(60)
        return out["r"]
    return result


def queued_in_background(server, send):
    """in_background(send), returning once the request's write is queued for the store's
    writer (the server's count of queued writes has grown: GET /v1/test/counters), so that a
    request sent next is queued behind it.  Within WriterHeld, the writes then wait there."""
    before = server.queued_writes()
    result = in_background(send)
    deadline = time.monotonic() + 60
    while server.queued_writes() == before:
        assert time.monotonic() < deadline, "the request never queued its write"
        time.sleep(0.01)
    return result


class Paused:
    """send() run on a thread while the server holds it between its reads and its write
    (POST /v1/test/pause, test builds: the next such request only), so that the test can
    change the account meanwhile:

        with Paused(s, lambda: s.post(...)) as p:
            ...the change...
        p.result  # send()'s answer, decided after the change
    """

    def __init__(self, server, send, ms=1500):
        self.s, self.send, self.ms = server, send, ms
        self.result = None

    def __enter__(self):
        paused = self._paused()
        assert_ok(self.s.post("/v1/test/pause", {"ms": self.ms}))
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        # Past its reads, and held: the server says so (a fixed sleep here was a guess, too
        # short for a slow request, and then the change came before the reads).
        deadline = time.monotonic() + 60
        while self._paused() == paused:
            assert time.monotonic() < deadline, "the request never reached its pause"
            if not self.thread.is_alive() and self._paused() == paused:
                pytest.fail(f"answered without a pause: {self.result}")
            time.sleep(0.01)
        return self

    def _paused(self):
        return assert_ok(self.s.get("/v1/test/counters"))["paused"]

    def _run(self):
        self.result = self.send()

    def __exit__(self, *exc):
        self.thread.join(60)
        assert_ok(self.s.post("/v1/test/pause", {"ms": 0}))
        return False
