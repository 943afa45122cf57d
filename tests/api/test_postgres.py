"""The PostgreSQL store (issue 4), what SQLite has no counterpart of.

When the database goes away, a request that needs it is answered 503 `unavailable` at once (no
crash, no hang), and the server connects again by itself when the database is back: no restart
of the node, no request lost after that.  When several nodes share the database, a code is
still accepted once, and the throttling counters count the attempts of all nodes."""

import os
import shutil
import subprocess
import threading
import time

import pytest

from conftest import PG_URL, ROOT, assert_error, assert_ok, parallel

PG_DIR = os.environ.get("PAHARA_TEST_PG_DIR", "")


@pytest.fixture
def pg_server(make_server, store):
    if store != "postgresql":
        pytest.skip("about the PostgreSQL store")
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.with_totp()
    return s, u, token


def _psql(sql):
    psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    r = subprocess.run([psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", PG_URL,
                        "-c", sql], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _works(s, u, token):
    """A read, a sign-in (reads and a write) and a code check (a write) all succeed."""
    assert_ok(s.get("/v1/sessions", token=token))
    lid = u.start()
    assert_ok(u.verify(lid, "totp", u.next_totp()))
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}


def test_connections_cut_by_the_database_are_made_again(pg_server):
    s, u, token = pg_server
    db = s.store_url.rsplit("/", 1)[1]
    for _ in range(2):
        # As a failover or an administrator would: every connection of the server is ended.
        cut = _psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    f"WHERE datname = '{db}' AND pid <> pg_backend_pid()")
        assert int(cut) >= 2, cut  # the writer's and at least one reader's
        # Nothing had happened on them yet: reads and batches go again on new connections,
        # which prepare their statements again.
        _works(s, u, token)


@pytest.mark.skipif(not PG_DIR, reason="PAHARA_TEST_PG_DIR names no cluster to stop "
                    "(`make api-tests` starts one)")
def test_database_down_is_unavailable_then_back_without_a_restart(pg_server):
    s, u, token = pg_server
    pg = [str(ROOT / "scripts/pg.sh")]
    subprocess.run(pg + ["down", PG_DIR], check=True, timeout=60)
    try:
        t0 = time.monotonic()
        assert_error(s.get("/v1/sessions", token=token), 503, "unavailable")
        code = u.next_totp()
        assert_error(u.check("totp", code), 503, "unavailable")
        assert_error(u.login(), 503, "unavailable")
        assert time.monotonic() - t0 < 10, "a refused connection must fail fast"
        assert s.healthy()
    finally:
        subprocess.run(pg + ["up", PG_DIR], check=True, timeout=60)
    # Nothing was written while it was down: the code refused then is good now, once.
    assert assert_ok(u.check("totp", code)) == {"status": "ok"}
    assert_error(u.check("totp", code), 401, "invalid_code")
    _works(s, u, token)


# ---- two nodes on one database ---------------------------------------------------------


def _second_node(make_server, a, config=None):
    """Another node of a's site: the same database and key files, its clock where a's is."""
    data = make_server.base / "node2" / "data"
    data.mkdir(mode=0o700, parents=True)
    for k in ("master.key", "codehash.key"):
        shutil.copy(a.data_dir / k, data / k)
    b = make_server(config=config, name="node2", store_url=a.store_url)
    b.advance(a.offset)
    return b


def test_two_nodes_accept_a_code_once(make_server, store):
    """The same valid code sent at the same moment to both nodes, 200 times: exactly one
    acceptance each time (RFC 6238 §5.2 across nodes)."""
    if store != "postgresql":
        pytest.skip("about the PostgreSQL store")
    # Each round's replay is a wrong code: 200 of them must not lock the accounts.
    config = {"code_failures_per_account": 1000, "code_backoff_grace": 100}
    a = make_server(config=config)
    b = _second_node(make_server, a, config=config)
    svc = a.service_key()
    users = [a.new_user(svc) for _ in range(10)]
    for u in users:
        u.with_totp()
    b.advance(a.offset - b.offset)
    for n in range(200):
        u = users[n % len(users)]
        code = u.next_totp()
        b.advance(a.offset - b.offset)  # next_totp may have moved a's clock

        def check(i):
            return (a, b)[i].post("/v1/check", {"username": u.name, "method": "totp",
                                               "code": code}, token=svc)

        codes = sorted(r.status_code for r in parallel(2, check))
        assert codes == [200, 401], (n, codes)


