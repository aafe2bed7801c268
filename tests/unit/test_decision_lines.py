"""A decision's JSON log line: `serve`'s direct write gives the same line as the logging module's record
through `JsonFormatter`, and a log capture (another handler) still receives every decision as a record."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from receiver.core.decisions import Decision, Reason, Source, Verdict
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.telemetry import logs

DECISIONS = [
    Decision(
        verdict=Verdict.SKIP,
        reason=Reason.NAMESPACE_DENIED,
        message="namespace shop is not in the allow list",
        alert_key="a1b2c3d4e5f60718@2026-11-29T09:05:00.123456+00:00",
        alert_name="HighErrorRate",
        route="critical-and-high",
        target=None,
        decided_at=datetime(2026, 11, 29, 9, 5, 1, 250000, tzinfo=UTC),
    ),
    Decision(
        verdict=Verdict.WAIT,
        reason=Reason.CONFIRM_PENDING,
        message='quoted "é" \\ \n\t\u2028 and 🎉',
        alert_key="k",
        alert_name='name "with" quotes',
        route=None,
        target=WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce"),
        to_revision=7,
        decided_at=datetime(2026, 11, 29, 9, 5, 1, tzinfo=UTC),
        not_before=datetime(2026, 11, 29, 9, 10, 1, tzinfo=UTC),
        source=Source.CONFIRMATION,
        transient=True,
    ),
]


@contextlib.contextmanager
def configured() -> Iterator[io.StringIO]:
    """`serve`'s logging (one JSON handler on the root logger) for the duration of a test's body: pytest's
    own capture handlers are put back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    logs.configure("info", stream)
    try:
        yield stream
    finally:
        root.handlers[:], root.level = saved


def through_the_logging_module(decision: Decision) -> dict[str, object]:
    fields = logs.decision_fields(decision)
    message = fields.pop("message")
    record = logging.getLogger("receiver.decisions").makeRecord(
        "receiver.decisions", logging.INFO, "", 0, "%s", (message,), None, extra=fields
    )
    return dict(json.loads(logs.JsonFormatter().format(record)))


@pytest.mark.parametrize("decision", DECISIONS)
def test_the_direct_line_is_the_formatters_line(decision: Decision) -> None:
    logger = logging.getLogger("receiver.decisions")
    with configured() as stream:
        assert logs._only_json_handler(logger) is not None  # serve's setup takes the direct write
        logs.log_decision(logger, decision)
    (line,) = stream.getvalue().split("\n")[:-1]
    expected = through_the_logging_module(decision)
    written = json.loads(line)
    assert str(written["ts"])[:16] == str(expected["ts"])[:16]  # (written within the same minute)
    assert list(written) == list(expected)
    assert {**written, "ts": ""} == {**expected, "ts": ""}
    # Byte for byte after the time: compact separators, UTF-8 as is and json.dumps' escapes.
    compact = json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
    assert line.split(',"level":', 1)[1] == compact.split(',"level":', 1)[1]


def test_a_log_capture_still_gets_the_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="receiver.decisions")
    with configured() as stream:
        logging.getLogger().addHandler(caplog.handler)
        logs.log_decision(logging.getLogger("receiver.decisions"), DECISIONS[0])
    (record,) = caplog.records
    assert record.getMessage() == DECISIONS[0].message and record.__dict__["reason"] == "namespace_denied"
    assert len(stream.getvalue().splitlines()) == 1  # and the JSON handler its line, once


def test_a_level_above_info_writes_nothing() -> None:
    with configured() as stream:
        logging.getLogger().setLevel(logging.WARNING)
        logs.log_decision(logging.getLogger("receiver.decisions"), DECISIONS[0])
    assert stream.getvalue() == ""


def test_the_timestamp_is_isoformat_in_milliseconds() -> None:
    formatter = logs.JsonFormatter()
    for created in (
        0.0,
        1764580000.0005,
        1764580000.9995,
        1764580000.99999951,
        991117661.8229996,
        4e9 + 0.25,
    ):
        expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        assert formatter.timestamp(created) == expected


async def test_lines_of_one_loop_iteration_are_written_together_and_in_order() -> None:
    logger = logging.getLogger("receiver.decisions")
    with configured() as stream:
        logs.log_decision(logger, DECISIONS[0])
        logs.log_decision(logger, DECISIONS[1])
        assert stream.getvalue() == ""  # collected until the loop's next iteration...
        logging.getLogger("receiver.service").warning("something else")  # ...or the next other record
        lines = stream.getvalue().split("\n")[:-1]
        assert [json.loads(line)["msg"] for line in lines] == [
            DECISIONS[0].message,
            DECISIONS[1].message,
            "something else",
        ]
        logs.log_decision(logger, DECISIONS[0])
        await asyncio.sleep(0)
        assert len(stream.getvalue().split("\n")[:-1]) == 4
