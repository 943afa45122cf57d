"""Choosing the code generator's algorithm and length at enrolment (DESIGN §3 "code generator
(TOTP)": SHA-1, 6 digits, 30 s by default; SHA-256/512 and 8 digits allowed).

POST /v1/factors/totp and POST /v1/service/accounts/{name}/totp take an optional body
{"algorithm": "SHA1"|"SHA256"|"SHA512", "digits": 6|8}.  The oracle for every code here is
python3-pyotp, fed the returned secret (and, separately, the returned otpauth:// URI)."""

import hashlib
import json
import urllib.parse

import pyotp
import pytest

from conftest import TOTP_PERIOD, assert_error, assert_ok

DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
COMBINATIONS = [(alg, digits) for alg in ("SHA1", "SHA256", "SHA512") for digits in (6, 8)]


def _enrolment(u, body, alg, digits):
    """Check an enrolment answer for alg and digits; remember the generator in u."""
    assert body["algorithm"] == alg and body["digits"] == digits, body
    assert body["period"] == TOTP_PERIOD, body
    secret = body["secret"]
    assert len(secret) == 32, body  # 160 bits, base32 without padding
    uri = urllib.parse.urlparse(body["uri"])
    q = urllib.parse.parse_qs(uri.query)
    assert uri.scheme == "otpauth" and uri.netloc == "totp", body["uri"]
    assert q["secret"] == [secret], body["uri"]
    assert q["algorithm"] == [alg] and q["digits"] == [str(digits)], body["uri"]
    assert q["period"] == [str(TOTP_PERIOD)], body["uri"]
    assert u.name in urllib.parse.unquote(uri.path), body["uri"]
    assert "<svg" in body["qr_svg"][:200]
    # What an authenticator app makes of the URI is what the secret and parameters give.
    from_uri = pyotp.parse_uri(body["uri"])
    direct = pyotp.TOTP(secret, digits=digits, digest=DIGESTS[alg])
    for t in (0, 59, 1111111109, 2000000000, int(u.s.now())):
        assert from_uri.at(t) == direct.at(t)
        assert len(direct.at(t)) == digits
    u.secret, u.totp_digits, u.totp_digest = secret, digits, DIGESTS[alg]


# Codes of the wrong kind for time t: the same secret with every algorithm and length, and the
# right code cut or padded.  Those that differ from the right code must all be refused.
WRONG_KINDS = {f"{alg}/{digits}": (lambda u, t, d=DIGESTS[alg], n=digits:
                                   pyotp.TOTP(u.secret, digits=n, digest=d).at(int(t)))
               for alg in DIGESTS for digits in (6, 7, 8)}
WRONG_KINDS.update({
    "last six": lambda u, t: u.code_at(t)[-6:],
    "first six": lambda u, t: u.code_at(t)[:6],
    "zero-padded": lambda u, t: "00" + u.code_at(t),
})


def check_now(u, make_code, right=False):
    """POST /v1/check with a code made for the server's time when it is sent (a wait for the
    account's backoff moves that time on).  Unless right, None when the code made is the
    right one after all."""
    def send():
        code = make_code(u, u.s.now())
        if not right and code == u.code_at(u.s.now()):
            return None
        return u.s.post("/v1/check", {"username": u.name, "method": "totp", "code": code},
                        token=u.service_key)
    r = send()
    while r is not None and r.status_code == 429:
        u.s.advance(r.json()["error"]["retry_after"])
        r = send()
    return r


@pytest.mark.parametrize("alg,digits", COMBINATIONS)
def test_totp_enrolment_with_each_algorithm_and_length(server, svc, alg, digits):
    u = server.new_user(svc)
    token = u.session()
    body = assert_ok(server.post("/v1/factors/totp", {"algorithm": alg, "digits": digits},
                                 token=token))
    _enrolment(u, body, alg, digits)
    assert assert_ok(server.get("/v1/factors", token=token))["twofactor"] is False

    # Confirmed by a code of the chosen kind.
    r = server.post("/v1/factors/totp/confirm", {"code": u.next_totp()}, token=token)
    assert len(assert_ok(r)["backup_codes"]) == 1
    assert assert_ok(server.get("/v1/factors", token=token))["twofactor"] is True

    # Sign-in takes the next code ...
    lid = u.start()
    assert assert_ok(u.verify(lid, "totp", u.next_totp()))["status"] == "signed_in"
    # ... and so does the service check, with none of the codes of another kind (sent in a
    # step nothing has used, so that a refusal is not for a replay).
    u.next_totp()
    for kind, make in WRONG_KINDS.items():
        r = check_now(u, make)
        if r is not None:  # (None: that kind gives the right code now)
            assert_error(r, 401, "invalid_code")
    # The wrong ones made the account back off: the right code is made once that is over.
    sent = []
    r = check_now(u, lambda u, t: sent.append(u.code_at(t)) or sent[-1], right=True)
    assert assert_ok(r) == {"status": "ok"}
    assert len(sent[-1]) == digits


