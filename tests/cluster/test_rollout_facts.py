"""Reading facts for the guards, resolving targets, and recording Events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from rollout_support import IMAGE, releases

from harness.waiting import eventually
from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import AmbiguousTarget, EventRecorder, NotFound, connect, read_facts, resolve, undo
from receiver.k8s import audit as audit_keys


async def test_facts_name_the_live_revision_and_when_it_went_live(control_plane: Any, namespace: str) -> None:
    releases(control_plane, namespace)
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web")
    kube = await connect(control_plane.kubeconfig)
    try:
        facts = await read_facts(kube, ref)
        assert [r.number for r in facts.revisions] == [1, 2, 3]
        assert facts.current_revision == 3 and not facts.paused
        assert facts.current_revision_since == facts.revisions[-1].created_at
        assert facts.revisions[1].change_cause == "release v2"

        at = datetime.now(UTC).replace(microsecond=0)
        audit = audit_keys.audit_annotations(actor="test", at=at, to_revision=2, alert_key="k")
        await undo(kube, ref, decided_on=facts, audit=audit)

        def renumbered() -> Any:
            return (
                control_plane.kubectl_json("get", "deployment/web", "-n", namespace)["metadata"][
                    "annotations"
                ].get("deployment.kubernetes.io/revision")
                == "4"
            )

        eventually(renumbered, what="the restored ReplicaSet to become revision 4")
        after = await read_facts(kube, ref)
    finally:
        await kube.close()
    # revision 2's ReplicaSet is reused: it went live now, not when it was first created
    assert after.current_revision == 4
    assert [r.number for r in after.revisions] == [1, 3, 4]
    assert after.current_revision_since is not None and after.current_revision_since >= at
    assert after.revisions[-1].created_at == facts.revisions[1].created_at
    assert after.revisions[-1].annotations[audit_keys.ROLLED_BACK_AT] == audit[audit_keys.ROLLED_BACK_AT]


async def test_facts_for_a_statefulset(control_plane: Any, namespace: str) -> None:
    releases(control_plane, namespace, "StatefulSet", count=2)
    kube = await connect(control_plane.kubeconfig)
    try:
        facts = await read_facts(kube, WorkloadRef(WorkloadKind.STATEFULSET, namespace, "web"))
    finally:
        await kube.close()
    assert [r.number for r in facts.revisions] == [1, 2] and facts.current_revision == 2
    assert (
        facts.current_revision_since is not None
        and facts.current_revision_since >= facts.revisions[0].created_at
    )


async def test_resolve_by_name_list_and_selector_with_a_cap(control_plane: Any, namespace: str) -> None:
    for name in ("web", "api", "worker"):
        manifest = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": {"tier": "shop"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "a", "image": IMAGE}]},
                },
            },
        }
        control_plane.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    kind = WorkloadKind.DEPLOYMENT
    kube = await connect(control_plane.kubeconfig)
    try:
        assert [r.name for r in await resolve(kube, kind, namespace, name="web")] == ["web"]
        listed = await resolve(kube, kind, namespace, names=["web", "gone", "api"], cap=3)
        assert [r.name for r in listed] == ["web", "api"]
        assert len(await resolve(kube, kind, namespace, selector="tier=shop", cap=3)) == 3
        with pytest.raises(AmbiguousTarget) as ambiguous:
            await resolve(kube, kind, namespace, selector="tier=shop", cap=2)
        assert ambiguous.value.matches == ("api", "web", "worker")
        with pytest.raises(NotFound):
            await resolve(kube, kind, namespace, selector="tier=nothing", cap=2)
        with pytest.raises(NotFound):
            await resolve(kube, kind, namespace, name="gone")
    finally:
        await kube.close()


async def test_events_are_recorded_on_the_workload(control_plane: Any, namespace: str) -> None:
    releases(control_plane, namespace, count=1)
    uid = control_plane.kubectl_json("get", "deployment/web", "-n", namespace)["metadata"]["uid"]
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web")
    kube = await connect(control_plane.kubeconfig)
    try:
        recorder = EventRecorder()
        await recorder.emit(kube, ref, uid=uid, reason="RollbackSkipped", message="cooldown: acted 3m ago")
        # a failure to record is logged, never raised (no such namespace)
        await recorder.emit(
            kube, WorkloadRef(ref.kind, "no-such-ns", "web"), uid=uid, reason="X", message="y"
        )
    finally:
        await kube.close()
    events = control_plane.kubectl_json(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=web,reason=RollbackSkipped"
    )["items"]
    assert len(events) == 1
    event = events[0]
    assert event["involvedObject"]["uid"] == uid and event["involvedObject"]["kind"] == "Deployment"
    assert event["message"] == "cooldown: acted 3m ago" and event["type"] == "Normal"
    assert event["source"]["component"] == "rollback-receiver"
    assert parse_rfc3339_or_none(event["lastTimestamp"]) is not None
