"""Queues and workers: every channel has its own bounded queue and worker, so one that is down delays
neither the decisions (submitting never waits) nor the other channels.

Each message is tried up to `notifications.attempts` times with exponential backoff (tenacity), each try
within `notifications.timeout`; only "no answer", 5xx and 429 are tried again. The result — sent, failed or
dropped (queue full, or still queued at shutdown) — goes to `on_result` exactly once per message and
channel; it records the metric, the log line and the incident step, and never raises into a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp
from tenacity import AsyncRetrying, RetryError, retry_if_exception_type, stop_after_attempt, wait_exponential

from receiver.core.notices import Notice
from receiver.core.settings import NotificationsConfig
from receiver.notify.channels import Rejected, Retryable, send

logger = logging.getLogger(__name__)

MAX_BACKOFF = 60.0


@dataclass(frozen=True, slots=True)
class Delivery:
    notice: Notice
    channel: str
    result: str  # sent | failed | dropped
    attempts: int
    error: str = ""


ResultHook = Callable[[Delivery], Awaitable[None]]


class _Lane:
    """One channel's queue and worker."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=size)
        self.task: asyncio.Task[None] | None = None


class Dispatcher:
    def __init__(self, settings: NotificationsConfig, on_result: ResultHook) -> None:
        self._settings = settings
        self._on_result = on_result
        self._lanes: dict[str, _Lane] = {}
        self._session: aiohttp.ClientSession | None = None
        self._pending_results: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def settings(self) -> NotificationsConfig:
        return self._settings

    def configure(self, settings: NotificationsConfig) -> None:
        """A reload: new channels get a lane on first use; a channel's new settings apply to its next try.
        The queue size of an existing lane stays (it changes with a restart)."""
        self._settings = settings

    def submit(self, notice: Notice, channels: Sequence[str]) -> None:
        """Queue `notice` for each channel; never waits. A full queue drops it (and says so)."""
        if self._closed:
            return
        for name in channels:
            if self._settings.channel(name) is None:
                continue  # removed by a reload since the route named it
            lane = self._lane(name)
            try:
                lane.queue.put_nowait(notice)
            except asyncio.QueueFull:
                self._report(Delivery(notice, name, "dropped", 0, f"queue full ({lane.queue.maxsize})"))

    def queued(self, channel: str) -> int:
        lane = self._lanes.get(channel)
        return lane.queue.qsize() if lane is not None else 0

    async def close(self, grace: float = 5.0) -> None:
        """Let the workers finish what is queued for up to `grace` seconds; what is left is dropped."""
        self._closed = True
        lanes = list(self._lanes.values())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                for lane in lanes:
                    await lane.queue.join()
        for lane in lanes:
            if lane.task is not None:
                lane.task.cancel()
        for lane in lanes:
            if lane.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
            while not lane.queue.empty():
                notice = lane.queue.get_nowait()
                lane.queue.task_done()
                await self._deliver_result(Delivery(notice, lane.name, "dropped", 0, "shutting down"))
        if self._pending_results:
            await asyncio.gather(*self._pending_results, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- workers ----------------------------------------------------------------------------------------

    def _lane(self, name: str) -> _Lane:
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = _Lane(name, self._settings.queue_size)
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._work(lane), name=f"notify-{name}")
        return lane

    async def _work(self, lane: _Lane) -> None:
        while True:
            notice = await lane.queue.get()
            try:
                delivery = await self._attempt(lane.name, notice)
                await self._deliver_result(delivery)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop the channel
                logger.exception("notification worker failed", extra={"channel": lane.name})
            finally:
                lane.queue.task_done()

    async def _attempt(self, name: str, notice: Notice) -> Delivery:
        settings = self._settings
        channel = settings.channel(name)
        if channel is None:
            return Delivery(notice, name, "dropped", 0, "the channel was removed by a reload")
        session = self._client()
        attempts = 0
        backoff = settings.backoff.total_seconds()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(settings.attempts),
            wait=wait_exponential(multiplier=backoff, min=backoff, max=MAX_BACKOFF),
            retry=retry_if_exception_type(Retryable),
            reraise=False,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    await send(channel, notice, session, attempt_timeout=settings.timeout.total_seconds())
        except RetryError as exc:
            error = exc.last_attempt.exception()
            return Delivery(notice, name, "failed", attempts, f"gave up after {attempts} attempts: {error}")
        except Rejected as exc:
            return Delivery(notice, name, "failed", attempts, f"refused: {exc}")
        return Delivery(notice, name, "sent", attempts)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def _report(self, delivery: Delivery) -> None:
        """A result found outside a worker (a full queue): handed to `on_result` without waiting for it."""
        task = asyncio.create_task(self._deliver_result(delivery))
        self._pending_results.add(task)
        task.add_done_callback(self._pending_results.discard)

    async def _deliver_result(self, delivery: Delivery) -> None:
        try:
            await self._on_result(delivery)
        except Exception:
            logger.exception("recording a notification result failed", extra={"channel": delivery.channel})
