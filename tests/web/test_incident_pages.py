"""The incident endpoints on the real app, reading records from the real API server: the JSON API always
needs the webhook's credentials, the pages only unless `incidents.public_pages`; hostile alert text is
escaped, no script ever reaches the page, unknown ids are a plain 404."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from web_support import TOKEN, build, config_dict, write_config

from receiver.core.incidents import Incident, Phase, Step, StepKind, with_step
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import IncidentStore, connect
from receiver.web.app import create_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime.now(UTC) - timedelta(minutes=5)
HOSTILE = '<script>alert("x")</script>'


def record(ident: str, phase: Phase) -> Incident:
    incident = Incident(
        id=ident,
        claim_key=f"fp@t|Deployment/shop/{ident}",
        opened_at=T0 + timedelta(seconds=70),
        cluster="shop-prod",
        route="critical-and-high",
        source="webhook",
        alert_name="HighErrorRate",
        alert_key="fp@t",
        fingerprint="fp",
        alert_starts_at=T0,
        workload=WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce"),
        reason="roll back deployment/ecommerce -n shop from revision 3 to revision 2",
        alert_labels={"alertname": "HighErrorRate", "team": HOSTILE},
        alert_summary=HOSTILE,
        patched_at=T0 + timedelta(seconds=70),
        phase=phase,
    )
    return with_step(
        incident, Step(T0 + timedelta(seconds=70), StepKind.PATCHED, f"patched {HOSTILE}", "rr-0")
    )


async def client_for(
    control_plane: Any, namespace: str, tmp_path: Path, aiohttp_client: Any, *, public: bool
) -> tuple[TestClient[Any, Any], Any]:
    config = copy.deepcopy(config_dict())
    config["state"] = {"namespace": namespace, "name": "rr-state"}
    config["incidents"] = {"public_pages": public, "external_url": "https://rr.example"}
    harness = build(write_config(tmp_path, config))
    kube = await connect(control_plane.kubeconfig)
    store = IncidentStore.for_config(kube, harness.service.config)
    for ident, phase in (("a" * 12, Phase.RECOVERED), ("b" * 12, Phase.VERIFYING)):
        await store.update(ident, lambda current, i=ident, p=phase: current or record(i, p))
    client: TestClient[Any, Any] = await aiohttp_client(create_app(harness.service, incidents=store))
    return client, kube


async def test_the_api_needs_credentials_and_answers_json(
    control_plane: Any, namespace: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    client, kube = await client_for(control_plane, namespace, tmp_path, aiohttp_client, public=True)
    try:
        refused = await client.get("/api/v1/incidents")
        assert refused.status == 401 and "Bearer" in refused.headers["WWW-Authenticate"]
        listed = await (await client.get("/api/v1/incidents", headers=AUTH)).json()
        assert [i["id"] for i in listed["incidents"]] == ["a" * 12, "b" * 12]  # same opened_at: by id
        assert listed["incidents"][0]["url"] == f"https://rr.example/incidents/{'a' * 12}"
        one = await (await client.get(f"/api/v1/incidents/{'a' * 12}", headers=AUTH)).json()
        assert one["phase"] == "recovered" and one["steps"][0]["kind"] == "patched"
        assert (await client.get(f"/api/v1/incidents/{'c' * 12}", headers=AUTH)).status == 404
        assert (await client.get("/api/v1/incidents/../../x", headers=AUTH)).status == 404
        assert (await client.get("/api/v1/incidents?limit=0", headers=AUTH)).status == 400
    finally:
        await kube.close()


async def test_pages_need_credentials_unless_public_and_escape_what_the_alert_says(
    control_plane: Any, namespace: str, tmp_path: Path, aiohttp_client: Any
) -> None:
    client, kube = await client_for(control_plane, namespace, tmp_path, aiohttp_client, public=False)
    try:
        refused = await client.get(f"/incidents/{'a' * 12}")
        assert refused.status == 401 and refused.content_type == "text/html"
        page = await client.get(f"/incidents/{'a' * 12}", headers=AUTH)
        assert page.status == 200
        html = await page.text()
        assert "<script" not in html and "&lt;script&gt;" in html
        assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none': no scripts
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert 'http-equiv="refresh"' not in html  # a closed record does not reload
        verifying = await (await client.get(f"/incidents/{'b' * 12}", headers=AUTH)).text()
        assert 'http-equiv="refresh" content="15"' in verifying  # one in progress does
        listing = await (await client.get("/incidents", headers=AUTH)).text()
        assert f'href="/incidents/{"a" * 12}"' in listing and "recovered" in listing
        assert (await client.get(f"/incidents/{'c' * 12}", headers=AUTH)).status == 404
    finally:
        await kube.close()
    public, kube = await client_for(control_plane, namespace, tmp_path, aiohttp_client, public=True)
    try:
        assert (await public.get(f"/incidents/{'a' * 12}")).status == 200
        assert (await public.get("/api/v1/incidents")).status == 401  # the API never is public
    finally:
        await kube.close()
