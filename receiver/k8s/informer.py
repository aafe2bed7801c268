"""LIST then WATCH one collection for as long as the process runs, like client-go's reflector.

One paged LIST gives the objects and a resourceVersion; a WATCH from that version (with bookmarks, so the
version keeps moving while nothing changes) delivers every change after it. When the server ends the watch
(its timeout) or the connection breaks, the watch resumes from the last version seen, without a LIST. Only
when the server says that version is gone (410, or an ERROR event with code 410: etcd compacted past it)
or the watch keeps failing does the informer LIST again, and then it tells its sink which objects
disappeared meanwhile. Nothing is polled per object: the cost is one LIST per collection at start and one
long-lived request per collection after it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from receiver.k8s import errors
from receiver.k8s.client import Json, KubeClient

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
WATCH_SECONDS = 300.0  # the server closes a watch after this (plus jitter, so watches do not resume together)
_RETRY_PAUSE = 1.0  # after a failed LIST or WATCH; doubles up to _MAX_PAUSE
_MAX_PAUSE = 30.0


class Sink(Protocol):
    """Where an informer's objects go. Called on the event loop, never concurrently for one informer."""

    def upsert(self, collection: str, obj: Json) -> None: ...

    def remove(self, collection: str, namespace: str, name: str) -> None: ...

    def relisted(self, collection: str, namespace: str | None, present: set[tuple[str, str]]) -> None:
        """After a LIST: every (namespace, name) that exists; what the sink holds besides is gone."""

    def first_list_done(self, collection: str, namespace: str | None) -> None:
        """The first LIST of this informer is in the sink."""


class Gone(Exception):
    """The resourceVersion we watch from is too old: LIST again."""


@dataclass(slots=True)
class InformerStats:
    """What the informer cost the API server, for the metrics and the benchmark."""

    lists: int = 0  # LIST requests (pages)
    watches: int = 0  # WATCH requests
    events: int = 0
    bookmarks: int = 0
    relists: int = 0  # LISTs after the first one
    errors: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class Informer:
    def __init__(
        self,
        kube: KubeClient,
        *,
        collection: str,  # e.g. "deployments"; the sink's name for these objects
        path: str,  # the collection's path, namespaced or cluster-wide
        namespace: str | None,  # None for a cluster-wide collection
        sink: Sink,
        stats: InformerStats | None = None,
        watch_seconds: float = WATCH_SECONDS,
        list_slots: asyncio.Semaphore | None = None,
    ) -> None:
        """`list_slots` is shared by the informers of one watch: how many LIST pages are in flight at once
        (dozens of informers starting together would otherwise time out a busy API server and hold
        dozens of decoded pages in memory at the same time)."""
        self._kube = kube
        self.collection = collection
        self.path = path
        self.namespace = namespace
        self._sink = sink
        self.stats = stats or InformerStats()
        self._watch_seconds = watch_seconds
        self._list_slots = list_slots or asyncio.Semaphore(1)
        self.resource_version = ""
        self.synced = asyncio.Event()
        self.what = f"{collection}" + (f" -n {namespace}" if namespace else " (all namespaces)")

    async def run(self) -> None:
        """Until cancelled: LIST, WATCH, resume or LIST again. API failures are logged, never raised."""
        pause = _RETRY_PAUSE
        while True:
            try:
                await self._list()
                pause = _RETRY_PAUSE
                await self._watch_until_gone()
            except Gone:
                logger.info("watch of %s expired (410); listing again", self.what)
            except errors.KubeError as exc:
                self.stats.errors += 1
                logger.warning("watching %s: %s; listing again in %.0fs", self.what, exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE)
            self.stats.relists += 1

    async def _list(self) -> None:
        present: set[tuple[str, str]] = set()
        token, version = "", ""
        while True:
            query = {"limit": str(PAGE_SIZE)}
            if token:
                query["continue"] = token
            async with self._list_slots:
                try:
                    page = await self._kube.request("list", self.path, query=query, what=self.what)
                except errors.KubeError as exc:
                    if exc.status == 410:  # the continue token expired: start the LIST over
                        present, token = set(), ""
                        continue
                    raise
                self.stats.lists += 1
                meta = page.get("metadata") or {}
                version = version or str(meta.get("resourceVersion") or "")
                for obj in page.get("items") or ():
                    item_meta = obj.get("metadata") or {}
                    present.add((str(item_meta.get("namespace", "")), str(item_meta.get("name", ""))))
                    self._sink.upsert(self.collection, obj)
                del page
            token = str(meta.get("continue") or "")
            if not token:
                break
            await asyncio.sleep(0)  # let the webhook and the workers run between pages
        self._sink.relisted(self.collection, self.namespace, present)
        self.resource_version = version
        if not self.synced.is_set():
            self.synced.set()
            self._sink.first_list_done(self.collection, self.namespace)

    async def _watch_until_gone(self) -> None:
        failures = 0
        while True:
            try:
                await self._watch_once()
                failures = 0
            except errors.KubeError as exc:
                if exc.status == 410:
                    raise Gone() from exc
                failures += 1
                self.stats.errors += 1
                if failures >= 3:
                    raise
                logger.info("watch of %s broke (%s); resuming from %s", self.what, exc, self.resource_version)
                await asyncio.sleep(_RETRY_PAUSE * failures)

    async def _watch_once(self) -> None:
        self.stats.watches += 1
        timeout = self._watch_seconds * (1 + random.random() / 10)  # noqa: S311 - jitter, not a secret
        events = self._kube.watch(
            self.path,
            query={"resourceVersion": self.resource_version, "allowWatchBookmarks": "true"},
            what=self.what,
            server_timeout=timeout,
        )
        async for kind, obj in events:
            self._event(kind, obj)

    def _event(self, kind: str, obj: Json) -> None:
        stats = self.stats
        stats.by_type[kind] = stats.by_type.get(kind, 0) + 1
        if kind == "ERROR":
            code = int(obj.get("code") or 0) if isinstance(obj, Mapping) else 0
            if code == 410:
                raise Gone()
            raise errors.Transient(
                f"watch {self.what}: {obj.get('message', obj)}", status=code, verb="watch", target=self.what
            )
        meta = obj.get("metadata") or {}
        version = str(meta.get("resourceVersion") or "")
        if kind == "BOOKMARK":
            stats.bookmarks += 1
        elif kind in ("ADDED", "MODIFIED"):
            stats.events += 1
            self._sink.upsert(self.collection, obj)
        elif kind == "DELETED":
            stats.events += 1
            self._sink.remove(self.collection, str(meta.get("namespace", "")), str(meta.get("name", "")))
        if version:
            self.resource_version = version
