"""Sessions and password-guarded settings (DESIGN §3 "sessions", "password")."""

from conftest import Paused, assert_error, assert_ok


def _sessions(server, token):
    return assert_ok(server.get("/v1/sessions", token=token))["sessions"]


def _dead(server, token):
    for path in ("/v1/sessions", "/v1/factors", "/v1/backup-codes"):
        assert_error(server.get(path, token=token), 401, "unauthenticated")
    assert_error(server.post("/v1/sessions/revoke-others", token=token), 401, "unauthenticated")


def test_revoked_session_stops_working(server, svc):
    u = server.new_user(svc)
    a = u.session()
    b = u.session(client="app")
    listed = _sessions(server, a)
    assert len(listed) == 2
    mine = [x for x in listed if x["current"]]
    other = [x for x in listed if not x["current"]]
    assert len(mine) == 1 and len(other) == 1
    assert {x["kind"] for x in listed} == {"web", "app"}
    for x in listed:
        assert set(x) >= {"id", "kind", "client", "ip", "created_at", "current"}
        assert "token" not in x and "session" not in x

    # One by one.
    assert assert_ok(server.delete(f"/v1/sessions/{other[0]['id']}", token=a)) \
        == {"status": "revoked"}
    _dead(server, b)
    assert [x["id"] for x in _sessions(server, a)] == [mine[0]["id"]]
    # Revoking it again, or a session id that is not there: 404.
    assert_error(server.delete(f"/v1/sessions/{other[0]['id']}", token=a), 404, "not_found")

    # All the others at once.
    c, d = u.session(), u.session(client="app")
    body = assert_ok(server.post("/v1/sessions/revoke-others", token=a))
    assert body["revoked"] == 2, body
    _dead(server, c)
    _dead(server, d)
    assert [x["id"] for x in _sessions(server, a)] == [mine[0]["id"]]

    # Revoking one's own session ends it.
    assert_ok(server.delete(f"/v1/sessions/{mine[0]['id']}", token=a))
    _dead(server, a)
    # Signing in again works.
    assert len(_sessions(server, u.session())) == 1


def test_cannot_revoke_another_accounts_session(server, svc):
    u = server.new_user(svc, "u")
    v = server.new_user(svc, "v")
    tu, tv = u.session(), v.session()
    vid = _sessions(server, tv)[0]["id"]
    assert_error(server.delete(f"/v1/sessions/{vid}", token=tu), 404, "not_found")
    assert len(_sessions(server, tv)) == 1
    assert_ok(server.post("/v1/sessions/revoke-others", token=tu))
    assert len(_sessions(server, tv)) == 1


def test_session_token_checks(server):
    for h in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
              {"Authorization": "Bearer " + "A" * 43},
              {"Authorization": "Bearer " + "A" * 44},
              {"Authorization": "Bearer " + "A" * 5000}):
        assert_error(server.get("/v1/sessions", headers=h), 401, "unauthenticated")
    assert server.healthy()


