"""Config loading: defaults, overrides, durations, and every problem reported as `FILE: path: reason`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from receiver.config import ConfigError, load_config, parse_config
from receiver.core.durations import format_duration, parse_duration
from receiver.core.settings import Action, GitOpsPolicy, Limits, Mode
from receiver.core.workload import WorkloadKind

ROUTE = """
routes:
  - name: r
    match: ['rollback="true"']
    target: {namespace: shop, name: ecommerce}
    action: rollback
"""


def load(text: str, environ: dict[str, str] | None = None) -> object:
    return parse_config(text, source=Path("cfg.yaml"), environ=environ or {})


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return list(caught.value.problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1y", timedelta(days=365)),
        ("500ms", timedelta(milliseconds=500)),
        ("1m30s500ms", timedelta(minutes=1, seconds=30, milliseconds=500)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "5 m", "m", "1.5h", "30m1h", "-5m", "5M", "1h 30m", "5min"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "value", [timedelta(0), timedelta(minutes=90), timedelta(seconds=1.5), timedelta(days=1)]
)
def test_format_duration_round_trips(value: timedelta) -> None:
    assert parse_duration(format_duration(value).replace("0s", "0")) == value


def test_minimal_config_gets_every_default() -> None:
    config = load(ROUTE)
    assert config.mode is Mode.ENFORCE  # type: ignore[attr-defined]
    assert config.server.max_body_bytes == 1 << 20  # type: ignore[attr-defined]
    assert config.limits == Limits()  # type: ignore[attr-defined]
    (route,) = config.routes  # type: ignore[attr-defined]
    assert route.action is Action.ROLLBACK
    assert route.target.kind is WorkloadKind.DEPLOYMENT
    assert route.mode is None  # the global mode applies
    assert route.guards.cooldown == timedelta(minutes=30)


def test_route_guards_override_defaults() -> None:
    text = """
defaults: {cooldown: 10m, gitops: allow}
routes:
  - name: medium
    match: 'rollback="true",severity="medium"'
    target: {kind: StatefulSet, namespace: '{{ labels.namespace }}', name: db}
    action: rollback
    mode: dry-run
    confirm_for: 5m
    require_opt_in: true
"""
    (route,) = load(text).routes  # type: ignore[attr-defined]
    assert route.guards.cooldown == timedelta(minutes=10)  # from defaults
    assert route.guards.gitops is GitOpsPolicy.ALLOW
    assert route.guards.confirm_for == timedelta(minutes=5)  # route's own
    assert route.guards.require_opt_in is True
    assert route.mode is Mode.DRY_RUN
    assert [str(m) for m in route.matchers] == ['rollback="true"', 'severity="medium"']
    assert route.target.kind is WorkloadKind.STATEFULSET


def test_server_section() -> None:
    text = (
        """
server:
  listen: 127.0.0.1:9000
  auth:
    bearer_token_file: secrets/token
    basic_auth: {username: am, password_file: /abs/password}
  tls: {cert_file: tls.crt, key_file: tls.key, client_ca_file: ca.crt}
  max_body_bytes: 2048
  request_timeout: 3s
