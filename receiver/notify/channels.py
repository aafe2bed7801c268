"""One delivery attempt to one channel: build its body, read its secrets, POST, classify the answer.

Secrets (a Slack URL, a webhook URL, the HMAC secret, Alertmanager credentials) are read from their files
on every attempt, off the event loop, so a rotated Secret takes effect without a reload. They never reach
a log line: errors name the channel, never its URL.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from receiver.alertmanager.api import post_alerts
from receiver.core import notices
from receiver.core.notices import Notice
from receiver.core.settings import Channel, ChannelType

USER_AGENT = "rollback-receiver"


class Retryable(Exception):
    """This attempt failed in a way another attempt may not (no answer, 5xx, 429)."""


class Rejected(Exception):
    """The receiver refused the message (a 4xx other than 429): another attempt would be refused too."""


async def send(
    channel: Channel, notice: Notice, session: aiohttp.ClientSession, *, attempt_timeout: float
) -> None:
    """One attempt; returns when the channel accepted the message, raises Retryable or Rejected."""
    if channel.type is ChannelType.ALERTMANAGER:
        await _alertmanager(channel, notice, attempt_timeout=attempt_timeout)
        return
    body = notices.slack_body(notice) if channel.type is ChannelType.SLACK else notices.webhook_body(notice)
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    url = await asyncio.to_thread(_url, channel)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if channel.type is ChannelType.WEBHOOK:
        headers[notices.DELIVERY_HEADER] = notice.id
        headers[notices.KIND_HEADER] = notice.kind.value
        if channel.hmac_secret_file is not None:
            secret = await asyncio.to_thread(_secret, channel)
            headers[notices.SIGNATURE_HEADER] = notices.signature(secret, data, int(time.time()))
    try:
        async with session.post(
            url, data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=attempt_timeout)
        ) as response:
            status = response.status
            answer = (await response.text())[:200] if status >= 300 else ""
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Retryable(f"no answer: {type(exc).__name__}") from None
    _classify(status, answer)


async def _alertmanager(channel: Channel, notice: Notice, *, attempt_timeout: float) -> None:
    settings = channel.alertmanager
    if settings is None or not settings.urls:
        raise Rejected("no Alertmanager URL configured")
    alerts = notices.alertmanager_alerts(notice, hold=channel.hold, label_prefix=channel.label_prefix)
    results = await post_alerts(settings, alerts, request_timeout=attempt_timeout)
    if any(r.ok for r in results):
        return  # Alertmanager fails open too: one peer that has it notifies
    problems = "; ".join(f"{r.url}: {r.status or 'no answer'} {r.error}".strip() for r in results)
    if any(r.retryable for r in results):
        raise Retryable(problems)
    raise Rejected(problems)


def _classify(status: int, answer: str) -> None:
    if 200 <= status < 300:
        return
    detail = f"HTTP {status}" + (f": {answer}" if answer else "")
    if status >= 500 or status == 429:
        raise Retryable(detail)
    raise Rejected(detail)


def _url(channel: Channel) -> str:
    if channel.url is not None:
        return channel.url
    if channel.url_file is None:
        raise Rejected("no url configured")
    try:
        return channel.url_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise Retryable(f"cannot read url_file {channel.url_file}: {exc.strerror or exc}") from None


def _secret(channel: Channel) -> bytes:
    assert channel.hmac_secret_file is not None
    try:
        return channel.hmac_secret_file.read_bytes().strip()
    except OSError as exc:
        raise Retryable(
            f"cannot read hmac_secret_file {channel.hmac_secret_file}: {exc.strerror or exc}"
        ) from None
