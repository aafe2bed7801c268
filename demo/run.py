"""`python -m demo` (`make demo`): the seed's incident replayed on a real local stack, with a timeline.

`--scenario crashloop` (`make demo SCENARIO=crashloop`) plays demo/crashloop.py instead: no alert rule,
the receiver's own rollout-health watch rolls a crash-looping release back.

A real control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes), Prometheus and
Alertmanager from Debian, the ecommerce exporter and `rollback-receiver serve`, all on 127.0.0.1. ecommerce
is deployed three times; v1.2.0 raises the error ratio from 0.1% to 3.2%; HighErrorRate fires; the
receiver rolls back to the v1.1.0 template; the ratio falls and the alert resolves. Exit 0 only when both
the rollback and the resolution happened. Everything started is stopped on exit, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from demo import incident
from demo.crashloop import CrashLoopDemo
from demo.exporter import ErrorRateExporter, deployment_image_reader
from demo.kubeapi import ApiAccess
from demo.stack import (
    DEPLOYMENT,
    REPORTS_DIR,
    RUN_DIR,
    SHOP,
    STATE_NAMESPACE,
    Timings,
    alertmanager_config,
    example_receiver,
    exporter_scrape_config,
    prometheus_rules,
    show_incident,
    start_control_plane,
)
from demo.timeline import Timeline
from harness.alertmanager import AlertmanagerCluster, get_alerts
from harness.http import HttpError
from harness.metrics import metric_value
from harness.processes import sigterm_as_interrupt
from harness.prometheus import Prometheus
from harness.waiting import GaveUpWaiting, eventually
from receiver.core.durations import parse_duration

ALERT = "HighErrorRate"
THRESHOLD = 0.02
BASELINE_CEILING = 0.0015  # the good releases' 0.1%, with any bad traffic aged out of the window
STEP_TIMEOUT = 180.0  # per wait; the whole story takes about two minutes after the stack is up
NODES = 3


class DemoFailed(Exception):
    pass


@contextlib.contextmanager
def uninterruptible() -> Iterator[None]:
    """While cleaning up, a second Ctrl-C must not leave processes behind."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def ratio_expression(rules: dict[str, Any], alert: str = ALERT) -> str:
    """The rule's expression without its threshold: the error ratio itself, to show and to wait on."""
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                return re.sub(r"\s*>\s*[0-9.]+\s*$", "", str(rule["expr"]).strip())
    raise DemoFailed(f"config/prometheus-rules.yml has no alert {alert}")


