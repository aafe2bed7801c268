"""Events on the real API server, correlated like client-go's recorder: a repeated decision is one Event
with a count, similar ones are combined, and a workload's Events are rate-limited (never a rollback's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from receiver.core.timefmt import format_rfc3339
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import connect
from receiver.k8s.client import KubeClient
from receiver.k8s.events import EventRecorder
from receiver.telemetry.metrics import Metrics

SKIPPED = "[cooldown] deployment/web was rolled back 3m ago (alert HighErrorRate k1)"


class Clock:
    """Wall time that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def deploy_web(cp: Any, namespace: str) -> tuple[WorkloadRef, str]:
    cp.kubectl("create", "deployment", "web", "--image=registry.example/shop:v1", "-n", namespace)
    uid = str(cp.kubectl_json("get", "deployment/web", "-n", namespace)["metadata"]["uid"])
    return WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web"), uid


def our_events(cp: Any, namespace: str) -> list[dict[str, Any]]:
    items = cp.kubectl_json("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=web")
    return [e for e in items["items"] if e["source"].get("component") == "rollback-receiver"]


def counts(events: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(message, count) of each Event, sorted: the API server's list order is no statement of ours."""
    return sorted((e["message"], e["count"]) for e in events)


async def skip(recorder: EventRecorder, kube: KubeClient, ref: WorkloadRef, uid: str, message: str) -> None:
    await recorder.emit(kube, ref, uid=uid, reason="RollbackSkipped", message=message)


async def test_a_repeated_decision_is_one_event_with_a_count(control_plane: Any, namespace: str) -> None:
    ref, uid = deploy_web(control_plane, namespace)
    clock = Clock()
    started = clock.now
    recorder = EventRecorder(clock=clock)
    kube = await connect(control_plane.kubeconfig)
    try:
        for _ in range(3):
            await skip(recorder, kube, ref, uid, SKIPPED)
            clock.advance(minutes=1)
        (event,) = our_events(control_plane, namespace)
        assert event["count"] == 3 and event["reason"] == "RollbackSkipped"
        assert event["firstTimestamp"] == format_rfc3339(started)
        assert event["lastTimestamp"] == format_rfc3339(started + timedelta(minutes=2))
        assert event["involvedObject"]["uid"] == uid

        # Another message is another Event; the first keeps its count.
        other = "[in_progress] a rollback of deployment/web is running (alert HighErrorRate k2)"
        await skip(recorder, kube, ref, uid, other)
        assert counts(our_events(control_plane, namespace)) == sorted([(SKIPPED, 3), (other, 1)])

        # The Event we would bump is gone (deleted, or expired by the server's TTL): a new one is created.
        control_plane.kubectl("delete", "event", event["metadata"]["name"], "-n", namespace)
        await skip(recorder, kube, ref, uid, SKIPPED)
        after = our_events(control_plane, namespace)
        assert counts(after) == sorted([(other, 1), (SKIPPED, 1)])
        assert event["metadata"]["name"] not in {e["metadata"]["name"] for e in after}
        await skip(recorder, kube, ref, uid, SKIPPED)
        assert counts(our_events(control_plane, namespace)) == sorted([(other, 1), (SKIPPED, 2)])
    finally:
        await kube.close()


async def test_a_repeat_after_ten_quiet_minutes_is_a_new_event(control_plane: Any, namespace: str) -> None:
    ref, uid = deploy_web(control_plane, namespace)
    clock = Clock()
    recorder = EventRecorder(clock=clock)
    kube = await connect(control_plane.kubeconfig)
    try:
        await skip(recorder, kube, ref, uid, SKIPPED)
        clock.advance(minutes=9, seconds=59)
        await skip(recorder, kube, ref, uid, SKIPPED)
        assert counts(our_events(control_plane, namespace)) == [(SKIPPED, 2)]
        clock.advance(minutes=10)  # the window runs from the last emission
        await skip(recorder, kube, ref, uid, SKIPPED)
        assert counts(our_events(control_plane, namespace)) == [(SKIPPED, 1), (SKIPPED, 2)]
    finally:
        await kube.close()


async def test_type_and_reason_are_part_of_what_is_identical(control_plane: Any, namespace: str) -> None:
    ref, uid = deploy_web(control_plane, namespace)
    recorder = EventRecorder(clock=Clock())
    kube = await connect(control_plane.kubeconfig)
    try:
        await recorder.emit(kube, ref, uid=uid, reason="RollbackFailed", message="m")
        await recorder.emit(kube, ref, uid=uid, reason="RollbackFailed", message="m", warning=True)
        await recorder.emit(kube, ref, uid=uid, reason="RollbackSucceeded", message="m")
        await recorder.emit(kube, ref, uid=uid, reason="RollbackFailed", message="m", warning=True)
    finally:
        await kube.close()
    seen = {(e["reason"], e["type"]): e["count"] for e in our_events(control_plane, namespace)}
    assert seen == {
        ("RollbackFailed", "Normal"): 1,
        ("RollbackFailed", "Warning"): 2,
        ("RollbackSucceeded", "Normal"): 1,
    }


async def test_the_memory_of_written_events_is_bounded(control_plane: Any, namespace: str) -> None:
    ref, uid = deploy_web(control_plane, namespace)
    recorder = EventRecorder(clock=Clock(), max_keys=2)
    kube = await connect(control_plane.kubeconfig)
    try:
        for message in ("a", "b", "a", "c", "a", "b"):  # "b" is the least recently used when "c" arrives
            await skip(recorder, kube, ref, uid, message)
    finally:
        await kube.close()
    assert counts(our_events(control_plane, namespace)) == [("a", 3), ("b", 1), ("b", 1), ("c", 1)]


def storm_message(i: int) -> str:
    return f"[budget] no rollback budget left (alert HighErrorRate k{i})"


async def test_a_storm_of_distinct_alerts_is_nine_events_and_one_combined(
    control_plane: Any, namespace: str
) -> None:
    ref, uid = deploy_web(control_plane, namespace)
    clock = Clock()
    recorder = EventRecorder(clock=clock)
    kube = await connect(control_plane.kubeconfig)
    try:
        for i in range(20):  # 20 alerts, each its own message: client-go's threshold is 10 similar Events
            await skip(recorder, kube, ref, uid, storm_message(i))
            clock.advance(seconds=1)
    finally:
        await kube.close()
    events = our_events(control_plane, namespace)
    alone = [(storm_message(i), 1) for i in range(9)]
    combined = (f"(combined from similar events): {storm_message(19)}", 11)
    assert counts(events) == sorted([*alone, combined])


async def test_a_workload_gets_25_events_at_once_then_one_every_5_minutes_but_every_rollback(
    control_plane: Any, namespace: str
) -> None:
    ref, uid = deploy_web(control_plane, namespace)
    clock = Clock()
    metrics = Metrics(CollectorRegistry())
    recorder = EventRecorder(clock=clock, metrics=metrics)
    kube = await connect(control_plane.kubeconfig)
    try:
        for _ in range(40):
            await skip(recorder, kube, ref, uid, SKIPPED)
        await recorder.emit(kube, ref, uid=uid, reason="RollbackTriggered", message="undo to revision 1")
        assert counts(our_events(control_plane, namespace)) == sorted(
            [(SKIPPED, 25), ("undo to revision 1", 1)]
        )
        held = metrics.registry.get_sample_value(
            "rollback_receiver_events_held_back_total", {"reason": "RollbackSkipped"}
        )
        assert held == 15
        clock.advance(minutes=5)  # one more token
        await skip(recorder, kube, ref, uid, SKIPPED)
        await skip(recorder, kube, ref, uid, SKIPPED)
        assert counts(our_events(control_plane, namespace)) == sorted(
            [(SKIPPED, 26), ("undo to revision 1", 1)]
        )
    finally:
        await kube.close()
