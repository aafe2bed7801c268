"""Alertmanager webhook payload (version "4") as typed, validated objects.

The types are the contract between the intake and the decision engine. Parsing lives here too: it is pure
(bytes or decoded JSON in, `WebhookPayload` or `PayloadError` out) so every bad-input case is a table row in
a unit test, and the web layer only maps `PayloadError` to an HTTP status.

What is required is what every Alertmanager since 0.21 sends; fields added later (`notification_reason`,
`routeLabels`) and any unknown field are ignored, so newer senders keep working.

Decoding takes one of two paths with one set of rules. The fast path decodes and validates in one pass
with msgspec into typed structs (`_WirePayload`); it only ever accepts. Whatever it does not accept (a bad
field, a body it cannot vouch for) is decoded again by the precise path (`json.loads` and the hand checks
below), which accepts or names the first wrong field with its JSON path. So the answer to every body is
the precise path's; the fast one only saves its cost on valid payloads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, NoReturn

import msgspec

from receiver.core.timefmt import GO_ZERO_TIME, GO_ZERO_TIME_TEXT, isoformat, parse_rfc3339, preview


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of a webhook payload. Decisions are made per alert, never per group."""

    status: AlertStatus
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime  # timezone-aware UTC
    ends_at: datetime | None  # None for Alertmanager's zero time (firing alerts)
    generator_url: str
    fingerprint: str
    # Identity of one firing episode: the same on every HA replica and on every repeat. Computed once (the
    # intake, the dedupe, the ledger and every decision read it).
    episode_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "episode_key", f"{self.fingerprint}@{isoformat(self.starts_at)}")

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True, slots=True)
class WebhookPayload:
    version: str
    group_key: str
    truncated_alerts: int
    status: AlertStatus
    receiver: str
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    alerts: tuple[Alert, ...]


SUPPORTED_VERSION = "4"  # Alertmanager's webhook (0.21 and later)
# Grafana-managed alerts: Grafana's webhook contact point sends Alertmanager's shape with version "1" and
# extra fields (orgId, state, title, message; per alert values, valueString, silenceURL, dashboardURL,
# panelURL), which are ignored like any unknown field. Decided exactly like Alertmanager's.
GRAFANA_VERSION = "1"
ACCEPTED_VERSIONS = {SUPPORTED_VERSION: "Alertmanager", GRAFANA_VERSION: "Grafana"}
# Generous for real alerts (Prometheus has no limit, but runbook annotations rarely pass a few KiB) and small
# enough that a hostile payload cannot make us hold or log megabytes per field.
MAX_KEY_CHARS = 1024
MAX_VALUE_CHARS = 64 * 1024
MAX_FIELD_CHARS = 8 * 1024  # receiver, groupKey, externalURL, generatorURL


class PayloadError(ValueError):
    """The payload is not a valid webhook v4 message: `path` is a JSON path like `$.alerts[2].labels`."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class TooManyAlerts(PayloadError):
    """More alerts in one payload than we accept; Alertmanager's `max_alerts` avoids this."""


def decode_payload(body: bytes, *, max_alerts: int) -> WebhookPayload:
    """Bytes of a request body -> payload. Strict UTF-8, no NaN/Infinity, bounded nesting."""
    payload = _decode_fast(body, max_alerts)
    if payload is not None:
        return payload
    return decode_precisely(body, max_alerts=max_alerts)


