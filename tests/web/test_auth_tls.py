"""Authentication Alertmanager 0.25 can send: bearer, basic, and client certificates over real TLS, and the
reload rules that keep it from ever being switched off at runtime."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from web_support import (
    AUTH,
    HEADERS,
    JSON,
    PASSWORD,
    TOKEN,
    USER,
    Client,
    Harness,
    MakeClient,
    Pki,
    alert,
    body,
    config_dict,
    make_pki,
    raw_exchange,
    raw_request,
)

RELOAD_OK = "rollback_receiver_config_last_reload_successful"


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
    for method, path in (
        ("POST", "/-/reload"),
        ("GET", "/api/v1/decisions"),
        ("GET", "/api/v1/readiness"),
        ("POST", "/api/v1/breaker/reset"),  # any /api/ path, even before the breaker is installed
        ("POST", "/webhook"),
    ):
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


@pytest.mark.parametrize(
    ("authorization", "logged_scheme"),
    [
        (TOKEN + "-guessed", "other"),  # a token without a scheme: the whole value is the secret
        ("Bearer " + TOKEN + "-guessed", "bearer"),
        ("bearer", "other"),  # no value: a scheme name alone may still be a secret
        ("Mytoken " + TOKEN + "-guessed", "other"),
        ("Basic " + base64.b64encode(b"u:" + TOKEN.encode() + b"-guessed").decode(), "basic"),
    ],
)
async def test_the_auth_failure_log_names_only_known_schemes(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, authorization: str, logged_scheme: str
) -> None:
    client, _ = await make_client()
    caplog.set_level("DEBUG")
    response = await client.post(
        "/webhook", data=body(alert()), headers={**JSON, "Authorization": authorization}
    )
    assert response.status == 401
    (record,) = [r for r in caplog.records if r.getMessage() == "rejected unauthenticated request"]
    assert record.__dict__["scheme"] == logged_scheme
    everything = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert "guessed" not in everything and TOKEN not in everything


@pytest.mark.parametrize(
    "raw_header",
    [
        b"Authorization: Bearer \xe9t\xe9\r\n",  # Latin-1
        b"Authorization: \xff\xfe\xfd\r\n",  # not UTF-8 at all
        b"Authorization: Bearer " + TOKEN.encode() + b"\xc3\r\n",  # the token plus a broken UTF-8 byte
        b"Authorization: Basic \xc3\xa9\xc3\xa9==\r\n",
    ],
)
async def test_an_authorization_header_that_is_not_utf8_is_a_401(
    client_and_harness: tuple[Client, Harness], raw_header: bytes
) -> None:
    client, _ = client_and_harness
    answer = await raw_exchange(
        client.port, raw_request("POST", "/webhook", body(alert()), JSON, raw_headers=raw_header)
    )
    assert (answer.status, answer.json()) == (401, {"error": "authentication required"})


async def test_a_token_file_with_non_utf8_bytes_matches_exactly_those_bytes(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client, _ = await make_client()
    (tmp_path / "token").write_bytes(b"caf\xe9-token\n")  # Latin-1 in the Secret
    assert (await client.post("/-/reload", headers=AUTH)).status == 200
    right = raw_request(
        "POST", "/webhook", body(alert()), JSON, raw_headers=b"Authorization: Bearer caf\xe9-token\r\n"
    )
    wrong = raw_request(
        "POST", "/webhook", body(alert()), JSON, raw_headers=b"Authorization: Bearer caf\xc3\xa9-token\r\n"
    )
    assert (await raw_exchange(client.port, wrong)).status == 401
    assert (await raw_exchange(client.port, right)).status == 200


# -- --insecure-no-auth -------------------------------------------------------------------------------------

NO_AUTH = config_dict()
NO_AUTH["server"].pop("auth")


async def test_insecure_no_auth_accepts_anonymous_webhooks_and_says_so(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING")
    client, _ = await make_client(config=NO_AUTH, insecure_no_auth=True)
    response = await client.post("/webhook", data=body(alert()), headers=JSON)
    assert response.status == 200 and (await response.json())["queued"] == 1
    assert any(
        r.getMessage().startswith("INSECURE: accepting unauthenticated requests") for r in caplog.records
    )
    assert any(r.levelname == "WARNING" and "INSECURE" in r.getMessage() for r in caplog.records)


async def test_without_the_flag_a_reload_may_not_drop_authentication(
    client_and_harness: tuple[Client, Harness], caplog: pytest.LogCaptureFixture
) -> None:
    client, harness = client_and_harness
    harness.config_path.write_text(yaml.safe_dump(NO_AUTH))
    with caplog.at_level("ERROR", logger="receiver.service"):
        response = await client.post("/-/reload", headers=AUTH)
    assert response.status == 400
    (problem,) = (await response.json())["problems"]
    assert problem == (
        f"{harness.config_path}: server.auth: no authentication left (neither server.auth nor "
        "server.tls.client_ca_file) and serve was not started with --insecure-no-auth"
    )
    assert harness.sample(RELOAD_OK) == 0
    assert problem in caplog.text
    assert (await client.post("/webhook", data=body(alert()), headers=JSON)).status == 401
    assert (await client.post("/webhook", data=body(alert()), headers=HEADERS)).status == 200


async def test_with_the_flag_a_reload_that_adds_authentication_enforces_it(make_client: MakeClient) -> None:
    client, harness = await make_client(config=NO_AUTH, insecure_no_auth=True)
    harness.config_path.write_text(yaml.safe_dump(config_dict()))
    assert (await client.post("/-/reload")).status == 200
    assert (await client.post("/webhook", data=body(alert()), headers=JSON)).status == 401
    assert (await client.post("/webhook", data=body(alert()), headers=HEADERS)).status == 200


# -- TLS: the connection's verified certificate, and reloads ------------------------------------------------


def tls_config(pki: Pki, *, client_ca: Path | None, **server: Any) -> dict[str, Any]:
    tls: dict[str, Any] = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    if client_ca is not None:
        tls["client_ca_file"] = str(client_ca)
    return config_dict(tls=tls, **server)


def client_context(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


async def serve_tls(make_client: MakeClient, config: dict[str, Any]) -> tuple[Client, Harness]:
    """The config's service behind a TLS listener built from the config's own files, as `serve` does."""
    return await make_client(config=config)


async def post_over_tls(client: Client, context: ssl.SSLContext, headers: dict[str, str] = JSON) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{client.url}/webhook", data=body(alert()), headers=headers, ssl=context) as r,
    ):
        return r.status


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    directory = tmp_path / "pki"
    directory.mkdir()
    return make_pki(directory)


MTLS_ONLY = {"auth": {}}


async def test_mtls_accepts_a_client_certificate_from_the_trusted_ca(
    make_client: MakeClient, pki: Pki
) -> None:
    client, _ = await serve_tls(make_client, tls_config(pki, client_ca=pki.ca, **MTLS_ONLY))
    # The certificate is the credential: no Authorization header.
    assert await post_over_tls(client, client_context(pki, pki.client_cert, pki.client_key)) == 200


async def test_mtls_without_a_certificate_reaches_the_probes_but_nothing_protected(
    make_client: MakeClient, pki: Pki
) -> None:
    client, _ = await serve_tls(make_client, tls_config(pki, client_ca=pki.ca, **MTLS_ONLY))
    anonymous = client_context(pki)
    async with aiohttp.ClientSession() as session:
        for path in ("/healthz", "/metrics"):
            async with session.get(f"{client.url}{path}", ssl=anonymous) as response:
                assert response.status == 200, path  # kubelet's probes and Prometheus send no certificate
        for method, path in (("POST", "/webhook"), ("POST", "/-/reload"), ("GET", "/api/v1/decisions")):
            async with session.request(method, f"{client.url}{path}", ssl=anonymous) as response:
                assert response.status == 401, path


async def test_mtls_refuses_a_certificate_from_another_ca(make_client: MakeClient, pki: Pki) -> None:
    client, harness = await serve_tls(make_client, tls_config(pki, client_ca=pki.ca, **MTLS_ONLY))
    with pytest.raises(aiohttp.ClientError):
        await post_over_tls(client, client_context(pki, pki.stranger_cert, pki.stranger_key))
    assert (
        harness.sample("rollback_receiver_http_connections_closed_total", {"reason": "tls_handshake_failed"})
        == 1
    )


async def test_mtls_and_a_token_need_both(make_client: MakeClient, pki: Pki) -> None:
    client, _ = await serve_tls(make_client, tls_config(pki, client_ca=pki.ca))
    with_cert = client_context(pki, pki.client_cert, pki.client_key)
    assert await post_over_tls(client, with_cert) == 401
    assert await post_over_tls(client, client_context(pki), HEADERS) == 401
    assert await post_over_tls(client, with_cert, HEADERS) == 200


async def test_a_reload_cannot_turn_tls_on_and_drop_the_token(
    client_and_harness: tuple[Client, Harness], pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    """The attack of issue 11: a plain listener, a config that "adds mTLS" and drops the token."""
    client, harness = client_and_harness
    harness.config_path.write_text(yaml.safe_dump(tls_config(pki, client_ca=pki.ca, **MTLS_ONLY)))
    with caplog.at_level("ERROR", logger="receiver.service"):
        response = await client.post("/-/reload", headers=AUTH)
    assert response.status == 400
    assert (await response.json())["problems"] == [
        f"{harness.config_path}: server.tls: the listener started without TLS; turning it on needs a restart"
    ]
    assert harness.sample(RELOAD_OK) == 0
    assert "turning it on needs a restart" in caplog.text
    for method, path in (("POST", "/webhook"), ("POST", "/-/reload"), ("POST", "/api/v1/breaker/reset")):
        assert (await client.request(method, path, data=body(alert()), headers=JSON)).status == 401, path
    assert (await client.post("/webhook", data=body(alert()), headers=HEADERS)).status == 200


async def test_a_reload_cannot_turn_tls_off(make_client: MakeClient, pki: Pki) -> None:
    client, harness = await serve_tls(make_client, tls_config(pki, client_ca=None))
    harness.config_path.write_text(yaml.safe_dump(config_dict()))
    response = await client.post("/-/reload", headers=AUTH, ssl=client_context(pki))
    assert response.status == 400
    assert "started with TLS; turning it off needs a restart" in (await response.json())["problems"][0]
    assert harness.sample(RELOAD_OK) == 0


async def test_a_reload_that_removes_the_only_client_ca_is_rejected(
    make_client: MakeClient, pki: Pki
) -> None:
    client, harness = await serve_tls(make_client, tls_config(pki, client_ca=pki.ca, **MTLS_ONLY))
    harness.config_path.write_text(yaml.safe_dump(tls_config(pki, client_ca=None, **MTLS_ONLY)))
    trusted = client_context(pki, pki.client_cert, pki.client_key)
    response = await client.post("/-/reload", ssl=trusted)
    assert response.status == 400
    assert "no authentication left" in (await response.json())["problems"][0]
    assert await post_over_tls(client, client_context(pki)) == 401
    assert await post_over_tls(client, trusted) == 200


async def test_a_replaced_client_ca_stops_being_trusted_without_a_restart(
    make_client: MakeClient, pki: Pki, tmp_path: Path
) -> None:
    other_dir = tmp_path / "other-pki"
    other_dir.mkdir()
    other = make_pki(other_dir)
    bundle = tmp_path / "client-ca.pem"
    bundle.write_bytes(pki.ca.read_bytes())
    client, harness = await serve_tls(make_client, tls_config(pki, client_ca=bundle, **MTLS_ONLY))
    old_client = client_context(pki, pki.client_cert, pki.client_key)
    new_client = client_context(pki, other.client_cert, other.client_key)
    assert await post_over_tls(client, old_client) == 200
    with pytest.raises(aiohttp.ClientError):
        await post_over_tls(client, new_client)

    # An idle keep-alive connection made under the old CA, as Alertmanager keeps one.
    keep_alive = aiohttp.ClientSession()
    try:
        async with keep_alive.get(f"{client.url}/healthz", ssl=old_client) as response:
            assert response.status == 200
        generation = harness.listener.generation if harness.listener else -1

        bundle.write_bytes(other.ca.read_bytes())  # same path, new contents: the Secret was rotated
        response = await client.post("/-/reload", ssl=old_client)
        assert response.status == 200  # answered on its old connection, which then closes
        assert harness.listener is not None and harness.listener.generation == generation + 1
        assert harness.sample(RELOAD_OK) == 1
        closed = "rollback_receiver_http_connections_closed_total"
        assert harness.sample(closed, {"reason": "tls_reloaded"}) == 1  # the idle one, at once

        with pytest.raises(aiohttp.ClientError):
            await post_over_tls(client, old_client)
        assert await post_over_tls(client, new_client) == 200
        # The old connection is gone: the session has to reconnect, and the old certificate fails.
        with pytest.raises(aiohttp.ClientError):
            async with keep_alive.post(
                f"{client.url}/webhook", data=body(alert()), headers=JSON, ssl=old_client
            ) as response:
                await response.read()
    finally:
        await keep_alive.close()


async def test_a_reload_with_unchanged_tls_files_keeps_the_context(make_client: MakeClient, pki: Pki) -> None:
    client, harness = await serve_tls(make_client, tls_config(pki, client_ca=None))
    assert harness.listener is not None
    context = harness.listener.ssl_context
    response = await client.post("/-/reload", headers=AUTH, ssl=client_context(pki))
    assert response.status == 200
    assert harness.listener.ssl_context is context and harness.listener.generation == 0


async def test_a_reload_with_a_broken_certificate_keeps_the_last_good_one(
    make_client: MakeClient, pki: Pki, tmp_path: Path
) -> None:
    cert = tmp_path / "serving.crt"
    cert.write_bytes(pki.server_cert.read_bytes())
    config = tls_config(pki, client_ca=None)
    config["server"]["tls"]["cert_file"] = str(cert)
    client, harness = await serve_tls(make_client, config)
    cert.write_text("not a certificate\n")
    response = await client.post("/-/reload", headers=AUTH, ssl=client_context(pki))
    assert response.status == 400
    assert "server.tls" in (await response.json())["problems"][0]
    assert harness.sample(RELOAD_OK) == 0
    assert await post_over_tls(client, client_context(pki), HEADERS) == 200
