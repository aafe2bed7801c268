"""Operator endpoints for the circuit breaker: `POST /api/v1/breaker/reset` and `GET /api/v1/breaker`.

Installed by the composition root with `install(app, breaker)`; authenticated with the webhook's
credentials (the breaker is a safety switch: an anonymous reset would defeat it). The state is the
cluster's, so resetting through any replica resets it for all of them. When that state cannot be read or
written the answer is 503 with the reason, and nothing changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from receiver.k8s import KubeError
from receiver.web.access import authorized, unauthorized
from receiver.web.body import BodyBudget, BodyError, BodyLimits, read_body
from receiver.web.handlers import BODIES, body_error, error
from receiver.web.limits import MAX_ADMIN_BODY_BYTES

logger = logging.getLogger(__name__)

MAX_ACTOR_CHARS = 200
BODY_TIMEOUT_SECONDS = 10.0


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
        budget = request.app.get(BODIES) or BodyBudget()
        try:
            raw = await read_body(request, budget, BodyLimits(MAX_ADMIN_BODY_BYTES, BODY_TIMEOUT_SECONDS))
        except BodyError as exc:
            return body_error(exc)
        try:
            body = json.loads(raw or b"{}")
        except RecursionError:
            return error(400, "the body is JSON nested too deeply")
        except ValueError:  # not JSON, not UTF-8
            return error(400, 'the body must be JSON, e.g. {"actor": "alice"}')
        if not isinstance(body, dict) or not isinstance(body.get("actor", ""), str):
            return error(400, "actor must be a string")
        actor = body.get("actor", "")[:MAX_ACTOR_CHARS]
    who = f"http:{actor or 'anonymous-operator'} from {request.remote}"
    try:
        summary = await request.app[BREAKER].reset_breaker(who)
    except KubeError as exc:
        return _state_unavailable("reset", exc)
    return web.json_response(summary)


async def status(request: web.Request) -> web.Response:
    try:
        return web.json_response(await request.app[BREAKER].breaker_status())
    except KubeError as exc:
        return _state_unavailable("read", exc)


def _state_unavailable(what: str, exc: KubeError) -> web.Response:
    logger.warning("breaker %s failed: the guard state is unavailable: %s", what, exc)
    status = f" (HTTP {exc.status})" if exc.status else ""
    done = "read" if what == "read" else "updated"
    return error(
        503,
        f"the breaker's state (the guard-state ConfigMap) could not be {done}: "
        f"{type(exc).__name__}{status}; nothing changed, retry",
        headers={"Retry-After": "5"},
    )


def _authenticated(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not authorized(request):
            return unauthorized(request)
        return await handler(request)

    return guarded
