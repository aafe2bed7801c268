"""The decision for one (alert, workload): what to do and why, plus the guard state it was made on.

Pure data; `guards.py` produces decisions, `k8s/state.py` fills `GuardState` from the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from receiver.workload import WorkloadRef


class Verdict(StrEnum):
    ROLLBACK = "rollback"  # act now
    DRY_RUN = "dry-run"  # everything but the write (server-side dry-run)
    NOTIFY = "notify"  # report only
    SKIP = "skip"  # refused, with a reason
    WAIT = "wait"  # confirmation delay running; decide again at `not_before`


class Reason(StrEnum):
    """Machine-readable reasons: the `reason` label of `decisions_total` and of every Event and log line."""

    # letting through
    ELIGIBLE = "eligible"
    DRY_RUN = "dry_run"
    # the alert and the route
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
    WORKLOAD_PAUSED = "workload_paused"
    # exactly once and no ping-pong
    ALREADY_HANDLED = "already_handled"
    IN_PROGRESS = "in_progress"
    OWN_ROLLBACK = "own_rollback"
    COOLDOWN = "cooldown"
    # GitOps
    GITOPS_MANAGED = "gitops_managed"
    # what kubectl refuses or skips
    DEPLOYMENT_PAUSED = "deployment_paused"
    NO_HISTORY = "no_history"
    UNKNOWN_REVISION = "unknown_revision"
    INVALID_REVISION = "invalid_revision"
    ALREADY_AT_TARGET = "already_at_target"
    # change attribution
    CHANGE_UNKNOWN = "change_unknown"
    NO_RECENT_CHANGE = "no_recent_change"
    # confirmation delay
    CONFIRM_PENDING = "confirm_pending"
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
    reason: str  # machine-readable, low cardinality, e.g. "cooldown", "namespace_denied"
    message: str  # one human sentence for the Event, the log and the API
    alert_key: str  # Alert.episode_key
    alert_name: str
    route: str | None
    target: WorkloadRef | None
    to_revision: int | None = None  # 0 / None => previous
    decided_at: datetime | None = None
    not_before: datetime | None = None  # for WAIT

    @property
    def acts(self) -> bool:
        """True when the decision writes (or dry-runs) a rollback."""
        return self.verdict in (Verdict.ROLLBACK, Verdict.DRY_RUN)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Claim:
    """One reserved rollback in the shared budget ledger: the unit of exactly-once.

    `key` is `claim_key(alert_key, target)`: reserving the same key twice is a no-op, so every replica and
    every restart agrees on one reservation per (alert episode, workload).
    """

    key: str
    alert_key: str
    alert_name: str
    namespace: str
    workload: str  # str(WorkloadRef)
    claimed_at: datetime
    holder: str  # replica identity that reserved it
    patched_at: datetime | None = None  # set once the undo patch was accepted
    outcome: Outcome | None = None  # set once the rollout was followed to the end
    finished_at: datetime | None = None
    message: str = ""
    verify_timeout: timedelta | None = None  # the route's: a replica taking the claim over follows as long


def claim_key(alert_key: str, target: WorkloadRef) -> str:
    return f"{alert_key}|{target.kind}/{target.namespace}/{target.name}"


@dataclass(frozen=True, slots=True)
class Breaker:
    open: bool = False
    reason: str = ""
    opened_at: datetime | None = None
    consecutive_failures: int = 0
    reset_by: str = ""
    reset_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PendingConfirmation:
    """A WAIT decision kept in cluster state so any replica (or a restarted one) re-evaluates it when due."""

    key: str  # pending_key(alert_key, route)
    alert_key: str
    route: str
    not_before: datetime
    alert: Mapping[str, object]  # the alert as Alertmanager's API shape (labels, annotations, startsAt, ...)
    receiver: str = ""
    group_key: str = ""
    created_at: datetime | None = None


def pending_key(alert_key: str, route: str) -> str:
    return f"{alert_key}|{route}"


@dataclass(frozen=True, slots=True)
class GuardState:
    """The HA-shared part of what the guards look at, read from the state ConfigMap."""

    claims: tuple[Claim, ...] = ()
    breaker: Breaker = field(default_factory=Breaker)
    pending: tuple[PendingConfirmation, ...] = ()
    resource_version: str = ""

    def used(self, now: datetime, per: timedelta, namespace: str | None = None) -> int:
        """Rollbacks reserved within the window ending at `now` (in `namespace`, or everywhere)."""
        since = now - per
        return sum(
            1
            for claim in self.claims
            if claim.claimed_at > since and (namespace is None or claim.namespace == namespace)
        )

    @property
    def inflight(self) -> int:
        return sum(1 for claim in self.claims if claim.outcome is None)

    def claim(self, key: str) -> Claim | None:
        return next((claim for claim in self.claims if claim.key == key), None)
