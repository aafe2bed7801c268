"""`serve` refuses to start on a bad config or without authentication, before touching the cluster, and
says why in its JSON log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from web_support import config_dict, write_config

from receiver.cli import main


@pytest.fixture
def json_log(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """serve installs its JSON handler on the root logger; give pytest's handlers back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]

    yield lines
    root.handlers[:] = handlers
    root.setLevel(level)


def test_invalid_config_exits_1_and_logs_every_problem(tmp_path: Path, json_log: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("mode: yolo\nroutes: []\n")
    assert main(["serve", "--config", str(path)]) == 1
    errors = [line["msg"] for line in json_log() if line["level"] == "error"]
    assert errors == [
        f"invalid config: {path}: mode: must be one of enforce, dry-run, not 'yolo'",
        f"invalid config: {path}: routes: at least one route is required",
    ]


def test_missing_token_file_exits_1(tmp_path: Path, json_log: Any) -> None:
    path = write_config(tmp_path, config_dict())
    (tmp_path / "token").unlink()
    assert main(["serve", "--config", str(path)]) == 1
    (line,) = json_log()
    assert "server.auth.bearer_token_file: cannot read" in line["msg"]


def test_no_auth_is_refused_without_the_explicit_flag(tmp_path: Path, json_log: Any) -> None:
    config = config_dict()
    config["server"].pop("auth")
    path = tmp_path / "noauth.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["serve", "--config", str(path)]) == 2
    (line,) = json_log()
    assert line["level"] == "error"
    assert line["msg"].startswith("refusing to start: no authentication configured")
    assert "--insecure-no-auth" in line["msg"]
