"""A rig for the rollout-health source on the real control plane: the watch, the source, the work queue and
the pipeline of `serve`, in this process, with kwok pods that really fail (harness/kwok/pod-behaviours.yaml).

Everything that talks to the cluster from the test body runs in a thread (`kubectl`), so the watch and the
workers keep running on the event loop while the test waits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from harness.cluster import ClusterAccess
from harness.pod_behaviours import failing_template
from receiver.core.annotations import ROLLOUT_HEALTH
from receiver.core.decisions import Decision
from receiver.core.matching import parse_matchers
from receiver.core.settings import (
    Action,
    Config,
    GuardSettings,
    NamespacePolicy,
    RolloutHealthConfig,
    Route,
    StateConfig,
    TargetSpec,
)
from receiver.core.workload import WorkloadKind
from receiver.k8s import EventRecorder, KubeClient, StateStore, WorkloadWatch, connect
from receiver.pipeline.decision_log import DecisionLog
from receiver.pipeline.pipeline import Pipeline
from receiver.pipeline.queue import WorkQueue
from receiver.pipeline.rollout_health import RolloutHealth
from receiver.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)

WAIT = 150.0  # bounds a hang on a loaded 2-core machine; nothing here asserts on time
V1, V2 = "registry.example/shop:v1", "registry.example/shop:v2"
T = TypeVar("T")


def health_route(
    name: str = "critical-and-high", match: str = 'severity=~"critical|high"', **guards: Any
) -> Route:
    """Like config/example.yaml's first route: the synthetic alerts carry rollback="true" and a severity."""
    return Route(
        name=name,
        matchers=tuple(parse_matchers('rollback="true"')) + tuple(parse_matchers(match)),
        action=guards.pop("action", Action.ROLLBACK),
        target=TargetSpec(WorkloadKind.DEPLOYMENT, "{{ labels.namespace }}", "{{ labels.deployment }}"),
        mode=guards.pop("mode", None),
        guards=GuardSettings(**{"verify_timeout": timedelta(seconds=90), **guards}),
    )


def health_config(
    namespace: str, *routes: Route, allow: tuple[str, ...] | None = None, **health: Any
) -> Config:
    return Config(
        source=Path("rollout-health-test.yaml"),
        cluster_name="test",
        namespaces=NamespacePolicy(allow=(namespace,) if allow is None else allow),
        state=StateConfig(namespace=namespace, name="rollback-receiver-state"),
        rollout_health=RolloutHealthConfig(enabled=True, **health),
        routes=routes or (health_route(),),
    )


def deployment(name: str, *, deadline: int = 600, replicas: int = 2, **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": {ROLLOUT_HEALTH: "true", **annotations}},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": {"app": name}},
            # One new pod at a time and none of the old ones taken down: the old revision keeps serving.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": template(name, V1),
        },
    }


def template(name: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}}


async def eventually_async(check: Callable[[], T | None], what: str, within: float = WAIT) -> T:
    """Poll without blocking the event loop (the watch and the workers run on it)."""
    started = time.monotonic()
    deadline = started + within
    while True:
        found = check()
        if found is not None and found is not False:
            _slow_step(what, started)
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {within:.0f}s")
        await asyncio.sleep(0.2)


