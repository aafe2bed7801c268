"""Property tests of what the edge parses from strangers and operators: whatever the input, the payload
decoder raises only PayloadError (TooManyAlerts included), the config loader only ConfigError, the
template parser only TemplateError and a parsed template's render only RenderError.

Inputs are random bytes and text, and — more productive — valid documents with one part replaced by an
arbitrary JSON/YAML value or string, so the parsers get past their first checks. CI runs the "ci" profile
(a few hundred examples per property, all within ~20 s); `bench/fuzz.py` runs the "long" profile and
bench/README.md has its figures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.config import ConfigError, parse_config
from receiver.core.alerts import PayloadError, WebhookPayload, decode_payload
from receiver.core.settings import Config
from receiver.core.templating import RenderError, Template, TemplateError, parse_template

settings.register_profile(
    "ci", max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SOURCE = Path("/etc/rollback-receiver/config.yaml")

# -- strategies -----------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Strings that look like what the fields expect, and are not quite.
near_strings = (
    st.sampled_from(
        [
            "",
            "4",
            "firing",
            "resolved",
            "a1b2c3d4e5f60718",
            "2026-11-29T09:05:00Z",
            "0001-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "9999-12-31T23:59:59-23:59",
            "\ud800",
            "{{ labels.namespace }}",
        ]
    )
    | st.text(max_size=30)
    | st.builds(lambda n: "x" * n, st.sampled_from([8193, 65_537, 70_000]))
)

VALID_ALERT: dict[str, Any] = {
    "status": "firing",
    "labels": {"alertname": "HighErrorRate", "namespace": "shop", "deployment": "ecommerce"},
    "annotations": {"rollback": "true"},
    "startsAt": "2026-11-29T09:05:00.123456789Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus/graph",
    "fingerprint": "a1b2c3d4e5f60718",
}
VALID_PAYLOAD: dict[str, Any] = {
    "version": "4",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "rollback-receiver",
    "groupLabels": {},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [VALID_ALERT],
}
ALERT_KEYS = sorted(VALID_ALERT)
PAYLOAD_KEYS = sorted(VALID_PAYLOAD)


@st.composite
def mutated_payloads(draw: st.DrawFn) -> object:
    """A valid payload with a few of its fields (top level, alert, label) replaced, added or dropped."""
    document = json.loads(json.dumps(VALID_PAYLOAD))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "alert", "labels", "drop"]))
        value = draw(json_values | near_strings)
        if where == "top":
            document[draw(st.sampled_from(PAYLOAD_KEYS) | st.text(max_size=8))] = value
        elif where == "alert" and isinstance(document.get("alerts"), list) and document["alerts"]:
            alert = document["alerts"][0]
            if isinstance(alert, dict):
                alert[draw(st.sampled_from(ALERT_KEYS))] = value
        elif where == "labels":
            alerts = document.get("alerts")
            alert = alerts[0] if isinstance(alerts, list) and alerts else None
            if isinstance(alert, dict) and isinstance(alert.get("labels"), dict):
                alert["labels"][draw(st.text(max_size=10))] = value
        else:
            document.pop(draw(st.sampled_from(PAYLOAD_KEYS)), None)
    return document


def encoded(document: object) -> bytes:
    return json.dumps(document, allow_nan=True).encode("utf-8", "surrogatepass")


# -- the payload decoder -------------------------------------------------------------------------------


def decodes_or_refuses(body: bytes, max_alerts: int = 1000) -> None:
    try:
        payload = decode_payload(body, max_alerts=max_alerts)
    except PayloadError as exc:  # TooManyAlerts is one
        assert exc.path.startswith("$") and exc.reason
        assert len(str(exc)) < 4000  # a reason, not an echo of the input
        return
    assert isinstance(payload, WebhookPayload)
    for alert in payload.alerts:  # what we keep can be written anywhere (logs, Events) as UTF-8
        for text in (*alert.labels, *alert.labels.values(), *alert.annotations.values(), alert.fingerprint):
            text.encode("utf-8")


@given(st.binary(max_size=2000))
def test_decoder_on_random_bytes(body: bytes) -> None:
    decodes_or_refuses(body)


@given(json_values)
def test_decoder_on_random_json(document: object) -> None:
    decodes_or_refuses(encoded(document))


@given(mutated_payloads(), st.integers(0, 3))
def test_decoder_on_almost_valid_payloads(document: object, max_alerts: int) -> None:
    decodes_or_refuses(encoded(document), max_alerts)


@given(st.binary(min_size=1, max_size=60), st.integers(0, len(encoded(VALID_PAYLOAD))))
def test_decoder_on_spliced_bytes(junk: bytes, at: int) -> None:
    valid = encoded(VALID_PAYLOAD)
    decodes_or_refuses(valid[:at] + junk + valid[at:])


# -- the config loader ---------------------------------------------------------------------------------

VALID_CONFIG: dict[str, Any] = {
    "server": {"listen": "127.0.0.1:8080", "auth": {"bearer_token_file": "token"}, "request_timeout": "10s"},
    "mode": "enforce",
    "namespaces": {"allow": ["shop"]},
    "defaults": {"cooldown": "30m", "confirm_for": "0s"},
    "limits": {"per_namespace": {"max": 3, "per": "1h"}, "max_concurrent": 2},
    "routes": [
        {
            "name": "critical",
            "match": ['rollback="true"', 'severity=~"critical|high"'],
            "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
            "action": "rollback",
            "confirm_for": "5m",
        }
    ],
}
SECTIONS = sorted(VALID_CONFIG)
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | near_strings,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_configs(draw: st.DrawFn) -> str:
    document = json.loads(json.dumps(VALID_CONFIG))
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(SECTIONS))
        value = draw(yaml_values)
        target = document[section] if isinstance(document.get(section), dict) else None
        if target is not None and draw(st.booleans()):
            keys = sorted(target) or ["x"]
            target[draw(st.sampled_from(keys) | st.text(max_size=8))] = value
        elif section == "routes" and isinstance(document["routes"], list) and document["routes"]:
            route = document["routes"][0]
            route[draw(st.sampled_from(sorted(route)))] = value
        else:
            document[section] = value
    return yaml.safe_dump(document, allow_unicode=draw(st.booleans()))


def loads_or_refuses(text: str) -> None:
    try:
        config = parse_config(text, source=SOURCE, environ={"POD_NAMESPACE": "rr"})
    except ConfigError as exc:
        assert exc.problems and all(p.startswith(f"{SOURCE}: ") for p in exc.problems)
        return
    assert isinstance(config, Config)


@given(st.text(max_size=500))
def test_config_loader_on_random_text(text: str) -> None:
    loads_or_refuses(text)


@given(yaml_values)
def test_config_loader_on_random_yaml_documents(document: object) -> None:
    loads_or_refuses(yaml.safe_dump(document))


@given(mutated_configs())
def test_config_loader_on_almost_valid_configs(text: str) -> None:
    loads_or_refuses(text)


@given(st.sampled_from(["&a [*a]", "!!python/object:os.system {}", "a: !!binary xx", "? [a]\n: b", "%TAG !"]))
def test_config_loader_on_yaml_tricks(text: str) -> None:
    loads_or_refuses(text + "\n" + yaml.safe_dump(VALID_CONFIG))


# -- templates -------------------------------------------------------------------------------------------

template_text = st.text(
    alphabet=st.sampled_from(list('{} .[]"\\labelsannotations_x-é\n')) | st.characters(), max_size=60
) | st.builds(
    lambda a, key, b: f"{a}{{{{ {key} }}}}{b}",
    st.text(max_size=5),
    st.sampled_from(["labels.x", 'labels["a.b"]', "annotations.y", 'labels["\\"]', "labels.", "labels[]"])
    | st.text(max_size=12),
    st.text(max_size=5),
)


@given(template_text, st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=4))
def test_templates_parse_or_refuse_and_render_or_refuse(text: str, labels: dict[str, str]) -> None:
    try:
        template = parse_template(text)
    except TemplateError as exc:
        assert str(exc)
        return
    assert isinstance(template, Template)
    try:
        rendered = template.render(labels, labels)
    except RenderError as exc:
        assert exc.key
        return
    assert isinstance(rendered, str)
