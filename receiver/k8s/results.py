"""What the rollout engine hands back: plain frozen data, no client types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from receiver.core.workload import WorkloadRef


@dataclass(frozen=True, slots=True)
class UndoPlan:
    """The outcome of kubectl's algorithm on one snapshot: a patch to send, or a skip."""

    target_revision: int  # the revision number restored (as numbered before the undo)
    from_revision: int | None  # the revision live before the undo, when known
    skipped_message: str | None  # kubectl's "skipped rollback (...)" when the template already matches
    content_type: str = ""
    patch: Any = None  # JSON patch (list) or strategic merge patch (dict), exactly kubectl's body
    resource_version: str = ""  # of the workload the plan was computed from


@dataclass(frozen=True, slots=True)
class UndoResult:
    ref: WorkloadRef
    skipped: bool
    # kubectl's: "rolled back" or "skipped rollback (current template already matches revision N)"
    message: str
    target_revision: int
    from_revision: int | None
    dry_run: bool = False
    resource_version: str = ""  # of the workload after the patch ("" when skipped)
    annotations_written: dict[str, str] = field(default_factory=dict)  # ours, in the same patch
    applied_at: datetime | None = None  # the API server's time of the patch (seconds)


@dataclass(frozen=True, slots=True)
class RolloutOutcome:
    result: Literal["complete", "failed", "timed_out", "pending"]  # pending: --watch=false, not done
    message: str  # kubectl's last status line, or its error
