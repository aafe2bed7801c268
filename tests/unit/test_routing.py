"""Route selection (first match, `continue`) and target rendering, including hostile alert values."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from receiver.config import parse_config
from receiver.core.alerts import Alert, AlertStatus
from receiver.core.routing import TargetError, render_refs, render_selector, select_routes, target_cap
from receiver.core.settings import Config, Limits, TargetSpec
from receiver.core.workload import WorkloadKind, WorkloadRef

CONFIG = """
routes:
  - name: audit
    match: ['rollback="true"']
    action: notify
    continue: true
  - name: critical-and-high
    match: ['rollback="true"', 'severity=~"critical|high"']
    target: {namespace: '{{ labels.namespace }}', name: '{{ labels.deployment }}'}
    action: rollback
  - name: also-high
    match: ['severity="high"']
    action: ignore
  - name: medium
    match: ['rollback="true"', 'severity="medium"']
    target: {namespace: '{{ labels.namespace }}', name: '{{ labels.deployment }}'}
    action: rollback
    confirm_for: 5m
"""


def config(text: str = CONFIG) -> Config:
    return parse_config(text, source=Path("test.yaml"))


def alert(labels: dict[str, str], annotations: dict[str, str] | None = None) -> Alert:
    return Alert(
        status=AlertStatus.FIRING,
        labels=labels,
        annotations=annotations if annotations is not None else {"rollback": "true"},
        starts_at=datetime(2026, 11, 29, 9, 5, tzinfo=UTC),
        ends_at=None,
        generator_url="",
        fingerprint="a1b2c3d4e5f60718",
    )


@pytest.mark.parametrize(
    ("labels", "annotations", "expected"),
    [
        ({"severity": "high"}, {"rollback": "true"}, ["audit", "critical-and-high"]),
        ({"severity": "critical"}, {"rollback": "true"}, ["audit", "critical-and-high"]),
        ({"severity": "medium"}, {"rollback": "true"}, ["audit", "medium"]),
        ({"severity": "low"}, {"rollback": "true"}, ["audit"]),
        ({"severity": "high"}, {}, ["also-high"]),
        ({"severity": "low"}, {"rollback": "false"}, []),
    ],
)
def test_first_match_wins_unless_continue(
    labels: dict[str, str], annotations: dict[str, str], expected: list[str]
) -> None:
    routes = select_routes(alert(labels, annotations), config().routes)
    assert [r.name for r in routes] == expected


def test_medium_route_carries_its_confirmation_delay() -> None:
    (_, medium) = select_routes(alert({"severity": "medium"}), config().routes)
    assert medium.guards.confirm_for.total_seconds() == 300


SEED = {"namespace": "shop", "deployment": "ecommerce", "severity": "high"}


def spec(**kw: object) -> TargetSpec:
    values: dict[str, object] = {"kind": WorkloadKind.DEPLOYMENT, "namespace": "{{ labels.namespace }}"}
    values.update(kw)
    return TargetSpec(**values)  # type: ignore[arg-type]


def test_name_target() -> None:
    refs = render_refs(alert(SEED), spec(name="{{ labels.deployment }}"))
    assert refs == (WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce"),)


def test_list_target_keeps_order_and_drops_duplicates() -> None:
    names = ("{{ labels.deployment }}", "payment-service", "ecommerce")
    refs = render_refs(alert(SEED), spec(kind=WorkloadKind.STATEFULSET, names=names))
    assert [str(r) for r in refs] == ["statefulset/ecommerce -n shop", "statefulset/payment-service -n shop"]


@pytest.mark.parametrize(
    ("labels", "reason", "message"),
    [
        ({"namespace": "shop"}, "target_unresolved", "label 'deployment' is missing"),
        ({"deployment": "ecommerce"}, "target_unresolved", "label 'namespace' is missing"),
        ({"namespace": "shop", "deployment": ""}, "target_unresolved", "missing or empty"),
        ({"namespace": "Shop", "deployment": "ecommerce"}, "target_invalid", "namespace 'Shop'"),
        ({"namespace": "shop", "deployment": "../etc"}, "target_invalid", "name '../etc'"),
        ({"namespace": "shop", "deployment": "a b"}, "target_invalid", "not a valid name"),
        ({"namespace": "x" * 64, "deployment": "a"}, "target_invalid", "not a valid name"),
    ],
)
def test_unusable_targets_say_why(labels: dict[str, str], reason: str, message: str) -> None:
    with pytest.raises(TargetError) as caught:
        render_refs(alert(labels), spec(name="{{ labels.deployment }}"))
    assert caught.value.reason == reason
    assert message in caught.value.message


def test_selector_target() -> None:
    target = spec(selector="app={{ labels.deployment }},tier=web", max_targets=2)
    assert render_selector(alert(SEED), target) == ("shop", "app=ecommerce,tier=web")
    assert target_cap(target, Limits()) == 2
    assert target_cap(spec(selector="app=x"), Limits()) == Limits().max_targets_per_alert
    with pytest.raises(TargetError):
        render_refs(alert(SEED), target)


@pytest.mark.parametrize("value", ["ecommerce,tier!=db", "x in (a,b)", "a=b", " ecommerce", "-x", "e" * 64])
def test_selector_refuses_values_that_would_change_its_meaning(value: str) -> None:
    target = spec(selector="app={{ labels.app }}")
    with pytest.raises(TargetError) as caught:
        render_selector(alert({**SEED, "app": value}), target)
    assert caught.value.reason == "target_invalid"
