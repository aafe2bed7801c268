"""What travels from the intake (and every other source) through the queue to the stages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from receiver.core.alerts import Alert
from receiver.core.decisions import Source
from receiver.core.settings import Route

# Objects, keys and the timestamps of one queued item, measured (sys.getsizeof) with empty labels.
_ITEM_OVERHEAD = 2048


@dataclass(frozen=True, slots=True)
class WorkItem:
    alert: Alert
    route: Route
    receiver: str  # payload's receiver ("" when recovered from the API)
    group_key: str
    truncated_alerts: int  # > 0 => guards refuse (the payload is incomplete)
    received_at: datetime
    source: Source
    priority: int = 0  # lower first: the route's position in the config
    # A due confirmation: when the alert was first seen and waited for (for its incident record).
    first_received_at: datetime | None = None
    waited_from: datetime | None = None

    @property
    def size(self) -> int:
        """What the item holds in memory, roughly: its label and annotation text plus a fixed overhead."""
        alert = self.alert
        text = sum(len(k) + len(v) for m in (alert.labels, alert.annotations) for k, v in m.items())
        return text + len(alert.generator_url) + len(self.group_key) + len(self.receiver) + _ITEM_OVERHEAD
