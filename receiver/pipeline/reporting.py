"""Making decisions and outcomes visible: the decision log (JSON line + metric), Kubernetes Events, gauges.

Every stage reports through one `Reporter`, so a decision looks the same wherever it was made. The Event
recorder is injected (the composition root owns it), and so is the memory of what this process decided,
which reconciliation reads to avoid re-deciding (and re-eventing) an alert every interval.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from receiver.core.alerts import Alert, AlertStatus
from receiver.core.decisions import EVENT_FOR_VERDICT, Decision, EventReason, Reason, Verdict
from receiver.core.ledger import GuardState
from receiver.core.settings import Config, NoticeKind, Route
from receiver.core.workload import WorkloadFacts, WorkloadRef
from receiver.k8s import EventRecorder, KubeClient
from receiver.pipeline.decision_log import DecisionLog
from receiver.pipeline.dedupe import SeenSet, seen_key
from receiver.pipeline.notifying import Notifier
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)

# Alerts decided by this process, so reconciliation does not re-decide (and re-event) them every interval.
DECIDED_MEMORY = 50_000


class Reporter:
    def __init__(
        self,
        *,
        kube: KubeClient,
        events: EventRecorder,
        decisions: DecisionLog,
        metrics: Metrics,
        config: Callable[[], Config],
        clock: Callable[[], datetime],
        seen: SeenSet | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._kube = kube
        self.notifier = notifier
        self._seen = seen
        self._events = events
        self._decisions = decisions
        self.metrics = metrics
        self._config = config
        self._clock = clock
        self._decided: OrderedDict[tuple[str, str], None] = OrderedDict()

    def record(self, decision: Decision) -> None:
        """The decision log (log line, metric, ring buffer) and, when final, the decided memory.

        Only a final decision is remembered: WAIT and IN_PROGRESS must be fed again by reconciliation if the
        replica holding them dies. A transient one (API error, conflict, workload not found yet) and an
        IN_PROGRESS one (another replica holds the reservation: if it dies before its patch, the reservation
        is released) are also forgotten by the intake's dedupe, so Alertmanager's next delivery decides
        again; the ledger keeps that to one rollback.
        """
        self._decisions.record(decision)
        if (
            self.notifier is not None
            and decision.final
            and decision.verdict in (Verdict.SKIP, Verdict.NOTIFY)
        ):
            self.notifier.about_decision(NoticeKind.SKIPPED, decision)  # only reasons a human must act on
        if decision.final:
            self._decided[(decision.alert_key, decision.route or "")] = None
            while len(self._decided) > DECIDED_MEMORY:
                self._decided.popitem(last=False)
        elif (decision.transient or decision.reason == Reason.IN_PROGRESS) and self._seen is not None:
            self._seen.forget(seen_key(decision.alert_key, AlertStatus.FIRING.value, decision.route))

    def has_decided(self, alert: Alert, route: Route) -> bool:
        return (alert.episode_key, route.name) in self._decided

    async def report(self, decision: Decision, facts: WorkloadFacts | None, *, warning: bool = False) -> None:
        """Every decision reaches the decision log and, with a workload, an Event on it."""
        self.record(decision)
        if facts is None:
            return
        await self.event(
            facts.ref,
            facts.uid,
            EVENT_FOR_VERDICT[decision.verdict],
            f"[{decision.reason}] {decision.message} "
            f"(alert {decision.alert_name} {decision.alert_key}, from {decision.source})",
            warning=warning,
        )

    async def event(
        self, ref: WorkloadRef, uid: str, reason: EventReason, message: str, *, warning: bool = False
    ) -> None:
        await self._events.emit(self._kube, ref, uid=uid, reason=reason, message=message, warning=warning)

    def gauges(self, state: GuardState) -> None:
        """Breaker, in-flight and budget gauges from a fresh read of the ledger."""
        now, config = self._clock(), self._config()
        limits = config.limits
        self.metrics.circuit_breaker_open.set(1 if state.breaker.open else 0)
        self.metrics.inflight_rollbacks.set(state.inflight)
        self.metrics.budget_remaining.labels(scope="global").set(
            max(limits.global_.max - state.used(now, limits.global_.per), 0)
        )
        namespaces = set(config.namespaces.allow) | {c.namespace for c in state.claims}
        for namespace in namespaces:
            used = state.used(now, limits.per_namespace.per, namespace)
            self.metrics.budget_remaining.labels(scope=f"namespace:{namespace}").set(
                max(limits.per_namespace.max - used, 0)
            )
