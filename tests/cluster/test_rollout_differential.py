"""Our undo/history against kubectl built from the same Kubernetes release, on twin workloads.

Each test gives two namespaces the same workload with the same history; kubectl acts on one, we act on
the other; then the results must match: output, exit code, the workload's template and annotations (ours
excluded), and the revision numbers the controller assigns afterwards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from rollout_support import (
    CHANGE_CAUSE,
    Twins,
    history_objects,
    second_namespace,
    settled,
    with_kube,
    workload,
)

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


_KLOG_HEADER = re.compile(r"^([IWE])\d{4} \d{2}:\d{2}:\d{2}\.\d{6} +\d+ ", re.MULTILINE)


def as_ours(result: tuple[int, str, str]) -> tuple[int, str, str]:
    """kubectl's output with its program name where ours names itself (`See '... --help' for usage.`)."""
    code, stdout, stderr = result
    return code, stdout, stderr.replace("See 'kubectl rollout ", "See 'rollback-receiver ")


def without_klog_clock(result: tuple[int, str, str]) -> tuple[int, str, str]:
    """A klog line's time and process id differ between two runs; its words must not."""
    code, stdout, stderr = result
    return code, stdout, _KLOG_HEADER.sub(r"\1 ", stderr)


def undo_both(twins: Twins, kind: str, *flags: str) -> tuple[int, str, str]:
    """Run kubectl's undo and ours; they must print and exit the same. Returns kubectl's result."""
    resource = f"{kind.lower()}/web"
    code, stdout, stderr = as_ours(twins.kubectl("rollout", "undo", resource, *flags))
    theirs = code, stdout, stderr.replace(twins.theirs, twins.ours)  # e.g. in an admission policy's name
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


# --- every corner: the same object, the same words, the same exit codes ------------------------------


RICH_SPEC: dict[str, Any] = {
    "initContainers": [{"name": "init", "image": f"{IMAGE}:init", "command": ["sh", "-c", "echo one\necho two"]}],  # noqa: E501
    "containers": [
        {
            "name": "app",
            "image": f"{IMAGE}:v1",
            "args": ["--port=8080"],
            "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "protocol": "UDP"}],
            "env": [
                {"name": "PLAIN", "value": "a\nb"},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},  # noqa: E501
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": True}}},
                {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
            ],
            "envFrom": [{"configMapRef": {"name": "c"}}, {"secretRef": {"name": "s"}, "prefix": "S_"}],
            "resources": {"limits": {"cpu": "1500m", "memory": "1Gi"}, "requests": {"cpu": "0.5"}},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
            "readinessProbe": {"tcpSocket": {"port": "http"}},
            "startupProbe": {"exec": {"command": ["cat", "/tmp/ok"]}},
            "volumeMounts": [
                {"name": "scratch", "mountPath": "/tmp"},
                {"name": "config", "mountPath": "/etc/app", "readOnly": True, "subPath": "app.yaml"},
            ],
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        }
    ],
    "volumes": [
        {"name": "scratch", "emptyDir": {"sizeLimit": "64Mi"}},
        {"name": "config", "configMap": {"name": "c"}},
        {"name": "creds", "secret": {"secretName": "s", "optional": True}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
        {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},  # noqa: E501
        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}, {"configMap": {"name": "c"}}]}},  # noqa: E501
    ],
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
        {"operator": "Exists"},
        {"key": "slow", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
    ],
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": {"app": "web"}}},
    ],
}  # fmt: skip


def rich_workload(kind: str) -> dict[str, Any]:
    manifest = workload(kind, "web", f"{IMAGE}:v1")
    manifest["spec"]["template"]["spec"] = json.loads(json.dumps(RICH_SPEC))
    manifest["spec"]["template"]["metadata"]["annotations"] = {"team": "payments", "long": "x" * 150}
    return manifest


