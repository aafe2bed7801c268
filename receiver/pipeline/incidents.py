"""Writing the incident record of each rollback, step by step, from whichever replica sees the step.

The record is opened when the undo patch is accepted (with everything known up to then: the alert's
start, its first delivery, a confirmation delay, the decision, the patch) and completed by the rollout's
end, the alert's resolve or its deadline, and every notification. A failure to write it is logged and
counted (`kube_api_errors_total{kind="incidents"}`) and never changes a decision or holds up a rollback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from receiver.core.alerts import Alert
from receiver.core.decisions import Decision
from receiver.core.guards import current_revision
from receiver.core.incident_report import span
from receiver.core.incidents import (
    OUTCOMES,
    Incident,
    Phase,
    Step,
    StepKind,
    bounded_labels,
    close,
    incident_id,
    with_step,
)
from receiver.core.ledger import Claim, claim_key
from receiver.core.settings import Config
from receiver.core.workload import WorkloadFacts
from receiver.k8s import IncidentStore, KubeClient, KubeError
from receiver.pipeline.items import WorkItem
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SUMMARY_ANNOTATIONS = ("summary", "description", "reason", "message")


class IncidentRecorder:
    def __init__(
        self, kube: KubeClient, config: Config, *, clock: Clock, holder: str, metrics: Metrics
    ) -> None:
        self._kube = kube
        self._clock = clock
        self._holder = holder
        self._metrics = metrics
        self.configure(config)

    def configure(self, config: Config) -> None:
        self._config = config
        self.store = IncidentStore.for_config(self._kube, config)

    def url(self, ident: str) -> str | None:
        """The record's page for people, when `incidents.external_url` says how they reach us."""
        base = self._config.incidents.external_url.rstrip("/")
        return f"{base}/incidents/{ident}" if base else None

    def step(self, kind: StepKind, text: str, *, at: datetime | None = None, key: str = "") -> Step:
        return Step(at=at or self._clock(), kind=kind, text=text, by=self._holder, key=key)

    async def opened(
        self,
        item: WorkItem,
        facts: WorkloadFacts,
        decision: Decision,
        *,
        patched_at: datetime,
        change_cause: str,
    ) -> Incident | None:
        """The record of a rollback whose patch was just accepted, with every step up to the patch."""
        incident = opening(
            item,
            facts,
            decision,
            patched_at=patched_at,
            change_cause=change_cause,
            cluster=self._config.cluster_name,
            holder=self._holder,
        )
        return await self._write(incident.id, lambda current: current or incident)

    async def record(
        self,
        ident: str,
        step: Step | None = None,
        *,
        phase: Phase | None = None,
        claim: Claim | None = None,
        **changes: Any,
    ) -> Incident | None:
        """Add `step` (once), set `changes`, move to `phase` (an outcome is final). Without a record yet
        (its opening write failed, or the replica that patched died before it), `claim` opens a short one."""

        def mutate(current: Incident | None) -> Incident | None:
            if current is None:
                if claim is None:
                    return None
                current = from_claim(claim, cluster=self._config.cluster_name)
            updated = current
            if changes and not current.closed:
                updated = replace(updated, **changes)
            if step is not None:
                updated = with_step(updated, step)
            if phase is not None:
                at = step.at if step is not None else self._clock()
                updated = close(updated, phase, at) if phase in OUTCOMES else _move(updated, phase)
            return updated

        return await self._write(ident, mutate)

    async def list(self) -> list[Incident]:
        """Every record, newest first (for the web pages; KubeError when the cluster cannot be read)."""
        return await self.store.list()

    async def get(self, ident: str) -> Incident | None:
        return await self.store.get(ident)

    async def _write(
        self, ident: str, mutate: Callable[[Incident | None], Incident | None]
    ) -> Incident | None:
        try:
            return await self.store.update(ident, mutate)
        except KubeError as exc:
            self._failed(ident, exc)
            return None

    def _failed(self, ident: str, exc: KubeError) -> None:
        self._metrics.kube_api_errors.labels(kind="incidents").inc()
        logger.warning(
            "could not write the incident record; the rollback goes on",
            extra={"incident": ident, "error": str(exc)},
        )


