"""Stage: every guard on fresh facts and the shared ledger -> one Decision (the guards are pure)."""

from __future__ import annotations

from receiver.core import guards
from receiver.core.decisions import Decision
from receiver.core.ledger import GuardState
from receiver.core.workload import WorkloadFacts
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps


class Decide:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def run(self, item: WorkItem, facts: WorkloadFacts) -> Decision:
        state = await self._deps.ledger.read()
        self._deps.report.gauges(state)
        return self.on(item, facts, state)

    def on(self, item: WorkItem, facts: WorkloadFacts, state: GuardState) -> Decision:
        """The pure decision on a given state (the reserve stage re-runs it on the state it writes)."""
        decision = guards.decide(
            item.alert,
            item.route,
            facts,
            state,
            self._deps.config(),
            self._deps.clock(),
            truncated_alerts=item.truncated_alerts,
            holder=self._deps.holder,
        )
        return self._deps.stamp(item, decision)
