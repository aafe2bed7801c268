"""The pipeline for one work item, composed in one place. Read this file top to bottom.

    resolved alert          -> Resolved (cancels its pending confirmation)
    ignore / no target      -> recorded at the alert level
    firing, per target      -> ResolveTargets
      (one at a time per workload)
        read facts -> Decide -> Reserve -> AlertmanagerGate (silenced? inhibited? muted? resolved?) -> act:
                                           (HealthGate for the rollout-health source: still failing?)
            WAIT      -> Wait      (pending confirmation in the ledger)
            ROLLBACK  -> Rollback  -> Verify
            DRY_RUN   -> DryRun
            otherwise -> Decline
      Verify: the rollout's end, then the alert's resolve (Resolved, or Alertmanager's API in Recovery)
      within `verify.alert_clears_within`, else did_not_help (Recovery); each step lands in the incident
      record and reaches the route's notification channels
      a Conflict (the workload changed under us) -> decide again on fresh state, up to MAX_CONFLICTS

Exactly once per (alert episode, workload) with any number of replicas and restarts: the decision is made
on a snapshot, the budget is reserved atomically in the shared ledger with the guards re-run on the state
being written, the undo patch carries the decision's facts as a precondition and our `last-alert`
annotation, and `Recovery` finishes what a crash interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime

from receiver.core import guards
from receiver.core.alerts import Alert, AlertStatus
from receiver.core.decisions import Decision, Reason, Verdict
from receiver.core.ledger import claim_key, pending_key
from receiver.core.rollout_health import is_watch_item
from receiver.core.settings import Action, Config, Route
from receiver.core.timefmt import utc_now
from receiver.core.workload import WorkloadRef
from receiver.k8s import (
    Conflict,
    EventRecorder,
    KubeClient,
    KubeError,
    NotFound,
    StateError,
    facts_from,
    read_snapshot,
)
from receiver.pipeline.decision_log import DecisionLog
from receiver.pipeline.dedupe import SeenSet
from receiver.pipeline.incidents import IncidentRecorder
from receiver.pipeline.inflight import InFlight
from receiver.pipeline.items import WorkItem
from receiver.pipeline.ledger import Ledger, breaker_summary
from receiver.pipeline.notifying import Notifier
from receiver.pipeline.reconcile import ReceiverName
from receiver.pipeline.recovery import Recovery
from receiver.pipeline.reporting import Reporter
from receiver.pipeline.rollout_health import RolloutHealth
from receiver.pipeline.stages.base import Deps
from receiver.pipeline.stages.decide import Decide
from receiver.pipeline.stages.decline import Decline
from receiver.pipeline.stages.dry_run import DryRun
from receiver.pipeline.stages.gate import AlertmanagerGate
from receiver.pipeline.stages.health_gate import HealthGate
from receiver.pipeline.stages.reserve import Reserve
from receiver.pipeline.stages.resolved import Resolved
from receiver.pipeline.stages.rollback import Rollback
from receiver.pipeline.stages.targets import ResolveTargets
from receiver.pipeline.stages.verify import Verify
from receiver.pipeline.stages.wait import Wait
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# A patch that keeps conflicting means someone else keeps writing the workload: stop and say so.
MAX_CONFLICTS = 3
# How often due confirmations and orphaned claims are looked at.
TICK_SECONDS = 5.0


def default_holder() -> str:
    """This replica's name in claims: the pod name (stable across container restarts), else host-pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


