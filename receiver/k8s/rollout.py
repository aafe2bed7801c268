"""kubectl-equivalent `rollout history` and `rollout undo` for Deployments, StatefulSets and DaemonSets.

The REST sequence is kubectl's (GET the workload, LIST its ReplicaSets / ControllerRevisions, one PATCH),
plus what kubectl lacks: the patch carries the `resourceVersion` it was computed from, so it applies
atomically to exactly the state we read (409 Conflict otherwise); the decision's facts are re-checked
against that state; and our audit annotations ride in the same patch.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.core.workload import Revision, WorkloadFacts, WorkloadKind, WorkloadRef
from receiver.k8s import audit, controllerrevisions, deployments, resources
from receiver.k8s.client import FIELD_MANAGER, Json, KubeClient
from receiver.k8s.errors import Conflict
from receiver.k8s.facts import changes_since, facts_from
from receiver.k8s.results import UndoPlan, UndoResult
from receiver.k8s.snapshots import Snapshot, list_all, revisions_of, snapshot

__all__ = ["Snapshot", "guarded_patch", "history", "list_all", "plan", "revisions_of", "snapshot", "undo"]


async def history(kube: KubeClient, ref: WorkloadRef) -> tuple[Revision, ...]:
    return revisions_of(await snapshot(kube, ref))


def plan(snap: Snapshot, to_revision: int) -> UndoPlan:
    if snap.ref.kind is WorkloadKind.DEPLOYMENT:
        return deployments.plan_undo(snap.workload, snap.history, to_revision)
    return controllerrevisions.plan_undo(snap.workload, snap.history, to_revision, snap.revision_data)


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


def _with_revisions(audit_map: Mapping[str, str], undo_plan: UndoPlan, snap: Snapshot) -> dict[str, str]:
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
    revisions = revisions_of(snap)
    restored = next((r for r in revisions if r.number == undo_plan.target_revision), None)
    if restored is not None and restored.template_hash:
        result[audit.ROLLED_BACK_TO_TEMPLATE] = restored.template_hash
    left = next((r for r in revisions if r.number == undo_plan.from_revision), None)
    if left is not None and left.template_hash:
        result[audit.ROLLED_BACK_FROM_TEMPLATE] = left.template_hash
    return result


_ATTEMPTS_AFTER_STATUS_WRITES = 3  # server 409s tolerated when a re-read shows nothing that matters changed


async def undo(
    kube: KubeClient,
    ref: WorkloadRef,
    *,
    to_revision: int = 0,
    dry_run: bool = False,
    expect_resource_version: str | None = None,
    audit: Mapping[str, str] | None = None,
    decided_on: WorkloadFacts | None = None,
    snapshot_read: Snapshot | None = None,
) -> UndoResult:
    """`kubectl rollout undo`, atomically.

    Raises `UndoRefused` (kubectl's message) for paused / no history / unknown revision; returns a skipped
    result when the template already matches. The patch carries the resourceVersion it was computed from,
    so it never applies to a state we did not read. Raises `Conflict` when:
    - `expect_resource_version` is given and the workload is no longer at exactly that version;
    - `decided_on` (the facts of the decision) is given and something the decision depended on changed:
      spec, annotations, labels, live revision or history. Status-only writes by the controller do not
      count: if one lands between our read and our patch, we re-read, re-check and patch again;
    - the history no longer leads to the revision pinned in `audit` (`rolled-back-to`).
    `dry_run` sends the same patch with `dryRun=All`. `snapshot_read` is a snapshot the caller already
    decided on: the first attempt uses it instead of reading again (one read, like kubectl's), and the
    patch's resourceVersion precondition makes that safe.
    """
    for attempt in range(1, _ATTEMPTS_AFTER_STATUS_WRITES + 1):
        if attempt == 1 and snapshot_read is not None:
            snap = snapshot_read
        else:
            snap = await snapshot(kube, ref)
        _check_preconditions(snap, expect_resource_version, decided_on)
        try:
            return await _undo_once(kube, snap, to_revision=to_revision, dry_run=dry_run, audit_map=audit)
        except Conflict:
            if decided_on is None or attempt == _ATTEMPTS_AFTER_STATUS_WRITES:
                raise
    raise AssertionError("unreachable")


def _check_preconditions(snap: Snapshot, expect_rv: str | None, decided_on: WorkloadFacts | None) -> None:
    ref = snap.ref
    current_rv = str(snap.workload["metadata"].get("resourceVersion", ""))
    reason = None
    if expect_rv is not None and current_rv != expect_rv:
        reason = f"resourceVersion {expect_rv} -> {current_rv}"
    elif decided_on is not None:
        reason = changes_since(decided_on, facts_from(snap))
    if reason is not None:
        raise Conflict(
            f"{resources.describe(ref)} changed since the decision: {reason}",
            status=409,
            reason="Conflict",
            verb="patch",
            target=resources.describe(ref),
        )


async def _undo_once(
    kube: KubeClient, snap: Snapshot, *, to_revision: int, dry_run: bool, audit_map: Mapping[str, str] | None
) -> UndoResult:
    ref = snap.ref
    undo_plan = plan(snap, to_revision)
    if undo_plan.skipped_message is not None:
        return UndoResult(
            ref=ref,
            skipped=True,
            message=undo_plan.skipped_message,
            target_revision=undo_plan.target_revision,
            from_revision=undo_plan.from_revision,
            dry_run=dry_run,
        )
    annotations = _with_revisions(audit_map, undo_plan, snap) if audit_map is not None else {}
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
        applied_at=_applied_at(patched),
    )


def _applied_at(patched: Json) -> datetime | None:
    """When the API server applied our patch, on its own clock (our field manager's managedFields time)."""
    times = [
        parse_rfc3339_or_none(entry.get("time"))
        for entry in patched.get("metadata", {}).get("managedFields") or ()
        if entry.get("manager") == FIELD_MANAGER
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None
