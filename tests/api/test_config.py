"""The DESIGN §3 numbers in the configuration file (docs/operations.md §4): a server started
with other values applies them, a bad value stops it before it starts, and the throttling
counters are stored in their portable format (core/ratelimit.h), a malformed one never
unlocking anything (those tests read and damage the SQLite file: sqlite_only)."""

import re
import signal
import sqlite3
import struct
import subprocess
import urllib.parse

import pytest
import requests

from conftest import BIN, TOTP_PERIOD, _env, assert_error, assert_ok


def _wrong(u):
    """A code that is not u's current one (nor one of the neighbouring steps)."""
    t = u.s.now()
    near = {u.code_at(t + d * TOTP_PERIOD) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


# ---- the rules follow the configuration ------------------------------------------------


def test_lowered_lockout_threshold_applies(make_server):
    s = make_server(config={"code_failures_per_account": 3, "code_failures_window": 300,
                            "code_lockout_duration": 600})
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    right = u.next_totp()  # (moves the clock past the enrolment's step first)
    lid = u.start()
    for _ in range(3):  # the backoff is waited out: only the lockout is under test
        assert_error(u.verify(lid, "totp", _wrong(u)), 401, "invalid_code")

    # The third wrong code locked the account, for the configured time.
    err = assert_error(u.verify(lid, "totp", right, through_backoff=False), 429,
                       "rate_limited")
    assert 590 <= err["retry_after"] <= 600, err
    assert_error(u.check("totp", right, through_backoff=False), 429, "rate_limited")
    lockouts = [f for f in s.audit(u.name) if len(f) > 6 and f[1] == "account.lockout"]
    assert len(lockouts) == 1 and "3 wrong codes within 300 s" in lockouts[0][6], lockouts

    s.advance(err["retry_after"])  # (the sign-in has expired meanwhile: a new one)
    assert assert_ok(u.verify(u.start(), "totp", u.next_totp(), through_backoff=False)) \
        ["status"] == "signed_in"


def test_backoff_follows_the_configuration(make_server):
    s = make_server(config={"code_backoff_grace": 0, "code_backoff_base": 7,
                            "code_backoff_max": 20})
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    waits = []
    for _ in range(4):
        assert_error(u.check("totp", _wrong(u), through_backoff=False), 401, "invalid_code")
        err = assert_error(u.check("totp", _wrong(u), through_backoff=False), 429,
                           "rate_limited")
        waits.append(err["retry_after"])
        s.advance(err["retry_after"])
    # No grace: a wait after the first failure already, doubling, capped at the maximum (less
    # a second when the real clock ticked between the two requests).
    assert all(w - 1 <= got <= w for got, w in zip(waits, [7, 14, 20, 20])), waits


def test_wrong_codes_per_sign_in_follow_the_configuration(make_server):
    s = make_server(config={"code_failures_per_signin": 2})
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    lid = u.start()
    assert assert_ok(s.get(f"/v1/login/{lid}"))["attempts_left"] == 2
    err = assert_error(u.verify(lid, "totp", _wrong(u)), 401, "invalid_code")
    assert "1 of 2 attempts left" in err["message"], err
    # The second wrong code is the last this sign-in takes.
    assert_error(u.verify(lid, "totp", _wrong(u)), 410, "login_ended")
    status = assert_ok(s.get(f"/v1/login/{lid}"))
    assert status["status"] == "failed" and status["attempts_left"] == 0, status
    assert_error(u.verify(lid, "totp", u.next_totp()), 410, "login_ended")


def test_pending_sign_in_lifetime_follows_the_configuration(make_server):
    s = make_server(config={"signin_lifetime": 120})
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    body = assert_ok(u.login())
    assert abs(body["expires_at"] - (s.now() + 120)) <= 2, body
    lid = body["login_id"]
    assert abs(assert_ok(s.get(f"/v1/login/{lid}"))["expires_at"] - body["expires_at"]) == 0

    s.advance(125)
    assert assert_ok(s.get(f"/v1/login/{lid}"))["status"] == "expired"
    assert_error(u.verify(lid, "totp", u.next_totp()), 410, "login_ended")


def test_reauth_window_follows_the_configuration(make_server):
    s = make_server(config={"reauth_window": 60})
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.session()
    assert_ok(s.post("/v1/temporary-passwords", token=token))
    s.advance(65)
    assert_error(s.post("/v1/temporary-passwords", token=token), 403,
                 "reauthentication_required")


def test_temporary_password_lifetime_follows_the_configuration(make_server):
    s = make_server(config={"temporary_password_lifetime": 120})
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.session()
    tp = assert_ok(s.post("/v1/temporary-passwords", token=token))
    assert abs(tp["expires_at"] - (s.now() + 120)) <= 2, tp
    s.advance(125)
    assert_error(u.login(client="mail-app", password=tp["password"]), 401,
                 "invalid_credentials")


def test_housekeeping_keeps_a_long_backoff(make_server):
    """The counters' rows live as long as the longest configured wait, not just the lockout
    window and duration: removing them early would end a backoff."""
    s = make_server(config={"code_backoff_grace": 0, "code_backoff_base": 3600,
                            "code_backoff_max": 3600, "code_failures_window": 600,
                            "code_lockout_duration": 600})
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    assert_error(u.check("totp", _wrong(u), through_backoff=False), 401, "invalid_code")
    s.advance(1800)  # past the window and the lockout duration, within the backoff
    assert_ok(s.post("/v1/test/housekeep"))
    err = assert_error(u.check("totp", u.next_totp(), through_backoff=False), 429,
                       "rate_limited")
    assert 1700 <= err["retry_after"] <= 1800, err


# ---- a bad value stops the server --------------------------------------------------------


@pytest.mark.parametrize("line,message", [
    ("code_failures_per_account = 0",
     "bad value for 'code_failures_per_account': expected a whole number from 1 to 1000"),
    ("code_failures_per_signin = 5 codes",
     "bad value for 'code_failures_per_signin': expected a whole number from 1 to 100"),
    ("code_failures_window = 15m",
     "bad value for 'code_failures_window': expected a whole number from 60 to 86400"),
    ("code_lockout_duration = 86401",
     "bad value for 'code_lockout_duration': expected a whole number from 60 to 86400"),
    ("code_backoff_grace = -1",
     "bad value for 'code_backoff_grace': expected a whole number from 0 to 100"),
    ("code_backoff_base = 0",
     "bad value for 'code_backoff_base': expected a whole number from 1 to 3600"),
    ("code_backoff_max = 0x10",
     "bad value for 'code_backoff_max': expected a whole number from 1 to 86400"),
    ("signin_lifetime = 10",  # minutes meant: ten seconds would be no sign-in at all
     "bad value for 'signin_lifetime': expected a whole number from 60 to 3600"),
    ("temporary_password_lifetime = 99999999999999999999999",
     "bad value for 'temporary_password_lifetime': expected a whole number from 60 to 604800"),
    ("reauth_window = ",
     "bad value for 'reauth_window': expected a whole number from 60 to 86400"),
    ("password_attempts_per_ip = 33",
     "bad value for 'password_attempts_per_ip': expected a whole number from 1 to 32"),
])
def test_bad_value_refuses_to_start(tmp_path, line, message):
    conf = tmp_path / "pahara.conf"
    conf.write_text(f"# throttling\nargon2_passes = 1\n{line}\n")
    data = tmp_path / "data"
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data", str(data),
                        "--config", str(conf), "--test-clock"],
                       capture_output=True, text=True, timeout=30, env=_env())
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == f"pahara serve: {conf}:3: {message}", r.stderr
    assert not data.exists()  # refused before anything was made


