"""Every node of a store uses the same key files (docs/operations.md §3, "The key files").

The store records a check value of each key (a keyed hash of a fixed text: nothing of the key)
the first time a node uses it; a node, or a `pahara admin` command, whose master.key or
codehash.key is not the one recorded, or whose master.key lacks a key the store recorded,
refuses to start, says which file and key, and changes nothing.  Two data directories share one
store through --store: the PostgreSQL database, or on SQLite the first node's directory."""

import secrets
import shutil
import sqlite3
import subprocess

import pytest

from conftest import BIN, _env, assert_no_sanitizer_report, assert_ok

KEYS = ("master.key", "codehash.key")


# ---- helpers -------------------------------------------------------------------------------


def _store(a):
    """Where a's store is, as --store takes it."""
    return a.store_url or str(a.data_dir)


def _write_key(path, text):
    path.write_text(text)
    path.chmod(0o600)


def _new_master(path, ids=(1,)):
    _write_key(path, "".join(f"pahara-key v1 {i} {secrets.token_hex(32)}\n" for i in ids))


def _new_codehash(path):
    _write_key(path, f"pahara-codehash v1 {secrets.token_hex(32)}\n")


def _node_dir(make_server, a, name, copy=KEYS):
    """A data directory for another node of a's store, with copies of a's key files named in
    copy and new ones of its own for the others."""
    data = make_server.base / name / "data"
    data.mkdir(mode=0o700, parents=True)
    for k in copy:
        shutil.copy(a.data_dir / k, data / k)
    if "master.key" not in copy:
        _new_master(data / "master.key")
    if "codehash.key" not in copy:
        _new_codehash(data / "codehash.key")
    return data


def _refused(a, data, *args):
    """`pahara serve` (or, with args, `pahara admin ARGS`) on data over a's store: it must exit
    1 at once, without listening; returns its stderr."""
    cmd = ([BIN, "admin", *args] if args else
           [BIN, "serve", "--listen", "127.0.0.1:0", "--test-clock"])
    cmd += ["--data", str(data), "--store", _store(a), "--config", str(a.config_path)]
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env())
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"{cmd} did not stop: it started where it should have refused; {err}")
    assert_no_sanitizer_report(err, f"pahara {cmd[1]}")
    assert p.returncode == 1 and "listening" not in out, (p.returncode, out, err)
    return err