def _move(incident: Incident, phase: Phase) -> Incident:
    return incident if incident.closed else replace(incident, phase=phase)


def opening(
    item: WorkItem,
    facts: WorkloadFacts,
    decision: Decision,
    *,
    patched_at: datetime,
    change_cause: str,
    cluster: str,
    holder: str,
) -> Incident:
    """The record as it stands when the patch is accepted (pure, from what the pipeline has in hand)."""
    alert, ref = item.alert, facts.ref
    key = claim_key(alert.episode_key, ref)
    before = current_revision(facts)
    after = next((r for r in facts.revisions if r.number == decision.to_revision), None)
    received = item.first_received_at or item.received_at
    decided = decision.decided_at or patched_at

    def step(at: datetime, kind: StepKind, text: str) -> Step:
        return Step(at=at, kind=kind, text=text, by=holder)

    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
    steps = [
        step(alert.starts_at, StepKind.ALERT_STARTED, f"{alert.name} started firing ({labels})"),
        step(
            received, StepKind.RECEIVED, f"first delivery of the alert to rollback-receiver ({item.source})"
        ),
    ]
    if item.waited_from is not None:
        steps.append(
            step(
                item.received_at,
                StepKind.WAITED,
                f"confirmation delay over: still firing {_since(item.waited_from, item.received_at)} after "
                f"the first decision (route {item.route.name}: confirm_for)",
            )
        )
    revisions = f"revision {facts.current_revision} → {decision.to_revision}"
    images = ""
    if before is not None and after is not None and before.images != after.images:
        images = f"; images {', '.join(before.images)} → {', '.join(after.images)}"
    steps += [
        step(decided, StepKind.DECIDED, f"decided to roll back: {decision.message}"),
        step(patched_at, StepKind.PATCHED, f"undo patch accepted: {revisions}{images}"),
    ]
    return Incident(
        id=incident_id(key),
        claim_key=key,
        opened_at=patched_at,
        cluster=cluster,
        route=item.route.name,
        source=str(item.source),
        alert_name=alert.name,
        alert_key=alert.episode_key,
        fingerprint=alert.fingerprint,
        alert_starts_at=alert.starts_at,
        alert_labels=bounded_labels(alert.labels),
        alert_summary=summary_of(alert),
        workload=ref,
        reason=decision.message,
        received_at=received,
        decided_at=decided,
        patched_at=patched_at,
        from_revision=facts.current_revision,
        to_revision=decision.to_revision,
        images_before=before.images if before is not None else (),
        images_after=after.images if after is not None else (),
        change_cause=change_cause,
        steps=tuple(steps),
    )


def from_claim(claim: Claim, *, cluster: str) -> Incident:
    """A short record from the shared ledger alone, when the full one was never written."""
    fingerprint, _, _starts = claim.alert_key.partition("@")
    started = claim.patched_at or claim.claimed_at
    return Incident(
        id=incident_id(claim.key),
        claim_key=claim.key,
        opened_at=started,
        cluster=cluster,
        route=claim.route,
        source="recovered from the shared state",
        alert_name=claim.alert_name,
        alert_key=claim.alert_key,
        fingerprint=fingerprint,
        alert_starts_at=_episode_start(claim.alert_key) or claim.claimed_at,
        workload=claim.target,
        reason="(the replica that rolled back did not record the decision)",
        decided_at=claim.claimed_at,
        patched_at=claim.patched_at,
    )


def summary_of(alert: Alert) -> str:
    return next((alert.annotations[k] for k in SUMMARY_ANNOTATIONS if alert.annotations.get(k)), "")[:600]


def _episode_start(alert_key: str) -> datetime | None:
    try:
        return datetime.fromisoformat(alert_key.partition("@")[2])
    except ValueError:
        return None


def _since(start: datetime, end: datetime) -> str:
    return span(end - start)
