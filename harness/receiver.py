"""`rollback-receiver serve` as a real subprocess on a free loopback port, for the demo and every test that
needs the service itself: start, wait for /readyz, post webhooks, read /metrics and /api/v1/decisions,
stop it, or SIGKILL it for crash tests.

The caller builds the config (from config/example.yaml in the demo, from scratch in the tests); this class
owns only what ties it to this process: the listen address and the bearer token file.
"""

from __future__ import annotations

import copy
import os
import secrets
import ssl
import subprocess
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from harness.http import HttpError, is_ok, request_json, request_text
from harness.metrics import metric_samples, metric_value
from harness.processes import ManagedProcess, free_port

READY_TIMEOUT = 60.0
TOKEN_FILE = "webhook-token"


def write_token(directory: Path) -> Path:
    """A fresh bearer token for the webhook (shared with Alertmanager), readable by its owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / TOKEN_FILE
    path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


class ReceiverProcess:
    """One replica. `name` is its POD_NAME (its identity in the shared HA state; it survives a restart, as
    in a pod whose container restarts); `token_file` shares another replica's webhook token."""

    def __init__(
        self,
        workdir: Path,
        *,
        kubeconfig: str,
        config: Mapping[str, Any] | None = None,
        name: str | None = None,
        token_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.name = name or workdir.name
        self.port = free_port()
        self.token_file = token_file or write_token(workdir)
        self.config_file = workdir / "receiver.yaml"
        self.config: dict[str, Any] = {}
        self.kubeconfig = kubeconfig
        # The client side of `server.tls` (trusting its CA, maybe with a client certificate): https.
        self.ssl_context = ssl_context
        # Only PATH from the caller's environment: the service must not depend on a KUBECONFIG or
        # POD_NAMESPACE that happens to be set where the tests run.
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "POD_NAME": self.name, **(env or {})}
        self.process = ManagedProcess(
            f"rollback-receiver {self.name}",
            [
                sys.executable,
                "-m",
                "receiver",
                "serve",
                f"--config={self.config_file}",
                *extra_args,
                f"--kubeconfig={kubeconfig}",
            ],
            workdir / "receiver.log",
            cwd=workdir,
        )
        if config is not None:
            self.configure(config)

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return self.token_file.read_text(encoding="utf-8").strip()

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def configure(self, config: Mapping[str, Any], *, bearer: bool = True) -> ReceiverProcess:
        """Write `config` as the file `serve` reads at its next start (or reload), listening on our port
        and, unless `bearer=False`, authenticating with our token file."""
        document = copy.deepcopy(dict(config))
        server = document.setdefault("server", {})
        server["listen"] = f"127.0.0.1:{self.port}"
        if bearer:
            server.setdefault("auth", {})["bearer_token_file"] = str(self.token_file)
        self.config_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        self.config = document
        return self

    def start(
        self, *, env: Mapping[str, str] | None = None, kubeconfig: str | None = None
    ) -> ReceiverProcess:
        """Start (or restart) and wait for /readyz; `env` adds variables for this start only, `kubeconfig`
        replaces the one it was created with from now on."""
        if not self.config_file.exists():
            raise RuntimeError(f"{self.name}: configure() the receiver before starting it")
        if kubeconfig is not None:
            self.kubeconfig = kubeconfig
        self.process.argv[-1] = f"--kubeconfig={self.kubeconfig}"
        self.process.env = {**self.env, **(env or {})}
        self.process.start()
        try:
            self.process.wait_until(
                lambda: is_ok(f"{self.url}/readyz", context=self.ssl_context),
                timeout=READY_TIMEOUT,
                what="/readyz",
            )
        except BaseException:  # never leave a half-started receiver behind
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM (a graceful drain), SIGKILL after the grace period."""
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, exactly like an OOM kill or a node loss."""
        self.process.kill()

    def incidents(self, kubeconfig: Path | str, *args: str) -> str:
        """`rollback-receiver incidents ...` with this replica's config against its cluster: what an operator
        runs. Raises RuntimeError (with the CLI's stderr) when it fails."""
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "receiver",
                "incidents",
                *args,
                f"--config={self.config_file}",
                f"--kubeconfig={kubeconfig}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"rollback-receiver incidents {' '.join(args)} failed: {completed.stderr}")
        return completed.stdout

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines)

    def post(self, payload: Mapping[str, Any], *, path: str = "/webhook") -> int:
        """POST a webhook as Alertmanager does; the HTTP status, whatever it is."""
        try:
            request_text(
                "POST",
                f"{self.url}{path}",
                payload,
                headers=self.auth_headers,
                timeout=30,
                context=self.ssl_context,
            )
        except HttpError as error:
            return error.status
        return 200

    def metrics(self) -> str:
        """The /metrics exposition, to read with harness.metrics (or `metric` / `samples` at once)."""
        return request_text("GET", f"{self.url}/metrics", context=self.ssl_context)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 when absent)."""
        return metric_value(self.metrics(), name, **labels)

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        return metric_samples(self.metrics(), name)

    def decisions(self, **filters: str) -> list[dict[str, Any]]:
        """The decision log (GET /api/v1/decisions), filtered like the API filters it."""
        query = urllib.parse.urlencode({"limit": "1000", **filters})
        body = request_json(
            "GET",
            f"{self.url}/api/v1/decisions?{query}",
            headers=self.auth_headers,
            context=self.ssl_context,
        )
        entries: list[dict[str, Any]] = body["decisions"] if isinstance(body, dict) else body
        return entries


def webhook_alert(
    namespace: str,
    deployment: str,
    *,
    alertname: str = "HighErrorRate",
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    fingerprint: str | None = None,
    starts_at: datetime | None = None,
    status: str = "firing",
) -> dict[str, Any]:
    """One alert as Alertmanager's webhook carries it, annotated `rollback: "true"`."""
    identity = {"alertname": alertname, "namespace": namespace, "deployment": deployment}
    return {
        "status": status,
        "labels": {**identity, **(labels or {})},
        "annotations": {"rollback": "true", **(annotations or {})},
        "startsAt": (starts_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fingerprint or secrets.token_hex(8),
    }


def webhook_payload(
    alerts: Sequence[Mapping[str, Any]], *, status: str = "firing", receiver: str = "rollback-receiver"
) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) around `alerts`."""
    alertname = str(alerts[0]["labels"]["alertname"]) if alerts else "HighErrorRate"
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": alertname},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
        "alerts": list(alerts),
    }
