"""What we write into the cluster from alert text is one clean line within the API server's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from receiver.core.text import (
    MAX_ANNOTATION_BYTES,
    MAX_EVENT_MESSAGE_BYTES,
    one_line,
)
from receiver.k8s import audit

CLEANED = [
    ("HighErrorRate", "HighErrorRate"),
    ("High\nError\r\nRate", "High Error Rate"),
    ("tab\tand\vform\ffeed", "tab and form feed"),
    ("\x1b[31mred\x1b[0m text", "red text"),  # the whole escape sequence, not just ESC
    ("\x1b[1;31;4mbold\x1b[m", "bold"),
    ("\x1b]0;evil title\x07after", "after"),  # OSC: sets a terminal's title
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ST-terminated
    ("cut escape \x1b[", "cut escape"),
    ("nul\x00bell\x07del\x7fc1\x9b", "nulbelldelc1"),
    ("line\u2028para\u2029graph\x85nel", "line para graph nel"),
    ("evil\u202egnp.exe", "evilgnp.exe"),  # right-to-left override would display "exe.png"
    ("iso\u2066late\u2069 zero\u200bwidth \ufeffbom", "isolate zerowidth bom"),
    ("  lots   of \n\n  space  ", "lots of space"),
    ("ünïcødé ✓ 😀 αβγ", "ünïcødé ✓ 😀 αβγ"),  # printable Unicode is kept
    ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "clean"), CLEANED)
def test_one_line_keeps_printable_text_only(raw: str, clean: str) -> None:
    assert one_line(raw, 1024) == clean


def test_the_result_is_one_printable_line_for_every_code_point_below_0x3000() -> None:
    every = "".join(chr(c) for c in range(0x3000) if not 0xD800 <= c < 0xE000)
    cleaned = one_line(every, 100_000)
    assert "\n" not in cleaned and "\r" not in cleaned and "\x1b" not in cleaned
    assert all(c.isprintable() or c == " " for c in cleaned), [c for c in cleaned if not c.isprintable()][:5]


@pytest.mark.parametrize("limit", [3, 4, 10, 100, 1024])
@pytest.mark.parametrize("text", ["x" * 60_000, "é" * 60_000, "😀" * 60_000, "a€" * 30_000])
def test_a_long_text_is_cut_in_bytes_at_a_character_boundary(text: str, limit: int) -> None:
    cut = one_line(text, limit)
    assert len(cut.encode()) <= limit
    assert cut.endswith("…")
    assert text.startswith(cut.removesuffix("…"))


def test_a_text_within_the_limit_is_not_cut() -> None:
    assert one_line("é" * 512, 1024) == "é" * 512  # 1024 bytes exactly
    assert one_line("é" * 513, 1024).endswith("…")


def test_cleaning_twice_changes_nothing() -> None:
    for raw, _ in CLEANED:
        once = one_line(raw * 200, 1024)
        assert one_line(once, 1024) == once


def test_the_change_cause_keeps_its_revision_whatever_the_alert_name() -> None:
    name = "Bad\nAlert\x1b[2J" + "N" * 60_000
    cause = audit.change_cause(name, "0123456789abcdef", 0)
    assert cause.startswith("rollback-receiver: Bad Alert")
    assert cause.endswith("… (0123456789abcdef) rolled back to revision 0")
    pinned = audit.pin_revision({audit.CHANGE_CAUSE: cause, audit.ROLLED_BACK_TO: "0"}, 7)
    assert pinned[audit.CHANGE_CAUSE].endswith("rolled back to revision 7")


def test_every_audit_annotation_is_one_capped_line() -> None:
    annotations = audit.audit_annotations(
        actor="prod\n/pod\x00",
        at=datetime(2026, 11, 29, 9, 5, tzinfo=UTC),
        to_revision=3,
        alert_key="k\r\n" * 30_000,
        alert_name="A\nB",
        fingerprint="f" * 16,
    )
    assert annotations[audit.ACTOR] == "prod /pod"
    for value in annotations.values():
        assert len(value.encode()) <= MAX_ANNOTATION_BYTES
        assert value.isprintable()
    # Ours stay far below the 256 KiB the API server allows for all of an object's annotations.
    assert sum(len(k) + len(v.encode()) for k, v in annotations.items()) < 8 * 1024


def test_a_custom_cause_is_cleaned_too() -> None:
    annotations = audit.audit_annotations(
        actor="me", at=datetime(2026, 11, 29, tzinfo=UTC), to_revision=2, cause="fix\nthe\x1b[31m bug"
    )
    assert annotations[audit.CHANGE_CAUSE] == "fix the bug"


def test_event_message_limit_is_the_api_servers() -> None:
    assert MAX_EVENT_MESSAGE_BYTES == 1024  # k8s.io/kubernetes pkg/apis/core/validation NoteLengthLimit