class Demo:
    def __init__(self, workdir: Path, timeline: Timeline, stack: ExitStack, timings: Timings) -> None:
        self.workdir = workdir
        self.timeline = timeline
        self.stack = stack
        self.timings = timings
        self.rollback_seen = False
        self.resolved_seen = False
        self.incident_seen = False
        self.incident_url = ""

    @property
    def succeeded(self) -> bool:
        return self.rollback_seen and self.resolved_seen and self.incident_seen

    def outcome(self, elapsed: float) -> str:
        return (
            f"Rolled back {DEPLOYMENT} to {incident.GOOD_RELEASE.image} and saw {ALERT} resolve, "
            f"{elapsed:.0f}s after the start (control plane included). The incident page: {self.incident_url}"
        )

    # ---- the stack --------------------------------------------------------------------------------------

    def start_stack(self) -> None:
        t = self.timeline
        t.note(f"work directory (configs, logs): {self.workdir}")
        self.plane = plane = start_control_plane(self.workdir, self.stack, t, nodes=NODES)

        incident.ensure_namespace(plane, SHOP)
        incident.ensure_namespace(plane, STATE_NAMESPACE)

        reader = deployment_image_reader(
            ApiAccess.from_kubeconfig(plane.kubeconfig), SHOP, DEPLOYMENT, incident.CONTAINER
        )
        self.exporter = ErrorRateExporter(reader).start()
        self.stack.callback(self.exporter.stop)

        self.receiver, receiver_config = example_receiver(
            self.workdir / "receiver", kubeconfig=plane.kubeconfig, timings=self.timings
        )
        self.stack.callback(self.receiver.stop)
        self.receiver.start()

        am_config = alertmanager_config(
            f"{self.receiver.url}/webhook", self.receiver.token_file, self.timings
        )
        self.alertmanager = AlertmanagerCluster(am_config.document, workdir=self._dir("alertmanager"))
        self.stack.callback(self.alertmanager.stop, remove=False)
        self.alertmanager.start()

        self.rules = prometheus_rules(self.timings)
        self.prometheus = Prometheus(
            self.rules.document,
            alertmanagers=[self.alertmanager.url],
            scrape_configs=[exporter_scrape_config(self.exporter.url)],
            scrape_interval=self.timings.scrape_interval,
            evaluation_interval=self.timings.scrape_interval,
            workdir=self._dir("prometheus"),
        )
        self.stack.callback(self.prometheus.stop, remove=False)
        self.prometheus.start()
        self.ratio_query = ratio_expression(self.rules.document)

        t.note("shortened timings (everything else as in config/):")
        for change in self.rules.changes:
            t.note(f"Prometheus rule {change}", 1)
        t.note(f"Prometheus scrape and evaluation interval: {self.timings.scrape_interval}", 1)
        for change in am_config.changes:
            if "group_" in change:
                t.note(f"Alertmanager {change}", 1)
        for change in receiver_config.changes:
            if "confirm_for" in change:
                t.note(f"receiver {change}", 1)
        t.note("adapted for loopback (config/example.yaml otherwise unchanged):")
        for change in receiver_config.changes:
            if "confirm_for" not in change:
                t.note(f"receiver {change}", 1)
        t.step(
            "Monitoring stack up on 127.0.0.1",
            "\n".join(
                [
                    f"exporter      {self.exporter.url}  (ecommerce's http_requests_total by status)",
                    f"receiver      {self.receiver.url}  (rollback-receiver serve)",
                    f"              log {self.receiver.process.log_path}",
                    f"alertmanager  {self.alertmanager.url}",
                    f"prometheus    {self.prometheus.url}",
                ]
            ),
        )

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- the story --------------------------------------------------------------------------------------

    def replay(self) -> None:
        t, plane = self.timeline, self.plane
        for number, release in enumerate(incident.SEED_RELEASES, start=1):
            if release is incident.BAD_RELEASE:
                baseline = self.wait("a full window of v1.1.0 traffic", self._baseline)
                t.step(
                    f"Baseline on {self.exporter.image}: error rate {baseline:.2%}",
                    f"Prometheus: {self.ratio_query}\n= {baseline:.4f}",
                )
            evidence = incident.deploy(plane, SHOP, release)
            t.step(f"Deploy {release.image} (revision {number})", evidence)
        t.step(
            "v1.2.0 is live",
            incident.pods(plane, SHOP) + "\n\n" + incident.rollout_history(plane, SHOP),
        )

        ratio = self.wait("the error ratio to rise above 2%", lambda: self._ratio(above=True))
        t.step(
            f"Error rate crosses {THRESHOLD:.0%}: {ratio:.1%} and rising",
            f"Prometheus: {self.ratio_query}\n= {ratio:.4f}\nexporter sees image {self.exporter.image}",
        )

        firing = self.wait(f"Prometheus to fire {ALERT}", self._prometheus_firing)
        t.step(
            f"Prometheus fires {ALERT} (error rate {float(firing['value']):.1%})",
            json.dumps(firing, indent=2),
        )

        routed = self.wait("Alertmanager to hold the alert", self._alertmanager_alert)
        t.step(
            "Alertmanager routes it to rollback-receiver",
            f"fingerprint {routed['fingerprint']}, receivers {[r['name'] for r in routed['receivers']]}, "
            f"state {routed['status']['state']}",
        )

        decision = self.wait("the receiver's rollback decision", self._rollback_decision)
        t.step("rollback-receiver decides: roll back", json.dumps(decision, indent=2))

        self.wait("the rollout to finish", self._rollback_finished)
        deployment = incident.read_deployment(plane, SHOP)
        events = incident.describe_events(incident.receiver_events(incident.workload_events(plane, SHOP)))
        audit = json.dumps(incident.audit_annotations(deployment), indent=2)
        image, revision = incident.current_image(deployment), incident.revision_of(deployment)
        t.step(
            f"Rolled back to {image} (revision {revision}); rollout complete",
            "\n\n".join(
                [
                    incident.rollout_status(plane, SHOP),
                    incident.rollout_history(plane, SHOP),
                    incident.pods(plane, SHOP),
                    f"$ kubectl get events  # rollback-receiver's, on deployment/{DEPLOYMENT}\n{events}",
                    f"annotations on deployment/{DEPLOYMENT}:\n{audit}",
                ]
            ),
        )
        self.rollback_seen = incident.current_image(deployment) == incident.GOOD_RELEASE.image

        ratio = self.wait("the error ratio to fall below 2%", lambda: self._ratio(above=False))
        t.step(f"Error rate falls to {ratio:.2%}", f"Prometheus: {self.ratio_query}\n= {ratio:.4f}")

        resolved = self.wait("the resolved alert to reach the receiver", self._resolved_decision)
        t.step(f"{ALERT} resolved; the receiver recorded it", json.dumps(resolved, indent=2))
        self.resolved_seen = True

        baseline = self.wait("the error rate back at its baseline", self._baseline)
        t.step(
            f"Error rate back to {baseline:.2%} on {self.exporter.image}",
            f"Prometheus: {self.ratio_query}\n= {baseline:.4f}",
        )

        t.step("rollback-receiver's metrics", self._metrics_summary())

        # The seed's "Document Incident", from the product itself: the record the receiver kept.
        listed = self.wait("the incident record to be complete", self._recovered_incident)
        try:
            self.incident_url = show_incident(t, self.receiver, self.plane.kubeconfig, listed, api=True)
        except RuntimeError as exc:
            raise DemoFailed(str(exc)) from None
        self.incident_seen = True

    def wait(self, what: str, probe: Any) -> Any:
        try:
            # A process still starting (or restarting) answers nothing or an error yet.
            return eventually(
                probe, what=what, timeout=STEP_TIMEOUT, interval=1.0, retry_on=(OSError, HttpError)
            )
        except GaveUpWaiting as exc:
            raise DemoFailed(f"{exc}; receiver log tail:\n{self.receiver.log_tail(30)}") from None

    # ---- probes -----------------------------------------------------------------------------------------

    def _ratio(self, *, above: bool) -> float | None:
        result = self.prometheus.query(self.ratio_query)
        if not result:
            return None
        value = result[0][1]
        return value if (value > THRESHOLD) == above and value == value else None  # NaN never counts

    def _baseline(self) -> float | None:
        """The ratio once a whole rule window holds only good traffic (0.1%), else None."""
        ratio = self._ratio(above=False)
        if ratio is None or ratio >= BASELINE_CEILING:
            return None
        window = parse_duration(self.timings.rule_window) / parse_duration(self.timings.scrape_interval)
        samples = self.prometheus.query(
            f'min(count_over_time(http_requests_total{{job="{DEPLOYMENT}"}}[{self.timings.rule_window}]))',
        )
        return ratio if samples and samples[0][1] >= window - 1 else None

    def _prometheus_firing(self) -> dict[str, Any] | None:
        for alert in self.prometheus.alerts():
            if alert["labels"].get("alertname") == ALERT and alert["state"] == "firing":
                found: dict[str, Any] = alert
                return found
        return None

    def _alertmanager_alert(self) -> dict[str, Any] | None:
        for alert in get_alerts(self.alertmanager.url):
            if alert["labels"].get("alertname") == ALERT:
                found: dict[str, Any] = alert
                return found
        return None

    def _rollback_decision(self) -> dict[str, Any] | None:
        for decision in self.receiver.decisions(alertname=ALERT):
            if decision["decision"] == "rollback":
                return decision
        skipped = [d for d in self.receiver.decisions(alertname=ALERT) if d["decision"] == "skip"]
        if skipped:
            raise DemoFailed(f"the receiver refused the rollback: {json.dumps(skipped[0], indent=2)}")
        return None

    def _rollback_finished(self) -> bool:
        metrics = self.receiver.metrics()
        if metric_value(metrics, "rollback_receiver_rollbacks_total", result="failed") > 0:
            raise DemoFailed("the receiver reports a failed rollback; see its log")
        return metric_value(metrics, "rollback_receiver_rollbacks_total", result="succeeded") >= 1

    def _resolved_decision(self) -> dict[str, Any] | None:
        if self.receiver.metric("rollback_receiver_alerts_received_total", status="resolved") < 1:
            return None
        for decision in self.receiver.decisions(alertname=ALERT):
            if decision["reason"] == "alert_resolved":
                return decision
        return None

    def incidents_cli(self, *args: str) -> str:
        try:
            return self.receiver.incidents(self.plane.kubeconfig, *args)
        except RuntimeError as exc:
            raise DemoFailed(str(exc)) from None

    def _recovered_incident(self) -> dict[str, Any] | None:
        listed = json.loads(self.incidents_cli("list", "-o", "json"))["incidents"]
        for entry in listed:
            if entry["alert"] == ALERT and entry["phase"] == "recovered":
                found: dict[str, Any] = entry
                return found
        return None

    def _metrics_summary(self) -> str:
        lines = []
        for line in self.receiver.metrics().splitlines():
            if not line.startswith("rollback_receiver_") or line.endswith(" 0.0"):
                continue
            if not any(part in line for part in ("_bucket", "_created")):
                lines.append(line)
        return "\n".join(lines)


