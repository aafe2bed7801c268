"""What a route's target names for one alert, and whether the config lets us look there. Pure.

Both the intake and the targets stage ask this first: an alert whose target cannot be rendered, names more
workloads than the cap, or lies in a namespace out of scope is refused before any read (we do not even look
where we were not given access), so the intake decides it on the spot instead of queueing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from receiver.core import guards, routing
from receiver.core.alerts import Alert
from receiver.core.decisions import Reason
from receiver.core.routing import TargetError
from receiver.core.settings import Config, Route
from receiver.core.workload import WorkloadKind


@dataclass(frozen=True, slots=True)
class TargetScope:
    """Where to look: the names of a name or list target, or the rendered selector of a selector target."""

    kind: WorkloadKind
    namespace: str
    names: tuple[str, ...]
    selector: str | None
    cap: int


def target_scope(alert: Alert, route: Route, config: Config) -> TargetScope:
    """The scope of `route`'s target for `alert`, or a `TargetError` saying why there is none."""
    spec = route.target
    if spec is None:
        raise TargetError(Reason.TARGET_UNRESOLVED, f"route {route.name} names no target")
    cap = routing.target_cap(spec, config.limits)
    names: tuple[str, ...] = ()
    selector: str | None = None
    if spec.selector is not None:
        namespace, selector = routing.render_selector(alert, spec)
    else:
        rendered = routing.render_refs(alert, spec)
        namespace, names = rendered[0].namespace, tuple(ref.name for ref in rendered)
        if len(names) > cap:
            raise TargetError(
                Reason.TOO_MANY_TARGETS, f"{len(names)} targets exceed the cap of {cap}: {', '.join(names)}"
            )
    denied = guards.namespace_denied(namespace, config)
    if denied is not None:
        raise TargetError(Reason.NAMESPACE_DENIED, denied)
    return TargetScope(spec.kind, namespace, names, selector, cap)
