"""A Deployment an Argo Rollout runs through spec.workloadRef carries no mark of it, so the receiver finds
the Rollout by listing Rollouts; without the RBAC to list them it says so once and reads "none"."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from harness.argo_rollouts import ArgoRollouts
from harness.cluster import ClusterAccess
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import connect, read_facts


def manifests() -> str:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/api:1"}]},
            },
        },
    }
    referencing = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "api-rollout"},
        "spec": {
            "replicas": 1,
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
            "strategy": {"canary": {"steps": []}},
        },
    }
    # Another Rollout in the namespace, with a template of its own: it has nothing to do with `api`.
    unrelated = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/web:1"}]},
            },
            "strategy": {"canary": {"steps": []}},
        },
    }
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [deployment, referencing, unrelated]})


async def test_the_rollout_whose_workload_ref_names_a_deployment_is_found(
    argo_rollouts: ArgoRollouts, control_plane: ClusterAccess, namespace: str
) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=manifests())
    kube = await connect(control_plane.kubeconfig)
    try:
        deployment = await read_facts(kube, WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "api"))
        rollout = await read_facts(kube, WorkloadRef(WorkloadKind.ROLLOUT, namespace, "api-rollout"))
    finally:
        await kube.close()
    assert deployment.referenced_by == ("api-rollout",)
    assert rollout.rollout is not None and rollout.rollout.workload_ref == "Deployment/api"


async def test_without_rbac_on_rollouts_the_deployment_is_read_and_the_gap_is_logged_once(
    argo_rollouts: ArgoRollouts,
    control_plane: Any,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=manifests())
    # What the chart grants with rbac.argoRollouts off: the apps rules only.
    control_plane.kubectl(
        "create",
        "role",
        "apps-only",
        "-n",
        namespace,
        "--verb=get,list",
        "--resource=deployments,replicasets",
    )
    control_plane.kubectl(
        "create", "rolebinding", "apps-only", "-n", namespace, "--role=apps-only", "--user=alice"
    )
    alice = await connect(control_plane.kubeconfig_for_token(control_plane.user_tokens["alice"]))
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "api")
    try:
        with caplog.at_level(logging.WARNING, logger="receiver.k8s.snapshots"):
            first = await read_facts(alice, ref)
            second = await read_facts(alice, ref)
    finally:
        await alice.close()
    assert first.referenced_by == second.referenced_by == ()
    assert first.current_revision == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "receiver.k8s.snapshots"]
    assert len(warnings) == 1 and "rbac.argoRollouts" in warnings[0] and "Forbidden" in warnings[0]
