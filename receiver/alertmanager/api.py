"""A client for Alertmanager's API v2, for every configured peer of an HA cluster.

Credentials are read from their files on every call, off the event loop (a rotated Secret just works and a
slow volume never stalls the webhook). Nothing here decides anything: it returns what Alertmanager said.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping

import aiohttp

from receiver.core.alerts import Alert, alerts_from_api
from receiver.core.settings import AlertmanagerAPI

logger = logging.getLogger(__name__)

ACTIVE_QUERY = {"active": "true", "silenced": "false", "inhibited": "false"}
REQUEST_TIMEOUT = 10.0


class AlertmanagerUnavailable(Exception):
    """No configured Alertmanager answered; nothing is concluded from silence."""


class AlertmanagerAPIClient:
    def __init__(self, settings: AlertmanagerAPI) -> None:
        self.settings = settings

    async def active_alerts(self) -> list[Alert]:
        """Active, unsilenced, uninhibited alerts from every reachable peer, deduplicated by episode.

        HA peers return the same alerts; the union covers a peer that missed one. Unreachable peers are
        logged; if none answers, `AlertmanagerUnavailable`.
        """
        settings = self.settings
        headers = await asyncio.to_thread(auth_headers, settings)
        ssl_context: ssl.SSLContext | bool = True
        if settings.ca_file is not None:
            ssl_context = await asyncio.to_thread(ssl.create_default_context, cafile=str(settings.ca_file))
        merged: dict[str, Alert] = {}
        answered = 0
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            for url in settings.urls:
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
                alerts, problems = alerts_from_api(body)
                for problem in problems:
                    logger.warning("skipping an alert from %s: %s", url, problem)
                for alert in alerts:
                    merged.setdefault(alert.episode_key, alert)
        if not answered:
            raise AlertmanagerUnavailable(f"none of {len(settings.urls)} Alertmanager(s) answered")
        return list(merged.values())


def auth_headers(settings: AlertmanagerAPI) -> Mapping[str, str]:
    """The Authorization header for the API, read from the credential files now (blocking I/O)."""
    if settings.bearer_token_file is not None:
        token = settings.bearer_token_file.read_text().strip()
        return {"Authorization": f"Bearer {token}"}
    if settings.basic is not None:
        password = settings.basic.password_file.read_text().strip()
        return {"Authorization": aiohttp.BasicAuth(settings.basic.username, password).encode()}
    return {}
