"""Notifications as pure data, and the three bodies they are sent as.

A `Notice` says one thing about one rollback (or one refusal): triggered, waiting for confirmation,
recovered, did not help, failed, skipped for a reason a human must act on. `receiver.notify` delivers
it; this module only shapes it:

- `webhook_body`: our own versioned JSON (`version: "1"`, schema in docs/notification-webhook.schema.json),
  signed by `signature` when the channel has a secret;
- `slack_body`: a Slack incoming-webhook message (Block Kit blocks plus a `text` fallback, which is also
  what Mattermost shows);
- `alertmanager_alerts`: alerts for Alertmanager's `POST /api/v2/alerts`, so the user's own routing takes
  them to PagerDuty, Opsgenie, Teams, e-mail or chat.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from receiver.core.settings import NoticeKind
from receiver.core.timefmt import format_rfc3339_precise
from receiver.core.workload import WorkloadRef

WEBHOOK_VERSION = "1"
SIGNATURE_HEADER = "X-Rollback-Receiver-Signature"
DELIVERY_HEADER = "X-Rollback-Receiver-Delivery"
KIND_HEADER = "X-Rollback-Receiver-Kind"

# The alert we post to Alertmanager, per outcome; `RollbackPerformed` resolves once the outcome is known.
ALERTNAMES = {
    NoticeKind.TRIGGERED: "RollbackPerformed",
    NoticeKind.WAITING: "RollbackWaitingForConfirmation",
    NoticeKind.RECOVERED: "RollbackRecovered",
    NoticeKind.DID_NOT_HELP: "RollbackDidNotHelp",
    NoticeKind.FAILED: "RollbackFailed",
    NoticeKind.SKIPPED: "RollbackSkipped",
}
SEVERITIES = {
    NoticeKind.TRIGGERED: "info",
    NoticeKind.WAITING: "info",
    NoticeKind.RECOVERED: "info",
    NoticeKind.DID_NOT_HELP: "warning",
    NoticeKind.FAILED: "warning",
    NoticeKind.SKIPPED: "warning",
}
# What ends the story of a rollback: the RollbackPerformed alert is resolved with it.
_OUTCOMES = frozenset({NoticeKind.RECOVERED, NoticeKind.DID_NOT_HELP, NoticeKind.FAILED})
_EMOJI = {
    NoticeKind.TRIGGERED: ":rewind:",
    NoticeKind.WAITING: ":hourglass_flowing_sand:",
    NoticeKind.RECOVERED: ":white_check_mark:",
    NoticeKind.DID_NOT_HELP: ":warning:",
    NoticeKind.FAILED: ":x:",
    NoticeKind.SKIPPED: ":raised_hand:",
}
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")
# Block Kit limits (Slack answers `invalid_blocks` beyond them).
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_FIELD_MAX = 2000


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    at: datetime
    message: str  # one human sentence: what happened and why
    reason: str  # machine-readable: a decision reason or a verification result
    route: str
    alert_name: str
    alert_key: str  # the episode: fingerprint@startsAt
    fingerprint: str = ""
    alert_starts_at: datetime | None = None
    alert_labels: Mapping[str, str] = field(default_factory=dict)
    workload: WorkloadRef | None = None
    cluster: str = ""
    from_revision: int | None = None
    to_revision: int | None = None
    incident_id: str | None = None
    incident_url: str | None = None

    @property
    def id(self) -> str:
        """The delivery id: the same for every attempt, so a receiver can drop a duplicate."""
        text = f"{self.alert_key}|{self.workload}|{self.kind}|{self.reason}"
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def target(self) -> str:
        return str(self.workload) if self.workload is not None else "no workload"

    @property
    def revisions(self) -> str:
        if self.from_revision is None and self.to_revision is None:
            return "n/a"
        before = str(self.from_revision) if self.from_revision is not None else "?"
        after = str(self.to_revision) if self.to_revision is not None else "previous"
        return f"{before} → {after}"

    @property
    def summary(self) -> str:
        alert, target = self.alert_name, self.target
        return {
            NoticeKind.TRIGGERED: f"Rolled back {target} (revision {self.revisions}) for {alert}",
            NoticeKind.WAITING: f"Waiting to roll back {target} for {alert}: confirming it keeps firing",
            NoticeKind.RECOVERED: f"{alert} resolved after the rollback of {target}",
            NoticeKind.DID_NOT_HELP: f"Rollback of {target} did not help: {alert} is still firing",
            NoticeKind.FAILED: f"Rollback of {target} for {alert} failed",
            NoticeKind.SKIPPED: f"Not rolling back {target} for {alert} ({self.reason}): a human must act",
        }[self.kind]


# --- the generic webhook ----------------------------------------------------------------------------------


def webhook_body(notice: Notice) -> dict[str, Any]:
    """Version 1 of our webhook body (docs/notification-webhook.schema.json); new keys may be added, none
    removed or changed within a version."""
    workload = notice.workload
    return {
        "version": WEBHOOK_VERSION,
        "id": notice.id,
        "kind": notice.kind.value,
        "at": format_rfc3339_precise(notice.at),
        "summary": notice.summary,
        "message": notice.message,
        "reason": notice.reason,
        "cluster": notice.cluster,
        "route": notice.route,
        "workload": (
            {"kind": str(workload.kind), "namespace": workload.namespace, "name": workload.name}
            if workload is not None
            else None
        ),
        "revision": {"from": notice.from_revision, "to": notice.to_revision},
        "alert": {
            "name": notice.alert_name,
            "episode": notice.alert_key,
            "fingerprint": notice.fingerprint,
            "starts_at": format_rfc3339_precise(notice.alert_starts_at) if notice.alert_starts_at else None,
            "labels": dict(notice.alert_labels),
        },
        "incident": (
            {"id": notice.incident_id, "url": notice.incident_url} if notice.incident_id is not None else None
        ),
    }


def signature(secret: bytes, body: bytes, timestamp: int) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp is signed too, so a receiver
    can refuse an old message replayed (docs/notifications.md shows the check)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """The receiving side's check of `signature` (used by our tests; documented for receivers)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp = parts.get("t", "")
    if not timestamp.isdigit() or "v1" not in parts:
        return False
    return hmac.compare_digest(signature(secret, body, int(timestamp)), header)


