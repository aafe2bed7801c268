"""Verification by the alert, as pure ledger transitions: a completed rollout waits for its alert, a resolve
recovers it, the deadline ends it as did_not_help, and the breaker counts what the route says."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

from test_guards import baseline

from receiver.core import guards, ledger
from receiver.core.decisions import Reason, Verdict
from receiver.core.ledger import Claim, GuardState, Outcome, Verification, claim_key
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import state as state_doc

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
REF = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce")
WITHIN = timedelta(minutes=10)


def patched(
    alert_key: str = "fp@t", *, clears_within: timedelta | None = WITHIN, counts: bool = True
) -> Claim:
    return Claim(
        key=claim_key(alert_key, REF),
        alert_key=alert_key,
        alert_name="HighErrorRate",
        target=REF,
        claimed_at=NOW - timedelta(minutes=1),
        holder="a",
        patched_at=NOW - timedelta(minutes=1),
        route="critical-and-high",
        clears_within=clears_within,
        did_not_help_counts=counts,
    )


def rolled_out(claim: Claim, state: GuardState | None = None, at: datetime = NOW) -> GuardState:
    state = ledger.add_claim(state or GuardState(), claim)
    return ledger.record_outcome(state, claim.key, Outcome.SUCCEEDED, "complete", at, 3)


def test_a_completed_rollout_waits_for_its_alert_until_the_deadline() -> None:
    state = rolled_out(patched())
    claim = state.claims[0]
    assert claim.verifying
    assert claim.clears_by == NOW + WITHIN
    assert claim.verification is None
    assert state.inflight == 0  # verification holds no max_concurrent slot


def test_the_resolve_recovers_it_and_resets_the_breaker_count() -> None:
    state = rolled_out(patched())
    state = dataclasses.replace(state, breaker=dataclasses.replace(state.breaker, consecutive_failures=2))
    state, recovered = ledger.recover(state, "fp@t", NOW + timedelta(minutes=3), 3)
    assert [c.key for c in recovered] == [claim_key("fp@t", REF)]
    assert state.claims[0].verification is Verification.RECOVERED
    assert state.claims[0].verified_at == NOW + timedelta(minutes=3)
    assert state.breaker.consecutive_failures == 0
    again, twice = ledger.recover(state, "fp@t", NOW + timedelta(minutes=4), 3)
    assert twice == () and again is state  # a repeat of the resolve changes nothing


def test_a_resolve_while_the_rollout_still_runs_recovers_it_when_the_rollout_completes() -> None:
    state, _ = ledger.resolve(ledger.add_claim(GuardState(), patched()), "fp@t", NOW - timedelta(seconds=5))
    state = ledger.record_outcome(state, claim_key("fp@t", REF), Outcome.SUCCEEDED, "complete", NOW, 3)
    assert state.claims[0].verification is Verification.RECOVERED
    assert not state.claims[0].verifying


def test_did_not_help_counts_toward_the_breaker_and_opens_it_at_the_threshold() -> None:
    state = GuardState()
    for index in range(3):
        state = rolled_out(patched(f"fp{index}@t"), state)
        state = ledger.verify(
            state, claim_key(f"fp{index}@t", REF), Verification.DID_NOT_HELP, NOW + WITHIN, 3
        )
    assert [c.verification for c in state.claims] == [Verification.DID_NOT_HELP] * 3
    assert state.breaker.open
    assert "did not help" in state.breaker.reason


def test_a_route_may_not_count_did_not_help() -> None:
    state = rolled_out(patched(counts=False))
    state = ledger.verify(state, claim_key("fp@t", REF), Verification.DID_NOT_HELP, NOW + WITHIN, 1)
    assert state.claims[0].verification is Verification.DID_NOT_HELP
    assert state.breaker.consecutive_failures == 0 and not state.breaker.open


def test_a_failed_rollout_ends_the_verification_as_rollout_failed_and_counts_once() -> None:
    claim = patched()
    state = ledger.add_claim(GuardState(), claim)
    state = ledger.record_outcome(state, claim.key, Outcome.FAILED, "progress deadline exceeded", NOW, 3)
    assert state.claims[0].verification is Verification.ROLLOUT_FAILED
    assert state.breaker.consecutive_failures == 1
    assert ledger.verify(state, claim.key, Verification.DID_NOT_HELP, NOW, 3) is state


def test_without_verification_a_completed_rollout_is_the_success() -> None:
    state = rolled_out(patched(clears_within=None))
    assert not state.claims[0].verifying and state.claims[0].verification is None


def test_a_claim_still_verifying_is_never_pruned() -> None:
    state = rolled_out(patched(clears_within=timedelta(hours=3)), at=NOW - timedelta(hours=2))
    pruned = ledger.prune(state, now=NOW, retention=timedelta(hours=1))
    assert pruned.claims == state.claims
    done = ledger.verify(state, state.claims[0].key, Verification.DID_NOT_HELP, NOW - timedelta(hours=2), 3)
    assert ledger.prune(done, now=NOW, retention=timedelta(hours=1)).claims == ()


def test_the_verification_survives_the_configmap_document() -> None:
    state = rolled_out(patched())
    document = {
        "metadata": {"resourceVersion": "7"},
        "data": {"state.json": json.dumps(state_doc.encode(state))},
    }
    assert state_doc.decode(document).claims == state.claims


def test_a_rollback_that_did_not_help_is_never_followed_by_another_for_that_episode() -> None:
    case = baseline()
    key = claim_key(case.alert.episode_key, case.facts.ref)
    claim = dataclasses.replace(patched(case.alert.episode_key), key=key, target=case.facts.ref)
    state = rolled_out(claim)
    state = ledger.verify(state, key, Verification.DID_NOT_HELP, NOW, 3)
    # Even with the audit annotation gone (someone re-applied the manifest), the ledger remembers.
    decision = guards.decide(case.alert, case.route, case.facts, state, case.config, case.now)
    assert (decision.verdict, decision.reason) == (Verdict.SKIP, Reason.DID_NOT_HELP)
    assert "did not help" in decision.message
    fresh = guards.decide(case.alert, case.route, case.facts, GuardState(), case.config, case.now)
    assert fresh.verdict is Verdict.ROLLBACK  # the same case without that memory would roll back
