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