@dataclass
class HealthRig:
    cp: ClusterAccess
    ns: str
    kube: KubeClient
    config: Config
    metrics: Metrics
    decisions: DecisionLog
    health: RolloutHealth
    pipeline: Pipeline
    queue: WorkQueue

    @property
    def store(self) -> StateStore:
        return StateStore.for_config(self.kube, self.config)

    async def kubectl(self, *args: str, namespace: str | None = None, check: bool = True) -> str:
        started = time.monotonic()
        result = await asyncio.to_thread(self.cp.kubectl, *args, "-n", namespace or self.ns, check=check)
        _slow_step(f"kubectl {' '.join(args)[:80]}", started)
        return str(result.stdout)

    async def get(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        text = await self.kubectl("get", "deployment", name, "-o", "json", namespace=namespace)
        found: dict[str, Any] = json.loads(text)
        return found

    async def image(self, name: str, namespace: str | None = None) -> str:
        return str((await self.get(name, namespace))["spec"]["template"]["spec"]["containers"][0]["image"])

    async def create(self, name: str, *, namespace: str | None = None, **kw: Any) -> None:
        """The Deployment at revision 1 (v1, healthy), rolled out."""
        manifest = json.dumps(deployment(name, **kw))
        started = time.monotonic()
        await asyncio.to_thread(
            self.cp.kubectl, "create", "-n", namespace or self.ns, "-f", "-", input=manifest
        )
        _slow_step(f"kubectl create deployment {name}", started)
        await self.kubectl("rollout", "status", f"deployment/{name}", "--timeout=120s", namespace=namespace)

    async def ship(
        self, name: str, behaviour: str | None, *, namespace: str | None = None, **durations: str
    ) -> float:
        """Revision 2 (v2) with pods that behave as `behaviour`; returns the wall time it was applied."""
        new = template(name, V2)
        if behaviour is not None:
            new = failing_template(new, behaviour, **durations)
        patch = [{"op": "replace", "path": "/spec/template", "value": new}]
        shipped = time.time()
        await self.kubectl(
            "patch", f"deployment/{name}", "--type=json", "-p", json.dumps(patch), namespace=namespace
        )
        return shipped

    def decided(self, name: str, namespace: str | None = None) -> list[Decision]:
        target = f"deployment/{name} -n {namespace or self.ns}"
        return [
            d
            for d in reversed(self.decisions.recent(1000))
            if d.target is not None and str(d.target) == target
        ]

    async def decision(self, name: str, wanted: Callable[[Decision], bool], what: str) -> Decision:
        return await eventually_async(
            lambda: next((d for d in self.decided(name) if wanted(d)), None), f"{what} for {name}"
        )

    async def rolled_back(self, name: str) -> dict[str, Any]:
        """Wait until the Deployment is back on v1 and its rollout is complete; returns it."""

        async def done() -> dict[str, Any] | None:
            current = await self.get(name)
            status = current.get("status") or {}
            back = current["spec"]["template"]["spec"]["containers"][0]["image"] == V1
            complete = (
                status.get("updatedReplicas")
                == status.get("availableReplicas")
                == current["spec"]["replicas"]
            )
            return (
                current
                if back and complete and status.get("observedGeneration") == current["metadata"]["generation"]
                else None
            )

        started = time.monotonic()
        deadline = started + WAIT
        while True:
            found = await done()
            if found is not None:
                _slow_step(f"{name} rolled back", started)
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} was not rolled back to {V1}; decisions: {self.decided(name)}")
            await asyncio.sleep(0.5)

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    async def reconfigure(self, config: Config) -> None:
        self.config = config
        await self.pipeline.apply_config(config)

    async def events(self, name: str) -> list[tuple[str, str]]:
        text = await self.kubectl(
            "get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json"
        )
        return [
            (e["reason"], e["message"])
            for e in json.loads(text)["items"]
            if (e.get("source") or {}).get("component") == "rollback-receiver"
        ]


@asynccontextmanager
async def watching(
    cp: ClusterAccess, namespace: str, config: Config, *, holder: str = "replica-a"
) -> AsyncIterator[HealthRig]:
    """The source, the queue and the pipeline of `serve`, started and synced; stopped afterwards."""
    kube = await connect(cp.kubeconfig)
    metrics = Metrics(CollectorRegistry())
    decisions = DecisionLog(1000, metrics)
    health = RolloutHealth(config, WorkloadWatch(kube, config), metrics)
    pipeline = Pipeline(
        config, kube, metrics, decisions, events=EventRecorder(), holder=holder, health=health
    )
    queue = WorkQueue(pipeline, capacity=100, workers=2, metrics=metrics)
    try:
        queue.start()
        pipeline.start()
        health.start(queue, pipeline)
        await asyncio.wait_for(health.watch.wait_synced(), WAIT)
        yield HealthRig(cp, namespace, kube, config, metrics, decisions, health, pipeline, queue)
    finally:
        # Each step bounded and named (a test that hangs in its teardown says where), and each one run.
        stuck = [
            what
            for what, closing in (
                ("the rollout-health source", health.close),
                ("the work queue", lambda: queue.stop(2.0)),
                ("the pipeline", pipeline.close),
                ("the API client", kube.close),
            )
            if not await _closed(closing())
        ]
        assert not stuck, f"closing took more than {CLOSE_WITHIN:.0f}s: {', '.join(stuck)}"


SLOW_STEP = 10.0  # seconds: a step this slow is logged, so a test cut by pytest-timeout shows where time went
CLOSE_WITHIN = 30.0


def _slow_step(what: str, started: float) -> None:
    took = time.monotonic() - started
    if took > SLOW_STEP:
        logger.warning("slow test step: %s took %.1fs", what, took)


async def _closed(closing: Awaitable[object]) -> bool:
    try:
        async with asyncio.timeout(CLOSE_WITHIN):
            await closing
    except TimeoutError:
        return False
    return True


def with_health(config: Config, **changes: Any) -> Config:
    return replace(config, rollout_health=replace(config.rollout_health, **changes))