def _checks(a):
    """The store's key checks: name -> value (hex)."""
    if a.store_url:
        psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
        r = subprocess.run([psql, "-X", "-q", "-At", "-F", " ", "-v", "ON_ERROR_STOP=1",
                            "-d", a.store_url, "-c",
                            "SELECT name, encode(value, 'hex') FROM key_checks"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return dict(line.split(" ") for line in r.stdout.splitlines())
    db = sqlite3.connect(a.data_dir / "pahara.db", timeout=10)
    try:
        return {n: v.hex() for n, v in db.execute("SELECT name, value FROM key_checks")}
    finally:
        db.close()


def _sql(a, *statements):
    """Run statements on a's store (stopped), as an operator with the database's own tools."""
    if a.store_url:
        psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
        args = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", a.store_url]
        for s in statements:
            args += ["-c", s]
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return
    db = sqlite3.connect(a.data_dir / "pahara.db", timeout=10, isolation_level=None)
    try:
        for s in statements:
            db.execute(s)
    finally:
        db.close()


def _site(make_server):
    """A node with an account that has a code generator (a sealed secret) and backup codes
    (keyed hashes)."""
    a = make_server()
    svc = a.service_key()
    u = a.new_user(svc)
    tok = u.with_totp()
    u.generate_backup(tok, 2)
    return a, u


def _state(a):
    """What a refusal must leave as it was: the checks and the audit log."""
    return _checks(a), a.admin("audit").stdout


def _recorded_events(a):
    return [line for line in a.admin("audit").stdout.splitlines()
            if "\tstore.key_recorded\t" in line]


# ---- the tests -----------------------------------------------------------------------------


def test_the_first_start_records_the_keys_without_an_audit_event(make_server):
    a = make_server()
    checks = _checks(a)
    assert set(checks) == {"code", "master:1"}
    assert all(len(v) == 32 for v in checks.values())  # 16 bytes
    # Nothing of the keys themselves.
    for k in KEYS:
        key_hex = (a.data_dir / k).read_text().split()[-1]
        assert all(v not in key_hex and key_hex[:32] != v for v in checks.values())
    # A store without accounts gets no audit event for it (so it stays empty for an import).
    assert a.admin("audit").stdout == ""
    a.stop()
    a.start()
    assert _checks(a) == checks


def test_a_node_with_the_same_key_files_starts_and_serves_the_same_accounts(make_server):
    a, u = _site(make_server)
    before = _checks(a)
    data = _node_dir(make_server, a, "node2")
    b = make_server(name="node2", store_url=_store(a))
    assert b.data_dir == data
    b.advance(a.offset)
    assert _checks(a) == before
    # b opens a's sealed secret and finds a's hashed backup codes.
    u.s = b
    lid = u.start()
    assert assert_ok(u.verify(lid, "totp", u.next_totp()))["status"] == "signed_in"
    lid = u.start()
    assert assert_ok(u.verify(lid, "backup", u.backup[2]))["status"] == "signed_in"
    assert b.admin("user", "list").stdout == a.admin("user", "list").stdout


def test_another_master_key_is_refused_and_changes_nothing(make_server):
    a, u = _site(make_server)
    before = _state(a)
    data = _node_dir(make_server, a, "node2", copy=("codehash.key",))
    err = _refused(a, data)
    assert f"{data}/master.key: key 1 differs from the key 1 that this store's secrets are " \
        "sealed with" in err, err
    assert "copy master.key and codehash.key from that node" in err, err
    # An admin command with those files is refused the same way.
    assert f"{data}/master.key: key 1 differs" in _refused(a, data, "user", "list")
    assert _state(a) == before
    # The first node never noticed.
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}


def test_another_codehash_key_is_refused_and_changes_nothing(make_server):
    a, u = _site(make_server)
    before = _state(a)
    data = _node_dir(make_server, a, "node2", copy=("master.key",))
    err = _refused(a, data)
    assert f"{data}/codehash.key: the key differs from the one that this store's backup " \
        "codes and temporary passwords are hashed with" in err, err
    assert f"{data}/codehash.key: the key differs" in _refused(a, data, "audit")
    assert _state(a) == before
    # Once the right file is there, the node starts.
    shutil.copy(a.data_dir / "codehash.key", data / "codehash.key")
    b = make_server(name="node2", store_url=_store(a))
    assert b.healthy()
    assert _state(a)[0] == before[0]


def test_keys_are_the_first_nodes_even_before_any_account(make_server):
    """Two nodes of a new store that each made their own keys: the second is refused, before
    anything could be sealed under two different keys."""
    a = make_server()
    before = _state(a)
    data = _node_dir(make_server, a, "node2", copy=())
    assert "differs" in _refused(a, data)
    assert _state(a) == before


def test_a_node_without_key_files_makes_none_for_a_store_that_has_keys(make_server):
    a = make_server()
    data = make_server.base / "node2" / "data"
    data.mkdir(mode=0o700, parents=True)
    err = _refused(a, data)
    assert f"{data}/master.key is missing" in err and "copy the key file" in err, err
    assert list(data.iterdir()) == []


def test_a_rotated_in_key_is_recorded_and_a_node_without_it_is_refused(make_server):
    a, u = _site(make_server)
    old_master = (a.data_dir / "master.key").read_text()
    a.stop()
    _write_key(a.data_dir / "master.key",
               old_master + f"pahara-key v1 2 {secrets.token_hex(32)}\n")
    a.start()
    checks = _checks(a)
    assert set(checks) == {"code", "master:1", "master:2"}
    # The store has accounts: recording a key is a security event.
    events = _recorded_events(a)
    assert len(events) == 1 and "master.key key 2, first seen by the store" in events[0], events
    # Secrets sealed under key 1 still open; new ones are sealed under key 2.
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}
    v = a.new_user(u.service_key)
    v.with_totp()
    assert assert_ok(v.check("totp", v.next_totp())) == {"status": "ok"}

    # A node still on the old master.key (key 1 alone) is refused; so is one that has a key
    # of its own besides, and that key is not recorded.
    before = _state(a)
    data = _node_dir(make_server, a, "node2", copy=("codehash.key",))
    for text in (old_master, old_master + f"pahara-key v1 5 {secrets.token_hex(32)}\n"):
        _write_key(data / "master.key", text)
        err = _refused(a, data)
        assert f"{data}/master.key lacks key 2, which this store uses: copy master.key from " \
            "a node that has it" in err, err
        assert _state(a) == before
    # With the new file it starts, and serves both accounts.
    shutil.copy(a.data_dir / "master.key", data / "master.key")
    b = make_server(name="node2", store_url=_store(a))
    b.advance(a.offset)
    for x in (u, v):
        x.s = b
        assert assert_ok(x.check("totp", x.next_totp())) == {"status": "ok"}
    assert _checks(a) == checks


def test_a_store_from_before_the_checks_records_them_on_first_start(make_server):
    """Trust on first use: a store made by a Pahara without key checks (schema 2) gets them
    recorded, audited since it has accounts, by the first node that starts on it; from then
    on they hold."""
    a, u = _site(make_server)
    a.stop()
    _sql(a, "DROP TABLE key_checks", "DROP INDEX logins_pending",
         "DELETE FROM schema_migrations WHERE version >= 3")
    a.start()
    assert set(_checks(a)) == {"code", "master:1"}
    events = _recorded_events(a)
    assert len(events) == 2, events
    assert any("codehash.key, first seen" in e for e in events), events
    assert any("master.key key 1, first seen" in e for e in events), events
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}
    data = _node_dir(make_server, a, "node2", copy=("codehash.key",))
    assert "master.key: key 1 differs" in _refused(a, data)


def test_import_takes_the_importing_keys_only_while_the_store_has_no_account(make_server,
                                                                            tmp_path):
    """A store a node started on with keys of its own, before the source's key files were
    copied in: `admin import` (and only that) makes the source's keys the store's, since
    nothing was made with any key yet.  Once the store holds accounts, an import with other
    keys is refused like anything else."""
    a, u = _site(make_server)
    out = tmp_path / "site.jsonl"
    a.admin("export", str(out))
    b = make_server()
    b.stop()
    own = _checks(b)
    for k in KEYS:
        shutil.copy(a.data_dir / k, b.data_dir / k)
    assert "differs" in _refused(b, b.data_dir, "user", "list")
    assert _checks(b) == own
    assert "imported 1 accounts" in b.admin("import", str(out)).stdout
    assert _checks(b) == _checks(a) != own
    assert b.admin("user", "list").stdout == a.admin("user", "list").stdout
    # Now the store has accounts: another data directory's keys are refused, import or not.
    data = _node_dir(make_server, a, "node3", copy=())
    before = _state(b)
    assert "differs" in _refused(b, data, "import", str(out))
    assert _state(b) == before
