"""bench/loadgen against a scripted HTTP server: the figures it prints must be honest.

The server here answers as many requests as a test allows and then holds the next one
unanswered, so that a run of the load generator ends with a known number of answers and
known latencies.  `make cli-tests` builds the load generator (LOADGEN, default
build/bench/loadgen).
"""

import base64
import http.server
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import _binary, run


@pytest.fixture(scope="session")
def loadgen():
    return _binary("LOADGEN", "build/bench/loadgen")


class Script:
    """What the server does: per connection (in the order they come), how many requests it
    answers 200 before it holds one unanswered, and delay(connection, request), the seconds
    it waits before each answer."""

    def __init__(self, budgets, delay=lambda conn, req: 0):
        self.budgets = list(budgets)
        self.delay = delay
        self.lock = threading.Lock()
        self.connections = 0


def serve(script):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with script.lock:
                self.conn_no = script.connections
                script.connections += 1
            self.req_no = 0

        def answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            budget = script.budgets[min(self.conn_no, len(script.budgets) - 1)]
            if self.req_no >= budget:
                time.sleep(60)  # hold it: the run ends without this answer
            time.sleep(script.delay(self.conn_no, self.req_no))
            self.req_no += 1
            # one write, so that an answer never arrives in two parts at different times
            body = b'{"status":"ok"}'
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

        do_GET = do_POST = answer

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda *args: None  # a held answer's client has gone: expected
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def figures(line):
    m = re.search(r"([\d.]+) req/s ok, p50 ([\d.]+) ms, p99 ([\d.]+) ms \((\d+) ok", line)
    assert m, line
    return float(m[1]), float(m[2]), float(m[3]), int(m[4])


def test_p99_is_the_nearest_rank_not_one_past_it(loadgen):
    # 100 answers, one of them slow: the 99th percentile of 100 latencies is the 99th
    # smallest, a fast one.  Only the maximum is slow.
    srv = serve(Script([100], delay=lambda conn, req: 0.3 if req == 0 else 0))
    try:
        r = run(loadgen, "get", f"http://127.0.0.1:{srv.server_port}/", "1", "1")
    finally:
        srv.shutdown()
    assert r.returncode == 0, r.stderr
    rate, p50, p99, ok = figures(r.stdout)
    assert ok == 100
    assert p50 < 100 and p99 < 100, r.stdout


def test_rate_is_over_the_measured_time_not_the_nominal_one(loadgen):
    # One connection, one second: 298 quick answers, the 299th 40 ms before the second is up
    # and the 300th 10 ms after it, read while the generator waits for it (it waits up to
    # 100 ms).  It counts the 300th, so the time it divides by must be the 1.01 s or more it
    # measured, not 1 s.
    start = []

    def delay(conn, req):
        if req == 0:
            start.append(time.monotonic())
        until = {298: 0.96, 299: 1.01}.get(req)
        return max(0, start[0] + until - time.monotonic()) if until else 0

    srv = serve(Script([300], delay))
    try:
        r = run(loadgen, "get", f"http://127.0.0.1:{srv.server_port}/", "1", "1")
    finally:
        srv.shutdown()
    assert r.returncode == 0, r.stderr
    rate, p50, p99, ok = figures(r.stdout)
    assert ok == 300, r.stdout
    assert rate < 298, r.stdout


def secrets_file(tmp_path, accounts):
    path = tmp_path / "secrets"
    path.write_text("".join(f"b{i:07d} {base64.b32encode(os.urandom(20)).decode()}\n"
                            for i in range(accounts)))
    return str(path)


def test_median_of_an_even_number_of_runs_is_not_the_faster_middle_one(loadgen, tmp_path):
    # Two runs of one connection each (the second on a fresh step, so a fresh connection):
    # the first gets 40 answers in its second, the second 10.  Their median must not be
    # reported as the faster run; the slower middle one is the figure that cannot flatter.
    srv = serve(Script([40, 10]))
    try:
        r = subprocess.run([loadgen, "verify", f"http://127.0.0.1:{srv.server_port}", "key",
                            secrets_file(tmp_path, 50), "1", "1"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, RUNS="2"))
    finally:
        srv.shutdown()
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [figures(line)[3] for line in lines[:2]] == [40, 10], r.stdout
    assert lines[2].startswith("verify, median run of 2"), r.stdout
    assert float(re.search(r": ([\d.]+) req/s", lines[2])[1]) <= 10.5, r.stdout
