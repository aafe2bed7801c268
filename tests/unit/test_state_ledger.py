"""The pure mutations of the shared guard state: what the ConfigMap ends up saying."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from receiver.core import ledger
from receiver.core.ledger import Claim, GuardState, Outcome, PendingConfirmation
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import state as state_doc

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)


def claim(key: str, *, holder: str = "a", patched: bool = False, minutes_ago: int = 0) -> Claim:
    at = NOW - timedelta(minutes=minutes_ago)
    return Claim(
        key,
        key.split("|")[0],
        "HighErrorRate",
        WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "web"),
        at,
        holder,
        patched_at=at if patched else None,
    )


def test_round_trip_through_the_configmap_document() -> None:
    pending = PendingConfirmation(
        "k|r", "k", "medium", NOW, {"fingerprint": "ab", "labels": {"a": "b"}}, created_at=NOW
    )
    state = ledger.add_pending(
        ledger.add_claim(GuardState(), claim("k|Deployment/shop/web", patched=True)), pending
    )
    state = ledger.open_breaker(state, "3 consecutive rollbacks failed", NOW)
    configmap = {
        "metadata": {"resourceVersion": "42"},
        "data": {state_doc.DATA_KEY: json.dumps(state_doc.encode(state))},
    }
    decoded = state_doc.decode(configmap)
    assert decoded.claims == state.claims
    assert decoded.pending == state.pending
    assert decoded.breaker == state.breaker
    assert decoded.resource_version == "42"


def test_a_corrupt_document_is_refused_not_reset() -> None:
    with pytest.raises(state_doc.StateError, match="not readable"):
        state_doc.decode({"metadata": {}, "data": {state_doc.DATA_KEY: '{"claims": [{"key": 1}]}'}})


def test_consecutive_failures_open_the_breaker_and_a_success_resets_the_count() -> None:
    state = GuardState()
    for index in range(2):
        state = ledger.add_claim(state, claim(f"k{index}|x"))
        state = ledger.record_outcome(state, f"k{index}|x", Outcome.FAILED, "timed out", NOW, 3)
    assert not state.breaker.open and state.breaker.consecutive_failures == 2
    state = ledger.add_claim(state, claim("ok|x"))
    state = ledger.record_outcome(state, "ok|x", Outcome.SUCCEEDED, "complete", NOW, 3)
    assert state.breaker.consecutive_failures == 0
    for index in range(3):
        state = ledger.add_claim(state, claim(f"f{index}|x"))
        state = ledger.record_outcome(state, f"f{index}|x", Outcome.FAILED, "failed", NOW, 3)
    assert state.breaker.open
    assert "3 consecutive" in state.breaker.reason
    reset = ledger.reset_breaker(state, "alice", NOW)
    assert not reset.breaker.open and reset.breaker.reset_by == "alice"


def test_an_outcome_is_recorded_once() -> None:
    state = ledger.add_claim(GuardState(), claim("k|x"))
    once = ledger.record_outcome(state, "k|x", Outcome.FAILED, "first", NOW, 1)
    twice = ledger.record_outcome(once, "k|x", Outcome.SUCCEEDED, "second", NOW, 1)
    assert twice is once


def test_only_our_own_unpatched_reservation_is_released() -> None:
    state = ledger.add_claim(GuardState(), claim("mine|x", holder="a"))
    state = ledger.add_claim(state, claim("theirs|x", holder="b"))
    state = ledger.add_claim(state, claim("done|x", holder="a", patched=True))
    state = ledger.release_claim(state, "mine|x", "a")
    state = ledger.release_claim(state, "theirs|x", "a")
    state = ledger.release_claim(state, "done|x", "a")
    assert [c.key for c in state.claims] == ["theirs|x", "done|x"]


def test_finished_claims_leave_the_ledger_after_the_retention() -> None:
    old = ledger.record_outcome(
        ledger.add_claim(GuardState(), claim("old|x", minutes_ago=120)),
        "old|x",
        Outcome.SUCCEEDED,
        "",
        NOW - timedelta(minutes=110),
        3,
    )
    state = ledger.add_claim(old, claim("open|x", minutes_ago=120))
    pruned = ledger.prune(state, now=NOW, retention=timedelta(hours=1))
    assert [c.key for c in pruned.claims] == ["open|x"]


def test_a_resolve_cancels_every_pending_confirmation_of_the_episode() -> None:
    state = GuardState()
    for route in ("medium", "other"):
        state = ledger.add_pending(state, PendingConfirmation(f"ep|{route}", "ep", route, NOW, {}))
    state = ledger.add_pending(state, PendingConfirmation("ep2|medium", "ep2", "medium", NOW, {}))
    state, cancelled = ledger.cancel_pending(state, "ep")
    assert {p.key for p in cancelled} == {"ep|medium", "ep|other"}
    assert [p.key for p in state.pending] == ["ep2|medium"]


def test_a_claims_verify_timeout_survives_the_configmap_round_trip() -> None:
    base = claim("a@t|Deployment/shop/web")
    with_route = GuardState(claims=(dataclasses.replace(base, verify_timeout=timedelta(minutes=12)),))
    without = GuardState(claims=(base,))
    for state in (with_route, without):
        document = {"data": {state_doc.DATA_KEY: json.dumps(state_doc.encode(state))}}
        assert state_doc.decode(document).claims == state.claims
