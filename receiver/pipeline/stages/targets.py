"""Stage: the workloads a route's target names for one alert, resolved in the cluster.

Where to look is pure (`core.scope`: rendered from the alert, capped, a namespace out of scope refused
before any read; the intake asks the same first); selector targets are then listed in the cluster with the
cap. Every refusal is a `TargetError` with the decision reason.
"""

from __future__ import annotations

from receiver.core.alerts import Alert
from receiver.core.decisions import Reason
from receiver.core.routing import TargetError
from receiver.core.scope import target_scope
from receiver.core.settings import Config, Route
from receiver.core.workload import WorkloadRef
from receiver.k8s import AmbiguousTarget, KubeClient, NotFound, resolve
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps


async def resolve_targets(
    kube: KubeClient, alert: Alert, route: Route, config: Config
) -> tuple[WorkloadRef, ...]:
    scope = target_scope(alert, route, config)
    try:
        return await resolve(
            kube, scope.kind, scope.namespace, names=scope.names, selector=scope.selector, cap=scope.cap
        )
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
