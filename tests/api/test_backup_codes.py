"""Backup codes (DESIGN §2 "Backup codes", "Error using a backup code"; §3 "backup code")."""

import re

from conftest import Paused, assert_error, assert_ok, parallel

import requests



def _active(server, token):
    return assert_ok(server.get("/v1/backup-codes", token=token))


def assert_inactive(r):
    err = assert_error(r, 410, "inactive_backup_code")
    assert "no longer active" in err["message"].lower(), err
    return err


def test_one_backup_code_when_two_factor_turns_on(server, svc):
    u = server.new_user(svc)
    token = u.session()
    code = u.enable_totp(token)
    assert re.match(r"^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$", code), code
    assert _active(server, token) == {"active": 1, "generations": [1]}
    body = assert_ok(u.login())
    assert body["status"] == "second_step"
    assert sorted(body["methods"]) == ["backup", "totp"], body


def test_backup_codes_used_in_order_retire_older(server, svc):
    u = server.new_user(svc)
    token = u.with_totp()
    body = u.generate_backup(token, 4)
    assert body["generations"] == [2, 3, 4, 5], body
    assert len(set(u.backup.values())) == 5
    assert _active(server, token) == {"active": 5, "generations": [1, 2, 3, 4, 5]}

    # Use number 4 to sign in.
    lid = u.start()
    assert assert_ok(u.verify(lid, "backup", u.backup[4]))["status"] == "signed_in"
    assert _active(server, token) == {"active": 1, "generations": [5]}

    # Every code before 4 is inactive now, told so in so many words; 4 itself is used.
    lid = u.start()
    for k in (1, 2):
        assert_inactive(u.verify(lid, "backup", u.backup[k]))
    for k in (3, 4):
        assert_inactive(u.check("backup", u.backup[k]))
    # The code after 4 still works.
    assert assert_ok(u.verify(lid, "backup", u.backup[5]))["status"] == "signed_in"
    assert _active(server, token) == {"active": 0, "generations": []}
    assert_inactive(u.check("backup", u.backup[5]))


def test_backup_code_accepted_in_any_typed_form(server, svc):
    """The code as shown, upper case, without dashes, with spaces: all the same code."""
    u = server.new_user(svc)
    token = u.with_totp()
    u.generate_backup(token, 3)
    assert assert_ok(u.check("backup", u.backup[2].upper())) == {"status": "ok"}
    assert assert_ok(u.check("backup", u.backup[3].replace("-", " "))) == {"status": "ok"}
    assert_inactive(u.check("backup", u.backup[3].replace("-", "")))


def test_inactive_backup_code_told_apart_from_wrong_one(server, svc):
    u = server.new_user(svc)
    token = u.with_totp()
    u.generate_backup(token, 2)  # 2, 3
    assert assert_ok(u.check("backup", u.backup[2])) == {"status": "ok"}  # retires 1

    used = assert_inactive(u.check("backup", u.backup[2]))
    retired = assert_inactive(u.check("backup", u.backup[1]))
    assert used["message"] == retired["message"]
    # A well-formed code that was never issued, and garbage: plain wrong codes.
    never = "abcd-efgh-jkmn"
    assert never not in u.backup.values()
    wrong = assert_error(u.check("backup", never), 401, "invalid_code")
    assert "no longer active" not in wrong["message"].lower()
    assert_error(u.check("backup", "not a code"), 401, "invalid_code")
    # Through sign-in, the same distinction.
    lid = u.start()
    assert_inactive(u.verify(lid, "backup", u.backup[1]))
    assert_error(u.verify(lid, "backup", never), 401, "invalid_code")
    assert assert_ok(u.verify(lid, "backup", u.backup[3]))["status"] == "signed_in"


