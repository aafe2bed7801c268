"""`rollback-receiver serve` as a real subprocess on a loopback port, for the HA, crash and storm tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.processes import ManagedProcess, free_port, stop_pid

T = TypeVar("T")
READY_TIMEOUT = 60.0


def receiver_config(
    namespace: str,
    *,
    routes: Sequence[Mapping[str, Any]] | None = None,
    alertmanager_urls: Sequence[str] = (),
    limits: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    namespaces: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A config for the test namespace(s); the state ConfigMap lives in `namespace`."""
    config: dict[str, Any] = {
        "cluster_name": "e2e",
        "namespaces": {"allow": list(namespaces or [namespace])},
        "state": {"namespace": namespace, "name": "rollback-receiver-state"},
        "defaults": {"verify_timeout": "90s"},
        "routes": list(
            routes
            or [
                {
                    "name": "rollback",
                    "match": ['rollback="true"'],
                    "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
                    "action": "rollback",
                }
            ]
        ),
    }
    if alertmanager_urls:
        config["alertmanager"] = {"urls": list(alertmanager_urls), "interval": "2s"}
    if limits:
        config["limits"] = dict(limits)
    config.update(extra or {})
    return config


class ReceiverProcess:
    def __init__(
        self,
        workdir: Path,
        config: Mapping[str, Any],
        kubeconfig: str,
        *,
        pod_name: str,
        env: Mapping[str, str] | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.token = secrets.token_urlsafe(24)
        token_file = workdir / "token"
        token_file.write_text(self.token)
        doc = dict(config)
        doc["server"] = {
            **dict(config.get("server") or {}),
            "listen": f"127.0.0.1:{self.port}",
            "auth": {"bearer_token_file": str(token_file)},
        }
        self.config_file = workdir / "config.yaml"
        self.config_file.write_text(yaml.safe_dump(doc))
        self.kubeconfig = kubeconfig
        self.pod_name = pod_name
        self.extra_env = dict(env or {})
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, env: Mapping[str, str] | None = None) -> ReceiverProcess:
        environment = {**os.environ, "POD_NAME": self.pod_name, **self.extra_env, **(env or {})}
        self.process = ManagedProcess(
            f"receiver-{self.pod_name}",
            [
                sys.executable,
                "-m",
                "receiver",
                "serve",
                "--config",
                str(self.config_file),
                "--kubeconfig",
                self.kubeconfig,
            ],
            self.workdir / "receiver.log",
            env=environment,
        )
        self.process.start()
        eventually(self._ready, timeout=READY_TIMEOUT, what=f"{self.pod_name} /readyz", on_fail=self.log_tail)
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if not self.process.running():
            raise AssertionError(f"{self.pod_name} exited:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, exactly like an OOM kill or a node loss."""
        assert self.process is not None and self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.popen.wait(timeout=30)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self.process is not None and self.process.pid is not None:
            stop_pid(self.process.pid)
            if self.process.popen is not None:
                self.process.popen.wait(timeout=30)

    def log_tail(self, lines: int = 60) -> str:
        path = self.workdir / "receiver.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in (self.workdir / "receiver.log").read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def post(self, payload: Mapping[str, Any], *, path: str = "/webhook") -> int:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 when absent)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            text = response.read().decode()
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                    total += sample.value
        return total

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as response:
            text = response.read().decode()
        return [
            (dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
        ]


def webhook_payload(alerts: Sequence[Mapping[str, Any]], *, status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "rollback-receiver",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test",
        "alerts": list(alerts),
    }


def webhook_alert(
    namespace: str,
    deployment: str,
    *,
    fingerprint: str | None = None,
    starts_at: datetime | None = None,
    status: str = "firing",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "namespace": namespace, "deployment": deployment},
        "annotations": {"rollback": "true"},
        "startsAt": (starts_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint or secrets.token_hex(8),
    }


def eventually(
    check: Callable[[], T | None],
    *,
    timeout: float = 120,
    what: str = "condition",
    on_fail: Callable[[], str] | None = None,
) -> T:
    """Poll a condition real processes will reach; the timeout only bounds a hang (never asserted on)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{on_fail()}" if on_fail is not None else ""
            raise AssertionError(f"gave up waiting for {what}{detail}")
        time.sleep(0.25)


# --- workloads on the test cluster (through the harness' kubectl) -----------------------------------------

V1, V2 = "registry.example/shop:v1", "registry.example/shop:v2"


def deploy(
    cp: Any, namespace: str, name: str, *images: str, node_selector: Mapping[str, str] | None = None
) -> None:
    """A one-replica Deployment with one revision per image, each rolled out to completion."""
    first, *rest = images or (V1, V2)
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": first}]},
    }
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}, "template": template},
    }
    cp.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    cp.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")
    for image in rest:
        cp.kubectl("set", "image", f"deployment/{name}", f"app={image}", "-n", namespace)
        cp.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")


def workload(cp: Any, namespace: str, name: str) -> dict[str, Any]:
    return dict(cp.kubectl_json("get", "deployment", name, "-n", namespace))


def image_of(cp: Any, namespace: str, name: str) -> str:
    return str(workload(cp, namespace, name)["spec"]["template"]["spec"]["containers"][0]["image"])


def revision_of(cp: Any, namespace: str, name: str) -> int:
    return int(workload(cp, namespace, name)["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


def our_events(cp: Any, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
    args = ["get", "events", "-n", namespace]
    if name is not None:
        args += ["--field-selector", f"involvedObject.name={name}"]
    items = cp.kubectl_json(*args)["items"]
    return [e for e in items if e.get("source", {}).get("component") == "rollback-receiver"]


def event_reasons(cp: Any, namespace: str, name: str) -> list[str]:
    return [str(e["reason"]) for e in our_events(cp, namespace, name)]
