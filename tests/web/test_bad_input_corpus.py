"""A corpus of bad requests: each gets a 4xx with a JSON reason, and a valid alert is accepted after it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from web_support import HEADERS, Client, Harness, MakeClient, alert, body, payload


def mutated(change: Any) -> bytes:
    data = payload(alert())
    change(data)
    return json.dumps(data).encode()


def set_alert(key: str, value: Any) -> Any:
    return lambda d: d["alerts"][0].__setitem__(key, value)


def set_top(key: str, value: Any) -> Any:
    return lambda d: d.__setitem__(key, value)


def drop_alert(key: str) -> Any:
    return lambda d: d["alerts"][0].pop(key)


def drop_top(key: str) -> Any:
    return lambda d: d.pop(key)


VALID = body(alert())
CORPUS: list[tuple[str, bytes, dict[str, str], int]] = [
    ("empty body", b"", HEADERS, 400),
    ("whitespace body", b" \n\t ", HEADERS, 400),
    ("truncated JSON", VALID[: len(VALID) // 2], HEADERS, 400),
    ("truncated by one byte", VALID[:-1], HEADERS, 400),
    ("trailing garbage", VALID + b"garbage", HEADERS, 400),
    ("two documents", VALID + VALID, HEADERS, 400),
    ("single quotes", VALID.replace(b'"', b"'"), HEADERS, 400),
    ("trailing comma", VALID[:-1] + b",}", HEADERS, 400),
    ("NaN", b'{"version": NaN}', HEADERS, 400),
    ("Infinity", b'{"version": "4", "truncatedAlerts": Infinity}', HEADERS, 400),
    ("JSON array", b"[]", HEADERS, 400),
    ("JSON string", b'"hello"', HEADERS, 400),
    ("JSON null", b"null", HEADERS, 400),
    ("JSON number", b"42", HEADERS, 400),
    ("invalid UTF-8", b'{"version": "\xff\xfe"}', HEADERS, 400),
    ("lone surrogate bytes", b'{"version": "\xed\xa0\x80"}', HEADERS, 400),
    ("UTF-16 body", VALID.decode().encode("utf-16"), HEADERS, 400),
    ("latin-1 label", VALID.replace(b"ecommerce", "ecömmerce".encode("latin-1")), HEADERS, 400),
    ("deep array nesting", b"[" * 200_000 + b"]" * 200_000, HEADERS, 400),
    ("deep nesting under limit", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, HEADERS, 400),
    (
        "deep nesting in labels",
        mutated(set_alert("labels", json.loads('{"a":' * 50 + '"x"' + "}" * 50))),
        HEADERS,
        400,
    ),
    ("10 MB body", b"{" + b" " * (10 * 1024 * 1024) + b"}", HEADERS, 413),
    ("huge label value", mutated(set_alert("labels", {"alertname": "x" * 100_000})), HEADERS, 400),
    ("huge annotation", mutated(set_alert("annotations", {"description": "y" * 200_000})), HEADERS, 400),
    ("huge label key", mutated(set_alert("labels", {"k" * 5000: "v"})), HEADERS, 400),
    ("huge receiver", mutated(set_top("receiver", "r" * 50_000)), HEADERS, 400),
    ("huge groupKey", mutated(set_top("groupKey", "g" * 50_000)), HEADERS, 400),
    ("missing version", mutated(drop_top("version")), HEADERS, 400),
    ("version 3", mutated(set_top("version", "3")), HEADERS, 400),
    ("version as number", mutated(set_top("version", 4)), HEADERS, 400),
    ("missing alerts", mutated(drop_top("alerts")), HEADERS, 400),
    ("alerts is object", mutated(set_top("alerts", {"0": alert()})), HEADERS, 400),
    ("alerts is null", mutated(set_top("alerts", None)), HEADERS, 400),
    ("alert is a string", mutated(set_top("alerts", ["alert"])), HEADERS, 400),
    ("alert is null", mutated(set_top("alerts", [None])), HEADERS, 400),
    ("missing status", mutated(drop_top("status")), HEADERS, 400),
    ("missing receiver", mutated(drop_top("receiver")), HEADERS, 400),
    ("missing groupKey", mutated(drop_top("groupKey")), HEADERS, 400),
    ("negative truncatedAlerts", mutated(set_top("truncatedAlerts", -1)), HEADERS, 400),
    ("float truncatedAlerts", mutated(set_top("truncatedAlerts", 1.5)), HEADERS, 400),
    ("commonLabels list", mutated(set_top("commonLabels", ["a"])), HEADERS, 400),
    ("groupLabels numeric value", mutated(set_top("groupLabels", {"a": 1})), HEADERS, 400),
    ("alert missing fingerprint", mutated(drop_alert("fingerprint")), HEADERS, 400),
    ("alert fingerprint not hex", mutated(set_alert("fingerprint", "zzzz")), HEADERS, 400),
    ("alert fingerprint number", mutated(set_alert("fingerprint", 1234)), HEADERS, 400),
    ("alert missing labels", mutated(drop_alert("labels")), HEADERS, 400),
    ("alert labels null", mutated(set_alert("labels", None)), HEADERS, 400),
    ("alert label value null", mutated(set_alert("labels", {"alertname": None})), HEADERS, 400),
    ("alert label value bool", mutated(set_alert("labels", {"alertname": True})), HEADERS, 400),
    ("alert empty label key", mutated(set_alert("labels", {"": "x"})), HEADERS, 400),
    ("alert annotations list", mutated(set_alert("annotations", [])), HEADERS, 400),
    ("alert missing status", mutated(drop_alert("status")), HEADERS, 400),
    ("alert status unknown", mutated(set_alert("status", "pending")), HEADERS, 400),
    ("alert status upper case", mutated(set_alert("status", "FIRING")), HEADERS, 400),
    ("alert missing startsAt", mutated(drop_alert("startsAt")), HEADERS, 400),
    ("alert startsAt epoch", mutated(set_alert("startsAt", 1732870000)), HEADERS, 400),
    ("alert startsAt garbage", mutated(set_alert("startsAt", "yesterday")), HEADERS, 400),
    ("alert startsAt zero time", mutated(set_alert("startsAt", "0001-01-01T00:00:00Z")), HEADERS, 400),
    ("alert startsAt month 13", mutated(set_alert("startsAt", "2026-13-01T00:00:00Z")), HEADERS, 400),
    ("alert startsAt no zone", mutated(set_alert("startsAt", "2026-11-29T09:05:00")), HEADERS, 400),
    ("alert startsAt overflow", mutated(set_alert("startsAt", "9999-12-31T23:59:59-23:59")), HEADERS, 400),
    ("alert endsAt garbage", mutated(set_alert("endsAt", "soon")), HEADERS, 400),
    ("alert generatorURL object", mutated(set_alert("generatorURL", {})), HEADERS, 400),
    (
        "too many alerts",
        json.dumps(payload(*[alert(fingerprint=f"{n:016x}") for n in range(1001)])).encode(),
        HEADERS,
        413,
    ),
    ("no content type", VALID, {"Authorization": HEADERS["Authorization"]}, 415),
    ("form content type", VALID, {**HEADERS, "Content-Type": "application/x-www-form-urlencoded"}, 415),
    ("text content type", VALID, {**HEADERS, "Content-Type": "text/plain"}, 415),
    ("utf-16 charset", VALID, {**HEADERS, "Content-Type": "application/json; charset=utf-16"}, 415),
    ("no credentials", VALID, {"Content-Type": "application/json"}, 401),
    ("wrong credentials", VALID, {**HEADERS, "Authorization": "Bearer wrong"}, 401),
    ("basic instead of bearer", VALID, {**HEADERS, "Authorization": "Basic dXNlcjpwYXNz"}, 401),
]


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 50
    assert len({name for name, *_ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(("name", "data", "headers", "status"), CORPUS, ids=[c[0] for c in CORPUS])
async def test_bad_input_gets_a_4xx_and_the_next_alert_is_accepted(
    client_and_harness: tuple[Client, Harness], name: str, data: bytes, headers: dict[str, str], status: int
) -> None:
    client, harness = client_and_harness
    response = await client.post("/webhook", data=data, headers=headers)
    assert response.status == status
    answer = await response.json()
    assert answer["error"]
    assert len(json.dumps(answer)) < 2000  # a reason, not an echo of the input
    if status == 400:
        assert answer["path"].startswith("$")
    assert harness.actuator.items == []

    response = await client.post("/webhook", data=VALID, headers=HEADERS)
    assert response.status == 200
    assert (await response.json())["queued"] == 1


@pytest.mark.looptime
async def test_a_client_that_stops_sending_gets_408(make_client: MakeClient, looptime: float) -> None:
    client, _ = await make_client(request_timeout="10s")
    port = client.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: {HEADERS['Authorization']}\r\nContent-Length: 1000\r\n\r\n".encode()
        + b'{"version": "4"'
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 408")
    response = await client.post("/webhook", data=VALID, headers=HEADERS)
    assert response.status == 200
