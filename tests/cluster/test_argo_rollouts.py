"""The real Argo Rollouts controller runs in the harness and does what Argo does: a canary pauses at its
steps, `kubectl argo rollouts promote|abort|undo|status` (the built plugin) drive it, a blue-green Rollout
switches its active Service only on promote, and a `workloadRef` Rollout runs a Deployment's template. These
are the behaviours docs/argo-rollouts.md describes for whoever makes the receiver undo and abort Rollouts."""

from __future__ import annotations

import json
from typing import Any

from argo_support import HASH_LABEL, REVISION, REVISION_HISTORY, canary, get_rollout

from harness.argo_rollouts import ArgoRollouts
from harness.cluster import ClusterAccess
from harness.metrics import metric_samples
from harness.processes import tcp_sockets
from harness.waiting import eventually

WORKLOAD_GENERATION = "rollout.argoproj.io/workload-generation"
STATUS_TIMEOUT = ("--timeout", "120s")


def pod_template(app: str, image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "app", "image": image}]}}


def apply(cp: ClusterAccess, namespace: str, *manifests: dict[str, Any]) -> None:
    document = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))


def wait_for_phase(cp: ClusterAccess, namespace: str, name: str, phase: str) -> dict[str, Any]:
    """The Rollout once the controller has observed its latest spec and reports `phase` (the plugin reads a
    phase only when status.observedGeneration matches metadata.generation)."""

    def settled() -> dict[str, Any] | None:
        rollout = get_rollout(cp, namespace, name)
        status = rollout.get("status", {})
        observed = status.get("observedGeneration") == str(rollout["metadata"]["generation"])
        return rollout if observed and status.get("phase") == phase else None

    return eventually(
        settled,
        what=f"Rollout {name} {phase}",
        timeout=120,
        interval=0.5,
        on_fail=lambda: json.dumps(get_rollout(cp, namespace, name).get("status"), indent=1),
    )


def replica_sets_by_revision(cp: ClusterAccess, namespace: str, app: str) -> dict[int, dict[str, Any]]:
    """The Rollout's ReplicaSets (those carrying Argo's revision annotation), by that revision."""
    items = cp.kubectl_json("get", "replicasets", "-n", namespace, "-l", f"app={app}")["items"]
    return {
        int(rs["metadata"]["annotations"][REVISION]): rs
        for rs in items
        if REVISION in rs["metadata"].get("annotations", {})
    }


def ready_pod_images(cp: ClusterAccess, namespace: str, app: str) -> list[str]:
    pods = cp.kubectl_json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
    ready = [
        p
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and p["spec"].get("nodeName") == "kwok-node-0"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    ]
    return sorted(p["spec"]["containers"][0]["image"] for p in ready)


def wait_for_ready_images(cp: ClusterAccess, namespace: str, app: str, expected: list[str]) -> None:
    eventually(
        lambda: ready_pod_images(cp, namespace, app) == sorted(expected),
        what=f"ready pods of {app} run {expected}",
        interval=0.5,
        on_fail=lambda: str(ready_pod_images(cp, namespace, app)),
    )


def image(template: dict[str, Any]) -> str:
    return str(template["spec"]["containers"][0]["image"])


def without_hash_label(template: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(template))
    copy["metadata"]["labels"].pop(HASH_LABEL, None)
    return copy


def condition(rollout: dict[str, Any], kind: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in rollout["status"]["conditions"] if c["type"] == kind]
    [only] = found
    return only


def test_controller_serves_on_loopback_and_talks_only_to_the_loopback_apiserver(
    argo_rollouts: ArgoRollouts, control_plane: ClusterAccess, namespace: str
) -> None:
    argo, cp = argo_rollouts, control_plane
    apply(cp, namespace, canary("probe", "registry.example/probe:1.0.0", replicas=1))
    wait_for_phase(cp, namespace, "probe", "Healthy")

    assert argo.process is not None and argo.process.pid is not None
    sockets = tcp_sockets(argo.process.pid)
    assert {s.local for s in sockets if s.listening} == {
        ("127.0.0.1", argo.metrics_port),
        ("127.0.0.1", argo.healthz_port),
    }
    connected = {s.remote for s in sockets if not s.listening}
    apiserver_port = int(cp.server.rsplit(":", 1)[1])
    assert connected and connected <= {("127.0.0.1", apiserver_port)}, connected

    def reported() -> dict[str, str] | None:
        samples = metric_samples(argo.metrics(), "rollout_info")
        mine = [labels for labels, value in samples if labels.get("name") == "probe" and value == 1]
        return mine[0] if mine and mine[0]["namespace"] == namespace else None

    labels = eventually(reported, what="rollout_info for the probe Rollout", interval=0.5)
    # The metric's phase comes from the Progressing condition's reason, not from status.phase.
    assert (labels["phase"], labels["strategy"]) == ("Completed", "canary")


