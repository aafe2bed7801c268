"""The config file format, defined once: every key, its type, its validation and its documentation.

Each `Kind` knows how to read one YAML node (collecting problems as `path: reason`, never stopping at the
first) and how to describe itself as JSON schema. `CONFIG` below is the whole document; the loader
(`receiver.config.load`) reads files with it and `receiver.config.schema` turns it into the `config`
section of the chart's `values.schema.json`, so the chart and the receiver accept the same files.

Rules a JSON schema cannot express (a regular expression that does not compile, a template that cannot
be parsed, cross-key checks) are checked by the readers only; the schema is never stricter than the
reader.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from receiver.core.durations import DURATION_PATTERN, parse_duration
from receiver.core.matching import Matcher, MatcherError, parse_matchers
from receiver.core.settings import (
    NAMESPACE_PATTERN,
    OBJECT_NAME_PATTERN,
    SYSTEM_NAMESPACES,
    Action,
    AlertmanagerAPI,
    BasicAuth,
    BearerAuth,
    Budget,
    Channel,
    ChannelType,
    Config,
    ControllerPolicy,
    FreezePolicy,
    GitOpsPolicy,
    GuardSettings,
    HealthWorkloads,
    HelmPolicy,
    IncidentsConfig,
    Limits,
    Mode,
    NamespacePolicy,
    NoticeKind,
    NotificationsConfig,
    NotifyPolicy,
    OwnershipConfig,
    ProgressingPolicy,
    RevisionChoice,
    RevisionSpec,
    RolloutHealthConfig,
    Route,
    ServerConfig,
    StateConfig,
    TargetSpec,
    TLSConfig,
    is_namespace_name,
    is_object_name,
)
from receiver.core.templating import TemplateError, parse_template
from receiver.core.time_intervals import TimeInterval, TimeIntervalError, parse_named
from receiver.core.workload import WorkloadKind

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
D = TypeVar("D", bound="DataclassInstance")
Schema = dict[str, Any]


class Reader:
    """What reading one file needs: where relative paths start, the environment, the problems found."""

    def __init__(self, source: Path, environ: Mapping[str, str]) -> None:
        self.source = source
        self.base = source.parent
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(f"{self.source}: {path or '(top level)'}: {reason}")


class Kind(Generic[T]):
    """One type of value in the file. `read` returns None after recording a problem."""

    def read(self, reader: Reader, node: object, path: str) -> T | None:
        raise NotImplementedError

    def schema(self) -> Schema:
        raise NotImplementedError


def describe(node: object) -> str:
    """How a wrong value is named in a message: `number 5`, `a list`, `string 'x'`."""
    if node is None:
        return "null"
    if isinstance(node, bool):
        return f"boolean {node}"
    if isinstance(node, int | float):
        return f"number {node}"
    if isinstance(node, str):
        return f"string {node[:40]!r}" if node else "an empty string"
    if isinstance(node, list):
        return "a list"
    if isinstance(node, dict):
        return "a mapping"
    return type(node).__name__


# --- scalars ----------------------------------------------------------------------------------------------


class Text(Kind[str]):
    def read(self, reader: Reader, node: object, path: str) -> str | None:
        if node is None:
            reader.problem(path, "required")
            return None
        if not isinstance(node, str) or not node:
            reader.problem(path, f"must be a non-empty string, not {describe(node)}")
            return None
        return node

    def schema(self) -> Schema:
        return {"type": "string", "minLength": 1}


class Pattern(Text):
    """A non-empty string that must match a pattern (the same one the schema carries)."""

    def __init__(self, pattern: str, what: str, *, max_length: int | None = None) -> None:
        self.pattern = pattern
        self.regex = re.compile(pattern)
        self.what = what
        self.max_length = max_length

    def read(self, reader: Reader, node: object, path: str) -> str | None:
        text = super().read(reader, node, path)
        if text is None:
            return None
        too_long = self.max_length is not None and len(text) > self.max_length
        if too_long or self.regex.fullmatch(text) is None:
            reader.problem(path, f"{text!r} is not {self.what}")
            return None
        return text

    def schema(self) -> Schema:
        out: Schema = {"type": "string", "pattern": self.pattern}
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        return out


NAMESPACE = Pattern(NAMESPACE_PATTERN, "a valid namespace name", max_length=63)
OBJECT_NAME = Pattern(OBJECT_NAME_PATTERN, "a valid Kubernetes object name", max_length=253)
URL = Pattern(r"^https?://[^\s/?#]+\S*$", "an http(s) URL")


class File(Kind[Path]):
    """A file path; relative paths start at the config file's directory, like Prometheus'."""

    def read(self, reader: Reader, node: object, path: str) -> Path | None:
        text = Text().read(reader, node, path)
        if text is None:
            return None
        return Path(text) if Path(text).is_absolute() else reader.base / text

    def schema(self) -> Schema:
        return {"type": "string", "minLength": 1}


class Boolean(Kind[bool]):
    def read(self, reader: Reader, node: object, path: str) -> bool | None:
        if not isinstance(node, bool):
            reader.problem(path, f"must be true or false, not {describe(node)}")
            return None
        return node

    def schema(self) -> Schema:
        return {"type": "boolean"}


class Integer(Kind[int]):
    def __init__(self, minimum: int = 0) -> None:
        self.minimum = minimum

    def read(self, reader: Reader, node: object, path: str) -> int | None:
        if isinstance(node, bool) or not isinstance(node, int) or node < 0:
            reader.problem(path, f"must be a non-negative integer, not {describe(node)}")
            return None
        if node < self.minimum:
            reader.problem(path, f"must be at least {self.minimum}")
            return None
        return node

    def schema(self) -> Schema:
        return {"type": "integer", "minimum": self.minimum}


_ALL_ZERO = "^(0+(ms|y|w|d|h|m|s))+$"


class Duration(Kind[timedelta]):
    """A Prometheus-style duration. `positive` refuses zero; otherwise `0` (number or string) is allowed."""

    def __init__(self, *, positive: bool) -> None:
        self.positive = positive

    def read(self, reader: Reader, node: object, path: str) -> timedelta | None:
        if isinstance(node, int) and not isinstance(node, bool) and node == 0:
            value = timedelta(0)
        elif not isinstance(node, str):
            reader.problem(path, f"must be a duration like 30s, 5m or 1h30m, not {describe(node)}")
            return None
        else:
            try:
                value = parse_duration(node)
            except ValueError as exc:
                reader.problem(path, str(exc))
                return None
        if self.positive and value <= timedelta(0):
            reader.problem(path, "must be longer than 0")
            return None
        return value

    def schema(self) -> Schema:
        text: Schema = {"type": "string", "minLength": 1, "pattern": DURATION_PATTERN}
        if self.positive:
            return {**text, "not": {"pattern": _ALL_ZERO}}
        return {"anyOf": [text, {"type": "integer", "const": 0}]}


class Choice(Kind[E]):
    def __init__(self, enum: type[E]) -> None:
        self.enum = enum

    def read(self, reader: Reader, node: object, path: str) -> E | None:
        choices = ", ".join(e.value for e in self.enum)
        if node is None:
            reader.problem(path, f"required (one of {choices})")
            return None
        if isinstance(node, str) and node in {e.value for e in self.enum}:
            return self.enum(node)
        reader.problem(path, f"must be one of {choices}, not {node!r}")
        return None

    def schema(self) -> Schema:
        return {"type": "string", "enum": [e.value for e in self.enum]}


class Listen(Kind[tuple[str, int]]):
    """`HOST:PORT`; an empty host means every address (`:8080`)."""

    def read(self, reader: Reader, node: object, path: str) -> tuple[str, int] | None:
        text = Text().read(reader, node, path)
        if text is None:
            return None
        host, sep, port = text.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
            reader.problem(path, f"must be HOST:PORT like 0.0.0.0:8080, not {text!r}")
            return None
        return host or ServerConfig().listen_host, int(port)

    def schema(self) -> Schema:
        return {"type": "string", "pattern": "^.*:[0-9]{1,5}$"}


class Template(Kind[str]):
    """A target template; without placeholders it must already be a valid name of its kind."""

    def __init__(self, valid: Callable[[str], bool] | None = None, what: str = "") -> None:
        self.valid = valid
        self.what = what

    def read(self, reader: Reader, node: object, path: str) -> str | None:
        text = Text().read(reader, node, path)
        if text is None:
            return None
        try:
            template = parse_template(text)
        except TemplateError as exc:
            reader.problem(path, str(exc))
            return None
        if self.valid is not None and not template.fields and not self.valid(text):
            reader.problem(path, f"{text!r} is not a valid Kubernetes {self.what}")
            return None
        return text

    def schema(self) -> Schema:
        return {"type": "string", "minLength": 1}


class Matchers(Kind[tuple[Matcher, ...]]):
    """One matcher string, or a list of them; each string may hold several (`{a="1", b=~"2"}`).

    Parsed like Alertmanager 0.25's `matchers:` (receiver.core.matching); regexes are RE2 and a pattern Go's
    regexp would refuse is a problem at load, with Go's reason.
    """

    def read(self, reader: Reader, node: object, path: str) -> tuple[Matcher, ...] | None:
        items = [node] if isinstance(node, str) else node
        if not isinstance(items, list):
            reader.problem(path, f"must be a list of matchers like 'severity=\"high\"', not {describe(node)}")
            return None
        out: list[Matcher] = []
        for i, item in enumerate(items):
            item_path = f"{path}[{i}]" if isinstance(node, list) else path
            if not isinstance(item, str):
                reader.problem(item_path, f"must be a matcher string, not {describe(item)}")
                continue
            try:
                # "" and "{}" are no matcher at all, as in Alertmanager 0.25 (they add no condition).
                out.extend(parse_matchers(item))
            except MatcherError as exc:
                reader.problem(item_path, str(exc))
        return tuple(out)

    def schema(self) -> Schema:
        return {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


class ListOf(Kind[tuple[T, ...]]):
    def __init__(self, item: Kind[T], *, non_empty: bool = False, noun: str = "") -> None:
        self.item = item
        self.non_empty = non_empty
        self.noun = noun

    def read(self, reader: Reader, node: object, path: str) -> tuple[T, ...] | None:
        if not isinstance(node, list) or (self.non_empty and not node):
            wanted = f"a non-empty list of {self.noun}" if self.non_empty else "a list"
            reader.problem(path, f"must be {wanted}, not {describe(node)}")
            return None
        out = [
            v
            for i, item in enumerate(node)
            if (v := self.item.read(reader, item, f"{path}[{i}]")) is not None
        ]
        return tuple(out)

    def schema(self) -> Schema:
        out: Schema = {"type": "array", "items": self.item.schema()}
        if self.non_empty:
            out["minItems"] = 1
        return out


# --- mappings ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    kind: Kind[Any]
    doc: str = ""
    required: bool = False  # absent (or null) is a problem; the kind words it ("required", ...)


Values = dict[str, Any]
Build = Callable[[Reader, Values, str], T | None]


class Section(Kind[T]):
    """A mapping with known keys. Unknown keys are problems (with a did-you-mean hint); an explicit null
    counts as absent. `build` turns the values read into the settings object (or records a problem)."""

    def __init__(
        self,
        keys: Sequence[Key],
        build: Build[T],
        *,
        doc: str = "",
        extra_schema: Schema | None = None,
    ) -> None:
        self.keys = tuple(keys)
        self.build = build
        self.doc = doc
        self.extra_schema = extra_schema or {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.keys)

    def read(self, reader: Reader, node: object, path: str) -> T | None:
        raw = self.mapping(reader, node, path)
        if raw is None:
            return None
        values = self.values(reader, raw, path)
        self.check(reader, raw, values, path)
        return self.build(reader, values, path)

    def check(self, reader: Reader, raw: Mapping[str, object], values: Values, path: str) -> None:
        """Rules across keys that need the raw mapping (e.g. a key given, whatever its value)."""

    def mapping(self, reader: Reader, node: object, path: str) -> dict[str, object] | None:
        if node is None:
            reader.problem(path, "required")
            return None
        if not isinstance(node, dict):
            reader.problem(path, f"must be a mapping, not {describe(node)}")
            return None
        for key in node:
            if key not in self.names:
                hint = difflib.get_close_matches(str(key), self.names, n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                reader.problem(path or str(key), f"unknown key {key!r}{suffix}")
        return {str(k): v for k, v in node.items() if k in self.names}

    def values(self, reader: Reader, raw: Mapping[str, object], path: str) -> Values:
        values: Values = {}
        for key in self.keys:
            node = raw.get(key.name)
            child = f"{path}.{key.name}" if path else key.name
            if node is None:
                if key.required:
                    key.kind.read(reader, None, child)
                continue
            value = key.kind.read(reader, node, child)
            if value is not None:
                values[key.name] = value
        return values

    def schema(self) -> Schema:
        properties: Schema = {}
        for key in self.keys:
            entry = key.kind.schema()
            properties[key.name] = {**entry, "description": key.doc} if key.doc else entry
        out: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
        required = [key.name for key in self.keys if key.required]
        if required:
            out["required"] = required
        if self.doc:
            out["description"] = self.doc
        out.update(self.extra_schema)
        return out


# --- the document -----------------------------------------------------------------------------------------


def _settings(
    factory: Callable[[], D], renames: Mapping[str, str] | None = None
) -> Callable[[Reader, Values, str], D]:
    """Build a settings dataclass from the values read: absent keys keep the dataclass defaults."""

    def build(reader: Reader, values: Values, path: str) -> D:
        names = renames or {}
        return replace(factory(), **{names.get(k, k): v for k, v in values.items()})

    return build


def _basic_auth(reader: Reader, values: Values, path: str) -> BasicAuth | None:
    if "username" in values and "password_file" in values:
        return BasicAuth(values["username"], values["password_file"])
    return None


BASIC_AUTH = Section(
    [
        Key("username", Text(), required=True),
        Key("password_file", File(), "file holding the password (a Secret mount)", required=True),
    ],
    _basic_auth,
)


@dataclass(frozen=True, slots=True)
class _Auth:
    bearer: BearerAuth | None = None
    basic: BasicAuth | None = None


def _auth(reader: Reader, values: Values, path: str) -> _Auth:
    token_file = values.get("bearer_token_file")
    return _Auth(BearerAuth(token_file) if token_file else None, values.get("basic_auth"))


AUTH = Section(
    [
        Key(
            "bearer_token_file",
            File(),
            "file holding the token Alertmanager sends as `Authorization: Bearer` (the chart sets it)",
        ),
        Key("basic_auth", BASIC_AUTH, "basic auth: a username and a password file"),
    ],
    _auth,
)


def _tls(reader: Reader, values: Values, path: str) -> TLSConfig | None:
    if "cert_file" in values and "key_file" in values:
        return TLSConfig(values["cert_file"], values["key_file"], values.get("client_ca_file"))
    return None


TLS = Section(
    [
        Key("cert_file", File(), required=True),
        Key("key_file", File(), required=True),
        Key("client_ca_file", File(), "set: client certificates are required and verified (mTLS)"),
    ],
    _tls,
)


def _server(reader: Reader, values: Values, path: str) -> ServerConfig:
    auth: _Auth = values.pop("auth", _Auth())
    changes: Values = {"bearer": auth.bearer, "basic": auth.basic}
    if "listen" in values:
        changes["listen_host"], changes["listen_port"] = values.pop("listen")
    return replace(ServerConfig(), **values, **changes)


SERVER = Section(
    [
        Key("listen", Listen(), "HOST:PORT to serve on (the chart sets it from containerPort)"),
        Key("auth", AUTH, "how Alertmanager authenticates"),
        Key("tls", TLS, "serve HTTPS; with client_ca_file, require client certificates"),
        Key("max_body_bytes", Integer(1), "largest request body accepted (413 above)"),
        Key("max_alerts_per_payload", Integer(1), "most alerts in one payload (413 above)"),
        Key("request_timeout", Duration(positive=True), "time to receive a request body (408 after)"),
        Key("queue_size", Integer(1), "work items waiting for a worker (503 when full)"),
        Key("queue_bytes", Integer(1024), "bytes the waiting work items may hold (503 beyond)"),
        Key("workers", Integer(1), "work items decided concurrently"),
        Key(
            "shutdown_timeout",
            Duration(positive=True),
            "drain deadline on SIGTERM (the chart sets it from shutdown.drainSeconds)",
        ),
        Key("dedupe_entries", Integer(1), "bound of the in-memory seen-set of alerts"),
        Key("dedupe_ttl", Duration(positive=True), "how long a seen alert is remembered in memory"),
        Key("decision_log_entries", Integer(1), "recent decisions kept for GET /api/v1/decisions"),
    ],
    _server,
)


def _alertmanager(reader: Reader, values: Values, path: str) -> AlertmanagerAPI:
    if "bearer_token_file" in values and "basic_auth" in values:
        reader.problem(path, "bearer_token_file and basic_auth are mutually exclusive")
    return _settings(AlertmanagerAPI, {"basic_auth": "basic"})(reader, values, path)


ALERTMANAGER = Section(
    [
        Key("urls", ListOf(URL), "Alertmanager base URLs to reconcile from (every HA peer)"),
        Key("receiver", Text(), "our receiver's name there (default: the one webhook payloads carry)"),
        Key("bearer_token_file", File(), "token for Alertmanager's API"),
        Key("basic_auth", BASIC_AUTH, "basic auth for Alertmanager's API"),
        Key("ca_file", File(), "CA bundle for an https Alertmanager"),
        Key("interval", Duration(positive=True), "how often to reconcile"),
    ],
    _alertmanager,
)


def _namespaces(reader: Reader, values: Values, path: str) -> NamespacePolicy:
    allow: tuple[str, ...] = values.get("allow", ())
    deny: tuple[str, ...] = values.get("deny", ())
    for i, name in enumerate(allow):
        if name in SYSTEM_NAMESPACES:
            reader.problem(f"{path}.allow[{i}]", f"{name} is a system namespace and always denied")
        elif name in deny:
            reader.problem(f"{path}.allow[{i}]", f"{name} is also in namespaces.deny")
    return NamespacePolicy(allow=allow, deny=deny)


NAMESPACES = Section(
    [
        Key("allow", ListOf(NAMESPACE), "namespaces the receiver may act in (empty: every namespace)"),
        Key("deny", ListOf(NAMESPACE), "never act here (system namespaces and our own always are)"),
    ],
    _namespaces,
)


def _verify(reader: Reader, values: Values, path: str) -> Values:
    """The `verify` keys as the GuardSettings fields they set (a route overrides them one by one)."""
    names = {"alert_clears_within": "alert_clears_within", "count_as_failure": "did_not_help_counts"}
    return {names[k]: v for k, v in values.items()}


VERIFY = Section(
    [
        Key(
            "alert_clears_within",
            Duration(positive=False),
            "after the rollout completes, the alert must resolve within this long, else the rollback "
            "did_not_help (0: no verification by the alert)",
        ),
        Key("count_as_failure", Boolean(), "a rollback that did not help counts toward the circuit breaker"),
    ],
    _verify,
    doc="verification by the alert itself, after the rollout",
)


def guard_overrides(values: Values) -> Values:
    """The guard keys read (defaults or a route) as GuardSettings fields: `verify` is flattened."""
    out = {k: v for k, v in values.items() if k in GUARD_NAMES and k != "verify"}
    out.update(values.get("verify", {}))
    return out


GUARD_KEYS = (
    Key("cooldown", Duration(positive=True), "per workload, after one of our rollbacks"),
    Key("change_window", Duration(positive=True), "the live revision must have gone live this recently"),
    Key("verify_timeout", Duration(positive=True), "how long to follow the rollout after the patch"),
    Key("verify", VERIFY, "verification by the alert: did it resolve after the rollback?"),
    Key("confirm_for", Duration(positive=False), "act only if still firing this long after it started"),
    Key("gitops", Choice(GitOpsPolicy), "workloads owned by Argo CD or Flux: notify (default) or allow"),
    Key("helm", Choice(HelmPolicy), "Helm releases: rollback (default, naming `helm rollback`) or notify"),
    Key(
        "controlled",
        Choice(ControllerPolicy),
        "workloads controlled by another object: skip (default) or allow",
    ),
    Key(
        "on_progressing",
        Choice(ProgressingPolicy),
        "an Argo Rollout whose canary or blue-green update is in progress: abort (default), undo or skip",
    ),
    Key("require_opt_in", Boolean(), "only workloads annotated rollback-receiver.io/enabled=true"),
    Key(
        "freeze_time_intervals",
        ListOf(Text()),
        "names of time_intervals with no automatic rollback (a freeze)",
    ),
    Key(
        "active_time_intervals", ListOf(Text()), "names of time_intervals outside which no automatic rollback"
    ),
    Key(
        "during_freeze",
        Choice(FreezePolicy),
        "a rollback a freeze blocks: notify (default) or wait until it ends",
    ),
)
GUARD_NAMES = tuple(key.name for key in GUARD_KEYS)

DEFAULTS = Section(
    GUARD_KEYS,
    lambda reader, values, path: replace(GuardSettings(), **guard_overrides(values)),
    doc="guard settings every route starts from",
)


def _budget(reader: Reader, values: Values, path: str) -> Budget | None:
    if "max" in values and "per" in values:
        return Budget(values["max"], values["per"])
    return None


BUDGET = Section(
    [
        Key("max", Integer(0), "rollbacks allowed per window", required=True),
        Key("per", Duration(positive=True), "the window", required=True),
    ],
    _budget,
)

LIMITS = Section(
    [
        Key("per_namespace", BUDGET, "rollbacks per namespace per window"),
        Key("global", BUDGET, "rollbacks across all namespaces per window (exhausting it opens the breaker)"),
        Key("max_concurrent", Integer(1), "rollbacks in progress at once"),
        Key("max_targets_per_alert", Integer(1), "workloads one alert may roll back"),
        Key("breaker_failures", Integer(1), "consecutive failed rollbacks that open the circuit breaker"),
    ],
    _settings(Limits, {"global": "global_"}),
)

LABEL_KEY = Pattern(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
    "a valid label key",
    max_length=317,
)

OWNERSHIP = Section(
    [
        Key(
            "argocd_tracking_label",
            LABEL_KEY,
            "the label Argo CD tracks resources by, if it uses label tracking (app.kubernetes.io/instance)",
        )
    ],
    _settings(OwnershipConfig),
)

ROLLOUT_HEALTH = Section(
    [
        Key("enabled", Boolean(), "watch Deployments and roll back failing rollouts without an alert rule"),
        Key(
            "workloads",
            Choice(HealthWorkloads),
            "annotated (default): only Deployments annotated rollback-receiver.io/rollout-health=true; "
            "all: every Deployment in scope (rollout-health=false opts one out)",
        ),
        Key("severity", Text(), "the severity label of the synthetic alerts (routes match on it)"),
        Key(
            "crash_loop_restarts",
            Integer(1),
            "a container of the new ReplicaSet restarted this often is crash-looping",
        ),
        Key(
            "crash_loop_backoff",
            Boolean(),
            "a container in CrashLoopBackOff is crash-looping whatever its restart count",
        ),
        Key(
            "not_ready_for",
            Duration(positive=False),
            "a pod of the new ReplicaSet not ready this long, while the previous one was healthy (0: off)",
        ),
        Key("cache", Boolean(), "decide on the watch's copy of Deployments and ReplicaSets, not GET + LIST"),
        Key(
            "cache_max_objects",
            Integer(1),
            "Deployments and ReplicaSets the view holds at most; beyond it decisions read the API",
        ),
    ],
    _settings(RolloutHealthConfig),
)

STATE = Section(
    [
        Key("namespace", NAMESPACE, "namespace of the state ConfigMap (the chart sets the release's)"),
        Key("name", OBJECT_NAME, "name of the state ConfigMap"),
        Key("max_pending", Integer(1), "most pending confirmations kept (beyond: pending_full)"),
        Key(
            "max_pending_bytes",
            Integer(1024),
            "most bytes of pending confirmations kept (the API's limit is 1 MiB)",
        ),
        Key(
            "takeover_after",
            Duration(positive=True),
            "an unpatched reservation of a replica that died is taken over after this long",
        ),
    ],
    _settings(StateConfig),
)


def _notify_policy(reader: Reader, values: Values, path: str) -> Values:
    return values


NOTIFY_POLICY = Section(
    [
        Key("channels", ListOf(Text()), "names of channels in notifications.channels"),
        Key("outcomes", ListOf(Choice(NoticeKind)), "the outcomes to tell them about (default: all)"),
    ],
    _notify_policy,
)


def _webhook_channel(reader: Reader, values: Values, path: str) -> Values:
    if ("url" in values) == ("url_file" in values):
        reader.problem(path, "exactly one of url or url_file is required")
    return values


WEBHOOK_CHANNEL = Section(
    [
        Key("url", URL, "where to POST (a URL that is a secret belongs in url_file)"),
        Key("url_file", File(), "file holding the URL (a Secret mount), read on every message"),
        Key("hmac_secret_file", File(), "sign each body with this secret (X-Rollback-Receiver-Signature)"),
    ],
    _webhook_channel,
)

SLACK_CHANNEL = Section(
    [
        Key("url", URL, "the incoming-webhook URL (it is a secret: prefer url_file)"),
        Key("url_file", File(), "file holding the incoming-webhook URL (a Secret mount)"),
    ],
    _webhook_channel,
)


def _alertmanager_channel(reader: Reader, values: Values, path: str) -> Values:
    if "bearer_token_file" in values and "basic_auth" in values:
        reader.problem(path, "bearer_token_file and basic_auth are mutually exclusive")
    return values


ALERTMANAGER_CHANNEL = Section(
    [
        Key("urls", ListOf(URL), "Alertmanagers to post to, every HA peer (default: alertmanager.urls)"),
        Key("bearer_token_file", File(), "token for their API (default: alertmanager's)"),
        Key("basic_auth", BASIC_AUTH, "basic auth for their API"),
        Key("ca_file", File(), "CA bundle for an https Alertmanager"),
        Key("hold", Duration(positive=True), "how long the posted alert stays firing"),
        Key("label_prefix", Text(), "prefix of the original alert's labels (default original_)"),
    ],
    _alertmanager_channel,
)

_CHANNEL_TYPES = tuple(t.value for t in ChannelType)


class _ChannelSection(Section[Channel]):
    def check(self, reader: Reader, raw: Mapping[str, object], values: Values, path: str) -> None:
        chosen = [k for k in _CHANNEL_TYPES if k in raw]
        if len(chosen) != 1:
            found = ", ".join(chosen) if chosen else "none"
            reader.problem(path, f"exactly one of {', '.join(_CHANNEL_TYPES)} is required (found: {found})")


def _channel(reader: Reader, values: Values, path: str) -> Channel | None:
    types = [t for t in ChannelType if t.value in values]
    if "name" not in values or len(types) != 1:
        return None
    kind = types[0]
    spec: Values = values[kind.value]
    if kind is ChannelType.ALERTMANAGER:
        api = None
        if "urls" in spec:
            api = AlertmanagerAPI(
                urls=spec["urls"],
                bearer_token_file=spec.get("bearer_token_file"),
                basic=spec.get("basic_auth"),
                ca_file=spec.get("ca_file"),
            )
        return Channel(
            name=values["name"],
            type=kind,
            alertmanager=api,
            hold=spec.get("hold", Channel.__dataclass_fields__["hold"].default),
            label_prefix=spec.get("label_prefix", "original_"),
        )
    return Channel(
        name=values["name"],
        type=kind,
        url=spec.get("url"),
        url_file=spec.get("url_file"),
        hmac_secret_file=spec.get("hmac_secret_file"),
    )


CHANNEL = _ChannelSection(
    [
        Key("name", Text(), "unique name (routes, metrics and incidents name it)", required=True),
        Key("alertmanager", ALERTMANAGER_CHANNEL, "post an alert (RollbackPerformed, ...) to Alertmanager"),
        Key("webhook", WEBHOOK_CHANNEL, "POST the versioned JSON body (docs/notifications.md)"),
        Key("slack", SLACK_CHANNEL, "a Slack-compatible incoming webhook (Block Kit; Mattermost too)"),
    ],
    _channel,
    extra_schema={"oneOf": [{"required": [t]} for t in _CHANNEL_TYPES]},
)


def _notifications(reader: Reader, values: Values, path: str) -> NotificationsConfig:
    channels: tuple[Channel, ...] = values.get("channels", ())
    seen: set[str] = set()
    for i, channel in enumerate(channels):
        if channel.name in seen:
            reader.problem(f"{path}.channels[{i}].name", f"duplicate channel name {channel.name!r}")
        seen.add(channel.name)
    default: Values = values.get("default", {})
    policy = NotifyPolicy(
        channels=default.get("channels", tuple(c.name for c in channels)),
        outcomes=default.get("outcomes", tuple(NoticeKind)),
    )
    _check_channels(reader, policy.channels, seen, f"{path}.default.channels")
    return NotificationsConfig(
        channels=channels,
        default=policy,
        **{k: values[k] for k in ("attempts", "backoff", "timeout", "queue_size") if k in values},
    )


def _check_channels(reader: Reader, names: Sequence[str], known: set[str], path: str) -> None:
    for i, name in enumerate(names):
        if name not in known:
            hint = difflib.get_close_matches(name, sorted(known), n=1)
            suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
            reader.problem(f"{path}[{i}]", f"no channel {name!r} in notifications.channels{suffix}")


NOTIFICATIONS = Section(
    [
        Key("channels", ListOf(CHANNEL), "where notifications go"),
        Key("default", NOTIFY_POLICY, "channels and outcomes for routes that do not say (default: all)"),
        Key("attempts", Integer(1), "tries per message and channel, the first included"),
        Key("backoff", Duration(positive=True), "first wait between tries; it doubles, at most 1m"),
        Key("timeout", Duration(positive=True), "time allowed for one try"),
        Key("queue_size", Integer(1), "messages waiting per channel; beyond it they are dropped and counted"),
    ],
    _notifications,
)

INCIDENTS = Section(
    [
        Key("retain", Integer(1), "incident records kept (the oldest go first)"),
        Key("max_bytes", Integer(16384), "bytes the records may take in their ConfigMap (API limit 1 MiB)"),
        Key("external_url", URL, "how people reach the receiver, for incident links in notifications"),
        Key("public_pages", Boolean(), "serve the HTML incident pages without credentials"),
    ],
    _settings(IncidentsConfig),
)


_ONE_OF = ("name", "names", "selector")


def _target(reader: Reader, values: Values, path: str) -> TargetSpec | None:
    if "namespace" not in values or sum(k in values for k in _ONE_OF) != 1:
        return None
    return TargetSpec(
        kind=values.get("kind", WorkloadKind.DEPLOYMENT),
        namespace=values["namespace"],
        name=values.get("name"),
        names=values.get("names", ()),
        selector=values.get("selector"),
        max_targets=values.get("max_targets"),
    )


class _TargetSection(Section[TargetSpec]):
    def check(self, reader: Reader, raw: Mapping[str, object], values: Values, path: str) -> None:
        chosen = [k for k in _ONE_OF if k in raw]
        if len(chosen) != 1:
            found = ", ".join(chosen) if chosen else "none"
            reader.problem(path, f"exactly one of name, names or selector is required (found: {found})")


TARGET = _TargetSection(
    [
        Key("kind", Choice(WorkloadKind), "Deployment (default), StatefulSet, DaemonSet or Rollout (Argo)"),
        Key(
            "namespace",
            Template(is_namespace_name, "namespace"),
            "namespace, e.g. '{{ labels.namespace }}'",
            required=True,
        ),
        Key("name", Template(is_object_name, "name"), "one workload, e.g. '{{ labels.deployment }}'"),
        Key(
            "names",
            ListOf(Template(is_object_name, "name"), non_empty=True, noun="names"),
            "an explicit list of workloads",
        ),
        Key("selector", Template(), "a label selector (values may be templates)"),
        Key("max_targets", Integer(1), "cap for names/selector (at most limits.max_targets_per_alert)"),
    ],
    _target,
    extra_schema={
        "oneOf": [{"required": ["name"]}, {"required": ["names"]}, {"required": ["selector"]}],
    },
)

REVISION = Section(
    [
        Key("from_annotation", Text(), "annotation or label naming the revision, e.g. `--to-revision=2`"),
        Key("to", Choice(RevisionChoice), "previous (kubectl's default) or last-known-good"),
        Key("stable_for", Duration(positive=True), "last-known-good: ran at least this long (default 1h)"),
    ],
    _settings(RevisionSpec),
)


@dataclass(frozen=True, slots=True)
class RouteDraft:
    """A route as read; the document's `defaults` and `limits` finish it."""

    path: str
    name: str
    action: Action
    matchers: tuple[Matcher, ...]
    target: TargetSpec | None
    mode: Mode | None
    revision: RevisionSpec
    guard_overrides: Values = field(default_factory=dict)
    continue_: bool = False
    notify_overrides: Values = field(default_factory=dict)

    def finish(self, defaults: GuardSettings, priority: int, notify: NotifyPolicy | None = None) -> Route:
        return Route(
            name=self.name,
            matchers=self.matchers,
            action=self.action,
            target=self.target,
            mode=self.mode,
            revision=self.revision,
            guards=replace(defaults, **self.guard_overrides),
            continue_=self.continue_,
            priority=priority,
            notifications=replace(notify or NotifyPolicy(), **self.notify_overrides),
        )


