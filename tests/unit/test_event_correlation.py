"""Which Event a decision becomes under a storm: client-go's similar-event aggregation and spam filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver.core.decisions import EventReason
from receiver.core.event_correlation import COMBINED_PREFIX, EventCorrelator

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
WEB = ("shop", "uid-web")
SKIPPED = EventReason.SKIPPED


def messages(n: int) -> list[str]:
    return [f"[budget] no rollback budget left (alert HighErrorRate k{i})" for i in range(n)]


def test_similar_events_are_combined_from_the_tenth_distinct_message_on() -> None:
    correlator = EventCorrelator()
    out = [
        correlator.aggregate(WEB, "Normal", SKIPPED, m, T0 + timedelta(seconds=i))
        for i, m in enumerate(messages(15))
    ]
    assert [c.combined for c in out] == [False] * 9 + [True] * 6
    assert out[9].message == COMBINED_PREFIX + messages(15)[9]
    assert out[14].message == COMBINED_PREFIX + messages(15)[14]
    # The first nine are still remembered: a repeat of one is that Event again, not the combined one.
    again = correlator.aggregate(WEB, "Normal", SKIPPED, messages(1)[0], T0 + timedelta(seconds=20))
    assert again.message == messages(1)[0] and not again.combined


def test_what_counts_as_similar_is_the_same_object_type_and_reason() -> None:
    correlator = EventCorrelator(similar_max=2)
    at = T0
    assert not correlator.aggregate(WEB, "Normal", SKIPPED, "a", at).combined
    assert not correlator.aggregate(("shop", "uid-api"), "Normal", SKIPPED, "b", at).combined
    assert not correlator.aggregate(WEB, "Warning", SKIPPED, "c", at).combined
    assert not correlator.aggregate(WEB, "Normal", EventReason.PENDING, "d", at).combined
    assert correlator.aggregate(WEB, "Normal", SKIPPED, "e", at).combined


def test_a_quiet_window_starts_the_count_again() -> None:
    correlator = EventCorrelator(similar_max=3, window=timedelta(minutes=10))
    assert not correlator.aggregate(WEB, "Normal", SKIPPED, "a", T0).combined
    assert not correlator.aggregate(WEB, "Normal", SKIPPED, "b", T0 + timedelta(minutes=9)).combined
    # Within the window of the last one (not of the first): similar.
    assert correlator.aggregate(WEB, "Normal", SKIPPED, "c", T0 + timedelta(minutes=18)).combined
    later = T0 + timedelta(minutes=28, seconds=1)
    assert not correlator.aggregate(WEB, "Normal", SKIPPED, "d", later).combined


def test_an_object_gets_a_burst_of_events_then_one_per_refill() -> None:
    correlator = EventCorrelator(burst=3, refill=timedelta(minutes=5))
    assert [correlator.allow(WEB, SKIPPED, T0) for _ in range(5)] == [True, True, True, False, False]
    assert correlator.allow(("shop", "uid-api"), SKIPPED, T0)  # another workload has its own bucket
    assert not correlator.allow(WEB, SKIPPED, T0 + timedelta(minutes=4, seconds=59))
    assert correlator.allow(WEB, SKIPPED, T0 + timedelta(minutes=5))
    assert not correlator.allow(WEB, SKIPPED, T0 + timedelta(minutes=5, seconds=1))
    # A long quiet refills up to the burst, not beyond.
    much_later = T0 + timedelta(days=1)
    assert [correlator.allow(WEB, SKIPPED, much_later) for _ in range(4)] == [True, True, True, False]


def test_the_events_of_what_we_did_are_never_held_back() -> None:
    correlator = EventCorrelator(burst=1)
    assert correlator.allow(WEB, SKIPPED, T0)
    assert not correlator.allow(WEB, SKIPPED, T0)
    for reason in (
        EventReason.TRIGGERED,
        EventReason.DRY_RUN,
        EventReason.SUCCEEDED,
        EventReason.FAILED,
        EventReason.RECOVERED,
        EventReason.DID_NOT_HELP,
    ):
        assert correlator.allow(WEB, reason, T0), reason
    for reason in (EventReason.NOTIFY, EventReason.PENDING):
        assert not correlator.allow(WEB, reason, T0), reason


def test_its_memory_is_bounded() -> None:
    correlator = EventCorrelator(similar_max=2, burst=1, max_keys=2)
    first, second, third = ("ns", "1"), ("ns", "2"), ("ns", "3")
    correlator.aggregate(first, "Normal", SKIPPED, "a", T0)
    correlator.aggregate(second, "Normal", SKIPPED, "a", T0)
    correlator.aggregate(third, "Normal", SKIPPED, "a", T0)  # evicts the least recently used: first
    assert not correlator.aggregate(first, "Normal", SKIPPED, "b", T0).combined  # forgotten: a fresh count
    assert correlator.aggregate(third, "Normal", SKIPPED, "b", T0).combined
    for obj in (first, second, third):
        assert correlator.allow(obj, SKIPPED, T0)
    assert correlator.allow(first, SKIPPED, T0)  # evicted by third: a full bucket again