@pytest.mark.parametrize("alg,digits", [("SHA512", 8), ("SHA256", 6), ("SHA1", 8)])
def test_service_enrolment_with_algorithm_and_length(server, alg, digits):
    svc = server.service_key()
    u = server.new_user(svc)
    path = f"/v1/service/accounts/{u.name}/totp"
    body = assert_ok(server.post(path, {"algorithm": alg, "digits": digits}, token=svc))
    _enrolment(u, body, alg, digits)
    body = assert_ok(server.post(path + "/confirm", {"code": u.next_totp()}, token=svc))
    assert len(body["backup_codes"]) == 1
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}
    lid = u.start()
    assert assert_ok(u.verify(lid, "totp", u.next_totp()))["status"] == "signed_in"


def _no_body(server, path, token):
    return server.post(path, token=token)


def _empty_json_body(server, path, token):
    return server.request("POST", path, token=token, data=b"",
                          headers={"Content-Type": "application/json"})


def _empty_object(server, path, token):
    return server.post(path, {}, token=token)


def _one_field(server, path, token):
    return server.post(path, {"digits": 6}, token=token)


@pytest.mark.parametrize("send", [_no_body, _empty_json_body, _empty_object, _one_field])
def test_enrolment_defaults_without_a_choice(server, svc, send):
    """No body, an empty body, {} and a body naming only a default: SHA-1, 6 digits, 30 s."""
    u = server.new_user(svc)
    token = u.session()
    _enrolment(u, assert_ok(send(server, "/v1/factors/totp", token)), "SHA1", 6)
    assert len(u.next_totp()) == 6
    v = server.new_user(svc)
    _enrolment(v, assert_ok(send(server, f"/v1/service/accounts/{v.name}/totp", svc)), "SHA1",
               6)
    # The defaults confirm and check as before.
    r = server.post("/v1/factors/totp/confirm", {"code": u.next_totp()}, token=token)
    assert_ok(r)
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}


def test_starting_again_replaces_the_choice(server, svc):
    """A pending enrolment started again takes the new choice, and the old secret is gone."""
    u = server.new_user(svc)
    token = u.session()
    first = assert_ok(server.post("/v1/factors/totp", {"algorithm": "SHA512", "digits": 8},
                                  token=token))
    body = assert_ok(server.post("/v1/factors/totp", token=token))
    _enrolment(u, body, "SHA1", 6)
    assert body["secret"] != first["secret"]
    old = pyotp.TOTP(first["secret"], digits=8, digest=hashlib.sha512).at(int(server.now()))
    assert_error(server.post("/v1/factors/totp/confirm", {"code": old}, token=token), 401,
                 "invalid_code")
    r = server.post("/v1/factors/totp/confirm", {"code": u.next_totp()}, token=token)
    assert len(assert_ok(r)["backup_codes"]) == 1
    # On now: another enrolment, with or without a choice, is a conflict.
    for choice in (None, {"algorithm": "SHA256"}):
        assert_error(server.post("/v1/factors/totp", choice, token=token), 409, "conflict")


# (body, status, code, words the message must hold)
BAD = [
    ({"algorithm": "MD5"}, 400, "invalid_field", "'algorithm' must be"),
    ({"algorithm": "sha256"}, 400, "invalid_field", "'algorithm' must be"),
    ({"algorithm": "SHA-256"}, 400, "invalid_field", "'algorithm' must be"),
    ({"algorithm": "SHA1 "}, 400, "invalid_field", "'algorithm' must be"),
    ({"algorithm": ""}, 400, "invalid_field", "'algorithm' must be"),
    ({"algorithm": "SHA" + "1" * 40}, 400, "invalid_field", "'algorithm' is longer"),
    ({"algorithm": 256}, 400, "invalid_field", "'algorithm' must be a string"),
    ({"algorithm": None}, 400, "invalid_field", "'algorithm' must be a string"),
    ({"algorithm": ["SHA256"]}, 400, "invalid_field", "'algorithm' must be a string"),
    ({"digits": 7}, 400, "invalid_field", "'digits' must be 6 or 8"),
    ({"digits": 9}, 400, "invalid_field", "'digits' must be 6 or 8"),
    ({"digits": 0}, 400, "invalid_field", "'digits' must be 6 or 8"),
    ({"digits": -6}, 400, "invalid_field", "'digits' must be 6 or 8"),
    ({"digits": 2**40 + 8}, 400, "invalid_field", "'digits' must be 6 or 8"),
    ({"digits": "8"}, 400, "invalid_field", "'digits' must be an integer"),
    ({"digits": 8.0}, 400, "invalid_field", "'digits' must be an integer"),
    ({"digits": True}, 400, "invalid_field", "'digits' must be an integer"),
    ({"algorithm": "SHA256", "digits": 7}, 400, "invalid_field", "'digits' must be 6 or 8"),
    ({"algorithm": "SHA384", "digits": 8}, 400, "invalid_field", "'algorithm' must be"),
    ({"period": 60}, 400, "unknown_field", "unknown field 'period'"),
    ({"algorithm": "SHA256", "issuer": "x"}, 400, "unknown_field", "unknown field 'issuer'"),
    (b"[]", 400, "invalid_json", "JSON object"),
    (b'"SHA256"', 400, "invalid_json", "JSON"),
    (b'{"digits": 8', 400, "invalid_json", "invalid JSON"),
    (b'{"digits": 6, "digits": 8}', 400, "invalid_json", "invalid JSON"),
]


