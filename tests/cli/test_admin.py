"""`pahara admin`: every command's success and its errors, against a real data directory.

Each test gets a fresh data directory and a config file with the cheapest Argon2id settings,
so a password costs microseconds.  The tests that need sessions, a code generator or backup
codes start `pahara serve` (the release build) on the same data directory and use its API,
with the admin binary under test running beside it, as an operator would.

Every error must exit 2 (bad usage or input) or 1 (the system failed), print a message that
names the problem on stderr, and leave stdout empty.
"""

import calendar
import concurrent.futures
import contextlib
import hashlib
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import termios
import time
import urllib.error
import urllib.request

import pyotp
import pytest

from conftest import run

PASSWORD = "correct horse battery"
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
KEY_RE = re.compile(r"[0-9A-Za-z]{43}")


class Data:
    """A data directory and the config file that goes with it."""

    def __init__(self, tmp_path):
        self.dir = tmp_path / "data"
        self.dir.mkdir(mode=0o700)
        self.conf = tmp_path / "pahara.conf"
        self.conf.write_text("argon2_memory_kib = 1024\nargon2_passes = 1\n")

    def args(self):
        return ["--data", str(self.dir), "--config", str(self.conf)]


@pytest.fixture
def data(tmp_path):
    return Data(tmp_path)


def admin(binary, data, *args, stdin=None):
    return run(binary, "admin", *data.args(), *args, stdin=stdin)


def ok(binary, data, *args, stdin=None):
    r = admin(binary, data, *args, stdin=stdin)
    assert (r.returncode, r.stderr) == (0, ""), (args, r.stderr)
    return r.stdout


def fails(r, message, status=2):
    """The run failed with status, said message on stderr, and printed nothing on stdout."""
    assert r.returncode == status, (r.returncode, r.stderr)
    assert r.stdout == ""
    assert message in r.stderr, r.stderr
    # (the store may log its own line first)
    assert re.search(r"^pahara admin[a-z ]*: ", r.stderr, re.M), r.stderr
    return r.stderr


def add_user(binary, data, name, password=PASSWORD):
    assert ok(binary, data, "user", "add", name, stdin=password + "\n") == f"created {name}\n"


def audit_lines(binary, data, *args):
    return [line.split("\t") for line in ok(binary, data, "audit", *args).splitlines()]


def show(binary, data, name):
    """`user show` as a dict of field -> value."""
    out = ok(binary, data, "user", "show", name)
    fields = {}
    for line in out.splitlines():
        k, v = line.split(":", 1)
        fields[k] = v.strip()
    return fields


# ---- a server beside the admin ------------------------------------------------------------

class Server:
    def __init__(self, proc, port):
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None, token=None):
        """(status, JSON body) of a request."""
        if body is None:
            req = urllib.request.Request(self.base + path, method=method)
        else:
            req = urllib.request.Request(self.base + path, method=method,
                                         data=json.dumps(body).encode())
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def login(self, name, password=PASSWORD):
        status, body = self.call("POST", "/v1/login",
                                 {"username": name, "password": password, "client": "web"})
        assert status == 200, body
        return body


