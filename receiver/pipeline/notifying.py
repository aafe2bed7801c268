"""Telling people: which outcome goes to which channels (the route's policy), and what became of it.

Stages call `about_incident` (a rollback's own outcomes) or `about_decision` (waiting, skipped); both only
queue (`receiver.notify.Dispatcher`), so a notification never blocks or changes a decision. Each result is
recorded three times: `notifications_total{channel,result}`, a log line, and a step of the incident record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from receiver.core.decisions import Decision, Reason
from receiver.core.incidents import Incident, StepKind, incident_id
from receiver.core.ledger import Claim
from receiver.core.notices import Notice
from receiver.core.settings import Config, NoticeKind
from receiver.notify import Delivery, Dispatcher
from receiver.pipeline.incidents import IncidentRecorder
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Refusals a human must act on (the others fix themselves or are the point of the guard).
NEEDS_HUMAN = frozenset(
    {
        Reason.BREAKER_OPEN,
        Reason.ARGOCD_MANAGED,
        Reason.FLUX_MANAGED,
        Reason.HELM_MANAGED,
        Reason.OWNED_BY_CONTROLLER,
        Reason.DEPLOYMENT_PAUSED,
        Reason.BUDGET_NAMESPACE,
        Reason.BUDGET_GLOBAL,
        Reason.NO_HISTORY,
        Reason.UNKNOWN_REVISION,
        Reason.INVALID_REVISION,
    }
)


class Notifier:
    def __init__(
        self, config: Callable[[], Config], *, metrics: Metrics, incidents: IncidentRecorder, clock: Clock
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._incidents = incidents
        self._clock = clock
        self.dispatcher = Dispatcher(config().notifications, self._on_result)

    def configure(self, config: Config) -> None:
        self.dispatcher.configure(config.notifications)

    async def close(self) -> None:
        await self.dispatcher.close()

    def about_rollback(
        self,
        kind: NoticeKind,
        incident: Incident | None,
        *,
        claim: Claim | None = None,
        decision: Decision | None = None,
        message: str,
        reason: str,
    ) -> None:
        """An outcome of a rollback, with what its record knows (else the claim or the decision alone)."""
        if incident is None:
            if decision is not None:
                self._submit(replace(self._from_decision(kind, decision), message=message, reason=reason))
            elif claim is not None:
                self._submit(self._from_claim(kind, claim, message=message, reason=reason))
            return
        self._submit(
            Notice(
                kind=kind,
                at=self._clock(),
                message=message,
                reason=reason,
                route=incident.route,
                alert_name=incident.alert_name,
                alert_key=incident.alert_key,
                fingerprint=incident.fingerprint,
                alert_starts_at=incident.alert_starts_at,
                alert_labels=incident.alert_labels,
                workload=incident.workload,
                cluster=incident.cluster,
                from_revision=incident.from_revision,
                to_revision=incident.to_revision,
                incident_id=incident.id,
                incident_url=self._incidents.url(incident.id),
            )
        )

    def _from_claim(self, kind: NoticeKind, claim: Claim, *, message: str, reason: str) -> Notice:
        return Notice(
            kind=kind,
            at=self._clock(),
            message=message,
            reason=reason,
            route=claim.route,
            alert_name=claim.alert_name,
            alert_key=claim.alert_key,
            fingerprint=claim.alert_key.partition("@")[0],
            workload=claim.target,
            cluster=self._config().cluster_name,
            incident_id=incident_id(claim.key),
            incident_url=self._incidents.url(incident_id(claim.key)),
        )

    def about_decision(self, kind: NoticeKind, decision: Decision) -> None:
        """Waiting for confirmation, or a refusal that needs a human."""
        if kind is NoticeKind.SKIPPED and decision.reason not in NEEDS_HUMAN:
            return
        self._submit(self._from_decision(kind, decision))

    def _from_decision(self, kind: NoticeKind, decision: Decision) -> Notice:
        return Notice(
            kind=kind,
            at=decision.decided_at or self._clock(),
            message=decision.message,
            reason=str(decision.reason),
            route=decision.route or "",
            alert_name=decision.alert_name,
            alert_key=decision.alert_key,
            fingerprint=decision.alert_key.partition("@")[0],
            alert_labels=decision.alert_labels,
            workload=decision.target,
            cluster=self._config().cluster_name,
            to_revision=decision.to_revision,
        )

    def _submit(self, notice: Notice) -> None:
        route = self._config().route(notice.route)
        policy = route.notifications if route is not None else self._config().notifications.default
        if notice.kind in policy.outcomes and policy.channels:
            self.dispatcher.submit(notice, policy.channels)

    async def _on_result(self, delivery: Delivery) -> None:
        notice = delivery.notice
        self._metrics.notifications.labels(channel=delivery.channel, result=delivery.result).inc()
        fields = {
            "channel": delivery.channel,
            "result": delivery.result,
            "attempts": delivery.attempts,
            "notice": notice.kind.value,
            "alert": notice.alert_key,
            "alertname": notice.alert_name,
            "target": notice.target,
            "incident": notice.incident_id,
        }
        if delivery.result == "sent":
            logger.info("notified %s: %s", delivery.channel, notice.summary, extra=fields)
        else:
            logger.warning(
                "notification to %s %s: %s", delivery.channel, delivery.result, delivery.error, extra=fields
            )
        if notice.incident_id is None:
            return
        if delivery.result == "sent":
            text = f"told {delivery.channel}: {notice.kind.value} (sent, attempt {delivery.attempts})"
        else:
            outcome = f"{delivery.result}: {delivery.error}"
            text = f"could not tell {delivery.channel}: {notice.kind.value} ({outcome})"
        step = self._incidents.step(StepKind.NOTIFIED, text, key=f"notified/{delivery.channel}/{notice.kind}")
        await self._incidents.record(notice.incident_id, step)
