"""What this process is working on right now: one decision at a time per workload, and the claims in hand.

A second episode for the same workload waits for the first one's patch instead of racing it for budget
(other replicas race through the shared ledger). Recovery skips claims listed here: they are not orphans.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator

from receiver.core.workload import WorkloadRef


class InFlight:
    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[WorkloadRef, asyncio.Lock] = weakref.WeakValueDictionary()
        self._claims: set[str] = set()

    @contextlib.asynccontextmanager
    async def workload(self, ref: WorkloadRef) -> AsyncIterator[None]:
        lock = self._locks.get(ref)
        if lock is None:
            lock = self._locks[ref] = asyncio.Lock()
        async with lock:
            yield

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[None]:
        self._claims.add(key)
        try:
            yield
        finally:
            self._claims.discard(key)

    def __contains__(self, key: str) -> bool:
        return key in self._claims
