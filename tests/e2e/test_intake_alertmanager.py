"""The real Alertmanager 0.25 posting to the real intake on a loopback port, with a bearer token file:
per-alert decisions, repeats deduplicated, a resolved alert handled as resolved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from web.web_support import Harness, build, config_dict, write_config

from harness.alertmanager import AlertmanagerCluster, webhook_config
from receiver.web.app import create_app
from receiver.web.server import Listener

pytestmark = [pytest.mark.alertmanager, pytest.mark.e2e]

PushAlerts = Callable[[str, Sequence[Mapping[str, Any]]], None]
DEADLINE = 60.0  # generous: Alertmanager's group timers run in real time


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[tuple[Harness, str]]:
    harness = build(write_config(tmp_path, config_dict()))
    harness.service.start()
    listener = Listener(create_app(harness.service), host="127.0.0.1", port=0)
    await listener.start()
    try:
        yield harness, f"http://127.0.0.1:{listener.port}/webhook"
    finally:
        await listener.stop()
        await harness.service.stop()


async def until(condition: Callable[[], bool], what: str, am: AlertmanagerCluster) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{am.logs()}")
        await asyncio.sleep(0.2)


async def test_alertmanager_delivers_per_alert_deduplicated_and_resolved(
    receiver: tuple[Harness, str],
    alertmanager_factory: Callable[..., AlertmanagerCluster],
    push_alerts: PushAlerts,
    tmp_path: Path,
) -> None:
    harness, url = receiver
    # Alertmanager repeats the group every 2 s: the intake must dedupe.
    am = alertmanager_factory(
        webhook_config(url, token_file=tmp_path / "token", repeat_interval="2s")  # write_config's token file
    )
    started = datetime.now(UTC) - timedelta(seconds=5)
    rollback = {
        "labels": {
            "alertname": "HighErrorRate",
            "severity": "high",
            "namespace": "shop",
            "deployment": "ecommerce",
        },
        "annotations": {"rollback": "true", "reason": "Error rate exceeded 2%"},
        "startsAt": started.isoformat(),
    }
    unrelated = {
        "labels": {
            "alertname": "HighErrorRate",
            "severity": "high",
            "namespace": "shop",
            "deployment": "cart",
        },
        "annotations": {},  # no rollback annotation: same group, different decision
        "startsAt": started.isoformat(),
    }
    await asyncio.to_thread(push_alerts, am.url, [rollback, unrelated])

    def sample(name: str, labels: dict[str, str] | None = None) -> float:
        return harness.sample(f"rollback_receiver_{name}", labels)

    await until(lambda: len(harness.actuator.items) == 1, "the firing alert to be queued", am)
    await until(lambda: sample("alerts_deduplicated_total") >= 2, "repeats to arrive and be deduplicated", am)
    (firing,) = harness.actuator.items
    assert firing.alert.status.value == "firing"
    assert firing.alert.labels["deployment"] == "ecommerce"
    assert firing.route.name == "critical-and-high"
    assert firing.receiver == "rollback-receiver"
    assert firing.group_key.endswith('{alertname="HighErrorRate"}')
    assert (
        sample("decisions_total", {"decision": "skip", "reason": "no_route"}) == 1
    )  # cart: once, not per repeat
    assert sample("webhook_requests_total", {"code": "401"}) == 0

    resolved = {**rollback, "endsAt": datetime.now(UTC).isoformat()}
    await asyncio.to_thread(push_alerts, am.url, [resolved])
    await until(lambda: len(harness.actuator.items) == 2, "the resolve to be queued", am)
    second = harness.actuator.items[1]
    assert second.alert.status.value == "resolved"
    assert second.alert.episode_key == firing.alert.episode_key  # the same episode, now resolved
    assert second.alert.ends_at is not None
    assert sample("alerts_received_total", {"status": "resolved"}) >= 1
