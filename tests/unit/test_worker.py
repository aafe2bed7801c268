"""The bounded queue and its workers, and the intake's TTL seen-set (injected clock, fake loop time)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from receiver.config import parse_config
from receiver.core.alerts import Alert, AlertStatus
from receiver.pipeline.dedupe import SeenSet
from receiver.pipeline.items import WorkItem
from receiver.pipeline.queue import WorkQueue
from receiver.telemetry.metrics import Metrics

ROUTE = parse_config("routes: [{name: r, action: notify}]", source=Path("t.yaml"), environ={}).routes[0]


def item(n: int) -> WorkItem:
    alert = Alert(
        status=AlertStatus.FIRING,
        labels={"alertname": f"A{n}"},
        annotations={},
        starts_at=datetime(2026, 11, 29, tzinfo=UTC),
        ends_at=None,
        generator_url="",
        fingerprint=f"{n:016x}",
    )
    return WorkItem(alert, ROUTE, "rcv", "{}:{}", 0, datetime(2026, 11, 29, tzinfo=UTC), "webhook")


class Recorder:
    """The Actuator protocol, recording what it was handed; `hold` keeps it busy for that many seconds."""

    def __init__(self, hold: float = 0.0, fail_on: int | None = None) -> None:
        self.handled: list[str] = []
        self.hold = hold
        self.fail_on = fail_on

    async def handle(self, work: WorkItem) -> None:
        if self.hold:
            await asyncio.sleep(self.hold)
        if work.alert.name == f"A{self.fail_on}":
            raise RuntimeError("boom")
        self.handled.append(work.alert.name)


async def test_items_are_handled_and_queue_depth_is_exported() -> None:
    metrics = Metrics(CollectorRegistry())
    recorder = Recorder()
    queue = WorkQueue(recorder, capacity=10, workers=2, metrics=metrics)
    assert not queue.offer(item(0))  # not started: not taking work
    queue.start()
    assert queue.running
    for n in range(5):
        assert queue.offer(item(n))
    assert metrics.registry.get_sample_value("rollback_receiver_queue_depth") == 5
    assert metrics.registry.get_sample_value("rollback_receiver_queue_capacity") == 10
    assert await queue.stop(drain_seconds=5) == []
    assert sorted(recorder.handled) == [f"A{n}" for n in range(5)]
    assert metrics.registry.get_sample_value("rollback_receiver_queue_depth") == 0
    assert not queue.running


async def test_a_full_queue_refuses_instead_of_dropping() -> None:
    queue = WorkQueue(Recorder(hold=3600), capacity=2, workers=1)
    queue.start()
    assert queue.offer(item(1))
    await asyncio.sleep(0)  # the worker takes item 1 and stays busy
    assert queue.offer(item(2))
    assert queue.offer(item(3))
    assert not queue.offer(item(4))
    assert queue.depth == 2
    await queue.stop(drain_seconds=0)


async def test_a_failing_item_does_not_stop_the_worker() -> None:
    recorder = Recorder(fail_on=1)
    queue = WorkQueue(recorder, capacity=10, workers=1)
    queue.start()
    for n in range(3):
        queue.offer(item(n))
    assert await queue.stop(drain_seconds=5) == []
    assert recorder.handled == ["A0", "A2"]


@pytest.mark.looptime
async def test_shutdown_drains_until_the_deadline_then_hands_back(looptime: float) -> None:
    recorder = Recorder(hold=60)
    queue = WorkQueue(recorder, capacity=10, workers=1)
    queue.start()
    for n in range(3):
        queue.offer(item(n))
    await asyncio.sleep(0)
    start = float(looptime)
    handed_back = await queue.stop(drain_seconds=90)  # item 0 finishes at 60s, item 1 is cut at 90s
    assert float(looptime) - start == 90
    assert recorder.handled == ["A0"]
    assert sorted(w.alert.name for w in handed_back) == ["A1", "A2"]
    assert not queue.offer(item(9))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_seen_set_remembers_within_the_ttl_only() -> None:
    clock = Clock()
    seen = SeenSet(max_entries=10, ttl=timedelta(hours=6), clock=clock)
    assert seen.mark("a")
    assert not seen.mark("a")
    clock.now += 6 * 3600 - 1
    assert "a" in seen
    clock.now += 1
    assert "a" not in seen
    assert seen.mark("a")


def test_seen_set_is_bounded_and_forgets_the_oldest() -> None:
    seen = SeenSet(max_entries=3, ttl=timedelta(hours=1), clock=Clock())
    for key in "abcd":
        assert seen.mark(key)
    assert len(seen) == 3
    assert "a" not in seen
    assert "d" in seen


def test_forget_lets_a_retry_through() -> None:
    seen = SeenSet(max_entries=3, ttl=timedelta(hours=1), clock=Clock())
    seen.mark("a")
    seen.forget("a")
    assert seen.mark("a")


def prioritised(n: int, priority: int) -> WorkItem:
    return dataclasses.replace(item(n), priority=priority)


async def test_work_is_taken_by_route_priority_then_arrival() -> None:
    recorder = Recorder(hold=0.05)
    queue = WorkQueue(recorder, capacity=10, workers=1)
    queue.start()
    assert queue.offer(prioritised(0, 5))  # the worker takes it at once and is busy with it
    await asyncio.sleep(0.01)
    for n, priority in ((1, 2), (2, 2), (3, 0), (4, 1)):
        assert queue.offer(prioritised(n, priority))
    await asyncio.sleep(0.5)
    await queue.stop(1)
    assert recorder.handled == ["A0", "A3", "A4", "A1", "A2"]


async def test_the_queue_is_bounded_by_bytes_too() -> None:
    queue = WorkQueue(Recorder(hold=10), capacity=1000, workers=1, capacity_bytes=30_000)
    queue.start()
    big = dataclasses.replace(
        item(0), alert=dataclasses.replace(item(0).alert, annotations={"d": "x" * 9000})
    )
    assert queue.offer(big)  # taken by the worker
    await asyncio.sleep(0.01)
    assert queue.offer(big) and queue.offer(big)
    assert not queue.offer(big)  # a third waiting one would pass the byte bound
    assert queue.offer(item(1))  # a small one still fits
    assert queue.queued_bytes <= 30_000
    await queue.stop(0)
