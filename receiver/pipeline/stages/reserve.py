"""Stage: a ROLLBACK decision reserves its budget in the shared ledger, atomically.

The guards run again on the state being written, so two replicas racing for the last slot of a budget
cannot both win: the loser's decision comes back as whatever the guards now say (budget, in progress).
"""

from __future__ import annotations

from receiver.core.decisions import Decision, Verdict
from receiver.core.ledger import Claim, claim_key
from receiver.core.rollout_health import is_watch_item
from receiver.core.text import MAX_ALERT_NAME_BYTES, one_line
from receiver.core.workload import WorkloadFacts
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps
from receiver.pipeline.stages.decide import Decide


class Reserve:
    def __init__(self, deps: Deps, decide: Decide) -> None:
        self._deps = deps
        self._decide = decide

    async def run(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> Decision:
        if decision.verdict is not Verdict.ROLLBACK:
            return decision
        claim = Claim(
            key=claim_key(item.alert.episode_key, facts.ref),
            alert_key=item.alert.episode_key,
            alert_name=one_line(item.alert.name, MAX_ALERT_NAME_BYTES),  # kept in the bounded state
            target=facts.ref,
            claimed_at=self._deps.clock(),
            holder=self._deps.holder,
            verify_timeout=item.route.guards.verify_timeout,
            route=item.route.name,
            uid=facts.uid,
            # A synthetic alert of the rollout-health watch never resolves: the rollout that completed
            # (the health check that passes again) is its verification.
            clears_within=None
            if is_watch_item(item.group_key)
            else item.route.guards.alert_clears_within or None,
            did_not_help_counts=item.route.guards.did_not_help_counts,
        )
        return await self._deps.ledger.reserve(
            claim, item.route.name, lambda state: self._decide.on(item, facts, state)
        )