@contextlib.contextmanager
def server(pahara_rel, data):
    proc = subprocess.Popen([pahara_rel, "serve", *data.args(), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        yield Server(proc, int(m.group(1)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def enrol_totp(srv, token):
    """Turn two-factor on for the session's account; returns (pyotp.TOTP, first backup code)."""
    status, body = srv.call("POST", "/v1/factors/totp", token=token)
    assert status == 200, body
    totp = pyotp.TOTP(body["secret"])
    status, body = srv.call("POST", "/v1/factors/totp/confirm", {"code": totp.now()},
                            token=token)
    assert status == 200, body
    return totp, body["backup_codes"][0]


# ---- help -----------------------------------------------------------------------------------

ALL_OPTIONS = ["--data", "--config", "--store", "--user", "--since", "--reason", "--help"]


@pytest.mark.parametrize("args", [["admin", "--help"], ["admin", "-h"], ["help", "admin"],
                                  ["admin", "--data", "x", "--help"]])
def test_help_explains_every_command_and_option(pahara, args):
    r = run(pahara, *args)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith("usage: pahara admin [OPTIONS] user add NAME\n")
    for synopsis in ["user add NAME", "user list", "user show NAME", "user disable NAME",
                     "service add NAME", "audit [--user NAME] [--since TIME]",
                     "recover NAME --reason TEXT"]:
        assert f"pahara admin [OPTIONS] {synopsis}\n" in r.stdout
    for option in ALL_OPTIONS:
        assert re.search(rf"^  (-h, )?{option}\b", r.stdout, re.M), option
    assert "Exit status" in r.stdout


@pytest.mark.parametrize("words,options", [
    (["user", "add"], []), (["user", "list"], []), (["user", "show"], []),
    (["user", "disable"], []), (["service", "add"], []), (["audit"], ["--user", "--since"]),
    (["recover"], ["--reason"]),
])
def test_command_help(pahara, words, options):
    for args in (["admin", *words, "--help"], ["admin", "--help", *words],
                 ["admin", *words, "alice", "-h"]):
        r = run(pahara, *args)
        assert (r.returncode, r.stderr) == (0, ""), args
        assert r.stdout.startswith(f"usage: pahara admin [OPTIONS] {' '.join(words)}")
        for option in options + ["--data", "--config", "--store", "--help"]:
            assert re.search(rf"^  (-h, )?{option}\b", r.stdout, re.M), (args, option)
        assert "Exit status" in r.stdout
        for line in r.stdout.splitlines():
            assert len(line) <= 80, line


def test_group_help_lists_its_commands(pahara):
    r = run(pahara, "admin", "user", "--help")
    assert (r.returncode, r.stderr) == (0, "")
    for action in ["add", "list", "show", "disable"]:
        assert f"pahara admin [OPTIONS] user {action}" in r.stdout
    assert "service add" not in r.stdout


def test_admin_is_listed_by_pahara_help(pahara):
    assert re.search(r"^  admin ", run(pahara, "--help").stdout, re.M)


def test_help_lines_fit_a_terminal(pahara):
    for line in run(pahara, "admin", "--help").stdout.splitlines():
        assert len(line) <= 80, line


# ---- user add / list ------------------------------------------------------------------------

def test_user_add_and_list(pahara, data):
    add_user(pahara, data, "bob")
    add_user(pahara, data, "alice@example.org", "x" * 1024)
    lines = ok(pahara, data, "user", "list").splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ["alice@example.org", "bob"]):  # name order
        assert re.fullmatch(rf"{re.escape(name)}\ttwo-factor off\tenabled\t{ISO}", line), line
    created = calendar.timegm(time.strptime(lines[0].split("\t")[3], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(created - time.time()) < 300


def test_user_list_empty(pahara, data):
    assert ok(pahara, data, "user", "list") == ""


def test_user_add_audits_and_hashes(pahara, data):
    add_user(pahara, data, "alice", "secret password\r")  # "\r\n" line ends are accepted
    [row] = audit_lines(pahara, data)
    assert row[1:] == ["account.create", "ok", "alice", "-", "admin", "-"]
    with sqlite3.connect(data.dir / "pahara.db") as db:
        [(pwhash,)] = db.execute("SELECT pwhash FROM accounts WHERE name = 'alice'")
    # The configured parameters, not the defaults; the password itself is nowhere.
    assert pwhash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    for f in data.dir.iterdir():
        assert b"secret password" not in f.read_bytes()


def test_user_add_then_sign_in(pahara, pahara_rel, data):
    add_user(pahara, data, "alice")
    with server(pahara_rel, data) as srv:
        assert srv.login("alice")["status"] == "signed_in"


def test_options_may_come_after_the_words(pahara, data):
    r = run(pahara, "admin", "user", "add", "alice", *data.args(), stdin=PASSWORD + "\n")
    assert (r.returncode, r.stdout) == (0, "created alice\n")
    r = run(pahara, "admin", "user", *data.args(), "list")
    assert r.stdout.startswith("alice\t")
    r = run(pahara, "admin", f"--data={data.dir}", "user", "list", f"--config={data.conf}")
    assert r.stdout.startswith("alice\t")


@pytest.mark.parametrize("args,stdin,message", [
    (["user", "add"], PASSWORD, "missing NAME"),
    (["user", "add", "bad name"], PASSWORD, "'bad name' is not a valid name"),
    (["user", "add", ""], PASSWORD, "is not a valid name"),
    (["user", "add", "a" * 65], PASSWORD, "is not a valid name"),
    (["user", "add", "alice", "bob"], PASSWORD, "unexpected argument 'bob'"),
    (["user", "add", "alice"], "", "no password on standard input"),
    (["user", "add", "alice"], "short\n", "the password must be 8 to 1024 bytes, not 5"),
    (["user", "add", "alice"], "\n", "the password must be 8 to 1024 bytes, not 0"),
    (["user", "add", "alice"], "x" * 1025 + "\n", "not 1025"),
    (["user", "add", "alice"], "x" * 5000 + "\n", "longer than 1024 bytes"),
    (["user", "add", "alice"], "pass\0word123\n", "holds a NUL byte"),
])
def test_user_add_errors(pahara, data, args, stdin, message):
    fails(admin(pahara, data, *args, stdin=stdin), message)
    assert ok(pahara, data, "user", "list") == ""
    assert ok(pahara, data, "audit") == ""


@pytest.mark.parametrize("password", [
    b"gr\xfcnes Passwort",          # Latin-1
    b"overlong \xc0\xaf slash",      # an overlong form
    b"half a \xed\xa0\x80 surrogate",
    b"cut short \xe2\x82",          # a sequence cut short by the end of the line
])
def test_user_add_refuses_a_password_that_is_not_utf8(pahara, pahara_rel, data, password):
    """Sign-in carries the password in JSON, which is UTF-8 only: a password of other bytes
    (typed on a Latin-1 terminal, read from a Latin-1 file) could never be entered, so no
    account is made with one."""
    r = subprocess.run([pahara, "admin", *data.args(), "user", "add", "alice"],
                       input=password + b"\n", capture_output=True, timeout=60,
                       env=dict(os.environ, ASAN_OPTIONS="exitcode=86:detect_leaks=1",
                                UBSAN_OPTIONS="halt_on_error=1:exitcode=87"))
    assert (r.returncode, r.stdout) == (2, b""), r.stderr
    assert b"the password is not UTF-8" in r.stderr, r.stderr
    assert ok(pahara, data, "user", "list") == ""
    assert ok(pahara, data, "audit") == ""
    # The same password in UTF-8 is taken, and signs in.
    add_user(pahara, data, "alice", "gr\u00fcnes Passwort")
    with server(pahara_rel, data) as srv:
        assert srv.login("alice", "gr\u00fcnes Passwort")["status"] == "signed_in"


def test_user_add_taken_name(pahara, data):
    add_user(pahara, data, "alice")
    fails(admin(pahara, data, "user", "add", "alice", stdin=PASSWORD + "\n"),
          "an account named 'alice' exists already")
    assert len(audit_lines(pahara, data)) == 1


# ---- user add on a terminal -----------------------------------------------------------------

def _read_until(fd, text, timeout=30):
    got = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in got:
        left = deadline - time.monotonic()
        assert left > 0, got
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096)
            assert chunk, got
            got += chunk
    return got


def _drain(fd):
    got = b""
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        got += chunk
    return got


def _on_terminal(pahara, data, name, answers):
    """Run `user add NAME` with a pseudo-terminal as stdin, typing answers after the prompts."""
    master, slave = os.openpty()
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:exitcode=86:detect_leaks=1")
    proc = subprocess.Popen([pahara, "admin", *data.args(), "user", "add", name], stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        err = b""
        for prompt, answer in answers:
            err += _read_until(proc.stderr.fileno(), prompt)
            os.write(master, answer)
        out, rest = proc.communicate(timeout=30)
        echoed = _drain(master)
        attrs = termios.tcgetattr(slave)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)
    return proc.returncode, out.decode(), (err + rest).decode(), echoed, attrs


def test_user_add_asks_twice_without_echo_on_a_terminal(pahara, pahara_rel, data):
    typed = PASSWORD.encode() + b"\n"
    status, out, err, echoed, attrs = _on_terminal(
        pahara, data, "alice",
        [("Password for alice: ", typed), ("Same password again: ", typed)])
    assert (status, out) == (0, "created alice\n"), err
    assert PASSWORD.encode() not in echoed  # echo was off while it was typed
    assert attrs[3] & termios.ECHO  # and is on again afterwards
    with server(pahara_rel, data) as srv:
        assert srv.login("alice")["status"] == "signed_in"


def test_user_add_on_a_terminal_needs_two_equal_answers(pahara, data):
    status, out, err, _, attrs = _on_terminal(
        pahara, data, "alice",
        [("Password for alice: ", b"correct horse battery\n"),
         ("Same password again: ", b"correct horse batterY\n")])
    assert (status, out) == (2, "")
    assert "the two passwords differ" in err
    assert attrs[3] & termios.ECHO
    assert ok(pahara, data, "user", "list") == ""


def test_user_add_on_a_terminal_end_of_input(pahara, data):
    status, out, err, _, attrs = _on_terminal(pahara, data, "alice",
                                              [("Password for alice: ", b"\x04")])
    assert (status, out) == (2, "")
    assert "no password given" in err
    assert attrs[3] & termios.ECHO


def test_interrupt_at_the_prompt_turns_echo_back_on(pahara, data):
    master, slave = os.openpty()
    proc = subprocess.Popen([pahara, "admin", *data.args(), "user", "add", "alice"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _read_until(proc.stderr.fileno(), "Password for alice: ")
        assert not termios.tcgetattr(slave)[3] & termios.ECHO
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGINT
        assert out == b""
        assert termios.tcgetattr(slave)[3] & termios.ECHO
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        os.close(slave)
    assert ok(pahara, data, "user", "list") == ""


def test_user_add_on_a_terminal_policy(pahara, data):
    status, out, err, _, _ = _on_terminal(
        pahara, data, "alice", [("Password for alice: ", b"short\n"),
                                ("Same password again: ", b"short\n")])
    assert (status, out) == (2, "")
    assert "the password must be 8 to 1024 bytes" in err


def test_user_add_on_a_terminal_refuses_a_password_that_is_not_utf8(pahara, data):
    """A Latin-1 terminal: what is typed is refused as on standard input."""
    typed = b"gr\xfcnes Passwort\n"
    status, out, err, _, attrs = _on_terminal(
        pahara, data, "alice", [("Password for alice: ", typed),
                                ("Same password again: ", typed)])
    assert (status, out) == (2, "")
    assert "the password is not UTF-8" in err
    assert attrs[3] & termios.ECHO
    assert ok(pahara, data, "user", "list") == ""


# ---- user show / disable --------------------------------------------------------------------

def test_user_show_new_account(pahara, data):
    add_user(pahara, data, "alice")
    out = ok(pahara, data, "user", "show", "alice")
    assert "argon2" not in out
    f = show(pahara, data, "alice")
    assert f["name"] == "alice"
    assert re.fullmatch(r"\d+", f["id"])
    assert re.fullmatch(ISO, f["created"])
    assert (f["disabled"], f["two-factor"], f["code generator"]) == ("no", "off", "none")
    assert (f["backup codes"], f["sessions"]) == ("0 active", "0 live")


@pytest.mark.parametrize("args,message", [
    (["user", "show"], "missing NAME"),
    (["user", "show", "bob"], "no account named 'bob'"),
    (["user", "show", "not valid"], "no account named 'not valid'"),
    (["user", "show", "alice", "bob"], "unexpected argument 'bob'"),
    (["user", "disable"], "missing NAME"),
    (["user", "disable", "bob"], "no account named 'bob'"),
    (["user"], "'user' needs one of: add, list, show or disable"),
    (["user", "remove", "alice"], "unknown command 'user remove'"),
    (["user", "list", "alice"], "unexpected argument 'alice'"),
])
def test_user_errors(pahara, data, args, message):
    add_user(pahara, data, "alice")
    fails(admin(pahara, data, *args), message)
    assert show(pahara, data, "alice")["disabled"] == "no"


def test_user_disable_ends_sessions(pahara, pahara_rel, data):
    add_user(pahara, data, "alice")
    with server(pahara_rel, data) as srv:
        token = srv.login("alice")["session"]
        srv.login("alice")
        assert srv.call("GET", "/v1/sessions", token=token)[0] == 200
        assert show(pahara, data, "alice")["sessions"] == "2 live"
        assert ok(pahara, data, "user", "disable", "alice") == "disabled alice; 2 sessions ended\n"
        assert srv.call("GET", "/v1/sessions", token=token)[0] == 401
        status, _ = srv.call("POST", "/v1/login",
                             {"username": "alice", "password": PASSWORD, "client": "web"})
        assert status == 403
    f = show(pahara, data, "alice")
    assert (f["disabled"], f["sessions"]) == ("yes", "0 live")
    assert ok(pahara, data, "user", "list").split("\t")[2] == "disabled"
    [row] = [r for r in audit_lines(pahara, data, "--user", "alice") if r[4] == "-"][1:]
    assert row[1:] == ["account.disable", "ok", "alice", "-", "admin", "sessions_ended=2"]
    assert ok(pahara, data, "user", "disable", "alice") == \
        "already disabled: alice; 0 sessions ended\n"


# ---- service add ----------------------------------------------------------------------------

def test_service_add_prints_the_key_alone_last(pahara, pahara_rel, data):
    out = ok(pahara, data, "service", "add", "site1")
    lines = out.splitlines()
    assert out.endswith("\n")
    assert lines[0] == "created service site1 (id 1)"
    key = lines[-1]
    assert KEY_RE.fullmatch(key)
    assert all(key not in line for line in lines[:-1])
    # Only its SHA-256 is kept.
    with sqlite3.connect(data.dir / "pahara.db") as db:
        [(name, key_hash)] = db.execute("SELECT name, key_hash FROM services")
    assert (name, key_hash) == ("site1", hashlib.sha256(key.encode()).digest())
    for f in data.dir.iterdir():
        assert key.encode() not in f.read_bytes()
    [row] = audit_lines(pahara, data)
    assert row[1:] == ["service.create", "ok", "-", "-", "admin", "service=site1 id=1"]
    # The key works.
    with server(pahara_rel, data) as srv:
        status, body = srv.call("POST", "/v1/service/accounts",
                                {"username": "carol", "password": PASSWORD}, token=key)
        assert status == 201, body
        status, _ = srv.call("POST", "/v1/service/accounts",
                             {"username": "dave", "password": PASSWORD},
                             token=key[:-1] + ("A" if key[-1] != "A" else "B"))
        assert status == 401
    f = show(pahara, data, "carol")
    assert f["service"] == "site1 (id 1)"


def test_service_keys_differ(pahara, data):
    k1 = ok(pahara, data, "service", "add", "site1").splitlines()[-1]
    k2 = ok(pahara, data, "service", "add", "site2").splitlines()[-1]
    assert k1 != k2


@pytest.mark.parametrize("args,message", [
    (["service", "add"], "missing NAME"),
    (["service", "add", "a/b"], "'a/b' is not a valid name"),
    (["service", "add", "site1"], "a service named 'site1' exists already"),
    (["service"], "'service' needs one of: add"),
    (["service", "list"], "unknown command 'service list'"),
    (["service", "add", "site2", "--user", "alice"], "--user is not an option of this command"),
])
def test_service_errors(pahara, data, args, message):
    ok(pahara, data, "service", "add", "site1")
    fails(admin(pahara, data, *args), message)
    assert len(audit_lines(pahara, data)) == 1


def test_service_key_not_written_is_a_failure(pahara_rel, data):
    with open("/dev/full", "w") as full:
        r = subprocess.run([pahara_rel, "admin", *data.args(), "service", "add", "site1"],
                           stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 1
    assert "cannot write the output" in r.stderr
    assert "service 'site1' exists but its key was not shown" in r.stderr


# ---- audit ----------------------------------------------------------------------------------

def _insert_audit(data, at, name, event, client="admin", detail=""):
    """Write an audit row as the server would (its client comes from a request header)."""
    db = sqlite3.connect(data.dir / "pahara.db")
    try:
        with db:
            [(acct,)] = db.execute("SELECT id FROM accounts WHERE name = ?", (name,))
            db.execute("INSERT INTO audit(at, account_id, account_name, event, outcome, ip, "
                       "client, detail) VALUES (?, ?, ?, ?, 'ok', '192.0.2.7', ?, ?)",
                       (at, acct, name, event, client, detail))
    finally:
        db.close()


def test_audit_format_and_filters(pahara, data):
    add_user(pahara, data, "alice")
    add_user(pahara, data, "bob")
    _insert_audit(data, 1700000000, "alice", "login.password")  # 2023-11-14T22:13:20Z
    _insert_audit(data, 1600000000, "bob", "login.password")  # 2020-09-13T12:26:40Z
    rows = audit_lines(pahara, data)
    assert all(len(r) == 7 for r in rows)
    assert [r[1] for r in rows] == ["account.create"] * 2 + ["login.password"] * 2  # in order
    assert rows[2] == ["2023-11-14T22:13:20Z", "login.password", "ok", "alice", "192.0.2.7",
                       "admin", "-"]
    assert [r[3] for r in audit_lines(pahara, data, "--user", "alice")] == ["alice", "alice"]
    assert [r[3] for r in audit_lines(pahara, data, "--user=bob")] == ["bob", "bob"]

    def since(t):
        return [r[0] for r in audit_lines(pahara, data, "--since", t) if r[0] < "2024"]
    assert since("1600000000") == ["2023-11-14T22:13:20Z", "2020-09-13T12:26:40Z"]
    assert since("1600000001") == ["2023-11-14T22:13:20Z"]
    assert since("2020-09-13T12:26:40Z") == ["2023-11-14T22:13:20Z", "2020-09-13T12:26:40Z"]
    assert since("2020-09-13T12:26:41Z") == ["2023-11-14T22:13:20Z"]
    assert since("2023-11-14") == ["2023-11-14T22:13:20Z"]
    assert since("2023-11-15") == []
    assert audit_lines(pahara, data, "--since", "2999-12-31") == []
    assert len(audit_lines(pahara, data, "--since", "2024-02-29", "--user", "alice")) == 1
    assert audit_lines(pahara, data, "--user", "alice", "--since", "0")[0][1] == \
        "account.create"


def test_audit_escapes_what_came_from_outside(pahara, data):
    add_user(pahara, data, "alice")
    _insert_audit(data, 1700000000, "alice", "login.password",
                  client="evil\tagent\x1b[31m\nnext\\line\u009b",
                  detail="कारण: ok\r")
    row = ok(pahara, data, "audit", "--user", "alice").splitlines()[-1]
    fields = row.split("\t")
    assert len(fields) == 7
    assert fields[5] == r"evil\tagent\x1B[31m\nnext\\line\xC2\x9B"
    assert fields[6] == r"कारण: ok\r"


def test_audit_escapes_invisible_and_reordering_characters(pahara, data):
    """Text from outside cannot reorder or break a line of the output either: Unicode format
    characters (bidirectional controls, zero-width characters, the byte order mark...) and the
    line and paragraph separators are escaped as control characters are; other text is not."""
    add_user(pahara, data, "alice")
    hidden = ["\u202e", "\u2028", "\u2029", "\u200b", "\u200f", "\u202a", "\u2066", "\u2069",
              "\ufeff", "\u00ad", "\u061c", "\u2060", "\U000e0041"]
    _insert_audit(data, 1700000000, "alice", "login.password",
                  client="web" + "".join(hidden) + "x",
                  detail="\u2067gnp.exe\u2069 ok, caf\u00e9 \u0915\u093e\u0930\u0923 \u00a0")
    fields = ok(pahara, data, "audit", "--user", "alice").splitlines()[-1].split("\t")
    assert len(fields) == 7
    escaped = "".join("".join(f"\\x{b:02X}" for b in c.encode()) for c in hidden)
    assert fields[5] == "web" + escaped + "x"
    assert fields[6] == r"\xE2\x81\xA7gnp.exe\xE2\x81\xA9 ok, " + \
        "caf\u00e9 \u0915\u093e\u0930\u0923 \u00a0"


def test_audit_empty(pahara, data):
    assert ok(pahara, data, "audit") == ""


@pytest.mark.parametrize("since", ["yesterday", "-5", "2025-02-29", "2024-13-01", "2024-00-10",
                                   "2024-04-31", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z",
                                   "2024-01-01T00:00:00", "2024-01-01t00:00:00z",
                                   "2024-01-01 00:00:00Z", "24-01-01", "", "99999999999999999999",
                                   "1e9", " 5"])
def test_audit_bad_since(pahara, data, since):
    fails(admin(pahara, data, "audit", "--since", since), "--since must be unix seconds")


@pytest.mark.parametrize("args,message", [
    (["audit", "--user", "bob"], "no account named 'bob'"),
    (["audit", "--user"], "--user needs a value"),
    (["audit", "extra"], "unexpected argument 'extra'"),
    (["audit", "--reason", "x"], "--reason is not an option of this command"),
    (["audit", "--since", "0", "--since", "1"], "--since is given twice"),
    (["user", "list", "--since", "0"], "--since is not an option of this command"),
])
def test_audit_errors(pahara, data, args, message):
    fails(admin(pahara, data, *args), message)


# ---- recover --------------------------------------------------------------------------------

def test_recover_resets_two_factor_and_ends_sessions(pahara, pahara_rel, data):
    add_user(pahara, data, "alice")
    add_user(pahara, data, "bob")
    with server(pahara_rel, data) as srv:
        token = srv.login("alice")["session"]
        totp, _ = enrol_totp(srv, token)
        bob = srv.login("bob")["session"]
        # The admin reads what the running server wrote.
        f = show(pahara, data, "alice")
        assert f["two-factor"] == "on"
        assert f["code generator"] == "confirmed, SHA1, 6 digits, 30 s"
        assert re.fullmatch(rf"step \d+ \({ISO}\), drift [+-]\d+ steps?", f["last accepted"])
        assert (f["backup codes"], f["sessions"]) == ("1 active", "1 live")
        assert srv.login("alice")["status"] == "second_step"
        assert "alice\ttwo-factor on\tenabled\t" in ok(pahara, data, "user", "list")

        reason = "ticket 4711: lost phone; ID checked by video call"
        out = ok(pahara, data, "recover", "alice", "--reason", reason)
        assert out == ("recovered alice:\n"
                       "  code generator: removed\n"
                       "  backup codes:   1 retired\n"
                       "  two-factor:     off (was on)\n"
                       "  sessions:       1 ended\n"
                       "  temporary passwords: all revoked; failed-code lockout: cleared\n"
                       "  audited as account.recover\n"
                       "no notification channel on file (text messages come later): tell alice\n"
                       "yourself that two-factor is off and that they should turn it on again.\n")
        assert srv.call("GET", "/v1/sessions", token=token)[0] == 401
        assert srv.call("GET", "/v1/sessions", token=bob)[0] == 200  # nobody else's
        body = srv.login("alice")  # the password alone is enough again
        assert body["status"] == "signed_in"
        f = show(pahara, data, "alice")
        assert (f["two-factor"], f["code generator"], f["backup codes"]) == \
            ("off", "none", "0 active")
        assert f["sessions"] == "1 live"  # the one just made
        # Two-factor can be turned on again, with a new secret.
        totp2, _ = enrol_totp(srv, body["session"])
        assert totp2.secret != totp.secret
    row = audit_lines(pahara, data, "--user", "alice")
    recover = [r for r in row if r[1] == "account.recover"]
    assert recover == [[recover[0][0], "account.recover", "ok", "alice", "-", "admin",
                        f"totp=1 backup_retired=1 sessions_ended=1 reason={reason}"]]


def test_recover_revokes_temporary_passwords(pahara, pahara_rel, data):
    """Temporary passwords stand in for the password, and whoever has the lost phone may have
    made them: recovery revokes them with the second factors, and its help says so."""
    add_user(pahara, data, "alice")
    with server(pahara_rel, data) as srv:
        token = srv.login("alice")["session"]
        status, tp = srv.call("POST", "/v1/temporary-passwords", token=token)
        assert status == 200, tp
        ok(pahara, data, "recover", "alice", "--reason", "ticket 4712")
        status, body = srv.call("POST", "/v1/login", {"username": "alice",
                                                      "password": tp["password"],
                                                      "client": "mail-app"})
        assert status == 401, body
        assert srv.login("alice")["status"] == "signed_in"
    r = admin(pahara, data, "recover", "--help")
    assert r.returncode == 0
    assert "every temporary password revoked" in " ".join(r.stdout.split())


def test_recover_without_two_factor(pahara, data):
    add_user(pahara, data, "alice")
    out = ok(pahara, data, "recover", "--reason=r", "alice")
    assert "code generator: none was set up" in out
    assert "no notification channel on file" in out


def test_recover_reason_limits(pahara, data):
    add_user(pahara, data, "alice")
    ok(pahara, data, "recover", "alice", "--reason", "x" * 200)
    marathi = "फोन हरवला" * 8  # 200 bytes of UTF-8 (25 bytes each)
    assert len(marathi.encode()) == 200
    ok(pahara, data, "recover", "alice", "--reason", marathi)
    details = [r[6] for r in audit_lines(pahara, data) if r[1] == "account.recover"]
    assert details[1].endswith("reason=" + marathi)


@pytest.mark.parametrize("args,message", [
    (["recover", "alice"], "--reason TEXT is required"),
    (["recover", "alice", "--reason"], "--reason needs a value"),
    (["recover", "alice", "--reason", ""], "--reason must be 1 to 200 bytes"),
    (["recover", "alice", "--reason", "x" * 201], "--reason must be 1 to 200 bytes"),
    (["recover", "alice", "--reason", "line\nbreak"], "without control characters"),
    (["recover", "alice", "--reason", "tab\there"], "without control characters"),
    (["recover", "alice", "--reason", b"\xff\xfe"], "--reason must be 1 to 200 bytes of UTF-8"),
    (["recover", "alice", "--reason", b"\xc0\xaf"], "--reason must be 1 to 200 bytes of UTF-8"),
    (["recover", "--reason", "x"], "missing NAME"),
    (["recover", "bob", "--reason", "x"], "no account named 'bob'"),
    (["recover", "alice", "bob", "--reason", "x"], "unexpected argument 'bob'"),
    (["recover", "alice", "--reason", "x", "--reason", "y"], "--reason is given twice"),
    (["user", "show", "alice", "--reason", "x"], "--reason is not an option of this command"),
])
def test_recover_errors(pahara, data, args, message):
    add_user(pahara, data, "alice")
    fails(admin(pahara, data, *args), message)
    assert [r[1] for r in audit_lines(pahara, data)] == ["account.create"]


# ---- the command line and the store ---------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    ([], "say which command: user, service, audit, recover, export, import or migrate"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["frobnicate", "--help"], "unknown command 'frobnicate'"),
    (["--bogus", "user", "list"], "unknown option '--bogus'"),
    (["user", "list", "--data"], "--data needs a value"),
    (["user", "list", "--help=yes"], "--help takes no value"),
    (["user", "list", "a", "b"], "unexpected argument 'b'"),
])
def test_usage_errors(pahara, args, message):
    r = run(pahara, "admin", *args)
    fails(r, message)
    assert "Try 'pahara admin" in r.stderr


def test_data_directory_must_exist(pahara, data, tmp_path):
    missing = tmp_path / "typo"
    r = run(pahara, "admin", "--data", str(missing), "--config", str(data.conf), "user", "list")
    fails(r, f"the data directory '{missing}' does not exist")
    assert not missing.exists()
    r = run(pahara, "admin", "--data", str(data.conf), "user", "list")
    fails(r, "is not a directory")


def test_data_directory_from_the_config_file(pahara, data, tmp_path):
    conf = tmp_path / "other.conf"
    conf.write_text(f"data = {data.dir}\nargon2_memory_kib = 1024\nargon2_passes = 1\n")
    r = run(pahara, "admin", "--config", str(conf), "user", "add", "alice",
            stdin=PASSWORD + "\n")
    assert (r.returncode, r.stdout, r.stderr) == (0, "created alice\n", "")
    assert ok(pahara, data, "user", "list").startswith("alice\t")


def test_default_data_directory(pahara, data):
    r = subprocess.run([pahara, "admin", "user", "list"], cwd=data.dir.parent,
                       capture_output=True, text=True)
    fails(r, "the data directory './pahara-data' does not exist")


@pytest.mark.parametrize("text,message", [
    ("no_such_setting = 1\n", "unknown setting 'no_such_setting'"),
    ("argon2_passes = many\n", "bad value for 'argon2_passes'"),
])
def test_bad_config(pahara, data, text, message):
    data.conf.write_text(text)
    fails(admin(pahara, data, "user", "list"), message)


def test_missing_config(pahara, data, tmp_path):
    r = run(pahara, "admin", "--data", str(data.dir), "--config", str(tmp_path / "nope"),
            "user", "list")
    fails(r, "No such file or directory")


def test_store_that_cannot_open_is_a_system_failure(pahara, data):
    (data.dir / "pahara.db").mkdir()
    fails(admin(pahara, data, "user", "list"), "store", status=1)


def test_unsafe_key_file_is_a_system_failure(pahara, data):
    ok(pahara, data, "user", "list")  # makes the key files
    (data.dir / "master.key").chmod(0o644)
    fails(admin(pahara, data, "user", "list"), "master.key", status=1)


AT_ONCE = 4  # admin commands started together on one data directory
AT_ONCE_ROUNDS = 6


def admins_at_once(binary, data, *args):
    """AT_ONCE `pahara admin ARGS` started together on data; their CompletedProcesses."""
    with concurrent.futures.ThreadPoolExecutor(AT_ONCE) as pool:
        runs = [pool.submit(admin, binary, data, *args) for _ in range(AT_ONCE)]
        return [r.result() for r in runs]


def test_admin_commands_at_once_on_a_store_a_migration_behind_all_succeed(pahara, data):
    """An upgrade: the new server and admin commands open a store one migration behind
    together; the migration is made once, and each of them opens the store."""
    add_user(pahara, data, "alice")
    for _ in range(AT_ONCE_ROUNDS):
        # back to schema 3: migration 4 made one index (a migration 5 must be undone here too)
        db = sqlite3.connect(data.dir / "pahara.db")
        db.execute("DROP INDEX logins_pending")
        db.execute("DELETE FROM schema_migrations WHERE version >= 4")
        db.commit()
        db.close()
        for r in admins_at_once(pahara, data, "migrate"):
            assert (r.returncode, r.stderr) == (0, ""), r.stderr
            assert r.stdout == "the store is at schema version 4\n"
        db = sqlite3.connect(data.dir / "pahara.db")
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'logins_pending'"
                          ).fetchall() == [("logins_pending",)]
        db.close()
    assert ok(pahara, data, "user", "list").startswith("alice\t")


def test_admin_commands_at_once_on_a_new_data_directory_all_succeed(pahara, tmp_path):
    """A first run: admin commands (or a server beside them) start together on a new data
    directory; each opens it, and all use the same key files, each made once and whole."""
    for i in range(AT_ONCE_ROUNDS):
        (tmp_path / str(i)).mkdir()
        data = Data(tmp_path / str(i))
        for r in admins_at_once(pahara, data, "user", "list"):
            assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r.stderr
        names = sorted(os.listdir(data.dir))
        assert [n for n in names if "key" in n] == ["codehash.key", "master.key"], names
        for n in ("codehash.key", "master.key"):
            assert (data.dir / n).stat().st_mode & 0o777 == 0o600
        add_user(pahara, data, "alice")


def test_unreachable_postgresql_store_is_a_system_failure(pahara, data):
    # Port 1 of this machine refuses at once.
    fails(admin(pahara, data, "user", "list", "--store", "postgresql://127.0.0.1:1/pahara"),
          "cannot connect to PostgreSQL", status=1)


def test_write_error_is_reported(pahara_rel, data):
    add_user(pahara_rel, data, "alice")
    for args in (["user", "list"], ["user", "show", "alice"], ["audit"], ["--help"]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([pahara_rel, "admin", *data.args(), *args], stdout=full,
                               stderr=subprocess.PIPE, text=True)
        assert r.returncode == 1, args
        assert "cannot write the output" in r.stderr


@pytest.mark.parametrize("url", [
    "postgresql://bob:s3cret-pw@127.0.0.1:1/pahara",
    "postgresql://127.0.0.1:1/pahara?user=bob&password=s3cret-pw&sslmode=disable",
])
def test_store_password_is_never_printed(pahara, data, url):
    r = admin(pahara, data, "user", "list", "--store", url)
    assert r.returncode == 1
    assert "s3cret-pw" not in r.stderr and "***" in r.stderr


# ---- no test hooks in a release build ----------------------------------------------------


def test_release_build_has_no_test_endpoints(pahara_rel, data):
    """The test clock, pause, housekeeping and counters are compiled into test builds only:
    a release build answers them 404 even when asked for the test clock."""
    with server(pahara_rel, data) as srv:
        for method, path, body in [("POST", "/v1/test/clock", {"advance": 60}),
                                   ("POST", "/v1/test/pause", {"ms": 100}),
                                   ("POST", "/v1/test/housekeep", None),
                                   ("GET", "/v1/test/counters", None)]:
            status, answer = srv.call(method, path, body)
            assert (status, answer["error"]["code"]) == (404, "not_found"), (path, answer)
    r = run(pahara_rel, "serve", *data.args(), "--listen", "127.0.0.1:0", "--test-clock")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "--test-clock" in r.stderr