class Pipeline:
    def __init__(
        self,
        config: Config,
        kube: KubeClient,
        metrics: Metrics,
        decisions: DecisionLog,
        *,
        events: EventRecorder,
        seen: SeenSet | None = None,
        receiver: ReceiverName | None = None,
        clock: Clock = utc_now,
        holder: str | None = None,
        health: RolloutHealth | None = None,
    ) -> None:
        """`seen` is the intake's dedupe set: a transient decision takes its alert out of it. `health` is
        the rollout-health source: its watch serves the decisions' reads (`rollout_health.cache`) and
        answers for its synthetic alerts right before acting."""
        self._config = config
        self._health = health
        self.holder = holder or default_holder()
        self._ledger = Ledger(kube, config, holder=self.holder, clock=clock)
        self.incidents = IncidentRecorder(kube, config, clock=clock, holder=self.holder, metrics=metrics)
        self._notify = Notifier(self.config, metrics=metrics, incidents=self.incidents, clock=clock)
        self._report = Reporter(
            kube=kube,
            events=events,
            decisions=decisions,
            metrics=metrics,
            config=self.config,
            clock=clock,
            seen=seen,
            notifier=self._notify,
        )
        deps = Deps(
            kube=kube,
            ledger=self._ledger,
            report=self._report,
            config=self.config,
            clock=clock,
            holder=self.holder,
            incidents=self.incidents,
            notify=self._notify,
        )
        self._deps = deps
        self._inflight = InFlight()
        self._targets = ResolveTargets(deps)
        self._decide = Decide(deps)
        self._reserve = Reserve(deps, self._decide)
        self._gate = AlertmanagerGate(deps, receiver)
        self._health_gate = HealthGate(deps, health)
        verify = Verify(deps)
        self._wait = Wait(deps)
        self._rollback = Rollback(deps, verify)
        self._dry_run = DryRun(deps)
        self._decline = Decline(deps)
        self._resolved = Resolved(deps, verify)
        self.recovery = Recovery(deps, handle=self.handle, verify=verify, inflight=self._inflight)
        self._tasks: list[asyncio.Task[None]] = []

    def config(self) -> Config:
        return self._config

    # --- one work item ------------------------------------------------------------------------------

    async def handle(self, item: WorkItem) -> None:
        """Decide and act on one work item; expected failures are recorded as decisions, never raised."""
        started = time.perf_counter()
        try:
            await self._handle(item)
        except StateError as exc:
            self._report.metrics.kube_api_errors.labels(kind="state").inc()
            self._report.record(self._deps.skip(item, Reason.API_ERROR, str(exc), transient=True))
        except KubeError as exc:
            self._report.metrics.kube_api_errors.labels(kind=type(exc).__name__).inc()
            message = f"Kubernetes API error, nothing was changed: {exc.describe()}"
            self._report.record(self._deps.skip(item, Reason.API_ERROR, message, transient=True))
        finally:
            self._report.metrics.decision_duration.observe(time.perf_counter() - started)

    async def _handle(self, item: WorkItem) -> None:
        if item.alert.status is AlertStatus.RESOLVED:
            await self._resolved.run(item)
            return
        if item.route.action is Action.IGNORE or item.route.target is None:
            early = guards.alert_level(
                item.alert,
                item.route,
                self._config,
                self._deps.clock(),
                truncated_alerts=item.truncated_alerts,
            )
            assert early is not None  # ignore and "no target" always stop at the alert level
            self._report.record(self._deps.stamp(item, early))
            return
        for ref in await self._targets.run(item):
            async with self._inflight.workload(ref):
                await self._target(item, ref)

    async def _target(self, item: WorkItem, ref: WorkloadRef) -> None:
        key = claim_key(item.alert.episode_key, ref)
        with self._inflight.claim(key):
            for attempt in range(MAX_CONFLICTS):
                try:
                    # After a conflict the cache (if any) may be what was stale: read the API server.
                    await self._decide_and_act(item, ref, cached=attempt == 0)
                    return
                except Conflict as exc:
                    logger.info(
                        "workload changed under us, deciding again on fresh state",
                        extra={"alert": item.alert.episode_key, "target": str(ref), "conflict": exc.message},
                    )
            await self._ledger.release(key)
            message = f"{ref} kept changing while we tried to roll it back ({MAX_CONFLICTS} conflicts)"
            decision = self._deps.skip(item, Reason.CONFLICT, f"{message}; nothing done", ref, transient=True)
            self._report.record(decision)

    async def _decide_and_act(self, item: WorkItem, ref: WorkloadRef, *, cached: bool) -> None:
        cache = self._health.watch if cached and self._health is not None else None
        try:
            # One read per decision: the undo patch is computed from this same snapshot, and its
            # resourceVersion precondition makes that safe (409 if the workload moved on).
            snapshot = await read_snapshot(self._deps.kube, ref, cache)
        except NotFound as exc:
            self._report.record(self._deps.skip(item, Reason.TARGET_UNRESOLVED, exc.message, transient=True))
            return
        if cache is not None:
            self._report.metrics.watch_cache_reads.labels(
                result="hit" if snapshot.from_cache else "miss"
            ).inc()
        facts = facts_from(snapshot)
        decision = await self._decide.run(item, facts)
        decision = await self._reserve.run(item, facts, decision)
        if is_watch_item(item.group_key):
            decision = self._health_gate.run(item, facts, decision)
        else:
            decision = await self._gate.run(item, facts, decision)
        if decision.verdict is Verdict.WAIT:
            await self._wait.run(item, facts, decision)
            return
        if decision.final:  # ends the alert's pending confirmation (a transient one is tried again)
            await self._ledger.forget_pending(pending_key(item.alert.episode_key, item.route.name))
        if decision.verdict is Verdict.ROLLBACK:
            await self._rollback.run(item, facts, decision, snapshot)
        elif decision.verdict is Verdict.DRY_RUN:
            await self._dry_run.run(item, facts, decision)
        else:
            await self._decline.run(item, facts, decision)

    # --- what the service and reconciliation use ---------------------------------------------------------

    def has_decided(self, alert: Alert, route: Route) -> bool:
        return self._report.has_decided(alert, route)

    def record(self, decision: Decision) -> None:
        """A decision a source made before any work item (no route, a refused target, outside the change
        window)."""
        self._report.record(decision)

    async def cancel_inactive_pending(self, active: set[str]) -> int:
        return await self._ledger.cancel_inactive_pending(active)

    async def receiver_name(self, learnt: str | None) -> str | None:
        return await self._ledger.receiver(learnt)

    async def apply_config(self, config: Config) -> None:
        self._config = config
        self._ledger.configure(config)
        if self._health is not None:
            self._health.apply_config(config)
        if (self._health is not None) != config.rollout_health.enabled:
            logger.warning("rollout_health.enabled changed: takes effect after a restart")
        self.incidents.configure(config)
        self._notify.configure(config)

    async def reset_breaker(self, actor: str) -> dict[str, object]:
        """A human closes the circuit breaker (CLI or authenticated HTTP)."""
        before, after = await self._ledger.reset_breaker(actor)
        logger.warning(
            "circuit breaker reset",
            extra={"actor": actor, "was_open": before.breaker.open, "reason_was": before.breaker.reason},
        )
        self._report.gauges(after)
        return breaker_summary(after, was_open=before.breaker.open)

    async def breaker_status(self) -> dict[str, object]:
        state = await self._ledger.read()
        self._report.gauges(state)
        return breaker_summary(state)

    async def tick(self) -> None:
        await self.recovery.tick()

    def start(self) -> None:
        """Recover interrupted rollbacks and re-evaluate due confirmations on our own until `close()`."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._tick_forever(), name="rollback-recovery")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._notify.close()  # what is still queued gets a few seconds, then is recorded as dropped

    async def _tick_forever(self) -> None:
        while True:
            try:
                await self.recovery.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("recovery tick failed; trying again")
            await asyncio.sleep(TICK_SECONDS)
