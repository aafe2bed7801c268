"""Level-triggered recovery: what Alertmanager would send us now, fed to the same pipeline.

A webhook can be lost (we crashed after answering 200, a network cut outlasted Alertmanager's retries).
On start and every `alertmanager.interval` we read from each configured Alertmanager the active alerts that
it routes to OUR receiver, unsilenced and uninhibited, drop those whose route to us is muted right now by a
time interval (Alertmanager 0.25's API does not say so: we evaluate its routing tree and `time_intervals`
from `/api/v2/status`), and hand the ones this process has not decided yet to the pipeline with
`source=reconcile`. An alert Alertmanager routes to another team's receiver is never ours to act on.

Our receiver's name is `alertmanager.receiver`, else the name the webhook payloads carry (kept in the shared
state, so a restarted replica knows it too); until one of them is known, nothing is recovered. The
pipeline's exactly-once rule (cluster state) makes a re-delivery harmless; the local "decided" memory only
saves work and Events.

Also: a pending confirmation whose alert is no longer active anywhere is cancelled (its resolved
notification was lost), so a confirmation delay never acts on an alert that stopped firing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from receiver.alertmanager import AlertmanagerAPIClient, AlertmanagerUnavailable
from receiver.core.alerts import Alert
from receiver.core.am_routes import AMConfig
from receiver.core.decisions import Source
from receiver.core.routing import select_routes
from receiver.core.settings import Config, Route
from receiver.core.timefmt import utc_now
from receiver.pipeline.items import WorkItem
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)


class Pipeline(Protocol):
    async def handle(self, item: WorkItem) -> None: ...

    def has_decided(self, alert: Alert, route: Route) -> bool: ...

    async def cancel_inactive_pending(self, active: set[str]) -> int: ...

    async def receiver_name(self, learnt: str | None) -> str | None: ...


class ReceiverName:
    """Our receiver's name in Alertmanager: configured, or learnt from the webhook payloads."""

    def __init__(self) -> None:
        self.learnt: str | None = None

    def learn(self, name: str) -> None:
        if name and name != self.learnt:
            if self.learnt is not None:
                logger.warning("webhooks now arrive for receiver %r (was %r)", name, self.learnt)
            self.learnt = name


class Reconciler:
    def __init__(
        self,
        config: Config,
        pipeline: Pipeline,
        metrics: Metrics,
        *,
        receiver: ReceiverName | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._config = config
        self._api = AlertmanagerAPIClient(config.alertmanager)
        self._pipeline = pipeline
        self._metrics = metrics
        self._receiver = receiver or ReceiverName()
        self._clock = clock

    def apply_config(self, config: Config) -> None:
        self._config = config
        self._api = AlertmanagerAPIClient(config.alertmanager)

    async def receiver(self) -> str | None:
        """Configured, else learnt from webhooks (by this replica, or by any, through the shared state)."""
        return self._config.alertmanager.receiver or await self._pipeline.receiver_name(self._receiver.learnt)

    async def run_forever(self) -> None:
        while True:
            if self._config.alertmanager.urls:
                try:
                    await self.run_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self._metrics.reconcile_runs.labels(result="error").inc()
                    logger.exception("reconciliation failed; trying again next interval")
            await asyncio.sleep(self._config.alertmanager.interval.total_seconds())

    async def run_once(self) -> int:
        """One pass; returns how many alerts were handed to the pipeline."""
        receiver = await self.receiver()
        if receiver is None:
            self._metrics.reconcile_runs.labels(result="no_receiver").inc()
            logger.info("reconciliation waits: our receiver name is not known yet (alertmanager.receiver)")
            return 0
        try:
            alerts = await self._api.active_alerts(receiver)
            routing = await self._api.config()
        except AlertmanagerUnavailable as exc:
            self._metrics.reconcile_runs.labels(result="error").inc()
            logger.warning("reconciliation skipped: %s", exc)
            return 0
        fed = 0
        for alert in alerts:
            try:
                fed += await self._recover(alert, receiver, routing)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad alert never stops the pass for the others
                logger.exception("recovering one alert failed", extra={"alert": alert.episode_key})
        cancelled = await self._pipeline.cancel_inactive_pending({a.episode_key for a in alerts})
        if cancelled:
            logger.info("cancelled %d pending confirmations whose alerts are no longer active", cancelled)
        self._metrics.reconcile_runs.labels(result="success").inc()
        return fed

    async def _recover(self, alert: Alert, receiver: str, routing: AMConfig) -> int:
        if not routing.delivers(receiver, alert.labels, self._clock()):
            logger.info(
                "not recovered: Alertmanager's route to us is muted by a time interval now",
                extra={"alert": alert.episode_key, "alertname": alert.name},
            )
            return 0
        fed = 0
        for route in select_routes(alert, self._config.routes):
            if self._pipeline.has_decided(alert, route):
                continue
            item = WorkItem(
                alert=alert,
                route=route,
                receiver=receiver,
                group_key="",
                truncated_alerts=0,
                received_at=self._clock(),
                source=Source.RECONCILE,
                priority=route.priority,
            )
            self._metrics.alerts_recovered.inc()
            logger.info(
                "alert recovered from Alertmanager's API",
                extra={"alert": alert.episode_key, "alertname": alert.name, "route": route.name},
            )
            await self._pipeline.handle(item)
            fed += 1
        return fed
