"""`routes test --cluster` evaluates every guard on the live cluster and changes nothing."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from test_cli_guards import IMAGE, live_image, two_releases

from receiver.cli import main


def alert(namespace: str, deployment: str, fingerprint: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "severity": "high",
            "namespace": namespace,
            "deployment": deployment,
        },
        "annotations": {"rollback": "true"},
        "startsAt": datetime.now(UTC).isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint,
    }


def routes_test(control_plane: Any, namespace: str, tmp_path: Path) -> tuple[int, str]:
    """`routes test --cluster` on two alerts: one for deployment web, one for a deployment that is gone."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"namespaces: {{allow: [{namespace}]}}\n"
        f"state: {{namespace: {namespace}}}\n"
        "routes:\n"
        "  - name: high\n"
        "    match: ['rollback=\"true\"']\n"
        "    target: {kind: Deployment, namespace: '{{ labels.namespace }}',\n"
        "             name: '{{ labels.deployment }}'}\n"
        "    action: rollback\n"
    )
    payload = tmp_path / "payload.json"
    payload.write_text(
        json.dumps(
            {
                "version": "4",
                "groupKey": "{}:{}",
                "truncatedAlerts": 0,
                "status": "firing",
                "receiver": "rollback-receiver",
                "groupLabels": {},
                "commonLabels": {},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager",
                "alerts": [
                    alert(namespace, "web", "00000000000000a1"),
                    alert(namespace, "gone", "00000000000000a2"),
                ],
            }
        )
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "routes",
                "test",
                "--config",
                str(config),
                str(payload),
                "--cluster",
                "--kubeconfig",
                control_plane.kubeconfig,
            ]
        )
    return code, out.getvalue()


def test_cluster_guards_are_shown_without_acting(control_plane: Any, namespace: str, tmp_path: Path) -> None:
    two_releases(control_plane, namespace)
    code, text = routes_test(control_plane, namespace, tmp_path)
    assert code == 0, text
    assert f"cluster:  deployment/web -n {namespace}: rollback (eligible): roll back" in text
    assert "cluster:  -: skip (target_unresolved)" in text
    assert live_image(control_plane, namespace) == f"{IMAGE}:v2"  # read-only


def test_an_unreadable_state_is_reported_per_row(control_plane: Any, namespace: str, tmp_path: Path) -> None:
    two_releases(control_plane, namespace)
    corrupt = "--from-literal=state.json=not json"
    control_plane.kubectl("create", "configmap", "rollback-receiver-state", "-n", namespace, corrupt)
    code, text = routes_test(control_plane, namespace, tmp_path)
    assert code == 0, text
    assert f"cluster:  deployment/web -n {namespace}: error (api_error): cannot read the guard state" in text
    assert "cluster:  -: skip (target_unresolved)" in text  # the other row is still evaluated