def test_canary_pauses_at_its_steps_and_promote_completes_it(
    argo_rollouts: ArgoRollouts, control_plane: ClusterAccess, namespace: str
) -> None:
    argo, cp, ns = argo_rollouts, control_plane, namespace
    apply(cp, ns, canary("shop", "registry.example/shop:1.0.0"))
    first = argo.plugin("status", "shop", "-n", ns, *STATUS_TIMEOUT)
    assert first.stdout.splitlines()[-1] == "Healthy"
    wait_for_ready_images(cp, ns, "shop", ["registry.example/shop:1.0.0"] * 4)
    [rs1] = replica_sets_by_revision(cp, ns, "shop").values()
    assert rs1["metadata"]["ownerReferences"][0]["kind"] == "Rollout"

    apply(cp, ns, canary("shop", "registry.example/shop:2.0.0"))
    paused = wait_for_phase(cp, ns, "shop", "Paused")
    assert paused["status"]["message"] == "CanaryPauseStep"
    assert paused["status"]["currentStepIndex"] == 1
    assert [c["reason"] for c in paused["status"]["pauseConditions"]] == ["CanaryPauseStep"]
    assert paused["metadata"]["annotations"][REVISION] == "2"
    # setWeight 25 of 4 replicas: one canary pod beside three stable ones, all Ready on the kwok node.
    old, new = "registry.example/shop:1.0.0", "registry.example/shop:2.0.0"
    wait_for_ready_images(cp, ns, "shop", [old] * 3 + [new])
    by_revision = replica_sets_by_revision(cp, ns, "shop")
    assert sorted(by_revision) == [1, 2]
    assert (by_revision[1]["spec"]["replicas"], by_revision[2]["spec"]["replicas"]) == (3, 1)
    assert paused["status"]["stableRS"] == by_revision[1]["metadata"]["labels"][HASH_LABEL]

    once = argo.plugin("status", "shop", "-n", ns, "--watch=false")
    assert once.stdout.strip() == "Paused - CanaryPauseStep"
    # Paused is not an end state for the plugin's watch: only Healthy and Degraded are.
    watched = argo.plugin("status", "shop", "-n", ns, "--timeout", "2s", check=False)
    assert watched.returncode == 1
    assert "Rollout status watch exceeded timeout" in watched.stderr

    promoted = argo.plugin("promote", "shop", "-n", ns)
    assert promoted.stdout.strip() == "rollout 'shop' promoted"
    done = argo.plugin("status", "shop", "-n", ns, *STATUS_TIMEOUT)
    assert done.stdout.splitlines()[-1] == "Healthy"
    healthy = wait_for_phase(cp, ns, "shop", "Healthy")
    by_revision = replica_sets_by_revision(cp, ns, "shop")
    assert healthy["status"]["stableRS"] == by_revision[2]["metadata"]["labels"][HASH_LABEL]
    assert healthy["status"]["currentStepIndex"] == 4
    assert by_revision[1]["spec"]["replicas"] == 0
    wait_for_ready_images(cp, ns, "shop", [new] * 4)


