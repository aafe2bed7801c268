"""kubectl-equivalent `rollout history` and `rollout undo` for Deployments, StatefulSets and DaemonSets.

The REST sequence is kubectl's (GET the workload, LIST its ReplicaSets / ControllerRevisions, one PATCH),
plus what kubectl lacks: the patch carries the `resourceVersion` it was computed from, so it applies
atomically to exactly the state we decided on (409 Conflict otherwise), and our audit annotations ride in
the same patch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receiver.k8s import audit, controllerrevisions, deployments, resources
from receiver.k8s.client import FIELD_MANAGER, Json, KubeClient
from receiver.k8s.errors import Conflict
from receiver.k8s.results import UndoPlan, UndoResult
from receiver.k8s.snapshots import Snapshot, list_all, revisions_of, snapshot
from receiver.workload import Revision, WorkloadKind, WorkloadRef

__all__ = ["Snapshot", "guarded_patch", "history", "list_all", "plan", "revisions_of", "snapshot", "undo"]


async def history(kube: KubeClient, ref: WorkloadRef) -> tuple[Revision, ...]:
    return revisions_of(await snapshot(kube, ref))


def plan(snap: Snapshot, to_revision: int) -> UndoPlan:
    if snap.ref.kind is WorkloadKind.DEPLOYMENT:
        return deployments.plan_undo(snap.workload, snap.history, to_revision)
    return controllerrevisions.plan_undo(snap.workload, snap.history, to_revision)


def guarded_patch(ref: WorkloadRef, undo_plan: UndoPlan, annotations: Mapping[str, str]) -> Any:
    """kubectl's patch plus our precondition (`resourceVersion`) and our annotations, as ONE body."""
    rv = undo_plan.resource_version
    if ref.kind is WorkloadKind.DEPLOYMENT:
        ops: list[Json] = [dict(op) for op in undo_plan.patch]
        for op in ops:
            if op["path"] == "/metadata/annotations":
                op["value"] = {**op["value"], **annotations}
        # A replaced resourceVersion is the update's precondition: the server answers 409 if it moved.
        ops.append({"op": "replace", "path": "/metadata/resourceVersion", "value": rv})
        return ops
    body: Json = dict(undo_plan.patch)
    metadata: Json = {"resourceVersion": rv}
    if annotations:
        metadata["annotations"] = dict(annotations)
    body["metadata"] = metadata
    return body


def _with_revisions(audit_map: Mapping[str, str], undo_plan: UndoPlan) -> dict[str, str]:
    decided = audit_map.get(audit.ROLLED_BACK_TO, "0")
    if decided != "0" and decided != str(undo_plan.target_revision):
        raise Conflict(
            f"history changed since the decision: it chose revision {decided}, "
            f"kubectl's rules now give revision {undo_plan.target_revision}",
            reason="HistoryChanged",
        )
    result = audit.pin_revision(audit_map, undo_plan.target_revision)
    if undo_plan.from_revision is not None:
        result[audit.ROLLED_BACK_FROM] = str(undo_plan.from_revision)
    return result


async def undo(
    kube: KubeClient,
    ref: WorkloadRef,
    *,
    to_revision: int = 0,
    dry_run: bool = False,
    expect_resource_version: str | None = None,
    audit: Mapping[str, str] | None = None,
) -> UndoResult:
    """`kubectl rollout undo`, atomically.

    Raises `UndoRefused` (kubectl's message) for paused / no history / unknown revision; returns a skipped
    result when the template already matches; raises `Conflict` when the workload is no longer at
    `expect_resource_version` (or changed between our read and the patch, or its history no longer leads
    to the revision named in `audit`). `dry_run` sends the same patch with `dryRun=All`.
    """
    snap = await snapshot(kube, ref)
    undo_plan = plan(snap, to_revision)
    if expect_resource_version is not None and undo_plan.resource_version != expect_resource_version:
        raise Conflict(
            f"{resources.describe(ref)} changed since the decision "
            f"(resourceVersion {expect_resource_version} -> {undo_plan.resource_version})",
            status=409,
            reason="Conflict",
            verb="patch",
            target=resources.describe(ref),
        )
    if undo_plan.skipped_message is not None:
        return UndoResult(
            ref=ref,
            skipped=True,
            message=undo_plan.skipped_message,
            target_revision=undo_plan.target_revision,
            from_revision=undo_plan.from_revision,
            dry_run=dry_run,
        )
    annotations = _with_revisions(audit, undo_plan) if audit is not None else {}
    query = {"fieldManager": FIELD_MANAGER}
    if dry_run:
        query["dryRun"] = "All"
    patched = await kube.request(
        "patch",
        resources.workload_path(ref),
        query=query,
        body=guarded_patch(ref, undo_plan, annotations),
        content_type=undo_plan.content_type,
        what=resources.describe(ref),
        deadline=None,
    )
    return UndoResult(
        ref=ref,
        skipped=False,
        message="rolled back",
        target_revision=undo_plan.target_revision,
        from_revision=undo_plan.from_revision,
        dry_run=dry_run,
        resource_version=str(patched.get("metadata", {}).get("resourceVersion", "")),
        annotations_written=annotations,
    )
