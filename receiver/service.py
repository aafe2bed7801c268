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
import logging
import signal
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry

from receiver.config import ConfigError, advice, load_config
from receiver.core.settings import Config
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
from receiver.web.server import Listener
from receiver.web.tls import load_files, server_context

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Ping = Callable[[], Awaitable[None]]
ConfigHook = Callable[[Config], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        ssl_context: ssl.SSLContext | None = None,
        seen: SeenSet | None = None,
        receiver: ReceiverName | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._config = config
        self._credentials = credentials
        self._metrics = metrics
        self._decisions = decisions
        self._kube_ping = kube_ping
        self._on_config = on_config
        self._ssl_context = ssl_context
        self._reload_lock = asyncio.Lock()
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
            decisions=decisions,
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

    async def readiness(self) -> dict[str, str]:
        checks = {"config": "ok", "worker": "ok" if self.queue.running else "not running"}
        if self._kube_ping is None:
            checks["kubernetes"] = "not connected"
        else:
            try:
                async with asyncio.timeout(5):
                    await self._kube_ping()
                checks["kubernetes"] = "ok"
            except Exception as exc:  # any failure means "not ready", with its reason
                checks["kubernetes"] = f"unreachable: {exc}"[:300]
        return checks

    async def reload(self) -> list[str]:
        async with self._reload_lock:
            try:
                # File reads off the event loop: a slow volume must not stall the webhook.
                config, credentials = await asyncio.to_thread(_load, self._config.source)
                if self._ssl_context is not None and config.server.tls is not None:
                    await asyncio.to_thread(load_files, self._ssl_context, config.server.tls)
            except ConfigError as exc:
                return self._reload_failed(list(exc.problems))
            except (OSError, ssl.SSLError) as exc:
                return self._reload_failed([f"{self._config.source}: server.tls: {exc}"])
            _warn_restart_needed(self._config, config)
            if self._on_config is not None:
                await self._on_config(config)
            self._config, self._credentials = config, credentials
            self._config_applied(config)
            logger.info("config reloaded", extra={"file": str(config.source), "routes": len(config.routes)})
            return []

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
        return await self.queue.stop(self._config.server.shutdown_timeout.total_seconds())


def seen_set(config: Config) -> SeenSet:
    """The intake's dedupe set, sized by the config (read once: resizing needs a restart)."""
    return SeenSet(max_entries=config.server.dedupe_entries, ttl=config.server.dedupe_ttl)


def _load(path: Path) -> tuple[Config, Credentials]:
    config = load_config(path)
    return config, load_credentials(config.server, source=config.source)


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
    if (before.tls is None) != (after.tls is None):
        logger.warning("server.tls switched on or off: takes effect after a restart")
    elif (
        before.tls is not None
        and after.tls is not None
        and before.tls.client_ca_file != after.tls.client_ca_file
    ):
        logger.warning("server.tls.client_ca_file changed: takes effect after a restart")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    config_path: Path
    insecure_no_auth: bool = False
    kubeconfig: str | None = None
    context: str | None = None


async def serve(options: ServeOptions) -> int:
    """Run until SIGTERM/SIGINT. Exit codes: 0 clean stop, 1 bad config or cluster, 2 refusing no-auth."""
    try:
        config, credentials = _load(options.config_path)
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
            "INSECURE: --insecure-no-auth given: anyone who can reach %s:%d can trigger rollbacks",
            config.server.listen_host,
            config.server.listen_port,
        )

    # Imported here so the web layer and its tests never need the cluster stack.
    from receiver.k8s import EventRecorder, KubeError, connect
    from receiver.pipeline.pipeline import Pipeline
    from receiver.pipeline.reconcile import Reconciler

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
    pipeline = Pipeline(
        config, kube, metrics, decisions, events=EventRecorder(), seen=seen, receiver=receiver
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
        ssl_context=ssl_context,
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
        try:
            await listener.start()
        except OSError as exc:
            logger.error(
                "cannot listen on %s:%d: %s", config.server.listen_host, config.server.listen_port, exc
            )
            return 1
        logger.info(
            "serving",
            extra={
                "listen": f"{config.server.listen_host}:{listener.port}",
                "tls": ssl_context is not None,
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
        await pipeline.close()
        await kube.close()
    return 0
