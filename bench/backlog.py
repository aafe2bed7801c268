"""A critical alert behind a backlog of medium ones, and the state ConfigMap's size while they wait.

Not a test. Starts its own control plane on loopback and one `rollback-receiver serve`, with the seed's
routes in the example config's order (critical/high first, medium with a confirmation delay). It posts
`--backlog` medium alerts (each becomes a pending confirmation in the state ConfigMap, up to its bound),
then one critical alert, and measures:

- the critical alert's latency from its webhook to its decision, and to the rollback's patch;
- the state ConfigMap's size when the medium alerts are all decided, and how many are pending;
- how long the whole backlog takes to drain.

    uv run python bench/backlog.py --backlog 3000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.controlplane import ControlPlane
from harness.receiver import ReceiverProcess, webhook_alert, webhook_payload
from receiver.core.timefmt import parse_rfc3339

NAMESPACE = "bench-backlog"
V1, V2 = "registry.example/shop:v1", "registry.example/shop:v2"


def deploy(plane: ControlPlane, name: str) -> None:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": V1}]},
            },
        },
    }
    plane.kubectl("create", "-f", "-", input=json.dumps(manifest))
    plane.kubectl("rollout", "status", f"deployment/{name}", "-n", NAMESPACE, "--timeout=120s")
    plane.kubectl("set", "image", f"deployment/{name}", f"app={V2}", "-n", NAMESPACE)
    plane.kubectl("rollout", "status", f"deployment/{name}", "-n", NAMESPACE, "--timeout=120s")


def config() -> dict[str, object]:
    target = {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"}
    return {
        "server": {"queue_size": 20000, "workers": 4},
        "namespaces": {"allow": [NAMESPACE]},
        "state": {"namespace": NAMESPACE},
        "routes": [
            {
                "name": "critical-and-high",
                "match": ['severity=~"critical|high"'],
                "target": target,
                "action": "rollback",
            },
            {
                "name": "medium",
                "match": ['severity="medium"'],
                "target": target,
                "action": "rollback",
                "confirm_for": "1h",
            },
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--per-payload", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rr-bench-backlog-") as workdir:
        plane = ControlPlane(Path(workdir) / "cp").start()
        receiver = ReceiverProcess(Path(workdir) / "r", kubeconfig=plane.kubeconfig, config=config())
        try:
            plane.kubectl("create", "namespace", NAMESPACE)
            deploy(plane, "web")
            deploy(plane, "api")
            receiver.start()
            started = datetime.now(UTC) - timedelta(seconds=5)
            medium = [
                webhook_alert(NAMESPACE, "web", labels={"severity": "medium"}, starts_at=started)
                for _ in range(args.backlog)
            ]
            t0 = time.monotonic()
            for i in range(0, len(medium), args.per_payload):
                assert receiver.post(webhook_payload(medium[i : i + args.per_payload])) == 200
            posted_backlog = time.monotonic() - t0
            critical = webhook_alert(NAMESPACE, "api", labels={"severity": "critical"}, starts_at=started)
            sent = datetime.now(UTC)
            assert receiver.post(webhook_payload([critical])) == 200
            while not receiver.decisions(route="critical-and-high"):
                time.sleep(0.05)
            decision = receiver.decisions(route="critical-and-high")[-1]
            decided = parse_rfc3339(str(decision["decided_at"]))
            while True:
                annotations = plane.kubectl_json("get", "deployment", "api", "-n", NAMESPACE)["metadata"][
                    "annotations"
                ]
                if "rollback-receiver.io/rolled-back-at" in annotations:
                    break
                time.sleep(0.05)
            patched_seen = datetime.now(UTC)
            while receiver.metric("rollback_receiver_queue_depth") > 0:
                time.sleep(0.5)
            drained = time.monotonic() - t0
            stored = plane.kubectl_json("get", "configmap", "rollback-receiver-state", "-n", NAMESPACE)
            document = stored["data"]["state.json"]
            pending = len(json.loads(document)["pending"])
            refused = receiver.metric("rollback_receiver_pending_refused_total")
        finally:
            receiver.stop()
            plane.stop(keep_logs=False)
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load {load:.2f}, {platform.python_version()}"
    )
    print(
        f"backlog: {args.backlog} medium alerts, {args.per_payload} a payload, "
        f"posted in {posted_backlog:.1f}s"
    )
    print(
        f"critical alert: webhook -> decision {(decided - sent).total_seconds() * 1000:.0f} ms, "
        f"webhook -> patch seen {(patched_seen - sent).total_seconds() * 1000:.0f} ms"
    )
    print(f"backlog drained in {drained:.1f}s; pending kept {pending}, refused (pending_full) {refused:.0f}")
    print(f"state ConfigMap data: {len(document.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
