"""API calls leave nothing for the cycle collector: under an alert storm every decision makes several (the
guard state, the workload, its history, a 404 for Argo Rollouts where the CRD is not installed), and
garbage held in reference cycles is freed only by a collection that stops the event loop, and with it the
webhook, for as long as it walks them (50-100 ms were measured; bench/README.md)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from receiver.k8s import KubeClient, NotFound, connect

CALLS = 40


@pytest.fixture
async def kube(control_plane: Any) -> AsyncIterator[KubeClient]:
    client = await connect(control_plane.kubeconfig)
    await client.request("get", "/version")  # connection pool, TLS session and caches warmed up
    yield client
    await client.close()


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def test_successful_calls_leave_no_reference_cycles(
    kube: KubeClient, namespace: str, no_automatic_collection: None
) -> None:
    for _ in range(CALLS):
        await kube.request("get", f"/api/v1/namespaces/{namespace}", what=f"namespaces/{namespace}")
        await kube.request("list", f"/api/v1/namespaces/{namespace}/configmaps", what="configmaps")
    assert gc.collect() < CALLS  # before: about 35 objects a call (tenacity's retry state)


async def test_refused_calls_leave_no_reference_cycles(
    kube: KubeClient, namespace: str, no_automatic_collection: None
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/not-there"
    for _ in range(CALLS):
        with pytest.raises(NotFound):
            await kube.request("get", path, what="configmaps/not-there")
    # before: about 100 objects a call (the client library's exception held its own traceback)
    assert gc.collect() < CALLS
