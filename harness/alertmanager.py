"""Debian's Alertmanager (0.25) on loopback: one node, or an HA cluster gossiping on 127.0.0.1."""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from harness.binaries import debian_binary
from harness.http import is_ok, request_json
from harness.processes import ManagedProcess, free_port

ALERTMANAGER_BINARY = Path("/usr/bin/prometheus-alertmanager")
READY_TIMEOUT = 60.0


class AlertmanagerCluster:
    """`replicas` Alertmanager processes sharing one config; with more than one they form a gossip cluster.

    `extra_args` reach every instance (e.g. `--cluster.peer-timeout=2s` to shorten HA stagger).
    """

    def __init__(
        self,
        config: str | Mapping[str, Any],
        *,
        replicas: int = 1,
        workdir: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = debian_binary(ALERTMANAGER_BINARY, "prometheus-alertmanager", "Alertmanager")
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="rollback-receiver-am-"))
        self.replicas = replicas
        self.extra_args = list(extra_args)
        self.config_file = self.workdir / "alertmanager.yml"
        text = config if isinstance(config, str) else yaml.safe_dump(dict(config), sort_keys=False)
        self.config_file.write_text(text)
        self.web_ports = [free_port() for _ in range(replicas)]
        self.gossip_ports = [free_port(udp_too=True) for _ in range(replicas)] if replicas > 1 else []
        self.processes: list[ManagedProcess] = []

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.web_ports]

    @property
    def url(self) -> str:
        return self.urls[0]

    def _args(self, index: int) -> list[str]:
        args = [
            f"--config.file={self.config_file}",
            f"--storage.path={self.workdir / f'data-{index}'}",
            f"--web.listen-address=127.0.0.1:{self.web_ports[index]}",
            f"--web.external-url=http://127.0.0.1:{self.web_ports[index]}",
            "--log.level=debug",
        ]
        if self.replicas == 1:
            # Without this a lone 0.25 instance gossips on 0.0.0.0:9094.
            args.append("--cluster.listen-address=")
        else:
            gossip = f"127.0.0.1:{self.gossip_ports[index]}"
            args += [f"--cluster.listen-address={gossip}", f"--cluster.advertise-address={gossip}"]
            args += [
                f"--cluster.peer=127.0.0.1:{port}" for i, port in enumerate(self.gossip_ports) if i != index
            ]
        return args + self.extra_args

    def start(self) -> AlertmanagerCluster:
        try:
            for index in range(self.replicas):
                process = ManagedProcess(
                    f"alertmanager-{index}",
                    [str(self.binary), *self._args(index)],
                    self.workdir / f"alertmanager-{index}.log",
                )
                process.start()
                self.processes.append(process)
            for process, url in zip(self.processes, self.urls, strict=True):
                process.wait_until(
                    functools.partial(is_ok, f"{url}/-/ready"), timeout=READY_TIMEOUT, what="/-/ready"
                )
            if self.replicas > 1:
                for process, url in zip(self.processes, self.urls, strict=True):
                    process.wait_until(
                        functools.partial(_has_peers, url, self.replicas),
                        timeout=READY_TIMEOUT,
                        what=f"all {self.replicas} peers joined the gossip cluster",
                    )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, *, remove: bool = True) -> None:
        for process in self.processes:
            process.stop()
        self.processes.clear()
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.log_tail(80)}" for p in self.processes)


def _has_peers(url: str, count: int) -> bool:
    status = request_json("GET", f"{url}/api/v2/status")
    return len(status.get("cluster", {}).get("peers") or []) == count


def webhook_config(
    urls: str | Sequence[str],
    *,
    token: str | None = None,
    token_file: Path | None = None,
    group_by: Sequence[str] = ("alertname",),
    repeat_interval: str = "1h",
    receiver: str = "rollback-receiver",
) -> dict[str, Any]:
    """A config that routes every alert to webhook `urls` (one webhook_config each, as for receiver
    replicas) with 1 s group timers, optionally with a bearer token (inline or from a file)."""
    authorization: dict[str, str] = {}
    if token is not None:
        authorization["credentials"] = token
    if token_file is not None:
        authorization["credentials_file"] = str(token_file)
    targets = [urls] if isinstance(urls, str) else list(urls)
    webhook: dict[str, Any] = {"send_resolved": True, "max_alerts": 0}
    if authorization:
        webhook["http_config"] = {"authorization": {"type": "Bearer", **authorization}}
    return {
        "route": {
            "receiver": receiver,
            "group_by": list(group_by),
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": repeat_interval,
        },
        "receivers": [
            {
                "name": receiver,
                "webhook_configs": [{"url": url, **webhook} for url in targets],
            }
        ],
    }


def push_alerts(am_url: str, alerts: Sequence[Mapping[str, Any]]) -> None:
    """POST alerts to Alertmanager's v2 API, as Prometheus does.

    Each alert is `{"labels": {...}, "annotations": {...}}`; `startsAt` defaults to now and
    `generatorURL` to "" so callers only write what the test is about.
    """
    now = datetime.now(UTC).isoformat()
    payload = [{"startsAt": now, "annotations": {}, "generatorURL": "", **alert} for alert in alerts]
    request_json("POST", f"{am_url}/api/v2/alerts", payload)


def get_alerts(am_url: str, *, active_only: bool = True) -> list[dict[str, Any]]:
    query = "?active=true&silenced=false&inhibited=false" if active_only else ""
    alerts: list[dict[str, Any]] = request_json("GET", f"{am_url}/api/v2/alerts{query}")
    return alerts
