"""One config format: the chart's `values.schema.json` is generated from it, and Helm and `check-config`
accept and refuse the same configs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from chart_support import CHART_DIR, load_values, render, rendered_config

from receiver.cli import main
from receiver.config.schema import render as render_schema
from receiver.config.schema import updated

SCHEMA = CHART_DIR / "values.schema.json"


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = SCHEMA.read_text(encoding="utf-8")
    assert committed == render_schema(updated(json.loads(committed))), (
        "values.schema.json is stale: regenerate it with `python -m receiver.config.schema FILE`"
    )


def merged(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of user values over the chart's: maps merge, everything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


ROUTE = {"name": "r", "action": "rollback", "target": {"namespace": "shop", "name": "web"}}

CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("a duration in order", {"defaults": {"cooldown": "1h30m"}}, True),
    ("units out of order", {"defaults": {"cooldown": "5m1h"}}, False),
    ("milliseconds before seconds", {"defaults": {"change_window": "500ms1s"}}, False),
    ("a unit twice", {"defaults": {"verify_timeout": "1m1m"}}, False),
    ("a zero cooldown", {"defaults": {"cooldown": "0s"}}, False),
    ("the number 0 for confirm_for", {"defaults": {"confirm_for": 0}}, True),
    ("the string 0 for confirm_for", {"defaults": {"confirm_for": "0"}}, True),
    ("a number for a duration", {"defaults": {"cooldown": 30}}, False),
    ("one matcher as a string", {"routes": [{**ROUTE, "match": 'severity="high"'}]}, True),
    ("matchers as a list", {"routes": [{**ROUTE, "match": ['severity="high"', "team=~shop.*"]}]}, True),
    ("an unknown key", {"defaults": {"coolddown": "5m"}}, False),
    ("an unknown route key", {"routes": [{**ROUTE, "confirm": "5m"}]}, False),
    ("a namespace with capitals", {"namespaces": {"allow": ["Shop"]}}, False),
    ("zero concurrent rollbacks", {"limits": {"max_concurrent": 0}}, False),
    ("a budget of zero", {"limits": {"global": {"max": 0, "per": "1h"}}}, True),
    ("a budget with a bad window", {"limits": {"global": {"max": 3, "per": "soon"}}}, False),
    (
        "name and selector",
        {"routes": [{**ROUTE, "target": {"namespace": "s", "name": "a", "selector": "a=b"}}]},
        False,
    ),
    ("no name, names or selector", {"routes": [{**ROUTE, "target": {"namespace": "s"}}]}, False),
    ("an empty list of names", {"routes": [{**ROUTE, "target": {"namespace": "s", "names": []}}]}, False),
    ("an ftp Alertmanager", {"alertmanager": {"urls": ["ftp://am:9093"]}}, False),
    ("an http Alertmanager", {"alertmanager": {"urls": ["http://am:9093"]}}, True),
    ("an unknown mode", {"mode": "yolo"}, False),
    ("an unknown action", {"routes": [{**ROUTE, "action": "restart"}]}, False),
    ("no routes at all", {"routes": []}, False),
]


@pytest.mark.parametrize(("config", "valid"), [(c, v) for _, c, v in CASES], ids=[n for n, _, _ in CASES])
def test_helm_and_check_config_agree(config: dict[str, Any], valid: bool, tmp_path: Path) -> None:
    values = {"config": config}
    try:
        receiver_config = rendered_config(render(values))
        helm_accepts = True
    except helm.HelmValuesError:
        receiver_config = merged(load_values(CHART_DIR / "values.yaml")["config"], config)
        helm_accepts = False
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(receiver_config))
    check_config_accepts = main(["check-config", str(path)]) == 0
    assert (helm_accepts, check_config_accepts) == (valid, valid)