def decode_precisely(body: bytes, *, max_alerts: int) -> WebhookPayload:
    """The reference decoder: `json.loads`, then every check by hand, naming the first wrong field."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("$", f"body is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise PayloadError("$", "body is empty")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise PayloadError("$", f"malformed JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise PayloadError("$", "JSON nested too deeply") from None
    except ValueError as exc:  # from _reject_constant
        raise PayloadError("$", str(exc)) from None
    if "\\u" in text and _has_lone_surrogate(obj):
        # JSON's \ud800 escapes decode to code points no UTF-8 writer accepts (logs, the API server).
        raise PayloadError("$", "a string holds an unpaired UTF-16 surrogate escape")
    return parse_payload(obj, max_alerts=max_alerts)


# --- the fast path -----------------------------------------------------------------------------------------
# Typed structs mirroring what `parse_payload` accepts: string fields, string maps with the same key and
# value bounds, an integer `truncatedAlerts` (never a boolean or a float, as msgspec decodes them). The checks
# that are not a type or a length (version, status, fingerprint, times, truncatedAlerts >= 0) run in
# `_decode_fast` on the decoded structs.

_Key = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_KEY_CHARS)]
_Value = Annotated[str, msgspec.Meta(max_length=MAX_VALUE_CHARS)]
_Field = Annotated[str, msgspec.Meta(max_length=MAX_FIELD_CHARS)]
_Map = dict[_Key, _Value]


class _WireAlert(msgspec.Struct):
    status: _Value
    labels: _Map
    starts_at: _Value = msgspec.field(name="startsAt")
    fingerprint: _Value
    annotations: _Map | None = None
    ends_at: _Value | None = msgspec.field(name="endsAt", default=None)
    generator_url: _Field = msgspec.field(name="generatorURL", default="")


class _WirePayload(msgspec.Struct):
    version: _Value
    alerts: list[_WireAlert]
    group_key: _Field = msgspec.field(name="groupKey")
    status: _Value
    receiver: _Field
    truncated_alerts: int = msgspec.field(name="truncatedAlerts", default=0)
    group_labels: _Map | None = msgspec.field(name="groupLabels", default=None)
    common_labels: _Map | None = msgspec.field(name="commonLabels", default=None)
    common_annotations: _Map | None = msgspec.field(name="commonAnnotations", default=None)
    external_url: _Field = msgspec.field(name="externalURL", default="")


class _StrictWireAlert(_WireAlert, forbid_unknown_fields=True):
    pass


class _StrictWirePayload(_WirePayload, forbid_unknown_fields=True):
    alerts: list[_StrictWireAlert]  # type: ignore[assignment]  # the same alert, without unknown fields


# Without unknown fields the structs bound the nesting (4 levels): Alertmanager's payloads take the strict
# decoder. An unknown field (Grafana's `values`, newer Alertmanagers' fields) may nest without bound, and
# `json.loads` refuses deep nesting at a depth that depends on the call stack: such a body is decoded
# leniently only when it has too few brackets to nest anywhere near that depth.
_STRICT = msgspec.json.Decoder(_StrictWirePayload)
_LENIENT = msgspec.json.Decoder(_WirePayload)
_LENIENT_MAX_BRACKETS = 256
_STATUSES = {"firing": AlertStatus.FIRING, "resolved": AlertStatus.RESOLVED}
# startsAt/endsAt texts repeat across the alerts of a payload and across payloads (every repeat of an
# alert); parsed once each. Bounded: cleared when full.
_TIMES: dict[str, datetime | None] = {}
_TIMES_MAX = 4096
# `\ud800`-`\udfff` (either case): one regex pass is faster than two substring searches.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD]")


def _decode_fast(body: bytes, max_alerts: int) -> WebhookPayload | None:
    """The payload when the fast path can vouch for it; None sends the body to `decode_precisely`."""
    if not body.isascii():
        try:
            body.decode("utf-8")  # msgspec does not check the UTF-8 of fields it skips
        except UnicodeDecodeError:
            return None
    if _SURROGATE_ESCAPE.search(body) is not None:
        return None  # a UTF-16 surrogate escape: the precise path tells a pair from a lone one
    try:
        wire: _WirePayload = _STRICT.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        if body.count(b"{") + body.count(b"[") >= _LENIENT_MAX_BRACKETS:
            return None
        try:
            wire = _LENIENT.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None
    status = _STATUSES.get(wire.status)
    if (
        wire.version not in ACCEPTED_VERSIONS
        or status is None
        or len(wire.alerts) > max_alerts
        or wire.truncated_alerts < 0
    ):
        return None
    alerts: list[Alert] = []
    for raw in wire.alerts:
        alert_status = _STATUSES.get(raw.status)
        if alert_status is None or not _FINGERPRINT_RE.fullmatch(raw.fingerprint):
            return None
        valid, starts_at = _fast_time(raw.starts_at)
        if not valid or starts_at is None:
            return None
        ends_at = None
        if raw.ends_at is not None:
            valid, ends_at = _fast_time(raw.ends_at)
            if not valid:
                return None
        alerts.append(
            Alert(
                status=alert_status,
                labels=raw.labels,
                annotations=raw.annotations if raw.annotations is not None else {},
                starts_at=starts_at,
                ends_at=ends_at,
                generator_url=raw.generator_url,
                fingerprint=raw.fingerprint.lower(),
            )
        )
    return WebhookPayload(
        version=wire.version,
        group_key=wire.group_key,
        truncated_alerts=wire.truncated_alerts,
        status=status,
        receiver=wire.receiver,
        group_labels=wire.group_labels if wire.group_labels is not None else {},
        common_labels=wire.common_labels if wire.common_labels is not None else {},
        common_annotations=wire.common_annotations if wire.common_annotations is not None else {},
        external_url=wire.external_url,
        alerts=tuple(alerts),
    )


def _fast_time(text: str) -> tuple[bool, datetime | None]:
    """(valid, `parse_time`) of a time text, cached when valid; Go's zero time is (True, None)."""
    try:
        return True, _TIMES[text]
    except KeyError:
        pass
    try:
        moment = parse_time(text, "$")
    except PayloadError:
        return False, None
    if len(_TIMES) >= _TIMES_MAX:
        _TIMES.clear()
    _TIMES[text] = moment
    return True, moment


