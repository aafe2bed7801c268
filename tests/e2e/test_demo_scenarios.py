"""`make demo` and `make demo SCENARIO=crashloop` as a user runs them: `python -m demo`, each with its own
control plane, exits 0 and its printed timeline shows the rollback and the recovery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 600  # bounds a hang; the demos take about 2 minutes and 15 seconds on 2 cores


def run_demo(tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--workdir", str(tmp_path / "demo"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"the demo failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def test_default_demo_rolls_back_on_high_error_rate_and_sees_it_resolve(tmp_path: Path) -> None:
    out = run_demo(tmp_path)
    assert "Prometheus fires HighErrorRate" in out
    assert "rollback-receiver decides: roll back" in out
    assert "Rolled back to ghcr.io/company/ecommerce:v1.1.0 (revision 4); rollout complete" in out
    assert "HighErrorRate resolved; the receiver recorded it" in out
    assert "rollback-receiver: HighErrorRate (" in out  # the change-cause in the rollout history


def test_crashloop_demo_rolls_back_with_no_alert_rule(tmp_path: Path) -> None:
    out = run_demo(tmp_path, "--scenario", "crashloop")
    assert "no Prometheus, no Alertmanager" in out
    assert "v1.2.0's container exits 1 and the kubelet backs off" in out
    assert "rollback-receiver's watch raises RolloutCrashLooping for revision 3" in out
    assert '"source": "watch"' in out
    assert "Rolled back to ghcr.io/company/ecommerce:v1.1.0 (revision 4); rollout complete" in out
    assert "rollback-receiver: RolloutCrashLooping (" in out  # the change-cause in the rollout history
    assert "All 3 pods Ready on ghcr.io/company/ecommerce:v1.1.0" in out
    assert 'rollback_receiver_rollbacks_total{result="succeeded"} 1.0' in out
    # The incident record, printed by the product's CLI: verified by the rollout, so `completed`.
    assert "as rollback-receiver recorded it (`rollback-receiver incidents show" in out
    assert "The incident page: http://127.0.0.1:" in out
