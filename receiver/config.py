"""The routing config: YAML -> frozen dataclasses.

Every validation error names the file, the path inside the YAML and the reason. The dataclasses below
are the contract read by the intake, the decision engine and the guards; `load_config` fills them and
reports every problem of a file at once, like `amtool check-config`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from receiver.matching import Matcher, MatcherError, parse_matchers
from receiver.templating import TemplateError, parse_template
from receiver.workload import WorkloadKind

# Namespaces no route may ever act in, whatever the allow list says.
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


class Action(StrEnum):
    ROLLBACK = "rollback"
    NOTIFY = "notify"
    IGNORE = "ignore"


class Mode(StrEnum):
    ENFORCE = "enforce"
    DRY_RUN = "dry-run"


class GitOpsPolicy(StrEnum):
    NOTIFY = "notify"  # a workload owned by Argo CD / Flux is only reported (the reconciler would re-apply)
    ALLOW = "allow"


@dataclass(frozen=True, slots=True)
class BearerAuth:
    token_file: Path


@dataclass(frozen=True, slots=True)
class BasicAuth:
    username: str
    password_file: Path


@dataclass(frozen=True, slots=True)
class TLSConfig:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None  # set => client certificates are required and verified (mTLS)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen_host: str = "0.0.0.0"  # noqa: S104 - in a pod the Service reaches us on the pod IP
    listen_port: int = 8080
    bearer: BearerAuth | None = None
    basic: BasicAuth | None = None
    tls: TLSConfig | None = None
    max_body_bytes: int = 1 << 20
    max_alerts_per_payload: int = 1000
    request_timeout: timedelta = timedelta(seconds=10)
    queue_size: int = 1000
    dedupe_entries: int = 100_000  # bound of the in-memory seen-set (a fast path; the cluster is the truth)
    dedupe_ttl: timedelta = timedelta(hours=6)
    workers: int = 4  # concurrent WorkItems; rollbacks themselves are capped by limits.max_concurrent
    shutdown_timeout: timedelta = timedelta(seconds=20)  # drain deadline; the chart's grace period is longer
    decision_log_entries: int = 1000  # recent decisions kept for GET /api/v1/decisions


@dataclass(frozen=True, slots=True)
class AlertmanagerAPI:
    """Where to reconcile from (level-triggered): Alertmanager's /api/v2/alerts."""

    urls: tuple[str, ...] = ()
    bearer_token_file: Path | None = None
    basic: BasicAuth | None = None
    ca_file: Path | None = None
    interval: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class NamespacePolicy:
    allow: tuple[str, ...] = ()  # empty => every namespace not denied
    deny: tuple[str, ...] = ()  # added to SYSTEM_NAMESPACES and our own namespace


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """Guard knobs; route-level values override `defaults`."""

    cooldown: timedelta = timedelta(minutes=30)  # per workload, after one of our rollbacks
    change_window: timedelta = timedelta(
        hours=1
    )  # current revision must have gone live this close before the alert
    verify_timeout: timedelta = timedelta(minutes=5)  # how long to follow the rollout after the patch
    confirm_for: timedelta = timedelta(0)  # act only if still firing after this long (0 = act now)
    gitops: GitOpsPolicy = GitOpsPolicy.NOTIFY
    require_opt_in: bool = False  # True => only workloads annotated opt-in are eligible


@dataclass(frozen=True, slots=True)
class Budget:
    max: int
    per: timedelta


@dataclass(frozen=True, slots=True)
class Limits:
    per_namespace: Budget = Budget(3, timedelta(hours=1))
    global_: Budget = Budget(10, timedelta(hours=1))
    max_concurrent: int = 2
    max_targets_per_alert: int = 3
    breaker_failures: int = 3  # consecutive failed rollbacks that open the circuit breaker


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """How an alert names its workload(s). Exactly one of name / names / selector is set."""

    kind: WorkloadKind
    namespace: str  # template, e.g. '{{ labels.namespace }}'
    name: str | None = None  # template, e.g. '{{ labels.deployment }}'
    names: tuple[str, ...] = ()  # explicit list (each may be a template)
    selector: str | None = None  # label selector (may contain templates)
    max_targets: int | None = None  # cap for selector/list; None => limits.max_targets_per_alert


