"""Stage: a decision that does not roll back (skip, notify): give back any reservation and report it.

Exhausting the global budget also opens the circuit breaker: that many rollbacks in a window means
something bigger is wrong than one bad deploy, and a human should look before we act again.
"""

from __future__ import annotations

from receiver.core.decisions import Decision, Reason
from receiver.core.ledger import claim_key
from receiver.core.workload import WorkloadFacts
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps


class Decline:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def run(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> None:
        await self._deps.ledger.release(claim_key(item.alert.episode_key, facts.ref))
        if decision.reason == Reason.BUDGET_GLOBAL:
            state = await self._deps.ledger.open_breaker(f"global budget exhausted: {decision.message}")
            self._deps.report.gauges(state)
        await self._deps.report.report(decision, facts)
