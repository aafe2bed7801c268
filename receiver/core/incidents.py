"""The incident record of one rollback: what the receiver saw, with wall-clock times, as pure data.

One record per claim (alert episode x workload), created when the undo patch is accepted and completed by
whichever replica sees the next step: the rollout's end, the alert's resolve or its deadline, each
notification. Its id is derived from the claim key, so every replica names the same record. Steps are
idempotent (a step with the same `key` is recorded once) and the record is bounded (labels, texts and the
number of steps), so the ConfigMap that keeps the records stays small. `receiver.k8s.incidents` stores
them; `receiver.core.incident_report` renders them as Markdown; the web layer as HTML.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from receiver.core.timefmt import format_rfc3339_precise, parse_rfc3339
from receiver.core.workload import WorkloadKind, WorkloadRef

SCHEMA = 1
MAX_STEPS = 60  # a record that keeps being notified about stops growing; the outcome is always kept
MAX_TEXT = 600
MAX_LABELS = 40
MAX_LABEL_VALUE = 256
MAX_IMAGES = 10


class StepKind(StrEnum):
    ALERT_STARTED = "alert_started"  # the alert's startsAt (Prometheus' clock)
    RECEIVED = "received"  # its first delivery to us
    WAITED = "waited"  # a confirmation delay ran before the decision
    DECIDED = "decided"  # the guards said: roll back (with the reason)
    PATCHED = "patched"  # the undo patch was accepted
    TAKEN_OVER = "taken_over"  # another replica (or this one after a restart) took the work over
    ROLLOUT_COMPLETE = "rollout_complete"
    ROLLOUT_FAILED = "rollout_failed"
    VERIFYING = "verifying"  # waiting for the alert to resolve
    ALERT_RESOLVED = "alert_resolved"
    STILL_FIRING = "still_firing"  # the alert did not resolve in time: the rollback did not help
    NOTIFIED = "notified"  # one channel was told about one outcome (sent, failed, dropped)


# Steps that end a record: after one of them the outcome is known.
CLOSING = frozenset({StepKind.ROLLOUT_FAILED, StepKind.ALERT_RESOLVED, StepKind.STILL_FIRING})


class Phase(StrEnum):
    """Where the rollback stands; the last four are outcomes."""

    ROLLING_OUT = "rolling_out"
    VERIFYING = "verifying"
    RECOVERED = "recovered"
    DID_NOT_HELP = "did_not_help"
    ROLLOUT_FAILED = "rollout_failed"
    UNKNOWN = "unknown"
    COMPLETED = "completed"  # the rollout completed and the route does not verify by the alert


OUTCOMES = frozenset(
    {Phase.RECOVERED, Phase.DID_NOT_HELP, Phase.ROLLOUT_FAILED, Phase.UNKNOWN, Phase.COMPLETED}
)


@dataclass(frozen=True, slots=True)
class Step:
    at: datetime
    kind: StepKind
    text: str
    by: str = ""  # the replica that recorded it
    key: str = ""  # idempotency key; "" = the kind (one step of that kind per record)

    @property
    def identity(self) -> str:
        return self.key or self.kind.value


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    claim_key: str
    opened_at: datetime
    cluster: str
    route: str
    source: str  # where the alert's work came from (webhook, reconcile, confirmation)
    alert_name: str
    alert_key: str
    fingerprint: str
    alert_starts_at: datetime
    workload: WorkloadRef
    reason: str  # the decision's sentence
    alert_labels: Mapping[str, str] = field(default_factory=dict)
    alert_summary: str = ""  # the alert's own words (summary, description or reason annotation)
    received_at: datetime | None = None
    decided_at: datetime | None = None
    patched_at: datetime | None = None
    from_revision: int | None = None
    to_revision: int | None = None
    images_before: tuple[str, ...] = ()
    images_after: tuple[str, ...] = ()
    change_cause: str = ""
    rollout_done_at: datetime | None = None
    resolved_at: datetime | None = None
    clears_by: datetime | None = None
    phase: Phase = Phase.ROLLING_OUT
    closed_at: datetime | None = None
    steps: tuple[Step, ...] = ()

    @property
    def closed(self) -> bool:
        return self.phase in OUTCOMES

    @property
    def time_to_patch(self) -> timedelta | None:
        """Alert start to the undo patch: what the seed's decision matrix counts as time to rollback."""
        return self.patched_at - self.alert_starts_at if self.patched_at else None

    @property
    def receipt_to_patch(self) -> timedelta | None:
        return self.patched_at - self.received_at if self.patched_at and self.received_at else None

    @property
    def rollout_duration(self) -> timedelta | None:
        return self.rollout_done_at - self.patched_at if self.rollout_done_at and self.patched_at else None

    @property
    def time_to_recovery(self) -> timedelta | None:
        """Alert start to its resolve, when the rollback helped."""
        if self.phase is not Phase.RECOVERED or self.resolved_at is None:
            return None
        return self.resolved_at - self.alert_starts_at

    def timeline(self) -> tuple[Step, ...]:
        """The steps in time order (recorded by several replicas, so not always in recording order)."""
        return tuple(sorted(self.steps, key=lambda s: s.at))

    def has(self, identity: str) -> bool:
        return any(s.identity == identity for s in self.steps)