def _has_lone_surrogate(obj: object) -> bool:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_payload(obj: object, *, max_alerts: int) -> WebhookPayload:
    """Decoded JSON -> payload; raises PayloadError naming the first wrong field."""
    root = _object(obj, "$")
    version = _string(_required(root, "version", "$"), "$.version")
    if version not in ACCEPTED_VERSIONS:
        accepted = " or ".join(f'"{v}" ({sender})' for v, sender in ACCEPTED_VERSIONS.items())
        raise PayloadError("$.version", f"unsupported version {preview(version)}, expected {accepted}")
    raw_alerts = _required(root, "alerts", "$")
    if not isinstance(raw_alerts, list):
        _type_error("$.alerts", "an array", raw_alerts)
    if len(raw_alerts) > max_alerts:
        raise TooManyAlerts(
            "$.alerts",
            f"{len(raw_alerts)} alerts in one payload, at most {max_alerts} accepted "
            "(set max_alerts in Alertmanager's webhook_config)",
        )
    truncated = root.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        _type_error("$.truncatedAlerts", "a non-negative integer", truncated)
    return WebhookPayload(
        version=version,
        group_key=_string(_required(root, "groupKey", "$"), "$.groupKey", MAX_FIELD_CHARS),
        truncated_alerts=truncated,
        status=_status(_required(root, "status", "$"), "$.status"),
        receiver=_string(_required(root, "receiver", "$"), "$.receiver", MAX_FIELD_CHARS),
        group_labels=_string_map(root.get("groupLabels"), "$.groupLabels"),
        common_labels=_string_map(root.get("commonLabels"), "$.commonLabels"),
        common_annotations=_string_map(root.get("commonAnnotations"), "$.commonAnnotations"),
        external_url=_string(root.get("externalURL", ""), "$.externalURL", MAX_FIELD_CHARS),
        alerts=tuple(_alert(a, f"$.alerts[{i}]") for i, a in enumerate(raw_alerts)),
    )


_FINGERPRINT_RE = re.compile(r"[0-9a-fA-F]{1,64}")


def _alert(obj: object, path: str) -> Alert:
    raw = _object(obj, path)
    fingerprint = _string(_required(raw, "fingerprint", path), f"{path}.fingerprint")
    if not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise PayloadError(f"{path}.fingerprint", "must be 1-64 hex digits, as Alertmanager sends")
    labels = _string_map(_required(raw, "labels", path), f"{path}.labels", null_is_empty=False)
    ends_at = raw.get("endsAt")
    return Alert(
        status=_status(_required(raw, "status", path), f"{path}.status"),
        labels=labels,
        annotations=_string_map(raw.get("annotations"), f"{path}.annotations"),
        starts_at=_required_time(_required(raw, "startsAt", path), f"{path}.startsAt"),
        ends_at=None if ends_at is None else parse_time(ends_at, f"{path}.endsAt"),
        generator_url=_string(raw.get("generatorURL", ""), f"{path}.generatorURL", MAX_FIELD_CHARS),
        fingerprint=fingerprint.lower(),
    )


# Alerts are about now: a time outside these years is a broken or hostile sender, and refusing it here keeps
# every later `starts_at + duration` from overflowing.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2999


def parse_time(value: object, path: str) -> datetime | None:
    """RFC 3339 -> aware UTC datetime (sub-microsecond digits dropped); Go's zero time -> None."""
    text = _string(value, path)
    try:
        moment = parse_rfc3339(text)
    except ValueError as exc:
        raise PayloadError(path, str(exc)) from None
    if moment == GO_ZERO_TIME:
        return None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise PayloadError(path, f"year {moment.year} is outside {EARLIEST_YEAR}-{LATEST_YEAR}")
    return moment


