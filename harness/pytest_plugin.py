"""pytest fixtures for the real parts: Kubernetes control plane, Alertmanager, Prometheus, a webhook sink.

A missing real part FAILS the test that asks for it, with the command that installs it; nothing is skipped.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness import argo_rollouts as argo
from harness import binaries
from harness.alertmanager import AlertmanagerCluster
from harness.alertmanager import push_alerts as _push_alerts
from harness.argo_rollouts import ArgoRollouts
from harness.binaries import DebianPackageMissingError
from harness.cluster import ClusterAccess, ExistingCluster, KubectlError
from harness.controlplane import ControlPlane
from harness.processes import StartupError, sigterm_as_interrupt
from harness.prometheus import Prometheus
from harness.webhook_sink import WebhookSink

CLUSTER_FIXTURES = {"control_plane", "namespace", "argo_rollouts"}
ALERTMANAGER_FIXTURES = {"alertmanager_factory", "prometheus_factory", "push_alerts"}
NAMESPACE_LABEL = "rollback-receiver.test/owner"


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "cluster: needs the real Kubernetes control plane (harness)",
        "alertmanager: needs the real Alertmanager/Prometheus from Debian",
        "e2e: end-to-end with every real part",
    ):
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Mark by fixture use, so `-m "not cluster"` selects the fast suite without anyone remembering marks.
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & CLUSTER_FIXTURES:
            item.add_marker(pytest.mark.cluster)
        if names & ALERTMANAGER_FIXTURES:
            item.add_marker(pytest.mark.alertmanager)


def use_existing_cluster() -> bool:
    return os.environ.get("USE_EXISTING_CLUSTER", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[ClusterAccess]:
    """One real control plane per test session, started on first use (or USE_EXISTING_CLUSTER=true)."""
    if use_existing_cluster():
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig:
            pytest.fail(
                "USE_EXISTING_CLUSTER=true needs KUBECONFIG to name the cluster's kubeconfig", pytrace=False
            )
        existing = ExistingCluster(kubeconfig)
        yield existing
        existing.stop()
        return
    try:
        bins = binaries.resolve()
    except binaries.MissingBinariesError as error:
        pytest.fail(str(error), pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="rollback-receiver-cp-"))
    plane = ControlPlane(workdir, bins=bins)
    with sigterm_as_interrupt():
        try:
            plane.start()
        except StartupError as error:
            pytest.fail(f"control plane did not start (logs in {workdir / 'logs'}): {error}", pytrace=False)
        try:
            yield plane
        finally:
            failed = request.session.testsfailed > 0
            plane.stop(keep_logs=failed)
            if failed:
                print(f"\ncontrol plane logs kept in {workdir / 'logs'}")


@pytest.fixture(scope="session")
def argo_rollouts(control_plane: ClusterAccess) -> Iterator[ArgoRollouts]:
    """The real Argo Rollouts controller (CRDs installed) for this session's cluster, started on first use.
    Its log is beside the control plane's logs and is kept with them when a test failed."""
    try:
        bins = argo.resolve()
    except binaries.MissingBinariesError as error:
        pytest.fail(str(error), pytrace=False)
    controller = ArgoRollouts(control_plane, bins=bins, workdir=control_plane.workdir)
    with sigterm_as_interrupt():
        try:
            controller.start()
        except (StartupError, KubectlError) as error:
            controller.stop()
            pytest.fail(f"Argo Rollouts did not start (log {controller.log_path}): {error}", pytrace=False)
        try:
            yield controller
        finally:
            controller.stop()


def _namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-") or "test"
    return f"t-{stem}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(control_plane: ClusterAccess, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace (with its default ServiceAccount) for this test; deleted afterwards."""
    name = _namespace_name(request.node.name)
    control_plane.kubectl("create", "namespace", name)
    control_plane.kubectl("label", "namespace", name, f"{NAMESPACE_LABEL}=pytest")
    control_plane.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


AlertmanagerFactory = Callable[..., AlertmanagerCluster]
PrometheusFactory = Callable[..., Prometheus]


@pytest.fixture
def alertmanager_factory(tmp_path: Path) -> Iterator[AlertmanagerFactory]:
    """factory(config, *, replicas=1, extra_args=()) -> started AlertmanagerCluster (stopped at teardown)."""
    started: list[AlertmanagerCluster] = []

    def factory(
        config: str | Mapping[str, Any], *, replicas: int = 1, extra_args: Sequence[str] = ()
    ) -> AlertmanagerCluster:
        try:
            cluster = AlertmanagerCluster(
                config, replicas=replicas, workdir=_fresh_dir(tmp_path, "alertmanager"), extra_args=extra_args
            )
        except DebianPackageMissingError as error:
            pytest.fail(str(error), pytrace=False)
        started.append(cluster)
        try:
            return cluster.start()
        except StartupError as error:
            pytest.fail(str(error), pytrace=False)

    with sigterm_as_interrupt():
        yield factory
        for cluster in started:
            cluster.stop(remove=False)  # logs stay in tmp_path for a failed test


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[PrometheusFactory]:
    """factory(rules, *, alertmanagers=(), scrape_targets=(), evaluation_interval="1s") -> Prometheus."""
    started: list[Prometheus] = []

    def factory(rules: str | Mapping[str, Any] | None = None, **options: Any) -> Prometheus:
        try:
            prometheus = Prometheus(rules, workdir=_fresh_dir(tmp_path, "prometheus"), **options)
        except DebianPackageMissingError as error:
            pytest.fail(str(error), pytrace=False)
        started.append(prometheus)
        try:
            return prometheus.start()
        except StartupError as error:
            pytest.fail(str(error), pytrace=False)

    with sigterm_as_interrupt():
        yield factory
        for prometheus in started:
            prometheus.stop(remove=False)


@pytest.fixture
def push_alerts() -> Callable[[str, Sequence[Mapping[str, Any]]], None]:
    """push_alerts(am_url, alerts): POST /api/v2/alerts, as Prometheus would."""
    return _push_alerts


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A loopback HTTP server recording every request (e.g. what Alertmanager sends)."""
    sink = WebhookSink().start()
    yield sink
    sink.stop()


def _fresh_dir(parent: Path, prefix: str) -> Path:
    index = sum(1 for p in parent.glob(f"{prefix}-*"))
    path = parent / f"{prefix}-{index}"
    path.mkdir(parents=True)
    return path
