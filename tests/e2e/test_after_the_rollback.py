"""After the rollback, on real parts (control plane, Debian's Alertmanager, `rollback-receiver serve`):

- an alert that keeps firing ends `did_not_help`, is never rolled back again, and everyone hears of it:
  a real Alertmanager receives RollbackPerformed / RollbackDidNotHelp and routes them to a loopback sink,
  the generic webhook (signed) and the Slack message reach theirs in their documented shapes, a sink that
  fails three times gets the message exactly once more, and a sink that is down delays nothing;
- two replicas and a restart in the middle of the verification still give one complete incident.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from e2e_support import V1, deploy, image_of, receiver_config, revision_of
from incident_checks import assert_in_order, incident, incidents, wait_for_incident

from harness.alertmanager import AlertmanagerCluster, webhook_config
from harness.http import request_json
from harness.receiver import ReceiverProcess
from harness.waiting import eventually
from harness.webhook_sink import RecordedRequest, WebhookSink
from receiver.core import notices

pytestmark = [pytest.mark.e2e]

DOCS = Path(__file__).resolve().parents[2] / "docs"
WAIT = 180.0
ROLLBACKS = "rollback_receiver_rollbacks_total"
VERIFIED = "rollback_receiver_verifications_total"
NOTIFIED = "rollback_receiver_notifications_total"
BEFORE_ROLLBACK = ["alert_started", "received", "decided", "patched", "rollout_complete"]

PushAlerts = Callable[[str, list[dict[str, Any]]], None]


@pytest.fixture
def sinks() -> Iterator[dict[str, WebhookSink]]:
    started = {name: WebhookSink().start() for name in ("alertmanager", "team", "chat")}
    yield started
    for sink in started.values():
        sink.stop()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/down"


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((DOCS / name).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def am_alerts(sink: WebhookSink) -> list[dict[str, Any]]:
    """Every alert Alertmanager delivered to the sink (webhook payloads flattened)."""
    return [alert for request in sink.requests for alert in request.json()["alerts"]]


def by_delivery(requests: list[RecordedRequest], kind: str) -> list[RecordedRequest]:
    return [r for r in requests if r.headers.get("x-rollback-receiver-kind") == kind]


def alert_for(namespace: str, alertname: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": alertname, "namespace": namespace, "deployment": "web", "severity": "high"},
        "annotations": {"rollback": "true", "summary": "checkout errors above 2%"},
    }


def test_an_alert_that_keeps_firing_did_not_help_everyone_is_told_and_it_is_not_rolled_back_again(
    control_plane: Any,
    namespace: str,
    alertmanager_factory: Callable[..., AlertmanagerCluster],
    push_alerts: PushAlerts,
    sinks: dict[str, WebhookSink],
    tmp_path: Path,
) -> None:
    deploy(control_plane, namespace, "web")
    secret = tmp_path / "team-hmac"
    secret.write_text("team-secret\n")
    slack_url = tmp_path / "slack-url"  # an incoming-webhook URL is a secret: it comes from a file
    slack_url.write_text(sinks["chat"].url("/services/T000/B000/xyz") + "\n")
    sinks["team"].script = [500, 500, 500]
    receiver = ReceiverProcess(tmp_path / "r", kubeconfig=control_plane.kubeconfig, name="rr-notify")

    am_config = webhook_config(
        f"{receiver.url}/webhook", token_file=receiver.token_file, repeat_interval="5s"
    )
    # What we post back into Alertmanager goes to the sink, the way a user routes it to a pager.
    am_config["route"]["routes"] = [
        {
            "receiver": "oncall",
            "matchers": ['rollback_receiver="true"'],
            "group_by": ["alertname", "incident"],
            "group_wait": "1s",
            "group_interval": "1s",
        }
    ]
    am_config["receivers"].append(
        {
            "name": "oncall",
            "webhook_configs": [{"url": sinks["alertmanager"].url("/oncall"), "send_resolved": True}],
        }
    )
    am = alertmanager_factory(am_config)
    config = receiver_config(
        namespace,
        alertmanager_urls=[am.url],
        extra={
            "defaults": {"verify_timeout": "90s", "verify": {"alert_clears_within": "20s"}},
            "incidents": {"external_url": receiver.url, "public_pages": True},
            "notifications": {
                "attempts": 6,
                "backoff": "2s",  # the dead channel keeps retrying for a minute
                "timeout": "5s",
                "channels": [
                    {"name": "oncall", "alertmanager": {}},
                    {
                        "name": "team",
                        "webhook": {"url": sinks["team"].url("/team"), "hmac_secret_file": str(secret)},
                    },
                    {"name": "chat", "slack": {"url_file": str(slack_url)}},
                    {"name": "down", "webhook": {"url": closed_port_url()}},
                ],
            },
        },
    )
    receiver.configure(config).start()
    try:
        push_alerts(am.url, [alert_for(namespace, "E2EKeepsFiring")])

        # The rollback is not held up by the dead channel: the rollout completed while it still retries.
        eventually(
            lambda: receiver.metric(ROLLBACKS, result="succeeded") >= 1, what="the rollout", timeout=WAIT
        )
        assert receiver.metric(NOTIFIED, channel="down") == 0
        assert image_of(control_plane, namespace, "web") == V1
        revision = revision_of(control_plane, namespace, "web")

        record = wait_for_incident(receiver, "E2EKeepsFiring", "did_not_help")
        assert_in_order(record, [*BEFORE_ROLLBACK, "verifying", "still_firing"])
        assert receiver.metric(VERIFIED, result="did_not_help") == 1
        breaker = request_json("GET", f"{receiver.url}/api/v1/breaker", headers=receiver.auth_headers)
        assert breaker["consecutive_failures"] == 1 and not breaker["open"]

        # Alertmanager: RollbackPerformed (resolved once the outcome is known) and RollbackDidNotHelp, routed
        # by its own config to the loopback sink, carrying the workload, the incident and the alert's labels.
        def routed() -> list[dict[str, Any]] | None:
            alerts = am_alerts(sinks["alertmanager"])
            names = {(a["labels"]["alertname"], a["status"]) for a in alerts}
            wanted = {
                ("RollbackPerformed", "firing"),
                ("RollbackDidNotHelp", "firing"),
                ("RollbackPerformed", "resolved"),
            }
            return alerts if wanted <= names else None

        alerts = eventually(routed, what="Alertmanager to route our alerts to the sink", timeout=WAIT)
        performed = next(a for a in alerts if a["labels"]["alertname"] == "RollbackPerformed")
        labels = performed["labels"]
        assert labels["namespace"] == namespace and labels["deployment"] == "web"
        assert labels["incident"] == record["id"] and labels["severity"] == "info"
        assert labels["original_alertname"] == "E2EKeepsFiring" and labels["original_severity"] == "high"
        assert performed["annotations"]["incident_url"] == record["url"]
        assert performed["generatorURL"] == record["url"]
        did_not_help = next(a for a in alerts if a["labels"]["alertname"] == "RollbackDidNotHelp")
        assert did_not_help["labels"]["severity"] == "warning"
        assert "did not help" in did_not_help["annotations"]["description"]

        # The generic webhook: 500, 500, 500, then the same message taken once; then the outcome once.
        team = sinks["team"].wait_for(
            lambda rs: len(by_delivery(rs, "did_not_help")) >= 1, timeout=WAIT, what="both team messages"
        )
        triggered = by_delivery(team, "triggered")
        assert len(triggered) == 4 and len({r.body for r in triggered}) == 1
        assert len(by_delivery(team, "did_not_help")) == 1 and len(team) == 5
        schema = validator("notification-webhook.schema.json")
        for request in (triggered[0], by_delivery(team, "did_not_help")[0]):
            schema.validate(request.json())
            signature = request.headers["x-rollback-receiver-signature"]
            assert notices.verify_signature(b"team-secret", request.body, signature)
            assert request.json()["incident"] == {"id": record["id"], "url": record["url"]}

        chat = sinks["chat"].wait_for(lambda rs: len(rs) >= 2, timeout=WAIT, what="both Slack messages")
        assert {r.path for r in chat} == {"/services/T000/B000/xyz"}
        slack = validator("notification-slack.schema.json")
        for request in chat:
            slack.validate(request.json())
        assert "did not help" in chat[-1].json()["blocks"][0]["text"]["text"]

        # Every result is recorded: the metric, and a step of the incident.
        assert receiver.metric(NOTIFIED, channel="team", result="sent") == 2
        assert receiver.metric(NOTIFIED, channel="chat", result="sent") == 2
        assert receiver.metric(NOTIFIED, channel="oncall", result="sent") == 2
        record = incident(receiver, record["id"])
        told = {s["key"] for s in record["steps"] if s["kind"] == "notified"}
        assert {
            f"notified/{c}/{k}" for c in ("team", "chat", "oncall") for k in ("triggered", "did_not_help")
        } <= told
        assert record["phase"] == "did_not_help"  # a notification never changes the outcome

        # Alertmanager repeats the alert every 5 s. This process drops the repeats as seen; a restarted one
        # (or another replica) decides on them again: refused, the same episode is never rolled back again.
        receiver.stop()
        receiver.start()

        def refused_again() -> dict[str, Any] | None:
            found = receiver.decisions(alertname="E2EKeepsFiring", reason="did_not_help")
            return found[0] if found else None

        refusal = eventually(refused_again, what="a repeat of the alert to be refused", timeout=WAIT)
        assert refusal["decision"] == "skip" and "did not help" in refusal["message"]
        assert "rollback" not in [d["decision"] for d in receiver.decisions(alertname="E2EKeepsFiring")]
        assert revision_of(control_plane, namespace, "web") == revision
        assert incident(receiver, record["id"])["phase"] == "did_not_help"
    finally:
        receiver.stop()


def test_two_replicas_and_a_restart_in_the_middle_of_verification_give_one_complete_incident(
    control_plane: Any,
    namespace: str,
    alertmanager_factory: Callable[..., AlertmanagerCluster],
    push_alerts: PushAlerts,
    tmp_path: Path,
) -> None:
    deploy(control_plane, namespace, "web")
    first = ReceiverProcess(tmp_path / "a", kubeconfig=control_plane.kubeconfig, name="rr-a")
    second = ReceiverProcess(
        tmp_path / "b", kubeconfig=control_plane.kubeconfig, name="rr-b", token_file=first.token_file
    )
    replicas = {"rr-a": first, "rr-b": second}
    am = alertmanager_factory(
        webhook_config([f"{r.url}/webhook" for r in replicas.values()], token_file=first.token_file)
    )
    for replica in replicas.values():
        config = receiver_config(
            namespace,
            extra={
                "defaults": {"verify_timeout": "90s", "verify": {"alert_clears_within": "5m"}},
                "incidents": {"external_url": first.url, "public_pages": True},
            },
        )
        replica.configure(config).start()
    try:
        alert = {**alert_for(namespace, "E2EVerifyAcrossReplicas"), "startsAt": datetime.now(UTC).isoformat()}
        push_alerts(am.url, [alert])
        record = wait_for_incident(first, "E2EVerifyAcrossReplicas", "verifying")
        patched_by = next(s["by"] for s in record["steps"] if s["kind"] == "patched")
        assert patched_by in replicas

        # The replica that rolled back dies in the middle of the verification, and comes back.
        replicas[patched_by].kill()
        replicas[patched_by].start()
        other = second if patched_by == "rr-a" else first
        assert incident(other, record["id"])["phase"] == "verifying"

        push_alerts(am.url, [{**alert, "endsAt": datetime.now(UTC).isoformat()}])  # the alert resolves
        done = wait_for_incident(replicas[patched_by], "E2EVerifyAcrossReplicas", "recovered")
        assert_in_order(done, [*BEFORE_ROLLBACK, "verifying", "alert_resolved"])
        assert incident(other, record["id"]) == done  # the same record, whichever replica is asked
        assert [i["alert"] for i in incidents(other)].count("E2EVerifyAcrossReplicas") == 1
        assert sum(r.metric(VERIFIED, result="recovered") for r in replicas.values()) == 1
        verdicts = [
            d["decision"] for r in replicas.values() for d in r.decisions(alertname="E2EVerifyAcrossReplicas")
        ]
        assert verdicts.count("rollback") <= 1  # the killed replica's memory of its decision is gone
        assert image_of(control_plane, namespace, "web") == V1
        assert revision_of(control_plane, namespace, "web") == 3  # one rollback: revision 1's template as 3
    finally:
        for replica in replicas.values():
            replica.stop()
