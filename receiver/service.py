"""Composition root of `rollback-receiver serve`: config -> cluster -> pipeline -> work queue -> web app.

Also owns the live state that changes at runtime: the current config and credentials (reload via SIGHUP or
`POST /-/reload`; a bad file keeps the last good one), readiness, and the shutdown sequence:

1. stop taking work (`/readyz` and `/webhook` answer 503, so Alertmanager keeps the alerts);
2. let the workers drain the queue until `server.shutdown_timeout`;
3. hand back (log) what is left: Alertmanager re-sends it and the reconciler recovers it;
4. close the listener, the pipeline, reconciliation and the cluster client.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import resource
import signal
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry

from receiver.config import ConfigError, advice, load_config
from receiver.core.decisions import Decision
from receiver.core.settings import Config
from receiver.core.timefmt import utc_now
from receiver.pipeline.decision_log import DecisionLog
from receiver.pipeline.dedupe import SeenSet
from receiver.pipeline.intake import Intake
from receiver.pipeline.items import WorkItem
from receiver.pipeline.queue import Handler, WorkQueue
from receiver.pipeline.reconcile import ReceiverName
from receiver.telemetry.metrics import Metrics
from receiver.web import admin
from receiver.web.app import create_app
from receiver.web.auth import Credentials, load_credentials
from receiver.web.backend import Readiness
from receiver.web.limits import READY_CACHE_SECONDS
from receiver.web.server import Listener
from receiver.web.tls import material_digest, server_context

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Ping = Callable[[], Awaitable[None]]
ConfigHook = Callable[[Config], Awaitable[None]]
PING_TIMEOUT_SECONDS = 5.0


class TlsListener(Protocol):
    def set_ssl_context(self, context: ssl.SSLContext) -> int: ...


class Service:
    """What the web layer talks to (`receiver.web.app.Backend`), plus start/stop of the worker."""

    def __init__(
        self,
        config: Config,
        credentials: Credentials,
        *,
        metrics: Metrics,
        decisions: DecisionLog,
        pipeline: Handler,
        kube_ping: Ping | None,
        on_config: ConfigHook | None = None,
        record: Callable[[Decision], None] | None = None,
        seen: SeenSet | None = None,
        receiver: ReceiverName | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """`record` makes the intake's own decisions visible: the pipeline's reporter in `serve` (decision
        log, notifications, what reconciliation need not feed again), the decision log alone by default."""
        self._config = config
        self._credentials = credentials
        self._metrics = metrics
        self._decisions = decisions
        self._kube_ping = kube_ping
        self._on_config = on_config
        self._clock = clock
        self._reload_lock = asyncio.Lock()
        self._listener: TlsListener | None = None
        # What the listener's TLS context was built from; a reload rebuilds it only when this changes.
        self._tls_digest = material_digest(config.server.tls) if config.server.tls is not None else None
        self._kube_check: tuple[float, str, str, datetime] | None = None  # (monotonic, state, detail, at)
        self._kube_checking: asyncio.Task[tuple[float, str, str, datetime]] | None = None
        server = config.server
        self.queue = WorkQueue(
            pipeline,
            capacity=server.queue_size,
            capacity_bytes=server.queue_bytes,
            workers=server.workers,
            metrics=metrics,
        )
        self.seen = seen if seen is not None else seen_set(config)
        self._intake = Intake(
            config=lambda: self._config,
            queue=self.queue,
            seen=self.seen,
            metrics=metrics,
            record=record if record is not None else decisions.record,
            clock=clock,
            receiver=receiver,
        )
        self._config_applied(config)

    def _config_applied(self, config: Config) -> None:
        found = advice.warnings(config)
        for warning in found:
            logger.warning("config: %s", warning, extra={"file": str(config.source)})
        self._metrics.config_loaded(ok=True, at=time.time(), warnings=len(found))

    # -- web.app.Backend ---------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    @property
    def intake(self) -> Intake:
        return self._intake

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    @property
    def decisions(self) -> DecisionLog:
        return self._decisions

    async def readiness(self) -> Readiness:
        """Fixed words in `checks` (anonymous /readyz), error text only in `details`. The API server is
        asked at most once per READY_CACHE_SECONDS, however often the probes come."""
        checks = {"config": "ok", "worker": "ok" if self.queue.running else "not running"}
        details: dict[str, str] = {}
        checked_at: str | None = None
        if self._kube_ping is None:
            checks["kubernetes"] = "not connected"
        else:
            _, state, detail, at = await self._cached_kube_check()
            checks["kubernetes"] = state
            checked_at = at.isoformat()
            if detail:
                details["kubernetes"] = detail
        return Readiness(checks, details, checked_at)

    async def _cached_kube_check(self) -> tuple[float, str, str, datetime]:
        cached = self._kube_check
        if cached is not None and time.monotonic() - cached[0] < READY_CACHE_SECONDS:
            return cached
        if self._kube_checking is None or self._kube_checking.done():
            # One check at a time: concurrent probes wait for the same answer.
            self._kube_checking = asyncio.create_task(self._check_kube(), name="readiness-kubernetes")
        result = await asyncio.shield(self._kube_checking)
        self._kube_check = result
        return result

    async def _check_kube(self) -> tuple[float, str, str, datetime]:
        assert self._kube_ping is not None
        try:
            async with asyncio.timeout(PING_TIMEOUT_SECONDS):
                await self._kube_ping()
        except TimeoutError:
            state, detail = "unreachable", f"no answer within {PING_TIMEOUT_SECONDS:g}s"
        except Exception as exc:  # any failure means "not ready"; what it was goes to the log
            state, detail = "unreachable", f"{type(exc).__name__}: {exc}"[:500]
        else:
            state, detail = "ok", ""
        if detail:
            logger.warning("not ready: the Kubernetes API server check failed: %s", detail)
        return time.monotonic(), state, detail, self._clock()

    def use_listener(self, listener: TlsListener) -> None:
        """The listener whose TLS context a reload replaces."""
        self._listener = listener

    async def reload(self) -> list[str]:
        async with self._reload_lock:
            try:
                # File reads off the event loop: a slow volume must not stall the webhook.
                config, credentials = await asyncio.to_thread(
                    _load, self._config.source, self._credentials.insecure_no_auth
                )
            except ConfigError as exc:
                return self._reload_failed(list(exc.problems))
            problems = reload_problems(self._config, config, credentials)
            if problems:
                return self._reload_failed(problems)
            try:
                context, digest = await asyncio.to_thread(self._tls_context_for, config)
            except (OSError, ssl.SSLError) as exc:
                return self._reload_failed([f"{config.source}: server.tls: {exc}"])
            _warn_restart_needed(self._config, config)
            if self._on_config is not None:
                await self._on_config(config)
            self._config, self._credentials = config, credentials
            if context is not None:
                self._tls_digest = digest
                closed = self._listener.set_ssl_context(context) if self._listener is not None else 0
                logger.info(
                    "TLS certificates or client CA changed: new connections use them",
                    extra={"idle_connections_closed": closed},
                )
            self._config_applied(config)
            logger.info("config reloaded", extra={"file": str(config.source), "routes": len(config.routes)})
            if credentials.open_to_anyone:
                logger.warning("INSECURE: the reloaded config has no authentication (--insecure-no-auth)")
            return []

    def _tls_context_for(self, config: Config) -> tuple[ssl.SSLContext | None, str | None]:
        """A new context when the TLS files changed (None: keep the current one)."""
        if config.server.tls is None:
            return None, None
        digest = material_digest(config.server.tls)
        if digest == self._tls_digest:
            return None, digest
        return server_context(config.server.tls), digest

    def _reload_failed(self, problems: list[str]) -> list[str]:
        self._metrics.config_loaded(ok=False, at=time.time())
        for problem in problems:
            logger.error("config reload rejected, keeping the last good config: %s", problem)
        return problems

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.queue.start()

    async def stop(self) -> list[WorkItem]:
        """Stop taking work and drain until the configured deadline; returns what was handed back."""
        if self._kube_checking is not None and not self._kube_checking.done():
            self._kube_checking.cancel()
        return await self.queue.stop(self._config.server.shutdown_timeout.total_seconds())


def seen_set(config: Config) -> SeenSet:
    """The intake's dedupe set, sized by the config (read once: resizing needs a restart)."""
    return SeenSet(max_entries=config.server.dedupe_entries, ttl=config.server.dedupe_ttl)


