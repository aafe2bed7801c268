"""kubectl's StatefulSet / DaemonSet rollback rules, as pure functions on API JSON (ControllerRevisions).

Reference: kubectl `pkg/polymorphichelpers/rollback.go` (StatefulSetRollbacker, DaemonSetRollbacker) and
`history.go`. Messages are kubectl's, verbatim.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from receiver.core import refusals
from receiver.k8s import templates
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


def current_revision(workload: Mapping[str, Any], revisions: Sequence[Json]) -> Json | None:
    """The revision whose data matches the live template (highest number if several)."""
    live = templates.normalize(template_patch(workload))
    matching = [cr for cr in revisions if templates.normalize(cr.get("data")) == live]
    return max(matching, key=revision_number) if matching else None


def plan_undo(workload: Json, revisions: Sequence[Json], to_revision: int) -> UndoPlan:
    """kubectl's rollback for StatefulSet/DaemonSet: the revision `data` as a strategic merge patch.

    kubectl compares the rebuilt patch byte for byte; we compare parsed JSON, so a revision written by an
    older controller (serialisation drift) is still recognised as matching instead of being re-patched.
    """
    mine = owned(workload, revisions)
    target = choose_target(mine, to_revision)
    current = current_revision(workload, mine)
    rv = str(workload["metadata"].get("resourceVersion", ""))
    number = revision_number(target)
    from_revision = revision_number(current) if current is not None else None
    if templates.normalize(target.get("data")) == templates.normalize(template_patch(workload)):
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
