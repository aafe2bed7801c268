"""`rollback-receiver undo` is a guarded undo: the workload guards stop it where kubectl would not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rollout_support import run_cli, workload

IMAGE = "registry.example/shop/app"


def two_releases(cp: Any, ns: str, **metadata: Any) -> None:
    manifest = workload("Deployment", "web", f"{IMAGE}:v1")
    manifest["metadata"].update(metadata)
    cp.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(manifest))
    cp.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s")
    cp.kubectl("set", "image", "deployment/web", f"app={IMAGE}:v2", "-n", ns)
    cp.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s")


def live_image(cp: Any, ns: str) -> str:
    return cp.kubectl(
        "get", "deployment/web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}"
    ).stdout


@pytest.mark.parametrize(
    ("annotations", "labels", "refusal"),
    [
        ({"rollback-receiver.io/paused": "true"}, {}, "is paused for rollbacks"),
        ({"rollback-receiver.io/enabled": "false"}, {}, "opted out"),
        ({}, {"kustomize.toolkit.fluxcd.io/name": "shop"}, "managed by Flux"),
    ],
)
def test_workload_guards_refuse_a_manual_undo(
    control_plane: Any, namespace: str, annotations: dict[str, str], labels: dict[str, str], refusal: str
) -> None:
    two_releases(control_plane, namespace, annotations=annotations, labels=labels)
    code, out, err = run_cli(control_plane, "undo", "deployment/web", "-n", namespace)
    assert code == 1 and out == ""
    assert err.startswith("error: refused by guard: ") and refusal in err
    assert live_image(control_plane, namespace) == f"{IMAGE}:v2"


def test_gitops_refusal_can_be_overridden(control_plane: Any, namespace: str) -> None:
    two_releases(control_plane, namespace, labels={"kustomize.toolkit.fluxcd.io/name": "shop"})
    code, out, _ = run_cli(control_plane, "undo", "deployment/web", "-n", namespace, "--allow-gitops")
    assert (code, out) == (0, "deployment.apps/web rolled back\n")
    assert live_image(control_plane, namespace) == f"{IMAGE}:v1"


def test_config_allow_list_applies_to_a_manual_undo(
    control_plane: Any, namespace: str, tmp_path: Path
) -> None:
    two_releases(control_plane, namespace)
    config = tmp_path / "config.yaml"
    config.write_text(
        "namespaces: {allow: [somewhere-else]}\n"
        "routes: [{name: all, match: ['rollback=\"true\"'], action: notify}]\n"
    )
    code, _, err = run_cli(control_plane, "undo", "deployment/web", "-n", namespace, "--config", str(config))
    assert code == 1 and f"namespace {namespace} is not in the allow list" in err
    assert live_image(control_plane, namespace) == f"{IMAGE}:v2"