class _RouteSection(Section[RouteDraft]):
    def check(self, reader: Reader, raw: Mapping[str, object], values: Values, path: str) -> None:
        if values.get("action") is Action.ROLLBACK and "target" not in raw:
            reader.problem(f"{path}.target", "required when action is rollback")


def _route(reader: Reader, values: Values, path: str) -> RouteDraft | None:
    if "name" not in values or "action" not in values:
        return None
    return RouteDraft(
        path=path,
        name=values["name"],
        action=values["action"],
        matchers=values.get("match", ()),
        target=values.get("target"),
        mode=values.get("mode"),
        revision=values.get("revision", RevisionSpec()),
        guard_overrides=guard_overrides(values),
        continue_=values.get("continue", False),
        notify_overrides=values.get("notifications", {}),
    )


ROUTE = _RouteSection(
    [
        Key("name", Text(), "unique name (decisions, metrics and Events carry it)", required=True),
        Key("action", Choice(Action), "rollback, notify or ignore", required=True),
        Key("match", Matchers(), "Alertmanager matchers on labels and annotations; all must match"),
        Key("target", TARGET, "the workload(s) the alert names"),
        Key("revision", REVISION, "the revision to roll back to (default: the previous one)"),
        *GUARD_KEYS,
        Key("mode", Choice(Mode), "overrides the global mode"),
        Key("continue", Boolean(), "keep matching later routes, like Alertmanager's continue"),
        Key(
            "notifications",
            NOTIFY_POLICY,
            "who hears about this route's outcomes (default: notifications.default)",
        ),
    ],
    _route,
)


