"""The second step of sign-in with the code generator (DESIGN §3 "code generator (TOTP)",
"second-step attempts"; §4 the state machine)."""

import json
import urllib.parse

import pytest
import requests

from conftest import TOTP_PERIOD, assert_error, assert_ok, parallel


def test_totp_replay_refused(server, svc):
    u = server.new_user(svc)
    u.with_totp()

    # Through sign-in: the code that signed in once never signs in again.
    code = u.next_totp()
    first = u.start()
    assert assert_ok(u.verify(first, "totp", code))["status"] == "signed_in"
    second = u.start()
    err = assert_error(u.verify(second, "totp", code), 401, "invalid_code")
    assert "code" in err["message"]

    # A code of an earlier step, still inside the ±1 window, is refused too: a step at or
    # before the last accepted one.
    earlier = u.code_at((u.last_step - 1) * TOTP_PERIOD)
    assert earlier != code
    assert_error(u.verify(second, "totp", earlier), 401, "invalid_code")

    # Through /v1/check: the same.
    code = u.next_totp()
    assert assert_ok(u.check("totp", code)) == {"status": "ok"}
    assert_error(u.check("totp", code), 401, "invalid_code")
    # ... and the refusal is the plain wrong-code answer, byte for byte.
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    a = u.check("totp", code)
    b = u.check("totp", wrong)
    assert a.status_code == b.status_code == 401 and a.content == b.content

    # The next step still works: the replay guard refused only what it had to.
    assert assert_ok(u.verify(second, "totp", u.next_totp()))["status"] == "signed_in"


def test_totp_replay_audited_apart_from_a_wrong_code(server, svc):
    """A replay is answered as a wrong code, but the audit tells the operator it was a right
    code sent again (perhaps phished): outcome replayed_code, not invalid_code."""
    def outcomes(name, event):
        return [f[2] for f in server.audit(name) if f[1] == event]

    # Through sign-in.
    u = server.new_user(svc)
    u.with_totp()
    code = u.next_totp()
    assert assert_ok(u.verify(u.start(), "totp", code))["status"] == "signed_in"
    lid = u.start()
    assert_error(u.verify(lid, "totp", code), 401, "invalid_code")
    assert_error(u.verify(lid, "totp", f"{(int(code) + 1) % 1000000:06d}"), 401, "invalid_code")
    assert outcomes(u.name, "login.verify") == ["ok", "replayed_code", "invalid_code"]

    # Through /v1/check.
    v = server.new_user(svc)
    v.with_totp()
    code = v.next_totp()
    assert assert_ok(v.check("totp", code)) == {"status": "ok"}
    assert_error(v.check("totp", code), 401, "invalid_code")
    assert_error(v.check("totp", f"{(int(code) + 1) % 1000000:06d}"), 401, "invalid_code")
    assert outcomes(v.name, "check") == ["ok", "replayed_code", "invalid_code"]


def test_totp_used_once_under_concurrent_requests(server, svc):
    """Twelve requests with one code at the same instant: exactly one is accepted."""
    u = server.new_user(svc)
    u.with_totp()
    code = u.next_totp()
    url = server.base + "/v1/check"
    hdr = {"Authorization": "Bearer " + svc}

    def send(i):
        return requests.post(url, json={"username": u.name, "method": "totp", "code": code},
                             headers=hdr, timeout=30)

    rs = parallel(12, send)
    ok = [r for r in rs if r.status_code == 200]
    assert len(ok) == 1, [(r.status_code, r.text) for r in rs]
    for r in rs:  # the others: a wrong code, or the account's backoff after three of them
        if r.status_code == 401:
            assert_error(r, 401, "invalid_code")
        elif r.status_code != 200:
            assert_error(r, 429, "rate_limited")


