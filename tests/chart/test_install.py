"""The chart against a real API server: server-side dry-run of every variant, one Helm SDK install, the
receiver's own CLI acting with the chart's ServiceAccount, and an upgrade.

One control plane (the harness's session fixture) and one install for the whole module.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import helm_python as helm
import pytest
import yaml
from chart_support import (
    CHART_DIR,
    RELEASE,
    Release,
    as_service_account,
    ci_values_files,
    image_of,
    installed_release,
    load_values,
    render,
    two_revision_deployment,
)

from harness.cluster import ClusterAccess
from harness.receiver import ReceiverProcess, webhook_alert, webhook_payload
from harness.waiting import eventually

# prometheus-operator's CRDs are not part of this cluster: those kinds are checked offline
# (test_render.py: structure; promtool: the rules).
NOT_IN_THIS_CLUSTER = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def release(control_plane: ClusterAccess) -> Iterator[Release]:
    with installed_release(control_plane, prefix="chart") as installed:
        yield installed


def pod_template_checksum(cluster: ClusterAccess, release: Release) -> str:
    deployment = cluster.kubectl_json("get", "deployment", RELEASE, "-n", release.namespace)
    return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])


@pytest.mark.parametrize(
    "values_file", [None, *ci_values_files()], ids=lambda p: p.name if p else "chart-defaults"
)
def test_api_server_accepts_every_variant_in_server_side_dry_run(
    control_plane: ClusterAccess, release: Release, values_file: Path | None
) -> None:
    values = load_values(values_file) if values_file else {}
    docs = render(values, namespace=release.namespace)
    # The variants name namespaces (default, shop, payments) this cluster may not have; a Role is the same
    # object in any namespace, so those land in the test's own namespace.
    for doc in docs:
        if doc["metadata"].get("namespace") not in (None, release.namespace):
            doc["metadata"]["namespace"] = release.allowed
    applicable = [doc for doc in docs if doc["kind"] not in NOT_IN_THIS_CLUSTER]
    assert {doc["kind"] for doc in applicable} >= {"Deployment", "Service", "ServiceAccount", "ConfigMap"}
    result = control_plane.kubectl(
        "apply",
        "--dry-run=server",
        "--server-side",
        "--field-manager=chart-test",
        "--force-conflicts",
        "-f",
        "-",
        input=yaml.safe_dump_all(applicable),
    )
    applied = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(applied) == len(applicable), result.stdout


def test_install_creates_the_release_objects(control_plane: ClusterAccess, release: Release) -> None:
    status = release.helm.status(RELEASE)
    assert status["status"] == "deployed", status.keys()
    for kind, namespace, name in [
        ("deployment", release.namespace, RELEASE),
        ("service", release.namespace, RELEASE),
        ("serviceaccount", release.namespace, RELEASE),
        ("configmap", release.namespace, RELEASE),
        ("secret", release.namespace, RELEASE),
        ("role", release.namespace, f"{RELEASE}-state"),
        ("role", release.allowed, RELEASE),
        ("rolebinding", release.allowed, RELEASE),
    ]:
        control_plane.kubectl("get", kind, name, "-n", namespace)
    roles_outside = control_plane.kubectl_json("get", "roles", "-n", release.outside)
    assert roles_outside["items"] == []


def test_service_account_rolls_back_in_an_allowed_namespace(
    control_plane: ClusterAccess, release: Release
) -> None:
    two_revision_deployment(control_plane, release.allowed, "web")

    result = as_service_account(control_plane, release, "undo", "deployment/web", "-n", release.allowed)

    assert result.returncode == 0, result.stderr
    assert "deployment.apps/web rolled back" in result.stdout
    assert image_of(control_plane, release.allowed, "web") == "registry.example/shop:v1"


def test_service_account_is_refused_outside_its_namespaces(
    control_plane: ClusterAccess, release: Release
) -> None:
    two_revision_deployment(control_plane, release.outside, "web")

    result = as_service_account(control_plane, release, "undo", "deployment/web", "-n", release.outside)

    # The API server's 403, worded as kubectl words it: who, what, where.
    assert result.returncode == 1
    assert result.stderr.startswith("Error from server (Forbidden): "), result.stderr
    assert f'User "{release.service_account}" cannot' in result.stderr
    assert f'in the namespace "{release.outside}"' in result.stderr and "Traceback" not in result.stderr
    assert image_of(control_plane, release.outside, "web") == "registry.example/shop:v2"


@pytest.mark.parametrize(
    ("verb", "resource", "where", "allowed"),
    [
        ("patch", "deployments.apps", "allowed", True),
        ("watch", "statefulsets.apps", "allowed", True),
        ("list", "controllerrevisions.apps", "allowed", True),
        ("create", "events", "allowed", True),
        ("patch", "events", "allowed", True),
        ("delete", "events", "allowed", False),
        ("get", "configmaps/rollback-receiver-state", "release", True),
        ("patch", "configmaps/rollback-receiver-state", "release", True),
        ("delete", "deployments.apps", "allowed", False),
        ("update", "deployments.apps", "allowed", False),
        ("patch", "replicasets.apps", "allowed", False),
        ("get", "secrets", "allowed", False),
        ("get", "pods", "allowed", False),
        ("get", "configmaps/other", "release", False),
        ("delete", "configmaps/rollback-receiver-state", "release", False),
        ("get", "secrets", "release", False),
        ("patch", "deployments.apps", "outside", False),
        ("create", "configmaps", "allowed", False),
    ],
)
def test_service_account_holds_only_what_the_receiver_uses(
    control_plane: ClusterAccess, release: Release, verb: str, resource: str, where: str, allowed: bool
) -> None:
    namespace = {"allowed": release.allowed, "release": release.namespace, "outside": release.outside}[where]
    answer = control_plane.kubectl(
        "auth", "can-i", verb, resource, "-n", namespace, f"--as={release.service_account}", check=False
    )
    assert answer.stdout.strip() == ("yes" if allowed else "no"), answer.stderr


def test_upgrade_rolls_the_pods_only_when_the_routing_config_changes(
    control_plane: ClusterAccess, release: Release
) -> None:
    token_before = control_plane.kubectl_json("get", "secret", RELEASE, "-n", release.namespace)["data"][
        "token"
    ]
    installed = pod_template_checksum(control_plane, release)

    with helm.Chart.load(CHART_DIR) as chart:
        release.helm.upgrade(chart, RELEASE, release.values, namespace=release.namespace, timeout=120)
        assert pod_template_checksum(control_plane, release) == installed

        changed = {"config": {**release.values["config"], "mode": "dry-run"}}
        release.helm.upgrade(chart, RELEASE, changed, namespace=release.namespace, timeout=120)
        try:
            assert pod_template_checksum(control_plane, release) != installed
            mounted = control_plane.kubectl_json("get", "configmap", RELEASE, "-n", release.namespace)
            assert yaml.safe_load(mounted["data"]["config.yaml"])["mode"] == "dry-run"
        finally:
            # Back to the module's release, whatever test runs next.
            release.helm.upgrade(chart, RELEASE, release.values, namespace=release.namespace, timeout=120)
    # The generated webhook token survives upgrades: Alertmanager still holds the old copy.
    token_after = control_plane.kubectl_json("get", "secret", RELEASE, "-n", release.namespace)["data"][
        "token"
    ]
    assert token_after == token_before


def test_the_service_runs_on_the_charts_grants(
    control_plane: ClusterAccess, release: Release, tmp_path: Path
) -> None:
    """`serve` with the chart's own ConfigMap, Secret and ServiceAccount: ready, and it rolls back.

    Only what a pod gives it differs: the listen address (loopback, a free port) and where the token file
    is (the Secret's key, written to a temp file instead of the Secret volume).
    """
    two_revision_deployment(control_plane, release.allowed, "api")
    mounted = control_plane.kubectl_json("get", "configmap", RELEASE, "-n", release.namespace)
    config = yaml.safe_load(mounted["data"]["config.yaml"])
    secret = control_plane.kubectl_json("get", "secret", RELEASE, "-n", release.namespace)
    webhook_token = base64.b64decode(secret["data"]["token"]).decode()
    sa_token = control_plane.service_account_token(release.namespace, RELEASE)

    token_file = tmp_path / "token"  # the Secret's key, as the Secret volume would hold it
    token_file.write_text(webhook_token)
    serve = ReceiverProcess(
        tmp_path / "serve",
        kubeconfig=control_plane.kubeconfig_for_token(sa_token),
        config=config,
        name="chart-test",
        token_file=token_file,
        env={"POD_NAMESPACE": release.namespace},
    )
    serve.start()
    try:
        alert = webhook_alert(
            release.allowed,
            "api",
            labels={"severity": "critical"},
            annotations={"summary": "error rate above 5%"},
        )
        assert serve.post(webhook_payload([alert], receiver=RELEASE)) == 200
        eventually(
            lambda: image_of(control_plane, release.allowed, "api") == "registry.example/shop:v1",
            timeout=60,
            what="the rollback of deployment/api",
            on_fail=serve.log_tail,
        )
        # Its guard state lives where the chart granted it: the release namespace.
        control_plane.kubectl("get", "configmap", f"{RELEASE}-state", "-n", release.namespace)
        events = control_plane.kubectl_json("get", "events", "-n", release.allowed)["items"]
        assert any(e["source"].get("component") == "rollback-receiver" for e in events)
    finally:
        serve.stop()
    log = serve.process.log_path.read_text()
    assert "Forbidden" not in log and "forbidden" not in log, log
