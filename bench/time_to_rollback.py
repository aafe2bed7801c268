"""Time to rollback against the seed's matrix (Critical < 30 s, High < 1 min, Medium < 5 min, Low < 30 min).

Not a test. On real parts, all on 127.0.0.1: the control plane with kwok, Debian's Prometheus scraping
one ErrorRateExporter (demo/exporter.py) per severity row, Debian's Alertmanager running
config/alertmanager.yml, and `rollback-receiver serve` running config/example.yaml. Per row a namespace
holds ecommerce at v1.1.0; each run ships v1.2.0, whose error ratio the exporter raises the moment the
Deployment's template changes (to 100% for critical, an outage; to the seed's 3.2% otherwise), and times
the chain until the receiver has rolled it back and the rollout is complete:

  failure true     the exporter's first tick serving v1.2.0 (wall clock, this process)
  pending          first ALERTS{alertstate="pending"} sample (a Prometheus evaluation timestamp)
  firing           first ALERTS{alertstate="firing"} sample
  webhook          Alertmanager's notification, received by a loopback sink that is a second
                   webhook_config of the same receiver (Alertmanager posts to both at once)
  decision         `decided_at` of the receiver's decision (GET /api/v1/decisions)
  patch accepted   `patched_at` of the receiver's claim in its guard-state ConfigMap (taken when the API
                   server answered the undo patch)
  rollout complete the Deployment at v1.1.0 with every replica updated and available (polled every 0.1 s)

Our own share is webhook -> patch accepted (for medium, minus the route's confirmation delay; for low,
which only notifies, webhook -> decision).

Critical and high run with the recommended values (the `interval:` and `for:` of their groups in
config/rules/health.yml and their routes' group_wait/group_interval in config/alertmanager.yml); medium and
low are shortened so 20 runs fit in minutes, not hours (`--shorten none` runs them as recommended). The
script prints every value it used.

    uv run python bench/time_to_rollback.py --runs 20
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from prometheus_client import Gauge

from demo import incident
from demo.exporter import GOOD_ERROR_RATIO, ErrorRateExporter, deployment_image_reader
from demo.kubeapi import ApiAccess
from demo.stack import CONFIG_DIR, DEPLOYMENT, Timings, alertmanager_config, receiver_config
from harness.alertmanager import AlertmanagerCluster
from harness.controlplane import ControlPlane
from harness.http import HttpError, request_json
from harness.processes import sigterm_as_interrupt
from harness.prometheus import Prometheus
from harness.receiver import ReceiverProcess
from harness.waiting import eventually
from harness.webhook_sink import WebhookSink
from receiver.config import parse_duration

ALERT = "HighErrorRate"  # the seed's rule (config/prometheus-rules.yml); run N fires HighErrorRateRunNN
THRESHOLD = 0.02  # the seed's rule: 5xx ratio above 2%
STATE_NAMESPACE = "rollback-receiver"
STATE_CONFIGMAP = "rollback-receiver-state"
STEP_TIMEOUT = 600.0  # bounds a hang; no result depends on it
TARGETS = {"critical": 30.0, "high": 60.0, "medium": 300.0, "low": 1800.0}  # the seed's matrix, seconds
BAD_RATIO = {"critical": 1.0, "high": 0.032, "medium": 0.032, "low": 0.032}
SHORT = {"interval": "5s", "for": "10s", "group_wait": "1s", "group_interval": "5s", "confirm_for": "20s"}


@dataclass(frozen=True)
class Row:
    """One row of the matrix and the values it is measured with."""

    severity: str
    namespace: str
    bad_ratio: float
    scrape_interval: str  # of the exporter; the rule group's interval is the same
    window: str  # rate() window of the rule: four scrapes
    rule_for: str
    group_wait: str
    group_interval: str
    confirm_for: str | None  # the receiver's confirmation delay (medium's route)
    action: str  # what config/example.yaml's route does: rollback or notify
    shortened: bool

    @property
    def target(self) -> float:
        return TARGETS[self.severity]


def recommended_rows() -> dict[str, Row]:
    """The recommended values, read from where they are shipped."""
    pack = yaml.safe_load((CONFIG_DIR / "rules" / "health.yml").read_text(encoding="utf-8"))
    rule_timing = {}
    for group in pack["groups"]:
        first = group["rules"][0]
        rule_timing.setdefault(first["labels"]["severity"], (group["interval"], first["for"]))
    am = yaml.safe_load((CONFIG_DIR / "alertmanager.yml").read_text(encoding="utf-8"))
    (rollback_route,) = [r for r in am["route"]["routes"] if r["receiver"] == "rollback-receiver"]
    group_timers = {}
    for child in rollback_route["routes"]:
        (severity,) = re.findall(r'severity="(\w+)"', child["matchers"][0])
        group_timers[severity] = (child["group_wait"], child["group_interval"])
    rows = {}
    for severity in TARGETS:
        interval, rule_for = rule_timing[severity]
        group_wait, group_interval = group_timers[severity]
        rows[severity] = Row(
            severity=severity,
            namespace=f"bench-{severity}",
            bad_ratio=BAD_RATIO[severity],
            scrape_interval=interval,
            window=f"{4 * int(parse_duration(interval).total_seconds())}s",
            rule_for=rule_for,
            group_wait=group_wait,
            group_interval=group_interval,
            confirm_for="2m" if severity == "medium" else None,
            action="notify" if severity == "low" else "rollback",
            shortened=False,
        )
    return rows


def shortened(row: Row) -> Row:
    return replace(
        row,
        scrape_interval=SHORT["interval"],
        window=f"{4 * int(parse_duration(SHORT['interval']).total_seconds())}s",
        rule_for=SHORT["for"],
        group_wait=SHORT["group_wait"],
        group_interval=SHORT["group_interval"],
        confirm_for=SHORT["confirm_for"] if row.confirm_for else None,
        shortened=True,
    )


def seconds(duration: str | None) -> float:
    return parse_duration(duration).total_seconds() if duration else 0.0


def worst_case(row: Row) -> float:
    """An upper bound from the values alone: a scrape and an evaluation of phase, the rate window
    filling up to the threshold (plus a scrape of rounding), for:, then group_wait or, on a route that
    confirms, the confirmation delay (counted from the alert's start, the firing time, so it absorbs
    group_wait) plus the receiver's 5 s confirmation timer. Our own share and the rollout are left out."""
    crossing = seconds(row.window) * (THRESHOLD - GOOD_ERROR_RATIO) / (row.bad_ratio - GOOD_ERROR_RATIO)
    bound = 3 * seconds(row.scrape_interval) + crossing + seconds(row.rule_for)
    if row.confirm_for:
        return bound + max(seconds(row.group_wait), seconds(row.confirm_for)) + 5
    return bound + seconds(row.group_wait)


