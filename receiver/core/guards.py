"""The guards: pure functions from (alert, route, workload facts, guard state, config, now) to a Decision.

Order matters only for which reason is reported when several guards would stop a rollback: the cheapest,
most final reasons come first, the shared rate limits last (they are the ones a replica races on, and the
actuator re-checks them atomically when it reserves budget). Nothing here does I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from receiver.core import refusals
from receiver.core.alerts import Alert, AlertStatus
from receiver.core.annotations import (
    ENABLED,
    LAST_ALERT,
    PAUSED,
    ROLLED_BACK_AT,
    ROLLED_BACK_FROM_TEMPLATE,
    ROLLED_BACK_TO_TEMPLATE,
)
from receiver.core.decisions import Decision, Reason, Remedy, Source, Verdict
from receiver.core.durations import format_duration
from receiver.core.goparse import parse_int
from receiver.core.ledger import GuardState, Verification, claim_key
from receiver.core.ownership import Manager, Ownership, ownership
from receiver.core.routing import TargetError, render_namespace
from receiver.core.settings import (
    SYSTEM_NAMESPACES,
    Action,
    Config,
    ControllerPolicy,
    FreezePolicy,
    GitOpsPolicy,
    HelmPolicy,
    Mode,
    ProgressingPolicy,
    RevisionChoice,
    Route,
)
from receiver.core.time_intervals import any_contains
from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.core.workload import Revision, WorkloadFacts, WorkloadKind, WorkloadRef

# A rollout that started this long after the alert may still be its cause: controller timestamps and the
# Prometheus clock are not the same clock.
ATTRIBUTION_SKEW = timedelta(minutes=1)
# How soon a rollback held back by `max_concurrent` is tried again.
CONCURRENCY_RETRY = timedelta(seconds=15)


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

    resolved_at = state.resolved_at(alert.episode_key)
    if resolved_at is not None:
        return stop(
            Reason.ALERT_RESOLVED,
            f"the alert resolved at {resolved_at.isoformat()}; a resolve wins over any firing copy of it",
        )
    annotations = facts.annotations
    ours = state.claim(claim_key(alert.episode_key, ref))
    if ours is not None and ours.verification is Verification.DID_NOT_HELP:
        return stop(
            Reason.DID_NOT_HELP,
            f"our rollback of {ref} for this alert episode did not help (still firing "
            f"{format_duration(ours.clears_within or timedelta(0))} after the rollout); never again for it",
        )
    if annotations.get(LAST_ALERT) == alert.episode_key:
        return stop(Reason.ALREADY_HANDLED, f"{ref} was already rolled back for this alert episode")
    enabled = annotations.get(ENABLED, "").strip().lower()
    if enabled == "false":
        return stop(Reason.WORKLOAD_OPTED_OUT, f"{ref} opted out ({ENABLED}=false)")
    if route.guards.require_opt_in and enabled != "true":
        return stop(Reason.WORKLOAD_NOT_OPTED_IN, f"{ref} has not opted in ({ENABLED}=true is required)")
    if annotations.get(PAUSED, "").strip().lower() == "true":
        return stop(Reason.WORKLOAD_PAUSED, f"{ref} is paused for rollbacks ({PAUSED}=true)")
    owner = owner_of(facts, config)
    held_back = _ownership_guard(owner, route, ref)
    if held_back is not None:
        return stop(*held_back)

    if facts.paused and ref.kind is WorkloadKind.DEPLOYMENT:
        return stop(Reason.DEPLOYMENT_PAUSED, refusals.PAUSED_DEPLOYMENT)
    remedy, requested = Remedy.UNDO, 0
    progressing = _progressing_guard(facts, route)
    if isinstance(progressing, tuple):
        return stop(*progressing)
    if progressing is not None:
        remedy, target_revision = Remedy.ABORT, progressing
    else:
        asked = requested_revision(alert, route)
        if isinstance(asked, str):
            return stop(Reason.INVALID_REVISION, asked)
        requested = asked
        if requested == 0 and route.revision.to is RevisionChoice.LAST_KNOWN_GOOD:
            chosen, refusal = last_known_good(facts, route.revision.stable_for)
        else:
            chosen, refusal = rollback_target(facts, requested)
        if refusal is not None:
            return stop(*refusal)
        assert chosen is not None
        target_revision = chosen
    current = current_revision(facts)
    if (
        remedy is Remedy.UNDO
        and current is not None
        and current.template_hash == target_revision.template_hash
    ):
        return stop(Reason.ALREADY_AT_TARGET, refusals.already_matches(requested))

    rolled_back_at = parse_rfc3339_or_none(annotations.get(ROLLED_BACK_AT))
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
            f"cooldown of {format_duration(cooldown)} still running",
        )

    since = facts.current_revision_since
    if since is None:
        return stop(Reason.CHANGE_UNKNOWN, f"cannot tell when the live revision of {ref} went live")
    window = route.guards.change_window
    if not alert.starts_at - window <= since <= alert.starts_at + ATTRIBUTION_SKEW:
        return stop(
            Reason.NO_RECENT_CHANGE,
            f"the live revision of {ref} went live at {since.isoformat()}, not within "
            f"{format_duration(window)} before the alert started at {alert.starts_at.isoformat()}",
        )

    waiting = _confirmation(alert, route, now, target=ref)
    if waiting is not None:
        return waiting

    key = claim_key(alert.episode_key, ref)
    existing = state.claim(key)
    if existing is not None:
        if existing.patched_at is not None:
            return stop(Reason.ALREADY_HANDLED, f"{ref} was already rolled back for this alert episode")
        if existing.holder != holder and now - existing.claimed_at < config.state.takeover_after:
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
            f"in the last {format_duration(ns_budget.per)}",
        )
    global_budget = limits.global_
    if others.used(now, global_budget.per) >= global_budget.max:
        return stop(
            Reason.BUDGET_GLOBAL,
            f"already {global_budget.max} rollbacks in the last {format_duration(global_budget.per)} "
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
    eligible = f"roll back {ref} from revision {facts.current_revision} to revision {target_revision.number}"
    if remedy is Remedy.ABORT:
        eligible = (
            f"abort the update of {ref} to revision {facts.current_revision}: back to its stable revision "
            f"{target_revision.number} (on_progressing: abort; the spec keeps revision "
            f"{facts.current_revision} until it is undone or replaced)"
        )
    elif current is not None and current.template_hash in rolled_back_from(facts):
        eligible += "; the live template is one we rolled back from before, deployed again"
    if owner is not None and owner.manager is Manager.HELM:
        eligible += (
            f"; {owner.described} still records the bad version as deployed: "
            f"run `{owner.helm_rollback}` so its next upgrade does not re-apply it"
        )
    return _go(
        alert,
        route,
        config,
        now,
        target=ref,
        to_revision=target_revision.number,
        eligible=eligible,
        remedy=remedy,
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
    owner = owner_of(facts, config)
    if owner is not None and owner.manager is Manager.ROLLOUT:
        return (
            f"{ref} is run by {owner.described}; it is never undone directly: undo the Rollout instead "
            f"(rollback-receiver undo {owner.name.partition(',')[0]} -n {ref.namespace})"
        )
    if owner is not None and owner.manager is not Manager.HELM and not allow_gitops:
        return (
            f"{ref} is managed by {owner.described}, which must do the rollback (--allow-gitops to override)"
        )
    return None


def refuse_targets(
    alert: Alert,
    route: Route,
    now: datetime,
    reason: Reason,
    message: str,
    target: WorkloadRef | None = None,
    *,
    source: Source = Source.WEBHOOK,
    transient: bool = False,
) -> Decision:
    """A decision for an alert whose target could not be resolved to workloads (nothing is done)."""
    return Decision(
        verdict=Verdict.SKIP,
        reason=reason,
        message=message,
        alert_key=alert.episode_key,
        alert_name=alert.name,
        route=route.name,
        target=target,
        decided_at=now,
        source=source,
        transient=transient,
    )


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


def owner_of(facts: WorkloadFacts, config: Config) -> Ownership | None:
    return ownership(
        facts.labels,
        facts.annotations,
        facts.owners,
        argocd_label=config.ownership.argocd_tracking_label,
        referenced_by=facts.referenced_by,
    )


def _ownership_guard(
    owner: Ownership | None, route: Route, ref: WorkloadRef
) -> tuple[Reason, str, Verdict] | None:
    """Whether the workload's manager holds the rollback back, per the route's policy for that manager."""
    if owner is None:
        return None
    if owner.manager is Manager.ROLLOUT:  # not a policy: Argo owns this Deployment's rollouts, always
        return (
            Reason.OWNED_BY_ROLLOUT,
            f"{ref} is run by {owner.described}; it is never undone directly: route the alert to the "
            "Rollout (target kind: Rollout), whose undo restores the Deployment's template as Argo expects",
            Verdict.SKIP,
        )
    policy = route.guards
    if owner.manager is Manager.CONTROLLER and policy.controlled is ControllerPolicy.SKIP:
        return (
            Reason.OWNED_BY_CONTROLLER,
            f"{ref} is controlled by {owner.name}; it is never undone behind its controller's back "
            "(controlled: allow to roll back anyway)",
            Verdict.SKIP,
        )
    if owner.manager in (Manager.ARGOCD, Manager.FLUX) and policy.gitops is GitOpsPolicy.NOTIFY:
        reason = Reason.ARGOCD_MANAGED if owner.manager is Manager.ARGOCD else Reason.FLUX_MANAGED
        return (
            reason,
            f"{ref} is managed by {owner.described}, which would re-apply the bad version; "
            "revert it in Git (notify only; gitops: allow to roll back anyway)",
            Verdict.NOTIFY,
        )
    if owner.manager is Manager.HELM and policy.helm is HelmPolicy.NOTIFY:
        return (
            Reason.HELM_MANAGED,
            f"{ref} belongs to {owner.described}; notify only (helm: notify): roll it back with "
            f"`{owner.helm_rollback}`",
            Verdict.NOTIFY,
        )
    return None


def _progressing_guard(facts: WorkloadFacts, route: Route) -> Revision | tuple[Reason, str] | None:
    """A Rollout with a canary or blue-green update in progress, per the route's `on_progressing`.

    None: undo as usual (no update in progress, not a Rollout, or `on_progressing: undo`). A revision: abort,
    back to that stable revision. A (reason, message) pair: skip.
    """
    rollout, ref = facts.rollout, facts.ref
    if rollout is None or not rollout.update_in_progress:
        return None
    policy = route.guards.on_progressing
    if policy is ProgressingPolicy.UNDO:
        return None
    state = f"{rollout.phase} - {rollout.message}" if rollout.message else rollout.phase
    updating = f"the update of {ref} to revision {facts.current_revision} is in progress ({state})"
    if policy is ProgressingPolicy.SKIP:
        return Reason.ROLLOUT_PROGRESSING, f"{updating}; on_progressing: skip leaves it to Argo Rollouts"
    if rollout.aborted:
        return (
            Reason.ALREADY_ABORTED,
            f"the update of {ref} to revision {facts.current_revision} is already aborted ({state}); "
            "its spec still names that revision: undo it (on_progressing: undo) to revert it for good",
        )
    stable = next((r for r in facts.revisions if r.template_hash == rollout.stable_hash), None)
    if stable is None:
        return Reason.NO_HISTORY, f"{updating}, but it has no stable revision to abort to"
    return stable


def requested_revision(alert: Alert, route: Route) -> int | str:
    """The revision the route asks for (0 = previous), or a sentence saying why the request is invalid."""
    source = route.revision.from_annotation
    if source is None:
        return 0
    raw = alert.annotations.get(source, alert.labels.get(source))
    if raw is None or raw.strip() == "":
        return 0
    text = raw.strip().removeprefix("--to-revision=")
    try:
        revision = parse_int(text)  # kubectl reads revision numbers with Go's strconv.ParseInt
    except ValueError:
        revision = 0
    if revision <= 0:
        return f"{source}={raw[:80]!r} is not a positive revision number"
    return revision


def rollback_target(
    facts: WorkloadFacts, requested: int
) -> tuple[Revision | None, tuple[Reason, str] | None]:
    """kubectl's target choice: the second-highest revision, or exactly `requested`; else its refusal."""
    ordered = sorted(facts.revisions, key=lambda revision: revision.number)
    if requested > 0:
        for revision in ordered:
            if revision.number == requested:
                return revision, None
        return None, (Reason.UNKNOWN_REVISION, refusals.unknown_revision(requested))
    if len(ordered) < 2:
        return None, (Reason.NO_HISTORY, refusals.no_history(facts.ref.kind, facts.ref.name))
    return ordered[-2], None


