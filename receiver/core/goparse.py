"""Go's `strconv` parsers and quoting, for the numbers kubectl reads and the errors it prints.

kubectl reads a ReplicaSet's `deployment.kubernetes.io/revision` with `strconv.ParseInt(v, 10, 64)` and
skips the ReplicaSet when that fails, and it reads `--to-revision` / `--revision` with pflag's
`strconv.ParseInt(v, 0, 64)`. Python's `int()` is more lenient (spaces, `_`, Unicode digits such as
"²"), so a revision it accepts may be one kubectl ignores. This is the one parser both the engine and
the CLI use.
"""

from __future__ import annotations

import unicodedata

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class GoSyntaxError(ValueError):
    """`strconv.ParseInt: parsing "x": invalid syntax` (and `value out of range`), Go's exact text."""


def go_quote(text: str) -> str:
    """`strconv.Quote`: a double-quoted Go string literal (what `%q` prints)."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif _is_print(char):
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _is_print(char: str) -> bool:
    """`unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space."""
    return char == " " or unicodedata.category(char)[0] in "LMNPS"


def _num_error(func: str, text: str, reason: str) -> GoSyntaxError:
    return GoSyntaxError(f"strconv.{func}: parsing {go_quote(text)}: {reason}")


def parse_int(text: str, base: int = 10) -> int:
    """`strconv.ParseInt(text, base, 64)`; base 0 takes Go's prefixes (0x, 0o, 0b, 0) and `_` separators."""
    original = text
    if not text:
        raise _num_error("ParseInt", original, "invalid syntax")
    negative = text[0] == "-"
    if text[0] in "+-":
        text = text[1:]
    try:
        magnitude = _parse_uint(text, base)
    except _Range:
        magnitude = _INT64_MAX + 2  # ParseUint saturated; the sign check below reports the range error
    except _Syntax:
        raise _num_error("ParseInt", original, "invalid syntax") from None
    if (not negative and magnitude > _INT64_MAX) or (negative and magnitude > -_INT64_MIN):
        raise _num_error("ParseInt", original, "value out of range")
    return -magnitude if negative else magnitude


class _Syntax(Exception):
    pass


class _Range(Exception):
    pass


def _parse_uint(text: str, base: int) -> int:
    if not text:
        raise _Syntax
    prefixed = base == 0
    digits = text
    if base == 0:
        base = 10
        if text[0] == "0":
            marker = text[1:2].lower()
            if len(text) >= 3 and marker in ("b", "o", "x"):
                base, digits = {"b": 2, "o": 8, "x": 16}[marker], text[2:]
            else:
                base, digits = 8, text[1:]
    value, underscores = 0, False
    for byte in digits.encode():
        char = chr(byte).lower()
        if char == "_" and prefixed:
            underscores = True
            continue
        if "0" <= char <= "9":
            digit = byte - ord("0")
        elif "a" <= char <= "z":
            digit = ord(char) - ord("a") + 10
        else:
            raise _Syntax
        if digit >= base:
            raise _Syntax
        value = value * base + digit
        if value > 2**64 - 1:
            raise _Range
    if underscores and not _underscore_ok(text):
        raise _Syntax
    return value


def _underscore_ok(text: str) -> bool:
    """Go's rule for `_` in base-0 literals: only between digits (a base prefix counts as one)."""
    saw, i, hexadecimal = "^", 0, False
    if len(text) >= 2 and text[0] == "0" and text[1].lower() in "box":
        i, saw, hexadecimal = 2, "0", text[1].lower() == "x"
    for char in text[i:]:
        if char.isascii() and (char.isdigit() or (hexadecimal and char.lower() in "abcdef")):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def parse_bool(text: str) -> bool:
    """`strconv.ParseBool` (what pflag uses for `--watch=...`)."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise _num_error("ParseBool", text, "invalid syntax")
