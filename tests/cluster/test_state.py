"""The shared guard state on the real API server: optimistic concurrency loses no update and lets no
budget be overspent, however many writers race."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from receiver.core import ledger
from receiver.core.ledger import Claim, GuardState
from receiver.core.settings import StateConfig
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import Conflict, KubeClient, connect
from receiver.k8s.client import MERGE_PATCH
from receiver.k8s.state import DATA_KEY, StateError, StateStore

NOW = datetime.now(UTC)


def claim(key: str, namespace: str = "shop") -> Claim:
    return Claim(
        key, key, "HighErrorRate", WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, key), NOW, "writer"
    )


async def stores(cp, namespace: str, count: int) -> list[tuple[KubeClient, StateStore]]:
    out = []
    for _ in range(count):
        kube = await connect(cp.kubeconfig)
        out.append((kube, StateStore(kube, StateConfig(namespace, "state"), retention=timedelta(hours=1))))
    return out


async def test_concurrent_writers_lose_no_update(control_plane, namespace) -> None:
    writers = await stores(control_plane, namespace, 4)
    try:

        async def write(index: int) -> None:
            _, store = writers[index % len(writers)]
            await store.update(lambda s: (ledger.add_claim(s, claim(f"k{index}")),) * 2, now=NOW)

        await asyncio.gather(*(write(i) for i in range(24)))
        state = await writers[0][1].read()
        assert sorted(c.key for c in state.claims) == sorted(f"k{i}" for i in range(24))
        stored = control_plane.kubectl_json("get", "configmap", "state", "-n", namespace)
        assert len(json.loads(stored["data"][DATA_KEY])["claims"]) == 24
    finally:
        for kube, _ in writers:
            await kube.close()


async def test_a_budget_is_never_overspent_by_racing_replicas(control_plane, namespace) -> None:
    writers = await stores(control_plane, namespace, 3)
    budget = 3
    try:

        async def reserve(index: int) -> bool:
            _, store = writers[index % len(writers)]

            def mutate(state: GuardState) -> tuple[GuardState, bool]:
                if state.used(NOW + timedelta(seconds=1), timedelta(hours=1), "shop") >= budget:
                    return state, False
                return ledger.add_claim(state, claim(f"r{index}")), True

            return await store.update(mutate, now=NOW)

        granted = await asyncio.gather(*(reserve(i) for i in range(15)))
        assert sum(granted) == budget
        assert len((await writers[0][1].read()).claims) == budget
    finally:
        for kube, _ in writers:
            await kube.close()


async def test_a_stale_resource_version_is_a_conflict(control_plane, namespace) -> None:
    [(kube, store)] = await stores(control_plane, namespace, 1)
    try:
        await store.update(lambda s: (ledger.add_claim(s, claim("first")),) * 2, now=NOW)
        stale = (await store.read()).resource_version
        await store.update(lambda s: (ledger.add_claim(s, claim("second")),) * 2, now=NOW)
        with pytest.raises(Conflict):
            await kube.request(
                "patch",
                f"/api/v1/namespaces/{namespace}/configmaps/state",
                body={"metadata": {"resourceVersion": stale}, "data": {DATA_KEY: "{}"}},
                content_type=MERGE_PATCH,
            )
        assert [c.key for c in (await store.read()).claims] == ["first", "second"]
    finally:
        await kube.close()


async def test_a_corrupt_state_refuses_to_act(control_plane, namespace) -> None:
    control_plane.kubectl(
        "create", "configmap", "state", "-n", namespace, f"--from-literal={DATA_KEY}=not json"
    )
    [(kube, store)] = await stores(control_plane, namespace, 1)
    try:
        with pytest.raises(StateError, match="not readable"):
            await store.read()
    finally:
        await kube.close()
