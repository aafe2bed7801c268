"""POST /webhook through the real app: per-alert routing, dedupe, queueing and every status code."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from web_support import AUTH, HEADERS, Client, Harness, MakeClient, alert, body

from receiver.pipeline.queue import QUEUE_FULL_LOG_INTERVAL

WEBHOOK = "/webhook"


async def post(client: Client, data: bytes, headers: dict[str, str] = HEADERS) -> tuple[int, dict[str, Any]]:
    response = await client.post(WEBHOOK, data=data, headers=headers)
    return response.status, await response.json()


async def drained(harness: Harness, count: int) -> None:
    while len(harness.actuator.items) < count:  # noqa: ASYNC110 - yield until the workers caught up
        await asyncio.sleep(0)


async def test_each_alert_is_routed_and_queued_on_its_own(client_and_harness: tuple[Client, Harness]) -> None:
    client, harness = client_and_harness
    alerts = [
        alert("HighErrorRate", severity="high"),
        alert("HighLatency", severity="medium", fingerprint="b1b2c3d4e5f60718"),
        alert("DiskFull", severity="high", fingerprint="c1b2c3d4e5f60718", rollback=False),
        alert("Chatter", severity="info", fingerprint="d1b2c3d4e5f60718", rollback=False),
    ]
    status, answer = await post(client, body(*alerts))
    assert status == 200
    assert answer["status"] == "accepted"
    assert (answer["queued"], answer["unrouted"], answer["ignored"]) == (2, 1, 1)
    assert [(a["alertname"], a["route"], a["outcome"]) for a in answer["alerts"]] == [
        ("HighErrorRate", "critical-and-high", "queued"),
        ("HighLatency", "medium", "queued"),
        ("DiskFull", None, "no_route"),
        ("Chatter", "noise", "ignored"),
    ]
    await drained(harness, 2)
    item = harness.actuator.items[0]
    assert (item.route.name, item.receiver, item.source) == (
        "critical-and-high",
        "rollback-receiver",
        "webhook",
    )
    assert item.alert.labels["deployment"] == "ecommerce"
    assert (
        harness.sample("rollback_receiver_decisions_total", {"decision": "skip", "reason": "no_route"}) == 1
    )
    assert (
        harness.sample("rollback_receiver_decisions_total", {"decision": "skip", "reason": "route_ignore"})
        == 1
    )
    assert harness.sample("rollback_receiver_alerts_received_total", {"status": "firing"}) == 4


async def test_repeats_are_deduplicated_but_a_resolve_or_new_episode_is_not(
    client_and_harness: tuple[Client, Harness],
) -> None:
    client, harness = client_and_harness
    first = alert()
    assert (await post(client, body(first)))[1]["queued"] == 1
    # Alertmanager repeats the whole group (and an HA peer sends it too): nothing new is queued.
    for _ in range(3):
        status, answer = await post(client, body(first))
        assert (status, answer["queued"], answer["duplicates"]) == (200, 0, 1)
    assert harness.sample("rollback_receiver_alerts_deduplicated_total") == 3
    # The same alert resolved is a new fact; a new firing episode has a new startsAt.
    resolved = alert(status="resolved")
    assert (await post(client, body(resolved)))[1]["queued"] == 1
    again = alert(starts_at="2026-11-29T11:00:00Z")
    assert (await post(client, body(again)))[1]["queued"] == 1
    await drained(harness, 3)
    assert [i.alert.status.value for i in harness.actuator.items] == ["firing", "resolved", "firing"]


async def test_a_resolved_alert_in_a_firing_group_is_handled_as_resolved(
    client_and_harness: tuple[Client, Harness],
) -> None:
    client, harness = client_and_harness
    data = body(alert(status="resolved"), alert("Other", fingerprint="f1b2c3d4e5f60718"))
    assert json.loads(data)["status"] == "firing"
    assert (await post(client, data))[0] == 200
    await drained(harness, 2)
    statuses = {i.alert.name: i.alert.status.value for i in harness.actuator.items}
    assert statuses == {"HighErrorRate": "resolved", "Other": "firing"}


async def test_truncated_payload_is_still_queued_for_the_guards(
    client_and_harness: tuple[Client, Harness],
) -> None:
    client, harness = client_and_harness
    assert (await post(client, body(alert(), truncated=2)))[0] == 200
    await drained(harness, 1)
    assert harness.actuator.items[0].truncated_alerts == 2


async def test_queue_full_answers_503_and_the_retry_is_not_deduplicated(make_client: MakeClient) -> None:
    client, harness = await make_client(queue_size=2, workers=1)
    harness.actuator.gate.clear()  # the worker holds the first item; the queue then holds two more
    alerts = [alert(f"A{n}", fingerprint=f"{n + 1:016x}") for n in range(5)]
    status, answer = await post(client, body(alerts[0]))
    assert status == 200
    await asyncio.sleep(0)
    status, answer = await post(client, body(*alerts))
    assert status == 503
    assert answer["status"] == "queue_full"
    assert [a["outcome"] for a in answer["alerts"]] == [
        "duplicate",
        "queued",
        "queued",
        "not_queued",
        "not_queued",
    ]
    harness.actuator.gate.set()
    await drained(harness, 3)
    # Alertmanager retries the same payload: what was queued is deduplicated, the rest goes through.
    status, answer = await post(client, body(*alerts))
    assert status == 200
    assert [a["outcome"] for a in answer["alerts"]] == [
        "duplicate",
        "duplicate",
        "duplicate",
        "queued",
        "queued",
    ]
    await drained(harness, 5)
    assert sorted(i.alert.name for i in harness.actuator.items) == [f"A{n}" for n in range(5)]
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "503"}) == 1


async def test_a_full_queue_is_logged_once_per_interval_with_the_count_of_503s_in_between(
    make_client: MakeClient, caplog: Any
) -> None:
    """A storm against a full queue is thousands of 503s a second: not a warning line each."""
    now = [datetime(2026, 12, 2, 9, 0, tzinfo=UTC)]
    client, harness = await make_client(queue_size=1, workers=1, clock=lambda: now[0])
    harness.actuator.gate.clear()  # the worker holds the first item, the queue the second
    for n in range(2):
        assert (await post(client, body(alert(fingerprint=f"{n + 1:016x}"))))[0] == 200
        await asyncio.sleep(0)

    def full_lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage().startswith("work queue full")]

    with caplog.at_level(logging.WARNING, logger="receiver.pipeline.intake"):
        for n in range(20):
            assert (await post(client, body(alert(fingerprint=f"{n + 100:016x}"))))[0] == 503
        assert len(full_lines()) == 1
        assert full_lines()[0].__dict__["requests_not_logged"] == 0
        now[0] += QUEUE_FULL_LOG_INTERVAL
        assert (await post(client, body(alert(fingerprint=f"{200:016x}"))))[0] == 503
    assert len(full_lines()) == 2
    assert full_lines()[1].__dict__["requests_not_logged"] == 19
    assert "19 more requests answered 503" in full_lines()[1].getMessage()
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "503"}) == 21
    harness.actuator.gate.set()


async def test_what_the_config_refuses_is_decided_in_the_request_and_takes_no_queue_slot(
    make_client: MakeClient,
) -> None:
    client, harness = await make_client(queue_size=1, workers=1)
    harness.actuator.gate.clear()  # the worker holds the first item: one more would fill the queue
    assert (await post(client, body(alert(fingerprint=f"{1:016x}"))))[0] == 200
    await asyncio.sleep(0)
    outside = alert()
    outside["labels"]["namespace"] = "payments"  # not in namespaces.allow
    unrenderable = alert()
    del unrenderable["labels"]["deployment"]  # the target's name cannot be rendered
    storm = []
    for n in range(20):
        refused = dict(outside if n % 2 else unrenderable, fingerprint=f"{n + 100:016x}")
        storm.append(refused)
    status, answer = await post(client, body(*storm))
    assert (status, answer["status"], answer["refused"], answer["queued"]) == (200, "accepted", 20, 0)
    assert {a["outcome"] for a in answer["alerts"]} == {"refused"}
    # The queue still has its slot for an alert we may act on.
    status, answer = await post(client, body(alert("Next", fingerprint=f"{2:016x}")))
    assert (status, [a["outcome"] for a in answer["alerts"]]) == (200, ["queued"])
    denied = await (await client.get("/api/v1/decisions?reason=namespace_denied", headers=AUTH)).json()
    assert len(denied["decisions"]) == 10
    assert denied["decisions"][0]["message"] == "namespace payments is not in the allow list"
    assert (
        harness.sample(
            "rollback_receiver_decisions_total", {"decision": "skip", "reason": "target_unresolved"}
        )
        == 10
    )
    # A repeat is a duplicate, not decided again; the refused alerts never reach a worker.
    status, answer = await post(client, body(*storm))
    assert (status, answer["duplicates"], answer["refused"]) == (200, 20, 0)
    harness.actuator.gate.set()
    await drained(harness, 2)
    assert [i.alert.name for i in harness.actuator.items] == ["HighErrorRate", "Next"]


async def test_not_ready_answers_503_and_keeps_nothing(make_client: MakeClient) -> None:
    client, harness = await make_client(start=False)
    status, answer = await post(client, body(alert()))
    assert status == 503
    assert "not ready" in answer["error"]
    harness.service.start()
    status, answer = await post(client, body(alert()))
    assert (status, answer["queued"]) == (200, 1)  # not swallowed by the dedupe set


async def test_shutdown_stops_taking_work(client_and_harness: tuple[Client, Harness]) -> None:
    client, harness = client_and_harness
    await harness.service.stop()
    assert (await post(client, body(alert())))[0] == 503
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["checks"]["worker"] == "not running"


async def test_status_codes(make_client: MakeClient) -> None:
    client, harness = await make_client(max_body_bytes=4096, max_alerts_per_payload=2)
    cases: list[tuple[str, str, bytes, dict[str, str], int]] = [
        ("GET", WEBHOOK, b"", AUTH, 405),
        ("PUT", WEBHOOK, body(alert()), HEADERS, 405),
        ("POST", WEBHOOK, body(alert()), {**AUTH, "Content-Type": "text/plain"}, 415),
        ("POST", WEBHOOK, body(alert()), AUTH, 415),
        (
            "POST",
            WEBHOOK,
            body(alert()),
            {**HEADERS, "Content-Type": "application/json; charset=latin-1"},
            415,
        ),
        ("POST", WEBHOOK, b"{" * 5000, HEADERS, 413),
        ("POST", WEBHOOK, body(*[alert(fingerprint=f"{n:016x}") for n in range(3)]), HEADERS, 413),
        ("POST", WEBHOOK, b"{}", HEADERS, 400),
        ("POST", WEBHOOK, body(alert()), {**HEADERS, "Authorization": "Bearer nope"}, 401),
        ("GET", "/nowhere", b"", {}, 404),
        ("POST", WEBHOOK, body(alert()), {**HEADERS, "Content-Type": "application/json; charset=UTF-8"}, 200),
    ]
    for method, path, data, headers, expected in cases:
        response = await client.request(method, path, data=data, headers=headers)
        assert response.status == expected, (method, path, headers, await response.text())
        if expected >= 400:
            assert "error" in await response.json()
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "413"}) == 2
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "200"}) == 1


async def test_chunked_body_over_the_limit_is_413(make_client: MakeClient) -> None:
    client, _ = await make_client(max_body_bytes=1024)

    async def chunks() -> Any:
        for _ in range(64):
            yield b" " * 512

    response = await client.post(WEBHOOK, data=chunks(), headers=HEADERS)
    assert response.status == 413
    assert "larger than 1024 bytes" in (await response.json())["error"]


async def test_probes_and_decisions(client_and_harness: tuple[Client, Harness]) -> None:
    client, _ = client_and_harness
    response = await client.get("/healthz")
    assert (response.status, await response.json()) == (200, {"status": "ok"})
    response = await client.get("/readyz")
    assert response.status == 503  # this service was built without a cluster connection
    assert (await response.json())["checks"] == {
        "config": "ok",
        "worker": "ok",
        "kubernetes": "not connected",
    }

    await post(client, body(alert("DiskFull", rollback=False)))
    await post(client, body(alert("Chatter", severity="info", fingerprint="d1b2c3d4e5f60718")))
    response = await client.get("/api/v1/decisions", headers=AUTH)
    decisions = (await response.json())["decisions"]
    assert [(d["alertname"], d["decision"], d["reason"]) for d in decisions] == [
        ("Chatter", "skip", "route_ignore"),
        ("DiskFull", "skip", "no_route"),
    ]
    assert decisions[1]["alert"] == "a1b2c3d4e5f60718@2026-11-29T09:05:00.123456+00:00"
    response = await client.get("/api/v1/decisions?reason=no_route&limit=5", headers=AUTH)
    assert [d["alertname"] for d in (await response.json())["decisions"]] == ["DiskFull"]
    response = await client.get("/api/v1/decisions?limit=zero", headers=AUTH)
    assert (response.status, (await response.json())["path"]) == (400, "limit")