def _load(path: Path, insecure_no_auth: bool = False) -> tuple[Config, Credentials]:
    config = load_config(path)
    return config, load_credentials(config.server, source=config.source, insecure_no_auth=insecure_no_auth)


def reload_problems(old: Config, new: Config, credentials: Credentials) -> list[str]:
    """Why a valid file still cannot replace the running config: authentication must never be switched
    off at runtime, and TLS cannot be switched on or off without a new listener."""
    problems: list[str] = []
    if (old.server.tls is None) != (new.server.tls is None):
        started = "without" if old.server.tls is None else "with"
        wanted = "on" if new.server.tls is not None else "off"
        problems.append(
            f"{new.source}: server.tls: the listener started {started} TLS; "
            f"turning it {wanted} needs a restart"
        )
    if not credentials.enabled and not credentials.insecure_no_auth:
        problems.append(
            f"{new.source}: server.auth: no authentication left (neither server.auth nor "
            "server.tls.client_ca_file) and serve was not started with --insecure-no-auth"
        )
    return problems


def _warn_restart_needed(old: Config, new: Config) -> None:
    before, after = old.server, new.server
    for name in (
        "listen_host",
        "listen_port",
        "queue_size",
        "queue_bytes",
        "workers",
        "dedupe_entries",
        "dedupe_ttl",
        "decision_log_entries",
    ):
        if getattr(before, name) != getattr(after, name):
            logger.warning(
                "server.%s changed: takes effect after a restart",
                name.replace("_host", "").replace("_port", ""),
            )


