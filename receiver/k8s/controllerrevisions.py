"""kubectl's StatefulSet / DaemonSet rollback rules, as pure functions on API JSON (ControllerRevisions).

Reference: kubectl `pkg/polymorphichelpers/rollback.go` (StatefulSetRollbacker, DaemonSetRollbacker) and
`history.go`. Messages are kubectl's, verbatim.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from receiver.core import refusals
from receiver.k8s import gojson
from receiver.k8s.deployments import is_controlled_by
from receiver.k8s.errors import NoHistory, UnknownRevision
from receiver.k8s.results import UndoPlan

Json = dict[str, Any]


def owned(workload: Mapping[str, Any], revisions: Sequence[Json]) -> list[Json]:
    uid = workload["metadata"]["uid"]
    return [cr for cr in revisions if is_controlled_by(cr, uid)]


def revision_number(cr: Mapping[str, Any]) -> int:
    return int(cr.get("revision") or 0)


def template_patch(workload: Mapping[str, Any]) -> Json:
    """What the controller stores as `data` for the live template (kubectl rebuilds it for the skip check)."""
    template = copy.deepcopy(workload.get("spec", {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def live_patch_bytes(workload: Mapping[str, Any]) -> str:
    """kubectl's `getStatefulSetPatch` / `getDaemonSetPatch`: Go's json.Marshal of the live template patch."""
    return gojson.marshal(template_patch(workload))


def data_bytes(cr: Mapping[str, Any], raw_data: Mapping[str, str]) -> str:
    """The revision's `data` as kubectl holds it: the server's bytes when we have them, else Go's encoding."""
    uid = str(cr.get("metadata", {}).get("uid", ""))
    return raw_data[uid] if uid in raw_data else gojson.marshal(cr.get("data"))


def matches(workload: Mapping[str, Any], cr: Mapping[str, Any], raw_data: Mapping[str, str]) -> bool:
    """kubectl's `statefulsetMatch` / `daemonSetMatch`: byte equality, so serialisation drift counts."""
    return live_patch_bytes(workload) == data_bytes(cr, raw_data)


def choose_target(revisions: Sequence[Json], to_revision: int) -> Json:
    """`findHistory`: the revision numbered `to_revision`, or the second-highest one."""
    if to_revision < 0:
        raise UnknownRevision(to_revision)
    if to_revision == 0:
        if len(revisions) <= 1:
            raise NoHistory(refusals.NO_LAST_REVISION)
        return sorted(revisions, key=revision_number)[-2]
    for cr in revisions:
        if revision_number(cr) == to_revision:
            return cr
    raise UnknownRevision(to_revision)


def current_revision(
    workload: Mapping[str, Any], revisions: Sequence[Json], raw_data: Mapping[str, str] | None = None
) -> Json | None:
    """The revision whose data matches the live template byte for byte (highest number if several)."""
    matching = [cr for cr in revisions if matches(workload, cr, raw_data or {})]
    return max(matching, key=revision_number) if matching else None


def plan_undo(
    workload: Json, revisions: Sequence[Json], to_revision: int, raw_data: Mapping[str, str] | None = None
) -> UndoPlan:
    """kubectl's rollback for StatefulSet/DaemonSet: the revision `data` as a strategic merge patch.

    Like kubectl, "already matches" is a byte comparison of the rebuilt live patch with the revision's
    data as the server sent it (`raw_data`, by uid), so a revision written by an older serializer does
    not match and is patched (a no-op for the template, reported as "rolled back").
    """
    raw = raw_data or {}
    mine = owned(workload, revisions)
    target = choose_target(mine, to_revision)
    current = current_revision(workload, mine, raw)
    rv = str(workload["metadata"].get("resourceVersion", ""))
    number = revision_number(target)
    from_revision = revision_number(current) if current is not None else None
    if matches(workload, target, raw):
        return UndoPlan(
            target_revision=number,
            from_revision=from_revision,
            skipped_message=refusals.already_matches(to_revision),
            resource_version=rv,
        )
    return UndoPlan(
        target_revision=number,
        from_revision=from_revision,
        skipped_message=None,
        content_type="application/strategic-merge-patch+json",
        patch=copy.deepcopy(target.get("data")),
        resource_version=rv,
    )
