"""RFC 3339 timestamps: the one parser and formatter for every time we read or write.

Alertmanager (Go's `time.Time` JSON), the Kubernetes API server, our own annotations and the state
document all speak RFC 3339. One strict parser serves them all: up to nanoseconds (digits past
microseconds are dropped), `Z` or a numeric offset, always timezone-aware. A timestamp without a zone is
refused rather than guessed: "local time" means something different on every replica.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, timezone

# ASCII digits only ([0-9], not \d: Python's \d also takes other scripts' digits, Go's does not).
# Go's zero time.Time: how Alertmanager and the API server say "no time".
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
GO_ZERO_TIME_TEXT = "0001-01-01T00:00:00Z"

_TIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


@functools.lru_cache(maxsize=4096)  # Alertmanager and the API server repeat the same timestamps
def parse_rfc3339(text: str) -> datetime:
    """RFC 3339 -> aware UTC datetime. Raises ValueError with a short reason (the input is not echoed
    whole: it may be megabytes of hostile text)."""
    found = _TIME_RE.fullmatch(text)
    if found is None:
        raise ValueError(f"not an RFC 3339 timestamp: {preview(text)}")
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    micros = int((found.group(7) or "0").ljust(6, "0")[:6])
    tz = UTC
    if not found.group(8):
        hours, minutes = int(found.group(10)), int(found.group(11))
        if hours > 23 or minutes > 59:
            raise ValueError(f"timezone offset out of range: {text}")
        offset = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-offset if found.group(9) == "-" else offset)
    try:
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a valid time: {text} ({exc})") from None


def parse_rfc3339_or_none(value: object) -> datetime | None:
    """For values we only read (API objects, annotations): a missing or unreadable time is None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def utc_now() -> datetime:
    """The wall clock every component defaults to (tests inject their own)."""
    return datetime.now(UTC)


def format_rfc3339(moment: datetime) -> str:
    """Seconds precision, `Z`: what the API server writes and what `kubectl` shows."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_rfc3339_precise(moment: datetime) -> str:
    """Microseconds kept (for ordering in our own state); still RFC 3339 with a zone."""
    return moment.astimezone(UTC).isoformat()


# `isoformat()` of the same few moments, again and again: the alerts of a group share their startsAt and the
# decisions of one request their time. Kept for UTC moments only: aware datetimes compare (and hash) by
# instant, so 09:00+00:00 and 10:00+01:00 are one key with two texts.
_ISO_TEXTS: dict[datetime, str] = {}
_ISO_TEXTS_MAX = 4096


def isoformat(moment: datetime) -> str:
    """`moment.isoformat()`."""
    if moment.tzinfo is not UTC:
        return moment.isoformat()
    text = _ISO_TEXTS.get(moment)
    if text is None:
        if len(_ISO_TEXTS) >= _ISO_TEXTS_MAX:
            _ISO_TEXTS.clear()
        text = _ISO_TEXTS[moment] = moment.isoformat()
    return text


def preview(text: str) -> str:
    """Quote a bad value for an error message without echoing a huge string back."""
    return repr(text if len(text) <= 64 else text[:64] + "...")
