from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from web_support import Client, Harness, MakeClient, build, config_dict, write_config

from receiver.web.app import create_app


@pytest.fixture
async def make_client(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[MakeClient]:
    """make_client(**server_settings) -> (client, harness) for a started service with that config."""
    started: list[Harness] = []

    async def make(
        *, config: dict[str, Any] | None = None, start: bool = True, **server: Any
    ) -> tuple[Client, Harness]:
        path = write_config(tmp_path, config or config_dict(**server))
        harness = build(path)
        if start:
            harness.service.start()
        started.append(harness)
        client: Client = await aiohttp_client(create_app(harness.service))
        return client, harness

    yield make
    for harness in started:
        await harness.service.stop()


@pytest.fixture
async def client_and_harness(make_client: MakeClient) -> tuple[Client, Harness]:
    return await make_client()
