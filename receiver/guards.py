"""The guards: pure functions from (alert, route, workload facts, guard state, config, now) to a Decision.

Order matters only for which reason is reported when several guards would stop a rollback: the cheapest,
most final reasons come first, the shared rate limits last (they are the ones a replica races on, and the
actuator re-checks them atomically when it reserves budget). Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from receiver.alerts import Alert, AlertStatus
from receiver.annotations import ENABLED, LAST_ALERT, PAUSED, ROLLED_BACK_AT, ROLLED_BACK_TO_TEMPLATE
from receiver.config import SYSTEM_NAMESPACES, Action, Config, GitOpsPolicy, Mode, Route
from receiver.decisions import Decision, GuardState, Reason, Verdict, claim_key
from receiver.routing import TargetError, render_namespace
from receiver.workload import Revision, WorkloadFacts, WorkloadKind, WorkloadRef

# Marks of a GitOps reconciler that would re-apply the bad version after our undo.
ARGOCD_ANNOTATIONS = ("argocd.argoproj.io/tracking-id", "argocd.argoproj.io/instance")
ARGOCD_LABELS = ("argocd.argoproj.io/instance",)
FLUX_LABELS = ("kustomize.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/name")

# A rollout that started this long after the alert may still be its cause: controller timestamps and the
# Prometheus clock are not the same clock.
ATTRIBUTION_SKEW = timedelta(minutes=1)
# A reservation that never led to a patch (its replica died) is taken over after this long.
CLAIM_STALE_AFTER = timedelta(minutes=2)
# How soon a rollback held back by `max_concurrent` is tried again.
CONCURRENCY_RETRY = timedelta(seconds=15)

KUBECTL_PAUSED = (
    "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again"
)


def preview(
    alert: Alert,
    route: Route,
    config: Config,
    now: datetime,
    *,
    truncated_alerts: int = 0,
    namespace: str | None = None,
) -> Decision:
    """What can be decided without the cluster (used by `routes test`): action, mode, pause, scope, delay.

    `namespace` is the rendered target namespace; by default it is rendered from the route's template.
    A ROLLBACK/DRY_RUN here means "eligible so far": the workload guards and budgets still apply.
    """
    if namespace is None and route.target is not None:
        try:
            namespace = render_namespace(alert, route.target)
        except TargetError as error:
            early = _alert_guards(alert, route, config, now, truncated_alerts, None, target=None)
            return early or refuse_targets(alert, route, now, error.reason, error.message)
    verdict = _alert_guards(alert, route, config, now, truncated_alerts, namespace, target=None)
    if verdict is not None:
        return verdict
    waiting = _confirmation(alert, route, now, target=None)
    if waiting is not None:
        return waiting
    return _go(
        alert,
        route,
        config,
        now,
        target=None,
        to_revision=None,
        eligible="passes the offline guards; workload, change and budget checks run against the cluster",
    )


def decide(
    alert: Alert,
    route: Route,
    facts: WorkloadFacts,
    state: GuardState,
    config: Config,
    now: datetime,
    *,
    truncated_alerts: int = 0,
    holder: str = "",
) -> Decision:
    """Every guard of the design, on one workload. `holder` is this replica's identity (for claims)."""
    ref = facts.ref
    early = _alert_guards(alert, route, config, now, truncated_alerts, ref.namespace, target=ref)
    if early is not None:
        return early

    def stop(reason: Reason, message: str, verdict: Verdict = Verdict.SKIP) -> Decision:
        return _decision(verdict, reason, message, alert, route, ref, now)

    annotations = facts.annotations
    if annotations.get(LAST_ALERT) == alert.episode_key:
        return stop(Reason.ALREADY_HANDLED, f"{ref} was already rolled back for this alert episode")
    enabled = annotations.get(ENABLED, "").strip().lower()
    if enabled == "false":
        return stop(Reason.WORKLOAD_OPTED_OUT, f"{ref} opted out ({ENABLED}=false)")
    if route.guards.require_opt_in and enabled != "true":
        return stop(Reason.WORKLOAD_NOT_OPTED_IN, f"{ref} has not opted in ({ENABLED}=true is required)")
    if annotations.get(PAUSED, "").strip().lower() == "true":
        return stop(Reason.WORKLOAD_PAUSED, f"{ref} is paused for rollbacks ({PAUSED}=true)")
    gitops = gitops_owner(facts.labels, annotations)
    if gitops is not None and route.guards.gitops is GitOpsPolicy.NOTIFY:
        return stop(
            Reason.GITOPS_MANAGED,
            f"{ref} is managed by {gitops}, which would re-apply the bad version; "
            "notify only (set gitops: allow to roll back anyway)",
            Verdict.NOTIFY,
        )

    if facts.paused and ref.kind is WorkloadKind.DEPLOYMENT:
        return stop(Reason.DEPLOYMENT_PAUSED, KUBECTL_PAUSED)
    requested = requested_revision(alert, route)
    if isinstance(requested, str):
        return stop(Reason.INVALID_REVISION, requested)
    target_revision, refusal = rollback_target(facts, requested)
    if refusal is not None:
        return stop(*refusal)
    assert target_revision is not None
    current = current_revision(facts)
    if current is not None and current.template_hash == target_revision.template_hash:
        return stop(
            Reason.ALREADY_AT_TARGET,
            f"skipped rollback (current template already matches revision {requested})",
        )

    rolled_back_at = parse_time(annotations.get(ROLLED_BACK_AT))
    restored = annotations.get(ROLLED_BACK_TO_TEMPLATE)
    if restored and current is not None and current.template_hash == restored:
        return stop(
            Reason.OWN_ROLLBACK,
            f"the live revision {current.number} of {ref} was restored by our rollback at "
            f"{annotations.get(ROLLED_BACK_AT, 'an unrecorded time')}; never roll back a rollback",
        )
    cooldown = route.guards.cooldown
    if rolled_back_at is not None and now - rolled_back_at < cooldown:
        return stop(
            Reason.COOLDOWN,
            f"{ref} was rolled back at {rolled_back_at.isoformat()}; "
            f"cooldown of {_span(cooldown)} still running",
        )

    since = facts.current_revision_since
    if since is None:
        return stop(Reason.CHANGE_UNKNOWN, f"cannot tell when the live revision of {ref} went live")
    window = route.guards.change_window
    if not alert.starts_at - window <= since <= alert.starts_at + ATTRIBUTION_SKEW:
        return stop(
            Reason.NO_RECENT_CHANGE,
            f"the live revision of {ref} went live at {since.isoformat()}, not within {_span(window)} "
            f"before the alert started at {alert.starts_at.isoformat()}",
        )

    waiting = _confirmation(alert, route, now, target=ref)
    if waiting is not None:
        return waiting

    key = claim_key(alert.episode_key, ref)
    existing = state.claim(key)
    if existing is not None:
        if existing.patched_at is not None:
            return stop(Reason.ALREADY_HANDLED, f"{ref} was already rolled back for this alert episode")
        if existing.holder != holder and now - existing.claimed_at < CLAIM_STALE_AFTER:
            return stop(Reason.IN_PROGRESS, f"replica {existing.holder} is rolling back {ref} for this alert")

    limits = config.limits
    if state.breaker.open:
        return stop(
            Reason.BREAKER_OPEN,
            f"circuit breaker is open ({state.breaker.reason}); "
            "reset it with `rollback-receiver breaker reset`",
        )
    others = GuardState(claims=tuple(c for c in state.claims if c.key != key))
    ns_budget = limits.per_namespace
    if others.used(now, ns_budget.per, ref.namespace) >= ns_budget.max:
        return stop(
            Reason.BUDGET_NAMESPACE,
            f"namespace {ref.namespace} already had {ns_budget.max} rollbacks "
            f"in the last {_span(ns_budget.per)}",
        )
    global_budget = limits.global_
    if others.used(now, global_budget.per) >= global_budget.max:
        return stop(
            Reason.BUDGET_GLOBAL,
            f"already {global_budget.max} rollbacks in the last {_span(global_budget.per)} "
            "across all namespaces",
        )
    if others.inflight >= limits.max_concurrent:
        return _decision(
            Verdict.WAIT,
            Reason.MAX_CONCURRENT,
            f"{limits.max_concurrent} rollbacks are already in progress; trying again shortly",
            alert,
            route,
            ref,
            now,
            not_before=now + CONCURRENCY_RETRY,
        )
    return _go(
        alert,
        route,
        config,
        now,
        target=ref,
        to_revision=target_revision.number,
        eligible=f"roll back {ref} from revision {facts.current_revision} "
        f"to revision {target_revision.number}",
    )


