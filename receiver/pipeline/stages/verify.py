"""Stage: follow the rollout like `kubectl rollout status` and record its outcome.

An Argo Rollout is followed until it comes to rest per Argo's status: Healthy, Degraded, or Paused (an
undo of a promoted canary replays its steps and waits at a pause for a promotion: the undo itself is done,
so it counts as succeeded, with the promote named). After an abort, Degraded/RolloutAborted is the success.

The outcome lands in the ledger first (which moves the circuit breaker, exactly once across replicas), then
as a metric, an Event and a log line.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from receiver.core.decisions import EventReason
from receiver.core.ledger import Outcome
from receiver.core.workload import WorkloadRef
from receiver.k8s import follow_rollout
from receiver.pipeline.stages.base import Deps

logger = logging.getLogger(__name__)


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
    ) -> None:
        """`patched_at`: when the undo was applied (the API server's clock when known); a progress
        deadline exceeded before it belongs to the revision we rolled back from."""
        deps = self._deps
        started = time.perf_counter()
        rollout = await follow_rollout(
            deps.kube, ref, timeout=verify_for.total_seconds(), since=patched_at, settle=True
        )
        outcome = Outcome.SUCCEEDED if rollout.result in ("complete", "paused") else Outcome.FAILED
        message = f"rollout of {ref} {rollout.result}: {rollout.message}"
        if rollout.result == "paused":
            message += (
                "; Argo Rollouts waits for a promotion to finish it: "
                f"kubectl argo rollouts promote {ref.name} -n {ref.namespace}"
            )
        if not await deps.ledger.finish(key, outcome, message):
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
        deps.report.gauges(await deps.ledger.read())
