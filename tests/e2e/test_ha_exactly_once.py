"""Three receiver processes, one control plane: exactly one rollback per (alert episode, workload), whether
the alert comes from the Alertmanager HA pair (duplicates and repeats) or is posted to all three at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e_support import V1, deploy, event_reasons, image_of, receiver_config, revision_of

from harness.alertmanager import webhook_config
from harness.receiver import ReceiverProcess, webhook_alert, webhook_payload
from harness.waiting import eventually

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def replicas(control_plane, namespace, tmp_path):
    """Three replicas sharing one webhook token, as the chart's pods share its Secret."""
    config = receiver_config(namespace)
    first = ReceiverProcess(tmp_path / "replica-0", kubeconfig=control_plane.kubeconfig, config=config)
    started = [first] + [
        ReceiverProcess(
            tmp_path / f"replica-{i}",
            kubeconfig=control_plane.kubeconfig,
            config=config,
            token_file=first.token_file,
        )
        for i in range(1, 3)
    ]
    try:
        for receiver in started:
            receiver.start()
        yield started
    finally:
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
    config = webhook_config(
        [f"{r.url}/webhook" for r in replicas],
        token=replicas[0].token,
        group_by=("alertname", "deployment"),
        repeat_interval="2s",
    )
    pair = alertmanager_factory(config, replicas=2, extra_args=["--cluster.peer-timeout=1s"])
    alert = {
        "labels": {"alertname": "HighErrorRate", "namespace": namespace, "deployment": "web"},
        "annotations": {"rollback": "true"},
    }
    for url in pair.urls:
        push_alerts(url, [alert])
    eventually(lambda: handled(replicas, "web", namespace, control_plane), what="the rollback of web")
    # Let the repeats arrive: every replica has received the alert several times.
    eventually(
        lambda: all(r.metric("rollback_receiver_webhook_requests_total", code="200") >= 3 for r in replicas),
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
    total = sum(r.metric("rollback_receiver_rollbacks_total", result="succeeded") for r in replicas)
    assert total == 2
    # The duplicates were refused with a reason, not silently dropped.
    refusals = sum(
        r.metric("rollback_receiver_decisions_total", decision="skip", reason=reason)
        for r in replicas
        for reason in ("already_handled", "in_progress")
    )
    assert refusals >= 1
