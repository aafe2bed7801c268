"""Resolve an alert's target to concrete workloads, and read the facts the guards decide on."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from receiver.core.workload import WorkloadFacts, WorkloadKind, WorkloadRef
from receiver.k8s import resources
from receiver.k8s.client import KubeClient
from receiver.k8s.errors import AmbiguousTarget, NotFound
from receiver.k8s.facts import (
    controller_revision_went_live,
    facts_from,
    replica_set_went_live,
)
from receiver.k8s.snapshots import Snapshot, list_all, rollouts_referencing, snapshot

__all__ = [
    "controller_revision_went_live",
    "facts_from",
    "read_facts",
    "read_snapshot",
    "replica_set_went_live",
    "resolve",
]


class SnapshotCache(Protocol):
    """A view that may already hold a consistent snapshot (`WorkloadWatch`); None: read the API."""

    def snapshot(self, ref: WorkloadRef) -> Snapshot | None: ...


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
            what=f"{resources.qualified(plural)} -n {namespace}",
        )
        found = sorted(str(item["metadata"]["name"]) for item in items)
        wanted = f"{resources.qualified(plural)} matching {selector!r} in namespace {namespace!r}"
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
        wanted = f"{resources.qualified(plural)} {', '.join(candidates)!s} in namespace {namespace!r}"
    if not found:
        raise NotFound(f"no {wanted}", status=404, reason="NotFound", verb="get", target=wanted)
    if len(found) > cap:
        raise AmbiguousTarget(
            f"{len(found)} {wanted} exceed the cap of {cap}: {', '.join(found)}", matches=tuple(found)
        )
    return tuple(WorkloadRef(kind, namespace, n) for n in found)


async def read_snapshot(kube: KubeClient, ref: WorkloadRef, cache: SnapshotCache | None = None) -> Snapshot:
    """The workload and its history: from `cache` when it has a consistent copy, else GET + LIST.

    A cached snapshot may be a few milliseconds behind the API server. Deciding on it is safe because the
    undo patch built from it carries its resourceVersion: a Deployment that moved on answers 409, and the
    caller decides again on a snapshot read from the API. The watch does not see Argo Rollouts, and a
    Rollout that runs this Deployment through spec.workloadRef writes nothing on it (no resourceVersion
    change), so that one fact is always read from the API.
    """
    cached = cache.snapshot(ref) if cache is not None else None
    if cached is None:
        return await snapshot(kube, ref)
    return dataclasses.replace(cached, referenced_by=await rollouts_referencing(kube, ref))


async def read_facts(kube: KubeClient, ref: WorkloadRef) -> WorkloadFacts:
    return facts_from(await snapshot(kube, ref))
