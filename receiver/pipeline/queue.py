"""The bounded queue between the webhook and the pipeline, and the workers that drain it.

The webhook answers 200 only after `offer` succeeded, and 503 when it did not, so Alertmanager keeps
every alert we could not take. On shutdown the queue stops taking work, drains until a deadline, and
then hands back (logs) what it could not finish: Alertmanager re-sends it and the reconciler recovers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from receiver.pipeline.items import WorkItem
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)


class Handler(Protocol):
    async def handle(self, item: WorkItem) -> None: ...  # must not raise for expected failures


class WorkQueue:
    def __init__(
        self,
        handler: Handler,
        *,
        capacity: int,
        workers: int,
        metrics: Metrics | None = None,
    ) -> None:
        self._handler = handler
        self._queue: asyncio.Queue[WorkItem] = asyncio.Queue(maxsize=capacity)
        self._workers_wanted = workers
        self._workers: list[asyncio.Task[None]] = []
        self._inflight: dict[asyncio.Task[None], WorkItem] = {}
        self._accepting = False
        self._metrics = metrics
        if metrics is not None:
            metrics.queue_capacity.set(capacity)
            metrics.queue_depth.set(0)

    @property
    def running(self) -> bool:
        """Taking work and with every worker alive (part of /readyz)."""
        return self._accepting and bool(self._workers) and not any(t.done() for t in self._workers)

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def capacity(self) -> int:
        return self._queue.maxsize

    def start(self) -> None:
        if self._workers:
            return
        self._accepting = True
        self._workers = [
            asyncio.create_task(self._work(), name=f"rollback-worker-{i}")
            for i in range(self._workers_wanted)
        ]

    def offer(self, item: WorkItem) -> bool:
        """Queue without waiting; False when full or shutting down (the caller answers 503)."""
        if not self._accepting:
            return False
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        self._gauge()
        return True

    async def stop(self, drain_seconds: float) -> list[WorkItem]:
        """Stop taking work, let the workers finish what is queued for up to `drain_seconds`, then
        cancel them. Returns the items not handled (queued or interrupted), after logging each."""
        self._accepting = False
        drained = asyncio.ensure_future(self._queue.join())
        await asyncio.wait({drained}, timeout=drain_seconds)
        drained.cancel()
        unfinished = [item for task, item in self._inflight.items() if not task.done()]
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []
        while not self._queue.empty():
            unfinished.append(self._queue.get_nowait())
            self._queue.task_done()
        self._gauge()
        for item in unfinished:
            logger.warning(
                "shutdown deadline passed, alert handed back (Alertmanager resends it; reconcile finds it)",
                extra={
                    "alert": item.alert.episode_key,
                    "alertname": item.alert.name,
                    "route": item.route.name,
                },
            )
        return unfinished

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            self._gauge()
            task = asyncio.current_task()
            assert task is not None
            self._inflight[task] = item
            try:
                await self._handler.handle(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The pipeline records its own failures; reaching here is a bug, and one bad item must not
                # stop the worker.
                logger.exception(
                    "pipeline failed on a work item",
                    extra={"alert": item.alert.episode_key, "route": item.route.name},
                )
            finally:
                self._inflight.pop(task, None)
                self._queue.task_done()

    def _gauge(self) -> None:
        if self._metrics is not None:
            self._metrics.queue_depth.set(self._queue.qsize())
