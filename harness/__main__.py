"""`python -m harness up|down|env|status`: a local control plane for hand use, state in .run/cluster/."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import binaries
from harness.controlplane import ControlPlane, read_state, running_components, stop_recorded
from harness.processes import StartupError

STATE_DIR = binaries.REPO_ROOT / ".run" / "cluster"


def _exports(kubeconfig: str) -> str:
    return f"export KUBECONFIG={kubeconfig}"


def up(workdir: Path) -> int:
    running = running_components(workdir)
    state = read_state(workdir)
    if running and state is not None:
        print(f"control plane already running ({', '.join(running)}); `python -m harness down` stops it")
        print(_exports(state["kubeconfig"]))
        return 0
    if workdir.exists():
        stop_recorded(workdir)  # leftovers of a half-dead plane
        shutil.rmtree(workdir)
    try:
        plane = ControlPlane(workdir, detached=True)
        plane.start()
    except (binaries.MissingBinariesError, StartupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    seconds = plane.startup_seconds["total"]
    steps = ", ".join(f"{name} {t:.1f}s" for name, t in plane.startup_seconds.items() if name != "total")
    rss = plane.rss_bytes()
    print(f"start-up: {steps}", file=sys.stderr)
    print(
        f"memory (RSS): {sum(rss.values()) / 2**20:.0f} MiB total; "
        + ", ".join(f"{name} {value / 2**20:.0f} MiB" for name, value in rss.items()),
        file=sys.stderr,
    )
    print(
        f"control plane up in {seconds:.1f}s at {plane.server}; logs in {workdir / 'logs'}", file=sys.stderr
    )
    print(f"kubeconfig: {plane.kubeconfig}", file=sys.stderr)
    for name, token in plane.user_tokens.items():
        print(f"user {name} (no RBAC grants): {plane.kubeconfig_for_token(token)}", file=sys.stderr)
    print(_exports(plane.kubeconfig))
    return 0


def down(workdir: Path) -> int:
    stopped = stop_recorded(workdir)
    print(f"stopped: {', '.join(stopped)}" if stopped else "no control plane was running", file=sys.stderr)
    return 0


def env(workdir: Path) -> int:
    state = read_state(workdir)
    if state is None or not running_components(workdir):
        print("no control plane is running; start one with `make cluster-up`", file=sys.stderr)
        return 1
    print(_exports(state["kubeconfig"]))
    return 0


def status(workdir: Path) -> int:
    state = read_state(workdir)
    running = running_components(workdir)
    if state is None:
        print("no control plane recorded")
        return 1
    for name, info in state["processes"].items():
        state_word = "running" if name in running else "NOT running"
        print(f"{name:25} pid {info['pid']:>7}  {state_word:12} {info['log']}")
    return 0 if running else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "env", "status"])
    parser.add_argument("--dir", type=Path, default=STATE_DIR, help="state directory (default: .run/cluster)")
    args = parser.parse_args(argv)
    commands = {"up": up, "down": down, "env": env, "status": status}
    return commands[args.command](args.dir)


if __name__ == "__main__":
    sys.exit(main())