def test_abort_returns_to_the_stable_replicaset_and_undo_then_reverts_the_template(
    argo_rollouts: ArgoRollouts, control_plane: ClusterAccess, namespace: str
) -> None:
    argo, cp, ns = argo_rollouts, control_plane, namespace
    apply(cp, ns, canary("cart", "registry.example/cart:1.0.0"))
    wait_for_phase(cp, ns, "cart", "Healthy")
    apply(cp, ns, canary("cart", "registry.example/cart:2.0.0"))
    wait_for_phase(cp, ns, "cart", "Paused")

    aborted = argo.plugin("abort", "cart", "-n", ns)
    assert aborted.stdout.strip() == "rollout 'cart' aborted"
    degraded = wait_for_phase(cp, ns, "cart", "Degraded")
    assert degraded["status"]["abort"] is True
    assert degraded["status"]["message"] == "RolloutAborted: Rollout aborted update to revision 2"
    progressing = condition(degraded, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolloutAborted")
    # Abort is not a revert: the spec still names the new image, only the pods went back.
    assert image(degraded["spec"]["template"]) == "registry.example/cart:2.0.0"
    assert degraded["metadata"]["annotations"][REVISION] == "2"
    wait_for_ready_images(cp, ns, "cart", ["registry.example/cart:1.0.0"] * 4)
    by_revision = replica_sets_by_revision(cp, ns, "cart")
    assert (by_revision[1]["spec"]["replicas"], by_revision[2]["spec"]["replicas"]) == (4, 0)
    status = argo.plugin("status", "cart", "-n", ns, "--watch=false", check=False)
    assert status.returncode == 1
    assert "The rollout is in a degraded state with message: RolloutAborted" in status.stderr

    undone = argo.plugin("undo", "cart", "-n", ns)
    assert undone.stdout.strip() == "rollout 'cart' undo"
    healthy = wait_for_phase(cp, ns, "cart", "Healthy")
    assert not healthy["status"].get("abort")
    assert healthy["metadata"]["annotations"][REVISION] == "3"
    by_revision = replica_sets_by_revision(cp, ns, "cart")
    assert sorted(by_revision) == [2, 3]  # the first ReplicaSet is reused and renumbered, not copied
    reused = by_revision[3]
    assert reused["metadata"]["annotations"][REVISION_HISTORY] == "1"
    # The undo replaced spec.template with that ReplicaSet's template, minus Argo's hash label.
    assert healthy["spec"]["template"] == without_hash_label(reused["spec"]["template"])
    assert healthy["status"]["stableRS"] == reused["metadata"]["labels"][HASH_LABEL]


def test_undo_targets_the_previous_or_the_named_revision_and_replays_the_canary_steps(
    argo_rollouts: ArgoRollouts, control_plane: ClusterAccess, namespace: str
) -> None:
    argo, cp, ns = argo_rollouts, control_plane, namespace
    steps: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {}}]
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        apply(cp, ns, canary("pay", f"registry.example/pay:{version}", replicas=2, steps=steps))
        if version != "1.0.0":
            wait_for_phase(cp, ns, "pay", "Paused")
            argo.plugin("promote", "pay", "-n", ns, "--full")
        wait_for_phase(cp, ns, "pay", "Healthy")
    stable_before = replica_sets_by_revision(cp, ns, "pay")[3]["metadata"]["labels"][HASH_LABEL]

    argo.plugin("undo", "pay", "-n", ns)
    # The previous revision (2) comes back as a new canary: the steps run again, up to the pause.
    replayed = wait_for_phase(cp, ns, "pay", "Paused")
    assert image(replayed["spec"]["template"]) == "registry.example/pay:2.0.0"
    assert replayed["status"]["message"] == "CanaryPauseStep"
    assert replayed["status"]["stableRS"] == stable_before
    assert replayed["metadata"]["annotations"][REVISION] == "4"
    by_revision = replica_sets_by_revision(cp, ns, "pay")
    assert image(by_revision[4]["spec"]["template"]) == "registry.example/pay:2.0.0"
    assert by_revision[4]["metadata"]["annotations"][REVISION_HISTORY] == "2"
    argo.plugin("promote", "pay", "-n", ns, "--full")
    wait_for_phase(cp, ns, "pay", "Healthy")

    argo.plugin("undo", "pay", "-n", ns, "--to-revision=1")
    named = wait_for_phase(cp, ns, "pay", "Paused")
    assert image(named["spec"]["template"]) == "registry.example/pay:1.0.0"
    assert named["metadata"]["annotations"][REVISION] == "5"
    argo.plugin("promote", "pay", "-n", ns, "--full")
    current = wait_for_phase(cp, ns, "pay", "Healthy")

    same = argo.plugin("undo", "pay", "-n", ns, "--to-revision=5")
    assert same.stdout.strip() == "skipped rollback (current template already matches revision 5)"
    assert get_rollout(cp, ns, "pay")["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
    unknown = argo.plugin("undo", "pay", "-n", ns, "--to-revision=99", check=False)
    assert unknown.returncode == 1
    assert "unable to find specified revision 99 in history" in unknown.stderr


def test_blue_green_switches_the_active_service_on_promote_and_undo_switches_it_back(
    argo_rollouts: ArgoRollouts, control_plane: ClusterAccess, namespace: str
) -> None:
    argo, cp, ns = argo_rollouts, control_plane, namespace

    def service(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        }

    def blue_green(version: str) -> dict[str, Any]:
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": pod_template("web", f"registry.example/web:{version}"),
                "strategy": {
                    "blueGreen": {
                        "activeService": "web-active",
                        "previewService": "web-preview",
                        "autoPromotionEnabled": False,
                        # Keeps the old ReplicaSet up after promotion, so the undo below is fast-tracked.
                        "scaleDownDelaySeconds": 600,
                    }
                },
            },
        }

    def selector_hash(name: str) -> str:
        return str(cp.kubectl_json("get", "service", name, "-n", ns)["spec"]["selector"].get(HASH_LABEL))

    apply(cp, ns, service("web-active"), service("web-preview"), blue_green("1.0.0"))
    wait_for_phase(cp, ns, "web", "Healthy")
    blue = replica_sets_by_revision(cp, ns, "web")[1]["metadata"]["labels"][HASH_LABEL]
    assert selector_hash("web-active") == blue

    apply(cp, ns, blue_green("2.0.0"))
    paused = wait_for_phase(cp, ns, "web", "Paused")
    assert paused["status"]["message"] == "BlueGreenPause"
    green = replica_sets_by_revision(cp, ns, "web")[2]["metadata"]["labels"][HASH_LABEL]
    assert (selector_hash("web-active"), selector_hash("web-preview")) == (blue, green)
    assert (paused["status"]["blueGreen"]["activeSelector"], paused["status"]["stableRS"]) == (blue, blue)
    both = ["registry.example/web:1.0.0", "registry.example/web:2.0.0"] * 2
    wait_for_ready_images(cp, ns, "web", both)
    assert argo.plugin("status", "web", "-n", ns, "--watch=false").stdout.strip() == "Paused - BlueGreenPause"

    argo.plugin("promote", "web", "-n", ns)
    promoted = wait_for_phase(cp, ns, "web", "Healthy")
    assert selector_hash("web-active") == green
    assert promoted["status"]["stableRS"] == green

    argo.plugin("undo", "web", "-n", ns)
    reverted = wait_for_phase(cp, ns, "web", "Healthy")
    assert image(reverted["spec"]["template"]) == "registry.example/web:1.0.0"
    assert reverted["metadata"]["annotations"][REVISION] == "3"
    assert selector_hash("web-active") == blue
    assert reverted["status"]["stableRS"] == blue


