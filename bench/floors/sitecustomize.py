"""Bench only (`bench/webhook.py --floors`): the receiver with parts of its request path taken out, to
measure what the rest costs. Loaded by Python at start-up when this directory is on PYTHONPATH; it does
nothing unless RR_BENCH_FLOOR names a floor:

- `no-intake`: `Intake.accept` answers every alert `refused` without routing, dedupe or a decision, so
  what is left is the listener, the middlewares (connection tracking, metrics, errors, auth), the body
  read, the payload decoder and the per-alert answer;
- `bare-handler`: the webhook handler is the bare one of `bench/webhook.py` (read, `json.loads`, answer),
  so what is left is the listener and the middlewares.

Never part of the product: `serve` never sees this file.
"""

from __future__ import annotations

import json
import os

FLOOR = os.environ.get("RR_BENCH_FLOOR")

if FLOOR == "no-intake":
    from receiver.core.alerts import WebhookPayload
    from receiver.pipeline import intake

    def accept(self: intake.Intake, payload: WebhookPayload) -> intake.IntakeResult:
        refused = intake.Outcome.REFUSED
        return intake.IntakeResult([intake.AlertResult(a, "floor", refused) for a in payload.alerts])

    intake.Intake.accept = accept  # type: ignore[method-assign]
elif FLOOR == "bare-handler":
    from aiohttp import web

    from receiver.web import handlers

    async def webhook(request: web.Request) -> web.Response:
        data = json.loads(await request.read())
        return web.json_response({"status": "accepted", "alerts": len(data["alerts"])})

    handlers.webhook = webhook
elif FLOOR is not None:
    raise SystemExit(f"RR_BENCH_FLOOR={FLOOR!r}: expected no-intake or bare-handler")