def _send(server, path, token, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return server.request("POST", path, token=token, data=data,
                          headers={"Content-Type": content_type})


@pytest.mark.parametrize("service", [False, True], ids=["session", "service"])
def test_bad_choices_refused_and_change_nothing(server, svc, service):
    u = server.new_user(svc)
    if service:
        path, token = f"/v1/service/accounts/{u.name}/totp", svc
    else:
        path, token = "/v1/factors/totp", u.session()
    confirm = path + "/confirm"

    # Nothing pending: a refused enrolment stores nothing to confirm.
    for body, status, code, words in BAD:
        err = assert_error(_send(server, path, token, body), status, code)
        assert words in err["message"], (body, err)
    err = assert_error(_send(server, path, token, {"digits": 8}, "text/plain"), 415,
                       "unsupported_media_type")
    assert_error(server.post(confirm, {"code": "123456"}, token=token), 409, "invalid_state")
    assert_error(server.post(confirm, {"code": "12345678"}, token=token), 409, "invalid_state")

    # One pending: refused enrolments neither replace it nor change its kind.
    body = assert_ok(_send(server, path, token, {"algorithm": "SHA256", "digits": 8}))
    _enrolment(u, body, "SHA256", 8)
    for body, status, code, _ in BAD:
        assert_error(_send(server, path, token, body), status, code)
    r = server.post(confirm, {"code": u.next_totp()}, token=token)
    assert len(assert_ok(r)["backup_codes"]) == 1
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}
    assert_error(u.check("totp", u.next_totp()[-6:]), 401, "invalid_code")


def test_choice_comes_after_authentication(server, svc):
    """A bad body does not tell an unauthenticated caller anything, nor skip re-authentication.
    After the key, the choice is checked before the account (docs/api.md §1)."""
    for path in ("/v1/factors/totp", "/v1/service/accounts/nobody/totp"):
        assert_error(server.post(path, {"digits": 7}), 401, "unauthenticated")
    assert_error(server.post("/v1/service/accounts/nobody-here/totp", {"digits": 7}, token=svc),
                 400, "invalid_field")
    assert_error(server.post("/v1/service/accounts/nobody-here/totp", {"digits": 8}, token=svc),
                 404, "not_found")


@pytest.mark.parametrize("service", [False, True], ids=["session", "service"])
def test_enrolment_start_is_audited(make_server, service):
    """Starting an enrolment (and starting it again) is audited as factor.totp.begin with the
    choice made; a relying site's with client service:NAME, a session's with its User-Agent."""
    s = make_server()
    svc = s.service_key("shop")
    u = s.new_user(svc)
    if service:
        path, token, client = f"/v1/service/accounts/{u.name}/totp", svc, "service:shop"
    else:
        path, token, client = "/v1/factors/totp", u.session(), "enrolling-browser/2.0"
    hdr = {"User-Agent": "enrolling-browser/2.0"}
    assert_ok(s.post(path, token=token, headers=hdr))
    assert_ok(s.post(path, {"algorithm": "SHA256", "digits": 8}, token=token, headers=hdr))
    assert_error(s.post(path, {"digits": 7}, token=token, headers=hdr), 400, "invalid_field")
    rows = s.audit(u.name)
    begun = [(f[2], f[5], f[6]) for f in rows if f[1] == "factor.totp.begin"]
    assert begun == [("ok", client, "alg=SHA1 digits=6"), ("ok", client, "alg=SHA256 digits=8")], \
        rows
