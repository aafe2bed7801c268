"""A loopback HTTP server that records every request, to see exactly what Alertmanager sends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.monotonic)
    # Wall clock, to compare with other processes' timestamps (Prometheus, the receiver's decisions).
    received_wall: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookSink:
    """Records requests (header names lower-cased); answers with `{}` and the next code of `script` while it
    has one (e.g. `[500, 500, 500]`), then with `status`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self.status = 200
        self.script: list[int] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-sink", daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> WebhookSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def wait_for(
        self, predicate: Callable[[list[RecordedRequest]], bool], *, timeout: float, what: str
    ) -> list[RecordedRequest]:
        """Block until `predicate(all requests so far)` holds; AssertionError naming `what` otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(self._requests)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"webhook sink: timed out after {timeout:.0f}s waiting for {what}; "
                        f"got {len(self._requests)} request(s): "
                        + "; ".join(f"{r.method} {r.path} {r.body[:200]!r}" for r in self._requests[-5:])
                    )
                self._changed.wait(remaining)
            return list(self._requests)

    def _record(self, request: RecordedRequest) -> int:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            return self.script.pop(0) if self.script else self.status

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status = sink._record(
                    RecordedRequest(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                    )
                )
                payload = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _handle
            do_GET = _handle
            do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