def same_output(twins: Twins, *args: str) -> tuple[int, str, str]:
    """kubectl and our CLI run the same command (each on its twin); they must print and exit the same."""
    code, stdout, stderr = as_ours(twins.kubectl("rollout", *args))
    theirs = code, stdout, stderr.replace(f" {twins.theirs}:", f" {twins.ours}:")  # klog names the namespace
    ours = twins.ours_cli(*args)
    assert without_klog_clock(ours) == without_klog_clock(theirs)
    return theirs


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_history_revision_prints_kubectls_describe_text(twins: Twins, kind: str) -> None:
    twins.create(rich_workload(kind))
    twins.release(kind, "web", f"{IMAGE}:v2", cause="release v2")
    for revision in ("1", "2"):
        code, stdout, _ = same_output(twins, "history", f"{kind.lower()}/web", f"--revision={revision}")
        assert code == 0 and "Pod Template:" in stdout and "Environment:" in stdout
    assert same_output(twins, "history", f"{kind.lower()}/web", "--revision=9")[0] == 1
    assert same_output(twins, "history", f"{kind.lower()}/web", "--revision=-1")[0] == 1
    assert same_output(twins, "history", f"{kind.lower()}/web", "--revision=x")[0] == 1


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_client_dry_run_prints_the_target_template_and_changes_nothing(twins: Twins, kind: str) -> None:
    twins.create(rich_workload(kind))
    twins.release(kind, "web", f"{IMAGE}:v2")
    before = settled(twins.cp, twins.ours, kind, "web")
    code, stdout, _ = same_output(twins, "undo", f"{kind.lower()}/web", "--dry-run=client")
    assert code == 0 and stdout.endswith(" (dry run)\n") and f"{IMAGE}:v1" in stdout
    assert same_output(twins, "undo", f"{kind.lower()}/web", "--dry-run=client", "--to-revision=2")[0] == 0
    assert settled(twins.cp, twins.ours, kind, "web") == before


def test_client_dry_run_works_on_a_paused_deployment(twins: Twins) -> None:
    three_releases(twins)
    for ns in twins.namespaces:
        twins.cp.kubectl("rollout", "pause", "deployment/web", "-n", ns)
    code, stdout, _ = same_output(twins, "undo", "deployment/web", "--dry-run=client")
    assert code == 0 and f"{IMAGE}:v2" in stdout
    assert same_output(twins, "undo", "deployment/web", "--dry-run=client", "--to-revision=7")[0] == 1


def test_history_on_an_empty_history_with_a_revision(twins: Twins) -> None:
    # created paused, the Deployment never gets a ReplicaSet: no history at all
    twins.create(workload("Deployment", "web", f"{IMAGE}:v1", paused=True), wait=False)
    assert same_output(twins, "history", "deployment/web", "--revision=2")[0] == 0
    assert same_output(twins, "history", "deployment/web")[0] == 0


def test_history_table_with_newlines_and_tabs_in_change_causes(twins: Twins) -> None:
    twins.create(workload("Deployment", "web", f"{IMAGE}:v1"))
    twins.release("Deployment", "web", f"{IMAGE}:v2", cause="first line\nsecond line")
    twins.release("Deployment", "web", f"{IMAGE}:v3", cause="with\ta tab")
    twins.release("Deployment", "web", f"{IMAGE}:v4", cause="plain")
    # a change-cause only on the pod template (not on the ReplicaSet) still shows, as in kubectl
    patch = {"spec": {"template": {"metadata": {"annotations": {CHANGE_CAUSE: "from the template"}}}}}
    for ns in twins.namespaces:
        twins.cp.kubectl("annotate", "deployment/web", "-n", ns, f"{CHANGE_CAUSE}-")
    twins.patch("Deployment", "web", patch)
    code, stdout, _ = same_output(twins, "history", "deployment/web")
    assert code == 0 and "second line\n" in stdout and "from the template" in stdout


@pytest.mark.parametrize("value", [" 2", "1_0", "²", "02x"])
def test_a_revision_go_cannot_parse_is_skipped_like_kubectl(twins: Twins, value: str) -> None:
    three_releases(twins)
    for ns in twins.namespaces:
        for rs in history_objects(twins.cp, ns, "Deployment", deployment_of(twins, ns)):
            if rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == "2":
                twins.cp.kubectl(
                    "annotate", "rs", rs["metadata"]["name"], "-n", ns, "--overwrite",
                    f"deployment.kubernetes.io/revision={value}",
                )  # fmt: skip
    same_output(twins, "history", "deployment/web")
    assert same_output(twins, "undo", "deployment/web", "--to-revision=2")[0] == 1
    assert undo_both(twins, "Deployment")[0] == 0
    assert image_of(assert_same_state(twins)) == f"{IMAGE}:v1"  # revision 2 does not exist for kubectl


