"""The incident record: stable ids, idempotent and bounded steps, the first outcome kept, JSON round trip,
retention by count and bytes, and the Markdown post-mortem starter with every step in time order."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from receiver.core import incidents
from receiver.core.incident_report import markdown
from receiver.core.incidents import Incident, Phase, Step, StepKind
from receiver.core.workload import WorkloadKind, WorkloadRef

T0 = datetime(2026, 11, 29, 9, 5, tzinfo=UTC)
REF = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce")


def record(**changes: object) -> Incident:
    base = Incident(
        id=incidents.incident_id("fp@t|Deployment/shop/ecommerce"),
        claim_key="fp@t|Deployment/shop/ecommerce",
        opened_at=T0 + timedelta(seconds=70),
        cluster="shop-prod",
        route="critical-and-high",
        source="webhook",
        alert_name="HighErrorRate",
        alert_key="fp@t",
        fingerprint="fp",
        alert_starts_at=T0,
        workload=REF,
        reason="roll back deployment/ecommerce -n shop from revision 3 to revision 2",
        alert_labels={"alertname": "HighErrorRate", "severity": "high", "namespace": "shop"},
        alert_summary="Error rate exceeded 2%",
        received_at=T0 + timedelta(seconds=69),
        decided_at=T0 + timedelta(seconds=69.5),
        patched_at=T0 + timedelta(seconds=70),
        from_revision=3,
        to_revision=2,
        images_before=("ecommerce=ghcr.io/company/ecommerce:v1.2.0",),
        images_after=("ecommerce=ghcr.io/company/ecommerce:v1.1.0",),
        change_cause="rollback-receiver: HighErrorRate (fp) rolled back to revision 2",
    )
    return dataclasses.replace(base, **changes)


def step(seconds: float, kind: StepKind, text: str, key: str = "") -> Step:
    return Step(T0 + timedelta(seconds=seconds), kind, text, by="replica-0", key=key)


def test_the_id_is_the_same_on_every_replica_and_differs_per_claim() -> None:
    assert incidents.incident_id("a|b") == incidents.incident_id("a|b")
    assert incidents.incident_id("a|b") != incidents.incident_id("a|c")
    assert len(incidents.incident_id("a|b")) == 12


def test_a_step_is_recorded_once_and_steps_are_bounded_but_the_outcome_is_kept() -> None:
    incident = incidents.with_step(record(), step(1, StepKind.PATCHED, "patched"))
    assert incidents.with_step(incident, step(2, StepKind.PATCHED, "patched again")) is incident
    for index in range(incidents.MAX_STEPS + 10):
        incident = incidents.with_step(
            incident, step(3 + index, StepKind.NOTIFIED, "told x", key=f"n{index}")
        )
    assert len(incident.steps) == incidents.MAX_STEPS
    incident = incidents.with_step(incident, step(500, StepKind.ALERT_RESOLVED, "resolved"))
    assert incident.steps[-1].kind is StepKind.ALERT_RESOLVED


def test_the_first_outcome_stays() -> None:
    incident = incidents.close(record(), Phase.DID_NOT_HELP, T0 + timedelta(minutes=12))
    assert incidents.close(incident, Phase.RECOVERED, T0 + timedelta(minutes=13)).phase is Phase.DID_NOT_HELP


def test_json_round_trip_and_impact() -> None:
    incident = incidents.with_step(record(), step(70, StepKind.PATCHED, "patched"))
    incident = dataclasses.replace(
        incident,
        phase=Phase.RECOVERED,
        resolved_at=T0 + timedelta(minutes=3),
        rollout_done_at=T0 + timedelta(seconds=82),
    )
    assert incidents.loads(incidents.dumps(incident)) == incident
    doc = incidents.to_json(incident, url="http://rr/incidents/x")
    assert doc["impact"] == {
        "alert_start_to_patch_seconds": 70.0,
        "receipt_to_patch_seconds": 1.0,
        "rollout_seconds": 12.0,
        "time_to_recovery_seconds": 180.0,
    }
    assert doc["url"] == "http://rr/incidents/x"


def test_retention_drops_the_oldest_by_count_and_by_bytes() -> None:
    texts = {
        f"{i}.json": incidents.dumps(record(id=f"{i:012x}", opened_at=T0 + timedelta(minutes=i)))
        for i in range(5)
    }
    assert incidents.retained(texts, keep=3, max_bytes=10**6) == {"0.json", "1.json"}
    one = len(texts["0.json"]) + len("0.json") + 8
    assert incidents.retained(texts, keep=10, max_bytes=2 * one + 10) == {"0.json", "1.json", "2.json"}


def test_labels_are_bounded() -> None:
    labels = {f"k{i:03d}": "v" * 1000 for i in range(100)}
    kept = incidents.bounded_labels(labels)
    assert len(kept) == incidents.MAX_LABELS
    assert all(len(v) <= incidents.MAX_LABEL_VALUE for v in kept.values())


def test_markdown_is_a_post_mortem_starter_with_the_timeline_in_time_order() -> None:
    incident = record(
        phase=Phase.RECOVERED,
        resolved_at=T0 + timedelta(minutes=3),
        rollout_done_at=T0 + timedelta(seconds=82),
    )
    # Recorded out of order by two replicas: the report sorts by time.
    for seconds, kind, text in [
        (180, StepKind.ALERT_RESOLVED, "HighErrorRate resolved"),
        (0, StepKind.ALERT_STARTED, "HighErrorRate started firing"),
        (70, StepKind.PATCHED, "undo patch accepted: revision 3 → 2"),
        (82, StepKind.ROLLOUT_COMPLETE, "rollout complete in 12s"),
    ]:
        incident = incidents.with_step(incident, step(seconds, kind, text))
    text = markdown(incident, url="http://rr/incidents/abc")
    assert text.startswith(
        f"# Incident {incident.id}: HighErrorRate rolled back deployment/ecommerce -n shop"
    )
    order = [
        text.index(s) for s in ("started firing", "undo patch accepted", "rollout complete", "resolved |")
    ]
    assert order == sorted(order)
    assert "| +01:10 |" in text and "| +03:00 |" in text
    assert "Alert start to rollback: 1m10s (first delivery to the undo patch: 1.0s)." in text
    assert "Alert start to resolution (time to recovery): 3m." in text
    assert "ecommerce=ghcr.io/company/ecommerce:v1.2.0" in text and "v1.1.0" in text
    assert "## Follow-up (fill in)" in text and "- Root cause:" in text
    assert "Page: http://rr/incidents/abc" in text


def test_markdown_of_a_rollback_that_did_not_help_says_what_a_human_does_now() -> None:
    text = markdown(record(phase=Phase.DID_NOT_HELP))
    assert "did not help" in text and "not rolled back again" in text
