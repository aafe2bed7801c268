"""One consistent read of a workload and the history objects it controls (GET + LIST, like kubectl)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.core.workload import Revision, WorkloadKind, WorkloadRef
from receiver.k8s import argo, audit, controllerrevisions, deployments, gojson, resources, templates
from receiver.k8s.client import Json, KubeClient
from receiver.k8s.errors import Forbidden, NotFound

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A workload and the history objects it controls, as read in one pass."""

    ref: WorkloadRef
    workload: Json
    history: tuple[Json, ...]  # owned ReplicaSets in kubectl's order, or owned ControllerRevisions
    # ControllerRevision uid -> its `data` exactly as the server sent it (kubectl compares these bytes)
    revision_data: Mapping[str, str] = field(default_factory=dict)
    # Rollout: the Deployment its spec.workloadRef names (its template is the one the Rollout runs)
    referenced: Json | None = None
    # Deployment: the Rollouts whose spec.workloadRef names it (Argo writes nothing on the Deployment)
    referenced_by: tuple[str, ...] = ()
    from_cache: bool = False  # served by the rollout-health watch instead of GET + LIST


async def list_all(kube: KubeClient, path: str, *, selector: str, what: str) -> list[Json]:
    """LIST following `continue` tokens, like kubectl's FollowContinue."""
    items: list[Json] = []
    token = ""
    while True:
        query = {"labelSelector": selector, "limit": "500"}
        if token:
            query["continue"] = token
        page = await kube.request("list", path, query=query, what=what)
        items.extend(page.get("items") or ())
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return items


async def _list_revisions(
    kube: KubeClient, namespace: str, selector: str
) -> tuple[list[Json], dict[str, str]]:
    """ControllerRevisions and, by uid, the raw bytes of each one's `data` (pages followed like list_all)."""
    path = resources.collection_path("controllerrevisions", namespace)
    items: list[Json] = []
    raw: dict[str, str] = {}
    token = ""
    while True:
        query = {"labelSelector": selector, "limit": "500"}
        if token:
            query["continue"] = token
        what = f"controllerrevisions.apps -n {namespace}"
        text = await kube.request_text("list", path, query=query, what=what)
        page = json.loads(text)
        page_items = list(page.get("items") or ())
        for item, data in zip(page_items, gojson.item_fields(text, "data"), strict=False):
            if data is not None:
                raw[str(item.get("metadata", {}).get("uid", ""))] = data
        items.extend(page_items)
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return items, raw


async def snapshot(kube: KubeClient, ref: WorkloadRef) -> Snapshot:
    workload = await kube.request("get", resources.workload_path(ref), what=resources.describe(ref))
    if ref.kind is WorkloadKind.ROLLOUT:
        return await _rollout_snapshot(kube, ref, workload)
    selector = resources.selector_string(workload.get("spec", {}).get("selector"))
    if ref.kind is WorkloadKind.DEPLOYMENT:
        replica_sets = await list_all(
            kube,
            resources.collection_path("replicasets", ref.namespace),
            selector=selector,
            what=f"replicasets.apps -n {ref.namespace}",
        )
        ordered = tuple(deployments.kubectl_order(workload, replica_sets))
        return Snapshot(ref, workload, ordered, referenced_by=await rollouts_referencing(kube, ref))
    revisions, raw = await _list_revisions(kube, ref.namespace, selector)
    return Snapshot(ref, workload, tuple(controllerrevisions.owned(workload, revisions)), raw)


async def _rollout_snapshot(kube: KubeClient, ref: WorkloadRef, rollout: Json) -> Snapshot:
    """The plugin's reads for `undo` (GET the Rollout, LIST ReplicaSets by its selector, keep those it
    controls, in the server's order), plus the Deployment a workloadRef names."""
    referenced: Json | None = None
    workload_ref = argo.workload_ref(rollout)
    if workload_ref is not None and workload_ref.get("kind") in argo.SUPPORTED_WORKLOAD_REFS:
        target = WorkloadRef(WorkloadKind.DEPLOYMENT, ref.namespace, str(workload_ref.get("name", "")))
        referenced = await kube.request(
            "get", resources.workload_path(target), what=resources.describe(target)
        )
    replica_sets = await list_all(
        kube,
        resources.collection_path("replicasets", ref.namespace),
        selector=resources.selector_string(argo.selector(rollout)),
        what=f"replicasets.apps -n {ref.namespace}",
    )
    return Snapshot(ref, rollout, tuple(argo.owned(rollout, replica_sets)), referenced=referenced)