@pytest.mark.parametrize(
    "flag", ["--to-revision=0x1", "--to-revision=0_1", "--to-revision= 1", "--to-revision=abc"]
)
def test_to_revision_is_read_like_pflag(twins: Twins, flag: str) -> None:
    three_releases(twins)
    code, _, stderr = undo_both(twins, "Deployment", flag)
    assert_same_state(twins)
    if code:
        assert stderr.startswith("error: invalid argument")


@pytest.mark.parametrize(
    "change",
    [
        {"containers": [{"name": "app", "securityContext": {}}]},
        {"affinity": {}},
        {"dnsConfig": {}},
    ],
)
def test_an_empty_struct_versus_an_absent_one_is_a_different_template(
    twins: Twins, change: dict[str, Any]
) -> None:
    """Go keeps a pointer to an empty struct apart from nil, so kubectl rolls back where "normalized" skips."""  # noqa: E501
    twins.create(workload("Deployment", "web", f"{IMAGE}:v1"))
    for ns in twins.namespaces:  # a strategic merge patch merges containers by name
        twins.cp.kubectl(
            "patch", "deployment/web", "-n", ns, "-p", json.dumps({"spec": {"template": {"spec": change}}})
        )
    twins.wait("Deployment", "web")
    code, stdout, _ = undo_both(twins, "Deployment")
    assert (code, stdout) == (0, "deployment.apps/web rolled back\n")
    assert_same_state(twins)


@pytest.mark.parametrize(
    "respelled",
    [
        {"resources": {"limits": {"cpu": "1000m", "memory": "1073741824"}}},
        {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, "args": [], "ports": [{"containerPort": 80, "hostPort": 0}]},  # noqa: E501
    ],
)  # fmt: skip
def test_spellings_of_the_same_value_are_the_same_template(twins: Twins, respelled: dict[str, Any]) -> None:
    base = {"name": "app", "image": f"{IMAGE}:v1", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
            "ports": [{"containerPort": 80}]}  # fmt: skip
    manifest = workload("Deployment", "web", f"{IMAGE}:v1")
    manifest["spec"]["template"]["spec"]["containers"] = [base]
    twins.create(manifest)
    twins.release("Deployment", "web", f"{IMAGE}:v2")
    back = {"spec": {"template": {"spec": {"containers": [{**base, **respelled}]}}}}
    twins.patch("Deployment", "web", back)  # the same template as revision 1: the controller re-uses it
    code, stdout, _ = undo_both(twins, "Deployment", "--to-revision=3")
    assert (code, stdout) == (
        0,
        "deployment.apps/web skipped rollback (current template already matches revision 3)\n",
    )
    assert_same_state(twins)


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_a_revision_written_by_an_older_serializer_is_rolled_back_to_like_kubectl(
    twins: Twins, kind: str
) -> None:
    """kubectl compares bytes: the same template with `"creationTimestamp":null` is not a match."""
    twins.create(workload(kind, "web", f"{IMAGE}:v1"))
    twins.release(kind, "web", f"{IMAGE}:v2")
    for ns in twins.namespaces:
        obj = twins.cp.kubectl_json("get", kind, "web", "-n", ns)
        template = json.loads(json.dumps(obj["spec"]["template"]))
        template.setdefault("metadata", {})["creationTimestamp"] = None
        revision = {
            "apiVersion": "apps/v1", "kind": "ControllerRevision", "revision": 7,
            "metadata": {"name": "web-old-serializer", "labels": {"app": "web"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": "web",
                                              "uid": obj["metadata"]["uid"], "controller": True}]},
            "data": {"spec": {"template": {**template, "$patch": "replace"}}},
        }  # fmt: skip
        twins.cp.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(revision))
    code, stdout, _ = undo_both(twins, kind, "--to-revision=7")
    assert (code, stdout) == (0, f"{kind.lower()}.apps/web rolled back\n")
    # the patch changes nothing in the template, on both twins alike
    specs = [twins.cp.kubectl_json("get", kind, "web", "-n", ns)["spec"] for ns in twins.namespaces]
    assert specs[0] == specs[1]


