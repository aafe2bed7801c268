"""What we add to kubectl's undo: an atomic precondition, audit in the same patch, retries in a deadline."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from rollout_support import IMAGE, live_image, releases

from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import Conflict, Forbidden, KubeClient, RetryPolicy, Transient, connect, read_facts, undo
from receiver.k8s import audit as audit_keys
from receiver.k8s.client import JSON_PATCH
from receiver.k8s.facts import facts_from
from receiver.k8s.results import UndoResult
from receiver.k8s.rollout import guarded_patch, plan, snapshot

ALERT_KEY = "3f2a9c@2026-01-01T00:00:00+00:00"


def decision_audit(actor: str, to_revision: int = 2) -> dict[str, str]:
    return audit_keys.audit_annotations(
        actor=actor,
        at=datetime.now(UTC),
        to_revision=to_revision,
        alert_key=ALERT_KEY,
        alert_name="HighErrorRate",
        fingerprint="3f2a9c",
    )


@pytest.fixture
async def kube(control_plane: Any) -> Any:
    client = await connect(control_plane.kubeconfig)
    yield client
    await client.close()


def deployment_ref(namespace: str) -> WorkloadRef:
    return WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web")


async def test_two_concurrent_undos_apply_once_and_the_loser_sees_who_acted(
    control_plane: Any, namespace: str, kube: KubeClient
) -> None:
    releases(control_plane, namespace)
    ref = deployment_ref(namespace)
    facts = await read_facts(kube, ref)
    outcomes = await asyncio.gather(
        *(
            undo(kube, ref, decided_on=facts, audit=decision_audit(actor))
            for actor in ("replica-a", "replica-b")
        ),
        return_exceptions=True,
    )
    applied = [o for o in outcomes if isinstance(o, UndoResult)]
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(applied) == 1 and len(conflicts) == 1, outcomes
    assert not applied[0].skipped and applied[0].target_revision == 2

    # Deciding again on fresh state: the winner's audit is on the object, so the loser skips.
    fresh = await read_facts(kube, ref)
    assert fresh.annotations[audit_keys.LAST_ALERT] == ALERT_KEY
    assert fresh.annotations[audit_keys.ACTOR] == applied[0].annotations_written[audit_keys.ACTOR]
    assert fresh.annotations[audit_keys.ROLLED_BACK_FROM] == "3"
    assert fresh.annotations[audit_keys.ROLLED_BACK_TO] == "2"
    assert fresh.annotations["kubernetes.io/change-cause"] == (
        "rollback-receiver: HighErrorRate (3f2a9c) rolled back to revision 2"
    )
    assert live_image(control_plane, namespace) == f"{IMAGE}:v2"


async def test_status_writes_do_not_invalidate_a_decision_but_a_pinned_version_does(
    control_plane: Any, namespace: str, kube: KubeClient
) -> None:
    releases(control_plane, namespace)
    ref = deployment_ref(namespace)
    facts = await read_facts(kube, ref)
    # a status-only write, as the controller makes while a rollout progresses: new resourceVersion
    status = json.dumps({"status": {"collisionCount": 7}})
    control_plane.kubectl(
        "patch", "deployment/web", "-n", namespace, "--subresource=status", "--type=merge", "-p", status
    )
    with pytest.raises(Conflict, match="resourceVersion"):
        await undo(kube, ref, expect_resource_version=facts.resource_version)
    result = await undo(kube, ref, decided_on=facts, audit=decision_audit("r"))
    assert not result.skipped and live_image(control_plane, namespace) == f"{IMAGE}:v2"


async def test_a_stale_decision_is_a_conflict_and_writes_nothing(
    control_plane: Any, namespace: str, kube: KubeClient
) -> None:
    releases(control_plane, namespace)
    ref = deployment_ref(namespace)
    facts = await read_facts(kube, ref)
    control_plane.kubectl("annotate", "deployment/web", "-n", namespace, "rollback-receiver.io/paused=true")
    with pytest.raises(Conflict, match=r"annotations changed \(rollback-receiver.io/paused\)"):
        await undo(kube, ref, decided_on=facts, audit=decision_audit("r"))
    assert live_image(control_plane, namespace) == f"{IMAGE}:v3"


async def test_history_that_moved_since_the_decision_is_a_conflict(
    control_plane: Any, namespace: str, kube: KubeClient
) -> None:
    releases(control_plane, namespace)
    with pytest.raises(Conflict, match="chose revision 1"):
        await undo(kube, deployment_ref(namespace), audit=decision_audit("r", to_revision=1))
    assert live_image(control_plane, namespace) == f"{IMAGE}:v3"


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
async def test_the_server_rejects_a_patch_computed_from_an_old_version_with_409(
    control_plane: Any, namespace: str, kube: KubeClient, kind: str
) -> None:
    """The precondition is enforced by the API server itself, between our read and our write."""
    releases(control_plane, namespace, kind, count=2)
    ref = WorkloadRef(WorkloadKind(kind), namespace, "web")
    undo_plan = plan(await snapshot(kube, ref), 0)
    control_plane.kubectl("annotate", kind, "web", "-n", namespace, "someone=else")
    path = f"/apis/apps/v1/namespaces/{namespace}/{kind.lower()}s/web"
    with pytest.raises(Conflict) as conflict:
        await kube.request(
            "patch", path, body=guarded_patch(ref, undo_plan, {}), content_type=undo_plan.content_type
        )
    assert conflict.value.status == 409
    assert live_image(control_plane, namespace, kind) == f"{IMAGE}:v2"


async def test_a_json_patch_test_op_would_be_a_422_not_a_409(
    control_plane: Any, namespace: str, kube: KubeClient
) -> None:
    """Why the precondition is a replaced resourceVersion and not a JSON-patch `test` op (documented)."""
    releases(control_plane, namespace, count=1)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    test_op = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}]
    with pytest.raises(Exception) as failure:
        await kube.request("patch", path, body=test_op, content_type=JSON_PATCH)
    assert not isinstance(failure.value, Conflict)
    assert getattr(failure.value, "status", None) == 422


async def test_without_permission_the_error_says_forbidden(control_plane: Any, namespace: str) -> None:
    releases(control_plane, namespace, count=2)
    alice = await connect(control_plane.kubeconfig_for_token(control_plane.user_tokens["alice"]))
    try:
        with pytest.raises(Forbidden) as forbidden:
            await undo(alice, deployment_ref(namespace))
    finally:
        await alice.close()
    assert forbidden.value.status == 403 and "deployments.apps" in forbidden.value.message


class _RetrySeen(logging.Handler):
    """Sets an event when the client logs its first retry: the API server is down and we are waiting."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            self.seen.set()