@dataclass(frozen=True, slots=True)
class RevisionSpec:
    """Which revision to roll back to: previous (kubectl's default) or one named by an annotation/label."""

    from_annotation: str | None = None  # e.g. 'rollback_to_revision'; its value must be an integer


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    matchers: tuple[Matcher, ...]  # all must match; evaluated on labels and annotations
    action: Action
    target: (
        TargetSpec | None
    )  # required for rollback; optional for notify (then only logged/evented when known)
    mode: Mode | None = None  # None => the global mode
    revision: RevisionSpec = RevisionSpec()
    guards: GuardSettings = GuardSettings()  # already merged with `defaults`
    continue_: bool = False  # like Alertmanager's `continue`: keep matching later routes


@dataclass(frozen=True, slots=True)
class StateConfig:
    """Where HA-shared guard state lives (budgets, breaker, pending confirmations): one ConfigMap."""

    namespace: str = "default"  # the chart sets it to the release namespace
    name: str = "rollback-receiver-state"


@dataclass(frozen=True, slots=True)
class Config:
    source: Path
    server: ServerConfig = ServerConfig()
    mode: Mode = Mode.ENFORCE
    paused: bool = False  # global kill switch: decide and record, never write
    cluster_name: str = ""
    own_namespace: str | None = None  # always denied (from config or POD_NAMESPACE)
    alertmanager: AlertmanagerAPI = AlertmanagerAPI()
    namespaces: NamespacePolicy = NamespacePolicy()
    defaults: GuardSettings = GuardSettings()
    limits: Limits = Limits()
    state: StateConfig = StateConfig()
    routes: tuple[Route, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------------------


class ConfigError(Exception):
    """Every problem of one config file, each as `FILE: path.in.yaml: reason`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file. Raises ConfigError listing every problem found.

    Relative file paths inside the config (token files, certificates) are resolved against the config
    file's directory, like Prometheus does. `own_namespace` defaults to $POD_NAMESPACE.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot read: {exc}"]) from None
    return parse_config(text, source=source, environ=os.environ if environ is None else environ)


def parse_config(text: str, *, source: Path, environ: Mapping[str, str] | None = None) -> Config:
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "YAML"
        raise ConfigError([f"{source}: {where}: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: YAML: {exc}"]) from None
    reader = _Reader(source, {} if environ is None else environ)
    config = reader.config(document)
    if reader.problems:
        raise ConfigError(reader.problems)
    assert config is not None
    return config


_DURATION_RE = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNITS = (
    timedelta(days=365),
    timedelta(weeks=1),
    timedelta(days=1),
    timedelta(hours=1),
    timedelta(minutes=1),
    timedelta(seconds=1),
    timedelta(milliseconds=1),
)


def parse_duration(text: str) -> timedelta:
    """Prometheus durations: `30s`, `5m`, `1h30m`, `2d`, `1w`, `1y`, `500ms`; `0` alone means zero."""
    if text == "0":
        return timedelta(0)
    found = _DURATION_RE.fullmatch(text)
    if not text or found is None:
        raise ValueError(f"not a duration: {text!r} (use units like 30s, 5m, 1h30m)")
    return sum(
        (unit * int(n) for unit, n in zip(_DURATION_UNITS, found.groups(), strict=True) if n),
        timedelta(0),
    )


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, for messages and `routes test` output."""
    millis = round(value.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    out = []
    for suffix, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            out.append(f"{count}{suffix}")
    return "".join(out)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: a silently shadowed route setting is a 3 a.m. surprise."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=True)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def is_namespace_name(text: str) -> bool:
    return len(text) <= 63 and _DNS_LABEL_RE.fullmatch(text) is not None


def is_object_name(text: str) -> bool:
    return len(text) <= 253 and _DNS_SUBDOMAIN_RE.fullmatch(text) is not None


_E = TypeVar("_E", bound=StrEnum)
_T = TypeVar("_T")

_GUARD_KEYS = ("cooldown", "change_window", "verify_timeout", "confirm_for", "gitops", "require_opt_in")


class _Reader:
    """Walks the YAML document, collecting problems instead of stopping at the first one."""

    def __init__(self, source: Path, environ: Mapping[str, str]) -> None:
        self.source = source
        self.base = source.parent
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(f"{self.source}: {path}: {reason}")

    # -- the document ----------------------------------------------------------------------------

    def config(self, doc: object) -> Config | None:
        if doc is None:
            doc = {}
        top = self.mapping(
            doc,
            "(top level)",
            (
                "server",
                "mode",
                "paused",
                "cluster_name",
                "own_namespace",
                "alertmanager",
                "namespaces",
                "defaults",
                "limits",
                "state",
                "routes",
            ),
        )
        if top is None:
            return None
        defaults = self.guards(top.get("defaults"), "defaults", GuardSettings())
        limits = self.limits(top.get("limits"))
        own_namespace = self.opt(top, "own_namespace", "own_namespace", self.namespace_name)
        if own_namespace is None:
            own_namespace = self.environ.get("POD_NAMESPACE") or None
        config = Config(
            source=self.source,
            server=self.server(top.get("server")),
            mode=self.opt(top, "mode", "mode", lambda v, p: self.enum(v, p, Mode)) or Mode.ENFORCE,
            paused=self.opt(top, "paused", "paused", self.boolean) or False,
            cluster_name=self.opt(top, "cluster_name", "cluster_name", self.string) or "",
            own_namespace=own_namespace,
            alertmanager=self.alertmanager(top.get("alertmanager")),
            namespaces=self.namespaces(top.get("namespaces")),
            defaults=defaults,
            limits=limits,
            state=self.state(top.get("state")),
            routes=self.routes(top.get("routes"), defaults, limits),
        )
        return config

    def server(self, node: object) -> ServerConfig:
        base = ServerConfig()
        keys = (
            "listen",
            "auth",
            "tls",
            "max_body_bytes",
            "max_alerts_per_payload",
            "request_timeout",
            "queue_size",
            "workers",
            "shutdown_timeout",
            "dedupe_entries",
            "dedupe_ttl",
            "decision_log_entries",
        )
        raw = self.mapping(node, "server", keys, optional=True)
        if not raw:
            return base
        values: dict[str, Any] = {}
        if "listen" in raw:
            listen = self.listen(raw["listen"], "server.listen")
            if listen is not None:
                values["listen_host"], values["listen_port"] = listen
        auth = self.mapping(
            raw.get("auth"), "server.auth", ("bearer_token_file", "basic_auth"), optional=True
        )
        if auth:
            values["bearer"] = self.opt(
                auth,
                "bearer_token_file",
                "server.auth.bearer_token_file",
                lambda v, p: BearerAuth(tf) if (tf := self.file(v, p)) else None,
            )
            values["basic"] = self.basic_auth(auth.get("basic_auth"), "server.auth.basic_auth")
        tls = self.mapping(
            raw.get("tls"), "server.tls", ("cert_file", "key_file", "client_ca_file"), optional=True
        )
        if tls:
            cert = self.file(tls.get("cert_file"), "server.tls.cert_file")
            key = self.file(tls.get("key_file"), "server.tls.key_file")
            ca = self.opt(tls, "client_ca_file", "server.tls.client_ca_file", self.file)
            if cert and key:
                values["tls"] = TLSConfig(cert, key, ca)
        for name in ("max_body_bytes", "max_alerts_per_payload", "queue_size", "workers", "dedupe_entries"):
            values[name] = self.opt(raw, name, f"server.{name}", self.positive_int)
        values["decision_log_entries"] = self.opt(
            raw, "decision_log_entries", "server.decision_log_entries", self.positive_int
        )
        for name in ("request_timeout", "shutdown_timeout", "dedupe_ttl"):
            values[name] = self.opt(raw, name, f"server.{name}", self.positive_duration)
        return replace(base, **{k: v for k, v in values.items() if v is not None})

    def basic_auth(self, node: object, path: str) -> BasicAuth | None:
        raw = self.mapping(node, path, ("username", "password_file"), optional=True)
        if not raw:
            return None
        username = self.string(raw.get("username"), f"{path}.username")
        password_file = self.file(raw.get("password_file"), f"{path}.password_file")
        if username and password_file:
            return BasicAuth(username, password_file)
        return None

    def alertmanager(self, node: object) -> AlertmanagerAPI:
        keys = ("urls", "bearer_token_file", "basic_auth", "ca_file", "interval")
        raw = self.mapping(node, "alertmanager", keys, optional=True)
        if not raw:
            return AlertmanagerAPI()
        urls = self.opt(raw, "urls", "alertmanager.urls", lambda v, p: self.string_list(v, p, self.url)) or ()
        bearer = self.opt(raw, "bearer_token_file", "alertmanager.bearer_token_file", self.file)
        basic = self.basic_auth(raw.get("basic_auth"), "alertmanager.basic_auth")
        if bearer and basic:
            self.problem("alertmanager", "bearer_token_file and basic_auth are mutually exclusive")
        return AlertmanagerAPI(
            urls=urls,
            bearer_token_file=bearer,
            basic=basic,
            ca_file=self.opt(raw, "ca_file", "alertmanager.ca_file", self.file),
            interval=self.opt(raw, "interval", "alertmanager.interval", self.positive_duration)
            or AlertmanagerAPI().interval,
        )

    def namespaces(self, node: object) -> NamespacePolicy:
        raw = self.mapping(node, "namespaces", ("allow", "deny"), optional=True)
        if not raw:
            return NamespacePolicy()
        allow = self.opt(raw, "allow", "namespaces.allow", self.namespace_list) or ()
        deny = self.opt(raw, "deny", "namespaces.deny", self.namespace_list) or ()
        for i, name in enumerate(allow):
            if name in SYSTEM_NAMESPACES:
                self.problem(f"namespaces.allow[{i}]", f"{name} is a system namespace and always denied")
            elif name in deny:
                self.problem(f"namespaces.allow[{i}]", f"{name} is also in namespaces.deny")
        return NamespacePolicy(allow=allow, deny=deny)

    def guards(self, node: object, path: str, base: GuardSettings) -> GuardSettings:
        raw = self.mapping(node, path, _GUARD_KEYS, optional=True)
        return self.guard_values(raw or {}, path, base)

    def guard_values(self, raw: Mapping[str, object], path: str, base: GuardSettings) -> GuardSettings:
        """Guard keys found in `raw` override `base` (the defaults, for a route)."""
        prefix = "" if not path else f"{path}."
        values: dict[str, Any] = {}
        for name in ("cooldown", "change_window", "verify_timeout"):
            values[name] = self.opt(raw, name, prefix + name, self.positive_duration)
        values["confirm_for"] = self.opt(raw, "confirm_for", prefix + "confirm_for", self.duration)
        values["gitops"] = self.opt(
            raw, "gitops", prefix + "gitops", lambda v, p: self.enum(v, p, GitOpsPolicy)
        )
        values["require_opt_in"] = self.opt(raw, "require_opt_in", prefix + "require_opt_in", self.boolean)
        return replace(base, **{k: v for k, v in values.items() if v is not None})

    def limits(self, node: object) -> Limits:
        keys = ("per_namespace", "global", "max_concurrent", "max_targets_per_alert", "breaker_failures")
        raw = self.mapping(node, "limits", keys, optional=True)
        if not raw:
            return Limits()
        values: dict[str, Any] = {
            "per_namespace": self.opt(raw, "per_namespace", "limits.per_namespace", self.budget),
            "global_": self.opt(raw, "global", "limits.global", self.budget),
        }
        for name in ("max_concurrent", "max_targets_per_alert", "breaker_failures"):
            values[name] = self.opt(raw, name, f"limits.{name}", self.positive_int)
        return replace(Limits(), **{k: v for k, v in values.items() if v is not None})

    def budget(self, node: object, path: str) -> Budget | None:
        raw = self.mapping(node, path, ("max", "per"))
        if raw is None:
            return None
        count = self.non_negative_int(raw.get("max"), f"{path}.max")
        per = self.positive_duration(raw.get("per"), f"{path}.per")
        return Budget(count, per) if count is not None and per is not None else None

    def state(self, node: object) -> StateConfig:
        raw = self.mapping(node, "state", ("namespace", "name"), optional=True)
        if not raw:
            return StateConfig()
        return StateConfig(
            namespace=self.opt(raw, "namespace", "state.namespace", self.namespace_name)
            or StateConfig().namespace,
            name=self.opt(raw, "name", "state.name", self.object_name) or StateConfig().name,
        )

    def routes(self, node: object, defaults: GuardSettings, limits: Limits) -> tuple[Route, ...]:
        if node is None:
            self.problem("routes", "at least one route is required")
            return ()
        if not isinstance(node, list):
            self.problem("routes", f"must be a list of routes, not {_kind(node)}")
            return ()
        if not node:
            self.problem("routes", "at least one route is required")
        routes: list[Route] = []
        names: dict[str, int] = {}
        for i, item in enumerate(node):
            path = f"routes[{i}]"
            route = self.route(item, path, defaults, limits)
            if route is None:
                continue
            if route.name in names:
                self.problem(
                    f"{path}.name", f"duplicate route name {route.name!r} (also routes[{names[route.name]}])"
                )
            names.setdefault(route.name, i)
            routes.append(route)
        return tuple(routes)

    def route(self, node: object, path: str, defaults: GuardSettings, limits: Limits) -> Route | None:
        keys = ("name", "match", "action", "target", "mode", "revision", "continue", *_GUARD_KEYS)
        raw = self.mapping(node, path, keys)
        if raw is None:
            return None
        name = self.string(raw.get("name"), f"{path}.name")
        action = self.enum(raw.get("action"), f"{path}.action", Action)
        matchers = self.opt(raw, "match", f"{path}.match", self.matchers) or ()
        target = self.opt(raw, "target", f"{path}.target", lambda v, p: self.target(v, p, limits))
        if action is Action.ROLLBACK and "target" not in raw:
            self.problem(f"{path}.target", "required when action is rollback")
        revision = self.opt(raw, "revision", f"{path}.revision", self.revision) or RevisionSpec()
        guards = self.guard_values(raw, path, defaults)
        mode = self.opt(raw, "mode", f"{path}.mode", lambda v, p: self.enum(v, p, Mode))
        continue_ = self.opt(raw, "continue", f"{path}.continue", self.boolean) or False
        if name is None or action is None:
            return None
        return Route(
            name=name,
            matchers=matchers,
            action=action,
            target=target,
            mode=mode,
            revision=revision,
            guards=guards,
            continue_=continue_,
        )

    def matchers(self, node: object, path: str) -> tuple[Matcher, ...] | None:
        items = [node] if isinstance(node, str) else node
        if not isinstance(items, list):
            self.problem(path, f"must be a list of matchers like 'severity=\"high\"', not {_kind(node)}")
            return None
        out: list[Matcher] = []
        for i, item in enumerate(items):
            item_path = f"{path}[{i}]" if isinstance(node, list) else path
            if not isinstance(item, str):
                self.problem(item_path, f"must be a matcher string, not {_kind(item)}")
                continue
            try:
                parsed = parse_matchers(item)
            except MatcherError as exc:
                self.problem(item_path, str(exc))
                continue
            if not parsed:
                self.problem(item_path, "empty matcher")
            out.extend(parsed)
        return tuple(out)

    def target(self, node: object, path: str, limits: Limits) -> TargetSpec | None:
        raw = self.mapping(node, path, ("kind", "namespace", "name", "names", "selector", "max_targets"))
        if raw is None:
            return None
        kind = self.opt(raw, "kind", f"{path}.kind", lambda v, p: self.enum(v, p, WorkloadKind))
        namespace = self.template(raw.get("namespace"), f"{path}.namespace", is_namespace_name, "namespace")
        chosen = [k for k in ("name", "names", "selector") if k in raw]
        if len(chosen) != 1:
            found = ", ".join(chosen) if chosen else "none"
            self.problem(path, f"exactly one of name, names or selector is required (found: {found})")
        name = self.opt(raw, "name", f"{path}.name", lambda v, p: self.template(v, p, is_object_name, "name"))
        names = self.opt(raw, "names", f"{path}.names", self.name_templates) or ()
        selector = self.opt(raw, "selector", f"{path}.selector", self.selector)
        max_targets = self.opt(raw, "max_targets", f"{path}.max_targets", self.positive_int)
        if max_targets is not None and max_targets > limits.max_targets_per_alert:
            self.problem(
                f"{path}.max_targets",
                f"{max_targets} exceeds limits.max_targets_per_alert ({limits.max_targets_per_alert})",
            )
        if namespace is None or len(chosen) != 1:
            return None
        return TargetSpec(
            kind=kind or WorkloadKind.DEPLOYMENT,
            namespace=namespace,
            name=name,
            names=names,
            selector=selector,
            max_targets=max_targets,
        )

    def name_templates(self, node: object, path: str) -> tuple[str, ...] | None:
        if not isinstance(node, list) or not node:
            self.problem(path, f"must be a non-empty list of names, not {_kind(node)}")
            return None
        out = []
        for i, item in enumerate(node):
            value = self.template(item, f"{path}[{i}]", is_object_name, "name")
            if value is not None:
                out.append(value)
        return tuple(out)

    def selector(self, node: object, path: str) -> str | None:
        text = self.string(node, path)
        if text is None:
            return None
        try:
            parse_template(text)
        except TemplateError as exc:
            self.problem(path, str(exc))
            return None
        return text

    def revision(self, node: object, path: str) -> RevisionSpec | None:
        raw = self.mapping(node, path, ("from_annotation",))
        if raw is None:
            return None
        return RevisionSpec(
            from_annotation=self.opt(raw, "from_annotation", f"{path}.from_annotation", self.string)
        )

    # -- scalars ---------------------------------------------------------------------------------

    def template(self, node: object, path: str, valid: Callable[[str], bool], what: str) -> str | None:
        """A template string; when it has no placeholders it must already be a valid Kubernetes name."""
        text = self.string(node, path)
        if text is None:
            return None
        try:
            template = parse_template(text)
        except TemplateError as exc:
            self.problem(path, str(exc))
            return None
        if not template.fields and not valid(text):
            self.problem(path, f"{text!r} is not a valid Kubernetes {what}")
            return None
        return text

    def mapping(
        self, node: object, path: str, keys: tuple[str, ...], *, optional: bool = False
    ) -> dict[str, object] | None:
        if node is None:
            if not optional:
                self.problem(path, "required")
            return None
        if not isinstance(node, dict):
            self.problem(path, f"must be a mapping, not {_kind(node)}")
            return None
        for key in node:
            if key not in keys:
                hint = difflib.get_close_matches(str(key), keys, n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.problem(path if path != "(top level)" else str(key), f"unknown key {key!r}{suffix}")
        return {str(k): v for k, v in node.items() if k in keys}

    def opt(
        self, raw: Mapping[str, object], key: str, path: str, read: Callable[[object, str], _T | None]
    ) -> _T | None:
        """Read `raw[key]` if present (explicit null counts as absent)."""
        if raw.get(key) is None:
            return None
        return read(raw[key], path)

    def string(self, node: object, path: str) -> str | None:
        if node is None:
            self.problem(path, "required")
            return None
        if not isinstance(node, str) or not node:
            self.problem(path, f"must be a non-empty string, not {_kind(node)}")
            return None
        return node

    def string_list(
        self, node: object, path: str, read: Callable[[object, str], str | None]
    ) -> tuple[str, ...] | None:
        if not isinstance(node, list):
            self.problem(path, f"must be a list, not {_kind(node)}")
            return None
        out = [v for i, item in enumerate(node) if (v := read(item, f"{path}[{i}]")) is not None]
        return tuple(out)

    def namespace_list(self, node: object, path: str) -> tuple[str, ...] | None:
        return self.string_list(node, path, self.namespace_name)

    def namespace_name(self, node: object, path: str) -> str | None:
        text = self.string(node, path)
        if text is not None and not is_namespace_name(text):
            self.problem(path, f"{text!r} is not a valid namespace name")
            return None
        return text

    def object_name(self, node: object, path: str) -> str | None:
        text = self.string(node, path)
        if text is not None and not is_object_name(text):
            self.problem(path, f"{text!r} is not a valid Kubernetes object name")
            return None
        return text

    def url(self, node: object, path: str) -> str | None:
        text = self.string(node, path)
        if text is not None and not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", text):
            self.problem(path, f"{text!r} is not an http(s) URL")
            return None
        return text

    def file(self, node: object, path: str) -> Path | None:
        text = self.string(node, path)
        if text is None:
            return None
        return self.base / text if not Path(text).is_absolute() else Path(text)

    def listen(self, node: object, path: str) -> tuple[str, int] | None:
        text = self.string(node, path)
        if text is None:
            return None
        host, sep, port = text.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            self.problem(path, f"must be HOST:PORT like 0.0.0.0:8080, not {text!r}")
            return None
        return host or ServerConfig().listen_host, int(port)

    def boolean(self, node: object, path: str) -> bool | None:
        if not isinstance(node, bool):
            self.problem(path, f"must be true or false, not {_kind(node)}")
            return None
        return node

    def positive_int(self, node: object, path: str) -> int | None:
        value = self.non_negative_int(node, path)
        if value == 0:
            self.problem(path, "must be at least 1")
            return None
        return value

    def non_negative_int(self, node: object, path: str) -> int | None:
        if isinstance(node, bool) or not isinstance(node, int) or node < 0:
            self.problem(path, f"must be a non-negative integer, not {_kind(node)}")
            return None
        return node

    def duration(self, node: object, path: str) -> timedelta | None:
        if isinstance(node, int) and not isinstance(node, bool) and node == 0:
            return timedelta(0)
        if not isinstance(node, str):
            self.problem(path, f"must be a duration like 30s, 5m or 1h30m, not {_kind(node)}")
            return None
        try:
            return parse_duration(node)
        except ValueError as exc:
            self.problem(path, str(exc))
            return None

    def positive_duration(self, node: object, path: str) -> timedelta | None:
        value = self.duration(node, path)
        if value is not None and value <= timedelta(0):
            self.problem(path, "must be longer than 0")
            return None
        return value

    def enum(self, node: object, path: str, enum: type[_E]) -> _E | None:
        choices = ", ".join(e.value for e in enum)
        if node is None:
            self.problem(path, f"required (one of {choices})")
            return None
        try:
            if isinstance(node, str):
                return enum(node)
        except ValueError:
            pass
        self.problem(path, f"must be one of {choices}, not {node!r}")
        return None


def _kind(node: object) -> str:
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
