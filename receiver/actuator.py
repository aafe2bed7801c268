"""The pipeline for one WorkItem: resolve targets, read facts and shared state, decide, claim, act, verify,
record. Exactly once per (alert episode, workload) with any number of replicas and restarts:

1. decide on a snapshot (workload facts + the state ConfigMap);
2. reserve the budget under the claim key `alert|workload` in the ConfigMap (optimistic concurrency; the
   guards run again on the fresh state inside the same write, so budgets hold under races);
3. undo with the decision's facts as precondition (anything the decision depended on changed -> Conflict;
   status-only writes by the controller do not count) and our `last-alert` annotation in the same patch;
   a Conflict means "decide again on fresh facts", which then says `already_handled`;
4. follow the rollout and record the outcome in the ledger (which drives the circuit breaker).

A reservation that did not lead to a patch is released. Claims left without an outcome by a crash are
picked up again by `tick()` (at start and periodically), so a killed replica neither rolls back twice nor
loses the outcome. Pending confirmations (WAIT) live in the same ConfigMap, so any replica re-evaluates
them when they are due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from receiver import guards
from receiver.alerts import Alert, AlertStatus
from receiver.annotations import LAST_ALERT, ROLLED_BACK_AT
from receiver.config import Action, Config, Route
from receiver.decision_log import DecisionLog
from receiver.decisions import (
    Claim,
    Decision,
    GuardState,
    Outcome,
    PendingConfirmation,
    Reason,
    Verdict,
    claim_key,
    pending_key,
)
from receiver.k8s import (
    Conflict,
    KubeClient,
    KubeError,
    NotFound,
    UndoRefused,
    emit_event,
    follow_rollout,
    read_facts,
    undo,
)
from receiver.k8s import audit as audit_keys
from receiver.k8s import state as ledger
from receiver.k8s.state import StateError, StateStore
from receiver.metrics import Metrics
from receiver.reconcile import Reconciler, alert_from_webhook_shape, alert_to_webhook_shape
from receiver.routing import TargetError
from receiver.targets import resolve_targets
from receiver.worker import WorkItem
from receiver.workload import WorkloadFacts, WorkloadKind, WorkloadRef

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Event reasons, one per kind of decision (`kubectl get events --field-selector reason=RollbackSkipped`).
EVENT_REASONS = {
    Verdict.ROLLBACK: "RollbackTriggered",
    Verdict.DRY_RUN: "RollbackDryRun",
    Verdict.NOTIFY: "RollbackNotify",
    Verdict.SKIP: "RollbackSkipped",
    Verdict.WAIT: "RollbackPending",
}
SUCCEEDED_EVENT = "RollbackSucceeded"
FAILED_EVENT = "RollbackFailed"
# A patch that keeps conflicting means someone else keeps writing the workload: stop and say so.
MAX_CONFLICTS = 3
# How often due confirmations and orphaned claims are looked at.
TICK = timedelta(seconds=5)
# Alerts decided by this process, so reconciliation does not re-decide (and re-event) them every interval.
DECIDED_MEMORY = 50_000
# TEST ONLY: when set, work items are accepted but never decided, so a test can kill the process between
# the webhook's 200 and the decision (and show reconciliation recovers the alert). Never set it in production.
HOLD_ENV = "ROLLBACK_RECEIVER_TEST_HOLD_BEFORE_DECIDING"
# kubectl's refusal messages -> our reasons.
REFUSALS = (
    ("paused deployment", Reason.DEPLOYMENT_PAUSED),
    ("no rollout history", Reason.NO_HISTORY),
    ("no last revision", Reason.NO_HISTORY),
    ("unable to find specified revision", Reason.UNKNOWN_REVISION),
)


def default_holder() -> str:
    """This replica's name in claims: the pod name (stable across container restarts), else host-pid."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def utc_now() -> datetime:
    return datetime.now(UTC)


async def build_actuator(
    config: Config,
    kube: KubeClient,
    metrics: Metrics,
    decisions: DecisionLog,
    *,
    clock: Clock = utc_now,
    holder: str | None = None,
    background: bool = True,
) -> RollbackActuator:
    """The actuator the service hands work items to. With `background`, it recovers interrupted rollbacks,
    re-evaluates due confirmations and reconciles with Alertmanager on its own until `close()`."""
    actuator = RollbackActuator(
        config, kube, metrics, decisions, clock=clock, holder=holder or default_holder()
    )
    if background:
        actuator.start()
    return actuator


