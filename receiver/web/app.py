"""The aiohttp application: routes, middlewares and the typed app state.

Everything the handlers need comes from one `Backend` (`backend.py`; the service implements it), so tests
build the real app around a backend of their choosing and the composition root stays in `receiver.service`.
Serve it with `receiver.web.server.Listener`: that is where connections are bounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from receiver.web import handlers
from receiver.web import incidents as incident_pages
from receiver.web.access import authorized, is_protected, unauthorized
from receiver.web.backend import BACKEND, Backend
from receiver.web.body import BodyBudget
from receiver.web.server import EDGE

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    backend: Backend, *, incidents: incident_pages.IncidentSource | None = None
) -> web.Application:
    app = web.Application(
        middlewares=[track_connections, count_webhook_requests, errors_as_json, authenticate],
        # Bodies are read by receiver.web.body within server.max_body_bytes (they follow reloads);
        # aiohttp's own limit only backstops routes that would call request.read().
        client_max_size=64 * 1024,
    )
    app[BACKEND] = backend
    app[handlers.BODIES] = BodyBudget()
    app[handlers.ANSWERS] = handlers.AnswerSlots()
    app.router.add_post("/webhook", handlers.webhook)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    # Prometheus' and Alertmanager's own spellings of the same probes.
    app.router.add_get("/-/healthy", handlers.healthz)
    app.router.add_get("/-/ready", handlers.readyz)
    app.router.add_post("/-/reload", handlers.reload)
    app.router.add_get("/api/v1/decisions", handlers.decisions)
    app.router.add_get("/api/v1/readiness", handlers.readiness_details)
    app.router.add_get("/metrics", make_aiohttp_handler(backend.metrics.registry))
    if incidents is not None:
        incident_pages.install(app, incidents)  # the pages authenticate by themselves (they may be public)
    return app


@web.middleware
async def track_connections(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tell the listener's connection when a request starts and when its answer is written, so it can
    give the next request head its deadline (and close a connection made under a replaced TLS context)."""
    edge = request.app.get(EDGE)
    connection = edge.connection_for(request.transport) if edge is not None else None
    if connection is None:
        return await handler(request)
    connection.request_started()
    try:
        response = await handler(request)
        if connection.superseded:
            response.force_close()
        try:
            await response.prepare(request)
            await response.write_eof()
        except ConnectionError:  # aiohttp notices too and drops the connection quietly
            logger.debug("client went away before its answer was written", extra={"path": request.path[:200]})
    finally:  # also when aiohttp itself answers an exception that passed every middleware
        connection.answer_written(request.content.on_eof)
    return response


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer is JSON with a reason; an unexpected exception is logged, never shown."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return handlers.error(exc.status, exc.reason, headers=_passthrough(exc))
    except Exception:
        logger.exception("unexpected error answering %s %s", request.method, request.path[:200])
        return handlers.error(500, "internal error (logged)")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if is_protected(request.path) and not authorized(request):
        return unauthorized(request)
    return await handler(request)


@web.middleware
async def count_webhook_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path != "/webhook":
        return await handler(request)
    metrics = request.app[BACKEND].metrics
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.labelled(metrics.webhook_requests, str(status)).inc()
        metrics.webhook_duration.observe(time.perf_counter() - started)


def _passthrough(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate", "Retry-After")}
