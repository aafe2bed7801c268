"""The incident records over HTTP: JSON for tools, plain HTML pages for people.

    GET /api/v1/incidents           newest first, summaries        (the webhook's credentials)
    GET /api/v1/incidents/{id}      one record, every step         (the webhook's credentials)
    GET /incidents                  the list, as a page            (credentials unless incidents.public_pages)
    GET /incidents/{id}             one record, as a page          (credentials unless incidents.public_pages)

The pages are rendered here, on the server: no JavaScript, no external asset (one inline stylesheet), a
layout that reads on a phone at 3 a.m. (one column, large type, the outcome first), and a
Content-Security-Policy that forbids scripts. A record still in progress refreshes itself every 15 s with
a plain `<meta http-equiv="refresh">`.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from receiver.core import incident_report as report
from receiver.core.incidents import Incident, Phase, summary_json, to_json
from receiver.k8s import KubeError
from receiver.web.access import authorized, unauthorized
from receiver.web.backend import BACKEND

logger = logging.getLogger(__name__)

ID_RE = re.compile(r"[0-9a-f]{12}")
DEFAULT_LIMIT = 50
REFRESH_SECONDS = 15
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"


class IncidentSource(Protocol):
    async def list(self) -> list[Incident]: ...

    async def get(self, ident: str) -> Incident | None: ...


SOURCE = web.AppKey("incident_source", IncidentSource)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install(app: web.Application, source: IncidentSource) -> None:
    app[SOURCE] = source
    app.router.add_get("/api/v1/incidents", _guarded(api_list, page=False))
    app.router.add_get("/api/v1/incidents/{id}", _guarded(api_one, page=False))
    app.router.add_get("/incidents", _guarded(page_list, page=True))
    app.router.add_get("/incidents/{id}", _guarded(page_one, page=True))


# --- JSON ---------------------------------------------------------------------------------------------


async def api_list(request: web.Request) -> web.Response:
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or int(raw) < 1:
        return _json_error(400, "limit must be a positive integer")
    incidents = await _list(request)
    if incidents is None:
        return _json_error(503, "cannot read the incident records from the cluster (logged)")
    return web.json_response({"incidents": [summary(i, _url(request, i)) for i in incidents[: int(raw)]]})


async def api_one(request: web.Request) -> web.Response:
    incident, problem = await _one(request)
    if incident is None:
        return _json_error(*problem)
    return web.json_response(to_json(incident, url=_url(request, incident)))


def summary(incident: Incident, url: str) -> dict[str, Any]:
    return summary_json(incident, url=url) | {"headline": report.headline(incident)}


# --- HTML ---------------------------------------------------------------------------------------------


async def page_list(request: web.Request) -> web.Response:
    incidents = await _list(request)
    if incidents is None:
        return _page(
            503, "Incidents", "<p>The incident records cannot be read from the cluster right now.</p>"
        )
    if not incidents:
        body = "<p>No rollback has happened yet (or the records were pruned).</p>"
    else:
        items = "".join(
            f'<li class="card"><a href="{_attr(_path(i))}">{_badge(i.phase)}'
            f'<span class="title">{_text(i.alert_name)} — {_text(str(i.workload))}</span>'
            f'<span class="meta">{_text(report.stamp(i.opened_at))} · {_text(i.id)}</span></a></li>'
            for i in incidents[:DEFAULT_LIMIT]
        )
        body = f'<ul class="cards">{items}</ul>'
    return _page(200, "Rollback incidents", f"<h1>Rollback incidents</h1>{body}")


async def page_one(request: web.Request) -> web.Response:
    incident, problem = await _one(request)
    if incident is None:
        status, reason = problem
        return _page(status, "Incident", f"<h1>Incident</h1><p>{_text(reason)}</p>")
    facts = "".join(
        f"<dt>{_text(label)}</dt><dd>{_text(value)}</dd>" for label, value in report.facts(incident)
    )
    impact = "".join(f"<li>{_text(line)}</li>" for line in report.impact(incident)) or "<li>In progress.</li>"
    steps = "".join(
        f'<li class="step {_attr(step.kind.value)}"><span class="when">{step.at:%H:%M:%S} UTC '
        f"<small>{_offset(incident, step.at)}</small></span>"
        f'<span class="what">{_text(step.text)}</span>'
        + (f'<span class="by">{_text(step.by)}</span>' if step.by else "")
        + "</li>"
        for step in incident.timeline()
    )
    body = (
        f'<p class="crumbs"><a href="/incidents">All incidents</a></p>'
        f"<h1>{_badge(incident.phase)} {_text(incident.alert_name)} rolled back "
        f"{_text(str(incident.workload))}</h1>"
        f'<p class="lead">{_text(report.PHASE_WORDS[incident.phase])}</p>'
        f"<h2>Impact and resolution</h2><ul>{impact}</ul>"
        f"<h2>Facts</h2><dl>{facts}</dl>"
        f'<h2>Timeline</h2><ol class="timeline">{steps}</ol>'
        f'<p class="foot">Incident {_text(incident.id)} · JSON: '
        f'<a href="/api/v1/incidents/{_attr(incident.id)}">/api/v1/incidents/{_text(incident.id)}</a> · '
        f"Markdown: <code>rollback-receiver incidents show {_text(incident.id)} -o markdown</code></p>"
    )
    refresh = None if incident.closed else REFRESH_SECONDS
    title = f"{incident.phase.value.replace('_', ' ')}: {incident.alert_name} {incident.workload}"
    return _page(200, title, body, refresh=refresh)


STYLE = """
:root{color-scheme:light dark;--ok:#1a7f37;--bad:#cf222e;--wait:#9a6700;--fg:#1f2328;--muted:#59636e;
--bg:#fff;--card:#f6f8fa;--line:#d1d9e0}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#161b22;
--line:#3d444d;--ok:#3fb950;--bad:#f85149;--wait:#d29922}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:48rem;padding:1rem;font:17px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
h1{font-size:1.35rem;line-height:1.3;margin:.5rem 0}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
a{color:inherit}.lead{font-size:1.1rem;font-weight:600}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:1rem;font-size:.85rem;font-weight:700;
color:#fff;vertical-align:middle;text-transform:uppercase;letter-spacing:.02em}
.ok{background:var(--ok)}.bad{background:var(--bad)}.wait{background:var(--wait)}
dl{margin:0;display:grid;grid-template-columns:minmax(7rem,max-content) 1fr;gap:.35rem .9rem}
dt{color:var(--muted)}dd{margin:0}
@media (max-width:34rem){dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}}
ol.timeline{list-style:none;padding:0;margin:0;border-left:3px solid var(--line)}
.step{padding:.35rem 0 .6rem .8rem;position:relative}
.step:before{content:"";position:absolute;left:-.5rem;top:.75rem;width:.7rem;height:.7rem;
border-radius:50%;background:var(--line)}
.step.patched:before,.step.rollout_complete:before,.step.alert_resolved:before{background:var(--ok)}
.step.still_firing:before,.step.rollout_failed:before{background:var(--bad)}
.when{display:block;font-weight:600;font-variant-numeric:tabular-nums}.when small{color:var(--muted)}
.what{display:block}.by{display:block;color:var(--muted);font-size:.85rem}
ul.cards{list-style:none;padding:0}.card a{display:block;padding:.8rem;margin:.5rem 0;
background:var(--card);border:1px solid var(--line);border-radius:.5rem;text-decoration:none}
.title{display:block;font-weight:600;margin-top:.3rem}.meta{display:block;color:var(--muted);font-size:.9rem}
.crumbs,.foot{color:var(--muted);font-size:.9rem}code{font-size:.85rem}
"""

_BADGE = {
    Phase.ROLLING_OUT: ("wait", "rolling out"),
    Phase.VERIFYING: ("wait", "verifying"),
    Phase.RECOVERED: ("ok", "recovered"),
    Phase.COMPLETED: ("ok", "completed"),
    Phase.DID_NOT_HELP: ("bad", "did not help"),
    Phase.ROLLOUT_FAILED: ("bad", "rollout failed"),
    Phase.UNKNOWN: ("bad", "unknown"),
}


def _page(status: int, title: str, body: str, *, refresh: int | None = None) -> web.Response:
    head = (
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        + (f'<meta http-equiv="refresh" content="{refresh}">' if refresh else "")
        + f"<title>{_text(title)} · rollback-receiver</title><style>{STYLE}</style>"
    )
    document = f'<!doctype html><html lang="en"><head>{head}</head><body>{body}</body></html>'
    return web.Response(
        status=status,
        text=document,
        content_type="text/html",
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def _badge(phase: Phase) -> str:
    css, words = _BADGE[phase]
    return f'<span class="badge {css}">{words}</span>'


def _offset(incident: Incident, at: Any) -> str:
    seconds = round((at - incident.alert_starts_at).total_seconds())
    sign = "-" if seconds < 0 else "+"
    minutes, secs = divmod(abs(seconds), 60)
    return f"{sign}{minutes:02d}:{secs:02d} after the alert started"


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


# --- shared -------------------------------------------------------------------------------------------


async def _list(request: web.Request) -> list[Incident] | None:
    try:
        return await request.app[SOURCE].list()
    except KubeError as exc:
        logger.warning("cannot read the incident records: %s", exc)
        return None


async def _one(request: web.Request) -> tuple[Incident | None, tuple[int, str]]:
    ident = request.match_info["id"]
    if ID_RE.fullmatch(ident) is None:
        return None, (404, "no such incident (an id is 12 hexadecimal digits)")
    try:
        incident = await request.app[SOURCE].get(ident)
    except KubeError as exc:
        logger.warning("cannot read the incident records: %s", exc)
        return None, (503, "cannot read the incident records from the cluster (logged)")
    if incident is None:
        return None, (404, f"no incident {ident} (never recorded, or pruned: incidents.retain)")
    return incident, (200, "")


def _path(incident: Incident) -> str:
    return f"/incidents/{incident.id}"


def _url(request: web.Request, incident: Incident) -> str:
    """The page's address: `incidents.external_url` when set, else as this request reached us."""
    base = request.app[BACKEND].config.incidents.external_url.rstrip("/")
    return f"{base or f'{request.scheme}://{request.host}'}{_path(incident)}"


def _json_error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _guarded(handler: Handler, *, page: bool) -> Handler:
    """The webhook's credentials, always for the JSON API (the app's middleware checks `/api/` too); for
    the pages unless `incidents.public_pages`."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        backend = request.app[BACKEND]
        if page and backend.config.incidents.public_pages:
            return await handler(request)
        if authorized(request):
            return await handler(request)
        if not page:
            return unauthorized(request)
        body = "<h1>Authentication required</h1><p>Use the receiver's credentials.</p>"
        response = _page(401, "Authentication required", body)
        response.headers["WWW-Authenticate"] = backend.credentials.challenge
        return response

    return guarded
