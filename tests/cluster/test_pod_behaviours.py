"""Pods that really fail on kwok (harness/kwok/pod-behaviours.yaml): a revision whose template carries
`rollback-receiver.test/behaviour: never-ready` or `crashloop` fails the way a kubelet reports it, so the
deployment controller, `kubectl rollout status`, kube-state-metrics-style readers and the receiver see a
real broken rollout; a revision without the label becomes available as before, and failing pods are
deleted normally when the rollout moves away from them."""

from __future__ import annotations

import json
from typing import Any

from harness.cluster import ClusterAccess
from harness.pod_behaviours import CRASHLOOP, NEVER_READY, SLOW_READY, failing_template, healthy_template
from harness.waiting import eventually

WAIT = 120.0  # bounds a hang on a loaded machine; nothing asserts on time
PROGRESS_DEADLINE = 8  # seconds: short, so the controller gives up on the bad revision quickly
REPLICAS = 2


def deployment(name: str, template: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": REPLICAS,
            "progressDeadlineSeconds": PROGRESS_DEADLINE,
            "selector": {"matchLabels": {"app": name}},
            # One new pod at a time and none of the old ones taken down: the old revision keeps serving.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": template,
        },
    }


def base_template(name: str, image: str = "registry.example/shop:v1") -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": image}]}}


def create_available(cp: ClusterAccess, namespace: str, name: str) -> None:
    manifest = deployment(name, base_template(name))
    cp.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    cp.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")


def set_template(cp: ClusterAccess, namespace: str, name: str, template: dict[str, Any]) -> None:
    patch = [{"op": "replace", "path": "/spec/template", "value": template}]
    cp.kubectl("patch", f"deployment/{name}", "-n", namespace, "--type=json", "-p", json.dumps(patch))


def read(cp: ClusterAccess, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cp.kubectl_json("get", f"deployment/{name}", "-n", namespace)
    return found


def condition(deployment: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in deployment["status"].get("conditions", []) if c["type"] == kind), {})


