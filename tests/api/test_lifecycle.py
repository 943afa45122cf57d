import pytest
"""Start-up and shutdown of the server process (src/cli/cmd_serve.c): a clean stop answers
every request in flight; hostile connections do not take it down."""

import json
import signal
import socket

import requests

from conftest import assert_error, assert_ok


def _send_login(port, name):
    body = json.dumps({"username": name, "password": "pw-wrong-123", "client": "web"})
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.sendall((f"POST /v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               f"{body}").encode())
    return c


def _read_all(c):
    data = b""
    try:
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        data += f"<{e!r}>".encode()
    c.close()
    return data


@pytest.mark.xfail(strict=True, reason="known bug: http_stop counts a request done before its reply is sent (open, see closing note)")
def test_sigterm_answers_requests_in_flight(make_server):
    """SIGTERM while sign-ins are still hashing: each of them gets its whole answer before
    the server exits 0.  (A lost answer is a race at the very end of shutdown, so the test
    tries several times; one lost answer fails it.)"""
    # Slow password hashing, so that the sign-ins are still running when SIGTERM comes.
    s = make_server(config={"argon2_memory_kib": 32 * 1024, "argon2_passes": 2})
    for round_ in range(12):
        if round_:
            s.start()
        conns = [_send_login(s.port, f"nobody-{i}") for i in range(3)]
        # The server has taken the three requests off the wire (it answers a later one).
        assert requests.get(s.base + "/v1/health", timeout=30).status_code == 200
        s.proc.send_signal(signal.SIGTERM)
        answers = [_read_all(c) for c in conns]
        s.stop()  # exits 0 within 10 s, no sanitizer report
        for i, a in enumerate(answers):
            assert a.startswith(b"HTTP/1.1 401 ") and a.endswith(b"}"), \
                f"round {round_}: request {i}, in flight at SIGTERM, was answered {a!r}"
            assert b'"invalid_credentials"' in a


def test_restart_keeps_accounts_and_sessions(make_server):
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)
    token = u.with_totp()
    s.stop()
    s.start()
    assert_ok(s.get("/v1/sessions", token=token))
    assert assert_ok(u.check("totp", u.next_totp())) == {"status": "ok"}
    assert assert_ok(u.check("backup", u.backup[1])) == {"status": "ok"}


def test_hostile_connections_do_not_stop_it(server):
    # A header far bigger than the connection's memory.
    try:
        r = requests.get(server.base + "/v1/health", headers={"X-Big": "a" * 200000},
                         timeout=30)
        assert r.status_code >= 400
    except requests.ConnectionError:
        pass
    # An Authorization header over the length the server keeps.
    assert_error(server.get("/v1/sessions", headers={"Authorization": "Bearer " + "A" * 600}),
                 401, "unauthenticated")
    # Half a request, then the connection closes; a request line of garbage; raw bytes.
    for payload in (b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n{\"user",
                    b"\x00\xff\x16\x03\x01 garbage\r\n\r\n",
                    b"GET /v1/health HTTP/9.9\r\n\r\n",
                    b"POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    b"Content-Type: application/json\r\n\r\nzz\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as c:
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
            try:
                c.recv(65536)
            except OSError:
                pass
    assert server.healthy()
