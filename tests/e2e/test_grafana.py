"""Grafana-managed alerts: Grafana's webhook contact point (its documented payload, version "1") rolls the
Deployment back exactly like Alertmanager's; an unknown version gets a 400 naming the accepted ones."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from e2e_support import V1, deploy, event_reasons, image_of, receiver_config

from harness.http import HttpError, request_json
from harness.receiver import ReceiverProcess
from harness.waiting import eventually

pytestmark = [pytest.mark.e2e]

EXAMPLE = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "grafana-webhook.json").read_text())


def grafana_payload(namespace: str, deployment: str) -> dict[str, object]:
    """Grafana's documented example, its first alert labelled for our workload as a Grafana rule would."""
    body = copy.deepcopy(EXAMPLE)
    first = body["alerts"][0]
    first["labels"].update(namespace=namespace, deployment=deployment)
    first["annotations"]["rollback"] = "true"
    first["startsAt"] = datetime.now(UTC).isoformat()
    body["alerts"] = [first]
    return body


def test_a_grafana_alert_rolls_back_and_an_unknown_version_is_refused(
    control_plane, namespace, tmp_path
) -> None:
    deploy(control_plane, namespace, "web")
    receiver = ReceiverProcess(
        tmp_path / "r", kubeconfig=control_plane.kubeconfig, config=receiver_config(namespace)
    )
    try:
        receiver.start()
        assert receiver.post(grafana_payload(namespace, "web")) == 200
        eventually(
            lambda: "RollbackSucceeded" in event_reasons(control_plane, namespace, "web"), what="the rollback"
        )
        assert image_of(control_plane, namespace, "web") == V1
        (decision,) = [d for d in receiver.decisions() if d["decision"] == "rollback"]
        assert decision["alertname"] == "High memory usage"

        unknown = {**grafana_payload(namespace, "web"), "version": "2"}
        with pytest.raises(HttpError) as refused:
            request_json("POST", f"{receiver.url}/webhook", unknown, headers=receiver.auth_headers)
        answer = json.loads(refused.value.body)
        assert (refused.value.status, answer["path"]) == (400, "$.version")
        assert '"4" (Alertmanager) or "1" (Grafana)' in answer["error"]
    finally:
        receiver.stop()
