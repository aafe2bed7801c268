"""`rbac.clusterWide` on a real API server: the ClusterRole reaches every namespace, and the chart's
ValidatingAdmissionPolicy makes the API server refuse the ServiceAccount's writes wherever the receiver itself
refuses to act (system namespaces, its own, the deny list, outside a non-empty allow list).

One Helm SDK install (allow list empty, one namespace denied) for the whole module.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import helm_python as helm
import pytest
from chart_support import (
    CHART_DIR,
    RELEASE,
    Release,
    as_service_account,
    create_namespace,
    image_of,
    installed_release,
    kubectl_as_service_account,
    two_revision_deployment,
)

from harness.cluster import ClusterAccess
from harness.waiting import eventually

TOUCHED = "rollback-receiver.test/touched"


def denial(release: Release, message: str) -> str:
    """How kube-apiserver words a refusal by the chart's policy."""
    name = release.cluster_scoped_name
    return f"ValidatingAdmissionPolicy '{name}' with binding '{name}' denied request: {message}"


def touch(cluster: ClusterAccess, release: Release, namespace: str, name: str, *flags: str) -> str:
    """Annotate deployment/name as the ServiceAccount; '' when the API server took it, else its error."""
    patch = json.dumps({"metadata": {"annotations": {TOUCHED: "yes"}}})
    result = kubectl_as_service_account(
        cluster, release, "patch", "deployment", name, "-n", namespace, "--type=merge", "-p", patch, *flags
    )
    return "" if result.returncode == 0 else result.stderr.strip()


def wait_until_refused(
    cluster: ClusterAccess, release: Release, namespace: str, name: str, message: str
) -> None:
    """The API server loads a new or changed policy a moment after it is written; a server-side dry-run
    goes through admission too, so polling with it writes nothing while the policy is not in effect yet."""
    eventually(
        lambda: denial(release, message) in touch(cluster, release, namespace, name, "--dry-run=server"),
        timeout=60,
        what=f"the admission policy refusing writes in {namespace}",
    )


def plain_deployment(cluster: ClusterAccess, namespace: str, name: str) -> None:
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/shop:v1"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def event_on(namespace: str, deployment: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{deployment}.{secrets.token_hex(4)}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "namespace": namespace,
                "name": deployment,
            },
            "reason": "RollbackSkipped",
            "message": "written by the chart test",
            "type": "Normal",
            "source": {"component": "rollback-receiver"},
        }
    )


@pytest.fixture(scope="module")
def release(control_plane: ClusterAccess) -> Iterator[Release]:
    with installed_release(control_plane, prefix="cw", cluster_wide=True) as installed:
        # The receiver's own Deployment is the one object every install has in the refused release namespace.
        wait_until_refused(
            control_plane,
            installed,
            installed.namespace,
            RELEASE,
            f"namespace {installed.namespace} is the receiver's own namespace and always denied",
        )
        yield installed


@pytest.fixture
def kube_system_deployment(control_plane: ClusterAccess) -> Iterator[str]:
    name = f"chart-test-{secrets.token_hex(3)}"
    plain_deployment(control_plane, "kube-system", name)
    try:
        yield name
    finally:
        control_plane.kubectl("delete", "deployment", name, "-n", "kube-system", "--ignore-not-found")


def test_install_creates_the_cluster_role_and_the_policy_bound_to_it(
    control_plane: ClusterAccess, release: Release
) -> None:
    name = release.cluster_scoped_name
    for kind in ("clusterrole", "clusterrolebinding"):
        control_plane.kubectl("get", kind, name)
    policy = control_plane.kubectl_json("get", "validatingadmissionpolicy", name)
    assert policy["spec"]["matchConditions"] == [
        {
            "name": "the-receivers-service-account",
            "expression": f'request.userInfo.username == "{release.service_account}"',
        }
    ]
    binding = control_plane.kubectl_json("get", "validatingadmissionpolicybinding", name)
    assert binding["spec"]["policyName"] == name and binding["spec"]["validationActions"] == ["Deny"]
    # No per-namespace workload Roles: only the guard-state Role in the release namespace.
    for namespace in (release.allowed, release.outside):
        assert control_plane.kubectl_json("get", "roles", "-n", namespace)["items"] == []


