"""What the decision engine knows about a workload: plain data read from the cluster by `receiver.k8s`.

No Kubernetes client types cross this boundary, so guards stay pure and testable without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class WorkloadKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFULSET = "StatefulSet"
    DAEMONSET = "DaemonSet"
    ROLLOUT = "Rollout"  # argoproj.io/v1alpha1: Argo Rollouts (docs/argo-rollouts.md)


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    kind: WorkloadKind
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name} -n {self.namespace}"


@dataclass(frozen=True, slots=True)
class OwnerReference:
    kind: str
    name: str
    controller: bool  # `controller: true`: that object manages this one


@dataclass(frozen=True, slots=True)
class Revision:
    """One entry of `kubectl rollout history`: a ReplicaSet (Deployment) or a ControllerRevision."""

    number: int
    object_name: str  # ReplicaSet or ControllerRevision name
    created_at: datetime  # when this revision object was created (first went live)
    change_cause: str | None
    template_hash: str  # pod-template-hash / controller-revision-hash; identifies the template
    annotations: Mapping[str, str]
    images: tuple[str, ...] = ()  # `container=image` of its pod template, for people (incident records)


@dataclass(frozen=True, slots=True)
class RolloutState:
    """What Argo Rollouts says about a `Rollout`, as its controller and plugin read it."""

    phase: str  # `GetRolloutPhase`: Healthy, Progressing, Paused or Degraded
    message: str
    stable_hash: str  # status.stableRS
    current_hash: str  # status.currentPodHash: the template the spec asks for
    aborted: bool  # status.abort
    strategy: str  # "canary", "blueGreen" or "" (none set)
    observed: bool  # the controller has seen the latest spec (status.observedGeneration)
    workload_ref: str | None = None  # "Deployment/NAME" when the template comes from spec.workloadRef
    workload_generation: int | None = None  # that Deployment's metadata.generation, as read

    @property
    def update_in_progress(self) -> bool:
        """Argo's `!IsFullyPromoted`: a canary or blue-green update has not (yet) become the stable one.

        A spec the controller has not observed yet counts too: it is an update about to start."""
        return self.stable_hash != self.current_hash or not self.observed


@dataclass(frozen=True, slots=True)
class WorkloadFacts:
    """A snapshot of one workload and its history, taken just before deciding."""

    ref: WorkloadRef
    uid: str
    resource_version: str
    generation: int
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    owners: tuple[OwnerReference, ...]  # ownerReferences (GitOps and Helm markers are labels/annotations)
    paused: bool
    current_revision: int | None  # revision whose template is live now; None when unknown
    current_revision_since: datetime | None  # when the current revision went live (its last roll-out start)
    revisions: tuple[Revision, ...]  # ascending by number
    rollout: RolloutState | None = None  # kind Rollout only
    # Deployments only: the Rollouts whose spec.workloadRef names this Deployment (Argo marks nothing on it)
    referenced_by: tuple[str, ...] = ()