def test_workload_ref_rollout_runs_the_deployments_template_and_undo_patches_the_deployment(
    argo_rollouts: ArgoRollouts, control_plane: ClusterAccess, namespace: str
) -> None:
    argo, cp, ns = argo_rollouts, control_plane, namespace
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "api"}},
            "template": pod_template("api", "registry.example/api:1.0.0"),
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
    apply(cp, ns, deployment, rollout)
    healthy = wait_for_phase(cp, ns, "api", "Healthy")
    assert healthy["metadata"]["annotations"][WORKLOAD_GENERATION] == "1"
    assert healthy["status"]["workloadObservedGeneration"] == "1"
    wait_for_ready_images(cp, ns, "api", ["registry.example/api:1.0.0"] * 3)
    # Argo marks nothing on the Deployment: the link exists only in the Rollout's spec.workloadRef.
    referenced = cp.kubectl_json("get", "deployment", "api", "-n", ns)
    assert not referenced["metadata"].get("ownerReferences")
    assert not [k for k in referenced["metadata"].get("annotations", {}) if "argoproj.io" in k]
    [rs1] = replica_sets_by_revision(cp, ns, "api").values()
    assert rs1["metadata"]["ownerReferences"][0]["kind"] == "Rollout"

    cp.kubectl("set", "image", "deployment/api", "app=registry.example/api:2.0.0", "-n", ns)
    paused = wait_for_phase(cp, ns, "api", "Paused")
    assert paused["metadata"]["annotations"][WORKLOAD_GENERATION] == "2"
    assert paused["metadata"]["annotations"][REVISION] == "2"
    assert "template" not in paused["spec"]

    argo.plugin("undo", "api", "-n", ns)
    # The plugin's undo of a workloadRef Rollout patches the Deployment's template, not the Rollout.
    undone = cp.kubectl_json("get", "deployment", "api", "-n", ns)
    assert undone["metadata"]["generation"] == 3
    assert image(undone["spec"]["template"]) == "registry.example/api:1.0.0"
    restored = wait_for_phase(cp, ns, "api", "Healthy")
    assert restored["metadata"]["annotations"][WORKLOAD_GENERATION] == "3"
    assert restored["metadata"]["annotations"][REVISION] == "3"
    assert restored["metadata"]["generation"] == healthy["metadata"]["generation"]
    assert sorted(replica_sets_by_revision(cp, ns, "api")) == [2, 3]
    wait_for_ready_images(cp, ns, "api", ["registry.example/api:1.0.0"] * 3)
