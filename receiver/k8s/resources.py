"""API paths and names for the workload kinds we handle (apps/v1, and Argo Rollouts' argoproj.io/v1alpha1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from receiver.core.workload import WorkloadKind, WorkloadRef

PLURALS = {
    WorkloadKind.DEPLOYMENT: "deployments",
    WorkloadKind.STATEFULSET: "statefulsets",
    WorkloadKind.DAEMONSET: "daemonsets",
    WorkloadKind.ROLLOUT: "rollouts",
}
ROLLOUTS = "rollouts"
# Every resource we read or write is in apps/v1, except Argo Rollouts' own.
_GROUP_VERSIONS = {ROLLOUTS: ("argoproj.io", "v1alpha1")}


def group_of(plural: str) -> str:
    return _GROUP_VERSIONS.get(plural, ("apps", "v1"))[0]


def api_version(kind: WorkloadKind) -> str:
    """`apps/v1`, `argoproj.io/v1alpha1`: the apiVersion of a workload kind (an Event's involvedObject)."""
    group, version = _GROUP_VERSIONS.get(PLURALS[kind], ("apps", "v1"))
    return f"{group}/{version}"


def qualified(plural: str) -> str:
    """`deployments.apps`, `rollouts.argoproj.io`: how kubectl and RBAC name a resource."""
    return f"{plural}.{group_of(plural)}"


def group_version_path(plural: str) -> str:
    """API discovery of the group/version that serves `plural` (readable by every identity)."""
    group, version = _GROUP_VERSIONS.get(plural, ("apps", "v1"))
    return f"/apis/{group}/{version}"


def collection_path(plural: str, namespace: str) -> str:
    group, version = _GROUP_VERSIONS.get(plural, ("apps", "v1"))
    return f"/apis/{group}/{version}/namespaces/{quote(namespace, safe='')}/{plural}"


def workload_path(ref: WorkloadRef) -> str:
    return f"{collection_path(PLURALS[ref.kind], ref.namespace)}/{quote(ref.name, safe='')}"


def status_path(ref: WorkloadRef) -> str:
    """The status subresource (Argo's abort is written there)."""
    return f"{workload_path(ref)}/status"


def describe(ref: WorkloadRef) -> str:
    """How error messages name the object: `deployments.apps/web -n shop`."""
    return f"{qualified(PLURALS[ref.kind])}/{ref.name} -n {ref.namespace}"


def printed_name(ref: WorkloadRef) -> str:
    """kubectl's name printer: `deployment.apps/web`, `rollout.argoproj.io/web`."""
    return f"{ref.kind.lower()}.{group_of(PLURALS[ref.kind])}/{ref.name}"


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """`metav1.LabelSelectorAsSelector(...).String()` for a LabelSelector in JSON form."""
    if not selector:
        return ""
    parts: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        parts.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr["key"], expr["operator"], sorted(expr.get("values") or ())
        if op == "In":
            parts.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            parts.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
    return ",".join(text for _, text in sorted(parts))
