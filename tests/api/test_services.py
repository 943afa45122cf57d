"""Relying sites that keep their own passwords (src/server/check.c): a service sees only the
accounts it made."""

import sqlite3

import pytest

from conftest import WriterHeld, assert_error, assert_ok, queued_in_background


def _service_user_with_totp(s, svc):
    """An account of svc with two-factor on, made through the service API."""
    u = s.new_user(svc)
    u.secret = assert_ok(s.post(f"/v1/service/accounts/{u.name}/totp", token=svc))["secret"]
    body = assert_ok(s.post(f"/v1/service/accounts/{u.name}/totp/confirm",
                            {"code": u.next_totp()}, token=svc))
    u.backup[1] = body["backup_codes"][0]
    return u


def _codes_state(s, name):
    """What `admin user show` says of the account's codes (last step used, backup codes)."""
    return [ln for ln in s.admin("user", "show", name).stdout.splitlines()
            if ln.startswith(("code generator:", "backup codes:"))]


def test_service_cannot_touch_other_services_accounts(server):
    a_key = server.service_key()
    b_key = server.service_key()
    u = server.new_user(a_key)
    token = u.with_totp()
    name = u.name

    def as_b(path, body=None):
        return server.post(path, body, token=b_key)

    assert_error(as_b("/v1/check", {"username": name, "method": "totp",
                                    "code": u.next_totp()}), 404, "not_found")
    assert_error(as_b("/v1/check", {"username": name, "method": "backup",
                                    "code": u.backup[1]}), 404, "not_found")
    assert_error(as_b(f"/v1/service/accounts/{name}/disable"), 404, "not_found")
    assert_error(as_b(f"/v1/service/accounts/{name}/totp"), 404, "not_found")
    assert_error(as_b(f"/v1/service/accounts/{name}/totp/confirm", {"code": "123456"}), 404,
                 "not_found")
    assert_error(as_b(f"/v1/service/accounts/{name}/backup-codes", {"count": 1}), 404,
                 "not_found")
    assert_error(as_b("/v1/service/accounts", {"username": name, "password": "pw-other-123"}),
                 409, "conflict")
    # B's answer about A's account is the answer about no account at all (same code).
    missing = as_b("/v1/service/accounts/nobody-here/disable")
    assert_error(missing, 404, "not_found")

    # Nothing of A's account changed: the backup code and the password still work, the
    # session is alive, and the code generator was not replaced.
    assert_ok(server.get("/v1/sessions", token=token))
    assert assert_ok(u.check("backup", u.backup[1])) == {"status": "ok"}
    assert assert_ok(u.login())["status"] == "second_step"
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}


def test_service_key_required(server):
    svc = server.service_key()
    u = server.new_user(svc)
    body = {"username": u.name, "method": "totp", "code": "123456"}
    assert_error(server.post("/v1/check", body), 401, "unauthenticated")
    assert_error(server.post("/v1/check", body, token="A" * 43), 401, "unauthenticated")
    # A session token is not a service key.
    assert_error(server.post("/v1/check", body, token=u.session()), 401, "unauthenticated")
    assert_error(server.post("/v1/service/accounts", {"username": "x-" + u.name},
                             token=u.session()), 401, "unauthenticated")


def test_service_manages_its_own_accounts(server):
    svc = server.service_key()
    u = server.new_user(svc)
    # Two-factor through the service API.
    body = assert_ok(server.post(f"/v1/service/accounts/{u.name}/totp", token=svc))
    u.secret = body["secret"]
    body = assert_ok(server.post(f"/v1/service/accounts/{u.name}/totp/confirm",
                                 {"code": u.next_totp()}, token=svc))
    assert len(body["backup_codes"]) == 1
    u.backup[1] = body["backup_codes"][0]
    body = assert_ok(server.post(f"/v1/service/accounts/{u.name}/backup-codes", {"count": 2},
                                 token=svc))
    assert body["generations"] == [2, 3]
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}
    assert assert_ok(u.check("backup", body["codes"][0])) == {"status": "ok"}
    assert_error(u.check("backup", u.backup[1]), 410, "inactive_backup_code")
    # Disabled: no more checks, no sign-in.
    assert_ok(server.post(f"/v1/service/accounts/{u.name}/disable", token=svc))
    assert_error(u.check("totp", u.next_totp()), 403, "account_disabled")
    assert_error(u.login(), 403, "account_disabled")
    # Names are checked.
    for bad in ("", "a b", "a/b", "x" * 65, "ünï"):
        assert_error(server.post("/v1/service/accounts", {"username": bad}, token=svc), 400,
                     "invalid_field")


