"""Durations as the config spells them (Prometheus/Alertmanager style) and as messages print them.

`parse_duration` accepts what Prometheus' `model.ParseDuration` accepts: units in descending order, each at
most once (`1h30m`, `5m`, `500ms`, `2d`, `1w`, `1y`), or `0`. `DURATION_PATTERN` is the same grammar as a
regular expression that Python, RE2 (Helm's JSON-schema validator) and ECMAScript all read alike, so the
chart's values schema and the config loader accept exactly the same strings.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = (
    ("y", timedelta(days=365)),
    ("w", timedelta(weeks=1)),
    ("d", timedelta(days=1)),
    ("h", timedelta(hours=1)),
    ("m", timedelta(minutes=1)),
    ("s", timedelta(seconds=1)),
    ("ms", timedelta(milliseconds=1)),
)
# One optional group per unit, in order. No lookahead (RE2 has none): `5ms` cannot be read as `5m` + `s`
# because the `s` group needs digits of its own.
_BODY = "".join(f"([0-9]+{unit})?" for unit, _ in _UNITS)
DURATION_PATTERN = f"^(0|{_BODY})$"
# Longer than anything a guard needs, and short enough that no time arithmetic with it can overflow.
MAX_DURATION = timedelta(days=3650)
_DURATION_RE = re.compile("".join(f"(?:([0-9]+){unit})?" for unit, _ in _UNITS))


def parse_duration(text: str) -> timedelta:
    """`30s`, `5m`, `1h30m`, `2d`, `1w`, `1y`, `500ms`; `0` alone means zero. ValueError otherwise."""
    if text == "0":
        return timedelta(0)
    found = _DURATION_RE.fullmatch(text)
    if not text or found is None:
        raise ValueError(f"not a duration: {text!r} (use units like 30s, 5m, 1h30m)")
    try:
        value = sum(
            (unit * int(n) for (_, unit), n in zip(_UNITS, found.groups(), strict=True) if n),
            timedelta(0),
        )
    except OverflowError:
        value = MAX_DURATION * 2
    if value > MAX_DURATION:
        raise ValueError(f"not a duration: {text[:40]!r} is longer than 10 years")
    return value


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, for messages and `routes test`: `90s` -> `1m30s`, `26h` -> `1d2h`."""
    millis = round(value.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    sign = "-" if millis < 0 else ""
    millis = abs(millis)
    out = []
    for suffix, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            out.append(f"{count}{suffix}")
    return sign + "".join(out)
