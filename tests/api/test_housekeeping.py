"""Housekeeping: rows that no longer matter are removed, and nothing that matters is."""

from conftest import assert_error, assert_ok

DAY = 86400


def _current_session_id(s, token):
    return [x["id"] for x in assert_ok(s.get("/v1/sessions", token=token))["sessions"]
            if x["current"]][0]


def test_housekeeping_removes_old_sign_ins_and_revoked_sessions_only(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    pending = u.start()                       # a sign-in left at the second step
    kept = u.sign_in_totp()                   # a live session
    gone = u.sign_in_totp(client="app")       # revoked below
    assert_ok(s.delete(f"/v1/sessions/{_current_session_id(s, gone)}", token=kept))
    audit_before = s.admin("audit", "--user", u.name).stdout
    live = len(assert_ok(s.get("/v1/sessions", token=kept))["sessions"])

    # Nothing is old enough yet.
    assert_ok(s.post("/v1/test/housekeep"))
    assert assert_ok(s.get(f"/v1/login/{pending}"))["status"] == "pending"

    # Two days on: the sign-in ended long ago and goes; the live session stays.
    s.advance(2 * DAY)
    assert assert_ok(s.post("/v1/test/housekeep"))["purged"] >= 1
    assert_error(s.get(f"/v1/login/{pending}"), 404, "not_found")
    assert len(assert_ok(s.get("/v1/sessions", token=kept))["sessions"]) == live

    # A month on: the revoked session's row goes too; the live one still works.
    s.advance(31 * DAY)
    assert assert_ok(s.post("/v1/test/housekeep"))["purged"] >= 1
    assert len(assert_ok(s.get("/v1/sessions", token=kept))["sessions"]) == live
    assert_error(s.get("/v1/sessions", token=gone), 401, "unauthenticated")

    # The audit log is never touched.
    assert s.admin("audit", "--user", u.name).stdout.startswith(audit_before)


def test_housekeeping_keeps_a_lockout_until_it_ends(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    left = u.lock_out()
    assert left > 60
    # A minute before the lockout ends, housekeeping must not have ended it.
    s.advance(left - 60)
    assert_ok(s.post("/v1/test/housekeep"))
    assert_error(u.check("totp", u.next_totp(), through_backoff=False), 429, "rate_limited")
    s.advance(120)
    assert_ok(s.post("/v1/test/housekeep"))
    assert_ok(u.check("totp", u.next_totp(), through_backoff=False))
