"""Debian's Prometheus on loopback with a given rule file, scrape targets and Alertmanagers."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

from harness.binaries import debian_binary
from harness.http import is_ok, request_json
from harness.processes import ManagedProcess, free_port

PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
READY_TIMEOUT = 60.0


def _host_port(url_or_address: str) -> str:
    return urlsplit(url_or_address).netloc if "://" in url_or_address else url_or_address


class Prometheus:
    """One Prometheus: `rules` is a rule-file document (YAML text or mapping), evaluated every
    `evaluation_interval`; alerts go to every URL in `alertmanagers` (as in an HA setup, no load balancer)
    and are re-sent every `resend_delay` while firing.
    """

    def __init__(
        self,
        rules: str | Mapping[str, Any] | None = None,
        *,
        alertmanagers: Sequence[str] = (),
        scrape_targets: Sequence[str] = (),
        scrape_configs: Sequence[Mapping[str, Any]] = (),
        evaluation_interval: str = "1s",
        scrape_interval: str = "1s",
        resend_delay: str = "1s",
        workdir: Path | None = None,
    ) -> None:
        self.binary = debian_binary(PROMETHEUS_BINARY, "prometheus", "Prometheus")
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="rollback-receiver-prom-"))
        self.port = free_port()
        self.process: ManagedProcess | None = None
        self.resend_delay = resend_delay
        rule_files: list[str] = []
        if rules is not None:
            rule_file = self.workdir / "rules.yml"
            rule_file.write_text(
                rules if isinstance(rules, str) else yaml.safe_dump(dict(rules), sort_keys=False)
            )
            rule_files.append(str(rule_file))
        config: dict[str, Any] = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
            "rule_files": rule_files,
            "scrape_configs": [
                {
                    "job_name": "targets",
                    "static_configs": [{"targets": [_host_port(t) for t in scrape_targets]}],
                }
            ]
            if scrape_targets
            else [],
        }
        # Full scrape_config entries, for a job name or target labels the rules select on.
        config["scrape_configs"] += [dict(c) for c in scrape_configs]
        if alertmanagers:
            config["alerting"] = {
                "alertmanagers": [
                    {
                        "api_version": "v2",
                        "static_configs": [{"targets": [_host_port(u) for u in alertmanagers]}],
                    }
                ]
            }
        self.config_file = self.workdir / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        self.process = ManagedProcess(
            "prometheus",
            [
                str(self.binary),
                f"--config.file={self.config_file}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--web.external-url={self.url}",
                "--web.enable-lifecycle",
                # The first evaluation can race the Alertmanager discovery and be dropped; the default 1m
                # resend delay would then hide the alert for a minute.
                f"--rules.alert.resend-delay={self.resend_delay}",
                "--log.level=debug",
            ],
            self.workdir / "prometheus.log",
        )
        try:
            self.process.start()
            self.process.wait_until(
                lambda: is_ok(f"{self.url}/-/ready"), timeout=READY_TIMEOUT, what="/-/ready"
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, *, remove: bool = True) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus's own view of its alerting rules' alerts (pending and firing)."""
        body = request_json("GET", f"{self.url}/api/v1/alerts")
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: [(labels, value)] of its vector result."""
        body = request_json("GET", f"{self.url}/api/v1/query?{urlencode({'query': expr})}")
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus query {expr!r} failed: {body}")
        return [(dict(item["metric"]), float(item["value"][1])) for item in body["data"]["result"]]

    def logs(self) -> str:
        return self.process.log_tail(80) if self.process else ""
