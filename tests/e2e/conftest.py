"""The full stack for the end-to-end suite: one rollback-receiver (a real `serve` subprocess on the shared
control plane) and one Alertmanager per module, plus a fresh namespace holding the seed's three
ecommerce revisions for each test. Prometheus, the HA pair and a second receiver replica are started by
the tests that need them, through the harness.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from demo import incident
from demo.stack import SHOP, Timings, alertmanager_config, example_receiver
from harness.alertmanager import AlertmanagerCluster
from harness.cluster import ClusterAccess
from harness.receiver import ReceiverProcess

TIMINGS = Timings()

DeploySeed = Callable[[str], str]


@pytest.fixture(scope="module")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-stack")


@pytest.fixture(scope="module")
def state_namespace(control_plane: ClusterAccess) -> Iterator[str]:
    """The receiver's own namespace (its HA state ConfigMap), fresh per module so budgets start full."""
    name = f"e2e-state-{secrets.token_hex(3)}"
    incident.ensure_namespace(control_plane, name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def receiver(
    control_plane: ClusterAccess, state_namespace: str, e2e_dir: Path, request: pytest.FixtureRequest
) -> Iterator[ReceiverProcess]:
    """rollback-receiver serve with config/example.yaml adapted to loopback; the test module's
    ALLOWED_NAMESPACES (default: the seed's `shop`) become the allow list."""
    process, _ = example_receiver(
        e2e_dir / "receiver-0",
        kubeconfig=control_plane.kubeconfig,
        timings=TIMINGS,
        allow=getattr(request.module, "ALLOWED_NAMESPACES", (SHOP,)),
        state_namespace=state_namespace,
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def alertmanager(receiver: ReceiverProcess, e2e_dir: Path) -> Iterator[AlertmanagerCluster]:
    """One Alertmanager with config/alertmanager.yml pointed at the receiver (bearer token from a file)."""
    config = alertmanager_config(f"{receiver.url}/webhook", receiver.token_file, TIMINGS)
    workdir = e2e_dir / "alertmanager"
    workdir.mkdir()
    cluster = AlertmanagerCluster(config.document, workdir=workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop(remove=False)


@pytest.fixture
def deploy_seed(control_plane: ClusterAccess) -> Iterator[DeploySeed]:
    """deploy_seed(namespace): the namespace with ecommerce at revisions 1-3 (v1.2.0 live); deleted after."""
    created: list[str] = []

    def deploy(namespace: str) -> str:
        # The names are fixed; on an existing cluster a previous run's namespace may still be terminating.
        control_plane.kubectl("wait", "--for=delete", f"namespace/{namespace}", "--timeout=120s")
        incident.ensure_namespace(control_plane, namespace)
        created.append(namespace)
        incident.deploy_seed_history(control_plane, namespace)
        return namespace

    yield deploy
    for namespace in created:
        control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