def rolled_back_from(facts: WorkloadFacts) -> frozenset[str]:
    """Template hashes we rolled back FROM: named on the workload by our last rollback, and copied onto
    the restored ReplicaSets by the Deployment controller at each earlier one."""
    found = {facts.annotations.get(ROLLED_BACK_FROM_TEMPLATE, "")}
    found.update(r.annotations.get(ROLLED_BACK_FROM_TEMPLATE, "") for r in facts.revisions)
    return frozenset(found - {""})


def last_known_good(
    facts: WorkloadFacts, stable_for: timedelta
) -> tuple[Revision | None, tuple[Reason, str] | None]:
    """The newest revision but the live one that we never rolled back from and that ran at least
    `stable_for` before the next revision replaced it (revision objects' creation times)."""
    ordered = sorted(facts.revisions, key=lambda revision: revision.number)
    bad = rolled_back_from(facts)
    current = current_revision(facts)
    for index in range(len(ordered) - 1, -1, -1):
        revision = ordered[index]
        if revision.number == facts.current_revision or revision.template_hash in bad:
            continue
        if current is not None and revision.template_hash == current.template_hash:
            continue
        successor = ordered[index + 1] if index + 1 < len(ordered) else None
        if successor is not None and successor.created_at - revision.created_at < stable_for:
            continue
        return revision, None
    return None, (
        Reason.NO_KNOWN_GOOD,
        f"no revision of {facts.ref} that we never rolled back from ran for {format_duration(stable_for)}",
    )


