"""Which Event a decision becomes, and whether it is written at all: client-go's EventCorrelator
(`tools/record/events_cache.go`), without the I/O. Pure: the caller passes the time.

A storm of distinct alerts on one workload gives Events that differ only by their message (each names its
alert), so counting identical Events (`receiver.k8s.events`) does not merge them. client-go's two other
steps do, in its order:

1. **Similar Events** - same object, type and reason, another message - are grouped while each arrives
   within `window` of the previous one. From the `similar_max`-th distinct message on, they are written as
   one Event, "(combined from similar events): <the latest message>", counted like any repeat.
2. **Spam filter** - per object, a token bucket of `burst` Events, refilled by one every `refill`. Unlike
   client-go, it leaves alone the Events of what we did (a rollback triggered, how it ended): budgets keep
   them few, and they are what an operator runs `kubectl describe` for. The decision log and the JSON log
   line of every decision are not filtered: they remain the complete record.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from receiver.core.decisions import EventReason

# client-go's defaults (events_cache.go): 10 similar Events in 10 minutes, 25 Events per object refilled
# by one every 5 minutes, 4096 keys in each cache.
SIMILAR_MAX = 10
AGGREGATION_WINDOW = timedelta(minutes=10)
SPAM_BURST = 25
SPAM_REFILL = timedelta(minutes=5)
MAX_KEYS = 4096
COMBINED_PREFIX = "(combined from similar events): "

# What we did and how it ended: never spam-filtered.
ACTION_REASONS = frozenset(
    {
        EventReason.TRIGGERED,
        EventReason.DRY_RUN,
        EventReason.SUCCEEDED,
        EventReason.FAILED,
        EventReason.RECOVERED,
        EventReason.DID_NOT_HELP,
    }
)

ObjectKey = tuple[str, str]  # namespace, uid
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Correlated:
    """The Event to write: `message` is the original or the combined one; `combined` says which."""

    message: str
    combined: bool


@dataclass(slots=True)
class _Similar:
    # The messages' hashes, not the messages: up to SIMILAR_MAX - 1 of them for each of MAX_KEYS keys, and a
    # message may be 1 KiB of alert text.
    messages: set[int] = field(default_factory=set)
    last: datetime | None = None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: datetime


class EventCorrelator:
    def __init__(
        self,
        *,
        similar_max: int = SIMILAR_MAX,
        window: timedelta = AGGREGATION_WINDOW,
        burst: int = SPAM_BURST,
        refill: timedelta = SPAM_REFILL,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._similar_max = similar_max
        self._window = window
        self._burst = burst
        self.refill = refill  # one more Event per object this often, once its burst is spent
        self._refill_seconds = refill.total_seconds()
        self._max_keys = max_keys
        self._similar: OrderedDict[tuple[ObjectKey, str, str], _Similar] = OrderedDict()
        self._buckets: OrderedDict[ObjectKey, _Bucket] = OrderedDict()

    def aggregate(
        self, obj: ObjectKey, event_type: str, reason: str, message: str, now: datetime
    ) -> Correlated:
        """Step 1: this Event as it is, or as the combined Event of its similar ones."""
        key = (obj, event_type, reason)
        similar = _lru_get(self._similar, key, _Similar, self._max_keys)
        if similar.last is None or now - similar.last > self._window:
            similar.messages = set()
        digest = hash(message)
        similar.messages.add(digest)
        similar.last = now
        if len(similar.messages) < self._similar_max:
            return Correlated(message, combined=False)
        # At the threshold: keep the set one short of it, so every new message joins the combined Event
        # while the first ones, still remembered, go on counting on their own (as client-go does).
        similar.messages.discard(digest)
        return Correlated(COMBINED_PREFIX + message, combined=True)

    def allow(self, obj: ObjectKey, reason: str, now: datetime) -> bool:
        """Step 2: False when this object has had its share of Events for now (never for our actions)."""
        if reason in ACTION_REASONS:
            return True
        bucket = _lru_get(self._buckets, obj, lambda: _Bucket(float(self._burst), now), self._max_keys)
        elapsed = max((now - bucket.at).total_seconds(), 0.0)
        bucket.tokens = min(float(self._burst), bucket.tokens + elapsed / self._refill_seconds)
        bucket.at = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True


def _lru_get(cache: OrderedDict[K, V], key: K, new: Callable[[], V], max_keys: int) -> V:
    """`cache[key]`, made by `new()` if missing, as the most recently used; the least recently used go
    beyond `max_keys`."""
    value = cache.get(key)
    if value is None:
        value = cache[key] = new()
        while len(cache) > max_keys:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return value
