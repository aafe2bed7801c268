"""Stage: a resolved alert never acts; it cancels its episode's pending confirmation, if any."""

from __future__ import annotations

from dataclasses import replace

from receiver.core import guards
from receiver.core.ledger import PendingConfirmation
from receiver.core.settings import Action
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps


class Resolved:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def run(self, item: WorkItem) -> None:
        deps = self._deps
        cancelled: tuple[PendingConfirmation, ...] = ()
        if item.route.action is Action.ROLLBACK:  # only a rollback route can have something to cancel
            cancelled = await deps.ledger.resolve(item.alert.episode_key)
        decision = guards.alert_level(item.alert, item.route, deps.config(), deps.clock())
        assert decision is not None  # a resolved alert always stops at the alert-level guards
        if cancelled:
            decision = replace(decision, message="the alert resolved: its pending confirmation is cancelled")
        deps.report.record(deps.stamp(item, decision))