def test_a_denied_patch_is_reported_like_kubectl(twins: Twins) -> None:
    three_releases(twins)
    for ns in twins.namespaces:
        policy = {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": f"no-rollback-{ns}"},
            "spec": {"failurePolicy": "Fail",
                     "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                             "operations": ["UPDATE"], "resources": ["deployments"]}]},  # noqa: E501
                     "validations": [{"expression": "object.spec.template == oldObject.spec.template",
                                      "message": "templates are frozen"}]},
        }  # fmt: skip
        binding = {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": f"no-rollback-{ns}"},
            "spec": {"policyName": f"no-rollback-{ns}", "validationActions": ["Deny"],
                     "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}},  # noqa: E501
        }  # fmt: skip
        twins.cp.kubectl("create", "-f", "-", input=json.dumps(policy))
        twins.cp.kubectl("create", "-f", "-", input=json.dumps(binding))
    try:
        eventually(
            lambda: twins.kubectl("rollout", "undo", "deployment/web", "--dry-run=server")[0] == 1,
            what="the admission policy to be in force",
        )
        eventually(
            lambda: twins.ours_cli("undo", "deployment/web", "--dry-run=server")[0] == 1,
            what="the admission policy to be in force in ours",
        )
        code, _, stderr = undo_both(twins, "Deployment")
        assert code == 1 and stderr.startswith("error: failed restoring revision 0: ")
    finally:
        for ns in twins.namespaces:
            twins.cp.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy",
                             f"no-rollback-{ns}", "--ignore-not-found", check=False)  # fmt: skip


@pytest.mark.parametrize("command", ["undo", "history", "status"])
def test_kinds_without_rollouts_get_kubectls_error(twins: Twins, command: str) -> None:
    three_releases(twins)
    rs = history_objects(twins.cp, twins.theirs, "Deployment", deployment_of(twins, twins.theirs))[0]
    ours_rs = history_objects(twins.cp, twins.ours, "Deployment", deployment_of(twins, twins.ours))[0]
    theirs = twins.kubectl("rollout", command, f"replicaset/{rs['metadata']['name']}")
    ours = twins.ours_cli(command, f"replicaset/{ours_rs['metadata']['name']}")
    assert ours == theirs and theirs[0] == 1


@pytest.mark.parametrize(
    "flags", [("--timeout=5",), ("--timeout=5x",), ("--watch=maybe",), ("--revision=-1",), ("--revision=9",)]
)
def test_status_flags_and_revision_pin_match_kubectl(twins: Twins, flags: tuple[str, ...]) -> None:
    three_releases(twins)
    assert same_output(twins, "status", "deployment/web", *flags)[0] == 1


def test_status_without_watch_on_an_unfinished_rollout(twins: Twins) -> None:
    twins.create(workload("Deployment", "web", f"{IMAGE}:v1"))
    stuck = {"spec": {"template": {"spec": {"nodeSelector": {"type": "none"}}}}}
    twins.patch("Deployment", "web", stuck, wait=False)
    settled(twins.cp, twins.theirs, "Deployment", "web")
    settled(twins.cp, twins.ours, "Deployment", "web")
    for flags in (("--watch=false",), ("-w=false",), ("--timeout=1s",), ("--revision=2", "--watch=false")):
        same_output(twins, "status", "deployment/web", *flags)


@pytest.mark.parametrize(
    "strategy",
    [{"type": "OnDelete"}, {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}],
)
def test_statefulset_status_branches_match_kubectl(twins: Twins, strategy: dict[str, Any]) -> None:
    twins.create(workload("StatefulSet", "web", f"{IMAGE}:v1", updateStrategy=strategy), wait=False)
    settled(twins.cp, twins.theirs, "StatefulSet", "web")
    settled(twins.cp, twins.ours, "StatefulSet", "web")
    same_output(twins, "status", "statefulset/web", "--timeout=60s")
