"""Slow, idle and greedy clients are bounded: the request-head deadline and size, the connection cap with
eviction of idle connections, the bodies in flight, keep-alive and pipelining still working.

All through the real listener on loopback. Durations are bounds on hangs, not timing assertions; the
latency figures are measured by bench/edge.py (bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from web_support import AUTH, HEADERS, JSON, MakeClient, alert, body, raw_exchange, raw_request

from receiver.web.limits import MAX_HEADER_BYTES

SLOW_SOCKETS = 500
HANG = 10.0  # seconds: anything slower than this is a hang, not a slow answer
CLOSED = "rollback_receiver_http_connections_closed_total"


def ensure_fds(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.fail(
                f"this test needs {needed} file descriptors; raise the hard limit (ulimit -Hn {needed})"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@contextlib.asynccontextmanager
async def slow_header_sockets(port: int, count: int, *, every: float = 1.0) -> AsyncIterator[list[Any]]:
    """`count` connections that started a request head and add one header byte every `every` seconds."""
    writers: list[asyncio.StreamWriter] = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        writers.append(writer)

    async def dribble() -> None:
        while True:
            await asyncio.sleep(every)
            for writer in writers:
                if not writer.is_closing():
                    writer.write(b"a")

    task = asyncio.create_task(dribble())
    try:
        yield writers
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for writer in writers:
            writer.close()


async def timed_webhook(url: str) -> tuple[int, float]:
    started = time.perf_counter()
    async with (
        asyncio.timeout(HANG),
        aiohttp.ClientSession() as session,
        session.post(f"{url}/webhook", data=body(alert()), headers=HEADERS) as response,
    ):
        await response.read()
        return response.status, time.perf_counter() - started


async def test_a_webhook_is_answered_while_500_slow_header_sockets_are_open(make_client: MakeClient) -> None:
    ensure_fds(4 * SLOW_SOCKETS)
    client, harness = await make_client(request_timeout="60s")
    async with slow_header_sockets(client.port, SLOW_SOCKETS):
        await asyncio.sleep(0.5)
        assert harness.listener is not None and harness.listener.open_connections == SLOW_SOCKETS
        status, seconds = await timed_webhook(client.url)
    assert status == 200, seconds
    assert len(harness.actuator.items) == 1


async def test_at_the_cap_newcomers_evict_the_oldest_idle_connections(make_client: MakeClient) -> None:
    client, harness = await make_client(request_timeout="60s", listener={"max_connections": 50})
    async with slow_header_sockets(client.port, 50):
        await asyncio.sleep(1.2)  # past the eviction grace: the 50 may now be pushed out
        async with slow_header_sockets(client.port, 70):
            await asyncio.sleep(0.5)
            assert harness.listener is not None and harness.listener.open_connections == 50
            assert harness.sample(CLOSED, {"reason": "evicted"}) == 50  # the old ones
            assert harness.sample(CLOSED, {"reason": "refused"}) == 20  # the rest: nobody old enough
            await asyncio.sleep(1.0)
            status, _ = await timed_webhook(client.url)  # evicts one more, and is answered
            assert status == 200
    assert harness.sample("rollback_receiver_http_connections_limit") == 50


async def test_eviction_spares_an_idle_kept_alive_connection(make_client: MakeClient) -> None:
    client, harness = await make_client(request_timeout="60s", listener={"max_connections": 20})
    created: list[object] = []
    tracing = aiohttp.TraceConfig()

    async def on_create(*_: Any) -> None:
        created.append(object())

    tracing.on_connection_create_end.append(on_create)
    async with aiohttp.ClientSession(trace_configs=[tracing]) as pooled:  # Alertmanager's kept connection
        url = f"{client.url}/webhook"
        async with pooled.post(url, data=body(alert()), headers=HEADERS) as response:
            assert response.status == 200
        async with slow_header_sockets(client.port, 19):  # the cap, with our idle pooled connection
            await asyncio.sleep(1.2)
            async with slow_header_sockets(client.port, 19):  # each evicts one: which?
                await asyncio.sleep(0.5)
                assert harness.sample(CLOSED, {"reason": "evicted"}) == 19
                async with pooled.post(
                    url, data=body(alert(fingerprint="f" * 16)), headers=HEADERS
                ) as response:
                    assert response.status == 200
    # One connection for both: the slow ones were evicted, the oldest (ours, idle) was not.
    assert len(created) == 1


async def test_when_every_connection_is_busy_a_newcomer_gets_503(make_client: MakeClient) -> None:
    client, harness = await make_client(request_timeout="60s", listener={"max_connections": 4})
    writers = []
    try:
        for _ in range(4):  # complete heads, bodies still coming: busy, not evictable
            _, writer = await asyncio.open_connection("127.0.0.1", client.port)
            writer.write(raw_request("POST", "/webhook", b'{"version"', HEADERS, length=5000))
            writers.append(writer)
        await asyncio.sleep(0.3)
        answer = await raw_exchange(client.port, raw_request("POST", "/webhook", body(alert()), HEADERS))
        assert answer.status == 503
        assert answer.headers["retry-after"] == "1"
        assert answer.json() == {"error": "too many connections busy; retry"}
        assert harness.sample(CLOSED, {"reason": "refused"}) == 1
    finally:
        for writer in writers:
            writer.close()
    await asyncio.sleep(0.3)
    assert (await client.post("/webhook", data=body(alert()), headers=HEADERS)).status == 200


async def test_an_incomplete_head_gets_408_at_the_deadline_even_while_dribbling(
    make_client: MakeClient,
) -> None:
    client, harness = await make_client(request_timeout="1s")
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    started = time.monotonic()
    writer.write(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
    raw = b""
    async with asyncio.timeout(HANG):
        while not raw:
            writer.write(b"X")  # a byte every 0.1 s does not move the deadline
            await asyncio.sleep(0.1)
            with contextlib.suppress(TimeoutError):
                raw = await asyncio.wait_for(reader.read(4096), 0.01)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert raw.endswith(b'{"error": "request head not received within 1s"}')
    assert time.monotonic() - started >= 0.9
    assert harness.sample(CLOSED, {"reason": "head_timeout"}) == 1


async def test_a_connection_that_never_speaks_is_closed_at_the_deadline(make_client: MakeClient) -> None:
    client, harness = await make_client(request_timeout="1s")
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    async with asyncio.timeout(HANG):
        assert await reader.read() == b""  # closed, nothing said
    writer.close()
    assert harness.sample(CLOSED, {"reason": "idle"}) == 1


async def test_a_head_over_the_size_limit_gets_431(client_and_harness: tuple[Any, Any]) -> None:
    client, harness = client_and_harness
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (n, b"f" * 4000) for n in range(MAX_HEADER_BYTES // 4000 + 1))
    answer = await raw_exchange(
        client.port, raw_request("POST", "/webhook", body(alert()), HEADERS, raw_headers=headers)
    )
    assert answer.status == 431
    assert answer.json() == {"error": f"request line and headers longer than {MAX_HEADER_BYTES} bytes"}
    assert harness.actuator.items == []


async def test_keep_alive_and_pipelining_still_work(client_and_harness: tuple[Any, Any]) -> None:
    client, harness = client_and_harness
    async with aiohttp.ClientSession() as session:
        for n in range(3):
            async with session.post(
                f"{client.url}/webhook", data=body(alert(fingerprint=f"{n + 1:016x}")), headers=HEADERS
            ) as response:
                assert response.status == 200
        assert harness.listener.open_connections == 1  # one connection for the three
    # Two requests in one write, on one connection: two answers, in order.
    first = raw_request("GET", "/healthz").replace(b"Connection: close", b"Connection: keep-alive")
    answer = await raw_exchange(client.port, first + raw_request("GET", "/api/v1/decisions", headers=AUTH))
    assert answer.status == 200
    assert b'"decisions"' in answer.body and b"HTTP/1.1 200" in answer.body


async def test_an_early_401_reaches_a_client_still_sending_a_large_body(make_client: MakeClient) -> None:
    client, _ = await make_client(max_body_bytes=4 << 20)
    big = b'{"pad": "' + b"x" * (3 << 20) + b'"}'
    wrong = {**JSON, "Authorization": "Bearer wrong"}
    answer = await raw_exchange(client.port, raw_request("POST", "/webhook", big, wrong))
    assert (answer.status, answer.json()) == (401, {"error": "authentication required"})


async def test_bodies_in_flight_are_bounded(make_client: MakeClient) -> None:
    client, harness = await make_client(max_body_bytes=4096, request_timeout="60s")
    writers = []
    try:
        for _ in range(8):  # 8 x 4096 bytes reserved: the whole budget
            _, writer = await asyncio.open_connection("127.0.0.1", client.port)
            writer.write(raw_request("POST", "/webhook", b'{"version"', HEADERS, length=4096))
            writers.append(writer)
        await asyncio.sleep(0.3)
        answer = await raw_exchange(client.port, raw_request("POST", "/webhook", body(alert()), HEADERS))
        assert answer.status == 503
        assert answer.headers["retry-after"] == "1"
        assert (
            answer.json()["error"]
            == "too many request bodies in flight (32768 of 32768 bytes reserved); retry"
        )
    finally:
        for writer in writers:
            writer.close()
    await asyncio.sleep(0.3)
    assert (await client.post("/webhook", data=body(alert()), headers=HEADERS)).status == 200
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "503"}) == 1


async def test_the_tls_handshake_counts_against_the_head_deadline(
    make_client: MakeClient, tmp_path: Any
) -> None:
    from web_support import config_dict, make_pki

    pki = make_pki(tmp_path)
    config = config_dict(
        request_timeout="1s", tls={"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    )
    client, harness = await make_client(config=config)
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
    async with asyncio.timeout(HANG):
        assert await reader.read() == b""
    writer.close()
    assert harness.sample(CLOSED, {"reason": "head_timeout"}) == 1
    assert harness.listener is not None and harness.listener.open_connections == 0