def test_backoff_max_below_base_refuses_to_start(tmp_path):
    conf = tmp_path / "pahara.conf"
    conf.write_text("code_backoff_base = 1000\n")  # the default maximum is 900
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data",
                        str(tmp_path / "data"), "--config", str(conf)],
                       capture_output=True, text=True, timeout=30, env=_env())
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.splitlines()[0] == (f"pahara serve: {conf}: 'code_backoff_max' (900) must "
                                        "not be less than 'code_backoff_base' (1000)"), r.stderr


@pytest.mark.parametrize("lines, message", [
    ("store_writers = 8\nstore_connections = 8\n",
     "'store_writers' (8) must be less than 'store_connections' (8): the rest are for reading"),
    ("store_connections = 2\n",  # with the default of 2 writers
     "'store_writers' (2) must be less than 'store_connections' (2): the rest are for reading"),
])
def test_store_writers_must_leave_connections_for_reading(tmp_path, lines, message):
    conf = tmp_path / "pahara.conf"
    conf.write_text(lines)
    data = tmp_path / "data"
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data", str(data),
                        "--config", str(conf)],
                       capture_output=True, text=True, timeout=30, env=_env())
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.splitlines()[0] == f"pahara serve: {conf}: {message}", r.stderr
    assert not data.exists()


