"""`make demo SCENARIO=crashloop`: the seed's first scenario, "Kubernetes automatically rolls back if health
checks fail", with no alert rule at all.

A real control plane with kwok nodes and `rollback-receiver serve` running config/example.yaml with its
`rollout_health` section switched on; no Prometheus, no Alertmanager. ecommerce v1.0.0 and v1.1.0 roll
out; v1.2.0's pods crash-loop (kwok plays a kubelet whose container exits 1 every few seconds, see
harness/kwok/pod-behaviours.yaml). The receiver's watch sees the new ReplicaSet's pods in CrashLoopBackOff,
raises `RolloutCrashLooping` for revision 3, the `critical-and-high` route takes it, every guard passes,
and the receiver rolls ecommerce back to the v1.1.0 template and follows the rollout until its pods are
Ready again. Exit 0 only when that happened.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from demo import incident
from demo.stack import (
    DEPLOYMENT,
    SHOP,
    STATE_NAMESPACE,
    Timings,
    example_receiver,
    show_incident,
    start_control_plane,
)
from demo.timeline import Timeline
from harness.http import HttpError
from harness.metrics import metric_value
from harness.pod_behaviours import CRASHLOOP, failing_template
from harness.waiting import GaveUpWaiting, eventually
from receiver.core.annotations import ROLLOUT_HEALTH

NODES = 3
STEP_TIMEOUT = 180.0
ALERT = "RolloutCrashLooping"
# How the bad release fails: each container runs this long, exits 1, and backs off this long.
CRASH_AFTER, RESTART_BACKOFF = "2s", "2s"
# What the scenario turns on in config/example.yaml (the rest of the file is used as it is).
ROLLOUT_HEALTH_CONFIG = {"enabled": True}


class DemoFailed(Exception):
    pass


def manifest(release: incident.Release) -> dict[str, Any]:
    """The seed's ecommerce, opted in to the rollout-health source; the bad release's pods crash-loop."""
    document = incident.deployment_manifest(SHOP, release)
    document["metadata"]["annotations"][ROLLOUT_HEALTH] = "true"
    if release is incident.BAD_RELEASE:
        document["spec"]["template"] = failing_template(
            document["spec"]["template"], CRASHLOOP, crash_after=CRASH_AFTER, restart_backoff=RESTART_BACKOFF
        )
    return document


class CrashLoopDemo:
    def __init__(self, workdir: Path, timeline: Timeline, stack: ExitStack, timings: Timings) -> None:
        self.workdir = workdir
        self.timeline = timeline
        self.stack = stack
        self.timings = timings
        self.rollback_seen = False
        self.recovered_seen = False
        self.incident_seen = False
        self.incident_url = ""

    @property
    def succeeded(self) -> bool:
        return self.rollback_seen and self.recovered_seen and self.incident_seen

    def outcome(self, elapsed: float) -> str:
        return (
            f"Rolled back {DEPLOYMENT} to {incident.GOOD_RELEASE.image} on {ALERT}, with no alert rule, and "
            f"saw its rollout complete, {elapsed:.0f}s after the start (control plane included). "
            f"The incident page: {self.incident_url}"
        )

    def start_stack(self) -> None:
        t = self.timeline
        t.note(f"work directory (configs, logs): {self.workdir}")
        self.plane = plane = start_control_plane(self.workdir, self.stack, t, nodes=NODES)
        incident.ensure_namespace(plane, SHOP)
        incident.ensure_namespace(plane, STATE_NAMESPACE)

        self.receiver, config = example_receiver(
            self.workdir / "receiver",
            kubeconfig=plane.kubeconfig,
            timings=self.timings,
            rollout_health=ROLLOUT_HEALTH_CONFIG,
        )
        self.stack.callback(self.receiver.stop)
        self.receiver.start()
        t.note("config/example.yaml, changed only here:")
        for change in config.changes:
            t.note(f"receiver {change}", 1)
        section = json.dumps(config.document["rollout_health"])
        t.step(
            "rollback-receiver up on 127.0.0.1, watching namespace shop (no Prometheus, no Alertmanager)",
            f"receiver  {self.receiver.url}  (rollback-receiver serve)\n"
            f"          log {self.receiver.process.log_path}\n"
            f"rollout_health: {section}",
        )

    def replay(self) -> None:
        t, plane = self.timeline, self.plane
        for number, release in enumerate(incident.SEED_RELEASES[:2], start=1):
            applied = plane.kubectl("apply", "-f", "-", input=json.dumps(manifest(release)))
            status = incident.rollout_status(plane, SHOP)
            t.step(f"Deploy {release.image} (revision {number})", f"{applied.stdout.strip()}\n{status}")

        bad = incident.BAD_RELEASE
        applied = plane.kubectl("apply", "-f", "-", input=json.dumps(manifest(bad)))
        t.step(
            f"Deploy {bad.image} (revision 3): its containers exit 1 after {CRASH_AFTER}",
            f"$ kubectl apply  # image {bad.image}\n{applied.stdout.strip()}",
        )

        shipped = time.monotonic()
        crashed = self.wait("a v1.2.0 container to crash", self._back_off_events)
        t.step(f"v1.2.0's container exits 1 and the kubelet backs off ({crashed})", self._describe_back_off())

        decision = self.wait("the receiver's rollback decision", self._rollback_decision)
        t.step(
            f"rollback-receiver's watch raises {ALERT} for revision 3 "
            f"({time.monotonic() - shipped:.1f}s after the apply); it decides: roll back",
            json.dumps(decision, indent=2),
        )

        self.wait("the rollout to finish", self._rollback_finished)
        deployment = incident.read_deployment(plane, SHOP)
        events = incident.describe_events(incident.receiver_events(incident.workload_events(plane, SHOP)))
        audit = json.dumps(incident.audit_annotations(deployment), indent=2)
        image, revision = incident.current_image(deployment), incident.revision_of(deployment)
        self.rollback_seen = image == incident.GOOD_RELEASE.image
        t.step(
            f"Rolled back to {image} (revision {revision}); rollout complete",
            "\n\n".join(
                [
                    incident.rollout_status(plane, SHOP),
                    incident.rollout_history(plane, SHOP),
                    f"$ kubectl get events  # rollback-receiver's, on deployment/{DEPLOYMENT}\n{events}",
                    f"annotations on deployment/{DEPLOYMENT}:\n{audit}",
                ]
            ),
        )
        ready = self.wait("only Ready v1.1.0 pods", self._recovered)
        self.recovered_seen = True
        t.step(
            f"All {ready} pods Ready on {incident.GOOD_RELEASE.image}; the crash-looping pods are gone",
            incident.pods(plane, SHOP),
        )
        t.step("rollback-receiver's metrics", self._metrics_summary())

        # The seed's "Document Incident", from the product: a finding of the watch is verified by its
        # rollout, so its record is `completed` once the restored revision rolled out.
        listed = self.wait("the incident record to be complete", self._completed_incident)
        try:
            self.incident_url = show_incident(t, self.receiver, self.plane.kubeconfig, listed, api=False)
        except RuntimeError as exc:
            raise DemoFailed(str(exc)) from None
        self.incident_seen = True

    def incidents_cli(self, *args: str) -> str:
        try:
            return self.receiver.incidents(self.plane.kubeconfig, *args)
        except RuntimeError as exc:
            raise DemoFailed(str(exc)) from None

    def _completed_incident(self) -> dict[str, Any] | None:
        listed = json.loads(self.incidents_cli("list", "-o", "json"))["incidents"]
        found: dict[str, Any] | None = next(
            (e for e in listed if e["alert"] == ALERT and e["phase"] == "completed"), None
        )
        return found

    def wait(self, what: str, probe: Any) -> Any:
        try:
            return eventually(
                probe, what=what, timeout=STEP_TIMEOUT, interval=0.5, retry_on=(OSError, HttpError)
            )
        except GaveUpWaiting as exc:
            raise DemoFailed(f"{exc}; receiver log tail:\n{self.receiver.log_tail(30)}") from None

    # ---- probes -----------------------------------------------------------------------------------------

    def _pods(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.plane.kubectl_json(
            "get", "pods", "-n", SHOP, "-l", f"app={DEPLOYMENT}"
        )["items"]
        return items

    def _back_off_events(self) -> str | None:
        events = self._events("BackOff")
        return f"{len(events)} BackOff Warning Event(s)" if events else None

    def _events(self, reason: str) -> list[dict[str, Any]]:
        listing = self.plane.kubectl_json("get", "events", "-n", SHOP, "--field-selector", f"reason={reason}")
        items: list[dict[str, Any]] = listing.get("items") or []
        return items

    def _describe_back_off(self) -> str:
        lines = [
            "$ kubectl get events --field-selector reason=BackOff",
            "TYPE     REASON   OBJECT                              MESSAGE",
        ]
        for event in self._events("BackOff"):
            involved = event.get("involvedObject") or {}
            target = f"pod/{involved.get('name', '')}"
            kind, reason, message = event.get("type", ""), event.get("reason", ""), event.get("message", "")
            lines.append(f"{kind:<8} {reason:<8} {target:<35} {message}")
        return "\n".join(lines)

    def _rollback_decision(self) -> dict[str, Any] | None:
        for decision in self.receiver.decisions(alertname=ALERT):
            if decision["decision"] == "rollback":
                return decision
            if decision["decision"] == "skip" and decision.get("final"):
                raise DemoFailed(
                    f"the receiver skipped the rollback: {decision['reason']}: {decision['message']}"
                )
        return None

    def _rollback_finished(self) -> bool:
        metrics = self.receiver.metrics()
        if metric_value(metrics, "rollback_receiver_rollbacks_total", result="failed") > 0:
            raise DemoFailed("the receiver reports a failed rollback; see its log")
        return metric_value(metrics, "rollback_receiver_rollbacks_total", result="succeeded") >= 1

    def _recovered(self) -> int | None:
        pods = self._pods()
        good = [
            p
            for p in pods
            if p["spec"]["containers"][0]["image"] == incident.GOOD_RELEASE.image
            and any(
                c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or []
            )
        ]
        return len(good) if len(good) == len(pods) == incident.REPLICAS else None

    def _metrics_summary(self) -> str:
        lines = []
        for line in self.receiver.metrics().splitlines():
            if not line.startswith("rollback_receiver_") or line.endswith(" 0.0"):
                continue
            if not any(part in line for part in ("_bucket", "_created")):
                lines.append(line)
        return "\n".join(lines)
