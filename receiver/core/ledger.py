"""The shared guard state (the ledger) and its named, pure transitions.

Claims are the unit of exactly-once: one per (alert episode, workload), reserved before the undo patch and
finished with the rollout's outcome. The ledger also holds the circuit breaker and the pending confirmations.
Every transition returns a new state, or the very same object when nothing changes (so the store skips the
write); `receiver.k8s.state` keeps the ledger in a ConfigMap and `receiver.pipeline.ledger` applies these
transitions to it atomically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from receiver.core.workload import WorkloadRef


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # The patch landed but its rollout cannot be followed any more (the workload was deleted, our audit
    # annotation was removed): the claim ends, without moving the circuit breaker either way.
    UNKNOWN = "unknown"


class Verification(StrEnum):
    """What the rollback did for the alert that caused it (the verification by the alert itself)."""

    RECOVERED = "recovered"  # the rollout completed and the alert resolved within `clears_within`
    DID_NOT_HELP = "did_not_help"  # the rollout completed and the alert was still firing at `clears_by`
    ROLLOUT_FAILED = "rollout_failed"  # the rollout failed its progress deadline or our verify_timeout
    UNKNOWN = "unknown"  # the rollout could not be followed (the workload was deleted or changed)


@dataclass(frozen=True, slots=True)
class Claim:
    """One reserved rollback in the shared budget ledger.

    `key` is `claim_key(alert_key, target)`: reserving the same key twice is a no-op, so every replica and
    every restart agrees on one reservation per (alert episode, workload).
    """

    key: str
    alert_key: str
    alert_name: str
    target: WorkloadRef
    claimed_at: datetime
    holder: str  # replica identity that reserved it
    patched_at: datetime | None = None  # set once the undo patch was accepted
    outcome: Outcome | None = None  # set once the rollout was followed to the end
    finished_at: datetime | None = None
    message: str = ""
    verify_timeout: timedelta | None = None  # the route's: a replica taking the claim over follows as long
    route: str = ""  # the route that decided it (its notification policy, the metrics' route label)
    uid: str = ""  # the workload's uid, for Events written by whichever replica ends the verification
    # Verification by the alert: the route's `verify` settings, kept so any replica can finish it.
    clears_within: timedelta | None = None  # None: no verification (a completed rollout is the success)
    did_not_help_counts: bool = True
    clears_by: datetime | None = None  # set when the rollout completed: the alert must resolve by then
    verification: Verification | None = None
    verified_at: datetime | None = None

    @property
    def namespace(self) -> str:
        return self.target.namespace

    @property
    def verifying(self) -> bool:
        """The rollout completed and the alert has neither resolved nor run out of time yet."""
        return self.outcome is Outcome.SUCCEEDED and self.clears_by is not None and self.verification is None


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


# What one pending entry costs in the state document besides its alert: keys, route, times, JSON syntax.
_PENDING_OVERHEAD = 160


def pending_bytes(pending: PendingConfirmation) -> int:
    """The entry's size in the state document (JSON), to keep the ConfigMap far below the API's 1 MiB."""
    alert = json.dumps(pending.alert, separators=(",", ":"), ensure_ascii=False)
    return (
        len(alert.encode())
        + 2 * len(pending.key)
        + len(pending.receiver)
        + len(pending.group_key)
        + _PENDING_OVERHEAD
    )


@dataclass(frozen=True, slots=True)
class Tombstone:
    """An alert episode that resolved: a resolve always wins over a confirmation still in the making, on
    every replica, whatever order the firing and the resolved notification are processed in."""

    alert_key: str
    at: datetime


# Long past any confirmation delay and any firing notification still queued or retried for the episode;
# the count bounds the state document under a storm of resolves (the oldest go first).
TOMBSTONE_TTL = timedelta(hours=6)
MAX_TOMBSTONES = 2000


@dataclass(frozen=True, slots=True)
class GuardState:
    """The HA-shared part of what the guards look at, read from the state ConfigMap."""

    claims: tuple[Claim, ...] = ()
    breaker: Breaker = field(default_factory=Breaker)
    pending: tuple[PendingConfirmation, ...] = ()
    resolved: tuple[Tombstone, ...] = ()
    # Our receiver's name in Alertmanager, as the webhooks carry it: kept here so reconciliation after a
    # restart (or on another replica) knows which alerts are ours before the next webhook arrives.
    receiver: str = ""
    resource_version: str = ""

    def resolved_at(self, alert_key: str) -> datetime | None:
        return next((t.at for t in self.resolved if t.alert_key == alert_key), None)

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


# --- transitions ------------------------------------------------------------------------------------------


def add_claim(state: GuardState, claim: Claim) -> GuardState:
    """Reserve `claim`; an existing claim with the same key is replaced (a stale one taken over)."""
    others = tuple(c for c in state.claims if c.key != claim.key)
    return replace(state, claims=(*others, claim))


def reserve(state: GuardState, claim: Claim, route: str) -> GuardState:
    """Reserve `claim` and end the alert's pending confirmation on `route` in the same write: a due
    confirmation that turns into a rollback can neither act twice nor linger."""
    return remove_pending(add_claim(state, claim), pending_key(claim.alert_key, route))


def update_claim(state: GuardState, key: str, **changes: Any) -> GuardState:
    existing = state.claim(key)
    if existing is None:
        return state
    updated = replace(existing, **changes)
    if updated == existing:
        return state
    return replace(state, claims=tuple(updated if c.key == key else c for c in state.claims))


def release_claim(state: GuardState, key: str, holder: str) -> GuardState:
    """Drop a reservation that did not lead to a patch (only our own, and never a patched one)."""
    existing = state.claim(key)
    if existing is None or existing.patched_at is not None or existing.holder != holder:
        return state
    return replace(state, claims=tuple(c for c in state.claims if c.key != key))


def record_outcome(
    state: GuardState, key: str, outcome: Outcome, message: str, now: datetime, breaker_failures: int
) -> GuardState:
    """Finish a claim's rollout (idempotent) and move the breaker: failures add up.

    A completed rollout whose claim verifies by the alert enters verification (`clears_by`), unless the
    alert already resolved while the rollout ran (then it recovered now); without verification a
    completed rollout is the success and resets the count, as does a recovery.
    """
    existing = state.claim(key)
    if existing is None or existing.outcome is not None:
        return state
    changes: dict[str, Any] = {"outcome": outcome, "finished_at": now, "message": message}
    breaker = state.breaker
    if outcome is Outcome.SUCCEEDED:
        if existing.clears_within is None:
            breaker = replace(breaker, consecutive_failures=0)
        elif state.resolved_at(existing.alert_key) is not None:
            changes.update(clears_by=now, verification=Verification.RECOVERED, verified_at=now)
            breaker = replace(breaker, consecutive_failures=0)
        else:
            changes["clears_by"] = now + existing.clears_within
    elif outcome is Outcome.FAILED:
        changes.update(verification=Verification.ROLLOUT_FAILED, verified_at=now)
        breaker = _count_failure(breaker, now, breaker_failures)
    else:
        changes.update(verification=Verification.UNKNOWN, verified_at=now)
    state = update_claim(state, key, **changes)
    return replace(state, breaker=breaker)


def verify(
    state: GuardState, key: str, verification: Verification, now: datetime, breaker_failures: int
) -> GuardState:
    """End a claim's verification (idempotent: only a claim still verifying changes): a recovery resets the
    breaker's count, a rollback that did not help adds to it when its route says so."""
    existing = state.claim(key)
    if existing is None or not existing.verifying:
        return state
    state = update_claim(state, key, verification=verification, verified_at=now)
    breaker = state.breaker
    if verification is Verification.RECOVERED:
        breaker = replace(breaker, consecutive_failures=0)
    elif verification is Verification.DID_NOT_HELP and existing.did_not_help_counts:
        breaker = _count_failure(breaker, now, breaker_failures)
    return replace(state, breaker=breaker)