def test_a_sign_in_started_on_one_node_completes_on_the_other(pg_server, make_server):
    a, u, _ = pg_server
    b = _second_node(make_server, a)
    lid = u.start()
    u.s = b
    b.advance(a.offset - b.offset)
    body = assert_ok(u.verify(lid, "totp", u.next_totp()))
    assert body["status"] == "signed_in"
    # A session made on B works on A, and one revoked on A is dead on B.
    assert_ok(a.get("/v1/sessions", token=body["session"]))
    other = u.sign_in_totp()
    sid = [x["id"] for x in assert_ok(b.get("/v1/sessions", token=other))["sessions"]
           if x["current"]][0]
    assert_ok(a.delete(f"/v1/sessions/{sid}", token=body["session"]))
    assert_error(b.get("/v1/sessions", token=other), 401, "unauthenticated")


def test_a_lockout_earned_on_one_node_holds_on_the_other(pg_server, make_server):
    a, u, _ = pg_server
    b = _second_node(make_server, a)
    u.lock_out()
    b.advance(a.offset - b.offset)
    u.s = b
    assert_error(u.check("totp", u.next_totp(), through_backoff=False), 429, "rate_limited")
    b.advance(3600)
    u.s = a
    a.advance(3600)
    assert_ok(u.check("totp", u.next_totp()))


@pytest.mark.skipif(not PG_DIR, reason="PAHARA_TEST_PG_DIR names no cluster to stop "
                    "(`make api-tests` starts one)")
def test_database_restarted_under_load_loses_nothing_accepted(make_server, store):
    """Checks keep coming while the database restarts: meanwhile they fail with 503 and a
    retry hint, every code that was accepted stays used, and the node recovers by itself."""
    if store != "postgresql":
        pytest.skip("about the PostgreSQL store")
    # Replays of a step are wrong codes: keep them from throttling the load itself.
    a = make_server(config={"code_failures_per_account": 1000, "code_backoff_grace": 100})
    svc = a.service_key()
    users = [a.new_user(svc) for _ in range(6)]
    for u in users:
        u.with_totp()
    stop = threading.Event()
    lock = threading.Lock()
    accepted, unavailable, other = [], [], []

    def tick():  # a fresh time step for everyone every 0.3 s
        while not stop.is_set():
            a.advance(30)
            time.sleep(0.3)

    def load(i):
        u = users[i]
        while not stop.is_set():
            code = u.code_at(a.now())
            try:
                r = a.post("/v1/check", {"username": u.name, "method": "totp", "code": code},
                           token=svc)
            except Exception as e:  # the node itself must never go away
                with lock:
                    other.append(repr(e))
                continue
            with lock:
                if r.status_code == 200:
                    accepted.append((u, code, time.monotonic()))
                elif r.status_code == 503:
                    unavailable.append((r.json()["error"]["code"], r.headers.get("Retry-After")))
                else:
                    other.append(r.status_code)  # this step was used already
            time.sleep(0.02)

    threads = [threading.Thread(target=tick)]
    threads += [threading.Thread(target=load, args=(i,)) for i in range(len(users))]
    for t in threads:
        t.start()
    pg = [str(ROOT / "scripts/pg.sh")]
    try:
        time.sleep(1)
        subprocess.run(pg + ["down", PG_DIR], check=True, timeout=60)
        time.sleep(1)
    finally:
        subprocess.run(pg + ["up", PG_DIR], check=True, timeout=60)
        up = time.monotonic()
        deadline = up + 30
        while time.monotonic() < deadline and not any(t > up + 0.5 for _, _, t in accepted):
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(60)
    assert unavailable, "the outage was not seen"
    assert all(c == "unavailable" and ra and int(ra) >= 1 for c, ra in unavailable), unavailable
    assert any(t > up for _, _, t in accepted), "the node did not recover by itself"
    assert set(other) <= {401}, other
    # Every accepted code is used for good: sent again, it is refused.
    for u, code, _ in accepted:
        r = a.post("/v1/check", {"username": u.name, "method": "totp", "code": code},
                   token=svc)
        assert r.status_code == 401, r.text
    # Each acceptance was committed with its audit event: none lost.  (There may be more
    # events than answers seen: a commit whose answer the outage cut off is on disk all the
    # same, and its code is used.)
    oks = [line for line in a.admin("audit").stdout.splitlines()
           if "\tcheck\tok\t" in line]
    assert len(oks) >= len(accepted)


def test_two_nodes_share_the_address_throttle(make_server, store):
    if store != "postgresql":
        pytest.skip("about the PostgreSQL store")
    config = {"password_attempts_per_ip": 4, "password_attempts_window": 600}
    a = make_server(config=config)
    u = a.new_user(a.service_key())
    b = _second_node(make_server, a, config=config)

    def attempt(i):
        return (a, b)[i % 2].post("/v1/login", {"username": u.name, "password": "pw-wrong",
                                                "client": "web"})

    codes = sorted(r.status_code for r in parallel(10, attempt))
    # Four attempts per address and window, counted by both nodes together: none lost.
    assert codes == [401] * 4 + [429] * 6, codes
