"""A client for Alertmanager's API v2, for every configured peer of an HA cluster.

Credentials are read from their files on every call, off the event loop (a rotated Secret just works and a
slow volume never stalls the webhook). Nothing here decides anything: it returns what Alertmanager said.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from receiver.alertmanager.config import AMConfigError, parse_status
from receiver.core.alerts import Alert, alerts_from_api
from receiver.core.am_routes import AMConfig
from receiver.core.settings import AlertmanagerAPI
from receiver.core.timefmt import parse_rfc3339_or_none

logger = logging.getLogger(__name__)

ACTIVE_QUERY = {"active": "true", "silenced": "false", "inhibited": "false"}
REQUEST_TIMEOUT = 10.0
# Alertmanager's config changes rarely; reading it once a minute is plenty for mute-interval checks.
CONFIG_TTL = 60.0
_GO_REGEX_META = set("\\.+*?()|[]{}^$")
API_TIME_PRECISION = timedelta(milliseconds=1)


class AlertmanagerUnavailable(Exception):
    """No configured Alertmanager answered; nothing is concluded from silence."""


@dataclass(frozen=True, slots=True)
class AlertState:
    """What Alertmanager says of one alert right now."""

    found: bool  # listed at all (active, silenced or inhibited); False: resolved or unknown to it
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    muted_by: tuple[str, ...] = ()  # time intervals (Alertmanager >= 0.27 reports them)


class AlertmanagerAPIClient:
    def __init__(self, settings: AlertmanagerAPI) -> None:
        self.settings = settings
        self._config: tuple[float, AMConfig] | None = None

    async def active_alerts(self, receiver: str) -> list[Alert]:
        """Active alerts Alertmanager routes to `receiver`, unsilenced, uninhibited and not muted by what
        its API reports, from every reachable peer, deduplicated by episode.

        HA peers return the same alerts; the union covers a peer that missed one. Unreachable peers are
        logged; if none answers, `AlertmanagerUnavailable`.
        """
        query = {**ACTIVE_QUERY, "receiver": f"^(?:{go_quote_meta(receiver)})$"}
        merged: dict[str, Alert] = {}
        for url, body in await self._each("/api/v2/alerts", query):
            entries = [e for e in body if _addressed_to(e, receiver)] if isinstance(body, list) else body
            alerts, problems = alerts_from_api(entries)
            for problem in problems:
                logger.warning("skipping an alert from %s: %s", url, problem)
            for alert in alerts:
                merged.setdefault(alert.episode_key, alert)
        return list(merged.values())

    async def alert_state(self, alert: Alert) -> AlertState:
        """This alert as Alertmanager sees it now: still there, silenced, inhibited, muted?"""
        query = [("filter", f"{name}={_quoted(value)}") for name, value in sorted(alert.labels.items())]
        query += [("active", "true"), ("silenced", "true"), ("inhibited", "true"), ("unprocessed", "true")]
        for _url, body in await self._each("/api/v2/alerts", query):
            for entry in body if isinstance(body, list) else ():
                if (
                    isinstance(entry, Mapping)
                    and str(entry.get("fingerprint", "")).lower() == alert.fingerprint
                ):
                    status = entry.get("status")
                    status = status if isinstance(status, Mapping) else {}
                    return AlertState(
                        found=True,
                        silenced_by=_names(status.get("silencedBy")),
                        inhibited_by=_names(status.get("inhibitedBy")),
                        muted_by=_names(status.get("mutedBy")),
                    )
        return AlertState(found=False)

    async def episode_listed(self, alert_name: str, fingerprint: str, starts_at: datetime) -> bool:
        """Does any Alertmanager still list this firing episode (active, silenced, inhibited or not yet
        processed)? A resolved alert leaves the list; a new episode of it has another startsAt."""
        query = [("filter", f"alertname={_quoted(alert_name)}")]
        query += [("active", "true"), ("silenced", "true"), ("inhibited", "true"), ("unprocessed", "true")]
        for _url, body in await self._each("/api/v2/alerts", query):
            for entry in body if isinstance(body, list) else ():
                if not isinstance(entry, Mapping) or str(entry.get("fingerprint", "")).lower() != fingerprint:
                    continue
                listed = parse_rfc3339_or_none(entry.get("startsAt"))
                # The API writes times in milliseconds; the webhook (our episode key) in nanoseconds.
                if listed is not None and abs(listed - starts_at) < API_TIME_PRECISION:
                    return True
        return False

    async def config(self) -> AMConfig:
        """Alertmanager's routing tree and time intervals (cached for a minute)."""
        if self._config is not None and time.monotonic() - self._config[0] < CONFIG_TTL:
            return self._config[1]
        for url, body in await self._each("/api/v2/status", {}):
            try:
                parsed = parse_status(body)
            except AMConfigError as exc:
                logger.warning("cannot read the config of %s: %s", url, exc)
                continue
            self._config = (time.monotonic(), parsed)
            return parsed
        raise AlertmanagerUnavailable("no Alertmanager reported a readable config")

    async def _each(
        self, path: str, query: Mapping[str, str] | list[tuple[str, str]]
    ) -> list[tuple[str, Any]]:
        """GET `path` from every peer: (url, decoded JSON) of those that answered."""
        settings = self.settings
        headers = await asyncio.to_thread(auth_headers, settings)
        ssl_context: ssl.SSLContext | bool = True
        if settings.ca_file is not None:
            ssl_context = await asyncio.to_thread(ssl.create_default_context, cafile=str(settings.ca_file))
        answers: list[tuple[str, Any]] = []
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            for url in settings.urls:
                try:
                    async with session.get(
                        f"{url.rstrip('/')}{path}", params=query, ssl=ssl_context
                    ) as response:
                        response.raise_for_status()
                        answers.append((url, await response.json()))
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    logger.warning("cannot read %s from %s: %s", path, url, exc)
        if not answers:
            raise AlertmanagerUnavailable(f"none of {len(settings.urls)} Alertmanager(s) answered")
        return answers


