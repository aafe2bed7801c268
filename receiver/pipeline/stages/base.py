"""What every stage is given: the cluster, the ledger, the reporter, the config of the moment, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from receiver.core import guards
from receiver.core.decisions import Decision, Reason, Remedy
from receiver.core.settings import Config, RevisionChoice
from receiver.core.workload import WorkloadRef
from receiver.k8s import KubeClient, audit
from receiver.pipeline.incidents import IncidentRecorder
from receiver.pipeline.items import WorkItem
from receiver.pipeline.ledger import Ledger
from receiver.pipeline.notifying import Notifier
from receiver.pipeline.reporting import Reporter

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Deps:
    kube: KubeClient
    ledger: Ledger
    report: Reporter
    config: Callable[[], Config]  # the config of the moment (a reload swaps it)
    clock: Clock
    holder: str  # this replica's identity in claims
    incidents: IncidentRecorder
    notify: Notifier

    @property
    def actor(self) -> str:
        """Who acted, in the audit annotations: the cluster's name and this replica."""
        return f"{self.config().cluster_name or 'rollback-receiver'}/{self.holder}"

    def skip(
        self,
        item: WorkItem,
        reason: Reason,
        message: str,
        ref: WorkloadRef | None = None,
        *,
        transient: bool = False,
    ) -> Decision:
        """Nothing is done, for `reason`; `transient` when nothing was learnt about the alert itself."""
        return guards.refuse_targets(
            item.alert,
            item.route,
            self.clock(),
            reason,
            message,
            ref,
            source=item.source,
            transient=transient,
        )

    def stamp(self, item: WorkItem, decision: Decision) -> Decision:
        """A decision of the guards, marked with where its work item came from."""
        return replace(decision, source=item.source)

    def audit(self, item: WorkItem, decision: Decision) -> dict[str, str]:
        """Our annotations for the undo patch of this decision (the same for a dry-run)."""
        alert = item.alert
        cause = None
        if decision.remedy is Remedy.ABORT:
            cause = (
                f"rollback-receiver: {alert.name} ({alert.fingerprint}) aborted the update, back to "
                f"revision {decision.to_revision or 0}"
            )
        return audit.audit_annotations(
            actor=self.actor,
            at=self.clock(),
            to_revision=decision.to_revision or 0,
            alert_key=alert.episode_key,
            alert_name=alert.name,
            fingerprint=alert.fingerprint,
            cause=cause,
        )


def requested_revision(item: WorkItem, decision: Decision) -> int:
    """The revision to pass to the undo: the one the alert names, the decision's last-known-good one, or
    0 for kubectl's previous (an invalid request was refused earlier)."""
    requested = guards.requested_revision(item.alert, item.route)
    if requested == 0 and item.route.revision.to is RevisionChoice.LAST_KNOWN_GOOD:
        return decision.to_revision or 0
    return requested if isinstance(requested, int) else 0
