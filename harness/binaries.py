"""Find the control-plane binaries: envtest conventions first, then the project's build cache."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VERSIONS_FILE = REPO_ROOT / "tools" / "versions.env"
BUILD_COMMAND = "bash scripts/build-control-plane.sh"

ETCD = "etcd"
KUBE_APISERVER = "kube-apiserver"
KUBE_CONTROLLER_MANAGER = "kube-controller-manager"
KUBE_SCHEDULER = "kube-scheduler"
KUBECTL = "kubectl"
KWOK = "kwok"
ALL_BINARIES = (ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBECTL, KWOK)
KWOK_STAGES = "kwok-stages.yaml"


class MissingBinariesError(RuntimeError):
    """Some control-plane binary could not be found; the message says which and how to build it."""


@dataclass(frozen=True, slots=True)
class Binaries:
    paths: dict[str, Path]
    kwok_stages: Path

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]

    @property
    def bin_dir(self) -> Path:
        return self.paths[KUBECTL].parent


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"\s*([A-Z0-9_]+)=(\S+)\s*", line)
        if match:
            versions[match.group(1)] = match.group(2)
    return versions


def cache_root() -> Path:
    """Where scripts/build-*.sh put their version-keyed build directories (keep them in sync)."""
    root = os.environ.get("ROLLBACK_RECEIVER_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(xdg) / "rollback-receiver")
    return Path(root)


def cache_dir() -> Path:
    """The directory scripts/build-control-plane.sh builds into (keep the two in sync)."""
    versions = read_versions()
    name = f"k8s-{versions['K8S_VERSION']}_etcd-{versions['ETCD_VERSION']}_kwok-{versions['KWOK_VERSION']}"
    return cache_root() / name


def env_var_for(name: str) -> str:
    """envtest's name for an override: TEST_ASSET_KUBE_APISERVER for kube-apiserver."""
    return "TEST_ASSET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _candidates(name: str) -> list[Path]:
    found: list[Path] = []
    explicit = os.environ.get(env_var_for(name))
    if explicit:
        found.append(Path(explicit))
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        found.append(Path(assets) / name)
    found.append(cache_dir() / name)
    return found


def find(name: str, *, executable: bool = True) -> Path | None:
    for path in _candidates(name):
        if path.is_file() and (not executable or os.access(path, os.X_OK)):
            return path
    return None


def resolve(names: tuple[str, ...] = ALL_BINARIES) -> Binaries:
    """Every binary the harness runs, or one error that lists everything missing."""
    paths: dict[str, Path] = {}
    missing: list[str] = []
    for name in names:
        path = find(name)
        if path is None:
            looked = ", ".join(str(p) for p in _candidates(name))
            missing.append(f"  {name} (looked in: {looked})")
        else:
            paths[name] = path
    stages = find(KWOK_STAGES, executable=False)
    if stages is None:
        missing.append(f"  {KWOK_STAGES} (looked in: {', '.join(str(p) for p in _candidates(KWOK_STAGES))})")
    if missing:
        raise MissingBinariesError(
            "the real Kubernetes control plane is not available; missing:\n"
            + "\n".join(missing)
            + f"\nBuild it with `{BUILD_COMMAND}` (needs Go >= 1.26 and the Go module proxy) or"
            " `make bootstrap`; or point TEST_ASSET_<NAME> / KUBEBUILDER_ASSETS at existing binaries."
        )
    assert stages is not None
    return Binaries(paths=paths, kwok_stages=stages)


class DebianPackageMissingError(RuntimeError):
    """A real part that comes from Debian's packages (Alertmanager, Prometheus) is not installed."""


def debian_binary(path: Path, package: str, what: str) -> Path:
    """`path` if the Debian package providing it is installed, else an error that says how to install it."""
    if not path.is_file():
        raise DebianPackageMissingError(
            f"{what} is not installed ({path} missing); install it with `bash scripts/bootstrap.sh` "
            f"or `apt-get install -y {package}`"
        )
    return path
