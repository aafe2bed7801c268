"""How big incident records are in their ConfigMap, and how many fit within `incidents.max_bytes`.

A typical record is the seed's incident with every step and three channels told about two outcomes; the
worst case fills every bound of `receiver.core.incidents` (steps, text, labels). No cluster needed:

    uv run --frozen python bench/incident_size.py
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver.core import incidents
from receiver.core.incidents import Incident, Phase, Step, StepKind
from receiver.core.settings import IncidentsConfig
from receiver.core.workload import WorkloadKind, WorkloadRef

T0 = datetime(2026, 11, 29, 9, 5, tzinfo=UTC)
API_LIMIT = 1 << 20


def base(labels: dict[str, str]) -> Incident:
    return Incident(
        id=incidents.incident_id("a1b2c3d4e5f60718@2026-11-29T09:05:00+00:00|Deployment/shop/ecommerce"),
        claim_key="a1b2c3d4e5f60718@2026-11-29T09:05:00+00:00|Deployment/shop/ecommerce",
        opened_at=T0 + timedelta(seconds=70),
        cluster="shop-prod",
        route="critical-and-high",
        source="webhook",
        alert_name="HighErrorRate",
        alert_key="a1b2c3d4e5f60718@2026-11-29T09:05:00+00:00",
        fingerprint="a1b2c3d4e5f60718",
        alert_starts_at=T0,
        workload=WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce"),
        reason="roll back deployment/ecommerce -n shop from revision 3 to revision 2",
        alert_labels=incidents.bounded_labels(labels),
        alert_summary="Error rate exceeded 2%",
        received_at=T0 + timedelta(seconds=69),
        decided_at=T0 + timedelta(seconds=69),
        patched_at=T0 + timedelta(seconds=70),
        from_revision=3,
        to_revision=2,
        images_before=("ecommerce=ghcr.io/company/ecommerce:v1.2.0",),
        images_after=("ecommerce=ghcr.io/company/ecommerce:v1.1.0",),
        change_cause="rollback-receiver: HighErrorRate (a1b2c3d4e5f60718) rolled back to revision 2",
        phase=Phase.RECOVERED,
    )


def typical() -> Incident:
    incident = base(
        {"alertname": "HighErrorRate", "severity": "high", "namespace": "shop", "deployment": "ecommerce"}
    )
    texts = [
        (
            StepKind.ALERT_STARTED,
            "HighErrorRate started firing (deployment=ecommerce, namespace=shop, severity=high)",
        ),
        (StepKind.RECEIVED, "first delivery of the alert to rollback-receiver (webhook)"),
        (
            StepKind.DECIDED,
            "decided to roll back: roll back deployment/ecommerce -n shop from revision 3 to revision 2",
        ),
        (
            StepKind.PATCHED,
            "undo patch accepted: revision 3 → 2; images ecommerce=ghcr.io/company/ecommerce:v1.2.0 → "
            "ecommerce=ghcr.io/company/ecommerce:v1.1.0",
        ),
        (
            StepKind.ROLLOUT_COMPLETE,
            'rollout complete in 12s: deployment "ecommerce" successfully rolled out',
        ),
        (
            StepKind.VERIFYING,
            "verifying: HighErrorRate must resolve by 2026-11-29 09:16:22 UTC (10m after the rollout)",
        ),
        (
            StepKind.ALERT_RESOLVED,
            "HighErrorRate resolved 48s after the rollout completed (resolved notification)",
        ),
    ]
    for index, (kind, text) in enumerate(texts):
        incident = incidents.with_step(
            incident, Step(T0 + timedelta(seconds=index), kind, text, "rollback-receiver-7d9f-x2")
        )
    for channel in ("oncall", "team-hook", "shop-chat"):
        for outcome in ("triggered", "recovered"):
            step = Step(
                T0,
                StepKind.NOTIFIED,
                f"told {channel}: {outcome} (sent, attempt 1)",
                "rollback-receiver-7d9f-x2",
                key=f"notified/{channel}/{outcome}",
            )
            incident = incidents.with_step(incident, step)
    return incident


def worst() -> Incident:
    incident = base({f"label_{i:02d}": "v" * 1000 for i in range(100)})
    for index in range(incidents.MAX_STEPS + 10):
        step = Step(T0, StepKind.NOTIFIED, "x" * 2000, "rollback-receiver-7d9f-x2", key=f"n{index}")
        incident = incidents.with_step(incident, step)
    return incident


def main() -> None:
    budget = IncidentsConfig().max_bytes
    for name, incident in (("typical", typical()), ("worst case", worst())):
        size = len(incidents.dumps(incident).encode()) + len(incident.id) + 8
        print(
            f"{name:10s}: {len(incident.steps):2d} steps, {size:6d} bytes; "
            f"{budget // size:4d} fit in max_bytes={budget} (retain default {IncidentsConfig().retain}); "
            f"{API_LIMIT // size:4d} in the API's 1 MiB"
        )


if __name__ == "__main__":
    main()
