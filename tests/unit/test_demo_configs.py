"""The demo and the e2e suite run config/ files with shortened timings: the derived files must stay valid
for the real loaders and change only what they say they change. The exporter's error model is the seed's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from demo.exporter import container_image, error_ratio_for, serve_tick
from demo.run import ratio_expression
from demo.stack import CONFIG_DIR, Timings, alertmanager_config, prometheus_rules, receiver_config
from receiver.config import load_config


@pytest.mark.parametrize(
    ("image", "ratio"),
    [
        ("ghcr.io/company/ecommerce:v1.2.0", 0.032),
        ("ghcr.io/company/ecommerce:v1.1.0", 0.001),
        ("ghcr.io/company/ecommerce:v1.0.0", 0.001),
        ("registry:5000/ecommerce", 0.001),  # a port is not a tag
        ("registry:5000/ecommerce:v1.2.0", 0.032),
    ],
)
def test_only_the_bad_release_raises_the_error_ratio(image: str, ratio: float) -> None:
    assert error_ratio_for(image) == ratio


def test_a_tick_serves_the_seed_ratios_and_nothing_without_a_deployment() -> None:
    bad = serve_tick("ghcr.io/company/ecommerce:v1.2.0", requests=1000)
    assert (bad.ok, bad.errors) == (968, 32)
    good = serve_tick("ghcr.io/company/ecommerce:v1.1.0", requests=1000)
    assert (good.ok, good.errors) == (999, 1)
    assert serve_tick(None).ok == serve_tick(None).errors == 0


def test_container_image_reads_the_named_container_of_the_pod_template() -> None:
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "sidecar", "image": "s:1"}, {"name": "ecommerce", "image": "e:2"}]
                }
            }
        }
    }
    assert container_image(deployment, "ecommerce") == "e:2"
    assert container_image(deployment, "missing") == "s:1"
    assert container_image({"spec": {}}, "ecommerce") is None


def test_derived_receiver_config_loads_and_changes_only_what_it_reports(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")
    derived = receiver_config(port=18080, token_file=token, allow=("shop", "e2e-ha"), state_namespace="rr")
    path = tmp_path / "receiver.yaml"
    path.write_text(yaml.safe_dump(derived.document))

    config = load_config(path)
    example = yaml.safe_load((CONFIG_DIR / "example.yaml").read_text())
    example["server"]["auth"]["bearer_token_file"] = str(token)  # the only file it names
    (tmp_path / "example.yaml").write_text(yaml.safe_dump(example))
    original = load_config(tmp_path / "example.yaml", environ={})

    assert (config.server.listen_host, config.server.listen_port) == ("127.0.0.1", 18080)
    assert config.server.bearer is not None and config.server.bearer.token_file == token
    assert config.namespaces.allow == ("shop", "e2e-ha")
    assert config.state.namespace == config.own_namespace == "rr"
    medium = next(r for r in config.routes if r.name == "medium")
    assert medium.guards.confirm_for == timedelta(seconds=20)
    assert [r.name for r in config.routes] == ["critical-and-high", "medium", "low"]
    changed = {line.split(":", 1)[0] for line in derived.changes}
    assert changed == {
        "server.listen",
        "server.auth.bearer_token_file",
        "namespaces.allow",
        "state",
        "own_namespace",
        "incidents.external_url",
        "incidents.public_pages",
        "routes[1] (medium).confirm_for",
    }
    assert config.incidents.external_url == "http://127.0.0.1:18080" and config.incidents.public_pages
    assert (config.mode, config.cluster_name, config.defaults, config.limits) == (
        original.mode,
        original.cluster_name,
        original.defaults,
        original.limits,
    )
    for ours, theirs in zip(config.routes, original.routes, strict=True):
        assert (ours.matchers, ours.action, ours.target) == (theirs.matchers, theirs.action, theirs.target)


def test_shortened_rules_keep_the_seed_alert_and_threshold() -> None:
    timings = Timings(rule_window="30s", rule_for="10s")
    derived = prometheus_rules(timings, only=["HighErrorRate"])
    (rule,) = derived.document["groups"][0]["rules"]
    assert rule["alert"] == "HighErrorRate"
    assert rule["for"] == "10s"
    assert "[30s]" in rule["expr"] and "[5m]" not in rule["expr"]
    assert rule["annotations"]["rollback"] == "true" and rule["labels"]["severity"] == "high"
    assert derived.changes == ["HighErrorRate rate window: 5m -> 30s", "HighErrorRate for: 2m -> 10s"]
    ratio = ratio_expression(derived.document)
    assert "> 0.02" not in ratio and ratio.startswith("sum by (namespace)")


def test_alertmanager_config_sends_to_every_replica_with_the_token_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    derived = alertmanager_config(["http://127.0.0.1:1/webhook", "http://127.0.0.1:2/webhook"], token)
    receiver = next(r for r in derived.document["receivers"] if r["name"] == "rollback-receiver")
    urls = [hook["url"] for hook in receiver["webhook_configs"]]
    assert urls == ["http://127.0.0.1:1/webhook", "http://127.0.0.1:2/webhook"]
    for hook in receiver["webhook_configs"]:
        assert hook["http_config"]["authorization"]["credentials_file"] == str(token)
        assert hook["send_resolved"] is True
    assert derived.document["route"]["group_wait"] == "1s"
    assert derived.document["route"]["group_interval"] == "5s"


def test_alertmanager_config_shortens_the_per_severity_routes_too(tmp_path: Path) -> None:
    derived = alertmanager_config("http://127.0.0.1:1/webhook", tmp_path / "token")
    (rollback,) = [r for r in derived.document["route"]["routes"] if r["receiver"] == "rollback-receiver"]
    assert rollback["group_wait"] == "0s"  # already shorter than the demo's 1s: kept
    by_severity = {child["matchers"][0]: child for child in rollback["routes"]}
    assert by_severity['severity="medium"']["group_wait"] == "1s"  # config/: 10s
    assert by_severity['severity="critical"']["group_wait"] == "0s"
    assert {child["group_interval"] for child in rollback["routes"]} == {"5s"}  # config/: 10s .. 5m
    assert any("routes[0].routes[3].group_interval: 5m -> 5s" in change for change in derived.changes)
