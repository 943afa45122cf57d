"""Many keep-alive connections at once, each request answered from another thread
(src/server/http.c): every request gets its answer, with one HTTP thread or with several.

POST /v1/check runs on the HTTP thread, hands its write to the store's writer (group commit)
and is answered from the commit's callback; its connection is suspended meanwhile and resumed
by the writer.  The clients go in lock step, so that their requests arrive together and their
connections come back together.  That is what stalled libmicrohttpd's epoll loop: when one
epoll_wait() returned a full batch (128 events), it waited again, with the full timeout, before
handling them, and with 128 connections of one HTTP thread ready at once nothing else came.
"""

import asyncio
import json
import time

import pytest

from conftest import TOTP_PERIOD, assert_error

ROUNDS = 80  # requests per connection
STALL_SECONDS = 10  # no answer at all for this long: the server has stalled
TOTAL_SECONDS = 240  # the whole run, however slow the build


async def _drive(port, key, username, connections, rounds):
    """connections keep-alive connections each send rounds POST /v1/check, all connections
    sending each round together; returns [(status, body)] of every answer."""
    body = json.dumps({"username": username, "method": "backup",
                       "code": "aaaa-bbbb-cccc"}).encode()
    request = (f"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    answers = []
    barrier = asyncio.Barrier(connections)

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(rounds):
                await barrier.wait()
                writer.write(request)
                await writer.drain()
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                status = int(head.split(" ", 2)[1])
                length = [int(line.split(":", 1)[1]) for line in head.split("\r\n")
                          if line.lower().startswith("content-length:")]
                assert len(length) == 1, head
                answers.append((status, await reader.readexactly(length[0])))
        finally:
            writer.close()

    tasks = [asyncio.create_task(client()) for _ in range(connections)]
    start = last = time.monotonic()
    seen = 0
    try:
        while not all(t.done() for t in tasks):
            await asyncio.sleep(0.1)
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()
            now = time.monotonic()
            if len(answers) != seen:
                seen, last = len(answers), now
            if now - last > STALL_SECONDS:
                pytest.fail(f"{seen} of {connections * rounds} requests answered, then none "
                            f"for {STALL_SECONDS} s: the server stalled")
            if now - start > TOTAL_SECONDS:
                pytest.fail(f"{seen} of {connections * rounds} requests answered in "
                            f"{TOTAL_SECONDS} s")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return answers


@pytest.mark.parametrize("connections", [128, 200])
@pytest.mark.parametrize("threads", [1, None], ids=["threads_1", "threads_default"])
def test_concurrent_requests_answered_from_the_writer_all_complete(make_server, threads,
                                                                   connections):
    s = make_server(config={"threads": threads} if threads else None)
    svc = s.service_key()
    # Two-factor off: a backup code is method_unavailable, decided in the writer's transaction.
    u = s.new_user(svc)
    answers = asyncio.run(_drive(s.port, svc, u.name, connections, ROUNDS))
    assert len(answers) == connections * ROUNDS
    for status, body in answers:
        assert status == 409, (status, body)
        assert json.loads(body)["error"]["code"] == "method_unavailable", body
    assert s.healthy()


def _send_together(port, requests):
    """Send each (key, body) as POST /v1/check on a connection of its own, all at once;
    returns [(status, body)] in the same order."""

    async def one(barrier, key, body):
        data = json.dumps(body).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await barrier.wait()
            writer.write((f"POST /v1/check HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Authorization: Bearer {key}\r\n"
                          f"Content-Type: application/json\r\n"
                          f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
            await writer.drain()
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            length = [int(line.split(":", 1)[1]) for line in head.split("\r\n")
                      if line.lower().startswith("content-length:")]
            return int(head.split(" ", 2)[1]), json.loads(await reader.readexactly(length[0]))
        finally:
            writer.close()

    async def run():
        barrier = asyncio.Barrier(len(requests))
        return await asyncio.wait_for(
            asyncio.gather(*(one(barrier, k, b) for k, b in requests)), TOTAL_SECONDS)

    return asyncio.run(run())


def test_checks_sent_together_each_get_their_own_verdict(make_server):
    """Code checks that arrive together share the writer's batches (on PostgreSQL one read
    and one consuming statement serve a whole batch): each still gets the verdict it would
    get alone, a replay sent alongside its original is refused, and an account with a
    throttling counter goes the long way and is accepted."""
    s = make_server()
    svc = s.service_key()
    users = [s.new_user(svc, prefix="tog") for _ in range(12)]
    for u in users:
        u.with_totp()
    twice, throttled, wrong = users[0], users[1], users[2]

    def bad_code(u):
        """A code that is wrong for u now (not one of the window's)."""
        near = {u.code_at(s.now() + d * TOTP_PERIOD) for d in (-1, 0, 1)}
        return next(c for c in ("000004", "111115", "222226") if c not in near)

    # A counter for one account: a wrong code, then its backoff waited out.
    assert_error(throttled.check("totp", bad_code(throttled)), 401, "invalid_code")
    s.advance(120)
    codes = {u.name: u.next_totp() for u in users}
    bad = bad_code(wrong)
    requests = [(svc, {"username": u.name, "method": "totp",
                       "code": bad if u is wrong else codes[u.name]}) for u in users]
    requests.append((svc, {"username": twice.name, "method": "totp",
                           "code": codes[twice.name]}))
    requests.append((svc, {"username": "nobody-" + wrong.name, "method": "totp",
                           "code": "123456"}))
    answers = _send_together(s.port, requests)

    for u, (status, body) in zip(users, answers):
        if u is wrong:
            assert (status, body["error"]["code"]) == (401, "invalid_code"), (u.name, body)
        elif u is not twice:
            assert (status, body) == (200, {"status": "ok"}), (u.name, body)
    both = [answers[0], answers[len(users)]]
    assert sorted(status for status, _ in both) == [200, 401], both
    assert [b for st, b in both if st == 401][0]["error"]["code"] == "invalid_code"
    assert answers[-1][0] == 404 and answers[-1][1]["error"]["code"] == "not_found"
    # The audit has what happened, once each: (event, outcome) after the time.
    for u in users:
        checks = [f[1:3] for f in s.audit(u.name) if f[1] == "check"]
        want = {wrong: [["check", "invalid_code"]],
                twice: [["check", "ok"], ["check", "replayed_code"]],
                throttled: [["check", "invalid_code"], ["check", "ok"]]}.get(u, [["check", "ok"]])
        assert sorted(checks) == sorted(want), (u.name, checks)
    assert s.healthy()
