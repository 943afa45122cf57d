"""Moving a site between stores: `pahara admin export FILE` / `import FILE` (issue 4)."""

import json
import os
import shutil
import socket
import sqlite3
import subprocess

import pytest

from conftest import BIN, _env, assert_error, assert_ok

KEYS = ("master.key", "codehash.key")


def _site(make_server):
    """A server with accounts in every state worth moving."""
    a = make_server()
    svc = a.service_key()
    u = a.new_user(svc)
    tok = u.with_totp()
    u.generate_backup(tok, 3)
    used = u.backup[2]
    lid = u.start()
    assert_ok(u.verify(lid, "backup", used))
    assert_ok(a.post("/v1/temporary-passwords", token=tok))
    plain = a.new_user(svc)
    plain.session()
    wrong = a.new_user(svc)
    wrong.with_totp()
    assert wrong.check("totp", "000000", through_backoff=False).status_code in (400, 401, 429)
    return a, svc, u, used


def _own_keys(b):
    """A copy of b's key files, those its store recorded at its first start."""
    b.own_keys = b.workdir / "own-keys"
    b.own_keys.mkdir(mode=0o700)
    for k in KEYS:
        shutil.copy(b.data_dir / k, b.own_keys / k)


def _empty_target(make_server, source):
    """A stopped server whose data directory has the source's key files and no rows."""
    b = make_server()
    b.stop()
    _own_keys(b)
    for k in KEYS:
        shutil.copy(source.data_dir / k, b.data_dir / k)
    return b


def _nothing_imported(b):
    """No account in b's store, whose key fingerprints are still those of its own key files:
    an import that was refused changed nothing."""
    r = subprocess.run([BIN, "admin", "--data", str(b.own_keys), "--store",
                        b.store_url or str(b.data_dir), "--config", str(b.config_path),
                        "user", "list"], capture_output=True, text=True, env=_env(), timeout=60)
    return r.returncode == 0 and r.stdout == ""


def _rows(path):
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return lines[0], lines[1:-1], lines[-1]


def test_export_then_import_keeps_every_row_and_the_same_factors_work(make_server, tmp_path):
    a, svc, u, used = _site(make_server)
    out = tmp_path / "site.jsonl"
    a.admin("export", str(out))
    assert (out.stat().st_mode & 0o777) == 0o600
    header, rows, end = _rows(out)
    assert header["pahara_export"] == 1 and "code_key_check" in header
    assert end["end"] is True and end["counts"]["accounts"] == 3
    assert sum(end["counts"].values()) == len(rows)
    # Nothing secret in the clear: no TOTP secret, no backup code, no password.
    text = out.read_text()
    assert u.secret not in text and used not in text and u.password not in text

    b = _empty_target(make_server, a)
    r = b.admin("import", str(out))
    assert "imported 3 accounts" in r.stdout
    # Same accounts, same audit log (plus the import's own event).
    assert b.admin("user", "list").stdout == a.admin("user", "list").stdout
    audit_a = a.admin("audit").stdout.splitlines()
    audit_b = b.admin("audit").stdout.splitlines()
    # The export's own event comes after the file is written, so it is not in it.
    assert "\tstore.export\tok\t" in audit_a[-1]
    assert audit_b[:-1] == audit_a[:-1] and "store.import" in audit_b[-1]
    # Exporting the copy gives the same rows again.
    again = tmp_path / "again.jsonl"
    b.admin("export", str(again))
    _, rows_b, _ = _rows(again)
    skip = ("audit",)
    assert [x for x in rows_b if x["table"] not in skip] == \
        [x for x in rows if x["table"] not in skip]

    # The moved account signs in with the same code generator and backup codes; a used
    # backup code stays used.
    b.start()
    u.s = b
    lid = u.start()
    assert_error(u.verify(lid, "backup", used), 410, "inactive_backup_code")
    assert assert_ok(u.verify(lid, "totp", u.next_totp()))["status"] == "signed_in"
    assert_ok(u.check("totp", u.next_totp()))


