"""API paths and names for the workload kinds we handle (apps/v1 only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from receiver.core.workload import WorkloadKind, WorkloadRef

PLURALS = {
    WorkloadKind.DEPLOYMENT: "deployments",
    WorkloadKind.STATEFULSET: "statefulsets",
    WorkloadKind.DAEMONSET: "daemonsets",
}


def collection_path(plural: str, namespace: str) -> str:
    return f"/apis/apps/v1/namespaces/{quote(namespace, safe='')}/{plural}"


def workload_path(ref: WorkloadRef) -> str:
    return f"{collection_path(PLURALS[ref.kind], ref.namespace)}/{quote(ref.name, safe='')}"


def describe(ref: WorkloadRef) -> str:
    """How error messages name the object: `deployments.apps/web -n shop`."""
    return f"{PLURALS[ref.kind]}.apps/{ref.name} -n {ref.namespace}"


def printed_name(ref: WorkloadRef) -> str:
    """kubectl's name printer: `deployment.apps/web`."""
    return f"{ref.kind.lower()}.apps/{ref.name}"


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