def test_at_most_five_backup_codes_active(server, svc):
    u = server.new_user(svc)
    token = u.with_totp()  # generation 1
    body = u.generate_backup(token, 5)
    assert body["generations"] == [2, 3, 4, 5, 6]
    assert _active(server, token) == {"active": 5, "generations": [2, 3, 4, 5, 6]}
    factors = assert_ok(server.get("/v1/factors", token=token))
    assert factors["backup_codes_active"] == 5
    # Making five more retired the oldest: number 1 is inactive, not wrong.
    assert_inactive(u.check("backup", u.backup[1]))

    u.generate_backup(token, 2)  # 7, 8: retires 2 and 3
    assert _active(server, token) == {"active": 5, "generations": [4, 5, 6, 7, 8]}
    for k in (2, 3):
        assert_inactive(u.check("backup", u.backup[k]))

    # Six at once is refused, and changes nothing.
    assert_error(server.post("/v1/backup-codes", {"count": 6}, token=token), 400,
                 "invalid_field")
    assert_error(server.post("/v1/backup-codes", {"count": 0}, token=token), 400,
                 "invalid_field")
    assert _active(server, token) == {"active": 5, "generations": [4, 5, 6, 7, 8]}
    assert assert_ok(u.check("backup", u.backup[4])) == {"status": "ok"}


def test_backup_codes_need_two_factor_on(server, svc):
    u = server.new_user(svc)
    token = u.session()
    assert_error(server.post("/v1/backup-codes", {"count": 1}, token=token), 409,
                 "invalid_state")
    assert _active(server, token) == {"active": 0, "generations": []}


def test_backup_code_from_third_party_client_refused(server, svc):
    u = server.new_user(svc)
    u.with_totp()
    lid = u.start(client="mail-app")
    err = assert_error(u.verify(lid, "backup", u.backup[1]), 403, "backup_code_not_allowed")
    assert "temporary password" in err["message"].lower(), err
    # Through the service API with a third-party client named: the same.
    err = assert_error(u.check("backup", u.backup[1], client="mail-app"), 403,
                       "backup_code_not_allowed")
    assert "temporary password" in err["message"].lower(), err
    # The refusal consumed nothing and ended nothing: the sign-in still takes the code
    # generator, and the backup code still works on the web.
    st = assert_ok(server.get(f"/v1/login/{lid}"))
    assert st["status"] == "pending" and st["attempts_left"] == 5, st
    assert assert_ok(u.verify(lid, "totp", u.next_totp()))["status"] == "signed_in"
    web = u.start(client="web")
    assert assert_ok(u.verify(web, "backup", u.backup[1]))["status"] == "signed_in"
    # The Pahara app is first-party too.
    token = u.sign_in_totp()
    u.generate_backup(token, 1)
    app = u.start(client="app")
    assert assert_ok(u.verify(app, "backup", u.backup[2]))["status"] == "signed_in"


def test_backup_code_used_once_under_concurrent_requests(server, svc):
    u = server.new_user(svc)
    u.with_totp()
    url = server.base + "/v1/check"
    hdr = {"Authorization": "Bearer " + svc}
    rs = parallel(10, lambda i: requests.post(
        url, json={"username": u.name, "method": "backup", "code": u.backup[1]},
        headers=hdr, timeout=30))
    assert sum(r.status_code == 200 for r in rs) == 1, [(r.status_code, r.text) for r in rs]
    for r in rs:
        if r.status_code == 410:
            assert_inactive(r)
        elif r.status_code != 200:
            assert_error(r, 429, "rate_limited")




def _until_not_throttled(server, send):
    """send() again after each 429, once its wait is over on the server's clock; send makes
    its code afresh each time (a TOTP code would be stale after the wait)."""
    r = send()
    while r.status_code == 429:
        server.advance(r.json()["error"]["retry_after"])
        r = send()
    return r


