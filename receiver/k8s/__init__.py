"""The Kubernetes layer: the only package that imports kubernetes_asyncio.

Public API (see docs/architecture.md, "Kubernetes layer"): connect, read_facts, history, undo, abort,
follow_rollout, resolve, EventRecorder, StateStore,
WorkloadWatch (the rollout-health watch and its cache); the error tree in `errors`.
"""

from receiver.k8s.client import KubeClient, RetryPolicy, connect
from receiver.k8s.errors import (
    AmbiguousTarget,
    Conflict,
    Forbidden,
    Invalid,
    KubeConfigError,
    KubeError,
    NotFound,
    StateError,
    Transient,
    Unauthorized,
    UndoRefused,
)
from receiver.k8s.events import EventRecorder
from receiver.k8s.incidents import IncidentStore
from receiver.k8s.results import RolloutOutcome, UndoResult
from receiver.k8s.rollout import abort, history, undo
from receiver.k8s.state import StateStore
from receiver.k8s.status import follow_rollout
from receiver.k8s.workload_watch import WorkloadWatch
from receiver.k8s.workloads import facts_from, read_facts, read_snapshot, resolve

__all__ = [
    "AmbiguousTarget",
    "Conflict",
    "EventRecorder",
    "Forbidden",
    "IncidentStore",
    "Invalid",
    "KubeClient",
    "KubeConfigError",
    "KubeError",
    "NotFound",
    "RetryPolicy",
    "RolloutOutcome",
    "StateError",
    "StateStore",
    "Transient",
    "Unauthorized",
    "UndoRefused",
    "UndoResult",
    "WorkloadWatch",
    "abort",
    "connect",
    "facts_from",
    "follow_rollout",
    "history",
    "read_facts",
    "read_snapshot",
    "resolve",
    "undo",
]