def test_store_writers_out_of_range_refuses_to_start(tmp_path):
    conf = tmp_path / "pahara.conf"
    conf.write_text("store_writers = 9\n")
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data",
                        str(tmp_path / "data"), "--config", str(conf)],
                       capture_output=True, text=True, timeout=30, env=_env())
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.splitlines()[0] == (f"pahara serve: {conf}:1: bad value for "
                                        "'store_writers': expected a whole number from 0 to 8")



def _serve_with(tmp_path, content):
    """`pahara serve` on a config file of content (bytes); it must refuse to start."""
    conf = tmp_path / "pahara.conf"
    conf.write_bytes(content)
    data = tmp_path / "data"
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data", str(data),
                        "--config", str(conf)],
                       capture_output=True, timeout=30, env=_env())
    stderr = r.stderr.decode(errors="replace")
    assert r.returncode == 2, (r.returncode, r.stdout, stderr)
    assert r.stdout == b""
    assert not data.exists()  # refused before anything was made
    return conf, stderr.splitlines()[0]


@pytest.mark.parametrize("issuer", [b"Example: Corp", b"Ex\x1b[2Jample", b"Caf\xe9",
                                    b"Tab\there"])
def test_issuer_that_no_enrolment_uri_can_carry_refuses_to_start(tmp_path, issuer):
    """The issuer goes into every otpauth:// URI (issuer in the label and issuer=), whose
    builder refuses a ':' (it would split the label), a control character and bytes that are
    not UTF-8: a server started with one answered every enrolment 400 invalid_argument."""
    conf, first = _serve_with(tmp_path, b"issuer = " + issuer + b"\n")
    assert first == (f"pahara serve: {conf}:1: bad value for 'issuer': expected 1 to 63 bytes "
                     "of UTF-8 without ':' or control characters"), first


def test_issuer_with_spaces_symbols_and_non_ascii_is_in_the_enrolment_uri(make_server):
    issuer = "पहारा & Co #1 100% ?"
    s = make_server(config={"issuer": issuer})
    u = s.new_user(s.service_key())
    body = assert_ok(s.post("/v1/factors/totp", token=u.session()))
    label, query = body["uri"][len("otpauth://totp/"):].split("?")
    assert urllib.parse.unquote(label) == f"{issuer}:{u.name}", body["uri"]
    assert urllib.parse.parse_qs(query)["issuer"] == [issuer], body["uri"]



def test_config_that_cannot_be_read_refuses_to_start(tmp_path):
    """A directory opens, and then every read fails: it was taken as an empty file, and the
    server started on the defaults (as did `pahara admin`)."""
    conf = tmp_path / "conf.d"
    conf.mkdir()
    data = tmp_path / "data"
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data", str(data),
                        "--config", str(conf)],
                       capture_output=True, text=True, timeout=30, env=_env())
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.splitlines()[0] == f"pahara serve: {conf}: Is a directory", r.stderr
    assert not data.exists()
    data.mkdir()
    r = subprocess.run([BIN, "admin", "--data", str(data), "--config", str(conf), "user",
                        "list"], capture_output=True, text=True, timeout=30, env=_env())
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.splitlines()[0] == f"pahara admin user list: {conf}: Is a directory"
    assert list(data.iterdir()) == []



@pytest.mark.parametrize("content", [b"threads = 4\0junk\n", b"argon2_passes = 1\nissuer = Ex\0ample",
                                     b"\0\n"], ids=["mid-file", "last line", "alone"])
def test_nul_byte_in_a_line_refuses_to_start(tmp_path, content):
    """A NUL ended the line for the parser: on the last line the rest of the value was
    dropped unseen (issuer 'Ex'), elsewhere the line was said to be too long."""
    conf, first = _serve_with(tmp_path, content)
    line = content.count(b"\n", 0, content.index(b"\0")) + 1
    assert first == f"pahara serve: {conf}:{line}: the line holds a NUL byte", first


def test_line_of_1023_characters_is_taken(tmp_path):
    """docs/operations.md §4: a line may be at most 1023 characters (its newline aside)."""
    conf, first = _serve_with(tmp_path, b"# " + b"x" * 1021 + b"\nthreads = 300\n")
    assert first.startswith(f"pahara serve: {conf}:2: bad value for 'threads'"), first
    conf, first = _serve_with(tmp_path, b"# " + b"x" * 1022 + b"\n")
    assert first == f"pahara serve: {conf}:1: line too long", first


