"""Webhook payload parsing: what Alertmanager sends is accepted, everything else names the field at fault."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from receiver.core.alerts import AlertStatus, PayloadError, TooManyAlerts, decode_payload, parse_payload

# Trimmed from a body Alertmanager 0.25 actually sent.
AM_025_BODY = (
    '{"receiver":"ok","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Test200",'
    '"mode":"200","pod":"a"},"annotations":{"summary":"s"},"startsAt":"2026-11-29T10:12:42.32280135Z",'
    '"endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"d2f2618daf36c50f"}],'
    '"groupLabels":{"alertname":"Test200"},"commonLabels":{"alertname":"Test200","mode":"200"},'
    '"commonAnnotations":{},"externalURL":"http://vm:19093","version":"4",'
    '"groupKey":"{}:{alertname=\\"Test200\\"}","truncatedAlerts":0}'
)


def valid() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(AM_025_BODY)
    return result


def test_alertmanager_025_body() -> None:
    payload = decode_payload(AM_025_BODY.encode(), max_alerts=10)
    assert payload.version == "4"
    assert payload.group_key == '{}:{alertname="Test200"}'
    assert payload.receiver == "ok"
    assert payload.truncated_alerts == 0
    (alert,) = payload.alerts
    assert alert.status is AlertStatus.FIRING
    assert alert.name == "Test200"
    assert alert.labels["pod"] == "a"
    assert alert.annotations == {"summary": "s"}
    assert alert.starts_at == datetime(2026, 11, 29, 10, 12, 42, 322801, tzinfo=UTC)
    assert alert.ends_at is None  # Go's zero time for a firing alert
    assert alert.fingerprint == "d2f2618daf36c50f"
    assert alert.episode_key == "d2f2618daf36c50f@2026-11-29T10:12:42.322801+00:00"


def test_per_alert_status_not_the_group_status() -> None:
    body = valid()
    resolved = copy.deepcopy(body["alerts"][0])
    resolved.update(status="resolved", endsAt="2026-11-29T10:14:10Z", fingerprint="0000000000000001")
    body["alerts"].append(resolved)
    payload = parse_payload(body, max_alerts=10)
    assert payload.status is AlertStatus.FIRING
    assert [a.status for a in payload.alerts] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    assert payload.alerts[1].ends_at == datetime(2026, 11, 29, 10, 14, 10, tzinfo=UTC)


def test_unknown_and_newer_fields_are_ignored() -> None:
    body = valid()
    body.update(notification_reason="first notification", routeLabels={"team": "a"}, future={"x": [1]})
    body["alerts"][0]["extra"] = {"nested": True}
    assert parse_payload(body, max_alerts=10).alerts[0].name == "Test200"


def test_optional_fields_default() -> None:
    body = valid()
    for key in ("truncatedAlerts", "groupLabels", "commonLabels", "commonAnnotations", "externalURL"):
        del body[key]
    for key in ("annotations", "endsAt", "generatorURL"):
        del body["alerts"][0][key]
    body["commonAnnotations"] = None
    payload = parse_payload(body, max_alerts=10)
    assert payload.truncated_alerts == 0
    assert payload.common_annotations == {}
    assert payload.alerts[0].annotations == {}
    assert payload.alerts[0].ends_at is None


def test_truncated_alerts_is_kept_for_the_guards() -> None:
    body = valid()
    body["truncatedAlerts"] = 3
    assert parse_payload(body, max_alerts=10).truncated_alerts == 3


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-29T10:12:42Z", datetime(2026, 11, 29, 10, 12, 42, tzinfo=UTC)),
        ("2026-11-29T10:12:42.5Z", datetime(2026, 11, 29, 10, 12, 42, 500000, tzinfo=UTC)),
        ("2026-11-29T10:12:42.123456789Z", datetime(2026, 11, 29, 10, 12, 42, 123456, tzinfo=UTC)),
        ("2026-11-29T12:12:42+02:00", datetime(2026, 11, 29, 10, 12, 42, tzinfo=UTC)),
        ("2026-11-29T05:42:42-04:30", datetime(2026, 11, 29, 10, 12, 42, tzinfo=UTC)),
        ("2026-11-29t10:12:42z", datetime(2026, 11, 29, 10, 12, 42, tzinfo=UTC)),
    ],
)
def test_timestamps(stamp: str, expected: datetime) -> None:
    body = valid()
    body["alerts"][0]["startsAt"] = stamp
    assert parse_payload(body, max_alerts=10).alerts[0].starts_at == expected


def _set(path: list[str | int], value: Any) -> dict[str, Any]:
    body = valid()
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


def _delete(path: list[str | int]) -> dict[str, Any]:
    body = valid()
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


A0 = ["alerts", 0]
BAD = [
    (_set(["version"], "3"), "$.version", "unsupported version"),
    (_set(["version"], 4), "$.version", "must be a string, not a number"),
    (_delete(["version"]), "$.version", "required field is missing"),
    (_delete(["alerts"]), "$.alerts", "required field is missing"),
    (_set(["alerts"], {}), "$.alerts", "must be an array, not an object"),
    (_set(["alerts"], None), "$.alerts", "must be an array, not null"),
    (_delete(["status"]), "$.status", "required field is missing"),
    (_set(["status"], "pending"), "$.status", 'must be "firing" or "resolved"'),
    (_delete(["receiver"]), "$.receiver", "required field is missing"),
    (_delete(["groupKey"]), "$.groupKey", "required field is missing"),
    (_set(["truncatedAlerts"], -1), "$.truncatedAlerts", "non-negative integer"),
    (_set(["truncatedAlerts"], "0"), "$.truncatedAlerts", "non-negative integer"),
    (_set(["truncatedAlerts"], True), "$.truncatedAlerts", "non-negative integer"),
    (_set(["commonLabels"], []), "$.commonLabels", "must be an object, not an array"),
    (_set(["groupLabels"], {"a": 1}), '$.groupLabels["a"]', "must be a string, not a number"),
    (_set(["alerts", 0], "alert"), "$.alerts[0]", "must be an object, not a string"),
    (_delete([*A0, "fingerprint"]), "$.alerts[0].fingerprint", "required field is missing"),
    (_set([*A0, "fingerprint"], "not-hex!"), "$.alerts[0].fingerprint", "hex digits"),
    (_set([*A0, "fingerprint"], ""), "$.alerts[0].fingerprint", "hex digits"),
    (_delete([*A0, "labels"]), "$.alerts[0].labels", "required field is missing"),
    (_set([*A0, "labels"], None), "$.alerts[0].labels", "must be an object, not null"),
    (_set([*A0, "labels"], {"a": None}), '$.alerts[0].labels["a"]', "must be a string, not null"),
    (_set([*A0, "labels"], {"a": {"b": "c"}}), '$.alerts[0].labels["a"]', "must be a string, not an object"),
    (_set([*A0, "labels"], {"": "x"}), "$.alerts[0].labels", "empty key"),
    (_set([*A0, "labels"], {"k" * 2000: "x"}), "$.alerts[0].labels", "key of 2000 characters"),
    (_set([*A0, "annotations"], {"d": "x" * 70000}), '$.alerts[0].annotations["d"]', "string of 70000"),
    (_set([*A0, "annotations"], ["x"]), "$.alerts[0].annotations", "must be an object, not an array"),
    (_set([*A0, "status"], "FIRING"), "$.alerts[0].status", 'must be "firing" or "resolved"'),
    (_delete([*A0, "startsAt"]), "$.alerts[0].startsAt", "required field is missing"),
    (_set([*A0, "startsAt"], "yesterday"), "$.alerts[0].startsAt", "not an RFC 3339 timestamp"),
    (_set([*A0, "startsAt"], 1732875162), "$.alerts[0].startsAt", "must be a string, not a number"),
    (_set([*A0, "startsAt"], "0001-01-01T00:00:00Z"), "$.alerts[0].startsAt", "zero time"),
    (_set([*A0, "startsAt"], "2026-13-29T10:12:42Z"), "$.alerts[0].startsAt", "not a valid time"),
    (_set([*A0, "startsAt"], "2026-11-29T10:12:42+25:00"), "$.alerts[0].startsAt", "offset out of range"),
    (_set([*A0, "startsAt"], "0001-01-01T00:00:00+01:00"), "$.alerts[0].startsAt", "not a valid time"),
    (_set([*A0, "endsAt"], "2026-11-29 10:12:42"), "$.alerts[0].endsAt", "not an RFC 3339 timestamp"),
    (_set([*A0, "generatorURL"], 5), "$.alerts[0].generatorURL", "must be a string"),
    (_set(["receiver"], "r" * 9000), "$.receiver", "string of 9000 characters"),
]


@pytest.mark.parametrize(("body", "path", "reason"), BAD)
def test_bad_payloads_name_path_and_reason(body: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, max_alerts=10)
    assert caught.value.path == path
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "body is empty"),
        (b"  \n", "body is empty"),
        (b"{", "malformed JSON"),
        (b'{"version": "4",}', "malformed JSON"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"version": "4\xc3"}', "not valid UTF-8"),
        (b'{"version": NaN}', "NaN is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[]", "must be an object, not an array"),
        (b"null", "must be an object, not null"),
        (b'"4"', "must be an object, not a string"),
    ],
)
def test_bad_bytes(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_payload(raw, max_alerts=10)
    assert reason in caught.value.reason
    assert caught.value.path == "$"


def test_too_many_alerts_is_its_own_error() -> None:
    body = valid()
    body["alerts"] = body["alerts"] * 3
    with pytest.raises(TooManyAlerts) as caught:
        parse_payload(body, max_alerts=2)
    assert caught.value.path == "$.alerts"
    assert "3 alerts in one payload, at most 2" in caught.value.reason
    assert len(parse_payload(body, max_alerts=3).alerts) == 3


def test_error_messages_do_not_echo_huge_values() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload(_set([*A0, "status"], "x" * 10_000), max_alerts=10)
    assert len(str(caught.value)) < 200


GRAFANA = Path(__file__).resolve().parents[1] / "fixtures" / "grafana-webhook.json"


def test_grafanas_documented_webhook_payload_is_accepted() -> None:
    payload = decode_payload(GRAFANA.read_bytes(), max_alerts=10)
    assert payload.version == "1" and payload.receiver == "My Super Webhook"
    first, second = payload.alerts
    assert (first.name, first.fingerprint) == ("High memory usage", "c6eadffa33fcdf37")
    assert first.starts_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)  # +02:00 read
    assert second.labels["zone"] == "eu-1" and second.ends_at is None


def test_an_unknown_payload_version_names_the_accepted_ones() -> None:
    body = json.loads(GRAFANA.read_text())
    body["version"] = "2"
    with pytest.raises(PayloadError) as caught:
        decode_payload(json.dumps(body).encode(), max_alerts=10)
    assert caught.value.path == "$.version"
    assert caught.value.reason == 'unsupported version \'2\', expected "4" (Alertmanager) or "1" (Grafana)'
