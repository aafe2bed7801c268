"""Text we write into the cluster, made safe: one line, no control characters, a bounded size.

Alert names, label values and messages come from whoever can post a webhook. What we write from them (the
`kubernetes.io/change-cause` that `kubectl rollout history` prints, our audit annotations, Event messages
that `kubectl describe` shows) must not break a terminal or a table (newlines, ANSI escapes, bidi overrides
that reorder what is displayed), and must stay within what the API server accepts: an Event message of at
most 1024 bytes (core/v1 Event validation, `NoteLengthLimit`), annotations of at most 256 KiB in total,
keys and values of every annotation of the object together (apimachinery `TotalAnnotationSizeLimitB`).
"""

from __future__ import annotations

import re

ELLIPSIS = "…"

# The API server's own limit for an Event's message (in bytes, as Go's len() counts).
MAX_EVENT_MESSAGE_BYTES = 1024
# Our cap for one annotation value: 8 of ours stay far below the 256 KiB an object's annotations may total,
# whatever the workload already carries.
MAX_ANNOTATION_BYTES = 1024
# The alert name inside the change-cause, so that the revision at its end is never cut off.
MAX_ALERT_NAME_BYTES = 256

# Terminal escape sequences, removed whole (dropping only ESC would leave `[31m` behind): CSI
# (`ESC [ params final`), OSC (`ESC ] ... BEL` or `ESC ] ... ESC \`) and two-character escapes. Each
# alternative is a run of disjoint classes, so the scan is linear.
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)")

# Line and paragraph separators become a space; every other control character, and the invisible
# formatting characters that reorder or hide text (bidi embeddings, overrides and isolates, zero-width
# space, BOM), is dropped; a lone surrogate (possible in JSON) becomes U+FFFD, as Go's decoder makes it.
# The rest of what Python does not call printable (other spaces become a space; format, private-use and
# unassigned characters are dropped) is handled character by character, only when present.
_SPACE = " "
_TRANSLATION: dict[int, str | None] = {
    **{c: None for c in range(0x00, 0x20)},
    **{c: None for c in range(0x7F, 0xA0)},
    **dict.fromkeys(map(ord, "\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029"), _SPACE),
    **{c: None for c in (0x061C, 0x200B, 0x200E, 0x200F, 0x2060, 0xFEFF)},
    **{c: None for c in range(0x202A, 0x202F)},
    **{c: None for c in range(0x2066, 0x206A)},
    **{c: "\ufffd" for c in range(0xD800, 0xE000)},
}


_SPACES = re.compile(" {2,}")


def one_line(text: str, max_bytes: int) -> str:
    """`text` as a single line of printable characters, at most `max_bytes` of UTF-8.

    Line breaks and tabs become spaces, runs of spaces one space, and the ends are trimmed; a cut text
    ends with `…` (counted in `max_bytes`) and never splits a character.
    """
    if max_bytes < len(ELLIPSIS.encode()):
        raise ValueError(f"max_bytes must leave room for {ELLIPSIS!r}")
    if not text.isprintable():
        text = _ESCAPE_SEQUENCE.sub("", text).translate(_TRANSLATION)
        if not text.isprintable():  # what the table does not know: other spaces, format, unassigned
            text = "".join(c if c.isprintable() else _SPACE if c.isspace() else "" for c in text)
    text = _SPACES.sub(_SPACE, text).strip(_SPACE)
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    room = max_bytes - len(ELLIPSIS.encode())
    return encoded[:room].decode("utf-8", "ignore").rstrip(_SPACE) + ELLIPSIS
