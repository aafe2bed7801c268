"""Three receiver processes, one control plane: exactly one rollback per (alert episode, workload), whether
the alert comes from the Alertmanager HA pair (duplicates and repeats) or is posted to all three at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from receiver_process import (
    V1,
    ReceiverProcess,
    deploy,
    event_reasons,
    eventually,
    image_of,
    receiver_config,
    revision_of,
    webhook_alert,
    webhook_payload,
)

pytestmark = [pytest.mark.e2e]


def am_config(receivers: list[ReceiverProcess]) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "rollback-receiver",
            "group_by": ["alertname", "deployment"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "2s",
        },
        "receivers": [
            {
                "name": "rollback-receiver",
                "webhook_configs": [
                    {
                        "url": f"{r.url}/webhook",
                        "send_resolved": True,
                        "max_alerts": 0,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": r.token}},
                    }
                    for r in receivers
                ],
            }
        ],
    }


@pytest.fixture
def replicas(control_plane, namespace, tmp_path):
    config = receiver_config(namespace)
    started = [
        ReceiverProcess(tmp_path / f"replica-{i}", config, control_plane.kubeconfig, pod_name=f"replica-{i}")
        for i in range(3)
    ]
    for receiver in started:
        receiver.start()
    yield started
    for receiver in started:
        receiver.stop()


def handled(receivers: list[ReceiverProcess], name: str, namespace: str, cp: Any) -> bool:
    """The rollback finished and every replica has decided everything it was given."""
    if "RollbackSucceeded" not in event_reasons(cp, namespace, name):
        return False
    return all(r.metric("rollback_receiver_queue_depth") == 0 for r in receivers)


def test_alertmanager_ha_pair_and_concurrent_posts_roll_back_once(
    control_plane, namespace, replicas, alertmanager_factory, push_alerts
) -> None:
    deploy(control_plane, namespace, "web")
    deploy(control_plane, namespace, "api")
    before = {name: revision_of(control_plane, namespace, name) for name in ("web", "api")}

    # 1. Through the real Alertmanager HA pair: both peers notify all three replicas, and repeat.
    pair = alertmanager_factory(am_config(replicas), replicas=2, extra_args=["--cluster.peer-timeout=1s"])
    alert = {
        "labels": {"alertname": "HighErrorRate", "namespace": namespace, "deployment": "web"},
        "annotations": {"rollback": "true"},
    }
    for url in pair.urls:
        push_alerts(url, [alert])
    eventually(lambda: handled(replicas, "web", namespace, control_plane), what="the rollback of web")
    # Let the repeats arrive: every replica has received the alert several times.
    eventually(
        lambda: all(
            r.metric("rollback_receiver_webhook_requests_total", {"code": "200"}) >= 3 for r in replicas
        ),
        what="Alertmanager's repeats",
    )
    eventually(
        lambda: all(r.metric("rollback_receiver_queue_depth") == 0 for r in replicas), what="drained queues"
    )

    # 2. The same alert posted concurrently to all three replicas, many times.
    api_alert = webhook_alert(namespace, "api")
    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(lambda i: replicas[i % 3].post(webhook_payload([api_alert])), range(24)))
    assert set(codes) <= {200, 503}, codes
    eventually(lambda: handled(replicas, "api", namespace, control_plane), what="the rollback of api")

    for name in ("web", "api"):
        assert image_of(control_plane, namespace, name) == V1
        # One undo = exactly one new revision, one RollbackTriggered, one outcome.
        assert revision_of(control_plane, namespace, name) == before[name] + 1
        reasons = event_reasons(control_plane, namespace, name)
        assert reasons.count("RollbackTriggered") == 1, reasons
        assert reasons.count("RollbackSucceeded") == 1, reasons
    total = sum(r.metric("rollback_receiver_rollbacks_total", {"result": "succeeded"}) for r in replicas)
    assert total == 2
    # The duplicates were refused with a reason, not silently dropped.
    refusals = sum(
        r.metric("rollback_receiver_decisions_total", {"decision": "skip", "reason": reason})
        for r in replicas
        for reason in ("already_handled", "in_progress")
    )
    assert refusals >= 1
