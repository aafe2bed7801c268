"""The Dockerfile, proven without a container engine.

No engine runs here, so this test does what the build stage does, on this machine: it replays the
build stage's ENV, COPY and RUN instructions (uv installing exactly what uv.lock pins into a fresh venv)
as the image's non-root user 65532 against a temp directory, with this machine's Debian Python 3.11
standing in for the base image's. It then freezes the venv read-only, as the chart's
readOnlyRootFilesystem does, and runs the installed entrypoint with the final stage's environment.
What it cannot prove (the base image, layer contents, the registry) is listed in docs/chart.md.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_support import REPO_ROOT, dockerfile_stages, one, render, rendered_config

IMAGE_UID = 65532
BASE_PYTHON = Path("/usr/bin/python3.11")  # Debian's CPython 3.11, the same line as python:3.11-slim
NETWORK_SETTINGS = frozenset(
    {
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "UV_DEFAULT_INDEX",
        "UV_INDEX",
        "UV_INDEX_URL",
        "UV_NATIVE_TLS",
    }
)


def stage(name: str) -> list[tuple[str, str]]:
    for stage_name, instructions in dockerfile_stages():
        if stage_name == name:
            return instructions
    raise AssertionError(f"the Dockerfile has no stage named {name!r}")


def parse_env(arguments: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in shlex.split(arguments))


def as_image_user(args: list[str], *, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    command = ["setpriv", f"--reuid={IMAGE_UID}", f"--regid={IMAGE_UID}", "--clear-groups", "--", *args]
    return subprocess.run(
        command, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def chown_tree(path: Path) -> None:
    for entry in [path, *path.rglob("*")]:
        os.chown(entry, IMAGE_UID, IMAGE_UID, follow_symlinks=False)


def freeze(path: Path) -> None:
    """Read-only for everyone, like the image's root filesystem under readOnlyRootFilesystem."""
    for entry in [path, *path.rglob("*")]:
        if not entry.is_symlink():
            entry.chmod(stat.S_IMODE(entry.stat().st_mode) & ~0o222)


def snapshot(path: Path) -> dict[str, float]:
    return {str(p.relative_to(path)): p.lstat().st_mtime for p in path.rglob("*")}


