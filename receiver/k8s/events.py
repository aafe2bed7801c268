"""Kubernetes Events on the workload, so `kubectl describe` and `kubectl get events` show what we did.

Events are correlated the way client-go's EventRecorder (`tools/record` EventCorrelator) does it, so an
alert storm does not flood etcd with Events: similar Events (another message, as every alert of a storm
gives) are combined from the tenth on, and a workload gets at most 25 Events at once, then one every 5
minutes, except the Events of what we did (`receiver.core.event_correlation`); repeating the same Event
bumps `count` and `lastTimestamp` of the one already written instead of creating another.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from receiver.core.durations import format_duration
from receiver.core.event_correlation import AGGREGATION_WINDOW, MAX_KEYS, EventCorrelator
from receiver.core.text import MAX_EVENT_MESSAGE_BYTES, one_line
from receiver.core.timefmt import format_rfc3339, utc_now
from receiver.core.workload import WorkloadRef
from receiver.k8s import errors, resources
from receiver.k8s.client import MERGE_PATCH, KubeClient
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)

COMPONENT = "rollback-receiver"

_DEADLINE = 5.0  # seconds per Event write: an Event is never worth holding up a decision

# namespace, involved object uid, reason, message, type, combined (one Event for all similar ones)
EventKey = tuple[str, str, str, str, str, bool]
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(slots=True)
class _Written:
    """The Event we last wrote for one key; `name` is empty until a create succeeded."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one write at a time per key
    name: str = ""
    count: int = 0
    last: datetime = _NEVER


class EventRecorder:
    """Writes Events, aggregating a repeat of the same Event within `window` into the one already written.

    The memory of what was written is per process: Events created by another replica (or before a
    restart) are not aggregated, each replica keeps its own count. If the Event we would bump is gone
    (expired by the API server's event TTL, or deleted), a new one is created.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utc_now,
        window: timedelta = AGGREGATION_WINDOW,
        max_keys: int = MAX_KEYS,
        correlator: EventCorrelator | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._clock = clock
        self._window = window
        self._max_keys = max_keys
        self._written: OrderedDict[EventKey, _Written] = OrderedDict()
        self._correlator = correlator or EventCorrelator(window=window, max_keys=max_keys)
        self._metrics = metrics
        self._held_back: set[tuple[str, str]] = set()  # workloads whose Events the spam filter holds back

    async def emit(
        self,
        kube: KubeClient,
        ref: WorkloadRef,
        *,
        uid: str,
        reason: str,
        message: str,
        warning: bool = False,
    ) -> None:
        """Record an Event about the workload. A failure to record is logged, never raised.

        The message (which quotes alert names and labels) is written as one clean line of at most 1024
        bytes, the API server's limit (receiver.core.text)."""
        event_type = "Warning" if warning else "Normal"
        message = one_line(message, MAX_EVENT_MESSAGE_BYTES)
        obj = (ref.namespace, uid)
        correlated = self._correlator.aggregate(obj, event_type, reason, message, self._clock())
        if correlated.combined:
            message = one_line(correlated.message, MAX_EVENT_MESSAGE_BYTES)
        key_message = "" if correlated.combined else message  # one combined Event for all similar ones
        written = self._remember((ref.namespace, uid, reason, key_message, event_type, correlated.combined))
        async with written.lock:
            now = self._clock()
            if not self._correlator.allow(obj, reason, now):
                self._hold_back(ref, obj, reason)
                return
            self._held_back.discard(obj)
            try:
                recent = written.name and now - written.last < self._window
                # The combined Event shows the latest of its messages, as client-go's patch does.
                latest = message if correlated.combined else None
                if recent and await self._bump(kube, ref, written, now, message=latest):
                    return
                created = await kube.request(
                    "create",
                    f"/api/v1/namespaces/{ref.namespace}/events",
                    body=_new_event(ref, uid, reason, message, event_type, now),
                    content_type="application/json",
                    what=f"events -n {ref.namespace}",
                    deadline=_DEADLINE,
                )
            except errors.KubeError as exc:
                logger.warning("could not record event %s on %s: %s", reason, ref, exc.describe())
                return
            written.name = str(created.get("metadata", {}).get("name", ""))
            written.count, written.last = 1, now

    def _hold_back(self, ref: WorkloadRef, obj: tuple[str, str], reason: str) -> None:
        """Counted each time; logged once per run of held-back Events on a workload."""
        if self._metrics is not None:
            self._metrics.events_held_back.labels(reason=reason).inc()
        if obj in self._held_back:
            return
        if len(self._held_back) >= self._max_keys:
            self._held_back.clear()
        self._held_back.add(obj)
        logger.warning(
            "too many Events on %s: Events of decisions that changed nothing are held back for now "
            "(one every %s; the decision log has every decision)",
            ref,
            format_duration(self._correlator.refill),
            extra={"target": str(ref), "event_reason": reason},
        )

    async def _bump(
        self, kube: KubeClient, ref: WorkloadRef, written: _Written, now: datetime, *, message: str | None
    ) -> bool:
        """Count one more occurrence on the Event already written (with `message` as its latest, if given);
        False when it has to be created anew."""
        body: dict[str, object] = {"count": written.count + 1, "lastTimestamp": format_rfc3339(now)}
        if message is not None:
            body["message"] = message
        try:
            await kube.request(
                "patch",
                f"/api/v1/namespaces/{ref.namespace}/events/{written.name}",
                body=body,
                content_type=MERGE_PATCH,
                what=f"events/{written.name} -n {ref.namespace}",
                deadline=_DEADLINE,
            )
        except errors.NotFound:
            return False  # expired or deleted: start a new Event
        except errors.Forbidden as exc:
            # RBAC from before aggregation (create only): a new Event still tells the story.
            logger.warning("could not update event %s on %s: %s", written.name, ref, exc.describe())
            return False
        written.count += 1
        written.last = now
        return True

    def _remember(self, key: EventKey) -> _Written:
        written = self._written.get(key)
        if written is None:
            written = self._written[key] = _Written()
        self._written.move_to_end(key)
        while len(self._written) > self._max_keys:
            self._written.popitem(last=False)
        return written


def _new_event(
    ref: WorkloadRef, uid: str, reason: str, message: str, event_type: str, now: datetime
) -> dict[str, object]:
    stamp = format_rfc3339(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
        "involvedObject": {
            "apiVersion": resources.api_version(ref.kind),
            "kind": str(ref.kind),
            "name": ref.name,
            "namespace": ref.namespace,
            "uid": uid,
        },
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": os.environ.get("POD_NAME") or socket.gethostname(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
