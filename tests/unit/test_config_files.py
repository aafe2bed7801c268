"""Every file in config/ is valid for the tool that reads it, and the example keeps the seed's matrix.

Alertmanager's and Prometheus' files are checked by their own tools (Debian's amtool and promtool): a
missing tool fails the test with the install command.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from receiver.config import load_config
from receiver.core.alerts import Alert, AlertStatus
from receiver.core.routing import render_refs, select_routes
from receiver.core.settings import Action, Config
from receiver.core.workload import WorkloadKind, WorkloadRef

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
OUR_CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
AM_CONFIG = CONFIG_DIR / "alertmanager.yml"
RULES = CONFIG_DIR / "prometheus-rules.yml"
RULE_PACKS = CONFIG_DIR / "rules"  # the kube-state-metrics pack: tests/unit/test_health_rules.py


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install it with `apt-get install {package}`", pytrace=False)
    return path


def test_every_file_in_config_is_covered() -> None:
    covered = {*OUR_CONFIGS, AM_CONFIG, RULES, RULE_PACKS}
    assert set(CONFIG_DIR.iterdir()) == covered
    assert {p.name for p in OUR_CONFIGS} >= {"example.yaml", "minimal.yaml"}


@pytest.mark.parametrize("path", OUR_CONFIGS, ids=lambda p: p.name)
def test_our_configs_load(path: Path) -> None:
    config = load_config(path, environ={})
    assert config.routes
    assert config.server.bearer is not None  # shipped examples never run without auth


def test_check_config_command_accepts_them(capsys: pytest.CaptureFixture[str]) -> None:
    from receiver.cli import main

    assert main(["check-config", *map(str, OUR_CONFIGS)]) == 0
    assert capsys.readouterr().out.count("SUCCESS") == len(OUR_CONFIGS)


def test_alertmanager_config_is_valid_for_alertmanager() -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    result = subprocess.run([amtool, "check-config", str(AM_CONFIG)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    (webhook,) = [
        w for r in yaml.safe_load(AM_CONFIG.read_text())["receivers"] for w in r.get("webhook_configs", [])
    ]
    assert webhook["send_resolved"] is True
    assert webhook["max_alerts"] == 0
    assert webhook["url"].endswith("/webhook")
    assert "credentials_file" in webhook["http_config"]["authorization"]


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=high", "alertname=HighErrorRate"], "rollback-receiver,default"),
        (["severity=medium", "alertname=HighLatency"], "rollback-receiver,default"),
        (["severity=low", "alertname=ElevatedClientErrors"], "rollback-receiver,default"),
        (["alertname=Watchdog"], "default"),
    ],
)
def test_alertmanager_routes_rollback_candidates_to_us(labels: list[str], receivers: str) -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={AM_CONFIG}", *labels],
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == receivers, result.stderr


def test_prometheus_rules_are_valid_for_prometheus() -> None:
    promtool = tool("promtool", "prometheus")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def rule_alerts() -> dict[str, Alert]:
    """The alerts Prometheus would send for each rule, with the labels the seed's metrics carry."""
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return {
        rule["alert"]: Alert(
            status=AlertStatus.FIRING,
            labels={"alertname": rule["alert"], "namespace": "shop", **rule["labels"]},
            annotations=rule["annotations"],
            starts_at=datetime(2026, 11, 29, 9, 5, tzinfo=UTC),
            ends_at=None,
            generator_url="",
            fingerprint="0123456789abcdef",
        )
        for group in groups
        for rule in group["rules"]
    }


@pytest.fixture(scope="module")
def example() -> Config:
    return load_config(CONFIG_DIR / "example.yaml", environ={})


@pytest.mark.parametrize(
    ("alertname", "route", "action", "confirm_for"),
    [
        ("HighErrorRate", "critical-and-high", Action.ROLLBACK, timedelta(0)),  # the seed's rule: act now
        ("HighLatency", "medium", Action.ROLLBACK, timedelta(minutes=5)),  # act if still firing in 5m
        ("ElevatedClientErrors", "low", Action.NOTIFY, timedelta(0)),  # investigate first
    ],
)
def test_example_expresses_the_seed_decision_matrix(
    example: Config, alertname: str, route: str, action: Action, confirm_for: timedelta
) -> None:
    alert = rule_alerts()[alertname]
    (chosen,) = select_routes(alert, example.routes)
    assert (chosen.name, chosen.action, chosen.guards.confirm_for) == (route, action, confirm_for)
    assert chosen.target is not None
    assert render_refs(alert, chosen.target) == (WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce"),)


def test_example_critical_is_immediate_and_scoped_to_shop(example: Config) -> None:
    critical = Alert(
        status=AlertStatus.FIRING,
        labels={
            "alertname": "ServiceDown",
            "severity": "critical",
            "namespace": "shop",
            "deployment": "ecommerce",
        },
        annotations={"rollback": "true"},
        starts_at=datetime(2026, 11, 29, 9, 5, tzinfo=UTC),
        ends_at=None,
        generator_url="",
        fingerprint="0123456789abcdef",
    )
    (chosen,) = select_routes(critical, example.routes)
    assert chosen.action is Action.ROLLBACK and chosen.guards.confirm_for == timedelta(0)
    assert example.namespaces.allow == ("shop",)


def test_alert_without_rollback_annotation_takes_no_route(example: Config) -> None:
    alert = rule_alerts()["HighErrorRate"]
    quiet = Alert(
        status=alert.status,
        labels=alert.labels,
        annotations={k: v for k, v in alert.annotations.items() if k != "rollback"},
        starts_at=alert.starts_at,
        ends_at=None,
        generator_url="",
        fingerprint=alert.fingerprint,
    )
    assert select_routes(quiet, example.routes) == ()
