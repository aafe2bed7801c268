"""Our undo/history against kubectl built from the same Kubernetes release, on twin workloads.

Each test gives two namespaces the same workload with the same history; kubectl acts on one, we act on
the other; then the results must match: output, exit code, the workload's template and annotations (ours
excluded), and the revision numbers the controller assigns afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from rollout_support import Twins, history_objects, second_namespace, settled, with_kube, workload

from harness.waiting import eventually
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import undo

IMAGE = "registry.example/shop/app"


@pytest.fixture
def twins(control_plane: Any, namespace: str) -> Iterator[Twins]:
    with second_namespace(control_plane, namespace) as other:
        yield Twins(control_plane, namespace, other)


def three_releases(twins: Twins, kind: str = "Deployment", **spec: Any) -> None:
    twins.create(workload(kind, "web", f"{IMAGE}:v1", **spec))
    twins.release(kind, "web", f"{IMAGE}:v2", cause="release v2")
    twins.release(kind, "web", f"{IMAGE}:v3", cause="release v3")


def undo_both(twins: Twins, kind: str, *flags: str) -> tuple[int, str, str]:
    """Run kubectl's undo and ours; they must print and exit the same. Returns kubectl's result."""
    resource = f"{kind.lower()}/web"
    theirs = twins.kubectl("rollout", "undo", resource, *flags)
    ours = twins.ours_cli("undo", resource, *flags)
    assert ours == theirs
    return theirs


def assert_same_state(
    twins: Twins, kind: str = "Deployment", *, keep_change_cause: bool = False
) -> dict[str, Any]:
    # Our CLI writes its own change-cause (naming who rolled back); everything else must be kubectl's.
    theirs = settled(twins.cp, twins.theirs, kind, "web", keep_change_cause=keep_change_cause)
    ours = settled(twins.cp, twins.ours, kind, "web", keep_change_cause=keep_change_cause)
    assert ours == theirs
    return ours


def deployment_of(twins: Twins, ns: str) -> dict[str, Any]:
    return dict(twins.cp.kubectl_json("get", "deployment/web", "-n", ns))


def image_of(state: dict[str, Any]) -> str:
    return str(state["spec"]["template"]["spec"]["containers"][0]["image"])


def test_undo_restores_the_previous_revision_and_a_second_undo_toggles_back(twins: Twins) -> None:
    three_releases(twins)
    assert undo_both(twins, "Deployment") == (0, "deployment.apps/web rolled back\n", "")
    state = assert_same_state(twins)
    assert image_of(state) == f"{IMAGE}:v2" and sorted(state["revisions"]) == ["1", "3", "4"]
    assert state["revisions"]["4"]["revision-history"] == "2"

    undo_both(twins, "Deployment")
    state = assert_same_state(twins)
    assert image_of(state) == f"{IMAGE}:v3" and sorted(state["revisions"]) == ["1", "4", "5"]


def test_to_revision_restores_that_revision(twins: Twins) -> None:
    three_releases(twins)
    undo_both(twins, "Deployment", "--to-revision=1")
    state = assert_same_state(twins)
    assert image_of(state) == f"{IMAGE}:v1" and sorted(state["revisions"]) == ["2", "3", "4"]


def test_engine_without_audit_leaves_exactly_kubectls_object(twins: Twins) -> None:
    """With no audit map our patch is kubectl's, so even the restored change-cause matches."""
    three_releases(twins)
    twins.kubectl("rollout", "undo", "deployment/web")
    result = with_kube(
        twins.cp, lambda kube: undo(kube, WorkloadRef(WorkloadKind.DEPLOYMENT, twins.ours, "web"))
    )
    assert (result.skipped, result.message, result.target_revision, result.from_revision) == (
        False,
        "rolled back",
        2,
        3,
    )
    state = assert_same_state(twins, keep_change_cause=True)
    assert state["annotations"]["kubernetes.io/change-cause"] == "release v2"


def test_replicas_set_by_a_scaler_are_left_alone(twins: Twins) -> None:
    three_releases(twins)
    for ns in twins.namespaces:
        twins.cp.kubectl("scale", "deployment/web", "--replicas=5", "-n", ns)
    undo_both(twins, "Deployment")
    assert assert_same_state(twins)["spec"]["replicas"] == 5


def test_deployment_annotations_missing_from_the_target_revision_are_dropped_like_kubectl(
    twins: Twins,
) -> None:
    three_releases(twins)
    twins.patch("Deployment", "web", {"metadata": {"annotations": {"team": "payments"}}})
    undo_both(twins, "Deployment")
    assert "team" not in assert_same_state(twins)["annotations"]


def test_undo_during_an_unfinished_rollout(twins: Twins) -> None:
    twins.create(workload("Deployment", "web", f"{IMAGE}:v1"))
    twins.release("Deployment", "web", f"{IMAGE}:v2")
    # v3 can never be scheduled, so its rollout stays unfinished
    stuck = {"spec": {"template": {"spec": {"nodeSelector": {"type": "none"}}}}}
    twins.patch("Deployment", "web", stuck, wait=False)
    settled(twins.cp, twins.theirs, "Deployment", "web")
    settled(twins.cp, twins.ours, "Deployment", "web")
    undo_both(twins, "Deployment")
    state = assert_same_state(twins)
    assert "nodeSelector" not in state["spec"]["template"]["spec"]
    twins.wait("Deployment", "web")


