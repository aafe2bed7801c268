"""The decision for one (alert, workload): what to do and why.

Pure data; `guards.py` produces decisions. The shared state they are made on is `ledger.GuardState`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from receiver.core.workload import WorkloadRef


class Source(StrEnum):
    """Where the work behind a decision came from; every decision, log line and Event says which."""

    WEBHOOK = "webhook"
    RECONCILE = "reconcile"  # recovered from Alertmanager's API
    CONFIRMATION = "confirmation"  # a pending confirmation that came due
    WATCH = "watch"  # the native rollout-health source (a Deployment watched failing)


class Verdict(StrEnum):
    ROLLBACK = "rollback"  # act now
    DRY_RUN = "dry-run"  # everything but the write (server-side dry-run)
    NOTIFY = "notify"  # report only
    SKIP = "skip"  # refused, with a reason
    WAIT = "wait"  # confirmation delay running; decide again at `not_before`


class Remedy(StrEnum):
    """How a ROLLBACK / DRY_RUN decision acts on the workload."""

    UNDO = "undo"  # kubectl's `rollout undo` (or `kubectl argo rollouts undo` for a Rollout)
    ABORT = "abort"  # `kubectl argo rollouts abort`: a Rollout's update in progress goes back to stable


class Reason(StrEnum):
    """Machine-readable reasons: the `reason` label of `decisions_total` and of every Event and log line."""

    # letting through
    ELIGIBLE = "eligible"
    DRY_RUN = "dry_run"
    # the alert and the route
    NO_ROUTE = "no_route"
    ALERT_RESOLVED = "alert_resolved"
    ROUTE_IGNORE = "route_ignore"
    ROUTE_NOTIFY = "route_notify"
    PAYLOAD_TRUNCATED = "payload_truncated"
    OTHER_CLUSTER = "other_cluster"
    # scope
    TARGET_UNRESOLVED = "target_unresolved"
    TARGET_INVALID = "target_invalid"
    TARGET_AMBIGUOUS = "target_ambiguous"
    TOO_MANY_TARGETS = "too_many_targets"
    NAMESPACE_DENIED = "namespace_denied"
    WORKLOAD_OPTED_OUT = "workload_opted_out"
    WORKLOAD_NOT_OPTED_IN = "workload_not_opted_in"
    # kill switches
    PAUSED = "paused"
    CHANGE_FREEZE = "change_freeze"
    WORKLOAD_PAUSED = "workload_paused"
    # exactly once and no ping-pong
    ALREADY_HANDLED = "already_handled"
    DID_NOT_HELP = "did_not_help"  # our rollback for this episode did not make the alert resolve
    IN_PROGRESS = "in_progress"
    OWN_ROLLBACK = "own_rollback"
    COOLDOWN = "cooldown"
    # who else manages the workload
    ARGOCD_MANAGED = "argocd_managed"
    FLUX_MANAGED = "flux_managed"
    HELM_MANAGED = "helm_managed"
    OWNED_BY_CONTROLLER = "owned_by_controller"
    OWNED_BY_ROLLOUT = "owned_by_rollout"  # a Deployment an Argo Rollout's workloadRef names
    # what kubectl refuses or skips
    DEPLOYMENT_PAUSED = "deployment_paused"
    NO_HISTORY = "no_history"
    UNKNOWN_REVISION = "unknown_revision"
    INVALID_REVISION = "invalid_revision"
    ALREADY_AT_TARGET = "already_at_target"
    NO_KNOWN_GOOD = "no_known_good"
    # Argo Rollouts: an update in progress (on_progressing)
    ROLLOUT_PROGRESSING = "rollout_progressing"
    ALREADY_ABORTED = "already_aborted"
    WORKLOAD_REF_UNSUPPORTED = "workload_ref_unsupported"
    # change attribution
    CHANGE_UNKNOWN = "change_unknown"
    NO_RECENT_CHANGE = "no_recent_change"
    # confirmation delay
    CONFIRM_PENDING = "confirm_pending"
    PENDING_FULL = "pending_full"
    # what Alertmanager says about the alert right before we act
    ALERT_SILENCED = "alert_silenced"
    ALERT_INHIBITED = "alert_inhibited"
    ALERT_MUTED = "alert_muted"
    ALERTMANAGER_UNREACHABLE = "alertmanager_unreachable"
    # what the rollout-health watch says about its own synthetic alert right before we act
    ROLLOUT_RECOVERED = "rollout_recovered"
    WATCH_NOT_SYNCED = "watch_not_synced"
    # rate limits
    BREAKER_OPEN = "breaker_open"
    BUDGET_NAMESPACE = "budget_namespace"
    BUDGET_GLOBAL = "budget_global"
    MAX_CONCURRENT = "max_concurrent"
    # found only when acting
    CONFLICT = "conflict"
    API_ERROR = "api_error"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: Reason  # machine-readable, low cardinality, e.g. "cooldown", "namespace_denied"
    message: str  # one human sentence for the Event, the log and the API
    alert_key: str  # Alert.episode_key
    alert_name: str
    route: str | None
    target: WorkloadRef | None
    to_revision: int | None = None  # 0 / None => previous
    remedy: Remedy = Remedy.UNDO  # ABORT: a Rollout's update in progress is aborted, not undone
    decided_at: datetime | None = None
    not_before: datetime | None = None  # for WAIT
    source: Source = Source.WEBHOOK
    # An API error, a conflict, a workload not found (yet), an unreachable Alertmanager: nothing was decided
    # about the alert itself, so the next delivery or reconciliation must decide again.
    transient: bool = False
    alert_labels: Mapping[str, str] = field(default_factory=dict)  # for notifications about it

    @property
    def final(self) -> bool:
        """Decided for good: reconciliation need not feed this alert again (WAIT and IN_PROGRESS are not)."""
        return not self.transient and self.verdict is not Verdict.WAIT and self.reason != Reason.IN_PROGRESS


class EventReason(StrEnum):
    """The Kubernetes Event reasons we write: `kubectl get events --field-selector reason=RollbackSkipped`."""

    TRIGGERED = "RollbackTriggered"
    DRY_RUN = "RollbackDryRun"
    NOTIFY = "RollbackNotify"
    SKIPPED = "RollbackSkipped"
    PENDING = "RollbackPending"
    SUCCEEDED = "RollbackSucceeded"  # the rollout completed
    FAILED = "RollbackFailed"
    RECOVERED = "RollbackRecovered"  # ... and the alert resolved in time
    DID_NOT_HELP = "RollbackDidNotHelp"  # ... and the alert kept firing


EVENT_FOR_VERDICT = {
    Verdict.ROLLBACK: EventReason.TRIGGERED,
    Verdict.DRY_RUN: EventReason.DRY_RUN,
    Verdict.NOTIFY: EventReason.NOTIFY,
    Verdict.SKIP: EventReason.SKIPPED,
    Verdict.WAIT: EventReason.PENDING,
}
