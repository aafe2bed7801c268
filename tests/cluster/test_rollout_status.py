"""Following a rollout like `kubectl rollout status`: completion, progress deadline, timeout."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from rollout_support import IMAGE, releases, run_cli

from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import connect, follow_rollout, undo

UNSCHEDULABLE = {"spec": {"template": {"spec": {"nodeSelector": {"type": "none"}}}}}


async def test_follow_reports_kubectls_lines_until_the_undo_completes(
    control_plane: Any, namespace: str
) -> None:
    releases(control_plane, namespace)
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web")
    lines: list[str] = []
    kube = await connect(control_plane.kubeconfig)
    try:
        await undo(kube, ref)
        outcome = await follow_rollout(kube, ref, timeout=120, on_progress=lines.append)
    finally:
        await kube.close()
    assert (outcome.result, outcome.message) == ("complete", 'deployment "web" successfully rolled out')
    assert lines[-1] == outcome.message
    assert all(
        line.startswith(('Waiting for deployment "web" rollout to finish: ', "Waiting for deployment spec"))
        for line in lines[:-1]
    )


async def test_a_template_that_never_becomes_ready_exceeds_its_progress_deadline(
    control_plane: Any, namespace: str
) -> None:
    releases(control_plane, namespace, count=1, progressDeadlineSeconds=5)
    control_plane.kubectl(
        "patch", "deployment/web", "-n", namespace, "--type=merge", "-p", json.dumps(UNSCHEDULABLE)
    )
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web")
    kube = await connect(control_plane.kubeconfig)
    try:
        outcome = await follow_rollout(kube, ref, timeout=120)
    finally:
        await kube.close()
    assert (outcome.result, outcome.message) == ("failed", 'deployment "web" exceeded its progress deadline')
    # the CLI ends like kubectl: the same error and exit code
    theirs = control_plane.kubectl("rollout", "status", "deployment/web", "-n", namespace, check=False)
    ours = await asyncio.to_thread(run_cli, control_plane, "status", "deployment/web", "-n", namespace)
    assert (ours[0], ours[2]) == (theirs.returncode, theirs.stderr) == (1, outcome_error(outcome.message))


def outcome_error(message: str) -> str:
    return f"error: {message}\n"


def test_a_stuck_rollout_times_out(control_plane: Any, namespace: str) -> None:
    releases(control_plane, namespace, count=1)
    control_plane.kubectl(
        "patch", "deployment/web", "-n", namespace, "--type=merge", "-p", json.dumps(UNSCHEDULABLE)
    )
    code, _, stderr = run_cli(control_plane, "status", "deployment/web", "-n", namespace, "--timeout=2s")
    assert (code, stderr) == (1, "error: timed out waiting for the condition\n")


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_status_of_controller_revision_workloads_matches_kubectl(
    control_plane: Any, namespace: str, kind: str
) -> None:
    releases(control_plane, namespace, kind, count=2)
    # Revision 1 by number, not "the previous one": under load the controller can record the live template
    # twice (a spurious hash collision bumps collisionCount and writes revision 3 with revision 2's data),
    # and then the previous revision is the live template for kubectl and for us. This test is about status.
    code, stdout, _ = run_cli(
        control_plane,
        "undo",
        f"{kind.lower()}/web",
        "-n",
        namespace,
        "--to-revision=1",
        "--wait",
        "--timeout=2m",
    )
    history = [
        (cr["revision"], cr["data"]["spec"]["template"]["spec"]["containers"][0]["image"])
        for cr in control_plane.kubectl_json("get", "controllerrevisions", "-n", namespace)["items"]
    ]
    assert code == 0 and stdout.startswith(f"{kind.lower()}.apps/web rolled back\n"), (stdout, history)
    theirs = control_plane.kubectl("rollout", "status", f"{kind.lower()}/web", "-n", namespace)
    assert stdout.splitlines()[-1] == theirs.stdout.splitlines()[-1]
    assert control_plane.kubectl_json("get", kind, "web", "-n", namespace)["spec"]["template"]["spec"][
        "containers"
    ][0]["image"] == (f"{IMAGE}:v1")
