"""Argo Rollouts' rules as the plugin and controller apply them (v1.8.3), on API JSON: the undo's target,
skip and patch, the plugin's status line, where a rollback of a Rollout comes to rest, and our patch around
the plugin's. The cluster tests hold the same against the real controller and plugin."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import argo, rollout
from receiver.k8s.errors import NoHistory, UnknownRevision, UnsupportedWorkloadRef
from receiver.k8s.status import rollout_settled, rollout_status

UID = "uid-rollout"
REF = WorkloadRef(WorkloadKind.ROLLOUT, "shop", "web")


def template(image: str, hash_label: str | None = None, **spec: Any) -> dict[str, Any]:
    labels = {"app": "web"} | ({argo.HASH_LABEL: hash_label} if hash_label else {})
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}], **spec}}


def replica_set(name: str, revision: str | None, image: str, *, owner: str = UID) -> dict[str, Any]:
    annotations = {argo.REVISION: revision} if revision is not None else {}
    return {
        "metadata": {
            "name": name,
            "annotations": annotations,
            "labels": {"app": "web", argo.HASH_LABEL: name},
            "ownerReferences": [{"kind": "Rollout", "name": "web", "uid": owner, "controller": True}],
        },
        # What the API server stores: the Rollout's template, defaulted, with the hash label.
        "spec": {"template": template(image, name, dnsPolicy="ClusterFirst", restartPolicy="Always")},
    }


def rollout_json(image: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": UID,
            "resourceVersion": "42",
            "generation": 3,
            "annotations": {argo.REVISION: "3"},
        },
        "spec": {"replicas": 4, "template": template(image), "strategy": {"canary": {"steps": []}}},
        "status": {"observedGeneration": "3", **status},
    }


HISTORY = [
    replica_set("rs-a", "1", "web:1"),
    replica_set("rs-b", "2", "web:2"),
    replica_set("rs-c", "3", "web:3"),
]


# --------------------------------------------------------------------------------------- target choice


def test_default_target_is_the_second_highest_revision() -> None:
    number, rs = argo.choose_target("web", HISTORY, 0)
    assert (number, rs["metadata"]["name"]) == (2, "rs-b")


def test_a_duplicate_of_the_highest_number_is_previous_like_the_plugins_single_pass() -> None:
    duplicated = [*HISTORY, replica_set("rs-d", "3", "web:3b")]
    assert argo.choose_target("web", duplicated, 0)[1]["metadata"]["name"] == "rs-d"


def test_named_revision_missing_annotation_is_zero_and_unparseable_ones_are_skipped() -> None:
    assert argo.choose_target("web", HISTORY, 1)[1]["metadata"]["name"] == "rs-a"
    odd = [replica_set("rs-x", " 2", "web:x"), replica_set("rs-0", None, "web:0"), *HISTORY[2:]]
    # " 2" is no number to Go's ParseInt: skipped; no annotation counts as revision 0.
    assert argo.choose_target("web", odd, 0)[1]["metadata"]["name"] == "rs-0"


def test_refusals_are_the_plugins_words() -> None:
    with pytest.raises(UnknownRevision) as unknown:
        argo.choose_target("web", HISTORY, 9)
    assert unknown.value.message == "unable to find specified revision 9 in history"
    for history, to_revision in ((HISTORY[:1], 0), (HISTORY, -1)):  # a negative number matches nothing
        with pytest.raises(NoHistory) as none:
            argo.choose_target("web", history, to_revision)
        assert none.value.message == 'no revision found for rollout "web"'


def test_only_replica_sets_the_rollout_controls_count_in_server_order() -> None:
    foreign = replica_set("rs-z", "9", "web:9", owner="someone-else")
    assert [rs["metadata"]["name"] for rs in argo.owned(rollout_json("web:3"), [foreign, *HISTORY])] == [
        "rs-a",
        "rs-b",
        "rs-c",
    ]


# ------------------------------------------------------------------------------------- DeepDerivative


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ({}, {"x": 1}, True),
        ({"x": ""}, {"x": "set"}, True),  # an empty string on the left is "unset"
        ({"x": []}, {"x": [1]}, True),
        ({"x": {}}, {"x": {"y": 1}}, True),
        ({"x": None}, {"x": 5}, True),
        ({"x": None}, {}, False),  # a key the right side lacks is never equal, whatever the left holds
        ({"resources": {}}, {}, False),
        ({"x": [1]}, {"x": [1, 2]}, True),  # a shorter list need only be a prefix
        ({"x": [2]}, {"x": [1, 2]}, False),
        ({"x": 1}, {"x": 1.0}, False),  # int64 and float64 are different Go types
        ({"x": True}, {"x": 1}, False),
        ({"x": 0}, {"x": 0}, True),
        ({"x": False}, {"x": False}, True),
        ({"x": "a"}, {"x": "b"}, False),
        ({"x": 5}, {"x": None}, False),
        ({"a": {"b": [{"c": "d", "e": ""}]}}, {"a": {"b": [{"c": "d", "e": "f", "g": 1}]}}, True),
    ],
)
def test_derivative_equal_is_deep_derivative(a: Any, b: Any, equal: bool) -> None:
    assert argo.derivative_equal(a, b) is equal


def test_the_skip_ignores_the_hash_label_and_what_the_server_defaulted() -> None:
    ro = rollout_json("web:2")
    assert argo.equal_ignore_hash(ro, HISTORY[1])
    assert not argo.equal_ignore_hash(ro, HISTORY[0])
    ro["spec"]["template"]["spec"]["dnsPolicy"] = "Default"
    assert not argo.equal_ignore_hash(ro, HISTORY[1])
    del ro["spec"]["template"]
    assert not argo.equal_ignore_hash(ro, HISTORY[1])  # a workloadRef Rollout is never skipped


# ------------------------------------------------------------------------------------------------ plan


def test_the_undo_patch_is_one_replace_of_the_template_without_the_hash_label() -> None:
    plan = argo.plan_undo(rollout_json("web:3"), HISTORY, 0)
    assert plan.skipped_message is None
    assert (plan.target_revision, plan.from_revision, plan.content_type) == (
        2,
        3,
        "application/json-patch+json",
    )
    expected = copy.deepcopy(HISTORY[1]["spec"]["template"])
    del expected["metadata"]["labels"][argo.HASH_LABEL]
    assert plan.patch == [{"op": "replace", "path": "/spec/template", "value": expected}]
    assert plan.patch_target is None and plan.resource_version == "42"


def test_already_at_the_target_is_the_plugins_skip_naming_the_requested_number() -> None:
    plan = argo.plan_undo(rollout_json("web:2"), HISTORY, 2)
    assert plan.skipped_message == "skipped rollback (current template already matches revision 2)"
    assert argo.plan_undo(rollout_json("web:2"), HISTORY[:2] + HISTORY[1:2], 0).skipped_message == (
        "skipped rollback (current template already matches revision 0)"
    )


def test_a_workload_ref_rollouts_undo_patches_its_deployment_under_the_deployments_version() -> None:
    ro = rollout_json("unused")
    del ro["spec"]["template"]
    ro["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-deploy"}
    deployment = {
        "metadata": {"name": "web-deploy", "resourceVersion": "7", "annotations": {"team": "shop"}},
        "spec": {"template": template("web:3", dnsPolicy="ClusterFirst", restartPolicy="Always")},
    }
    plan = argo.plan_undo(ro, HISTORY, 0, deployment)
    assert plan.patch_target == WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "web-deploy")
    assert plan.resource_version == "7" and plan.base_annotations == {"team": "shop"}
    assert plan.from_revision == 3  # the ReplicaSet whose template is the Deployment's
    ro["spec"]["workloadRef"]["kind"] = "PodTemplate"
    with pytest.raises(UnsupportedWorkloadRef, match="workload of type PodTemplate is not supported"):
        argo.plan_undo(ro, HISTORY, 0)


def test_our_patch_is_the_plugins_op_plus_our_annotations_and_the_precondition() -> None:
    plan = argo.plan_undo(rollout_json("web:3"), HISTORY, 0)
    ops = rollout.guarded_patch(REF, plan, {"rollback-receiver.io/last-alert": "k"})
    assert ops[0] == plan.patch[0]
    assert ops[1:] == [
        {
            "op": "add",
            "path": "/metadata/annotations",
            "value": {argo.REVISION: "3", "rollback-receiver.io/last-alert": "k"},
        },
        {"op": "replace", "path": "/metadata/resourceVersion", "value": "42"},
    ]
    # Without audit annotations the only addition is the precondition.
    assert rollout.guarded_patch(REF, plan, {})[1:] == [ops[2]]


# ---------------------------------------------------------------------------------------------- status


def with_status(**status: Any) -> dict[str, Any]:
    return rollout_json("web:3", **status)


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        (
            {"observedGeneration": "2", "phase": "Healthy"},
            ("Progressing", "waiting for rollout spec update to be observed"),
        ),
        ({"observedGeneration": "abc123", "phase": "Healthy"}, ("Healthy", "")),  # a hash: Argo <= 0.9
        (
            {"observedGeneration": "4", "phase": "Paused", "message": "CanaryPauseStep"},
            ("Paused", "CanaryPauseStep"),
        ),
        ({"controllerPause": True, "phase": "Paused"}, ("Progressing", "waiting for rollout to unpause")),
        (
            {
                "conditions": [
                    {
                        "type": "Progressing",
                        "reason": "RolloutAborted",
                        "message": "Rollout aborted update to revision 3",
                    }
                ]
            },
            ("Degraded", "RolloutAborted: Rollout aborted update to revision 3"),
        ),
        (
            {"pauseConditions": [{"reason": "BlueGreenPause"}], "controllerPause": True},
            ("Paused", "BlueGreenPause"),
        ),
        ({"updatedReplicas": 2}, ("Progressing", "more replicas need to be updated")),
        (
            {"updatedReplicas": 4, "availableReplicas": 3},
            ("Progressing", "updated replicas are still becoming available"),
        ),
        (
            {"updatedReplicas": 4, "availableReplicas": 4, "replicas": 5},
            ("Progressing", "old replicas are pending termination"),
        ),
        (
            {
                "updatedReplicas": 4,
                "availableReplicas": 4,
                "replicas": 4,
                "stableRS": "a",
                "currentPodHash": "b",
            },
            ("Progressing", "waiting for all steps to complete"),
        ),
        (
            {
                "updatedReplicas": 4,
                "availableReplicas": 4,
                "replicas": 4,
                "stableRS": "b",
                "currentPodHash": "b",
            },
            ("Healthy", ""),
        ),
    ],
)
def test_phase_is_the_plugins(status: dict[str, Any], phase: tuple[str, str]) -> None:
    assert argo.phase(with_status(**status)) == phase


def test_status_lines_and_ends_are_the_plugins() -> None:
    paused = with_status(phase="Paused", message="CanaryPauseStep")
    assert (rollout_status(paused).message, rollout_status(paused).done) == (
        "Paused - CanaryPauseStep",
        False,
    )
    healthy = rollout_status(with_status(phase="Healthy"))
    assert (healthy.message, healthy.done, healthy.error) == ("Healthy", True, "")
    degraded = with_status(phase="Degraded", message="RolloutAborted: Rollout aborted update to revision 3")
    watched, once = rollout_status(degraded), rollout_status(degraded, watch=False)
    assert watched.message == "Degraded - RolloutAborted: Rollout aborted update to revision 3"
    assert once.message == "Degraded"
    assert once.error == (
        "The rollout is in a degraded state with message: "
        "RolloutAborted: Rollout aborted update to revision 3"
    )


def test_a_rollback_comes_to_rest_at_healthy_paused_or_a_settled_abort() -> None:
    assert rollout_settled(with_status(phase="Healthy")).done
    paused = rollout_settled(with_status(phase="Paused", message="CanaryPauseStep"))
    assert paused.done and paused.paused
    assert rollout_settled(with_status(phase="Degraded", message="ProgressDeadlineExceeded: x")).error
    # An abort the controller has not taken up yet is still Paused: not at rest, and not a pause either.
    pending = rollout_settled(with_status(abort=True, phase="Paused", message="CanaryPauseStep"))
    assert not pending.done and not pending.paused
    aborted = {
        "abort": True,
        "phase": "Degraded",
        "message": "RolloutAborted: Rollout aborted update to revision 3",
    }
    scaling = rollout_settled(with_status(**aborted, replicas=5, availableReplicas=5))
    assert not scaling.done  # the canary pod is still there
    assert rollout_settled(with_status(**aborted, replicas=4, availableReplicas=4)).done
    timed_out = {"abort": True, "phase": "Degraded", "message": "ProgressDeadlineExceeded: slow"}
    assert rollout_settled(with_status(**timed_out)).error


def test_a_workload_ref_rollout_is_not_at_rest_before_it_ran_the_deployments_generation() -> None:
    ro = with_status(phase="Healthy", workloadObservedGeneration="2")
    ro["metadata"]["annotations"][argo.WORKLOAD_GENERATION] = "2"
    assert not rollout_settled(ro, workload_generation=3).done
    ro["metadata"]["annotations"][argo.WORKLOAD_GENERATION] = "3"
    assert not rollout_settled(ro, workload_generation=3).done  # annotated, not yet observed
    ro["status"]["workloadObservedGeneration"] = "3"
    assert rollout_settled(ro, workload_generation=3).done


def test_an_update_is_in_progress_until_the_stable_replica_set_is_the_current_one() -> None:
    assert argo.state(with_status(stableRS="a", currentPodHash="b")).update_in_progress
    assert not argo.state(with_status(stableRS="b", currentPodHash="b")).update_in_progress
    assert argo.state(
        with_status(stableRS="b", currentPodHash="b", observedGeneration="2")
    ).update_in_progress