def current_revision(facts: WorkloadFacts) -> Revision | None:
    return next((r for r in facts.revisions if r.number == facts.current_revision), None)


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
    return _freeze(alert, route, config, now, target)


# How far ahead the end of a change freeze is looked for (minute by minute); a longer one only notifies.
FREEZE_HORIZON = timedelta(days=14)


def frozen(route: Route, config: Config, at: datetime) -> str | None:
    """The change freeze that blocks automatic rollbacks on `route` at `at`, or None."""
    policy = route.guards
    for name in policy.freeze_time_intervals:
        if any_contains(config.time_intervals.get(name, ()), at):
            return f"during the change freeze {name!r}"
    active = policy.active_time_intervals
    if active and not any(any_contains(config.time_intervals.get(name, ()), at) for name in active):
        return f"outside the allowed times {', '.join(active)}"
    return None


def _freeze(
    alert: Alert, route: Route, config: Config, now: datetime, target: WorkloadRef | None
) -> Decision | None:
    why = frozen(route, config, now)
    if why is None:
        return None
    if route.guards.during_freeze is FreezePolicy.WAIT:
        moment = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while moment - now <= FREEZE_HORIZON:
            if frozen(route, config, moment) is None:
                return _decision(
                    Verdict.WAIT,
                    Reason.CHANGE_FREEZE,
                    f"no automatic rollback {why}; waiting until it ends at {moment.isoformat()}",
                    alert,
                    route,
                    target,
                    now,
                    not_before=moment,
                )
            moment += timedelta(minutes=1)
    message = f"no automatic rollback {why}: notify only (roll back by hand if it must happen now)"
    return _decision(Verdict.NOTIFY, Reason.CHANGE_FREEZE, message, alert, route, target, now)


