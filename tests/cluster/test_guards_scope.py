"""Scope, kill switches, GitOps and kubectl's refusals on the real control plane: each guard first stops a
rollback that would otherwise happen (reason in the Event and in the metric), then lets it through."""

from __future__ import annotations

import dataclasses

from guard_support import V1, V2, V3, Rig, base_config, rig, route

from receiver.core.settings import Action, GitOpsPolicy, Mode, NamespacePolicy, RevisionSpec, TargetSpec
from receiver.core.workload import WorkloadKind


def assert_rolled_back(r: Rig, name: str, to: str = V1) -> None:
    assert r.image(name) == to, r.decisions.recent(1)[0]
    reasons = r.event_reasons(name)
    assert "RollbackTriggered" in reasons and "RollbackSucceeded" in reasons, reasons
    assert r.counted("rollback", "eligible") >= 1
    assert r.metric("rollback_receiver_rollbacks_total", {"result": "succeeded"}) >= 1


def assert_stopped(
    r: Rig, name: str, verdict: str, reason: str, *, event: bool = True, image: str = V2
) -> None:
    assert r.last_decision() == (verdict, reason)
    assert r.counted(verdict, reason) >= 1
    assert r.image(name) == image
    if event:
        kind = {"skip": "RollbackSkipped", "notify": "RollbackNotify", "wait": "RollbackPending"}[verdict]
        assert r.has_event(name, kind, reason), r.events(name)


async def test_namespace_scope(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        await r.reconfigure(namespaces=NamespacePolicy(allow=("payments",)))
        await r.handle(r.alert("web"))
        # Out of scope: not even an Event is written in a namespace we were not given.
        assert_stopped(r, "web", "skip", "namespace_denied", event=False)
        assert r.events("web") == []

        await r.reconfigure(namespaces=NamespacePolicy(allow=(namespace,)))
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_own_namespace_is_denied(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        await r.reconfigure(own_namespace=namespace)
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "namespace_denied", event=False)
        await r.reconfigure(own_namespace="rollback-receiver")
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_workload_opt_out_and_opt_in(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        r.annotate("web", "rollback-receiver.io/enabled=false")
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "workload_opted_out")

        opt_in = dataclasses.replace(route(), guards=dataclasses.replace(route().guards, require_opt_in=True))
        await r.reconfigure(routes=(opt_in,))
        r.annotate("web", "rollback-receiver.io/enabled-")
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "workload_not_opted_in")

        r.annotate("web", "rollback-receiver.io/enabled=true")
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_kill_switches(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        await r.reconfigure(paused=True)
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "paused")

        await r.reconfigure(paused=False)
        r.annotate("web", "rollback-receiver.io/paused=true")
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "workload_paused")

        r.annotate("web", "rollback-receiver.io/paused=false")
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_gitops_owned_workloads_are_notify_only(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        r.annotate("web", "argocd.argoproj.io/tracking-id=shop:apps/Deployment:shop/web")
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "notify", "argocd_managed")

        allow = dataclasses.replace(
            route(), guards=dataclasses.replace(route().guards, gitops=GitOpsPolicy.ALLOW)
        )
        await r.reconfigure(routes=(allow,))
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_paused_deployment_is_refused_like_kubectl(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        r.kubectl("rollout", "pause", "deployment/web")
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "deployment_paused")
        assert any("resume it first" in message for _, message in r.events("web"))

        r.kubectl("rollout", "resume", "deployment/web")
        r.wait("web")
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_no_history_then_history(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web", V1)
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "no_history", image=V1)

        r.set_image("web", V2)
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_requested_revision_must_exist_and_differ(control_plane, namespace) -> None:
    pinned = dataclasses.replace(route(), revision=RevisionSpec(from_annotation="rollback_to_revision"))
    async with rig(control_plane, namespace, base_config(namespace, (pinned,))) as r:
        r.deploy("web", V1, V2, V3)
        await r.handle(r.alert("web", annotations={"rollback_to_revision": "9"}))
        assert_stopped(r, "web", "skip", "unknown_revision", image=V3)
        await r.handle(r.alert("web", annotations={"rollback_to_revision": "3"}))
        assert_stopped(r, "web", "skip", "already_at_target", image=V3)

        await r.handle(r.alert("web", annotations={"rollback_to_revision": "--to-revision=1"}))
        assert_rolled_back(r, "web", to=V1)


async def test_truncated_payload_does_nothing(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        await r.handle(r.alert("web"), truncated=2)
        assert_stopped(r, "web", "skip", "payload_truncated")
        await r.handle(r.alert("web"), truncated=0)
        assert_rolled_back(r, "web")


async def test_unresolvable_and_ambiguous_targets_do_nothing(control_plane, namespace) -> None:
    by_selector = dataclasses.replace(
        route(),
        target=TargetSpec(
            WorkloadKind.DEPLOYMENT,
            "{{ labels.namespace }}",
            selector="tier={{ labels.tier }}",
            max_targets=1,
        ),
    )
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        r.deploy("api")
        r.kubectl("label", "deployment/web", "deployment/api", "tier=front")

        await r.handle(r.alert("nope"))
        assert r.last_decision() == ("skip", "target_unresolved")
        assert r.counted("skip", "target_unresolved") == 1

        await r.reconfigure(routes=(by_selector,))
        selector_alert = dataclasses.replace(
            r.alert("web"), labels={"alertname": "X", "namespace": namespace, "tier": "front"}
        )
        await r.handle(selector_alert)
        assert r.last_decision() == ("skip", "target_ambiguous")
        assert r.image("web") == V2 and r.image("api") == V2

        wider = dataclasses.replace(
            by_selector, target=dataclasses.replace(by_selector.target, max_targets=2)
        )
        await r.reconfigure(routes=(wider,))
        await r.handle(dataclasses.replace(selector_alert, fingerprint="0123456789abcdef"))
        assert r.image("web") == V1 and r.image("api") == V1


async def test_dry_run_writes_nothing(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        before = r.get("web")["metadata"]["resourceVersion"]
        await r.reconfigure(mode=Mode.DRY_RUN)
        await r.handle(r.alert("web"))
        assert r.last_decision() == ("dry-run", "dry_run")
        assert r.has_event("web", "RollbackDryRun", "dry_run")
        assert r.get("web")["metadata"]["resourceVersion"] == before

        await r.reconfigure(mode=Mode.ENFORCE)
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_notify_and_ignore_routes_never_write(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        for action, verdict, reason in (
            (Action.NOTIFY, "notify", "route_notify"),
            (Action.IGNORE, "skip", "route_ignore"),
        ):
            await r.reconfigure(routes=(dataclasses.replace(route(), action=action),))
            await r.handle(r.alert("web"))
            assert r.last_decision() == (verdict, reason)
        assert r.image("web") == V2
        assert r.has_event("web", "RollbackNotify", "route_notify")
