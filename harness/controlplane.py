"""A real local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
kwok (fake nodes whose pods become Running and Ready without a kubelet). Everything binds 127.0.0.1.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import binaries, pki
from harness.binaries import (
    ETCD,
    KUBE_APISERVER,
    KUBE_CONTROLLER_MANAGER,
    KUBE_SCHEDULER,
    KUBECTL,
    KWOK,
    Binaries,
)
from harness.cluster import TEST_USERS, ClusterAccess, write_kubeconfig
from harness.pod_behaviours import STAGES_FILE as POD_BEHAVIOUR_STAGES
from harness.processes import ManagedProcess, StartupError, free_port, pid_is_alive, stop_pid

STATE_FILE = "state.json"
# Order matters: started in this order, stopped in reverse.
COMPONENTS = (ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KWOK)
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# Everything a Deployment/StatefulSet/DaemonSet rollout and a namespace delete need, nothing more.
CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "daemonset-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "pod-garbage-collector-controller",
)
# kube-apiserver does CPU-bound OpenAPI work at start; 60-120 s is normal on 2 cores.
APISERVER_TIMEOUT = float(os.environ.get("ROLLBACK_RECEIVER_APISERVER_TIMEOUT", "240"))
COMPONENT_TIMEOUT = 90.0
PORT_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    @classmethod
    def allocate(cls) -> Ports:
        return cls(*(free_port() for _ in range(6)))


class ControlPlane(ClusterAccess):
    def __init__(
        self,
        workdir: Path,
        *,
        bins: Binaries | None = None,
        nodes: int = 1,
        detached: bool = False,
    ) -> None:
        self.workdir = workdir
        self.bins = bins or binaries.resolve()
        self.nodes = nodes
        self.detached = detached
        self.ports = Ports.allocate()
        self.server = f"https://127.0.0.1:{self.ports.apiserver}"
        self.kubectl_path = self.bins[KUBECTL]
        self.bin_dir = self.bins.bin_dir
        self.kubeconfig = str(workdir / "admin.kubeconfig")
        self.ca_file = str(workdir / "pki" / "ca.crt")
        self.admin_token: str = secrets.token_hex(24)
        self.user_tokens = {name: secrets.token_hex(24) for name in TEST_USERS}
        self.processes: dict[str, ManagedProcess] = {}
        self.startup_seconds: dict[str, float] = {}
        self._ssl: ssl.SSLContext | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> ControlPlane:
        """Start every component in order, each checked for readiness; on failure stop what started."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start_components()
                return self
            except StartupError as error:
                self.stop(keep_logs=True)
                # Free ports are picked before the components bind them; another process can win the race.
                if "address already in use" not in str(error) or attempt == PORT_ATTEMPTS:
                    raise
                self.ports = Ports.allocate()
                self.server = f"https://127.0.0.1:{self.ports.apiserver}"
            except BaseException:
                self.stop(keep_logs=True)
                raise
        raise AssertionError("unreachable")

    def _start_components(self) -> None:
        self._prepare_files()
        t0 = time.monotonic()
        self._timed(ETCD, self._start_etcd)
        self._timed(KUBE_APISERVER, self.start_apiserver)
        self._timed(KUBE_CONTROLLER_MANAGER, self._start_controller_manager)
        self._timed(KUBE_SCHEDULER, self._start_scheduler)
        self._timed(KWOK, self._start_kwok)
        self._timed("nodes", self._create_nodes)
        self.startup_seconds["total"] = time.monotonic() - t0
        self.save_state()

    def stop(self, *, keep_logs: bool = True) -> None:
        """Stop every component (reverse order) by PID; remove the data, keep logs unless told not to."""
        for name in reversed(COMPONENTS):
            process = self.processes.pop(name, None)
            if process is not None:
                process.stop()
        for child in ("etcd-data", "pki", "kubeconfigs", "certs"):
            shutil.rmtree(self.workdir / child, ignore_errors=True)
        if not keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_apiserver(self) -> None:
        process = self.processes.pop(KUBE_APISERVER, None)
        if process is not None:
            process.stop()
        self.save_state()

    def start_apiserver(self) -> None:
        """Start (or restart) kube-apiserver on the same port against the same etcd."""
        process = self._launch(KUBE_APISERVER, self._apiserver_args())
        process.wait_until(self._apiserver_ready, timeout=APISERVER_TIMEOUT, what="/readyz returned ok")
        process.wait_until(
            lambda: self.api("GET", "/api/v1/namespaces/default")[0] == 200,
            timeout=COMPONENT_TIMEOUT,
            what="namespace default exists",
        )
        self.save_state()

    # ---- API access ------------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One admin request to the apiserver: (status, parsed JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.admin_token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, context=self._ssl_context(), timeout=10) as response:
                return response.status, _json_or_text(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json_or_text(error.read())

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cafile=self.ca_file)
        return self._ssl

    # ---- components ------------------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        pki.generate(self.workdir / "pki")
        lines = [f'{self.admin_token},admin,admin,"system:masters"']
        lines += [f"{token},{name},{name}" for name, token in self.user_tokens.items()]
        tokens = self.workdir / "pki" / "tokens.csv"
        tokens.write_text("\n".join(lines) + "\n")
        tokens.chmod(0o600)
        write_kubeconfig(
            Path(self.kubeconfig),
            server=self.server,
            ca_pem=self._ca_pem(),
            token=self.admin_token,
            user="admin",
        )

    def _launch(self, name: str, args: list[str]) -> ManagedProcess:
        process = ManagedProcess(
            name,
            [str(self.bins[name]), *args],
            self.workdir / "logs" / f"{name}.log",
            cwd=self.workdir,
            detached=self.detached,
        )
        process.start()
        self.processes[name] = process
        return process

    def _timed(self, name: str, start: Any) -> None:
        t0 = time.monotonic()
        start()
        self.startup_seconds[name] = time.monotonic() - t0

    def _start_etcd(self) -> None:
        p = self.ports
        peer = f"http://127.0.0.1:{p.etcd_peer}"
        client = f"http://127.0.0.1:{p.etcd_client}"
        process = self._launch(
            ETCD,
            [
                "--name=default",
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )
        process.wait_until(
            lambda: b'"health":"true"' in _http_get(f"{client}/health"),
            timeout=COMPONENT_TIMEOUT,
            what="/health reported healthy",
        )

    def _apiserver_args(self) -> list[str]:
        d = self.workdir / "pki"
        return [
            f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports.apiserver}",
            # The kubernetes Service's endpoints would be 127.0.0.1, which the API rejects.
            "--endpoint-reconciler-type=none",
            f"--cert-dir={d}",
            f"--tls-cert-file={d / 'apiserver.crt'}",
            f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--client-ca-file={d / 'ca.crt'}",
            f"--token-auth-file={d / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={d / 'sa.key'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/24",
            "--allow-privileged=true",
            # kwok nodes have no node-lifecycle-controller to lift the not-ready taint this plugin adds.
            "--disable-admission-plugins=TaintNodesByCondition",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
        ]

    def _apiserver_ready(self) -> bool:
        status, body = self.api("GET", "/readyz")
        return status == 200 and body == "ok"

    def _start_controller_manager(self) -> None:
        process = self._launch(
            KUBE_CONTROLLER_MANAGER,
            [
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--root-ca-file={self.ca_file}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports.controller_manager}",
                f"--cert-dir={self.workdir / 'certs' / 'controller-manager'}",
                "--kube-api-qps=100",
                "--kube-api-burst=200",
            ],
        )
        process.wait_until(
            lambda: _https_healthz(self.ports.controller_manager),
            timeout=COMPONENT_TIMEOUT,
            what="/healthz ok",
        )
        process.wait_until(
            lambda: self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")[0] == 200,
            timeout=COMPONENT_TIMEOUT,
            what="ServiceAccount default/default exists",
        )

    def _start_scheduler(self) -> None:
        process = self._launch(
            KUBE_SCHEDULER,
            [
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports.scheduler}",
                f"--cert-dir={self.workdir / 'certs' / 'scheduler'}",
            ],
        )
        process.wait_until(
            lambda: _https_healthz(self.ports.scheduler), timeout=COMPONENT_TIMEOUT, what="/healthz ok"
        )

    def _start_kwok(self) -> None:
        process = self._launch(
            KWOK,
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--config={self.bins.kwok_stages}",
                # Our own stages for pods that never become ready or crash-loop (opt-in by pod label).
                f"--config={POD_BEHAVIOUR_STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{self.ports.kwok}",
                # Pod and node IPs are data only: nothing may ever dial them.
                "--node-ip=127.0.0.1",
                "--cidr=10.244.0.0/16",
            ],
        )
        process.wait_until(
            lambda: _http_get(f"http://127.0.0.1:{self.ports.kwok}/healthz").strip() == b"ok",
            timeout=COMPONENT_TIMEOUT,
            what="/healthz ok",
        )

    def _create_nodes(self) -> None:
        names = [f"kwok-node-{i}" for i in range(self.nodes)]
        for name in names:
            status, body = self.api("POST", "/api/v1/nodes", _fake_node(name))
            if status not in (201, 409):
                raise StartupError(f"creating node {name} failed: {status} {body}")
        kwok = self.processes[KWOK]
        for name in names:
            kwok.wait_until(
                functools.partial(self._node_ready, name),
                timeout=COMPONENT_TIMEOUT,
                what=f"node {name} Ready",
            )

    def _node_ready(self, name: str) -> bool:
        status, node = self.api("GET", f"/api/v1/nodes/{name}")
        if status != 200:
            return False
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in node["status"].get("conditions", [])
        )
        tainted = any(
            t.get("key", "").startswith("node.kubernetes.io/") for t in node["spec"].get("taints", [])
        )
        return ready and not tainted

    # ---- state for `python -m harness up|down` ------------------------------------------------------------

    def save_state(self) -> None:
        state = {
            "server": self.server,
            "kubeconfig": self.kubeconfig,
            "processes": {
                name: {"pid": p.pid, "exe": str(p.executable), "log": str(p.log_path)}
                for name, p in self.processes.items()
                if p.pid is not None
            },
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory of each running component, from /proc."""
        usage: dict[str, int] = {}
        for name, process in self.processes.items():
            if process.pid is not None:
                usage[name] = _rss_of(process.pid)
        return usage


def read_state(workdir: Path) -> dict[str, Any] | None:
    path = workdir / STATE_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def running_components(workdir: Path) -> dict[str, int]:
    """Components recorded in `workdir` whose PID still runs the recorded binary."""
    state = read_state(workdir) or {"processes": {}}
    return {
        name: info["pid"]
        for name, info in state["processes"].items()
        if pid_is_alive(info["pid"], Path(info["exe"]))
    }


def stop_recorded(workdir: Path) -> list[str]:
    """Stop a detached control plane by its recorded PIDs, in reverse start order; returns what stopped."""
    state = read_state(workdir)
    if state is None:
        return []
    stopped: list[str] = []
    recorded = state["processes"]
    for name in reversed(COMPONENTS):
        info = recorded.get(name)
        if info and pid_is_alive(info["pid"], Path(info["exe"])):
            stop_pid(info["pid"], expected_exe=Path(info["exe"]))
            stopped.append(name)
    (workdir / STATE_FILE).unlink(missing_ok=True)
    shutil.rmtree(workdir / "etcd-data", ignore_errors=True)
    return stopped


def _fake_node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
        },
    }


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


def _https_healthz(port: int) -> bool:
    # The component serves a self-signed loopback cert of its own making; there is nothing to verify.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=context, timeout=5) as response:
        return bool(response.status == 200)


def _rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
