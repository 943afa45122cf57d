"""One-time use is durable (DESIGN §3): the write that consumes a code is committed before
the answer is sent; a crash never makes a used code usable again."""

from conftest import assert_error, assert_ok


def test_durable_consumption_survives_sigkill(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.with_totp()
    u.generate_backup(token, 2)  # 2, 3
    tp = assert_ok(s.post("/v1/temporary-passwords", token=token))["password"]

    code = u.next_totp()
    step = u.last_step
    # Each answer is followed at once by SIGKILL: no orderly shutdown, no later flush.
    assert assert_ok(u.check("totp", code)) == {"status": "ok"}
    s.kill()
    s.start()  # same data directory, clock put back to where it was
    assert s.step() in (step, step + 1), "the restart took too long for this test"
    assert_error(u.check("totp", code), 401, "invalid_code")

    assert assert_ok(u.check("backup", u.backup[2])) == {"status": "ok"}
    s.kill()
    s.start()
    assert_error(u.check("backup", u.backup[2]), 410, "inactive_backup_code")
    assert_error(u.check("backup", u.backup[1]), 410, "inactive_backup_code")

    assert assert_ok(u.login(client="mail-app", password=tp))["status"] == "signed_in"
    s.kill()
    s.start()
    assert_error(u.login(client="mail-app", password=tp), 401, "invalid_credentials")

    lid = u.start()
    session = assert_ok(u.verify(lid, "backup", u.backup[3]))["session"]
    s.kill()
    s.start()
    assert_error(u.verify(lid, "backup", u.backup[3]), 410, "login_ended")
    assert_ok(s.get("/v1/sessions", token=session))  # the session it made survived too

    # The server still works after all that, and the next step's code is accepted.
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}
