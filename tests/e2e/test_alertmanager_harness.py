"""The real Debian Alertmanager (0.25) and Prometheus, driven by the harness, deliver what the receiver
will see: bearer-authenticated webhooks, HA repeats, and alerts fired by a Prometheus rule."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from harness.alertmanager import AlertmanagerCluster, get_alerts, webhook_config
from harness.prometheus import Prometheus
from harness.webhook_sink import RecordedRequest, WebhookSink

pytestmark = [pytest.mark.alertmanager, pytest.mark.e2e]

PushAlerts = Callable[[str, Sequence[Mapping[str, Any]]], None]
DELIVERY_TIMEOUT = 60.0


def notifications_for(requests: list[RecordedRequest], alertname: str) -> list[dict[str, Any]]:
    payloads = [r.json() for r in requests if r.method == "POST"]
    return [p for p in payloads if any(a["labels"].get("alertname") == alertname for a in p["alerts"])]


def test_webhook_reaches_loopback_receiver_with_bearer_token(
    alertmanager_factory: Callable[..., AlertmanagerCluster],
    webhook_sink: WebhookSink,
    push_alerts: PushAlerts,
) -> None:
    am = alertmanager_factory(webhook_config(webhook_sink.url("/webhook"), token="s3cret-token"))

    push_alerts(
        am.url,
        [
            {
                "labels": {"alertname": "HarnessBearer", "namespace": "shop", "deployment": "ecommerce"},
                "annotations": {"rollback": "true"},
            }
        ],
    )

    requests = webhook_sink.wait_for(
        lambda rs: bool(notifications_for(rs, "HarnessBearer")), timeout=DELIVERY_TIMEOUT, what="the webhook"
    )
    request = requests[0]
    assert request.path == "/webhook"
    assert request.headers["authorization"] == "Bearer s3cret-token"
    assert request.headers["content-type"] == "application/json"
    payload = request.json()
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    [alert] = payload["alerts"]
    assert alert["labels"]["deployment"] == "ecommerce"
    assert alert["annotations"] == {"rollback": "true"}
    assert len(alert["fingerprint"]) == 16
    assert [a["labels"]["alertname"] for a in get_alerts(am.url)] == ["HarnessBearer"]


def test_ha_pair_delivers_a_firing_alert_and_its_repeats(
    alertmanager_factory: Callable[..., AlertmanagerCluster],
    webhook_sink: WebhookSink,
    push_alerts: PushAlerts,
) -> None:
    # A short peer timeout keeps the second replica's stagger (position x peer-timeout) small.
    pair = alertmanager_factory(
        webhook_config(webhook_sink.url("/webhook"), repeat_interval="2s"),
        replicas=2,
        extra_args=["--cluster.peer-timeout=1s"],
    )
    # One alert, one startsAt, sent to both replicas: exactly what Prometheus does.
    alert = {
        "labels": {"alertname": "HarnessHA", "severity": "critical"},
        "annotations": {"rollback": "true"},
        "startsAt": datetime.now(UTC).isoformat(),
    }
    for url in pair.urls:  # Prometheus sends to every replica; there is no load balancer in front.
        push_alerts(url, [alert])

    requests = webhook_sink.wait_for(
        lambda rs: len(notifications_for(rs, "HarnessHA")) >= 3,
        timeout=DELIVERY_TIMEOUT,
        what="the first notification and two repeats",
    )
    payloads = notifications_for(requests, "HarnessHA")
    # Every delivery, from either replica, names the same alert episode: that is what the receiver dedupes on.
    episodes = {(a["fingerprint"], a["startsAt"]) for p in payloads for a in p["alerts"]}
    assert len(episodes) == 1
    assert {p["groupKey"] for p in payloads} == {'{}:{alertname="HarnessHA"}'}
    assert all(p["status"] == "firing" for p in payloads)
    assert {p["externalURL"] for p in payloads} <= set(pair.urls)
    for url in pair.urls:
        assert [a["labels"]["alertname"] for a in get_alerts(url)] == ["HarnessHA"]


def test_prometheus_rule_fires_into_alertmanager(
    alertmanager_factory: Callable[..., AlertmanagerCluster],
    prometheus_factory: Callable[..., Prometheus],
    webhook_sink: WebhookSink,
) -> None:
    am = alertmanager_factory(webhook_config(webhook_sink.url("/webhook")))
    rules = {
        "groups": [
            {
                "name": "harness",
                "rules": [
                    {
                        "alert": "HarnessAlwaysFiring",
                        "expr": "vector(1) > 0",
                        "labels": {"severity": "critical", "namespace": "shop", "deployment": "ecommerce"},
                        "annotations": {"rollback": "true", "summary": "always firing"},
                    }
                ],
            }
        ]
    }
    prometheus = prometheus_factory(rules, alertmanagers=[am.url])

    requests = webhook_sink.wait_for(
        lambda rs: bool(notifications_for(rs, "HarnessAlwaysFiring")),
        timeout=DELIVERY_TIMEOUT,
        what="the rule's alert to arrive through Alertmanager",
    )
    [payload] = notifications_for(requests, "HarnessAlwaysFiring")[:1]
    [alert] = payload["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"]["deployment"] == "ecommerce"
    assert alert["annotations"]["rollback"] == "true"
    assert alert["generatorURL"].startswith(prometheus.url)
    assert [a["state"] for a in prometheus.alerts()] == ["firing"]