@pytest.mark.parametrize("content,line,first", [
    (b"code_failures_per_account = 3\nthreads = 2\ncode_failures_per_account = 50\n", 3, 1),
    (b"issuer = A\n\n# again\n  issuer=B\n", 4, 1),
    (b"trusted_proxies = 10.0.0.1\ntrusted_proxies = 10.0.0.2\n", 2, 1),
], ids=["a limit undone", "spaces around", "a list"])
def test_setting_given_twice_refuses_to_start(tmp_path, content, line, first):
    """A key set twice: the later line won unseen, so a limit tightened at the top of the file
    could be undone further down. It is refused, naming both lines."""
    conf, msg = _serve_with(tmp_path, content)
    key = content.split(b"\n")[line - 1].split(b"=")[0].strip().decode()
    assert msg == f"pahara serve: {conf}:{line}: '{key}' is set twice (first on line {first})", msg


@pytest.mark.parametrize("key", ["listen", "data", "store"])
def test_empty_place_refuses_to_start(tmp_path, key):
    """`data =` with nothing after it started and then failed with exit 1 and
    'store : cannot create the data directory'; an empty value is a bad value (exit 2)."""
    conf, msg = _serve_with(tmp_path, f"{key} =\n".encode())
    assert msg == f"pahara serve: {conf}:1: bad value for '{key}'", msg


# ---- the stored counters ---------------------------------------------------------------


def _db(s):
    db = sqlite3.connect(s.data_dir / "pahara.db", timeout=10, isolation_level=None)
    return db


def _row(s, pattern):
    with _db(s) as db:
        rows = db.execute("SELECT key, blob FROM limits WHERE key LIKE ?", (pattern,)).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.sqlite_only
def test_counters_are_stored_in_the_portable_format(make_server):
    s = make_server(config={"password_attempts_per_ip": 5, "password_attempts_window": 60})
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    assert_error(u.check("totp", _wrong(u), through_backoff=False), 401, "invalid_code")
    _, blob = _row(s, "acct:%")
    assert len(blob) == 33 and blob[0] == 1, blob.hex()
    consecutive, window_failures, window_start, last_failure, locked_until = \
        struct.unpack(">IIqqq", blob[1:])
    assert (consecutive, window_failures, locked_until) == (1, 1, 0)
    assert window_start == last_failure and abs(last_failure - s.now()) <= 2

    _, blob = _row(s, "ip:%")  # the sign-in of with_totp
    assert len(blob) == 258 and blob[0] == 1 and blob[1] >= 1, blob.hex()
    times = struct.unpack(">32q", blob[2:])
    assert all(t > 0 for t in times[:blob[1]]) and not any(times[blob[1]:]), times


