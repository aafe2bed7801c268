"""A bounded, TTL-limited seen-set: the intake's fast path against Alertmanager's repeats.

It only saves work. Exactly-once across replicas and restarts is the pipeline's job (cluster state), so
forgetting an entry early (eviction, restart) is safe; remembering one wrongly is not, which is why the
intake un-marks keys whose work it could not queue.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import timedelta


def seen_key(episode_key: str, status: str, route: str | None) -> tuple[str, str, str | None]:
    """One alert episode, in one status, on one route: what Alertmanager's repeats share."""
    return (episode_key, status, route)


class SeenSet:
    def __init__(
        self,
        *,
        max_entries: int,
        ttl: timedelta,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_entries
        self._ttl = ttl.total_seconds()
        self._clock = clock
        self._expiry: OrderedDict[Hashable, float] = OrderedDict()  # insertion order == expiry order

    def mark(self, key: Hashable) -> bool:
        """Remember `key`; False if it was already there (a repeat within the TTL)."""
        now = self._clock()
        self._expire(now)
        if key in self._expiry:
            return False
        self._expiry[key] = now + self._ttl
        while len(self._expiry) > self._max:
            self._expiry.popitem(last=False)
        return True

    def forget(self, key: Hashable) -> None:
        self._expiry.pop(key, None)

    def __contains__(self, key: Hashable) -> bool:
        self._expire(self._clock())
        return key in self._expiry

    def __len__(self) -> int:
        return len(self._expiry)

    def _expire(self, now: float) -> None:
        while self._expiry:
            key, expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            del self._expiry[key]
