"""Alertmanager webhook payload (version "4") as typed, validated objects.

The types are the contract between the intake and the decision engine. Parsing lives here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a webhook payload. Decisions are made per alert, never per group."""

    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime  # timezone-aware UTC
    ends_at: datetime | None  # None for Alertmanager's zero time (firing alerts)
    generator_url: str
    fingerprint: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def episode_key(self) -> str:
        """Identity of one firing episode: the same on every HA replica and on every repeat."""
        return f"{self.fingerprint}@{self.starts_at.isoformat()}"


@dataclass(frozen=True, slots=True)
class WebhookPayload:
    version: str
    group_key: str
    truncated_alerts: int
    status: AlertStatus
    receiver: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    alerts: tuple[Alert, ...]
