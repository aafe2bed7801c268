"""The chart's optional PrometheusRule with the kube-state-metrics rule pack (`healthRules`): off by
default; when on, exactly config/rules/health.yml (its annotation templates left for Prometheus), valid
for promtool, where the user's Prometheus looks for rules."""

from __future__ import annotations

import subprocess
from pathlib import Path

import helm_python as helm
import pytest
import yaml
from chart_support import CHART_DIR, RELEASE_NAMESPACE, REPO_ROOT, load_values, of_kind, one, render

from harness.binaries import DebianPackageMissingError, debian_binary

PACK = REPO_ROOT / "config" / "rules" / "health.yml"
CHART_COPY = CHART_DIR / "files" / "health-rules.yml"
NAME = "rollback-receiver-health"


def test_chart_carries_the_rule_pack_unchanged() -> None:
    # Helm reads only files inside the chart, so the chart keeps a copy of the pack.
    assert CHART_COPY.read_text(encoding="utf-8") == PACK.read_text(encoding="utf-8"), (
        f"{CHART_COPY.relative_to(REPO_ROOT)} differs from {PACK.relative_to(REPO_ROOT)}: "
        f"cp {PACK.relative_to(REPO_ROOT)} {CHART_COPY.relative_to(REPO_ROOT)}"
    )


def test_off_by_default() -> None:
    assert [r["metadata"]["name"] for r in of_kind(render(), "PrometheusRule")] == []
    # the receiver's self-alerts alone do not bring the pack along
    rules = of_kind(render({"prometheusRule": {"enabled": True}}), "PrometheusRule")
    assert NAME not in [r["metadata"]["name"] for r in rules]


def test_enabled_it_is_the_pack_with_its_templates_left_for_prometheus() -> None:
    docs = render({"healthRules": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}})
    rule = one(docs, "PrometheusRule", NAME)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["metadata"]["labels"]["app.kubernetes.io/name"] == "rollback-receiver"
    assert rule["spec"] == yaml.safe_load(PACK.read_text(encoding="utf-8"))
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert all(r["annotations"]["rollback"] == "true" for r in alerts)
    crash = next(r for r in alerts if r["alert"] == "RolloutCrashLooping")
    assert crash["annotations"]["summary"].startswith("{{ $labels.namespace }}/{{ $labels.deployment }}")


def test_namespace_override_and_both_rules_together() -> None:
    values = {
        "prometheusRule": {"enabled": True},
        "healthRules": {"enabled": True, "namespace": "monitoring"},
    }
    docs = render(values)
    assert {r["metadata"]["name"] for r in of_kind(docs, "PrometheusRule")} == {"rollback-receiver", NAME}
    assert one(docs, "PrometheusRule", NAME)["metadata"]["namespace"] == "monitoring"


def test_production_variant_ships_it_and_promtool_accepts_what_is_rendered(tmp_path: Path) -> None:
    docs = render(load_values(CHART_DIR / "ci" / "production-values.yaml"))
    rule = one(docs, "PrometheusRule", NAME)
    path = tmp_path / "health.yml"
    path.write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    try:
        promtool = debian_binary(Path("/usr/bin/promtool"), "prometheus", "promtool")
    except DebianPackageMissingError as exc:
        pytest.fail(str(exc), pytrace=False)
    checked = subprocess.run([str(promtool), "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS: 6 rules found" in checked.stdout, (
        checked.stdout + checked.stderr
    )


def test_schema_rejects_unknown_keys() -> None:
    with pytest.raises(helm.HelmValuesError, match=r"at '/healthRules': additional properties 'enable'"):
        render({"healthRules": {"enable": True}})
