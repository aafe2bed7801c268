"""The rollout-health source, pure: when a rollout is failing, the synthetic alert it becomes, its config,
and the watch's view and cache built from API objects (no cluster: the informer's sink is fed by hand)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from receiver.config import ConfigError
from receiver.config.load import parse_config
from receiver.core.alerts import AlertStatus
from receiver.core.annotations import ROLLOUT_HEALTH
from receiver.core.rollout_health import (
    Finding,
    PodHealth,
    RolloutView,
    Signal,
    alert_for,
    enrolled,
    evaluate,
    fingerprint,
)
from receiver.core.routing import select_routes
from receiver.core.settings import Config, HealthWorkloads, NamespacePolicy, RolloutHealthConfig
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import deployments
from receiver.k8s.workload_watch import DEPLOYMENTS, PODS, REPLICASETS, WorkloadWatch, pod_health

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WENT_LIVE = NOW - timedelta(minutes=2)
SETTINGS = RolloutHealthConfig(enabled=True, not_ready_for=timedelta(minutes=1))


def pod(
    name: str = "web-2-a", *, ready: bool = False, since: datetime | None = WENT_LIVE, **kw: Any
) -> PodHealth:
    return PodHealth(
        name=name,
        ready=ready,
        not_ready_since=None if ready else since,
        **{"restarts": 0, "backoff": None, **kw},
    )


def view(*pods: PodHealth, **changes: Any) -> RolloutView:
    base = RolloutView(
        namespace="shop",
        name="web",
        uid="uid-1",
        annotations={ROLLOUT_HEALTH: "true"},
        revision=2,
        replica_set="web-2",
        went_live=WENT_LIVE,
        deadline_exceeded=False,
        deadline_message="",
        pods=pods,
        previous_healthy=True,
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("workloads", "annotation", "expected"),
    [
        (HealthWorkloads.ANNOTATED, None, False),
        (HealthWorkloads.ANNOTATED, "true", True),
        (HealthWorkloads.ANNOTATED, " True ", True),
        (HealthWorkloads.ANNOTATED, "false", False),
        (HealthWorkloads.ALL, None, True),
        (HealthWorkloads.ALL, "false", False),
        (HealthWorkloads.ALL, "yes", True),
    ],
)
def test_which_deployments_are_watched(
    workloads: HealthWorkloads, annotation: str | None, expected: bool
) -> None:
    annotations = {} if annotation is None else {ROLLOUT_HEALTH: annotation}
    assert enrolled(annotations, RolloutHealthConfig(workloads=workloads)) is expected


def signal_of(v: RolloutView, settings: RolloutHealthConfig = SETTINGS, now: datetime = NOW) -> Signal | None:
    finding, _ = evaluate(v, settings, now)
    return finding.signal if finding else None


@pytest.mark.parametrize(
    ("rollout", "settings", "expected"),
    [
        # Kubernetes' own verdict on the live revision wins over everything else
        (view(pod(restarts=5), deadline_exceeded=True), SETTINGS, Signal.PROGRESS_DEADLINE),
        # crash-looping: restarts at the threshold, or CrashLoopBackOff (unless switched off)
        (view(pod(restarts=3)), SETTINGS, Signal.CRASH_LOOPING),
        (view(pod(restarts=2)), replace(SETTINGS, not_ready_for=timedelta(0)), None),
        (view(pod(restarts=1, backoff="app")), SETTINGS, Signal.CRASH_LOOPING),
        (
            view(pod(restarts=1, backoff="app")),
            replace(SETTINGS, crash_loop_backoff=False, not_ready_for=timedelta(0)),
            None,
        ),
        (view(pod(ready=True, restarts=4)), SETTINGS, Signal.CRASH_LOOPING),  # ready between crashes
        # not ready longer than not_ready_for, while the previous ReplicaSet was healthy
        (view(pod(since=NOW - timedelta(seconds=61))), SETTINGS, Signal.NOT_READY),
        (view(pod(since=NOW - timedelta(seconds=59))), SETTINGS, None),
        (view(pod(since=NOW - timedelta(minutes=5)), previous_healthy=False), SETTINGS, None),
        (view(pod(since=NOW - timedelta(minutes=5))), replace(SETTINGS, not_ready_for=timedelta(0)), None),
        (view(pod(ready=True), pod("web-2-b", ready=True)), SETTINGS, None),
        (view(), SETTINGS, None),  # no pods yet: nothing to say
    ],
)
def test_what_counts_as_a_failing_rollout(
    rollout: RolloutView, settings: RolloutHealthConfig, expected: Signal | None
) -> None:
    assert signal_of(rollout, settings) is expected


def test_a_pod_that_is_not_ready_yet_is_looked_at_again_when_it_would_cross_the_threshold() -> None:
    early, late = NOW - timedelta(seconds=10), NOW - timedelta(seconds=30)
    finding, look_again = evaluate(view(pod("a", since=early), pod("b", since=late)), SETTINGS, NOW)
    assert finding is None
    assert look_again == late + SETTINGS.not_ready_for  # the first one to cross it
    _, never = evaluate(view(pod("a", since=early)), replace(SETTINGS, not_ready_for=timedelta(0)), NOW)
    assert never is None  # crash loops and deadlines arrive as changes: no timer needed


def test_messages_name_the_revision_and_the_evidence() -> None:
    finding, _ = evaluate(view(pod("web-2-x", restarts=4)), SETTINGS, NOW)
    assert finding == Finding(
        Signal.CRASH_LOOPING,
        "deployment web revision 2 (ReplicaSet web-2): pod web-2-x restarted 4 times (at least 3)",
    )
    deadline = view(deadline_exceeded=True, deadline_message='ReplicaSet "web-2" has timed out progressing.')
    finding, _ = evaluate(deadline, SETTINGS, NOW)
    assert finding is not None and finding.message.endswith('ReplicaSet "web-2" has timed out progressing.')


def test_the_synthetic_alert_is_the_same_on_every_replica_and_restart() -> None:
    rollout = view(pod(restarts=3))
    finding, _ = evaluate(rollout, SETTINGS, NOW)
    assert finding is not None
    first = alert_for(rollout, finding, SETTINGS)
    # Another replica, later, with more restarts seen: the same episode.
    again, _ = evaluate(view(pod(restarts=9)), SETTINGS, NOW + timedelta(minutes=3))
    assert again is not None
    second = alert_for(view(pod(restarts=9)), again, SETTINGS)
    assert first.episode_key == second.episode_key
    assert first.starts_at == WENT_LIVE
    assert first.labels == {
        "alertname": "RolloutCrashLooping",
        "namespace": "shop",
        "deployment": "web",
        "revision": "2",
        "severity": "high",
        "source": "rollout-health",
    }
    assert first.annotations["rollback"] == "true"
    assert first.status is AlertStatus.FIRING and first.ends_at is None
    # A different revision, Deployment or signal is another episode.
    keys = {
        fingerprint("uid-1", 2, Signal.CRASH_LOOPING),
        fingerprint("uid-1", 3, Signal.CRASH_LOOPING),
        fingerprint("uid-2", 2, Signal.CRASH_LOOPING),
        fingerprint("uid-1", 2, Signal.NOT_READY),
    }
    assert len(keys) == 4 and all(len(k) == 16 for k in keys)


def test_the_example_routes_take_the_synthetic_alerts_by_severity(tmp_path: Path) -> None:
    config = load(tmp_path, "rollout_health: {enabled: true, severity: medium}")
    rollout = view(pod(restarts=3))
    finding, _ = evaluate(rollout, config.rollout_health, NOW)
    assert finding is not None
    routes = select_routes(alert_for(rollout, finding, config.rollout_health), config.routes)
    assert [r.name for r in routes] == ["medium"]


def load(tmp_path: Path, extra: str) -> Config:
    """config/example.yaml with the keys of `extra` (YAML) replacing its own."""
    example = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "example.yaml").read_text())
    example.update(yaml.safe_load(extra) or {})
    if not extra:
        example.pop("rollout_health")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(example), encoding="utf-8")
    return parse_config(path.read_text(encoding="utf-8"), source=path, environ={})


def test_config_section(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "rollout_health:\n  enabled: true\n  workloads: all\n  severity: critical\n  crash_loop_restarts: 5\n"
        "  crash_loop_backoff: false\n  not_ready_for: 90s\n  cache: false\n  cache_max_objects: 1000",
    )
    assert config.rollout_health == RolloutHealthConfig(
        enabled=True,
        workloads=HealthWorkloads.ALL,
        severity="critical",
        crash_loop_restarts=5,
        crash_loop_backoff=False,
        not_ready_for=timedelta(seconds=90),
        cache=False,
        cache_max_objects=1000,
    )
    assert load(tmp_path, "").rollout_health == RolloutHealthConfig()  # off unless asked for


def test_config_section_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            "rollout_health: {enabled: yes please, crash_loop_restarts: 0, workloads: some, cahce: true}",
        )
    problems = "\n".join(caught.value.problems)
    assert "rollout_health.enabled: must be true or false" in problems
    assert "rollout_health.crash_loop_restarts: must be at least 1" in problems
    assert "rollout_health.workloads: must be one of annotated, all, not 'some'" in problems
    assert "unknown key 'cahce' (did you mean 'cache'?)" in problems


# --- the watch's view, fed as the informers feed it ------------------------------------------------------

DEPLOYMENT_UID = "dep-uid"


def deployment_obj(
    revision: int, image: str, *, generation: int = 3, observed: int = 3, **status: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": DEPLOYMENT_UID,
            "resourceVersion": "100",
            "generation": generation,
            "annotations": {deployments.REVISION: str(revision), ROLLOUT_HEALTH: "true"},
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
        "status": {"observedGeneration": observed, **status},
    }


def rs_obj(
    revision: int, image: str, *, replicas: int = 1, available: int = 1, created: str = "2026-12-01T11:58:00Z"
) -> dict[str, Any]:
    name = f"web-{revision}"
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"rs-{revision}",
            "creationTimestamp": created,
            "labels": {"app": "web", "pod-template-hash": str(revision)},
            "annotations": {deployments.REVISION: str(revision)},
            "ownerReferences": [
                {"kind": "Deployment", "name": "web", "uid": DEPLOYMENT_UID, "controller": True}
            ],
        },
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": str(revision)}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
        "status": {"availableReplicas": available},
    }


def pod_obj(
    name: str, rs_revision: int, *, ready: bool, restarts: int = 0, waiting: str | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "creationTimestamp": "2026-12-01T11:58:01Z",
            "ownerReferences": [
                {
                    "kind": "ReplicaSet",
                    "name": f"web-{rs_revision}",
                    "uid": f"rs-{rs_revision}",
                    "controller": True,
                }
            ],
        },
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": "2026-12-01T11:58:02Z",
                }
            ],
            "containerStatuses": [{"name": "app", "restartCount": restarts, "state": state}],
        },
    }


def watch_for(config: Config | None = None) -> WorkloadWatch:
    config = config or Config(
        source=Path("t.yaml"),
        namespaces=NamespacePolicy(allow=("shop",)),
        rollout_health=RolloutHealthConfig(enabled=True),
    )
    watch = WorkloadWatch(None, config)  # type: ignore[arg-type]  # the sink is fed by hand: no API calls
    return watch


def synced(watch: WorkloadWatch, *objects: tuple[str, dict[str, Any]]) -> WorkloadWatch:
    for collection, obj in objects:
        watch.upsert(collection, obj)
    for collection in (DEPLOYMENTS, REPLICASETS, PODS):
        watch._pending_sync.add((collection, "shop"))
        watch.first_list_done(collection, "shop")
    return watch


def test_pod_health_reads_what_the_kubelet_reports() -> None:
    health = pod_health(pod_obj("p", 2, ready=False, restarts=4, waiting="CrashLoopBackOff"))
    assert health == PodHealth(
        name="p",
        ready=False,
        not_ready_since=datetime(2026, 12, 1, 11, 58, 2, tzinfo=UTC),
        restarts=4,
        backoff="app",
    )
    assert pod_health(pod_obj("p", 2, ready=True)).not_ready_since is None


def test_the_view_is_the_live_revision_its_pods_and_the_previous_replica_set() -> None:
    watch = synced(
        watch_for(),
        (DEPLOYMENTS, deployment_obj(2, "v2")),
        (REPLICASETS, rs_obj(1, "v1", replicas=1, available=1)),
        (REPLICASETS, rs_obj(2, "v2", replicas=1, available=0)),
        (PODS, pod_obj("web-1-a", 1, ready=True)),
        (PODS, pod_obj("web-2-a", 2, ready=False, restarts=3)),
    )
    rollout = watch.rollout_view(DEPLOYMENT_UID)
    assert rollout is not None
    assert (rollout.revision, rollout.replica_set, rollout.previous_healthy) == (2, "web-2", True)
    assert [p.name for p in rollout.pods] == ["web-2-a"]
    assert rollout.went_live == datetime(2026, 12, 1, 11, 58, tzinfo=UTC)
    assert signal_of(rollout) is Signal.CRASH_LOOPING


def test_no_verdict_before_the_controller_observed_the_spec() -> None:
    watch = synced(
        watch_for(),
        (DEPLOYMENTS, deployment_obj(2, "v3", generation=4, observed=3)),
        (REPLICASETS, rs_obj(2, "v2")),
    )
    assert watch.rollout_view(DEPLOYMENT_UID) is None


def test_the_deadline_counts_only_for_the_live_revisions_replica_set() -> None:
    def with_condition(message: str) -> WorkloadWatch:
        condition = {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": message,
        }
        return synced(
            watch_for(),
            (DEPLOYMENTS, deployment_obj(2, "v2", conditions=[condition])),
            (REPLICASETS, rs_obj(1, "v1")),
            (REPLICASETS, rs_obj(2, "v2")),
        )

    live = with_condition('ReplicaSet "web-2" has timed out progressing.').rollout_view(DEPLOYMENT_UID)
    older = with_condition('ReplicaSet "web-1" has timed out progressing.').rollout_view(DEPLOYMENT_UID)
    assert live is not None and live.deadline_exceeded
    assert older is not None and not older.deadline_exceeded


def test_the_cache_serves_the_same_snapshot_as_get_and_list() -> None:
    watch = synced(
        watch_for(),
        (DEPLOYMENTS, deployment_obj(2, "v2")),
        (REPLICASETS, rs_obj(1, "v1")),
        (REPLICASETS, rs_obj(2, "v2")),
    )
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "web")
    snap = watch.snapshot(ref)
    assert snap is not None and snap.from_cache
    assert [rs["metadata"]["name"] for rs in snap.history] == ["web-1", "web-2"]  # kubectl's order
    assert "managedFields" not in snap.workload["metadata"]
    assert snap.workload["metadata"]["resourceVersion"] == "100"  # the undo's precondition
    plan = deployments.plan_undo(snap.workload, list(snap.history), 0)
    assert plan.target_revision == 1 and plan.resource_version == "100"
    assert json.dumps(plan.patch[0]["value"]) == json.dumps(
        {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "v1"}]}}
    )


@pytest.mark.parametrize(
    "objects",
    [
        # the controller has not observed the Deployment's new spec yet
        [(DEPLOYMENTS, deployment_obj(2, "v2", generation=4, observed=3)), (REPLICASETS, rs_obj(2, "v2"))],
        # the ReplicaSet the Deployment names has not arrived yet (the watches deliver independently)
        [(DEPLOYMENTS, deployment_obj(3, "v3")), (REPLICASETS, rs_obj(2, "v2"))],
        # the new ReplicaSet's revision annotation lags the Deployment's (a re-used ReplicaSet)
        [(DEPLOYMENTS, deployment_obj(3, "v2")), (REPLICASETS, rs_obj(2, "v2"))],
    ],
)
def test_an_inconsistent_view_is_not_served(objects: list[tuple[str, dict[str, Any]]]) -> None:
    watch = synced(watch_for(), *objects)
    assert watch.snapshot(WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "web")) is None


def test_nothing_is_served_before_every_watch_listed_or_beyond_the_bound() -> None:
    watch = watch_for()
    watch.upsert(DEPLOYMENTS, deployment_obj(2, "v2"))
    watch.upsert(REPLICASETS, rs_obj(2, "v2"))
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "web")
    assert watch.snapshot(ref) is None  # not synced
    synced(watch)
    assert watch.snapshot(ref) is not None
    small = synced(
        watch_for(
            Config(
                source=Path("t.yaml"),
                namespaces=NamespacePolicy(allow=("shop",)),
                rollout_health=RolloutHealthConfig(enabled=True, cache_max_objects=2),
            )
        ),
        (DEPLOYMENTS, deployment_obj(2, "v2")),
        (REPLICASETS, rs_obj(1, "v1")),
        (REPLICASETS, rs_obj(2, "v2")),
    )
    assert small.snapshot(ref) is None
    assert small.sizes["cached_objects"] == 0 and small.sizes["replicasets"] == 2
    assert small.rollout_view(DEPLOYMENT_UID) is not None  # the health source keeps working


def test_a_cluster_wide_watch_drops_denied_namespaces() -> None:
    watch = watch_for(
        Config(
            source=Path("t.yaml"),
            own_namespace="monitoring",
            rollout_health=RolloutHealthConfig(enabled=True),
        )
    )
    assert watch.namespaces is None
    for namespace in ("kube-system", "monitoring"):
        watch.upsert(
            DEPLOYMENTS,
            {
                **deployment_obj(2, "v2"),
                "metadata": {**deployment_obj(2, "v2")["metadata"], "namespace": namespace},
            },
        )
    assert watch.sizes["deployments"] == 0
    assert WorkloadWatch.scope(
        Config(source=Path("t"), namespaces=NamespacePolicy(allow=("a", "kube-system"), deny=()))
    ) == ("a",)


def test_a_failing_revision_stays_failing_until_its_rollout_completes() -> None:
    from receiver.core.rollout_health import still_failing

    crashed = view(pod(restarts=3))
    between_crashes = view(pod(restarts=1))  # running again after its first crash: no finding right now
    assert signal_of(between_crashes, replace(SETTINGS, not_ready_for=timedelta(0))) is None
    assert still_failing(crashed, SETTINGS, NOW)
    assert still_failing(between_crashes, SETTINGS, NOW)
    assert not still_failing(view(pod(ready=True), complete=True), SETTINGS, NOW)


def test_check_config_warns_when_no_route_would_roll_back_the_findings(tmp_path: Path) -> None:
    from receiver.config import advice

    routed = load(tmp_path, "rollout_health: {enabled: true}")
    assert not [w for w in advice.warnings(routed) if "rollout_health" in w]
    low = load(tmp_path, "rollout_health: {enabled: true, severity: low}")  # the low route only notifies
    warned = [w for w in advice.warnings(low) if "rollout_health" in w]
    assert len(warned) == 3 and "RolloutCrashLooping with severity 'low'" in warned[1]
