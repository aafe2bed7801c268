"""A receiver SIGKILLed at the worst moments, then restarted: no second rollback, no lost outcome, no lost
alert, no lost confirmation delay."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from typing import Any

import pytest
from e2e_support import V1, V2, deploy, event_reasons, image_of, receiver_config, revision_of, workload

from harness.alertmanager import webhook_config
from harness.receiver import ReceiverProcess, webhook_alert, webhook_payload
from harness.tcp_proxy import freezable_proxy
from harness.waiting import eventually

pytestmark = [pytest.mark.e2e]


def state_document(cp: Any, namespace: str) -> dict[str, Any]:
    configmap = cp.kubectl_json("get", "configmap", "rollback-receiver-state", "-n", namespace)
    return dict(json.loads(configmap["data"]["state.json"]))


def stuck_previous_revision(cp: Any, namespace: str, name: str, selector: dict[str, str]) -> None:
    """Revision 1 can only run on a node labelled `selector` (none yet); revision 2 runs anywhere."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"nodeSelector": selector, "containers": [{"name": "app", "image": V1}]},
            },
        },
    }
    cp.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    patch = [
        {"op": "remove", "path": "/spec/template/spec/nodeSelector"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": V2},
    ]
    cp.kubectl("patch", f"deployment/{name}", "-n", namespace, "--type=json", "-p", json.dumps(patch))
    cp.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")


def test_killed_between_patch_and_verification(control_plane, namespace, tmp_path) -> None:
    label = f"rollback-receiver.test/{namespace}"
    stuck_previous_revision(control_plane, namespace, "web", {label: "yes"})
    before = revision_of(control_plane, namespace, "web")
    receiver = ReceiverProcess(
        tmp_path / "r", kubeconfig=control_plane.kubeconfig, config=receiver_config(namespace), name="crashy"
    )
    node = control_plane.kubectl("get", "nodes", "-o", "name").stdout.split()[0]
    try:
        receiver.start()
        alert = webhook_alert(namespace, "web")
        assert receiver.post(webhook_payload([alert])) == 200
        # The patch landed and the receiver is now following a rollout that cannot finish.
        eventually(
            lambda: workload(control_plane, namespace, "web")["metadata"]["annotations"].get(
                "rollback-receiver.io/last-alert"
            ),
            what="the undo patch",
        )
        [claim] = state_document(control_plane, namespace)["claims"]
        assert claim["outcome"] is None
        receiver.kill()

        # The rollout can now finish while nobody watches it.
        control_plane.kubectl("label", node, f"{label}=yes")
        receiver.start()
        eventually(
            lambda: "RollbackSucceeded" in event_reasons(control_plane, namespace, "web"), what="the outcome"
        )

        assert image_of(control_plane, namespace, "web") == V1
        assert revision_of(control_plane, namespace, "web") == before + 1
        assert event_reasons(control_plane, namespace, "web").count("RollbackTriggered") == 1
        [claim] = state_document(control_plane, namespace)["claims"]
        assert claim["outcome"] == "succeeded"
        assert receiver.metric("rollback_receiver_rollbacks_total", result="succeeded") == 1

        # Alertmanager re-sending the same alert after the restart changes nothing.
        assert receiver.post(webhook_payload([alert])) == 200
        eventually(
            lambda: receiver.metric("rollback_receiver_decisions_total", reason="already_handled") >= 1,
            what="the repeat to be refused",
        )
        assert revision_of(control_plane, namespace, "web") == before + 1
    finally:
        receiver.stop()
        control_plane.kubectl("label", node, f"{label}-", check=False)


def test_pending_confirmation_survives_a_restart(control_plane, namespace, tmp_path) -> None:
    deploy(control_plane, namespace, "web")
    before = revision_of(control_plane, namespace, "web")
    route = {
        "name": "medium",
        "match": ['rollback="true"'],
        "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
        "action": "rollback",
        "confirm_for": "15s",
    }
    config = receiver_config(namespace, routes=[route])
    receiver = ReceiverProcess(
        tmp_path / "r", kubeconfig=control_plane.kubeconfig, config=config, name="patient"
    )
    try:
        receiver.start()
        assert receiver.post(webhook_payload([webhook_alert(namespace, "web")])) == 200
        eventually(
            lambda: state_document(control_plane, namespace)["pending"] or None,
            what="the pending confirmation",
        )
        receiver.kill()
        assert image_of(control_plane, namespace, "web") == V2

        receiver.start()
        eventually(
            lambda: "RollbackSucceeded" in event_reasons(control_plane, namespace, "web"), what="the rollback"
        )
        assert revision_of(control_plane, namespace, "web") == before + 1
        assert event_reasons(control_plane, namespace, "web").count("RollbackTriggered") == 1
        assert state_document(control_plane, namespace)["pending"] == []
    finally:
        receiver.stop()


def test_killed_after_answering_200_is_recovered_from_alertmanager(
    control_plane, namespace, tmp_path, alertmanager_factory, push_alerts
) -> None:
    with contextlib.ExitStack() as stack:
        _killed_after_200(stack, control_plane, namespace, tmp_path, alertmanager_factory, push_alerts)


def _killed_after_200(stack, control_plane, namespace, tmp_path, alertmanager_factory, push_alerts) -> None:
    deploy(control_plane, namespace, "web")
    before = revision_of(control_plane, namespace, "web")
    # The receiver first reaches the API server through a proxy that the test freezes once the receiver is
    # ready: the webhook is still answered (the intake never waits on the cluster) but nothing is decided.
    proxy = stack.enter_context(freezable_proxy(urllib.parse.urlsplit(control_plane.server).port or 443))
    through_proxy = control_plane.kubeconfig_via(proxy.url, tmp_path / "via-proxy.kubeconfig")
    # Configured once Alertmanager's URL is known: they point at each other.
    receiver = ReceiverProcess(tmp_path / "r", kubeconfig=through_proxy, name="forgetful")
    # repeat_interval 1h: Alertmanager will not re-send, only reconciliation can recover the alert.
    config = webhook_config(f"{receiver.url}/webhook", token=receiver.token, repeat_interval="1h")
    am = alertmanager_factory(config)
    receiver.configure(receiver_config(namespace, alertmanager_urls=[am.url]))
    try:
        receiver.start()
        proxy.freeze()
        push_alerts(
            am.url,
            [
                {
                    "labels": {"alertname": "HighErrorRate", "namespace": namespace, "deployment": "web"},
                    "annotations": {"rollback": "true"},
                }
            ],
        )
        eventually(
            lambda: receiver.metric("rollback_receiver_webhook_requests_total", code="200") >= 1,
            what="Alertmanager's notification to be accepted",
        )
        receiver.kill()
        assert image_of(control_plane, namespace, "web") == V2

        receiver.start(kubeconfig=control_plane.kubeconfig)
        eventually(
            lambda: "RollbackSucceeded" in event_reasons(control_plane, namespace, "web"), what="the recovery"
        )
        assert receiver.metric("rollback_receiver_alerts_recovered_total") >= 1
        assert revision_of(control_plane, namespace, "web") == before + 1
        assert event_reasons(control_plane, namespace, "web").count("RollbackTriggered") == 1
        # Further reconciliation passes decide nothing again.
        eventually(
            lambda: receiver.metric("rollback_receiver_reconcile_runs_total", result="success") >= 3,
            what="more reconciliation passes",
        )
        assert event_reasons(control_plane, namespace, "web").count("RollbackTriggered") == 1
    finally:
        receiver.stop()
