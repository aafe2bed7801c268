"""Render the chart with the real Helm SDK and look things up in the manifests."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from harness.cluster import ClusterAccess

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "rollback-receiver"
CI_DIR = CHART_DIR / "ci"
DOCKERFILE = REPO_ROOT / "Dockerfile"

# The release name makes the full name collapse to the chart name, as most users install it.
RELEASE = "rollback-receiver"
RELEASE_NAMESPACE = "rr-system"

Manifest = dict[str, Any]


def ci_values_files() -> list[Path]:
    return sorted(CI_DIR.glob("*-values.yaml"))


def load_values(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    return dict(loaded or {})


def render_files(
    values: Mapping[str, Any] | None = None, *, namespace: str = RELEASE_NAMESPACE, release: str = RELEASE
) -> dict[str, str]:
    """Template path -> rendered text, exactly as `helm template` would produce it."""
    with helm.Chart.load(CHART_DIR) as chart:
        return chart.render(dict(values or {}), name=release, namespace=namespace, is_install=True)


def manifests(rendered: Mapping[str, str]) -> list[Manifest]:
    docs: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def render(values: Mapping[str, Any] | None = None, **kwargs: Any) -> list[Manifest]:
    return manifests(render_files(values, **kwargs))


def notes(values: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
    rendered = render_files(values, **kwargs)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def of_kind(docs: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [doc for doc in of_kind(docs, kind) if name is None or doc["metadata"]["name"] == name]
    assert len(found) == 1, (
        f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
    )
    return found[0]


def rendered_config(docs: Iterable[Manifest]) -> dict[str, Any]:
    """The receiver's routing config as the chart mounts it."""
    config_map = one(docs, "ConfigMap")
    loaded = yaml.safe_load(config_map["data"]["config.yaml"])
    assert isinstance(loaded, dict)
    return loaded


def rule_set(rules: Iterable[Mapping[str, Any]]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """RBAC rules flattened to (apiGroup, resource, verb, resourceNames) tuples."""
    flat: set[tuple[str, str, str, tuple[str, ...]]] = set()
    for rule in rules:
        names = tuple(rule.get("resourceNames") or ())
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    flat.add((group, resource, verb, names))
    return flat


def dockerfile_final_stage() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's last stage, continuation lines joined."""
    return dockerfile_stages()[-1][1]


def dockerfile_stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """[(stage name, [(INSTRUCTION, arguments), ...])] in order; unnamed stages are ''."""
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    logical = ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if logical and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        instruction, _, arguments = logical.partition(" ")
        instruction, arguments = instruction.upper(), arguments.strip()
        logical = ""
        if instruction == "FROM":
            parts = arguments.split()
            name = parts[2] if len(parts) == 3 and parts[1].lower() == "as" else ""
            stages.append((name, []))
        elif stages:
            stages[-1][1].append((instruction, arguments))
    return stages


# --- the chart installed on the harness's control plane ---------------------------------------------------


@dataclass(frozen=True)
class Release:
    namespace: str  # where the chart is installed
    allowed: str  # the namespace the config allows
    outside: str  # a namespace the receiver was never given
    helm: helm.Config
    values: dict[str, Any]

    @property
    def service_account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{RELEASE}"


def create_namespace(cluster: ClusterAccess, name: str) -> None:
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, "rollback-receiver.test/owner=chart")


@contextlib.contextmanager
def installed_release(cluster: ClusterAccess, *, prefix: str) -> Iterator[Release]:
    """A Helm SDK install of the chart in fresh namespaces, allowed to act in one more; uninstalled after."""
    suffix = secrets.token_hex(3)
    names = {role: f"{prefix}-{role}-{suffix}" for role in ("release", "shop", "other")}
    for name in names.values():
        create_namespace(cluster, name)
    values = {"config": {"namespaces": {"allow": [names["shop"]]}, "cluster_name": "chart-test"}}
    config = helm.Config(kubeconfig_path=cluster.kubeconfig, namespace=names["release"])
    try:
        with helm.Chart.load(CHART_DIR) as chart:
            config.install(chart, RELEASE, values, namespace=names["release"], timeout=120)
        yield Release(names["release"], names["shop"], names["other"], config, values)
    finally:
        try:
            config.uninstall(RELEASE)
        except helm.HelmError as error:
            print(f"helm uninstall {RELEASE}: {error}")
        config.close()
        for name in names.values():
            cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def two_revision_deployment(cluster: ClusterAccess, namespace: str, name: str) -> None:
    """A Deployment whose v2 rollout has completed, so `undo` has a revision 1 to go back to."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/shop:v1"}]},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")
    cluster.kubectl("set", "image", f"deployment/{name}", "app=registry.example/shop:v2", "-n", namespace)
    cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")


def image_of(cluster: ClusterAccess, namespace: str, name: str) -> str:
    deployment = cluster.kubectl_json("get", "deployment", name, "-n", namespace)
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])
