"""What travels from the intake (and every other source) through the queue to the stages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from receiver.core.alerts import Alert
from receiver.core.decisions import Source
from receiver.core.settings import Route


@dataclass(frozen=True, slots=True)
class WorkItem:
    alert: Alert
    route: Route
    receiver: str  # payload's receiver ("" when recovered from the API)
    group_key: str
    truncated_alerts: int  # > 0 => guards refuse (the payload is incomplete)
    received_at: datetime
    source: Source
