"""The webhook decoder's two paths give one answer: whatever the body, `decode_payload` (msgspec's typed
decode first) accepts exactly what `decode_precisely` (json.loads and the hand checks) accepts, with an
equal payload, and refuses the rest with the same error, path and reason."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_properties import VALID_ALERT, VALID_PAYLOAD, encoded, json_values, mutated_payloads

from receiver.core import alerts
from receiver.core.alerts import PayloadError, decode_payload, decode_precisely


def outcome(decode: Any, body: bytes, max_alerts: int) -> object:
    try:
        return decode(body, max_alerts=max_alerts)
    except PayloadError as exc:
        return (type(exc).__name__, exc.path, exc.reason)


def same_answer(body: bytes, max_alerts: int = 1000) -> object:
    fast = outcome(decode_payload, body, max_alerts)
    assert fast == outcome(decode_precisely, body, max_alerts)
    return fast


def grafana(document: dict[str, Any]) -> dict[str, Any]:
    """Grafana's extra fields (ignored by both paths), nested like Grafana sends them."""
    alert = {**document["alerts"][0], "values": {"B": 3.2, "C": 1}, "valueString": "[ var='B' value=3.2 ]"}
    return {**document, "version": "1", "orgId": 1, "state": "alerting", "title": "t", "alerts": [alert]}


def test_the_fast_path_takes_alertmanager_and_grafana_payloads() -> None:
    """Not just a fallback everywhere: valid payloads are decoded by msgspec, with the same result."""
    for document in (VALID_PAYLOAD, grafana(VALID_PAYLOAD)):
        body = encoded(document)
        fast = alerts._decode_fast(body, 1000)
        assert fast is not None and fast == decode_precisely(body, max_alerts=1000)


def nested(depth: int) -> bytes:
    valid = encoded(VALID_PAYLOAD)
    return valid[:-1] + b', "x": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"\xef\xbb\xbf" + encoded(VALID_PAYLOAD),  # a UTF-8 BOM
        encoded(VALID_PAYLOAD) + b" x",
        encoded(VALID_PAYLOAD)[:-1] + b', "x": "\xff"}',  # invalid UTF-8 in an ignored field
        encoded(VALID_PAYLOAD)[:-1] + b', "x": "\\ud800"}',  # a lone surrogate in an ignored field
        encoded(VALID_PAYLOAD)[:-1] + b', "x": "\\ud83d\\ude00"}',  # a valid pair
        encoded(VALID_PAYLOAD)[:-1] + b', "x": NaN}',
        encoded(VALID_PAYLOAD)[:-1] + b', "truncatedAlerts": 1}',  # a duplicate key: the last one counts
        encoded(VALID_PAYLOAD)[:-1] + b', "truncatedAlerts": -1}',
        encoded({**VALID_PAYLOAD, "truncatedAlerts": True}),
        encoded({**VALID_PAYLOAD, "truncatedAlerts": 1.0}),
        encoded({**VALID_PAYLOAD, "truncatedAlerts": 2**80}),
        encoded({**VALID_PAYLOAD, "alerts": [{**VALID_ALERT, "fingerprint": "ABCDEF\n"}]}),
        encoded({**VALID_PAYLOAD, "alerts": [{**VALID_ALERT, "endsAt": None, "annotations": None}]}),
        encoded({**VALID_PAYLOAD, "alerts": [{**VALID_ALERT, "endsAt": "2026-11-29T10:00:00Z"}]}),
        encoded({**VALID_PAYLOAD, "alerts": [{**VALID_ALERT, "startsAt": "0001-01-01T00:00:00Z"}]}),
        encoded({**VALID_PAYLOAD, "alerts": [{**VALID_ALERT, "labels": {"é" * 1024: "v"}}]}),
        encoded({**VALID_PAYLOAD, "alerts": [{**VALID_ALERT, "labels": {"é" * 1025: "v"}}]}),
        encoded({**VALID_PAYLOAD, "alerts": [{**VALID_ALERT, "labels": {"": "v"}}]}),
        encoded({**VALID_PAYLOAD, "alerts": [VALID_ALERT] * 4}),  # more than max_alerts=3
        *(nested(depth) for depth in (100, 300, 960, 990, 1000, 5000)),
    ],
)
def test_edge_cases_get_the_same_answer(body: bytes) -> None:
    same_answer(body, max_alerts=3)


@given(st.binary(max_size=2000))
def test_same_answer_on_random_bytes(body: bytes) -> None:
    same_answer(body)


@given(json_values)
def test_same_answer_on_random_json(document: object) -> None:
    same_answer(encoded(document))


@given(mutated_payloads(), st.integers(0, 3))
def test_same_answer_on_almost_valid_payloads(document: object, max_alerts: int) -> None:
    same_answer(encoded(document), max_alerts)


@given(st.binary(min_size=1, max_size=60), st.integers(0, len(encoded(VALID_PAYLOAD))))
def test_same_answer_on_spliced_bytes(junk: bytes, at: int) -> None:
    valid = encoded(VALID_PAYLOAD)
    same_answer(valid[:at] + junk + valid[at:])
