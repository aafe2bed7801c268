"""Stage: a WAIT decision becomes a pending confirmation in the shared ledger, due at `not_before`.

Any replica (or this one after a restart) re-decides it when it is due; a resolve cancels it, and a
resolve that got there first wins (its tombstone stops the confirmation from being written at all). Only
what re-deciding needs is kept: the alert's labels (long values of labels no route reads are shortened)
and the annotations the route reads, so thousands of pending alerts stay far below the ConfigMap's 1 MiB.
"""

from __future__ import annotations

from receiver.core.alerts import alert_to_webhook_shape, compact
from receiver.core.decisions import Decision, Reason, Verdict
from receiver.core.ledger import PendingConfirmation, Waiting, pending_key
from receiver.core.routing import route_references
from receiver.core.settings import NoticeKind
from receiver.core.workload import WorkloadFacts
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps


class Wait:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def run(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> None:
        assert decision.not_before is not None
        deps = self._deps
        pending = PendingConfirmation(
            key=pending_key(item.alert.episode_key, item.route.name),
            alert_key=item.alert.episode_key,
            route=item.route.name,
            not_before=decision.not_before,
            alert=alert_to_webhook_shape(compact(item.alert, route_references(item.route))),
            receiver=item.receiver,
            group_key=item.group_key,
            created_at=deps.clock(),
        )
        waiting = await deps.ledger.wait(pending)
        if waiting is Waiting.RESOLVED:
            message = "the alert resolved before its confirmation was recorded; a resolve always wins"
            await deps.report.report(deps.skip(item, Reason.ALERT_RESOLVED, message, facts.ref), facts)
        elif waiting is Waiting.FULL:
            deps.report.metrics.pending_refused.inc()
            limits = deps.config().state
            message = (
                f"not waiting for confirmation: {limits.max_pending} pending confirmations or "
                f"{limits.max_pending_bytes} bytes are kept at most; Alertmanager's next repeat retries"
            )
            await deps.report.report(
                deps.skip(item, Reason.PENDING_FULL, message, facts.ref, transient=True), facts, warning=True
            )
        else:
            # Alertmanager repeats the alert while we wait: record every decision, an Event for the first.
            assert decision.verdict is Verdict.WAIT
            await deps.report.report(decision, facts if waiting is Waiting.ADDED else None)
            if waiting is Waiting.ADDED and decision.reason is Reason.CONFIRM_PENDING:
                deps.notify.about_decision(NoticeKind.WAITING, decision)
