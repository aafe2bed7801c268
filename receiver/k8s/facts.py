"""`WorkloadFacts` from a snapshot: what the guards decide on, and what must not change before the patch."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.core.workload import OwnerReference, WorkloadFacts, WorkloadKind
from receiver.k8s import argo, audit, controllerrevisions, deployments
from receiver.k8s.snapshots import Snapshot, revisions_of


def facts_from(snap: Snapshot) -> WorkloadFacts:
    meta = snap.workload["metadata"]
    current, since = _current(snap)
    is_rollout = snap.ref.kind is WorkloadKind.ROLLOUT
    return WorkloadFacts(
        ref=snap.ref,
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        generation=int(meta.get("generation") or 0),
        labels=dict(meta.get("labels") or {}),
        annotations=_annotations(snap),
        owners=tuple(
            OwnerReference(str(o.get("kind", "")), str(o.get("name", "")), bool(o.get("controller")))
            for o in meta.get("ownerReferences") or ()
        ),
        paused=bool(snap.workload.get("spec", {}).get("paused")),
        current_revision=current,
        current_revision_since=since,
        revisions=revisions_of(snap),
        rollout=argo.state(snap.workload, snap.referenced) if is_rollout else None,
        referenced_by=snap.referenced_by,
    )


def _annotations(snap: Snapshot) -> dict[str, str]:
    """The workload's annotations. A `workloadRef` Rollout's undo patches its Deployment, so our audit
    annotations are there: they count as the Rollout's (its own annotations win)."""
    own = dict(snap.workload["metadata"].get("annotations") or {})
    if snap.referenced is None:
        return own
    theirs = snap.referenced["metadata"].get("annotations") or {}
    return {**{k: v for k, v in theirs.items() if audit.is_ours(k) or k == audit.CHANGE_CAUSE}, **own}


def _current(snap: Snapshot) -> tuple[int | None, datetime | None]:
    if snap.ref.kind is WorkloadKind.DEPLOYMENT:
        rs = deployments.find_new_replica_set(snap.workload, snap.history)
        if rs is None:
            return deployments.current_revision(snap.workload, snap.history), None
        return deployments.revision_number(rs), replica_set_went_live(snap.workload, rs)
    if snap.ref.kind is WorkloadKind.ROLLOUT:
        rs = argo.current_replica_set(snap.workload, snap.history, snap.referenced)
        if rs is None:
            return argo.current_revision(snap.workload, snap.history, snap.referenced), None
        went_live = replica_set_went_live(
            snap.workload, rs, revision_history=argo.REVISION_HISTORY, audit_from=_annotations(snap)
        )
        return argo.revision_number(rs), went_live
    cr = controllerrevisions.current_revision(snap.workload, snap.history, snap.revision_data)
    if cr is None:
        return None, None
    return controllerrevisions.revision_number(cr), controller_revision_went_live(cr)


def replica_set_went_live(
    deployment: dict[str, object],
    rs: dict[str, object],
    *,
    revision_history: str = deployments.REVISION_HISTORY,
    audit_from: Mapping[str, str] | None = None,
) -> datetime | None:
    """When the rollout to this RS's template last started (`deployment`: its Deployment or Rollout).

    A fresh RS went live when it was created. An RS that a rollback re-used (it carries
    `revision-history`) is older than its rollout, so we take the most recent of: its creation, our
    `rolled-back-at` stamp (copied from the Deployment by the controller), and the Deployment's
    Progressing condition `lastUpdateTime` when that condition names this RS (it is reset by every
    rollout: "ReplicaSet "x" is progressing." / "... has successfully progressed."). The last one can
    be later than the actual start (up to the rollout's duration), which errs towards "recent".
    Argo Rollouts keeps the same annotations (`rollout.argoproj.io/revision-history`) and conditions; a
    canary's rollout starts with its first canary pod, not at its promotion. `audit_from` is where our
    `rolled-back-at` is when not on the ReplicaSet (a workloadRef Rollout's Deployment).
    """
    meta = rs.get("metadata")
    assert isinstance(meta, dict)
    annotations = meta.get("annotations") or {}
    stamped = annotations.get(audit.ROLLED_BACK_AT) or (audit_from or {}).get(audit.ROLLED_BACK_AT)
    status = deployment.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    progressing = next((c for c in conditions or () if c.get("type") == "Progressing"), None)
    return went_live(
        str(meta.get("name", "")),
        parse_rfc3339_or_none(meta.get("creationTimestamp")),
        reused=revision_history in annotations,
        rolled_back_at=parse_rfc3339_or_none(stamped),
        progressing=progressing,
    )


