"""Stage: a resolved alert never acts; it cancels its episode's pending confirmation, if any, and ends the
verification of the rollbacks it caused: they recovered.

The ledger does all of it in one write (cancel, tombstone, verification), so exactly one replica — the one
whose write it was — reports each recovery, however many copies of the resolve arrive.
"""

from __future__ import annotations

from dataclasses import replace

from receiver.core import guards
from receiver.core.incidents import StepKind, incident_id
from receiver.core.settings import Action
from receiver.pipeline.items import WorkItem
from receiver.pipeline.ledger import Resolution
from receiver.pipeline.stages.base import Deps
from receiver.pipeline.stages.verify import Verify


class Resolved:
    def __init__(self, deps: Deps, verify: Verify) -> None:
        self._deps = deps
        self._verify = verify

    async def run(self, item: WorkItem) -> None:
        deps = self._deps
        resolution: Resolution | None = None
        if item.route.action is Action.ROLLBACK:  # only a rollback route can have something to cancel
            resolution = await deps.ledger.resolve(item.alert.episode_key)
        decision = guards.alert_level(item.alert, item.route, deps.config(), deps.clock())
        assert decision is not None  # a resolved alert always stops at the alert-level guards
        if resolution is not None and resolution.cancelled:
            decision = replace(decision, message="the alert resolved: its pending confirmation is cancelled")
        deps.report.record(deps.stamp(item, decision))
        if resolution is not None:
            await self._rollbacks(item, resolution)

    async def _rollbacks(self, item: WorkItem, resolution: Resolution) -> None:
        deps = self._deps
        resolved_at = item.alert.ends_at or deps.clock()
        recovered = {c.key for c in resolution.recovered}
        for claim in resolution.claims:
            if claim.key in recovered:
                await self._verify.concluded(claim, resolved_at=resolved_at, how="resolved notification")
            elif resolution.first and claim.verification is not None:
                # Ended already (did not help, failed): a late resolve is worth a line in the record, not
                # another outcome. A claim still rolling out reports its recovery when the rollout completes.
                text = (
                    f"{claim.alert_name} resolved (Alertmanager says it ended at {resolved_at:%H:%M:%S} UTC)"
                )
                step = deps.incidents.step(StepKind.ALERT_RESOLVED, text, key="alert_resolved_note")
                await deps.incidents.record(incident_id(claim.key), step)
