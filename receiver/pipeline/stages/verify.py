"""Stage: follow the rollout like `kubectl rollout status`, then verify by the alert itself.

An Argo Rollout is followed until it comes to rest per Argo's status: Healthy, Degraded, or Paused (an
undo of a promoted canary replays its steps and waits at a pause for a promotion: the undo itself is done,
so it counts as succeeded, with the promote named). After an abort, Degraded/RolloutAborted is the success.

The rollout's outcome lands in the ledger first (which moves the circuit breaker, exactly once across
replicas). A completed rollout then waits for the alert that caused it to resolve within the route's
`verify.alert_clears_within`: a resolve (the resolved webhook, `stages/resolved.py`, or Alertmanager's API,
`recovery.py`) ends it as `recovered`; the deadline as `did_not_help`. That wait is state in the shared
ledger, not a task: any replica ends it, and a restart loses nothing. Every end is reported once, by the
replica whose ledger write ended it: an Event, a metric, a log line, the incident record, notifications.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from datetime import datetime, timedelta

from receiver.core.decisions import EventReason
from receiver.core.incident_report import span, stamp
from receiver.core.incidents import Incident, Phase, StepKind, incident_id
from receiver.core.ledger import Claim, Outcome, Verification
from receiver.core.settings import NoticeKind
from receiver.core.workload import WorkloadRef
from receiver.k8s import follow_rollout
from receiver.pipeline.stages.base import Deps

logger = logging.getLogger(__name__)

PHASE_OF = {
    Verification.RECOVERED: Phase.RECOVERED,
    Verification.DID_NOT_HELP: Phase.DID_NOT_HELP,
    Verification.ROLLOUT_FAILED: Phase.ROLLOUT_FAILED,
    Verification.UNKNOWN: Phase.UNKNOWN,
}
NOTICE_OF = {
    Verification.RECOVERED: NoticeKind.RECOVERED,
    Verification.DID_NOT_HELP: NoticeKind.DID_NOT_HELP,
    Verification.ROLLOUT_FAILED: NoticeKind.FAILED,
    Verification.UNKNOWN: NoticeKind.FAILED,
}


class Verify:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def run(
        self,
        key: str,
        ref: WorkloadRef,
        uid: str,
        alert_name: str,
        verify_for: timedelta,
        patched_at: datetime | None = None,
        *,
        after_rollout: Awaitable[None] | None = None,
    ) -> None:
        """`patched_at`: when the undo was applied (the API server's clock when known); a progress
        deadline exceeded before it belongs to the revision we rolled back from. `after_rollout` (the
        incident record being opened) is awaited before the outcome is recorded, so the record's steps
        come in order."""
        deps = self._deps
        started = time.perf_counter()
        try:
            rollout = await follow_rollout(
                deps.kube, ref, timeout=verify_for.total_seconds(), since=patched_at, settle=True
            )
        finally:
            if after_rollout is not None:
                await after_rollout
        outcome = Outcome.SUCCEEDED if rollout.result in ("complete", "paused") else Outcome.FAILED
        message = f"rollout of {ref} {rollout.result}: {rollout.message}"
        if rollout.result == "paused":
            message += (
                "; Argo Rollouts waits for a promotion to finish it: "
                f"kubectl argo rollouts promote {ref.name} -n {ref.namespace}"
            )
        claim = await deps.ledger.finish(key, outcome, message)
        if claim is None:
            return  # another replica recorded it first
        metrics = deps.report.metrics
        metrics.rollbacks.labels(result=outcome.value).inc()
        metrics.rollback_duration.observe(time.perf_counter() - started)
        succeeded = outcome is Outcome.SUCCEEDED
        await deps.report.event(
            ref,
            uid,
            EventReason.SUCCEEDED if succeeded else EventReason.FAILED,
            message,
            warning=not succeeded,
        )
        logger.log(
            logging.INFO if succeeded else logging.WARNING,
            message,
            extra={"target": str(ref), "claim": key, "outcome": outcome.value, "alertname": alert_name},
        )
        await self.rollout_ended(claim, message)
        deps.report.gauges(await deps.ledger.read())

    async def rollout_ended(self, claim: Claim, message: str) -> None:
        """The incident's rollout step, then what follows: verification, or its end at once."""
        deps = self._deps
        ident = incident_id(claim.key)
        done = claim.finished_at or deps.clock()
        took = f" in {span(done - claim.patched_at)}" if claim.patched_at else ""
        if claim.outcome is Outcome.SUCCEEDED:
            step = deps.incidents.step(
                StepKind.ROLLOUT_COMPLETE, f"rollout complete{took}: {message}", at=done
            )
            phase = Phase.VERIFYING if claim.verifying else Phase.COMPLETED
            incident = await deps.incidents.record(
                ident, step, phase=None if claim.verification else phase, claim=claim, rollout_done_at=done
            )
            if claim.verifying and claim.clears_by is not None:
                text = (
                    f"verifying: {claim.alert_name} must resolve by {stamp(claim.clears_by)} "
                    f"({span(claim.clears_by - done)} after the rollout)"
                )
                step = deps.incidents.step(StepKind.VERIFYING, text, at=done)
                await deps.incidents.record(ident, step, clears_by=claim.clears_by)
            elif claim.verification is Verification.RECOVERED:
                resolved = (await deps.ledger.read()).resolved_at(claim.alert_key) or done
                await self.concluded(claim, resolved_at=resolved, how="while the rollout ran")
            elif incident is not None:
                deps.notify.about_rollback(
                    NoticeKind.RECOVERED, incident, claim=claim, message=message, reason="rollout_complete"
                )
            return
        kind = "rollout failed" if claim.outcome is Outcome.FAILED else "rollout could not be followed"
        step = deps.incidents.step(StepKind.ROLLOUT_FAILED, f"{kind}{took}: {message}", at=done)
        await deps.incidents.record(ident, step, claim=claim, rollout_done_at=done)
        await self.concluded(claim, resolved_at=None, how=message)

    async def concluded(self, claim: Claim, *, resolved_at: datetime | None, how: str) -> None:
        """Report the end of a claim's verification (recovered, did not help, failed, unknown): called
        once, by the replica whose ledger write ended it. `claim` is the claim after that write."""
        deps = self._deps
        verification = claim.verification
        if verification is None:
            return
        ident = incident_id(claim.key)
        phase = PHASE_OF[verification]
        message = _sentence(claim, verification, resolved_at, how)
        changes: dict[str, object] = {}
        if verification is Verification.RECOVERED:
            kind, changes["resolved_at"] = StepKind.ALERT_RESOLVED, resolved_at or deps.clock()
        elif verification is Verification.DID_NOT_HELP:
            kind = StepKind.STILL_FIRING
        else:
            kind = StepKind.ROLLOUT_FAILED
        incident: Incident | None
        if kind is StepKind.ROLLOUT_FAILED:
            incident = await deps.incidents.record(ident, phase=phase, claim=claim)
        else:
            at = resolved_at if verification is Verification.RECOVERED and resolved_at else deps.clock()
            step = deps.incidents.step(kind, message, at=at)
            incident = await deps.incidents.record(ident, step, phase=phase, claim=claim, **changes)
        metrics = deps.report.metrics
        metrics.verifications.labels(result=verification.value).inc()
        if verification in (Verification.RECOVERED, Verification.DID_NOT_HELP):
            reason = (
                EventReason.RECOVERED if verification is Verification.RECOVERED else EventReason.DID_NOT_HELP
            )
            await deps.report.event(
                claim.target, claim.uid, reason, message, warning=verification is not Verification.RECOVERED
            )
        logger.log(
            logging.INFO if verification is Verification.RECOVERED else logging.WARNING,
            message,
            extra={
                "target": str(claim.target),
                "claim": claim.key,
                "verification": verification.value,
                "alertname": claim.alert_name,
                "incident": ident,
            },
        )
        deps.notify.about_rollback(
            NOTICE_OF[verification], incident, claim=claim, message=message, reason=verification.value
        )


def _sentence(claim: Claim, verification: Verification, resolved_at: datetime | None, how: str) -> str:
    after = ""
    if claim.finished_at is not None and resolved_at is not None and resolved_at >= claim.finished_at:
        after = f" {span(resolved_at - claim.finished_at)} after the rollout completed"
    if verification is Verification.RECOVERED:
        return f"{claim.alert_name} resolved{after} ({how}): the rollback of {claim.target} helped"
    if verification is Verification.DID_NOT_HELP:
        within = span(claim.clears_within) if claim.clears_within else "the verification window"
        return (
            f"{claim.alert_name} was still firing {within} after the rollout of {claim.target} completed: "
            "the rollback did not help (it is not rolled back again for this alert)"
        )
    return f"the rollback of {claim.target} did not finish: {how}"
