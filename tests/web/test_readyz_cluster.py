"""/readyz against the real API server: ready while it answers, not ready while it is down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from web_support import build, config_dict, write_config

from receiver.k8s import connect
from receiver.web.app import create_app


async def test_readyz_follows_the_api_server(control_plane: Any, tmp_path: Path, aiohttp_client: Any) -> None:
    kube = await connect(control_plane.kubeconfig)
    harness = build(write_config(tmp_path, config_dict()), kube_ping=kube.ping)
    harness.service.start()
    client: TestClient[Any, Any] = await aiohttp_client(create_app(harness.service))
    try:
        response = await client.get("/readyz")
        assert response.status == 200
        assert await response.json() == {
            "status": "ready",
            "checks": {"config": "ok", "worker": "ok", "kubernetes": "ok"},
        }
        control_plane.stop_apiserver()
        try:
            response = await client.get("/readyz")
            assert response.status == 503
            assert (await response.json())["checks"]["kubernetes"].startswith("unreachable")
            assert (await client.get("/healthz")).status == 200  # alive, just not ready
        finally:
            control_plane.start_apiserver()
        assert (await client.get("/readyz")).status == 200
    finally:
        await harness.service.stop()
        await kube.close()
