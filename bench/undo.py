"""Decision-to-patch latency of one undo: ours vs the bare API round trips vs `kubectl rollout undo`.

Not a test. Needs the built control plane (tools/): starts its own on loopback (or uses --kubeconfig),
creates a Deployment with 10 revisions, then times N undos per contender. Between runs it waits (untimed)
for the deployment controller to settle, so every contender sees the same kind of state.

    uv run python bench/undo.py --runs 30

Two more contenders show what the rollout-health watch's cache saves a decision: the facts read plus
the undo on that same read (the pipeline without the cache), and the cached snapshot plus the undo (the
PATCH alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from harness.controlplane import ControlPlane
from receiver.core.settings import Config, NamespacePolicy, RolloutHealthConfig
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import WorkloadWatch, audit, connect, facts_from, read_facts, read_snapshot, undo

NAMESPACE = "bench-undo"
NAME = "web"
REVISIONS = 10


def kubectl(kubectl_path: str, kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [kubectl_path, f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def prepare(kubectl_path: str, kubeconfig: str) -> None:
    kubectl(kubectl_path, kubeconfig, "create", "namespace", NAMESPACE)
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME},
        "spec": {
            "replicas": 0,  # latency of the API calls, not of pods
            "selector": {"matchLabels": {"app": NAME}},
            "template": {
                "metadata": {"labels": {"app": NAME}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:v1"}]},
            },
        },
    }
    kubectl(kubectl_path, kubeconfig, "create", "-n", NAMESPACE, "-f", "-", stdin=json.dumps(manifest))
    for n in range(2, REVISIONS + 1):
        kubectl(
            kubectl_path, kubeconfig, "set", "image", f"deployment/{NAME}", f"app=registry.example/app:v{n}",
            "-n", NAMESPACE,
        )  # fmt: skip
        settle(kubectl_path, kubeconfig)


def settle(kubectl_path: str, kubeconfig: str) -> None:
    """Wait until the controller has observed the last change and numbered the live ReplicaSet."""
    while True:
        d = json.loads(
            kubectl(kubectl_path, kubeconfig, "get", "deployment", NAME, "-n", NAMESPACE, "-o", "json")
        )
        rss = json.loads(kubectl(kubectl_path, kubeconfig, "get", "rs", "-n", NAMESPACE, "-o", "json"))[
            "items"
        ]
        numbers = [int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for rs in rss]
        live = d["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
        if d["metadata"]["generation"] == d["status"].get("observedGeneration") and str(max(numbers)) == live:
            return
        time.sleep(0.05)


async def ours(kubeconfig: str) -> Callable[[], Awaitable[None]]:
    kube = await connect(kubeconfig)
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, NAMESPACE, NAME)

    async def run() -> None:
        facts = await read_facts(kube, ref)  # the decision's facts (untimed: made before the decision)
        started = time.perf_counter()
        await undo(
            kube,
            ref,
            expect_resource_version=facts.resource_version,
            audit=audit.audit_annotations(actor="bench", at=datetime.now(UTC), to_revision=0, alert_key="b"),
        )
        samples.append(time.perf_counter() - started)

    closers.append(kube.close)
    return run


def audit_map() -> dict[str, str]:
    return audit.audit_annotations(actor="bench", at=datetime.now(UTC), to_revision=0, alert_key="b")


async def one_read(kubeconfig: str) -> Callable[[], Awaitable[None]]:
    """What a decision costs the pipeline without the watch's cache: read the facts (GET + LIST), then
    the undo computed on that same read (the PATCH only). Timed from before the read."""
    kube = await connect(kubeconfig)
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, NAMESPACE, NAME)

    async def run() -> None:
        started = time.perf_counter()
        snap = await read_snapshot(kube, ref)
        await undo(kube, ref, decided_on=facts_from(snap), snapshot_read=snap, audit=audit_map())
        samples.append(time.perf_counter() - started)

    closers.append(kube.close)
    return run


async def cached(kubeconfig: str) -> Callable[[], Awaitable[None]]:
    """The same with the rollout-health watch's cache: the snapshot comes from memory, the undo is the
    PATCH alone. Untimed before each run: the watch has caught up with the settled Deployment."""
    kube = await connect(kubeconfig)
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, NAMESPACE, NAME)
    config = Config(
        source=Path("bench.yaml"),
        namespaces=NamespacePolicy(allow=(NAMESPACE,)),
        rollout_health=RolloutHealthConfig(enabled=True),
    )
    watch = WorkloadWatch(kube, config)
    watch.start()
    await watch.wait_synced()
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{NAME}"

    async def run() -> None:
        live = (await kube.request("get", path))["metadata"]["resourceVersion"]
        for _ in range(1000):  # the watch delivers within milliseconds; bounded so a bug cannot hang
            snap = watch.snapshot(ref)
            if snap is not None and snap.workload["metadata"]["resourceVersion"] == live:
                break
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        snap = watch.snapshot(ref)
        assert snap is not None
        await undo(kube, ref, decided_on=facts_from(snap), snapshot_read=snap, audit=audit_map())
        samples.append(time.perf_counter() - started)

    async def close() -> None:
        await watch.close()
        await kube.close()

    closers.append(close)
    return run


async def bare(kubeconfig: str) -> Callable[[], Awaitable[None]]:
    """The floor: the same GET, LIST and PATCH with kubernetes_asyncio, no deserialisation, no logic."""
    configuration = k8s_client.Configuration()
    await k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    api_client = k8s_client.ApiClient(configuration)
    apps = k8s_client.AppsV1Api(api_client)

    async def run() -> None:
        started = time.perf_counter()
        resp = await apps.read_namespaced_deployment(NAME, NAMESPACE, _preload_content=False)
        d = json.loads(await resp.read())
        resp = await apps.list_namespaced_replica_set(
            NAMESPACE, label_selector=f"app={NAME}", _preload_content=False
        )
        rss = json.loads(await resp.read())["items"]
        rss.sort(key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
        target = rss[-2]["spec"]["template"]
        target["metadata"]["labels"].pop("pod-template-hash", None)
        body = [
            {"op": "replace", "path": "/spec/template", "value": target},
            {"op": "replace", "path": "/metadata/resourceVersion", "value": d["metadata"]["resourceVersion"]},
        ]
        resp = await apps.patch_namespaced_deployment(
            NAME, NAMESPACE, body, _content_type="application/json-patch+json", _preload_content=False
        )
        await resp.read()
        samples.append(time.perf_counter() - started)

    closers.append(api_client.close)
    return run


def kubectl_undo(kubectl_path: str, kubeconfig: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        started = time.perf_counter()
        kubectl(kubectl_path, kubeconfig, "rollout", "undo", f"deployment/{NAME}", "-n", NAMESPACE)
        samples.append(time.perf_counter() - started)

    return run


samples: list[float] = []
closers: list[Callable[[], Awaitable[None]]] = []


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered) * 1000, "p90_ms": p90 * 1000, "runs": len(ordered)}


async def measure(
    args: argparse.Namespace, kubectl_path: str, kubeconfig: str
) -> dict[str, dict[str, float]]:
    contenders = {
        "rollback-receiver undo()": await ours(kubeconfig),
        "read (GET+LIST) + undo() on that read": await one_read(kubeconfig),
        "watch cache + undo() on it (PATCH only)": await cached(kubeconfig),
        "bare kubernetes_asyncio GET+LIST+PATCH": await bare(kubeconfig),
        "kubectl rollout undo (subprocess)": kubectl_undo(kubectl_path, kubeconfig),
    }
    results = {}
    try:
        for name, run in contenders.items():
            samples.clear()
            for _ in range(args.warmup + args.runs):
                await run()
                await asyncio.to_thread(settle, kubectl_path, kubeconfig)
            results[name] = summary(samples[args.warmup :])
    finally:
        for close in closers:
            await close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-undo-") as workdir:
        plane = ControlPlane(Path(workdir)).start()
        try:
            kubectl_path, kubeconfig = str(plane.kubectl_path), plane.kubeconfig
            prepare(kubectl_path, kubeconfig)
            results = asyncio.run(measure(args, kubectl_path, kubeconfig))
        finally:
            plane.stop(keep_logs=False)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"Deployment with {REVISIONS} revisions; {args.runs} runs each after {args.warmup} warm-up runs")
    print(f"{'contender':44} {'median':>10} {'p90':>10}")
    for name, stats in results.items():
        print(f"{name:44} {stats['median_ms']:8.1f}ms {stats['p90_ms']:8.1f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
