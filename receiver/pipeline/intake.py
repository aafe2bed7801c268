"""From a validated webhook payload to queued work: route, dedupe and enqueue each alert on its own.

Never decides from the payload's top-level `status` (a resolved alert can ride in a `firing` payload).
Answers within the request: nothing here waits on the cluster. What the config alone decides is decided
here and recorded like any decision, never queued: no route, a route that ignores it, and a firing alert
whose target the config refuses before any read (`core.scope`: a namespace out of scope, a target that does
not render or names too many workloads). So a storm of alerts we would refuse anyway costs no queue slot
and no worker time, and cannot push an alert we may act on into a 503. The HTTP mapping lives in
`receiver.web`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from receiver.core.alerts import Alert, AlertStatus, WebhookPayload
from receiver.core.decisions import Decision, Reason, Source, Verdict
from receiver.core.guards import refuse_targets
from receiver.core.routing import TargetError, select_routes
from receiver.core.scope import target_scope
from receiver.core.settings import Action, Config, Route
from receiver.pipeline.dedupe import SeenSet, seen_key
from receiver.pipeline.items import WorkItem
from receiver.pipeline.queue import QUEUE_FULL_LOG_INTERVAL, WorkQueue
from receiver.pipeline.reconcile import ReceiverName
from receiver.telemetry.metrics import Metrics
from receiver.telemetry.throttle import Throttle

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"  # same episode, status and route already queued
    NO_ROUTE = "no_route"
    IGNORED = "ignored"  # the route's action is `ignore`
    REFUSED = "refused"  # the config refuses its target (namespace out of scope, ...): decided, not queued
    NOT_QUEUED = "not_queued"  # the queue filled up: Alertmanager must send it again


_OUTCOMES = tuple(Outcome)  # (iterating an enum class is slow; this runs per request)
_STATUSES = tuple(AlertStatus)


@dataclass(frozen=True, slots=True)
class AlertResult:
    alert: Alert
    route: str | None
    outcome: Outcome

    def as_json(self) -> dict[str, object]:
        return {
            "fingerprint": self.alert.fingerprint,
            "alertname": self.alert.name,
            "status": self.alert.status.value,
            "route": self.route,
            "outcome": self.outcome.value,
        }


@dataclass(slots=True)
class IntakeResult:
    results: list[AlertResult] = field(default_factory=list)
    queue_full: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    def as_json(self) -> dict[str, object]:
        counts = dict.fromkeys(_OUTCOMES, 0)
        for r in self.results:
            counts[r.outcome] += 1
        return {
            "status": "queue_full" if self.queue_full else "accepted",
            "queued": counts[Outcome.QUEUED],
            "duplicates": counts[Outcome.DUPLICATE],
            "unrouted": counts[Outcome.NO_ROUTE],
            "ignored": counts[Outcome.IGNORED],
            "refused": counts[Outcome.REFUSED],
            "not_queued": counts[Outcome.NOT_QUEUED],
            "alerts": [r.as_json() for r in self.results],
        }


class Intake:
    def __init__(
        self,
        *,
        config: Callable[[], Config],
        queue: WorkQueue,
        seen: SeenSet,
        metrics: Metrics,
        record: Callable[[Decision], None],
        clock: Callable[[], datetime],
        receiver: ReceiverName | None = None,
    ) -> None:
        """`record` makes a decision visible, as the pipeline's own are (decision log, notifications,
        what reconciliation need not feed again)."""
        self._receiver = receiver
        self._config = config
        self._queue = queue
        self._seen = seen
        self._metrics = metrics
        self._record = record
        self._clock = clock
        self._queue_full = Throttle(QUEUE_FULL_LOG_INTERVAL)

    @property
    def accepting(self) -> bool:
        return self._queue.running

    def accept(self, payload: WebhookPayload) -> IntakeResult:
        """Queue every (alert, route) not seen before. On a full queue, stop and un-mark what was not
        queued, so Alertmanager's retry of the same payload is not swallowed by the dedupe set."""
        config = self._config()
        now = self._clock()
        result = IntakeResult()
        if self._receiver is not None:
            self._receiver.learn(payload.receiver)
        received = dict.fromkeys(_STATUSES, 0)
        for alert in payload.alerts:
            received[alert.status] += 1
        for status, count in received.items():
            if count:
                self._metrics.labelled(self._metrics.alerts_received, status.value).inc(count)
        for alert in payload.alerts:
            if result.queue_full:
                result.results.append(AlertResult(alert, None, Outcome.NOT_QUEUED))
                continue
            routes = select_routes(alert, config.routes)
            if not routes:
                self._skip(alert, None, Reason.NO_ROUTE, "matches no route", now, result, Outcome.NO_ROUTE)
                continue
            for route in routes:
                if result.queue_full:
                    result.results.append(AlertResult(alert, route.name, Outcome.NOT_QUEUED))
                    continue
                self._route(payload, alert, route, config, now, result)
        return result

    def _route(
        self,
        payload: WebhookPayload,
        alert: Alert,
        route: Route,
        config: Config,
        now: datetime,
        result: IntakeResult,
    ) -> None:
        key = seen_key(alert.episode_key, alert.status.value, route.name)
        if not self._seen.mark(key):
            self._metrics.alerts_deduplicated.inc()
            result.results.append(AlertResult(alert, route.name, Outcome.DUPLICATE))
            return
        if route.action is Action.IGNORE:
            message = f"route {route.name} ignores it"
            self._skip(alert, route, Reason.ROUTE_IGNORE, message, now, result, Outcome.IGNORED)
            return
        if alert.status is AlertStatus.FIRING and route.target is not None:
            try:
                target_scope(alert, route, config)
            except TargetError as exc:
                self._record(
                    refuse_targets(alert, route, now, exc.reason, exc.message, transient=exc.transient)
                )
                result.results.append(AlertResult(alert, route.name, Outcome.REFUSED))
                return
        item = WorkItem(
            alert=alert,
            route=route,
            receiver=payload.receiver,
            group_key=payload.group_key,
            truncated_alerts=payload.truncated_alerts,
            received_at=now,
            source=Source.WEBHOOK,
            priority=route.priority,
        )
        if self._queue.offer(item):
            result.results.append(AlertResult(alert, route.name, Outcome.QUEUED))
            return
        self._seen.forget(key)
        result.queue_full = True
        result.results.append(AlertResult(alert, route.name, Outcome.NOT_QUEUED))
        self._warn_queue_full(alert, route, now)

    def _warn_queue_full(self, alert: Alert, route: Route, now: datetime) -> None:
        """One warning when the queue first refuses, then at most one every QUEUE_FULL_LOG_INTERVAL with
        how many more requests were answered 503 since: a storm against a full queue is thousands of 503s
        a second, and a line each would flood the log (the webhook_requests_total metric counts each)."""
        more = self._queue_full.due(now)
        if more is None:
            return
        since = f" ({more} more requests answered 503 since the last such line)" if more else ""
        logger.warning(
            "work queue full or stopping: answering 503 so Alertmanager sends the alert again" + since,
            extra={
                "alert": alert.episode_key,
                "alertname": alert.name,
                "route": route.name,
                "requests_not_logged": more,
            },
        )

    def _skip(
        self,
        alert: Alert,
        route: Route | None,
        reason: Reason,
        message: str,
        now: datetime,
        result: IntakeResult,
        outcome: Outcome,
    ) -> None:
        if route is None and not self._seen.mark(seen_key(alert.episode_key, alert.status.value, None)):
            # Repeats of an unrouted alert are counted once, like routed ones.
            self._metrics.alerts_deduplicated.inc()
            result.results.append(AlertResult(alert, None, Outcome.DUPLICATE))
            return
        self._record(
            Decision(
                verdict=Verdict.SKIP,
                reason=reason,
                message=f"alert {alert.name or alert.fingerprint} ({alert.status.value}) {message}",
                alert_key=alert.episode_key,
                alert_name=alert.name,
                route=route.name if route else None,
                target=None,
                decided_at=now,
            )
        )
        result.results.append(AlertResult(alert, route.name if route else None, outcome))
