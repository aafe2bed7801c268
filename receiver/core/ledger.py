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

    @property
    def namespace(self) -> str:
        return self.target.namespace


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
    """Finish a claim (idempotent) and move the breaker: failures add up, a success resets the count."""
    existing = state.claim(key)
    if existing is None or existing.outcome is not None:
        return state
    state = update_claim(state, key, outcome=outcome, finished_at=now, message=message)
    breaker = state.breaker
    if outcome is Outcome.SUCCEEDED:
        breaker = replace(breaker, consecutive_failures=0)
    elif outcome is Outcome.FAILED:
        failures = breaker.consecutive_failures + 1
        breaker = replace(breaker, consecutive_failures=failures)
        if failures >= breaker_failures and not breaker.open:
            breaker = replace(
                breaker, open=True, opened_at=now, reason=f"{failures} consecutive rollbacks failed"
            )
    return replace(state, breaker=breaker)


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
    """Forget finished claims older than `retention` (the longest budget window): they count for nothing;
    and tombstones older than `TOMBSTONE_TTL`."""
    keep = tuple(
        c for c in state.claims if c.outcome is None or (c.finished_at or c.claimed_at) > now - retention
    )
    alive = tuple(t for t in state.resolved if t.at > now - TOMBSTONE_TTL)
    if len(keep) == len(state.claims) and len(alive) == len(state.resolved):
        return state
    return replace(state, claims=keep, resolved=alive)