def manual_undo_refusal(facts: WorkloadFacts, config: Config, *, allow_gitops: bool = False) -> str | None:
    """Why a hand-run or CI `rollback-receiver undo` must not touch this workload, or None.

    The workload-level guards an automatic rollback obeys too: scope, opt-out, pause annotation, the global
    pause and GitOps ownership. Alert guards (attribution, cooldown, budgets) do not apply to a human.
    """
    ref = facts.ref
    denied = namespace_denied(ref.namespace, config)
    if denied is not None:
        return denied
    if config.paused:
        return f"rollbacks are paused globally (paused: true in {config.source})"
    if facts.annotations.get(ENABLED, "").strip().lower() == "false":
        return f"{ref} opted out ({ENABLED}=false)"
    if facts.annotations.get(PAUSED, "").strip().lower() == "true":
        return f"{ref} is paused for rollbacks ({PAUSED}=true)"
    gitops = gitops_owner(facts.labels, facts.annotations)
    if gitops is not None and not allow_gitops:
        return (
            f"{ref} is managed by {gitops}, which would re-apply the bad version (--allow-gitops to override)"
        )
    return None


def refuse_targets(
    alert: Alert,
    route: Route,
    now: datetime,
    reason: Reason | str,
    message: str,
    target: WorkloadRef | None = None,
) -> Decision:
    """A decision for an alert whose target could not be resolved to workloads (nothing is done)."""
    return _decision(Verdict.SKIP, reason, message, alert, route, target, now)


