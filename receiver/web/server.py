"""Serving an app on a socket, without aiohttp's signal handling: the service owns signals and shutdown."""

from __future__ import annotations

import ssl

from aiohttp import web


class Listener:
    def __init__(
        self,
        app: web.Application,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=shutdown_timeout
        )
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self._host,
            self._port,
            ssl_context=self._ssl_context,
        )
        await site.start()
        # With port 0 the kernel picked one; report the real one.
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        await self._runner.cleanup()
