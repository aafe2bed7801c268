"""Wall time and peak memory of a command and all its descendants (e.g. a cold `go build`).

Not a test. Samples /proc every 0.2 s and reports the largest sum of VmRSS over the whole process tree, which
is what a 2-core CI machine has to hold at once (GNU time's max RSS is only the largest single process).

    uv run python bench/peak_memory.py -- env GOCACHE=$(mktemp -d) bash scripts/build-argo-rollouts.sh
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

SAMPLE_SECONDS = 0.2


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The field after the parenthesised command name is the state, then the parent PID.
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> tuple[int, int, str]:
    """(sum of RSS over the tree, largest single RSS, name of that process)."""
    tree = children_of()
    total, largest, largest_name = 0, 0, ""
    stack = [root]
    while stack:
        pid = stack.pop()
        rss = rss_bytes(pid)
        total += rss
        if rss > largest:
            largest = rss
            try:
                largest_name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                largest_name = "?"
        stack.extend(tree.get(pid, ()))
    return total, largest, largest_name


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    t0 = time.monotonic()
    process = subprocess.Popen(command)
    peak_total, peak_single, peak_name = 0, 0, ""
    while process.poll() is None:
        total, single, name = tree_rss(process.pid)
        peak_total = max(peak_total, total)
        if single > peak_single:
            peak_single, peak_name = single, name
        time.sleep(SAMPLE_SECONDS)
    wall = time.monotonic() - t0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.node()} {os.cpu_count()} CPUs, load average {load:.1f} at the end\n"
        f"command: {' '.join(command)}\n"
        f"exit code: {process.returncode}\n"
        f"wall: {wall:.0f} s ({wall / 60:.1f} min); "
        f"user {children.ru_utime:.0f} s, sys {children.ru_stime:.0f} s\n"
        f"peak memory of the process tree (sum of RSS): {peak_total / 2**20:.0f} MiB\n"
        f"largest single process: {peak_single / 2**20:.0f} MiB ({peak_name})",
        file=sys.stderr,
    )
    return process.returncode


if __name__ == "__main__":
    raise SystemExit(main())
