"""Every metric of the service, on an injected registry (tests get a fresh one; no global state).

Names carry the `rollback_receiver_` prefix, base units and `_total` for counters; labels are low
cardinality (no fingerprints, no workload names).
"""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

PREFIX = "rollback_receiver"
M = TypeVar("M", Counter, Gauge, Histogram)


def _version() -> str:
    try:
        return version("rollback-receiver")
    except PackageNotFoundError:
        return "unknown"


VERSION = _version()
# The image build passes the commit (Dockerfile ARG REVISION); elsewhere it is not known.
REVISION = os.environ.get("ROLLBACK_RECEIVER_REVISION", "unknown")

# Rollbacks include following the rollout to completion, so the buckets reach well past a minute.
_ROLLBACK_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)
# Alert start to patch spans Prometheus' `for:`, Alertmanager's group_wait and confirmation delays.
_ALERT_TO_PATCH_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
_RECEIPT_TO_PATCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0)
_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._children: dict[tuple[int, tuple[str, ...]], object] = {}
        # What every Prometheus exporter has: process_* (CPU, memory, file descriptors), python_* (GC,
        # interpreter) and a build_info to tell versions apart across replicas.
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        build = Gauge(
            f"{PREFIX}_build_info",
            "Always 1; the version, the source revision and the Python version of this build.",
            ("version", "revision", "python_version"),
            registry=registry,
        )
        build.labels(version=VERSION, revision=REVISION, python_version=platform.python_version()).set(1)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", doc, labels, registry=registry)

        def histogram(
            name: str, doc: str, buckets: tuple[float, ...], labels: tuple[str, ...] = ()
        ) -> Histogram:
            return Histogram(f"{PREFIX}_{name}", doc, labels, registry=registry, buckets=buckets)

        # intake
        self.alerts_received = counter(
            "alerts_received_total", "Alerts received, by alert status.", ("status",)
        )
        self.webhook_requests = counter(
            "webhook_requests_total", "Webhook requests answered, by HTTP code.", ("code",)
        )
        self.webhook_duration = histogram(
            "webhook_request_duration_seconds", "Time to answer a webhook request.", _FAST_BUCKETS
        )
        self.alerts_deduplicated = counter(
            "alerts_deduplicated_total", "Alerts dropped as repeats of one already queued (same episode)."
        )
        self.http_connections = gauge("http_connections", "HTTP connections open (TLS handshakes included).")
        self.http_connections_limit = gauge("http_connections_limit", "Cap on open HTTP connections.")
        self.http_connections_closed = counter(
            "http_connections_closed_total",
            "Connections the edge closed itself, by reason (evicted, refused, head_timeout, http_431, ...).",
            ("reason",),
        )
        self.queue_depth = gauge("queue_depth", "Work items waiting for a worker.")
        self.queue_capacity = gauge("queue_capacity", "Size of the work queue.")
        # decisions and actions
        self.decisions = counter(
            "decisions_total", "Decisions made, by verdict and reason.", ("decision", "reason")
        )
        self.pending_refused = counter(
            "pending_refused_total", "Confirmations not kept because the pending list was at its bound."
        )
        self.decision_duration = histogram(
            "decision_duration_seconds", "Time from dequeue to decision for one work item.", _FAST_BUCKETS
        )
        self.rollbacks = counter("rollbacks_total", "Rollbacks performed, by result.", ("result",))
        self.rollback_duration = histogram(
            "rollback_duration_seconds",
            "Time from the undo patch to the end of the rollout.",
            _ROLLBACK_BUCKETS,
        )
        self.alert_to_patch = histogram(
            "alert_to_patch_seconds",
            "Time from the alert's start (startsAt) to the accepted undo patch, by route.",
            _ALERT_TO_PATCH_BUCKETS,
            ("route",),
        )
        self.receipt_to_patch = histogram(
            "receipt_to_patch_seconds",
            "Time from the alert's first delivery to us to the accepted undo patch, by route.",
            _RECEIPT_TO_PATCH_BUCKETS,
            ("route",),
        )
        self.verifications = counter(
            "verifications_total",
            "Rollbacks by what they did for their alert: recovered, did_not_help, rollout_failed, unknown.",
            ("result",),
        )
        self.notifications = counter(
            "notifications_total",
            "Notifications by channel and result: sent, failed (after every attempt), dropped (queue full).",
            ("channel", "result"),
        )
        self.budget_remaining = gauge(
            "budget_remaining", "Rollbacks left in the current window, by scope.", ("scope",)
        )
        self.circuit_breaker_open = gauge("circuit_breaker_open", "1 while the circuit breaker is open.")
        self.inflight_rollbacks = gauge("inflight_rollbacks", "Rollbacks started and not yet finished.")
        self.kube_api_errors = counter("kube_api_errors_total", "Kubernetes API errors, by kind.", ("kind",))
        self.events_held_back = counter(
            "events_held_back_total",
            "Kubernetes Events not written by the spam filter (per workload 25 at once, then one every 5 "
            "minutes; never those of a rollback or its outcome), by Event reason.",
            ("reason",),
        )
        # config and recovery
        self.config_last_reload_successful = gauge(
            "config_last_reload_successful", "1 if the last config (re)load succeeded."
        )
        self.config_last_reload_success_timestamp = gauge(
            "config_last_reload_success_timestamp_seconds", "Time of the last successful config (re)load."
        )
        self.config_warnings = gauge(
            "config_warnings",
            "Warnings about the active config (check-config lists them), e.g. no allow list.",
        )
        self.reconcile_runs = counter(
            "reconcile_runs_total", "Reconciliations against Alertmanager's API, by result.", ("result",)
        )
        self.alerts_recovered = counter(
            "alerts_recovered_total", "Alerts found by reconciliation that the webhook had not delivered."
        )
        # the rollout-health source and its watch
        self.rollout_findings = counter(
            "rollout_health_findings_total",
            "Failing rollouts found by the rollout-health source, by synthetic alert name.",
            ("alertname",),
        )
        self.watch_synced = gauge("watch_synced", "1 once the rollout-health watch has listed everything.")
        self.watch_objects = gauge(
            "watch_objects", "Objects the rollout-health watch holds, by collection.", ("collection",)
        )
        self.watch_requests = counter(
            "watch_requests_total",
            "Requests of the rollout-health watch to the API server, by collection and verb (list pages, "
            "watches), and relists after an expired or broken watch.",
            ("collection", "verb"),
        )
        self.watch_cache_reads = counter(
            "watch_cache_reads_total",
            "Decision reads served by the watch (hit) or sent to the API server (miss).",
            ("result",),
        )

        # Series that dashboards and alerts read should exist at 0 before the first event.
        for status in ("firing", "resolved"):
            self.alerts_received.labels(status=status)
        for result in ("recovered", "did_not_help", "rollout_failed", "unknown"):
            self.verifications.labels(result=result)
        self.circuit_breaker_open.set(0)
        self.inflight_rollbacks.set(0)

    def labelled(self, metric: M, *values: str) -> M:
        """`metric.labels(*values)`, looked up once per label set: prometheus_client validates and locks
        on every `labels()` call, and the intake and the decision log count per alert. Label sets are
        low cardinality (see the module doc), so this stays small."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child  # type: ignore[return-value]  # stored under its metric's id

    def config_loaded(self, *, ok: bool, at: float, warnings: int = 0) -> None:
        self.config_last_reload_successful.set(1 if ok else 0)
        if ok:
            self.config_last_reload_success_timestamp.set(at)
            self.config_warnings.set(warnings)
