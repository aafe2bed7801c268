"""Kubernetes resource quantities exactly as `k8s.io/apimachinery/pkg/api/resource.Quantity` reads them.

kubectl compares quantities with `Quantity.Cmp` (so "1000m" equals "1" and "1Gi" equals "1073741824")
and prints them with `Quantity.String()` (the canonical spelling, "0.5" becomes "500m"). kubernetes_asyncio
has no quantity parser, and a plain Decimal reading would not round the way Go does (values are rounded
up to the nanounit; BinarySI values are capped at 2^63-1), so this is a port of `ParseQuantity` and
`CanonicalizeBytes`. Every parsed value is a whole number of nanounits, which makes comparison exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from receiver.core.goparse import GoSyntaxError, parse_int

Format = Literal["DecimalExponent", "BinarySI", "DecimalSI"]

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {e: s for s, e in _BINARY_SUFFIXES.items()}
_NANO = 10**9
_MAX_INT64 = 2**63 - 1
_SUFFIX_CHARS = "eEinumkKMGTP"


class QuantityError(ValueError):
    """Not a quantity (`quantities must match the regular expression ...`, or a bad suffix)."""


@dataclass(frozen=True, slots=True)
class Quantity:
    nanos: int  # the value in units of 1e-9, exact
    format: Format
    text: str = ""  # what Go caches and prints verbatim when the input was already canonical

    def cmp(self, other: Quantity) -> int:
        return (self.nanos > other.nanos) - (self.nanos < other.nanos)

    def __str__(self) -> str:
        return self.text or self.canonical()

    def canonical(self) -> str:
        """`Quantity.CanonicalizeBytes`: mantissa and suffix in the quantity's format."""
        if self.nanos == 0:
            return "0"
        fmt: Format = self.format
        if fmt == "BinarySI" and (-1024 * _NANO < self.nanos < 1024 * _NANO or self.nanos % _NANO):
            fmt = "DecimalSI"  # small or fractional binary values are shown in decimal
        if fmt == "BinarySI":
            mantissa, times = _remove_factors(self.nanos // _NANO, 1024)
            return f"{mantissa}{_BINARY_BY_EXPONENT.get(times * 10, '')}"
        mantissa, times = _remove_factors(self.nanos, 10)
        exponent = times - 9
        while exponent % 3:
            mantissa *= 10
            exponent -= 1
        if fmt == "DecimalExponent":
            return f"{mantissa}e{exponent}" if exponent else str(mantissa)
        # Go's suffix table has no entry beyond E (10^18): the suffix is then simply left out.
        return f"{mantissa}{_DECIMAL_BY_EXPONENT.get(exponent, '')}"


def _remove_factors(value: int, base: int) -> tuple[int, int]:
    sign, value, times = (-1 if value < 0 else 1), abs(value), 0
    while value >= base and value % base == 0:
        value //= base
        times += 1
    return sign * value, times


def _split(text: str) -> tuple[bool, str, str, str, str]:
    """`parseQuantityString`: sign, numeric value text, integer digits, fraction digits, suffix."""
    positive, pos, end = True, 0, len(text)
    if text[:1] in "+-" and text:
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and text[pos].isascii() and text[pos].isdigit():
        pos += 1
    num = text[start:pos] or "0"
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos].isascii() and text[pos].isdigit():
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, text, num, denom, ""
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos].isascii() and text[pos].isdigit():
        pos += 1
    if pos < end:
        raise QuantityError(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    return positive, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, Format]:
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        try:
            return 10, parse_int(suffix[1:]), "DecimalExponent"
        except GoSyntaxError:
            pass
    raise QuantityError("unable to parse quantity's suffix")


def parse_quantity(text: str) -> Quantity:
    """`resource.ParseQuantity`, including Go's rounding (up, to the nanounit) and the BinarySI cap."""
    if not text:
        raise QuantityError("quantities must match the regular expression")
    if text == "0":
        return Quantity(0, "DecimalSI", "0")
    positive, _value, num, denom, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)
    magnitude_num = int(num + denom)  # value = magnitude_num * 10^-len(denom) * base^exponent
    scale10 = -len(denom)
    if base == 10:
        scale10 += exponent
        multiplier_num, multiplier_den = 1, 1
    else:
        multiplier_num, multiplier_den = 2**exponent, 1
    # nanos = magnitude * 10^(scale10 + 9) * multiplier, rounded up (away from zero) when inexact
    shift = scale10 + 9
    numerator = magnitude_num * multiplier_num * (10**shift if shift > 0 else 1)
    denominator = multiplier_den * (10**-shift if shift < 0 else 1)
    nanos = -(-numerator // denominator)
    if fmt == "BinarySI" and nanos > _MAX_INT64 * _NANO:
        nanos = _MAX_INT64 * _NANO
    if fmt == "BinarySI" and 0 < nanos < _NANO:
        fmt = "DecimalSI"
    if not positive:
        nanos = -nanos
    return Quantity(nanos, fmt, text if _keeps_text(positive, num, denom, base, exponent, fmt) else "")


def _keeps_text(positive: bool, num: str, denom: str, base: int, exponent: int, fmt: Format) -> bool:
    """ParseQuantity's fast path keeps the input verbatim when it is already the canonical spelling."""
    if fmt == "BinarySI":
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1 if not denom and exponent >= 0 else -1
        scale = 0
    else:
        precision = 18 - len(num + denom)
        scale = exponent
    if precision < 0:
        return False
    scale -= len(denom)
    if scale < -9:
        return False
    shifted = num + denom
    value = int(shifted)
    mantissa = 1 << exponent if base == 2 else 1
    if value > _MAX_INT64 or abs(value * mantissa) > _MAX_INT64:
        return False
    if fmt == "BinarySI":
        return exponent % 10 == 0 and value & 0x07 != 0
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
