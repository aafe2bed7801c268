"""The hostile HTTP edge under load: webhook latency beside slow-header sockets, and peak memory of the real
`serve` process under a storm of everything the edge bounds.

Not a test. Starts a real control plane on loopback (built by scripts/build-control-plane.sh) and one
`rollback-receiver serve` (harness.receiver.ReceiverProcess) with the default limits, then:

1. latency: 100 valid webhooks, one new connection each (as Alertmanager after an idle period), while 0,
   500 and 2,000 slow-header sockets are open (each sends a request head one byte a second and reconnects
   when the server drops it; above the 512-connection cap they evict each other);
2. per-connection memory: RSS with 500 slow sockets open, minus idle, over 500;
3. storm: first 1,200 alerts with 60 KB alertnames (a full decision log of maximal entries), then for
   `--storm-seconds`, all at once: 2,000 reconnecting slow-header sockets, 4 loops posting ~1 MB payloads
   of such alerts, 64 uploads of 1 MiB bodies sent slowly (the in-flight budget turns most away with 503),
   4 loops posting gzip bombs (50 MB of spaces), and 8 loops reading GET /api/v1/decisions?limit=1000;
   then the process's peak RSS (VmHWM) against the formula of docs/operations.md ("Limits and memory"),
   whose terms are measured in-process here too.

    uv run python bench/edge.py
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from harness.controlplane import ControlPlane
from harness.processes import sigterm_as_interrupt
from harness.receiver import ReceiverProcess

MIB = 1024 * 1024
CONFIG: dict[str, Any] = {
    "cluster_name": "bench",
    "namespaces": {"allow": ["bench"]},
    "state": {"namespace": "default", "name": "rollback-receiver-state"},
    "routes": [
        {
            "name": "rollback",
            "match": ['rollback="true"'],
            "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
            "action": "rollback",
        }
    ],
}


def memory_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc (Linux)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def alert(n: int, name: str = "HighErrorRate", rollback: bool = False) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "namespace": "bench", "deployment": "web", "n": str(n)},
        "annotations": {"rollback": "true"} if rollback else {},
        "startsAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": f"{n:016x}",
    }


def payload(alerts: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "bench",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.invalid",
            "alerts": alerts,
        }
    ).encode()


class SlowSockets:
    """`count` connections dribbling a request head; a dropped one reconnects (as an attacker would)."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.reconnects = 0
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> SlowSockets:
        self._tasks = [asyncio.create_task(self._one()) for _ in range(self.count)]
        await asyncio.sleep(min(5.0, 0.002 * self.count + 0.5))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping = True  # (a cancel alone can be lost in 3.11's wait_for)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _one(self) -> None:
        first = True
        while not self._stopping:
            if not first:
                self.reconnects += 1
                await asyncio.sleep(1.0)  # dropped: come back a second later
            first = False
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.5)
                continue
            try:
                writer.write(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                while not reader.at_eof() and not self._stopping:
                    writer.write(b"a")
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            if await reader.read(1024) == b"":
                                break
            except OSError:
                pass
            finally:
                writer.close()


async def webhook_latencies(receiver: ReceiverProcess, count: int) -> tuple[list[float], int]:
    """Latencies of `count` webhooks, each on a new connection; and how many were not answered 200."""
    times, failed = [], 0
    headers = {**receiver.auth_headers, "Content-Type": "application/json"}
    for n in range(count):
        async with aiohttp.ClientSession() as session:  # a new connection each time
            started = time.perf_counter()
            try:
                async with session.post(
                    f"{receiver.url}/webhook", data=payload([alert(10_000_000 + n)]), headers=headers
                ) as response:
                    await response.read()
                    failed += response.status != 200
            except aiohttp.ClientError:
                failed += 1
            times.append(time.perf_counter() - started)
    return times, failed


async def storm(receiver: ReceiverProcess, seconds: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    headers = {**receiver.auth_headers, "Content-Type": "application/json"}
    deadline = time.monotonic() + seconds

    def count(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    async def send(session: aiohttp.ClientSession, method: str, path: str, what: str, **kw: Any) -> int:
        try:
            async with session.request(method, f"{receiver.url}{path}", **kw) as r:
                await r.read()
                count(f"{what} {r.status}")
                return r.status
        except (aiohttp.ClientError, TimeoutError) as exc:  # an idle pooled connection was evicted
            count(f"{what} {type(exc).__name__}")
            return 0

    async def big_names(session: aiohttp.ClientSession, worker: int, posts: int) -> None:
        """~1 MB payloads of 16 alerts with 60 KB alertnames: the parse and the decision log at their
        largest (each alert a new `no_route` decision)."""
        n = 0
        while n < posts and (time.monotonic() < deadline or not posts_until_deadline):
            base = (worker * 1000 + n) * 16
            alerts = [alert(base + i, f"{base + i:08d}" + "x" * 60_000) for i in range(16)]
            if (
                await send(session, "POST", "/webhook", "big-payload", data=payload(alerts), headers=headers)
                == 200
            ):
                n += 1
            else:
                await asyncio.sleep(0.2)  # shed (503) or evicted: retry, as Alertmanager does

    async def slow_upload() -> None:
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
                head = (
                    "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Authorization: {headers['Authorization']}\r\nContent-Length: {MIB}\r\n\r\n"
                )
                writer.write(head.encode())
                answer, sent = b"", 0
                while not answer and sent < MIB and time.monotonic() < deadline:
                    writer.write(b" " * 65536)  # 64 KiB every half second
                    sent += 65536
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.5):
                            answer = await reader.read(200)
                count(f"slow-upload {answer[9:12].decode() or 'unanswered'}")
                writer.close()
            except (OSError, TimeoutError) as exc:
                count(f"slow-upload {type(exc).__name__}")

    bomb = gzip.compress(b" " * (50 * MIB), 9)
    bomb_headers = {**headers, "Content-Encoding": "gzip"}

    async def bombs(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            await send(session, "POST", "/webhook", "gzip-bomb", data=bomb, headers=bomb_headers)

    async def decisions(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            path = "/api/v1/decisions?limit=1000"
            await send(session, "GET", path, "decisions", headers=receiver.auth_headers)

    timeout = aiohttp.ClientTimeout(total=30)
    posts_until_deadline = False
    async with aiohttp.ClientSession(timeout=timeout) as session:  # first fill the decision log: 1,200 alerts
        await asyncio.gather(*(big_names(session, w, 5) for w in range(15)))
    posts_until_deadline = True
    async with SlowSockets(receiver.port, 2000), aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(
            *(big_names(session, 100 + w, 1_000_000) for w in range(4)),
            *(slow_upload() for _ in range(64)),
            *(bombs(session) for _ in range(4)),
            *(decisions(session) for _ in range(8)),
        )
    return counts


def in_process_terms() -> dict[str, float]:
    """The formula's per-item terms, measured with tracemalloc on the real code."""
    from receiver.core.alerts import decode_payload
    from receiver.core.decisions import Decision, Reason, Verdict
    from receiver.pipeline.decision_log import DecisionLog

    # One max-size payload of many small alerts: the parse's expansion factor over max_body_bytes.
    alerts, size = [], 0
    while size < MIB - 4096:
        alerts.append(alert(len(alerts)) | {"annotations": {"summary": "s" * 40}})
        size = len(payload(alerts))
    body = payload(alerts[:-1])
    tracemalloc.start()
    decoded = decode_payload(body, max_alerts=10_000)
    _, parse_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del decoded

    log = DecisionLog(1000)
    tracemalloc.start()
    for n in range(1000):
        name = "é" * 60_000  # non-ASCII: the widest str storage Python uses for these
        log.record(
            Decision(
                Verdict.SKIP,
                Reason.NO_ROUTE,
                f"alert {name} (firing) matches no route",
                f"{n:016x}@t",
                name,
                None,
                None,
            )
        )
    log_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "parse_expansion": parse_peak / len(body),
        "payload_alerts": len(alerts) - 1,
        "decision_entry_kib": log_bytes / 1000 / 1024,
    }


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--storm-seconds", type=float, default=60.0)
    args = parser.parse_args()
    print(
        f"# {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    import logging

    # The attacking side writes to sockets the server has closed: that is the point, not news.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    logging.disable(logging.INFO)  # the decision log of the in-process measurement
    terms = in_process_terms()
    logging.disable(logging.NOTSET)
    print(
        f"parse of a 1 MiB payload ({terms['payload_alerts']} alerts): peak "
        f"{terms['parse_expansion']:.1f} x its size; one maximal decision-log entry: "
        f"{terms['decision_entry_kib']:.1f} KiB"
    )
    with sigterm_as_interrupt(), tempfile.TemporaryDirectory() as workdir:
        plane = ControlPlane(Path(workdir) / "cp").start()
        receiver = ReceiverProcess(Path(workdir) / "receiver", kubeconfig=plane.kubeconfig, config=CONFIG)
        try:
            receiver.start()
            pid = receiver.process.pid
            assert pid is not None
            idle, _ = memory_mib(pid)
            print(f"serve idle RSS: {idle:.1f} MiB")
            asyncio.run(webhook_latencies(receiver, 20))  # warm up
            per_connection = 0.0
            for sockets in (0, 500, 2000):

                async def measure(count: int = sockets) -> tuple[list[float], int, int, float]:
                    async with SlowSockets(receiver.port, count) as slow:
                        rss, _ = memory_mib(pid)
                        times, failed = await webhook_latencies(receiver, 100)
                        return times, failed, slow.reconnects, rss

                times, failed, reconnects, rss = asyncio.run(measure())
                times.sort()
                if sockets == 500:
                    per_connection = (rss - idle) * 1024 / 500
                print(
                    f"{sockets:>5} slow sockets: webhook p50 {statistics.median(times) * 1000:.1f} ms, "
                    f"p99 {times[98] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms; "
                    f"not answered 200: {failed}/100; RSS {rss:.1f} MiB; slow sockets dropped: {reconnects}"
                )
            print(f"per open connection: {per_connection:.1f} KiB")
            counts = asyncio.run(storm(receiver, args.storm_seconds))
            current, peak = memory_mib(pid)
            print(f"storm ({args.storm_seconds:g} s): {json.dumps(dict(sorted(counts.items())))}")
            print(f"after the storm: RSS {current:.1f} MiB, peak RSS (VmHWM) {peak:.1f} MiB")
            closed = receiver.samples("rollback_receiver_http_connections_closed_total")
            print(f"connections closed by the edge, by reason: {closed}")
            print(f"webhook answers: {receiver.samples('rollback_receiver_webhook_requests_total')}")
        finally:
            receiver.stop()
            plane.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
