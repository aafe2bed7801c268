"""Pod-template comparison exactly as kubectl makes it, on plain JSON.

kubectl decodes the API's JSON into Go structs and decides "already matches" with
`apiequality.Semantic.DeepEqual` after dropping the `pod-template-hash` label. What that keeps apart is
what Go decoding keeps apart, so we compare along the Go shape of `PodTemplateSpec`
(`podtemplate_schema.py`, generated from k8s.io/api):
- a pointer field: absent or `null` is nil, which differs from any value, even `{}`, `0`, `false` or
  `""` (so `securityContext: {}` and no securityContext are different templates);
- a non-pointer field: absent is its zero value (`resources: {}` equals no resources, `0` equals absent);
- slices and maps: nil and empty are equal (`[]` equals absent, `{}` labels equal none);
- quantities by value (`Quantity.Cmp`: "1000m" equals "1"), times by instant;
- keys Go does not know are dropped by decoding, so they never count.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.k8s.podtemplate_schema import POD_TEMPLATE_SPEC, STRUCTS
from receiver.k8s.quantity import QuantityError, parse_quantity

POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"

Shape = tuple[Any, ...]
_ABSENT = object()


def semantic_equal(a: Any, b: Any, shape: Shape = POD_TEMPLATE_SPEC) -> bool:
    """`apiequality.Semantic.DeepEqual` of the Go values JSON `a` and `b` decode to (`_ABSENT` = no key)."""
    kind = shape[0]
    if kind == "ptr":
        a_nil, b_nil = a is _ABSENT or a is None, b is _ABSENT or b is None
        if a_nil or b_nil:
            return a_nil and b_nil
        return semantic_equal(a, b, shape[1])
    if kind == "struct":
        fields = STRUCTS[shape[1]]
        a_map = a if isinstance(a, Mapping) else {}
        b_map = b if isinstance(b, Mapping) else {}
        return all(
            semantic_equal(a_map.get(name, _ABSENT), b_map.get(name, _ABSENT), inner)
            for name, inner in fields.items()
        )
    if kind in ("slice", "bytes"):
        a_list = a if isinstance(a, list | str) else ()
        b_list = b if isinstance(b, list | str) else ()
        if kind == "bytes":
            return a_list == b_list
        return len(a_list) == len(b_list) and all(
            semantic_equal(x, y, shape[1]) for x, y in zip(a_list, b_list, strict=True)
        )
    if kind == "map":
        a_map = a if isinstance(a, Mapping) else {}
        b_map = b if isinstance(b, Mapping) else {}
        return a_map.keys() == b_map.keys() and all(
            semantic_equal(a_map[k], b_map[k], shape[1]) for k in a_map
        )
    return bool(_leaf(kind, a) == _leaf(kind, b))


def _leaf(kind: str, value: Any) -> Any:
    """A scalar as Go holds it; absent and `null` leave a non-pointer field at its zero value."""
    present = value is not _ABSENT and value is not None
    if kind == "string":
        return value if present else ""
    if kind == "bool":
        return ("bool", value) if present else ("bool", False)
    if kind in ("int", "float"):
        return ("number", value) if present and not isinstance(value, bool) else ("number", 0)
    if kind == "quantity":
        return quantity_value(value) if present else 0
    if kind == "intorstring":
        if not present:
            return ("int", 0)
        return ("string", value) if isinstance(value, str) else ("int", value)
    if kind == "time":
        return _instant(value) if present else None
    return value if present else None  # raw JSON (FieldsV1, RawExtension): compared as decoded


def quantity_value(value: Any) -> Any:
    """A quantity's exact value in nanounits (JSON numbers are read as their text, like Go does)."""
    text = value if isinstance(value, str) else str(value)
    try:
        return parse_quantity(text.strip()).nanos
    except QuantityError:
        return ("unparseable", text)


def _instant(value: Any) -> datetime | str:
    parsed = parse_rfc3339_or_none(value) if isinstance(value, str) else None
    return parsed if parsed is not None else str(value)


def without_hash_label(template: Mapping[str, Any], label: str = POD_TEMPLATE_HASH) -> dict[str, Any]:
    """A deep copy of a pod template without the controller's hash label (kubectl sends this copy)."""
    result: dict[str, Any] = copy.deepcopy(dict(template))
    labels = (result.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(label, None)
        if not labels:  # Go's omitempty drops the emptied map from kubectl's patch
            del result["metadata"]["labels"]
    return result


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """kubectl's `equalIgnoreHash`: Semantic.DeepEqual of the two templates without the hash label."""
    return semantic_equal(without_hash_label(a), without_hash_label(b))
