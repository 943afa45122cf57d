"""The PostgreSQL store (issue 4), what SQLite has no counterpart of.

When the database goes away, a request that needs it is answered 503 `unavailable` at once (no
crash, no hang), and the server connects again by itself when the database is back: no restart
of the node, no request lost after that.  When several nodes share the database, a code is
still accepted once, and the throttling counters count the attempts of all nodes."""

import os
import shutil
import subprocess
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


def test_two_nodes_accept_a_code_once(pg_server, make_server):
    a, u, _ = pg_server
    b = _second_node(make_server, a)
    for _ in range(3):
        code = u.next_totp()
        b.advance(a.offset - b.offset)  # next_totp may have moved a's clock

        def check(i):
            return (a, b)[i % 2].post("/v1/check", {"username": u.name, "method": "totp",
                                                   "code": code}, token=u.service_key)

        codes = sorted(r.status_code for r in parallel(6, check))
        # RFC 6238 §5.2: one acceptance in all; the rest are replays (or throttled by them).
        assert codes.count(200) == 1 and set(codes) <= {200, 401, 429}, codes
        # Wait out the backoff and the lockout window that the replays earned, on both clocks.
        a.advance(3600)
        b.advance(3600)


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
