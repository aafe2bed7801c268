"""Helpers for the differential tests against Argo Rollouts: twin Rollouts built the same way in two
namespaces, the plugin acting on one and the receiver on the other, and what the controller leaves once it
has settled, minus what is ours."""

from __future__ import annotations

import json
from typing import Any

from rollout_support import run_cli

from harness.argo_rollouts import ArgoRollouts
from harness.cluster import ClusterAccess
from harness.waiting import eventually

HASH_LABEL = "rollouts-pod-template-hash"
REVISION = "rollout.argoproj.io/revision"
REVISION_HISTORY = "rollout.argoproj.io/revision-history"
OURS_PREFIX = "rollback-receiver.io/"
CHANGE_CAUSE = "kubernetes.io/change-cause"
STEPS: list[dict[str, Any]] = [
    {"setWeight": 25},
    {"pause": {}},
    {"setWeight": 50},
    {"pause": {"duration": "1s"}},
]


def canary(
    name: str, image: str, *, replicas: int = 4, steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
            "strategy": {"canary": {"steps": STEPS if steps is None else steps}},
        },
    }


def get_rollout(cp: ClusterAccess, namespace: str, name: str) -> dict[str, Any]:
    rollout: dict[str, Any] = cp.kubectl_json("get", "rollout.argoproj.io", name, "-n", namespace)
    return rollout


def owned_replica_sets(cp: ClusterAccess, namespace: str, rollout: dict[str, Any]) -> list[dict[str, Any]]:
    uid = rollout["metadata"]["uid"]
    items = cp.kubectl_json("get", "replicasets", "-n", namespace)["items"]
    return [
        rs
        for rs in items
        if any(o.get("uid") == uid and o.get("controller") for o in rs["metadata"].get("ownerReferences", []))
    ]


def _not_ours(annotations: dict[str, str], namespace: str) -> dict[str, str]:
    """Without our annotations, and with `kubectl apply`'s memory of the namespace made the same."""
    return {
        k: v.replace(f'"namespace":"{namespace}"', '"namespace":"NS"')
        for k, v in annotations.items()
        if not k.startswith(OURS_PREFIX) and k != CHANGE_CAUSE
    }


STEADY_READS = 3  # the same state this many reads in a row (half a second apart): the controller is done


def settled(cp: ClusterAccess, namespace: str, name: str, phase: str) -> dict[str, Any]:
    """The Rollout and its ReplicaSets once the controller observed the spec, reports `phase`, has scaled
    every ReplicaSet to its size and has stopped writing (the phase comes a reconcile before some of its
    conditions), minus timestamps, uids and our annotations."""
    seen: list[dict[str, Any]] = []

    def at_rest() -> dict[str, Any] | None:
        rollout = get_rollout(cp, namespace, name)
        status = rollout.get("status", {})
        replica_sets = owned_replica_sets(cp, namespace, rollout)
        moving = (
            status.get("observedGeneration") != str(rollout["metadata"]["generation"])
            or status.get("phase") != phase
            or int(status.get("availableReplicas") or 0) != int(status.get("replicas") or 0)
            or any(
                int(rs["status"].get("replicas") or 0) != int(rs["spec"].get("replicas") or 0)
                for rs in replica_sets
            )
        )
        state = None if moving else comparable(rollout, replica_sets, namespace)
        if state is None or (seen and seen[-1] != state):
            seen.clear()
        if state is not None:
            seen.append(state)
        return state if len(seen) >= STEADY_READS else None

    return eventually(
        at_rest,
        what=f"Rollout {namespace}/{name} at rest in {phase}",
        timeout=150,
        interval=0.5,
        on_fail=lambda: json.dumps(get_rollout(cp, namespace, name).get("status"), indent=1),
    )


def comparable(rollout: dict[str, Any], replica_sets: list[dict[str, Any]], namespace: str) -> dict[str, Any]:
    status = rollout["status"]
    kept = (
        "phase",
        "message",
        "stableRS",
        "currentPodHash",
        "currentStepIndex",
        "abort",
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
        "controllerPause",
    )
    return {
        "generation": rollout["metadata"]["generation"],
        "annotations": _not_ours(rollout["metadata"].get("annotations", {}), namespace),
        "spec": rollout["spec"],
        "status": {key: status.get(key) for key in kept},
        "conditions": sorted(
            (c["type"], c["status"], c["reason"], c["message"]) for c in status.get("conditions", [])
        ),
        "pauseConditions": [c["reason"] for c in status.get("pauseConditions") or []],
        "replica_sets": {
            rs["metadata"]["name"]: {
                "template": rs["spec"]["template"],
                "replicas": rs["spec"].get("replicas"),
                "annotations": _not_ours(rs["metadata"].get("annotations", {}), namespace),
            }
            for rs in replica_sets
        },
    }


class ArgoTwins:
    """One Rollout, built by the same `kubectl apply`s in two namespaces: the plugin acts on `theirs`, the
    receiver on `ours`."""

    def __init__(self, cp: ClusterAccess, argo: ArgoRollouts, theirs: str, ours: str) -> None:
        self.cp, self.argo, self.theirs, self.ours = cp, argo, theirs, ours

    @property
    def namespaces(self) -> tuple[str, str]:
        return self.theirs, self.ours

    def apply(self, *manifests: dict[str, Any]) -> None:
        document = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifests)})
        for namespace in self.namespaces:
            self.cp.kubectl("apply", "-n", namespace, "-f", "-", input=document)

    def plugin(self, *args: str) -> tuple[int, str]:
        """The plugin on their twin: (exit code, stdout); stderr carries its warnings and errors."""
        result = self.argo.plugin(*args, "-n", self.theirs, check=False)
        return result.returncode, result.stdout

    def both_plugin(self, *args: str) -> None:
        for namespace in self.namespaces:
            self.argo.plugin(*args, "-n", namespace)

    def ours_cli(self, *args: str) -> tuple[int, str, str]:
        return run_cli(self.cp, *args, "-n", self.ours)

    def settled(self, name: str, phase: str) -> dict[str, Any]:
        """Both twins at rest in `phase`; asserts they are the same and returns ours."""
        theirs = settled(self.cp, self.theirs, name, phase)
        ours = settled(self.cp, self.ours, name, phase)
        assert ours == theirs, "\n".join(differences(theirs, ours))
        return ours

    def rollout(self, namespace: str, name: str) -> dict[str, Any]:
        return get_rollout(self.cp, namespace, name)


def differences(theirs: Any, ours: Any, path: str = "") -> list[str]:
    """Where two settled states differ, one line per leaf: `path: theirs != ours`."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return [
            line
            for key in sorted(set(theirs) | set(ours), key=str)
            for line in differences(theirs.get(key, "<absent>"), ours.get(key, "<absent>"), f"{path}.{key}")
        ]
    return [] if theirs == ours else [f"{path}: {theirs!r} != {ours!r}"]


def image(state: dict[str, Any]) -> str:
    return str(state["spec"]["template"]["spec"]["containers"][0]["image"])
