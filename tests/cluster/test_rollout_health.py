"""The native rollout-health source on the real control plane: a revision whose kwok pods really fail is
rolled back without any alert rule, through the same routes, guards and exactly-once rule as an alert; a
healthy rollout that is merely slow is left alone.

The rig (`health_support.watching`) runs the watch, the source, the work queue and the pipeline of
`rollback-receiver serve` in this process. How long "condition true -> patch" takes is measured by
bench/rollout_health.py, not asserted here.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from harness.cluster import ClusterAccess
from harness.pod_behaviours import CRASHLOOP, NEVER_READY, SLOW_READY
from receiver.core.annotations import LAST_ALERT, ROLLED_BACK_AT
from receiver.core.decisions import Source
from receiver.core.incidents import OUTCOMES, Phase, incident_id
from receiver.core.ledger import Outcome
from receiver.core.timefmt import parse_rfc3339
from tests.cluster.health_support import V2, eventually_async, health_config, watching

ROLLBACKS = "rollback_receiver_rollbacks_total"


def progressing(deployment: dict[str, object]) -> dict[str, str]:
    conditions = (deployment.get("status") or {}).get("conditions") or []  # type: ignore[union-attr]
    return next(c for c in conditions if c["type"] == "Progressing")


async def test_a_never_ready_revision_is_rolled_back_once_its_progress_deadline_passes(
    control_plane: ClusterAccess, namespace: str
) -> None:
    async with watching(control_plane, namespace, health_config(namespace)) as rig:
        await rig.create("web", deadline=8)
        await rig.ship("web", NEVER_READY)

        decision = await rig.decision("web", lambda d: d.verdict.value == "rollback", "a rollback decision")
        assert decision.alert_name == "RolloutProgressDeadlineExceeded"
        assert decision.source is Source.WATCH
        assert decision.route == "critical-and-high"
        back = await rig.rolled_back("web")

        annotations = back["metadata"]["annotations"]
        assert annotations[LAST_ALERT] == decision.alert_key
        assert annotations["kubernetes.io/change-cause"].startswith(
            "rollback-receiver: RolloutProgressDeadlineExceeded ("
        )
        # Kubernetes gave up first, then we acted: the rollback came after the deadline, not before it.
        rolled_back_at = parse_rfc3339(annotations[ROLLED_BACK_AT])
        assert decision.decided_at is not None
        # The verify stage follows the rollout itself and records its end a moment after the API shows it.
        await eventually_async(
            lambda: rig.metric(ROLLBACKS, result="succeeded") == 1 or None,
            "the rollback recorded as succeeded",
        )
        assert (
            rig.metric("rollback_receiver_watch_cache_reads_total", result="hit") >= 1
        )  # decided on the watch
        events = await rig.events("web")
        for _ in range(50):  # the RollbackSucceeded Event is written right after the metric
            if any(reason == "RollbackSucceeded" for reason, _ in events):
                break
            await asyncio.sleep(0.2)
            events = await rig.events("web")
        assert any(
            reason == "RollbackTriggered"
            and "RolloutProgressDeadlineExceeded" in message
            and "from watch" in message
            for reason, message in events
        )
        assert any(reason == "RollbackSucceeded" for reason, _ in events)
        assert rolled_back_at >= decision.decided_at.replace(microsecond=0)
        # The rolled-back revision is healthy: the source has nothing more to say about it.
        await asyncio.sleep(2)
        assert len([d for d in rig.decided("web") if d.verdict.value == "rollback"]) == 1


async def test_a_crash_looping_revision_is_rolled_back_long_before_its_deadline(
    control_plane: ClusterAccess, namespace: str
) -> None:
    async with watching(control_plane, namespace, health_config(namespace)) as rig:
        await rig.create("api", deadline=600)
        shipped = await rig.ship("api", CRASHLOOP, crash_after="1s", restart_backoff="1s")

        decision = await rig.decision("api", lambda d: d.verdict.value == "rollback", "a rollback decision")
        assert decision.alert_name == "RolloutCrashLooping"
        back = await rig.rolled_back("api")
        await eventually_async(
            lambda: rig.metric(ROLLBACKS, result="succeeded") == 1 or None,
            "the rollback recorded as succeeded",
        )
        # Its deadline (10 minutes) was nowhere near: the crash loop itself was the evidence.
        assert progressing(back)["reason"] != "ProgressDeadlineExceeded"
        assert decision.decided_at is not None
        assert decision.decided_at.timestamp() - shipped < 600
        assert (
            rig.metric("rollback_receiver_rollout_health_findings_total", alertname="RolloutCrashLooping")
            == 1
        )
        # A synthetic alert never resolves: the completed rollout is its verification, so the record ends
        # `completed` and no did_not_help ever counts against the breaker for it.
        for _ in range(120):
            claim = next(c for c in (await rig.store.read()).claims if c.target.name == "api")
            incident = await rig.pipeline.incidents.get(incident_id(claim.key))
            if claim.outcome is not None and incident is not None and incident.phase in OUTCOMES:
                break
            await asyncio.sleep(0.5)
        assert claim.clears_within is None and not claim.verifying and claim.outcome is Outcome.SUCCEEDED
        assert incident is not None and incident.phase is Phase.COMPLETED, incident
        assert rig.metric("rollback_receiver_circuit_breaker_open") == 0


async def test_slow_readiness_inside_the_deadline_is_left_alone_and_never_ready_is_not(
    control_plane: ClusterAccess, namespace: str
) -> None:
    # not_ready_for (8s) shorter than the deadline (60s): a pod not ready for 8 seconds, while the previous
    # revision serves, is the signal; a pod ready after 3 seconds is a slow start, not a failure.
    config = health_config(namespace, not_ready_for=timedelta(seconds=8))
    async with watching(control_plane, namespace, config) as rig:
        await rig.create("slow", deadline=60)
        await rig.create("stuck", deadline=60)
        await rig.ship("slow", SLOW_READY, ready_after="3s")
        await rig.ship("stuck", NEVER_READY)

        decision = await rig.decision("stuck", lambda d: d.verdict.value == "rollback", "a rollback decision")
        assert decision.alert_name == "RolloutNotReady"
        await rig.rolled_back("stuck")

        await rig.kubectl("rollout", "status", "deployment/slow", "--timeout=120s")
        assert await rig.image("slow") == V2
        assert rig.decided("slow") == []
        stuck = await rig.get("stuck")
        assert progressing(stuck)["reason"] != "ProgressDeadlineExceeded"  # acted well before the deadline


async def test_failing_rollouts_a_full_queue_refuses_are_logged_once_not_once_each(
    control_plane: ClusterAccess, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    names = ("a", "b", "c")
    async with watching(control_plane, namespace, health_config(namespace)) as rig:
        for name in names:
            await rig.create(name)
        await rig.queue.stop(0.0)  # a queue that takes nothing: full, or stopping
        with caplog.at_level(logging.WARNING, logger="receiver.pipeline.rollout_health"):
            for name in names:
                await rig.ship(name, CRASHLOOP, crash_after="1s", restart_backoff="1s")
            await eventually_async(
                lambda: (
                    rig.metric(
                        "rollback_receiver_rollout_health_findings_total", alertname="RolloutCrashLooping"
                    )
                    == len(names)
                    or None
                ),
                "all three failing rollouts found",
            )
        refused = [r for r in caplog.records if r.getMessage().startswith("work queue full or stopping")]
        assert len(refused) == 1, [r.getMessage() for r in refused]
        assert all(rig.decided(name) == [] for name in names)  # nothing was decided: nothing was queued
