"""An alert storm against three replicas on a real control plane: 10,000 alert deliveries in 10 s.

Not a test. Starts its own control plane on loopback, 50 Deployments (5 namespaces x 10, each with a
previous revision to roll back to) and three `rollback-receiver serve` replicas sharing one token and one
state ConfigMap, as a Deployment of `replicaCount: 3` behind a Service would. Then, within `--seconds`:

- 1,000 distinct alerts (20 firing episodes per workload, each its own fingerprint);
- each one delivered `--repeats` times (Alertmanager's repeats of a group: the first delivery, then
  one every `--seconds / repeats`), in payloads grouped by namespace;
- every payload sent to two different replicas (an HA pair of Alertmanagers, each notifying on its own);
- a 503 is retried half a second later, as Alertmanager retries.

With the defaults that is 1,000 x 5 x 2 = 10,000 alert deliveries. It prints the HTTP codes, whether the
budgets held exactly (rollbacks performed, Events, Deployments back at their previous image, per
namespace), each replica's RSS before and after, the state ConfigMap's size (largest seen while polling),
its write conflicts per second (the API server's own count of 409 answers to ConfigMap patches), and how
long after the first delivery the queues were drained and the last decision made.

    uv run python bench/storm.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.controlplane import ControlPlane
from harness.metrics import metric_samples
from harness.receiver import ReceiverProcess, webhook_alert, webhook_payload

NAMESPACES, PER_NAMESPACE = 5, 10
NS_BUDGET, GLOBAL_BUDGET = 3, 10
V1, V2 = "registry.example/shop:v1", "registry.example/shop:v2"
STATE_NAME = "rollback-receiver-state"


def create_deployments(plane: ControlPlane, namespaces: list[str]) -> list[tuple[str, str]]:
    targets = [(ns, f"w{i}") for ns in namespaces for i in range(PER_NAMESPACE)]

    def manifest(ns: str, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": V1}]},
                },
            },
        }

    items = [manifest(*t) for t in targets]
    plane.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    for ns in namespaces:
        plane.kubectl("rollout", "status", "deployment", "-n", ns, "--timeout=300s")
        plane.kubectl("set", "image", "deployment", "--all", f"app={V2}", "-n", ns)
    for ns in namespaces:
        plane.kubectl("rollout", "status", "deployment", "-n", ns, "--timeout=300s")
    return targets


def config(namespaces: list[str]) -> dict[str, Any]:
    return {
        "cluster_name": "bench",
        "namespaces": {"allow": namespaces},
        "state": {"namespace": namespaces[0], "name": STATE_NAME},
        "defaults": {"verify_timeout": "90s"},
        "limits": {
            "per_namespace": {"max": NS_BUDGET, "per": "1h"},
            "global": {"max": GLOBAL_BUDGET, "per": "1h"},
            "max_concurrent": GLOBAL_BUDGET,
        },
        "routes": [
            {
                "name": "rollback",
                "match": ['rollback="true"'],
                "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
                "action": "rollback",
            }
        ],
    }


def schedule(
    targets: list[tuple[str, str]], *, episodes: int, repeats: int, seconds: float, per_payload: int
) -> list[tuple[float, dict[str, Any]]]:
    """(send time, payload): every alert's first delivery within the first repeat interval, then its
    repeats one interval apart; each time slot's alerts grouped by namespace into payloads."""
    interval = seconds / repeats
    slots = 20
    alerts = [
        webhook_alert(ns, name, fingerprint=secrets.token_hex(8), starts_at=datetime.now(UTC))
        for _ in range(episodes)
        for ns, name in targets
    ]
    random.shuffle(alerts)
    by_time: dict[float, dict[str, list[dict[str, Any]]]] = {}
    for index, alert in enumerate(alerts):
        first = (index % slots) * interval / slots
        for k in range(repeats):
            group = by_time.setdefault(first + k * interval, {})
            group.setdefault(alert["labels"]["namespace"], []).append(alert)
    out: list[tuple[float, dict[str, Any]]] = []
    for at, groups in sorted(by_time.items()):
        for group in groups.values():
            for i in range(0, len(group), per_payload):
                out.append((at, webhook_payload(group[i : i + per_payload])))
    return out