"""
        + ROUTE
    )
    server = parse_config(text, source=Path("/etc/rr/cfg.yaml"), environ={}).server
    assert (server.listen_host, server.listen_port) == ("127.0.0.1", 9000)
    assert server.bearer is not None and server.bearer.token_file == Path("/etc/rr/secrets/token")
    assert server.basic is not None and server.basic.password_file == Path("/abs/password")
    assert server.tls is not None and server.tls.client_ca_file == Path("/etc/rr/ca.crt")
    assert server.max_body_bytes == 2048
    assert server.request_timeout == timedelta(seconds=3)


def test_own_namespace_from_environment() -> None:
    assert load(ROUTE, {"POD_NAMESPACE": "monitoring"}).own_namespace == "monitoring"  # type: ignore[attr-defined]
    assert load("own_namespace: ops\n" + ROUTE, {"POD_NAMESPACE": "x"}).own_namespace == "ops"  # type: ignore[attr-defined]


BAD = [
    ("routes: []", "routes: at least one route is required"),
    ("mode: enforce", "routes: at least one route is required"),
    ("routes: {a: 1}", "routes: must be a list of routes, not a mapping"),
    ("rotues: []\n" + ROUTE, "rotues: unknown key 'rotues' (did you mean 'routes'?)"),
    ("mode: yolo\n" + ROUTE, "mode: must be one of enforce, dry-run, not 'yolo'"),
    ("paused: 'yes'\n" + ROUTE, "paused: must be true or false, not string 'yes'"),
    ("server: {listen: 8080}\n" + ROUTE, "server.listen: must be a non-empty string, not number 8080"),
    ("server: {listen: 'localhost'}\n" + ROUTE, "server.listen: must be HOST:PORT"),
    ("server: {listen: ':99999'}\n" + ROUTE, "server.listen: must be HOST:PORT"),
    ("server: {max_body_bytes: 0}\n" + ROUTE, "server.max_body_bytes: must be at least 1"),
    ("server: {max_body_bytes: -1}\n" + ROUTE, "server.max_body_bytes: must be a non-negative integer"),
    ("server: {request_timeout: 10}\n" + ROUTE, "server.request_timeout: must be a duration like 30s"),
    ("server: {request_timeout: 0s}\n" + ROUTE, "server.request_timeout: must be longer than 0"),
    ("server: {auth: {token_file: x}}\n" + ROUTE, "server.auth: unknown key 'token_file'"),
    (
        "server: {auth: {basic_auth: {username: am}}}\n" + ROUTE,
        "server.auth.basic_auth.password_file: required",
    ),
    ("server: {tls: {cert_file: a}}\n" + ROUTE, "server.tls.key_file: required"),
    ("defaults: {cooldown: soon}\n" + ROUTE, "defaults.cooldown: not a duration: 'soon'"),
    ("defaults: {gitops: yes}\n" + ROUTE, "defaults.gitops: must be one of notify, allow, not True"),
    ("limits: {global: {max: 3}}\n" + ROUTE, "limits.global.per: must be a duration"),
    ("limits: {per_namespace: 3}\n" + ROUTE, "limits.per_namespace: must be a mapping, not number 3"),
    ("limits: {max_concurrent: 0}\n" + ROUTE, "limits.max_concurrent: must be at least 1"),
    (
        "namespaces: {allow: [kube-system]}\n" + ROUTE,
        "namespaces.allow[0]: kube-system is a system namespace",
    ),
    ("namespaces: {allow: [a], deny: [a]}\n" + ROUTE, "namespaces.allow[0]: a is also in namespaces.deny"),
    ("namespaces: {allow: [Shop]}\n" + ROUTE, "namespaces.allow[0]: 'Shop' is not a valid namespace name"),
    ("alertmanager: {urls: [am:9093]}\n" + ROUTE, "alertmanager.urls[0]: 'am:9093' is not an http(s) URL"),
    ("state: {name: Bad_Name}\n" + ROUTE, "state.name: 'Bad_Name' is not a valid Kubernetes object name"),
    ("routes: [{match: ['a=b'], action: notify}]", "routes[0].name: required"),
    ("routes: [{name: r}]", "routes[0].action: required (one of rollback, notify, ignore)"),
    ("routes: [{name: r, action: undo}]", "routes[0].action: must be one of rollback, notify, ignore"),
    ("routes: [{name: r, action: rollback}]", "routes[0].target: required when action is rollback"),
    (
        "routes: [{name: r, action: notify, match: ['a==\"b\"']}]",
        "routes[0].match[0]: matcher value contains",
    ),
    ("routes: [{name: r, action: notify, match: ['sev']}]", "routes[0].match[0]: bad matcher format: sev"),
    (
        "routes: [{name: r, action: notify, match: ['a=~\"(?=x)\"']}]",
        "routes[0].match[0]: invalid regular expression '(?=x)': error parsing regexp: invalid or",
    ),
    ("routes: [{name: r, action: notify, match: [{a: b}]}]", "routes[0].match[0]: must be a matcher string"),
    ("routes: [{name: r, action: notify, match: 'a=~\"(\"'}]", "routes[0].match: invalid regular expression"),
    ("routes: [{name: r, action: notify, contiue: true}]", "did you mean 'continue'?"),
    (
        "routes: [{name: r, action: notify}, {name: r, action: ignore}]",
        "routes[1].name: duplicate route name 'r' (also routes[0])",
    ),
    (
        "routes: [{name: r, action: rollback, target: {namespace: shop}}]",
        "routes[0].target: exactly one of name, names or selector is required (found: none)",
    ),
    (
        "routes: [{name: r, action: rollback, target: {namespace: shop, name: a, selector: 'a=b'}}]",
        "found: name, selector",
    ),
    ("routes: [{name: r, action: rollback, target: {name: a}}]", "routes[0].target.namespace: required"),
    (
        "routes: [{name: r, action: rollback, target: {kind: Pod, namespace: s, name: a}}]",
        "routes[0].target.kind: must be one of Deployment, StatefulSet, DaemonSet, not 'Pod'",
    ),
    (
        "routes: [{name: r, action: rollback, target: {namespace: '{{ label.ns }}', name: a}}]",
        "routes[0].target.namespace: cannot read",
    ),
    (
        "routes: [{name: r, action: rollback, target: {namespace: Shop, name: a}}]",
        "routes[0].target.namespace: 'Shop' is not a valid Kubernetes namespace",
    ),
    (
        "routes: [{name: r, action: rollback, target: {namespace: s, names: []}}]",
        "routes[0].target.names: must be a non-empty list of names",
    ),
    (
        "routes: [{name: r, action: rollback, target: {namespace: s, names: [a, B]}}]",
        "routes[0].target.names[1]: 'B' is not a valid Kubernetes name",
    ),
    (
        "routes: [{name: r, action: rollback, target: {namespace: s, selector: 'a={{ labels.x'}}]",
        "routes[0].target.selector: unbalanced",
    ),
    (
        "routes: [{name: r, action: rollback, target: {namespace: s, selector: 'a=b', max_targets: 9}}]",
        "routes[0].target.max_targets: 9 exceeds limits.max_targets_per_alert (3)",
    ),
    ("routes: [{name: r, action: notify, confirm_for: forever}]", "routes[0].confirm_for: not a duration"),
    ("routes: [{name: r, action: notify, revision: {from: x}}]", "routes[0].revision: unknown key 'from'"),
    ("routes:\n  - name: r\n    name: s\n    action: notify", "line 3 column 5: duplicate key 'name'"),
    ("routes: [", "line 1 column 10"),
    ("- just\n- a list", "(top level): must be a mapping, not a list"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_config_errors_name_file_path_and_reason(text: str, expected: str) -> None:
    found = problems(text)
    assert all(p.startswith("cfg.yaml: ") for p in found), found
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once() -> None:
    text = """