class TimeIntervals(Kind[dict[str, tuple[TimeInterval, ...]]]):
    """Named time intervals in Alertmanager's syntax (its top-level `time_intervals`), for freezes."""

    def read(self, reader: Reader, node: object, path: str) -> dict[str, tuple[TimeInterval, ...]] | None:
        try:
            named = parse_named(node, path)
        except TimeIntervalError as exc:
            where, _, reason = str(exc).partition(": ")  # the message names the exact place
            reader.problem(where, reason)
            return None
        if isinstance(node, list) and len(named) != len(node):
            reader.problem(path, "interval names must be unique")
        return named

    def schema(self) -> Schema:
        ranges = {"type": "array", "items": {"type": ["string", "integer"]}}
        interval = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "times": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["start_time", "end_time"],
                        "properties": {"start_time": {"type": "string"}, "end_time": {"type": "string"}},
                    },
                },
                "weekdays": ranges,
                "days_of_month": ranges,
                "months": ranges,
                "years": ranges,
                "location": {"type": "string"},
            },
        }
        return {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "time_intervals": {"type": "array", "items": interval},
                },
            },
        }


class Routes(Kind[tuple[RouteDraft, ...]]):
    def read(self, reader: Reader, node: object, path: str) -> tuple[RouteDraft, ...] | None:
        if node is None or node == []:
            reader.problem(path, "at least one route is required")
            return ()
        if not isinstance(node, list):
            reader.problem(path, f"must be a list of routes, not {describe(node)}")
            return ()
        drafts: list[RouteDraft] = []
        first: dict[str, int] = {}
        for i, item in enumerate(node):
            draft = ROUTE.read(reader, item, f"{path}[{i}]")
            if draft is None:
                continue
            if draft.name in first:
                reader.problem(
                    f"{draft.path}.name",
                    f"duplicate route name {draft.name!r} (also {path}[{first[draft.name]}])",
                )
            first.setdefault(draft.name, i)
            drafts.append(draft)
        return tuple(drafts)

    def schema(self) -> Schema:
        return {"type": "array", "minItems": 1, "items": ROUTE.schema()}


