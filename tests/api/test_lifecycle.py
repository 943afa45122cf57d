"""Start-up and shutdown of the server process (src/cli/cmd_serve.c): a clean stop answers
every request in flight; hostile connections do not take it down."""

import json
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import assert_error, assert_ok


def _read_answer(c):
    """One whole answer from c: (status, head lower-cased, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = c.recv(65536)
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    head = head.decode("latin-1").lower()
    length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0])
    while len(body) < length:
        chunk = c.recv(65536)
        assert chunk, f"connection closed after {head!r} {body!r}"
        body += chunk
    return int(head.split(" ", 2)[1]), head, body


def _taken_off_the_wire(c):
    """Three requests, one after the other, on the keep-alive socket c.  With one HTTP thread,
    the third answer comes from a later poll round than any request sent before the first
    (each round reads every connection that is ready, and a connection accepted in one round
    is read in the next): by then the server has read those requests."""
    for _ in range(3):
        c.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _read_answer(c)[0] == 200


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


def test_sigterm_answers_requests_in_flight(make_server):
    """SIGTERM while sign-ins are still hashing: each of them gets its whole answer before
    the server exits 0.  (A lost answer is a race at the very end of shutdown, so the test
    tries several times; one lost answer fails it.)"""
    # Slow password hashing, so that the sign-ins are still running when SIGTERM comes.
    s = make_server(config={"argon2_memory_kib": 32 * 1024, "argon2_passes": 2, "threads": 1})
    for round_ in range(12):
        if round_:
            s.start()
        conns = [_send_login(s.port, f"nobody-{i}") for i in range(3)]
        with socket.create_connection(("127.0.0.1", s.port), timeout=30) as c:
            _taken_off_the_wire(c)
        s.proc.send_signal(signal.SIGTERM)
        answers = [_read_all(c) for c in conns]
        s.stop()  # exits 0 within 10 s, no sanitizer report
        for i, a in enumerate(answers):
            assert a.startswith(b"HTTP/1.1 401 ") and a.endswith(b"}"), \
                f"round {round_}: request {i}, in flight at SIGTERM, was answered {a!r}"
            assert b'"invalid_credentials"' in a


def _keep_checking(port, key, username):
    """POST /v1/check again and again on one keep-alive connection until the server closes it.
    Returns the whole answers as [(status, head, body)], and the bytes of an answer that was
    cut short (b"" when none was: the connection was closed between answers)."""
    body = json.dumps({"username": username, "method": "backup", "code": "aaaa-bbbb-cccc"})
    request = (f"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               f"{body}").encode()
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        while True:
            try:
                c.sendall(request)
            except ConnectionError:
                return answers, b""
            buf = b""
            while True:
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    head = buf[:end].decode("latin-1")
                    length = [int(line.split(":", 1)[1]) for line in head.split("\r\n")
                              if line.lower().startswith("content-length:")]
                    assert len(length) == 1, head
                    if len(buf) >= end + 4 + length[0]:
                        break
                try:
                    chunk = c.recv(65536)
                except ConnectionError:
                    chunk = b""
                if not chunk:
                    return answers, buf
                buf += chunk
            answers.append((int(head.split(" ", 2)[1]), head, buf[end + 4:]))
            if "\r\nconnection: close" in head.lower():
                return answers, c.recv(65536)  # nothing more may come


def test_sigterm_under_load_loses_no_answer(make_server):
    """SIGTERM while keep-alive connections keep sending code checks, each answered from the
    store's writer while its connection is suspended: the server exits 0 (libmicrohttpd is
    never stopped with a connection suspended); every check it made has its whole answer, and
    none is cut short; an answer given once the stop has begun closes its connection, and a
    request too late for a handler gets 503.  (Races again: several rounds.)"""
    s = make_server()
    svc = s.service_key()
    u = s.new_user(svc)  # two-factor off: every check is method_unavailable, and audited
    audited = 0
    for round_ in range(5):
        if round_:
            s.start()
        results = [None] * 16

        def run(i):
            try:
                results[i] = _keep_checking(s.port, svc, u.name)
            except BaseException as e:  # surfaced below
                results[i] = e

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        time.sleep(0.3)
        s.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(60)
        s.stop()  # exits 0 within 10 s, no sanitizer report
        answered = 0
        for r in results:
            if isinstance(r, BaseException):
                raise r
            answers, cut = r
            assert cut == b"", f"round {round_}: an answer was cut short: {cut!r}"
            for status, head, body in answers[:-1]:
                assert "\r\nconnection: close" not in head.lower(), head
            for status, head, body in answers:
                if status == 409:
                    assert json.loads(body)["error"]["code"] == "method_unavailable", body
                    answered += 1
                else:
                    assert status == 503, (head, body)
                    assert json.loads(body)["error"]["code"] == "unavailable", body
                    assert "\r\nconnection: close" in head.lower(), head
        checks = sum(ln.split("\t")[1] == "check"
                     for ln in s.admin("audit", "--user", u.name).stdout.splitlines())
        made, audited = checks - audited, checks
        assert answered > 0, f"round {round_}: no check was answered before SIGTERM"
        assert made == answered, f"round {round_}: {made} checks made, {answered} answered"


def test_sigterm_serves_open_connections_then_closes_them(make_server):
    """After SIGTERM the server takes no new connection, but it still answers what comes on
    the ones open (a request half sent, a keep-alive connection), each answer with
    Connection: close; then it exits 0."""
    s = make_server(config={"threads": 1})  # see _taken_off_the_wire
    svc = s.service_key()
    u = s.new_user(svc)
    body = json.dumps({"username": u.name, "method": "backup", "code": "aaaa-bbbb-cccc"})
    health = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", s.port), timeout=30) as idle, \
            socket.create_connection(("127.0.0.1", s.port), timeout=30) as half:
        idle.sendall(health)
        assert _read_answer(idle)[0] == 200
        # A check whose body has not come yet: the server must wait for it.
        half.sendall((f"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: Bearer {svc}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode())
        _taken_off_the_wire(idle)
        s.proc.send_signal(signal.SIGTERM)
        # The keep-alive connection is still served; once the stop has begun, its answer says
        # Connection: close, and the connection closes.
        _until_connection_close(idle, health)
        assert idle.recv(65536) == b""
        # The half-sent check is answered as usual once its body comes, and closes too.
        half.sendall(body.encode())
        status, head, answer = _read_answer(half)
        assert status == 409 and b'"method_unavailable"' in answer, (head, answer)
        assert "\r\nconnection: close" in head, head
        assert half.recv(65536) == b""
    s.stop()  # exits 0 within 10 s, no sanitizer report


def _until_connection_close(conn, request):
    """Send request on conn again and again (each answered 200) until an answer says
    Connection: close: the stop has begun."""
    for _ in range(500):
        conn.sendall(request)
        status, head, _ = _read_answer(conn)
        assert status == 200, head
        if "\r\nconnection: close" in head:
            return
        time.sleep(0.01)
    pytest.fail("no answer said Connection: close after SIGTERM")


def _send_head_expecting_100(port, head):
    """A connection that has sent head with Expect: 100-continue and got 100 Continue back:
    the server has begun that request (the handler sees it before libmicrohttpd says 100),
    whichever of its HTTP threads took the connection."""
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.sendall(head.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"))
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = c.recv(1)  # one byte at a time: nothing past the interim answer
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    assert buf.startswith(b"HTTP/1.1 100 "), buf
    return c


@pytest.mark.parametrize("threads", [1, 4])
def test_sigterm_refuses_new_connections_while_it_drains(make_server, threads):
    """Once the stop has begun, a new connection is refused at once (a proxy sends a refused
    request to another node; one accepted and then reset it can only answer 502), while the
    requests begun before it still get their whole answers: a sign-in still hashing, and a
    check whose body has not come yet (which keeps the drain open until it does)."""
    s = make_server(config={"argon2_memory_kib": 32 * 1024, "argon2_passes": 2,
                            "threads": threads})
    svc = s.service_key()
    u = s.new_user(svc)
    check = json.dumps({"username": u.name, "method": "backup", "code": "aaaa-bbbb-cccc"})
    login = json.dumps({"username": "nobody", "password": "pw-wrong-123", "client": "web"})
    health = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", s.port), timeout=30) as idle:
        idle.sendall(health)
        assert _read_answer(idle)[0] == 200
        half = _send_head_expecting_100(s.port, (
            f"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {svc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(check)}\r\n\r\n").encode())
        hashing = _send_head_expecting_100(s.port, (
            f"POST /v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(login)}\r\n\r\n").encode())
        hashing.sendall(login.encode())
        s.proc.send_signal(signal.SIGTERM)
        # An answer with Connection: close shows the stop has begun.
        _until_connection_close(idle, health)
        # The check's missing body holds the drain open (for up to 5 s): the server is still
        # running, and refuses every new connection.
        assert s.proc.poll() is None
        for _ in range(20):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", s.port), timeout=5).close()
        half.sendall(check.encode())
        status, head, answer = _read_answer(half)
        assert status == 409 and b'"method_unavailable"' in answer, (head, answer)
        assert "\r\nconnection: close" in head, head
        assert half.recv(65536) == b""
        half.close()
        a = _read_all(hashing)
        assert a.startswith(b"HTTP/1.1 401 ") and a.endswith(b"}"), a
        assert b'"invalid_credentials"' in a
    s.stop()  # exits 0 within 10 s, no sanitizer report


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
