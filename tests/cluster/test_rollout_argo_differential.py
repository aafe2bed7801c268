"""Our undo and abort of an Argo Rollout against `kubectl argo rollouts undo|abort` (v1.8.3, built from the
same module as the controller), on twin Rollouts built by the same `kubectl apply`s in two namespaces: the
plugin acts on one, we act on the other, and once the real controller has settled both, the Rollouts and
their ReplicaSets are the same (template, revision annotations, generation, status and conditions, the
ReplicaSets' sizes), apart from our audit annotations, which only ours carries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from argo_support import REVISION, REVISION_HISTORY, ArgoTwins, canary, get_rollout, image
from rollout_support import second_namespace, with_kube

from harness.argo_rollouts import ArgoRollouts
from harness.cluster import ClusterAccess
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import abort, audit, read_facts

IMAGE = "registry.example/pay"
NOTE = f"{audit.PREFIX}test-note=annotated-by-hand"  # stripped like ours: it only triggers Argo's copy


@pytest.fixture
def twins(argo_rollouts: ArgoRollouts, control_plane: ClusterAccess, namespace: str) -> Iterator[ArgoTwins]:
    with second_namespace(control_plane, namespace) as other:
        yield ArgoTwins(control_plane, argo_rollouts, namespace, other)


def ours_only(twins: ArgoTwins, kind: str, name: str) -> dict[str, str]:
    """Our audit annotations: on our twin, and never on theirs."""
    mine, theirs = (
        twins.cp.kubectl_json("get", kind, name, "-n", ns)["metadata"].get("annotations", {})
        for ns in (twins.ours, twins.theirs)
    )
    assert not [k for k in theirs if k.startswith(audit.PREFIX) and k != NOTE.partition("=")[0]]
    return {k: v for k, v in mine.items() if k.startswith(audit.PREFIX)}


def test_undo_of_a_promoted_rollout_to_the_previous_and_a_named_revision_is_the_plugins(
    twins: ArgoTwins,
) -> None:
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        twins.apply(canary("pay", f"{IMAGE}:{version}", replicas=2, steps=steps))
        if version != "1.0.0":
            twins.settled("pay", "Paused")
            twins.both_plugin("promote", "pay", "--full")
        twins.settled("pay", "Healthy")

    theirs = twins.plugin("undo", "pay")
    assert theirs == (0, "rollout 'pay' undo\n")
    code, stdout, stderr = twins.ours_cli("undo", "rollout/pay")
    assert (code, stdout, stderr) == (*theirs, "")
    # Argo replays the canary steps for the restored revision and waits at the pause, on both twins.
    state = twins.settled("pay", "Paused")
    assert image(state) == f"{IMAGE}:2.0.0"
    assert state["annotations"][REVISION] == "4" and state["pauseConditions"] == ["CanaryPauseStep"]
    reused = [rs for rs in state["replica_sets"].values() if rs["annotations"].get(REVISION) == "4"]
    assert [rs["annotations"][REVISION_HISTORY] for rs in reused] == ["2"]
    mine = ours_only(twins, "rollout.argoproj.io", "pay")
    assert (mine[audit.ROLLED_BACK_FROM], mine[audit.ROLLED_BACK_TO]) == ("3", "2")

    twins.both_plugin("promote", "pay", "--full")
    twins.settled("pay", "Healthy")
    assert twins.plugin("undo", "pay", "--to-revision=1") == (0, "rollout 'pay' undo\n")
    # --wait (ours only) follows the Rollout until it comes to rest: here at the canary's pause.
    code, stdout, stderr = twins.ours_cli("undo", "rollout/pay", "--to-revision=1", "--wait", "--timeout=2m")
    assert (code, stdout.splitlines()[0], stdout.splitlines()[-1]) == (
        0,
        "rollout 'pay' undo",
        "Paused - CanaryPauseStep",
    )
    assert stderr == (
        f"rollout 'pay' is paused: promote it to finish (kubectl argo rollouts promote pay -n {twins.ours})\n"
    )
    state = twins.settled("pay", "Paused")
    assert image(state) == f"{IMAGE}:1.0.0" and state["annotations"][REVISION] == "5"

    twins.both_plugin("promote", "pay", "--full")
    twins.settled("pay", "Healthy")
    before = get_rollout(twins.cp, twins.ours, "pay")["metadata"]["resourceVersion"]
    skipped = "skipped rollback (current template already matches revision 5)"
    assert twins.plugin("undo", "pay", "--to-revision=5") == (0, skipped)
    assert twins.ours_cli("undo", "rollout/pay", "--to-revision=5") == (0, skipped + "\n", "")
    assert get_rollout(twins.cp, twins.ours, "pay")["metadata"]["resourceVersion"] == before
    unknown = twins.argo.plugin("undo", "pay", "--to-revision=99", "-n", twins.theirs, check=False)
    assert (unknown.returncode, unknown.stderr.strip().splitlines()[-1]) == (
        1,
        "Error: unable to find specified revision 99 in history",
    )
    assert twins.ours_cli("undo", "rollout/pay", "--to-revision=99") == (
        1,
        "",
        "Error: unable to find specified revision 99 in history\n",
    )
    twins.settled("pay", "Healthy")


def test_abort_during_a_canary_with_steps_and_a_pause_then_undo_are_the_plugins(twins: ArgoTwins) -> None:
    twins.apply(canary("cart", f"{IMAGE}:1.0.0"))
    twins.settled("cart", "Healthy")
    twins.apply(canary("cart", f"{IMAGE}:2.0.0"))
    paused = twins.settled("cart", "Paused")
    assert paused["status"]["currentStepIndex"] == 1

    assert twins.plugin("abort", "cart") == (0, "rollout 'cart' aborted\n")
    ref = WorkloadRef(WorkloadKind.ROLLOUT, twins.ours, "cart")
    annotations = audit.audit_annotations(
        actor="differential-test",
        at=datetime.now(UTC),
        to_revision=1,
        alert_key="HighErrorRate@abc",
        cause="rollback-receiver: test aborted the update, back to revision 1",
    )

    async def ours_abort(kube: Any, *, dry_run: bool = False) -> Any:
        facts = await read_facts(kube, ref)
        return await abort(kube, ref, audit=annotations, decided_on=facts, dry_run=dry_run)

    async def dry_run(kube: Any) -> Any:
        return await ours_abort(kube, dry_run=True)

    rehearsed = with_kube(twins.cp, dry_run)
    assert (rehearsed.skipped, rehearsed.dry_run, rehearsed.message) == (False, True, "aborted")
    untouched = twins.rollout(twins.ours, "cart")
    assert "abort" not in untouched["status"] and not ours_only(twins, "rollout.argoproj.io", "cart")
    result = with_kube(twins.cp, ours_abort)
    assert (result.skipped, result.message, result.target_revision, result.from_revision) == (
        False,
        "aborted",
        1,
        2,
    )
    # Argo copies every annotation of a Rollout onto its newest ReplicaSet, and when that copy changes
    # anything it also appends the ReplicaSet's own revision to its revision-history
    # (`SetNewReplicaSetAnnotations`). Our audit annotations after the abort are such a change; so is any
    # `kubectl annotate`, which gives their twin the same history:
    twins.cp.kubectl("annotate", "rollout.argoproj.io", "cart", NOTE, "-n", twins.theirs)
    state = twins.settled("cart", "Degraded")
    canary_rs = next(rs for rs in state["replica_sets"].values() if rs["annotations"][REVISION] == "2")
    assert canary_rs["annotations"][REVISION_HISTORY] == "2"
    # Abort is not a revert: the spec still names 2.0.0; the pods and the weight went back to stable.
    assert image(state) == f"{IMAGE}:2.0.0" and state["generation"] == paused["generation"]
    assert state["status"]["abort"] is True
    assert state["status"]["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert sorted(rs["replicas"] for rs in state["replica_sets"].values()) == [0, 4]
    mine = ours_only(twins, "rollout.argoproj.io", "cart")
    assert mine[audit.ROLLED_BACK_TO_TEMPLATE] == state["status"]["stableRS"]
    assert (mine[audit.ROLLED_BACK_FROM], mine[audit.ROLLED_BACK_TO], mine[audit.LAST_ALERT]) == (
        "2",
        "1",
        "HighErrorRate@abc",
    )
    again = with_kube(twins.cp, ours_abort)
    assert (again.skipped, again.message) == (True, "rollout 'cart' is already aborted")

    assert twins.plugin("undo", "cart") == (0, "rollout 'cart' undo\n")
    assert twins.ours_cli("undo", "rollout/cart")[:2] == (0, "rollout 'cart' undo\n")
    state = twins.settled("cart", "Healthy")
    assert image(state) == f"{IMAGE}:1.0.0" and state["annotations"][REVISION] == "3"
    assert not state["status"]["abort"]


def test_undo_of_a_workload_ref_rollout_patches_its_deployment_like_the_plugin(twins: ArgoTwins) -> None:
    def deployment(version: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "app", "image": f"{IMAGE}:{version}"}]},
                },
            },
        }

    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "api"},
        "spec": {
            "replicas": 3,
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "strategy": {"canary": {"steps": [{"setWeight": 34}, {"pause": {}}]}},
        },
    }
    twins.apply(deployment("1.0.0"), rollout)
    twins.settled("api", "Healthy")
    twins.apply(deployment("2.0.0"))
    twins.settled("api", "Paused")

    # The Deployment is the Rollout's: not undone directly, by a human either.
    code, stdout, stderr = twins.ours_cli("undo", "deployment/api")
    assert (code, stdout) == (1, "")
    assert stderr.splitlines()[-1] == (  # after kubectl's warning about `kubectl apply`
        f"error: refused by guard: deployment/api -n {twins.ours} is run by the Argo Rollout rollout/api "
        "(its spec.workloadRef names this Deployment); it is never undone directly: undo the Rollout "
        f"instead (rollback-receiver undo rollout/api -n {twins.ours})"
    )

    assert twins.plugin("undo", "api") == (0, "rollout 'api' undo\n")
    # --wait: at rest only once the controller ran the Deployment's new generation.
    code, stdout, _ = twins.ours_cli("undo", "rollout/api", "--wait", "--timeout=2m")
    assert (code, stdout.splitlines()[0], stdout.splitlines()[-1]) == (0, "rollout 'api' undo", "Healthy")
    state = twins.settled("api", "Healthy")
    assert "template" not in state["spec"] and state["annotations"][REVISION] == "3"
    theirs, ours = (
        twins.cp.kubectl_json("get", "deployment", "api", "-n", ns) for ns in (twins.theirs, twins.ours)
    )
    assert (
        ours["spec"] == theirs["spec"] and ours["metadata"]["generation"] == theirs["metadata"]["generation"]
    )
    assert ours["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:1.0.0"
    # Our audit annotations ride on the object the undo patched: the Deployment.
    mine = ours_only(twins, "deployment", "api")
    assert (mine[audit.ROLLED_BACK_FROM], mine[audit.ROLLED_BACK_TO]) == ("2", "1")
