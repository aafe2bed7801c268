"""The listening socket in front of aiohttp: a connection cap, a request-head deadline and size, TLS.

aiohttp has no header-read timeout and no connection limit, so each accepted connection first meets a small
protocol (`Connection`) that wraps aiohttp's own `RequestHandler`:

- at most `max_connections` are open; at the cap a newcomer evicts the oldest connection that has been
  waiting for a request head for at least EVICTION_GRACE_SECONDS (a slow or idle client), and is refused
  (503) when there is none;
- a request head (request line and headers, and the TLS handshake on the first request) must arrive
  within `server.request_timeout` of the connection opening or of the previous answer, and be at most
  `MAX_HEADER_BYTES`: otherwise 408 / 431 and the connection is closed;
- while a request is handled the connection may send at most its body's worth of bytes more;
- TLS is started per connection with the listener's current context (`set_ssl_context`), so a reload that
  changes certificates or the client CA applies to every new connection; connections made under an older
  context are closed as soon as they are idle (Alertmanager reconnects), so a removed client CA stops
  being trusted.

The app's `track_connections` middleware tells the connection when a request starts and when its answer
is written (`request_started` / `answer_written`); without this listener (aiohttp's test server) nothing
is tracked and nothing breaks.

Service signals and shutdown belong to the composition root, not to aiohttp.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import re
import resource
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web

from receiver.telemetry.metrics import Metrics
from receiver.web.backend import BACKEND
from receiver.web.limits import (
    BYTES_PER_REQUEST_FACTOR,
    EVICTION_GRACE_SECONDS,
    FAREWELL_SECONDS,
    LINGERING_SECONDS,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    RESERVED_FDS,
)

logger = logging.getLogger(__name__)

# The end of a request head: a blank line (bare LF tolerated, as aiohttp's parser is).
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class Phase(enum.Enum):
    HANDSHAKE = "handshake"  # TLS not yet established
    WAITING = "waiting"  # for a (next) request head: the only evictable phase
    REQUEST = "request"  # head complete: body, handler, answer
    LINGERING = "lingering"  # answered before the body was read; aiohttp discards the rest


class Listener:
    def __init__(
        self,
        app: web.Application,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        shutdown_timeout: float = 5.0,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._handler_options: dict[str, Any] = {
            # Our own connection phases replace aiohttp's keep-alive timer; this only backstops them.
            "keepalive_timeout": 75.0,
            "max_line_size": MAX_LINE_BYTES,
            "max_field_size": MAX_LINE_BYTES,
            "max_headers": MAX_HEADERS,
            "lingering_time": LINGERING_SECONDS,
            # Bodies are decompressed by receiver.web.body, within max_body_bytes.
            "auto_decompress": False,
            "access_log": None,
        }
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=shutdown_timeout, **self._handler_options
        )
        self._app = app
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._generation = 0
        self.max_connections = _fd_bounded(max_connections)
        self._open: dict[Connection, None] = {}  # insertion order = age
        self._by_transport: dict[Any, Connection] = {}
        self._server: asyncio.Server | None = None
        self.port = port
        app[EDGE] = self

    # -- what the connections and the app read -------------------------------------------------------

    @property
    def tls(self) -> bool:
        return self._ssl_context is not None

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self._ssl_context

    @property
    def generation(self) -> int:
        """Bumped by every new TLS context; a connection remembers the one it was made with."""
        return self._generation

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def connection_for(self, transport: Any) -> Connection | None:
        return self._by_transport.get(transport)

    def settings(self) -> tuple[float, int]:
        """(request-head deadline in seconds, max_body_bytes) from the live config."""
        server = self._app[BACKEND].config.server
        return server.request_timeout.total_seconds(), server.max_body_bytes

    @property
    def metrics(self) -> Metrics:
        return self._app[BACKEND].metrics

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Connection(self), self._host, self._port, backlog=min(self.max_connections, 1024)
        )
        # With port 0 the kernel picked one; report the real one.
        self.port = int(self._server.sockets[0].getsockname()[1])
        self.metrics.http_connections_limit.set(self.max_connections)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._open):
            if connection.phase in (Phase.HANDSHAKE, Phase.WAITING):
                connection.abort("shutdown")
        # Lets requests being handled finish (shutdown_timeout), then closes their connections.
        await self._runner.cleanup()
        for connection in list(self._open):
            connection.abort("shutdown")
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def set_ssl_context(self, context: ssl.SSLContext) -> int:
        """Use `context` for every new connection; close the idle ones made under an older one (busy ones
        close after their answer). Returns how many were closed at once."""
        if self._ssl_context is None:
            raise ValueError("this listener serves plain HTTP: TLS can only be switched on by a restart")
        self._ssl_context = context
        self._generation += 1
        closed = 0
        for connection in list(self._open):
            if connection.phase in (Phase.HANDSHAKE, Phase.WAITING):
                connection.abort("tls_reloaded")
                closed += 1
        return closed

    # -- bookkeeping of the connections --------------------------------------------------------------

    def _admit(self, newcomer: Connection) -> bool:
        if len(self._open) >= self.max_connections:
            # Oldest first, and connections that never got an answer (a slow or silent client) before
            # idle kept-alive ones (Alertmanager's pooled connection).
            since = asyncio.get_running_loop().time() - EVICTION_GRACE_SECONDS
            waiting = [c for c in self._open if c.phase is Phase.WAITING and c.waiting_since <= since]
            victim = next((c for c in waiting if not c.answered), waiting[0] if waiting else None)
            if victim is None:
                return False
            victim.abort("evicted")
        self._open[newcomer] = None
        self.metrics.http_connections.set(len(self._open))
        return True

    def _attached(self, connection: Connection, transport: Any) -> None:
        self._by_transport[transport] = connection

    def _forget(self, connection: Connection) -> None:
        self._open.pop(connection, None)
        if connection.app_transport is not None:
            self._by_transport.pop(connection.app_transport, None)
        self.metrics.http_connections.set(len(self._open))

    def _new_handler(self) -> web.RequestHandler:
        server = self._runner.server
        assert server is not None, "start() first"
        return JsonErrorRequestHandler(server, loop=asyncio.get_running_loop(), **self._handler_options)


EDGE: web.AppKey[Listener] = web.AppKey("edge")


class Connection(asyncio.Protocol):
    """One accepted socket: its phase, its deadline and byte allowance, and aiohttp's handler behind it."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self.phase = Phase.HANDSHAKE
        self.waiting_since = self._loop.time()  # when it started waiting for its (next) request head
        self.generation = listener.generation
        self.transport: asyncio.Transport | None = None
        self.app_transport: asyncio.Transport | None = None
        self._inner: web.RequestHandler | None = None
        self._pending: list[bytes] = []
        self._received = 0  # bytes in the current phase
        self._tail = b""  # the last bytes of a head being scanned (a blank line may span two reads)
        self._answered = 0  # answers written on this connection
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._handshake: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self._listener._admit(self):
            self._closed = True
            self._listener.metrics.http_connections_closed.labels(reason="refused").inc()
            if self._listener.tls:
                transport.abort()
            else:
                self._farewell(transport, 503, "too many connections busy; retry", retry_after=1)
            return
        head_timeout, _ = self._listener.settings()
        self._arm(head_timeout, self._head_timed_out)
        context = self._listener.ssl_context
        if context is None:
            self._attach(transport)
            return
        transport.pause_reading()  # no byte reaches us before the TLS layer is in place
        self._handshake = self._loop.create_task(self._start_tls(transport, context, head_timeout))

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if self._inner is None:  # TLS data that arrived before the handshake task resumed
            self._pending.append(data)
            return
        self._received += len(data)
        if self.phase is Phase.WAITING:
            if not self._scan_head(data):
                return
        elif self.phase is Phase.REQUEST:  # (LINGERING: aiohttp discards, for LINGERING_SECONDS at most)
            _, max_body = self._listener.settings()
            if self._received > MAX_HEADER_BYTES + BYTES_PER_REQUEST_FACTOR * max_body:
                self.abort("request_too_large")
                return
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            self._inner.eof_received()
        return None  # close on EOF: aiohttp does not serve half-closed connections

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._cancel_timer()
        if self._handshake is not None and not self._handshake.done():
            self._handshake.cancel()
        self._listener._forget(self)
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # -- from the app's middleware -------------------------------------------------------------------

    def request_started(self) -> None:
        self._cancel_timer()
        if self.phase is not Phase.REQUEST:  # a pipelined head that aiohttp had already buffered
            self._enter(Phase.REQUEST)

    def answer_written(self, body_consumed: Callable[[Callable[[], None]], None]) -> None:
        """The answer is written; the next head may come once the request body is consumed (aiohttp
        discards an unread body for LINGERING_SECONDS)."""
        self._answered += 1
        if self.superseded or self._closed:
            return  # the answer carries Connection: close
        self._enter(Phase.LINGERING)
        self._arm(LINGERING_SECONDS + FAREWELL_SECONDS, lambda: self.abort("lingering"))
        body_consumed(self._wait_for_next_request)

    @property
    def answered(self) -> int:
        return self._answered

    @property
    def superseded(self) -> bool:
        """Made under a TLS context the listener no longer uses."""
        return self.generation != self._listener.generation

    # -- internals -----------------------------------------------------------------------------------

    async def _start_tls(
        self, transport: asyncio.Transport, context: ssl.SSLContext, handshake_seconds: float
    ) -> None:
        try:
            tls_transport = await self._loop.start_tls(
                transport,
                self,
                context,
                server_side=True,
                ssl_handshake_timeout=max(handshake_seconds, 0.1),
                ssl_shutdown_timeout=FAREWELL_SECONDS,
            )
        except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
            if not self._closed:  # (closed already: the head deadline or an eviction ended it)
                # A client certificate from another CA, a port scanner, plain HTTP on the TLS port.
                logger.info("TLS handshake failed: %s", _short(exc), extra={"remote": _peer(transport)})
                self._listener.metrics.http_connections_closed.labels(reason="tls_handshake_failed").inc()
            transport.abort()
            self.connection_lost(None)
            return
        if self._closed or tls_transport is None:
            if tls_transport is not None:
                tls_transport.abort()
            return
        self._attach(tls_transport)

    def _attach(self, transport: asyncio.Transport) -> None:
        self.app_transport = transport
        self._listener._attached(self, transport)
        self._enter(Phase.WAITING)
        self._inner = self._listener._new_handler()
        self._inner.connection_made(transport)
        pending, self._pending = self._pending, []
        for data in pending:
            self.data_received(data)

    def _enter(self, phase: Phase) -> None:
        if phase is Phase.WAITING and self.phase is not Phase.HANDSHAKE:
            self.waiting_since = self._loop.time()  # (after a handshake: the connection's age counts)
        self.phase = phase
        self._tail = b""
        self._received = 0

    def _scan_head(self, data: bytes) -> bool:
        """Count head bytes; on the blank line, switch to REQUEST. False: the connection was refused."""
        window = self._tail + data
        end = _HEAD_END.search(window)
        if end is None:
            if self._received > MAX_HEADER_BYTES:
                self._refuse(431, f"request line and headers longer than {MAX_HEADER_BYTES} bytes")
                return False
            self._tail = window[-3:]
            return True
        head_bytes = self._received - len(window) + end.end()
        if head_bytes > MAX_HEADER_BYTES:
            self._refuse(431, f"request line and headers longer than {MAX_HEADER_BYTES} bytes")
            return False
        self._cancel_timer()
        body_bytes = len(window) - end.end()
        self._enter(Phase.REQUEST)
        self._received = body_bytes
        return True

    def _wait_for_next_request(self) -> None:
        if self._closed or self.phase is not Phase.LINGERING:
            return
        if self.superseded:
            self.abort("tls_reloaded")
            return
        self._enter(Phase.WAITING)
        head_timeout, _ = self._listener.settings()
        self._arm(head_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._timer = None
        if self.phase is Phase.WAITING and self._received > 0 and self._inner is not None:
            head_timeout, _ = self._listener.settings()
            self._refuse(408, f"request head not received within {head_timeout:g}s", reason="head_timeout")
        else:  # idle (keep-alive, or never said anything), or still in the TLS handshake
            self.abort("idle" if self.phase is Phase.WAITING else "head_timeout")

    def _refuse(self, status: int, message: str, *, reason: str | None = None) -> None:
        """Answer from the edge itself: only in WAITING, where no answer of aiohttp's can be on the way."""
        self._listener.metrics.http_connections_closed.labels(reason=reason or f"http_{status}").inc()
        logger.info(
            "closing connection: %s", message, extra={"remote": _peer(self.transport), "status": status}
        )
        transport = self.app_transport or self.transport
        self._closed = True
        self._cancel_timer()
        self._listener._forget(self)
        if transport is not None:
            self._farewell(transport, status, message)

    def abort(self, reason: str) -> None:
        if not self._closed:
            self._listener.metrics.http_connections_closed.labels(reason=reason).inc()
            logger.debug("closing connection (%s)", reason, extra={"remote": _peer(self.transport)})
        self._closed = True
        self._cancel_timer()
        self._listener._forget(self)  # its slot is free at once (connection_lost comes a tick later)
        if self.app_transport is not None:
            self.app_transport.abort()
        if self.transport is not None:
            self.transport.abort()

    def _farewell(
        self, transport: asyncio.Transport, status: int, message: str, *, retry_after: int | None = None
    ) -> None:
        body = json.dumps({"error": message}).encode()
        phrase = {408: "Request Timeout", 431: "Request Header Fields Too Large"}.get(
            status, "Service Unavailable"
        )
        head = (
            f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            + (f"Retry-After: {retry_after}\r\n" if retry_after is not None else "")
            + "\r\n"
        )
        try:
            transport.write(head.encode() + body)
            transport.close()
        except (OSError, RuntimeError):
            transport.abort()
            return
        # A peer that never reads must not keep the socket: abort after a short grace.
        self._loop.call_later(FAREWELL_SECONDS, transport.abort)

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = self._loop.call_later(delay, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class JsonErrorRequestHandler(web.RequestHandler):
    """aiohttp's handler, answering what its HTTP parser rejects as JSON (not text), logged as bad input
    (info, no traceback), with a fixed reason per kind of error (the parser's message may quote input)."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        status, reason = _parser_error(exc, status)
        logger.info("malformed HTTP request: %s", reason, extra={"remote": request.remote, "status": status})
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already being sent")
        response = web.json_response({"error": reason}, status=status)
        response.force_close()
        return response


def _parser_error(exc: BaseException | None, status: int) -> tuple[int, str]:
    name = type(exc).__name__ if exc is not None else ""
    if name == "LineTooLong":
        return 431, f"request line or a header longer than {MAX_LINE_BYTES} bytes"
    if name == "BadHttpMethod":
        return 400, "not an HTTP request (unknown method)"
    if name in ("BadStatusLine", "InvalidURLError"):
        return 400, "malformed HTTP request line"
    if name == "InvalidHeader":
        return 400, "malformed HTTP header"
    if exc is not None and "Too many headers" in str(exc):
        return 431, f"more than {MAX_HEADERS} headers"
    if name in ("TransferEncodingError", "ContentLengthError"):
        return 400, "malformed Content-Length or Transfer-Encoding"
    return status if 400 <= status < 500 else 400, "malformed HTTP request"


def _fd_bounded(wanted: int) -> int:
    """The connection cap, kept below the process's file-descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return min(wanted, max(16, soft - RESERVED_FDS))


def _peer(transport: asyncio.BaseTransport | None) -> str:
    if transport is None:
        return ""
    peer = transport.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else ""


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:200]
