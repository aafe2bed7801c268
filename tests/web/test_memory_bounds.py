"""What senders put in labels does not decide how much we keep or answer: the decision log cuts alert text
to documented sizes, and one GET /api/v1/decisions answer is at most 1 MiB."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from web_support import AUTH, HEADERS, MakeClient, alert, body

from receiver.core.decisions import Decision, Reason, Verdict
from receiver.pipeline.decision_log import (
    MAX_KEY_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    DecisionLog,
    truncate,
)
from receiver.web.limits import MAX_DECISIONS_ANSWER_BYTES

NAME_CHARS = 60_000  # the 60 KB alertnames


@pytest.mark.parametrize("length", [0, 1, 255, 256, 257, 1000, 100_000])
def test_truncate_keeps_short_text_and_marks_what_it_cut(length: int) -> None:
    text = "é" * length
    cut = truncate(text, 256)
    assert len(cut) <= 256
    if length <= 256:
        assert cut == text
    else:
        kept = cut.split("…[+")[0]
        assert text.startswith(kept) and cut.endswith(f"…[+{length - len(kept)} chars]")


def test_the_decision_log_keeps_and_logs_alert_text_cut_to_size(caplog: pytest.LogCaptureFixture) -> None:
    log = DecisionLog(10)
    name = "N" * NAME_CHARS
    caplog.set_level(logging.INFO, logger="receiver.decisions")
    log.record(
        Decision(
            verdict=Verdict.SKIP,
            reason=Reason.NO_ROUTE,
            message=f"alert {name} (firing) matches no route",
            alert_key="k" * 10_000,
            alert_name=name,
            route="r" * 1000,
            target=None,
            decided_at=datetime.now(UTC),
        )
    )
    (kept,) = log.recent()
    assert len(kept.alert_name) <= MAX_NAME_CHARS and kept.alert_name.startswith("NNN")
    assert kept.alert_name.endswith("chars]")
    assert len(kept.message) <= MAX_MESSAGE_CHARS and kept.message.startswith("alert NNN")
    assert len(kept.alert_key) <= MAX_KEY_CHARS
    assert kept.route is not None and len(kept.route) <= MAX_NAME_CHARS
    (record,) = caplog.records
    assert len(record.getMessage()) <= MAX_MESSAGE_CHARS
    assert record.__dict__["alertname"] == kept.alert_name


def huge_named_alerts(count: int, start: int) -> list[dict[str, Any]]:
    alerts = []
    for n in range(start, start + count):
        one = alert(f"{n:06d}" + "x" * NAME_CHARS, fingerprint=f"{n + 1:016x}", rollback=False)
        alerts.append(one)  # no route matches: each one is a `no_route` decision
    return alerts


async def test_decisions_answer_is_capped_however_big_the_alertnames(make_client: MakeClient) -> None:
    """The issue's reproduction: hundreds of alerts with 60 KB alertnames (38.8 MB answer before)."""
    client, harness = await make_client(max_body_bytes=2 << 20)
    sent = 0
    for _ in range(20):  # 20 payloads x 25 alerts x 60 KB
        response = await client.post("/webhook", data=body(*huge_named_alerts(25, sent)), headers=HEADERS)
        assert response.status == 200, await response.text()
        assert len(await response.read()) < 25 * 1024  # the answer names the alerts, cut to size
        sent += 25
    assert len(harness.service.decisions) == sent == 500

    response = await client.get("/api/v1/decisions?limit=1000", headers=AUTH)
    raw = await response.read()
    assert response.status == 200
    assert len(raw) <= MAX_DECISIONS_ANSWER_BYTES
    answer = json.loads(raw)
    assert answer["truncated"] is True  # 500 entries of ~2.5 KB do not fit in one answer
    entries = answer["decisions"]
    assert 100 < len(entries) < sent
    assert entries[0]["alertname"].startswith("000499")  # newest first
    assert all(len(e["alertname"]) <= MAX_NAME_CHARS for e in entries)
    assert all(len(e["message"]) <= MAX_MESSAGE_CHARS for e in entries)

    small = await (await client.get("/api/v1/decisions?limit=3", headers=AUTH)).json()
    assert (len(small["decisions"]), small["truncated"]) == (3, False)