def test_self_registration_off_by_default(server, svc):
    name = "self-reg-" + svc[:6].lower()
    r = server.post("/v1/accounts", {"username": name, "password": "pw-fine-12345"})
    assert_error(r, 403, "forbidden")
    # Nothing was made: the service can still create that name.
    assert server.post("/v1/service/accounts", {"username": name}, token=svc).status_code == 201


def test_self_registration_when_turned_on(make_server):
    s = make_server({"self_registration": "true", "password_attempts_per_ip": 20,
                     "password_attempts_window": 600})
    body = {"username": "newcomer", "password": "pw-fine-12345"}
    r = s.post("/v1/accounts", body)
    assert r.status_code == 201, r.text
    assert r.json() == {"username": "newcomer"}
    # The account signs in with its password, has two-factor off, and the event is audited.
    assert assert_ok(s.post("/v1/login", dict(body, client="web")))["status"] == "signed_in"
    assert "account.register" in s.admin("audit", "--user", "newcomer").stdout
    # Taken names, bad names and missing passwords are refused, changing nothing.
    assert_error(s.post("/v1/accounts", body), 409, "conflict")
    assert_error(s.post("/v1/accounts", {"username": "a b", "password": "pw-fine-12345"}),
                 400, "invalid_field")
    assert_error(s.post("/v1/accounts", {"username": "nopw"}), 400, "missing_field")
    assert_error(s.post("/v1/accounts", {"username": "short", "password": "x"}), 400,
                 "password_policy")
    assert "nopw" not in s.admin("user", "list").stdout
    # It is an open door, so it counts against the address like a password check.
    codes = [s.post("/v1/accounts", {"username": f"flood{i}", "password": "pw-fine-12345"})
             .status_code for i in range(40)]
    assert 429 in codes


def test_self_registration_of_a_taken_name_counts_against_the_address(make_server):
    """A taken name counts like any other registration: else its 409 would tell, as often as
    asked, which names exist."""
    s = make_server({"self_registration": "true", "password_attempts_per_ip": 5,
                     "password_attempts_window": 600})
    taken = s.new_user(s.service_key())
    body = {"username": taken.name, "password": "pw-fine-12345"}
    for _ in range(5):
        assert_error(s.post("/v1/accounts", body), 409, "conflict")
    err = assert_error(s.post("/v1/accounts", body), 429, "rate_limited")
    assert 1 <= err["retry_after"] <= 600, err
    assert_error(s.post("/v1/accounts", {"username": "free-name", "password": "pw-fine-12345"}),
                 429, "rate_limited")
    # Each refusal is audited, with the name asked and no account.
    rows = [f for f in s.audit() if f[1] == "account.register"]
    assert [(f[2], f[3]) for f in rows] == [("conflict", taken.name)] * 5 + [
        ("rate_limited", taken.name), ("rate_limited", "free-name")], rows
    s.advance(err["retry_after"])
    assert_ok(s.post("/v1/accounts", {"username": "free-name", "password": "pw-fine-12345"}),
              201)