mode: yolo
limits: {max_concurrent: 0}
routes:
  - name: a
    action: rollback
  - name: b
    action: notify
    match: ['sev']
"""
    found = problems(text)
    assert found == [
        "cfg.yaml: limits.max_concurrent: must be at least 1",
        "cfg.yaml: mode: must be one of enforce, dry-run, not 'yolo'",
        "cfg.yaml: routes[0].target: required when action is rollback",
        "cfg.yaml: routes[1].match[0]: bad matcher format: sev",
    ]


def test_load_config_reports_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "missing.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'missing.yaml'}: cannot read:")


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(ROUTE)
    assert load_config(path, environ={}).source == path


def test_freeze_windows_name_intervals_in_alertmanagers_syntax() -> None:
    text = """
time_intervals:
  - name: black-friday
    time_intervals: [{months: [november], days_of_month: ["27:30"], location: Europe/Berlin}]
defaults: {freeze_time_intervals: [black-friday]}
routes:
  - name: r
    action: rollback
    target: {namespace: shop, name: web}
    active_time_intervals: [black-friday]
    during_freeze: wait
"""
    config = load(text)
    (route,) = config.routes  # type: ignore[attr-defined]
    assert route.guards.freeze_time_intervals == ("black-friday",)
    assert route.guards.active_time_intervals == ("black-friday",)
    assert config.time_intervals["black-friday"][0].location == "Europe/Berlin"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "time_intervals: [{name: f, time_intervals: [{weekdays: [funday]}]}]\n" + ROUTE,
            "time_intervals[0].time_intervals[0].weekdays: funday is not a valid weekday",
        ),
        (
            "defaults: {freeze_time_intervals: [nope]}\n" + ROUTE,
            "defaults.freeze_time_intervals: no time interval named 'nope' in time_intervals",
        ),
        (
            "time_intervals: [{name: f, time_intervals: [{location: Mars/Base}]}]\n" + ROUTE,
            "unknown time zone 'Mars/Base'",
        ),
    ],
)
def test_freeze_window_mistakes_are_reported(text: str, expected: str) -> None:
    assert any(expected in p for p in problems(text)), problems(text)
