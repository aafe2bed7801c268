"""Go's `encoding/json` byte for byte, and the raw bytes of fields in a server response.

kubectl decides that a StatefulSet / DaemonSet already matches a ControllerRevision by comparing bytes:
`json.Marshal` of `{"spec":{"template":<live template>,"$patch":"replace"}}` (sorted keys, compact,
HTML-safe escapes) against the revision's `data` exactly as the API server sent it. A revision written
by an older serializer (e.g. with `"creationTimestamp":null`) therefore does not match, and kubectl
patches. Reproducing that needs both halves: Go's encoder, and the response's own bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def marshal(value: Any) -> str:
    """`json.Marshal` of a value decoded into `interface{}`: maps with sorted keys, no spaces."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(k)}:{marshal(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(marshal(v) for v in value) + "]"
    raise TypeError(f"cannot marshal {type(value).__name__}")


def _string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char == "\b":
            out.append("\\b")
        elif char == "\f":
            out.append("\\f")
        elif code < 0x20 or char in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\ufffd")  # a lone surrogate is invalid UTF-8 to Go
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _float(value: float) -> str:
    """Go's float64 encoding: shortest repr, exponent form only below 1e-6 or from 1e21 on."""
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"json: unsupported value: {value}")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value)) if value != 0 or math.copysign(1, value) > 0 else "-0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        mantissa, _, exponent = repr(value).partition("e")
        if not exponent:
            mantissa, _, exponent = f"{value:e}".partition("e")
        sign = "-" if exponent.startswith("-") else "+"
        digits = exponent.lstrip("+-").lstrip("0") or "0"
        # Go writes e+21 but, after its "clean up e-09 to e-9" step, e-7
        return f"{mantissa}e{sign}{digits.zfill(2) if sign == '+' else digits}"
    return repr(value)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _value_end(text: str, pos: int) -> int:
    _, end = _DECODER.raw_decode(text, pos)
    return int(end)


def _object_fields(text: str, pos: int) -> list[tuple[str, int, int]]:
    """(key, start, end) of each member of the object starting at `pos`."""
    assert text[pos] == "{"
    fields: list[tuple[str, int, int]] = []
    pos = _skip_ws(text, pos + 1)
    if text[pos] == "}":
        return fields
    while True:
        key, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past ':'
        end = _value_end(text, pos)
        fields.append((key, pos, end))
        pos = _skip_ws(text, end)
        if text[pos] == "}":
            return fields
        pos = _skip_ws(text, pos + 1)  # past ','


def item_fields(list_text: str, field: str) -> list[str | None]:
    """For a LIST response, the raw text of `items[i].<field>` for every item (None when absent)."""
    top = _object_fields(list_text, _skip_ws(list_text, 0))
    items = [(start, end) for key, start, end in top if key == "items"]
    if not items or list_text[items[-1][0]] != "[":
        return []
    result: list[str | None] = []
    pos = _skip_ws(list_text, items[-1][0] + 1)
    while list_text[pos] != "]":
        end = _value_end(list_text, pos)
        found = None
        if list_text[pos] == "{":
            for key, start, value_end in _object_fields(list_text, pos):
                if key == field:
                    found = list_text[start:value_end]
        result.append(found)
        pos = _skip_ws(list_text, end)
        if list_text[pos] == ",":
            pos = _skip_ws(list_text, pos + 1)
    return result
