"""`kubectl rollout status`: kubectl's status viewers (pure) and a watch loop that follows a rollout.

Reference: kubectl `pkg/polymorphichelpers/rollout_status.go`; the loop mirrors client-go's
`UntilWithSync` (initial read, then watch from that resourceVersion, relist whenever the watch breaks).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from receiver.core.goparse import GoSyntaxError
from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import deployments, errors, resources
from receiver.k8s.client import KubeClient
from receiver.k8s.results import RolloutOutcome

logger = logging.getLogger(__name__)

TIMED_OUT = "timed out waiting for the condition"
_RELIST_PAUSE = 1.0  # seconds between relists after a broken watch


class RolloutFailed(Exception):
    """kubectl's status viewer returned an error (progress deadline exceeded, unsupported strategy)."""


@dataclass(frozen=True, slots=True)
class Status:
    message: str  # kubectl's line, without the trailing newline
    done: bool
    pending: bool = False  # stopped before done (`--watch=false`)


def _int(value: Any) -> int:
    return int(value or 0)


def deployment_status(obj: Mapping[str, Any], revision: int = 0, since: datetime | None = None) -> Status:
    """kubectl's Deployment status viewer. `since`: a progress-deadline condition last updated at or
    before it is left over from before our undo (the controller keeps it until the restored revision makes
    progress), so it does not fail the rollout that follows the undo."""
    name = obj["metadata"]["name"]
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if revision > 0:
        try:
            running = deployments.revision_or_error(obj)
        except GoSyntaxError as exc:
            raise RolloutFailed(f'cannot get the revision of deployment "{name}": {exc}') from None
        if running != revision:
            raise RolloutFailed(
                f"desired revision ({revision}) is different from the running revision ({running})"
            )
    if _int(obj["metadata"].get("generation")) <= _int(status.get("observedGeneration")):
        for cond in status.get("conditions") or ():
            if (
                cond.get("type") == "Progressing"
                and cond.get("reason") == "ProgressDeadlineExceeded"
                and not _left_over(cond, since)
            ):
                raise RolloutFailed(f'deployment "{name}" exceeded its progress deadline')
        updated, replicas = _int(status.get("updatedReplicas")), _int(status.get("replicas"))
        available = _int(status.get("availableReplicas"))
        waiting = f'Waiting for deployment "{name}" rollout to finish: '
        if spec.get("replicas") is not None and updated < _int(spec["replicas"]):
            return Status(
                f"{waiting}{updated} out of {spec['replicas']} new replicas have been updated...", False
            )
        if replicas > updated:
            return Status(f"{waiting}{replicas - updated} old replicas are pending termination...", False)
        if available < updated:
            return Status(f"{waiting}{available} of {updated} updated replicas are available...", False)
        return Status(f'deployment "{name}" successfully rolled out', True)
    return Status("Waiting for deployment spec update to be observed...", False)


def _left_over(cond: Mapping[str, Any], since: datetime | None) -> bool:
    if since is None:
        return False
    updated = parse_rfc3339_or_none(cond.get("lastUpdateTime"))
    return updated is not None and updated <= since


def daemonset_status(obj: Mapping[str, Any], revision: int = 0, since: datetime | None = None) -> Status:
    """kubectl ignores `--revision` for DaemonSets ("DaemonSets does not have history yet")."""
    name = obj["metadata"]["name"]
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if (spec.get("updateStrategy") or {}).get("type") != "RollingUpdate":
        raise RolloutFailed("rollout status is only available for RollingUpdate strategy type")
    if _int(obj["metadata"].get("generation")) <= _int(status.get("observedGeneration")):
        desired = _int(status.get("desiredNumberScheduled"))
        updated, available = _int(status.get("updatedNumberScheduled")), _int(status.get("numberAvailable"))
        waiting = f'Waiting for daemon set "{name}" rollout to finish: '
        if updated < desired:
            return Status(f"{waiting}{updated} out of {desired} new pods have been updated...", False)
        if available < desired:
            return Status(f"{waiting}{available} of {desired} updated pods are available...", False)
        return Status(f'daemon set "{name}" successfully rolled out', True)
    return Status("Waiting for daemon set spec update to be observed...", False)