# Garbage collection: the seen-set, the decided memory and the decision log hold a few hundred thousand
# long-lived objects under a storm, and every full collection walks them all (tens of milliseconds on the
# event loop, the webhook's p99). Collections are made rarer (Python's default is 700, 10, 10) and what
# start-up built is frozen out of them; bench/README.md has the figures.
GC_THRESHOLDS = (50_000, 20, 100)


def _tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def _raise_fd_limit() -> None:
    """Every connection is a file descriptor: take the hard limit (Go programs do the same), so the
    connection cap, not a default of 1024 descriptors, decides how many clients we hold."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass(frozen=True, slots=True)
class ServeOptions:
    config_path: Path
    insecure_no_auth: bool = False
    kubeconfig: str | None = None
    context: str | None = None


async def serve(options: ServeOptions) -> int:
    """Run until SIGTERM/SIGINT. Exit codes: 0 clean stop, 1 bad config or cluster, 2 refusing no-auth."""
    try:
        config, credentials = _load(options.config_path, options.insecure_no_auth)
    except ConfigError as exc:
        for problem in exc.problems:
            logger.error("invalid config: %s", problem)
        return 1
    if not credentials.enabled:
        if not options.insecure_no_auth:
            logger.error(
                "refusing to start: no authentication configured (server.auth or server.tls.client_ca_file); "
                "pass --insecure-no-auth to accept unauthenticated webhooks"
            )
            return 2
        logger.warning(
            "INSECURE: --insecure-no-auth given and no authentication configured: anyone who can reach "
            "%s:%d can trigger rollbacks, reload the config and reset the circuit breaker",
            config.server.listen_host,
            config.server.listen_port,
        )
    elif options.insecure_no_auth:
        logger.warning("--insecure-no-auth ignored: authentication is configured and required")
    _raise_fd_limit()
    _tune_gc()

    # Imported here so the web layer and its tests never need the cluster stack.
    from receiver.k8s import EventRecorder, KubeError, connect
    from receiver.pipeline.pipeline import Pipeline
    from receiver.pipeline.reconcile import Reconciler
    from receiver.pipeline.rollout_health import RolloutHealth

    metrics = Metrics(CollectorRegistry())
    decisions = DecisionLog(config.server.decision_log_entries, metrics)
    try:
        ssl_context = server_context(config.server.tls) if config.server.tls else None
    except (OSError, ssl.SSLError) as exc:
        logger.error("invalid config: %s: server.tls: %s", config.source, exc)
        return 1
    try:
        kube = await connect(options.kubeconfig, options.context)
    except KubeError as exc:
        logger.error("cannot connect to the cluster: %s", exc)
        return 1
    seen = seen_set(config)
    receiver = ReceiverName()
    health = RolloutHealth.for_config(config, kube, metrics)  # None unless rollout_health.enabled
    pipeline = Pipeline(
        config,
        kube,
        metrics,
        decisions,
        events=EventRecorder(metrics=metrics),
        seen=seen,
        receiver=receiver,
        health=health,
    )
    reconciler = Reconciler(config, pipeline, metrics, receiver=receiver)

    async def apply_config(new: Config) -> None:
        await pipeline.apply_config(new)
        reconciler.apply_config(new)

    service = Service(
        config,
        credentials,
        metrics=metrics,
        decisions=decisions,
        pipeline=pipeline,
        kube_ping=kube.ping,
        on_config=apply_config,
        record=pipeline.record,
        seen=seen,
        receiver=receiver,
    )
    app = create_app(service, incidents=pipeline.incidents)
    admin.install(app, pipeline)  # breaker status/reset, with the webhook's credentials
    listener = Listener(
        app,
        host=config.server.listen_host,
        port=config.server.listen_port,
        ssl_context=ssl_context,
    )
    service.use_listener(listener)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[list[str]]] = set()

    def on_sighup() -> None:
        task = loop.create_task(service.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    reconciling = asyncio.create_task(reconciler.run_forever(), name="rollback-reconcile")
    try:
        pipeline.start()
        service.start()
        if health is not None:
            health.start(service.queue, pipeline)
        try:
            await listener.start()
        except OSError as exc:
            logger.error(
                "cannot listen on %s:%d: %s", config.server.listen_host, config.server.listen_port, exc
            )
            return 1
        gc.freeze()  # the modules, the config and the clients: never garbage, never walked again
        logger.info(
            "serving",
            extra={
                "listen": f"{config.server.listen_host}:{listener.port}",
                "tls": ssl_context is not None,
                "max_connections": listener.max_connections,
                "routes": len(config.routes),
                "cluster_identity": kube.identity,
            },
        )
        await stop.wait()
        logger.info("shutting down: no new work, draining the queue")
        handed_back = await service.stop()
        if handed_back:
            logger.warning("handed back %d unfinished work items", len(handed_back))
    finally:
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await service.stop()
        await listener.stop()
        reconciling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciling
        if health is not None:
            await health.close()
        await pipeline.close()
        await kube.close()
    return 0
