"""The decision for one (alert, workload): what to do and why. Pure data; guards.py produces it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from receiver.workload import WorkloadRef


class Verdict(StrEnum):
    ROLLBACK = "rollback"  # act now
    DRY_RUN = "dry-run"  # everything but the write (server-side dry-run)
    NOTIFY = "notify"  # report only
    SKIP = "skip"  # refused, with a reason
    WAIT = "wait"  # confirmation delay running; decide again at `not_before`


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str  # machine-readable, low cardinality, e.g. "cooldown", "namespace_denied"
    message: str  # one human sentence for the Event, the log and the API
    alert_key: str  # Alert.episode_key
    alert_name: str
    route: str | None
    target: WorkloadRef | None
    to_revision: int | None = None  # 0 / None => previous
    decided_at: datetime | None = None
    not_before: datetime | None = None  # for WAIT
