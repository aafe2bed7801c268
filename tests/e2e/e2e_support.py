"""Receiver configs and test-cluster workloads for the HA, crash and storm tests (the receiver process itself
is harness.receiver.ReceiverProcess)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


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
        # The receiver's name in Alertmanager's config (harness.alertmanager.webhook_config's default).
        config["alertmanager"] = {
            "urls": list(alertmanager_urls),
            "interval": "2s",
            "receiver": "rollback-receiver",
        }
    if limits:
        config["limits"] = dict(limits)
    config.update(extra or {})
    return config


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


def occurrences(event: dict[str, Any]) -> int:
    """How many times the Event was emitted: identical repeats are aggregated into one Event's `count`."""
    return int(event.get("count") or 1)


def event_reasons(cp: Any, namespace: str, name: str) -> list[str]:
    """One reason per emission (an aggregated Event counts `count` times)."""
    return [str(e["reason"]) for e in our_events(cp, namespace, name) for _ in range(occurrences(e))]
