"""The harness's real control plane behaves like a cluster an SRE would run `kubectl rollout` against:
controllers roll Deployments, StatefulSets and DaemonSets out, kwok makes pods Running and Ready, RBAC
denies users without grants, namespaces delete, and the apiserver restarts without losing state."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from harness import binaries
from harness.cluster import ClusterAccess

ROLLOUT_TIMEOUT = "--timeout=120s"


def deployment(name: str, image: str, replicas: int = 3) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def apply(cp: ClusterAccess, namespace: str, manifest: dict[str, Any]) -> None:
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def running_ready_pods(cp: ClusterAccess, namespace: str, selector: str) -> list[dict[str, Any]]:
    pods = cp.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
    return [
        p
        for p in pods
        if p["status"].get("phase") == "Running"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        and not p["metadata"].get("deletionTimestamp")
    ]


def test_deployment_rolls_out_and_rollout_undo_restores_the_first_template(
    control_plane: ClusterAccess, namespace: str
) -> None:
    cp = control_plane
    apply(cp, namespace, deployment("web", "registry.example/web:1.0"))
    cp.kubectl("rollout", "status", "deployment/web", "-n", namespace, ROLLOUT_TIMEOUT)

    [first_rs] = cp.kubectl_json("get", "replicasets", "-n", namespace, "-l", "app=web")["items"]
    assert first_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert first_rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    pods = running_ready_pods(cp, namespace, "app=web")
    assert len(pods) == 3
    assert {p["spec"]["nodeName"] for p in pods} <= {"kwok-node-0"}

    cp.kubectl("set", "image", "deployment/web", "web=registry.example/web:2.0", "-n", namespace)
    cp.kubectl("rollout", "status", "deployment/web", "-n", namespace, ROLLOUT_TIMEOUT)
    rolled = cp.kubectl_json("get", "deployment", "web", "-n", namespace)
    assert rolled["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"

    undo = cp.kubectl("rollout", "undo", "deployment/web", "-n", namespace)
    assert "rolled back" in undo.stdout
    cp.kubectl("rollout", "status", "deployment/web", "-n", namespace, ROLLOUT_TIMEOUT)

    restored = cp.kubectl_json("get", "deployment", "web", "-n", namespace)
    assert restored["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert restored["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/web:1.0"
    # The first ReplicaSet is reused (now revision 3), not copied: that is what `rollout undo` does.
    revisions = {
        rs["metadata"]["name"]: rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for rs in cp.kubectl_json("get", "replicasets", "-n", namespace, "-l", "app=web")["items"]
    }
    assert revisions[first_rs["metadata"]["name"]] == "3"
    assert sorted(revisions.values()) == ["2", "3"]
    pods = running_ready_pods(cp, namespace, "app=web")
    assert len(pods) == 3
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"registry.example/web:1.0"}


def test_user_without_grants_is_forbidden_to_patch(control_plane: ClusterAccess, namespace: str) -> None:
    cp = control_plane
    apply(cp, namespace, deployment("api", "registry.example/api:1.0", replicas=1))
    request = urllib.request.Request(
        f"{cp.server}/apis/apps/v1/namespaces/{namespace}/deployments/api",
        data=b'{"spec":{"replicas":2}}',
        method="PATCH",
        headers={
            "Authorization": f"Bearer {cp.user_tokens['alice']}",
            "Content-Type": "application/merge-patch+json",
        },
    )

    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, context=ssl.create_default_context(cafile=cp.ca_file), timeout=30)

    assert raised.value.code == 403
    status = json.loads(raised.value.read())
    assert status["reason"] == "Forbidden"
    assert 'cannot patch resource "deployments"' in status["message"]
    denied = cp.kubectl("scale", "deployment/api", "--replicas=2", "-n", namespace, user="alice", check=False)
    assert "Error from server (Forbidden)" in denied.stderr
    assert cp.kubectl_json("get", "deployment", "api", "-n", namespace)["spec"]["replicas"] == 1


def test_service_account_token_authenticates_as_that_service_account(
    control_plane: ClusterAccess, namespace: str
) -> None:
    token = control_plane.service_account_token(namespace, "robot")
    kubeconfig = control_plane.kubeconfig_for_token(token)

    whoami = control_plane.kubectl("--kubeconfig", kubeconfig, "auth", "whoami", "-o", "json")

    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == (
        f"system:serviceaccount:{namespace}:robot"
    )


def test_daemonset_and_statefulset_get_ready_pods(control_plane: ClusterAccess, namespace: str) -> None:
    cp = control_plane
    labels = {"app": "agent"}
    apply(
        cp,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "agent", "image": "registry.example/agent:1.0"}]},
                },
            },
        },
    )
    db_labels = {"app": "db"}
    apply(
        cp,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "replicas": 2,
                "serviceName": "db",
                "selector": {"matchLabels": db_labels},
                "template": {
                    "metadata": {"labels": db_labels},
                    "spec": {"containers": [{"name": "db", "image": "registry.example/db:1.0"}]},
                },
            },
        },
    )

    cp.kubectl("rollout", "status", "daemonset/agent", "-n", namespace, ROLLOUT_TIMEOUT)
    cp.kubectl("rollout", "status", "statefulset/db", "-n", namespace, ROLLOUT_TIMEOUT)

    nodes = cp.kubectl_json("get", "nodes")["items"]
    daemonset = cp.kubectl_json("get", "daemonset", "agent", "-n", namespace)["status"]
    assert daemonset["desiredNumberScheduled"] == len(nodes) >= 1
    assert daemonset["numberReady"] == len(nodes)
    assert len(running_ready_pods(cp, namespace, "app=agent")) == len(nodes)
    statefulset = cp.kubectl_json("get", "statefulset", "db", "-n", namespace)["status"]
    assert statefulset["readyReplicas"] == 2
    assert sorted(p["metadata"]["name"] for p in running_ready_pods(cp, namespace, "app=db")) == [
        "db-0",
        "db-1",
    ]
    # StatefulSet and DaemonSet history lives in ControllerRevisions, which `rollout undo` reads.
    revisions = cp.kubectl_json("get", "controllerrevisions", "-n", namespace)["items"]
    owners = {r["metadata"]["ownerReferences"][0]["kind"] for r in revisions}
    assert owners == {"DaemonSet", "StatefulSet"}


def test_namespace_delete_completes_with_workloads_inside(control_plane: ClusterAccess) -> None:
    cp = control_plane
    name = "harness-ns-delete"
    cp.kubectl("delete", "namespace", name, "--ignore-not-found", ROLLOUT_TIMEOUT)
    cp.kubectl("create", "namespace", name)
    cp.kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=60s")
    apply(cp, name, deployment("doomed", "registry.example/doomed:1.0", replicas=2))
    cp.kubectl("rollout", "status", "deployment/doomed", "-n", name, ROLLOUT_TIMEOUT)

    cp.kubectl("delete", "namespace", name, ROLLOUT_TIMEOUT)  # waits until the namespace is gone

    gone = cp.kubectl("get", "namespace", name, check=False)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr


def test_apiserver_restart_keeps_state(control_plane: ClusterAccess, namespace: str) -> None:
    cp = control_plane
    apply(cp, namespace, deployment("survivor", "registry.example/survivor:1.0", replicas=1))
    cp.kubectl("rollout", "status", "deployment/survivor", "-n", namespace, ROLLOUT_TIMEOUT)

    cp.stop_apiserver()
    down = cp.kubectl("get", "namespace", namespace, "--request-timeout=5s", check=False)
    assert down.returncode != 0
    cp.start_apiserver()

    survivor = cp.kubectl_json("get", "deployment", "survivor", "-n", namespace)
    assert survivor["status"]["readyReplicas"] == 1
    cp.kubectl("scale", "deployment/survivor", "--replicas=2", "-n", namespace)
    cp.kubectl("rollout", "status", "deployment/survivor", "-n", namespace, ROLLOUT_TIMEOUT)


def test_missing_binaries_name_what_is_missing_and_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROLLBACK_RECEIVER_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    for name in (*binaries.ALL_BINARIES, binaries.KWOK_STAGES):
        monkeypatch.delenv(binaries.env_var_for(name), raising=False)

    with pytest.raises(binaries.MissingBinariesError) as raised:
        binaries.resolve()

    message = str(raised.value)
    for name in (*binaries.ALL_BINARIES, binaries.KWOK_STAGES):
        assert f"  {name} (looked in:" in message
    assert "bash scripts/build-control-plane.sh" in message


def test_envtest_overrides_win_over_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    for name in binaries.ALL_BINARIES:
        (assets / name).write_text("#!/bin/sh\n")
        (assets / name).chmod(0o755)
    (assets / binaries.KWOK_STAGES).write_text("---\n")
    special = tmp_path / "my-etcd"
    special.write_text("#!/bin/sh\n")
    special.chmod(0o755)
    for name in binaries.ALL_BINARIES:
        monkeypatch.delenv(binaries.env_var_for(name), raising=False)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))
    monkeypatch.setenv("TEST_ASSET_ETCD", str(special))
    monkeypatch.setenv("ROLLBACK_RECEIVER_CACHE", str(tmp_path / "empty-cache"))

    found = binaries.resolve()

    assert found[binaries.ETCD] == special
    assert found[binaries.KUBE_APISERVER] == assets / "kube-apiserver"
    assert found.kwok_stages == assets / binaries.KWOK_STAGES
