"""Level-triggered recovery: what Alertmanager says is firing now, fed to the same pipeline.

A webhook can be lost (we crashed after answering 200, a network cut outlasted Alertmanager's retries).
On start and every `alertmanager.interval` we read the active, unsilenced, uninhibited alerts from each
configured Alertmanager, route them and hand the ones this process has not decided yet to the pipeline with
`source="reconcile"`. The pipeline's exactly-once rule (cluster state) makes a re-delivery harmless; the
local "decided" memory only saves work and Events.

Also: a pending confirmation whose alert is no longer active anywhere is cancelled (its resolved
notification was lost), so a confirmation delay never acts on an alert that stopped firing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from receiver.alertmanager import AlertmanagerAPIClient, AlertmanagerUnavailable
from receiver.core.alerts import Alert
from receiver.core.decisions import Source
from receiver.core.routing import select_routes
from receiver.core.settings import Config, Route
from receiver.pipeline.items import WorkItem
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)


class Pipeline(Protocol):
    async def handle(self, item: WorkItem) -> None: ...

    def has_decided(self, alert: Alert, route: Route) -> bool: ...

    async def cancel_inactive_pending(self, active: set[str]) -> int: ...


class Reconciler:
    def __init__(
        self,
        config: Config,
        pipeline: Pipeline,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._api = AlertmanagerAPIClient(config.alertmanager)
        self._pipeline = pipeline
        self._metrics = metrics
        self._clock = clock

    def apply_config(self, config: Config) -> None:
        self._config = config
        self._api = AlertmanagerAPIClient(config.alertmanager)

    async def run_forever(self) -> None:
        while True:
            if self._config.alertmanager.urls:
                try:
                    await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("reconciliation failed; trying again next interval")
            await asyncio.sleep(self._config.alertmanager.interval.total_seconds())

    async def run_once(self) -> int:
        """One pass; returns how many alerts were handed to the pipeline."""
        try:
            alerts = await self._api.active_alerts()
        except AlertmanagerUnavailable as exc:
            self._metrics.reconcile_runs.labels(result="error").inc()
            logger.warning("reconciliation skipped: %s", exc)
            return 0
        fed = 0
        for alert in alerts:
            for route in select_routes(alert, self._config.routes):
                if self._pipeline.has_decided(alert, route):
                    continue
                item = WorkItem(
                    alert=alert,
                    route=route,
                    receiver="",
                    group_key="",
                    truncated_alerts=0,
                    received_at=self._clock(),
                    source=Source.RECONCILE,
                )
                self._metrics.alerts_recovered.inc()
                logger.info(
                    "alert recovered from Alertmanager's API",
                    extra={"alert": alert.episode_key, "alertname": alert.name, "route": route.name},
                )
                await self._pipeline.handle(item)
                fed += 1
        cancelled = await self._pipeline.cancel_inactive_pending({a.episode_key for a in alerts})
        if cancelled:
            logger.info("cancelled %d pending confirmations whose alerts are no longer active", cancelled)
        self._metrics.reconcile_runs.labels(result="success").inc()
        return fed