def test_import_refuses_a_store_that_is_not_empty(make_server, tmp_path):
    a, *_ = _site(make_server)
    out = tmp_path / "site.jsonl"
    a.admin("export", str(out))
    r = a.admin("import", str(out), check=False)
    assert r.returncode == 2 and "not empty" in r.stderr


def test_import_of_a_truncated_or_altered_file_changes_nothing(make_server, tmp_path):
    a, *_ = _site(make_server)
    out = tmp_path / "site.jsonl"
    a.admin("export", str(out))
    lines = out.read_text().splitlines(keepends=True)
    b = _empty_target(make_server, a)
    cases = {
        "truncated": "".join(lines[:-1]),
        "cut mid-way": "".join(lines[: len(lines) // 2]),
        "a row dropped": "".join(lines[:3] + lines[4:]),
        "a row twice": "".join(lines[:3] + lines[2:]),
        "bad base64": "".join(lines).replace('"key_hash":"', '"key_hash":"!!', 1),
        "unknown table": "".join(lines[:1] + ['{"table":"nope","row":{}}\n'] + lines[1:]),
        "extra field": "".join(lines).replace('"name":', '"x":1,"name":', 1),
        "after the end": "".join(lines) + lines[1],
        "empty": "",
        "not json": "hello\n",
    }
    for what, text in cases.items():
        bad = tmp_path / f"bad-{len(text)}.jsonl"
        bad.write_text(text)
        r = b.admin("import", str(bad), check=False)
        assert r.returncode == 2, (what, r.stdout, r.stderr)
        assert "pahara admin import" in r.stderr, (what, r.stderr)
        assert _nothing_imported(b), what
    # The intact file still goes in afterwards.
    b.admin("import", str(out))


def test_import_of_many_rows_and_a_late_duplicate(make_server, tmp_path):
    """Enough rows that PostgreSQL's import sends them ahead in several rounds (256 at a time):
    all arrive; and a row repeated late in the file (after some rounds went in) still fails the
    whole import and leaves the store empty."""
    a = make_server()
    svc = a.service_key()
    for i in range(300):  # each account also makes an audit row
        assert_ok(a.post("/v1/service/accounts", {"username": f"many{i:03d}"}, token=svc), 201)
    out = tmp_path / "many.jsonl"
    a.admin("export", str(out))
    lines = out.read_text().splitlines(keepends=True)
    assert len(lines) > 600
    b = _empty_target(make_server, a)
    late = len(lines) - 5
    bad = tmp_path / "late-duplicate.jsonl"
    bad.write_text("".join(lines[:late] + lines[late - 1:]))
    r = b.admin("import", str(bad), check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "pahara admin import" in r.stderr, r.stderr
    assert _nothing_imported(b)
    b.admin("import", str(out))
    assert b.admin("user", "list").stdout == a.admin("user", "list").stdout
    assert b.admin("audit").stdout.splitlines()[:-1] == \
        a.admin("audit").stdout.splitlines()[:-1]


def test_import_refuses_other_key_files(make_server, tmp_path):
    a, *_ = _site(make_server)
    out = tmp_path / "site.jsonl"
    a.admin("export", str(out))
    b = make_server()   # its own keys
    b.stop()
    _own_keys(b)
    r = b.admin("import", str(out), check=False)
    assert r.returncode == 2 and "codehash.key" in r.stderr
    # The right code key but another master key: the sealed secrets do not open.
    shutil.copy(a.data_dir / "codehash.key", b.data_dir / "codehash.key")
    r = b.admin("import", str(out), check=False)
    assert r.returncode == 2 and "master.key" in r.stderr
    assert _nothing_imported(b)


def test_export_never_overwrites_a_file(make_server, tmp_path):
    a = make_server()
    out = tmp_path / "exists"
    out.write_text("keep me")
    r = a.admin("export", str(out), check=False)
    assert r.returncode == 2 and "never overwrites" in r.stderr
    assert out.read_text() == "keep me"


def _audit_rows(s, tmp_path, event):
    out = tmp_path / f"audit-{len(list(tmp_path.iterdir()))}.jsonl"
    s.admin("export", str(out))
    _, rows, _ = _rows(out)
    return [r["row"] for r in rows if r["table"] == "audit" and r["row"]["event"] == event]


@pytest.mark.parametrize("agent,audited", [
    (b"Mozilla/5.0 \xff", "Mozilla/5.0 ?"),
    (b"A" * 63 + "\u00e9".encode(), "A" * 63),  # 65 bytes into 64: cut between characters
    (b"agent\tone", "agent?one"),
    ("caf\u00e9 \u20ac".encode(), "caf\u00e9 \u20ac"),
], ids=["not-utf8", "cut", "control", "utf8"])
def test_audit_text_from_the_client_is_utf8_and_the_store_still_exports(
        make_server, tmp_path, agent, audited):
    """The User-Agent goes into the audit log, which is append-only: a byte there that is not
    UTF-8 must not make every later export fail."""
    s = make_server()
    tok = s.new_user(s.service_key()).session()
    with socket.create_connection(("127.0.0.1", s.port), timeout=30) as c:
        c.sendall(b"POST /v1/sessions/revoke-others HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\nAuthorization: Bearer " + tok.encode() +
                  b"\r\nUser-Agent: " + agent + b"\r\n\r\n")
        assert c.recv(65536).startswith(b"HTTP/1.1 200 ")
    assert [r["client"] for r in _audit_rows(s, tmp_path, "session.revoke_others")] == [audited]
    # The name an unknown user was asked by is the client's text too.
    assert_error(s.post("/v1/login", {"username": "gh\u0007ost\u00e9", "password": "pw-fine-123",
                                      "client": "web"}), 401, "invalid_credentials")
    assert _audit_rows(s, tmp_path, "login.password")[-1]["account_name"] == "gh?ost\u00e9"


@pytest.mark.sqlite_only
def test_export_of_an_old_store_with_text_that_is_not_utf8_repairs_it(make_server, tmp_path):
    """A SQLite store written before the stores repaired text may hold audit rows with bytes
    that are not UTF-8, and its audit log cannot be mended: the export writes them with '?',
    says so, and the file imports."""
    a = make_server()
    a.new_user(a.service_key()).session()
    a.stop()
    db = sqlite3.connect(a.data_dir / "pahara.db", timeout=10, isolation_level=None)
    db.execute("INSERT INTO audit (at, account_id, account_name, event, outcome, ip, client,"
               " detail) VALUES (1, 0, '', 'session.revoke_others', 'ok', '192.0.2.1',"
               " CAST(? AS TEXT), CAST(? AS TEXT))",
               (b"Mozilla/5.0 \xff\xfe", b"A" * 10 + b"\xc3"))
    db.close()
    out = tmp_path / "old.jsonl"
    r = a.admin("export", str(out))
    assert "2 text values of the store were not UTF-8" in r.stderr, r.stderr
    _, rows, _ = _rows(out)
    old = [x["row"] for x in rows if x["table"] == "audit" and x["row"]["ip"] == "192.0.2.1"]
    assert [(x["client"], x["detail"]) for x in old] == [("Mozilla/5.0 ??", "A" * 10 + "?")]
    b = _empty_target(make_server, a)
    b.admin("import", str(out))
    again = tmp_path / "again.jsonl"
    assert b.admin("export", str(again)).stderr == ""


def test_export_says_why_it_could_not_write_and_audits_it_as_failed(make_server, tmp_path):
    """The export's event says how it ended: written after the file is closed, `ok`, or
    `failed` with why; never `ok` for a file that could not be written."""
    a = make_server()
    with open("/dev/full", "wb") as full:
        r = subprocess.run([BIN, "admin", "--data", str(a.data_dir), *a.store_args,
                            "--config", str(a.config_path), "export", "-"],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=60,
                           env=_env())
    assert r.returncode == 1
    assert "-: cannot write the export (No space left on device)" in r.stderr, r.stderr
    events = [x.split("\t") for x in a.admin("audit").stdout.splitlines()
              if "\tstore.export\t" in x]
    assert [(e[2], e[6]) for e in events] == \
        [("failed", "(standard output): No space left on device")], events
    out = tmp_path / "e.jsonl"
    a.admin("export", str(out))
    events = [x.split("\t") for x in a.admin("audit").stdout.splitlines()
              if "\tstore.export\t" in x]
    assert [(e[2], e[6]) for e in events[1:]] == [("ok", str(out))], events


def test_migrate_reports_the_schema_version(make_server):
    a = make_server()
    assert "schema version" in a.admin("migrate").stdout


def test_sqlite_to_postgresql_and_back_keeps_everything(make_server, store, tmp_path):
    """The move the issue names: export from SQLite, import into PostgreSQL, and the same
    accounts sign in with the same factors; then back again, with nothing lost."""
    if store != "postgresql":
        pytest.skip("needs a PostgreSQL store as the other side")
    a = make_server(store_url="", name="sqlite-site")        # "" = the SQLite file
    svc = a.service_key()
    u = a.new_user(svc)
    tok = u.with_totp()
    u.generate_backup(tok, 2)
    out = tmp_path / "from-sqlite.jsonl"
    a.admin("export", str(out))

    b = _empty_target(make_server, a)                          # PostgreSQL
    assert b.store_url
    b.admin("import", str(out))
    assert b.admin("user", "list").stdout == a.admin("user", "list").stdout
    assert b.admin("audit").stdout.splitlines()[:-1] == \
        a.admin("audit").stdout.splitlines()[:-1]
    b.start()
    u.s = b
    b.advance(a.offset - b.offset)
    assert assert_ok(u.verify(u.start(), "totp", u.next_totp()))["status"] == "signed_in"
    assert assert_ok(u.verify(u.start(), "backup", u.backup[3]))["status"] == "signed_in"

    back = tmp_path / "from-postgresql.jsonl"
    b.admin("export", str(back))
    c = make_server(store_url="", name="sqlite-again")
    c.stop()
    for k in KEYS:
        shutil.copy(a.data_dir / k, c.data_dir / k)
    # c made its own (empty) SQLite file when it started: the import goes into that.
    c.admin("import", str(back))
    assert c.admin("user", "list").stdout == b.admin("user", "list").stdout
    assert c.admin("audit").stdout.splitlines()[:-1] == \
        b.admin("audit").stdout.splitlines()[:-1]
    c.start()
    u.s = c
    c.advance(b.offset - c.offset)
    assert_error(u.verify(u.start(), "backup", u.backup[3]), 410, "inactive_backup_code")
    assert assert_ok(u.verify(u.start(), "totp", u.next_totp()))["status"] == "signed_in"


# ---- what an import accepts: each value in its range, each reference to a row of the file ----


def _changed(out, tmp_path, table, change, name):
    """The export at out with the first row of table changed; returns (path, line number)."""
    lines = out.read_text().splitlines()
    for i, text in enumerate(lines):
        j = json.loads(text)
        if j.get("table") == table:
            change(j["row"])
            lines[i] = json.dumps(j)
            break
    else:
        raise AssertionError(f"no {table} row in the export")
    p = tmp_path / f"{name}.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p, i + 1


def _set(**kw):
    return lambda r: r.update(kw)


OUT_OF_RANGE = {
    # ids stay far below INT64_MAX, so that new ones can follow them
    "sessions.id": _set(id=2**63 - 1),
    "accounts.id": _set(id=0),
    "logins.session_id": _set(session_id=-1),
    "backup_codes.generation": _set(generation=2**32),
    "tmp_passwords.id": _set(id=0),
    # booleans and enums
    "accounts.disabled": _set(disabled=5),
    "totp.confirmed": _set(confirmed=2),
    "totp.alg": _set(alg=3),
    "backup_codes.status": _set(status=9),
    "sessions.kind": _set(kind=9),
    "logins.state": _set(state=4),
    # what core/otp.h allows, and int32 columns
    "totp.digits": _set(digits=99),
    "totp.period": _set(period=0),
    "totp.drift": _set(drift=2**40),
    "logins.failures": _set(failures=2**31),
    # text within its size, names as the server allows them
    "accounts.name": _set(name="x" * 300),
    "services.name": _set(name="a b"),
    "sessions.client": _set(client="c" * 65),
    "audit.detail": _set(detail="d" * 257),
    # a password hash a sign-in would check: libsodium takes any costs the string names, and
    # t = 2^32-1 would hold a thread for hours at each sign-in of the account
    "accounts.pwhash": _set(pwhash="$argon2id$v=19$m=8,t=4294967295,p=1$c29tZXNhbHRzb21lc2FsdA$"
                                   "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    # blobs of their size
    "backup_codes.hash": _set(hash="AAAA"),
    "sessions.token_hash": _set(token_hash=""),
}


def test_import_refuses_a_value_out_of_its_range(make_server, tmp_path):
    """Each value must be one the server itself could have written: an import that took
    totp.digits = 99 or sessions.id = 2^63-1 (after which no session can be made) would leave
    a store that fails later, far from the cause.  Refused with the line and the column,
    and nothing is imported."""
    a, *_ = _site(make_server)
    out = tmp_path / "site.jsonl"
    a.admin("export", str(out))
    b = _empty_target(make_server, a)
    wrong = []
    for column, change in OUT_OF_RANGE.items():
        table = column.split(".")[0]
        bad, line = _changed(out, tmp_path, table, change, column)
        r = b.admin("import", str(bad), check=False)
        if not (r.returncode == 2 and f"line {line}: {column} " in r.stderr):
            wrong.append((column, line, r.returncode, r.stderr.strip()))
        assert _nothing_imported(b), column
    assert wrong == []
    # The values at the ends of the ranges go in.
    ok, _ = _changed(out, tmp_path, "sessions", _set(id=2**53), "top-session")
    b.admin("import", str(ok))


def test_import_refuses_an_account_of_a_service_not_in_the_file(make_server, tmp_path):
    """An account's service_id names a service of the file (or 0): otherwise the next service
    made on the target would get that id, and with it the account (its key would pass
    POST /v1/check for it)."""
    a, svc, u, _ = _site(make_server)
    out = tmp_path / "site.jsonl"
    a.admin("export", str(out))
    b = _empty_target(make_server, a)
    for sid in (2, -1):
        bad, line = _changed(out, tmp_path, "accounts", _set(service_id=sid), f"svc{sid}")
        r = b.admin("import", str(bad), check=False)
        assert r.returncode == 2 and f"line {line}: accounts.service_id " in r.stderr, \
            (sid, r.returncode, r.stderr)
        assert _nothing_imported(b)
    # Services come before the accounts that name them.
    lines = out.read_text().splitlines(keepends=True)
    first_account = next(i for i, x in enumerate(lines) if '"table":"accounts"' in x)
    late = tmp_path / "late-service.jsonl"
    late.write_text("".join(lines[:1] + lines[first_account:first_account + 1] + lines[1:2] +
                            lines[first_account + 1:]))
    r = b.admin("import", str(late), check=False)
    assert r.returncode == 2 and "line 2" in r.stderr, r.stderr
    b.admin("import", str(out))


def _start_alone(s):
    """`pahara admin user list` on s's own data directory: refused if the store's key
    fingerprints are not those of its key files."""
    return subprocess.run([BIN, "admin", "--data", str(s.data_dir), *s.store_args,
                           "--config", str(s.config_path), "user", "list"],
                          capture_output=True, text=True, env=_env(), timeout=60)


def _import_with_keys_of(src, target, path):
    """`pahara admin import` into target's store from a data directory with src's keys."""
    other = src.workdir / "importer"
    if not other.exists():
        other.mkdir(mode=0o700)
        for k in KEYS:
            shutil.copy(src.data_dir / k, other / k)
    store = target.store_url or str(target.data_dir)
    return subprocess.run([BIN, "admin", "--data", str(other), "--store", store,
                           "--config", str(target.config_path), "import", str(path)],
                          capture_output=True, text=True, env=_env(), timeout=60)


def test_an_import_refused_as_not_empty_changes_no_key_fingerprint(make_server, tmp_path):
    """An import refused because the store is not empty (a site with a service and no
    account yet) leaves the store's record of its key files as it was: the site's own node
    still starts."""
    src = make_server(name="src")
    src.new_user(src.service_key())
    out = tmp_path / "site.jsonl"
    src.admin("export", str(out))
    site = make_server(name="site")
    site.service_key()
    r = _import_with_keys_of(src, site, out)
    assert r.returncode == 2 and "not empty" in r.stderr, r.stderr
    site.stop()
    r = _start_alone(site)
    assert r.returncode == 0, r.stderr


def test_a_failed_import_changes_no_key_fingerprint(make_server, tmp_path):
    """An import that fails into an empty store leaves the fingerprints that an earlier start
    recorded there; only the import that goes in makes the importer's keys the store's."""
    src = make_server(name="src")
    src.new_user(src.service_key())
    out = tmp_path / "site.jsonl"
    src.admin("export", str(out))
    empty = make_server(name="empty")       # its own keys recorded, no row
    empty.stop()
    bad = tmp_path / "truncated.jsonl"
    bad.write_text("".join(out.read_text().splitlines(keepends=True)[:-1]))
    r = _import_with_keys_of(src, empty, bad)
    assert r.returncode == 2 and "truncated" in r.stderr, r.stderr
    r = _start_alone(empty)
    assert r.returncode == 0, r.stderr
    r = _import_with_keys_of(src, empty, out)
    assert r.returncode == 0, r.stderr
    r = _start_alone(empty)
    assert r.returncode == 1 and "differs" in r.stderr, r.stderr


def test_a_line_too_long_is_refused_without_reading_it_whole(make_server, tmp_path):
    """A line longer than the limit (1 MiB) is refused once the limit is passed, not after
    reading all of it into memory."""
    a = make_server()
    out = tmp_path / "e.jsonl"
    a.admin("export", str(out))
    b = _empty_target(make_server, a)
    big = tmp_path / "big.jsonl"
    with open(big, "w") as f:
        f.write(out.read_text().splitlines()[0] + "\n")
        f.write('{"table":"audit","row":{"detail":"')
        chunk = "A" * (1 << 20)
        for _ in range(300):                 # one 300 MiB line, no newline
            f.write(chunk)
    err = tmp_path / "stderr"
    with open(err, "w") as e:
        p = subprocess.Popen([BIN, "admin", "--data", str(b.data_dir), *b.store_args,
                              "--config", str(b.config_path), "import", str(big)],
                             stdout=subprocess.DEVNULL, stderr=e, env=_env())
        _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    big.unlink()
    assert p.returncode == 2 and "line 2 is too long" in err.read_text(), \
        (p.returncode, err.read_text())
    # ru_maxrss is in KiB: far below the line's 300 MiB (a sanitizer build needs some more).
    assert usage.ru_maxrss < 160 * 1024, usage.ru_maxrss
    assert _nothing_imported(b)
