"""The native rollout-health source, pure: when a Deployment's rollout is failing, and the alert it becomes.

Kubernetes does not roll back by itself: a Deployment whose new pods never become ready only gets
`Progressing=False, reason=ProgressDeadlineExceeded`. The k8s layer watches Deployments, their ReplicaSets
and the new ReplicaSet's pods and hands a `RolloutView` to `evaluate`, which finds at most one of:

- `RolloutProgressDeadlineExceeded`: the controller gave up on the live revision's rollout;
- `RolloutCrashLooping`: a container of the new ReplicaSet restarted `crash_loop_restarts` times, or is in
  CrashLoopBackOff (`crash_loop_backoff`);
- `RolloutNotReady`: a pod of the new ReplicaSet has not been ready for `not_ready_for` while the previous
  ReplicaSet was healthy (all of its replicas available), so the new revision is the difference.

A revision found failing stays failing until its rollout completes (`still_failing`), or another revision
goes live: a crash loop is momentarily "running" between crashes, and that must not end the episode.

A finding becomes a synthetic `Alert` that the routes, guards and the exactly-once rule treat like any
other. Its identity is derived from the cluster alone, so every replica and every restart computes the
same episode key for the same failing revision: the fingerprint hashes the Deployment's uid, the revision
number (the deployment controller never re-uses one) and the signal; `startsAt` is when the revision went
live.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from receiver.core.alerts import Alert, AlertStatus
from receiver.core.annotations import ROLLOUT_HEALTH
from receiver.core.durations import format_duration
from receiver.core.settings import HealthWorkloads, RolloutHealthConfig

# The synthetic alerts travel with this group key, through the queue and in pending confirmations: it is
# how the pipeline knows that Alertmanager never saw them (it asks the watch, not Alertmanager, whether
# they still fire).
WATCH_GROUP_KEY = "rollback-receiver.io/rollout-health"
SOURCE_LABEL = "source"
SOURCE_VALUE = "rollout-health"


class Signal(StrEnum):
    """The synthetic alert names, in the order a finding is chosen when several hold."""

    PROGRESS_DEADLINE = "RolloutProgressDeadlineExceeded"
    CRASH_LOOPING = "RolloutCrashLooping"
    NOT_READY = "RolloutNotReady"


@dataclass(frozen=True, slots=True)
class PodHealth:
    """One pod of the new ReplicaSet, as much of it as the signals need."""

    name: str
    ready: bool
    not_ready_since: datetime | None  # the Ready condition's last transition, else the pod's creation
    restarts: int  # the highest restartCount of its containers
    backoff: str | None  # the name of a container in CrashLoopBackOff, if any


@dataclass(frozen=True, slots=True)
class RolloutView:
    """A Deployment's live revision and the state of its rollout, from the watch."""

    namespace: str
    name: str
    uid: str
    annotations: Mapping[str, str]
    revision: int  # the live revision: the new ReplicaSet's number
    replica_set: str  # the new ReplicaSet's name
    went_live: datetime  # when this revision's rollout started
    deadline_exceeded: bool  # Progressing=False, ProgressDeadlineExceeded, naming the new ReplicaSet
    deadline_message: str
    pods: tuple[PodHealth, ...]  # the new ReplicaSet's pods (not those being deleted)
    previous_healthy: bool  # the previous ReplicaSet had replicas and all of them were available
    complete: bool = False  # the rollout finished: every replica updated and available (kubectl's "done")


@dataclass(frozen=True, slots=True)
class Finding:
    signal: Signal
    message: str


def enrolled(annotations: Mapping[str, str], settings: RolloutHealthConfig) -> bool:
    """Whether the source looks at this Deployment at all (the guards' opt-outs apply later, as always)."""
    value = annotations.get(ROLLOUT_HEALTH, "").strip().lower()
    if settings.workloads is HealthWorkloads.ALL:
        return value != "false"
    return value == "true"


