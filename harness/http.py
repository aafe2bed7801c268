"""Tiny stdlib HTTP client helpers for the real processes on loopback (and never anything else)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class HttpError(RuntimeError):
    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} -> {status}: {body.strip()[:500]}")
        self.status = status
        self.body = body


def loopback(url: str) -> str:
    """`url`, once checked to point at this machine: test traffic never leaves it."""
    if urllib.parse.urlsplit(url).hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"refusing to send test traffic to a non-loopback address: {url}")
    return url


def request_text(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
    context: ssl.SSLContext | None = None,
) -> str:
    """The response body; HttpError (with the status) for any 4xx/5xx. `body` is sent as JSON;
    `context` is the TLS client context for an https URL."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(loopback(url), data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return str(response.read().decode("utf-8", errors="replace"))
    except urllib.error.HTTPError as error:
        raise HttpError(method, url, error.code, error.read().decode(errors="replace")) from None


def request_json(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
    context: ssl.SSLContext | None = None,
) -> Any:
    raw = request_text(method, url, body, headers=headers, timeout=timeout, context=context)
    return json.loads(raw) if raw.strip() else None


def is_ok(url: str, *, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(loopback(url), timeout=5, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
