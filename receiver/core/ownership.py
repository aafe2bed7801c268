"""Who else manages a workload, and so what an undo would mean for it.

- Argo CD and Flux revert live edits: our undo would be re-applied away by their next sync, so by default we
  only notify (the fix is a revert in Git).
- Helm does not revert live edits, so our undo restores service; but the release still records the bad
  version and the next `helm upgrade` re-applies it: we roll back and name the `helm rollback` command.
- A workload controlled by another object (an ownerReference with `controller: true`: Flagger's primary, a
  Deployment some operator manages) is never undone behind its controller's back.
- A Deployment an Argo Rollout runs through `spec.workloadRef` is never undone directly: the Rollout owns
  its rollout (and its undo patches the Deployment the way Argo expects). Argo marks nothing on the
  Deployment, so the referencing Rollouts are found by listing them (`WorkloadFacts.referenced_by`).

Markers (read from the workload's metadata, never from Helm's release Secrets):
- Argo CD: annotation `argocd.argoproj.io/tracking-id` (annotation tracking, the default since Argo CD 3.0)
  or `argocd.argoproj.io/instance`; with label tracking (Argo CD 2.x's default) the configured label,
  usually `app.kubernetes.io/instance`;
- Flux: labels `kustomize.toolkit.fluxcd.io/name` + `/namespace`, or `helm.toolkit.fluxcd.io/name` +
  `/namespace`;
- Helm: label `app.kubernetes.io/managed-by: Helm` and annotation `meta.helm.sh/release-name` (and
  `meta.helm.sh/release-namespace`);
- a controller: an ownerReference with `controller: true`;
- an Argo Rollout: a Rollout in the namespace whose `spec.workloadRef` names the Deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from receiver.core.workload import OwnerReference

ARGOCD_TRACKING_ID = "argocd.argoproj.io/tracking-id"
ARGOCD_INSTANCE = "argocd.argoproj.io/instance"
FLUX_KUSTOMIZATION = "kustomize.toolkit.fluxcd.io"
FLUX_HELM_RELEASE = "helm.toolkit.fluxcd.io"
HELM_MANAGED_BY = "app.kubernetes.io/managed-by"
HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


class Manager(StrEnum):
    ARGOCD = "Argo CD"
    FLUX = "Flux"
    HELM = "Helm"
    CONTROLLER = "controller"
    ROLLOUT = "Argo Rollouts"


@dataclass(frozen=True, slots=True)
class Ownership:
    manager: Manager
    name: str  # the Argo CD application, the Flux object, the Helm release, the controlling object
    namespace: str = ""

    @property
    def described(self) -> str:
        if self.manager is Manager.ARGOCD:
            return f"Argo CD (application {self.name})" if self.name else "Argo CD"
        if self.manager is Manager.FLUX:
            return f"Flux ({self.name})"
        if self.manager is Manager.HELM:
            return f"the Helm release {self.name} -n {self.namespace}"
        if self.manager is Manager.ROLLOUT:
            return f"the Argo Rollout {self.name} (its spec.workloadRef names this Deployment)"
        return self.name

    @property
    def helm_rollback(self) -> str:
        """The command that rolls the release back to its previous revision, like our undo did."""
        return f"helm rollback {self.name} -n {self.namespace}"


def ownership(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owners: tuple[OwnerReference, ...],
    *,
    argocd_label: str | None = None,
    referenced_by: tuple[str, ...] = (),
) -> Ownership | None:
    """The manager whose rules apply, most binding first: an Argo Rollout's workloadRef, a controller, then
    GitOps, then Helm.

    Flux's helm-controller also labels its releases as Helm-managed, so Flux is recognised before Helm; and
    with Argo CD label tracking the label is the one Helm charts set too, so it only counts when configured.
    """
    if referenced_by:
        return Ownership(Manager.ROLLOUT, ", ".join(f"rollout/{name}" for name in referenced_by))
    for owner in owners:
        if owner.controller:
            return Ownership(Manager.CONTROLLER, f"{owner.kind}/{owner.name}")
    tracking = annotations.get(ARGOCD_TRACKING_ID)
    if tracking is not None:
        return Ownership(Manager.ARGOCD, tracking.partition(":")[0])
    instance = annotations.get(ARGOCD_INSTANCE) or labels.get(ARGOCD_INSTANCE)
    if instance is not None:
        return Ownership(Manager.ARGOCD, instance)
    for group, kind in ((FLUX_KUSTOMIZATION, "Kustomization"), (FLUX_HELM_RELEASE, "HelmRelease")):
        name = labels.get(f"{group}/name")
        if name is not None:
            namespace = labels.get(f"{group}/namespace", "")
            return Ownership(Manager.FLUX, f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}")
    if argocd_label and labels.get(argocd_label):
        return Ownership(Manager.ARGOCD, labels[argocd_label])
    release = annotations.get(HELM_RELEASE_NAME)
    if labels.get(HELM_MANAGED_BY) == "Helm" and release:
        return Ownership(Manager.HELM, release, annotations.get(HELM_RELEASE_NAMESPACE, ""))
    return None