def test_self_registration_over_the_address_limit_costs_no_argon2id(make_server):
    """As at sign-in: an address over its limit is refused before the password is hashed, and
    the refusal is audited."""
    s = make_server({"self_registration": "true", "password_attempts_per_ip": 2,
                     "password_attempts_window": 600})
    svc = s.service_key()
    # A service's account hashes its password the same way, and does not count.
    before = s.argon2id_runs()
    for i in range(3):
        assert_ok(s.post("/v1/service/accounts",
                         {"username": f"svc-made-{i}", "password": "pw-fine-12345"},
                         token=svc), 201)
    assert s.argon2id_runs() == before + 3
    for i in range(2):
        assert_ok(s.post("/v1/accounts", {"username": f"self-{i}", "password": "pw-fine-12345"}),
                  201)
    before = s.argon2id_runs()
    for i in range(3):
        assert_error(s.post("/v1/accounts", {"username": f"late-{i}",
                                             "password": "pw-fine-12345"}), 429, "rate_limited")
    assert s.argon2id_runs() == before
    rows = [(f[2], f[3]) for f in s.audit() if f[1] == "account.register"]
    assert rows == [("ok", "self-0"), ("ok", "self-1")] + [
        ("rate_limited", f"late-{i}") for i in range(3)], rows
    # The fields still come first: a bad password is told as such.
    assert_error(s.post("/v1/accounts", {"username": "late-x", "password": "x"}), 400,
                 "password_policy")
    names = s.admin("user", "list").stdout
    assert "late-" not in names and "self-1" in names


@pytest.mark.parametrize("method", ["backup", "totp"])
def test_check_of_a_disabled_account_refused_and_audited(server, svc, method):
    u = _service_user_with_totp(server, svc)
    code = u.backup[1] if method == "backup" else u.next_totp()
    assert_ok(server.post(f"/v1/service/accounts/{u.name}/disable", token=svc))
    before = _codes_state(server, u.name)
    assert_error(u.check(method, code, through_backoff=False), 403, "account_disabled")
    assert _codes_state(server, u.name) == before
    rows = [f[1:3] + f[6:] for f in server.audit(u.name)]
    assert rows[-1] == ["check", "account_disabled", f"method={method}"], rows


@pytest.mark.sqlite_only
@pytest.mark.parametrize("method", ["backup", "totp"])
def test_check_refused_when_a_disable_commits_before_it(make_server, method):
    """A disable queued ahead of a check refuses the check: the code is not used up, and the
    refusal is audited, not counted.  (Both stores read a check's rows on their writer, inside
    the check's transaction, so the check's read comes after the disable's commit.)"""
    s = make_server()
    svc = s.service_key()
    u = _service_user_with_totp(s, svc)
    code = u.backup[1] if method == "backup" else u.next_totp()
    before = _codes_state(s, u.name)
    with WriterHeld(s):
        disable = queued_in_background(
            s, lambda: s.post(f"/v1/service/accounts/{u.name}/disable", token=svc))
        check = queued_in_background(s, lambda: s.post(
            "/v1/check", {"username": u.name, "method": method, "code": code}, token=svc))
    assert_ok(disable())
    assert_error(check(), 403, "account_disabled")
    assert _codes_state(s, u.name) == before
    rows = [f[1:3] for f in s.audit(u.name)]
    assert rows[-2:] == [["account.disable", "ok"], ["check", "account_disabled"]], rows
    db = sqlite3.connect(str(s.data_dir / "pahara.db"))
    try:
        counters = db.execute("SELECT count(*) FROM limits l JOIN accounts a "
                              "ON l.key = 'acct:' || a.id WHERE a.name = ?",
                              (u.name,)).fetchone()[0]
    finally:
        db.close()
    assert counters == 0


