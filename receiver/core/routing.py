"""Which routes an alert takes, and which workloads a route's target names for that alert.

Pure: no cluster access. Name and list targets become `WorkloadRef`s here; a selector target is rendered
to (namespace, selector) and resolved against the cluster by the actuator, which applies the cap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from receiver.core.alerts import Alert
from receiver.core.decisions import Reason
from receiver.core.matching import Matcher, MatchOp, matches_all
from receiver.core.settings import Limits, Route, TargetSpec, is_namespace_name, is_object_name
from receiver.core.templating import Field, RenderError, Source, parse_template
from receiver.core.workload import WorkloadRef


class TargetError(ValueError):
    """The alert does not name a usable workload; `reason` is the low-cardinality decision reason."""

    def __init__(self, reason: Reason, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.transient = transient  # e.g. the workload does not exist (yet): decide again next time


def select_routes(alert: Alert, routes: Sequence[Route]) -> tuple[Route, ...]:
    """Routes in order; the first match wins unless it says `continue: true`, like Alertmanager."""
    selected: list[Route] = []
    labels, annotations = alert.labels, alert.annotations
    for route, checks in _compiled(routes):
        if all(check(labels, annotations) for check in checks):
            selected.append(route)
            if not route.continue_:
                break
    return tuple(selected)


Check = Callable[[Mapping[str, str], Mapping[str, str]], bool]
# The routes of the config in use, compiled once: a reload brings a new tuple of routes.
_last_compiled: tuple[Sequence[Route], tuple[tuple[Route, tuple[Check, ...]], ...]] | None = None


def _compiled(routes: Sequence[Route]) -> tuple[tuple[Route, tuple[Check, ...]], ...]:
    global _last_compiled
    if _last_compiled is None or _last_compiled[0] is not routes:
        _last_compiled = (routes, tuple((r, tuple(_check(m) for m in r.matchers)) for r in routes))
    return _last_compiled[1]


def _check(matcher: Matcher) -> Check:
    """`matches_all` for one matcher, as a closure: equality needs no method call and no enum lookup."""
    name, value = matcher.name, matcher.value
    if matcher.op is MatchOp.EQUAL:
        return lambda labels, annotations: (
            (labels[name] if name in labels else annotations.get(name, "")) == value
        )
    if matcher.op is MatchOp.NOT_EQUAL:
        return lambda labels, annotations: (
            (labels[name] if name in labels else annotations.get(name, "")) != value
        )
    if matcher.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
        matches = matcher.matches
        return lambda labels, annotations: matches(
            labels[name] if name in labels else annotations.get(name, "")
        )
    return lambda labels, annotations: matches_all((matcher,), labels, annotations)


# Read by the guards whatever the route says: the alert's name and the cluster it is for.
ALWAYS_READ = frozenset({"alertname", "cluster"})


def route_references(route: Route) -> frozenset[str]:
    """Every label or annotation name deciding on this route reads: matchers, target templates, the
    revision annotation, and what the guards always read."""
    names = set(ALWAYS_READ) | {m.name for m in route.matchers}
    if route.revision.from_annotation:
        names.add(route.revision.from_annotation)
    spec = route.target
    if spec is not None:
        templates = [spec.namespace, *(t for t in (spec.name, spec.selector) if t), *spec.names]
        names.update(field.key for text in templates for field in parse_template(text).fields)
    return frozenset(names)


def render_namespace(alert: Alert, spec: TargetSpec) -> str:
    namespace = _render(alert, spec.namespace, "namespace")
    if not is_namespace_name(namespace):
        raise TargetError(
            Reason.TARGET_INVALID, f"namespace {namespace!r} rendered from the alert is not a valid name"
        )
    return namespace


def render_refs(alert: Alert, spec: TargetSpec) -> tuple[WorkloadRef, ...]:
    """The workloads a name or list target names, without duplicates and in config order."""
    if spec.selector is not None:
        raise TargetError(Reason.TARGET_INVALID, "a selector target is resolved against the cluster")
    namespace = render_namespace(alert, spec)
    templates = (spec.name,) if spec.name is not None else spec.names
    refs: list[WorkloadRef] = []
    for template in templates:
        name = _render(alert, template, "name")
        if not is_object_name(name):
            raise TargetError(
                Reason.TARGET_INVALID, f"name {name!r} rendered from the alert is not a valid name"
            )
        ref = WorkloadRef(spec.kind, namespace, name)
        if ref not in refs:
            refs.append(ref)
    return tuple(refs)


# A Kubernetes label value: substituting anything else could change the selector's meaning (a value of
# "x,tier!=db" would widen it), so each substituted value is checked on its own.
_LABEL_VALUE_RE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def render_selector(alert: Alert, spec: TargetSpec) -> tuple[str, str]:
    """(namespace, label selector) of a selector target, with every alert value checked."""
    if spec.selector is None:
        raise TargetError(Reason.TARGET_INVALID, "not a selector target")
    namespace = render_namespace(alert, spec)
    out: list[str] = []
    for part in parse_template(spec.selector).parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = _value(alert, part)
        if not _LABEL_VALUE_RE.fullmatch(value):
            raise TargetError(
                Reason.TARGET_INVALID,
                f"{part.source} {part.key!r} = {value[:80]!r} is not a valid label value",
            )
        out.append(value)
    return namespace, "".join(out)


def target_cap(spec: TargetSpec, limits: Limits) -> int:
    return spec.max_targets if spec.max_targets is not None else limits.max_targets_per_alert


def _render(alert: Alert, template: str, what: str) -> str:
    try:
        return parse_template(template).render(alert.labels, alert.annotations)
    except RenderError as exc:
        raise TargetError(Reason.TARGET_UNRESOLVED, f"cannot render the target {what}: {exc}") from None


def _value(alert: Alert, field: Field) -> str:
    values = alert.labels if field.source is Source.LABELS else alert.annotations
    value = values.get(field.key, "")
    if not value:
        missing = RenderError(field.source, field.key)
        raise TargetError(Reason.TARGET_UNRESOLVED, f"cannot render the target selector: {missing}")
    return value
