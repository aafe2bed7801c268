"""Pods that fail on kwok: the label (and annotations) that select the Stages in kwok/pod-behaviours.yaml.

kwok plays the kubelet; without these Stages every pod becomes Running and Ready at once. A pod template
labelled `rollback-receiver.test/behaviour: never-ready` gives pods that run but never become Ready; with
`crashloop` their containers exit every `crash-after`, are in CrashLoopBackOff for `restart-backoff`, and
run again, with restartCount going up; with `slow-ready` they run and become Ready only after
`ready-after` (a slow start, not a failure). Changing the label in a Deployment's template is a new revision,
exactly like shipping a bad image.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STAGES_FILE = Path(__file__).resolve().parent / "kwok" / "pod-behaviours.yaml"

BEHAVIOUR_LABEL = "rollback-receiver.test/behaviour"
NEVER_READY = "never-ready"
CRASHLOOP = "crashloop"
SLOW_READY = "slow-ready"
BEHAVIOURS = (NEVER_READY, CRASHLOOP, SLOW_READY)
CRASH_AFTER = "rollback-receiver.test/crash-after"  # how long a crash-looping container runs
RESTART_BACKOFF = "rollback-receiver.test/restart-backoff"  # how long it stays in CrashLoopBackOff
READY_AFTER = "rollback-receiver.test/ready-after"  # how long a slow-ready pod takes to become Ready


def failing_template(
    template: Mapping[str, Any],
    behaviour: str,
    *,
    crash_after: str | None = None,
    restart_backoff: str | None = None,
    ready_after: str | None = None,
) -> dict[str, Any]:
    """A copy of a pod template whose pods behave as `behaviour` (`never-ready`, `crashloop` or
    `slow-ready`); the durations are Go durations ("1s", "500ms"): `crash_after` and `restart_backoff`
    for `crashloop`, `ready_after` for `slow-ready`."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown pod behaviour {behaviour!r}; one of {', '.join(BEHAVIOURS)}")
    result = copy.deepcopy(dict(template))
    metadata = result.setdefault("metadata", {})
    metadata.setdefault("labels", {})[BEHAVIOUR_LABEL] = behaviour
    annotations = {CRASH_AFTER: crash_after, RESTART_BACKOFF: restart_backoff, READY_AFTER: ready_after}
    for key, value in annotations.items():
        if value is not None:
            metadata.setdefault("annotations", {})[key] = value
    return result


def healthy_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a pod template without any failure behaviour (its pods become Ready at once)."""
    result = copy.deepcopy(dict(template))
    metadata = result.get("metadata") or {}
    (metadata.get("labels") or {}).pop(BEHAVIOUR_LABEL, None)
    for key in (CRASH_AFTER, RESTART_BACKOFF, READY_AFTER):
        (metadata.get("annotations") or {}).pop(key, None)
    return result
