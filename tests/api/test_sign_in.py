"""The password step (DESIGN §3 "password", "second-step attempts" per IP; §4)."""

import time

import pytest

from conftest import Paused, assert_error, assert_ok


def test_no_user_enumeration(server, svc):
    u = server.new_user(svc)
    tfa = server.new_user(svc)
    tfa.with_totp()
    nopw = server.post("/v1/service/accounts", {"username": "nopw-" + u.name[2:]}, token=svc)
    assert nopw.status_code == 201, nopw.text

    def attempt(name, password):
        return server.post("/v1/login", {"username": name, "password": password,
                                         "client": "web"})

    answers = [
        attempt("nobody-" + u.name, "pw-wrong-123"),  # unknown user
        attempt(u.name, "pw-wrong-123"),              # wrong password
        attempt(tfa.name, "pw-wrong-123"),            # wrong password, two-factor on
        attempt(nopw.json()["username"], "pw-wrong-123"),  # an account with no password
    ]
    first = answers[0]
    assert_error(first, 401, "invalid_credentials")
    for r in answers[1:]:
        assert r.status_code == first.status_code
        assert r.content == first.content, (r.content, first.content)
        assert r.headers.get("Content-Type") == first.headers.get("Content-Type")
        assert "Set-Cookie" not in r.headers


def test_unknown_user_costs_as_much_as_a_known_one(make_server):
    """The dummy hash: an unknown user is no faster than a wrong password (a loose check:
    with the real Argon2id profile an unhashed miss would be 10x faster, not 2x)."""
    s = make_server(config={"argon2_memory_kib": 19 * 1024, "argon2_passes": 2})
    svc = s.service_key()
    u = s.new_user(svc)

    def timed(name):
        t = time.perf_counter()
        r = s.post("/v1/login", {"username": name, "password": "pw-wrong-123", "client": "web"})
        assert r.status_code == 401, r.text
        return time.perf_counter() - t

    known = sorted(timed(u.name) for _ in range(5))[2]
    unknown = sorted(timed("nobody-" + u.name) for _ in range(5))[2]
    assert unknown > known / 3, (unknown, known)


def test_password_throttled_per_ip(make_server):
    s = make_server(config={"password_attempts_per_ip": 3, "password_attempts_window": 60})
    svc = s.service_key()
    u = s.new_user(svc)

    def attempt(name, password):
        return s.post("/v1/login", {"username": name, "password": password, "client": "web"})

    assert_error(attempt(u.name, "pw-wrong-1"), 401, "invalid_credentials")
    assert_error(attempt("nobody-" + u.name, "pw-wrong-2"), 401, "invalid_credentials")
    assert_error(attempt(u.name, "pw-wrong-3"), 401, "invalid_credentials")
    # The fourth within the minute is throttled, whoever it names, even with the password.
    # It costs no Argon2id work.
    before = s.argon2id_runs()
    err = assert_error(attempt(u.name, u.password), 429, "rate_limited")
    assert 1 <= err["retry_after"] <= 60, err
    assert_error(attempt("nobody-" + u.name, "pw"), 429, "rate_limited")
    assert s.argon2id_runs() == before
    # Other endpoints are not throttled by it.
    assert s.healthy()

    s.advance(err["retry_after"])
    assert assert_ok(attempt(u.name, u.password))["status"] == "signed_in"


def test_address_limit_at_sign_in_is_audited_against_the_account(make_server):
    """DESIGN §3: the audit log says who.  A sign-in refused by the address's limit, before any
    Argon2id work, names the account it was for, so that `admin audit --user NAME` shows the
    attempts on it; an unknown name stays no account, as before, and the answers are alike."""
    s = make_server(config={"password_attempts_per_ip": 1, "password_attempts_window": 300})
    u = s.new_user(s.service_key())
    assert_error(u.login(password="pw-wrong-123", through_throttle=False), 401,
                 "invalid_credentials")
    known = assert_error(u.login(through_throttle=False), 429, "rate_limited")
    unknown = assert_error(s.post("/v1/login", {"username": "nobody-" + u.name,
                                                "password": u.password, "client": "web"}),
                           429, "rate_limited")
    assert known == unknown
    rows = s.audit(u.name)
    assert [(r[1], r[2]) for r in rows if r[1] == "login.password"] == \
        [("login.password", "invalid_password"), ("login.password", "rate_limited")], rows
    rows = s.audit()
    assert [(r[2], r[3]) for r in rows if r[1] == "login.password"][-1] == \
        ("rate_limited", "nobody-" + u.name), rows


