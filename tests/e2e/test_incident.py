"""The seed's incident end to end, with every real part: Prometheus fires HighErrorRate from the
exporter's counters, Alertmanager routes it, rollback-receiver rolls ecommerce back to the v1.1.0 template
on the real control plane, and the resolve is recorded. Then the decision matrix's other rows, with
alerts pushed straight into Alertmanager: medium resolved before its confirmation delay, low, a namespace
outside the allow list, and the same alert through an HA pair into two receiver replicas.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from incident_checks import assert_in_order, assert_readable_everywhere, wait_for_incident

from demo import incident
from demo.exporter import ErrorRateExporter, deployment_image_reader
from demo.kubeapi import ApiAccess
from demo.run import ratio_expression
from demo.stack import (
    DEPLOYMENT,
    SHOP,
    Timings,
    alertmanager_config,
    example_receiver,
    exporter_scrape_config,
    prometheus_rules,
)
from harness.alertmanager import AlertmanagerCluster
from harness.cluster import ClusterAccess
from harness.metrics import metric_value
from harness.prometheus import Prometheus
from harness.receiver import ReceiverProcess
from harness.waiting import eventually

pytestmark = [pytest.mark.e2e]

# The scenario namespaces the receiver may act in; `shop` is the seed's (the rule names it).
MEDIUM_NS = "e2e-medium"
LOW_NS = "e2e-low"
HA_NS = "e2e-ha"
ALLOWED_NAMESPACES = (SHOP, MEDIUM_NS, LOW_NS, HA_NS)  # read by the `receiver` fixture
OUTSIDE_NS = "e2e-outside"  # gets ecommerce too, and is not in the allow list
TIMINGS = Timings()
DeploySeed = Callable[[str], str]

PushAlerts = Callable[[str, Sequence[Mapping[str, Any]]], None]
WAIT = 180.0  # generous: a loaded 2-core machine; nothing here asserts on time
RECEIVED = "rollback_receiver_alerts_received_total"
ROLLBACKS = "rollback_receiver_rollbacks_total"


def seed_alert(alertname: str, namespace: str, severity: str, **fields: Any) -> dict[str, Any]:
    """An alert shaped like the seed's rule produces it (labels name the workload)."""
    return {
        "labels": {
            "alertname": alertname,
            "namespace": namespace,
            "deployment": DEPLOYMENT,
            "severity": severity,
        },
        "annotations": {"rollback": "true", "reason": "Error rate exceeded 2%"},
        **fields,
    }


def decisions_for(receiver: ReceiverProcess, alertname: str) -> list[dict[str, Any]]:
    return receiver.decisions(alertname=alertname)


