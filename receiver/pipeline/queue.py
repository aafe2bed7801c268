"""The bounded queue between the webhook and the pipeline, and the workers that drain it.

Work is taken by priority, then in arrival order: a critical alert never waits behind a backlog of lesser
ones (the priority is the route's position in the config, as the seed's matrix lists Critical/High first).
The queue is bounded by items and by the bytes the queued alerts hold, so hostile label values cannot make
it grow past what the config allows.

The webhook answers 200 only after `offer` succeeded, and 503 when it did not, so Alertmanager keeps
every alert we could not take. On shutdown the queue stops taking work, drains until a deadline, and
then hands back (logs) what it could not finish: Alertmanager re-sends it and the reconciler recovers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from datetime import timedelta
from typing import Protocol

from receiver.pipeline.items import WorkItem
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)


class Handler(Protocol):
    async def handle(self, item: WorkItem) -> None: ...  # must not raise for expected failures


# A full queue is logged at most this often by those it refuses (the intake, the rollout-health source), with
# a count of what was refused in between: a storm against a full queue is thousands of refusals a second.
QUEUE_FULL_LOG_INTERVAL = timedelta(seconds=10)

Entry = tuple[int, int, int, WorkItem]  # (priority, arrival number, size in bytes, item)


class WorkQueue:
    def __init__(
        self,
        handler: Handler,
        *,
        capacity: int,
        workers: int,
        capacity_bytes: int = 64 << 20,
        metrics: Metrics | None = None,
    ) -> None:
        self._handler = handler
        self._queue: asyncio.PriorityQueue[Entry] = asyncio.PriorityQueue(maxsize=capacity)
        self._arrivals = itertools.count()
        self._bytes = 0
        self._capacity_bytes = capacity_bytes
        self._workers_wanted = workers
        self._workers: list[asyncio.Task[None]] = []
        self._inflight: dict[asyncio.Task[None], WorkItem] = {}
        self._accepting = False
        self._metrics = metrics
        if metrics is not None:
            metrics.queue_capacity.set(capacity)
            # Read when scraped: no metric update per queued or taken item.
            metrics.queue_depth.set_function(self._queue.qsize)

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

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def offer(self, item: WorkItem) -> bool:
        """Queue without waiting; False when full (items or bytes) or stopping (the caller answers 503)."""
        if not self._accepting:
            return False
        size = item.size
        if self._bytes + size > self._capacity_bytes:
            return False
        try:
            self._queue.put_nowait((item.priority, next(self._arrivals), size, item))
        except asyncio.QueueFull:
            return False
        self._bytes += size
        return True

    def _taken(self, entry: Entry) -> WorkItem:
        self._bytes -= entry[2]
        return entry[3]

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
            unfinished.append(self._taken(self._queue.get_nowait()))
            self._queue.task_done()
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
        task = asyncio.current_task()
        assert task is not None
        while True:
            item = self._taken(await self._queue.get())
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
