"""HTTP handlers: map requests to the intake, the probes, reload and the decision log; map errors to 4xx.

Bad input always gets a 4xx with a JSON reason (`{"error": ..., "path": ...}`) and leaves no state
behind, so the next valid request is served normally.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping

from aiohttp import web

from receiver.core.alerts import PayloadError, TooManyAlerts, decode_payload
from receiver.core.decisions import Decision
from receiver.pipeline.decision_log import MAX_NAME_CHARS, DecisionLog, truncate
from receiver.telemetry.logs import decision_fields
from receiver.web.backend import BACKEND
from receiver.web.body import BodyBudget, BodyError, BodyLimits, read_body
from receiver.web.limits import (
    MAX_DECISIONS_ANSWER_BYTES,
    MAX_DECISIONS_ANSWERS_IN_FLIGHT,
    MAX_DECISIONS_LIMIT_DIGITS,
)

logger = logging.getLogger(__name__)


class AnswerSlots:
    """GET /api/v1/decisions answers being written at once (each up to MAX_DECISIONS_ANSWER_BYTES)."""

    def __init__(self) -> None:
        self.busy = 0


BODIES = web.AppKey("bodies", BodyBudget)
ANSWERS = web.AppKey("answers", AnswerSlots)


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


def body_error(exc: BodyError) -> web.Response:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error(exc.status, exc.reason, headers=headers)


async def webhook(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    server = backend.config.server
    if request.content_type != "application/json":
        return error(415, f"Content-Type must be application/json, not {_shown(request.content_type)}")
    charset = request.charset
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        return error(415, f"charset must be utf-8, not {_shown(charset)}")
    if not backend.intake.accepting:
        return error(
            503, "not ready: not taking work (starting or shutting down)", headers={"Retry-After": "5"}
        )
    limits = BodyLimits(max_bytes=server.max_body_bytes, timeout=server.request_timeout.total_seconds())
    try:
        body = await read_body(request, request.app[BODIES], limits)
    except BodyError as exc:
        if exc.status == 400 and "disconnected" in exc.reason:
            logger.info("webhook client disconnected mid-body", extra={"remote": request.remote})
        return body_error(exc)
    try:
        payload = decode_payload(body, max_alerts=server.max_alerts_per_payload)
    except TooManyAlerts as exc:
        return error(413, exc.reason, path=exc.path)
    except PayloadError as exc:
        return error(400, exc.reason, path=exc.path)
    result = backend.intake.accept(payload)
    answer = _bounded_answer(result.as_json())
    if result.queue_full:
        return web.json_response(answer, status=503, headers={"Retry-After": "5"})
    return web.json_response(answer)


def _bounded_answer(answer: dict[str, object]) -> dict[str, object]:
    """The per-alert answer names each alert; a 60 KB alertname is not echoed back whole."""
    alerts = answer.get("alerts")
    if isinstance(alerts, list):
        for entry in alerts:
            if isinstance(entry, dict) and isinstance(entry.get("alertname"), str):
                entry["alertname"] = truncate(entry["alertname"], MAX_NAME_CHARS)
    return answer


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """For probes and anyone who reaches the port: check names and fixed words, never error text."""
    readiness = await request.app[BACKEND].readiness()
    return web.json_response(
        {"status": "ready" if readiness.ready else "not ready", "checks": dict(readiness.checks)},
        status=200 if readiness.ready else 503,
    )


async def readiness_details(request: web.Request) -> web.Response:
    """GET /api/v1/readiness (authenticated): the same checks with what went wrong."""
    readiness = await request.app[BACKEND].readiness()
    return web.json_response(
        {
            "status": "ready" if readiness.ready else "not ready",
            "checks": dict(readiness.checks),
            "details": dict(readiness.details),
            "kubernetes_checked_at": readiness.kubernetes_checked_at,
        }
    )


async def reload(request: web.Request) -> web.Response:
    problems = await request.app[BACKEND].reload()
    if problems:
        return error(400, "config reload failed; the last good config stays active", problems=problems)
    return web.json_response({"status": "success"})


DEFAULT_LIMIT = 100
FILTERS = ("alertname", "decision", "reason", "route")
_LIMIT_RE = re.compile(f"[0-9]{{1,{MAX_DECISIONS_LIMIT_DIGITS}}}")


async def decisions(request: web.Request) -> web.StreamResponse:
    """Recent decisions, newest first. Filters: `limit`, `alertname`, `decision`, `reason`, `route`.

    One answer is at most MAX_DECISIONS_ANSWER_BYTES: when more would match, it ends early with
    `"truncated": true` (narrow it with a filter or a smaller `limit`)."""
    query = request.query
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    if not _LIMIT_RE.fullmatch(raw_limit) or int(raw_limit) < 1:
        return error(
            400,
            f"limit must be a positive integer of at most {MAX_DECISIONS_LIMIT_DIGITS} ASCII digits",
            path="limit",
        )
    filters = {k: query[k] for k in FILTERS if k in query}
    slots = request.app[ANSWERS]
    if slots.busy >= MAX_DECISIONS_ANSWERS_IN_FLIGHT:
        return error(503, "too many decision queries being answered; retry", headers={"Retry-After": "1"})
    body = _decisions_answer(request.app[BACKEND].decisions, int(raw_limit), filters)
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    response.content_length = len(body)
    slots.busy += 1
    try:
        # Written here, inside the slot, so a client that reads slowly holds one slot, not more memory.
        async with asyncio.timeout(request.app[BACKEND].config.server.request_timeout.total_seconds()):
            await response.prepare(request)
            await response.write(body)
            await response.write_eof()
    except TimeoutError:
        logger.info("decision query answer not read in time; closing", extra={"remote": request.remote})
        if request.transport is not None:
            request.transport.abort()
    except ConnectionError:
        pass
    finally:
        slots.busy -= 1
    return response


def _decisions_answer(log: DecisionLog, limit: int, filters: Mapping[str, str]) -> bytes:
    def wanted(decision: Decision) -> bool:
        fields = {
            "alertname": decision.alert_name,
            "decision": decision.verdict.value,
            "reason": decision.reason,
            "route": decision.route or "",
        }
        return all(fields[k] == v for k, v in filters.items())

    parts: list[bytes] = []
    size = 64  # the envelope
    truncated = False
    for decision in log.recent(limit, where=wanted if filters else None):
        part = json.dumps(decision_fields(decision)).encode()
        if size + len(part) + 2 > MAX_DECISIONS_ANSWER_BYTES:
            truncated = True
            break
        parts.append(part)
        size += len(part) + 2
    return (
        b'{"decisions": ['
        + b", ".join(parts)
        + b'], "truncated": '
        + (b"true" if truncated else b"false")
        + b"}"
    )


def _shown(value: str) -> str:
    """A header value quoted in an answer: short and ASCII, whatever was sent."""
    return value.encode("ascii", "replace").decode()[:60] if value else "missing"
