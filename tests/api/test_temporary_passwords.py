"""Temporary passwords (DESIGN §2 "Temporary passwords"; §3 "temporary password")."""

import requests

from conftest import Paused, assert_error, assert_ok, parallel


def _make(server, token):
    body = assert_ok(server.post("/v1/temporary-passwords", token=token))
    assert set(body) == {"id", "password", "expires_at"}, body
    return body


def _listed(server, token):
    body = assert_ok(server.get("/v1/temporary-passwords", token=token))
    for t in body["temporary_passwords"]:
        assert "password" not in t, "a temporary password is shown once, never listed"
    return [t["id"] for t in body["temporary_passwords"]]


def test_temporary_password_single_use(server, svc):
    u = server.new_user(svc)
    token = u.with_totp()
    tp = _make(server, token)
    assert len(tp["password"].replace("-", "").replace(" ", "")) == 16, tp
    assert abs(tp["expires_at"] - (server.now() + 3600)) <= 2, tp
    assert _listed(server, token) == [tp["id"]]

    # In place of the password, from an app that cannot do the second step: a session at once.
    body = assert_ok(u.login(client="mail-app", password=tp["password"]))
    assert body["status"] == "signed_in", body
    assert assert_ok(server.get("/v1/sessions", token=body["session"]))

    # Never twice.
    r = u.login(client="mail-app", password=tp["password"])
    assert_error(r, 401, "invalid_credentials")
    # The answer is the wrong-password answer, byte for byte: nothing to learn from it.
    assert r.content == u.login(client="mail-app", password="not-the-password").content
    assert _listed(server, token) == []
    # The account password still works as before.
    assert assert_ok(u.login())["status"] == "second_step"


def test_temporary_password_is_not_a_backup_code(server, svc):
    u = server.new_user(svc)
    token = u.with_totp()
    tp = _make(server, token)
    lid = u.start()
    assert_error(u.verify(lid, "backup", tp["password"]), 401, "invalid_code")
    # ... and a backup code is not a password.
    assert_error(u.login(password=u.backup[1]), 401, "invalid_credentials")
    assert _listed(server, token) == [tp["id"]]


