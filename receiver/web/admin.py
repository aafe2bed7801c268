"""Operator endpoints for the circuit breaker: `POST /api/v1/breaker/reset` and `GET /api/v1/breaker`.

Installed by the composition root with `install(app, breaker)`; authenticated with the webhook's
credentials (the breaker is a safety switch: an anonymous reset would defeat it). The state is the
cluster's, so resetting through any replica resets it for all of them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from receiver.web.backend import BACKEND

logger = logging.getLogger(__name__)

MAX_ACTOR_CHARS = 200


class Breaker(Protocol):
    async def reset_breaker(self, actor: str) -> dict[str, object]: ...

    async def breaker_status(self) -> dict[str, object]: ...


BREAKER = web.AppKey("breaker", Breaker)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install(app: web.Application, breaker: Breaker) -> None:
    app[BREAKER] = breaker
    app.router.add_post("/api/v1/breaker/reset", _authenticated(reset))
    app.router.add_get("/api/v1/breaker", _authenticated(status))


async def reset(request: web.Request) -> web.Response:
    """Body (optional): `{"actor": "alice"}`: who resets it, for the audit trail."""
    actor = ""
    if request.can_read_body:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return _error(400, 'the body must be JSON, e.g. {"actor": "alice"}')
        if not isinstance(body, dict) or not isinstance(body.get("actor", ""), str):
            return _error(400, "actor must be a string")
        actor = body.get("actor", "")[:MAX_ACTOR_CHARS]
    who = f"http:{actor or 'anonymous-operator'} from {request.remote}"
    summary = await request.app[BREAKER].reset_breaker(who)
    return web.json_response(summary)


async def status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[BREAKER].breaker_status())


def _authenticated(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        credentials = request.app[BACKEND].credentials
        if not credentials.allows(request.headers.get("Authorization")):
            logger.warning("rejected unauthenticated breaker request", extra={"path": request.path})
            return web.json_response(
                {"error": "authentication required"},
                status=401,
                headers={"WWW-Authenticate": credentials.challenge},
            )
        return await handler(request)

    return guarded


def _error(status_code: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status_code)
