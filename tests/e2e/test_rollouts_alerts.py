"""Argo Rollouts end to end: alerts through a real Alertmanager into a `rollback-receiver serve` process, on
the real control plane with the real Argo Rollouts controller. An alert an hour after promotion (here:
right after it) rolls the Rollout back; an alert during a canary aborts it; a Deployment a Rollout runs
through spec.workloadRef is left alone, with the Rollout named."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import event_reasons, our_events, receiver_config

from harness.alertmanager import webhook_config
from harness.argo_rollouts import ArgoRollouts
from harness.cluster import ClusterAccess
from harness.receiver import ReceiverProcess
from harness.waiting import eventually

pytestmark = [pytest.mark.e2e]

V1, V2 = "registry.example/shop:v1", "registry.example/shop:v2"
WAIT = 180.0
ROUTES = [
    {
        "name": "rollouts",
        "match": ['rollback="true"', 'rollout=~".+"'],
        "target": {"kind": "Rollout", "namespace": "{{ labels.namespace }}", "name": "{{ labels.rollout }}"},
        "action": "rollback",
    },
    {
        "name": "deployments",
        "match": ['rollback="true"'],
        "target": {"namespace": "{{ labels.namespace }}", "name": "{{ labels.deployment }}"},
        "action": "rollback",
    },
]


@pytest.fixture
def stack(
    argo_rollouts: ArgoRollouts,
    control_plane: ClusterAccess,
    namespace: str,
    tmp_path: Path,
    alertmanager_factory: Any,
) -> Iterator[tuple[ReceiverProcess, str]]:
    """A receiver (admin credentials: the chart with rbac.argoRollouts) and an Alertmanager sending to it."""
    receiver = ReceiverProcess(tmp_path / "receiver", kubeconfig=control_plane.kubeconfig)
    receiver.configure(receiver_config(namespace, routes=ROUTES))
    am = alertmanager_factory(webhook_config(f"{receiver.url}/webhook", token=receiver.token))
    receiver.start()
    try:
        yield receiver, am.url
    finally:
        receiver.stop()


def canary(name: str, image: str, steps: list[dict[str, Any]], replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": {"canary": {"steps": steps}},
        },
    }


def apply(cp: ClusterAccess, namespace: str, *manifests: dict[str, Any]) -> None:
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifests)})
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=document)


def rollout(cp: ClusterAccess, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cp.kubectl_json("get", "rollout.argoproj.io", name, "-n", namespace)
    return found


def phase_is(cp: ClusterAccess, namespace: str, name: str, phase: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        ro = rollout(cp, namespace, name)
        status = ro.get("status", {})
        observed = status.get("observedGeneration") == str(ro["metadata"]["generation"])
        return ro if observed and status.get("phase") == phase else None

    return eventually(check, what=f"Rollout {name} {phase}", timeout=WAIT, interval=0.5)


def image(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def alert(namespace: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": "HighErrorRate", "namespace": namespace, "severity": "critical", **labels},
        "annotations": {"rollback": "true"},
    }


def outcome(receiver: ReceiverProcess, cp: ClusterAccess, namespace: str, name: str) -> list[str]:
    def finished() -> list[str] | None:
        reasons = event_reasons(cp, namespace, name)
        return reasons if {"RollbackSucceeded", "RollbackFailed"} & set(reasons) else None

    return eventually(
        finished,
        what=f"the outcome of the rollback of {name}",
        timeout=WAIT,
        on_fail=lambda: json.dumps(receiver.decisions(), indent=1) + "\n" + receiver.log_tail(),
    )


def test_an_alert_after_promotion_rolls_the_rollout_back(
    control_plane: ClusterAccess, namespace: str, stack: tuple[ReceiverProcess, str], push_alerts: Any
) -> None:
    receiver, am_url = stack
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "2s"}}]
    apply(control_plane, namespace, canary("shop", V1, steps, replicas=2))
    phase_is(control_plane, namespace, "shop", "Healthy")
    apply(control_plane, namespace, canary("shop", V2, steps, replicas=2))
    promoted = phase_is(control_plane, namespace, "shop", "Healthy")  # the timed pause passed: promoted
    assert promoted["status"]["stableRS"] == promoted["status"]["currentPodHash"]

    push_alerts(am_url, [alert(namespace, rollout="shop")])

    assert "RollbackSucceeded" in outcome(receiver, control_plane, namespace, "shop")
    [decision] = receiver.decisions(decision="rollback")
    assert (decision["target"], decision["remedy"], decision["to_revision"]) == (
        f"rollout/shop -n {namespace}",
        "undo",
        1,
    )
    # The previous template went through the canary steps again and was promoted by the timed pause.
    restored = phase_is(control_plane, namespace, "shop", "Healthy")
    assert image(restored) == V1
    annotations = restored["metadata"]["annotations"]
    assert annotations["rollout.argoproj.io/revision"] == "3"
    assert annotations["rollback-receiver.io/last-alert"] == decision["alert"]
    assert annotations["rollback-receiver.io/rolled-back-from"] == "2"
    assert annotations["kubernetes.io/change-cause"].startswith("rollback-receiver: HighErrorRate (")
    assert event_reasons(control_plane, namespace, "shop").count("RollbackTriggered") == 1


def test_an_alert_during_a_canary_aborts_it(
    control_plane: ClusterAccess, namespace: str, stack: tuple[ReceiverProcess, str], push_alerts: Any
) -> None:
    receiver, am_url = stack
    steps: list[dict[str, Any]] = [{"setWeight": 25}, {"pause": {}}]
    apply(control_plane, namespace, canary("cart", V1, steps, replicas=4))
    phase_is(control_plane, namespace, "cart", "Healthy")
    apply(control_plane, namespace, canary("cart", V2, steps, replicas=4))
    phase_is(control_plane, namespace, "cart", "Paused")

    push_alerts(am_url, [alert(namespace, rollout="cart")])

    reasons = outcome(receiver, control_plane, namespace, "cart")
    assert "RollbackSucceeded" in reasons, reasons
    [decision] = receiver.decisions(decision="rollback")
    assert decision["remedy"] == "abort" and decision["to_revision"] == 1
    assert "abort the update of rollout/cart" in decision["message"]
    aborted = phase_is(control_plane, namespace, "cart", "Degraded")
    assert aborted["status"]["abort"] is True
    assert aborted["status"]["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    assert image(aborted) == V2  # an abort keeps the spec; the pods went back to the stable revision
    annotations = aborted["metadata"]["annotations"]
    assert annotations["rollback-receiver.io/last-alert"] == decision["alert"]
    assert annotations["rollback-receiver.io/rolled-back-to-template"] == aborted["status"]["stableRS"]
    succeeded = [
        e for e in our_events(control_plane, namespace, "cart") if e["reason"] == "RollbackSucceeded"
    ]
    assert "Degraded - RolloutAborted" in succeeded[0]["message"]
    # Events name the Rollout with its own API group, so `kubectl describe rollout` lists them.
    assert succeeded[0]["involvedObject"]["apiVersion"] == "argoproj.io/v1alpha1"


def test_a_deployment_a_rollout_runs_through_workload_ref_is_skipped_with_the_rollout_named(
    control_plane: ClusterAccess, namespace: str, stack: tuple[ReceiverProcess, str], push_alerts: Any
) -> None:
    receiver, am_url = stack

    def deployment(image_name: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "app", "image": image_name}]},
                },
            },
        }

    rollout_ref = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "api-canary"},
        "spec": {
            "replicas": 2,
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": "1s"}}]}},
        },
    }
    apply(control_plane, namespace, deployment(V1), rollout_ref)
    phase_is(control_plane, namespace, "api-canary", "Healthy")
    apply(control_plane, namespace, deployment(V2))
    control_plane.kubectl("rollout", "status", "deployment/api", "-n", namespace, "--timeout=120s")
    before = control_plane.kubectl_json("get", "deployment", "api", "-n", namespace)

    push_alerts(am_url, [alert(namespace, deployment="api")])

    skipped = eventually(
        lambda: receiver.decisions(reason="owned_by_rollout"),
        what="the skip of the Deployment",
        timeout=WAIT,
        on_fail=lambda: json.dumps(receiver.decisions(), indent=1),
    )
    assert skipped[0]["target"] == f"deployment/api -n {namespace}"
    assert "the Argo Rollout rollout/api-canary" in skipped[0]["message"]
    eventually(
        lambda: "RollbackSkipped" in event_reasons(control_plane, namespace, "api"),
        what="the RollbackSkipped Event on the Deployment",
        timeout=WAIT,
    )
    after = control_plane.kubectl_json("get", "deployment", "api", "-n", namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert image(after) == V2
    assert not receiver.decisions(decision="rollback")
