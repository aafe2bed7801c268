"""A rig for driving the real pipeline against the real control plane, one WorkItem at a time.

The clock is injected (`rig.advance(...)`), so cooldowns, windows, budgets and confirmation delays are
crossed without sleeping; the Kubernetes side (revisions, patches, rollouts, Events) is real.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from receiver.core.alerts import Alert, AlertStatus
from receiver.core.decisions import Source
from receiver.core.ledger import GuardState
from receiver.core.settings import Action, Config, GuardSettings, Route, StateConfig, TargetSpec
from receiver.core.workload import WorkloadKind
from receiver.k8s import EventRecorder, KubeClient, StateStore, connect
from receiver.pipeline.decision_log import DecisionLog
from receiver.pipeline.items import WorkItem
from receiver.pipeline.pipeline import Pipeline
from receiver.telemetry.metrics import Metrics

V1, V2, V3 = "registry.example/shop:v1", "registry.example/shop:v2", "registry.example/shop:v3"
NEVER_READY = {"rollback-receiver.test/no-such-node": "true"}


def route(name: str = "critical", **guards: Any) -> Route:
    return Route(
        name=name,
        matchers=(),
        action=Action.ROLLBACK,
        target=TargetSpec(WorkloadKind.DEPLOYMENT, "{{ labels.namespace }}", "{{ labels.deployment }}"),
        guards=GuardSettings(**{"verify_timeout": timedelta(seconds=90), **guards}),
    )


def base_config(namespace: str, routes: tuple[Route, ...] = ()) -> Config:
    return Config(
        source=Path("guards-test.yaml"),
        cluster_name="test",
        state=StateConfig(namespace=namespace, name="rollback-receiver-state"),
        routes=routes or (route(),),
    )


def manifest(name: str, image: str, **spec_extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": 1,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        },
    }
    spec.update(spec_extra)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


class Rig:
    def __init__(self, cp: Any, namespace: str, kube: KubeClient, config: Config) -> None:
        self.cp = cp
        self.ns = namespace
        self.kube = kube
        self.config = config
        self.offset = timedelta(0)
        self.metrics = Metrics(CollectorRegistry())
        self.decisions = DecisionLog(1000, self.metrics)
        self.actuator: Pipeline | None = None
        # The ledger as the pipeline keeps it, for tests that prepare or inspect shared state.
        self.store = StateStore.for_config(kube, config)

    @property
    def act(self) -> Pipeline:
        assert self.actuator is not None, "call start() first"
        return self.actuator

    # --- time -------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    # --- the receiver -----------------------------------------------------------------------------

    async def start(self, config: Config | None = None) -> Pipeline:
        self.config = config or self.config
        self.store = StateStore.for_config(self.kube, self.config)
        self.actuator = Pipeline(
            self.config,
            self.kube,
            self.metrics,
            self.decisions,
            events=EventRecorder(),
            clock=self.now,
            holder="replica-test",
        )
        return self.actuator

    async def reconfigure(self, **changes: Any) -> None:
        self.config = dataclasses.replace(self.config, **changes)
        assert self.actuator is not None
        self.store = StateStore.for_config(self.kube, self.config)
        await self.actuator.apply_config(self.config)

    def alert(
        self,
        deployment: str,
        *,
        starts_at: datetime | None = None,
        status: AlertStatus = AlertStatus.FIRING,
        fingerprint: str | None = None,
        namespace: str | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Alert:
        return Alert(
            status=status,
            labels={
                "alertname": "HighErrorRate",
                "namespace": namespace or self.ns,
                "deployment": deployment,
            },
            annotations={"rollback": "true", **(annotations or {})},
            starts_at=starts_at or self.now(),
            ends_at=None,
            generator_url="",
            fingerprint=fingerprint or secrets.token_hex(8),
        )

    async def handle(self, alert: Alert, *, route_: Route | None = None, truncated: int = 0) -> None:
        assert self.actuator is not None
        item = WorkItem(
            alert=alert,
            route=route_ or self.config.routes[0],
            receiver="rollback",
            group_key="{}:{}",
            truncated_alerts=truncated,
            received_at=self.now(),
            source=Source.WEBHOOK,
        )
        await self.actuator.handle(item)

    def last_decision(self) -> tuple[str, str]:
        decision = self.decisions.recent(1)[0]
        return decision.verdict.value, decision.reason

    def counted(self, decision: str, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "rollback_receiver_decisions_total", {"decision": decision, "reason": reason}
        )
        return value or 0.0

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels or {})

    async def state(self) -> GuardState:
        return await self.store.read()

    # --- the cluster ------------------------------------------------------------------------------

    def kubectl(self, *args: str, check: bool = True) -> str:
        return str(self.cp.kubectl(*args, "-n", self.ns, check=check).stdout)

    def deploy(self, name: str, *images: str, wait: bool = True, **spec_extra: Any) -> None:
        """Create a Deployment and roll out each image in turn (one revision per image)."""
        first, *rest = images or (V1, V2)
        self.cp.kubectl(
            "create", "-n", self.ns, "-f", "-", input=json.dumps(manifest(name, first, **spec_extra))
        )
        self.wait(name)
        for image in rest:
            self.set_image(name, image, wait=wait)

    def set_image(self, name: str, image: str, *, wait: bool = True) -> None:
        self.kubectl("set", "image", f"deployment/{name}", f"app={image}")
        if wait:
            self.wait(name)

    def wait(self, name: str) -> None:
        self.kubectl("rollout", "status", f"deployment/{name}", "--timeout=120s")

    def annotate(self, name: str, *pairs: str) -> None:
        self.kubectl("annotate", "--overwrite", f"deployment/{name}", *pairs)

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.cp.kubectl_json("get", "deployment", name, "-n", self.ns))

    def image(self, name: str) -> str:
        return str(self.get(name)["spec"]["template"]["spec"]["containers"][0]["image"])

    def revision(self, name: str) -> int:
        return int(self.get(name)["metadata"]["annotations"]["deployment.kubernetes.io/revision"])

    def events(self, name: str) -> list[tuple[str, str]]:
        """(reason, message) once per emission: an aggregated Event counts `count` times."""
        items = self.cp.kubectl_json(
            "get", "events", "-n", self.ns, "--field-selector", f"involvedObject.name={name}"
        )["items"]
        return [
            (e["reason"], e["message"])
            for e in items
            if e.get("source", {}).get("component") == "rollback-receiver"
            for _ in range(int(e.get("count") or 1))
        ]

    def event_reasons(self, name: str) -> list[str]:
        return [reason for reason, _ in self.events(name)]

    def has_event(self, name: str, reason: str, code: str) -> bool:
        return any(r == reason and message.startswith(f"[{code}]") for r, message in self.events(name))


@asynccontextmanager
async def rig(cp: Any, namespace: str, config: Config | None = None) -> AsyncIterator[Rig]:
    kube = await connect(cp.kubeconfig)
    try:
        the_rig = Rig(cp, namespace, kube, config or base_config(namespace))
        await the_rig.start()
        yield the_rig
    finally:
        if the_rig.actuator is not None:
            await the_rig.actuator.close()
        await kube.close()
