"""Render the chart with the real Helm SDK and look things up in the manifests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

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
