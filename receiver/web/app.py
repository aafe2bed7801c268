"""The aiohttp application: routes, middlewares and the typed app state.

Everything the handlers need comes from one `Backend` (`backend.py`; the service implements it), so tests
build the real app around a backend of their choosing and the composition root stays in `receiver.service`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from receiver.web import handlers
from receiver.web import incidents as incident_pages
from receiver.web.backend import BACKEND, Backend

logger = logging.getLogger(__name__)


# Paths that need the same credentials as the webhook; probes and /metrics stay open like Prometheus'.
PROTECTED = frozenset({"/webhook", "/-/reload", "/api/v1/decisions"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    backend: Backend, *, incidents: incident_pages.IncidentSource | None = None
) -> web.Application:
    # Body limits are ours (they follow reloads); aiohttp's own limit is only a backstop for other routes.
    app = web.Application(middlewares=[count_webhook_requests, errors_as_json, authenticate])
    app[BACKEND] = backend
    app.router.add_post("/webhook", handlers.webhook)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_post("/-/reload", handlers.reload)
    app.router.add_get("/api/v1/decisions", handlers.decisions)
    app.router.add_get("/metrics", make_aiohttp_handler(backend.metrics.registry))
    if incidents is not None:
        incident_pages.install(app, incidents)  # authenticates by itself (its pages may be public)
    return app


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
        logger.exception("unexpected error answering %s %s", request.method, request.path)
        return handlers.error(500, "internal error (logged)")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PROTECTED:
        credentials = request.app[BACKEND].credentials
        if not credentials.allows(request.headers.get("Authorization")):
            # Why is logged, never what was sent.
            logger.warning(
                "rejected unauthenticated request",
                extra={"path": request.path, "remote": request.remote, "scheme": _scheme(request)},
            )
            return handlers.error(
                401, "authentication required", headers={"WWW-Authenticate": credentials.challenge}
            )
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
        metrics.webhook_requests.labels(code=str(status)).inc()
        metrics.webhook_duration.observe(time.perf_counter() - started)


def _scheme(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    return header.split(" ", 1)[0].lower() if header else "none"


def _passthrough(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate", "Retry-After")}
