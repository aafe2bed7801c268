"""The three bodies a notification is sent as, checked against what their receivers accept: our webhook's
documented JSON schema, Slack's Block Kit limits (our documented subset), Alertmanager's label rules."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from receiver.core import notices
from receiver.core.notices import Notice
from receiver.core.settings import NoticeKind
from receiver.core.workload import WorkloadKind, WorkloadRef

DOCS = Path(__file__).resolve().parents[2] / "docs"
AT = datetime(2026, 11, 29, 9, 6, 10, tzinfo=UTC)
REF = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce")
ALERTMANAGER_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((DOCS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


WEBHOOK = validator("notification-webhook.schema.json")
SLACK = validator("notification-slack.schema.json")


def notice(kind: NoticeKind = NoticeKind.TRIGGERED, **changes: Any) -> Notice:
    base = Notice(
        kind=kind,
        at=AT,
        message="roll back deployment/ecommerce -n shop from revision 3 to revision 2",
        reason="eligible",
        route="critical-and-high",
        alert_name="HighErrorRate",
        alert_key="a1b2c3d4e5f60718@2026-11-29T09:05:00+00:00",
        fingerprint="a1b2c3d4e5f60718",
        alert_starts_at=AT - timedelta(seconds=70),
        alert_labels={"alertname": "HighErrorRate", "severity": "high", "team.name": "shop"},
        workload=REF,
        cluster="shop-prod",
        from_revision=3,
        to_revision=2,
        incident_id="3f9a2c1d7e4b",
        incident_url="http://rr.example/incidents/3f9a2c1d7e4b",
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_webhook_body_follows_the_documented_schema(kind: NoticeKind) -> None:
    body = notices.webhook_body(notice(kind))
    WEBHOOK.validate(body)
    assert body["kind"] == kind.value and body["version"] == "1"
    assert body["incident"] == {"id": "3f9a2c1d7e4b", "url": "http://rr.example/incidents/3f9a2c1d7e4b"}


def test_a_refusal_without_workload_or_incident_follows_the_schema_too() -> None:
    WEBHOOK.validate(
        notices.webhook_body(notice(NoticeKind.SKIPPED, workload=None, incident_id=None, incident_url=None))
    )


def test_the_schema_rejects_what_the_body_must_not_be() -> None:
    body = notices.webhook_body(notice())
    with pytest.raises(jsonschema.ValidationError):
        WEBHOOK.validate({**body, "kind": "exploded"})
    with pytest.raises(jsonschema.ValidationError):
        WEBHOOK.validate({k: v for k, v in body.items() if k != "id"})


def test_the_delivery_id_is_the_same_for_every_attempt_and_differs_per_outcome() -> None:
    assert notice().id == notice(at=AT + timedelta(seconds=30)).id
    assert notice().id != notice(NoticeKind.RECOVERED).id


def test_the_signature_verifies_and_a_changed_body_does_not() -> None:
    body = json.dumps(notices.webhook_body(notice())).encode()
    header = notices.signature(b"s3cret", body, 1_790_000_000)
    assert header.startswith("t=1790000000,v1=")
    assert notices.verify_signature(b"s3cret", body, header)
    assert not notices.verify_signature(b"s3cret", body + b" ", header)
    assert not notices.verify_signature(b"other", body, header)


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_slack_message_stays_within_block_kit_limits(kind: NoticeKind) -> None:
    message = notices.slack_body(notice(kind, message="x" * 5000, alert_name="A" * 400))
    SLACK.validate(message)
    fields = {f["text"].split("\n")[0]: f["text"] for f in message["blocks"][2]["fields"]}
    assert set(fields) == {"*Workload*", "*Revision*", "*Alert*", "*Outcome*", "*Reason*", "*Cluster*"}


def test_the_slack_message_names_workload_revisions_reason_outcome_and_links_the_incident() -> None:
    message = notices.slack_body(notice(NoticeKind.DID_NOT_HELP, reason="did_not_help", message="a <b> & c"))
    SLACK.validate(message)
    fields = " ".join(f["text"] for f in message["blocks"][2]["fields"])
    assert "`deployment/ecommerce -n shop`" in fields and "3 → 2" in fields and "did not help" in fields
    assert message["blocks"][1]["text"]["text"] == "a &lt;b&gt; &amp; c"  # mrkdwn control characters
    context = message["blocks"][3]["elements"][0]["text"]
    assert "<http://rr.example/incidents/3f9a2c1d7e4b|Incident 3f9a2c1d7e4b>" in context
    # Mattermost shows `text` (it ignores top-level blocks): everything essential is there, plain.
    assert "http://rr.example/incidents/3f9a2c1d7e4b" in message["text"]
    assert "did not help" in message["text"]


def test_alertmanager_alerts_carry_the_workload_the_incident_and_the_original_labels() -> None:
    [alert] = notices.alertmanager_alerts(notice(), hold=timedelta(hours=1), label_prefix="original_")
    labels = alert["labels"]
    assert labels["alertname"] == "RollbackPerformed" and labels["severity"] == "info"
    assert labels["namespace"] == "shop" and labels["deployment"] == "ecommerce"
    assert labels["incident"] == "3f9a2c1d7e4b" and labels["cluster"] == "shop-prod"
    assert labels["original_alertname"] == "HighErrorRate" and labels["original_team_name"] == "shop"
    assert all(ALERTMANAGER_LABEL_NAME.fullmatch(name) for name in labels)
    assert alert["annotations"]["incident_url"] == "http://rr.example/incidents/3f9a2c1d7e4b"
    assert alert["generatorURL"] == "http://rr.example/incidents/3f9a2c1d7e4b"
    assert datetime.fromisoformat(alert["endsAt"]) - datetime.fromisoformat(alert["startsAt"]) == timedelta(
        hours=1
    )


def test_an_outcome_resolves_the_rollback_performed_alert_of_the_same_rollback() -> None:
    [performed] = notices.alertmanager_alerts(notice(), hold=timedelta(hours=1), label_prefix="original_")
    outcome, resolved = notices.alertmanager_alerts(
        notice(NoticeKind.DID_NOT_HELP, reason="did_not_help"),
        hold=timedelta(hours=1),
        label_prefix="original_",
    )
    assert (
        outcome["labels"]["alertname"] == "RollbackDidNotHelp" and outcome["labels"]["severity"] == "warning"
    )
    assert resolved["labels"] == performed["labels"]  # the same alert to Alertmanager ...
    assert resolved["endsAt"] == notices.format_rfc3339_precise(AT)  # ... now resolved
