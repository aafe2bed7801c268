"""A warning that a storm would repeat thousands of times a second, logged at most once per interval."""

from __future__ import annotations

from datetime import datetime, timedelta


class Throttle:
    """`due(now)` is the number of occurrences not logged since the last line when one may be logged now
    (0 for the first), and None while the interval since that line runs (the occurrence is counted)."""

    def __init__(self, interval: timedelta) -> None:
        self.interval = interval
        self._logged_at: datetime | None = None
        self._held = 0

    def due(self, now: datetime) -> int | None:
        if self._logged_at is not None and now - self._logged_at < self.interval:
            self._held += 1
            return None
        held, self._logged_at, self._held = self._held, now, 0
        return held
