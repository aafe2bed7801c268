from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from web_support import (
    Client,
    Harness,
    MakeClient,
    build,
    config_dict,
    serve,
    unreachable_kubeconfig,
    write_config,
)

from receiver.web.tls import server_context


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[MakeClient]:
    """make_client(**server_settings) -> (client, harness) for a started service with that config, served
    by the real listener on a loopback port (TLS when the config has `server.tls`). `kube_ping`,
    `insecure_no_auth`, `clock` (the service's), `breaker` (installs the breaker endpoints) and `listener`
    (Listener options) pass through."""
    started: list[tuple[Client, Harness]] = []

    async def make(
        *,
        config: dict[str, Any] | None = None,
        start: bool = True,
        kube_ping: Any = None,
        insecure_no_auth: bool = False,
        ssl_context: Any = None,
        breaker: Any = None,
        listener: dict[str, Any] | None = None,
        clock: Any = None,
        **server: Any,
    ) -> tuple[Client, Harness]:
        path = write_config(tmp_path, config or config_dict(**server))
        harness = build(path, kube_ping=kube_ping, insecure_no_auth=insecure_no_auth, clock=clock)
        tls = harness.service.config.server.tls
        if ssl_context is None and tls is not None:
            ssl_context = server_context(tls)  # from the config's files, as serve builds it
        if start:
            harness.service.start()
        edge = await serve(harness, ssl_context=ssl_context, breaker=breaker, **(listener or {}))
        client = Client(edge, scheme="https" if ssl_context is not None else "http")
        started.append((client, harness))
        return client, harness

    yield make
    for client, harness in started:
        await client.close()
        assert harness.listener is not None
        await harness.listener.stop()
        await harness.service.stop()


@pytest.fixture
async def client_and_harness(make_client: MakeClient) -> tuple[Client, Harness]:
    return await make_client()


@pytest.fixture
async def unreachable_pipeline(tmp_path: Path) -> AsyncIterator[Any]:
    """The real Pipeline on a real cluster client whose API server does not answer (connection refused,
    retried for at most half a second): its guard-state store fails as it would in an outage."""
    from prometheus_client import CollectorRegistry

    from receiver.config import load_config
    from receiver.k8s import EventRecorder, RetryPolicy, connect
    from receiver.pipeline.decision_log import DecisionLog
    from receiver.pipeline.pipeline import Pipeline
    from receiver.telemetry.metrics import Metrics

    kube = await connect(str(unreachable_kubeconfig(tmp_path)), retry=RetryPolicy(deadline=0.5))
    config = load_config(write_config(tmp_path, config_dict()), environ={})
    metrics = Metrics(CollectorRegistry())
    pipeline = Pipeline(config, kube, metrics, DecisionLog(10, metrics), events=EventRecorder())
    try:
        yield pipeline
    finally:
        await pipeline.close()
        await kube.close()
