"""Stage: a reserved ROLLBACK becomes kubectl's undo, with our precondition and audit in the same patch.

For an Argo Rollout with an update in progress the decision may be an abort instead (`Remedy.ABORT`,
`kubectl argo rollouts abort`), under the same precondition; its audit annotations follow it.

The patch carries the decision's facts as a precondition: anything the decision depended on changed ->
Conflict, and the pipeline decides again on fresh state. A reservation that did not lead to a patch is
released. A patch whose answer was lost (connection cut after the server applied it) is recognised by our
`last-alert` annotation and followed like any other.
"""

from __future__ import annotations

from receiver.core.annotations import LAST_ALERT
from receiver.core.decisions import Decision, Reason, Remedy
from receiver.core.ledger import claim_key
from receiver.core.workload import WorkloadFacts, WorkloadRef
from receiver.k8s import Conflict, KubeError, UndoRefused, abort, read_facts, undo
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
            if result.skipped:
                await deps.ledger.release(key)
                skipped = (
                    Reason.ALREADY_ABORTED if decision.remedy is Remedy.ABORT else Reason.ALREADY_AT_TARGET
                )
                await deps.report.report(deps.skip(item, skipped, result.message, ref), facts)
                return
            applied_at = result.applied_at
        patched_at = deps.clock()
        await deps.ledger.mark_patched(key, patched_at)
        verify_for = item.route.guards.verify_timeout
        await self._verify.run(key, ref, facts.uid, alert.name, verify_for, applied_at or patched_at)

    async def _patched_anyway(self, ref: WorkloadRef, alert_key: str) -> bool:
        try:
            facts = await read_facts(self._deps.kube, ref)
        except KubeError:
            return False
        return facts.annotations.get(LAST_ALERT) == alert_key
