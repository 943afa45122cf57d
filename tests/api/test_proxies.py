"""Behind a reverse proxy (nginx in front of several nodes): the client's address comes from
X-Forwarded-For, but only when the peer is a proxy named in `trusted_proxies`."""

import http.client
import json
import subprocess

import pytest

from conftest import BIN, _env, assert_error


def _ip_of_last_event(s, user):
    line = s.admin("audit", "--user", user).stdout.splitlines()[-1]
    return line.split("\t")[4]


def _login(s, user, xff=None):
    headers = {"X-Forwarded-For": xff} if xff else {}
    return s.post("/v1/login", {"username": user, "password": "pw-wrong-123", "client": "web"},
                  headers=headers)


def test_forwarded_for_is_ignored_unless_the_peer_is_trusted(make_server):
    s = make_server({"password_attempts_per_ip": 20, "password_attempts_window": 600})
    u = s.new_user(s.service_key(), password="pw-right-123")
    _login(s, u.name, "203.0.113.7")
    assert _ip_of_last_event(s, u.name) == "127.0.0.1"


@pytest.mark.parametrize("xff,seen", [
    ("203.0.113.7", "203.0.113.7"),
    ("198.51.100.1, 203.0.113.7", "203.0.113.7"),    # what the client wrote is left of it
    ("203.0.113.7, 127.0.0.1", "203.0.113.7"),       # a trusted hop is skipped
    ("2001:DB8::0:1", "2001:db8::1"),                # kept in canonical form
    ("evil, 203.0.113.7", "203.0.113.7"),
    ("203.0.113.7, not-an-address", "127.0.0.1"),    # garbage: the proxy itself
    ("", "127.0.0.1"),
])
def test_trusted_proxy_names_the_client(make_server, xff, seen):
    s = make_server({"trusted_proxies": "127.0.0.1, ::1", "password_attempts_per_ip": 20,
                     "password_attempts_window": 600})
    u = s.new_user(s.service_key(), password="pw-right-123")
    assert_error(_login(s, u.name, xff), 401, "invalid_credentials")
    assert _ip_of_last_event(s, u.name) == seen


def _login_with_lines(s, user, lines):
    """A sign-in with each of lines as an X-Forwarded-For line of its own (requests would
    join them into one)."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    body = json.dumps({"username": user, "password": "pw-wrong-123", "client": "web"})
    c.putrequest("POST", "/v1/login")
    c.putheader("Content-Type", "application/json")
    c.putheader("Content-Length", str(len(body)))
    for line in lines:
        c.putheader("X-Forwarded-For", line)
    c.endheaders(body.encode())
    status = c.getresponse().status
    c.close()
    return status


@pytest.mark.parametrize("lines,seen", [
    # HAProxy's `option forwardfor` adds a line after the one the client sent
    (["6.6.6.6", "203.0.113.7"], "203.0.113.7"),
    (["6.6.6.6", "198.51.100.1, 203.0.113.7"], "203.0.113.7"),
    (["6.6.6.6, 198.51.100.1", "203.0.113.7", "127.0.0.1"], "203.0.113.7"),  # a trusted hop
    (["203.0.113.7", "127.0.0.1"], "203.0.113.7"),
    (["6.6.6.6", ""], "6.6.6.6"),                    # empty elements are no elements
    (["6.6.6.6", "203.0.113.7, "], "203.0.113.7"),
    (["203.0.113.7", "not-an-address"], "127.0.0.1"),
    (["6.6.6.6"] + ["127.0.0.1"] * 20, "127.0.0.1"),  # past the lines kept: the proxy
], ids=["haproxy", "two-in-the-last", "trusted-hop", "trusted-line", "empty-line",
        "empty-element", "garbage", "too-many-lines"])
def test_forwarded_for_over_several_lines_is_one_list(make_server, lines, seen):
    """RFC 9110 §5.3: the lines are one comma-separated list, in order; the client cannot
    pick its address with a line of its own before the proxy's."""
    s = make_server({"trusted_proxies": "127.0.0.1, ::1", "password_attempts_per_ip": 20,
                     "password_attempts_window": 600})
    u = s.new_user(s.service_key(), password="pw-right-123")
    assert _login_with_lines(s, u.name, lines) == 401
    assert _ip_of_last_event(s, u.name) == seen


def test_a_long_forwarded_for_from_the_client_does_not_hide_it(make_server):
    s = make_server({"trusted_proxies": "127.0.0.1", "password_attempts_per_ip": 20,
                     "password_attempts_window": 600})
    u = s.new_user(s.service_key(), password="pw-right-123")
    assert _login(s, u.name, "6.6.6.6, " * 100 + "203.0.113.7").status_code == 401
    assert _ip_of_last_event(s, u.name) == "203.0.113.7"


def test_each_client_behind_the_proxy_has_its_own_password_limit(make_server):
    s = make_server({"trusted_proxies": "127.0.0.1", "password_attempts_per_ip": 3,
                     "password_attempts_window": 600})
    u = s.new_user(s.service_key(), password="pw-right-123")
    codes = [_login(s, u.name, "203.0.113.7").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    # Someone else behind the same proxy is not throttled by that.
    assert _login(s, u.name, "203.0.113.8").status_code == 401


@pytest.mark.parametrize("value", ["example.com", "10.0.0.0/8", "1.2.3.4, fe80::1%eth0", "300.1.1.1"])
def test_bad_trusted_proxies_refuse_to_start(tmp_path, value):
    conf = tmp_path / "pahara.conf"
    conf.write_text(f"trusted_proxies = {value}\n")
    r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "d"),
                        "--config", str(conf)], capture_output=True, text=True, timeout=30,
                       env=_env())
    assert r.returncode == 2, r.stderr
    assert "trusted_proxies" in r.stderr


def test_an_ipv6_client_has_one_password_limit_for_its_slash_64(make_server):
    # A /64 is what one IPv6 client gets: a new address per attempt must not be a new limit.
    s = make_server({"trusted_proxies": "127.0.0.1", "password_attempts_per_ip": 3,
                     "password_attempts_window": 600})
    u = s.new_user(s.service_key(), password="pw-right-123")
    codes = [_login(s, u.name, f"2001:db8:1:2::{i}").status_code for i in range(1, 4)]
    codes.append(_login(s, u.name, "2001:db8:1:2:ffff:ffff:ffff:ffff").status_code)
    assert codes == [401, 401, 401, 429]
    # The next /64 is someone else.
    assert _login(s, u.name, "2001:db8:1:3::1").status_code == 401
    # An IPv4-mapped address is its IPv4 address.
    assert [_login(s, u.name, a).status_code
            for a in ("192.0.2.9", "::ffff:192.0.2.9", "192.0.2.9", "::ffff:192.0.2.9")] \
        == [401, 401, 401, 429]
