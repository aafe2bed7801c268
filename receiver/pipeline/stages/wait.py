"""Stage: a WAIT decision becomes a pending confirmation in the shared ledger, due at `not_before`.

Any replica (or this one after a restart) re-decides it when it is due; a resolve cancels it.
"""

from __future__ import annotations

from receiver.core.alerts import alert_to_webhook_shape
from receiver.core.decisions import Decision
from receiver.core.ledger import PendingConfirmation, pending_key
from receiver.core.workload import WorkloadFacts
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps


class Wait:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def run(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> None:
        assert decision.not_before is not None
        pending = PendingConfirmation(
            key=pending_key(item.alert.episode_key, item.route.name),
            alert_key=item.alert.episode_key,
            route=item.route.name,
            not_before=decision.not_before,
            alert=alert_to_webhook_shape(item.alert),
            receiver=item.receiver,
            group_key=item.group_key,
            created_at=self._deps.clock(),
        )
        added = await self._deps.ledger.wait(pending)
        # Alertmanager repeats the alert while we wait: record every decision, an Event only for the first.
        await self._deps.report.report(decision, facts if added else None)
