"""The rule pack's alerts end to end: a new ecommerce revision whose pods really fail on the control plane
(kwok stages: never ready, or crash-looping), an alert of exactly the shape config/rules/health.yml
produces for it (its labels and annotations, rendered as Prometheus renders them) delivered by a real
Alertmanager running config/alertmanager.yml to a real `rollback-receiver serve` running
config/example.yaml's routes, and the Deployment rolled back to a template whose pods are Ready.

kube-state-metrics cannot run here, so the alert is pushed into Alertmanager the way Prometheus does once
the rule fires; tests/unit/test_health_rules.py proves with promtool that the rule emits this shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from demo import incident
from harness.alertmanager import AlertmanagerCluster
from harness.cluster import ClusterAccess
from harness.metrics import metric_value
from harness.pod_behaviours import BEHAVIOUR_LABEL, CRASHLOOP, NEVER_READY, failing_template
from harness.receiver import ReceiverProcess
from harness.waiting import eventually

pytestmark = [pytest.mark.e2e]

NEVER_READY_NS = "e2e-health-never-ready"
CRASHLOOP_NS = "e2e-health-crashloop"
ALLOWED_NAMESPACES = (NEVER_READY_NS, CRASHLOOP_NS)  # read by the `receiver` fixture
PACK = Path(__file__).resolve().parents[2] / "config" / "rules" / "health.yml"
PROGRESS_DEADLINE = 10  # seconds; the Deployment's own deadline, short so Kubernetes gives up quickly
WAIT = 180.0  # bounds a hang on a loaded 2-core machine; nothing asserts on time
ROLLBACKS = "rollback_receiver_rollbacks_total"
OUTCOMES = ("succeeded", "failed")

PushAlerts = Callable[[str, Sequence[Mapping[str, Any]]], None]


def pack_rule(alertname: str) -> dict[str, Any]:
    groups = yaml.safe_load(PACK.read_text(encoding="utf-8"))["groups"]
    rule: dict[str, Any] = next(r for g in groups for r in g["rules"] if r["alert"] == alertname)
    return rule


def alert_from_pack(alertname: str, namespace: str, deployment: str, value: float) -> dict[str, Any]:
    """What Prometheus sends Alertmanager when the pack's rule fires for this Deployment: the
    expression's labels (namespace, deployment), the rule's labels, alertname, and the annotations with
    $labels and $value rendered."""
    rule = pack_rule(alertname)
    labels = {"alertname": alertname, **rule["labels"], "namespace": namespace, "deployment": deployment}
    values = {"$value": f"{value:g}", **{f"$labels.{k}": v for k, v in labels.items()}}

    def render(text: str) -> str:
        rendered = re.sub(r"\{\{\s*(\$[\w.]+)\s*\}\}", lambda m: values[m.group(1)], text)
        assert "{{" not in rendered, f"unrendered template in {alertname}: {text}"
        return rendered

    annotations = {key: render(str(text)) for key, text in rule["annotations"].items()}
    return {"labels": labels, "annotations": annotations, "startsAt": datetime.now(UTC).isoformat()}


def deploy_good_history(cluster: ClusterAccess, namespace: str) -> None:
    """ecommerce at revisions 1 (v1.0.0) and 2 (v1.1.0), both healthy and rolled out."""
    incident.ensure_namespace(cluster, namespace)
    for release in incident.SEED_RELEASES[:2]:
        incident.deploy(cluster, namespace, release)


def ship_failing_release(cluster: ClusterAccess, namespace: str, behaviour: str) -> None:
    """v1.2.0 as revision 3, its pods failing with `behaviour`; applied without waiting for it."""
    manifest = incident.deployment_manifest(namespace, incident.BAD_RELEASE)
    manifest["spec"]["progressDeadlineSeconds"] = PROGRESS_DEADLINE
    manifest["spec"]["template"] = failing_template(
        manifest["spec"]["template"], behaviour, crash_after="1s", restart_backoff="1s"
    )
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def pods(cluster: ClusterAccess, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.kubectl_json(
        "get", "pods", "-n", namespace, "-l", f"app={incident.DEPLOYMENT}"
    )["items"]
    return items


def failing_pods(cluster: ClusterAccess, namespace: str) -> list[dict[str, Any]]:
    return [p for p in pods(cluster, namespace) if BEHAVIOUR_LABEL in (p["metadata"].get("labels") or {})]


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def rollback_decision(receiver: ReceiverProcess, alertname: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        return next((d for d in receiver.decisions(alertname=alertname) if d["decision"] == "rollback"), None)

    return eventually(
        probe,
        what=f"a rollback decision for {alertname}",
        timeout=WAIT,
        on_fail=lambda: f"decisions: {receiver.decisions(alertname=alertname)}\n{receiver.log_tail()}",
    )


def recorded_outcome(receiver: ReceiverProcess, before: str) -> str:
    """The result the receiver recorded for the rollback it started after `before` was read."""

    def probe() -> str | None:
        now = receiver.metrics()
        grown = [
            r
            for r in OUTCOMES
            if metric_value(now, ROLLBACKS, result=r) > metric_value(before, ROLLBACKS, result=r)
        ]
        return grown[0] if grown else None

    return eventually(probe, what="the rollback's recorded outcome", timeout=WAIT)


def assert_rolled_back_to_healthy_v1_1_0(
    cluster: ClusterAccess, receiver: ReceiverProcess, namespace: str, alertname: str
) -> None:
    decision = rollback_decision(receiver, alertname)
    assert decision["route"] == "critical-and-high"
    assert decision["target"] == f"deployment/{incident.DEPLOYMENT} -n {namespace}"
    deployment = incident.read_deployment(cluster, namespace)
    assert incident.current_image(deployment) == incident.GOOD_RELEASE.image
    assert incident.revision_of(deployment) == 4  # revision 2's template, re-numbered like kubectl does
    assert BEHAVIOUR_LABEL not in deployment["spec"]["template"]["metadata"]["labels"]
    audit = incident.audit_annotations(deployment)
    assert audit["rollback-receiver.io/rolled-back-from"] == "3"
    assert audit["rollback-receiver.io/rolled-back-to"] == "2"
    assert audit["kubernetes.io/change-cause"].startswith(f"rollback-receiver: {alertname} (")
    assert "successfully rolled out" in incident.rollout_status(cluster, namespace)
    # The failing pods are gone and every pod left runs v1.1.0 and is Ready.
    eventually(lambda: failing_pods(cluster, namespace) == [], what="the failing pods to go", timeout=WAIT)
    current = pods(cluster, namespace)
    assert len(current) == incident.REPLICAS
    assert all(
        is_ready(p) and p["spec"]["containers"][0]["image"] == incident.GOOD_RELEASE.image for p in current
    )
    reasons = [
        str(e["reason"])
        for e in incident.receiver_events(incident.workload_events(cluster, namespace))
        for _ in range(int(e.get("count") or 1))
    ]
    assert reasons.count("RollbackTriggered") == 1


def test_never_ready_revision_past_its_progress_deadline_is_rolled_back(
    control_plane: ClusterAccess,
    receiver: ReceiverProcess,
    alertmanager: AlertmanagerCluster,
    push_alerts: PushAlerts,
) -> None:
    cluster, namespace = control_plane, NEVER_READY_NS
    deploy_good_history(cluster, namespace)
    before = receiver.metrics()
    ship_failing_release(cluster, namespace, NEVER_READY)

    # What kube-state-metrics would export as kube_deployment_status_condition{condition="Progressing",
    # status="false", reason="ProgressDeadlineExceeded"} 1: the controller gave up on revision 3.
    def deadline_exceeded() -> bool:
        deployment = incident.read_deployment(cluster, namespace)
        return any(
            c["type"] == "Progressing"
            and c["status"] == "False"
            and c["reason"] == "ProgressDeadlineExceeded"
            for c in deployment["status"].get("conditions", [])
        )

    eventually(deadline_exceeded, what="Progressing=False/ProgressDeadlineExceeded", timeout=WAIT)
    assert failing_pods(cluster, namespace) and not any(is_ready(p) for p in failing_pods(cluster, namespace))

    alert = alert_from_pack("RolloutProgressDeadlineExceeded", namespace, incident.DEPLOYMENT, 1)
    assert alert["labels"]["severity"] == "high" and alert["annotations"]["rollback"] == "true"
    push_alerts(alertmanager.url, [alert])

    # The undone generation's first status can still carry the old ProgressDeadlineExceeded condition;
    # the rollback's verification ignores a condition from before its patch, so it succeeds.
    assert recorded_outcome(receiver, before) == "succeeded"
    assert_rolled_back_to_healthy_v1_1_0(cluster, receiver, namespace, "RolloutProgressDeadlineExceeded")


def test_crash_looping_revision_is_rolled_back(
    control_plane: ClusterAccess,
    receiver: ReceiverProcess,
    alertmanager: AlertmanagerCluster,
    push_alerts: PushAlerts,
) -> None:
    cluster, namespace = control_plane, CRASHLOOP_NS
    deploy_good_history(cluster, namespace)
    before = receiver.metrics()
    ship_failing_release(cluster, namespace, CRASHLOOP)

    # What kube-state-metrics would export as kube_pod_container_status_waiting_reason{reason=
    # "CrashLoopBackOff"} 1 and a rising kube_pod_container_status_restarts_total for revision 3's pods.
    def crash_looping() -> list[dict[str, Any]] | None:
        looping = [
            p
            for p in failing_pods(cluster, namespace)
            if any(
                (c.get("state", {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
                and c["restartCount"] >= 3
                for c in p["status"].get("containerStatuses") or []
            )
        ]
        return looping or None

    looping = eventually(
        crash_looping, what="revision 3's pods in CrashLoopBackOff", timeout=WAIT, interval=0.2
    )

    alert = alert_from_pack("RolloutCrashLooping", namespace, incident.DEPLOYMENT, len(looping))
    assert (
        alert["annotations"]["summary"]
        == f"{namespace}/{incident.DEPLOYMENT}: {len(looping)} pod(s) crash-looping"
    )
    push_alerts(alertmanager.url, [alert])

    # Rolled back inside the progress deadline: no stale condition, so the outcome is exact.
    assert recorded_outcome(receiver, before) == "succeeded"
    assert_rolled_back_to_healthy_v1_1_0(cluster, receiver, namespace, "RolloutCrashLooping")
    reasons = [e["reason"] for e in incident.receiver_events(incident.workload_events(cluster, namespace))]
    assert "RollbackSucceeded" in reasons
    # Nothing restarts any more.
    assert all(
        c["restartCount"] == 0 for p in pods(cluster, namespace) for c in p["status"]["containerStatuses"]
    )
