"""Reading a request body within bounds: its size (before and after decompression), its deadline, the
bytes of all bodies held at once, and a client that goes away half-way. Every failure is a `BodyError`
with the HTTP status and a reason for the JSON answer.

aiohttp's own decompression is switched off (`auto_decompress=False` in `server.py`): it answers a corrupt
body with a 500 and does not bound what a body decompresses to. Here `gzip` (several members allowed, up to
`MAX_GZIP_MEMBERS`) and `deflate` (zlib or raw) decompress to at most `max_body_bytes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web

from receiver.web.limits import BODIES_IN_FLIGHT, MAX_GZIP_MEMBERS

_READ_CHUNK = 64 * 1024
GZIP = ("gzip", "x-gzip")
DEFLATE = ("deflate",)
IDENTITY = ("", "identity")


class BodyError(Exception):
    def __init__(self, status: int, reason: str, *, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class BodyBudget:
    """The bytes of request bodies held at once, across concurrent requests: BODIES_IN_FLIGHT times the
    current `max_body_bytes`. A request reserves what its body may take before reading a byte of it."""

    def __init__(self) -> None:
        self.reserved = 0

    @contextlib.contextmanager
    def reserve(self, size: int, max_body_bytes: int) -> Iterator[None]:
        limit = BODIES_IN_FLIGHT * max_body_bytes
        if self.reserved + size > limit:
            raise BodyError(
                503,
                f"too many request bodies in flight ({self.reserved} of {limit} bytes reserved); retry",
                retry_after=1,
            )
        self.reserved += size
        try:
            yield
        finally:
            self.reserved -= size


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int
    timeout: float


def content_coding(request: web.Request) -> str:
    """The one Content-Encoding we decode, or BodyError 415."""
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding in IDENTITY or coding in GZIP or coding in DEFLATE:
        return coding
    shown = coding.encode("ascii", "replace").decode()[:40]
    raise BodyError(415, f"Content-Encoding {shown!r} is not supported: send identity, gzip or deflate")


async def read_body(request: web.Request, budget: BodyBudget, limits: BodyLimits) -> bytes:
    """The decoded body; BodyError 408/413/415/400/503 otherwise."""
    coding = content_coding(request)
    declared = request.content_length
    if declared is not None and declared > limits.max_bytes:
        raise BodyError(413, f"body of {declared} bytes, at most {limits.max_bytes} accepted")
    raw_size = limits.max_bytes if declared is None else declared
    decoded_size = 0 if coding in IDENTITY else limits.max_bytes
    with budget.reserve(raw_size + decoded_size, limits.max_bytes):
        try:
            async with asyncio.timeout(limits.timeout):
                raw = await _read_limited(request, limits.max_bytes)
        except TimeoutError:
            raise BodyError(408, f"body not received within {limits.timeout:g}s") from None
        except ConnectionError:
            raise BodyError(400, "the client disconnected before the body was complete") from None
        except web.RequestPayloadError as exc:  # chunked framing broken, body shorter than announced
            raise BodyError(400, f"malformed body framing: {_describe(exc)}") from None
        if coding in IDENTITY:
            return raw
        return decompress(raw, coding, limits.max_bytes)


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The raw body, or BodyError 413 as soon as it passes `limit` (chunked bodies have no length)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decompress(data: bytes, coding: str, limit: int) -> bytes:
    """gzip (concatenated members) or deflate (zlib-wrapped or raw) to at most `limit` bytes."""
    if not data:
        raise BodyError(400, f"empty {coding} body")
    if coding in GZIP:
        return _gunzip(data, limit)
    return _inflate(data, limit)


def _gunzip(data: bytes, limit: int) -> bytes:
    out = bytearray()
    members = 0
    while data:
        members += 1
        if members > MAX_GZIP_MEMBERS:
            raise BodyError(400, f"gzip body with more than {MAX_GZIP_MEMBERS} members")
        data = _one_stream(zlib.decompressobj(wbits=31), data, out, limit, "gzip")
    return bytes(out)


def _inflate(data: bytes, limit: int) -> bytes:
    out = bytearray()
    try:
        rest = _one_stream(zlib.decompressobj(wbits=15), data, out, limit, "deflate")
    except BodyError as exc:
        if exc.status != 400 or out:
            raise
        # Some senders write raw deflate without the zlib header (aiohttp accepts it too).
        rest = _one_stream(zlib.decompressobj(wbits=-15), data, out, limit, "deflate")
    if rest:
        raise BodyError(400, f"{len(rest)} bytes of trailing data after the deflate stream")
    return bytes(out)


def _one_stream(decoder: zlib._Decompress, data: bytes, out: bytearray, limit: int, coding: str) -> bytes:
    """Decode one stream into `out`; returns the input left after it (the next gzip member)."""
    try:
        out += decoder.decompress(data, limit + 1 - len(out))
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid {coding}: {exc}") from None
    if len(out) > limit or decoder.unconsumed_tail:
        raise BodyError(413, f"body decompresses to more than {limit} bytes")
    if not decoder.eof:
        raise BodyError(400, f"{coding} body is truncated")
    return decoder.unused_data


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    text = str(getattr(cause, "message", "") or cause).strip() or type(cause).__name__
    return text.encode("ascii", "replace").decode()[:200]