def _config(reader: Reader, values: Values, path: str) -> Config:
    defaults: GuardSettings = values.get("defaults", GuardSettings())
    limits: Limits = values.get("limits", Limits())
    alertmanager: AlertmanagerAPI = values.get("alertmanager", AlertmanagerAPI())
    notifications: NotificationsConfig = values.get("notifications", NotificationsConfig())
    notifications = _alertmanager_channels(reader, notifications, alertmanager)
    channel_names = {c.name for c in notifications.channels}
    intervals: dict[str, tuple[TimeInterval, ...]] = values.get("time_intervals", {})
    for key in ("freeze_time_intervals", "active_time_intervals"):
        for name in getattr(defaults, key):
            if name not in intervals:
                reader.problem(f"defaults.{key}", f"no time interval named {name!r} in time_intervals")
    routes: list[Route] = []
    for draft in values.get("routes", ()):
        for key in ("freeze_time_intervals", "active_time_intervals"):
            for name in draft.guard_overrides.get(key, ()):
                if name not in intervals:
                    reader.problem(
                        f"{draft.path}.{key}", f"no time interval named {name!r} in time_intervals"
                    )
        cap = draft.target.max_targets if draft.target is not None else None
        if cap is not None and cap > limits.max_targets_per_alert:
            reader.problem(
                f"{draft.path}.target.max_targets",
                f"{cap} exceeds limits.max_targets_per_alert ({limits.max_targets_per_alert})",
            )
        _check_channels(
            reader,
            draft.notify_overrides.get("channels", ()),
            channel_names,
            f"{draft.path}.notifications.channels",
        )
        routes.append(draft.finish(defaults, priority=len(routes), notify=notifications.default))
    own_namespace = values.get("own_namespace") or reader.environ.get("POD_NAMESPACE") or None
    return Config(
        source=reader.source,
        server=values.get("server", ServerConfig()),
        mode=values.get("mode", Mode.ENFORCE),
        paused=values.get("paused", False),
        cluster_name=values.get("cluster_name", ""),
        own_namespace=own_namespace,
        alertmanager=alertmanager,
        namespaces=values.get("namespaces", NamespacePolicy()),
        defaults=defaults,
        limits=limits,
        state=values.get("state", StateConfig()),
        ownership=values.get("ownership", OwnershipConfig()),
        notifications=notifications,
        incidents=values.get("incidents", IncidentsConfig()),
        time_intervals=intervals,
        rollout_health=values.get("rollout_health", RolloutHealthConfig()),
        routes=tuple(routes),
    )