def test_code_for_another_accounts_secret_never_works(server, svc):
    a = server.new_user(svc, "a")
    b = server.new_user(svc, "b")
    a.with_totp()
    b.with_totp()
    assert a.secret != b.secret

    # Codes from a's secret, for every step in b's window, never pass for b.
    t = server.now()
    a_codes = {a.code_at(t + d * TOTP_PERIOD) for d in (-1, 0, 1)}
    b_codes = {b.code_at(t + d * TOTP_PERIOD) for d in (-1, 0, 1)}
    a_codes -= b_codes  # one in a million: the same digits by chance are b's own code too
    lid = b.start()
    for c in sorted(a_codes)[:2]:
        assert_error(b.verify(lid, "totp", c), 401, "invalid_code")
    for c in sorted(a_codes)[2:]:
        assert_error(b.check("totp", c), 401, "invalid_code")

    # a's backup code is not b's: a plain wrong code, not "inactive".
    assert_error(b.check("backup", a.backup[1]), 401, "invalid_code")
    # And a's codes still work for a: nothing of a's was consumed by b's attempts.
    assert assert_ok(a.check("backup", a.backup[1])) == {"status": "ok"}
    assert assert_ok(b.verify(lid, "totp", b.next_totp()))["status"] == "signed_in"


def test_sixth_wrong_code_ends_the_sign_in(server, svc):
    u = server.new_user(svc)
    u.with_totp()
    lid = u.start()
    status = assert_ok(server.get(f"/v1/login/{lid}"))
    assert status["status"] == "pending" and status["attempts_left"] == 5

    right = u.next_totp()
    wrong = f"{(int(right) + 500000) % 1000000:06d}"
    for i in range(1, 5):
        assert_error(u.verify(lid, "totp", wrong), 401, "invalid_code")
        assert assert_ok(server.get(f"/v1/login/{lid}"))["attempts_left"] == 5 - i
    # The fifth wrong code is the last this sign-in takes.
    assert_error(u.verify(lid, "totp", wrong), 410, "login_ended")

    # Now the sign-in is over: a sixth code, even the right one, is refused.
    assert_error(u.verify(lid, "totp", wrong), 410, "login_ended")
    right = u.next_totp()
    assert_error(u.verify(lid, "totp", right), 410, "login_ended")
    assert_error(u.verify(lid, "backup", u.backup[1]), 410, "login_ended")
    status = assert_ok(server.get(f"/v1/login/{lid}"))
    assert status["status"] == "failed" and status["attempts_left"] == 0, status

    # The right code was not consumed by the ended sign-in: a new sign-in takes it.
    lid2 = u.start()
    assert assert_ok(u.verify(lid2, "totp", right))["status"] == "signed_in"