async def test_undo_survives_an_api_server_restart_within_the_deadline(
    control_plane: Any, namespace: str
) -> None:
    releases(control_plane, namespace)
    ref = deployment_ref(namespace)
    kube = await connect(control_plane.kubeconfig, retry=RetryPolicy(deadline=180, max_backoff=2))
    watcher = _RetrySeen()
    logging.getLogger("receiver.k8s.client").addHandler(watcher)
    try:
        control_plane.stop_apiserver()
        try:
            pending = asyncio.create_task(undo(kube, ref, audit=decision_audit("r")))
            await asyncio.wait_for(watcher.seen.wait(), timeout=60)
            assert not pending.done()
        finally:
            await asyncio.to_thread(control_plane.start_apiserver)
        result = await asyncio.wait_for(pending, timeout=180)
    finally:
        logging.getLogger("receiver.k8s.client").removeHandler(watcher)
        await kube.close()
    assert not result.skipped
    # fully new: the template and every audit annotation, from one patch
    obj = control_plane.kubectl_json("get", "deployment/web", "-n", namespace)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v2"
    assert {k: obj["metadata"]["annotations"].get(k) for k in result.annotations_written} == (
        result.annotations_written
    )


async def test_with_a_short_deadline_the_undo_fails_cleanly_and_nothing_changes(
    control_plane: Any, namespace: str
) -> None:
    releases(control_plane, namespace)
    before = control_plane.kubectl_json("get", "deployment/web", "-n", namespace)
    kube = await connect(control_plane.kubeconfig, retry=RetryPolicy(deadline=2, max_backoff=0.5))
    try:
        control_plane.stop_apiserver()
        try:
            with pytest.raises(Transient) as transient:
                await undo(kube, deployment_ref(namespace), audit=decision_audit("r"))
        finally:
            await asyncio.to_thread(control_plane.start_apiserver)
    finally:
        await kube.close()
    assert "cannot reach the API server" in transient.value.message
    after = control_plane.kubectl_json("get", "deployment/web", "-n", namespace)
    # fully old: same template, same annotations, none of ours
    assert after["metadata"].get("annotations") == before["metadata"].get("annotations")
    assert json.dumps(after["spec"]["template"], sort_keys=True) == json.dumps(
        before["spec"]["template"], sort_keys=True
    )
    assert not any(k.startswith(audit_keys.PREFIX) for k in after["metadata"].get("annotations", {}))


async def test_a_status_write_between_the_read_and_the_patch_is_read_again_not_failed(
    control_plane: Any, namespace: str, kube: KubeClient
) -> None:
    """One read, one decision, one patch, like kubectl; a controller's status write in between makes the
    precondition fail (409), and the undo reads again and patches instead of failing the user's undo."""
    releases(control_plane, namespace)
    ref = deployment_ref(namespace)
    read = await snapshot(kube, ref)
    decided = facts_from(read)
    status_write = {"status": {"conditions": [{"type": "Available", "status": "True", "reason": "Poked"}]}}
    control_plane.kubectl(
        "patch", "deployment/web", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps(status_write),
    )  # fmt: skip
    moved = await snapshot(kube, ref)
    assert moved.workload["metadata"]["resourceVersion"] != read.workload["metadata"]["resourceVersion"]
    result = await undo(kube, ref, decided_on=decided, snapshot_read=read, audit=decision_audit("cli"))
    assert not result.skipped and result.target_revision == 2
    assert live_image(control_plane, namespace) == f"{IMAGE}:v2"
