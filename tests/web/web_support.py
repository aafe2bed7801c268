"""Building the real web app around a real Service, served by the real listener on a loopback port.

The only stand-in is the actuator: the `Actuator` protocol is our own interface, and the recorder
below implements it to show what the intake handed over. Requests go through `receiver.web.server.Listener`
(connection cap, head deadline, TLS), exactly as `serve` answers them.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import ipaddress
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from prometheus_client import CollectorRegistry

from receiver.config import load_config
from receiver.core.timefmt import utc_now
from receiver.pipeline.decision_log import DecisionLog
from receiver.pipeline.items import WorkItem
from receiver.service import Service
from receiver.telemetry.metrics import Metrics
from receiver.web import admin
from receiver.web.app import create_app
from receiver.web.auth import load_credentials
from receiver.web.server import Listener

TOKEN = "s3cret-token-for-tests"
USER, PASSWORD = "alertmanager", "pa:ss word"


class Client:
    """An aiohttp client session bound to one listener: `await client.post("/webhook", ...)`."""

    def __init__(self, listener: Listener, *, scheme: str = "http") -> None:
        self.listener = listener
        self.port = listener.port
        self.url = f"{scheme}://127.0.0.1:{listener.port}"
        self.session = aiohttp.ClientSession()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.session.request(method, self.url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    async def close(self) -> None:
        await self.session.close()


class RecordingActuator:
    """Records each work item; while `gate` is clear it holds every item (to fill the queue)."""

    def __init__(self) -> None:
        self.items: list[WorkItem] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.configs: list[object] = []

    async def handle(self, item: WorkItem) -> None:
        await self.gate.wait()
        self.items.append(item)

    async def apply_config(self, config: object) -> None:
        self.configs.append(config)


BASE_CONFIG: dict[str, Any] = {
    "server": {"auth": {"bearer_token_file": "token"}, "queue_size": 50, "workers": 1},
    "namespaces": {"allow": ["shop"]},
    "routes": [
        {
            "name": "critical-and-high",
            "match": ['rollback="true"', 'severity=~"critical|high"'],
            "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
            "action": "rollback",
        },
        {
            "name": "medium",
            "match": ['rollback="true"', 'severity="medium"'],
            "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
            "action": "rollback",
            "confirm_for": "5m",
        },
        {"name": "noise", "match": ['severity="info"'], "action": "ignore"},
    ],
}


def config_dict(**server: Any) -> dict[str, Any]:
    config = copy.deepcopy(BASE_CONFIG)
    config["server"].update(server)
    return config


def write_config(directory: Path, config: dict[str, Any]) -> Path:
    (directory / "token").write_text(TOKEN + "\n")
    (directory / "password").write_text(PASSWORD + "\n")
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Harness:
    service: Service
    actuator: RecordingActuator
    metrics: Metrics
    config_path: Path
    listener: Listener | None = None

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or {})
        return 0.0 if value is None else value


MakeClient = Callable[..., Awaitable[tuple[Client, Harness]]]


def build(
    config_path: Path,
    *,
    kube_ping: Callable[[], Awaitable[None]] | None = None,
    insecure_no_auth: bool = False,
    clock: Callable[[], dt.datetime] | None = None,
) -> Harness:
    config = load_config(config_path, environ={})
    metrics = Metrics(CollectorRegistry())
    decisions = DecisionLog(config.server.decision_log_entries, metrics)
    actuator = RecordingActuator()
    service = Service(
        config,
        load_credentials(config.server, source=config.source, insecure_no_auth=insecure_no_auth),
        metrics=metrics,
        decisions=decisions,
        pipeline=actuator,
        kube_ping=kube_ping,
        on_config=actuator.apply_config,
        clock=clock or utc_now,
    )
    return Harness(service, actuator, metrics, config_path)


async def serve(
    harness: Harness, *, ssl_context: Any = None, breaker: Any = None, **listener_options: Any
) -> Listener:
    """The harness's service behind the real listener on 127.0.0.1 (a free port), as `serve` runs it;
    `breaker` (a Pipeline) gets the /api/v1/breaker endpoints."""
    app = create_app(harness.service)
    if breaker is not None:
        admin.install(app, breaker)
    listener = Listener(app, host="127.0.0.1", port=0, ssl_context=ssl_context, **listener_options)
    harness.service.use_listener(listener)
    await listener.start()
    harness.listener = listener
    return listener


def alert(
    name: str = "HighErrorRate",
    *,
    severity: str = "high",
    status: str = "firing",
    fingerprint: str = "a1b2c3d4e5f60718",
    starts_at: str = "2026-11-29T09:05:00.123456789Z",
    rollback: bool = True,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "namespace": "shop", "deployment": "ecommerce", "severity": severity},
        "annotations": {"rollback": "true"} if rollback else {},
        "startsAt": starts_at,
        "endsAt": "2026-11-29T09:20:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any], truncated: int = 0) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}/{severity=~"critical|high|medium|low"}:{alertname="HighErrorRate"}',
        "truncatedAlerts": truncated,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "rollback-receiver",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }


def body(*alerts: dict[str, Any], truncated: int = 0) -> bytes:
    return json.dumps(payload(*alerts, truncated=truncated)).encode()


AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}
HEADERS = {**AUTH, **JSON}


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # signed by a CA the server does not trust
    stranger_key: Path


def make_pki(directory: Path) -> Pki:
    """A CA, a serving cert for 127.0.0.1, a client cert from that CA and one from an unknown CA."""
    now = dt.datetime.now(dt.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(cn))
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(k, hashes.SHA256())
        )
        return cert, k

    def leaf(
        cn: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], usage: x509.ObjectIdentifier
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(issuer[0].subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(issuer[1], hashes.SHA256()), k

    def write(stem: str, pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert_path.write_bytes(pair[0].public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            pair[1].private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_path, key_path

    authority = ca("rollback-receiver test CA")
    ca_path, _ = write("ca", authority)
    server = write("server", leaf("127.0.0.1", authority, ExtendedKeyUsageOID.SERVER_AUTH))
    client = write("client", leaf("alertmanager", authority, ExtendedKeyUsageOID.CLIENT_AUTH))
    stranger = write("stranger", leaf("alertmanager", ca("someone else"), ExtendedKeyUsageOID.CLIENT_AUTH))
    return Pki(ca_path, *server, *client, *stranger)


@dataclass(frozen=True)
class RawAnswer:
    status: int  # 0: the connection closed without an answer
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def raw_exchange(port: int, data: bytes, *, wait: float = 10.0, half_close: bool = False) -> RawAnswer:
    """Send `data` as is (any bytes, any framing) on a new connection; read the one answer, if any."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if half_close:
            writer.write_eof()
        async with asyncio.timeout(wait):
            raw = await reader.read(-1)
    except ConnectionError:
        raw = b""
    finally:
        writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):
        return RawAnswer(0, {}, raw)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return RawAnswer(int(lines[0].split()[1]), headers, rest)


def raw_request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    raw_headers: bytes = b"",
    length: int | None = None,
) -> bytes:
    """One HTTP/1.1 request as bytes (Connection: close); `raw_headers` go in verbatim."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n").encode() + raw_headers + b"\r\n" + body


def unreachable_kubeconfig(directory: Path) -> Path:
    """A kubeconfig naming a loopback port where nothing listens: the real client fails for real."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = directory / "unreachable-kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "secret-kube-token"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path