class RollbackActuator:
    def __init__(
        self,
        config: Config,
        kube: KubeClient,
        metrics: Metrics,
        decisions: DecisionLog,
        *,
        clock: Clock,
        holder: str,
    ) -> None:
        self._config = config
        self._kube = kube
        self._metrics = metrics
        self._decisions = decisions
        self._clock = clock
        self.holder = holder
        self._store = StateStore.for_config(kube, config)
        self._active: set[str] = set()  # claim keys this process is working on right now
        self._decided: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        # One decision at a time per workload in this process: a second episode for the same workload
        # then sees the first one's patch instead of racing it for budget (other replicas race via state).
        self._locks: weakref.WeakValueDictionary[WorkloadRef, asyncio.Lock] = weakref.WeakValueDictionary()
        self._hold = bool(os.environ.get(HOLD_ENV))
        if self._hold:
            logger.warning("%s is set: work items are never decided (test hook)", HOLD_ENV)
        self.reconciler = Reconciler(config, self, metrics, clock=clock)

    # --- service hooks ------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._tick_forever(), name="rollback-actuator-tick"),
                asyncio.create_task(self.reconciler.run_forever(), name="rollback-reconcile"),
            ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def apply_config(self, config: Config) -> None:
        self._config = config
        self._store = StateStore.for_config(self._kube, config)
        self.reconciler.apply_config(config)

    async def reset_breaker(self, actor: str) -> dict[str, object]:
        """A human closes the circuit breaker (CLI or authenticated HTTP)."""
        before, after = await self._store.reset_breaker(actor, self._clock())
        logger.warning(
            "circuit breaker reset",
            extra={"actor": actor, "was_open": before.breaker.open, "reason_was": before.breaker.reason},
        )
        self._gauges(after)
        return breaker_summary(after, was_open=before.breaker.open)

    async def breaker_status(self) -> dict[str, object]:
        state = await self._store.read()
        self._gauges(state)
        return breaker_summary(state)

    def has_decided(self, alert: Alert, route: Route) -> bool:
        return (alert.episode_key, route.name) in self._decided

    async def cancel_inactive_pending(self, active: set[str]) -> int:
        """Cancel pending confirmations of alerts Alertmanager no longer reports as active."""

        def mutate(state: GuardState) -> tuple[GuardState, int]:
            stale = [p for p in state.pending if p.alert_key not in active]
            for pending in stale:
                state = ledger.remove_pending(state, pending.key)
            return state, len(stale)

        return await self._store.update(mutate, now=self._clock())

    @property
    def store(self) -> StateStore:
        return self._store

    # --- one work item ------------------------------------------------------------------------------

    async def handle(self, item: WorkItem) -> None:
        if self._hold:
            await asyncio.Event().wait()
        started = time.perf_counter()
        try:
            await self._handle(item)
        except StateError as exc:
            self._metrics.kube_api_errors.labels(kind="state").inc()
            self._record(
                guards.refuse_targets(item.alert, item.route, self._clock(), Reason.API_ERROR, str(exc))
            )
        except KubeError as exc:
            self._metrics.kube_api_errors.labels(kind=type(exc).__name__).inc()
            message = f"Kubernetes API error, nothing was changed: {exc.describe()}"
            self._record(
                guards.refuse_targets(item.alert, item.route, self._clock(), Reason.API_ERROR, message)
            )
        finally:
            self._metrics.decision_duration.observe(time.perf_counter() - started)

    async def _handle(self, item: WorkItem) -> None:
        alert, route, now = item.alert, item.route, self._clock()
        if alert.status is AlertStatus.RESOLVED:
            await self._resolved(item)
            return
        if route.action is Action.IGNORE or route.target is None:
            early = guards.alert_level(
                alert, route, self._config, now, truncated_alerts=item.truncated_alerts
            )
            assert early is not None
            self._record(early)
            return
        refs = await self._targets(item)
        for ref in refs:
            await self._handle_target(item, ref)

    async def _targets(self, item: WorkItem) -> tuple[WorkloadRef, ...]:
        try:
            return await resolve_targets(self._kube, item.alert, item.route, self._config)
        except TargetError as exc:
            self._record(
                guards.refuse_targets(item.alert, item.route, self._clock(), exc.reason, exc.message)
            )
            return ()

    async def _handle_target(self, item: WorkItem, ref: WorkloadRef) -> None:
        lock = self._locks.get(ref)
        if lock is None:
            lock = self._locks[ref] = asyncio.Lock()
        async with lock:
            await self._handle_target_locked(item, ref)

    async def _handle_target_locked(self, item: WorkItem, ref: WorkloadRef) -> None:
        key = claim_key(item.alert.episode_key, ref)
        self._active.add(key)
        try:
            for _attempt in range(MAX_CONFLICTS):
                try:
                    await self._decide_and_act(item, ref, key)
                    return
                except Conflict as exc:
                    logger.info(
                        "workload changed under us, deciding again on fresh state",
                        extra={"alert": item.alert.episode_key, "target": str(ref), "conflict": exc.message},
                    )
            await self._release(key)
            self._record(
                guards.refuse_targets(
                    item.alert,
                    item.route,
                    self._clock(),
                    Reason.CONFLICT,
                    f"{ref} kept changing while we tried to roll it back "
                    f"({MAX_CONFLICTS} conflicts); nothing done",
                    ref,
                )
            )
        finally:
            self._active.discard(key)

    async def _decide_and_act(self, item: WorkItem, ref: WorkloadRef, key: str) -> None:
        alert, route = item.alert, item.route
        try:
            facts = await read_facts(self._kube, ref)
        except NotFound as exc:
            self._record(
                guards.refuse_targets(alert, route, self._clock(), Reason.TARGET_UNRESOLVED, exc.message)
            )
            return
        state = await self._store.read()
        self._gauges(state)
        decision = self._decide(item, facts, state)
        if decision.verdict is Verdict.ROLLBACK:
            decision = await self._reserve(item, facts, decision)
        if decision.verdict is Verdict.WAIT:
            await self._wait(item, facts, decision)
            return
        if decision.reason != Reason.IN_PROGRESS:
            await self._forget_pending(alert, route)
        if decision.verdict is Verdict.ROLLBACK:
            await self._rollback(item, facts, decision, key)
        elif decision.verdict is Verdict.DRY_RUN:
            await self._dry_run(item, facts, decision)
        else:
            await self._release(key)
            if decision.reason == Reason.BUDGET_GLOBAL:
                await self._open_breaker(f"global budget exhausted: {decision.message}")
            await self._report(decision, facts)

    def _decide(self, item: WorkItem, facts: WorkloadFacts, state: GuardState) -> Decision:
        return guards.decide(
            item.alert,
            item.route,
            facts,
            state,
            self._config,
            self._clock(),
            truncated_alerts=item.truncated_alerts,
            holder=self.holder,
        )

    async def _reserve(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> Decision:
        """Claim the budget atomically; the guards run again on the state being written."""
        now = self._clock()
        ref = facts.ref
        key = claim_key(item.alert.episode_key, ref)

        def mutate(state: GuardState) -> tuple[GuardState, Decision]:
            fresh = self._decide(item, facts, state)
            if fresh.verdict is not Verdict.ROLLBACK:
                return state, fresh
            claim = Claim(
                key=key,
                alert_key=item.alert.episode_key,
                alert_name=item.alert.name,
                namespace=ref.namespace,
                workload=str(ref),
                claimed_at=now,
                holder=self.holder,
                verify_timeout=item.route.guards.verify_timeout,
            )
            existing = state.claim(key)
            if existing is not None and existing.holder == self.holder:
                return state, fresh  # our own reservation from a previous attempt
            return ledger.add_claim(state, claim), fresh

        return await self._store.update(mutate, now=now)

    async def _rollback(self, item: WorkItem, facts: WorkloadFacts, decision: Decision, key: str) -> None:
        ref, alert = facts.ref, item.alert
        now = self._clock()
        await self._report(decision, facts)
        annotations = audit_keys.audit_annotations(
            actor=f"{self._config.cluster_name or 'rollback-receiver'}/{self.holder}",
            at=now,
            to_revision=decision.to_revision or 0,
            alert_key=alert.episode_key,
            alert_name=alert.name,
            fingerprint=alert.fingerprint,
        )
        try:
            result = await undo(
                self._kube,
                ref,
                to_revision=_requested(item),
                decided_on=facts,
                audit=annotations,
            )
        except UndoRefused as exc:
            await self._release(key)
            await self._report(self._skip(item, ref, _refusal_reason(exc.message), exc.message), facts)
            return
        except Conflict:
            raise
        except KubeError as exc:
            if await self._patched_anyway(ref, alert.episode_key):
                result = None  # the patch landed although the answer was lost: carry on to verification
            else:
                await self._release(key)
                self._metrics.kube_api_errors.labels(kind=type(exc).__name__).inc()
                self._metrics.rollbacks.labels(result="error").inc()
                message = f"the undo patch failed, nothing was changed: {exc.describe()}"
                await self._report(self._skip(item, ref, Reason.API_ERROR, message), facts, warning=True)
                return
        if result is not None and result.skipped:
            await self._release(key)
            await self._report(self._skip(item, ref, Reason.ALREADY_AT_TARGET, result.message), facts)
            return
        patched_at = self._clock()
        await self._store.update(
            lambda s: _same(ledger.update_claim(s, key, patched_at=patched_at)), now=patched_at
        )
        await self._verify(key, ref, facts.uid, alert.name, item.route.guards.verify_timeout)

    async def _verify(
        self, key: str, ref: WorkloadRef, uid: str, alert_name: str, verify_for: timedelta
    ) -> None:
        """Follow the rollout and record its outcome (in the ledger, as an Event, a metric and a log line)."""
        started = time.perf_counter()
        rollout = await follow_rollout(self._kube, ref, timeout=verify_for.total_seconds())
        outcome = Outcome.SUCCEEDED if rollout.result == "complete" else Outcome.FAILED
        now = self._clock()
        message = f"rollout of {ref} {rollout.result}: {rollout.message}"

        def finish(state: GuardState) -> tuple[GuardState, bool]:
            claim = state.claim(key)
            if claim is None or claim.outcome is not None:
                return state, False  # another replica recorded it first
            limit = self._config.limits.breaker_failures
            return ledger.record_outcome(state, key, outcome, message, now, limit), True

        recorded = await self._store.update(finish, now=now)
        if not recorded:
            return
        self._metrics.rollbacks.labels(result=outcome.value).inc()
        self._metrics.rollback_duration.observe(time.perf_counter() - started)
        succeeded = outcome is Outcome.SUCCEEDED
        await emit_event(
            self._kube,
            ref,
            uid=uid,
            reason=SUCCEEDED_EVENT if succeeded else FAILED_EVENT,
            message=message,
            warning=not succeeded,
        )
        logger.log(
            logging.INFO if succeeded else logging.WARNING,
            message,
            extra={"target": str(ref), "claim": key, "outcome": outcome.value, "alertname": alert_name},
        )
        self._gauges(await self._store.read())

    async def _dry_run(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> None:
        ref, alert = facts.ref, item.alert
        try:
            await undo(
                self._kube,
                ref,
                to_revision=_requested(item),
                dry_run=True,
                decided_on=facts,
                audit=audit_keys.audit_annotations(
                    actor=self.holder,
                    at=self._clock(),
                    to_revision=decision.to_revision or 0,
                    alert_key=alert.episode_key,
                    alert_name=alert.name,
                    fingerprint=alert.fingerprint,
                ),
            )
        except UndoRefused as exc:
            decision = self._skip(item, ref, _refusal_reason(exc.message), exc.message)
        except Conflict:
            raise
        except KubeError as exc:
            self._metrics.kube_api_errors.labels(kind=type(exc).__name__).inc()
            decision = replace(decision, message=f"{decision.message}; the server-side dry-run failed: {exc}")
        await self._report(decision, facts)

    async def _wait(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> None:
        assert decision.not_before is not None
        now = self._clock()
        pending = PendingConfirmation(
            key=pending_key(item.alert.episode_key, item.route.name),
            alert_key=item.alert.episode_key,
            route=item.route.name,
            not_before=decision.not_before,
            alert=alert_to_webhook_shape(item.alert),
            receiver=item.receiver,
            group_key=item.group_key,
            created_at=now,
        )

        def mutate(state: GuardState) -> tuple[GuardState, bool]:
            existing = next((p for p in state.pending if p.key == pending.key), None)
            if existing is not None and existing.not_before == pending.not_before:
                return state, False
            return ledger.add_pending(ledger.remove_pending(state, pending.key), pending), True

        added = await self._store.update(mutate, now=now)
        # Alertmanager repeats the alert while we wait: record every decision, event only the first.
        await self._report(decision, facts if added else None)

    async def _resolved(self, item: WorkItem) -> None:
        now = self._clock()
        cancelled = await self._store.update(
            lambda s: ledger.cancel_pending(s, item.alert.episode_key), now=now
        )
        decision = guards.alert_level(item.alert, item.route, self._config, now)
        assert decision is not None
        if cancelled:
            decision = replace(decision, message="the alert resolved: its pending confirmation is cancelled")
        self._record(decision)

    # --- recovery and timers ------------------------------------------------------------------------

    async def tick(self) -> None:
        """Re-evaluate due confirmations and finish claims a crash left open."""
        now = self._clock()
        state = await self._store.read()
        self._gauges(state)
        for pending in state.pending:
            if pending.not_before <= now:
                await self._confirm(pending)
        for claim in state.claims:
            if claim.outcome is None and claim.key not in self._active and self._orphaned(claim, now):
                await self._recover(claim)

    async def _confirm(self, pending: PendingConfirmation) -> None:
        route = next((r for r in self._config.routes if r.name == pending.route), None)
        if route is None:
            await self._store.update(
                lambda s: _same(ledger.remove_pending(s, pending.key)), now=self._clock()
            )
            logger.warning("pending confirmation dropped: its route is gone", extra={"route": pending.route})
            return
        item = WorkItem(
            alert=alert_from_webhook_shape(pending.alert),
            route=route,
            receiver=pending.receiver,
            group_key=pending.group_key,
            truncated_alerts=0,
            received_at=self._clock(),
            source="confirmation",
        )
        await self.handle(item)

    def _orphaned(self, claim: Claim, now: datetime) -> bool:
        if claim.holder == self.holder:
            return True  # ours, from before a restart (we are not working on it now)
        if claim.patched_at is None:
            return now - claim.claimed_at >= guards.CLAIM_STALE_AFTER
        return now - claim.patched_at >= self._verify_timeout(claim) + guards.CLAIM_STALE_AFTER

    def _verify_timeout(self, claim: Claim) -> timedelta:
        """The route's verify timeout recorded in the claim (older claims: the default)."""
        return claim.verify_timeout or self._config.defaults.verify_timeout

    async def _recover(self, claim: Claim) -> None:
        ref = _ref_of(claim.key)
        now = self._clock()

        def take_over(state: GuardState) -> tuple[GuardState, bool]:
            current = state.claim(claim.key)
            if current is None or current.outcome is not None or current.holder != claim.holder:
                return state, False  # finished, released or taken over by someone else meanwhile
            return ledger.update_claim(state, claim.key, holder=self.holder), True

        if not await self._store.update(take_over, now=now):
            return
        self._active.add(claim.key)
        try:
            try:
                facts = await read_facts(self._kube, ref)
            except NotFound:
                facts = None
            if facts is None or facts.annotations.get(LAST_ALERT) != claim.alert_key:
                # The patch never landed: the reservation did not lead to a rollback.
                await self._release(claim.key)
                logger.warning("released a reservation that never led to a patch", extra={"claim": claim.key})
                return
            if claim.patched_at is None:
                patched = parse_time_or(facts.annotations.get(ROLLED_BACK_AT), now)
                await self._store.update(
                    lambda s: _same(ledger.update_claim(s, claim.key, patched_at=patched)), now=now
                )
            logger.info("following a rollback interrupted by a restart", extra={"claim": claim.key})
            await self._verify(claim.key, ref, facts.uid, claim.alert_name, self._verify_timeout(claim))
        finally:
            self._active.discard(claim.key)

    async def _tick_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("actuator tick failed; trying again")
            await asyncio.sleep(TICK.total_seconds())

    # --- recording ----------------------------------------------------------------------------------

    def _record(self, decision: Decision) -> None:
        self._decisions.record(decision)
        # WAIT and IN_PROGRESS are not final: reconciliation must feed the alert again if the other
        # replica dies before patching (its claim goes stale and is released).
        if decision.verdict is not Verdict.WAIT and decision.reason != Reason.IN_PROGRESS:
            self._decided[(decision.alert_key, decision.route or "")] = None
            while len(self._decided) > DECIDED_MEMORY:
                self._decided.popitem(last=False)

    async def _report(
        self, decision: Decision, facts: WorkloadFacts | None, *, warning: bool = False
    ) -> None:
        """Every decision reaches the decision log (JSON line + metric) and, with a workload, an Event."""
        self._record(decision)
        if facts is None:
            return
        await emit_event(
            self._kube,
            facts.ref,
            uid=facts.uid,
            reason=EVENT_REASONS[decision.verdict],
            message=f"[{decision.reason}] {decision.message} "
            f"(alert {decision.alert_name} {decision.alert_key})",
            warning=warning,
        )

    def _skip(self, item: WorkItem, ref: WorkloadRef, reason: Reason | str, message: str) -> Decision:
        return guards.refuse_targets(item.alert, item.route, self._clock(), reason, message, ref)

    async def _release(self, key: str) -> None:
        await self._store.update(
            lambda s: _same(ledger.release_claim(s, key, self.holder)), now=self._clock()
        )

    async def _forget_pending(self, alert: Alert, route: Route) -> None:
        """A final decision ends the alert's pending confirmation (if it had one)."""
        key = pending_key(alert.episode_key, route.name)
        await self._store.update(lambda s: _same(ledger.remove_pending(s, key)), now=self._clock())

    async def _open_breaker(self, reason: str) -> None:
        now = self._clock()
        state = await self._store.update(lambda s: _same(ledger.open_breaker(s, reason, now)), now=now)
        self._gauges(state)

    async def _patched_anyway(self, ref: WorkloadRef, alert_key: str) -> bool:
        try:
            facts = await read_facts(self._kube, ref)
        except KubeError:
            return False
        return facts.annotations.get(LAST_ALERT) == alert_key

    def _gauges(self, state: GuardState) -> None:
        now, limits = self._clock(), self._config.limits
        self._metrics.circuit_breaker_open.set(1 if state.breaker.open else 0)
        self._metrics.inflight_rollbacks.set(state.inflight)
        self._metrics.budget_remaining.labels(scope="global").set(
            max(limits.global_.max - state.used(now, limits.global_.per), 0)
        )
        namespaces = set(self._config.namespaces.allow) | {c.namespace for c in state.claims}
        for namespace in namespaces:
            used = state.used(now, limits.per_namespace.per, namespace)
            self._metrics.budget_remaining.labels(scope=f"namespace:{namespace}").set(
                max(limits.per_namespace.max - used, 0)
            )


def breaker_summary(state: GuardState, *, was_open: bool | None = None) -> dict[str, object]:
    breaker = state.breaker
    summary: dict[str, object] = {
        "open": breaker.open,
        "reason": breaker.reason,
        "opened_at": breaker.opened_at.isoformat() if breaker.opened_at else None,
        "consecutive_failures": breaker.consecutive_failures,
        "reset_by": breaker.reset_by,
        "reset_at": breaker.reset_at.isoformat() if breaker.reset_at else None,
        "inflight": state.inflight,
    }
    if was_open is not None:
        summary["was_open"] = was_open
    return summary


def _same(state: GuardState) -> tuple[GuardState, GuardState]:
    return state, state


def _requested(item: WorkItem) -> int:
    requested = guards.requested_revision(item.alert, item.route)
    return requested if isinstance(requested, int) else 0


def _refusal_reason(message: str) -> Reason:
    return next((reason for text, reason in REFUSALS if text in message), Reason.API_ERROR)


def _ref_of(key: str) -> WorkloadRef:
    kind, namespace, name = key.rsplit("|", 1)[1].split("/", 2)
    return WorkloadRef(WorkloadKind(kind), namespace, name)


def parse_time_or(value: str | None, default: datetime) -> datetime:
    return guards.parse_time(value) or default
