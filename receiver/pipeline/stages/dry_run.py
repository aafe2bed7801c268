"""Stage: a DRY_RUN decision sends the very patch a rollback would, with the API server's dry-run.

RBAC and admission are exercised, nothing changes. A refusal found there is reported like a skip.
"""

from __future__ import annotations

from dataclasses import replace

from receiver.core.decisions import Decision
from receiver.core.workload import WorkloadFacts
from receiver.k8s import Conflict, KubeError, UndoRefused, undo
from receiver.pipeline.items import WorkItem
from receiver.pipeline.stages.base import Deps, requested_revision


class DryRun:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def run(self, item: WorkItem, facts: WorkloadFacts, decision: Decision) -> None:
        deps = self._deps
        try:
            await undo(
                deps.kube,
                facts.ref,
                to_revision=requested_revision(item, decision),
                dry_run=True,
                decided_on=facts,
                audit=deps.audit(item, decision),
            )
        except UndoRefused as exc:
            decision = deps.skip(item, exc.reason, exc.message, facts.ref)
        except Conflict:
            raise
        except KubeError as exc:
            deps.report.metrics.kube_api_errors.labels(kind=type(exc).__name__).inc()
            decision = replace(decision, message=f"{decision.message}; the server-side dry-run failed: {exc}")
        await deps.report.report(decision, facts)
