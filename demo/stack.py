"""The demo's full stack on loopback: configs derived from config/ with shortened timings, and the receiver
as a real `rollback-receiver serve` subprocess. The control plane, Alertmanager and Prometheus come from
the test harness; the e2e suite composes the same pieces.
"""

from __future__ import annotations

import copy
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from demo import probes
from harness.processes import ManagedProcess, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
RUN_DIR = REPO_ROOT / ".run"
REPORTS_DIR = REPO_ROOT / "reports"

SHOP = "shop"
DEPLOYMENT = "ecommerce"
STATE_NAMESPACE = "rollback-receiver"  # the receiver's own namespace: its state ConfigMap, always denied
RECEIVER_READY_TIMEOUT = 60.0

_RANGE = re.compile(r"\[(\d+(?:ms|[smhdwy]))\]")


@dataclass(frozen=True, slots=True)
class Timings:
    """What the demo and the e2e suite shorten so an incident plays out in about a minute."""

    rule_window: str = "30s"  # rate() windows of the rules (config/: 5m, 10m)
    rule_for: str = "10s"  # `for:` of the rules (config/: 2m, 5m, 15m)
    scrape_interval: str = "2s"  # Prometheus scrape and rule evaluation interval (Prometheus default: 1m)
    group_wait: str = "1s"  # Alertmanager (config/: 10s at the root)
    group_interval: str = "5s"  # Alertmanager (config/: 1m); resolves go out at the next tick
    confirm_for: str = "20s"  # the receiver's medium route (config/: 5m)


@dataclass
class Derived:
    """A config derived from a file in config/, and one line per value the derivation changed."""

    document: dict[str, Any]
    changes: list[str] = field(default_factory=list)

    def set(self, where: str, old: object, new: object) -> None:
        if old != new:
            self.changes.append(f"{where}: {old if old is not None else '(unset)'} -> {new}")


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((CONFIG_DIR / name).read_text(encoding="utf-8"))
    return document


def receiver_config(
    *,
    port: int,
    token_file: Path,
    timings: Timings = Timings(),
    allow: Sequence[str] = (SHOP,),
    state_namespace: str = STATE_NAMESPACE,
    source: str = "example.yaml",
) -> Derived:
    """config/example.yaml with only what must change on a laptop: listen address, token file, the
    allowed namespaces, the state namespace and the medium route's confirmation delay."""
    doc = _load(source)
    derived = Derived(doc)
    server = doc.setdefault("server", {})
    listen = f"127.0.0.1:{port}"
    derived.set("server.listen", server.get("listen"), listen)
    server["listen"] = listen
    auth = server.setdefault("auth", {})
    derived.set("server.auth.bearer_token_file", auth.get("bearer_token_file"), str(token_file))
    auth["bearer_token_file"] = str(token_file)
    namespaces = doc.setdefault("namespaces", {})
    derived.set("namespaces.allow", namespaces.get("allow"), list(allow))
    namespaces["allow"] = list(allow)
    state = {"namespace": state_namespace}
    derived.set("state", doc.get("state"), state)
    doc["state"] = state
    derived.set("own_namespace", doc.get("own_namespace"), state_namespace)
    doc["own_namespace"] = state_namespace
    for index, route in enumerate(doc.get("routes") or []):
        if "confirm_for" in route:
            derived.set(
                f"routes[{index}] ({route['name']}).confirm_for", route["confirm_for"], timings.confirm_for
            )
            route["confirm_for"] = timings.confirm_for
    return derived


def prometheus_rules(timings: Timings = Timings(), *, only: Sequence[str] = ()) -> Derived:
    """config/prometheus-rules.yml with every rate() window and `for:` shortened (and, with `only`, just
    the named alerts)."""
    doc = _load("prometheus-rules.yml")
    derived = Derived(doc)
    for group in doc.get("groups") or []:
        if only:
            group["rules"] = [r for r in group.get("rules") or [] if r.get("alert") in only]
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            windows = sorted(set(_RANGE.findall(rule["expr"])))
            if windows:
                rule["expr"] = _RANGE.sub(f"[{timings.rule_window}]", rule["expr"])
                derived.set(f"{name} rate window", ", ".join(windows), timings.rule_window)
            if "for" in rule:
                derived.set(f"{name} for", rule["for"], timings.rule_for)
                rule["for"] = timings.rule_for
    return derived


