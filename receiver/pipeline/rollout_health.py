"""The native rollout-health source: failing Deployments become work items for the same pipeline.

`k8s.WorkloadWatch` watches the allowed namespaces (no polling: a LIST at start, then long-lived watches)
and tells this source which Deployment changed. The source builds the Deployment's `RolloutView`, asks
`core.rollout_health.evaluate` whether its live revision is failing, and for a new finding makes the
synthetic alert (`RolloutProgressDeadlineExceeded`, `RolloutCrashLooping`, `RolloutNotReady`), routes it
with the config's routes and offers one `WorkItem` per route to the work queue (`source=watch`, the
route's priority), exactly like the intake does with a webhook's alerts. From there every guard, the
ledger and the exactly-once rule apply unchanged; the episode key is the same on every replica.

A revision's first finding is its episode; while it keeps failing nothing more is offered, except again
after `RETRY` when no final decision was recorded for it (the queue was full, an API error, a
confirmation delay running, another replica holding the claim). The episode ends when its revision is no
longer live or its rollout completes (`core.rollout_health.still_failing`), not when a crash-looping
container happens to be running between two crashes. No resolved alert is sent: right before acting the
pipeline asks `still_failing` instead of Alertmanager (`stages/health_gate.py`), and a pending confirmation
whose rollout recovered is dropped then.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from receiver.core import rollout_health
from receiver.core.alerts import Alert
from receiver.core.decisions import Decision, Reason, Source, Verdict
from receiver.core.durations import format_duration
from receiver.core.routing import select_routes
from receiver.core.settings import Action, Config, Route
from receiver.core.timefmt import utc_now
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import KubeClient, WorkloadWatch
from receiver.pipeline.items import WorkItem
from receiver.pipeline.queue import QUEUE_FULL_LOG_INTERVAL
from receiver.telemetry.metrics import Metrics
from receiver.telemetry.throttle import Throttle

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Offer an undecided episode again after this long.
RETRY = timedelta(seconds=60)
# Wake up at least this often (retries, metrics) when nothing changes.
SWEEP_SECONDS = 10.0


class Offer(Protocol):
    def offer(self, item: WorkItem) -> bool: ...


class Decided(Protocol):
    def has_decided(self, alert: Alert, route: Route) -> bool: ...

    def record(self, decision: Decision) -> None: ...


@dataclass(slots=True)
class _Episode:
    revision: int
    alert: Alert
    target: WorkloadRef
    routes: tuple[Route, ...]
    offered: dict[str, datetime] = field(default_factory=dict)  # route name -> last offered


class RolloutHealth:
    def __init__(
        self,
        config: Config,
        watch: WorkloadWatch,
        metrics: Metrics,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._config = config
        self.watch = watch
        self._metrics = metrics
        self._clock = clock
        self._episodes: dict[str, _Episode] = {}  # Deployment uid -> its failing revision's episode
        self._timers: list[tuple[datetime, str]] = []
        self._timer_due: dict[str, datetime] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._queue: Offer | None = None
        self._decided: Decided | None = None
        self._task: asyncio.Task[None] | None = None
        self._reported: dict[tuple[str, str], int] = {}  # informer counts already added to the metrics
        self._synced_seen = False  # the metrics were updated once the watch had synced
        self._queue_full = Throttle(QUEUE_FULL_LOG_INTERVAL)  # many failing rollouts, one full queue
        watch.subscribe(self._changed)

    @classmethod
    def for_config(
        cls, config: Config, kube: KubeClient, metrics: Metrics, *, clock: Clock = utc_now
    ) -> RolloutHealth | None:
        """The source and its watch, or None when `rollout_health.enabled` is false."""
        if not config.rollout_health.enabled:
            return None
        return cls(config, WorkloadWatch(kube, config), metrics, clock=clock)

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, queue: Offer, decided: Decided) -> None:
        """Start the watch and offer work to `queue`; `decided` is the pipeline's memory of decisions."""
        self._queue, self._decided = queue, decided
        self.watch.start()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="rollout-health")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.watch.close()

    def apply_config(self, config: Config) -> None:
        if config.rollout_health.cache != self.watch.cache_enabled:
            logger.warning("rollout_health.cache changed: takes effect after a restart")
        self._config = config
        self.watch.apply_config(config)
        self._dirty.update(self.watch.deployment_uids())  # thresholds or routes may have changed
        self._wake.set()

    # --- what the pipeline asks right before acting ------------------------------------------------

    def still_failing(self, alert: Alert) -> tuple[bool | None, str]:
        """Whether the rollout a synthetic alert is about still fails now: (True, ""), (False, why not),
        or (None, why it cannot be told)."""
        if not self.watch.synced:
            return None, "the rollout-health watch has not listed the cluster yet"
        namespace, name = alert.labels.get("namespace", ""), alert.labels.get("deployment", "")
        revision = alert.labels.get("revision", "")
        uid = self.watch.uid_of(namespace, name)
        view = self.watch.rollout_view(uid) if uid is not None else None
        if uid is None:
            return False, f"deployment {name} no longer exists"
        if view is None:
            return None, f"the deployment controller has not observed deployment {name}'s latest change yet"
        if str(view.revision) != revision:
            return False, f"deployment {name} now runs revision {view.revision}, not {revision}"
        if not rollout_health.still_failing(view, self._config.rollout_health, self._clock()):
            return False, f"the rollout of deployment {name} revision {revision} completed"
        return True, ""

    # --- the loop ----------------------------------------------------------------------------------

    def _changed(self, uid: str) -> None:
        self._dirty.add(uid)
        self._wake.set()

    async def _run(self) -> None:
        next_sweep = self._clock()
        while True:
            try:
                await self._step()
                now = self._clock()
                if now >= next_sweep or (self.watch.synced and not self._synced_seen):
                    self._synced_seen = self.watch.synced
                    self._retry(now)
                    self._gauges()
                    next_sweep = now + timedelta(seconds=SWEEP_SECONDS)
                timeout = SWEEP_SECONDS
                if self._timers:
                    timeout = min(timeout, max((self._timers[0][0] - now).total_seconds(), 0.0))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad object never stops the source
                logger.exception("rollout-health evaluation failed; carrying on")
                await asyncio.sleep(1.0)

    async def _step(self) -> None:
        self._wake.clear()
        now = self._clock()
        while self._timers and self._timers[0][0] <= now:
            _due, uid = heapq.heappop(self._timers)
            if self._timer_due.get(uid) == _due:
                del self._timer_due[uid]
                self._dirty.add(uid)
        dirty, self._dirty = self._dirty, set()
        for count, uid in enumerate(dirty, start=1):
            self._evaluate(uid, now)
            if count % 500 == 0:
                await asyncio.sleep(0)  # thousands at start-up: let the webhook and the workers run

    def _evaluate(self, uid: str, now: datetime) -> None:
        settings = self._config.rollout_health
        episode = self._episodes.get(uid)
        view = self.watch.rollout_view(uid)
        if view is None and self.watch.uid_known(uid):
            return  # no verdict now (the controller has not observed a change yet): keep what we know
        finding = None
        if view is not None and rollout_health.enrolled(view.annotations, settings):
            finding, look_again = rollout_health.evaluate(view, settings, now)
            if look_again is not None:
                self._timer(uid, look_again)
        if episode is not None:
            if (
                view is not None
                and view.revision == episode.revision
                and rollout_health.enrolled(view.annotations, settings)
                and rollout_health.still_failing(view, settings, now)
            ):
                return  # still failing: the episode stands (retries offer it again if undecided)
            logger.info(
                "rollout no longer failing",
                extra={"target": str(episode.target), "alert": episode.alert.episode_key},
            )
            del self._episodes[uid]
        if view is None or finding is None:
            return
        alert = rollout_health.alert_for(view, finding, settings)
        target = WorkloadRef(WorkloadKind.DEPLOYMENT, view.namespace, view.name)
        self._metrics.rollout_findings.labels(alertname=alert.name).inc()
        logger.warning(
            "rollout failing: %s",
            finding.message,
            extra={"alert": alert.episode_key, "alertname": alert.name, "target": str(target)},
        )
        routes = select_routes(alert, self._config.routes)
        episode = _Episode(revision=view.revision, alert=alert, target=target, routes=())
        self._episodes[uid] = episode
        if not routes:
            self._record(alert, None, target, Reason.NO_ROUTE, "matches no route", now)
            return
        live_for = now - view.went_live
        kept: list[Route] = []
        for route in routes:
            if route.action is Action.IGNORE:
                self._record(alert, route, target, Reason.ROUTE_IGNORE, f"route {route.name} ignores it", now)
            elif live_for > route.guards.change_window:
                # The synthetic alert starts when its revision went live, so the guards' change window
                # would always pass: the source holds it against the route's window itself.
                message = (
                    f"revision {view.revision} of {target} went live {format_duration(live_for)} ago, "
                    f"longer than the change window of {format_duration(route.guards.change_window)}"
                )
                self._record(alert, route, target, Reason.NO_RECENT_CHANGE, message, now)
            else:
                kept.append(route)
        episode.routes = tuple(kept)
        for route in kept:
            self._offer(episode, route, now)

    def _retry(self, now: datetime) -> None:
        if self._decided is None:
            return
        for episode in self._episodes.values():
            for route in episode.routes:
                last = episode.offered.get(route.name)
                if last is not None and now - last < RETRY:
                    continue
                if last is None or not self._decided.has_decided(episode.alert, route):
                    self._offer(episode, route, now)

    def _offer(self, episode: _Episode, route: Route, now: datetime) -> None:
        if self._queue is None:
            return
        item = WorkItem(
            alert=episode.alert,
            route=route,
            receiver="",
            group_key=rollout_health.WATCH_GROUP_KEY,
            truncated_alerts=0,
            received_at=now,
            source=Source.WATCH,
            priority=route.priority,
        )
        if self._queue.offer(item):
            episode.offered[route.name] = now
            return
        more = self._queue_full.due(now)
        if more is not None:
            since = f" ({more} more not offered since the last such line)" if more else ""
            logger.warning(
                "work queue full or stopping: the failing rollout is offered again shortly" + since,
                extra={"alert": episode.alert.episode_key, "route": route.name, "offers_not_logged": more},
            )

    def _record(
        self,
        alert: Alert,
        route: Route | None,
        target: WorkloadRef,
        reason: Reason,
        message: str,
        now: datetime,
    ) -> None:
        if self._decided is None:
            return
        self._decided.record(
            Decision(
                verdict=Verdict.SKIP,
                reason=reason,
                message=f"{alert.name} for {target}: {message}",
                alert_key=alert.episode_key,
                alert_name=alert.name,
                route=route.name if route else None,
                target=target,
                decided_at=now,
                source=Source.WATCH,
            )
        )

    def _timer(self, uid: str, due: datetime) -> None:
        if self._timer_due.get(uid) == due:
            return
        self._timer_due[uid] = due
        heapq.heappush(self._timers, (due, uid))

    def _gauges(self) -> None:
        self._metrics.watch_synced.set(1 if self.watch.synced else 0)
        for collection, count in self.watch.sizes.items():
            self._metrics.watch_objects.labels(collection=collection).set(count)
        for collection, stats in self.watch.stats.informers.items():
            for verb, total in (("list", stats.lists), ("watch", stats.watches), ("relist", stats.relists)):
                key = (collection, verb)
                self._metrics.watch_requests.labels(collection=collection, verb=verb).inc(
                    total - self._reported.get(key, 0)
                )
                self._reported[key] = total
