"""POST /-/reload with good and bad files, secrets re-read, and metric values read back."""

from __future__ import annotations

from typing import Any

import yaml
from web_support import AUTH, HEADERS, Client, Harness, MakeClient, alert, body, config_dict

RELOAD_OK = "rollback_receiver_config_last_reload_successful"
RELOAD_TS = "rollback_receiver_config_last_reload_success_timestamp_seconds"


async def reload(client: Client, headers: dict[str, str] = AUTH) -> tuple[int, dict[str, Any]]:
    response = await client.post("/-/reload", headers=headers)
    return response.status, await response.json()


async def test_good_reload_applies_routes(client_and_harness: tuple[Client, Harness]) -> None:
    client, harness = client_and_harness
    assert harness.sample(RELOAD_OK) == 1
    first_success = harness.sample(RELOAD_TS)
    config = config_dict()
    config["routes"].append({"name": "disk", "match": ['alertname="DiskFull"'], "action": "notify"})
    harness.config_path.write_text(yaml.safe_dump(config))

    assert await reload(client) == (200, {"status": "success"})
    assert [r.name for r in harness.service.config.routes][-1] == "disk"
    assert harness.actuator.configs[-1] is harness.service.config  # the actuator got the new config too
    assert harness.sample(RELOAD_TS) >= first_success
    answer = await (
        await client.post("/webhook", data=body(alert("DiskFull", rollback=False)), headers=HEADERS)
    ).json()
    assert answer["alerts"][0]["route"] == "disk"


async def test_bad_reload_keeps_the_last_good_config(client_and_harness: tuple[Client, Harness]) -> None:
    client, harness = client_and_harness
    before = harness.service.config
    harness.config_path.write_text("mode: yolo\nroutes: [{name: r, action: rollback}]\n")

    status, answer = await reload(client)
    assert status == 400
    assert "last good config stays active" in answer["error"]
    assert answer["problems"] == [
        f"{harness.config_path}: mode: must be one of enforce, dry-run, not 'yolo'",
        f"{harness.config_path}: routes[0].target: required when action is rollback",
    ]
    assert harness.sample(RELOAD_OK) == 0
    assert harness.service.config is before
    assert harness.actuator.configs == []
    answer = await (await client.post("/webhook", data=body(alert()), headers=HEADERS)).json()
    assert answer["queued"] == 1  # still routing with the old config

    harness.config_path.write_text(yaml.safe_dump(config_dict()))
    assert (await reload(client))[0] == 200
    assert harness.sample(RELOAD_OK) == 1


async def test_reload_rereads_the_token_file(client_and_harness: tuple[Client, Harness]) -> None:
    client, harness = client_and_harness
    (harness.config_path.parent / "token").write_text("rotated-token\n")
    assert (await reload(client))[0] == 200  # authenticated with the old token
    assert (await client.post("/webhook", data=body(alert()), headers=HEADERS)).status == 401
    rotated = {**HEADERS, "Authorization": "Bearer rotated-token"}
    assert (await client.post("/webhook", data=body(alert()), headers=rotated)).status == 200


async def test_unreadable_token_file_is_a_rejected_reload(client_and_harness: tuple[Client, Harness]) -> None:
    client, harness = client_and_harness
    (harness.config_path.parent / "token").unlink()
    status, answer = await reload(client)
    assert status == 400
    assert "server.auth.bearer_token_file: cannot read" in answer["problems"][0]
    assert (
        await client.post("/webhook", data=body(alert()), headers=HEADERS)
    ).status == 200  # old token kept


async def test_metrics_endpoint_and_values(make_client: MakeClient) -> None:
    client, harness = await make_client(queue_size=7)
    await client.post("/webhook", data=body(alert(), alert(status="resolved")), headers=HEADERS)
    await client.post("/webhook", data=body(alert()), headers=HEADERS)
    await client.post("/webhook", data=b"nope", headers=HEADERS)

    assert harness.sample("rollback_receiver_alerts_received_total", {"status": "firing"}) == 2
    assert harness.sample("rollback_receiver_alerts_received_total", {"status": "resolved"}) == 1
    assert harness.sample("rollback_receiver_alerts_deduplicated_total") == 1
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "200"}) == 2
    assert harness.sample("rollback_receiver_webhook_requests_total", {"code": "400"}) == 1
    assert harness.sample("rollback_receiver_queue_capacity") == 7
    assert harness.sample("rollback_receiver_webhook_request_duration_seconds_count") == 3

    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200
    assert 'rollback_receiver_alerts_received_total{status="resolved"} 1.0' in text
    assert "rollback_receiver_config_last_reload_successful 1.0" in text
    for name in (
        "decisions_total",
        "decision_duration_seconds",
        "rollbacks_total",
        "rollback_duration_seconds",
        "queue_depth",
        "budget_remaining",
        "circuit_breaker_open",
        "inflight_rollbacks",
        "kube_api_errors_total",
        "reconcile_runs_total",
        "alerts_recovered_total",
    ):
        assert f"# TYPE rollback_receiver_{name.removesuffix('_total')}" in text, name


async def test_settings_read_only_at_start_are_named_on_reload(
    client_and_harness: tuple[Client, Harness], caplog: Any
) -> None:
    client, harness = client_and_harness
    config = config_dict(dedupe_entries=10, dedupe_ttl="1m", decision_log_entries=5, queue_size=7)
    harness.config_path.write_text(yaml.safe_dump(config))
    with caplog.at_level("WARNING", logger="receiver.service"):
        assert await reload(client) == (200, {"status": "success"})
    warned = {r.getMessage() for r in caplog.records}
    for name in ("dedupe_entries", "dedupe_ttl", "decision_log_entries", "queue_size"):
        assert f"server.{name} changed: takes effect after a restart" in warned


async def test_prometheus_style_probes_and_exporter_metrics(make_client: MakeClient) -> None:
    import platform

    client, _ = await make_client()
    for alias, probe in (("/-/healthy", "/healthz"), ("/-/ready", "/readyz")):
        aliased, original = await client.get(alias), await client.get(probe)
        assert (aliased.status, await aliased.json()) == (original.status, await original.json())
    text = await (await client.get("/metrics")).text()
    build = next(line for line in text.splitlines() if line.startswith("rollback_receiver_build_info{"))
    assert 'version="0.1.0"' in build and f'python_version="{platform.python_version()}"' in build
    assert build.endswith(" 1.0")
    for family in (
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_info",
        "python_gc_objects_collected_total",
    ):
        assert f"\n{family}" in text, family
