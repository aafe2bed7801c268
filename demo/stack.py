"""The demo's full stack on loopback: configs derived from config/ with shortened timings. The processes
(control plane, Alertmanager, Prometheus, `rollback-receiver serve`) come from the test harness; the e2e
suite composes the same pieces.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from demo.timeline import Timeline
from harness.controlplane import ControlPlane
from harness.receiver import ReceiverProcess
from receiver.core.durations import parse_duration

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
RUN_DIR = REPO_ROOT / ".run"
REPORTS_DIR = REPO_ROOT / "reports"

SHOP = "shop"
DEPLOYMENT = "ecommerce"
STATE_NAMESPACE = "rollback-receiver"  # the receiver's own namespace: its state ConfigMap, always denied

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
    rollout_health: dict[str, Any] | None = None,
) -> Derived:
    """config/example.yaml with only what must change on a laptop: listen address, token file, the
    allowed namespaces, the state namespace and the medium route's confirmation delay; `rollout_health`
    (the crashloop scenario) sets that section's keys."""
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
    # The incident pages, where a browser on this machine reaches them (loopback has no other users).
    incidents = doc.setdefault("incidents", {})
    derived.set("incidents.external_url", incidents.get("external_url"), f"http://127.0.0.1:{port}")
    incidents["external_url"] = f"http://127.0.0.1:{port}"
    derived.set("incidents.public_pages", incidents.get("public_pages", False), True)
    incidents["public_pages"] = True
    for index, route in enumerate(doc.get("routes") or []):
        if "confirm_for" in route:
            derived.set(
                f"routes[{index}] ({route['name']}).confirm_for", route["confirm_for"], timings.confirm_for
            )
            route["confirm_for"] = timings.confirm_for
    if rollout_health:
        section = doc.setdefault("rollout_health", {})
        for key, value in rollout_health.items():
            derived.set(f"rollout_health.{key}", section.get(key), value)
            section[key] = value
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
    _shorten_group_timers(doc["route"], "route", timings, derived, root=True)
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


def _shorten_group_timers(
    route: dict[str, Any], where: str, timings: Timings, derived: Derived, *, root: bool = False
) -> None:
    """The root route gets the short timers; a child route that sets its own keeps a value already
    shorter (the rollback route's group_wait: 0s)."""
    for key, short in (("group_wait", timings.group_wait), ("group_interval", timings.group_interval)):
        current = route.get(key)
        if root or (current is not None and parse_duration(str(current)) > parse_duration(short)):
            derived.set(f"{where}.{key}", current, short)
            route[key] = short
    for index, child in enumerate(route.get("routes") or []):
        _shorten_group_timers(child, f"{where}.routes[{index}]", timings, derived)


def exporter_scrape_config(exporter_url: str, *, namespace: str = SHOP) -> dict[str, Any]:
    """Scrape the exporter as job `ecommerce` in `namespace`: the labels the rules select on, which
    Kubernetes service discovery would attach in a real cluster."""
    host_port = exporter_url.split("://", 1)[1].split("/", 1)[0]
    return {
        "job_name": DEPLOYMENT,
        "static_configs": [{"targets": [host_port], "labels": {"namespace": namespace}}],
    }


def example_receiver(
    workdir: Path,
    *,
    kubeconfig: str,
    timings: Timings = Timings(),
    allow: Sequence[str] = (SHOP,),
    state_namespace: str = STATE_NAMESPACE,
    token_file: Path | None = None,
    rollout_health: dict[str, Any] | None = None,
) -> tuple[ReceiverProcess, Derived]:
    """A receiver (not started yet) running config/example.yaml as `receiver_config` adapts it, and that
    adaptation. `token_file`: share another replica's webhook token."""
    process = ReceiverProcess(workdir, kubeconfig=kubeconfig, token_file=token_file)
    config = receiver_config(
        port=process.port,
        token_file=process.token_file,
        timings=timings,
        allow=allow,
        state_namespace=state_namespace,
        rollout_health=rollout_health,
    )
    process.configure(config.document)
    return process, config


def show_incident(
    timeline: Timeline, receiver: ReceiverProcess, kubeconfig: Path, listed: dict[str, Any], *, api: bool
) -> str:
    """The seed's "Document Incident" from the product: the record as `rollback-receiver incidents show`
    prints it, then the page's address (and, with `api`, its JSON endpoint). Returns the page's URL; raises
    RuntimeError when the CLI fails."""
    ident = listed["id"]
    markdown = receiver.incidents(kubeconfig, "show", ident, "-o", "markdown")
    timeline.step(
        f"Incident {ident} as rollback-receiver recorded it "
        f"(`rollback-receiver incidents show {ident} -o markdown`)",
        markdown,
    )
    url = str(listed["url"])
    where = f"{url}\nall incidents: {receiver.url}/incidents"
    if api:
        where += f"\nJSON: {receiver.url}/api/v1/incidents/{ident} (with the webhook token)"
    timeline.step("The incident page (plain HTML, readable on a phone)", where)
    return url


def start_control_plane(workdir: Path, stack: ExitStack, timeline: Timeline, *, nodes: int) -> ControlPlane:
    """The demo's control plane with `nodes` kwok nodes, stopped (logs kept) when `stack` closes; its
    start-up times and nodes are the timeline's first step."""
    plane = ControlPlane(workdir / "cluster", nodes=nodes)
    stack.callback(plane.stop, keep_logs=True)
    plane.start()
    startup = ", ".join(f"{k} {v:.1f}s" for k, v in plane.startup_seconds.items())
    listed = plane.kubectl("get", "nodes", "-o", "wide").stdout.strip()
    timeline.step(
        f"Control plane up at {plane.server} ({nodes} kwok nodes)",
        f"{startup}\n$ kubectl get nodes\n{listed}",
    )
    return plane
