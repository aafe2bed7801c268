"""kubectl's Deployment rollback rules, as pure functions on API JSON (ReplicaSet revisions).

Reference: kubectl `pkg/polymorphichelpers/rollback.go` (DeploymentRollbacker) and
`pkg/util/deployment/deployment.go`. Every message below is kubectl's, verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from receiver.core import refusals
from receiver.core.goparse import GoSyntaxError, parse_int
from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.core.workload import WorkloadKind
from receiver.k8s import templates
from receiver.k8s.errors import DeploymentPaused, NoHistory, UnknownRevision
from receiver.k8s.results import UndoPlan

Json = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"

# kubectl's `annotationsToSkip`: the Deployment keeps its own values for these; all others come from the RS.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        REVISION_HISTORY,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


def revision_number(obj: Mapping[str, Any]) -> int | None:
    """`deploymentutil.Revision`: missing annotation is revision 0; unparseable is None (kubectl skips it).

    Parsed like Go's `strconv.ParseInt(v, 10, 64)`: " 2", "1_0" or "²" are not numbers to kubectl.
    """
    try:
        return revision_or_error(obj)
    except GoSyntaxError:
        return None


def revision_or_error(obj: Mapping[str, Any]) -> int:
    """`deploymentutil.Revision` with its error (`strconv.ParseInt: parsing " 2": invalid syntax`)."""
    value = (obj.get("metadata", {}).get("annotations") or {}).get(REVISION)
    return 0 if value is None else parse_int(str(value))


def is_controlled_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    """`metav1.IsControlledBy`: the controller ownerReference carries the owner's uid (kind not compared)."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return bool(ref.get("uid") == owner_uid)
    return False


def _creation_order(rs: Mapping[str, Any]) -> tuple[datetime, str]:
    meta = rs.get("metadata", {})
    created = parse_rfc3339_or_none(meta.get("creationTimestamp")) or datetime.min.replace(tzinfo=UTC)
    return created, str(meta.get("name", ""))


def find_new_replica_set(deployment: Mapping[str, Any], replica_sets: Sequence[Json]) -> Json | None:
    """The oldest owned RS whose template equals the Deployment's (`FindNewReplicaSet`)."""
    template = deployment.get("spec", {}).get("template") or {}
    for rs in sorted(replica_sets, key=_creation_order):
        if templates.equal_ignore_hash(rs.get("spec", {}).get("template") or {}, template):
            return rs
    return None


def kubectl_order(deployment: Mapping[str, Any], replica_sets: Sequence[Json]) -> list[Json]:
    """Owned RSes as kubectl walks them: old ones by creation time (then name), the new one last."""
    owned = sorted(
        (rs for rs in replica_sets if is_controlled_by(rs, deployment["metadata"]["uid"])),
        key=_creation_order,
    )
    new = find_new_replica_set(deployment, owned)
    if new is None:
        return owned
    return [rs for rs in owned if rs is not new] + [new]


def choose_target(name: str, numbered: Sequence[tuple[int, Json]], to_revision: int) -> tuple[int, Json]:
    """`deploymentRevision`: the RS with `to_revision`, or kubectl's single-pass 2nd-highest revision."""
    if to_revision < 0:
        raise UnknownRevision(to_revision)
    latest: tuple[int, Json | None] = (-1, None)
    previous: tuple[int, Json | None] = (-1, None)
    for number, rs in numbered:
        if to_revision > 0:
            if number == to_revision:
                return number, rs
        elif latest[0] < number:
            previous, latest = latest, (number, rs)
        elif previous[0] < number:
            previous = (number, rs)
    if to_revision > 0:
        raise UnknownRevision(to_revision)
    if previous[1] is None:
        raise NoHistory(refusals.no_history(WorkloadKind.DEPLOYMENT, name))
    return previous[0], previous[1]


def annotations_after_undo(deployment: Mapping[str, str], replica_set: Mapping[str, str]) -> dict[str, str]:
    """The Deployment's annotation map after kubectl's undo (it REPLACES the whole map).

    Skip-list keys keep the Deployment's values; every other key comes from the target RS, so a
    Deployment annotation absent from the RS is dropped.
    """
    result = {k: v for k, v in deployment.items() if k in ANNOTATIONS_TO_SKIP}
    result.update({k: v for k, v in replica_set.items() if k not in ANNOTATIONS_TO_SKIP})
    return result


def numbered(ordered: Sequence[Json]) -> list[tuple[int, Json]]:
    return [(n, rs) for rs in ordered if (n := revision_number(rs)) is not None]


def current_revision(deployment: Mapping[str, Any], ordered: Sequence[Json]) -> int | None:
    """The revision whose template is live: the new RS's number; else the Deployment's own annotation."""
    new = find_new_replica_set(deployment, ordered)
    if new is not None:
        return revision_number(new)
    if REVISION not in (deployment.get("metadata", {}).get("annotations") or {}):
        return None
    return revision_number(deployment)


def plan_undo(deployment: Json, replica_sets: Sequence[Json], to_revision: int) -> UndoPlan:
    """kubectl's DeploymentRollbacker.Rollback after its GETs: refusals, skip, and the exact JSON patch."""
    meta = deployment["metadata"]
    ordered = kubectl_order(deployment, replica_sets)
    number, rs = choose_target(meta["name"], numbered(ordered), to_revision)
    if deployment.get("spec", {}).get("paused"):
        raise DeploymentPaused()
    from_revision = current_revision(deployment, ordered)
    rs_template = rs.get("spec", {}).get("template") or {}
    if templates.equal_ignore_hash(rs_template, deployment.get("spec", {}).get("template") or {}):
        return UndoPlan(
            target_revision=number,
            from_revision=from_revision,
            skipped_message=refusals.already_matches(to_revision),
            resource_version=str(meta.get("resourceVersion", "")),
        )
    annotations = annotations_after_undo(
        meta.get("annotations") or {}, rs.get("metadata", {}).get("annotations") or {}
    )
    patch = [
        {"op": "replace", "path": "/spec/template", "value": templates.without_hash_label(rs_template)},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    return UndoPlan(
        target_revision=number,
        from_revision=from_revision,
        skipped_message=None,
        content_type="application/json-patch+json",
        patch=patch,
        resource_version=str(meta.get("resourceVersion", "")),
    )
