"""The shared ledger as named, atomic transitions: reserve, mark patched, release, finish, take over, wait,
forget, cancel, open and reset the breaker.

Each method is one optimistic read-modify-write of the state ConfigMap (`receiver.k8s.state.StateStore`)
with a pure transition from `receiver.core.ledger`; a transition that decides on the state (is there budget
left?) sees exactly the state it changes, on every replica.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from receiver.core import ledger as transitions
from receiver.core.decisions import Decision, Verdict
from receiver.core.ledger import Claim, GuardState, Outcome, PendingConfirmation, Verification, Waiting
from receiver.core.rollout_health import is_watch_item
from receiver.core.settings import Config
from receiver.core.text import MAX_EVENT_MESSAGE_BYTES, one_line
from receiver.k8s import KubeClient, StateStore

Clock = Callable[[], datetime]


class Ledger:
    def __init__(self, kube: KubeClient, config: Config, *, holder: str, clock: Clock) -> None:
        self._kube = kube
        self._holder = holder
        self._clock = clock
        self.configure(config)

    def configure(self, config: Config) -> None:
        self._store = StateStore.for_config(self._kube, config)
        self._breaker_failures = config.limits.breaker_failures
        self._max_pending = config.state.max_pending
        self._max_pending_bytes = config.state.max_pending_bytes

    async def read(self) -> GuardState:
        return await self._store.read()

    async def reserve(self, claim: Claim, route: str, recheck: Callable[[GuardState], Decision]) -> Decision:
        """Claim the budget atomically: `recheck` runs the guards again on the state being written, and
        the claim is only added while they still say ROLLBACK; the alert's pending confirmation on `route`
        ends in the same write."""

        def mutate(state: GuardState) -> tuple[GuardState, Decision]:
            fresh = recheck(state)
            if fresh.verdict is not Verdict.ROLLBACK:
                return state, fresh
            existing = state.claim(claim.key)
            if existing is not None and existing.holder == self._holder:
                return state, fresh  # our own reservation from a previous attempt
            return transitions.reserve(state, claim, route), fresh

        return await self._store.update(mutate, now=self._clock())

    async def mark_patched(self, key: str, at: datetime) -> None:
        await self._store.update(lambda s: _same(transitions.update_claim(s, key, patched_at=at)), now=at)

    async def release(self, key: str) -> None:
        """Give back a reservation that did not lead to a patch (ours only)."""
        await self._store.update(
            lambda s: _same(transitions.release_claim(s, key, self._holder)), now=self._clock()
        )

    async def finish(self, key: str, outcome: Outcome, message: str) -> Claim | None:
        """Record the rollout's outcome; the claim as it is now (verifying, or with its verification),
        or None when another replica recorded it first."""
        now = self._clock()
        message = one_line(message, MAX_EVENT_MESSAGE_BYTES)  # the state document stays bounded

        def finish(state: GuardState) -> tuple[GuardState, Claim | None]:
            claim = state.claim(key)
            if claim is None or claim.outcome is not None:
                return state, None
            state = transitions.record_outcome(state, key, outcome, message, now, self._breaker_failures)
            return state, state.claim(key)

        return await self._store.update(finish, now=now)

    async def verify(self, key: str, verification: Verification) -> Claim | None:
        """End a claim's verification; the claim after it, or None when it was not verifying any more
        (another replica, or a resolve, ended it first)."""
        now = self._clock()

        def verify(state: GuardState) -> tuple[GuardState, Claim | None]:
            claim = state.claim(key)
            if claim is None or not claim.verifying:
                return state, None
            state = transitions.verify(state, key, verification, now, self._breaker_failures)
            return state, state.claim(key)

        return await self._store.update(verify, now=now)

    async def take_over(self, claim: Claim) -> bool:
        """Make an orphaned claim ours; False when it was finished, released or taken over meanwhile."""

        def take_over(state: GuardState) -> tuple[GuardState, bool]:
            current = state.claim(claim.key)
            if current is None or current.outcome is not None or current.holder != claim.holder:
                return state, False
            return transitions.update_claim(state, claim.key, holder=self._holder), True

        return await self._store.update(take_over, now=self._clock())

    async def wait(self, pending: PendingConfirmation) -> Waiting:
        """Keep (or move) a pending confirmation, unless its episode resolved meanwhile or the bounds of
        the pending list are reached."""
        return await self._store.update(
            lambda s: transitions.wait(
                s, pending, max_count=self._max_pending, max_bytes=self._max_pending_bytes
            ),
            now=self._clock(),
        )

    async def forget_pending(self, key: str) -> None:
        await self._store.update(lambda s: _same(transitions.remove_pending(s, key)), now=self._clock())

    async def resolve(self, alert_key: str) -> Resolution:
        """The alert resolved: its pending confirmations are cancelled, a tombstone makes the resolve win
        over any firing copy still on its way, on every replica, and the rollbacks it caused that were
        verifying recovered, all in one write."""
        now = self._clock()

        def resolve(state: GuardState) -> tuple[GuardState, Resolution]:
            first = state.resolved_at(alert_key) is None
            state, cancelled = transitions.resolve(state, alert_key, now)
            state, recovered = transitions.recover(state, alert_key, now, self._breaker_failures)
            claims = tuple(c for c in state.claims if c.alert_key == alert_key)
            return state, Resolution(cancelled, recovered, claims, first)

        return await self._store.update(resolve, now=now)

    async def cancel_inactive_pending(self, active: set[str]) -> int:
        """Cancel pending confirmations of alerts Alertmanager no longer reports as active."""

        def mutate(state: GuardState) -> tuple[GuardState, int]:
            # The rollout-health source's alerts are not Alertmanager's to list; the watch answers for them.
            stale = [p for p in state.pending if p.alert_key not in active and not is_watch_item(p.group_key)]
            for pending in stale:
                state = transitions.remove_pending(state, pending.key)
            return state, len(stale)

        return await self._store.update(mutate, now=self._clock())

    async def receiver(self, learnt: str | None) -> str | None:
        """Our receiver's name: the one learnt from webhooks (kept in the state for the others), else the
        one the state keeps."""
        if learnt:
            await self._store.update(
                lambda s: _same(transitions.remember_receiver(s, learnt)), now=self._clock()
            )
            return learnt
        return (await self._store.read()).receiver or None

    async def open_breaker(self, reason: str) -> GuardState:
        now = self._clock()
        return await self._store.update(lambda s: _same(transitions.open_breaker(s, reason, now)), now=now)

    async def reset_breaker(self, actor: str) -> tuple[GuardState, GuardState]:
        """A human closes the breaker; returns the state before and after (for the audit line)."""
        now = self._clock()

        def reset(state: GuardState) -> tuple[GuardState, tuple[GuardState, GuardState]]:
            after = transitions.reset_breaker(state, actor, now)
            return after, (state, after)

        return await self._store.update(reset, now=now)


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a resolve changed: the confirmations it cancelled, the claims whose verification it ended
    (as they were before), every claim of the episode (as they are now), and whether it was the first
    resolve of the episode (a repeat from Alertmanager or an HA peer changes nothing)."""

    cancelled: tuple[PendingConfirmation, ...]
    recovered: tuple[Claim, ...]
    claims: tuple[Claim, ...]
    first: bool


def breaker_summary(state: GuardState, *, was_open: bool | None = None) -> dict[str, object]:
    """The breaker as the CLI and `GET /api/v1/breaker` show it."""
    breaker = state.breaker
    summary: dict[str, object] = {
        "open": breaker.open,
        "reason": breaker.reason,
        "opened_at": breaker.opened_at.isoformat() if breaker.opened_at else None,
        "consecutive_failures": breaker.consecutive_failures,
        "reset_by": breaker.reset_by,
        "reset_at": breaker.reset_at.isoformat() if breaker.reset_at else None,
        "inflight": state.inflight,
    }
    if was_open is not None:
        summary["was_open"] = was_open
    return summary


def _same(state: GuardState) -> tuple[GuardState, GuardState]:
    return state, state
