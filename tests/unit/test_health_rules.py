"""The kube-state-metrics rule pack (config/rules/health.yml): Prometheus' own rule unit tests pass for
every rule, each rule has a case that fires and one that must not, and the alerts promtool proves the
rules emit are routed by the shipped config/example.yaml to the seed's decision for their severity.

promtool comes with Debian's `prometheus` package; without it these tests fail with the install command.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.binaries import DebianPackageMissingError, debian_binary
from receiver.config import load_config
from receiver.core.alerts import Alert, AlertStatus
from receiver.core.routing import render_refs, select_routes
from receiver.core.settings import Action
from receiver.core.workload import WorkloadKind, WorkloadRef

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "config" / "rules" / "health.yml"
RULE_TESTS = Path(__file__).resolve().parent / "rules" / "health.test.yml"
EXAMPLE = REPO / "config" / "example.yaml"
# The seed's matrix as config/example.yaml implements it: severity -> (route, action, confirmation delay).
MATRIX = {
    "critical": ("critical-and-high", Action.ROLLBACK, timedelta(0)),
    "high": ("critical-and-high", Action.ROLLBACK, timedelta(0)),
    "medium": ("medium", Action.ROLLBACK, timedelta(minutes=5)),
    "low": ("low", Action.NOTIFY, timedelta(0)),
}


def promtool() -> str:
    try:
        return str(debian_binary(Path("/usr/bin/promtool"), "prometheus", "promtool"))
    except DebianPackageMissingError as exc:
        pytest.fail(str(exc), pytrace=False)


def pack_rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(PACK.read_text(encoding="utf-8"))["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def rule_test_cases() -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))["tests"]
    return [case for test in tests for case in test.get("alert_rule_test") or []]


def test_promtool_rule_unit_tests_pass() -> None:
    checked = subprocess.run([promtool(), "check", "rules", str(PACK)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(pack_rules())} rules found" in checked.stdout
    tested = subprocess.run([promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_rule_has_a_case_that_fires_and_one_that_must_not() -> None:
    cases = rule_test_cases()
    for name in pack_rules():
        mine = [case for case in cases if case["alertname"] == name]
        assert any(case["exp_alerts"] for case in mine), f"{name}: no test case where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{name}: no test case where it must not fire"


def test_every_rule_asks_for_a_rollback_with_the_labels_the_example_routes_on() -> None:
    for name, rule in pack_rules().items():
        assert rule["annotations"]["rollback"] == "true", name
        assert rule["labels"]["severity"] in MATRIX, name
        # namespace and deployment come from the expression: every alert aggregates by exactly those
        assert "by (namespace, deployment)" in rule["expr"], name


def fired_alerts() -> list[Alert]:
    """Every alert a promtool case expects to fire, as the receiver parses it from Alertmanager."""
    alerts = []
    for case in rule_test_cases():
        for expected in case["exp_alerts"]:
            alerts.append(
                Alert(
                    status=AlertStatus.FIRING,
                    labels={"alertname": case["alertname"], **expected["exp_labels"]},
                    annotations=dict(expected["exp_annotations"]),
                    starts_at=datetime(2026, 11, 29, 9, 5, tzinfo=UTC),
                    ends_at=None,
                    generator_url="",
                    fingerprint="0123456789abcdef",
                )
            )
    return alerts


def test_the_example_config_routes_each_alert_by_the_seed_matrix() -> None:
    example = load_config(EXAMPLE, environ={})
    alerts = fired_alerts()
    assert {a.labels["alertname"] for a in alerts} == set(pack_rules())
    for alert in alerts:
        (route, action, confirm_for) = MATRIX[alert.labels["severity"]]
        (chosen,) = select_routes(alert, example.routes)
        assert (chosen.name, chosen.action, chosen.guards.confirm_for) == (route, action, confirm_for)
        assert chosen.target is not None
        expected = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce")
        assert render_refs(alert, chosen.target) == (expected,), alert.labels["alertname"]
