"""Reading one incident record every way a person can, for the end-to-end tests: the JSON API, the CLI
(JSON and Markdown) and the HTML page in real headless Chromium, and checking they tell the same story."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import chromium
from harness.http import HttpError, request_json
from harness.receiver import ReceiverProcess
from harness.waiting import eventually

WAIT = 240.0


def incidents(receiver: ReceiverProcess) -> list[dict[str, Any]]:
    body = request_json("GET", f"{receiver.url}/api/v1/incidents?limit=100", headers=receiver.auth_headers)
    return list(body["incidents"])


def incident(receiver: ReceiverProcess, ident: str) -> dict[str, Any]:
    return dict(
        request_json("GET", f"{receiver.url}/api/v1/incidents/{ident}", headers=receiver.auth_headers)
    )


def wait_for_incident(
    receiver: ReceiverProcess, alertname: str, phase: str, *, timeout: float = WAIT
) -> dict[str, Any]:
    """The one record of `alertname`, once it reached `phase`."""

    def probe() -> dict[str, Any] | None:
        found = [i for i in incidents(receiver) if i["alert"] == alertname]
        assert len(found) <= 1, f"more than one incident for {alertname}: {found}"
        return incident(receiver, found[0]["id"]) if found and found[0]["phase"] == phase else None

    def seen() -> str:
        found = [i for i in incidents(receiver) if i["alert"] == alertname]
        records = [incident(receiver, i["id"]) for i in found]
        return f"records so far: {json.dumps(records, indent=2)}\nreceiver log:\n{receiver.log_tail()}"

    return eventually(
        probe,
        what=f"the {alertname} incident to be {phase}",
        timeout=timeout,
        on_fail=seen,
        retry_on=(OSError, HttpError),
    )


def kinds_in_time_order(record: dict[str, Any]) -> list[str]:
    return [s["kind"] for s in sorted(record["steps"], key=lambda s: s["at"])]


def assert_in_order(record: dict[str, Any], expected: Sequence[str]) -> None:
    """Each expected step once, in this order in time (other steps, e.g. notifications, may interleave)."""
    kinds = kinds_in_time_order(record)
    for kind in expected:
        assert kinds.count(kind) == 1, f"{kind} {kinds.count(kind)} times in {kinds}"
    positions = [kinds.index(kind) for kind in expected]
    assert positions == sorted(positions), f"steps out of order: {kinds}"
    times = [s["at"] for s in sorted(record["steps"], key=lambda s: s["at"])]
    assert times == sorted(times)


def assert_readable_everywhere(
    receiver: ReceiverProcess,
    kubeconfig: str,
    record: dict[str, Any],
    tmp_path: Path,
    *,
    words: Sequence[str],
) -> None:
    """The CLI (JSON, Markdown) says what the API says, and the page shows it in Chromium on a phone."""
    ident = record["id"]
    from_cli = json.loads(receiver.incidents(kubeconfig, "show", ident, "-o", "json"))
    assert from_cli["steps"] == record["steps"] and from_cli["phase"] == record["phase"]
    listed = json.loads(receiver.incidents(kubeconfig, "list", "-o", "json"))["incidents"]
    assert ident in [i["id"] for i in listed]

    markdown = receiver.incidents(kubeconfig, "show", ident, "-o", "markdown")
    assert markdown.startswith(f"# Incident {ident}: ")
    for step in record["steps"]:
        assert step["text"].replace("|", "\\|")[:60] in markdown, step
    for word in words:
        assert word in markdown, word

    page = f"{receiver.url}/incidents/{ident}"
    assert record["url"] == page
    dom = chromium.dump_dom(page)
    assert '<meta name="viewport"' in dom and "<script" not in dom
    for word in [*words, record["alert"]["name"], record["workload"]["name"]]:
        assert word in dom, f"{word!r} not on the page"
    shot = chromium.screenshot(page, tmp_path / f"incident-{ident}.png")
    assert (shot.width, shot.height) == chromium.PHONE
    assert shot.distinct_rows > 20 and shot.dark_pixels > 500, shot  # text was drawn, not a blank page
    listing = chromium.dump_dom(f"{receiver.url}/incidents")
    assert f"/incidents/{ident}" in listing
