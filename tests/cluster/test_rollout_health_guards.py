"""Every guard applies to the rollout-health source as to alerts, on the real control plane: scope,
opt-out, the pause annotation and the global pause, GitOps ownership, cooldown, budgets, the breaker,
dry-run and confirmation delays; and exactly once with two replicas watching the same failing rollout.

Each failing revision is a kwok crash loop (the fastest real failure); the decisions are the pipeline's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from harness.cluster import ClusterAccess
from harness.pod_behaviours import CRASHLOOP
from receiver.core import ledger
from receiver.core.annotations import ENABLED, PAUSED, ROLLED_BACK_AT, ROLLED_BACK_TO_TEMPLATE
from receiver.core.decisions import Decision, Source
from receiver.core.settings import Budget, Limits, Mode, NamespacePolicy
from tests.cluster.health_support import V1, V2, HealthRig, health_config, health_route, watching

CRASH = {"crash_after": "1s", "restart_backoff": "1s"}
ROLLBACKS = "rollback_receiver_rollbacks_total"


async def stopped_by(rig: HealthRig, name: str, verdict: str, reason: str) -> Decision:
    decision = await rig.decision(
        name, lambda d: d.reason != "eligible" or d.verdict.value != "rollback", "a decision"
    )
    assert (decision.verdict.value, decision.reason) == (verdict, reason), decision
    assert decision.source is Source.WATCH
    assert decision.alert_name == "RolloutCrashLooping"
    return decision


async def test_workload_guards_hold_the_watch_source_back(
    control_plane: ClusterAccess, namespace: str
) -> None:
    recent = datetime.now(UTC).isoformat()
    async with watching(control_plane, namespace, health_config(namespace)) as rig:
        await rig.create("opted-out", **{ENABLED: "false"})
        await rig.create("paused", **{PAUSED: "true"})
        await rig.create("argo", **{"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/argo"})
        # rolled back by us a minute ago (to some other template): the cooldown holds
        await rig.create("cooling", **{ROLLED_BACK_AT: recent, ROLLED_BACK_TO_TEMPLATE: "0000000000"})
        for name in ("opted-out", "paused", "argo", "cooling"):
            await rig.ship(name, CRASHLOOP, **CRASH)

        await stopped_by(rig, "opted-out", "skip", "workload_opted_out")
        await stopped_by(rig, "paused", "skip", "workload_paused")
        notified = await stopped_by(rig, "argo", "notify", "argocd_managed")
        assert "revert it in Git" in notified.message
        await stopped_by(rig, "cooling", "skip", "cooldown")
        for name in ("opted-out", "paused", "argo", "cooling"):
            assert await rig.image(name) == V2, f"{name} must not have been rolled back"
        assert rig.metric(ROLLBACKS, result="succeeded") == 0
        events = await rig.events("argo")
        assert any(reason == "RollbackNotify" and "[argocd_managed]" in message for reason, message in events)


async def test_global_guards_pause_budgets_breaker_dry_run_and_confirmation(
    control_plane: ClusterAccess, namespace: str
) -> None:
    base = health_config(namespace)
    async with watching(control_plane, namespace, dataclasses.replace(base, paused=True)) as rig:
        for name in ("a", "b", "c", "d", "e"):
            await rig.create(name)

        # the global kill switch
        await rig.ship("a", CRASHLOOP, **CRASH)
        await stopped_by(rig, "a", "skip", "paused")

        # the namespace budget
        no_budget = Limits(per_namespace=Budget(0, timedelta(hours=1)))
        await rig.reconfigure(dataclasses.replace(base, limits=no_budget))
        await rig.ship("b", CRASHLOOP, **CRASH)
        await stopped_by(rig, "b", "skip", "budget_namespace")

        # the circuit breaker, opened by earlier failures (here: by hand, in the shared ledger)
        await rig.reconfigure(base)
        opened = ledger.open_breaker(
            await rig.store.read(), "3 consecutive failed rollbacks", datetime.now(UTC)
        )
        await rig.store.update(lambda _state: (opened, opened), now=datetime.now(UTC))
        await rig.ship("c", CRASHLOOP, **CRASH)
        await stopped_by(rig, "c", "skip", "breaker_open")
        await rig.pipeline.reset_breaker("test")

        # a route in dry-run: decided and recorded, the patch sent as a server-side dry-run only
        await rig.reconfigure(dataclasses.replace(base, routes=(health_route(mode=Mode.DRY_RUN),)))
        await rig.ship("d", CRASHLOOP, **CRASH)
        dry = await stopped_by(rig, "d", "dry-run", "dry_run")
        assert "would roll back" in dry.message

        # a confirmation delay: the source's alert waits in the ledger, then acts because it still fails
        await rig.reconfigure(
            dataclasses.replace(base, routes=(health_route(confirm_for=timedelta(seconds=12)),))
        )
        await rig.ship("e", CRASHLOOP, **CRASH)
        waiting = await stopped_by(rig, "e", "wait", "confirm_pending")
        assert [p.alert_key for p in (await rig.store.read()).pending] == [waiting.alert_key]
        await rig.decision("e", lambda d: d.verdict.value == "rollback", "the rollback after the delay")
        await rig.rolled_back("e")

        for name in ("a", "b", "c", "d"):
            assert await rig.image(name) == V2, f"{name} must not have been rolled back"
        assert rig.metric(ROLLBACKS, result="succeeded") == 1


async def test_a_confirmation_is_dropped_when_the_rollout_recovers_first(
    control_plane: ClusterAccess, namespace: str
) -> None:
    config = health_config(namespace, health_route(confirm_for=timedelta(seconds=20)))
    async with watching(control_plane, namespace, config) as rig:
        await rig.create("flaky")
        await rig.ship("flaky", CRASHLOOP, **CRASH)
        await stopped_by(rig, "flaky", "wait", "confirm_pending")
        # Someone ships a fix before the delay is over: the failing revision is no longer live.
        await rig.ship("flaky", None)  # v2 without the crash: revision 3, healthy
        await rig.kubectl("rollout", "status", "deployment/flaky", "--timeout=120s")
        recovered = await rig.decision(
            "flaky", lambda d: d.reason == "rollout_recovered", "the pending one dropped"
        )
        assert "revision 3" in recovered.message
        assert (await rig.store.read()).pending == ()
        assert await rig.image("flaky") == V2
        assert rig.metric(ROLLBACKS, result="succeeded") == 0


async def test_scope_a_denied_namespace_is_never_watched_nor_acted_in(
    control_plane: ClusterAccess, namespace: str
) -> None:
    outside = f"{namespace}-out"
    await asyncio.to_thread(control_plane.kubectl, "create", "namespace", outside)
    try:
        # An empty allow list: one cluster-wide watch, with the deny list applied as objects arrive.
        config = dataclasses.replace(health_config(namespace), namespaces=NamespacePolicy(deny=(outside,)))
        async with watching(control_plane, namespace, config) as rig:
            assert rig.health.watch.namespaces is None
            await rig.create("web", namespace=outside)
            await rig.create("web")
            await rig.ship("web", CRASHLOOP, namespace=outside, **CRASH)
            await asyncio.sleep(3)  # the outside one fails first
            await rig.ship("web", CRASHLOOP, **CRASH)
            await rig.decision("web", lambda d: d.verdict.value == "rollback", "the rollback inside")
            await rig.rolled_back("web")
            assert rig.decided("web", outside) == []
            assert rig.health.watch.uid_of(outside, "web") is None
            assert await rig.image("web", outside) == V2
    finally:
        await asyncio.to_thread(
            control_plane.kubectl,
            "delete",
            "namespace",
            outside,
            "--wait=false",
            "--ignore-not-found",
            check=False,
        )


async def test_two_replicas_watching_the_same_rollout_roll_it_back_once(
    control_plane: ClusterAccess, namespace: str
) -> None:
    config = health_config(namespace)
    async with (
        watching(control_plane, namespace, config, holder="replica-a") as a,
        watching(control_plane, namespace, config, holder="replica-b") as b,
    ):
        await a.create("web")
        await a.ship("web", CRASHLOOP, **CRASH)
        back = await a.rolled_back("web")
        await asyncio.sleep(3)  # let the slower replica finish deciding
        rollbacks = [d for rig in (a, b) for d in rig.decided("web") if d.verdict.value == "rollback"]
        keys = {d.alert_key for rig in (a, b) for d in rig.decided("web")}
        assert len(keys) == 1, "both replicas derived the same episode from the cluster"
        patched = a.metric(ROLLBACKS, result="succeeded") + b.metric(ROLLBACKS, result="succeeded")
        assert patched == 1
        assert len(rollbacks) >= 1
        assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"  # one undo: 1 -> 3
        assert back["spec"]["template"]["spec"]["containers"][0]["image"] == V1