SCENARIOS = ("high-error-rate", "crashloop")
TITLES = {
    "high-error-rate": "rollback-receiver demo: the seed's e-commerce incident, replayed",
    "crashloop": "rollback-receiver demo: v1.2.0 crash-loops, rolled back with no alert rule",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--workdir", type=Path, help="default: .run/demo-<timestamp>")
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default=SCENARIOS[0],
        help="high-error-rate (default): the seed's HighErrorRate incident through Prometheus and "
        "Alertmanager; crashloop: v1.2.0's pods crash-loop and the receiver's own watch rolls it back",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="after the story, keep everything up (the incident page stays reachable) until Ctrl-C",
    )
    args = parser.parse_args(argv)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = (args.workdir or RUN_DIR / f"demo-{stamp}").resolve()
    timeline = Timeline(TITLES[args.scenario])
    print(f"rollback-receiver demo ({args.scenario}) — {timeline.started:%Y-%m-%d %H:%M:%S}", flush=True)
    code, outcome = 1, "The demo did not finish."
    started = time.monotonic()
    with sigterm_as_interrupt():
        stack = ExitStack()
        try:
            demo: Demo | CrashLoopDemo
            if args.scenario == "crashloop":
                demo = CrashLoopDemo(workdir, timeline, stack, Timings())
            else:
                demo = Demo(workdir, timeline, stack, Timings())
            try:
                demo.start_stack()
                demo.replay()
            except KeyboardInterrupt:
                timeline.step("Interrupted: stopping everything")
                code, outcome = 130, "Interrupted before the end."
            except Exception as exc:  # any failure ends the story with its reason and the logs' location
                timeline.step(f"FAILED: {type(exc).__name__}", f"{exc}\nlogs: {workdir}")
                outcome = f"FAILED: {exc}"
            else:
                if demo.succeeded:
                    code = 0
                    outcome = demo.outcome(time.monotonic() - started)
                    if args.keep_running:
                        print(f"\n{outcome}\nkeeping everything up; Ctrl-C stops it.", flush=True)
                        with contextlib.suppress(KeyboardInterrupt):
                            while True:
                                time.sleep(3600)
                    else:
                        outcome += " (--keep-running keeps it all up after the story)"
        finally:
            with uninterruptible():
                report = timeline.write(REPORTS_DIR / f"demo-{stamp}.md", outcome)
                print(f"\n{outcome}\nreport: {report}\nstopping everything the demo started ...", flush=True)
                stack.close()
                print("stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