def pods(cp: ClusterAccess, namespace: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cp.kubectl_json("get", "pods", "-n", namespace, "-l", f"app={name}")[
        "items"
    ]
    return items


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def with_behaviour(items: list[dict[str, Any]], behaviour: str | None) -> list[dict[str, Any]]:
    key = "rollback-receiver.test/behaviour"
    return [p for p in items if (p["metadata"].get("labels") or {}).get(key) == behaviour]


def deadline_exceeded(cp: ClusterAccess, namespace: str, name: str) -> dict[str, Any] | None:
    progressing = condition(read(cp, namespace, name), "Progressing")
    wanted = progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded"
    return progressing if wanted else None


def test_never_ready_revision_exceeds_its_progress_deadline_and_undo_recovers(
    control_plane: ClusterAccess, namespace: str
) -> None:
    cp, name = control_plane, "never-ready"
    create_available(cp, namespace, name)

    set_template(
        cp, namespace, name, failing_template(base_template(name, "registry.example/shop:v2"), NEVER_READY)
    )

    progressing = eventually(
        lambda: deadline_exceeded(cp, namespace, name),
        what="Progressing=False/ProgressDeadlineExceeded",
        timeout=WAIT,
    )
    assert "has timed out progressing" in progressing["message"]
    status = cp.kubectl(
        "rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=30s", check=False
    )
    assert status.returncode != 0
    assert "exceeded its progress deadline" in status.stderr

    bad = with_behaviour(pods(cp, namespace, name), NEVER_READY)
    assert len(bad) == 1  # maxSurge 1: one new pod, never ready, so the rollout goes no further
    pod = bad[0]
    assert pod["status"]["phase"] == "Running"
    assert not is_ready(pod)
    ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "ContainersNotReady"
    (container,) = pod["status"]["containerStatuses"]
    assert container["ready"] is False
    assert container["restartCount"] == 0
    assert "running" in container["state"]
    # The old revision still serves: nothing was taken down for a pod that never became ready.
    deployment = read(cp, namespace, name)
    assert deployment["status"]["availableReplicas"] == REPLICAS
    assert deployment["status"]["unavailableReplicas"] == 1
    assert deployment["status"]["updatedReplicas"] == 1

    cp.kubectl("rollout", "undo", f"deployment/{name}", "-n", namespace)
    cp.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")
    # The never-ready pod is deleted like any other (it must not stay Terminating).
    eventually(
        lambda: with_behaviour(pods(cp, namespace, name), NEVER_READY) == [],
        what="the never-ready pod to be deleted",
        timeout=WAIT,
    )
    assert all(is_ready(p) for p in pods(cp, namespace, name))


def test_crashloop_revision_restarts_in_crash_loop_back_off(
    control_plane: ClusterAccess, namespace: str
) -> None:
    cp, name = control_plane, "crashloop"
    create_available(cp, namespace, name)
    bad_template = failing_template(
        base_template(name, "registry.example/shop:v2"), CRASHLOOP, crash_after="1s", restart_backoff="1s"
    )
    set_template(cp, namespace, name, bad_template)

    def backing_off() -> dict[str, Any] | None:
        for pod in with_behaviour(pods(cp, namespace, name), CRASHLOOP):
            for container in pod["status"].get("containerStatuses") or []:
                waiting = container.get("state", {}).get("waiting") or {}
                if waiting.get("reason") == "CrashLoopBackOff" and container["restartCount"] >= 3:
                    return pod
        return None

    pod = eventually(
        backing_off, what="a container in CrashLoopBackOff after 3 restarts", timeout=WAIT, interval=0.2
    )
    (container,) = pod["status"]["containerStatuses"]
    assert (
        pod["status"]["phase"] == "Running"
    )  # restartPolicy Always: the pod lives on, its container restarts
    assert not is_ready(pod)
    assert container["ready"] is False
    terminated = container["lastState"]["terminated"]
    assert terminated["exitCode"] == 1
    assert terminated["reason"] == "Error"
    assert "back-off restarting failed container=app" in container["state"]["waiting"]["message"]

    # It keeps crashing: the restart count goes on rising.
    first = container["restartCount"]
    eventually(
        lambda: any(
            c["restartCount"] > first
            for p in with_behaviour(pods(cp, namespace, name), CRASHLOOP)
            for c in p["status"].get("containerStatuses") or []
        ),
        what="another restart",
        timeout=WAIT,
    )
    events = cp.kubectl_json(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={pod['metadata']['name']}"
    )["items"]
    assert any(e["reason"] == "BackOff" and e["type"] == "Warning" for e in events)

    # The Deployment never finishes this rollout, and says so after its deadline.
    progressing = eventually(
        lambda: deadline_exceeded(cp, namespace, name),
        what="Progressing=False/ProgressDeadlineExceeded",
        timeout=WAIT,
    )
    assert progressing["reason"] == "ProgressDeadlineExceeded"
    assert read(cp, namespace, name)["status"]["availableReplicas"] == REPLICAS


def test_revision_without_the_label_becomes_available_and_replaces_the_failing_pods(
    control_plane: ClusterAccess, namespace: str
) -> None:
    cp, name = control_plane, "recovers"
    create_available(cp, namespace, name)
    assert all(is_ready(p) for p in pods(cp, namespace, name))
    set_template(
        cp, namespace, name, failing_template(base_template(name, "registry.example/shop:v2"), CRASHLOOP)
    )
    eventually(
        lambda: with_behaviour(pods(cp, namespace, name), CRASHLOOP) or None,
        what="a crash-looping pod",
        timeout=WAIT,
    )

    # A fix (v3, no failure label) is a normal revision: it rolls out completely.
    fixed = healthy_template(failing_template(base_template(name, "registry.example/shop:v3"), CRASHLOOP))
    assert fixed == base_template(name, "registry.example/shop:v3")
    set_template(cp, namespace, name, fixed)
    cp.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")
    eventually(
        lambda: with_behaviour(pods(cp, namespace, name), CRASHLOOP) == [],
        what="the crash-looping pod to be deleted",
        timeout=WAIT,
    )
    current = pods(cp, namespace, name)
    assert len(current) == REPLICAS
    assert all(is_ready(p) for p in current)
    assert all(p["spec"]["containers"][0]["image"] == "registry.example/shop:v3" for p in current)
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in current)
    deployment = read(cp, namespace, name)
    assert condition(deployment, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert condition(deployment, "Available")["status"] == "True"


def test_slow_ready_revision_becomes_ready_after_its_delay_and_rolls_out(
    control_plane: ClusterAccess, namespace: str
) -> None:
    cp, name = control_plane, "slow-ready"
    create_available(cp, namespace, name)
    slow = failing_template(base_template(name, "registry.example/shop:v2"), SLOW_READY, ready_after="3s")
    set_template(cp, namespace, name, slow)

    def starting() -> dict[str, Any] | None:
        found = [p for p in with_behaviour(pods(cp, namespace, name), SLOW_READY) if p["status"].get("phase")]
        return found[0] if found and found[0]["status"]["phase"] == "Running" else None

    pod = eventually(starting, what="a slow-ready pod running", timeout=WAIT, interval=0.2)
    if not is_ready(pod):  # usually seen before its delay is over: running, not ready yet
        (container,) = pod["status"]["containerStatuses"]
        assert container["ready"] is False and "running" in container["state"]
    cp.kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, "--timeout=120s")
    slow_pods = with_behaviour(pods(cp, namespace, name), SLOW_READY)
    assert len(slow_pods) == REPLICAS and all(is_ready(p) for p in slow_pods)
    for slow_pod in slow_pods:
        ready = next(c for c in slow_pod["status"]["conditions"] if c["type"] == "Ready")
        started = slow_pod["status"]["startTime"]
        assert ready["lastTransitionTime"] > started  # it became ready after it started, not at once
        (container,) = slow_pod["status"]["containerStatuses"]
        assert container["restartCount"] == 0 and container["ready"] is True
    assert condition(read(cp, namespace, name), "Progressing")["reason"] == "NewReplicaSetAvailable"