def test_inactive_backup_code_told_apart_however_old(server, svc):
    """Far more codes than a sign-in looks at in one go (the newest 20) and than the store
    reads in one go (32): every used or retired one is still "no longer active", never a
    wrong code, through sign-in and the service check alike."""
    u = server.new_user(svc)
    token = u.with_totp()                                  # 1
    assert assert_ok(u.check("backup", u.backup[1])) == {"status": "ok"}
    u.generate_backup(token, 5)                            # 2..6
    lid = u.start()
    assert assert_ok(u.verify(lid, "backup", u.backup[4]))["status"] == "signed_in"
    for rnd in range(14):                                  # 7..76
        body = u.generate_backup(token, 5)
        if rnd % 3 == 0:  # now and then use the second newest: the older ones retire
            g = body["generations"][3]
            assert assert_ok(u.check("backup", u.backup[g])) == {"status": "ok"}
    assert max(u.backup) == 76
    active = assert_ok(server.get("/v1/backup-codes", token=token))
    assert active == {"active": 5, "generations": list(range(72, 77))}, active

    # Through sign-in: old codes are inactive, a code that never was is wrong, and neither
    # changes anything.
    lid = u.start()
    first = assert_inactive(u.verify(lid, "backup", u.backup[1]))
    for g in (2, 40):
        assert assert_inactive(u.verify(lid, "backup", u.backup[g]))["message"] == \
            first["message"]
    never = "abcd-efgh-jkmn"
    assert never not in u.backup.values()
    assert_error(u.verify(lid, "backup", never), 401, "invalid_code")
    assert assert_ok(server.get("/v1/backup-codes", token=token)) == active
    assert assert_ok(u.verify(lid, "backup", u.backup[74]))["status"] == "signed_in"
    assert assert_ok(server.get("/v1/backup-codes", token=token)) == {
        "active": 2, "generations": [75, 76]}

    # Through the service check: every code up to 74, used or retired, however old.
    for g in range(1, 75):
        assert assert_inactive(u.check("backup", u.backup[g]))["message"] == first["message"]
    assert_error(u.check("backup", never), 401, "invalid_code")
    assert_error(u.check("backup", "not a code"), 401, "invalid_code")
    assert assert_ok(u.check("backup", u.backup[76])) == {"status": "ok"}
    assert_inactive(u.check("backup", u.backup[75]))

    # Two-factor off and on again (everything retired, the numbers go on): the old codes are
    # still told apart.
    lid = u.start()
    r = _until_not_throttled(server, lambda: u.verify(lid, "totp", u.next_totp(),
                                                      through_backoff=False))
    token = assert_ok(r)["session"]
    r = _until_not_throttled(server, lambda: server.post(
        "/v1/twofactor/off", {"password": u.password, "method": "totp", "code": u.next_totp()},
        token=token))
    assert assert_ok(r) == {"status": "ok"}
    old = dict(u.backup)
    u.enable_totp(token)  # (files its first backup code under 1)
    u.backup, new = old, u.backup[1]
    assert assert_ok(server.get("/v1/backup-codes", token=token)) == {"active": 1,
                                                                      "generations": [77]}
    for g in (1, 50, 75, 76):
        assert_inactive(u.check("backup", u.backup[g]))
    assert assert_ok(u.check("backup", new)) == {"status": "ok"}


def test_backup_codes_asked_for_as_two_factor_goes_off_are_not_made(make_server):
    # Two-factor off retires every backup code; a request read just before must not make new
    # ones after it.
    s = make_server()
    u = s.new_user(s.service_key())
    first = u.with_totp()
    other = u.sign_in_totp()
    with Paused(s, lambda: s.post("/v1/backup-codes", {"count": 1}, token=first)) as p:
        assert_ok(s.post("/v1/twofactor/off", {"password": u.password, "method": "totp",
                                               "code": u.next_totp()}, token=other))
    assert_error(p.result, 409, "invalid_state")
    assert assert_ok(s.get("/v1/backup-codes", token=first))["active"] == 0


def test_inactive_backup_code_told_apart_when_it_ends_the_sign_in(server, svc):
    """docs/api.md §2 rule 5: an inactive backup code given as the last wrong code the sign-in
    takes is still answered inactive_backup_code, and the sign-in has ended all the same."""
    u = server.new_user(svc)
    token = u.with_totp()
    u.generate_backup(token, 1)  # 2
    assert assert_ok(u.check("backup", u.backup[2])) == {"status": "ok"}  # retires 1
    lid = u.start()
    for _ in range(4):
        assert_error(u.verify(lid, "totp", "000000"), 401, "invalid_code")
    err = assert_inactive(u.verify(lid, "backup", u.backup[1]))
    assert "sign-in has ended" in err["message"], err
    status = assert_ok(server.get(f"/v1/login/{lid}"))
    assert status["status"] == "failed" and status["attempts_left"] == 0, status
    assert_error(u.verify(lid, "totp", u.next_totp()), 410, "login_ended")