# --- Slack (and Mattermost) ---------------------------------------------------------------------------------


def slack_body(notice: Notice) -> dict[str, Any]:
    """A Block Kit message: header, what happened, the facts as fields, the incident link.

    `text` carries the same in plain words: Slack shows it in notifications, Mattermost (which ignores
    top-level blocks) shows it as the message.
    """
    header = _fit(f"{notice.summary}", SLACK_HEADER_MAX)
    fields = [
        ("Workload", f"`{notice.target}`"),
        ("Revision", notice.revisions),
        ("Alert", notice.alert_name),
        ("Outcome", notice.kind.value.replace("_", " ")),
        ("Reason", notice.reason),
        ("Cluster", notice.cluster or "n/a"),
    ]
    link = f"<{notice.incident_url}|Incident {notice.incident_id}>" if notice.incident_url else ""
    context = " · ".join(part for part in (link, f"route {notice.route}", "rollback-receiver") if part)
    fallback = f"{_EMOJI[notice.kind]} {notice.summary}. {notice.message}"
    if notice.incident_url:
        fallback += f" Incident: {notice.incident_url}"
    return {
        "text": _fit(fallback, SLACK_TEXT_MAX),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _fit(_escape(notice.message), SLACK_TEXT_MAX)},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": _fit(f"*{name}*\n{_escape(value)}", SLACK_FIELD_MAX)}
                    for name, value in fields
                ],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(context, SLACK_TEXT_MAX)}]},
        ],
    }


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters (&, <, >) as entities; links are written by us after this."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Alertmanager -------------------------------------------------------------------------------------------


def alertmanager_alerts(notice: Notice, *, hold: timedelta, label_prefix: str) -> list[dict[str, Any]]:
    """The alert(s) to post: one for this outcome, firing for `hold` (Alertmanager resolves it then), and
    for an outcome the `RollbackPerformed` of the same rollback resolved (same labels, endsAt now)."""
    base = _identity(notice, label_prefix)
    annotations = {"summary": notice.summary, "description": notice.message, "reason": notice.reason}
    if notice.incident_url:
        annotations["incident_url"] = notice.incident_url
    generator = notice.incident_url or ""
    now = notice.at
    alerts = [
        {
            "labels": {
                **base,
                "alertname": ALERTNAMES[notice.kind],
                "severity": SEVERITIES[notice.kind],
            },
            "annotations": annotations,
            "startsAt": format_rfc3339_precise(now),
            "endsAt": format_rfc3339_precise(now + hold),
            "generatorURL": generator,
        }
    ]
    if notice.kind in _OUTCOMES and notice.incident_id is not None:
        alerts.append(
            {
                "labels": {
                    **base,
                    "alertname": ALERTNAMES[NoticeKind.TRIGGERED],
                    "severity": SEVERITIES[NoticeKind.TRIGGERED],
                },
                "annotations": {**annotations, "summary": f"{notice.summary} (the rollback is over)"},
                "startsAt": format_rfc3339_precise(notice.alert_starts_at or now),
                "endsAt": format_rfc3339_precise(now),
                "generatorURL": generator,
            }
        )
    return alerts


def _identity(notice: Notice, prefix: str) -> dict[str, str]:
    """Labels that identify the rollback (the same for every outcome of it, so one resolves another): the
    workload's, the incident's, and the original alert's under `prefix`."""
    labels = {f"{prefix}{_label_name(k)}": v for k, v in notice.alert_labels.items() if v}
    if notice.workload is not None:
        labels["namespace"] = notice.workload.namespace
        labels["workload_kind"] = str(notice.workload.kind)
        labels["workload"] = notice.workload.name
        labels[str(notice.workload.kind).lower()] = notice.workload.name  # deployment=ecommerce, as KSM does
    if notice.cluster:
        labels["cluster"] = notice.cluster
    if notice.route:
        labels["route"] = notice.route
    if notice.incident_id is not None:
        labels["incident"] = notice.incident_id
    labels["rollback_receiver"] = "true"  # so an Alertmanager route can match everything we post
    return labels


def _label_name(name: str) -> str:
    """A label name Alertmanager 0.25 accepts ([a-zA-Z_][a-zA-Z0-9_]*) after the prefix."""
    return _LABEL_NAME.sub("_", name)
