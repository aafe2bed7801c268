"""JSON log lines: one object per line, the message plus the structured fields passed in `extra`.

Decision lines always carry `alert`, `target`, `decision` and `reason`, so
`jq 'select(.decision)'` over the pod log is the audit trail. Secrets never reach a log call. A decision
line carries exactly what `GET /api/v1/decisions` shows, already cut to the decision log's sizes
(`receiver.pipeline.decision_log`), so one hostile alert cannot write megabytes into the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

import msgspec

from receiver.core.timefmt import isoformat

if TYPE_CHECKING:
    from receiver.core.decisions import Decision

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# A line is encoded by msgspec: about ten times faster than json.dumps, and a decision is a line per alert.
# Compact separators; UTF-8 as is, control characters escaped, like json.dumps(ensure_ascii=False); what it
# cannot encode itself (an exception, a Path) as str, like json.dumps(default=str). A text it refuses (a lone
# surrogate, which no alert can carry: the decoder rejects it) goes through json's encoder instead.
_ENCODER = msgspec.json.Encoder(enc_hook=str)
_FALLBACK = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))


def encode_line(line: dict[str, object]) -> str:
    try:
        return _ENCODER.encode(line).decode()
    except (UnicodeEncodeError, TypeError, ValueError, OverflowError):
        return _FALLBACK.encode(line)


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": self.timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return encode_line(line)

    def timestamp(self, created: float) -> str:
        """`datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`, with the text of the
        whole second kept: a burst of decisions logs many lines within one second."""
        second = int(created)
        micros = round((created - second) * 1_000_000)  # rounded as datetime rounds it
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{micros // 1000:03d}+00:00"


class JsonLineHandler(logging.StreamHandler[IO[str]]):
    """The stream handler of `configure`, which also takes decision lines already formatted
    (`write_line`). Those written from the event loop are collected and written together once per loop
    iteration (one write and one flush for a burst of decisions instead of one per alert); any other
    record, a `flush()` and the end of the process write what was collected first, so the order of the
    lines is the order of the calls."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def write_line(self, line: str) -> None:
        with self.lock or contextlib.nullcontext():
            self._pending.append(line + self.terminator)
            if self._loop is not None and self._loop.is_running():
                return  # a write is scheduled already
            self._loop = None
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on an event loop: at once
                self._write_pending()
                return
            loop.call_soon(self._scheduled_write)
            self._loop = loop

    def _scheduled_write(self) -> None:
        with self.lock or contextlib.nullcontext():
            self._loop = None
            self._write_pending()

    def _write_pending(self) -> None:
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self.stream.write(text)
            self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write_pending()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
        super().emit(record)

    def flush(self) -> None:
        with self.lock or contextlib.nullcontext():
            self._write_pending()
        super().flush()


def configure(level: str = "info", stream: IO[str] | None = None) -> None:
    """Install one JSON handler on the root logger (idempotent: replaces handlers on every call)."""
    handler = JsonLineHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The JSON lines show none of the caller's file and line, thread or process: not collecting them
    # saves most of the cost of a log call (logging's documented optimisations). Decisions log a line
    # each, so under an alert storm this is per-alert work.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # aiohttp's access log repeats every webhook request; our own request line is enough.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def decision_fields(decision: Decision) -> dict[str, object]:
    """The structured fields of a decision line (also the JSON of GET /api/v1/decisions)."""
    return {
        "alert": decision.alert_key,
        "alertname": decision.alert_name,
        "route": decision.route,
        "target": str(decision.target) if decision.target else None,
        "decision": decision.verdict.value,
        "reason": decision.reason,
        "message": decision.message,
        "to_revision": decision.to_revision,
        "remedy": decision.remedy.value,  # undo, or abort (an Argo Rollout's update in progress)
        "decided_at": isoformat(decision.decided_at) if decision.decided_at else None,
        "not_before": isoformat(decision.not_before) if decision.not_before else None,
        "source": str(decision.source),
        "final": decision.final,
    }


def log_decision(logger: logging.Logger, decision: Decision) -> None:
    if logger.isEnabledFor(logging.INFO):
        handler = _only_json_handler(logger)
        if handler is not None and _write_decision_line(handler, logger.name, decision):
            return
    fields = decision_fields(decision)
    message = fields.pop("message")
    logger.info("%s", message, extra=fields)


# A decision line is written for every alert, so under a storm the logging module's record, handler chain
# and generic formatting are per-alert work. When the line would reach exactly one handler, the JSON handler
# of `configure` (as in `serve`), and nothing else could see or change the record (no filter anywhere, no
# other handler: a test's log capture adds one), the line the formatter would make is built directly and
# handed to that handler.
_INFO_NAME = logging.getLevelName(logging.INFO).lower()


def _only_json_handler(logger: logging.Logger) -> JsonLineHandler | None:
    found: JsonLineHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if (
                found is not None
                or type(handler) is not JsonLineHandler
                or type(handler.formatter) is not JsonFormatter
                or handler.filters
                or handler.level > logging.INFO
            ):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


def _write_decision_line(handler: JsonLineHandler, name: str, decision: Decision) -> bool:
    """What `JsonFormatter` makes of `log_decision`'s record, handed to the handler as one line; False
    (nothing written) if that failed, so the caller logs it the ordinary way."""
    formatter = handler.formatter
    assert isinstance(formatter, JsonFormatter)
    fields = decision_fields(decision)  # the one definition of the line's fields, as for the ordinary way
    message = fields.pop("message")
    line = encode_line(
        {
            "ts": formatter.timestamp(time.time()),
            "level": _INFO_NAME,
            "logger": name,
            "msg": message,
            **fields,
        }
    )
    try:
        handler.write_line(line)
    except RecursionError:
        raise
    except Exception:
        return False
    return True
