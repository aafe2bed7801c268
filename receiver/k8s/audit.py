"""Our annotations (prefix `rollback-receiver.io/`), written in the same patch as the rollback."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from receiver.core.annotations import (
    ACTOR,
    CHANGE_CAUSE,
    ENABLED,
    LAST_ALERT,
    PAUSED,
    PREFIX,
    ROLLED_BACK_AT,
    ROLLED_BACK_FROM,
    ROLLED_BACK_FROM_TEMPLATE,
    ROLLED_BACK_TO,
    ROLLED_BACK_TO_TEMPLATE,
    is_ours,
)
from receiver.core.text import MAX_ALERT_NAME_BYTES, MAX_ANNOTATION_BYTES, one_line
from receiver.core.timefmt import format_rfc3339

__all__ = [
    "ACTOR",
    "CHANGE_CAUSE",
    "ENABLED",
    "LAST_ALERT",
    "PAUSED",
    "PREFIX",
    "ROLLED_BACK_AT",
    "ROLLED_BACK_FROM",
    "ROLLED_BACK_FROM_TEMPLATE",
    "ROLLED_BACK_TO",
    "ROLLED_BACK_TO_TEMPLATE",
    "audit_annotations",
    "change_cause",
    "is_ours",
    "pin_revision",
]


def change_cause(alert_name: str, fingerprint: str, to_revision: int) -> str:
    """What `kubectl rollout history` shows; the alert's parts are cleaned and capped first, so the revision
    at the end always survives (and `pin_revision` can still find it)."""
    name = one_line(alert_name, MAX_ALERT_NAME_BYTES)
    fingerprint = one_line(fingerprint, 64)
    return f"rollback-receiver: {name} ({fingerprint}) rolled back to revision {to_revision}"


def audit_annotations(
    *,
    actor: str,
    at: datetime,
    to_revision: int,
    alert_key: str = "",
    alert_name: str = "",
    fingerprint: str = "",
    cause: str | None = None,
) -> dict[str, str]:
    """The audit map `undo(audit=...)` expects. `to_revision` is the revision the decision chose (0 =
    kubectl's "previous", named by `undo` once it knows the number); `undo` raises Conflict if the history
    no longer leads to a pinned revision, and fills in `rolled-back-from`.

    Every value is one line of printable text of at most MAX_ANNOTATION_BYTES (receiver.core.text): the
    alert's name and key come from whoever posted the webhook."""
    annotations = {
        ACTOR: actor,
        ROLLED_BACK_AT: format_rfc3339(at),
        ROLLED_BACK_TO: str(to_revision),
        CHANGE_CAUSE: cause if cause is not None else change_cause(alert_name, fingerprint, to_revision),
    }
    if alert_key:
        annotations[LAST_ALERT] = alert_key
    return {key: one_line(value, MAX_ANNOTATION_BYTES) for key, value in annotations.items()}


def pin_revision(annotations: Mapping[str, str], target: int) -> dict[str, str]:
    """Replace an unpinned `rolled-back-to: "0"` (and the change-cause naming revision 0) by `target`."""
    result = dict(annotations)
    if result.get(ROLLED_BACK_TO, "0") == "0":
        result[ROLLED_BACK_TO] = str(target)
        cause = result.get(CHANGE_CAUSE)
        if cause is not None and cause.endswith(" revision 0"):
            result[CHANGE_CAUSE] = cause.removesuffix("0") + str(target)
    return result