_FORBIDDEN_WARNED: set[str] = set()


async def rollouts_referencing(kube: KubeClient, ref: WorkloadRef) -> tuple[str, ...]:
    """The Argo Rollouts in the namespace whose spec.workloadRef names this Deployment.

    Without the Rollout CRD (404) there are none. A 403 is also what a cluster without Argo Rollouts answers
    when the chart's `rbac.argoRollouts` is off (authorization comes before the lookup), so API discovery
    (open to every identity) tells the two apart: no `rollouts` served means none; served but not ours to
    list means we cannot tell, which is logged once per namespace and read as none, so Deployments still
    work where Argo Rollouts is installed but not granted.
    """
    what = f"{resources.qualified(resources.ROLLOUTS)} -n {ref.namespace}"
    try:
        items = await list_all(
            kube, resources.collection_path(resources.ROLLOUTS, ref.namespace), selector="", what=what
        )
    except NotFound:
        return ()
    except Forbidden as exc:
        if ref.namespace not in _FORBIDDEN_WARNED and await _rollouts_served(kube):
            _FORBIDDEN_WARNED.add(ref.namespace)
            logger.warning(
                "cannot list Argo Rollouts, so a Deployment one of them runs through spec.workloadRef "
                "would not be recognised (grant it with the chart's rbac.argoRollouts): %s",
                exc.describe(),
                extra={"namespace": ref.namespace},
            )
        return ()
    return tuple(sorted(str(item["metadata"]["name"]) for item in items if argo.references(item, ref.name)))


async def _rollouts_served(kube: KubeClient) -> bool:
    """Whether the API server serves Argo Rollouts' `rollouts` (its CRD is installed)."""
    try:
        found = await kube.request("get", resources.group_version_path(resources.ROLLOUTS), what="discovery")
    except NotFound:
        return False
    return any(r.get("name") == resources.ROLLOUTS for r in found.get("resources") or ())


def revisions_of(snap: Snapshot) -> tuple[Revision, ...]:
    """The history as `Revision`s, ascending by number (kubectl skips unparseable revision annotations)."""
    result: list[Revision] = []
    for obj in snap.history:
        meta = obj.get("metadata", {})
        annotations = dict(meta.get("annotations") or {})
        labels = meta.get("labels") or {}
        if snap.ref.kind is WorkloadKind.DEPLOYMENT:
            number = deployments.revision_number(obj)
            template_hash = labels.get(templates.POD_TEMPLATE_HASH, "")
        elif snap.ref.kind is WorkloadKind.ROLLOUT:
            number = argo.revision_number(obj)
            template_hash = labels.get(argo.HASH_LABEL, "")
        else:
            number = controllerrevisions.revision_number(obj)
            template_hash = (
                labels.get(templates.CONTROLLER_REVISION_HASH) or str(meta.get("name", "")).rpartition("-")[2]
            )
        created = parse_rfc3339_or_none(meta.get("creationTimestamp"))
        if number is None or created is None:
            continue
        result.append(
            Revision(
                number=number,
                object_name=str(meta.get("name", "")),
                created_at=created,
                change_cause=annotations.get(audit.CHANGE_CAUSE),
                template_hash=str(template_hash),
                annotations=annotations,
                images=template_images(obj),
            )
        )
    return tuple(sorted(result, key=lambda r: (r.number, r.created_at)))


def template_images(obj: Json) -> tuple[str, ...]:
    """`container=image` for each container of a ReplicaSet's template or a ControllerRevision's data."""
    holder = obj.get("data") if isinstance(obj.get("data"), dict) else obj
    spec = holder.get("spec") if isinstance(holder, dict) else None
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    return tuple(f"{c.get('name', '')}={c.get('image', '')}" for c in containers or () if isinstance(c, dict))
