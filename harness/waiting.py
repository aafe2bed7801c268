"""Wait for a state that real processes will reach: the one polling loop of the harness, demo and tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.25


class GaveUpWaiting(AssertionError):
    """The awaited state did not come. An AssertionError, so a test that waits fails rather than errors."""


def eventually(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float = 120,
    interval: float = POLL_SECONDS,
    retry_on: tuple[type[Exception], ...] = (),
    on_fail: Callable[[], str] | None = None,
) -> T:
    """Poll `check` until it returns an answer, and return that. None, False and an empty collection or
    string mean "not yet"; any number (0 included) is an answer.

    The timeout only bounds a hang: nothing may assert on how long it took. `retry_on` exceptions mean
    "not yet" (e.g. OSError while a process restarts); the last one is named if time runs out, with
    `on_fail()` (a log tail, what was seen so far) appended.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = check()
        except retry_on as error:
            last_error, value = error, None
        if not _not_yet(value):
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            message = f"gave up after {timeout:.0f}s waiting for {what}"
            if last_error is not None:
                message += f" (last error: {last_error})"
            if on_fail is not None:
                message += f"\n{on_fail()}"
            raise GaveUpWaiting(message)
        time.sleep(interval)


def _not_yet(value: object) -> bool:
    if value is None or value is False:
        return True
    return isinstance(value, str | bytes | list | tuple | dict | set | frozenset) and not value
