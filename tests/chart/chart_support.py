"""Render the chart with the real Helm SDK and look things up in the manifests."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml
from helm_python import _native as helm_native

from harness.cluster import ClusterAccess

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "rollback-receiver"
CI_DIR = CHART_DIR / "ci"
DOCKERFILE = REPO_ROOT / "Dockerfile"
RECEIVER_CLI = Path(sys.executable).with_name("rollback-receiver")

# The release name makes the full name collapse to the chart name, as most users install it.
RELEASE = "rollback-receiver"
RELEASE_NAMESPACE = "rr-system"

Manifest = dict[str, Any]
CLUSTER_SCOPED_KINDS = {
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


def ci_values_files() -> list[Path]:
    return sorted(CI_DIR.glob("*-values.yaml"))


def load_values(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    return dict(loaded or {})


def render_files(
    values: Mapping[str, Any] | None = None,
    *,
    namespace: str = RELEASE_NAMESPACE,
    release: str = RELEASE,
    kube_version: str | None = None,
) -> dict[str, str]:
    """Template path -> rendered text, exactly as `helm template [--kube-version V]` would produce it."""
    with helm.Chart.load(CHART_DIR) as chart:
        if kube_version is None:
            return chart.render(dict(values or {}), name=release, namespace=namespace, is_install=True)
        # Chart.render does not pass on the SDK's kube_version option (`helm template --kube-version`), so
        # this calls the same native render with it. The default is the Kubernetes version Helm is built for.
        options = {"name": release, "namespace": namespace, "is_install": True, "kube_version": kube_version}
        rendered = helm_native.call_string(
            "helm_render", chart._raw(), json.dumps(dict(values or {})), json.dumps(options)
        )
        files: dict[str, str] = json.loads(rendered)
        return files


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
    allowed: str  # a namespace the receiver may act in
    outside: str  # namespaced RBAC: one it was never given; cluster-wide: one in config.namespaces.deny
    helm: helm.Config
    values: dict[str, Any]

    @property
    def service_account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{RELEASE}"

    @property
    def cluster_scoped_name(self) -> str:
        """The ClusterRole's and the admission policy's name (cluster-wide RBAC only)."""
        return f"{self.namespace}-{RELEASE}"


def create_namespace(cluster: ClusterAccess, name: str) -> None:
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("label", "namespace", name, "rollback-receiver.test/owner=chart")


@contextlib.contextmanager
def installed_release(
    cluster: ClusterAccess, *, prefix: str, cluster_wide: bool = False
) -> Iterator[Release]:
    """A Helm SDK install of the chart in fresh namespaces; uninstalled after.

    Namespaced RBAC: allowed to act in one more namespace. Cluster-wide (`rbac.clusterWide`): an empty allow
    list (every namespace not refused) and one more namespace in the deny list.
    """
    suffix = secrets.token_hex(3)
    names = {role: f"{prefix}-{role}-{suffix}" for role in ("release", "shop", "other")}
    for name in names.values():
        create_namespace(cluster, name)
    values: dict[str, Any] = {
        "config": {"namespaces": {"allow": [names["shop"]]}, "cluster_name": "chart-test"}
    }
    if cluster_wide:
        values = {
            "rbac": {"clusterWide": True},
            "config": {"namespaces": {"allow": [], "deny": [names["other"]]}, "cluster_name": "chart-test"},
        }
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


def service_account_kubeconfig(cluster: ClusterAccess, release: Release) -> str:
    """A kubeconfig with a TokenRequest token of the chart's ServiceAccount: the identity the pods have."""
    return cluster.kubeconfig_for_token(cluster.service_account_token(release.namespace, RELEASE))


def as_service_account(
    cluster: ClusterAccess, release: Release, *args: str
) -> subprocess.CompletedProcess[str]:
    """The receiver's CLI, run locally with the chart's ServiceAccount's credentials."""
    return subprocess.run(
        [str(RECEIVER_CLI), *args, "--kubeconfig", service_account_kubeconfig(cluster, release)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def kubectl_as_service_account(
    cluster: ClusterAccess, release: Release, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl with the chart's ServiceAccount's token: a client with none of the receiver's own guards."""
    return subprocess.run(
        [str(cluster.kubectl_path), f"--kubeconfig={service_account_kubeconfig(cluster, release)}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
