"""Every guard, table-driven: one case where it stops a rollback that would otherwise happen, one where it
lets the rollback through. The baseline (no overrides) is a rollback."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from receiver.core import guards
from receiver.core.alerts import Alert, AlertStatus
from receiver.core.decisions import Decision, Verdict
from receiver.core.ledger import Breaker, Claim, GuardState, Outcome, Tombstone, claim_key
from receiver.core.settings import (
    Action,
    Budget,
    Config,
    ControllerPolicy,
    FreezePolicy,
    GitOpsPolicy,
    HelmPolicy,
    Limits,
    Mode,
    NamespacePolicy,
    OwnershipConfig,
    RevisionSpec,
    Route,
    TargetSpec,
)
from receiver.core.time_intervals import parse_intervals
from receiver.core.workload import OwnerReference, Revision, WorkloadFacts, WorkloadKind, WorkloadRef

NOW = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
HELM_LABELS = {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "shop"}
HELM_RELEASE = {"meta.helm.sh/release-name": "shop", "meta.helm.sh/release-namespace": "shop"}
REF = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "ecommerce")
OTHER = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "cart")


def revision(number: int, created: datetime, template: str) -> Revision:
    return Revision(number, f"ecommerce-{template}", created, None, template, {})


@dataclasses.dataclass
class Case:
    alert: Alert
    route: Route
    facts: WorkloadFacts
    state: GuardState
    config: Config
    now: datetime = NOW
    truncated: int = 0


def baseline() -> Case:
    alert = Alert(
        status=AlertStatus.FIRING,
        labels={"alertname": "HighErrorRate", "namespace": "shop", "deployment": "ecommerce"},
        annotations={"rollback": "true"},
        starts_at=NOW - timedelta(minutes=2),
        ends_at=None,
        generator_url="",
        fingerprint="abc123",
    )
    route = Route(
        name="critical",
        matchers=(),
        action=Action.ROLLBACK,
        target=TargetSpec(WorkloadKind.DEPLOYMENT, "{{ labels.namespace }}", "{{ labels.deployment }}"),
    )
    facts = WorkloadFacts(
        ref=REF,
        uid="uid-1",
        resource_version="100",
        generation=2,
        labels={},
        annotations={},
        owners=(),
        paused=False,
        current_revision=2,
        current_revision_since=NOW - timedelta(minutes=10),
        revisions=(
            revision(1, NOW - timedelta(days=2), "aaa"),
            revision(2, NOW - timedelta(minutes=10), "bbb"),
        ),
    )
    return Case(alert, route, facts, GuardState(), Config(source=Path("test.yaml")))


def claim(ref: WorkloadRef, minutes_ago: float, *, key: str | None = None, done: bool = True) -> Claim:
    at = NOW - timedelta(minutes=minutes_ago)
    return Claim(
        key=key or claim_key(f"other@{minutes_ago}", ref),
        alert_key=f"other@{minutes_ago}",
        alert_name="Other",
        target=ref,
        claimed_at=at,
        holder="replica-b",
        patched_at=at if done else None,
        outcome=Outcome.SUCCEEDED if done else None,
    )


def alert_with(**changes: Any) -> Callable[[Case], None]:
    def apply(case: Case) -> None:
        case.alert = dataclasses.replace(case.alert, **changes)

    return apply


def route_guards(**changes: Any) -> Callable[[Case], None]:
    def apply(case: Case) -> None:
        case.route = dataclasses.replace(case.route, guards=dataclasses.replace(case.route.guards, **changes))

    return apply


def route_with(**changes: Any) -> Callable[[Case], None]:
    def apply(case: Case) -> None:
        case.route = dataclasses.replace(case.route, **changes)

    return apply


def facts_with(**changes: Any) -> Callable[[Case], None]:
    def apply(case: Case) -> None:
        case.facts = dataclasses.replace(case.facts, **changes)

    return apply


def config_with(**changes: Any) -> Callable[[Case], None]:
    def apply(case: Case) -> None:
        case.config = dataclasses.replace(case.config, **changes)

    return apply


def state_with(**changes: Any) -> Callable[[Case], None]:
    def apply(case: Case) -> None:
        case.state = dataclasses.replace(case.state, **changes)

    return apply


def annotations(values: dict[str, str]) -> Callable[[Case], None]:
    return facts_with(annotations=values)


def at(now: datetime) -> Callable[[Case], None]:
    def apply(case: Case) -> None:
        case.now = now

    return apply


def truncated(count: int) -> Callable[[Case], None]:
    def apply(case: Case) -> None:
        case.truncated = count

    return apply


def move_to(namespace: str) -> Callable[[Case], None]:
    def apply(case: Case) -> None:
        case.facts = dataclasses.replace(case.facts, ref=dataclasses.replace(REF, namespace=namespace))

    return apply


ROLLED_BACK_AT = "rollback-receiver.io/rolled-back-at"
TIGHT = Limits(per_namespace=Budget(1, timedelta(hours=1)), global_=Budget(2, timedelta(hours=1)))

# (id, changes, expected verdict, expected reason)
CASES: list[tuple[str, list[Callable[[Case], None]], Verdict, str]] = [
    ("baseline rolls back", [], Verdict.ROLLBACK, "eligible"),
    # the alert and the route
    ("resolved alert stops", [alert_with(status=AlertStatus.RESOLVED)], Verdict.SKIP, "alert_resolved"),
    ("ignore route stops", [route_with(action=Action.IGNORE)], Verdict.SKIP, "route_ignore"),
    ("notify route only notifies", [route_with(action=Action.NOTIFY)], Verdict.NOTIFY, "route_notify"),
    ("truncated payload stops", [truncated(1)], Verdict.SKIP, "payload_truncated"),
    ("untruncated payload passes", [truncated(0)], Verdict.ROLLBACK, "eligible"),
    (
        "alert for another cluster stops",
        [config_with(cluster_name="prod-eu1"), alert_with(labels={"alertname": "X", "cluster": "prod-us1"})],
        Verdict.SKIP,
        "other_cluster",
    ),
    (
        "alert for this cluster passes",
        [config_with(cluster_name="prod-eu1"), alert_with(labels={"alertname": "X", "cluster": "prod-eu1"})],
        Verdict.ROLLBACK,
        "eligible",
    ),
    # scope
    ("system namespace stops", [move_to("kube-system")], Verdict.SKIP, "namespace_denied"),
    ("own namespace stops", [config_with(own_namespace="shop")], Verdict.SKIP, "namespace_denied"),
    (
        "deny list stops",
        [config_with(namespaces=NamespacePolicy(deny=("shop",)))],
        Verdict.SKIP,
        "namespace_denied",
    ),
    (
        "not in allow list stops",
        [config_with(namespaces=NamespacePolicy(allow=("payments",)))],
        Verdict.SKIP,
        "namespace_denied",
    ),
    (
        "in allow list passes",
        [config_with(namespaces=NamespacePolicy(allow=("shop",)))],
        Verdict.ROLLBACK,
        "eligible",
    ),
    (
        "opt-out annotation stops",
        [annotations({"rollback-receiver.io/enabled": "false"})],
        Verdict.SKIP,
        "workload_opted_out",
    ),
    (
        "required opt-in missing stops",
        [route_guards(require_opt_in=True)],
        Verdict.SKIP,
        "workload_not_opted_in",
    ),
    (
        "required opt-in present passes",
        [route_guards(require_opt_in=True), annotations({"rollback-receiver.io/enabled": "true"})],
        Verdict.ROLLBACK,
        "eligible",
    ),
    # kill switches
    ("global pause stops", [config_with(paused=True)], Verdict.SKIP, "paused"),
    (
        "workload pause stops",
        [annotations({"rollback-receiver.io/paused": "true"})],
        Verdict.SKIP,
        "workload_paused",
    ),
    (
        "workload pause false passes",
        [annotations({"rollback-receiver.io/paused": "false"})],
        Verdict.ROLLBACK,
        "eligible",
    ),
    # exactly once
    (
        "same episode already acted on stops",
        [annotations({"rollback-receiver.io/last-alert": "abc123@2026-05-01T02:58:00+00:00"})],
        Verdict.SKIP,
        "already_handled",
    ),
    (
        "a patched claim for this key stops",
        [state_with(claims=(claim(REF, 1, key=claim_key("abc123@2026-05-01T02:58:00+00:00", REF)),))],
        Verdict.SKIP,
        "already_handled",
    ),
    (
        "a fresh claim by another replica stops",
        [
            state_with(
                claims=(claim(REF, 1, key=claim_key("abc123@2026-05-01T02:58:00+00:00", REF), done=False),)
            )
        ],
        Verdict.SKIP,
        "in_progress",
    ),
    (
        "a stale unpatched claim is taken over",
        [
            state_with(
                claims=(claim(REF, 5, key=claim_key("abc123@2026-05-01T02:58:00+00:00", REF), done=False),)
            )
        ],
        Verdict.ROLLBACK,
        "eligible",
    ),
    # who else manages the workload
    (
        "Argo CD tracking stops (notify)",
        [annotations({"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/ecommerce"})],
        Verdict.NOTIFY,
        "argocd_managed",
    ),
    (
        "Argo CD label tracking stops when the cluster uses it",
        [
            facts_with(labels={"app.kubernetes.io/instance": "shop"}),
            config_with(ownership=OwnershipConfig(argocd_tracking_label="app.kubernetes.io/instance")),
        ],
        Verdict.NOTIFY,
        "argocd_managed",
    ),
    (
        "Flux label stops (notify)",
        [facts_with(labels={"kustomize.toolkit.fluxcd.io/name": "shop"})],
        Verdict.NOTIFY,
        "flux_managed",
    ),
    (
        "Flux's Helm releases are Flux's, not Helm's",
        [
            facts_with(labels={**HELM_LABELS, "helm.toolkit.fluxcd.io/name": "shop"}),
            annotations(HELM_RELEASE),
        ],
        Verdict.NOTIFY,
        "flux_managed",
    ),
    (
        "a Helm release rolls back",
        [facts_with(labels=HELM_LABELS), annotations(HELM_RELEASE)],
        Verdict.ROLLBACK,
        "eligible",
    ),
    (
        "helm: notify only notifies",
        [facts_with(labels=HELM_LABELS), annotations(HELM_RELEASE), route_guards(helm=HelmPolicy.NOTIFY)],
        Verdict.NOTIFY,
        "helm_managed",
    ),
    (
        "a controlled workload is skipped",
        [facts_with(owners=(OwnerReference("Canary", "ecommerce", controller=True),))],
        Verdict.SKIP,
        "owned_by_controller",
    ),
    (
        "controlled: allow passes",
        [
            facts_with(owners=(OwnerReference("Canary", "ecommerce", controller=True),)),
            route_guards(controlled=ControllerPolicy.ALLOW),
        ],
        Verdict.ROLLBACK,
        "eligible",
    ),
    (
        "a non-controller owner reference does not stop",
        [facts_with(owners=(OwnerReference("ConfigMap", "x", controller=False),))],
        Verdict.ROLLBACK,
        "eligible",
    ),
    (
        "gitops: allow passes",
        [facts_with(labels={"helm.toolkit.fluxcd.io/name": "shop"}), route_guards(gitops=GitOpsPolicy.ALLOW)],
        Verdict.ROLLBACK,
        "eligible",
    ),
    (
        "a Helm instance label alone is not GitOps",
        [facts_with(labels={"app.kubernetes.io/instance": "shop"})],
        Verdict.ROLLBACK,
        "eligible",
    ),
    # what kubectl refuses
    ("paused deployment stops", [facts_with(paused=True)], Verdict.SKIP, "deployment_paused"),
    (
        "no history stops",
        [facts_with(revisions=(revision(2, NOW - timedelta(minutes=10), "bbb"),))],
        Verdict.SKIP,
        "no_history",
    ),
    (
        "unknown requested revision stops",
        [
            route_with(revision=RevisionSpec(from_annotation="rollback_to_revision")),
            alert_with(annotations={"rollback_to_revision": "7"}),
        ],
        Verdict.SKIP,
        "unknown_revision",
    ),
    (
        "garbage requested revision stops",
        [
            route_with(revision=RevisionSpec(from_annotation="rollback_to_revision")),
            alert_with(annotations={"rollback_to_revision": "two"}),
        ],
        Verdict.SKIP,
        "invalid_revision",
    ),
    (
        "known requested revision passes",
        [
            route_with(revision=RevisionSpec(from_annotation="rollback_to_revision")),
            alert_with(annotations={"rollback_to_revision": "--to-revision=1"}),
        ],
        Verdict.ROLLBACK,
        "eligible",
    ),
    (
        "already at the target template stops",
        [
            facts_with(
                revisions=(
                    revision(1, NOW - timedelta(days=2), "bbb"),
                    revision(2, NOW - timedelta(minutes=10), "bbb"),
                )
            )
        ],
        Verdict.SKIP,
        "already_at_target",
    ),
    # no ping-pong
    (
        "the live revision is our own rollback stops",
        [
            annotations(
                {
                    "rollback-receiver.io/rolled-back-at": "2026-05-01T02:40:00Z",
                    "rollback-receiver.io/rolled-back-to-template": "aaa",
                }
            ),
            facts_with(
                current_revision=3,
                current_revision_since=NOW - timedelta(minutes=20),
                revisions=(
                    revision(2, NOW - timedelta(minutes=30), "bbb"),
                    revision(3, NOW - timedelta(days=2), "aaa"),
                ),
            ),
        ],
        Verdict.SKIP,
        "own_rollback",
    ),
    (
        "a new deploy within the cooldown stops",
        [
            annotations(
                {
                    "rollback-receiver.io/rolled-back-at": "2026-05-01T02:45:00Z",
                    # the revision we restored is not the live one: a human deployed since
                    "rollback-receiver.io/rolled-back-to-template": "old",
                }
            )
        ],
        Verdict.SKIP,
        "cooldown",
    ),
    (
        "a new deploy after the cooldown passes",
        [
            annotations({"rollback-receiver.io/rolled-back-at": "2026-05-01T02:45:00Z"}),
            route_guards(cooldown=timedelta(minutes=5)),
        ],
        Verdict.ROLLBACK,
        "eligible",
    ),
    # change attribution
    (
        "a stable revision stops",
        [facts_with(current_revision_since=NOW - timedelta(days=1))],
        Verdict.SKIP,
        "no_recent_change",
    ),
    (
        "a change after the alert started stops",
        [facts_with(current_revision_since=NOW + timedelta(minutes=5))],
        Verdict.SKIP,
        "no_recent_change",
    ),
    ("unknown go-live time stops", [facts_with(current_revision_since=None)], Verdict.SKIP, "change_unknown"),
    (
        "a wider change window passes",
        [
            facts_with(current_revision_since=NOW - timedelta(hours=3)),
            route_guards(change_window=timedelta(hours=4)),
        ],
        Verdict.ROLLBACK,
        "eligible",
    ),
    # confirmation delay
    (
        "confirmation delay waits",
        [route_guards(confirm_for=timedelta(minutes=5))],
        Verdict.WAIT,
        "confirm_pending",
    ),
    (
        "confirmation delay elapsed passes",
        [route_guards(confirm_for=timedelta(minutes=5)), at(NOW + timedelta(minutes=3))],
        Verdict.ROLLBACK,
        "eligible",
    ),
    # breaker and budgets
    (
        "open breaker stops",
        [state_with(breaker=Breaker(open=True, reason="3 consecutive failures"))],
        Verdict.SKIP,
        "breaker_open",
    ),
    (
        "namespace budget spent stops",
        [config_with(limits=TIGHT), state_with(claims=(claim(OTHER, 10),))],
        Verdict.SKIP,
        "budget_namespace",
    ),
    (
        "global budget spent stops",
        [
            config_with(limits=TIGHT),
            state_with(
                claims=(
                    claim(WorkloadRef(WorkloadKind.DEPLOYMENT, "a", "x"), 10),
                    claim(WorkloadRef(WorkloadKind.DEPLOYMENT, "b", "x"), 20),
                )
            ),
        ],
        Verdict.SKIP,
        "budget_global",
    ),
    (
        "budget outside the window passes",
        [config_with(limits=TIGHT), state_with(claims=(claim(OTHER, 61),))],
        Verdict.ROLLBACK,
        "eligible",
    ),
    (
        "max concurrent waits",
        [state_with(claims=(claim(OTHER, 1, done=False), claim(OTHER, 0.5, done=False)))],
        Verdict.WAIT,
        "max_concurrent",
    ),
    # dry-run
    ("global dry-run only dry-runs", [config_with(mode=Mode.DRY_RUN)], Verdict.DRY_RUN, "dry_run"),
    ("route dry-run only dry-runs", [route_with(mode=Mode.DRY_RUN)], Verdict.DRY_RUN, "dry_run"),
    (
        "route enforce overrides global dry-run",
        [config_with(mode=Mode.DRY_RUN), route_with(mode=Mode.ENFORCE)],
        Verdict.ROLLBACK,
        "eligible",
    ),
]


@pytest.mark.parametrize(("changes", "verdict", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(changes: list[Callable[[Case], None]], verdict: Verdict, reason: str) -> None:
    case = baseline()
    for change in changes:
        change(case)
    decision = guards.decide(
        case.alert,
        case.route,
        case.facts,
        case.state,
        case.config,
        case.now,
        truncated_alerts=case.truncated,
        holder="replica-a",
    )
    assert (decision.verdict, decision.reason) == (verdict, reason), decision.message
    assert decision.message
    assert decision.alert_key == case.alert.episode_key


def test_rollback_names_the_previous_revision() -> None:
    case = baseline()
    decision = guards.decide(case.alert, case.route, case.facts, case.state, case.config, NOW)
    assert decision.to_revision == 1
    assert decision.target == REF


def test_wait_is_due_when_the_confirmation_delay_ends() -> None:
    case = baseline()
    route_guards(confirm_for=timedelta(minutes=5))(case)
    decision = guards.decide(case.alert, case.route, case.facts, case.state, case.config, NOW)
    assert decision.not_before == case.alert.starts_at + timedelta(minutes=5)


PREVIEW_CASES: list[tuple[str, list[Callable[[Case], None]], Verdict, str]] = [
    ("eligible offline", [], Verdict.ROLLBACK, "eligible"),
    ("dry-run offline", [config_with(mode=Mode.DRY_RUN)], Verdict.DRY_RUN, "dry_run"),
    ("notify route", [route_with(action=Action.NOTIFY)], Verdict.NOTIFY, "route_notify"),
    ("paused", [config_with(paused=True)], Verdict.SKIP, "paused"),
    (
        "templated namespace denied",
        [alert_with(labels={"alertname": "X", "namespace": "kube-system", "deployment": "coredns"})],
        Verdict.SKIP,
        "namespace_denied",
    ),
    ("missing namespace label", [alert_with(labels={"alertname": "X"})], Verdict.SKIP, "target_unresolved"),
    ("confirmation delay", [route_guards(confirm_for=timedelta(minutes=5))], Verdict.WAIT, "confirm_pending"),
    ("truncated", [truncated(2)], Verdict.SKIP, "payload_truncated"),
]


@pytest.mark.parametrize(
    ("changes", "verdict", "reason"), [c[1:] for c in PREVIEW_CASES], ids=[c[0] for c in PREVIEW_CASES]
)
def test_preview(changes: list[Callable[[Case], None]], verdict: Verdict, reason: str) -> None:
    case = baseline()
    for change in changes:
        change(case)
    decision: Decision = guards.preview(
        case.alert, case.route, case.config, NOW, truncated_alerts=case.truncated
    )
    assert (decision.verdict, decision.reason) == (verdict, reason), decision.message


def test_a_helm_release_rollback_names_the_helm_rollback_command() -> None:
    case = baseline()
    facts_with(labels=HELM_LABELS)(case)
    annotations(HELM_RELEASE)(case)
    decision = guards.decide(case.alert, case.route, case.facts, case.state, case.config, case.now)
    assert decision.verdict is Verdict.ROLLBACK
    assert "`helm rollback shop -n shop`" in decision.message


def test_a_resolved_episode_never_rolls_back() -> None:
    case = baseline()
    state = dataclasses.replace(case.state, resolved=(Tombstone(case.alert.episode_key, NOW),))
    decision = guards.decide(case.alert, case.route, case.facts, state, case.config, case.now)
    assert (decision.verdict, decision.reason) == (Verdict.SKIP, "alert_resolved")


def parse_interval_list(items: list[dict[str, Any]]) -> tuple[Any, ...]:
    return parse_intervals(items, "t")


FREEZES = {
    "black-friday": parse_interval_list([{"months": ["november"], "days_of_month": ["27:30"]}]),
    "business-hours": parse_interval_list(
        [{"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "17:00"}]}]
    ),
}


@pytest.mark.parametrize(
    ("guards_", "now", "verdict"),
    [
        (
            {"freeze_time_intervals": ("black-friday",)},
            datetime(2026, 11, 28, 12, 0, tzinfo=UTC),
            Verdict.NOTIFY,
        ),
        (
            {"freeze_time_intervals": ("black-friday",)},
            datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
            Verdict.ROLLBACK,
        ),
        (
            {"active_time_intervals": ("business-hours",)},
            datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
            Verdict.ROLLBACK,
        ),
        (
            {"active_time_intervals": ("business-hours",)},
            datetime(2026, 12, 1, 20, 0, tzinfo=UTC),
            Verdict.NOTIFY,
        ),
        (
            {"active_time_intervals": ("business-hours",), "during_freeze": FreezePolicy.WAIT},
            datetime(2026, 12, 5, 20, 0, tzinfo=UTC),  # a Saturday evening: wait until Monday 09:00
            Verdict.WAIT,
        ),
    ],
)
def test_change_freezes(guards_: dict[str, Any], now: datetime, verdict: Verdict) -> None:
    case = baseline()
    case.config = dataclasses.replace(case.config, time_intervals=FREEZES)
    case.route = dataclasses.replace(case.route, guards=dataclasses.replace(case.route.guards, **guards_))
    alert = dataclasses.replace(case.alert, starts_at=now - timedelta(minutes=2))
    facts = dataclasses.replace(case.facts, current_revision_since=now - timedelta(minutes=10))
    decision = guards.decide(alert, case.route, facts, case.state, case.config, now)
    assert decision.verdict is verdict, decision.message
    if verdict is not Verdict.ROLLBACK:
        assert decision.reason == "change_freeze"
    if verdict is Verdict.WAIT:
        assert decision.not_before == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_last_known_good_skips_what_we_rolled_back_from_and_short_lived_revisions() -> None:
    from receiver.core.settings import RevisionChoice, RevisionSpec

    case = baseline()
    from_bad = {"rollback-receiver.io/rolled-back-from-template": "bbb"}
    case.facts = dataclasses.replace(
        case.facts,
        current_revision=5,
        revisions=(
            revision(1, NOW - timedelta(days=3), "aaa"),  # ran two days: the last known good
            revision(3, NOW - timedelta(days=1), "ccc"),  # replaced after 10 minutes: too short
            dataclasses.replace(
                revision(4, NOW - timedelta(days=1) + timedelta(minutes=10), "bbb"), annotations=from_bad
            ),
            revision(5, NOW - timedelta(minutes=10), "ddd"),
        ),
    )
    case.route = dataclasses.replace(case.route, revision=RevisionSpec(to=RevisionChoice.LAST_KNOWN_GOOD))
    decision = guards.decide(case.alert, case.route, case.facts, case.state, case.config, case.now)
    assert (decision.verdict, decision.to_revision) == (Verdict.ROLLBACK, 1), decision.message
    previous = dataclasses.replace(case.route, revision=RevisionSpec())
    assert guards.decide(case.alert, previous, case.facts, case.state, case.config, case.now).to_revision == 4


def test_a_redeployed_template_we_rolled_back_from_is_named() -> None:
    case = baseline()
    case.facts = dataclasses.replace(
        case.facts, annotations={"rollback-receiver.io/rolled-back-from-template": "bbb"}
    )
    decision = guards.decide(case.alert, case.route, case.facts, case.state, case.config, case.now)
    assert decision.verdict is Verdict.ROLLBACK
    assert "one we rolled back from before, deployed again" in decision.message