def test_service_cannot_set_up_factors_of_a_disabled_account(server, svc):
    """A disabled account gets no new code generator and no backup codes from its site (403);
    disabling it again is still answered 200."""
    pending = server.new_user(svc)
    pending.secret = assert_ok(server.post(f"/v1/service/accounts/{pending.name}/totp",
                                           token=svc))["secret"]
    on = _service_user_with_totp(server, svc)
    fresh = server.new_user(svc)
    for u in (pending, on, fresh):
        assert_ok(server.post(f"/v1/service/accounts/{u.name}/disable", token=svc))
    shows = {u.name: server.admin("user", "show", u.name).stdout for u in (pending, on, fresh)}
    base = "/v1/service/accounts/"
    assert_error(server.post(base + fresh.name + "/totp", token=svc), 403, "account_disabled")
    assert_error(server.post(base + pending.name + "/totp", token=svc), 403, "account_disabled")
    assert_error(server.post(base + pending.name + "/totp/confirm",
                             {"code": pending.next_totp()}, token=svc), 403, "account_disabled")
    assert_error(server.post(base + on.name + "/backup-codes", {"count": 2}, token=svc), 403,
                 "account_disabled")
    for u in (pending, on, fresh):
        assert server.admin("user", "show", u.name).stdout == shows[u.name]
        assert_ok(server.post(f"/v1/service/accounts/{u.name}/disable", token=svc))


@pytest.mark.sqlite_only
@pytest.mark.parametrize("what", ["totp", "totp/confirm", "backup-codes"])
def test_service_factor_change_refused_when_a_disable_commits_before_it(make_server, what):
    """A disable committed between the request's read of the account (still enabled) and its
    write refuses the change."""
    s = make_server()
    svc = s.service_key()
    if what == "backup-codes":
        u = _service_user_with_totp(s, svc)
        body = {"count": 2}
    else:
        u = s.new_user(svc)
        body = None
    if what == "totp/confirm":
        u.secret = assert_ok(s.post(f"/v1/service/accounts/{u.name}/totp",
                                    token=svc))["secret"]
        body = {"code": u.next_totp()}
    before = _codes_state(s, u.name)
    with WriterHeld(s):
        disable = queued_in_background(
            s, lambda: s.post(f"/v1/service/accounts/{u.name}/disable", token=svc))
        change = queued_in_background(
            s, lambda: s.post(f"/v1/service/accounts/{u.name}/{what}", body, token=svc))
    assert_ok(disable())
    assert_error(change(), 403, "account_disabled")
    assert _codes_state(s, u.name) == before
    assert "two-factor:     " + ("on" if what == "backup-codes" else "off") in \
        s.admin("user", "show", u.name).stdout


def test_service_factor_changes_audited_as_the_service(make_server):
    """operations.md §7: a relying site's calls are audited with client service:NAME, whatever
    User-Agent they send; a session's with its User-Agent."""
    s = make_server()
    svc = s.service_key("shop")
    hdr = {"User-Agent": "innocent-browser/1.0"}
    u = s.new_user(svc)
    u.secret = assert_ok(s.post(f"/v1/service/accounts/{u.name}/totp", token=svc,
                                headers=hdr))["secret"]
    right = u.next_totp()
    wrong = "000000" if right != "000000" else "000001"
    assert_error(s.post(f"/v1/service/accounts/{u.name}/totp/confirm", {"code": wrong},
                        token=svc, headers=hdr), 401, "invalid_code")
    assert_ok(s.post(f"/v1/service/accounts/{u.name}/totp/confirm", {"code": right}, token=svc,
                     headers=hdr))
    assert_ok(s.post(f"/v1/service/accounts/{u.name}/backup-codes", {"count": 2}, token=svc,
                     headers=hdr))
    rows = [(f[1], f[2], f[5]) for f in s.audit(u.name) if f[1].startswith("factor.")]
    assert ("factor.totp.confirm", "invalid_code", "service:shop") in rows, rows
    assert ("factor.totp.confirm", "ok", "service:shop") in rows, rows
    assert ("factor.backup.generate", "ok", "service:shop") in rows, rows
    assert not [r for r in rows if r[2] != "service:shop"], rows
    # With a session: the session's User-Agent.
    v = s.new_user(svc)
    token = v.session()
    v.secret = assert_ok(s.post("/v1/factors/totp", token=token, headers=hdr))["secret"]
    assert_ok(s.post("/v1/factors/totp/confirm", {"code": v.next_totp()}, token=token,
                     headers=hdr))
    assert_ok(s.post("/v1/backup-codes", {"count": 1}, token=token, headers=hdr))
    rows = [(f[1], f[5]) for f in s.audit(v.name) if f[1].startswith("factor.")]
    assert ("factor.totp.confirm", "innocent-browser/1.0") in rows, rows
    assert ("factor.backup.generate", "innocent-browser/1.0") in rows, rows
    assert not [r for r in rows if r[1] != "innocent-browser/1.0"], rows


