"""kubectl's words for the undos it refuses or skips, written once.

The guards (deciding ahead) and the rollout engine (refusing at patch time) say exactly what
`kubectl rollout undo` says (`k8s.io/kubectl/pkg/polymorphichelpers/rollback.go`), so an SRE who knows kubectl
recognises every message.
"""

from __future__ import annotations

from receiver.core.workload import WorkloadKind

PAUSED_DEPLOYMENT = (
    "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
)


# StatefulSets and DaemonSets (ControllerRevision history).
NO_LAST_REVISION = "no last revision to roll back to"


def no_history(kind: WorkloadKind, name: str) -> str:
    if kind is WorkloadKind.DEPLOYMENT:
        return f'no rollout history found for deployment "{name}"'
    if kind is WorkloadKind.ROLLOUT:  # `kubectl argo rollouts undo` (pkg/kubectl-argo-rollouts/cmd/undo)
        return f'no revision found for rollout "{name}"'
    return NO_LAST_REVISION


def unknown_revision(revision: int) -> str:
    return f"unable to find specified revision {revision} in history"


def already_matches(requested: int) -> str:
    """kubectl echoes the *requested* number, so the default literally says "revision 0"."""
    return f"skipped rollback (current template already matches revision {requested})"
