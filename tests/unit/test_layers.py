"""The folder tree is the architecture: the import contracts in pyproject.toml hold, and they bite."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "receiver"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_only_the_web_package_imports_aiohttp_web() -> None:
    # import-linter sees external packages whole (aiohttp), so the aiohttp.web rule is checked here.
    offenders = [
        str(path.relative_to(REPO))
        for path in PACKAGE.rglob("*.py")
        if "aiohttp.web" in imports_of(path) and PACKAGE / "web" not in path.parents
    ]
    assert offenders == []


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    linter = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(linter), "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/guards.py", "import kubernetes_asyncio", "the core is pure"),
        ("core/guards.py", "from receiver.pipeline import intake", "layers"),
        ("pipeline/intake.py", "from receiver.web import handlers", "layers"),
        ("k8s/state.py", "from receiver.alertmanager import api", "layers"),
        ("web/backend.py", "from receiver.web import app", "no import cycles"),
    ],
)
def test_a_forbidden_import_breaks_the_lint(tmp_path: Path, module: str, line: str, contract: str) -> None:
    shutil.copytree(PACKAGE, tmp_path / "receiver", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    assert lint_imports(tmp_path).returncode == 0, "the unchanged copy must pass"
    target = tmp_path / "receiver" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    broken = lint_imports(tmp_path)
    assert broken.returncode == 1, broken.stdout
    assert contract in broken.stdout and "BROKEN" in broken.stdout