def test_client_name_is_audited_without_control_characters(make_server):
    """The `client` a sign-in names is the client's text, like its User-Agent and the name it
    asked for (operations.md §7): the audit log keeps it as UTF-8 with '?' for each control
    character, in the rows of the password step and of the second step."""
    s = make_server()
    u = s.new_user(s.service_key())
    u.with_totp()
    client = "mail\t2026-01-01T00:00:00Z\tlogin.password\tok\n\x1b[2J\u0085\u00e9"
    audited = "mail?2026-01-01T00:00:00Z?login.password?ok??[2J?\u00e9"
    lid = assert_ok(u.login(client=client))["login_id"]
    assert_error(u.verify(lid, "totp", "000000"), 401, "invalid_code")
    rows = s.audit(u.name)
    assert [(r[1], r[5]) for r in rows if r[1] in ("login.password", "login.verify")][-2:] == \
        [("login.password", audited), ("login.verify", audited)], rows
    # The session list still shows it as given (JSON holds any text).
    sess = u.sign_in_totp(client=client)
    listed = assert_ok(s.get("/v1/sessions", token=sess))["sessions"]
    assert [x["client"] for x in listed if x["current"]] == [client]


def test_disabled_account_cannot_sign_in(server, svc):
    u = server.new_user(svc)
    token = u.session()
    assert_ok(server.post(f"/v1/service/accounts/{u.name}/disable", token=svc))
    assert_error(server.get("/v1/sessions", token=token), 401, "unauthenticated")
    assert_error(u.login(), 403, "account_disabled")
    # A wrong password for it is the ordinary answer: no telling it is disabled.
    assert_error(u.login(password="pw-wrong-123"), 401, "invalid_credentials")


def test_login_status_of_unknown_sign_in(server):
    assert_error(server.get("/v1/login/" + "A" * 32), 404, "not_found")
    assert_error(server.get("/v1/login/short"), 404, "not_found")
    assert_error(server.post("/v1/login/" + "A" * 32 + "/verify",
                             {"method": "totp", "code": "123456"}), 404, "not_found")


def test_password_checks_after_sign_in_throttled_per_ip(make_server):
    """Re-authentication, password change and two-factor off check the password too: they
    count against the address like sign-in does, so a session is no guessing oracle."""
    s = make_server(config={"password_attempts_per_ip": 4, "password_attempts_window": 60})
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.session()  # one attempt
    for _ in range(3):
        assert_error(s.post("/v1/reauth", {"password": "pw-guess-1"}, token=token), 401,
                     "invalid_credentials")
    err = assert_error(s.post("/v1/reauth", {"password": u.password}, token=token), 429,
                       "rate_limited")
    assert_error(s.post("/v1/password", {"password": u.password,
                                         "new_password": "pw-new-123456"}, token=token),
                 429, "rate_limited")
    assert_error(u.login(through_throttle=False), 429, "rate_limited")
    s.advance(err["retry_after"])
    assert_ok(s.post("/v1/reauth", {"password": u.password}, token=token))


def test_third_party_sign_in_does_not_offer_backup_codes(server, svc):
    u = server.new_user(svc)
    u.with_totp()
    web = assert_ok(u.login(client="web"))
    assert sorted(web["methods"]) == ["backup", "totp"], web
    other = assert_ok(u.login(client="mail-app"))
    assert other["methods"] == ["totp"], other


# The password step checks the password against a read made before Argon2id, and decides in a
# transaction after it.  What happens to the account in between must count (DESIGN §3: a new
# password ends whoever knew the old one; §4: two-factor on means a second step).  The test
# build's pause holds each sign-in between the two while the test changes the account.

@pytest.mark.parametrize("rehash", [False, True])
def test_password_changed_during_sign_in_is_not_undone(make_server, rehash):
    s = make_server(config={"argon2_passes": 2})
    u = s.new_user(s.service_key())
    token = u.session()
    if rehash:
        # Stronger parameters: the next sign-in with the password stores a new hash of it.
        s.stop()
        s.config_path.write_text(s.config_path.read_text().replace("argon2_passes = 2",
                                                                    "argon2_passes = 3"))
        s.start()
    new = "pw-new-" + u.password
    with Paused(s, lambda: u.login(through_throttle=False)) as p:
        assert_ok(s.post("/v1/password", {"password": u.password, "new_password": new},
                         token=token))
    # The sign-in checked the old password, but the new one is in place when it decides.
    assert_error(p.result, 401, "invalid_credentials")
    assert_error(u.login(), 401, "invalid_credentials")
    assert assert_ok(u.login(password=new))["status"] == "signed_in"


def test_two_factor_turned_on_during_sign_in_applies_to_it(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    with Paused(s, lambda: u.login(through_throttle=False)) as p:
        body = assert_ok(s.post(f"/v1/service/accounts/{u.name}/totp", token=svc))
        u.secret = body["secret"]
        assert_ok(s.post(f"/v1/service/accounts/{u.name}/totp/confirm",
                         {"code": u.next_totp()}, token=svc))
    body = assert_ok(p.result)
    assert body["status"] == "second_step" and body["methods"] == ["totp", "backup"], body


def test_account_disabled_during_sign_in_is_refused(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    with Paused(s, lambda: u.login(through_throttle=False)) as p:
        assert_ok(s.post(f"/v1/service/accounts/{u.name}/disable", token=svc))
    assert_error(p.result, 403, "account_disabled")
