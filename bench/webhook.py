"""Webhook intake: `rollback-receiver serve` against a bare aiohttp handler, driven by wrk, same machine.

Not a test. One run starts a real control plane on loopback (the receiver connects to it like in a
cluster), one `rollback-receiver serve` process and one bare aiohttp process (reads the body, `json.loads`
it, answers JSON: the floor of the framework), then alternates wrk rounds between them: bare, receiver,
bare, receiver, ... so both see the same machine load. Each request is a realistic 5-alert Alertmanager
0.25 payload whose fingerprints a Lua script makes new on every request, so the receiver never takes the
cheaper duplicate path. It prints, per server, requests/s, p50/p99 (wrk's own latency histogram), non-2xx
answers and the process's peak RSS, then the receiver/bare ratios.

Configurations of the receiver (`--mode`):

- `intake` (default): bearer auth, the seed's routes (config/example.yaml), the alerts' namespace outside
  `namespaces.allow`: the intake decides `namespace_denied` in the request (config alone, nothing queued),
  so this is the intake and the decision log alone;
- `full`: the namespace is allowed and its Deployment exists on the control plane: every alert is decided
  on facts read from the API (and the first ones roll it back), the workers calling the API server while
  the intake serves. Use it with `--rate` to compare its webhook latency with `intake` at the same load.

`--floors` adds, in the same rounds, two intake-only receivers with parts of the request path taken out
(`bench/floors/sitecustomize.py`): `no-intake` (no routing, dedupe or decisions: the listener, middlewares,
body read, decoder and answer) and `bare-handler` (the bare handler inside our app: the listener and the
middlewares alone). They say what each part costs against the bare floor.

wrk is Debian's package (`apt-get install wrk`); the script says so and stops when it is missing.

    uv run python bench/webhook.py --rounds 3 --seconds 8                   # intake-only, max rate
    uv run python bench/webhook.py --mode full --rounds 2 --seconds 8       # full path, max rate
    uv run python bench/webhook.py --mode both --rate 400 --seconds 20      # same fixed load, both modes
    uv run python bench/webhook.py --floors --rounds 3 --seconds 8          # what each part costs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE, DEPLOYMENT = "shop", "ecommerce"
ALLOWED_ELSEWHERE = "payments"  # intake-only: the alerts' namespace is not allowed
SEVERITIES = ("high", "high", "medium", "critical", "low")
FINGERPRINT_MARK = "@@FP{}@@"
FLOORS = ("no-intake", "bare-handler")  # --floors: bench/floors/sitecustomize.py


def payload(marks: bool = True) -> dict[str, Any]:
    """What Alertmanager 0.25 sends for a group of 5 alerts (7 labels and 4 annotations each); the
    fingerprints are placeholders the Lua script replaces on every request."""
    alerts = []
    for i, severity in enumerate(SEVERITIES):
        alerts.append(
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighErrorRate",
                    "namespace": NAMESPACE,
                    "deployment": DEPLOYMENT,
                    "severity": severity,
                    "pod": f"ecommerce-7d9f8b-{i}",
                    "job": "ecommerce",
                    "instance": f"10.0.0.{i}:3000",
                },
                "annotations": {
                    "rollback": "true",
                    "reason": "Error rate exceeded 2%",
                    "summary": "ecommerce 5xx ratio is 3.2%",
                    "runbook_url": "https://runbooks.example/ecommerce/high-error-rate",
                },
                "startsAt": "2026-11-29T09:05:00.123456789Z",
                "endsAt": "0001-01-01T00:00:00Z",
                # Go's encoding/json escapes & < > in strings, as Alertmanager's payloads show.
                "generatorURL": "http://prometheus:9090/graph?g0.expr=job%3D%22ecommerce%22\u0026g0.tab=1",
                "fingerprint": FINGERPRINT_MARK.format(i) if marks else f"{i:016x}",
            }
        )
    return {
        "receiver": "rollback-receiver",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "namespace": NAMESPACE},
        "commonAnnotations": {"rollback": "true"},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}/{severity=~"critical|high|medium|low"}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
    }


def lua_script(token: str | None, *, connections: int, rate: float | None, seed: int) -> str:
    """wrk's request generator: the payload with 5 new fingerprints per request (a per-thread counter
    and a per-round seed, so no two requests of a run share one), and at a fixed total rate if asked."""
    body = json.dumps(payload())
    parts = re.split(r"@@FP\d@@", body)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    delay = "" if rate is None else f"function delay() return {connections * 1000.0 / rate:.3f} end\n"
    lua_headers = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    return (
        "local parts = {" + ", ".join(json.dumps(p) for p in parts) + "}\n"
        "local headers = {" + lua_headers + "}\n"
        f"local seed = {seed}\n"
        "local counter = 0\n"
        "local thread_id = 0\n"
        "local threads = 0\n"
        "function setup(thread) threads = threads + 1; thread:set('tid', threads) end\n"
        "function init(args) thread_id = tid or 0 end\n"
        "function request()\n"
        "  counter = counter + 1\n"
        "  local out = {parts[1]}\n"
        "  for i = 0, 4 do\n"
        "    out[#out + 1] = string.format('%04x%04x%06x%02x', seed, thread_id, counter, i)\n"
        "    out[#out + 1] = parts[i + 2]\n"
        "  end\n"
        "  return wrk.format('POST', '/webhook', headers, table.concat(out))\n"
        "end\n" + delay + "function done(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        '  io.write(string.format(\'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, \'\n'
        '    .. \'"p90_us": %d, "p99_us": %d, "max_us": %d, "non2xx": %d, \'\n'
        "    .. '\"socket_errors\": %d}\\n',\n"
        "    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),\n"
        "    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))\n"
        "end\n"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_bare(port: int) -> None:
    """The floor: read and parse the body, answer JSON. No auth, validation, routing or queue."""
    from aiohttp import web

    async def bare_handler(request: web.Request) -> web.Response:
        data = json.loads(await request.read())
        return web.json_response({"status": "accepted", "alerts": len(data["alerts"])})

    app = web.Application()
    app.router.add_post("/webhook", bare_handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def memory_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc (Linux)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_listening(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


def run_wrk(port: int, script: Path, args: argparse.Namespace) -> dict[str, float]:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.seconds}s",
        "--timeout=10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/webhook",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    result: dict[str, float] = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def start_profile(pid: int, stem: Path, seconds: int) -> subprocess.Popen[bytes]:
    """py-spy (a dev dependency) sampling the receiver during one round: collapsed stacks."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            shutil.which("py-spy") or "py-spy",
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(stem.with_suffix(".collapsed")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def finish_profile(profiler: subprocess.Popen[bytes], stem: Path) -> None:
    """Wait for py-spy, then write the flame graph (SVG) and the summary: the share of samples in which
    each function is on the stack (inclusive) and at its top (self)."""
    profiler.wait(60)
    collapsed = stem.with_suffix(".collapsed")
    if not collapsed.exists():
        print(f"# py-spy wrote no profile for {stem.name}", file=sys.stderr)
        return
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        total += count
        frames = [re.sub(r" \((.*?/)?([^/]+):\d+\)$", r" (\2)", f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    lines = [f"# {total} samples; % inclusive, % self, function", ""]
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:80]:
        lines.append(f"{100 * count / total:6.1f} {100 * own.get(frame, 0) / total:6.1f}  {frame}")
    lines += ["", "# top self time", ""]
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:40]:
        lines.append(f"{100 * count / total:6.1f}  {frame}")
    stem.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    subprocess.run(
        [sys.executable, "-c", FLAMEGRAPH, str(collapsed), str(stem.with_suffix(".svg"))], check=False
    )


# A minimal flame graph (SVG) from collapsed stacks, so no Perl script is needed.
FLAMEGRAPH = r"""
import sys, html
stacks = {}
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(" ")
    node = stacks
    for frame in stack.split(";"):
        entry = node.setdefault(frame, [0, {}])
        entry[0] += int(n)
        node = entry[1]
total = sum(e[0] for e in stacks.values()) or 1
width, row = 1600, 16
rects = []
def walk(node, x, depth):
    for frame, (count, children) in sorted(node.items()):
        w = width * count / total
        if w >= 0.5:
            label = html.escape(frame)
            text = html.escape(frame[: int(w / 7)]) if w > 30 else ""
            hue = 20 + (hash(frame.split(" ")[0]) % 40)
            rects.append(
                f'<g><title>{label} ({100 * count / total:.1f}%)</title><rect x="{x:.1f}" y="{depth * row}" '
                f'width="{w:.1f}" height="{row - 1}" fill="hsl({hue},80%,60%)"/>'
                f'<text x="{x + 2:.1f}" y="{depth * row + 12}" font-size="11">{text}</text></g>'
            )
            walk(children, x, depth + 1)
        x += w
walk(stacks, 0.0, 0)
depth = max((int(r.split('y="')[1].split('"')[0]) for r in rects), default=0) + row
open(sys.argv[2], "w").write(
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{depth}" font-family="monospace">'
    + "".join(rects) + "</svg>"
)
"""


def receiver_config(mode: str) -> dict[str, Any]:
    """The seed's routes (config/example.yaml) with its defaults; only the allowed namespace changes."""
    example = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    allowed = NAMESPACE if mode == "full" else ALLOWED_ELSEWHERE
    return {
        "server": {"queue_size": example["server"]["queue_size"]},
        "mode": "enforce",
        "cluster_name": "bench",
        "namespaces": {"allow": [allowed]},
        "state": {"namespace": allowed},
        "limits": example["limits"],
        "routes": example["routes"],
    }


def deploy(plane: Any) -> None:
    """shop/ecommerce with two revisions (the full path can roll it back)."""
    plane.kubectl("create", "namespace", NAMESPACE)
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": DEPLOYMENT}},
            "template": {
                "metadata": {"labels": {"app": DEPLOYMENT}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/shop:v1"}]},
            },
        },
    }
    plane.kubectl("create", "-f", "-", input=json.dumps(manifest))
    plane.kubectl("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, "--timeout=120s")
    plane.kubectl("set", "image", f"deployment/{DEPLOYMENT}", "app=registry.example/shop:v2", "-n", NAMESPACE)
    plane.kubectl("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", NAMESPACE, "--timeout=120s")


def report_line(name: str, result: dict[str, float], rss: tuple[float, float]) -> str:
    return (
        f"{name:<22} {result['rps']:>8.0f} {result['p50_us'] / 1000:>7.2f} {result['p99_us'] / 1000:>7.2f} "
        f"{result['max_us'] / 1000:>8.1f} {int(result['non2xx']):>7} {int(result['socket_errors']):>6} "
        f"{rss[0]:>8.1f} {rss[1]:>8.1f} {result['cpu_us']:>7.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("intake", "full", "both"), default="intake")
    parser.add_argument("--rounds", type=int, default=3, help="bare/receiver round pairs")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rate", type=float, default=None, help="requests/s in all (default: max rate)")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="also run an intake-only receiver from this source tree (a `git archive` of an earlier commit's "
        "receiver/ package), in the same rounds: before/after on the same machine load",
    )
    parser.add_argument(
        "--receiver-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment of the receivers",
    )
    parser.add_argument(
        "--floors",
        action="store_true",
        help="also run two intake-only receivers with parts of the request path taken out (no-intake, "
        "bare-handler: bench/floors/sitecustomize.py), in the same rounds: what each part costs",
    )
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (receiver logs)")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record each receiver's first round with py-spy into this directory (flame graph + summary)",
    )
    args = parser.parse_args()
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is missing: install Debian's package with `apt-get install wrk`", file=sys.stderr)
        return 1

    from harness.controlplane import ControlPlane
    from harness.receiver import ReceiverProcess

    modes = ("intake", "full") if args.mode == "both" else (args.mode,)
    workdir = Path(tempfile.mkdtemp(prefix="rr-bench-webhook-"))
    plane = ControlPlane(workdir / "cp").start()
    bare_port = free_port()
    bare = subprocess.Popen(
        [sys.executable, __file__, "--serve-bare", str(bare_port)],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "bare.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    receivers: dict[str, ReceiverProcess] = {}
    rows: dict[str, list[dict[str, float]]] = {}
    try:
        plane.kubectl("create", "namespace", ALLOWED_ELSEWHERE)
        if "full" in modes:
            deploy(plane)
        for mode in modes:
            receivers[mode] = ReceiverProcess(
                workdir / f"receiver-{mode}",
                kubeconfig=plane.kubeconfig,
                config=receiver_config(mode),
                env=dict(pair.split("=", 1) for pair in args.receiver_env),
            ).start()
        if args.baseline is not None:
            receivers["baseline"] = ReceiverProcess(
                workdir / "receiver-baseline",
                kubeconfig=plane.kubeconfig,
                config=receiver_config("intake"),
                env={"PYTHONPATH": str(args.baseline.resolve())},
            ).start()
        if args.floors:
            for floor in FLOORS:
                receivers[floor] = ReceiverProcess(
                    workdir / f"receiver-{floor}",
                    kubeconfig=plane.kubeconfig,
                    config=receiver_config("intake"),
                    env={"PYTHONPATH": str(ROOT / "bench" / "floors"), "RR_BENCH_FLOOR": floor},
                ).start()
        wait_listening(bare_port)
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
        rate = f"rate {args.rate:g} req/s" if args.rate else "max rate"
        print(
            f"# {platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, {wrk_version}"
        )
        print(
            f"# wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, 5 alerts a request, new "
            f"fingerprints every request, {rate}; load average at start {os.getloadavg()[0]:.2f}"
        )
        print(
            f"{'server':<22} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8} {'non2xx':>7} "
            f"{'sockerr':>6} {'RSS MiB':>8} {'peak MiB':>8} {'CPU us':>7}"
        )
        seed = 0
        targets: list[tuple[str, int, int, str | None]] = [("bare", bare_port, bare.pid, None)]
        for mode, receiver in receivers.items():
            assert receiver.process.pid is not None
            targets.append((f"receiver-{mode}", receiver.port, receiver.process.pid, receiver.token))
        for _ in range(args.rounds):
            for name, port, pid, token in targets:
                seed += 1
                script = workdir / f"round-{seed}.lua"
                script.write_text(lua_script(token, connections=args.connections, rate=args.rate, seed=seed))
                profiler = None
                if args.profile is not None and name != "bare" and name not in rows:
                    profiler = start_profile(pid, args.profile / name, args.seconds)
                cpu_before = cpu_seconds(pid)
                result = run_wrk(port, script, args)
                time.sleep(0.5)  # the workers finish what the round queued
                result["cpu_us"] = (cpu_seconds(pid) - cpu_before) * 1e6 / max(result["requests"], 1)
                if profiler is not None:
                    finish_profile(profiler, args.profile / name)
                rows.setdefault(name, []).append(result)
                print(report_line(name, result, memory_mib(pid)), flush=True)
                time.sleep(1)
        print(f"# load average at end {os.getloadavg()[0]:.2f}")
        bare_rps = [r["rps"] for r in rows["bare"]]
        bare_p99 = [r["p99_us"] for r in rows["bare"]]
        for mode in receivers:
            name = f"receiver-{mode}"
            ratios = [r["rps"] / b for r, b in zip(rows[name], bare_rps, strict=True)]
            p99s = [r["p99_us"] / b for r, b in zip(rows[name], bare_p99, strict=True)]
            cpu = [b["cpu_us"] / r["cpu_us"] for r, b in zip(rows[name], rows["bare"], strict=True)]
            print(
                f"{name}/bare per round: throughput {' '.join(f'{x:.2f}' for x in ratios)}; "
                f"p99 {' '.join(f'{x:.2f}' for x in p99s)}; bare/{name} CPU per request "
                f"{' '.join(f'{x:.2f}' for x in cpu)}"
            )
            if mode == "baseline" and "intake" in receivers:
                base = [
                    i["cpu_us"] / r["cpu_us"]
                    for r, i in zip(rows[name], rows["receiver-intake"], strict=True)
                ]
                print(
                    f"receiver-baseline/receiver-intake CPU per request: {' '.join(f'{x:.2f}' for x in base)}"
                )
            if mode == "full" and "intake" in receivers:
                intake_p99 = [r["p99_us"] for r in rows["receiver-intake"]]
                full = [r["p99_us"] / i for r, i in zip(rows[name], intake_p99, strict=True)]
                print(f"receiver-full/receiver-intake p99 per round: {' '.join(f'{x:.2f}' for x in full)}")
        for mode, receiver in receivers.items():
            depth = receiver.metric("rollback_receiver_queue_depth")
            decided = receiver.metric("rollback_receiver_decisions_total")
            print(f"# receiver-{mode}: queue depth at end {depth:.0f}, decisions {decided:.0f}")
    finally:
        for receiver in receivers.values():
            receiver.stop()
        bare.terminate()
        bare.wait(10)
        plane.stop(keep_logs=False)
        if args.keep:
            print(f"# work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