def alertmanager_config(
    webhook_urls: str | Sequence[str], token_file: Path, timings: Timings = Timings()
) -> Derived:
    """config/alertmanager.yml pointed at our receiver(s) with the token file, and with short group timers.

    Several URLs (receiver replicas) become one webhook_config each, all with the same settings.
    """
    urls = [webhook_urls] if isinstance(webhook_urls, str) else list(webhook_urls)
    doc = _load("alertmanager.yml")
    derived = Derived(doc)
    route = doc["route"]
    for key, value in (("group_wait", timings.group_wait), ("group_interval", timings.group_interval)):
        derived.set(f"route.{key}", route.get(key), value)
        route[key] = value
    for receiver in doc.get("receivers") or []:
        hooks = receiver.get("webhook_configs") or []
        if not hooks:
            continue
        template = hooks[0]
        derived.set(f"receivers.{receiver['name']}.url", template.get("url"), ", ".join(urls))
        authorization = template.setdefault("http_config", {}).setdefault("authorization", {})
        derived.set(
            f"receivers.{receiver['name']}.credentials_file",
            authorization.get("credentials_file"),
            str(token_file),
        )
        authorization["credentials_file"] = str(token_file)
        receiver["webhook_configs"] = [{**copy.deepcopy(template), "url": url} for url in urls]
    return derived


def exporter_scrape_config(exporter_url: str, *, namespace: str = SHOP) -> dict[str, Any]:
    """Scrape the exporter as job `ecommerce` in `namespace`: the labels the rules select on, which
    Kubernetes service discovery would attach in a real cluster."""
    host_port = exporter_url.split("://", 1)[1].split("/", 1)[0]
    return {
        "job_name": DEPLOYMENT,
        "static_configs": [{"targets": [host_port], "labels": {"namespace": namespace}}],
    }


def write_token(directory: Path) -> Path:
    """A fresh bearer token shared by the receiver and Alertmanager, readable by its owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "webhook-token"
    path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


class ReceiverProcess:
    """`rollback-receiver serve` as a subprocess with its own log, on a free loopback port."""

    def __init__(
        self,
        workdir: Path,
        *,
        kubeconfig: str,
        timings: Timings = Timings(),
        allow: Sequence[str] = (SHOP,),
        state_namespace: str = STATE_NAMESPACE,
        token_file: Path | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        """`token_file`: share another replica's webhook token (default: a fresh one)."""
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.token_file = token_file or write_token(workdir)
        self.config = receiver_config(
            port=self.port,
            token_file=self.token_file,
            timings=timings,
            allow=allow,
            state_namespace=state_namespace,
        )
        for key, value in (overrides or {}).items():
            self.config.set(key, self.config.document.get(key), value)
            self.config.document[key] = copy.deepcopy(value)
        self.config_file = workdir / "receiver.yaml"
        self.config_file.write_text(yaml.safe_dump(self.config.document, sort_keys=False), encoding="utf-8")
        self.process = ManagedProcess(
            "rollback-receiver",
            [
                sys.executable,
                "-m",
                "receiver",
                "serve",
                f"--config={self.config_file}",
                f"--kubeconfig={kubeconfig}",
            ],
            workdir / "receiver.log",
            cwd=workdir,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token_file.read_text(encoding='utf-8').strip()}"}

    def start(self) -> ReceiverProcess:
        self.process.start()
        self.process.wait_until(
            lambda: probes.get_json(f"{self.url}/readyz") is not None,
            timeout=RECEIVER_READY_TIMEOUT,
            what="/readyz answered 200",
        )
        return self

    def stop(self) -> None:
        self.process.stop()

    def metrics(self) -> str:
        return probes.get_text(f"{self.url}/metrics")

    def metric(self, name: str, **labels: str) -> float:
        return probes.metric_value(self.metrics(), name, **labels)

    def decisions(self, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in {"limit": "1000", **filters}.items())
        body = probes.get_json(f"{self.url}/api/v1/decisions?{query}", headers=self.auth_headers)
        entries: list[dict[str, Any]] = body["decisions"] if isinstance(body, dict) else body
        return entries

    def log_tail(self, lines: int = 60) -> str:
        return self.process.log_tail(lines)