class ReplayedImage:
    """The build stage replayed under `root`; paths of the image mapped into it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "usr-local-bin"
        self.venv = root / "opt" / "venv"
        self.src = root / "src"
        self.home = root / "home"
        # Image path -> path on this machine.
        self.paths = {
            "/opt/venv": str(self.venv),
            "/usr/local/bin/python3.11": str(BASE_PYTHON),
            "/usr/local/bin": str(self.bin),
            "/src": str(self.src),
        }

    def map(self, text: str) -> str:
        for image_path in sorted(self.paths, key=len, reverse=True):
            text = re.sub(rf"(?<![\w/]){re.escape(image_path)}(?![\w.])", self.paths[image_path], text)
        return text

    def base_env(self) -> dict[str, str]:
        # This machine's way to reach the package index (CA bundle, proxy, mirror) is not the image's
        # business; a `docker build` would get it the same way, from the build host.
        network = {key: value for key, value in os.environ.items() if key in NETWORK_SETTINGS}
        return {
            **network,
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "UV_CACHE_DIR": str(self.root / "uv-cache"),  # the build's cache mount
        }

    def build(self) -> list[str]:
        """Run the build stage; returns the RUN commands executed (for the failure message)."""
        for directory in (self.bin, self.src, self.home, self.venv.parent):
            directory.mkdir(parents=True, exist_ok=True)
        env = self.base_env()
        workdir = self.root
        ran: list[str] = []
        for instruction, arguments in stage("build"):
            if instruction == "ENV":
                env.update({key: self.map(value) for key, value in parse_env(arguments).items()})
            elif instruction == "WORKDIR":
                workdir = Path(self.map(arguments))
                workdir.mkdir(parents=True, exist_ok=True)
            elif instruction == "COPY" and arguments.startswith("--from=uv "):
                uv = os.environ.get("UV") or shutil.which("uv")
                assert uv, "uv is needed to replay the Dockerfile's build stage (it is the image's installer)"
                shutil.copy2(uv, self.bin / "uv")
            elif instruction == "COPY":
                *sources, destination = shlex.split(arguments)
                target = Path(self.map(destination)) if destination.startswith("/") else workdir / destination
                for source in sources:
                    # Docker's rules: a directory's contents go into the destination; a file goes into
                    # it when it ends with "/", else becomes it.
                    origin = REPO_ROOT / source
                    if origin.is_dir():
                        shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
                    else:
                        target.mkdir(parents=True, exist_ok=True) if destination.endswith("/") else None
                        shutil.copy2(origin, target / origin.name if destination.endswith("/") else target)
            elif instruction == "RUN":
                command = self.map(re.sub(r"--mount=\S+\s+", "", arguments))
                chown_tree(self.root)
                ran.append(command)
                result = as_image_user(["sh", "-c", command], env=env, cwd=workdir)
                assert result.returncode == 0, f"RUN {command}\n{result.stdout}\n{result.stderr}"
            else:
                raise AssertionError(
                    f"the build stage has an instruction this test cannot replay: {instruction}"
                )
        return ran

    def final_env(self) -> dict[str, str]:
        env = {"HOME": str(self.home), "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}
        for instruction, arguments in dockerfile_stages()[-1][1]:
            if instruction == "ENV":
                for key, value in parse_env(arguments).items():
                    env[key] = self.map(value.replace("$PATH", env.get("PATH", "")))
        return env


@pytest.fixture(scope="module")
def image() -> Iterator[ReplayedImage]:
    assert BASE_PYTHON.exists(), f"{BASE_PYTHON} (Debian python3.11) stands in for the base image's Python"
    # Not pytest's tmp_path: its parents are private to root, and the image user must reach this one.
    root = Path(tempfile.mkdtemp(prefix="rollback-receiver-image-"))
    root.chmod(0o755)
    try:
        replayed = ReplayedImage(root)
        replayed.build()
        freeze(replayed.venv)
        yield replayed
    finally:
        shutil.rmtree(root, onerror=_make_writable_and_retry)


def _make_writable_and_retry(function: Any, path: str, _: object) -> None:
    Path(path).parent.chmod(0o755)
    function(path)


def test_final_stage_is_minimal_non_root_and_matches_the_chart() -> None:
    final = dockerfile_stages()[-1][1]
    instructions = dict(final)
    env = parse_env(" ".join(arguments for instruction, arguments in final if instruction == "ENV"))
    assert instructions["USER"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert json.loads(instructions["ENTRYPOINT"]) == ["rollback-receiver"]  # exec form: PID 1 gets SIGTERM
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    # Only the venv comes from the build stage: no uv, no compiler, no source tree.
    copies = [arguments for instruction, arguments in final if instruction == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    assert not any(instruction == "RUN" for instruction, _ in final)
    docs = render()
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert instructions["EXPOSE"] == str(container["ports"][0]["containerPort"])
    assert json.loads(instructions["CMD"]) == container["args"]


def test_dockerignore_lets_in_everything_the_build_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for instruction, arguments in stage("build"):
        if instruction == "COPY" and not arguments.startswith("--from="):
            *sources, _ = shlex.split(arguments)
            assert set(sources) <= allowed, set(sources) - allowed


def test_build_installs_the_locked_dependencies_as_the_image_user(image: ReplayedImage) -> None:
    python = image.venv / "bin" / "python"
    assert python.resolve() == BASE_PYTHON.resolve()
    assert image.venv.stat().st_uid == IMAGE_UID
    frozen = subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--no-header"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    locked = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", frozen, flags=re.MULTILINE)
    }
    inventory = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.name: d.version for d in m.distributions()}))"
    )
    listed = subprocess.run([str(python), "-c", inventory], capture_output=True, text=True, check=True)
    installed = {
        name.lower().replace("_", "-"): version for name, version in json.loads(listed.stdout).items()
    }
    assert installed.pop("rollback-receiver") == _project_version()
    assert installed == locked  # exactly the lock, no dev dependency, nothing resolved anew
    # Bytecode compiled at build time, so a read-only root filesystem costs nothing at start.
    assert list((image.venv / "lib").glob("python3.11/site-packages/receiver/__pycache__/cli.*.pyc"))


def test_entrypoint_runs_read_only_as_the_image_user(image: ReplayedImage) -> None:
    before = snapshot(image.venv)
    env = image.final_env()
    entrypoint = json.loads(dict(dockerfile_stages()[-1][1])["ENTRYPOINT"])

    helped = as_image_user([*entrypoint, "--help"], env=env, cwd=image.home)
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout and "check-config" in helped.stdout

    config = image.root / "config.yaml"
    config.write_text(yaml.safe_dump(rendered_config(render())))
    config.chmod(0o644)
    checked = as_image_user([*entrypoint, "check-config", str(config)], env=env, cwd=image.home)
    assert checked.returncode == 0, f"{checked.stdout}\n{checked.stderr}"
    assert snapshot(image.venv) == before  # nothing written into the image


def _project_version() -> str:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    match = re.search(r'^version = "([^"]+)"', text, flags=re.MULTILINE)
    assert match
    return match.group(1)
