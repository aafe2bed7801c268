"""The container image, built and run for real with podman (rootful, runc): build it with
scripts/build-image.sh, run it detached with the flags a test derives from the chart, look at the running
process from the host (/proc), stop it like the kubelet does, and see what it wrote.

Every container gets `--timeout`, so conmon kills it even if the test process dies without a teardown.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_COMMAND = "bash scripts/build-image.sh"
TOOLS = ("podman", "runc", "mmdebstrap")
INSTALL_HINT = (
    "run `bash scripts/bootstrap.sh` (or, as root: apt-get install -y --no-install-recommends podman runc"
    " mmdebstrap)"
)
# Podman picks crun when it is installed, and crun refuses hybrid cgroup hierarchies; runc runs on both.
PODMAN = ("podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs")
RUN_TIMEOUT_SECONDS = 600  # conmon's kill switch for a container whose test never stopped it


class ContainerEngineMissing(RuntimeError):
    """podman, runc or mmdebstrap is not installed; the message says how to install them."""


class ContainerError(RuntimeError):
    """A podman command failed; the message carries its stderr."""


def require_engine() -> None:
    if os.geteuid() != 0:
        raise ContainerEngineMissing(
            "the image test runs podman rootful and mmdebstrap in root mode: run it as root"
        )
    missing = [tool for tool in TOOLS if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()]
    if missing:
        raise ContainerEngineMissing(
            f"{', '.join(missing)} not installed: the image test needs them; {INSTALL_HINT}"
        )


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [*PODMAN, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise ContainerError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def rlimits() -> list[str]:
    """podman's default rlimits (nofile 1048576) exceed the hard limits of hosts that withhold
    CAP_SYS_RESOURCE; the container gets this host's hard nofile limit and an ample process limit (the same
    as scripts/build-image.sh gives the build)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nofile = 1048576 if hard == resource.RLIM_INFINITY else min(hard, 1048576)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=4096:4096"]


def build_image() -> str:
    """The image reference scripts/build-image.sh built (or found up to date)."""
    require_engine()
    result = subprocess.run(
        ["bash", "scripts/build-image.sh"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800
    )
    if result.returncode != 0:
        raise ContainerError(f"{BUILD_COMMAND} exited {result.returncode}:\n{result.stderr.strip()}")
    return result.stdout.strip().splitlines()[-1]


def image_config(image: str) -> dict[str, Any]:
    """`podman image inspect` of `image` (Config, RootFS, Size, ...)."""
    inspected = json.loads(podman("image", "inspect", image).stdout)
    return dict(inspected[0])


@dataclass(frozen=True, slots=True)
class Mount:
    source: Path
    target: str
    read_only: bool = True

    def flag(self) -> str:
        return f"type=bind,source={self.source},destination={self.target}" + (
            ",readonly=true" * self.read_only
        )


@dataclass
class Container:
    """One detached `podman run`. `flags` are podman run options (security, tmpfs, network, ...)."""

    image: str
    args: Sequence[str] = ()
    flags: Sequence[str] = ()
    mounts: Sequence[Mount] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: str | None = None
    name: str = field(default_factory=lambda: f"rollback-receiver-test-{secrets.token_hex(4)}")
    started: bool = False

    def run_command(self) -> list[str]:
        command = ["run", "--detach", "--name", self.name, f"--timeout={RUN_TIMEOUT_SECONDS}", *rlimits()]
        command += list(self.flags)
        for mount in self.mounts:
            command += ["--mount", mount.flag()]
        for key, value in self.env.items():
            command += ["--env", f"{key}={value}"]
        if self.entrypoint is not None:
            command += ["--entrypoint", self.entrypoint]
        return [*command, self.image, *self.args]

    def start(self) -> Container:
        self.started = True  # even a failed `run` may have created the container: remove() cleans up
        podman(*self.run_command())
        return self

    def inspect(self) -> dict[str, Any]:
        return dict(json.loads(podman("container", "inspect", self.name).stdout)[0])

    def running(self) -> bool:
        return bool(self.inspect()["State"]["Running"])

    @property
    def pid(self) -> int:
        """The container's PID 1 as the host sees it."""
        pid = int(self.inspect()["State"]["Pid"])
        if pid <= 0:
            raise ContainerError(f"{self.name} is not running:\n{self.logs()}")
        return pid

    def proc_status(self) -> dict[str, str]:
        """/proc/<pid>/status of PID 1: the kernel's view of its user, groups, capabilities, seccomp."""
        lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}

    def mounts_seen(self) -> dict[str, tuple[str, set[str]]]:
        """mount point -> (filesystem type, mount options) from PID 1's /proc/<pid>/mountinfo."""
        seen: dict[str, tuple[str, set[str]]] = {}
        for line in Path(f"/proc/{self.pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            separator = fields.index("-")
            seen[fields[4]] = (fields[separator + 1], set(fields[5].split(",")))
        return seen

    def realpath(self, path: str) -> str:
        """`path` inside the container with its symlinks resolved (Debian's /var/run is /run)."""
        root = Path(f"/proc/{self.pid}/root")
        resolved: list[str] = []
        pending = [part for part in path.split("/") if part]
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                resolved = resolved[:-1]
                continue
            candidate = root.joinpath(*resolved, part)
            if candidate.is_symlink() and hops < 40:
                hops += 1
                target = os.readlink(candidate)
                pending = [p for p in target.split("/") if p] + pending
                if target.startswith("/"):
                    resolved = []
                continue
            resolved.append(part)
        return "/" + "/".join(resolved)

    def stop(self, grace_seconds: int) -> tuple[int, float]:
        """SIGTERM, then SIGKILL after `grace_seconds`, as the kubelet stops a pod's container; returns the
        exit code and how long the stop took."""
        started = time.monotonic()
        podman("stop", "--time", str(grace_seconds), self.name, timeout=grace_seconds + 60)
        took = time.monotonic() - started
        return int(self.inspect()["State"]["ExitCode"]), took

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def writable_layer(self) -> dict[str, tuple[str, int]]:
        """Every entry of the container's writable layer (overlay upper dir): path in the container ->
        (kind: "dir", "file", "symlink" or "other", size in bytes). Readable after the container stopped."""
        upper = Path(self.inspect()["GraphDriver"]["Data"]["UpperDir"])
        entries: dict[str, tuple[str, int]] = {}
        for entry in upper.rglob("*"):
            info = entry.lstat()
            if entry.is_symlink():
                kind = "symlink"
            elif entry.is_dir():
                kind = "dir"
            elif entry.is_file():
                kind = "file"
            else:
                kind = "other"  # e.g. an overlay whiteout: something of the image was deleted
            entries["/" + str(entry.relative_to(upper))] = (kind, info.st_size)
        return entries

    def remove(self) -> None:
        if self.started:
            podman("rm", "--force", "--time", "0", "--ignore", self.name, check=False)

    def __enter__(self) -> Container:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.remove()


def run_once(
    image: str, command: Sequence[str], *, entrypoint: str, flags: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """`podman run --rm`: one command in a fresh container, its output, whatever the exit code."""
    return podman(
        "run",
        "--rm",
        f"--timeout={RUN_TIMEOUT_SECONDS}",
        *rlimits(),
        *flags,
        "--entrypoint",
        entrypoint,
        image,
        *command,
        check=False,
        timeout=RUN_TIMEOUT_SECONDS,
    )
