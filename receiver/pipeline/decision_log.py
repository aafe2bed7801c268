"""Recent decisions, newest first, for `GET /api/v1/decisions`; recording also logs and counts them.

`record` is the one place a decision becomes visible (log line, metric, ring buffer), so the intake and
the stages report decisions the same way. The buffer is memory only: Kubernetes Events and the
workload's annotations are the durable record.

What is kept (and logged) is bounded by the config, not by what senders put in their alerts: the text
fields taken from an alert are cut to the sizes below, with a marker saying how much was cut, so one entry
is at most about 4 KiB of text and the buffer at most `server.decision_log_entries` entries.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable

from receiver.core.decisions import Decision
from receiver.telemetry.logs import decision_fields, log_decision
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger("receiver.decisions")

# Characters kept per field; documented in docs/operations.md ("Limits").
MAX_NAME_CHARS = 256  # alertname (a label value), route name
MAX_MESSAGE_CHARS = 2048  # the human sentence, which may quote label values
MAX_KEY_CHARS = 256  # the alert's episode key (fingerprint@startsAt: about 100 in practice)


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the cut marked: `abc…[+1234 chars]`."""
    if len(text) <= limit:
        return text
    # The marker for cutting everything is at least as long as the real one, so the result fits.
    kept = max(0, limit - len(f"…[+{len(text)} chars]"))
    return text[:kept] + f"…[+{len(text) - kept} chars]"


def bounded(decision: Decision) -> Decision:
    """The decision with its alert-derived text cut to the documented sizes (itself when nothing is)."""
    if (
        len(decision.alert_name) <= MAX_NAME_CHARS
        and len(decision.message) <= MAX_MESSAGE_CHARS
        and len(decision.alert_key) <= MAX_KEY_CHARS
        and (decision.route is None or len(decision.route) <= MAX_NAME_CHARS)
    ):
        return decision  # what nearly every decision is: nothing to cut
    name = truncate(decision.alert_name, MAX_NAME_CHARS)
    message = truncate(decision.message, MAX_MESSAGE_CHARS)
    key = truncate(decision.alert_key, MAX_KEY_CHARS)
    route = None if decision.route is None else truncate(decision.route, MAX_NAME_CHARS)
    if (name, message, key, route) == (
        decision.alert_name,
        decision.message,
        decision.alert_key,
        decision.route,
    ):
        return decision
    return dataclasses.replace(decision, alert_name=name, message=message, alert_key=key, route=route)


class DecisionLog:
    def __init__(self, maxlen: int, metrics: Metrics | None = None) -> None:
        self._entries: deque[Decision] = deque(maxlen=maxlen)
        self._metrics = metrics

    def record(self, decision: Decision) -> None:
        decision = bounded(decision)
        self._entries.append(decision)
        log_decision(logger, decision)
        if self._metrics is not None:
            metrics = self._metrics
            metrics.labelled(metrics.decisions, decision.verdict.value, str(decision.reason)).inc()

    def recent(
        self, limit: int | None = None, *, where: Callable[[Decision], bool] | None = None
    ) -> list[Decision]:
        out: list[Decision] = []
        for decision in reversed(self._entries):
            if where is None or where(decision):
                out.append(decision)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def as_json(
        self, limit: int | None = None, *, where: Callable[[Decision], bool] | None = None
    ) -> list[dict[str, object]]:
        return [decision_fields(d) for d in self.recent(limit, where=where)]

    def __len__(self) -> int:
        return len(self._entries)
