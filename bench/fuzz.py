"""The long run of the property tests (tests/unit/test_properties.py): many more examples per property.

Not a test. CI runs a few hundred examples per property; this runs `--examples` (default 20,000) each, with
Hypothesis' statistics, and prints the machine and the time per property. A failure prints the smallest
input Hypothesis found (its "Falsifying example"), to add to the unit tests.

    uv run python bench/fuzz.py --examples 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000, help="examples per property")
    parser.add_argument("-k", default="", help="only the properties matching this pytest expression")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load average: {os.getloadavg()[0]:.2f}; {args.examples} examples per property")
    env = {**os.environ, "HYPOTHESIS_PROFILE": "long", "FUZZ_EXAMPLES": str(args.examples)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--hypothesis-show-statistics",
        "--durations=0",
        "tests/unit/test_properties.py",
    ]
    if args.k:
        command += ["-k", args.k]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    print(f"total: {time.monotonic() - started:.0f} s, exit {result.returncode}")
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