def rss_mib(pid: int) -> tuple[float, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def configmap_patches(plane: ControlPlane) -> tuple[float, float]:
    """(PATCH requests, 409 Conflict answers) of the API server to ConfigMaps, from its /metrics."""
    _, text = plane.api("GET", "/metrics")
    patches = conflicts = 0.0
    for labels, value in metric_samples(str(text), "apiserver_request_total"):
        if labels.get("resource") == "configmaps" and labels.get("verb") == "PATCH":
            patches += value
            if labels.get("code") == "409":
                conflicts += value
    return patches, conflicts


def state_bytes(plane: ControlPlane, namespace: str) -> int:
    status, body = plane.api("GET", f"/api/v1/namespaces/{namespace}/configmaps/{STATE_NAME}")
    if status != 200:
        return 0
    return len(((body.get("data") or {}).get("state.json") or "").encode())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=20, help="distinct alerts per workload")
    parser.add_argument("--repeats", type=int, default=5, help="deliveries of each alert")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--per-payload", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--senders", type=int, default=32, help="concurrent HTTP clients")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rr-bench-storm-") as workdir:
        plane = ControlPlane(Path(workdir) / "cp").start()
        replicas: list[ReceiverProcess] = []
        try:
            namespaces = [f"storm-{i}" for i in range(NAMESPACES)]
            for ns in namespaces:
                plane.kubectl("create", "namespace", ns)
            targets = create_deployments(plane, namespaces)
            first = ReceiverProcess(
                Path(workdir) / "r0",
                kubeconfig=plane.kubeconfig,
                config=config(namespaces),
            )
            replicas.append(first)
            for i in range(1, args.replicas):
                replicas.append(
                    ReceiverProcess(
                        Path(workdir) / f"r{i}",
                        kubeconfig=plane.kubeconfig,
                        config=config(namespaces),
                        token_file=first.token_file,
                    )
                )
            for replica in replicas:
                replica.start()
            pids = [r.process.pid for r in replicas]
            assert all(pid is not None for pid in pids)
            rss_before = [rss_mib(pid)[0] for pid in pids if pid is not None]
            plan = schedule(
                targets,
                episodes=args.episodes,
                repeats=args.repeats,
                seconds=args.seconds,
                per_payload=args.per_payload,
            )
            deliveries = sum(len(p["alerts"]) for _, p in plan) * 2
            distinct = len(targets) * args.episodes
            patches0, conflicts0 = configmap_patches(plane)
            codes: Counter[int] = Counter()
            latencies: list[float] = []
            lock = threading.Lock()
            state_sizes: list[int] = []
            stop_polling = threading.Event()

            def poll_state() -> None:
                while not stop_polling.is_set():
                    state_sizes.append(state_bytes(plane, namespaces[0]))
                    stop_polling.wait(0.5)

            t0 = time.monotonic()

            def deliver(at: float, payload: dict[str, Any], replica: ReceiverProcess) -> None:
                delay = t0 + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                while True:
                    started = time.monotonic()
                    code = replica.post(payload)
                    with lock:
                        codes[code] += 1
                        latencies.append(time.monotonic() - started)
                    if code != 503:
                        return
                    time.sleep(0.5)

            poller = threading.Thread(target=poll_state, daemon=True)
            poller.start()
            with ThreadPoolExecutor(max_workers=args.senders) as pool:
                futures = []
                for at, payload in plan:
                    pair = random.sample(replicas, 2) if len(replicas) > 1 else replicas * 2
                    futures += [pool.submit(deliver, at, payload, replica) for replica in pair]
                for future in futures:
                    future.result()
            sent = time.monotonic() - t0

            def totals() -> tuple[float, float]:
                depth = decided = 0.0
                for replica in replicas:
                    text = replica.metrics()
                    depth += sum(v for _, v in metric_samples(text, "rollback_receiver_queue_depth"))
                    decided += sum(v for _, v in metric_samples(text, "rollback_receiver_decisions_total"))
                return depth, decided

            drained_at = last_decision_at = None
            last_decided = -1.0
            while True:
                depth, decided = totals()
                now = time.monotonic() - t0
                if depth == 0 and drained_at is None:
                    drained_at = now
                if decided != last_decided:
                    last_decided, last_decision_at = decided, now
                elif drained_at is not None and now - (last_decision_at or now) > 5:
                    break
                if now > 900:
                    break
                time.sleep(0.25)
            stop_polling.set()
            poller.join(5)
            elapsed = time.monotonic() - t0
            patches1, conflicts1 = configmap_patches(plane)
            rss_after = [rss_mib(pid) for pid in pids if pid is not None]

            decisions: Counter[tuple[str, str]] = Counter()
            rollbacks = 0.0
            for replica in replicas:
                text = replica.metrics()
                for labels, value in metric_samples(text, "rollback_receiver_decisions_total"):
                    decisions[(labels["decision"], labels["reason"])] += int(value)
                for labels, value in metric_samples(text, "rollback_receiver_rollbacks_total"):
                    if labels.get("result") == "succeeded":
                        rollbacks += value
            triggered: Counter[str] = Counter()
            for ns in namespaces:
                for event in plane.kubectl_json("get", "events", "-n", ns)["items"]:
                    if event.get("reason") == "RollbackTriggered":
                        triggered[ns] += int(event.get("count") or 1)
            images = Counter(
                d["spec"]["template"]["spec"]["containers"][0]["image"]
                for ns in namespaces
                for d in plane.kubectl_json("get", "deployments", "-n", ns)["items"]
            )
            final_state = state_bytes(plane, namespaces[0])
        finally:
            for replica in replicas:
                replica.stop()
            plane.stop(keep_logs=False)

    latencies.sort()
    load = os.getloadavg()
    print(
        f"# {platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; "
        f"load average at the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )
    print(
        f"storm: {distinct} distinct alerts x {args.repeats} deliveries x 2 (HA pair) = {deliveries} alert "
        f"deliveries in {len(plan) * 2} requests, {args.replicas} replicas; sent in {sent:.1f}s"
    )
    print(
        f"HTTP: {dict(sorted(codes.items()))}; request p50 / p99 / max "
        f"{latencies[len(latencies) // 2] * 1000:.0f} / {latencies[int(len(latencies) * 0.99)] * 1000:.0f} / "
        f"{latencies[-1] * 1000:.0f} ms"
    )
    print(
        f"budgets: {rollbacks:.0f} rollbacks succeeded (global budget {GLOBAL_BUDGET}), RollbackTriggered "
        f"Events per namespace {dict(sorted(triggered.items()))} (budget {NS_BUDGET} each), "
        f"Deployments back at the previous image: {images.get(V1, 0)}"
    )
    print(f"decisions: {sum(decisions.values())} in all, {dict(sorted(decisions.items()))}")
    for i, (before, (after, peak)) in enumerate(zip(rss_before, rss_after, strict=True)):
        print(
            f"replica {i}: RSS {before:.1f} -> {after:.1f} MiB (+{after - before:.1f}), peak {peak:.1f} MiB"
        )
    print(
        f"state ConfigMap: {final_state} bytes at the end, largest seen {max(state_sizes, default=0)} bytes; "
        f"ConfigMap PATCHes {patches1 - patches0:.0f}, 409 conflicts {conflicts1 - conflicts0:.0f} "
        f"({(conflicts1 - conflicts0) / elapsed:.1f}/s over {elapsed:.0f}s)"
    )
    print(
        f"queues drained {drained_at:.1f}s after the first delivery; last decision at {last_decision_at:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