def evaluate(
    view: RolloutView, settings: RolloutHealthConfig, now: datetime
) -> tuple[Finding | None, datetime | None]:
    """The finding for the live revision, if any, and when to look again without a change in the cluster
    (a not-ready pod crossing `not_ready_for`; None when only a change can make a finding appear)."""
    where = f"deployment {view.name} revision {view.revision} (ReplicaSet {view.replica_set})"
    if view.deadline_exceeded:
        detail = f": {view.deadline_message}" if view.deadline_message else ""
        return Finding(Signal.PROGRESS_DEADLINE, f"{where} exceeded its progress deadline{detail}"), None
    crashing = _crash_looping(view, settings)
    if crashing is not None:
        return Finding(Signal.CRASH_LOOPING, f"{where}: {crashing}"), None
    threshold = settings.not_ready_for
    if threshold <= timedelta(0) or not view.previous_healthy:
        return None, None
    next_look: datetime | None = None
    for pod in view.pods:
        if pod.ready or pod.not_ready_since is None:
            continue
        due = pod.not_ready_since + threshold
        if due <= now:
            message = (
                f"{where}: pod {pod.name} not ready since {pod.not_ready_since.isoformat()} "
                f"(longer than {format_duration(threshold)}) while the previous revision was healthy"
            )
            return Finding(Signal.NOT_READY, message), None
        next_look = due if next_look is None else min(next_look, due)
    return None, next_look


def still_failing(view: RolloutView, settings: RolloutHealthConfig, now: datetime) -> bool:
    """Whether a revision found failing still is: until its rollout completes, whatever the moment shows
    (a crash-looping container is running between two crashes, a not-ready pod may flap)."""
    finding, _ = evaluate(view, settings, now)
    return finding is not None or not view.complete


def _crash_looping(view: RolloutView, settings: RolloutHealthConfig) -> str | None:
    for pod in view.pods:
        if pod.restarts >= settings.crash_loop_restarts:
            return f"pod {pod.name} restarted {pod.restarts} times (at least {settings.crash_loop_restarts})"
        if settings.crash_loop_backoff and pod.backoff is not None:
            return f"pod {pod.name}: container {pod.backoff} is in CrashLoopBackOff"
    return None


def fingerprint(uid: str, revision: int, signal: Signal) -> str:
    """16 hex digits, like Alertmanager's, from what identifies the failing revision in the cluster."""
    return hashlib.sha256(f"{uid}/{revision}/{signal.value}".encode()).hexdigest()[:16]


def alert_for(
    view: RolloutView,
    finding: Finding,
    settings: RolloutHealthConfig,
    *,
    status: AlertStatus = AlertStatus.FIRING,
    ended_at: datetime | None = None,
) -> Alert:
    """The synthetic alert of a finding: what routes match and the guards decide on."""
    return Alert(
        status=status,
        labels={
            "alertname": finding.signal.value,
            "namespace": view.namespace,
            "deployment": view.name,
            "revision": str(view.revision),
            "severity": settings.severity,
            SOURCE_LABEL: SOURCE_VALUE,
        },
        annotations={"rollback": "true", "summary": finding.message},
        starts_at=view.went_live,
        ends_at=ended_at if status is AlertStatus.RESOLVED else None,
        generator_url="",
        fingerprint=fingerprint(view.uid, view.revision, finding.signal),
    )


def sample_alert(signal: Signal, settings: RolloutHealthConfig, *, namespace: str = "default") -> Alert:
    """What a finding of `signal` looks like to the routes (for check-config's advice)."""
    view = RolloutView(
        namespace=namespace,
        name="example",
        uid="",
        annotations={},
        revision=2,
        replica_set="example-2",
        went_live=datetime(2000, 1, 1, tzinfo=UTC),
        deadline_exceeded=False,
        deadline_message="",
        pods=(),
        previous_healthy=True,
    )
    return alert_for(view, Finding(signal, ""), settings)


def is_watch_item(group_key: str) -> bool:
    return group_key == WATCH_GROUP_KEY