def statefulset_status(obj: Mapping[str, Any], revision: int = 0, since: datetime | None = None) -> Status:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") != "RollingUpdate":
        raise RolloutFailed("rollout status is only available for RollingUpdate strategy type")
    observed = _int(status.get("observedGeneration"))
    if observed == 0 or _int(obj["metadata"].get("generation")) > observed:
        return Status("Waiting for statefulset spec update to be observed...", False)
    replicas = _int(spec.get("replicas"))
    if spec.get("replicas") is not None and _int(status.get("readyReplicas")) < replicas:
        return Status(
            f"Waiting for {replicas - _int(status.get('readyReplicas'))} pods to be ready...", False
        )
    rolling = strategy.get("rollingUpdate")
    updated = _int(status.get("updatedReplicas"))
    if rolling is not None:  # kubectl: any rollingUpdate block ends here, partition or not
        if spec.get("replicas") is not None and rolling.get("partition") is not None:
            partition = _int(rolling.get("partition"))
            if updated < replicas - partition:
                return Status(
                    f"Waiting for partitioned roll out to finish: {updated} out of {replicas - partition} "
                    "new pods have been updated...",
                    False,
                )
        return Status(f"partitioned roll out complete: {updated} new pods have been updated...", True)
    if status.get("updateRevision") != status.get("currentRevision"):
        return Status(
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{status.get('updateRevision')}...",
            False,
        )
    return Status(
        f"statefulset rolling update complete {_int(status.get('currentReplicas'))} pods at revision "
        f"{status.get('currentRevision')}...",
        True,
    )


VIEWERS: dict[WorkloadKind, Callable[[Mapping[str, Any], int, datetime | None], Status]] = {
    WorkloadKind.DEPLOYMENT: deployment_status,
    WorkloadKind.DAEMONSET: daemonset_status,
    WorkloadKind.STATEFULSET: statefulset_status,
}


async def follow_rollout(
    kube: KubeClient,
    ref: WorkloadRef,
    *,
    timeout: float,  # noqa: ASYNC109 - the contract's name; it bounds the whole follow, not one call
    on_progress: Callable[[str], None] | None = None,
    watch: bool = True,
    revision: int = 0,
    since: datetime | None = None,
) -> RolloutOutcome:
    """Follow the rollout like `kubectl rollout status --timeout`, reporting each status line.

    API errors are not fatal while time remains: the watch breaks, we relist and carry on (the API
    server restarting mid-rollout is survivable). A timeout of 0 or less waits forever, like kubectl.
    `watch=False` stops after the first line (result "pending" when not done, like `--watch=false`);
    `revision` is kubectl's `--revision` pin (Deployments; an error when the running one differs).
    `since` (our undo's time): a progress-deadline failure from before it is not this rollout's.
    """
    report = on_progress or (lambda _line: None)

    def viewer(obj: Mapping[str, Any]) -> Status:
        status = VIEWERS[ref.kind](obj, revision, since)
        return status if status.done or watch else Status(status.message, True, pending=True)

    try:
        async with asyncio.timeout(timeout if timeout > 0 else None):
            return await _follow(kube, ref, report, viewer)
    except TimeoutError:
        return RolloutOutcome("timed_out", TIMED_OUT)


async def _follow(
    kube: KubeClient,
    ref: WorkloadRef,
    report: Callable[[str], None],
    viewer: Callable[[Mapping[str, Any]], Status],
) -> RolloutOutcome:
    path = resources.workload_path(ref)
    watch_path = resources.collection_path(resources.PLURALS[ref.kind], ref.namespace)
    what = resources.describe(ref)
    while True:
        try:
            obj = await kube.request("get", path, what=what)
            outcome = _evaluate(viewer, obj, report)
            if outcome is not None:
                return outcome
            events = kube.watch(
                watch_path,
                query={
                    "fieldSelector": f"metadata.name={ref.name}",
                    "resourceVersion": str(obj["metadata"].get("resourceVersion", "")),
                    "allowWatchBookmarks": "false",
                },
                what=what,
                server_timeout=300,
            )
            async for kind, event_obj in events:
                if kind == "DELETED":
                    return RolloutOutcome("failed", "object has been deleted")
                if kind == "ERROR":
                    break  # e.g. 410 Gone: our resourceVersion is too old; relist
                if kind in ("ADDED", "MODIFIED"):
                    outcome = _evaluate(viewer, event_obj, report)
                    if outcome is not None:
                        return outcome
        except errors.NotFound as exc:
            return RolloutOutcome("failed", exc.describe())
        except (errors.Forbidden, errors.Invalid) as exc:
            return RolloutOutcome("failed", exc.describe())
        except errors.KubeError as exc:
            logger.warning("following %s: %s; relisting", ref, exc)
        await asyncio.sleep(_RELIST_PAUSE)


def _evaluate(
    viewer: Callable[[Mapping[str, Any]], Status], obj: Mapping[str, Any], report: Callable[[str], None]
) -> RolloutOutcome | None:
    try:
        status = viewer(obj)
    except RolloutFailed as exc:
        return RolloutOutcome("failed", str(exc))
    report(status.message)
    if status.pending:
        return RolloutOutcome("pending", status.message)
    return RolloutOutcome("complete", status.message) if status.done else None