def _count_failure(breaker: Breaker, now: datetime, threshold: int) -> Breaker:
    failures = breaker.consecutive_failures + 1
    breaker = replace(breaker, consecutive_failures=failures)
    if failures >= threshold and not breaker.open:
        reason = f"{failures} consecutive rollbacks failed or did not help"
        breaker = replace(breaker, open=True, opened_at=now, reason=reason)
    return breaker


def recover(
    state: GuardState, alert_key: str, at: datetime, breaker_failures: int
) -> tuple[GuardState, tuple[Claim, ...]]:
    """The episode resolved: every claim of it still verifying recovered; returns them (as they were)."""
    verifying = tuple(c for c in state.claims if c.alert_key == alert_key and c.verifying)
    for claim in verifying:
        state = verify(state, claim.key, Verification.RECOVERED, at, breaker_failures)
    return state, verifying


def open_breaker(state: GuardState, reason: str, now: datetime) -> GuardState:
    if state.breaker.open:
        return state
    return replace(state, breaker=replace(state.breaker, open=True, reason=reason, opened_at=now))


def reset_breaker(state: GuardState, actor: str, now: datetime) -> GuardState:
    return replace(state, breaker=Breaker(reset_by=actor, reset_at=now))


class Waiting(StrEnum):
    """What became of a request to wait for a confirmation."""

    ADDED = "added"
    UNCHANGED = "unchanged"  # the same confirmation was already pending (Alertmanager repeats the alert)
    RESOLVED = "resolved"  # the episode already resolved: nothing to confirm
    FULL = "full"  # the pending list is at its bound