def test_sensitive_change_needs_recent_password(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    plain = s.new_user(svc)
    token = u.with_totp()
    ptoken = plain.session()

    s.advance(11 * 60)
    # Eleven minutes after the password: every sensitive change asks for it again.
    assert_error(s.post("/v1/backup-codes", {"count": 1}, token=token), 403,
                 "reauthentication_required")
    assert_error(s.post("/v1/temporary-passwords", token=token), 403,
                 "reauthentication_required")
    assert_error(s.post("/v1/factors/totp", token=ptoken), 403, "reauthentication_required")
    # ... and nothing was made.
    assert assert_ok(s.get("/v1/backup-codes", token=token))["active"] == 1
    assert assert_ok(s.get("/v1/temporary-passwords", token=token))["temporary_passwords"] == []
    assert assert_ok(s.get("/v1/factors", token=ptoken))["twofactor"] is False
    # Reading is not sensitive.
    assert_ok(s.get("/v1/sessions", token=token))

    # A wrong password does not re-authenticate.
    assert_error(s.post("/v1/reauth", {"password": "wrong-password"}, token=token), 401,
                 "invalid_credentials")
    assert_error(s.post("/v1/backup-codes", {"count": 1}, token=token), 403,
                 "reauthentication_required")

    # The password again: the changes go through.
    assert assert_ok(s.post("/v1/reauth", {"password": u.password}, token=token)) \
        == {"status": "ok"}
    u.generate_backup(token, 1)
    assert_ok(s.post("/v1/temporary-passwords", token=token))
    assert_ok(s.post("/v1/reauth", {"password": plain.password}, token=ptoken))
    assert_ok(s.post("/v1/factors/totp", token=ptoken))

    # And ten minutes later, it is needed again.
    s.advance(10 * 60 + 5)
    assert_error(s.post("/v1/temporary-passwords", token=token), 403,
                 "reauthentication_required")


def test_sign_in_with_second_step_counts_as_recent_password(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    u.with_totp()
    s.advance(11 * 60)
    token = u.sign_in_totp()
    u.generate_backup(token, 1)


def test_recent_password_counts_from_the_password_step(make_server):
    # The password is entered at the start of a sign-in; the second step may come up to ten
    # minutes later, and does not make the password any more recent.
    s = make_server()
    u = s.new_user(s.service_key())
    u.with_totp()
    s.advance(11 * 60)
    lid = u.start()
    s.advance(8 * 60)
    token = assert_ok(u.verify(lid, "totp", u.next_totp()))["session"]
    u.generate_backup(token, 1)  # the password is 8 minutes old
    s.advance(3 * 60)
    assert_error(s.post("/v1/temporary-passwords", token=token), 403,
                 "reauthentication_required")


def test_password_change_ends_other_sessions(server, svc):
    u = server.new_user(svc)
    a, b = u.session(), u.session(client="app")
    old = u.password
    new = "new-" + old

    # A wrong current password changes nothing.
    assert_error(server.post("/v1/password", {"password": "wrong-password", "new_password": new},
                             token=a), 401, "invalid_credentials")
    assert_ok(server.get("/v1/sessions", token=b))
    # A new password that breaks the policy changes nothing either.
    assert_error(server.post("/v1/password", {"password": old, "new_password": "short"},
                             token=a), 400, "password_policy")
    assert_ok(server.get("/v1/sessions", token=b))
    assert assert_ok(u.login())["status"] == "signed_in"

    assert assert_ok(server.post("/v1/password", {"password": old, "new_password": new},
                                 token=a)) == {"status": "ok"}
    _dead(server, b)
    # The session that made the change goes on; it is the only one left.
    assert len(_sessions(server, a)) == 1
    assert_error(u.login(password=old), 401, "invalid_credentials")
    u.password = new
    assert assert_ok(u.login())["status"] == "signed_in"


def test_twofactor_off_needs_password_and_code(server, svc):
    u = server.new_user(svc)
    token = u.with_totp()
    code = u.next_totp()

    # Wrong password, right code: refused, and the code is not used up.
    r = server.post("/v1/twofactor/off", {"password": "wrong-password", "method": "totp",
                                          "code": code}, token=token)
    assert_error(r, 401, "invalid_credentials")
    assert assert_ok(u.login())["status"] == "second_step"
    # Right password, wrong code.
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    assert_error(server.post("/v1/twofactor/off", {"password": u.password, "method": "totp",
                                                   "code": wrong}, token=token),
                 401, "invalid_code")
    # Right password, no code.
    assert_error(server.post("/v1/twofactor/off", {"password": u.password}, token=token),
                 400, "missing_field")
    assert_error(server.post("/v1/twofactor/off", {"password": u.password, "method": "sms",
                                                   "code": code}, token=token),
                 400, "invalid_field")
    assert assert_ok(u.login())["status"] == "second_step"
    assert assert_ok(server.get("/v1/factors", token=token))["twofactor"] is True

    # Both: two-factor is off; sign-in is the password alone; old codes are gone.
    assert assert_ok(server.post("/v1/twofactor/off", {"password": u.password, "method": "totp",
                                                       "code": code}, token=token)) \
        == {"status": "ok"}
    body = assert_ok(u.login())
    assert body["status"] == "signed_in", body
    f = assert_ok(server.get("/v1/factors", token=token))
    assert f["twofactor"] is False and f["methods"] == [] and f["backup_codes_active"] == 0, f
    r = u.check("backup", u.backup[1])
    assert r.status_code in (409, 410), r.text  # not set up, or no longer active
    assert_error(r, r.status_code, "method_unavailable" if r.status_code == 409
                 else "inactive_backup_code")
    assert_error(u.check("totp", u.next_totp()), 409, "method_unavailable")


def test_twofactor_off_with_a_backup_code(server, svc):
    u = server.new_user(svc)
    token = u.with_totp()
    assert_ok(server.post("/v1/twofactor/off", {"password": u.password, "method": "backup",
                                                "code": u.backup[1]}, token=token))
    assert assert_ok(u.login())["status"] == "signed_in"


def test_secret_bearing_answers_are_not_cached(server, svc):
    u = server.new_user(svc)
    r = u.login()
    token = r.json()["session"]
    answers = [r,
               server.post("/v1/factors/totp", token=token),
               server.post("/v1/temporary-passwords", token=token),
               server.get("/v1/sessions", token=token),
               server.post("/v1/login", {"username": u.name, "password": "x", "client": "web"})]
    for a in answers:
        assert a.headers.get("Cache-Control") == "no-store", (a.url, a.headers)
        assert a.headers.get("X-Content-Type-Options") == "nosniff", (a.url, a.headers)


def test_address_limit_on_password_guarded_settings_is_audited(make_server):
    # DESIGN §3: every lockout is audited -- also the early refusal, before any Argon2id work.
    s = make_server(config={"password_attempts_per_ip": 2, "password_attempts_window": 300})
    u = s.new_user(s.service_key())
    token = u.session()
    s.advance(301)
    for _ in range(2):
        assert_error(s.post("/v1/reauth", {"password": "pw-wrong-123"}, token=token), 401,
                     "invalid_credentials")
    before = s.argon2id_runs()
    for path, body in (("/v1/reauth", {"password": u.password}),
                       ("/v1/password", {"password": u.password, "new_password": "pw-new-12345"}),
                       ("/v1/twofactor/off", {"password": u.password, "method": "totp",
                                              "code": "123456"})):
        assert_error(s.post(path, body, token=token), 429, "rate_limited")
    assert s.argon2id_runs() == before  # refused before any Argon2id work
    lines = s.admin("audit", "--user", u.name).stdout.splitlines()
    for event in ("session.reauth", "account.password", "twofactor.off"):
        assert any(event in ln and "rate_limited" in ln for ln in lines), (event, lines)


def test_malformed_settings_request_is_refused_before_the_password(make_server):
    # A request bound to be refused for its fields costs no Argon2id and counts no attempt: it
    # gets its 400 even from an address over its password limit.
    s = make_server(config={"password_attempts_per_ip": 1, "password_attempts_window": 300})
    u = s.new_user(s.service_key())
    token = u.session()
    s.advance(301)
    assert_error(s.post("/v1/reauth", {"password": "pw-wrong-123"}, token=token), 401,
                 "invalid_credentials")
    assert_error(s.post("/v1/reauth", {"password": u.password}, token=token), 429,
                 "rate_limited")
    assert_error(s.post("/v1/twofactor/off", {"password": u.password, "method": "sms",
                                              "code": "1"}, token=token), 400, "invalid_field")
    assert_error(s.post("/v1/password", {"password": u.password, "new_password": "short"},
                        token=token), 400, "password_policy")
    # And they were not counted: once the window has passed, one attempt goes through.
    s.advance(301)
    assert_ok(s.post("/v1/reauth", {"password": u.password}, token=token))


def test_password_change_ends_pending_sign_ins(make_server):
    # Whoever knew the old password is out: also a sign-in that passed the password step with
    # it and waits for its second step.
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.with_totp()
    pending = u.start()
    assert_ok(s.post("/v1/password", {"password": u.password,
                                      "new_password": "pw-new-" + u.password}, token=token))
    assert assert_ok(s.get(f"/v1/login/{pending}"))["status"] == "failed"
    assert_error(u.verify(pending, "totp", u.next_totp()), 410, "login_ended")
    # The same when the site disables the account.
    v = s.new_user(svc)
    v.with_totp()
    pending = v.start()
    assert_ok(s.post(f"/v1/service/accounts/{v.name}/disable", token=svc))
    assert assert_ok(s.get(f"/v1/login/{pending}"))["status"] == "failed"


def test_racing_password_changes_do_not_both_win(make_server):
    # Someone with the old password and a session changes it at the moment the owner does: the
    # owner's change, committed first, ends the other session, whose change must not then undo
    # it (it had checked the old password before).
    s = make_server()
    u = s.new_user(s.service_key())
    theirs, own = u.session(), u.session()
    new_theirs, new_own = "pw-t-" + u.password, "pw-o-" + u.password
    with Paused(s, lambda: s.post("/v1/password", {"password": u.password,
                                                   "new_password": new_theirs},
                                  token=theirs)) as p:
        assert_ok(s.post("/v1/password", {"password": u.password, "new_password": new_own},
                         token=own))
    assert_error(p.result, 401, "unauthenticated")
    assert_error(u.login(password=new_theirs), 401, "invalid_credentials")
    assert assert_ok(u.login(password=new_own))["status"] == "signed_in"


def test_a_password_checked_against_a_replaced_one_is_refused(make_server):
    # Two changes from the same session at once: the held one checked the old password, which
    # is no longer the account's when it would commit.
    s = make_server()
    u = s.new_user(s.service_key())
    token = u.session()
    first, second = "pw-1-" + u.password, "pw-2-" + u.password
    with Paused(s, lambda: s.post("/v1/password", {"password": u.password,
                                                   "new_password": first}, token=token)) as p:
        assert_ok(s.post("/v1/password", {"password": u.password, "new_password": second},
                         token=token))
    assert_error(p.result, 409, "conflict")
    assert assert_ok(u.login(password=second))["status"] == "signed_in"


def test_revoked_token_use_audited_once(make_server):
    """DESIGN §3 "every security event in the audit log": a revoked session's token used again
    (perhaps stolen) is audited against its account, the first time only, so that its holder
    cannot grow the log; the answer stays the plain 401.  A token that never was a session is
    not audited at all (anyone could send those)."""
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    a = u.session()
    b = u.session(client="app")
    sid = [x["id"] for x in _sessions(s, a) if not x["current"]][0]
    assert_ok(s.delete(f"/v1/sessions/{sid}", token=a))

    def flushed():
        # A write queued after the audits above: once it is answered, they are committed.
        assert_ok(s.post("/v1/sessions/revoke-others", token=a))
        return [f for f in s.audit() if f[1] == "session.revoked_use"]

    for _ in range(3):
        _dead(s, b)
    used = flushed()
    assert len(used) == 1, used
    assert used[0][2:4] == ["refused", u.name], used
    assert used[0][6].startswith(f"session={sid} revoked_at="), used
    # Later uses, a week on: still the one row.
    s.advance(7 * 86400)
    _dead(s, b)
    assert len(flushed()) == 1

    # A token that never was a session (one character of a real one changed): no row.
    before = len(s.audit())
    i = len(a) // 2
    forged = a[:i] + ("A" if a[i] != "A" else "B") + a[i + 1:]
    assert_error(s.get("/v1/sessions", token=forged), 401, "unauthenticated")
    assert len(flushed()) == 1
    assert [f[1] for f in s.audit()[before:]] == ["session.revoke_others"]
