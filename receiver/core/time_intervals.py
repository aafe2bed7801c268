"""Alertmanager's `time_intervals`: the same syntax and the same containment rule, for two uses.

Reconciliation evaluates Alertmanager's own `mute_time_intervals` / `active_time_intervals` (its API does not
say that an alert is muted by one), and change-freeze windows are written in this syntax too, so an SRE
reuses what they know. The semantics follow Alertmanager's `timeinterval` package: every field given must
contain the time (times are [start, end) minutes of the day, `24:00` allowed as an end; weekdays, days of
the month (negative counts from the month's end, clamped to it), months and years are inclusive ranges);
an empty interval contains every time; a named interval is a list, any of whose members may match. The
time is taken in the interval's `location` (an IANA zone, UTC by default).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}
MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_TIME_RE = re.compile(r"(([01][0-9])|(2[0-3])):[0-5][0-9]|24:00")


class TimeIntervalError(ValueError):
    """The interval is not valid Alertmanager syntax; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Range:
    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class TimeInterval:
    times: tuple[Range, ...] | None = None  # minutes of the day, end exclusive
    weekdays: tuple[Range, ...] | None = None  # 0 = Sunday
    days_of_month: tuple[Range, ...] | None = None  # may be negative: -1 is the last day
    months: tuple[Range, ...] | None = None
    years: tuple[Range, ...] | None = None
    location: str = "UTC"

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.location))
        if self.times is not None:
            minute = local.hour * 60 + local.minute
            if not any(r.begin <= minute < r.end for r in self.times):
                return False
        if self.days_of_month is not None and not any(_day_in(r, local) for r in self.days_of_month):
            return False
        if self.months is not None and not any(r.begin <= local.month <= r.end for r in self.months):
            return False
        weekday = (local.weekday() + 1) % 7  # Python's Monday=0 -> Go's Sunday=0
        if self.weekdays is not None and not any(r.begin <= weekday <= r.end for r in self.weekdays):
            return False
        return self.years is None or any(r.begin <= local.year <= r.end for r in self.years)


def _day_in(days: Range, local: datetime) -> bool:
    length = calendar.monthrange(local.year, local.month)[1]
    begin = length + days.begin + 1 if days.begin < 0 else days.begin
    end = length + days.end + 1 if days.end < 0 else days.end
    if begin > length:
        return False
    begin, end = max(min(begin, length), -length), max(min(end, length), -length)
    return begin <= local.day <= end


def any_contains(intervals: Sequence[TimeInterval], moment: datetime) -> bool:
    return any(interval.contains(moment) for interval in intervals)


# --- parsing (Alertmanager's YAML, already loaded) ---------------------------------------------------------


def parse_named(entries: object, what: str = "time_intervals") -> dict[str, tuple[TimeInterval, ...]]:
    """`[{name: ..., time_intervals: [...]}, ...]` -> name -> intervals."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise TimeIntervalError(f"{what}: must be a list")
    named: dict[str, tuple[TimeInterval, ...]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise TimeIntervalError(f"{what}[{index}]: needs a name")
        named[entry["name"]] = parse_intervals(entry.get("time_intervals"), f"{what}[{index}]")
    return named


def parse_intervals(items: object, what: str) -> tuple[TimeInterval, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise TimeIntervalError(f"{what}.time_intervals: must be a list")
    return tuple(parse_interval(item, f"{what}.time_intervals[{i}]") for i, item in enumerate(items))


def parse_interval(item: object, what: str) -> TimeInterval:
    if item is None:
        return TimeInterval()
    if not isinstance(item, Mapping):
        raise TimeIntervalError(f"{what}: must be a mapping")
    unknown = set(item) - {"times", "weekdays", "days_of_month", "months", "years", "location", "time_zone"}
    if unknown:
        raise TimeIntervalError(f"{what}: unknown key {sorted(map(str, unknown))[0]!r}")
    location = item.get("location", item.get("time_zone")) or "UTC"
    try:
        ZoneInfo(str(location))
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeIntervalError(f"{what}.location: unknown time zone {location!r}") from None
    return TimeInterval(
        times=_times(item.get("times"), f"{what}.times"),
        weekdays=_ranges(item.get("weekdays"), f"{what}.weekdays", _Weekday),
        days_of_month=_ranges(item.get("days_of_month"), f"{what}.days_of_month", _DayOfMonth),
        months=_ranges(item.get("months"), f"{what}.months", _Month),
        years=_ranges(item.get("years"), f"{what}.years", _Year),
        location=str(location),
    )


def _times(items: object, what: str) -> tuple[Range, ...] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise TimeIntervalError(f"{what}: must be a list")
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or not item.get("start_time") or not item.get("end_time"):
            raise TimeIntervalError(f"{what}[{index}]: both start and end times must be provided")
        start, end = (_minutes(str(item[k]), f"{what}[{index}].{k}") for k in ("start_time", "end_time"))
        if start >= end:
            raise TimeIntervalError(f"{what}[{index}]: start time cannot be equal or greater than end time")
        out.append(Range(start, end))
    return tuple(out)


def _minutes(text: str, what: str) -> int:
    if _TIME_RE.fullmatch(text) is None:
        raise TimeIntervalError(f"{what}: couldn't parse timestamp {text}, invalid format")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _ranges(items: object, what: str, member: type[_Member]) -> tuple[Range, ...] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise TimeIntervalError(f"{what}: must be a list")
    out = []
    for index, item in enumerate(items):
        text = str(item).lower()
        parts = text.split(":")
        if len(parts) > 2:
            raise TimeIntervalError(f"{what}[{index}]: couldn't parse range {text}, invalid format")
        begin, end = member.of(parts[0], what), member.of(parts[-1], what)
        member.check(begin, end, f"{what}[{index}]")
        out.append(Range(begin, end))
    return tuple(out)


class _Member:
    @staticmethod
    def of(text: str, what: str) -> int:
        if re.fullmatch(r"[+-]?[0-9]+", text) is None:
            raise TimeIntervalError(f"{what}: {text!r} is not a number")
        return int(text)

    @staticmethod
    def check(begin: int, end: int, what: str) -> None:
        if begin > end:
            raise TimeIntervalError(f"{what}: end {end} is before start {begin}")


class _Weekday(_Member):
    @staticmethod
    def of(text: str, what: str) -> int:
        if text not in WEEKDAYS:
            raise TimeIntervalError(f"{what}: {text} is not a valid weekday")
        return WEEKDAYS[text]

    @staticmethod
    def check(begin: int, end: int, what: str) -> None:
        if begin > end:
            raise TimeIntervalError(f"{what}: start day cannot be before end day")


class _Month(_Member):
    @staticmethod
    def of(text: str, what: str) -> int:
        number = MONTHS.get(text)
        if number is None:
            number = _Member.of(text, what)
        if not 1 <= number <= 12:
            raise TimeIntervalError(f"{what}: {text} is not a valid month")
        return number


class _DayOfMonth(_Member):
    @staticmethod
    def check(begin: int, end: int, what: str) -> None:
        for day in (begin, end):
            if day == 0 or not -31 <= day <= 31:
                raise TimeIntervalError(f"{what}: {day} is not a valid day of the month: out of range")
        if begin < 0 < end:
            raise TimeIntervalError(f"{what}: end day must be negative if start day is negative")
        if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
            raise TimeIntervalError(f"{what}: end day {end} is always before start day {begin}")


class _Year(_Member):
    @staticmethod
    def check(begin: int, end: int, what: str) -> None:
        if begin > end:
            raise TimeIntervalError(f"{what}: end year {end} is before start year {begin}")