@pytest.mark.sqlite_only
def test_malformed_account_state_locks_instead_of_unlocking(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    assert_error(u.check("totp", _wrong(u), through_backoff=False), 401, "invalid_code")
    key, blob = _row(s, "acct:%")
    # A later format version (or damage): this build cannot read it.
    with _db(s) as db:
        db.execute("UPDATE limits SET blob = ? WHERE key = ?", (b"\x02" + blob[1:], key))

    right = u.next_totp()
    err = assert_error(u.check("totp", right, through_backoff=False), 429, "rate_limited")
    assert 890 <= err["retry_after"] <= 900, err  # one lockout of the default 15 minutes
    lockouts = [f for f in s.audit(u.name) if len(f) > 6 and f[1] == "account.lockout"]
    assert len(lockouts) == 1 and "malformed rate-limit state" in lockouts[0][6], lockouts
    assert "malformed rate-limit state" in s.stderr()
    # The strict reading replaced the bad blob: one lockout, not a lock forever.
    _, blob = _row(s, "acct:%")
    assert len(blob) == 33 and blob[0] == 1, blob.hex()

    s.advance(err["retry_after"])
    assert assert_ok(u.check("totp", u.next_totp(), through_backoff=False)) == {"status": "ok"}
    assert len([f for f in s.audit(u.name) if f[1] == "account.lockout"]) == 1


@pytest.mark.sqlite_only
def test_malformed_address_state_is_a_full_window(make_server):
    s = make_server(config={"password_attempts_per_ip": 5, "password_attempts_window": 60})
    svc = s.service_key()
    u = s.new_user(svc)
    assert_ok(u.login(through_throttle=False))
    key, blob = _row(s, "ip:%")
    with _db(s) as db:
        db.execute("UPDATE limits SET blob = ? WHERE key = ?",
                   (blob[:1] + bytes([200]) + blob[2:], key))  # a count over 32

    err = assert_error(u.login(through_throttle=False), 429, "rate_limited")
    assert 55 <= err["retry_after"] <= 60, err
    assert "malformed rate-limit state" in s.stderr()
    s.advance(err["retry_after"])
    assert assert_ok(u.login(through_throttle=False))["status"] == "signed_in"


# ---- the test hooks stay shut without --test-clock ----------------------------------------

TEST_ENDPOINTS = [("POST", "/v1/test/clock", {"advance": 60}), ("POST", "/v1/test/pause",
                  {"ms": 100}), ("POST", "/v1/test/housekeep", None),
                  ("GET", "/v1/test/counters", None)]


def test_test_endpoints_answer_404_without_the_test_clock(tmp_path):
    """A test build started as production would be (no --test-clock) has no test endpoints;
    release builds have none at all (tests/cli/test_admin.py)."""
    proc = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data",
                             str(tmp_path / "data")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        base = f"http://127.0.0.1:{m.group(1)}"
        for method, path, body in TEST_ENDPOINTS:
            r = requests.request(method, base + path, json=body, timeout=30)
            assert_error(r, 404, "not_found")
            assert path in r.json()["error"]["message"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()
        proc.stderr.close()


# ---- the rules of docs/operations.md §4 the counters keep (a review's findings) ----------

# ---- a counter of another length (the previous build's raw struct, or a damaged one)
#         is read as "no counter": a locked account is unlocked ------------------------------

@pytest.mark.sqlite_only
@pytest.mark.parametrize("form", ["previous_build_raw_struct", "truncated"])
def test_locked_account_stays_locked_when_its_counter_has_another_length(make_server, form):
    s = make_server()
    u = s.new_user(s.service_key())
    u.with_totp()
    left = u.lock_out()
    assert left > 800
    key, blob = _row(s, "acct:%")
    assert len(blob) == 33 and blob[0] == 1
    c, wf, ws, lf, lu = struct.unpack(">IIqqq", blob[1:])
    assert lu > s.now() + 800  # locked
    if form == "previous_build_raw_struct":
        # What the build before be0a1da stored: the C struct as it lies in memory
        # (x86-64: little-endian, 32 bytes), same lock.
        bad = struct.pack("<IIqqq", c, wf, ws, lf, lu)
    else:
        bad = blob[:32]  # damage: the last byte lost
    with _db(s) as db:
        db.execute("UPDATE limits SET blob = ? WHERE key = ?", (bad, key))
    # operations.md §4: a counter that cannot be read is never taken as "no failures".
    r = u.check("totp", u.next_totp(), through_backoff=False)
    assert_error(r, 429, "rate_limited")


# ---- a malformed address counter, met only by the password-guarded settings or by
#         self-registration, is never rewritten: the address is refused for ever -----------

@pytest.mark.sqlite_only
def test_malformed_address_counter_refusal_ends_after_one_window_for_reauth(make_server):
    s = make_server(config={"password_attempts_per_ip": 5, "password_attempts_window": 60})
    u = s.new_user(s.service_key())
    token = u.session()
    key, blob = _row(s, "ip:%")
    with _db(s) as db:
        db.execute("UPDATE limits SET blob = ? WHERE key = ?",
                   (blob[:1] + bytes([200]) + blob[2:], key))
    # Read the strict way: full, for one window.
    for _ in range(2):
        err = assert_error(s.post("/v1/reauth", {"password": u.password}, token=token), 429,
                           "rate_limited")
        assert 1 <= err["retry_after"] <= 60, err
    s.advance(err["retry_after"] + 1)
    # operations.md §4: "the counter is then rewritten, so the refusal ends after that one
    # ... window" (it was refused for ever: the settings only peeked, and nothing rewrote it).
    assert_ok(s.post("/v1/reauth", {"password": u.password}, token=token))


@pytest.mark.sqlite_only
def test_malformed_address_counter_refusal_ends_after_one_window_for_registration(make_server):
    s = make_server(config={"self_registration": "true", "password_attempts_per_ip": 5,
                            "password_attempts_window": 60})
    assert_ok(s.post("/v1/accounts", {"username": "first-one", "password": "pw-fine-12345"}),
              201)
    key, blob = _row(s, "ip:%")
    with _db(s) as db:
        db.execute("UPDATE limits SET blob = ? WHERE key = ?",
                   (blob[:1] + bytes([200]) + blob[2:], key))
    for i in range(2):
        err = assert_error(s.post("/v1/accounts", {"username": f"n{i}",
                                                   "password": "pw-fine-12345"}),
                           429, "rate_limited")
        assert 1 <= err["retry_after"] <= 60, err
    s.advance(err["retry_after"] + 1)
    assert_ok(s.post("/v1/accounts", {"username": "late-one", "password": "pw-fine-12345"}),
              201)


# ---- a right code at POST /v1/twofactor/off does not end the back-off ------------------

def test_right_code_at_twofactor_off_ends_the_backoff(make_server):
    s = make_server()
    u = s.new_user(s.service_key())
    token = u.with_totp()

    def off(code):
        return s.post("/v1/twofactor/off", {"password": u.password, "method": "totp",
                                            "code": code}, token=token)

    right = u.next_totp()  # (moves the clock past the enrolment's step first)
    for _ in range(3):
        assert_error(off(_wrong(u)), 401, "invalid_code")
    err = assert_error(off(right), 429, "rate_limited")  # backing off: 2 s
    s.advance(err["retry_after"])
    assert_ok(off(right))  # a right code: api.md §2 rule 8, "ends the back-off"

    # Two-factor on again: one typo when confirming is within the grace (2 in a row).
    u.secret = assert_ok(s.post("/v1/factors/totp", token=token))["secret"]
    u.last_step = -1
    right = u.next_totp()
    assert_error(s.post("/v1/factors/totp/confirm", {"code": _wrong(u)}, token=token), 401,
                 "invalid_code")
    assert_ok(s.post("/v1/factors/totp/confirm", {"code": right}, token=token))


# ---- housekeeping resets the back-off's growth --------------------------------------

def test_housekeeping_does_not_reset_the_backoff(make_server):
    s = make_server()
    svc = s.service_key()
    a, b = s.new_user(svc), s.new_user(svc)
    for u in (a, b):
        u.with_totp()
        for _ in range(5):  # five in a row: the next wrong one makes the account wait 16 s
            assert_error(u.check("totp", _wrong(u)), 401, "invalid_code")
    s.advance(2000)  # the rows' expiry (last failure + 1800) has passed

    # a, no housekeeping yet: the 6th wrong code in a row, then a right one at once: 429.
    assert_error(a.check("totp", _wrong(a), through_backoff=False), 401, "invalid_code")
    err = assert_error(a.check("totp", a.next_totp(), through_backoff=False), 429,
                       "rate_limited")
    assert 15 <= err["retry_after"] <= 16, err

    # b, the same after housekeeping ran: it must behave the same.
    assert_ok(s.post("/v1/test/housekeep"))
    assert_error(b.check("totp", _wrong(b), through_backoff=False), 401, "invalid_code")
    assert_error(b.check("totp", b.next_totp(), through_backoff=False), 429, "rate_limited")


# ---- an address counter written after the clock stepped back expires too early ------

def test_housekeeping_keeps_an_address_window_after_the_clock_stepped_back(make_server):
    s = make_server(config={"password_attempts_per_ip": 3, "password_attempts_window": 300})
    u = s.new_user(s.service_key())
    assert_ok(u.login(through_throttle=False))
    assert_ok(u.login(through_throttle=False))
    s.advance(-100)  # the clock steps back (NTP)
    assert_ok(u.login(through_throttle=False))  # recorded at the latest time, T
    s.advance(350)  # T + 250: the three attempts at T count until T + 300
    err = assert_error(u.login(through_throttle=False), 429, "rate_limited")
    assert err["retry_after"] <= 55, err
    assert_ok(s.post("/v1/test/housekeep"))
    assert_error(u.login(through_throttle=False), 429, "rate_limited")


@pytest.mark.sqlite_only
def test_full_address_window_stays_full_when_its_counter_has_another_length(make_server):
    s = make_server(config={"password_attempts_per_ip": 2, "password_attempts_window": 300})
    u = s.new_user(s.service_key())
    for _ in range(2):
        assert_ok(u.login(through_throttle=False))
    assert_error(u.login(through_throttle=False), 429, "rate_limited")
    key, blob = _row(s, "ip:%")
    times = struct.unpack(">32q", blob[2:])
    # The previous build's struct ratelimit_window: uint32 count, 4 bytes padding, 32 int64.
    raw = struct.pack("<I4x32q", blob[1], *times)
    assert len(raw) == 264
    with _db(s) as db:
        db.execute("UPDATE limits SET blob = ? WHERE key = ?", (raw, key))
    assert_error(u.login(through_throttle=False), 429, "rate_limited")
