"""Commands given a bad config say what is wrong, once per problem, and never show a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["undo", "deployment/web", "-n", "shop", "--config"],
        ["breaker", "status", "--config"],
        ["routes", "test", "payload.json", "--config"],
    ],
    ids=["undo", "breaker", "routes-test"],
)
def test_a_bad_config_is_reported_not_raised(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("mode: yolo\nroutes: []\n")
    code = main([*argv, str(config)])
    err = capsys.readouterr().err
    assert code in (1, 2)
    assert "mode: must be one of enforce, dry-run, not 'yolo'" in err
    assert "routes: at least one route is required" in err
    assert "Traceback" not in err