def _addressed_to(entry: object, receiver: str) -> bool:
    """Routed to `receiver`, and nothing Alertmanager reports holds its notifications back."""
    if not isinstance(entry, Mapping):
        return True  # malformed: reported by the conversion
    receivers = entry.get("receivers")
    if isinstance(receivers, list) and receivers:
        names = {r.get("name") for r in receivers if isinstance(r, Mapping)}
        if receiver not in names:
            return False
    status = entry.get("status")
    if isinstance(status, Mapping):
        return not any(_names(status.get(key)) for key in ("silencedBy", "inhibitedBy", "mutedBy"))
    return True


def _names(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def go_quote_meta(text: str) -> str:
    """Go's regexp.QuoteMeta: the literal text as a regular expression."""
    return "".join("\\" + char if char in _GO_REGEX_META else char for char in text)


def _quoted(value: str) -> str:
    """A matcher value as Alertmanager's filter parser reads it."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def auth_headers(settings: AlertmanagerAPI) -> Mapping[str, str]:
    """The Authorization header for the API, read from the credential files now (blocking I/O)."""
    if settings.bearer_token_file is not None:
        token = settings.bearer_token_file.read_text().strip()
        return {"Authorization": f"Bearer {token}"}
    if settings.basic is not None:
        password = settings.basic.password_file.read_text().strip()
        return {"Authorization": aiohttp.BasicAuth(settings.basic.username, password).encode()}
    return {}


@dataclass(frozen=True, slots=True)
class PostResult:
    """What one Alertmanager said to `POST /api/v2/alerts`: its HTTP status (0: no answer) and why."""

    url: str
    status: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """No answer, a 5xx or a 429: worth another try; any other 4xx will be refused again."""
        return self.status == 0 or self.status >= 500 or self.status == 429


async def post_alerts(
    settings: AlertmanagerAPI, alerts: list[dict[str, Any]], *, request_timeout: float
) -> list[PostResult]:
    """POST `alerts` to every configured Alertmanager, as Prometheus does (HA peers do not share alerts,
    only silences and the notification log): one result per URL."""
    headers = await asyncio.to_thread(auth_headers, settings)
    ssl_context: ssl.SSLContext | bool = True
    if settings.ca_file is not None:
        ssl_context = await asyncio.to_thread(ssl.create_default_context, cafile=str(settings.ca_file))
    results: list[PostResult] = []
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=request_timeout), headers=headers
    ) as session:
        for url in settings.urls:
            target = f"{url.rstrip('/')}/api/v2/alerts"
            try:
                async with session.post(target, json=alerts, ssl=ssl_context) as response:
                    text = "" if response.status < 300 else (await response.text())[:200]
                    results.append(PostResult(url, response.status, text))
            except (aiohttp.ClientError, TimeoutError) as exc:
                results.append(PostResult(url, 0, str(exc) or type(exc).__name__))
    return results