# ---- the stack ---------------------------------------------------------------------------------------------


class ImageWatch:
    """Wraps the exporter's image reader: remembers when (wall clock) the served image changed."""

    def __init__(self, read: Callable[[], str | None]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self.changes: list[tuple[float, str | None]] = []

    def __call__(self) -> str | None:
        image = self._read()
        with self._lock:
            if not self.changes or self.changes[-1][1] != image:
                self.changes.append((time.time(), image))
        return image

    def first_served(self, image: str, after: float) -> float | None:
        with self._lock:
            return next((t for t, seen in self.changes if seen == image and t >= after), None)


@dataclass
class Stack:
    plane: ControlPlane
    api: ApiAccess
    receiver: ReceiverProcess
    alertmanager: AlertmanagerCluster
    prometheus: Prometheus
    sink: WebhookSink
    watches: dict[str, ImageWatch]
    arms: dict[str, Gauge]


def alert_name(run: int) -> str:
    return f"{ALERT}Run{run:02d}"


def prometheus_rules(rows: list[Row], runs: int) -> dict[str, Any]:
    """config/prometheus-rules.yml's HighErrorRate, one group per row (its namespace, window, for: and
    severity; the group's interval is the row's), once per run under its own name and armed only during
    that run (`bench_run_armed{run="NN"} == 1`, set before the failure). Each run is then a first
    incident: a new alert for Prometheus and a new group for Alertmanager. With one name for all runs,
    a run would join the group of the run before: Prometheus re-sends a resolved alert for 15 minutes,
    which keeps that group open, and a new alert in an open group waits for its next group_interval
    tick instead of group_wait."""
    seed = yaml.safe_load((CONFIG_DIR / "prometheus-rules.yml").read_text(encoding="utf-8"))
    template = next(r for g in seed["groups"] for r in g["rules"] if r["alert"] == ALERT)
    groups = []
    for row in rows:
        expr = re.sub(r"\[\d+[smh]\]", f"[{row.window}]", template["expr"].strip())
        expr = expr.replace('namespace="shop"', f'namespace="{row.namespace}"')
        rules = []
        for run in range(1, runs + 1):
            rule = copy.deepcopy(template)
            rule["alert"] = alert_name(run)
            rule["expr"] = f'({expr})\nand on (namespace) (bench_run_armed{{run="{run:02d}"}} == 1)'
            rule["for"] = row.rule_for
            rule["labels"] = {**rule["labels"], "severity": row.severity, "deployment": DEPLOYMENT}
            rules.append(rule)
        groups.append({"name": f"bench-{row.severity}", "interval": row.scrape_interval, "rules": rules})
    return {"groups": groups}


def alertmanager_document(rows: list[Row], urls: list[str], token_file: Path) -> dict[str, Any]:
    """config/alertmanager.yml pointed at the receiver and the sink, with each row's group timers."""
    document = alertmanager_config(urls, token_file, Timings()).document
    (rollback_route,) = [r for r in document["route"]["routes"] if r["receiver"] == "rollback-receiver"]
    by_severity = {row.severity: row for row in rows}
    for child in rollback_route["routes"]:
        (severity,) = re.findall(r'severity="(\w+)"', child["matchers"][0])
        if severity in by_severity:
            child["group_wait"] = by_severity[severity].group_wait
            child["group_interval"] = by_severity[severity].group_interval
    return document


def receiver_document(rows: list[Row], port: int, token_file: Path) -> dict[str, Any]:
    """config/example.yaml for loopback, with the rows' namespaces allowed, medium's confirmation delay,
    and guards that let 20 rollbacks of the same Deployment happen within an hour (cooldown 1s, large
    budgets): they decide whether to act, not how fast."""
    confirm = next((row.confirm_for for row in rows if row.confirm_for), SHORT["confirm_for"])
    document = receiver_config(
        port=port,
        token_file=token_file,
        timings=Timings(confirm_for=confirm),
        allow=[row.namespace for row in rows],
        state_namespace=STATE_NAMESPACE,
    ).document
    document.setdefault("defaults", {})["cooldown"] = "1s"
    document["limits"] = {
        **document.get("limits", {}),
        "per_namespace": {"max": 1000, "per": "1h"},
        "global": {"max": 1000, "per": "1h"},
        "max_concurrent": 4,
    }
    return document


def start_stack(rows: list[Row], runs: int, workdir: Path, stack: ExitStack) -> Stack:
    plane = ControlPlane(workdir / "cluster")
    stack.callback(plane.stop, keep_logs=True)
    plane.start()
    api = ApiAccess.from_kubeconfig(plane.kubeconfig)
    incident.ensure_namespace(plane, STATE_NAMESPACE)
    watches, arms = {}, {}
    scrape_configs = []
    for row in rows:
        incident.ensure_namespace(plane, row.namespace)
        for release in incident.SEED_RELEASES[:2]:  # v1.0.0 and v1.1.0, rolled out
            incident.deploy(plane, row.namespace, release)
        watch = ImageWatch(deployment_image_reader(api, row.namespace, DEPLOYMENT, incident.CONTAINER))
        exporter = ErrorRateExporter(watch, interval=0.25, bad_error_ratio=row.bad_ratio).start()
        stack.callback(exporter.stop)
        watches[row.severity] = watch
        arms[row.severity] = Gauge(
            "bench_run_armed", "1 while this run's alert rule may fire.", ["run"], registry=exporter.registry
        )
        host_port = exporter.url.split("://", 1)[1].split("/", 1)[0]
        scrape_configs.append(
            {
                "job_name": f"ecommerce-{row.severity}",
                "scrape_interval": row.scrape_interval,
                "static_configs": [
                    {"targets": [host_port], "labels": {"job": DEPLOYMENT, "namespace": row.namespace}}
                ],
            }
        )
    sink = WebhookSink().start()
    stack.callback(sink.stop)
    receiver = ReceiverProcess(workdir / "receiver", kubeconfig=plane.kubeconfig)
    receiver.configure(receiver_document(rows, receiver.port, receiver.token_file))
    stack.callback(receiver.stop)
    receiver.start()
    am_dir = workdir / "alertmanager"
    am_dir.mkdir(parents=True, exist_ok=True)
    alertmanager = AlertmanagerCluster(
        alertmanager_document(rows, [f"{receiver.url}/webhook", sink.url("/webhook")], receiver.token_file),
        workdir=am_dir,
    )
    stack.callback(alertmanager.stop, remove=False)
    alertmanager.start()
    prom_dir = workdir / "prometheus"
    prom_dir.mkdir(parents=True, exist_ok=True)
    prometheus = Prometheus(
        prometheus_rules(rows, runs),
        alertmanagers=[alertmanager.url],
        scrape_configs=scrape_configs,
        scrape_interval="5s",
        evaluation_interval="5s",
        workdir=prom_dir,
    )
    stack.callback(prometheus.stop, remove=False)
    prometheus.start()
    return Stack(plane, api, receiver, alertmanager, prometheus, sink, watches, arms)


# ---- one run -----------------------------------------------------------------------------------------------


@dataclass
class Run:
    severity: str
    failure: float
    pending: float
    firing: float
    webhook: float
    decision: float
    patch: float | None
    complete: float | None
    confirm_wait: float  # medium: the receiver's confirmation delay (rollback decision - wait decision)
    load1: float

    def segments(self) -> dict[str, float]:
        out = {
            "failure -> pending": self.pending - self.failure,
            "pending -> firing": self.firing - self.pending,
            "firing -> webhook": self.webhook - self.firing,
            "webhook -> decision": self.decision - self.webhook - self.confirm_wait,
        }
        if self.patch is not None:
            out["decision -> patch"] = self.patch - self.decision
            out["ours: webhook -> patch"] = self.patch - self.webhook - self.confirm_wait
            out["failure -> patch"] = self.patch - self.failure
        else:
            out["ours: webhook -> decision"] = self.decision - self.webhook
            out["failure -> decision"] = self.decision - self.failure
        if self.complete is not None and self.patch is not None:
            out["patch -> rollout complete"] = self.complete - self.patch
            out["failure -> rollout complete"] = self.complete - self.failure
        if self.confirm_wait:
            out["confirmation delay"] = self.confirm_wait
        return out


def wait(probe: Callable[[], Any], what: str, interval: float = 0.1) -> Any:
    return eventually(
        probe, what=what, timeout=STEP_TIMEOUT, interval=interval, retry_on=(OSError, HttpError)
    )


def deployment(stack: Stack, row: Row) -> dict[str, Any]:
    return stack.api.get_json(f"/apis/apps/v1/namespaces/{row.namespace}/deployments/{DEPLOYMENT}")


def rolled_out(stack: Stack, row: Row, image: str) -> bool:
    d = deployment(stack, row)
    status, want = d.get("status", {}), d["spec"]["replicas"]
    return (
        incident.current_image(d) == image
        and status.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and status.get("updatedReplicas") == status.get("replicas") == status.get("availableReplicas") == want
    )


def alert_samples(stack: Stack, row: Row, run: int, state: str, since: float) -> list[float]:
    """Evaluation timestamps of the run's ALERTS{alertstate=state} samples since `since`."""
    lookback = int(time.time() - since) + 10
    selector = f'alertname="{alert_name(run)}", namespace="{row.namespace}", alertstate="{state}"'
    query = urlencode({"query": f"ALERTS{{{selector}}}[{lookback}s]"})
    body = request_json("GET", f"{stack.prometheus.url}/api/v1/query?{query}")
    return sorted(
        float(t) for series in body["data"]["result"] for t, _ in series["values"] if float(t) >= since
    )


def notifications(stack: Stack, row: Row, run: int, status: str) -> list[float]:
    """Wall-clock receipts of the sink's notifications carrying the run's alert as `status`."""
    found = []
    for request in stack.sink.requests:
        alerts = request.json().get("alerts") or []
        if any(
            a["labels"].get("alertname") == alert_name(run)
            and a["labels"].get("namespace") == row.namespace
            and a["status"] == status
            for a in alerts
        ):
            found.append(request.received_wall)
    return sorted(found)


def decisions(stack: Stack, row: Row, run: int) -> list[dict[str, Any]]:
    target = f"deployment/{DEPLOYMENT} -n {row.namespace}"
    return [d for d in stack.receiver.decisions(alertname=alert_name(run)) if d["target"] == target]


def claim(stack: Stack, alert_key: str) -> dict[str, Any] | None:
    configmap = stack.api.get_json(f"/api/v1/namespaces/{STATE_NAMESPACE}/configmaps/{STATE_CONFIGMAP}")
    document = json.loads(configmap["data"]["state.json"])
    return next((c for c in document["claims"] if c["alert_key"] == alert_key and c.get("patched_at")), None)


def apply_release(stack: Stack, row: Row, release: incident.Release) -> None:
    manifest = incident.deployment_manifest(row.namespace, release)
    stack.plane.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def settle(stack: Stack, row: Row, run: int) -> None:
    """Untimed: the run starts from a quiet row (good release rolled out, no active alert, a rate window
    of good traffic only, this run's rule armed and seen armed by Prometheus), at a random phase of the
    scrape and evaluation cycle."""
    good = incident.GOOD_RELEASE.image
    wait(lambda: rolled_out(stack, row, good), f"{row.severity}: v1.1.0 rolled out", interval=0.5)
    selector = f'namespace="{row.namespace}"'
    ratio = (
        f'sum(rate(http_requests_total{{{selector},status=~"5.."}}[{row.window}]))'
        f" / sum(rate(http_requests_total{{{selector}}}[{row.window}]))"
    )
    wait(
        lambda: (result := stack.prometheus.query(ratio)) and result[0][1] < GOOD_ERROR_RATIO * 1.1,
        f"{row.severity}: baseline error ratio",
        interval=1.0,
    )
    active = f"ALERTS{{{selector}}}"
    wait(lambda: stack.prometheus.query(active) == [], f"{row.severity}: no active alert", interval=1.0)
    # Armed only now: armed while the last run's errors were still in the window, it would fire early.
    stack.arms[row.severity].labels(run=f"{run:02d}").set(1)
    armed = f'bench_run_armed{{{selector}, run="{run:02d}"}} == 1'
    wait(lambda: stack.prometheus.query(armed), f"{row.severity}: run {run} armed", interval=0.5)
    time.sleep(random.uniform(0, seconds(row.scrape_interval)))


def one_run(stack: Stack, row: Row, run: int) -> Run:
    """Ship v1.2.0, wait for the rollback (or the notification), then read every timestamp."""
    bad, good = incident.BAD_RELEASE.image, incident.GOOD_RELEASE.image
    shipped = time.time()
    apply_release(stack, row, incident.BAD_RELEASE)
    failure = wait(lambda: stack.watches[row.severity].first_served(bad, shipped), "the bad release served")
    final = "notify" if row.action == "notify" else "rollback"
    verdict = wait(
        lambda: next((d for d in decisions(stack, row, run) if d["decision"] == final), None),
        f"{row.severity}: the receiver's {final} decision",
        interval=0.2,
    )
    decided = datetime.fromisoformat(verdict["decided_at"]).timestamp()
    patch = complete = None
    if final == "rollback":
        complete = wait(
            lambda: rolled_out(stack, row, good) and time.time(), f"{row.severity}: rollout complete"
        )
        patched = wait(lambda: claim(stack, verdict["alert"]), f"{row.severity}: the claim's patched_at")
        patch = datetime.fromisoformat(patched["patched_at"]).timestamp()
    else:  # low only notifies: whoever investigates ships the fix (untimed)
        apply_release(stack, row, incident.GOOD_RELEASE)
    waited = [d for d in decisions(stack, row, run) if d["decision"] == "wait"]
    confirm_wait = decided - datetime.fromisoformat(waited[0]["decided_at"]).timestamp() if waited else 0.0
    (pending, *_) = wait(lambda: alert_samples(stack, row, run, "pending", shipped), "the pending sample")
    (firing, *_) = wait(lambda: alert_samples(stack, row, run, "firing", shipped), "the firing sample")
    (webhook, *_) = wait(lambda: notifications(stack, row, run, "firing"), "the notification")
    stack.arms[row.severity].clear()  # the run's alert resolves; the next run has its own
    # A run that did not start quiet has its steps out of order: never report it. 50 ms of slack for the
    # sink, which shares this process with the pollers and can record a notification a few ms after the
    # receiver, which got it at the same time, has decided.
    if not (failure < pending <= firing <= webhook + 0.05 and webhook <= decided + 0.05):
        raise RuntimeError(
            f"{row.severity} run {run}: steps out of order: failure {failure:.3f} pending {pending:.3f} "
            f"firing {firing:.3f} webhook {webhook:.3f} decision {decided:.3f}"
        )
    return Run(
        row.severity,
        failure,
        pending,
        firing,
        webhook,
        decided,
        patch,
        complete,
        confirm_wait,
        os.getloadavg()[0],
    )


def measure_row(stack: Stack, row: Row, runs: int, results: list[Run], log: Path) -> None:
    for number in range(1, runs + 1):
        settle(stack, row, number)
        run = one_run(stack, row, number)
        results.append(run)
        line = {"run": number, **asdict(run), "segments": run.segments()}
        with log.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        total = run.segments().get("failure -> patch") or run.segments()["failure -> decision"]
        print(f"[{row.severity} {number}/{runs}] failure -> {row.action}: {total:.1f}s", flush=True)


# ---- report ---------------------------------------------------------------------------------------------


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18] if len(ordered) > 1 else ordered[0]
    return statistics.median(ordered), p95


