"""Authentication Alertmanager 0.25 can send: bearer, basic, and client certificates over real TLS."""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from web_support import (
    AUTH,
    JSON,
    PASSWORD,
    TOKEN,
    USER,
    MakeClient,
    alert,
    body,
    build,
    config_dict,
    make_pki,
    write_config,
)

from receiver.config import load_config
from receiver.web.app import create_app
from receiver.web.server import Listener
from receiver.web.tls import server_context


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


BEARER_ONLY = config_dict()
BOTH = config_dict(
    auth={"bearer_token_file": "token", "basic_auth": {"username": USER, "password_file": "password"}}
)


@pytest.mark.parametrize(
    ("config", "headers", "status"),
    [
        (BEARER_ONLY, AUTH, 200),
        (BEARER_ONLY, {"Authorization": f"bearer {TOKEN}"}, 200),  # the scheme is case-insensitive
        (BEARER_ONLY, {"Authorization": f"Bearer {TOKEN}x"}, 401),
        (BEARER_ONLY, {"Authorization": f"Bearer {TOKEN[:-1]}"}, 401),
        (BEARER_ONLY, {"Authorization": "Bearer "}, 401),
        (BEARER_ONLY, {"Authorization": TOKEN}, 401),
        (BEARER_ONLY, {}, 401),
        (BEARER_ONLY, basic(USER, PASSWORD), 401),  # basic is not configured here
        (BOTH, basic(USER, PASSWORD), 200),
        (BOTH, AUTH, 200),
        (BOTH, basic(USER, "wrong"), 401),
        (BOTH, basic("someone", PASSWORD), 401),
        (BOTH, {"Authorization": "Basic !!!not-base64"}, 401),
        (BOTH, {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, 401),
    ],
)
async def test_webhook_credentials(
    make_client: MakeClient, config: dict[str, Any], headers: dict[str, str], status: int
) -> None:
    client, harness = await make_client(config=config)
    response = await client.post("/webhook", data=body(alert()), headers={**JSON, **headers})
    assert response.status == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
        assert (await response.json()) == {"error": "authentication required"}
        assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "401"}) == 1
        assert harness.actuator.items == []


async def test_401_names_every_accepted_scheme(make_client: MakeClient) -> None:
    client, _ = await make_client(config=BOTH)
    response = await client.post("/webhook", data=body(alert()), headers=JSON)
    challenge = response.headers["WWW-Authenticate"]
    assert 'Bearer realm="rollback-receiver"' in challenge and 'Basic realm="rollback-receiver"' in challenge


async def test_which_endpoints_need_credentials(make_client: MakeClient) -> None:
    client, _ = await make_client()
    for method, path in (("POST", "/-/reload"), ("GET", "/api/v1/decisions"), ("POST", "/webhook")):
        assert (await client.request(method, path)).status == 401, path
    for path in ("/healthz", "/metrics"):
        assert (await client.get(path)).status == 200, path
    assert (await client.get("/api/v1/decisions", headers=AUTH)).status == 200


async def test_secrets_never_reach_the_logs(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = await make_client(config=BOTH)
    caplog.set_level("DEBUG")
    await client.post(
        "/webhook", data=body(alert()), headers={**JSON, "Authorization": "Bearer guessed-secret"}
    )
    await client.post("/webhook", data=body(alert()), headers={**JSON, **AUTH})
    logged = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert "guessed-secret" not in logged and TOKEN not in logged
    assert "rejected unauthenticated request" in caplog.text


@pytest.fixture
async def mtls_server(tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    pki = make_pki(tmp_path)
    config = config_dict(
        auth={},
        tls={
            "cert_file": str(pki.server_cert),
            "key_file": str(pki.server_key),
            "client_ca_file": str(pki.ca),
        },
    )
    path = write_config(tmp_path, config)
    loaded = load_config(path, environ={})
    assert loaded.server.tls is not None
    context = server_context(loaded.server.tls)
    harness = build(path, ssl_context=context)
    harness.service.start()
    listener = Listener(create_app(harness.service), host="127.0.0.1", port=0, ssl_context=context)
    await listener.start()
    try:
        yield f"https://127.0.0.1:{listener.port}", pki
    finally:
        await listener.stop()
        await harness.service.stop()


def client_context(pki: Any, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


async def test_mtls_accepts_a_client_certificate_from_the_trusted_ca(mtls_server: tuple[str, Any]) -> None:
    url, pki = mtls_server
    async with aiohttp.ClientSession() as session:
        context = client_context(pki, pki.client_cert, pki.client_key)
        async with session.post(f"{url}/webhook", data=body(alert()), headers=JSON, ssl=context) as response:
            assert response.status == 200  # the certificate is the credential: no Authorization header
            assert (await response.json())["queued"] == 1


@pytest.mark.parametrize("who", ["no certificate", "certificate from an unknown CA"])
async def test_mtls_refuses_other_clients(mtls_server: tuple[str, Any], who: str) -> None:
    url, pki = mtls_server
    cert, key = (None, None) if who == "no certificate" else (pki.stranger_cert, pki.stranger_key)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.post(
                f"{url}/webhook", data=body(alert()), headers=JSON, ssl=client_context(pki, cert, key)
            ) as response:
                await response.read()
