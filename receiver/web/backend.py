"""What the web layer needs from the rest of the receiver: one `Backend`, kept on the app as `BACKEND`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from receiver.core.settings import Config
from receiver.pipeline.decision_log import DecisionLog
from receiver.pipeline.intake import Intake
from receiver.telemetry.metrics import Metrics
from receiver.web.auth import Credentials


@dataclass(frozen=True, slots=True)
class Readiness:
    """`checks`: each check -> "ok" or a fixed word for what is wrong (what anonymous /readyz shows);
    `details`: the error text of failing checks (only for the log and authenticated callers)."""

    checks: Mapping[str, str]
    details: Mapping[str, str] = field(default_factory=dict)
    kubernetes_checked_at: str | None = None  # RFC 3339 time of the cached API-server check

    @property
    def ready(self) -> bool:
        return all(value == "ok" for value in self.checks.values())


class Backend(Protocol):
    @property
    def config(self) -> Config: ...
    @property
    def credentials(self) -> Credentials: ...
    @property
    def intake(self) -> Intake: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def decisions(self) -> DecisionLog: ...
    async def readiness(self) -> Readiness:
        """The checks, the API server's from a cache a few seconds old at most."""
        ...

    async def reload(self) -> list[str]:
        """Reload config and secrets; the problems of a rejected file ([] when it was applied)."""
        ...


BACKEND = web.AppKey("backend", Backend)