def report(rows: list[Row], results: dict[str, list[Run]]) -> str:
    loads = [r.load1 for runs in results.values() for r in runs] or [os.getloadavg()[0]]
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average (1 min) at the end of each run: "
        f"{min(loads):.1f}-{max(loads):.1f}, median {statistics.median(loads):.1f}",
        "",
        "values used per row (scrape = rule group interval; window = rate() window; bound = worst case from "
        "the values alone, without our share and the rollout):",
        "",
        "| row | target | measured with | bad ratio | scrape/eval | window | for | group_wait "
        "| group_interval | confirm_for | bound |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.severity} | < {row.target:.0f} s | {'shortened' if row.shortened else 'recommended'} | "
            f"{row.bad_ratio:.1%} | {row.scrape_interval} | {row.window} | {row.rule_for} | "
            f"{row.group_wait} | {row.group_interval} | {row.confirm_for or '-'} | {worst_case(row):.0f} s |"
        )
    for row in rows:
        runs = results[row.severity]
        if not runs:
            continue
        lines += [
            "",
            f"{row.severity} ({len(runs)} runs), seconds:",
            "",
            "| segment | p50 | p95 | max |",
            "|---|---|---|---|",
        ]
        names = list(runs[0].segments())
        for name in names:
            values = [r.segments()[name] for r in runs]
            p50, p95 = percentiles(values)
            lines.append(f"| {name} | {p50:.2f} | {p95:.2f} | {max(values):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rows", default="critical,high,medium,low")
    parser.add_argument("--shorten", default="medium,low", help="rows run with short values ('none': none)")
    parser.add_argument(
        "--sequential", action="store_true", help="one row after the other (default: all at once)"
    )
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory, kept for its logs")
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        metavar="RUNS_JSONL",
        help="measure nothing: report earlier runs (their runs.jsonl files; same --rows/--shorten)",
    )
    args = parser.parse_args(argv)
    chosen = [s for s in args.rows.split(",") if s]
    short = set() if args.shorten == "none" else set(args.shorten.split(","))
    plan = recommended_rows()
    rows = [shortened(plan[s]) if s in short else plan[s] for s in chosen]
    if args.report:
        recorded: dict[str, list[Run]] = {row.severity: [] for row in rows}
        for path in args.report:
            for line in path.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                fields = {k: v for k, v in entry.items() if k in Run.__dataclass_fields__}
                if fields["severity"] in recorded:
                    recorded[fields["severity"]].append(Run(**fields))
        print(report(rows, recorded))
        return 0
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-ttr-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "runs.jsonl"
    print(f"work directory (logs, runs.jsonl): {workdir}", flush=True)
    results: dict[str, list[Run]] = {row.severity: [] for row in rows}
    started = time.time()
    errors: list[BaseException] = []
    with sigterm_as_interrupt(), ExitStack() as stack:
        bench = start_stack(rows, args.runs, workdir, stack)
        print(f"stack up in {time.time() - started:.0f}s; measuring {args.runs} runs per row", flush=True)

        def worker(row: Row) -> None:
            try:
                measure_row(bench, row, args.runs, results[row.severity], log)
            except BaseException as exc:  # reported after the other rows finish
                errors.append(exc)

        for group in [[row] for row in rows] if args.sequential else [rows]:
            # Daemons: on Ctrl-C the main thread stops the stack and the workers die with the process.
            threads = [
                threading.Thread(target=worker, args=(row,), name=row.severity, daemon=True) for row in group
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        if errors:
            print(f"receiver log tail:\n{bench.receiver.log_tail(40)}", file=sys.stderr)
    text = report(rows, results) + f"\n\n{(time.time() - started) / 60:.0f} min in all"
    (workdir / "report.md").write_text(text + "\n", encoding="utf-8")
    print("\n" + text)
    if errors:  # the finished runs are reported above; the failed row's error ends the script
        raise errors[0]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
