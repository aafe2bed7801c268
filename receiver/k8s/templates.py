"""Pod-template comparison with the API machinery's semantic equality, on plain JSON.

kubectl decides "already matches" with `apiequality.Semantic.DeepEqual` after dropping the
`pod-template-hash` label: null, missing, `[]` and `{}` are the same, and resource quantities compare
by value ("500m" == "0.5"). We reproduce that on the wire format.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}  # fmt: skip
# Maps whose values are resource.Quantity in a pod spec.
_QUANTITY_MAPS = frozenset({"limits", "requests", "overhead"})


def parse_quantity(text: str) -> Decimal | None:
    """A Kubernetes quantity as a number, or None when it is not one (then it compares as text)."""
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return _number(text[: -len(suffix)], Decimal(factor))
    if text[-1:] in _DECIMAL and text[-1:] != "":
        return _number(text[:-1], _DECIMAL[text[-1]])
    return _number(text, Decimal(1))


def _number(digits: str, factor: Decimal) -> Decimal | None:
    try:
        return Decimal(digits) * factor if digits else None
    except InvalidOperation:
        return None


def normalize(value: Any, *, key: str = "") -> Any:
    """Drop what Go's semantic equality ignores (null, empty maps and lists); quantities become numbers."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if key in _QUANTITY_MAPS and isinstance(v, str):
                out[k] = parse_quantity(v) if parse_quantity(v) is not None else v
                continue
            nv = normalize(v, key=k)
            if nv is not None:
                out[k] = nv
        return out or None
    if isinstance(value, list):
        items = [normalize(v) for v in value]
        return items or None
    return value


def without_hash_label(template: Mapping[str, Any], label: str = POD_TEMPLATE_HASH) -> dict[str, Any]:
    """A deep copy of a pod template without the controller's hash label (kubectl sends this copy)."""
    result: dict[str, Any] = copy.deepcopy(dict(template))
    labels = (result.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(label, None)
        if not labels:
            del result["metadata"]["labels"]
    return result


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """kubectl's `equalIgnoreHash`: the same pod template once the hash label is ignored."""
    return bool(normalize(without_hash_label(a)) == normalize(without_hash_label(b)))
