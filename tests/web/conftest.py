from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from web_support import Client, Harness, MakeClient, build, config_dict, serve, write_config

from receiver.web.tls import server_context


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[MakeClient]:
    """make_client(**server_settings) -> (client, harness) for a started service with that config, served
    by the real listener on a loopback port (TLS when the config has `server.tls`). `kube_ping`,
    `insecure_no_auth` and `listener` (Listener options) pass through."""
    started: list[tuple[Client, Harness]] = []

    async def make(
        *,
        config: dict[str, Any] | None = None,
        start: bool = True,
        kube_ping: Any = None,
        insecure_no_auth: bool = False,
        ssl_context: Any = None,
        listener: dict[str, Any] | None = None,
        **server: Any,
    ) -> tuple[Client, Harness]:
        path = write_config(tmp_path, config or config_dict(**server))
        harness = build(path, kube_ping=kube_ping, insecure_no_auth=insecure_no_auth)
        tls = harness.service.config.server.tls
        if ssl_context is None and tls is not None:
            ssl_context = server_context(tls)  # from the config's files, as serve builds it
        if start:
            harness.service.start()
        edge = await serve(harness, ssl_context=ssl_context, **(listener or {}))
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
