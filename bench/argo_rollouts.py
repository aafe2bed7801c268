"""Start-up time and memory of the Argo Rollouts controller in the harness.

Not a test. Starts its own control plane on loopback, then the controller (CRDs, RBAC, process, /healthz and
/metrics), and reports the time of each part and the controller's RSS right after start-up and after
`--rollouts` canary Rollouts of 4 replicas went through one update, promotion included.

    uv run python bench/argo_rollouts.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.argo_rollouts import ArgoRollouts
from harness.controlplane import ControlPlane
from harness.processes import sigterm_as_interrupt
from harness.waiting import eventually

NAMESPACE = "bench"


def rollout(name: str, image: str) -> dict[str, object]:
    labels = {"app": name}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
        },
    }


def wait_all(plane: ControlPlane, count: int, phase: str) -> None:
    def settled() -> bool:
        items = plane.kubectl_json("get", "rollouts.argoproj.io", "-n", NAMESPACE)["items"]
        return len(items) == count and all(
            i.get("status", {}).get("phase") == phase
            and i["status"].get("observedGeneration") == str(i["metadata"]["generation"])
            for i in items
        )

    eventually(settled, what=f"{count} Rollouts {phase}", timeout=300, interval=0.5)


def one_run(rollouts: int) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-argo-"))
    plane = ControlPlane(workdir)
    controller: ArgoRollouts | None = None
    try:
        plane.start()
        controller = ArgoRollouts(plane, workdir=workdir)
        t0 = time.monotonic()
        controller.start()
        total = time.monotonic() - t0
        idle = controller.rss_bytes()
        plane.kubectl("create", "namespace", NAMESPACE)
        names = [f"r{i}" for i in range(rollouts)]
        for version in ("1.0.0", "2.0.0"):
            items = [rollout(n, f"registry.example/{n}:{version}") for n in names]
            plane.kubectl(
                "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
            )
            if version == "2.0.0":
                wait_all(plane, rollouts, "Paused")
                for n in names:
                    controller.plugin("promote", n, "-n", NAMESPACE)
            wait_all(plane, rollouts, "Healthy")
        busy = controller.rss_bytes()
        return {
            "install": controller.startup_seconds["install"],
            "controller": controller.startup_seconds["controller"],
            "total": total,
            "rss_idle_mib": idle / 2**20,
            "rss_after_mib": busy / 2**20,
        }
    finally:
        if controller is not None:
            controller.stop()
        plane.stop(keep_logs=False)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rollouts", type=int, default=10)
    args = parser.parse_args()
    print(
        f"machine: {platform.node()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    print("| run | CRDs + RBAC | controller to /healthz+/metrics | total | RSS idle | RSS after rollouts |")
    print("|---|---|---|---|---|---|")
    with sigterm_as_interrupt():
        for run in range(1, args.runs + 1):
            r = one_run(args.rollouts)
            print(
                f"| {run} | {r['install']:.1f} s | {r['controller']:.1f} s | {r['total']:.1f} s |"
                f" {r['rss_idle_mib']:.0f} MiB | {r['rss_after_mib']:.0f} MiB |",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.1f} at the end; {args.rollouts} Rollouts of 4 replicas per run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
