"""Who may call what: one decision per request, shared by the app's middleware and the breaker endpoints.

The client certificate is read from the request's own connection (`request.transport`), and it counts
only if that connection was made under the listener's current TLS context.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from receiver.web.auth import scheme_name
from receiver.web.backend import BACKEND
from receiver.web.server import EDGE
from receiver.web.tls import peer_verified

logger = logging.getLogger("receiver.web.auth")

# Probes and /metrics stay open (like Prometheus'); everything that acts or shows decisions needs the
# webhook's credentials.
PROTECTED_PATHS = frozenset({"/webhook", "/-/reload"})
PROTECTED_PREFIX = "/api/"
INSECURE_REMINDER_SECONDS = 60.0

_last_insecure_reminder = 0.0


def is_protected(path: str) -> bool:
    return path in PROTECTED_PATHS or path.startswith(PROTECTED_PREFIX)


def connection_verified(request: web.Request) -> bool:
    """Did this request's connection verify a client certificate under the current TLS context?"""
    edge = request.app.get(EDGE)
    if edge is not None:
        connection = edge.connection_for(request.transport)
        if connection is None or connection.superseded:
            return False
    return peer_verified(request.transport)


def authorized(request: web.Request) -> bool:
    credentials = request.app[BACKEND].credentials
    header = request.headers.get("Authorization")
    if credentials.open_to_anyone:
        _remind_insecure()
        return True
    if credentials.allows(header, peer_verified=connection_verified(request)):
        return True
    # Why is logged, never what was sent: a scheme name from a fixed list at most.
    logger.warning(
        "rejected unauthenticated request",
        extra={"path": request.path[:200], "remote": request.remote, "scheme": scheme_name(header)},
    )
    return False


def unauthorized(request: web.Request) -> web.Response:
    return web.json_response(
        {"error": "authentication required"},
        status=401,
        headers={"WWW-Authenticate": request.app[BACKEND].credentials.challenge},
    )


def _remind_insecure() -> None:
    global _last_insecure_reminder
    now = time.monotonic()
    if now - _last_insecure_reminder >= INSECURE_REMINDER_SECONDS:
        _last_insecure_reminder = now
        logger.warning(
            "INSECURE: accepting unauthenticated requests (--insecure-no-auth and no server.auth): "
            "anyone who reaches the port can trigger rollbacks"
        )
