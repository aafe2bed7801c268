"""The environment's proxy settings reach the API server like kubectl's do; a ~/.netrc does not.

The proxy is a real HTTP CONNECT proxy on loopback (this file), in front of the real API server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from harness.cluster import ClusterAccess
from receiver.k8s import KubeConfigError, connect

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "NETRC")


class ConnectProxy:
    """Tunnels `CONNECT host:port` to 127.0.0.1 only, and remembers each request head it was sent."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1")
            self.heads.append(head)
            target = head.split(" ", 2)[1]
            host, _, port = target.rpartition(":")
            if not head.startswith("CONNECT ") or host != "127.0.0.1":
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(
                _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
            )
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ConnectProxy]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    finally:
        sink.close()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def api_server(cp: ClusterAccess) -> str:
    parts = urlsplit(cp.server)
    return f"{parts.hostname}:{parts.port}"


async def version_through(cp: ClusterAccess) -> str:
    kube = await connect(cp.kubeconfig)
    try:
        found = await kube.request("get", "/version", what="version")
    finally:
        await kube.close()
    return str(found["gitVersion"])


async def test_https_proxy_from_the_environment_carries_every_api_call(
    control_plane: ClusterAccess, clean_environment: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy().running() as proxy:
        clean_environment.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        assert (await version_through(control_plane)).startswith("v1.")
    connects = [h for h in proxy.heads if h.startswith("CONNECT ")]
    assert connects and all(h.split(" ")[1] == api_server(control_plane) for h in connects)


async def test_proxy_credentials_in_the_url_are_sent_to_the_proxy(
    control_plane: ClusterAccess, clean_environment: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy().running() as proxy:
        clean_environment.setenv("HTTPS_PROXY", f"http://sre:s3cret@127.0.0.1:{proxy.port}")
        await version_through(control_plane)
    expected = "Proxy-Authorization: Basic " + base64.b64encode(b"sre:s3cret").decode()
    assert proxy.heads and all(expected in h for h in proxy.heads)


async def test_no_proxy_naming_the_api_server_bypasses_the_proxy(
    control_plane: ClusterAccess, clean_environment: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy().running() as proxy:
        clean_environment.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        clean_environment.setenv("NO_PROXY", "127.0.0.1")
        await version_through(control_plane)
    assert proxy.heads == []


async def test_a_netrc_entry_for_the_api_server_does_not_break_its_calls(
    control_plane: ClusterAccess, clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """kubectl reads no netrc. aiohttp, trusting the environment, would turn this one into Basic auth on
    top of our bearer token and refuse every request ("Cannot combine AUTHORIZATION header ...")."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password something\n")
    netrc.chmod(0o600)
    clean_environment.setenv("NETRC", str(netrc))
    assert (await version_through(control_plane)).startswith("v1.")


@pytest.mark.parametrize(
    ("proxy", "says"),
    [("http://[::1", "is not a URL"), ("socks5://127.0.0.1:1080", "only http:// proxies are supported")],
)
async def test_an_unusable_proxy_environment_is_refused_at_connect_not_on_every_call(
    control_plane: ClusterAccess, clean_environment: pytest.MonkeyPatch, proxy: str, says: str
) -> None:
    clean_environment.setenv("HTTPS_PROXY", proxy)
    with pytest.raises(KubeConfigError, match=re.escape(says)):
        await connect(control_plane.kubeconfig)


def kubeconfig_with_proxy(cp: ClusterAccess, proxy: str, path: Path) -> str:
    config = yaml.safe_load(Path(cp.kubeconfig).read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["proxy-url"] = proxy
    path.write_text(yaml.safe_dump(config))
    return str(path)


async def test_a_kubeconfig_proxy_url_wins_over_the_environment(
    control_plane: ClusterAccess, clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with ConnectProxy().running() as proxy, ConnectProxy().running() as other:
        clean_environment.setenv("HTTPS_PROXY", f"http://127.0.0.1:{other.port}")
        kubeconfig = kubeconfig_with_proxy(control_plane, f"http://127.0.0.1:{proxy.port}", tmp_path / "kc")
        kube = await connect(kubeconfig)
        try:
            await kube.request("get", "/version", what="version")
        finally:
            await kube.close()
    assert proxy.heads and other.heads == []


async def test_a_kubeconfig_proxy_url_of_another_scheme_is_refused_at_connect(
    control_plane: ClusterAccess, clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kubeconfig = kubeconfig_with_proxy(control_plane, "socks5://127.0.0.1:1080", tmp_path / "kc")
    with pytest.raises(KubeConfigError, match="proxy-url names a socks5:// proxy"):
        await connect(kubeconfig)
