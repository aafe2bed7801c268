"""A warning a storm repeats: the first at once, then at most one per interval with the count in between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver.telemetry.throttle import Throttle

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def test_the_first_is_logged_then_one_per_interval_with_what_was_held() -> None:
    throttle = Throttle(timedelta(seconds=10))
    assert throttle.due(T0) == 0
    assert [throttle.due(T0 + timedelta(seconds=s)) for s in (1, 5, 9.999)] == [None, None, None]
    assert throttle.due(T0 + timedelta(seconds=10)) == 3
    assert throttle.due(T0 + timedelta(seconds=11)) is None
    # A quiet spell longer than the interval: the next one is logged at once, with what was held before.
    assert throttle.due(T0 + timedelta(minutes=5)) == 1
    assert throttle.due(T0 + timedelta(minutes=10)) == 0