FIELD_ERRORS = [
    ("totp", {"digits": 7}, "invalid_field"),
    ("totp", {"period": 60}, "unknown_field"),
    ("totp/confirm", {"code": 123456}, "invalid_field"),
    ("totp/confirm", {}, "missing_field"),
    ("totp/confirm", {"code": "123456", "bogus": "1"}, "unknown_field"),
    ("backup-codes", {"count": 9}, "invalid_field"),
    ("backup-codes", {"count": "2"}, "invalid_field"),
]


@pytest.mark.parametrize("what,body,code", FIELD_ERRORS)
def test_service_fields_checked_before_the_account(server, svc, what, body, code):
    """docs/api.md §1, order of checks: the key (401), then the fields (400), then the rules:
    a bad body gets its 400 whether the account is unknown (404) or disabled (403)."""
    assert_error(server.post(f"/v1/service/accounts/nobody-here/{what}", body, token=svc), 400,
                 code)
    u = server.new_user(svc)
    assert_ok(server.post(f"/v1/service/accounts/{u.name}/disable", token=svc))
    assert_error(server.post(f"/v1/service/accounts/{u.name}/{what}", body, token=svc), 400,
                 code)
    assert_error(server.post(f"/v1/service/accounts/{u.name}/{what}", body, token="A" * 43),
                 401, "unauthenticated")


@pytest.mark.parametrize("encode", [False, True], ids=["as-is", "percent-encoded"])
def test_names_with_at_and_plus_reach_their_account_in_paths(server, svc, encode):
    """docs/api.md §5: '@' and '+' are name characters and path characters ('+' is no space)."""
    name = f"bob+{svc[:6].lower()}{int(encode)}@example.com"
    assert server.post("/v1/service/accounts", {"username": name}, token=svc).status_code == 201
    in_path = name.replace("+", "%2B").replace("@", "%40") if encode else name
    assert "secret" in assert_ok(server.post(f"/v1/service/accounts/{in_path}/totp", token=svc))
    # the same name with a space for its '+' is no account
    other = in_path.replace("%2B" if encode else "+", "%20")
    assert_error(server.post(f"/v1/service/accounts/{other}/disable", token=svc), 404,
                 "not_found")
    assert assert_ok(server.post(f"/v1/service/accounts/{in_path}/disable", token=svc)) \
        == {"status": "disabled"}


def test_check_with_an_empty_client_refused_and_changes_nothing(server, svc):
    """Bad input: an empty client is no client, as at sign-in (400, nothing consumed); it was
    taken as a third-party name."""
    u = _service_user_with_totp(server, svc)
    before = _codes_state(server, u.name)
    code = u.next_totp()
    assert_error(server.post("/v1/check", {"username": u.name, "method": "totp", "code": code,
                                           "client": ""}, token=svc), 400, "invalid_field")
    assert _codes_state(server, u.name) == before
    assert_ok(server.post("/v1/check", {"username": u.name, "method": "totp", "code": code},
                          token=svc))


def test_service_confirm_with_nothing_pending_points_to_the_service_endpoint(server, svc):
    """A relying site told to start over is told its own endpoint, not the session one."""
    u = _service_user_with_totp(server, svc)
    err = assert_error(server.post(f"/v1/service/accounts/{u.name}/totp/confirm",
                                   {"code": "123456"}, token=svc), 409, "invalid_state")
    assert "/v1/service/accounts/{name}/totp" in err["message"], err
    t = server.new_user(svc).session()
    err = assert_error(server.post("/v1/factors/totp/confirm", {"code": "123456"}, token=t),
                       409, "invalid_state")
    assert "POST /v1/factors/totp" in err["message"], err
