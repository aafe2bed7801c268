"""JSON log lines: one object per line, the message plus the structured fields passed in `extra`.

Decision lines always carry `alert`, `target`, `decision` and `reason`, so
`jq 'select(.decision)'` over the pod log is the audit trail. Secrets never reach a log call. A decision
line carries exactly what `GET /api/v1/decisions` shows, already cut to the decision log's sizes
(`receiver.pipeline.decision_log`), so one hostile alert cannot write megabytes into the log.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from receiver.core.decisions import Decision

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: str = "info", stream: IO[str] | None = None) -> None:
    """Install one JSON handler on the root logger (idempotent: replaces handlers on every call)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
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
        "decided_at": decision.decided_at.isoformat() if decision.decided_at else None,
        "not_before": decision.not_before.isoformat() if decision.not_before else None,
        "source": str(decision.source),
        "final": decision.final,
    }


def log_decision(logger: logging.Logger, decision: Decision) -> None:
    fields = decision_fields(decision)
    message = fields.pop("message")
    logger.info("%s", message, extra=fields)
