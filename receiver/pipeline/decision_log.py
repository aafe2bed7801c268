"""Recent decisions, newest first, for `GET /api/v1/decisions`; recording also logs and counts them.

`record` is the one place a decision becomes visible (log line, metric, ring buffer), so the intake and
the stages report decisions the same way. The buffer is memory only: Kubernetes Events and the
workload's annotations are the durable record.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from receiver.core.decisions import Decision
from receiver.telemetry.logs import decision_fields, log_decision
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger("receiver.decisions")


class DecisionLog:
    def __init__(self, maxlen: int, metrics: Metrics | None = None) -> None:
        self._entries: deque[Decision] = deque(maxlen=maxlen)
        self._metrics = metrics

    def record(self, decision: Decision) -> None:
        self._entries.append(decision)
        log_decision(logger, decision)
        if self._metrics is not None:
            self._metrics.decisions.labels(decision=decision.verdict.value, reason=decision.reason).inc()

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
