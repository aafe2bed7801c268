"""The pure rules behind "never act when it must not": tombstones, bounded pending, outcomes, scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from receiver.config import parse_config
from receiver.config.advice import scope, warnings
from receiver.core import ledger
from receiver.core.alerts import PayloadError, compact, parse_time
from receiver.core.durations import parse_duration
from receiver.core.ledger import Claim, GuardState, Outcome, PendingConfirmation, Waiting
from receiver.core.routing import route_references
from receiver.core.workload import WorkloadKind, WorkloadRef

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
WEB = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "web")


def pending(alert_key: str, *, size: int = 0, route: str = "medium") -> PendingConfirmation:
    return PendingConfirmation(
        f"{alert_key}|{route}", alert_key, route, NOW + timedelta(minutes=5), {"labels": {"pad": "x" * size}}
    )


def wait(state: GuardState, entry: PendingConfirmation, **bounds: int) -> tuple[GuardState, Waiting]:
    return ledger.wait(state, entry, **{"max_count": 10, "max_bytes": 100_000, **bounds})


def test_a_resolve_wins_whatever_the_order() -> None:
    # the firing copy first: its confirmation is cancelled by the resolve
    state, waiting = wait(GuardState(), pending("ep"))
    assert waiting is Waiting.ADDED
    state, cancelled = ledger.resolve(state, "ep", NOW)
    assert [p.alert_key for p in cancelled] == ["ep"] and state.pending == ()
    # the resolve first: a late firing copy cannot even start waiting
    state, waiting = wait(state, pending("ep"))
    assert waiting is Waiting.RESOLVED and state.pending == ()
    assert state.resolved_at("ep") == NOW


def test_repeats_do_not_rewrite_the_pending_list() -> None:
    state, _ = wait(GuardState(), pending("ep"))
    again, waiting = wait(state, pending("ep"))
    assert waiting is Waiting.UNCHANGED and again is state


@pytest.mark.parametrize(("bounds", "entries"), [({"max_count": 3}, 3), ({"max_bytes": 2500}, 2)])
def test_the_pending_list_is_bounded_by_count_and_bytes(bounds: dict[str, int], entries: int) -> None:
    state = GuardState()
    outcomes = []
    for index in range(5):
        state, waiting = wait(state, pending(f"ep{index}", size=800), **bounds)
        outcomes.append(waiting)
    assert outcomes == [Waiting.ADDED] * entries + [Waiting.FULL] * (5 - entries)
    assert sum(ledger.pending_bytes(p) for p in state.pending) <= bounds.get("max_bytes", 100_000)


def test_reserving_ends_the_pending_confirmation_in_the_same_write() -> None:
    state, _ = wait(GuardState(), pending("ep"))
    claim = Claim("ep|Deployment/shop/web", "ep", "HighErrorRate", WEB, NOW, "a")
    reserved = ledger.reserve(state, claim, "medium")
    assert reserved.pending == () and reserved.claim(claim.key) == claim


def test_tombstones_expire_and_are_capped() -> None:
    state = GuardState()
    for index in range(ledger.MAX_TOMBSTONES + 10):
        state, _ = ledger.resolve(state, f"ep{index}", NOW)
    assert len(state.resolved) == ledger.MAX_TOMBSTONES
    assert state.resolved_at("ep0") is None and state.resolved_at(f"ep{ledger.MAX_TOMBSTONES + 9}") == NOW
    later = ledger.prune(state, now=NOW + ledger.TOMBSTONE_TTL, retention=timedelta(hours=1))
    assert later.resolved == ()


def test_an_unknown_outcome_ends_the_claim_without_moving_the_breaker() -> None:
    claim = Claim("k", "ep", "HighErrorRate", WEB, NOW, "a", patched_at=NOW)
    state = ledger.add_claim(GuardState(breaker=ledger.Breaker(consecutive_failures=2)), claim)
    state = ledger.record_outcome(state, "k", Outcome.UNKNOWN, "workload deleted", NOW, 3)
    assert state.inflight == 0 and state.breaker.consecutive_failures == 2 and not state.breaker.open


ROUTES = """
routes:
  - name: medium
    match: ['severity="medium"']
    target: {namespace: '{{ labels.namespace }}', name: '{{ labels.deployment }}'}
    revision: {from_annotation: rollback_to_revision}
    action: rollback
    confirm_for: 5m
"""


def test_a_pending_alert_keeps_only_what_deciding_again_needs() -> None:
    (route,) = parse_config(ROUTES, source=Path("c.yaml"), environ={}).routes
    read = route_references(route)
    assert read == {"alertname", "cluster", "severity", "namespace", "deployment", "rollback_to_revision"}
    from receiver.core.alerts import Alert, AlertStatus

    alert = Alert(
        AlertStatus.FIRING,
        {"alertname": "X", "namespace": "shop", "deployment": "web", "pod": "p" * 5000},
        {"rollback_to_revision": "2", "description": "d" * 50_000},
        NOW,
        None,
        "",
        "ab",
    )
    kept = compact(alert, read)
    assert kept.annotations == {"rollback_to_revision": "2"}
    assert kept.labels["deployment"] == "web" and len(kept.labels["pod"]) == 256
    assert kept.episode_key == alert.episode_key


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "0002-01-01T00:00:00Z"])
def test_alert_times_far_from_now_are_refused_at_parse_time(stamp: str) -> None:
    with pytest.raises(PayloadError, match="is outside 1970-2999"):
        parse_time(stamp, "$.alerts[0].startsAt")


def test_durations_past_ten_years_are_refused() -> None:
    with pytest.raises(ValueError, match="longer than 10 years"):
        parse_duration("99999999999999y")


def test_a_missing_allow_list_and_an_unseeable_silence_are_warned_about() -> None:
    config = parse_config(ROUTES, source=Path("c.yaml"), environ={})
    found = warnings(config)
    assert any("namespaces.allow is empty" in w for w in found)
    assert any("routes[0] (medium) waits for confirmation" in w for w in found)
    assert scope(config).startswith("EVERY namespace; never kube-node-lease, kube-public, kube-system")
    scoped = parse_config(
        ROUTES + "namespaces: {allow: [shop]}\nalertmanager: {urls: ['http://am:9093']}\n",
        source=Path("c.yaml"),
        environ={"POD_NAMESPACE": "monitoring"},
    )
    assert warnings(scoped) == []
    assert scope(scoped) == "shop; never kube-node-lease, kube-public, kube-system, monitoring (its own)"
