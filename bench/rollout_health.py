"""Time to rollback for the native rollout-health source: condition true -> undo patch, on real parts.

Not a test. Starts its own control plane on loopback (kwok nodes, harness/kwok/pod-behaviours.yaml) and
one `rollback-receiver serve` with `rollout_health` on, then, `--runs` times per signal and one fresh
Deployment per run (so no cooldown or budget is in the way), ships a revision whose pods fail and
watches the cluster itself:

- `RolloutProgressDeadlineExceeded`: pods never ready, `progressDeadlineSeconds` 10: from the moment
  the bench's own watch sees `Progressing=False, reason=ProgressDeadlineExceeded` to the moment it sees
  the receiver's undo patch (the Deployment's template back on v1);
- `RolloutCrashLooping`: containers exit 1 after 1 s: from the first pod event with a container in
  `CrashLoopBackOff` to the patch.

Both ends are observed by the same watches of the same API server, so their delivery delays cancel out.
The time from the apply to the condition (Kubernetes' part: the deadline, the first crash) is printed too.

    uv run python bench/rollout_health.py --runs 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.controlplane import ControlPlane
from harness.pod_behaviours import CRASHLOOP, NEVER_READY, failing_template
from harness.receiver import ReceiverProcess
from receiver.k8s import KubeClient, connect

NAMESPACE = "bench-rollout-health"
STATE_NAMESPACE = "bench-state"
V1, V2 = "registry.example/shop:v1", "registry.example/shop:v2"
DEADLINE = 10
RUN_TIMEOUT = 120.0


def manifest(name: str, deadline: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": template(name, V1),
        },
    }


def template(name: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}}


def receiver_config() -> dict[str, Any]:
    return {
        "namespaces": {"allow": [NAMESPACE]},
        "state": {"namespace": STATE_NAMESPACE},
        "own_namespace": STATE_NAMESPACE,
        "limits": {"per_namespace": {"max": 1000, "per": "1h"}, "global": {"max": 1000, "per": "1h"}},
        "rollout_health": {"enabled": True, "workloads": "all"},
        "routes": [
            {
                "name": "critical-and-high",
                "match": ['rollback="true"', 'severity=~"critical|high"'],
                "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
                "action": "rollback",
            }
        ],
    }


def image_of(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def deadline_exceeded(obj: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in (obj.get("status") or {}).get("conditions") or ()
    )


def crash_looping(pod: dict[str, Any]) -> bool:
    return any(
        ((c.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
        for c in (pod.get("status") or {}).get("containerStatuses") or ()
    )


async def one_run(kube: KubeClient, name: str, signal: str) -> dict[str, float]:
    deployments = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
    pods = f"/api/v1/namespaces/{NAMESPACE}/pods"
    current = await kube.request("get", f"{deployments}/{name}")
    pod_list = await kube.request("list", pods, query={"labelSelector": f"app={name}"})
    seen: dict[str, float] = {}

    async def follow_deployment() -> None:
        query = {
            "fieldSelector": f"metadata.name={name}",
            "resourceVersion": current["metadata"]["resourceVersion"],
        }
        shipped = False
        async for _kind, obj in kube.watch(deployments, query=query, what=name, server_timeout=RUN_TIMEOUT):
            if image_of(obj) == V2:
                shipped = True
            if shipped and signal == "deadline" and "condition" not in seen and deadline_exceeded(obj):
                seen["condition"] = time.time()
            if shipped and image_of(obj) == V1:
                seen["patched"] = time.time()
                return

    async def follow_pods() -> None:
        query = {"labelSelector": f"app={name}", "resourceVersion": pod_list["metadata"]["resourceVersion"]}
        async for _kind, pod in kube.watch(pods, query=query, what=name, server_timeout=RUN_TIMEOUT):
            if crash_looping(pod):
                seen["condition"] = time.time()
                return

    watchers = [asyncio.create_task(follow_deployment())]
    if signal == "crashloop":
        watchers.append(asyncio.create_task(follow_pods()))
    await asyncio.sleep(0.2)  # both watches established before the change
    behaviour = NEVER_READY if signal == "deadline" else CRASHLOOP
    durations = {} if signal == "deadline" else {"crash_after": "1s", "restart_backoff": "1s"}
    bad = failing_template(template(name, V2), behaviour, **durations)
    seen["applied"] = time.time()
    await kube.request(
        "patch",
        f"{deployments}/{name}",
        body=[{"op": "replace", "path": "/spec/template", "value": bad}],
        content_type="application/json-patch+json",
    )
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            await asyncio.gather(*watchers)
    finally:
        for task in watchers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return {
        "apply_to_condition_s": seen["condition"] - seen["applied"],
        "condition_to_patch_s": seen["patched"] - seen["condition"],
    }


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def run_all(plane: ControlPlane, runs: int, workdir: Path) -> dict[str, list[dict[str, float]]]:
    kube = await connect(plane.kubeconfig)
    receiver = ReceiverProcess(workdir / "receiver", kubeconfig=plane.kubeconfig, config=receiver_config())
    try:
        for ns in (NAMESPACE, STATE_NAMESPACE):
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            await kube.request("create", "/api/v1/namespaces", body=body, content_type="application/json")
        for signal, deadline in (("deadline", DEADLINE), ("crashloop", 600)):
            for i in range(runs):
                body = manifest(f"{signal}-{i}", deadline)
                await kube.request(
                    "create",
                    f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
                    body=body,
                    content_type="application/json",
                )
        await asyncio.to_thread(
            plane.kubectl,
            "wait",
            "--for=condition=Available",
            "deployment",
            "--all",
            "-n",
            NAMESPACE,
            "--timeout=300s",
        )
        await asyncio.to_thread(receiver.start)
        results: dict[str, list[dict[str, float]]] = {"deadline": [], "crashloop": []}
        for signal in results:
            for i in range(runs):
                result = await one_run(kube, f"{signal}-{i}", signal)
                results[signal].append(result)
                print(
                    f"  {signal} run {i + 1}: {json.dumps({k: round(v, 3) for k, v in result.items()})}",
                    flush=True,
                )
        return results
    finally:
        await asyncio.to_thread(receiver.stop)
        await kube.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-rollout-health-") as tmp:
        plane = ControlPlane(Path(tmp) / "cluster", nodes=3).start()
        try:
            results = asyncio.run(run_all(plane, args.runs, Path(tmp)))
        finally:
            plane.stop(keep_logs=False)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.runs} runs per signal"
    )
    print("| signal | apply -> condition p50 / p95 | condition -> patch p50 / p95 |")
    print("|---|---|---|")
    names = {
        "deadline": "RolloutProgressDeadlineExceeded (deadline 10 s)",
        "crashloop": "RolloutCrashLooping",
    }
    for signal, rows in results.items():
        a50, a95 = percentiles([r["apply_to_condition_s"] for r in rows])
        c50, c95 = percentiles([r["condition_to_patch_s"] for r in rows])
        print(f"| {names[signal]} | {a50:.2f} s / {a95:.2f} s | {c50 * 1000:.0f} ms / {c95 * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
