"""Webhook intake throughput and latency: the real app vs a bare aiohttp handler, same client, same machine.

Not a test. Each server runs in its own process on a loopback port; one aiohttp client process sends
POST /webhook with a realistic 5-alert Alertmanager payload (`--concurrency` requests in flight) and
reports requests/s and p50/p99 latency. Every request carries new fingerprints, so the receiver does the
full path (auth, limits, parse, route, dedupe, enqueue) and never the cheaper duplicate answer; its actuator
is a no-op, so the numbers are the intake alone.

    uv run python bench/webhook.py --requests 5000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web

TOKEN = "bench-token"
CONFIG = """
server:
  listen: 127.0.0.1:{port}
  auth: {{bearer_token_file: token}}
  queue_size: 10000
routes:
  - name: critical-and-high
    match: ['rollback="true"', 'severity=~"critical|high"']
    target: {{namespace: '{{{{ labels.namespace }}}}', name: '{{{{ labels.deployment }}}}'}}
    action: rollback
  - name: medium
    match: ['rollback="true"', 'severity="medium"']
    target: {{namespace: '{{{{ labels.namespace }}}}', name: '{{{{ labels.deployment }}}}'}}
    action: rollback
    confirm_for: 5m
"""


def payload(n: int) -> bytes:
    """What Alertmanager 0.25 sends for a group of 5 alerts; `n` makes every fingerprint new."""
    alerts = []
    for i, severity in enumerate(("high", "high", "medium", "critical", "low")):
        alerts.append(
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighErrorRate",
                    "namespace": "shop",
                    "deployment": "ecommerce",
                    "severity": severity,
                    "pod": f"ecommerce-7d9f8b-{i}",
                    "job": "ecommerce",
                    "instance": f"10.0.0.{i}:3000",
                },
                "annotations": {
                    "rollback": "true",
                    "reason": "Error rate exceeded 2%",
                    "summary": "ecommerce 5xx ratio is 3.2%",
                    "runbook_url": "https://runbooks.example/ecommerce/high-error-rate",
                },
                "startsAt": "2026-11-29T09:05:00.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
                "fingerprint": f"{n * 5 + i:016x}",
            }
        )
    return json.dumps(
        {
            "receiver": "rollback-receiver",
            "status": "firing",
            "alerts": alerts,
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {"alertname": "HighErrorRate", "namespace": "shop"},
            "commonAnnotations": {"rollback": "true"},
            "externalURL": "http://alertmanager:9093",
            "version": "4",
            "groupKey": '{}/{severity=~"critical|high|medium|low"}:{alertname="HighErrorRate"}',
            "truncatedAlerts": 0,
        }
    ).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bare_handler(request: web.Request) -> web.Response:
    """The floor: read and parse the body, answer. No auth, validation, routing or queue."""
    data = json.loads(await request.read())
    return web.json_response({"status": "accepted", "alerts": len(data["alerts"])})


def serve_bare(port: int) -> None:
    app = web.Application()
    app.router.add_post("/webhook", bare_handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class NoOpActuator:
    async def handle(self, item: Any) -> None:
        return None


def serve_receiver(port: int, workdir: str) -> None:
    from prometheus_client import CollectorRegistry

    from receiver.config import load_config
    from receiver.pipeline.decision_log import DecisionLog
    from receiver.service import Service
    from receiver.telemetry.metrics import Metrics
    from receiver.web.app import create_app
    from receiver.web.auth import load_credentials
    from receiver.web.server import Listener

    async def main() -> None:
        config = load_config(Path(workdir) / "config.yaml", environ={})
        metrics = Metrics(CollectorRegistry())
        service = Service(
            config,
            load_credentials(config.server, source=config.source),
            metrics=metrics,
            decisions=DecisionLog(config.server.decision_log_entries, metrics),
            pipeline=NoOpActuator(),
            kube_ping=None,
        )
        service.start()
        listener = Listener(create_app(service), host="127.0.0.1", port=port)
        await listener.start()
        await asyncio.Event().wait()

    asyncio.run(main())


async def wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


async def load(port: int, *, requests: int, concurrency: int, warmup: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/webhook"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    bodies = [payload(n) for n in range(warmup + requests)]
    latencies: list[float] = []
    errors = 0

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker(numbers: Any, record: bool) -> None:
            nonlocal errors
            for n in numbers:  # shared iterator: the workers split the requests between them
                started = time.perf_counter()
                async with session.post(url, data=bodies[n], headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                if record:
                    latencies.append(time.perf_counter() - started)

        warm = iter(range(warmup))
        await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
        measured = iter(range(warmup, warmup + requests))
        started = time.perf_counter()
        await asyncio.gather(*(worker(measured, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def memory_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc (Linux)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def run_one(name: str, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        (Path(workdir) / "token").write_text(TOKEN)
        (Path(workdir) / "config.yaml").write_text(CONFIG.format(port=port))
        target, target_args = (serve_bare, (port,)) if name == "bare" else (serve_receiver, (port, workdir))
        # spawn, not fork: a forked server would inherit (and be measured with) the client's memory
        server = multiprocessing.get_context("spawn").Process(target=target, args=target_args, daemon=True)
        server.start()
        try:
            asyncio.run(wait_listening(port))
            assert server.pid is not None
            idle_rss, _ = memory_mib(server.pid)
            result = asyncio.run(
                load(port, requests=args.requests, concurrency=args.concurrency, warmup=args.warmup)
            )
            _, peak_rss = memory_mib(server.pid)
            return {**result, "idle_rss_mib": idle_rss, "peak_rss_mib": peak_rss}
        finally:
            server.terminate()
            server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()
    print(
        f"# {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}; {args.requests} requests x 5 alerts, concurrency {args.concurrency}"
    )
    print(
        f"{'server':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'idle RSS MiB':>13} {'peak RSS MiB':>13}"
    )
    for name in ("bare", "receiver"):
        result = run_one(name, args)
        print(
            f"{name:<10} {result['rps']:>9.0f} {result['p50_ms']:>8.2f} {result['p99_ms']:>8.2f} "
            f"{int(result['errors']):>7} {result['idle_rss_mib']:>13.1f} {result['peak_rss_mib']:>13.1f}"
        )


if __name__ == "__main__":
    main()