def _alertmanager_channels(
    reader: Reader, notifications: NotificationsConfig, alertmanager: AlertmanagerAPI
) -> NotificationsConfig:
    """Alertmanager channels without their own `urls` post to the top-level `alertmanager` API."""
    channels: list[Channel] = []
    for i, channel in enumerate(notifications.channels):
        if channel.type is ChannelType.ALERTMANAGER and channel.alertmanager is None:
            if not alertmanager.urls:
                reader.problem(
                    f"notifications.channels[{i}].alertmanager.urls",
                    "required when the top-level alertmanager.urls is not set",
                )
            channel = replace(channel, alertmanager=alertmanager)
        channels.append(channel)
    return replace(notifications, channels=tuple(channels))


class _Document(Section[Config]):
    def read(self, reader: Reader, node: object, path: str) -> Config | None:
        return super().read(reader, {} if node is None else node, path)


# Keys are read in this order, so problems are listed in it too: `defaults` and `limits` first because
# routes are finished with them.
CONFIG = _Document(
    [
        Key("defaults", DEFAULTS, "guard settings every route starts from"),
        Key("limits", LIMITS, "rate limits and the circuit breaker, shared by all replicas"),
        Key("own_namespace", NAMESPACE, "always denied (default: $POD_NAMESPACE)"),
        Key("server", SERVER, "the HTTP listener"),
        Key("mode", Choice(Mode), "enforce, or dry-run: decide and record everything, write nothing"),
        Key("paused", Boolean(), "global kill switch: decide and record, never write"),
        Key("cluster_name", Text(), "alerts with another `cluster` label are ignored"),
        Key("alertmanager", ALERTMANAGER, "Alertmanager's API, for level-triggered reconciliation"),
        Key("namespaces", NAMESPACES, "where the receiver may act"),
        Key("state", STATE, "where guard state shared by all replicas lives"),
        Key("ownership", OWNERSHIP, "how Argo CD, Flux and Helm mark what they own in this cluster"),
        Key("notifications", NOTIFICATIONS, "who is told about rollbacks and their outcomes"),
        Key("incidents", INCIDENTS, "the incident record kept for every rollback"),
        Key(
            "time_intervals",
            TimeIntervals(),
            "named time intervals, Alertmanager's syntax, for change freezes",
        ),
        Key(
            "rollout_health",
            ROLLOUT_HEALTH,
            "the native rollout-health source: failing Deployments become alerts for the same routes",
        ),
        Key(
            "routes",
            Routes(),
            "evaluated in order; the first match wins unless it says continue",
            required=True,
        ),
    ],
    _config,
)