def alert_level(
    alert: Alert, route: Route, config: Config, now: datetime, *, truncated_alerts: int = 0
) -> Decision | None:
    """The guards that need neither a target nor the cluster; None when they all let the alert through."""
    return _alert_guards(alert, route, config, now, truncated_alerts, namespace=None, target=None)


def namespace_denied(namespace: str, config: Config) -> str | None:
    """Why `namespace` is out of scope, or None when it is in scope."""
    if namespace in SYSTEM_NAMESPACES:
        return f"namespace {namespace} is a system namespace and always denied"
    if config.own_namespace and namespace == config.own_namespace:
        return f"namespace {namespace} is the receiver's own namespace and always denied"
    if namespace in config.namespaces.deny:
        return f"namespace {namespace} is in the deny list"
    if config.namespaces.allow and namespace not in config.namespaces.allow:
        return f"namespace {namespace} is not in the allow list"
    return None


def gitops_owner(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str | None:
    """'Argo CD' or 'Flux' when a GitOps reconciler owns the workload, else None."""
    if any(key in annotations for key in ARGOCD_ANNOTATIONS) or any(key in labels for key in ARGOCD_LABELS):
        return "Argo CD"
    if any(key in labels for key in FLUX_LABELS):
        return "Flux"
    return None


def requested_revision(alert: Alert, route: Route) -> int | str:
    """The revision the route asks for (0 = previous), or a sentence saying why the request is invalid."""
    source = route.revision.from_annotation
    if source is None:
        return 0
    raw = alert.annotations.get(source, alert.labels.get(source))
    if raw is None or raw.strip() == "":
        return 0
    text = raw.strip().removeprefix("--to-revision=")
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:  # ASCII only, as Go's ParseInt
        return f"{source}={raw!r} is not a positive revision number"
    return int(text)


def rollback_target(
    facts: WorkloadFacts, requested: int
) -> tuple[Revision | None, tuple[Reason, str] | None]:
    """kubectl's target choice: the second-highest revision, or exactly `requested`; else its refusal."""
    ordered = sorted(facts.revisions, key=lambda revision: revision.number)
    if requested > 0:
        for revision in ordered:
            if revision.number == requested:
                return revision, None
        return None, (Reason.UNKNOWN_REVISION, f"unable to find specified revision {requested} in history")
    if len(ordered) < 2:
        if facts.ref.kind is WorkloadKind.DEPLOYMENT:
            message = f'no rollout history found for deployment "{facts.ref.name}"'
        else:
            message = "no last revision to roll back to"
        return None, (Reason.NO_HISTORY, message)
    return ordered[-2], None


def current_revision(facts: WorkloadFacts) -> Revision | None:
    return next((r for r in facts.revisions if r.number == facts.current_revision), None)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _alert_guards(
    alert: Alert,
    route: Route,
    config: Config,
    now: datetime,
    truncated_alerts: int,
    namespace: str | None,
    target: WorkloadRef | None,
) -> Decision | None:
    def stop(reason: Reason, message: str, verdict: Verdict = Verdict.SKIP) -> Decision:
        return _decision(verdict, reason, message, alert, route, target, now)

    if alert.status is AlertStatus.RESOLVED:
        return stop(Reason.ALERT_RESOLVED, "the alert is resolved; resolved alerts never trigger a rollback")
    if route.action is Action.IGNORE:
        return stop(Reason.ROUTE_IGNORE, f"route {route.name} ignores this alert")
    if route.action is Action.NOTIFY:
        return stop(Reason.ROUTE_NOTIFY, f"route {route.name} only notifies", Verdict.NOTIFY)
    if truncated_alerts > 0:
        return stop(
            Reason.PAYLOAD_TRUNCATED,
            f"Alertmanager truncated {truncated_alerts} alerts of this group; "
            "an incomplete payload never acts",
        )
    cluster = alert.labels.get("cluster")
    if cluster and config.cluster_name and cluster != config.cluster_name:
        return stop(
            Reason.OTHER_CLUSTER, f"the alert is for cluster {cluster}, this is {config.cluster_name}"
        )
    if route.target is None:
        return stop(Reason.TARGET_UNRESOLVED, f"route {route.name} has no target")
    if namespace is not None:
        denied = namespace_denied(namespace, config)
        if denied is not None:
            return stop(Reason.NAMESPACE_DENIED, denied)
    if config.paused:
        return stop(Reason.PAUSED, "the receiver is paused (paused: true); nothing is written")
    return None


def _confirmation(alert: Alert, route: Route, now: datetime, target: WorkloadRef | None) -> Decision | None:
    confirm_for = route.guards.confirm_for
    due = alert.starts_at + confirm_for
    if confirm_for <= timedelta(0) or now >= due:
        return None
    return _decision(
        Verdict.WAIT,
        Reason.CONFIRM_PENDING,
        f"acting only if the alert is still firing at {due.isoformat()} "
        f"({_span(confirm_for)} after it started)",
        alert,
        route,
        target,
        now,
        not_before=due,
    )


def _go(
    alert: Alert,
    route: Route,
    config: Config,
    now: datetime,
    *,
    target: WorkloadRef | None,
    to_revision: int | None,
    eligible: str,
) -> Decision:
    mode = route.mode or config.mode
    if mode is Mode.DRY_RUN:
        return _decision(
            Verdict.DRY_RUN,
            Reason.DRY_RUN,
            f"dry-run: would {eligible}",
            alert,
            route,
            target,
            now,
            to_revision=to_revision,
        )
    return _decision(
        Verdict.ROLLBACK, Reason.ELIGIBLE, eligible, alert, route, target, now, to_revision=to_revision
    )


def _decision(
    verdict: Verdict,
    reason: Reason | str,
    message: str,
    alert: Alert,
    route: Route,
    target: WorkloadRef | None,
    now: datetime,
    *,
    to_revision: int | None = None,
    not_before: datetime | None = None,
) -> Decision:
    return Decision(
        verdict=verdict,
        reason=str(reason),
        message=message,
        alert_key=alert.episode_key,
        alert_name=alert.name,
        route=route.name,
        target=target,
        to_revision=to_revision,
        decided_at=now,
        not_before=not_before,
    )


def _span(delta: timedelta) -> str:
    """Durations the way the config spells them: 1h30m, 5m, 30s."""
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
