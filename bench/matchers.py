"""Regex matchers on hostile label values: RE2 (what the receiver runs) vs Python's backtracking `re`.

Not a test. For each pattern, a label value of --size characters shaped to be the worst case for a
backtracking engine (many partial matches, no full match) is matched by the receiver's own Matcher
(`^(?:pattern)$` on RE2). Python's `re` (what the receiver used before) runs the same pattern on prefixes of
16, 32, 64... characters of that value, each in a child process killed after --re-budget seconds, to show
how its time grows.

    uv run python bench/matchers.py --size 65536 --runs 200
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.queues
import os
import platform
import queue
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from receiver.core.alerts import MAX_VALUE_CHARS
from receiver.core.matching import MatchOp, new_matcher, parse_matchers


def dashes(n: int) -> str:
    return ("a-" * n)[:n]


# (pattern, builds a value of n characters that nearly matches)
CASES: list[tuple[str, Callable[[int], str]]] = [
    (".*-.*-.*-canary", dashes),
    (".*-.*-.*-.*-.*-canary", dashes),
    ("(a|aa)*b", lambda n: "a" * n),
    ("(a+)+b", lambda n: "a" * n),
    ("(.*a){12}", lambda n: "a" * (n - 1) + "b"),
    ("(?i).*(critical|high).*-(canary|blue|green)", lambda n: ("critical-" * n)[:n]),
    (r"(\w+\s?)*$x", lambda n: ("word " * n)[:n]),
    (r"\pL+\d+\p{Greek}*", lambda n: "é" * n),
]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.machine()


def time_once(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this thread): on a shared machine the wall clock includes preemption."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - wall, time.thread_time() - cpu


def re2_figures(pattern: str, value: str, runs: int) -> dict[str, float]:
    """Compile, first match (RE2 builds its DFA lazily, during the first matches), then the spread (ms)."""
    start = time.perf_counter()
    matcher = new_matcher("v", MatchOp.REGEX, pattern)
    compile_s = time.perf_counter() - start
    first, _ = time_once(lambda: matcher.matches(value))
    samples = [time_once(lambda: matcher.matches(value)) for _ in range(runs)]
    wall = sorted(w for w, _ in samples)
    return {
        "compile": compile_s * 1000,
        "first": first * 1000,
        "p50": statistics.median(wall) * 1000,
        "p99": wall[int(len(wall) * 0.99) - 1] * 1000,
        "max": wall[-1] * 1000,
        "cpu_max": max(c for _, c in samples) * 1000,
    }


def backtrack(case: int, n: int, out: multiprocessing.queues.Queue[float | str]) -> None:
    pattern, build = CASES[case]
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        out.put(f"refused: {exc}")
        return
    value = build(n)
    start = time.perf_counter()
    compiled.fullmatch(value)
    out.put(time.perf_counter() - start)


def backtracking_growth(case: int, size: int, budget: float) -> str:
    parts = []
    n = 16
    context = multiprocessing.get_context("spawn")
    while n <= size:
        out: multiprocessing.queues.Queue[float | str] = context.Queue()
        child = context.Process(target=backtrack, args=(case, n, out))
        child.start()
        try:
            result = out.get(timeout=budget + 2)  # +2 s for the child's start
        except queue.Empty:
            result = None
        child.kill()
        child.join()
        if result is None:
            parts.append(f"{n}: > {budget:g} s (killed)")
            break
        if isinstance(result, str):
            return f"`re` {result}"
        parts.append(f"{n}: {result * 1000:.1f} ms")
        n *= 2
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=MAX_VALUE_CHARS, help="label value length (characters)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--re-budget", type=float, default=5.0, help="kill a Python re match after this (s)")
    args = parser.parse_args()

    print(
        f"# {datetime.now(UTC):%Y-%m-%d} {platform.node()}: {os.cpu_count()} CPUs, {cpu_model()}, "
        f"Python {platform.python_version()}, google-re2 {metadata.version('google-re2')}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"# label values of {args.size} characters, {args.runs} matches per pattern, times in ms")
    print(
        "| pattern | compile | first match | p50 | p99 | max | max CPU | Python `re`, prefix length: time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for case, (pattern, build) in enumerate(CASES):
        f = re2_figures(pattern, build(args.size), args.runs)
        growth = backtracking_growth(case, args.size, args.re_budget) if args.re_budget > 0 else "not run"
        print(
            f"| `{pattern}` | {f['compile']:.2f} | {f['first']:.2f} | {f['p50']:.3f} | {f['p99']:.3f} "
            f"| {f['max']:.3f} | {f['cpu_max']:.3f} | {growth} |"
        )

    # A route as the pipeline evaluates it: four matchers, three of them regexes, on --size values.
    matchers = parse_matchers(
        '{rollback="true", alertname=~".*-.*-.*-canary", severity=~"(?i)critical|high", team!~"(a|aa)*b"}'
    )
    labels = {"alertname": dashes(args.size), "severity": "x" * args.size, "team": "a" * args.size}
    annotations = {"rollback": "true"}
    samples = [
        time_once(lambda: all(m.matches(labels.get(m.name, annotations.get(m.name, ""))) for m in matchers))
        for _ in range(args.runs)
    ]
    wall = sorted(w for w, _ in samples)
    cpu_max = max(c for _, c in samples)
    print(
        f"\nroute of 4 matchers on {args.size}-character values: "
        f"p50 {statistics.median(wall) * 1000:.3f} ms, max {wall[-1] * 1000:.3f} ms, "
        f"max CPU {cpu_max * 1000:.3f} ms"
    )


if __name__ == "__main__":
    main()
