"""Talking to Alertmanager's HTTP API (v2): the only place that does."""

from receiver.alertmanager.api import AlertmanagerAPIClient, AlertmanagerUnavailable, AlertState

__all__ = ["AlertState", "AlertmanagerAPIClient", "AlertmanagerUnavailable"]