@pytest.mark.parametrize("where", ["kube-system", "release", "denied", "allowed"])
def test_rbac_alone_would_let_it_patch_everywhere(
    control_plane: ClusterAccess, release: Release, where: str
) -> None:
    """The ClusterRole's reach, which the policy has to narrow: RBAC answers yes in every namespace."""
    namespace = {"release": release.namespace, "denied": release.outside, "allowed": release.allowed}.get(
        where, where
    )
    answer = control_plane.kubectl(
        "auth", "can-i", "patch", "deployments.apps", "-n", namespace, f"--as={release.service_account}"
    )
    assert answer.stdout.strip() == "yes"


def test_service_account_rolls_back_in_an_allowed_namespace(
    control_plane: ClusterAccess, release: Release
) -> None:
    two_revision_deployment(control_plane, release.allowed, "web")

    result = as_service_account(control_plane, release, "undo", "deployment/web", "-n", release.allowed)

    assert result.returncode == 0, result.stderr
    assert "deployment.apps/web rolled back" in result.stdout
    assert image_of(control_plane, release.allowed, "web") == "registry.example/shop:v1"
    assert touch(control_plane, release, release.allowed, "web") == ""
    created = kubectl_as_service_account(
        control_plane, release, "create", "-f", "-", input=event_on(release.allowed, "web")
    )
    assert created.returncode == 0, created.stderr


@pytest.mark.parametrize("where", ["kube-system", "release", "denied"])
def test_writes_are_refused_by_the_policy_where_the_receiver_refuses(
    control_plane: ClusterAccess, release: Release, kube_system_deployment: str, where: str
) -> None:
    namespace, name, message = {
        "kube-system": (
            "kube-system",
            kube_system_deployment,
            "namespace kube-system is a system namespace and always denied",
        ),
        "release": (
            release.namespace,
            RELEASE,
            f"namespace {release.namespace} is the receiver's own namespace and always denied",
        ),
        "denied": (release.outside, "web", f"namespace {release.outside} is in the deny list"),
    }[where]
    if where == "denied":
        plain_deployment(control_plane, namespace, name)

    refused = touch(control_plane, release, namespace, name)

    assert refused == f'Error from server (Forbidden): deployments.apps "{name}" is forbidden: ' + denial(
        release, message
    )
    annotations = control_plane.kubectl_json("get", "deployment", name, "-n", namespace)["metadata"].get(
        "annotations", {}
    )
    assert TOUCHED not in annotations
    event = kubectl_as_service_account(
        control_plane, release, "create", "-f", "-", input=event_on(namespace, name)
    )
    assert event.returncode == 1 and denial(release, message) in event.stderr, event.stderr
    # The policy binds the receiver's ServiceAccount only: the admin still writes there.
    control_plane.kubectl(
        "annotate", "deployment", name, "-n", namespace, "chart-test/admin=yes", "--overwrite"
    )


def test_policy_follows_the_allow_list_on_upgrade(control_plane: ClusterAccess, release: Release) -> None:
    elsewhere = f"cw-elsewhere-{secrets.token_hex(3)}"
    create_namespace(control_plane, elsewhere)
    plain_deployment(control_plane, elsewhere, "web")
    plain_deployment(control_plane, release.allowed, "api")
    narrowed = {"config": {**release.values["config"], "namespaces": {"allow": [release.allowed]}}}
    try:
        with helm.Chart.load(CHART_DIR) as chart:
            release.helm.upgrade(
                chart, RELEASE, {**release.values, **narrowed}, namespace=release.namespace, timeout=120
            )
            try:
                wait_until_refused(
                    control_plane,
                    release,
                    elsewhere,
                    "web",
                    f"namespace {elsewhere} is not in the allow list",
                )
                assert touch(control_plane, release, release.allowed, "api") == ""
            finally:
                release.helm.upgrade(chart, RELEASE, release.values, namespace=release.namespace, timeout=120)
        # Back to an empty allow list: every namespace not refused, `elsewhere` included.
        eventually(
            lambda: touch(control_plane, release, elsewhere, "web", "--dry-run=server") == "",
            timeout=60,
            what=f"the admission policy letting writes in {elsewhere} through again",
        )
    finally:
        control_plane.kubectl("delete", "namespace", elsewhere, "--wait=false", "--ignore-not-found")
