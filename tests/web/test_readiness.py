"""/readyz against the real API server: ready while it answers, not ready while it is down, from a check
cached for a few seconds (however often the probes come), and never with the error text for anonymous
callers (that goes to the log and to the authenticated /api/v1/readiness)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from web_support import AUTH, MakeClient, unreachable_kubeconfig

from receiver.k8s import connect
from receiver.web.limits import READY_CACHE_SECONDS


class CountingPing:
    """The real client's ping, counted: how often /readyz reaches the API server."""

    def __init__(self, ping: Any) -> None:
        self._ping = ping
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        await self._ping()


async def readyz_until(client: Any, status: int, within: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await client.get("/readyz")
        if response.status == status:
            answer: dict[str, Any] = await response.json()
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"/readyz still {response.status} after {within}s: {await response.text()}")
        await asyncio.sleep(0.5)


async def test_readyz_follows_the_api_server_from_a_cached_check(
    control_plane: Any, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    kube = await connect(control_plane.kubeconfig)
    ping = CountingPing(kube.ping)
    try:
        client, _ = await make_client(kube_ping=ping)
        answers = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
        assert [r.status for r in answers] == [200] * 20
        assert await answers[0].json() == {
            "status": "ready",
            "checks": {"config": "ok", "worker": "ok", "kubernetes": "ok"},
        }
        assert ping.calls == 1  # 20 probes, one API call

        control_plane.stop_apiserver()
        try:
            down = await readyz_until(client, 503, within=READY_CACHE_SECONDS + 15)
            # Anonymous callers learn which check failed, never what the client library said.
            assert down == {
                "status": "not ready",
                "checks": {"config": "ok", "worker": "ok", "kubernetes": "unreachable"},
            }
            detailed = await (await client.get("/api/v1/readiness", headers=AUTH)).json()
            assert detailed["checks"]["kubernetes"] == "unreachable"
            assert "cannot reach the API server" in detailed["details"]["kubernetes"]
            assert detailed["kubernetes_checked_at"]
            assert "not ready: the Kubernetes API server check failed" in caplog.text
            assert (await client.get("/healthz")).status == 200  # alive, just not ready
        finally:
            control_plane.start_apiserver()
        await readyz_until(client, 200, within=READY_CACHE_SECONDS + 30)
    finally:
        await kube.close()


async def test_an_unreachable_api_server_is_not_echoed_to_anonymous_callers(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """The real client against a loopback port where nothing listens: the failure is real, no cluster."""
    kubeconfig = unreachable_kubeconfig(tmp_path)
    kube = await connect(str(kubeconfig))
    ping = CountingPing(kube.ping)
    try:
        client, _ = await make_client(kube_ping=ping)
        response = await client.get("/readyz")
        assert response.status == 503
        text = await response.text()
        assert "127.0.0.1" not in text and "Connect" not in text and "secret-kube-token" not in text
        assert (await response.json())["checks"]["kubernetes"] == "unreachable"
        for _ in range(5):
            assert (await client.get("/readyz")).status == 503
        assert ping.calls == 1
        details = await (await client.get("/api/v1/readiness", headers=AUTH)).json()
        assert "127.0.0.1" in details["details"]["kubernetes"]
        assert (await client.get("/api/v1/readiness")).status == 401
    finally:
        await kube.close()
