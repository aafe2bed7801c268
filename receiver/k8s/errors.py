"""Our own Kubernetes error tree, so no client-library exception leaks past `receiver.k8s`.

Every API failure is mapped once, in `client.py`, into one of these. Callers branch on the type:
`Transient` was already retried within the deadline; `Conflict` means "decide again on fresh state",
never "retry blindly".
"""

from __future__ import annotations

from typing import ClassVar

from receiver.core import refusals
from receiver.core.decisions import Reason


class KubeError(Exception):
    """An API call failed. Carries what was attempted and what the server said."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        reason: str = "",
        verb: str = "",
        target: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # HTTP status; 0 when no response was received
        self.reason = reason  # the Status reason, e.g. "NotFound", "Conflict", "ServiceUnavailable"
        self.verb = verb  # get / list / patch / create / watch
        self.target = target  # e.g. "deployments.apps/web -n shop"

    def __str__(self) -> str:
        return self.message

    def describe(self) -> str:
        """kubectl's rendering of a server error: `Error from server (NotFound): <message>`."""
        if self.status:
            return f"Error from server ({self.reason or self.status}): {self.message}"
        return self.message


class KubeConfigError(KubeError):
    """No usable cluster credentials (no in-cluster service account, kubeconfig missing or broken)."""


class NotFound(KubeError):
    """404: the object (or its namespace) does not exist."""


class Forbidden(KubeError):
    """403: RBAC or admission said no. Retrying will not help."""


class Unauthorized(Forbidden):
    """401: the credentials were rejected (expired token, wrong kubeconfig)."""


class Conflict(KubeError):
    """409: the object changed since we read it (or already exists). Decide again on fresh state."""


class Invalid(KubeError):
    """400/422: the server rejected the request body (validation, a failed JSON-patch `test`)."""


class Transient(KubeError):
    """5xx, 429, timeouts, connection refused/reset: still failing when the retry deadline ran out."""


class StateError(KubeError):
    """The guard-state ConfigMap could not be read or written (after retries), or is unreadable."""


class UndoRefused(Exception):
    """kubectl refuses this undo; the message is kubectl's, `reason` the decision reason it maps to."""

    reason: ClassVar[Reason]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DeploymentPaused(UndoRefused):
    reason = Reason.DEPLOYMENT_PAUSED

    def __init__(self) -> None:
        super().__init__(refusals.PAUSED_DEPLOYMENT)


class NoHistory(UndoRefused):
    reason = Reason.NO_HISTORY


class UnknownRevision(UndoRefused):
    reason = Reason.UNKNOWN_REVISION

    def __init__(self, revision: int, message: str | None = None) -> None:
        super().__init__(message or refusals.unknown_revision(revision))
        self.revision = revision


class UnsupportedWorkloadRef(UndoRefused):
    """An Argo Rollout whose workloadRef names a kind other than Deployment: we do not restore it."""

    reason = Reason.WORKLOAD_REF_UNSUPPORTED


class AmbiguousTarget(Exception):
    """A label selector matched more workloads than the cap allows: acting on any of them would be a guess."""

    def __init__(self, message: str, *, matches: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.matches = matches
