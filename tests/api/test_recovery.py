"""Support recovery and disabling, run with `pahara admin` against a live server (DESIGN §2
"Lost phone, no active backup code": two-factor is reset, all sessions end)."""

from conftest import assert_error, assert_ok


def test_support_recovery_resets_two_factor_and_ends_sessions(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.with_totp()
    u.generate_backup(token, 2)
    tp = assert_ok(s.post("/v1/temporary-passwords", token=token))["password"]
    other = u.sign_in_totp(client="app")
    pending = u.start()
    for _ in range(10):  # and locked out, as someone who lost the phone may well be
        assert_error(u.check("totp", "000005", through_backoff=True), 401, "invalid_code")

    r = s.admin("recover", u.name, "--reason", "ticket 4711: lost phone, ID seen")
    assert "recovered" in r.stdout

    for t in (token, other):
        assert_error(s.get("/v1/sessions", token=t), 401, "unauthenticated")
    assert_error(u.login(client="mail-app", password=tp), 401, "invalid_credentials")
    # A sign-in begun before the recovery cannot be completed.
    assert_error(u.verify(pending, "totp", u.next_totp(), through_backoff=False), 410,
                 "login_ended")
    assert assert_ok(s.get(f"/v1/login/{pending}"))["status"] == "failed"
    body = assert_ok(u.login())
    assert body["status"] == "signed_in", body
    fresh = body["session"]
    f = assert_ok(s.get("/v1/factors", token=fresh))
    assert f == {"twofactor": False, "methods": [], "backup_codes_active": 0}, f
    old_backup = dict(u.backup)

    # Two-factor can be set up again at once: the lockout was cleared too.
    u.last_step = -1
    u.enable_totp(fresh)
    assert assert_ok(u.check("totp", u.next_totp(), through_backoff=False)) == {"status": "ok"}
    # The backup codes from before are all inactive.
    for g in (1, 2, 3):
        assert_error(u.check("backup", old_backup[g], through_backoff=False), 410,
                     "inactive_backup_code")
    lines = s.admin("audit", "--user", u.name).stdout.splitlines()
    assert any("\taccount.recover\t" in ln and "ticket 4711" in ln for ln in lines), lines


def test_disabled_user_is_out_everywhere(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.with_totp()
    tp = assert_ok(s.post("/v1/temporary-passwords", token=token))["password"]
    pending = u.start()
    s.admin("user", "disable", u.name)
    assert_error(s.get("/v1/sessions", token=token), 401, "unauthenticated")
    assert_error(u.login(), 403, "account_disabled")
    assert u.login(client="mail-app", password=tp).status_code in (401, 403)
    assert_error(u.verify(pending, "totp", u.next_totp()), 410, "login_ended")
    assert assert_ok(s.get(f"/v1/login/{pending}"))["status"] == "failed"
    assert_error(u.check("totp", u.next_totp()), 403, "account_disabled")
