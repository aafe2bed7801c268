"""Integers as Go's `strconv.ParseInt(s, 10, 64)` reads them, which is how kubectl reads revision numbers.

Python's `int()` is far more forgiving (`" 2"`, `"1_0"`, `"²"`, `"٣"`); a revision kubectl skips must be
skipped here too, or we would restore a different revision than kubectl.
"""

from __future__ import annotations

import re

_DECIMAL = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def parse_go_int(text: str) -> int:
    """An optional sign and ASCII digits, within int64; ValueError otherwise."""
    if _DECIMAL.fullmatch(text) is None:
        raise ValueError(f"invalid syntax: {text[:40]!r}")
    value = int(text, 10)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"value out of range: {text[:40]!r}")
    return value