def _required_time(value: object, path: str) -> datetime:
    moment = parse_time(value, path)
    if moment is None:
        raise PayloadError(path, "must not be the zero time")
    return moment


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _required(obj: Mapping[str, object], key: str, path: str) -> object:
    if key not in obj:
        raise PayloadError(f"{path}.{key}", "required field is missing")
    return obj[key]


def _object(value: object, path: str) -> dict[str, object]:
    if not isinstance(value, dict):
        _type_error(path, "an object", value)
    return value


def _string(value: object, path: str, limit: int = MAX_VALUE_CHARS) -> str:
    if not isinstance(value, str):
        _type_error(path, "a string", value)
    if len(value) > limit:
        raise PayloadError(path, f"string of {len(value)} characters, at most {limit} accepted")
    return value


def _status(value: object, path: str) -> AlertStatus:
    text = _string(value, path)
    try:
        return AlertStatus(text)
    except ValueError:
        raise PayloadError(path, f'must be "firing" or "resolved", not {preview(text)}') from None


def _string_map(value: object, path: str, *, null_is_empty: bool = True) -> Mapping[str, str]:
    """A label set. An optional `null` reads as empty: Go encodes an empty map that way in some senders."""
    if value is None and null_is_empty:
        return {}
    raw = _object(value, path)
    result: dict[str, str] = {}
    for key, item in raw.items():
        if not key:
            raise PayloadError(path, "empty key")
        if len(key) > MAX_KEY_CHARS:
            raise PayloadError(path, f"key of {len(key)} characters, at most {MAX_KEY_CHARS} accepted")
        if isinstance(item, str) and len(item) <= MAX_VALUE_CHARS:
            result[key] = item
        else:  # the path is only built for the error: this loop runs for every label of every alert
            _string(item, f"{path}[{json.dumps(key[:64])}]")
    return result


def _type_error(path: str, expected: str, value: object) -> NoReturn:
    raise PayloadError(path, f"must be {expected}, not {_json_type(value)}")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# --- the other shapes an alert travels in -----------------------------------------------------------------

# A label no route reads is kept for people (logs, Events, notifications), shortened to this.
UNREAD_VALUE_CHARS = 256


def compact(alert: Alert, read: frozenset[str]) -> Alert:
    """The alert with only what deciding on it again needs: every label (values no route reads shortened)
    and the annotations in `read`. Kept in cluster state while a confirmation is pending."""
    return replace(
        alert,
        labels={k: v if k in read else v[:UNREAD_VALUE_CHARS] for k, v in alert.labels.items()},
        annotations={k: v for k, v in alert.annotations.items() if k in read},
    )


def alert_to_webhook_shape(alert: Alert) -> dict[str, object]:
    """An `Alert` as the webhook sends it (how pending confirmations keep it in cluster state)."""
    return {
        "status": alert.status.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": alert.starts_at.isoformat(),
        "endsAt": alert.ends_at.isoformat() if alert.ends_at else GO_ZERO_TIME_TEXT,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def alert_from_webhook_shape(obj: Mapping[str, object]) -> Alert:
    """The inverse, validated by the webhook's own parser (one set of rules for every way in)."""
    return parse_payload(_envelope(dict(obj)), max_alerts=1).alerts[0]


def alerts_from_api(body: object) -> tuple[list[Alert], list[str]]:
    """Alertmanager API v2 `gettableAlerts` -> firing `Alert`s, and one problem per malformed entry."""
    if not isinstance(body, list):
        return [], [f"Alertmanager answered {_json_type(body)} instead of a list of alerts"]
    alerts: list[Alert] = []
    problems: list[str] = []
    for index, entry in enumerate(body):
        if not isinstance(entry, Mapping):
            problems.append(f"alert {index}: not an object")
            continue
        shape = {
            "status": AlertStatus.FIRING.value,
            "labels": entry.get("labels") or {},
            "annotations": entry.get("annotations") or {},
            "startsAt": entry.get("startsAt"),
            # An active alert's API endsAt is its expiry estimate, not an end: the webhook sends zero time.
            "endsAt": GO_ZERO_TIME_TEXT,
            "generatorURL": entry.get("generatorURL") or "",
            "fingerprint": entry.get("fingerprint"),
        }
        try:
            alerts.append(alert_from_webhook_shape(shape))
        except PayloadError as exc:
            problems.append(f"alert {index}: {exc}")
    return alerts, problems


def _envelope(alert: dict[str, object]) -> dict[str, object]:
    return {
        "version": SUPPORTED_VERSION,
        "groupKey": "",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": [alert],
    }