def wait(
    state: GuardState, pending: PendingConfirmation, *, max_count: int, max_bytes: int
) -> tuple[GuardState, Waiting]:
    """Keep (or move) a pending confirmation, unless its episode resolved or the bounds are reached."""
    if state.resolved_at(pending.alert_key) is not None:
        return state, Waiting.RESOLVED
    existing = next((p for p in state.pending if p.key == pending.key), None)
    if existing is not None and existing.not_before == pending.not_before:
        return state, Waiting.UNCHANGED
    others = remove_pending(state, pending.key)
    used = sum(pending_bytes(p) for p in others.pending)
    if len(others.pending) >= max_count or used + pending_bytes(pending) > max_bytes:
        return state, Waiting.FULL
    return add_pending(others, pending), Waiting.ADDED


def add_pending(state: GuardState, pending: PendingConfirmation) -> GuardState:
    if any(p.key == pending.key for p in state.pending):
        return state
    return replace(state, pending=(*state.pending, pending))


def remove_pending(state: GuardState, key: str) -> GuardState:
    if not any(p.key == key for p in state.pending):
        return state
    return replace(state, pending=tuple(p for p in state.pending if p.key != key))


def cancel_pending(state: GuardState, alert_key: str) -> tuple[GuardState, tuple[PendingConfirmation, ...]]:
    """Drop every pending confirmation of one alert episode (it resolved); returns what was cancelled."""
    cancelled = tuple(p for p in state.pending if p.alert_key == alert_key)
    if not cancelled:
        return state, ()
    return replace(state, pending=tuple(p for p in state.pending if p.alert_key != alert_key)), cancelled


def resolve(
    state: GuardState, alert_key: str, at: datetime
) -> tuple[GuardState, tuple[PendingConfirmation, ...]]:
    """The episode resolved: cancel its pending confirmations and leave a tombstone that later firing
    copies of it meet (in `wait` and in the guards)."""
    state, cancelled = cancel_pending(state, alert_key)
    if state.resolved_at(alert_key) is not None:
        return state, cancelled
    tombstones = (*state.resolved, Tombstone(alert_key, at))[-MAX_TOMBSTONES:]
    return replace(state, resolved=tombstones), cancelled


def remember_receiver(state: GuardState, name: str) -> GuardState:
    return state if not name or state.receiver == name else replace(state, receiver=name)


def prune(state: GuardState, *, now: datetime, retention: timedelta) -> GuardState:
    """Forget finished claims older than `retention` (the longest budget window): they count for nothing
    (a claim still verifying is kept however old); and tombstones older than `TOMBSTONE_TTL`."""
    keep = tuple(
        c
        for c in state.claims
        if c.outcome is None
        or c.verifying
        or (c.verified_at or c.finished_at or c.claimed_at) > now - retention
    )
    alive = tuple(t for t in state.resolved if t.at > now - TOMBSTONE_TTL)
    if len(keep) == len(state.claims) and len(alive) == len(state.resolved):
        return state
    return replace(state, claims=keep, resolved=alive)
