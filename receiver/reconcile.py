"""Level-triggered recovery: what Alertmanager says is firing now, fed to the same pipeline.

A webhook can be lost (we crashed after answering 200, a network cut outlasted Alertmanager's retries).
On start and every `alertmanager.interval` we GET `/api/v2/alerts?active=true&silenced=false&inhibited=false`
from each configured Alertmanager, route the alerts and hand the ones this process has not decided yet to
the actuator with `source="reconcile"`. The actuator's exactly-once rule (cluster state) makes a
re-delivery harmless; the local "decided" memory only saves work and Events.

Also: a pending confirmation whose alert is no longer active anywhere is cancelled (its resolved
notification was lost), so a confirmation delay never acts on an alert that stopped firing.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp

from receiver import routing
from receiver.alerts import Alert, AlertStatus, PayloadError, parse_payload
from receiver.config import Config, Route
from receiver.metrics import Metrics
from receiver.worker import WorkItem

logger = logging.getLogger(__name__)

ACTIVE_QUERY = {"active": "true", "silenced": "false", "inhibited": "false"}
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"
REQUEST_TIMEOUT = 10.0


class Pipeline(Protocol):
    async def handle(self, item: WorkItem) -> None: ...

    def has_decided(self, alert: Alert, route: Route) -> bool: ...

    async def cancel_inactive_pending(self, active: set[str]) -> int: ...


class AlertmanagerUnavailable(Exception):
    """No configured Alertmanager answered; nothing is concluded from silence."""


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
        self._pipeline = pipeline
        self._metrics = metrics
        self._clock = clock

    def apply_config(self, config: Config) -> None:
        self._config = config

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
            alerts = await self.fetch_active()
        except AlertmanagerUnavailable as exc:
            self._metrics.reconcile_runs.labels(result="error").inc()
            logger.warning("reconciliation skipped: %s", exc)
            return 0
        fed = 0
        for alert in alerts:
            for route in routing.select_routes(alert, self._config.routes):
                if self._pipeline.has_decided(alert, route):
                    continue
                item = WorkItem(
                    alert=alert,
                    route=route,
                    receiver="",
                    group_key="",
                    truncated_alerts=0,
                    received_at=self._clock(),
                    source="reconcile",
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

    async def fetch_active(self) -> list[Alert]:
        """Active, unsilenced, uninhibited alerts from every reachable Alertmanager, deduplicated.

        HA peers return the same alerts; the union covers a peer that missed one. Unreachable peers are
        logged; if none answers, `AlertmanagerUnavailable`.
        """
        api = self._config.alertmanager
        headers = _auth_headers(self._config)
        ssl_context: ssl.SSLContext | bool = True
        if api.ca_file is not None:
            ssl_context = ssl.create_default_context(cafile=str(api.ca_file))
        merged: dict[str, Alert] = {}
        answered = 0
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            for url in api.urls:
                try:
                    async with session.get(
                        f"{url.rstrip('/')}/api/v2/alerts", params=ACTIVE_QUERY, ssl=ssl_context
                    ) as response:
                        response.raise_for_status()
                        body = await response.json()
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    logger.warning("cannot read alerts from %s: %s", url, exc)
                    continue
                answered += 1
                for alert in alerts_from_api(body):
                    merged.setdefault(alert.episode_key, alert)
        if not answered:
            raise AlertmanagerUnavailable(f"none of {len(api.urls)} Alertmanager(s) answered")
        return list(merged.values())


def alerts_from_api(body: object) -> list[Alert]:
    """Alertmanager API v2 `gettableAlerts` -> `Alert`s (firing); malformed entries are logged and skipped."""
    if not isinstance(body, list):
        logger.warning("Alertmanager answered %s instead of a list of alerts", type(body).__name__)
        return []
    out: list[Alert] = []
    for index, entry in enumerate(body):
        if not isinstance(entry, Mapping):
            continue
        try:
            out.append(alert_from_webhook_shape(_webhook_shape(entry)))
        except PayloadError as exc:
            logger.warning("skipping alert %d from Alertmanager's API: %s", index, exc)
    return out


def _webhook_shape(entry: Mapping[str, Any]) -> dict[str, object]:
    return {
        "status": AlertStatus.FIRING.value,
        "labels": entry.get("labels") or {},
        "annotations": entry.get("annotations") or {},
        "startsAt": entry.get("startsAt"),
        # An active alert's API endsAt is its expiry estimate, not an end: the webhook sends zero time.
        "endsAt": _GO_ZERO_TIME,
        "generatorURL": entry.get("generatorURL") or "",
        "fingerprint": entry.get("fingerprint"),
    }


def alert_to_webhook_shape(alert: Alert) -> dict[str, object]:
    """An `Alert` as the webhook sends it (how pending confirmations keep it in cluster state)."""
    return {
        "status": alert.status.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": alert.starts_at.isoformat(),
        "endsAt": alert.ends_at.isoformat() if alert.ends_at else _GO_ZERO_TIME,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def alert_from_webhook_shape(obj: Mapping[str, object]) -> Alert:
    """The inverse, validated by the webhook's own parser (one set of rules for every way in)."""
    payload = parse_payload(_envelope([dict(obj)]), max_alerts=1)
    return payload.alerts[0]


def _envelope(alerts: Sequence[Mapping[str, object]]) -> dict[str, object]:
    return {
        "version": "4",
        "groupKey": "",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": list(alerts),
    }


def _auth_headers(config: Config) -> dict[str, str]:
    """Credentials for Alertmanager's API, read from files on every pass (rotated Secrets just work)."""
    api = config.alertmanager
    if api.bearer_token_file is not None:
        token = api.bearer_token_file.read_text().strip()
        return {"Authorization": f"Bearer {token}"}
    if api.basic is not None:
        password = api.basic.password_file.read_text().strip()
        return {"Authorization": aiohttp.BasicAuth(api.basic.username, password).encode()}
    return {}
