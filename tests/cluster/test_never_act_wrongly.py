"""Ways the receiver could act when it must not, each closed on the real control plane: a resolve that
arrives first, a transient failure remembered as final, a claim that never ends, an unbounded pending list,
a workload someone else manages, a hand-edited or deleted state ConfigMap."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta

import pytest
from guard_support import V1, V2, base_config, manifest, rig, route
from test_guards_scope import assert_rolled_back, assert_stopped

from receiver.core import ledger
from receiver.core.alerts import AlertStatus
from receiver.core.ledger import Claim, Outcome, PendingConfirmation, claim_key
from receiver.core.settings import StateConfig
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s.state import DATA_KEY

MEDIUM = route("medium", confirm_for=timedelta(minutes=5))


async def test_a_resolve_processed_first_wins_over_the_firing_copy(control_plane, namespace) -> None:
    async with rig(control_plane, namespace, base_config(namespace, (MEDIUM,))) as r:
        r.deploy("web")
        firing = r.alert("web")
        # The resolve overtakes the firing notification (another worker, another replica).
        await r.handle(dataclasses.replace(firing, status=AlertStatus.RESOLVED))
        await r.handle(firing)
        assert r.last_decision() == ("skip", "alert_resolved")
        assert (await r.state()).pending == ()
        r.advance(timedelta(minutes=6))
        await r.act.tick()
        assert r.image("web") == V2


async def test_a_workload_not_found_yet_is_decided_again(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        alert = r.alert("late", starts_at=r.now() + timedelta(minutes=2))
        await r.handle(alert)
        decision = r.decisions.recent(1)[0]
        assert (decision.reason, decision.transient) == ("target_unresolved", True)
        assert not r.act.has_decided(alert, r.config.routes[0])  # reconciliation will feed it again
        r.deploy("late")
        await r.handle(alert)
        assert_rolled_back(r, "late")


async def test_a_claim_that_cannot_be_followed_ends_unknown(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")  # exists, but never carried our annotation: the audit trail was lost
        long_ago = r.now() - timedelta(hours=2)
        claims = [
            Claim(
                claim_key(f"ep{n}", ref),
                f"ep{n}",
                "HighErrorRate",
                ref,
                long_ago,
                "gone",
                patched_at=long_ago,
            )
            for n, ref in enumerate(
                (
                    WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web"),
                    WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "deleted"),
                )
            )
        ]

        def add(state):
            for claim in claims:
                state = ledger.add_claim(state, claim)
            return state, state

        await r.store.update(add, now=r.now())
        await r.act.tick()
        state = await r.state()
        assert [c.outcome for c in state.claims] == [Outcome.UNKNOWN, Outcome.UNKNOWN]
        assert state.inflight == 0  # max_concurrent is free again
        assert "cannot be followed" in state.claims[0].message
        assert r.metric("rollback_receiver_rollbacks_total", {"result": "unknown"}) == 2


async def test_the_pending_list_is_bounded_and_a_critical_alert_still_acts(control_plane, namespace) -> None:
    critical = route("critical")
    config = dataclasses.replace(
        base_config(namespace, (critical, MEDIUM)),
        state=StateConfig(namespace=namespace, name="rollback-receiver-state", max_pending=5),
    )
    async with rig(control_plane, namespace, config) as r:
        r.deploy("web")

        def prefill(state):
            for n in range(4):
                due = r.now() + timedelta(hours=1)
                state = ledger.add_pending(
                    state, PendingConfirmation(f"old{n}|medium", f"old{n}", "medium", due, {})
                )
            return state, state

        await r.store.update(prefill, now=r.now())
        for _ in range(3):
            await r.handle(r.alert("web"), route_=MEDIUM)
        reasons = [d.reason for d in r.decisions.recent(3)]
        assert reasons == ["pending_full", "pending_full", "confirm_pending"]
        assert all(d.transient for d in r.decisions.recent(2))
        assert r.metric("rollback_receiver_pending_refused_total") == 2
        assert len((await r.state()).pending) == 5
        stored = r.cp.kubectl_json("get", "configmap", "rollback-receiver-state", "-n", namespace)
        assert len(stored["data"][DATA_KEY]) < config.state.max_pending_bytes

        await r.handle(r.alert("web"), route_=critical)
        assert_rolled_back(r, "web")


def _deploy_owned(r, name: str, *, labels=None, annotations=None, owners=None) -> None:
    doc = manifest(name, V1)
    doc["metadata"].update(labels=labels or {}, annotations=annotations or {})
    if owners:
        doc["metadata"]["ownerReferences"] = owners
    r.cp.kubectl("create", "-n", r.ns, "-f", "-", input=json.dumps(doc))
    r.wait(name)
    r.set_image(name, V2)


async def test_whoever_manages_the_workload_decides_the_action(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        _deploy_owned(
            r, "argo", annotations={"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:x/argo"}
        )
        _deploy_owned(
            r,
            "flux",
            labels={
                "kustomize.toolkit.fluxcd.io/name": "shop",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            },
        )
        _deploy_owned(
            r,
            "helm",
            labels={"app.kubernetes.io/managed-by": "Helm"},
            annotations={"meta.helm.sh/release-name": "shop", "meta.helm.sh/release-namespace": namespace},
        )
        r.cp.kubectl("create", "configmap", "owner", "-n", namespace)
        owner_uid = r.cp.kubectl_json("get", "configmap", "owner", "-n", namespace)["metadata"]["uid"]
        owner = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "owner",
            "uid": owner_uid,
            "controller": True,
        }
        _deploy_owned(r, "owned", owners=[owner])

        await r.handle(r.alert("argo"))
        assert_stopped(r, "argo", "notify", "argocd_managed")
        await r.handle(r.alert("flux"))
        assert_stopped(r, "flux", "notify", "flux_managed")
        await r.handle(r.alert("owned"))
        assert_stopped(r, "owned", "skip", "owned_by_controller")
        assert "controlled by ConfigMap/owner" in r.decisions.recent(1)[0].message

        await r.handle(r.alert("helm"))
        assert_rolled_back(r, "helm")
        triggered = [m for reason, m in r.events("helm") if reason == "RollbackTriggered"]
        assert any(f"`helm rollback shop -n {namespace}`" in m for m in triggered), triggered


HAND_EDITS = [
    {"claimed_at": "2026-12-01T10:00:00"},  # no timezone
    {"claimed_at": "2026-12-01T10:00:00Z", "verify_timeout_seconds": 1e308},  # a huge number
    {"claimed_at": 17},  # a wrong type
    {"claimed_at": "2026-12-01T10:00:00Z", "key": "no-target-in-this-key"},
]


@pytest.mark.parametrize("edit", HAND_EDITS, ids=["no-timezone", "huge-number", "wrong-type", "bad-key"])
async def test_a_hand_edited_state_refuses_to_act_and_says_why(control_plane, namespace, edit) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        claim = {"key": "k|Deployment/shop/x", "alert_key": "k", "holder": "h", **edit}
        document = json.dumps({"schema": 1, "claims": [claim]})
        literal = f"--from-literal={DATA_KEY}={document}"
        r.cp.kubectl("create", "configmap", "rollback-receiver-state", "-n", namespace, literal)
        await r.handle(r.alert("web"))
        decision = r.decisions.recent(1)[0]
        assert (decision.reason, decision.transient) == ("api_error", True)
        assert "not readable" in decision.message
        assert r.metric("rollback_receiver_kube_api_errors_total", {"kind": "state"}) == 1
        assert r.image("web") == V2


async def test_a_deleted_state_reopens_the_breaker(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        await r.store.update(
            lambda s: (ledger.open_breaker(s, "3 consecutive rollbacks failed", r.now()),) * 2, now=r.now()
        )
        r.cp.kubectl("delete", "configmap", "rollback-receiver-state", "-n", namespace)
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "breaker_open")
        assert "was deleted" in r.decisions.recent(1)[0].message
        await r.act.reset_breaker("alice")
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_a_change_freeze_blocks_inside_it_and_not_outside(control_plane, namespace) -> None:
    from datetime import UTC, datetime

    from receiver.core.time_intervals import parse_intervals

    this_year = str(datetime.now(UTC).year)
    frozen = route("critical", freeze_time_intervals=("this-year",))
    config = dataclasses.replace(
        base_config(namespace, (frozen,)),
        time_intervals={"this-year": parse_intervals([{"years": [this_year]}], "t")},
    )
    async with rig(control_plane, namespace, config) as r:
        r.deploy("web")
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "notify", "change_freeze")
        assert "during the change freeze 'this-year'" in r.decisions.recent(1)[0].message

        r.advance(timedelta(days=366))  # next year: outside the freeze
        await r.handle(r.alert("web", starts_at=r.now() - r.offset))
        assert_rolled_back(r, "web")


async def test_last_known_good_skips_a_revision_we_rolled_back_from(control_plane, namespace) -> None:
    from receiver.core.settings import RevisionChoice, RevisionSpec

    lkg = dataclasses.replace(
        route("critical"),
        revision=RevisionSpec(to=RevisionChoice.LAST_KNOWN_GOOD, stable_for=timedelta(seconds=1)),
    )
    async with rig(control_plane, namespace, base_config(namespace, (lkg,))) as r:
        r.deploy("web", V1)
        await asyncio.sleep(2)  # v1 ran longer than stable_for (revisions are dated to the second)
        r.set_image("web", V2)  # v2 turns out bad
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")  # to v1; v2's template is now one we rolled back from
        r.set_image("web", V2)  # a pipeline deploys the bad v2 again ...
        await asyncio.sleep(2)
        r.set_image("web", "registry.example/shop:v3")  # ... and then v3, which is bad too
        r.advance(timedelta(hours=1))  # past the cooldown
        await r.handle(r.alert("web", starts_at=r.now() - r.offset))
        decision = r.decisions.recent(1)[0]
        assert decision.reason == "eligible", decision.message
        # kubectl's "previous" would be the redeployed v2; the last known good is v1
        assert r.image("web") == V1
