"""Stage: right before a rollback for a synthetic rollout-health alert, ask the watch once more.

Alertmanager never saw these alerts, so nobody could have silenced or resolved them there; what can have
changed since the finding is the rollout itself (it recovered, another revision went live, the Deployment
is gone). The watch answers from its view, with no API call. When it cannot tell (it has not listed the
cluster yet), nothing is done and nothing is final.
"""

from __future__ import annotations

from typing import Protocol

from receiver.core.alerts import Alert
from receiver.core.decisions import Decision, Reason, Verdict
from receiver.core.workload import WorkloadFacts
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps


class StillFailing(Protocol):
    def still_failing(self, alert: Alert) -> tuple[bool | None, str]: ...


class HealthGate:
    def __init__(self, deps: Deps, health: StillFailing | None) -> None:
        self._deps = deps
        self._health = health

    def run(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> Decision:
        if decision.verdict is not Verdict.ROLLBACK:
            return decision
        deps, ref = self._deps, facts.ref
        if self._health is None:
            message = "rollout_health is off: nothing can confirm that this rollout still fails"
            return deps.skip(item, Reason.ROLLOUT_RECOVERED, message, ref)
        revision = item.alert.labels.get("revision", "")
        if str(facts.current_revision) != revision:
            message = f"{ref} runs revision {facts.current_revision} now, not the failing revision {revision}"
            return deps.skip(item, Reason.ROLLOUT_RECOVERED, message, ref)
        failing, why = self._health.still_failing(item.alert)
        if failing is None:
            return deps.skip(item, Reason.WATCH_NOT_SYNCED, why, ref, transient=True)
        if not failing:
            return deps.skip(item, Reason.ROLLOUT_RECOVERED, why, ref)
        return decision
