"""The real Argo Rollouts controller against a test cluster, and its `kubectl argo rollouts` plugin.

Built by scripts/build-argo-rollouts.sh from the module pinned in tools/argorollouts (the CRDs and the
controller's ClusterRole come from the same module). `ArgoRollouts(cluster).start()` installs the CRDs and the
RBAC, runs the controller as its own ServiceAccount with metrics and health on 127.0.0.1, and waits until it
serves; `stop()` stops it by PID. See docs/harness.md and docs/argo-rollouts.md.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import binaries
from harness.cluster import ClusterAccess, KubectlError, _plain_env
from harness.controlplane import _rss_of
from harness.http import is_ok, request_text
from harness.processes import ManagedProcess, StartupError, free_port, listening_addresses

CONTROLLER = "rollouts-controller"
PLUGIN = "kubectl-argo-rollouts"
CRDS = "crds.yaml"
CONTROLLER_RBAC = "controller-rbac.yaml"
BUILD_COMMAND = "bash scripts/build-argo-rollouts.sh"
# Upstream's install puts the controller's ServiceAccount (which its ClusterRoleBinding names) here.
NAMESPACE = "argo-rollouts"
SERVICE_ACCOUNT = "argo-rollouts"
CRD_NAMES = (
    "rollouts.argoproj.io",
    "experiments.argoproj.io",
    "analysisruns.argoproj.io",
    "analysistemplates.argoproj.io",
    "clusteranalysistemplates.argoproj.io",
)
STARTUP_TIMEOUT = 90.0
PORT_ATTEMPTS = 3


def cache_dir() -> Path:
    """The directory scripts/build-argo-rollouts.sh builds into (keep the two in sync)."""
    return binaries.cache_root() / f"argo-rollouts-{binaries.read_versions()['ARGO_ROLLOUTS_VERSION']}"


@dataclass(frozen=True, slots=True)
class ArgoRolloutsBinaries:
    controller: Path
    plugin: Path
    crds: Path
    controller_rbac: Path


def _candidates(name: str) -> list[Path]:
    explicit = os.environ.get(binaries.env_var_for(name))
    return ([Path(explicit)] if explicit else []) + [cache_dir() / name]


def _find(name: str, *, executable: bool) -> Path | None:
    for path in _candidates(name):
        if path.is_file() and (not executable or os.access(path, os.X_OK)):
            return path
    return None


def resolve() -> ArgoRolloutsBinaries:
    """The built controller, plugin, CRDs and RBAC, or one error that lists everything missing."""
    wanted = {CONTROLLER: True, PLUGIN: True, CRDS: False, CONTROLLER_RBAC: False}
    found = {name: _find(name, executable=executable) for name, executable in wanted.items()}
    missing = [
        f"  {name} (looked in: {', '.join(str(p) for p in _candidates(name))})"
        for name, path in found.items()
        if path is None
    ]
    if missing:
        raise binaries.MissingBinariesError(
            "Argo Rollouts is not available; missing:\n"
            + "\n".join(missing)
            + f"\nBuild it with `{BUILD_COMMAND}` (needs Go >= 1.26 and the Go module proxy) or"
            " `make bootstrap`; or point TEST_ASSET_<NAME> at existing files."
        )
    paths = {name: path for name, path in found.items() if path is not None}
    return ArgoRolloutsBinaries(
        controller=paths[CONTROLLER],
        plugin=paths[PLUGIN],
        crds=paths[CRDS],
        controller_rbac=paths[CONTROLLER_RBAC],
    )


@dataclass(slots=True)
class ArgoRollouts:
    """One Argo Rollouts controller for `cluster` (single instance, no leader election)."""

    cluster: ClusterAccess
    bins: ArgoRolloutsBinaries = field(default_factory=resolve)
    workdir: Path | None = None
    process: ManagedProcess | None = None
    metrics_port: int = 0
    healthz_port: int = 0
    startup_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def healthz_url(self) -> str:
        return f"http://127.0.0.1:{self.healthz_port}/healthz"

    @property
    def log_path(self) -> Path:
        return self._workdir() / "logs" / f"{CONTROLLER}.log"

    def _workdir(self) -> Path:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="rollback-receiver-argo-"))
        return self.workdir

    # ---- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> ArgoRollouts:
        """Install the CRDs and RBAC, then start the controller and wait until it serves on loopback."""
        t0 = time.monotonic()
        kubeconfig = self.install()
        t1 = time.monotonic()
        self.startup_seconds["install"] = t1 - t0
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._launch(kubeconfig)
                break
            except StartupError as error:
                self.stop()
                # Free ports are picked before the controller binds them; another process can win the race.
                if "already in use" not in str(error) or attempt == PORT_ATTEMPTS:
                    raise
        self.startup_seconds["controller"] = time.monotonic() - t1
        return self

    def install(self) -> str:
        """Apply the module's CRDs and the controller's ClusterRole; returns the controller's kubeconfig."""
        cp = self.cluster
        # Server-side: the CRDs are too large for the last-applied annotation of a client-side apply.
        cp.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(self.bins.crds))
        cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in CRD_NAMES))
        namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n"
        cp.kubectl("apply", "-f", "-", input=namespace)
        token = cp.service_account_token(NAMESPACE, SERVICE_ACCOUNT)
        cp.kubectl("apply", "-f", str(self.bins.controller_rbac))
        return cp.kubeconfig_for_token(token)

    def _launch(self, kubeconfig: str) -> None:
        self.metrics_port, self.healthz_port = free_port(), free_port()
        args = [
            f"--kubeconfig={kubeconfig}",
            # One controller per test session; leader election would only add a Lease round trip.
            "--leader-elect=false",
            f"--metricsport={self.metrics_port}",
            f"--healthzPort={self.healthz_port}",
            "--loglevel=info",
            "--logformat=text",
        ]
        workdir = self._workdir()
        # POD_NAMESPACE is where the controller reads its own ConfigMaps (argo-rollouts-config,
        # the notification ConfigMap/Secret). None exist, so no plugin download and no notification is sent.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "POD_NAMESPACE": NAMESPACE,
        }
        self.process = ManagedProcess(
            CONTROLLER, [str(self.bins.controller), *args], self.log_path, env=env, cwd=workdir
        )
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process.start()
        for what, url in (("/healthz ok", self.healthz_url), ("/metrics ok", self.metrics_url)):
            self.process.wait_until(
                functools.partial(_ready_or_bind_failed, url, self.log_path, log_offset),
                timeout=STARTUP_TIMEOUT,
                what=what,
            )
        if _bind_failed(self.log_path, log_offset):
            raise StartupError(
                f"{CONTROLLER}: a port was already in use; log {self.log_path}:\n{self.process.log_tail()}"
            )
        self._check_loopback_only()

    def _check_loopback_only(self) -> None:
        assert self.process is not None and self.process.pid is not None
        bound = listening_addresses(self.process.pid)
        if any(address != "127.0.0.1" for address, _ in bound):
            raise StartupError(
                f"{CONTROLLER} must listen on 127.0.0.1 only, but listens on {sorted(bound)}; was it built"
                f" by `{BUILD_COMMAND}`, which binds it to loopback?"
            )
        missing = {("127.0.0.1", self.metrics_port), ("127.0.0.1", self.healthz_port)} - bound
        if missing:
            raise StartupError(
                f"{CONTROLLER} does not listen on {sorted(missing)} (port already in use elsewhere?);"
                f" log {self.log_path}:\n{self.process.log_tail()}"
            )

    def stop(self) -> None:
        """Stop the controller by PID (SIGTERM, then SIGKILL). The CRDs stay: deleting deletes Rollouts."""
        if self.process is not None:
            self.process.stop()
            self.process = None

    # ---- use -------------------------------------------------------------------------------------------

    def plugin(
        self, *args: str, check: bool = True, timeout: float = 180, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the built `kubectl argo rollouts` plugin as the cluster admin.

        `status` (a read) is run once more when the plugin panicked with "send on closed channel": its
        watch can send one more update after it printed the end state and closed its channel, an open
        upstream race (argoproj/argo-rollouts#4372), which says nothing about the Rollout."""
        cmd = [str(self.bins.plugin), f"--kubeconfig={self.cluster.kubeconfig}", *args]
        for _ in range(2):
            result = subprocess.run(
                cmd,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=_plain_env(),
            )
            if not (args[:1] == ("status",) and "send on closed channel" in result.stderr):
                break
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def metrics(self) -> str:
        return request_text("GET", self.metrics_url)

    def rss_bytes(self) -> int:
        """Resident memory of the controller, from /proc."""
        if self.process is None or self.process.pid is None:
            return 0
        return _rss_of(self.process.pid)

    def log_tail(self, lines: int = 40) -> str:
        return self.process.log_tail(lines) if self.process is not None else "(not running)"


def _bind_failed(log_path: Path, offset: int) -> bool:
    """The controller only logs a failed bind of its metrics/health port and runs on without it."""
    try:
        with log_path.open("rb") as log:
            log.seek(offset)
            return b"address already in use" in log.read()
    except OSError:
        return False


def _ready_or_bind_failed(url: str, log_path: Path, offset: int) -> bool:
    return _bind_failed(log_path, offset) or is_ok(url)
