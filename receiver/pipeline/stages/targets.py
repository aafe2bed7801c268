"""Stage: the workloads a route's target names for one alert, resolved in the cluster.

Name and list targets are rendered from the alert (pure, `core.routing`); selector targets are listed in the
cluster with a cap. A namespace out of scope is refused before any read: we do not even look where we were
not given access. Every refusal is a `TargetError` with the decision reason.
"""

from __future__ import annotations

from receiver.core import guards, routing
from receiver.core.alerts import Alert
from receiver.core.decisions import Reason
from receiver.core.routing import TargetError
from receiver.core.settings import Config, Route
from receiver.core.workload import WorkloadRef
from receiver.k8s import AmbiguousTarget, KubeClient, NotFound, resolve
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps


async def resolve_targets(
    kube: KubeClient, alert: Alert, route: Route, config: Config
) -> tuple[WorkloadRef, ...]:
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
    try:
        return await resolve(kube, spec.kind, namespace, names=names, selector=selector, cap=cap)
    except NotFound as exc:
        raise TargetError(Reason.TARGET_UNRESOLVED, exc.message, transient=True) from None
    except AmbiguousTarget as exc:
        raise TargetError(Reason.TARGET_AMBIGUOUS, exc.message) from None


class ResolveTargets:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def run(self, item: WorkItem) -> tuple[WorkloadRef, ...]:
        """The targets, or () after recording why there are none."""
        try:
            return await resolve_targets(self._deps.kube, item.alert, item.route, self._deps.config())
        except TargetError as exc:
            self._deps.report.record(self._deps.skip(item, exc.reason, exc.message, transient=exc.transient))
            return ()
