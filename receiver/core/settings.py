"""The settings every part of the receiver reads: frozen dataclasses, with their defaults.

This is the runtime contract. The YAML format that fills it, with its validation and the JSON schema the
chart ships, is defined once in `receiver.config.format`; these classes never parse anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from receiver.core.matching import Matcher
from receiver.core.time_intervals import TimeInterval
from receiver.core.workload import WorkloadKind

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


class HelmPolicy(StrEnum):
    ROLLBACK = "rollback"  # undo, and name the `helm rollback` command (Helm does not revert live edits)
    NOTIFY = "notify"


class FreezePolicy(StrEnum):
    NOTIFY = "notify"  # a rollback blocked by a change freeze is only reported
    WAIT = "wait"  # ... or waits (a pending confirmation) until the freeze ends


class RevisionChoice(StrEnum):
    PREVIOUS = "previous"  # kubectl's: the second-highest revision
    # the newest revision we never rolled back FROM that ran `stable_for` before the next one replaced it
    LAST_KNOWN_GOOD = "last-known-good"


class ControllerPolicy(StrEnum):
    SKIP = "skip"  # a workload controlled by another object (ownerReference controller: true) is left alone
    ALLOW = "allow"


class ProgressingPolicy(StrEnum):
    """What a rollback does to an Argo Rollout whose canary or blue-green update is still in progress."""

    ABORT = "abort"  # `kubectl argo rollouts abort`: back to the stable ReplicaSet, the spec untouched
    UNDO = "undo"  # `kubectl argo rollouts undo`: the previous template, which is usually the stable one
    SKIP = "skip"  # leave it to Argo's own analysis and to a human


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
    queue_bytes: int = 64 << 20  # what the queued alerts may hold (labels, annotations); 503 beyond
    dedupe_entries: int = 100_000  # bound of the in-memory seen-set (a fast path; the cluster is the truth)
    dedupe_ttl: timedelta = timedelta(hours=6)
    workers: int = 4  # concurrent WorkItems; rollbacks themselves are capped by limits.max_concurrent
    shutdown_timeout: timedelta = timedelta(seconds=20)  # drain deadline; the chart's grace period is longer
    decision_log_entries: int = 1000  # recent decisions kept for GET /api/v1/decisions


@dataclass(frozen=True, slots=True)
class AlertmanagerAPI:
    """Where to reconcile from (level-triggered): Alertmanager's /api/v2/alerts."""

    urls: tuple[str, ...] = ()
    # Our receiver's name in Alertmanager's config: reconciliation recovers only alerts routed to it.
    # None: the name the webhook payloads carry (nothing is recovered before the first one arrives).
    receiver: str | None = None
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
    # After the rollout completes, the alert that caused the rollback must resolve within this long, else the
    # rollback `did_not_help` (0: no verification by the alert; a completed rollout is the success).
    alert_clears_within: timedelta = timedelta(minutes=10)
    did_not_help_counts: bool = True  # a rollback that did not help counts as a failure for the breaker
    confirm_for: timedelta = timedelta(0)  # act only if still firing after this long (0 = act now)
    gitops: GitOpsPolicy = GitOpsPolicy.NOTIFY
    helm: HelmPolicy = HelmPolicy.ROLLBACK
    controlled: ControllerPolicy = ControllerPolicy.SKIP
    on_progressing: ProgressingPolicy = ProgressingPolicy.ABORT  # Argo Rollouts with an update in progress
    require_opt_in: bool = False  # True => only workloads annotated opt-in are eligible
    # Change freezes, by names of `time_intervals` (Alertmanager's syntax): no automatic rollback inside a
    # freeze interval, or outside every active interval when there are some.
    freeze_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    during_freeze: FreezePolicy = FreezePolicy.NOTIFY


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


class NoticeKind(StrEnum):
    """What a notification tells: the outcomes a human may want to hear about."""

    TRIGGERED = "triggered"  # a rollback was performed (the undo patch was accepted)
    WAITING = "waiting"  # waiting for confirmation (the route's confirm_for)
    RECOVERED = "recovered"  # the rollout completed and the alert resolved in time
    DID_NOT_HELP = "did_not_help"  # the rollout completed and the alert kept firing
    FAILED = "failed"  # the rollout failed, timed out or could not be followed
    SKIPPED = "skipped"  # not rolled back, for a reason a human must act on (breaker open, GitOps-owned, ...)


class ChannelType(StrEnum):
    ALERTMANAGER = "alertmanager"  # POST /api/v2/alerts: the user's own Alertmanager routing does the rest
    WEBHOOK = "webhook"  # our versioned JSON body, optionally HMAC-signed
    SLACK = "slack"  # a Slack-compatible incoming webhook (Block Kit, with a text fallback)


@dataclass(frozen=True, slots=True)
class NotifyPolicy:
    """Which channels hear about which outcomes (per route, else `notifications.default`)."""

    channels: tuple[str, ...] = ()
    outcomes: tuple[NoticeKind, ...] = tuple(NoticeKind)


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    type: ChannelType
    url: str | None = None  # webhook, slack (or url_file: a Slack URL is a secret)
    url_file: Path | None = None
    hmac_secret_file: Path | None = None  # webhook: sign the body
    # alertmanager: where to post (default: the top-level `alertmanager` API settings) and for how long
    # the posted alert stays firing (Alertmanager resolves it by itself then)
    alertmanager: AlertmanagerAPI | None = None
    hold: timedelta = timedelta(hours=1)
    label_prefix: str = "original_"  # alertmanager: the original alert's labels, renamed with this prefix