def _confirmation(alert: Alert, route: Route, now: datetime, target: WorkloadRef | None) -> Decision | None:
    confirm_for = route.guards.confirm_for
    due = alert.starts_at + confirm_for
    if confirm_for <= timedelta(0) or now >= due:
        return None
    return _decision(
        Verdict.WAIT,
        Reason.CONFIRM_PENDING,
        f"acting only if the alert is still firing at {due.isoformat()} "
        f"({format_duration(confirm_for)} after it started)",
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
    remedy: Remedy = Remedy.UNDO,
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
            remedy=remedy,
        )
    return _decision(
        Verdict.ROLLBACK,
        Reason.ELIGIBLE,
        eligible,
        alert,
        route,
        target,
        now,
        to_revision=to_revision,
        remedy=remedy,
    )


def _decision(
    verdict: Verdict,
    reason: Reason,
    message: str,
    alert: Alert,
    route: Route,
    target: WorkloadRef | None,
    now: datetime,
    *,
    to_revision: int | None = None,
    not_before: datetime | None = None,
    remedy: Remedy = Remedy.UNDO,
) -> Decision:
    return Decision(
        verdict=verdict,
        reason=reason,
        message=message,
        alert_key=alert.episode_key,
        alert_name=alert.name,
        route=route.name,
        target=target,
        to_revision=to_revision,
        remedy=remedy,
        decided_at=now,
        not_before=not_before,
        alert_labels=alert.labels,
    )