def went_live(
    name: str,
    created: datetime | None,
    *,
    reused: bool,
    rolled_back_at: datetime | None,
    progressing: Mapping[str, object] | None,
) -> datetime | None:
    """`replica_set_went_live` on the parts it reads (the rollout-health watch keeps only those)."""
    if not reused:
        return created
    candidates = [created, rolled_back_at]
    if progressing is not None and f'"{name}"' in str(progressing.get("message", "")):
        candidates.append(parse_rfc3339_or_none(progressing.get("lastUpdateTime")))
    known = [c for c in candidates if c is not None]
    return max(known) if known else None


def controller_revision_went_live(cr: dict[str, object]) -> datetime | None:
    """When this ControllerRevision last became current.

    A ControllerRevision's `data` is immutable; the controller only creates it or bumps its `revision`
    when a rollback re-uses it. Both are writes by the controller, so the newest managedFields time is
    when it (re)went live. Falls back to the creation time.
    """
    meta = cr.get("metadata")
    assert isinstance(meta, dict)
    times = [parse_rfc3339_or_none(meta.get("creationTimestamp"))]
    times += [parse_rfc3339_or_none(entry.get("time")) for entry in meta.get("managedFields") or ()]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def changes_since(decided: WorkloadFacts, now: WorkloadFacts) -> str | None:
    """What changed since the decision that the decision depended on; None when nothing did.

    Status-only writes (the controller reporting progress) bump resourceVersion but change none of
    these, so they do not invalidate a decision.
    """
    if now.uid != decided.uid:
        return "it was deleted and re-created"
    if dict(now.annotations) != dict(decided.annotations):
        changed = sorted(set(now.annotations.items()) ^ set(decided.annotations.items()))
        return f"its annotations changed ({', '.join(sorted({k for k, _ in changed}))})"
    if dict(now.labels) != dict(decided.labels):
        return "its labels changed"
    if now.generation != decided.generation:  # after annotations: a Deployment bumps it for those too
        return f"its spec changed (generation {decided.generation} -> {now.generation})"
    if now.referenced_by != decided.referenced_by:
        return f"the Argo Rollouts referencing it changed ({decided.referenced_by} -> {now.referenced_by})"
    if _rollout_progress(now) != _rollout_progress(decided):
        return f"its Argo Rollouts update changed ({_rollout_progress(decided)} -> {_rollout_progress(now)})"
    if now.current_revision != decided.current_revision:
        return f"its live revision changed ({decided.current_revision} -> {now.current_revision})"
    if [(r.number, r.object_name) for r in now.revisions] != [
        (r.number, r.object_name) for r in decided.revisions
    ]:
        return "its revision history changed"
    return None


def _rollout_progress(facts: WorkloadFacts) -> tuple[bool, bool, str, str, int | None] | None:
    """What an undo-or-abort decision on a Rollout depends on; the phase and message move on their own
    while a canary steps, and do not count."""
    rollout = facts.rollout
    if rollout is None:
        return None
    return (
        rollout.update_in_progress,
        rollout.aborted,
        rollout.stable_hash,
        rollout.current_hash,
        rollout.workload_generation,
    )