def test_temporary_password_expires_after_an_hour(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.session()
    early = _make(s, token)
    late = _make(s, token)

    s.advance(3600 - 10)
    body = assert_ok(u.login(client="mail-app", password=early["password"]))
    assert body["status"] == "signed_in"
    assert _listed(s, token) == [late["id"]]

    s.advance(20)  # an hour and ten seconds after it was made
    assert_error(u.login(client="mail-app", password=late["password"]), 401,
                 "invalid_credentials")
    assert _listed(s, token) == []


def test_at_most_five_temporary_passwords(server, svc):
    u = server.new_user(svc)
    token = u.session()
    made = [_make(server, token) for _ in range(5)]
    assert len({m["password"] for m in made}) == 5
    err = assert_error(server.post("/v1/temporary-passwords", token=token), 409, "too_many")
    assert "5" in err["message"], err
    assert sorted(_listed(server, token)) == sorted(m["id"] for m in made)

    # Revoking one frees a place; the revoked one no longer signs in.
    assert_ok(server.delete(f"/v1/temporary-passwords/{made[0]['id']}", token=token))
    assert_error(u.login(client="mail-app", password=made[0]["password"]), 401,
                 "invalid_credentials")
    sixth = _make(server, token)
    assert_error(server.post("/v1/temporary-passwords", token=token), 409, "too_many")

    # Using one frees a place too.
    assert assert_ok(u.login(client="mail-app", password=made[1]["password"]))["status"] \
        == "signed_in"
    _make(server, token)
    assert_error(server.post("/v1/temporary-passwords", token=token), 409, "too_many")
    assert len(_listed(server, token)) == 5
    assert sixth["id"] in _listed(server, token)


def test_temporary_passwords_belong_to_their_account(server, svc):
    a = server.new_user(svc, "a")
    b = server.new_user(svc, "b")
    ta, tb = a.session(), b.session()
    tp = _make(server, ta)
    # b cannot sign in with a's temporary password, nor revoke it.
    assert_error(b.login(client="mail-app", password=tp["password"]), 401,
                 "invalid_credentials")
    assert_error(server.delete(f"/v1/temporary-passwords/{tp['id']}", token=tb), 404,
                 "not_found")
    assert _listed(server, ta) == [tp["id"]]
    assert assert_ok(a.login(client="mail-app", password=tp["password"]))["status"] \
        == "signed_in"


def test_temporary_password_used_once_under_concurrent_sign_ins(server, svc):
    u = server.new_user(svc)
    token = u.with_totp()
    tp = _make(server, token)["password"]
    rs = parallel(8, lambda i: requests.post(
        server.base + "/v1/login",
        json={"username": u.name, "password": tp, "client": "mail-app"}, timeout=30))
    assert sum(r.status_code == 200 for r in rs) == 1, [(r.status_code, r.text) for r in rs]
    for r in rs:
        if r.status_code != 200:
            assert_error(r, 401, "invalid_credentials")


def test_password_change_revokes_temporary_passwords(server, svc):
    """Temporary passwords stand in for the password: a new password ends them as it ends
    the other sessions ("whoever knew the old one is out")."""
    u = server.new_user(svc)
    token = u.session()
    tp = _make(server, token)
    new = "new-" + u.password
    assert_ok(server.post("/v1/password", {"password": u.password, "new_password": new},
                          token=token))
    assert _listed(server, token) == []
    assert_error(u.login(client="mail-app", password=tp["password"]), 401,
                 "invalid_credentials")


def test_temporary_password_session_cannot_make_more_second_factors(server, svc):
    """A temporary password is short-lived and single-use because it skips the second step;
    the session it gives must not mint more temporary passwords or backup codes (which
    would outlive it) as if the account password had just been entered."""
    u = server.new_user(svc)
    token = u.with_totp()
    tp = _make(server, token)
    app = assert_ok(u.login(client="mail-app", password=tp["password"]))["session"]
    r = server.post("/v1/temporary-passwords", token=app)
    assert r.status_code == 403, r.text
    r = server.post("/v1/backup-codes", {"count": 1}, token=app)
    assert r.status_code == 403, r.text
    assert _listed(server, token) == []
    assert assert_ok(server.get("/v1/backup-codes", token=token))["active"] == 1


def test_any_number_of_temporary_passwords_a_day_each_works(server, svc):
    # Used ones are kept a day (to tell "used" from "wrong"); the store once gave only the 16
    # oldest rows, so the 17th password of a day was shown but never worked, and the 18th
    # collided with an id in use.
    u = server.new_user(svc)
    token = u.session()
    for i in range(20):
        tp = _make(server, token)
        assert tp["id"] == i + 1, tp
        assert _listed(server, token) == [tp["id"]]
        body = assert_ok(u.login(client="mail-app", password=tp["password"]))
        assert body["status"] == "signed_in", (i, body)
        # Used: refused.
        assert_error(u.login(client="mail-app", password=tp["password"]), 401,
                     "invalid_credentials")


def test_outstanding_temporary_password_outlives_many_newer_ones(server, svc):
    u = server.new_user(svc)
    token = u.session()
    kept = _make(server, token)
    for _ in range(20):
        tp = _make(server, token)
        assert_ok(u.login(client="mail-app", password=tp["password"]))
    assert _listed(server, token) == [kept["id"]]
    body = assert_ok(u.login(client="mail-app", password=kept["password"]))
    assert body["status"] == "signed_in", body


def test_temporary_password_made_during_a_password_change_does_not_survive_it(make_server):
    # A new password ends every other session and every temporary password (DESIGN §3): a
    # temporary password asked for by another session just before must not be made after.
    s = make_server()
    u = s.new_user(s.service_key())
    old_session, own = u.session(), u.session()
    with Paused(s, lambda: s.post("/v1/temporary-passwords", token=old_session)) as p:
        assert_ok(s.post("/v1/password", {"password": u.password,
                                          "new_password": "pw-new-" + u.password}, token=own))
    assert_error(p.result, 401, "unauthenticated")
    assert _listed(s, own) == []