def wait_for_decision(
    receiver: ReceiverProcess, alertname: str, wanted: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        return next((d for d in decisions_for(receiver, alertname) if wanted(d)), None)

    def seen() -> str:
        decided = json.dumps(decisions_for(receiver, alertname), indent=2)
        return f"decisions so far: {decided}\nreceiver log:\n{receiver.log_tail()}"

    return eventually(probe, what=what, timeout=WAIT, on_fail=seen)


def our_events(cluster: ClusterAccess, namespace: str) -> list[dict[str, Any]]:
    return incident.receiver_events(incident.workload_events(cluster, namespace))


def reasons(events: list[dict[str, Any]]) -> list[str]:
    """One reason per emission (an aggregated Event counts `count` times)."""
    return [str(e["reason"]) for e in events for _ in range(int(e.get("count") or 1))]


@pytest.fixture
def exporter(control_plane: ClusterAccess) -> Iterator[ErrorRateExporter]:
    reader = deployment_image_reader(
        ApiAccess.from_kubeconfig(control_plane.kubeconfig), SHOP, DEPLOYMENT, incident.CONTAINER
    )
    started = ErrorRateExporter(reader).start()
    yield started
    started.stop()


def test_seed_incident_rolls_back_once_to_v1_1_0_and_records_the_resolve(
    control_plane: ClusterAccess,
    receiver: ReceiverProcess,
    alertmanager: AlertmanagerCluster,
    exporter: ErrorRateExporter,
    prometheus_factory: Callable[..., Prometheus],
    deploy_seed: DeploySeed,
    tmp_path: Path,
) -> None:
    rules = prometheus_rules(TIMINGS, only=["HighErrorRate"]).document
    prometheus = prometheus_factory(
        rules,
        alertmanagers=[alertmanager.url],
        scrape_configs=[exporter_scrape_config(exporter.url)],
        scrape_interval=TIMINGS.scrape_interval,
        evaluation_interval=TIMINGS.scrape_interval,
    )
    before = receiver.metrics()

    deploy_seed(SHOP)  # v1.0.0, v1.1.0, then v1.2.0: the exporter's error ratio goes to 3.2%

    ratio = ratio_expression(rules)
    peak = eventually(
        lambda: next((v for _, v in prometheus.query(ratio) if v > 0.02), None),
        what="the error ratio above 2%",
        timeout=WAIT,
    )
    # On its way from 0.1% to v1.2.0's 3.2%; rate() extrapolates over the scrapes it has, which on a loaded
    # 2-core machine come irregularly, so the first value above 2% can overshoot 3.2% a little.
    assert 0.02 < peak < 0.05

    decision = wait_for_decision(
        receiver, "HighErrorRate", lambda d: d["decision"] == "rollback", "a rollback"
    )
    assert decision["target"] == f"deployment/{DEPLOYMENT} -n {SHOP}"
    assert decision["route"] == "critical-and-high"

    eventually(
        lambda: (
            metric_value(receiver.metrics(), ROLLBACKS, result="succeeded")
            > metric_value(before, ROLLBACKS, result="succeeded")
        ),
        what="the rollback to succeed",
        timeout=WAIT,
    )
    deployment = incident.read_deployment(control_plane, SHOP)
    assert incident.current_image(deployment) == incident.GOOD_RELEASE.image
    assert incident.revision_of(deployment) == 4  # revision 2's template, re-numbered like kubectl does
    audit = incident.audit_annotations(deployment)
    assert audit["rollback-receiver.io/rolled-back-from"] == "3"
    assert audit["rollback-receiver.io/rolled-back-to"] == "2"
    assert audit["rollback-receiver.io/last-alert"] == decision["alert"]
    assert audit["kubernetes.io/change-cause"].startswith("rollback-receiver: HighErrorRate (")
    history = incident.rollout_history(control_plane, SHOP)
    assert "rollback-receiver: HighErrorRate" in history
    status = incident.rollout_status(control_plane, SHOP)
    assert "successfully rolled out" in status

    # The error ratio falls with the good template live, and the alert resolves all the way through.
    wait_for_decision(receiver, "HighErrorRate", lambda d: d["reason"] == "alert_resolved", "the resolve")
    assert all(value < 0.02 for _, value in prometheus.query(ratio))
    after = receiver.metrics()
    assert metric_value(after, RECEIVED, status="resolved") > metric_value(
        before, RECEIVED, status="resolved"
    )
    assert (
        metric_value(after, ROLLBACKS, result="succeeded")
        - metric_value(before, ROLLBACKS, result="succeeded")
        == 1
    )
    assert metric_value(after, ROLLBACKS, result="failed") == metric_value(before, ROLLBACKS, result="failed")
    assert [d["decision"] for d in decisions_for(receiver, "HighErrorRate")].count("rollback") == 1
    events = our_events(control_plane, SHOP)
    assert reasons(events).count("RollbackTriggered") == 1
    assert "RollbackSucceeded" in reasons(events)
    assert (
        incident.revision_of(incident.read_deployment(control_plane, SHOP)) == 4
    )  # nothing after the resolve

    # The seed's "Document Incident": one record, every step in order, the same through every reader.
    record = wait_for_incident(receiver, "HighErrorRate", "recovered")
    assert_in_order(
        record, ["alert_started", "received", "decided", "patched", "rollout_complete", "alert_resolved"]
    )
    assert record["workload"] == {"kind": "Deployment", "namespace": SHOP, "name": DEPLOYMENT}
    assert record["revision"] == {"from": 3, "to": 2}
    assert record["images"] == {
        "before": [f"{incident.CONTAINER}={incident.BAD_RELEASE.image}"],
        "after": [f"{incident.CONTAINER}={incident.GOOD_RELEASE.image}"],
    }
    assert record["change_cause"] == audit["kubernetes.io/change-cause"]
    assert record["alert"]["key"] == decision["alert"] and record["route"] == "critical-and-high"
    impact = record["impact"]
    assert 0 < impact["alert_start_to_patch_seconds"] < impact["time_to_recovery_seconds"]
    assert 0 <= impact["receipt_to_patch_seconds"] <= impact["alert_start_to_patch_seconds"]
    assert metric_value(receiver.metrics(), "rollback_receiver_verifications_total", result="recovered") >= 1
    assert receiver.metric("rollback_receiver_alert_to_patch_seconds_count", route="critical-and-high") >= 1
    assert "RollbackRecovered" in reasons(our_events(control_plane, SHOP))
    assert_readable_everywhere(
        receiver,
        control_plane.kubeconfig,
        record,
        tmp_path,
        words=["recovered", incident.BAD_RELEASE.image, incident.GOOD_RELEASE.image, "Impact and resolution"],
    )


def test_medium_resolved_before_its_confirmation_delay_is_not_rolled_back(
    control_plane: ClusterAccess,
    receiver: ReceiverProcess,
    alertmanager: AlertmanagerCluster,
    push_alerts: PushAlerts,
    deploy_seed: DeploySeed,
) -> None:
    deploy_seed(MEDIUM_NS)
    started = datetime.now(UTC).isoformat()
    alert = seed_alert("E2ESlowCheckout", MEDIUM_NS, "medium", startsAt=started)
    push_alerts(alertmanager.url, [alert])

    pending = wait_for_decision(
        receiver, "E2ESlowCheckout", lambda d: d["decision"] == "wait", "the pending wait"
    )
    assert pending["route"] == "medium"
    not_before = datetime.fromisoformat(pending["not_before"])

    push_alerts(alertmanager.url, [{**alert, "endsAt": datetime.now(UTC).isoformat()}])
    resolved = wait_for_decision(
        receiver, "E2ESlowCheckout", lambda d: d["reason"] == "alert_resolved", "the resolve"
    )
    assert "cancelled" in resolved["message"]

    # Past the confirmation time (plus the receiver's 5 s timer) nothing was done.
    eventually(
        lambda: datetime.now(UTC) > not_before + timedelta(seconds=12),
        what="the confirmation delay to pass",
        timeout=WAIT,
    )
    verdicts = [d["decision"] for d in decisions_for(receiver, "E2ESlowCheckout")]
    assert "rollback" not in verdicts
    deployment = incident.read_deployment(control_plane, MEDIUM_NS)
    assert incident.current_image(deployment) == incident.BAD_RELEASE.image
    assert incident.revision_of(deployment) == 3
    assert "RollbackTriggered" not in reasons(our_events(control_plane, MEDIUM_NS))


def test_low_severity_only_notifies(
    control_plane: ClusterAccess,
    receiver: ReceiverProcess,
    alertmanager: AlertmanagerCluster,
    push_alerts: PushAlerts,
    deploy_seed: DeploySeed,
) -> None:
    deploy_seed(LOW_NS)
    push_alerts(alertmanager.url, [seed_alert("E2EMinorBug", LOW_NS, "low")])

    decision = wait_for_decision(receiver, "E2EMinorBug", lambda d: d["decision"] == "notify", "a notify")
    assert decision["route"] == "low"
    assert decision["target"] == f"deployment/{DEPLOYMENT} -n {LOW_NS}"
    eventually(
        lambda: "RollbackNotify" in reasons(our_events(control_plane, LOW_NS)),
        what="the RollbackNotify Event",
        timeout=WAIT,
    )
    deployment = incident.read_deployment(control_plane, LOW_NS)
    assert incident.current_image(deployment) == incident.BAD_RELEASE.image
    assert incident.revision_of(deployment) == 3
    assert not any(k.startswith("rollback-receiver.io/") for k in incident.audit_annotations(deployment))


def test_namespace_outside_the_allow_list_is_left_alone_with_the_reason(
    control_plane: ClusterAccess,
    receiver: ReceiverProcess,
    alertmanager: AlertmanagerCluster,
    push_alerts: PushAlerts,
    deploy_seed: DeploySeed,
) -> None:
    deploy_seed(OUTSIDE_NS)
    push_alerts(alertmanager.url, [seed_alert("E2EOutsideScope", OUTSIDE_NS, "critical")])

    decision = wait_for_decision(receiver, "E2EOutsideScope", lambda d: d["decision"] == "skip", "a refusal")
    assert decision["reason"] == "namespace_denied"
    assert OUTSIDE_NS in decision["message"]
    deployment = incident.read_deployment(control_plane, OUTSIDE_NS)
    assert incident.current_image(deployment) == incident.BAD_RELEASE.image
    assert incident.revision_of(deployment) == 3
    assert our_events(control_plane, OUTSIDE_NS) == []  # not even an Event where we were not allowed


def test_ha_alertmanager_pair_into_two_replicas_rolls_back_exactly_once(
    control_plane: ClusterAccess,
    receiver: ReceiverProcess,
    state_namespace: str,
    alertmanager_factory: Callable[..., AlertmanagerCluster],
    push_alerts: PushAlerts,
    deploy_seed: DeploySeed,
    tmp_path: Path,
) -> None:
    deploy_seed(HA_NS)
    # A second replica sharing the first one's state namespace and token, as two pods of the chart would.
    replica, _ = example_receiver(
        tmp_path / "receiver-1",
        kubeconfig=control_plane.kubeconfig,
        timings=TIMINGS,
        allow=receiver.config["namespaces"]["allow"],
        state_namespace=state_namespace,
        token_file=receiver.token_file,
    )
    replica.start()
    try:
        replicas = (receiver, replica)
        before = [r.metrics() for r in replicas]
        # Both Alertmanagers deliver to both replicas: every replica sees the alert at least twice.
        config = alertmanager_config([f"{r.url}/webhook" for r in replicas], receiver.token_file, TIMINGS)
        pair = alertmanager_factory(config.document, replicas=2, extra_args=["--cluster.peer-timeout=1s"])
        alert = seed_alert("E2EHighErrorRateHA", HA_NS, "high", startsAt=datetime.now(UTC).isoformat())
        for url in pair.urls:  # as Prometheus does: every Alertmanager gets every alert
            push_alerts(url, [alert])

        for r in replicas:
            wait_for_decision(r, "E2EHighErrorRateHA", lambda d: True, f"a decision on {r.url}")
        eventually(
            lambda: (
                all(r.metric("rollback_receiver_inflight_rollbacks") == 0 for r in replicas)
                and sum(r.metric(ROLLBACKS, result="succeeded") for r in replicas)
                > sum(metric_value(m, ROLLBACKS, result="succeeded") for m in before)
            ),
            what="the rollback to finish",
            timeout=WAIT,
        )

        received = [
            r.metric(RECEIVED, status="firing") - metric_value(m, RECEIVED, status="firing")
            for r, m in zip(replicas, before, strict=True)
        ]
        assert all(n >= 1 for n in received), f"each replica must have received the alert: {received}"
        rolled = [
            r.metric(ROLLBACKS, result="succeeded") - metric_value(m, ROLLBACKS, result="succeeded")
            for r, m in zip(replicas, before, strict=True)
        ]
        assert sum(rolled) == 1, f"rollbacks per replica: {rolled}"
        verdicts = [d["decision"] for r in replicas for d in decisions_for(r, "E2EHighErrorRateHA")]
        assert verdicts.count("rollback") == 1, verdicts
        deployment = incident.read_deployment(control_plane, HA_NS)
        assert incident.current_image(deployment) == incident.GOOD_RELEASE.image
        assert incident.revision_of(deployment) == 4
        assert reasons(our_events(control_plane, HA_NS)).count("RollbackTriggered") == 1
    finally:
        replica.stop()
