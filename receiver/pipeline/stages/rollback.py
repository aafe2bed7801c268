"""Stage: a reserved ROLLBACK becomes kubectl's undo, with our precondition and audit in the same patch.

For an Argo Rollout with an update in progress the decision may be an abort instead (`Remedy.ABORT`,
`kubectl argo rollouts abort`), under the same precondition; its audit annotations follow it.

The patch carries the decision's facts as a precondition: anything the decision depended on changed ->
Conflict, and the pipeline decides again on fresh state. A reservation that did not lead to a patch is
released. A patch whose answer was lost (connection cut after the server applied it) is recognised by our
`last-alert` annotation and followed like any other.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from receiver.core.annotations import CHANGE_CAUSE, LAST_ALERT
from receiver.core.decisions import Decision, Reason, Remedy
from receiver.core.ledger import claim_key
from receiver.core.settings import NoticeKind
from receiver.core.workload import WorkloadFacts, WorkloadRef
from receiver.k8s import Conflict, KubeError, UndoRefused, UndoResult, abort, read_facts, undo
from receiver.k8s.snapshots import Snapshot
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps, requested_revision
from receiver.pipeline.stages.verify import Verify


class Rollback:
    def __init__(self, deps: Deps, verify: Verify) -> None:
        self._deps = deps
        self._verify = verify

    async def run(
        self, item: WorkItem, facts: WorkloadFacts, decision: Decision, snapshot: Snapshot | None = None
    ) -> None:
        """`snapshot` is what `facts` were read from: the undo is computed from it without reading again."""
        deps, ref, alert = self._deps, facts.ref, item.alert
        key = claim_key(alert.episode_key, ref)
        applied_at = None
        await deps.report.report(decision, facts)
        result: UndoResult | None = None
        try:
            if decision.remedy is Remedy.ABORT:
                result = await abort(deps.kube, ref, decided_on=facts, audit=deps.audit(item, decision))
            else:
                result = await undo(
                    deps.kube,
                    ref,
                    to_revision=requested_revision(item, decision),
                    decided_on=facts,
                    audit=deps.audit(item, decision),
                    snapshot_read=snapshot,
                )
        except UndoRefused as exc:
            await deps.ledger.release(key)
            await deps.report.report(deps.skip(item, exc.reason, exc.message, ref), facts)
            return
        except Conflict:
            raise
        except KubeError as exc:
            if not await self._patched_anyway(ref, alert.episode_key):
                await deps.ledger.release(key)
                deps.report.metrics.kube_api_errors.labels(kind=type(exc).__name__).inc()
                deps.report.metrics.rollbacks.labels(result="error").inc()
                message = f"the undo patch failed, nothing was changed: {exc.describe()}"
                failed = deps.skip(item, Reason.API_ERROR, message, ref, transient=True)
                await deps.report.report(failed, facts, warning=True)
                return
        else:
            if result is not None and result.skipped:
                await deps.ledger.release(key)
                skipped = (
                    Reason.ALREADY_ABORTED if decision.remedy is Remedy.ABORT else Reason.ALREADY_AT_TARGET
                )
                await deps.report.report(deps.skip(item, skipped, result.message, ref), facts)
                return
            applied_at = result.applied_at if result is not None else None
        patched_at = deps.clock()
        await deps.ledger.mark_patched(key, patched_at)
        self._observe(item, patched_at)
        change_cause = result.annotations_written.get(CHANGE_CAUSE, "") if result is not None else ""
        # The rollout is followed at once, as kubectl's `undo` then `status` would (a status read taken
        # later than that can meet the bad revision's stale conditions); the record is opened meanwhile.
        opening = asyncio.create_task(self._open(item, facts, decision, patched_at, change_cause))
        await self._verify.run(
            key,
            ref,
            facts.uid,
            alert.name,
            item.route.guards.verify_timeout,
            applied_at or patched_at,
            after_rollout=opening,
        )

    async def _open(
        self,
        item: WorkItem,
        facts: WorkloadFacts,
        decision: Decision,
        patched_at: datetime,
        change_cause: str,
    ) -> None:
        deps = self._deps
        incident = await deps.incidents.opened(
            item, facts, decision, patched_at=patched_at, change_cause=change_cause
        )
        deps.notify.about_rollback(
            NoticeKind.TRIGGERED,
            incident,
            decision=decision,
            message=decision.message,
            reason=decision.reason,
        )

    def _observe(self, item: WorkItem, patched_at: datetime) -> None:
        """Time to rollback, from the alert's start (the seed's matrix) and from its first delivery to us."""
        metrics, route = self._deps.report.metrics, item.route.name
        metrics.alert_to_patch.labels(route=route).observe(
            max((patched_at - item.alert.starts_at).total_seconds(), 0.0)
        )
        received = item.first_received_at or item.received_at
        metrics.receipt_to_patch.labels(route=route).observe(
            max((patched_at - received).total_seconds(), 0.0)
        )

    async def _patched_anyway(self, ref: WorkloadRef, alert_key: str) -> bool:
        try:
            facts = await read_facts(self._deps.kube, ref)
        except KubeError:
            return False
        return facts.annotations.get(LAST_ALERT) == alert_key
