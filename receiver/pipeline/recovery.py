"""Recovery: due confirmations are decided again, claims a crash left open are finished, and rollbacks
whose alert did not resolve in time are ended as `did_not_help`.

`tick()` runs at start and every few seconds on every replica. A claim is an orphan when no process works
on it any more: ours from before a restart, or another replica's whose reservation went stale (no patch
within `state.takeover_after`) or whose verification should long be over. The patch is recognised by our
`last-alert` annotation: without it the reservation never led to a rollback and is released; with it, the
rollout is followed to its outcome, so a killed replica neither rolls back twice nor loses the outcome.

Verification needs no owner: it is state in the ledger (`clears_by`), so every replica's tick looks at
the claims still verifying, asks Alertmanager (when `alertmanager.urls` is set) whether the episode is
still listed, and ends the ones whose time is up; the ledger lets exactly one of them win.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from receiver.alertmanager import AlertmanagerAPIClient, AlertmanagerUnavailable
from receiver.core.alerts import alert_from_webhook_shape
from receiver.core.annotations import LAST_ALERT, ROLLED_BACK_AT
from receiver.core.decisions import Source
from receiver.core.incidents import StepKind, incident_id
from receiver.core.ledger import Claim, Outcome, PendingConfirmation, Verification
from receiver.core.timefmt import parse_rfc3339, parse_rfc3339_or_none
from receiver.k8s import NotFound, read_facts
from receiver.pipeline.inflight import InFlight
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps
from receiver.pipeline.stages.verify import Verify

logger = logging.getLogger(__name__)

# How often one replica asks Alertmanager about one verifying rollback.
VERIFY_POLL = timedelta(seconds=10)


class Recovery:
    def __init__(
        self,
        deps: Deps,
        *,
        handle: Callable[[WorkItem], Awaitable[None]],
        verify: Verify,
        inflight: InFlight,
    ) -> None:
        self._deps = deps
        self._handle = handle
        self._verify = verify
        self._inflight = inflight
        self._api: AlertmanagerAPIClient | None = None
        self._asked: dict[str, datetime] = {}  # claim key -> when we last asked Alertmanager about it

    async def tick(self) -> None:
        """Re-evaluate due confirmations and finish claims a crash left open."""
        deps = self._deps
        now = deps.clock()
        state = await deps.ledger.read()
        deps.report.gauges(state)
        for pending in state.pending:
            if pending.not_before <= now:
                await self._confirm(pending)
        for claim in state.claims:
            if claim.outcome is None and claim.key not in self._inflight and self._orphaned(claim, now):
                await self._recover(claim)
        verifying = {c.key for c in state.claims if c.verifying}
        for claim in state.claims:
            if claim.verifying:
                await self._verification(claim, now)
        self._asked = {k: v for k, v in self._asked.items() if k in verifying}

    async def _verification(self, claim: Claim, now: datetime) -> None:
        """A rollback waiting for its alert to resolve: recovered when Alertmanager no longer lists the
        episode, did_not_help once `clears_by` passed with the alert still there."""
        assert claim.clears_by is not None
        due = claim.clears_by <= now
        listed = await self._listed(claim, now, force=due)
        if listed is False:
            after = await self._deps.ledger.verify(claim.key, Verification.RECOVERED)
            if after is not None:
                await self._verify.concluded(
                    after, resolved_at=now, how="Alertmanager no longer lists the alert"
                )
        elif due:
            after = await self._deps.ledger.verify(claim.key, Verification.DID_NOT_HELP)
            if after is not None:
                await self._verify.concluded(after, resolved_at=None, how="its time ran out")

    async def _listed(self, claim: Claim, now: datetime, *, force: bool) -> bool | None:
        """Whether Alertmanager still lists the claim's episode; None when it is not configured, was
        asked recently, or did not answer (nothing is concluded from silence)."""
        settings = self._deps.config().alertmanager
        if not settings.urls:
            return None
        last = self._asked.get(claim.key)
        if not force and last is not None and now - last < VERIFY_POLL:
            return None
        self._asked[claim.key] = now
        if self._api is None or self._api.settings is not settings:
            self._api = AlertmanagerAPIClient(settings)
        fingerprint, _, starts = claim.alert_key.partition("@")
        try:
            return await self._api.episode_listed(claim.alert_name, fingerprint, parse_rfc3339(starts))
        except (AlertmanagerUnavailable, ValueError) as exc:
            logger.info(
                "cannot ask Alertmanager about a verifying rollback: %s", exc, extra={"claim": claim.key}
            )
            return None

    async def _confirm(self, pending: PendingConfirmation) -> None:
        deps = self._deps
        route = next((r for r in deps.config().routes if r.name == pending.route), None)
        if route is None:
            await deps.ledger.forget_pending(pending.key)
            logger.warning("pending confirmation dropped: its route is gone", extra={"route": pending.route})
            return
        item = WorkItem(
            alert=alert_from_webhook_shape(pending.alert),
            route=route,
            receiver=pending.receiver,
            group_key=pending.group_key,
            truncated_alerts=0,
            received_at=deps.clock(),
            source=Source.CONFIRMATION,
            first_received_at=pending.created_at,
            waited_from=pending.created_at,
        )
        await self._handle(item)

    async def _end_without_evidence(self, claim: Claim, what: str) -> None:
        """The workload no longer shows our patch: an unpatched reservation never led to one and is given
        back; a patched one can no longer be followed and ends as `unknown` (it must not stay in flight,
        holding a `max_concurrent` slot, forever)."""
        deps = self._deps
        if claim.patched_at is None:
            await deps.ledger.release(claim.key)
            logger.warning("released a reservation that never led to a patch", extra={"claim": claim.key})
            return
        message = (
            f"{claim.target} was {what} after our rollback and no longer carries its audit annotation; "
            "its rollout cannot be followed"
        )
        finished = await deps.ledger.finish(claim.key, Outcome.UNKNOWN, message)
        if finished is not None:
            deps.report.metrics.rollbacks.labels(result=Outcome.UNKNOWN.value).inc()
            logger.warning(message, extra={"claim": claim.key, "outcome": Outcome.UNKNOWN.value})
            await self._verify.rollout_ended(finished, message)

    def _orphaned(self, claim: Claim, now: datetime) -> bool:
        if claim.holder == self._deps.holder:
            return True  # ours, from before a restart (we are not working on it now)
        takeover_after = self._deps.config().state.takeover_after
        if claim.patched_at is None:
            return now - claim.claimed_at >= takeover_after
        return now - claim.patched_at >= self._verify_timeout(claim) + takeover_after

    def _verify_timeout(self, claim: Claim) -> timedelta:
        """The route's verify timeout recorded in the claim (older claims: the default)."""
        return claim.verify_timeout or self._deps.config().defaults.verify_timeout

    async def _recover(self, claim: Claim) -> None:
        deps = self._deps
        if not await deps.ledger.take_over(claim):
            return
        before = "this replica before a restart" if claim.holder == deps.holder else f"replica {claim.holder}"
        step = deps.incidents.step(
            StepKind.TAKEN_OVER,
            f"{deps.holder} took over from {before}, which stopped following it",
            key=f"taken_over/{deps.holder}/{claim.holder}",
        )
        await deps.incidents.record(incident_id(claim.key), step)
        with self._inflight.claim(claim.key):
            try:
                facts = await read_facts(deps.kube, claim.target)
            except NotFound:
                facts = None
            if facts is None or facts.annotations.get(LAST_ALERT) != claim.alert_key:
                await self._end_without_evidence(claim, "deleted" if facts is None else "changed")
                return
            patched = claim.patched_at
            if patched is None:
                patched = parse_rfc3339_or_none(facts.annotations.get(ROLLED_BACK_AT)) or deps.clock()
                await deps.ledger.mark_patched(claim.key, patched)
            logger.info("following a rollback interrupted by a restart", extra={"claim": claim.key})
            verify_for = self._verify_timeout(claim)
            await self._verify.run(claim.key, claim.target, facts.uid, claim.alert_name, verify_for, patched)
