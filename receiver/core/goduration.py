"""Go's `time.ParseDuration`, which kubectl uses for `rollout status --timeout`.

"1h30m", "1.5h", "300ms", "-1s", units ns, us, µs, μs, ms, s, m, h; a bare number other than "0" is an
error ("time: missing unit in duration \"5\""). Errors carry Go's exact text so the CLI can print
kubectl's message. (The routing config's durations are Prometheus-style and parsed elsewhere.)
"""

from __future__ import annotations

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_LIMIT = 1 << 63


class GoDurationError(ValueError):
    """`time: invalid duration "x"` and friends, exactly as Go words them."""


def _quote(text: str) -> str:
    """The time package's own quoting: non-ASCII and control bytes become \\xNN."""
    out = ['"']
    for char in text:
        if ord(char) >= 0x80 or char < " ":
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
        else:
            out.append("\\" + char if char in '"\\' else char)
    out.append('"')
    return "".join(out)


def _fail(message: str, original: str) -> GoDurationError:
    return GoDurationError(f"time: {message} {_quote(original)}")


def parse_duration_ns(text: str) -> int:
    """`time.ParseDuration(text)` in nanoseconds."""
    original, data = text, text.encode()
    negative = False
    if data[:1] in (b"-", b"+"):
        negative = data[:1] == b"-"
        data = data[1:]
    if data == b"0":
        return 0
    if not data:
        raise _fail("invalid duration", original)
    total = 0
    while data:
        if not (data[:1] == b"." or b"0" <= data[:1] <= b"9"):
            raise _fail("invalid duration", original)
        i, whole = 0, 0
        while i < len(data) and 0x30 <= data[i] <= 0x39:
            if whole > _LIMIT // 10:
                raise _fail("invalid duration", original)
            whole = whole * 10 + data[i] - 0x30
            if whole > _LIMIT:
                raise _fail("invalid duration", original)
            i += 1
        pre, data = i > 0, data[i:]
        fraction, scale, post = 0, 1.0, False
        if data[:1] == b".":
            data = data[1:]
            i, overflow = 0, False
            while i < len(data) and 0x30 <= data[i] <= 0x39:
                if not overflow:
                    if fraction > (_LIMIT - 1) // 10:
                        overflow = True
                    else:
                        candidate = fraction * 10 + data[i] - 0x30
                        if candidate > _LIMIT:
                            overflow = True
                        else:
                            fraction, scale = candidate, scale * 10
                i += 1
            post, data = i > 0, data[i:]
        if not pre and not post:
            raise _fail("invalid duration", original)
        i = 0
        while i < len(data) and not (data[i] == 0x2E or 0x30 <= data[i] <= 0x39):
            i += 1
        if i == 0:
            raise _fail("missing unit in duration", original)
        unit_text = data[:i].decode(errors="replace")
        data = data[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise _fail(f"unknown unit {_quote(unit_text)} in duration", original)
        if whole > _LIMIT // unit:
            raise _fail("invalid duration", original)
        whole *= unit
        if fraction > 0:
            # float64 arithmetic, exactly as Go does it (nanosecond accurate up to hours)
            whole += int(float(fraction) * (float(unit) / scale))
            if whole > _LIMIT:
                raise _fail("invalid duration", original)
        total += whole
        if total > _LIMIT:
            raise _fail("invalid duration", original)
    if negative:
        return -total
    if total > _LIMIT - 1:
        raise _fail("invalid duration", original)
    return total


def parse_duration(text: str) -> float:
    """`time.ParseDuration(text)` in seconds."""
    return parse_duration_ns(text) / 1e9