@dataclass(frozen=True, slots=True)
class NotificationsConfig:
    channels: tuple[Channel, ...] = ()
    default: NotifyPolicy = NotifyPolicy()
    attempts: int = 5  # per message and channel, the first included
    backoff: timedelta = timedelta(seconds=1)  # first wait between attempts; doubles, at most 1 minute
    timeout: timedelta = timedelta(seconds=10)  # per attempt
    queue_size: int = 1000  # messages waiting per channel; beyond it a message is dropped (and counted)

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)


@dataclass(frozen=True, slots=True)
class IncidentsConfig:
    """The incident records (one per rollback) kept in the cluster beside the guard state."""

    retain: int = 100  # most incidents kept (the oldest go first)
    max_bytes: int = 800 * 1024  # most bytes they may take in their ConfigMap (the API's limit is 1 MiB)
    external_url: str = ""  # how users reach us, for incident links: <external_url>/incidents/<id>
    public_pages: bool = False  # the HTML pages without credentials (the JSON API always needs them)


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
    """Which revision to roll back to: previous (kubectl's default), the last known good one, or one named
    by an annotation/label of the alert (which wins when the alert carries it)."""

    from_annotation: str | None = None  # e.g. 'rollback_to_revision'; its value must be an integer
    to: RevisionChoice = RevisionChoice.PREVIOUS
    stable_for: timedelta = timedelta(hours=1)  # last-known-good: ran at least this long before the next


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
    priority: int = 0  # its position in the config: work for earlier routes is taken first
    notifications: NotifyPolicy = NotifyPolicy()  # already merged with `notifications.default`


@dataclass(frozen=True, slots=True)
class StateConfig:
    """Where HA-shared guard state lives (budgets, breaker, pending confirmations): one ConfigMap."""

    namespace: str = "default"  # the chart sets it to the release namespace
    name: str = "rollback-receiver-state"
    # Bounds of the pending confirmations kept in the ConfigMap (the API refuses objects over 1 MiB); a
    # confirmation beyond them is refused with reason `pending_full` and Alertmanager's next repeat retries.
    max_pending: int = 1000
    max_pending_bytes: int = 512 * 1024
    # How long another replica's reservation may go without a patch before a live replica takes it over.
    takeover_after: timedelta = timedelta(minutes=2)


class HealthWorkloads(StrEnum):
    ANNOTATED = "annotated"  # only Deployments annotated rollback-receiver.io/rollout-health=true
    ALL = "all"  # every Deployment in scope; rollout-health=false opts one out


@dataclass(frozen=True, slots=True)
class RolloutHealthConfig:
    """The native rollout-health source: the receiver watches Deployments (their ReplicaSets and the new
    ReplicaSet's pods) and turns a failing rollout into a synthetic alert for the same routes and guards."""

    enabled: bool = False
    workloads: HealthWorkloads = HealthWorkloads.ANNOTATED
    severity: str = "high"  # the synthetic alerts' `severity` label (routes match on it)
    crash_loop_restarts: int = 3  # a container of the new ReplicaSet restarted this often: crash-looping
    crash_loop_backoff: bool = True  # a container in CrashLoopBackOff counts whatever its restart count
    not_ready_for: timedelta = timedelta(0)  # a new pod not ready this long (0: off), previous RS healthy
    # Serve the decisions' reads (GET + LIST) from the watch: only the PATCH is left on the decision path.
    cache: bool = True
    cache_max_objects: int = 200_000  # Deployments + ReplicaSets held; beyond it reads go to the API


@dataclass(frozen=True, slots=True)
class OwnershipConfig:
    """How this cluster's managers mark what they own (see `core.ownership`)."""

    # Argo CD with label tracking (its default through 2.x) marks resources with this label; Helm sets the
    # same `app.kubernetes.io/instance`, so it only means Argo CD when the cluster's Argo CD is set up so.
    argocd_tracking_label: str | None = None


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
    ownership: OwnershipConfig = OwnershipConfig()
    notifications: NotificationsConfig = NotificationsConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    time_intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    rollout_health: RolloutHealthConfig = RolloutHealthConfig()
    routes: tuple[Route, ...] = field(default_factory=tuple)

    def route(self, name: str | None) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)


_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# The same rules as JSON-schema patterns (anchored), for the chart's values schema.
NAMESPACE_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
OBJECT_NAME_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def is_namespace_name(text: str) -> bool:
    """A DNS-1123 label (what a namespace name must be)."""
    return len(text) <= 63 and _DNS_LABEL_RE.fullmatch(text) is not None


def is_object_name(text: str) -> bool:
    """A DNS-1123 subdomain (what a Deployment/StatefulSet/DaemonSet name must be)."""
    return len(text) <= 253 and _DNS_SUBDOMAIN_RE.fullmatch(text) is not None
