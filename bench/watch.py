"""What the rollout-health watch costs: `rollback-receiver serve` watching N Deployments on kwok.

Not a test. Starts its own control plane on loopback (built by scripts/build-control-plane.sh), fills
`--namespaces` namespaces with `--deployments` Deployments in all, then runs `rollback-receiver serve` once
per variant and reads its process from /proc:

- `off`: rollout_health disabled (the receiver as before: no watch);
- `watch`: rollout_health enabled for every Deployment (`workloads: all`), `cache: false`;
- `watch+cache`: the same with the cache of compact copies (`cache: true`, the default).

For each it prints the time until the watch has listed everything, the CPU seconds that took, RSS after
the sync and its peak (VmHWM), the requests the watch sent (LIST pages, WATCHes), then CPU and RSS over
`--steady` seconds of nothing happening, and over `--churn` Deployments rolled to a new revision at once.

Two shapes, one per question:

    # the watch with pods (issue: cost must not grow with cluster size): 5,000 Deployments of 1 pod
    # (a kwok node holds 110 pods, as a kubelet's default: give the pods enough nodes)
    uv run python bench/watch.py --deployments 5000 --revisions 1 --replicas 1 --nodes 50
    # the cache's memory: 5,000 Deployments x 10 revisions (ReplicaSets), no pods
    uv run python bench/watch.py --deployments 5000 --revisions 10 --replicas 0

With `--revisions` above 1 the history is written directly (a paused Deployment and its ReplicaSets with
their revision annotations and ownerReferences, exactly what the deployment controller leaves behind),
because 50,000 real rollouts would take the controller (100 requests/s) the better part of an hour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.controlplane import ControlPlane
from harness.metrics import metric_value
from harness.receiver import ReceiverProcess
from receiver.k8s import KubeClient, KubeError, connect

STATE_NAMESPACE = "bench-state"
CONCURRENCY = 24
CLK_TCK = os.sysconf("SC_CLK_TCK")


def namespaces(count: int) -> list[str]:
    return [f"bench-{i}" for i in range(count)]


def template(name: str, revision: int) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": f"registry.example/{name}:v{revision}"}]},
    }


def deployment(name: str, *, replicas: int, revision: int, paused: bool) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": {"kubernetes.io/change-cause": f"v{revision}"}},
        "spec": {
            "replicas": replicas,
            "paused": paused,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, revision),
        },
    }


def replica_set(name: str, owner_uid: str, revision: int) -> dict[str, Any]:
    """What the deployment controller leaves behind for one revision (replicas 0)."""
    hash_ = f"{revision:02d}{abs(hash(name)) % 10**8:08d}"
    labels = {"app": name, "pod-template-hash": hash_}
    pod_template = template(name, revision)
    pod_template["metadata"]["labels"] = labels
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{name}-{hash_}",
            "labels": labels,
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "deployment.kubernetes.io/desired-replicas": "0",
                "deployment.kubernetes.io/max-replicas": "0",
                "kubernetes.io/change-cause": f"v{revision}",
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": name,
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": pod_template},
    }


async def gather_limited(jobs: Sequence[Any], limit: int = CONCURRENCY) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Any) -> None:
        async with semaphore:
            await job

    await asyncio.gather(*(run(job) for job in jobs))


async def populate(kube: KubeClient, spaces: list[str], total: int, revisions: int, replicas: int) -> float:
    started = time.monotonic()
    for ns in [*spaces, STATE_NAMESPACE]:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        try:
            await kube.request("create", "/api/v1/namespaces", body=body, content_type="application/json")
        except KubeError as exc:
            if exc.status != 409:
                raise
    per_namespace = -(-total // len(spaces))
    names = [(spaces[i // per_namespace], f"web-{i}") for i in range(total)]
    paused = revisions > 1

    async def create(ns: str, name: str) -> None:
        path = f"/apis/apps/v1/namespaces/{ns}/deployments"
        body = deployment(name, replicas=replicas, revision=revisions, paused=paused)
        created = await kube.request("create", path, body=body, content_type="application/json", what=name)
        if not paused:
            return
        uid = created["metadata"]["uid"]
        rs_path = f"/apis/apps/v1/namespaces/{ns}/replicasets"
        for revision in range(1, revisions + 1):
            rs = replica_set(name, uid, revision)
            await kube.request("create", rs_path, body=rs, content_type="application/json", what=name)

    done = 0
    batch = 500
    for start in range(0, len(names), batch):
        await gather_limited([create(ns, name) for ns, name in names[start : start + batch]])
        done += len(names[start : start + batch])
        print(f"  created {done}/{total} Deployments ({time.monotonic() - started:.0f}s)", flush=True)
    await settle(kube, spaces, total, replicas)
    return time.monotonic() - started


async def settle(kube: KubeClient, spaces: list[str], total: int, replicas: int) -> None:
    """Until the deployment controller has observed every Deployment (and its pods are available)."""
    while True:
        observed = available = 0
        for ns in spaces:
            token = ""
            while True:
                query = {"limit": "500", **({"continue": token} if token else {})}
                page = await kube.request("list", f"/apis/apps/v1/namespaces/{ns}/deployments", query=query)
                for item in page.get("items") or ():
                    status = item.get("status") or {}
                    if status.get("observedGeneration", 0) >= item["metadata"].get("generation", 1):
                        observed += 1
                        if status.get("availableReplicas", 0) >= replicas:
                            available += 1
                token = (page.get("metadata") or {}).get("continue") or ""
                if not token:
                    break
        print(f"  settled: {observed}/{total} observed, {available}/{total} available", flush=True)
        if observed >= total and available >= total:
            return
        await asyncio.sleep(10)


@dataclass
class Proc:
    pid: int

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def status(self, key: str) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
        return 0.0


def receiver_config(spaces: list[str], variant: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "namespaces": {"allow": spaces},
        "state": {"namespace": STATE_NAMESPACE},
        "own_namespace": STATE_NAMESPACE,
        "routes": [
            {
                "name": "critical-and-high",
                "match": ['rollback="true"', 'severity=~"critical|high"'],
                "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
                "action": "rollback",
            }
        ],
    }
    if variant != "off":
        config["rollout_health"] = {"enabled": True, "workloads": "all", "cache": variant == "watch+cache"}
    return config


def measure(
    plane: Any, workdir: Path, spaces: list[str], variant: str, steady: float, churn: int
) -> dict[str, Any]:
    process = ReceiverProcess(
        workdir / variant, kubeconfig=plane.kubeconfig, config=receiver_config(spaces, variant)
    )
    started = time.monotonic()
    process.start()
    try:
        assert process.process.pid is not None
        proc = Proc(process.process.pid)
        row: dict[str, Any] = {"variant": variant}
        if variant != "off":
            while process.metric("rollback_receiver_watch_synced") < 1:
                time.sleep(0.2)
        row["sync_s"] = time.monotonic() - started
        row["sync_cpu_s"] = proc.cpu()
        row["rss_synced_mib"] = proc.status("VmRSS")
        metrics = process.metrics()
        row["requests"] = {
            verb: metric_value(metrics, "rollback_receiver_watch_requests_total", verb=verb)
            for verb in ("list", "watch")
        }
        row["objects"] = {
            c: metric_value(metrics, "rollback_receiver_watch_objects", collection=c)
            for c in ("deployments", "replicasets", "pods", "cached_objects", "cached_bytes")
        }
        cpu = proc.cpu()
        time.sleep(steady)
        row["steady_cpu_pct"] = 100 * (proc.cpu() - cpu) / steady
        row["rss_steady_mib"] = proc.status("VmRSS")
        if churn:
            cpu, t0 = proc.cpu(), time.monotonic()
            rolled = roll(plane, spaces, churn)
            time.sleep(15)  # the controller's writes for the new revisions (ReplicaSets, status, pods)
            row["churn_cpu_s"] = proc.cpu() - cpu
            row["churn_wall_s"] = time.monotonic() - t0
            row["churned"] = rolled
        row["rss_peak_mib"] = proc.status("VmHWM")
        row["rss_end_mib"] = proc.status("VmRSS")
        return row
    finally:
        process.stop()
        if churn:  # the next variant starts on a settled cluster, not amid this one's rollouts
            asyncio.run(settle_cluster(plane, spaces))


async def settle_cluster(plane: Any, spaces: list[str]) -> None:
    kube = await connect(plane.kubeconfig)
    try:
        total = 0
        for ns in spaces:
            page = await kube.request(
                "list", f"/apis/apps/v1/namespaces/{ns}/deployments", query={"limit": "1"}
            )
            total += int((page.get("metadata") or {}).get("remainingItemCount") or 0) + len(page["items"])
        await settle(kube, spaces, total, 0)
    finally:
        await kube.close()


def roll(plane: Any, spaces: list[str], count: int) -> int:
    """`count` Deployments get a new revision at once (an annotation in the pod template)."""
    stamp = str(time.time_ns())
    patch = json.dumps(
        {"spec": {"paused": False, "template": {"metadata": {"annotations": {"bench/rolled": stamp}}}}}
    )
    per_namespace = -(-count // len(spaces))
    rolled = 0
    for ns in spaces:
        listing = plane.kubectl("get", "deployments", "-n", ns, "-o", "name").stdout.split()
        for name in [n.split("/", 1)[1] for n in listing][:per_namespace]:
            plane.kubectl("patch", f"deployment/{name}", "-n", ns, "--type=merge", "-p", patch)
            rolled += 1
            if rolled >= count:
                return rolled
    return rolled


def report(rows: list[dict[str, Any]], args: argparse.Namespace, populate_s: float) -> str:
    lines = [
        f"{args.deployments} Deployments x {args.revisions} revisions, {args.replicas} replica(s) each, "
        f"in {args.namespaces} namespaces; populated in {populate_s:.0f}s",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
        "",
        "| variant | sync | CPU to sync | RSS synced | RSS peak | LIST pages / WATCHes "
        f"| objects held (cached bytes) | CPU idle ({args.steady:.0f}s) | RSS idle "
        f"| CPU for {args.churn} rollouts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        objects = row["objects"]
        held = (
            f"{objects['deployments']:.0f} d, {objects['replicasets']:.0f} rs, {objects['pods']:.0f} pods"
            f" ({objects['cached_bytes'] / 2**20:.1f} MiB)"
        )
        requests = row["requests"]
        lines.append(
            f"| {row['variant']} | {row['sync_s']:.1f} s | {row['sync_cpu_s']:.1f} s "
            f"| {row['rss_synced_mib']:.0f} MiB | {row['rss_peak_mib']:.0f} MiB "
            f"| {requests['list']:.0f} / {requests['watch']:.0f} "
            f"| {held if row['variant'] != 'off' else '-'} | {row['steady_cpu_pct']:.2f} % "
            f"| {row['rss_steady_mib']:.0f} MiB | {row.get('churn_cpu_s', 0):.2f} s |"
        )
    return "\n".join(lines)


async def prepare(plane: ControlPlane, args: argparse.Namespace) -> float:
    kube = await connect(plane.kubeconfig)
    try:
        return await populate(
            kube, namespaces(args.namespaces), args.deployments, args.revisions, args.replicas
        )
    finally:
        await kube.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deployments", type=int, default=5000)
    parser.add_argument("--revisions", type=int, default=1)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of nothing happening to measure")
    parser.add_argument("--churn", type=int, default=100, help="Deployments rolled at once while measuring")
    parser.add_argument("--variants", default="off,watch,watch+cache")
    parser.add_argument("--nodes", type=int, default=3, help="kwok nodes (110 pods each)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        workdir = Path(tmp)
        plane = ControlPlane(workdir / "cluster", nodes=args.nodes)
        plane.start()
        try:
            populate_s = asyncio.run(prepare(plane, args))
            rows = []
            for variant in args.variants.split(","):
                print(f"measuring {variant} ...", flush=True)
                rows.append(
                    measure(plane, workdir, namespaces(args.namespaces), variant, args.steady, args.churn)
                )
                print(json.dumps(rows[-1]), flush=True)
            print()
            print(report(rows, args, populate_s))
        finally:
            plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