def incident_id(claim_key: str) -> str:
    """The record's id, the same on every replica: a short hash of the claim key."""
    return hashlib.sha256(claim_key.encode()).hexdigest()[:12]


def bounded_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The alert's labels as kept in the record: at most MAX_LABELS, long values shortened."""
    return {k[:MAX_LABEL_VALUE]: _short(v, MAX_LABEL_VALUE) for k, v in sorted(labels.items())[:MAX_LABELS]}


def with_step(incident: Incident, step: Step) -> Incident:
    """`incident` with `step` recorded once (same identity: no change), within MAX_STEPS (closing steps
    are always kept)."""
    if incident.has(step.identity):
        return incident
    if len(incident.steps) >= MAX_STEPS and step.kind not in CLOSING:
        return incident
    step = replace(step, text=_short(step.text, MAX_TEXT))
    return replace(incident, steps=(*incident.steps, step))


def close(incident: Incident, phase: Phase, at: datetime) -> Incident:
    """Record the outcome; the first one stays (a late resolve after a did_not_help changes nothing)."""
    if incident.closed:
        return incident
    return replace(incident, phase=phase, closed_at=at)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- JSON (the store, the API and the CLI all speak it) ------------------------------------------------


def to_json(incident: Incident, *, url: str | None = None) -> dict[str, Any]:
    """The record as JSON; `url` (its page) is added for API answers, never stored."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "id": incident.id,
        "claim_key": incident.claim_key,
        "opened_at": _iso(incident.opened_at),
        "cluster": incident.cluster,
        "route": incident.route,
        "source": incident.source,
        "alert": {
            "name": incident.alert_name,
            "key": incident.alert_key,
            "fingerprint": incident.fingerprint,
            "starts_at": _iso(incident.alert_starts_at),
            "labels": dict(incident.alert_labels),
            "summary": incident.alert_summary,
        },
        "workload": {
            "kind": str(incident.workload.kind),
            "namespace": incident.workload.namespace,
            "name": incident.workload.name,
        },
        "reason": incident.reason,
        "received_at": _iso(incident.received_at),
        "decided_at": _iso(incident.decided_at),
        "patched_at": _iso(incident.patched_at),
        "revision": {"from": incident.from_revision, "to": incident.to_revision},
        "images": {"before": list(incident.images_before), "after": list(incident.images_after)},
        "change_cause": incident.change_cause,
        "rollout_done_at": _iso(incident.rollout_done_at),
        "resolved_at": _iso(incident.resolved_at),
        "clears_by": _iso(incident.clears_by),
        "phase": incident.phase.value,
        "closed_at": _iso(incident.closed_at),
        "impact": {
            "alert_start_to_patch_seconds": _seconds(incident.time_to_patch),
            "receipt_to_patch_seconds": _seconds(incident.receipt_to_patch),
            "rollout_seconds": _seconds(incident.rollout_duration),
            "time_to_recovery_seconds": _seconds(incident.time_to_recovery),
        },
        "steps": [
            {"at": _iso(s.at), "kind": s.kind.value, "text": s.text, "by": s.by, "key": s.key}
            for s in incident.steps
        ],
    }
    if url is not None:
        doc["url"] = url
    return doc


def summary_json(incident: Incident, *, url: str | None = None) -> dict[str, Any]:
    """What a list shows of a record (the API's and the CLI's `list`)."""
    doc = to_json(incident, url=url)
    keys = ("id", "opened_at", "phase", "closed_at", "cluster", "route", "impact", "revision")
    out = {key: doc[key] for key in keys}
    out.update(alert=doc["alert"]["name"], workload=doc["workload"])
    if url is not None:
        out["url"] = url
    return out


def from_json(doc: Mapping[str, Any]) -> Incident:
    """The inverse of `to_json`; ValueError (or KeyError/TypeError) when the document is not a record."""
    alert, workload = doc["alert"], doc["workload"]
    revision, images = doc.get("revision") or {}, doc.get("images") or {}
    return Incident(
        id=str(doc["id"]),
        claim_key=str(doc["claim_key"]),
        opened_at=_required(doc["opened_at"]),
        cluster=str(doc.get("cluster", "")),
        route=str(doc.get("route", "")),
        source=str(doc.get("source", "")),
        alert_name=str(alert.get("name", "")),
        alert_key=str(alert.get("key", "")),
        fingerprint=str(alert.get("fingerprint", "")),
        alert_starts_at=_required(alert["starts_at"]),
        alert_labels={str(k): str(v) for k, v in dict(alert.get("labels") or {}).items()},
        alert_summary=str(alert.get("summary", "")),
        workload=WorkloadRef(
            WorkloadKind(workload["kind"]), str(workload["namespace"]), str(workload["name"])
        ),
        reason=str(doc.get("reason", "")),
        received_at=_time(doc.get("received_at")),
        decided_at=_time(doc.get("decided_at")),
        patched_at=_time(doc.get("patched_at")),
        from_revision=_int(revision.get("from")),
        to_revision=_int(revision.get("to")),
        images_before=tuple(str(i) for i in images.get("before") or ()),
        images_after=tuple(str(i) for i in images.get("after") or ()),
        change_cause=str(doc.get("change_cause", "")),
        rollout_done_at=_time(doc.get("rollout_done_at")),
        resolved_at=_time(doc.get("resolved_at")),
        clears_by=_time(doc.get("clears_by")),
        phase=Phase(doc.get("phase") or Phase.ROLLING_OUT.value),
        closed_at=_time(doc.get("closed_at")),
        steps=tuple(
            Step(
                at=_required(s["at"]),
                kind=StepKind(s["kind"]),
                text=str(s.get("text", "")),
                by=str(s.get("by", "")),
                key=str(s.get("key", "")),
            )
            for s in doc.get("steps") or ()
        ),
    )


def dumps(incident: Incident) -> str:
    return json.dumps(to_json(incident), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def loads(text: str) -> Incident:
    return from_json(json.loads(text))


def retained(incidents: Mapping[str, str], *, keep: int, max_bytes: int) -> set[str]:
    """Which serialised records (id -> JSON) to drop so at most `keep` remain within `max_bytes`: the
    oldest first (ids sort by nothing useful, so the order is the records' `opened_at`)."""
    order = sorted(incidents, key=lambda i: (_opened(incidents[i]), i))
    drop: set[str] = set()
    size = sum(len(v.encode()) + len(k) + 8 for k, v in incidents.items())
    for ident in order:
        if len(incidents) - len(drop) <= keep and size <= max_bytes:
            break
        drop.add(ident)
        size -= len(incidents[ident].encode()) + len(ident) + 8
    return drop


def _opened(text: str) -> str:
    try:
        return str(json.loads(text).get("opened_at") or "")
    except (ValueError, AttributeError):
        return ""  # unreadable records go first


def _iso(moment: datetime | None) -> str | None:
    return format_rfc3339_precise(moment) if moment is not None else None


def _time(value: object) -> datetime | None:
    return parse_rfc3339(value) if isinstance(value, str) and value else None


def _required(value: object) -> datetime:
    moment = _time(value)
    if moment is None:
        raise ValueError(f"missing time: {value!r}")
    return moment


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None
