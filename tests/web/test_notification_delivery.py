"""Delivering notifications over real loopback HTTP (the harness' recording server): retries until the
sink takes the message, exactly once; a dead sink neither blocks the caller nor other channels; a full
queue drops and says so; the webhook is signed and the Slack message has the documented shape."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from harness.webhook_sink import WebhookSink
from receiver.core import notices
from receiver.core.notices import Notice
from receiver.core.settings import Channel, ChannelType, NoticeKind, NotificationsConfig
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.notify import Delivery, Dispatcher

DOCS = Path(__file__).resolve().parents[2] / "docs"
AT = datetime(2026, 11, 29, 9, 6, tzinfo=UTC)
WAIT = 60.0  # bounds a hang only; nothing here asserts on time


def notice(kind: NoticeKind = NoticeKind.TRIGGERED) -> Notice:
    return Notice(
        kind=kind,
        at=AT,
        message="roll back deployment/ecommerce -n shop from revision 3 to revision 2",
        reason="eligible",
        route="critical-and-high",
        alert_name="HighErrorRate",
        alert_key="a1b2c3d4e5f60718@2026-11-29T09:05:00+00:00",
        fingerprint="a1b2c3d4e5f60718",
        alert_starts_at=AT - timedelta(seconds=60),
        alert_labels={"alertname": "HighErrorRate", "severity": "high"},
        workload=WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce"),
        cluster="shop-prod",
        from_revision=3,
        to_revision=2,
        incident_id="3f9a2c1d7e4b",
        incident_url="http://rr.example/incidents/3f9a2c1d7e4b",
    )


def settings(*channels: Channel, attempts: int = 5, queue_size: int = 100) -> NotificationsConfig:
    return NotificationsConfig(
        channels=channels,
        attempts=attempts,
        backoff=timedelta(milliseconds=50),
        timeout=timedelta(seconds=5),
        queue_size=queue_size,
    )


class Results:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.changed = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self.changed.set()

    async def wait(self, count: int) -> list[Delivery]:
        async with asyncio.timeout(WAIT):
            while len(self.deliveries) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.deliveries


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nobody listens on: a sink that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


async def test_a_sink_that_fails_three_times_gets_the_message_exactly_once_more(
    webhook_sink: WebhookSink,
) -> None:
    webhook_sink.script = [500, 500, 500]
    results = Results()
    dispatcher = Dispatcher(
        settings(Channel("team", ChannelType.WEBHOOK, url=webhook_sink.url("/hook"))), results
    )
    dispatcher.submit(notice(), ["team"])
    [delivery] = await results.wait(1)
    await dispatcher.close()
    assert (delivery.result, delivery.attempts) == ("sent", 4)
    requests = webhook_sink.requests
    assert len(requests) == 4  # three refused, one taken, none after it
    assert len({r.body for r in requests}) == 1  # the same message every time ...
    assert {r.headers["x-rollback-receiver-delivery"] for r in requests} == {notice().id}  # ... with one id


async def test_a_dead_sink_blocks_neither_the_caller_nor_another_channel(
    webhook_sink: WebhookSink, closed_port_url: str
) -> None:
    results = Results()
    dispatcher = Dispatcher(
        settings(
            Channel("down", ChannelType.WEBHOOK, url=closed_port_url),
            Channel("up", ChannelType.WEBHOOK, url=webhook_sink.url("/up")),
            attempts=4,
        ),
        results,
    )
    dispatcher.submit(notice(), ["down", "up"])  # returns at once: it only queues
    assert dispatcher.queued("down") == 1 and dispatcher.queued("up") == 1
    first = (await results.wait(1))[0]
    assert (first.channel, first.result) == ("up", "sent")  # delivered while "down" still retries
    down = (await results.wait(2))[1]
    await dispatcher.close()
    assert (down.channel, down.result, down.attempts) == ("down", "failed", 4)
    assert "gave up after 4 attempts" in down.error


async def test_a_refusal_is_not_retried(webhook_sink: WebhookSink) -> None:
    webhook_sink.status = 400
    results = Results()
    dispatcher = Dispatcher(settings(Channel("team", ChannelType.WEBHOOK, url=webhook_sink.url())), results)
    dispatcher.submit(notice(), ["team"])
    [delivery] = await results.wait(1)
    await dispatcher.close()
    assert (delivery.result, delivery.attempts) == ("failed", 1)
    assert "refused: HTTP 400" in delivery.error and len(webhook_sink.requests) == 1


async def test_a_full_queue_drops_the_message_and_says_so(closed_port_url: str) -> None:
    results = Results()
    dispatcher = Dispatcher(
        settings(Channel("down", ChannelType.WEBHOOK, url=closed_port_url), attempts=2, queue_size=1), results
    )
    for _ in range(3):
        dispatcher.submit(notice(), ["down"])
    dropped = await results.wait(2)
    assert [(d.result, d.error) for d in dropped] == [("dropped", "queue full (1)")] * 2
    await dispatcher.close()
    assert [d.result for d in results.deliveries] == ["dropped", "dropped", "failed"]


async def test_the_webhook_is_signed_and_follows_the_documented_schema(
    webhook_sink: WebhookSink, tmp_path: Path
) -> None:
    secret = tmp_path / "hmac"
    secret.write_text("team-secret\n")
    url_file = tmp_path / "url"
    url_file.write_text(webhook_sink.url("/signed") + "\n")
    results = Results()
    channel = Channel("team", ChannelType.WEBHOOK, url_file=url_file, hmac_secret_file=secret)
    dispatcher = Dispatcher(settings(channel), results)
    dispatcher.submit(notice(NoticeKind.DID_NOT_HELP), ["team"])
    await results.wait(1)
    await dispatcher.close()
    [request] = webhook_sink.requests
    assert request.path == "/signed"
    assert notices.verify_signature(
        b"team-secret", request.body, request.headers["x-rollback-receiver-signature"]
    )
    assert request.headers["x-rollback-receiver-kind"] == "did_not_help"
    schema = json.loads((DOCS / "notification-webhook.schema.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        request.json()
    )


async def test_the_slack_channel_posts_the_documented_block_kit_message(webhook_sink: WebhookSink) -> None:
    results = Results()
    dispatcher = Dispatcher(
        settings(Channel("chat", ChannelType.SLACK, url=webhook_sink.url("/services/T/B/x"))), results
    )
    dispatcher.submit(notice(NoticeKind.RECOVERED), ["chat"])
    await results.wait(1)
    await dispatcher.close()
    [request] = webhook_sink.requests
    assert request.headers["content-type"] == "application/json"
    assert "x-rollback-receiver-signature" not in request.headers
    schema = json.loads((DOCS / "notification-slack.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(request.json())
    assert "HighErrorRate resolved after the rollback" in request.json()["blocks"][0]["text"]["text"]
