"""Resolve an alert's target to concrete workloads, and read the facts the guards decide on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from receiver.k8s import audit, controllerrevisions, deployments, resources
from receiver.k8s.client import KubeClient
from receiver.k8s.errors import AmbiguousTarget, NotFound
from receiver.k8s.rollout import Snapshot, list_all, revisions_of, snapshot
from receiver.k8s.timestamps import parse_time
from receiver.workload import WorkloadFacts, WorkloadKind, WorkloadRef


async def resolve(
    kube: KubeClient,
    kind: WorkloadKind,
    namespace: str,
    *,
    name: str | None = None,
    names: Sequence[str] = (),
    selector: str | None = None,
    cap: int = 1,
) -> tuple[WorkloadRef, ...]:
    """The workloads an alert names: by name, by an explicit list, or by a label selector.

    Nothing found raises `NotFound`; more than `cap` raises `AmbiguousTarget` (acting on a subset
    would be a guess). Names missing from an explicit list are dropped.
    """
    plural = resources.PLURALS[kind]
    if selector is not None:
        items = await list_all(
            kube,
            resources.collection_path(plural, namespace),
            selector=selector,
            what=f"{plural}.apps -n {namespace}",
        )
        found = sorted(str(item["metadata"]["name"]) for item in items)
        wanted = f"{plural}.apps matching {selector!r} in namespace {namespace!r}"
    else:
        candidates = [name] if name is not None else list(dict.fromkeys(names))
        found = []
        for candidate in candidates:
            ref = WorkloadRef(kind, namespace, candidate)
            try:
                await kube.request("get", resources.workload_path(ref), what=resources.describe(ref))
            except NotFound:
                continue
            found.append(candidate)
        wanted = f"{plural}.apps {', '.join(candidates)!s} in namespace {namespace!r}"
    if not found:
        raise NotFound(f"no {wanted}", status=404, reason="NotFound", verb="get", target=wanted)
    if len(found) > cap:
        raise AmbiguousTarget(
            f"{len(found)} {wanted} exceed the cap of {cap}: {', '.join(found)}", matches=tuple(found)
        )
    return tuple(WorkloadRef(kind, namespace, n) for n in found)


async def read_facts(kube: KubeClient, ref: WorkloadRef) -> WorkloadFacts:
    return facts_from(await snapshot(kube, ref))


def facts_from(snap: Snapshot) -> WorkloadFacts:
    meta = snap.workload["metadata"]
    current, since = _current(snap)
    return WorkloadFacts(
        ref=snap.ref,
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        generation=int(meta.get("generation") or 0),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        owner_kinds=tuple(str(o.get("kind", "")) for o in meta.get("ownerReferences") or ()),
        paused=bool(snap.workload.get("spec", {}).get("paused")),
        current_revision=current,
        current_revision_since=since,
        revisions=revisions_of(snap),
    )


def _current(snap: Snapshot) -> tuple[int | None, datetime | None]:
    if snap.ref.kind is WorkloadKind.DEPLOYMENT:
        rs = deployments.find_new_replica_set(snap.workload, snap.history)
        if rs is None:
            return deployments.current_revision(snap.workload, snap.history), None
        return deployments.revision_number(rs), replica_set_went_live(snap.workload, rs)
    cr = controllerrevisions.current_revision(snap.workload, snap.history)
    if cr is None:
        return None, None
    return controllerrevisions.revision_number(cr), controller_revision_went_live(cr)


def replica_set_went_live(deployment: dict[str, object], rs: dict[str, object]) -> datetime | None:
    """When the rollout to this RS's template last started.

    A fresh RS went live when it was created. An RS that a rollback re-used (it carries
    `revision-history`) is older than its rollout, so we take the most recent of: its creation, our
    `rolled-back-at` stamp (copied from the Deployment by the controller), and the Deployment's
    Progressing condition `lastUpdateTime` when that condition names this RS (it is reset by every
    rollout: "ReplicaSet "x" is progressing." / "... has successfully progressed."). The last one can
    be later than the actual start (up to the rollout's duration), which errs towards "recent".
    """
    meta = rs.get("metadata")
    assert isinstance(meta, dict)
    created = parse_time(meta.get("creationTimestamp"))
    annotations = meta.get("annotations") or {}
    if deployments.REVISION_HISTORY not in annotations:
        return created
    candidates = [created, parse_time(annotations.get(audit.ROLLED_BACK_AT))]
    status = deployment.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    for cond in conditions or ():
        if cond.get("type") == "Progressing" and f'"{meta.get("name")}"' in str(cond.get("message", "")):
            candidates.append(parse_time(cond.get("lastUpdateTime")))
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
    times = [parse_time(meta.get("creationTimestamp"))]
    times += [parse_time(entry.get("time")) for entry in meta.get("managedFields") or ()]
    known = [t for t in times if t is not None]
    return max(known) if known else None
