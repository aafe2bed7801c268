"""Alertmanager's routing tree, evaluated the way Alertmanager does (`dispatch/route.go`), to answer one
question its API cannot: is the route that sends an alert to us muted right now by a time interval?

Depth-first, left to right; a child that matches stops its later siblings unless it says `continue`; a node
none of whose children match is itself the match. The receiver is inherited from the parent; the
`mute_time_intervals` / `active_time_intervals` of a route are its own (not inherited). Matchers see labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from receiver.core.matching import Matcher, matches_all
from receiver.core.time_intervals import TimeInterval, any_contains


@dataclass(frozen=True, slots=True)
class AMRoute:
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[AMRoute, ...] = ()
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()

    def match(self, labels: Mapping[str, str]) -> list[AMRoute]:
        if not matches_all(self.matchers, labels, {}):
            return []
        found: list[AMRoute] = []
        for child in self.routes:
            matches = child.match(labels)
            found.extend(matches)
            if matches and not child.continue_:
                break
        return found or [self]


@dataclass(frozen=True, slots=True)
class AMConfig:
    """What of Alertmanager's config decides whether a notification is muted."""

    route: AMRoute
    intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)

    def routes_to(self, receiver: str, labels: Mapping[str, str]) -> list[AMRoute]:
        return [route for route in self.route.match(labels) if route.receiver == receiver]

    def muted(self, route: AMRoute, now: datetime) -> bool:
        """Alertmanager's TimeMuteStage and TimeActiveStage: muted inside a mute interval, or outside every
        active interval when there are some. An interval name it does not know mutes nothing."""
        mute = [i for name in route.mute_time_intervals for i in self.intervals.get(name, ())]
        if any_contains(mute, now):
            return True
        if route.active_time_intervals:
            active = [i for name in route.active_time_intervals for i in self.intervals.get(name, ())]
            return not any_contains(active, now)
        return False

    def delivers(self, receiver: str, labels: Mapping[str, str], now: datetime) -> bool:
        """True when at least one route sends this alert to `receiver` and is not muted now."""
        return any(not self.muted(route, now) for route in self.routes_to(receiver, labels))
