"""Writers side by side (PostgreSQL: READ COMMITTED, two writer connections per node, and more
nodes): a transaction that decides on an account's state and then writes must not act on what
another transaction has changed meanwhile (store_account_lock, src/store/store.h).

With SQLite there is one writer, and the tests with the Paused helper hold a request before its
transaction; here a trigger that sleeps before an INSERT holds the request inside its
transaction, between its reads and its write, while the test commits a change to the account
from another connection.  Either the two then follow one another (the held one first: the
change undoes what it made) or the held one sees the change and refuses; never both stay.
"""

import http.client
import json
import subprocess
import threading
import time

import pytest

from conftest import assert_error, assert_ok

HOLD_SECONDS = 2


def psql(url, sql):
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   capture_output=True, text=True, timeout=30)


class SlowInsert:
    """send() runs on a thread while every INSERT into table sleeps first (in the server's
    transaction, after its reads):

        with SlowInsert(s, "sessions", lambda: s.post(...)) as p:
            ...the change, committed meanwhile...
        p.result  # send()'s answer
    """

    def __init__(self, server, table, send):
        self.s, self.table, self.send = server, table, send
        self.result = None

    def __enter__(self):
        psql(self.s.store_url,
             "CREATE OR REPLACE FUNCTION test_slow_insert() RETURNS trigger LANGUAGE plpgsql "
             f"AS $$BEGIN PERFORM pg_sleep({HOLD_SECONDS}); RETURN NEW; END$$; "
             f"CREATE TRIGGER test_slow_insert BEFORE INSERT ON {self.table} FOR EACH ROW "
             "EXECUTE FUNCTION test_slow_insert();")
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        # Past its reads, asleep in its INSERT: PostgreSQL says so.  (A fixed sleep here was a
        # guess; a request slower than that met the change before its reads, and every test
        # here passes that way too, without the race it is about.)
        deadline = time.monotonic() + 60
        while not self._asleep():
            assert time.monotonic() < deadline, "the request never reached its INSERT"
            if not self.thread.is_alive() and not self._asleep():
                pytest.fail(f"answered without reaching the INSERT: {self.result}")
            time.sleep(0.02)
        return self

    def _asleep(self):
        """Whether a connection to the server's database is in the trigger's pg_sleep."""
        r = subprocess.run(["psql", self.s.store_url, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                            "-c", "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND wait_event = 'PgSleep'"],
                           check=True, capture_output=True, text=True, timeout=30)
        return int(r.stdout) > 0

    def _run(self):
        self.result = self.send()

    def __exit__(self, *exc):
        self.thread.join(60)
        psql(self.s.store_url, f"DROP TRIGGER test_slow_insert ON {self.table}")
        return False


@pytest.fixture
def pg(make_server, store):
    if store != "postgresql":
        pytest.skip("writers side by side: PostgreSQL only (SQLite has one writer)")
    return make_server()


class Answer:
    def __init__(self, status, text):
        self.status_code, self.text = status, text

    def json(self):
        return json.loads(self.text)


def post_from(s, source, path, body):
    """POST from another loopback address: the per-address limit does not order the two."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30, source_address=(source, 0))
    try:
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        return Answer(r.status, r.read().decode())
    finally:
        c.close()


def change_password(s, u, token):
    new = "pw-new-" + u.password
    assert_ok(s.post("/v1/password", {"password": u.password, "new_password": new},
                     token=token))
    u.password = new


def test_a_temporary_password_made_during_a_password_change_does_not_survive_it(pg):
    s = pg
    u = s.new_user(s.service_key())
    other, own = u.session(), u.session()
    with SlowInsert(s, "tmp_passwords",
                    lambda: s.post("/v1/temporary-passwords", token=other)) as p:
        change_password(s, u, own)
    if p.result.status_code == 200:  # made first: the change revoked it
        r = u.login(client="mail-app", password=p.result.json()["password"])
        assert_error(r, 401, "invalid_credentials")
    else:
        assert_error(p.result, 401, "unauthenticated")


def test_backup_codes_asked_for_as_two_factor_goes_off_do_not_stay(pg):
    s = pg
    u = s.new_user(s.service_key())
    first = u.with_totp()
    other = u.sign_in_totp()
    with SlowInsert(s, "backup_codes",
                    lambda: s.post("/v1/backup-codes", {"count": 1}, token=first)) as p:
        assert_ok(s.post("/v1/twofactor/off", {"password": u.password, "method": "totp",
                                               "code": u.next_totp()}, token=other))
    f = assert_ok(s.get("/v1/factors", token=first))
    assert f["twofactor"] is False and f["backup_codes_active"] == 0, f
    if p.result.status_code == 200:  # made first: turning off retired it
        r = u.check("backup", p.result.json()["codes"][0])
        assert_error(r, 410, "inactive_backup_code")
    else:
        assert_error(p.result, 409, "invalid_state")


def test_a_confirmed_code_generator_is_not_replaced_by_an_enrolment_begun_meanwhile(pg):
    s = pg
    u = s.new_user(s.service_key())
    a, b = u.session(), u.session()
    u.secret = assert_ok(s.post("/v1/factors/totp", token=a))["secret"]
    with SlowInsert(s, "totp", lambda: s.post("/v1/factors/totp", token=b)) as p:
        confirm = s.post("/v1/factors/totp/confirm", {"code": u.next_totp()}, token=a)
    f = assert_ok(s.get("/v1/factors", token=a))
    if p.result.status_code == 200:  # begun first: its new secret is the one pending
        assert_error(confirm, 401, "invalid_code")
        assert f["twofactor"] is False, f
    else:
        assert_error(p.result, 409, "conflict")
        assert_ok(confirm)
        assert f["methods"] == ["totp", "backup"], f
        login = assert_ok(u.login())
        assert_ok(u.verify(login["login_id"], "totp", u.next_totp()))


@pytest.mark.parametrize("with_tmppass", [False, True], ids=["password", "temporary_password"])
def test_a_sign_in_during_a_password_change_keeps_no_session(pg, with_tmppass):
    s = pg
    u = s.new_user(s.service_key())
    own = u.session()
    password = u.password
    if with_tmppass:
        password = assert_ok(s.post("/v1/temporary-passwords", token=own))["password"]
    body = {"username": u.name, "password": password, "client": "mail-app"}
    with SlowInsert(s, "sessions", lambda: post_from(s, "127.0.0.2", "/v1/login", body)) as p:
        change_password(s, u, own)
    if p.result.status_code == 200:  # signed in first: the change ended the session
        r = s.get("/v1/sessions", token=p.result.json()["session"])
        assert_error(r, 401, "unauthenticated")
    else:
        assert_error(p.result, 401, "invalid_credentials")


def test_a_second_step_during_a_password_change_keeps_no_session(pg):
    s = pg
    u = s.new_user(s.service_key())
    own = u.with_totp()
    login = assert_ok(u.login())
    code = u.next_totp()
    with SlowInsert(s, "sessions", lambda: u.verify(login["login_id"], "totp", code)) as p:
        change_password(s, u, own)
    if p.result.status_code == 200:  # finished first: the change ended the session
        r = s.get("/v1/sessions", token=p.result.json()["session"])
        assert_error(r, 401, "unauthenticated")
    else:
        assert_error(p.result, 410, "login_ended")
