"""kubectl's rollout rules, pure: target choice, annotation rule, template equality, status lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from receiver.commands.rollout import UsageError, history_table, parse_kind_name
from receiver.core.goduration import GoDurationError, parse_duration_ns
from receiver.core.goparse import GoSyntaxError, parse_int
from receiver.core.workload import Revision, WorkloadKind
from receiver.k8s import controllerrevisions, deployments, status, templates, workloads
from receiver.k8s.errors import UndoRefused
from receiver.k8s.quantity import parse_quantity
from receiver.k8s.tabwriter import tabbed
from receiver.k8s.templates import equal_ignore_hash

UID = "d-uid"


def template(image: str, **extra_labels: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web", **extra_labels}, "creationTimestamp": None},
        "spec": {"containers": [{"name": "app", "image": image, "resources": {}}]},
    }


def replica_set(
    name: str, revision: str | None, image: str, created: str, *, owner: str = UID, **annotations: str
) -> dict[str, Any]:
    ann = dict(annotations)
    if revision is not None:
        ann[deployments.REVISION] = revision
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "annotations": ann,
            "labels": {"app": "web", "pod-template-hash": name[-5:]},
            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner, "controller": True}],
        },
        "spec": {"template": template(image, **{"pod-template-hash": name[-5:]})},
    }


def deployment(image: str, *, paused: bool = False, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "uid": UID, "resourceVersion": "42", "annotations": annotations},
        "spec": {"paused": paused, "template": template(image)},
    }


HISTORY = [
    replica_set("web-aaaaa", "1", "app:v1", "2026-01-01T00:00:00Z", **{"kubernetes.io/change-cause": "v1"}),
    replica_set("web-bbbbb", "2", "app:v2", "2026-01-02T00:00:00Z", **{"kubernetes.io/change-cause": "v2"}),
    replica_set("web-ccccc", "3", "app:v3", "2026-01-03T00:00:00Z"),
]


# --- target choice -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("revisions", "to_revision", "expected"),
    [
        ([1, 2, 3], 0, 2),  # previous = second highest
        ([3, 1, 2], 0, 2),  # order does not matter for distinct numbers
        ([5, 5], 0, 5),  # a duplicate of the highest becomes "previous" (kubectl's single pass)
        ([0, 4], 0, 0),  # an RS without annotation is revision 0 and a real candidate
        ([1, 2, 3], 1, 1),
        ([1, 2, 3], 3, 3),  # naming the current revision is allowed (then skipped as already matching)
    ],
)
def test_deployment_target_follows_kubectl(revisions: list[int], to_revision: int, expected: int) -> None:
    numbered = [(n, {"n": n}) for n in revisions]
    number, chosen = deployments.choose_target("web", numbered, to_revision)
    assert (number, chosen["n"]) == (expected, expected)


@pytest.mark.parametrize(
    ("revisions", "to_revision", "message"),
    [
        ([1], 0, 'no rollout history found for deployment "web"'),
        ([], 0, 'no rollout history found for deployment "web"'),
        ([1, 2], 7, "unable to find specified revision 7 in history"),
        ([1, 2], -1, "unable to find specified revision -1 in history"),
    ],
)
def test_deployment_refusals_use_kubectl_messages(
    revisions: list[int], to_revision: int, message: str
) -> None:
    with pytest.raises(UndoRefused) as refused:
        deployments.choose_target("web", [(n, {}) for n in revisions], to_revision)
    assert refused.value.message == message


def test_unparseable_revision_is_ignored_and_missing_is_zero() -> None:
    assert deployments.revision_number({"metadata": {"annotations": {deployments.REVISION: "x"}}}) is None
    assert deployments.revision_number({"metadata": {}}) == 0


def test_kubectl_order_puts_the_live_replica_set_last_and_drops_foreign_ones() -> None:
    foreign = replica_set("web-zzzzz", "9", "app:v9", "2026-01-04T00:00:00Z", owner="other")
    live_first = [HISTORY[2], HISTORY[0], foreign, HISTORY[1]]
    ordered = deployments.kubectl_order(deployment("app:v1"), live_first)
    assert [rs["metadata"]["name"] for rs in ordered] == ["web-bbbbb", "web-ccccc", "web-aaaaa"]


# --- the annotation rule ---------------------------------------------------------------------------


def test_undo_annotations_replace_the_map_except_the_skip_list() -> None:
    on_deployment = {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}",
        deployments.REVISION: "3",
        "team": "payments",  # not on the RS: dropped, exactly like kubectl
        "kubernetes.io/change-cause": "v3",
    }
    on_rs = {deployments.REVISION: "1", "kubernetes.io/change-cause": "v1", "note": "from-rs"}
    assert deployments.annotations_after_undo(on_deployment, on_rs) == {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}",
        deployments.REVISION: "3",
        "kubernetes.io/change-cause": "v1",
        "note": "from-rs",
    }


# --- template equality -----------------------------------------------------------------------------


def test_templates_equal_ignoring_hash_nulls_and_empty_collections() -> None:
    a = template("app:v1", **{"pod-template-hash": "abc"})
    b = template("app:v1")
    b["spec"]["volumes"] = []
    b["metadata"].pop("creationTimestamp")
    assert templates.equal_ignore_hash(a, b)


def test_quantities_compare_by_value() -> None:
    a, b = template("app:v1"), template("app:v1")
    a["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "500m", "memory": "1Gi"}}
    b["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "0.5", "memory": "1073741824"}}
    assert templates.equal_ignore_hash(a, b)
    b["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "1"
    assert not templates.equal_ignore_hash(a, b)


def test_a_different_label_is_a_different_template() -> None:
    assert not templates.equal_ignore_hash(template("app:v1", tier="a"), template("app:v1", tier="b"))


# --- the whole plan --------------------------------------------------------------------------------


def test_plan_is_kubectls_json_patch() -> None:
    plan = deployments.plan_undo(deployment("app:v3", team="x", **{deployments.REVISION: "3"}), HISTORY, 0)
    assert (plan.target_revision, plan.from_revision, plan.skipped_message) == (2, 3, None)
    assert plan.content_type == "application/json-patch+json"
    assert [op["path"] for op in plan.patch] == ["/spec/template", "/metadata/annotations"]
    restored = plan.patch[0]["value"]
    assert "pod-template-hash" not in restored["metadata"]["labels"]
    assert restored["spec"]["containers"][0]["image"] == "app:v2"
    # the Deployment keeps its own revision number; everything else (and only that) comes from the RS
    assert plan.patch[1]["value"] == {deployments.REVISION: "3", "kubernetes.io/change-cause": "v2"}


def test_paused_is_refused_after_the_target_is_found() -> None:
    with pytest.raises(UndoRefused, match="unable to find specified revision 9"):
        deployments.plan_undo(deployment("app:v3", paused=True), HISTORY, 9)
    with pytest.raises(UndoRefused, match=r"^you cannot rollback a paused deployment; resume it first"):
        deployments.plan_undo(deployment("app:v3", paused=True), HISTORY, 0)


def test_already_matching_is_skipped_and_echoes_the_requested_number() -> None:
    # live template is v2 but the newest RS is v3: "previous" (rev 2) already matches
    plan = deployments.plan_undo(deployment("app:v2"), HISTORY, 0)
    assert plan.skipped_message == "skipped rollback (current template already matches revision 0)"
    assert deployments.plan_undo(deployment("app:v2"), HISTORY, 2).skipped_message == (
        "skipped rollback (current template already matches revision 2)"
    )


# --- StatefulSet / DaemonSet -----------------------------------------------------------------------


def controller_revision(number: int, image: str) -> dict[str, Any]:
    data_template = template(image)
    data_template["$patch"] = "replace"
    return {
        "metadata": {
            "name": f"web-{number}",
            "creationTimestamp": f"2026-01-0{number}T00:00:00Z",
            "ownerReferences": [{"uid": UID, "controller": True}],
        },
        "revision": number,
        "data": {"spec": {"template": data_template}},
    }


def test_controller_revision_target_and_messages() -> None:
    revisions = [
        controller_revision(3, "app:v3"),
        controller_revision(1, "app:v1"),
        controller_revision(2, "v2"),
    ]
    assert controllerrevisions.choose_target(revisions, 0)["revision"] == 2
    assert controllerrevisions.choose_target(revisions, 1)["revision"] == 1
    with pytest.raises(UndoRefused, match=r"^no last revision to roll back to$"):
        controllerrevisions.choose_target(revisions[:1], 0)
    with pytest.raises(UndoRefused, match=r"^unable to find specified revision 5 in history$"):
        controllerrevisions.choose_target(revisions, 5)


def test_controller_revision_plan_sends_the_data_verbatim_or_skips() -> None:
    sts = {"metadata": {"uid": UID, "resourceVersion": "7"}, "spec": {"template": template("app:v3")}}
    revisions = [controller_revision(1, "app:v1"), controller_revision(2, "app:v3")]
    plan = controllerrevisions.plan_undo(sts, revisions, 0)
    assert plan.content_type == "application/strategic-merge-patch+json"
    assert plan.patch == revisions[0]["data"] and (plan.target_revision, plan.from_revision) == (1, 2)
    skipped = controllerrevisions.plan_undo(sts, revisions, 2)
    assert skipped.skipped_message == "skipped rollback (current template already matches revision 2)"


# --- when the current revision went live -----------------------------------------------------------


def test_a_reused_replica_set_went_live_at_its_rollback_not_its_creation() -> None:
    fresh = replica_set("web-ccccc", "3", "app:v3", "2026-01-03T00:00:00Z")
    assert workloads.replica_set_went_live({}, fresh) == datetime(2026, 1, 3, tzinfo=UTC)
    reused = replica_set(
        "web-aaaaa", "4", "app:v1", "2026-01-01T00:00:00Z", **{deployments.REVISION_HISTORY: "1"}
    )
    d = {
        "status": {
            "conditions": [
                {
                    "type": "Progressing",
                    "reason": "NewReplicaSetAvailable",
                    "message": 'ReplicaSet "web-aaaaa" has successfully progressed.',
                    "lastUpdateTime": "2026-01-05T10:00:00Z",
                }
            ]
        }
    }
    assert workloads.replica_set_went_live(d, reused) == datetime(2026, 1, 5, 10, tzinfo=UTC)


def test_a_controller_revision_went_live_at_its_last_controller_write() -> None:
    cr = controller_revision(1, "app:v1")
    cr["metadata"]["managedFields"] = [{"manager": "kube-controller-manager", "time": "2026-02-01T00:00:00Z"}]
    assert workloads.controller_revision_went_live(cr) == datetime(2026, 2, 1, tzinfo=UTC)


# --- status lines ----------------------------------------------------------------------------------


def deployment_status(**status_fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3}, "status": status_fields}


@pytest.mark.parametrize(
    ("fields", "line", "done"),
    [
        ({"observedGeneration": 1}, "Waiting for deployment spec update to be observed...", False),
        (
            {"observedGeneration": 2, "updatedReplicas": 1},
            'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
            False,
        ),
        (
            {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4},
            'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
            False,
        ),
        (
            {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2},
            'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
            False,
        ),
        (
            {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3},
            'deployment "web" successfully rolled out',
            True,
        ),
    ],
)
def test_deployment_status_lines(fields: dict[str, Any], line: str, done: bool) -> None:
    assert status.deployment_status(deployment_status(**fields)) == status.Status(line, done)


def test_progress_deadline_is_a_failure() -> None:
    cond = {"type": "Progressing", "reason": "ProgressDeadlineExceeded"}
    with pytest.raises(status.RolloutFailed, match=r'^deployment "web" exceeded its progress deadline$'):
        status.deployment_status(deployment_status(observedGeneration=2, conditions=[cond]))


def test_statefulset_partitioned_lines() -> None:
    sts = {
        "metadata": {"name": "db", "generation": 1},
        "spec": {
            "replicas": 2,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        },
        "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 1},
    }
    assert status.statefulset_status(sts).message == (
        "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated..."
    )
    with pytest.raises(status.RolloutFailed, match="only available for RollingUpdate"):
        status.daemonset_status({"metadata": {"name": "x"}, "spec": {"updateStrategy": {"type": "OnDelete"}}})


# --- CLI parsing and printing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "kind"),
    [
        (["deployment/web"], WorkloadKind.DEPLOYMENT),
        (["deploy", "web"], WorkloadKind.DEPLOYMENT),
        (["deployments.apps/web"], WorkloadKind.DEPLOYMENT),
        (["sts/web"], WorkloadKind.STATEFULSET),
        (["DaemonSet/web"], WorkloadKind.DAEMONSET),
        (["ds", "web"], WorkloadKind.DAEMONSET),
    ],
)
def test_kubectl_kind_spellings(words: list[str], kind: WorkloadKind) -> None:
    assert parse_kind_name(words) == (kind, "web")


@pytest.mark.parametrize("words", [["service/web"], ["deployment/"], ["a/b", "c"]])
def test_bad_resources_are_usage_errors(words: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_kind_name(words)


# Expected values below are what Go 1.26 itself returns for the same input (time.ParseDuration,
# strconv.ParseInt), captured by running a Go program on these strings.
@pytest.mark.parametrize(
    ("text", "expected"),
    [("1h30m", 5400000000000), ("1.5h", 5400000000000), ("300ms", 300000000), ("-1s", -1000000000),
     ("0", 0), ("-0", 0), ("+5s", 5000000000), ("1µs", 1000), ("1μs", 1000), (".5s", 500000000),
     ("5.s", 5000000000), ("2562047h", 9223369200000000000), ("9223372036854775807ns", 9223372036854775807),
     ("0.000000001s", 1), ("0.0000000001s", 0), ("1.0000000005s", 1000000000)],
)  # fmt: skip
def test_go_durations(text: str, expected: int) -> None:
    assert parse_duration_ns(text) == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [("5", 'time: missing unit in duration "5"'), ("", 'time: invalid duration ""'),
     ("5x", 'time: unknown unit "x" in duration "5x"'), (".", 'time: invalid duration "."'),
     ("1e3s", 'time: unknown unit "e" in duration "1e3s"'), (" 2", 'time: invalid duration " 2"'),
     ("²", 'time: invalid duration "\\xc2\\xb2"'), ("2562048h", 'time: invalid duration "2562048h"'),
     ("1h-1s", 'time: unknown unit "h-" in duration "1h-1s"'), ("5 s", 'time: unknown unit " s" in duration "5 s"'),  # noqa: E501
     ("1.5.5s", 'time: missing unit in duration "1.5.5s"'), ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"')],  # noqa: E501
)  # fmt: skip
def test_go_duration_errors(text: str, error: str) -> None:
    with pytest.raises(GoDurationError) as raised:
        parse_duration_ns(text)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("text", "base", "expected"),
    [("2", 10, 2), ("-0", 10, 0), ("010", 10, 10), ("010", 0, 8), ("0x10", 0, 16), ("0b11", 0, 3), ("0o7", 0, 7),  # noqa: E501
     ("1_0", 0, 10), ("0_1", 0, 1), ("0x_1", 0, 1), ("-0x8000000000000000", 0, -(2**63)), ("+7", 10, 7)],
)  # fmt: skip
def test_go_parse_int(text: str, base: int, expected: int) -> None:
    assert parse_int(text, base) == expected


@pytest.mark.parametrize(
    ("text", "base", "error"),
    [(" 2", 10, 'parsing " 2": invalid syntax'), ("1_0", 10, 'parsing "1_0": invalid syntax'),
     ("²", 10, 'parsing "²": invalid syntax'), ("", 0, 'parsing "": invalid syntax'),
     ("1__0", 0, 'parsing "1__0": invalid syntax'), ("_1", 0, 'parsing "_1": invalid syntax'),
     ("9223372036854775808", 10, 'parsing "9223372036854775808": value out of range'),
     ("99999999999999999999x", 0, 'parsing "99999999999999999999x": value out of range'),
     ("-", 10, 'parsing "-": invalid syntax'), ("0x", 0, 'parsing "0x": invalid syntax')],
)  # fmt: skip
def test_go_parse_int_errors(text: str, base: int, error: str) -> None:
    with pytest.raises(GoSyntaxError) as raised:
        parse_int(text, base)
    assert str(raised.value) == f"strconv.ParseInt: {error}"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("1000m", "1"), ("0.5", "500m"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1073741824", "1073741824"),
     ("1.5Gi", "1536Mi"), ("0.1Ki", "102400m"), ("1e3", "1e3"), ("100m", "100m"), ("0.0000000001", "1n"),
     ("1000", "1k"), ("12e6", "12e6"), ("1500k", "1500k"), ("-2", "-2"), ("0", "0")],
)  # fmt: skip
def test_quantities_print_like_resource_quantity(text: str, canonical: str) -> None:
    assert str(parse_quantity(text)) == canonical


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [("1000m", "1", True), ("1Gi", "1073741824", True), ("0.5", "500m", True), ("1k", "1000", True),
     ("1", "1001m", False), ("1Ki", "1k", False)],
)  # fmt: skip
def test_quantity_spellings_compare_by_value(a: str, b: str, equal: bool) -> None:
    assert (parse_quantity(a).cmp(parse_quantity(b)) == 0) is equal


def _container(**fields: object) -> dict[str, object]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "i", **fields}]},
    }


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        # a pointer to an empty struct is not a nil pointer
        (_container(securityContext={}), _container(), False),
        (_container(livenessProbe={}), _container(livenessProbe=None), False),
        # a non-pointer struct: absent is its zero value
        (_container(resources={}), _container(), True),
        # nil and empty slices and maps are equal
        (_container(args=[]), _container(), True),
        (_container(env=None), _container(env=[]), True),
        ({"metadata": {"labels": {}}, "spec": {}}, {"spec": {}}, True),
        # a zero non-pointer scalar equals absent; a pointer to zero does not
        (_container(ports=[{"containerPort": 80, "hostPort": 0}]), _container(ports=[{"containerPort": 80}]), True),  # noqa: E501
        ({"spec": {"terminationGracePeriodSeconds": 0}}, {"spec": {}}, False),
        ({"spec": {"hostNetwork": False}}, {"spec": {}}, True),
        ({"spec": {"automountServiceAccountToken": False}}, {"spec": {}}, False),
        # quantities by value, IntOrString by type and value
        (_container(resources={"limits": {"cpu": "1000m"}}), _container(resources={"limits": {"cpu": "1"}}), True),  # noqa: E501
        (_container(resources={"limits": {"cpu": 1}}), _container(resources={"limits": {"cpu": "1"}}), True),
        (_container(resources={"limits": {"cpu": "1"}}), _container(resources={"limits": {"cpu": "2"}}), False),  # noqa: E501
        (_container(readinessProbe={"httpGet": {"port": 80}}), _container(readinessProbe={"httpGet": {"port": "80"}}), False),  # noqa: E501
        # keys Go does not know are dropped when decoding; times compare by instant
        (_container(unknownField=1), _container(), True),
        ({"metadata": {"creationTimestamp": None}, "spec": {}}, {"spec": {}}, True),
        ({"metadata": {"labels": {"pod-template-hash": "abc", "app": "x"}}}, {"metadata": {"labels": {"app": "x"}}}, True),  # noqa: E501
    ],
)  # fmt: skip
def test_template_equality_is_go_semantic_deep_equal(
    a: dict[str, object], b: dict[str, object], equal: bool
) -> None:
    assert equal_ignore_hash(a, b) is equal
    assert equal_ignore_hash(b, a) is equal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("REVISION\tCHANGE-CAUSE\n1\t<none>\n12\tdeploy\n", "REVISION  CHANGE-CAUSE\n1         <none>\n12        deploy\n"),  # noqa: E501
        # a line without a tab flushes: widths start over after a multi-line change-cause
        ("REVISION\tCHANGE-CAUSE\n1\tone\ntwo\n100\tx\n", "REVISION  CHANGE-CAUSE\n1         one\ntwo\n100  x\n"),  # noqa: E501
        # a tab inside a change-cause starts another column
        ("R\tC\n1\ta\tb\n22\tlonger\tc\n", "R   C\n1   a       b\n22  longer  c\n"),
    ],
)  # fmt: skip
def test_tabwriter_matches_go(text: str, expected: str) -> None:
    assert tabbed(text) == expected


def test_history_table_is_kubectls_tabwriter_output() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    revs = [Revision(n, "x", when, cause, "h", {}) for n, cause in [(1, None), (12, "deploy v12")]]
    assert history_table(revs) == "REVISION  CHANGE-CAUSE\n1         <none>\n12        deploy v12\n"


# --- what we add: precondition and audit in the same patch, error mapping -------------------------


def test_guarded_patch_adds_the_precondition_and_our_annotations_to_kubectls_ops() -> None:
    from receiver.core.workload import WorkloadRef
    from receiver.k8s.rollout import guarded_patch

    plan = deployments.plan_undo(deployment("app:v3"), HISTORY, 0)
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "web")
    ops = guarded_patch(ref, plan, {"rollback-receiver.io/actor": "me"})
    assert ops[:1] == plan.patch[:1]
    assert ops[1]["value"] == {**plan.patch[1]["value"], "rollback-receiver.io/actor": "me"}
    assert ops[2] == {"op": "replace", "path": "/metadata/resourceVersion", "value": "42"}

    sts = {"metadata": {"uid": UID, "resourceVersion": "7"}, "spec": {"template": template("app:v3")}}
    cr_plan = controllerrevisions.plan_undo(
        sts, [controller_revision(1, "v1"), controller_revision(2, "app:v3")], 0
    )
    body = guarded_patch(WorkloadRef(WorkloadKind.STATEFULSET, "shop", "db"), cr_plan, {"k": "v"})
    assert body == {**cr_plan.patch, "metadata": {"resourceVersion": "7", "annotations": {"k": "v"}}}


def test_an_unpinned_audit_names_the_revision_actually_restored() -> None:
    from receiver.k8s import audit

    when = datetime(2026, 1, 1, tzinfo=UTC)
    unpinned = audit.audit_annotations(actor="a", at=when, to_revision=0, alert_name="High", fingerprint="f1")
    pinned = audit.pin_revision(unpinned, 4)
    assert pinned[audit.ROLLED_BACK_TO] == "4"
    assert pinned[audit.CHANGE_CAUSE] == "rollback-receiver: High (f1) rolled back to revision 4"
    already = audit.audit_annotations(actor="a", at=when, to_revision=2)
    assert audit.pin_revision(already, 4) == already


@pytest.mark.parametrize(
    ("status_code", "kind"),
    [(409, "Conflict"), (404, "NotFound"), (403, "Forbidden"), (401, "Unauthorized"), (422, "Invalid"),
     (429, "Transient"), (503, "Transient"), (500, "Transient")],
)  # fmt: skip
def test_api_failures_map_to_our_error_tree(status_code: int, kind: str) -> None:
    from receiver.k8s.client import map_status

    body = '{"kind":"Status","reason":"R","message":"deployments.apps \\"web\\" not found"}'
    error = map_status(status_code, body, verb="get", target="deployments.apps/web -n shop")
    assert type(error).__name__ == kind
    assert error.describe() == 'Error from server (R): deployments.apps "web" not found'


def test_a_progress_deadline_from_before_our_undo_does_not_fail_its_rollout() -> None:
    from datetime import UTC, datetime

    deployment = {
        "metadata": {"name": "web", "generation": 5},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 5,
            "replicas": 3,
            "updatedReplicas": 2,
            "availableReplicas": 1,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "lastUpdateTime": "2026-12-01T10:00:00Z",
                }
            ],
        },
    }
    with pytest.raises(status.RolloutFailed, match="exceeded its progress deadline"):
        status.deployment_status(deployment)  # kubectl's view
    undone_at = datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)
    line = status.deployment_status(deployment, since=undone_at)
    assert not line.done and "old replicas are pending termination" in line.message
    later = datetime(2026, 12, 1, 9, 59, 0, tzinfo=UTC)  # a deadline exceeded after the undo still fails
    with pytest.raises(status.RolloutFailed):
        status.deployment_status(deployment, since=later)