def test_lockout_carries_across_sign_ins(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    wrong = "000000"

    def wrong_code(lid):
        # Wait out the backoff (not under test here) so that each wrong code counts.
        r = u.verify(lid, "totp", wrong, through_backoff=True)
        if r.status_code == 401 and r.json()["error"]["code"] == "invalid_code":
            return
        # "000000" could be the right code by chance (one in a million per step): skip a step.
        assert r.status_code == 200, r.text
        u.last_step = s.step()

    start = s.now()
    for per_sign_in in (4, 4, 2):  # ten wrong codes, no sign-in ended by its own five
        lid = u.start()
        for _ in range(per_sign_in):
            wrong_code(lid)
    assert s.now() - start < 15 * 60, "the ten failures must fall within 15 minutes"

    # Locked: a new sign-in is refused even the right code, with a retry time.
    lid = u.start()
    err = assert_error(u.verify(lid, "totp", u.next_totp(), through_backoff=False), 429,
                       "rate_limited")
    assert err["retry_after"] > 256, err  # a lockout, not just the backoff after ten failures
    # The lock is the account's, not the sign-in's: /v1/check is locked out too.
    assert_error(u.check("totp", u.next_totp(), through_backoff=False), 429, "rate_limited")
    # Backup codes too.
    assert_error(u.verify(lid, "backup", u.backup[1], through_backoff=False), 429,
                 "rate_limited")

    # Once the clock passes the lockout, the right code works.
    s.advance(err["retry_after"] + 1)
    lid = u.start()
    body = assert_ok(u.verify(lid, "totp", u.next_totp(), through_backoff=False))
    assert body["status"] == "signed_in"


def test_backoff_between_wrong_codes(make_server):
    """Failures across sign-ins back off exponentially: after the grace, a wait of 2, 4, ... s."""
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    right = u.next_totp()  # (moves the clock past the enrolment's step first)
    lid = u.start()
    for _ in range(3):
        assert_error(u.verify(lid, "totp", "000001", through_backoff=False), 401, "invalid_code")
    lid2 = u.start()  # a new sign-in does not reset the account's backoff
    err = assert_error(u.verify(lid2, "totp", right, through_backoff=False), 429,
                       "rate_limited")
    assert 1 <= err["retry_after"] <= 2, err
    s.advance(err["retry_after"])
    assert assert_ok(u.verify(lid2, "totp", right, through_backoff=False))


def test_check_of_an_account_with_a_counter_still_applies_it(make_server):
    """/v1/check consumes the step of an account that has no throttling counter without
    reading one; an account with a counter is checked the long way: its backoff holds even
    for the right code, which then passes once."""
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    right = u.next_totp()
    for _ in range(3):
        assert_error(u.check("totp", "000001", through_backoff=False), 401, "invalid_code")
    err = assert_error(u.check("totp", right, through_backoff=False), 429, "rate_limited")
    s.advance(err["retry_after"])
    assert assert_ok(u.check("totp", right, through_backoff=False)) == {"status": "ok"}
    assert_error(u.check("totp", right, through_backoff=False), 401, "invalid_code")
    # The success cleared the backoff; the counter's row stays, and the next step passes.
    assert assert_ok(u.check("totp", u.next_totp(), through_backoff=False)) == {"status": "ok"}


def test_pending_sign_in_expires_after_ten_minutes(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()

    lid = u.start()
    early = u.start()
    body = assert_ok(s.get(f"/v1/login/{lid}"))
    assert body["status"] == "pending"
    assert abs(body["expires_at"] - (s.now() + 600)) <= 2, body

    # Nine and a half minutes on, a pending sign-in still takes a code.
    s.advance(570)
    assert assert_ok(u.verify(early, "totp", u.next_totp()))["status"] == "signed_in"

    # Past ten minutes it has ended: even the right code is refused.
    s.advance(600 - 570 + 31)
    assert assert_ok(s.get(f"/v1/login/{lid}"))["status"] == "expired"
    right = u.next_totp()
    assert_error(u.verify(lid, "totp", right), 410, "login_ended")
    assert_error(u.verify(lid, "backup", u.backup[1]), 410, "login_ended")
    assert assert_ok(s.get(f"/v1/login/{lid}"))["status"] == "expired"
    # A fresh sign-in works, with the same code (the expired one consumed nothing).
    assert assert_ok(u.verify(u.start(), "totp", right))["status"] == "signed_in"


def test_lockout_applies_to_twofactor_off(make_server):
    """Turning two-factor off checks a code: wrong ones count, and a locked account cannot
    turn it off even with the password and the right code."""
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.with_totp()
    right = u.next_totp()

    def off(code, **kw):
        return s.post("/v1/twofactor/off", {"password": u.password, "method": "totp",
                                            "code": code}, token=token, **kw)

    for _ in range(3):
        assert_error(off("000002"), 401, "invalid_code")
    # The fourth comes too soon: the account backs off here as at sign-in.
    assert_error(off(right), 429, "rate_limited")
    for _ in range(7):  # ten wrong codes in all: locked
        r = u.check("totp", "000003", through_backoff=True)
        assert_error(r, 401, "invalid_code")
    err = assert_error(off(right), 429, "rate_limited")
    assert err["retry_after"] > 256, err
    assert assert_ok(s.get("/v1/factors", token=token))["twofactor"] is True

    s.advance(err["retry_after"] + 1)
    assert assert_ok(off(u.next_totp())) == {"status": "ok"}
    assert assert_ok(u.login())["status"] == "signed_in"


def test_one_sign_in_completes_once(server, svc):
    """Two right codes for one pending sign-in at the same instant: one session, not two."""
    u = server.new_user(svc)
    token = u.with_totp()
    u.generate_backup(token, 3)
    lid = u.start()
    url = f"{server.base}/v1/login/{lid}/verify"
    attempts = [("totp", u.next_totp()), ("backup", u.backup[2]), ("backup", u.backup[3]),
                ("backup", u.backup[4])]
    rs = parallel(len(attempts), lambda i: requests.post(
        url, json={"method": attempts[i][0], "code": attempts[i][1]}, timeout=30))
    ok = [r for r in rs if r.status_code == 200]
    assert len(ok) == 1, [(r.status_code, r.text) for r in rs]
    for r in rs:
        if r.status_code != 200:
            assert_error(r, 410, r.json()["error"]["code"])
            assert r.json()["error"]["code"] in ("login_ended", "inactive_backup_code")
    assert len(assert_ok(server.get("/v1/sessions", token=token))["sessions"]) == 2


def test_lockout_is_audited(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    u.lock_out()
    lines = s.admin("audit", "--user", u.name).stdout.splitlines()
    events = [ln.split("\t") for ln in lines]
    assert any(f[1] == "account.lockout" for f in events if len(f) > 2), lines


def test_totp_enrolment_confirmed_by_a_first_valid_code(server, svc):
    u = server.new_user(svc)
    token = u.session()
    body = assert_ok(server.post("/v1/factors/totp", token=token))
    secret = body["secret"]
    assert len(secret.rstrip("=")) == 32, body  # 160 bits in base32
    uri = urllib.parse.urlparse(body["uri"])
    q = urllib.parse.parse_qs(uri.query)
    assert uri.scheme == "otpauth" and uri.netloc == "totp", body["uri"]
    assert q["secret"] == [secret] and u.name in urllib.parse.unquote(uri.path), body["uri"]
    assert q.get("digits", ["6"]) == ["6"] and q.get("period", ["30"]) == ["30"]
    assert q.get("algorithm", ["SHA1"]) == ["SHA1"]
    assert "<svg" in body["qr_svg"][:200], body["qr_svg"][:200]

    # Not on until confirmed: sign-in is still the password alone.
    assert assert_ok(u.login())["status"] == "signed_in"
    u.secret = secret
    code = u.next_totp()
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    assert_error(server.post("/v1/factors/totp/confirm", {"code": wrong}, token=token), 401,
                 "invalid_code")
    assert assert_ok(server.get("/v1/factors", token=token))["twofactor"] is False
    body = assert_ok(server.post("/v1/factors/totp/confirm", {"code": code}, token=token))
    assert len(body["backup_codes"]) == 1
    assert assert_ok(server.get("/v1/factors", token=token))["twofactor"] is True
    # Confirming again, or starting over while on: refused, nothing replaced.
    assert_error(server.post("/v1/factors/totp/confirm", {"code": u.next_totp()}, token=token),
                 409, "invalid_state")
    assert_error(server.post("/v1/factors/totp", token=token), 409, "conflict")
    # The code that confirmed the enrolment was consumed: it does not also sign in.
    lid = u.start()
    assert_error(u.verify(lid, "totp", code), 401, "invalid_code")
    done = assert_ok(u.verify(lid, "totp", u.next_totp()))
    st = assert_ok(server.get(f"/v1/login/{lid}"))
    assert st["status"] == "signed_in" and done["session"] not in json.dumps(st), st


def test_totp_window_is_one_step_each_way(server, svc):
    u = server.new_user(svc)
    u.with_totp()
    server.advance(2 * TOTP_PERIOD)  # the step before now is after the enrolment's step
    t = int(server.now())
    step = t // TOTP_PERIOD
    # Keep clear of a step boundary, so that "now" is the same step for the server.
    if t % TOTP_PERIOD > TOTP_PERIOD - 5:
        server.advance(6)
        t, step = int(server.now()), int(server.now()) // TOTP_PERIOD
    at = lambda k: u.code_at((step + k) * TOTP_PERIOD)  # noqa: E731
    for k in (2, 3, -2, -3):
        if at(k) not in (at(-1), at(0), at(1)):
            assert_error(u.check("totp", at(k)), 401, "invalid_code")
    # One step behind is accepted; then the current step; then one ahead ...
    assert assert_ok(u.check("totp", at(-1))) == {"status": "ok"}
    assert assert_ok(u.check("totp", at(0))) == {"status": "ok"}
    assert assert_ok(u.check("totp", at(1))) == {"status": "ok"}
    # ... and after one ahead was accepted, the current step is "at or before": refused.
    assert_error(u.check("totp", at(0)), 401, "invalid_code")
    u.last_step = step + 1


@pytest.mark.parametrize("service", [False, True], ids=["session", "service"])
def test_confirming_wrong_codes_count_and_a_right_one_ends_the_backoff(make_server, service):
    """Wrong codes when confirming a code generator count against the account like any other
    (operations.md §4): the account backs off (429, even for the right code); the right code
    then ends the back-off, as at sign-in."""
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    if service:
        path, token = f"/v1/service/accounts/{u.name}/totp", svc
    else:
        path, token = "/v1/factors/totp", u.session()
    u.secret = assert_ok(s.post(path, token=token))["secret"]
    right = u.next_totp()
    wrong = f"{(int(right) + 1) % 1000000:06d}"
    for _ in range(3):
        assert_error(s.post(path + "/confirm", {"code": wrong}, token=token), 401,
                     "invalid_code")
    err = assert_error(s.post(path + "/confirm", {"code": right}, token=token), 429,
                       "rate_limited")
    s.advance(err["retry_after"])
    assert_ok(s.post(path + "/confirm", {"code": right}, token=token))
    # The back-off is over: a wrong code, then the right one at once.
    code = u.next_totp()
    assert_error(u.check("totp", f"{(int(code) + 1) % 1000000:06d}", through_backoff=False),
                 401, "invalid_code")
    assert assert_ok(u.check("totp", code, through_backoff=False)) == {"status": "ok"}


def _verify_rows(s, name):
    """The account's login.verify audit rows: (outcome, detail)."""
    rows = s.audit(name)
    return [(f[2], f[6]) for f in rows if f[1] == "login.verify"]


def test_verify_on_an_ended_sign_in_is_audited(make_server):
    """A login id used again after its session, or codes sent after the sign-in ended: each is
    refused (410) and audited with why it had ended."""
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    lid = u.start()
    assert assert_ok(u.verify(lid, "totp", u.next_totp()))["status"] == "signed_in"
    assert_error(u.verify(lid, "totp", u.next_totp()), 410, "login_ended")
    expired = u.start()
    s.advance(601)
    assert_error(u.verify(expired, "totp", u.next_totp()), 410, "login_ended")
    pending = u.start()
    assert_ok(s.post(f"/v1/service/accounts/{u.name}/disable", token=svc))
    assert_error(u.verify(pending, "backup", u.backup[1]), 410, "login_ended")
    assert assert_ok(s.get(f"/v1/login/{pending}"))["status"] == "failed"
    assert _verify_rows(s, u.name) == [
        ("ok", "method=totp"), ("login_ended", "method=totp; signed_in"),
        ("login_ended", "method=totp; expired"), ("login_ended", "method=backup; failed")]
