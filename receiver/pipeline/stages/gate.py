"""Stage: right before a rollback, ask Alertmanager about the alert once more.

Between the webhook and the patch (a queue, a confirmation delay) an SRE may have silenced the alert, an
inhibition may have started, its route to us may have entered a mute interval, or it may have resolved.
Any of these stops the rollback with its own reason. When Alertmanager cannot be asked, nothing is done and
nothing is final: the next delivery (or the pending confirmation's next check) decides again. Without
`alertmanager.urls` there is nobody to ask (`check-config` warns about confirmation routes then).
"""

from __future__ import annotations

from receiver.alertmanager import AlertmanagerAPIClient, AlertmanagerUnavailable
from receiver.core.decisions import Decision, Reason, Verdict
from receiver.core.workload import WorkloadFacts
from receiver.pipeline.items import WorkItem
from receiver.pipeline.reconcile import ReceiverName
from receiver.pipeline.stages.base import Deps


class AlertmanagerGate:
    def __init__(self, deps: Deps, receiver: ReceiverName | None = None) -> None:
        self._deps = deps
        self._receiver = receiver
        self._api: AlertmanagerAPIClient | None = None

    def _client(self) -> AlertmanagerAPIClient | None:
        settings = self._deps.config().alertmanager
        if not settings.urls:
            return None
        if self._api is None or self._api.settings is not settings:
            self._api = AlertmanagerAPIClient(settings)
        return self._api

    async def run(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> Decision:
        api = self._client()
        if decision.verdict is not Verdict.ROLLBACK or api is None:
            return decision
        deps, ref, alert = self._deps, facts.ref, item.alert
        try:
            state = await api.alert_state(alert)
            if not state.found:
                return deps.skip(item, Reason.ALERT_RESOLVED, "Alertmanager no longer lists the alert", ref)
            if state.silenced_by:
                return deps.skip(
                    item, Reason.ALERT_SILENCED, f"silenced by {', '.join(state.silenced_by)}", ref
                )
            if state.inhibited_by:
                message = f"inhibited by {', '.join(state.inhibited_by)}"
                return deps.skip(item, Reason.ALERT_INHIBITED, message, ref)
            if state.muted_by:
                message = f"muted by the time intervals {', '.join(state.muted_by)}"
                return deps.skip(item, Reason.ALERT_MUTED, message, ref)
            receiver = deps.config().alertmanager.receiver or item.receiver or self._learnt()
            if receiver and not (await api.config()).delivers(receiver, alert.labels, deps.clock()):
                message = f"Alertmanager's route to {receiver} is muted by a time interval now"
                return deps.skip(item, Reason.ALERT_MUTED, message, ref)
        except AlertmanagerUnavailable as exc:
            message = f"cannot ask Alertmanager whether the alert is silenced before acting: {exc}"
            return deps.skip(item, Reason.ALERTMANAGER_UNREACHABLE, message, ref, transient=True)
        return decision

    def _learnt(self) -> str | None:
        return self._receiver.learnt if self._receiver is not None else None
