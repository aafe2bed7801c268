"""HTTP handlers: map requests to the intake, the probes, reload and the decision log; map errors to 4xx.

Bad input always gets a 4xx with a JSON reason (`{"error": ..., "path": ...}`) and leaves no state
behind, so the next valid request is served normally.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from receiver.core.alerts import PayloadError, TooManyAlerts, decode_payload
from receiver.core.decisions import Decision
from receiver.web.backend import BACKEND

_READ_CHUNK = 64 * 1024


def error(
    status: int,
    message: str,
    *,
    path: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> web.Response:
    body: dict[str, object] = {"error": message}
    if path is not None:
        body["path"] = path
    body.update(extra)
    return web.json_response(body, status=status, headers=headers)


async def webhook(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    server = backend.config.server
    if request.content_type != "application/json":
        return error(415, f"Content-Type must be application/json, not {request.content_type or 'missing'}")
    charset = request.charset
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        return error(415, f"charset must be utf-8, not {charset}")
    declared = request.content_length
    if declared is not None and declared > server.max_body_bytes:
        return error(413, f"body of {declared} bytes, at most {server.max_body_bytes} accepted")
    try:
        async with asyncio.timeout(server.request_timeout.total_seconds()):
            body = await _read_limited(request, server.max_body_bytes)
    except TimeoutError:
        return error(408, f"body not received within {server.request_timeout.total_seconds():g}s")
    if body is None:
        return error(413, f"body larger than {server.max_body_bytes} bytes")
    try:
        payload = decode_payload(body, max_alerts=server.max_alerts_per_payload)
    except TooManyAlerts as exc:
        return error(413, exc.reason, path=exc.path)
    except PayloadError as exc:
        return error(400, exc.reason, path=exc.path)
    if not backend.intake.accepting:
        return error(
            503, "not ready: not taking work (starting or shutting down)", headers={"Retry-After": "5"}
        )
    result = backend.intake.accept(payload)
    if result.queue_full:
        return web.json_response(result.as_json(), status=503, headers={"Retry-After": "5"})
    return web.json_response(result.as_json())


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes `limit` (a chunked body has no Content-Length to check)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = await request.app[BACKEND].readiness()
    ready = all(value == "ok" for value in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
    )


async def reload(request: web.Request) -> web.Response:
    problems = await request.app[BACKEND].reload()
    if problems:
        return error(400, "config reload failed; the last good config stays active", problems=problems)
    return web.json_response({"status": "success"})


DEFAULT_LIMIT = 100


async def decisions(request: web.Request) -> web.Response:
    """Recent decisions, newest first. Filters: `limit`, `alertname`, `decision`, `reason`, `route`."""
    query = request.query
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or int(raw_limit) < 1:
        return error(400, "limit must be a positive integer", path="limit")
    filters = {k: query[k] for k in ("alertname", "decision", "reason", "route") if k in query}

    def wanted(decision: Decision) -> bool:
        fields = {
            "alertname": decision.alert_name,
            "decision": decision.verdict.value,
            "reason": decision.reason,
            "route": decision.route or "",
        }
        return all(fields[k] == v for k, v in filters.items())

    log = request.app[BACKEND].decisions
    return web.json_response({"decisions": log.as_json(int(raw_limit), where=wanted if filters else None)})
