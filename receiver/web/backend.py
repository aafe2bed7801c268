"""What the web layer needs from the rest of the receiver: one `Backend`, kept on the app as `BACKEND`."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from receiver.core.settings import Config
from receiver.pipeline.decision_log import DecisionLog
from receiver.pipeline.intake import Intake
from receiver.telemetry.metrics import Metrics
from receiver.web.auth import Credentials


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
    async def readiness(self) -> dict[str, str]:
        """Each check -> "ok" or what is wrong."""
        ...

    async def reload(self) -> list[str]:
        """Reload config and secrets; the problems of a rejected file ([] when it was applied)."""
        ...


BACKEND = web.AppKey("backend", Backend)