def test_server_dry_run_changes_nothing(twins: Twins) -> None:
    three_releases(twins)
    before = settled(twins.cp, twins.ours, "Deployment", "web")
    assert (
        undo_both(twins, "Deployment", "--dry-run=server")[1]
        == "deployment.apps/web rolled back (server dry run)\n"
    )
    assert settled(twins.cp, twins.ours, "Deployment", "web") == before
    assert_same_state(twins)


def test_last_applied_warning_matches_kubectl(twins: Twins) -> None:
    manifest = workload("Deployment", "web", f"{IMAGE}:v1")
    for ns in twins.namespaces:
        twins.cp.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    twins.wait("Deployment", "web")
    twins.release("Deployment", "web", f"{IMAGE}:v2")
    code, _, stderr = undo_both(twins, "Deployment")
    assert code == 0 and stderr.startswith("Warning: resource deployments/web was previously managed")


@pytest.mark.parametrize(
    ("setup", "flags", "expected"),
    [
        (
            "paused",
            (),
            "error: you cannot rollback a paused deployment; "
            "resume it first with 'kubectl rollout resume' and try again\n",
        ),
        ("one-release", (), 'error: no rollout history found for deployment "web"\n'),
        ("history-limit-0", (), 'error: no rollout history found for deployment "web"\n'),
        ("three-releases", ("--to-revision=9",), "error: unable to find specified revision 9 in history\n"),
        ("three-releases", ("--to-revision=3",), ""),
    ],
)
def test_refusals_and_skips_match_kubectl(
    twins: Twins, setup: str, flags: tuple[str, ...], expected: str
) -> None:
    if setup == "one-release":
        twins.create(workload("Deployment", "web", f"{IMAGE}:v1"))
    elif setup == "history-limit-0":
        three_releases(twins, revisionHistoryLimit=0)
        for ns in twins.namespaces:  # the controller deletes old ReplicaSets just after each roll-out
            eventually(
                lambda ns=ns: len(history_objects(twins.cp, ns, "Deployment", deployment_of(twins, ns))) == 1,
                what="old ReplicaSets to be cleaned up",
            )
    else:
        three_releases(twins)
    if setup == "paused":
        for ns in twins.namespaces:
            twins.cp.kubectl("rollout", "pause", "deployment/web", "-n", ns)
    before = settled(twins.cp, twins.ours, "Deployment", "web")
    code, stdout, stderr = undo_both(twins, "Deployment", *flags)
    assert stderr == expected
    if expected:
        assert code == 1
    else:
        assert (code, stdout) == (
            0,
            "deployment.apps/web skipped rollback (current template already matches revision 3)\n",
        )
    assert settled(twins.cp, twins.ours, "Deployment", "web") == before


def test_missing_workload_is_reported_like_kubectl(twins: Twins) -> None:
    theirs = twins.kubectl("rollout", "undo", "deployment/nope")
    ours = twins.ours_cli("undo", "deployment/nope")
    assert ours[0] == theirs[0] == 1
    assert ours[2] == theirs[2].replace(f' in namespace "{twins.theirs}"', "")


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_controller_revision_undo_matches_kubectl(twins: Twins, kind: str) -> None:
    three_releases(twins, kind)
    assert undo_both(twins, kind)[0] == 0
    state = assert_same_state(twins, kind)
    assert image_of(state) == f"{IMAGE}:v2" and sorted(state["revisions"], key=int) == ["1", "3", "4"]
    undo_both(twins, kind, "--to-revision=1")
    assert image_of(assert_same_state(twins, kind)) == f"{IMAGE}:v1"
    assert (
        undo_both(twins, kind, "--to-revision=7")[2]
        == "error: unable to find specified revision 7 in history\n"
    )


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_controller_revision_refusals_match_kubectl(twins: Twins, kind: str) -> None:
    twins.create(workload(kind, "web", f"{IMAGE}:v1"))
    assert undo_both(twins, kind) == (1, "", "error: no last revision to roll back to\n")


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_history_output_matches_kubectl(twins: Twins, kind: str) -> None:
    three_releases(twins, kind)
    theirs = twins.kubectl("rollout", "history", f"{kind.lower()}/web")
    ours = twins.ours_cli("history", f"{kind.lower()}/web")
    assert ours == theirs
    assert "release v3" in ours[1]
    # the same after an undo re-numbers a revision
    undo_both(twins, kind)
    assert_same_state(twins, kind)
    theirs = twins.kubectl("rollout", "history", f"{kind.lower()}/web")
    ours = twins.ours_cli("history", f"{kind.lower()}/web")
    assert (ours[0], ours[2]) == (theirs[0], theirs[2])
    # change-cause of the restored revision is ours (it names who rolled back); the rows are the same
    assert [line.split()[0] for line in ours[1].splitlines()[1:-1]] == [
        line.split()[0] for line in theirs[1].splitlines()[1:-1]
    ]


def test_empty_history_matches_kubectl(twins: Twins) -> None:
    twins.create(workload("Deployment", "web", f"{IMAGE}:v1", revisionHistoryLimit=0))
    theirs = twins.kubectl("rollout", "history", "deployment/web")
    assert twins.ours_cli("history", "deployment/web") == theirs
