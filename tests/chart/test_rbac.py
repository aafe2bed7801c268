"""Every RBAC grant of the chart is a call the receiver makes, and every call the receiver makes is granted.

The table below names, for each (apiGroup, resource, verb) the chart grants, the code that uses it. The
test fails when a grant has no call site (a verb the code does not use) and when the receiver makes a
Kubernetes API call that no table entry names (a call the chart would not allow).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from chart_support import RELEASE, REPO_ROOT, one, render, rule_set

from receiver.k8s import resources

RECEIVER = REPO_ROOT / "receiver"
WORKLOADS = ("deployments", "statefulsets", "daemonsets")
ARGO = "argoproj.io"  # Argo Rollouts' `rollouts`, granted only with rbac.argoRollouts

# Workload kinds share one code path each: the path is built from resources.PLURALS[ref.kind].
WORKLOAD_GET = ("k8s/snapshots.py", r'\.request\("get", resources\.workload_path\(ref\)')
WORKLOAD_GET_FOR_STATUS = ("k8s/status.py", r'\.request\("get", path, what=what\)')
WORKLOAD_GET_BY_NAME = ("k8s/workloads.py", r'\.request\("get", resources\.workload_path\(ref\)')
WORKLOAD_LIST = ("k8s/workloads.py", r"list_all\(\s*kube,\s*resources\.collection_path\(plural, namespace\)")
WORKLOAD_WATCH = ("k8s/status.py", r"\.watch\(\s*watch_path,")
WORKLOAD_PATCH = ("k8s/rollout.py", r'\.request\(\s*"patch",\s*resources\.workload_path\(patched_ref\)')
# A workloadRef Rollout: the Deployment it runs is read with it, and followed after its undo.
REFERENCED_GET = ("k8s/snapshots.py", r'\.request\(\s*"get", resources\.workload_path\(target\)')
REFERENCED_GET_FOR_STATUS = ("k8s/status.py", r'\.request\(\s*"get", resources\.workload_path\(target\)')
ROLLOUT_GET_FOR_STATUS = ("k8s/status.py", r'\.request\("get", resources\.workload_path\(ref\)')
# Abort: the status subresource, the plugin's fallback to the object, then our audit annotations.
ABORT_PATCH = ("k8s/rollout.py", r'\.request\(\s*"patch",\s*resources\.status_path\(ref\)')
ROLLOUT_PATCH = ("k8s/rollout.py", r'\.request\(\s*"patch",\s*resources\.workload_path\(ref\)')
# The rollout-health watch (k8s/workload_watch.py names the collections): one LIST + WATCH per collection.
INFORMER_LIST = ("k8s/informer.py", r'\.request\("list", self\.path')
INFORMER_WATCH = ("k8s/informer.py", r"\.watch\(\s*self\.path,")

CALL_SITES: dict[tuple[str, str, str], list[tuple[str, str]]] = {
    **{
        ("apps", kind, "get"): [WORKLOAD_GET, WORKLOAD_GET_FOR_STATUS, WORKLOAD_GET_BY_NAME]
        for kind in WORKLOADS
    },
    ("apps", "deployments", "get"): [
        WORKLOAD_GET,
        WORKLOAD_GET_FOR_STATUS,
        WORKLOAD_GET_BY_NAME,
        REFERENCED_GET,
        REFERENCED_GET_FOR_STATUS,
    ],
    (ARGO, "rollouts", "get"): [
        WORKLOAD_GET,
        WORKLOAD_GET_FOR_STATUS,
        WORKLOAD_GET_BY_NAME,
        ROLLOUT_GET_FOR_STATUS,
    ],
    (ARGO, "rollouts", "list"): [
        WORKLOAD_LIST,
        # Which Rollouts' spec.workloadRef names a Deployment (Argo marks nothing on the Deployment).
        (
            "k8s/snapshots.py",
            r"list_all\(\s*kube, resources\.collection_path\(resources\.ROLLOUTS, ref\.namespace\)",
        ),
    ],
    (ARGO, "rollouts", "watch"): [WORKLOAD_WATCH],
    (ARGO, "rollouts", "patch"): [WORKLOAD_PATCH, ROLLOUT_PATCH],
    (ARGO, "rollouts/status", "patch"): [ABORT_PATCH],
    **{("apps", kind, "list"): [WORKLOAD_LIST] for kind in WORKLOADS},
    **{("apps", kind, "watch"): [WORKLOAD_WATCH] for kind in WORKLOADS},
    ("apps", "deployments", "list"): [WORKLOAD_LIST, INFORMER_LIST],
    ("apps", "deployments", "watch"): [WORKLOAD_WATCH, INFORMER_WATCH],
    ("apps", "replicasets", "watch"): [INFORMER_WATCH],
    ("", "pods", "list"): [INFORMER_LIST],
    ("", "pods", "watch"): [INFORMER_WATCH],
    **{("apps", kind, "patch"): [WORKLOAD_PATCH] for kind in WORKLOADS},
    ("apps", "replicasets", "list"): [
        (
            "k8s/snapshots.py",
            r'list_all\(\s*kube,\s*resources\.collection_path\("replicasets", ref\.namespace\)',
        ),
        INFORMER_LIST,
    ],
    ("apps", "controllerrevisions", "list"): [
        (
            "k8s/snapshots.py",
            r'\.request_text\("list", path, query=query, what=what\)',
        )
    ],
    ("", "events", "create"): [
        ("k8s/events.py", r'\.request\(\s*"create",\s*f"/api/v1/namespaces/\{ref\.namespace\}/events"')
    ],
    ("", "events", "patch"): [
        (
            "k8s/events.py",
            r'\.request\(\s*"patch",\s*f"/api/v1/namespaces/\{ref\.namespace\}/events/\{written\.name\}"',
        )
    ],
    ("", "configmaps", "create"): [
        ("k8s/state.py", r'\.request\(\s*"create",\s*self\._collection'),
        ("k8s/incidents.py", r'\.request\(\s*"create",\s*self\._collection'),
    ],
    ("", "configmaps", "get"): [
        ("k8s/state.py", r'\.request\("get", self\._path'),
        ("k8s/state.py", r'\.request\("get", self\._mirror_path'),
        ("k8s/incidents.py", r'\.request\("get", self\._path'),
    ],
    ("", "configmaps", "patch"): [
        ("k8s/state.py", r'\.request\(\s*"patch",\s*self\._path'),
        ("k8s/state.py", r'\.request\(\s*"patch", self\._mirror_path'),
        ("k8s/incidents.py", r'\.request\(\s*"patch",\s*self\._path'),
    ],
}

# API calls every authenticated identity may make (system:discovery / system:basic-user): no grant needed.
UNGRANTED_CALLS = [
    ("k8s/client.py", r'\.request\("get", "/version"'),
    # API discovery (system:discovery): is Argo Rollouts installed at all, when listing Rollouts is a 403.
    ("k8s/snapshots.py", r'\.request\("get", resources\.group_version_path\(resources\.ROLLOUTS\)'),
    ("k8s/client.py", r'\.request\(\s*"create",\s*"/apis/authentication\.k8s\.io/v1/selfsubjectreviews"'),
    # list_all is the paginating helper; its callers are the call sites above.
    ("k8s/snapshots.py", r'\.request\("list", path, query=query'),
    # The CLI, with the user's own credentials: only to answer kubectl's words for kinds nobody rolls back.
    ("commands/rollout.py", r'\.request\("get", other\.path\.format'),
]

# The admission operation each write verb arrives as (a patch is an UPDATE).
OPERATION_OF_WRITE = {
    "create": "CREATE",
    "update": "UPDATE",
    "patch": "UPDATE",
    "delete": "DELETE",
    "deletecollection": "DELETE",
}

API_CALL = re.compile(r"\.request\(|\.request_text\(|\.watch\(|\blist_all\(")


def source(relative: str) -> str:
    return (RECEIVER / relative).read_text()


# Granted only when the rollout-health source is on (least privilege otherwise).
ROLLOUT_HEALTH_ONLY = {("apps", "replicasets", "watch"), ("", "pods", "list"), ("", "pods", "watch")}


def granted(
    values: dict[str, Any] | None = None, *, rollout_health: bool = True
) -> set[tuple[str, str, str]]:
    """Everything the chart can grant (Argo Rollouts and the rollout-health source included), or what
    `values` grant."""
    if values is None:
        config: dict[str, object] = {"namespaces": {"allow": ["shop"]}}
        if rollout_health:
            config["rollout_health"] = {"enabled": True}
        values = {"config": config, "rbac": {"argoRollouts": True}}
    docs = render(values)
    rules: set[tuple[str, str, str, tuple[str, ...]]] = set()
    for role in docs:
        if role["kind"] in {"Role", "ClusterRole"}:
            rules |= rule_set(role["rules"])
    return {(group, resource, verb) for group, resource, verb, _ in rules}


def test_workload_kinds_share_the_code_paths_named_here() -> None:
    assert sorted(resources.PLURALS.values()) == sorted((*WORKLOADS, "rollouts"))
    assert resources.qualified("rollouts") == f"rollouts.{ARGO}"


def test_argo_rollouts_grants_are_off_by_default_and_add_only_rollouts() -> None:
    without = granted({"config": {"namespaces": {"allow": ["shop"]}}})
    assert {grant for grant in without if grant[0] == ARGO} == set()
    for cluster_wide in (False, True):
        values = {"config": {"namespaces": {"allow": ["shop"]}}, "rbac": {"clusterWide": cluster_wide}}
        plain = granted(values)
        values["rbac"]["argoRollouts"] = True
        assert granted(values) - plain == {grant for grant in CALL_SITES if grant[0] == ARGO}


def test_every_grant_is_used_by_a_named_call_site() -> None:
    assert granted() == set(CALL_SITES), "the chart's grants and the table of used calls differ"
    for grant, sites in CALL_SITES.items():
        for relative, pattern in sites:
            assert re.search(pattern, source(relative)), (
                f"{grant}: no call {pattern!r} in receiver/{relative}"
            )


def test_every_api_call_of_the_receiver_is_granted() -> None:
    known = [site for sites in CALL_SITES.values() for site in sites] + UNGRANTED_CALLS
    unexplained: list[str] = []
    for path in sorted(RECEIVER.rglob("*.py")):
        relative = str(path.relative_to(RECEIVER))
        text = path.read_text()
        for call in API_CALL.finditer(text):
            line_start = text.rfind("\n", 0, call.start()) + 1
            if re.match(r"\s*(async\s+)?def\b", text[line_start : call.start()]):
                continue  # the definition of list_all, not a call
            # Each call-site pattern starts at the call itself (`.request(`, `.watch(`, `list_all(`).
            if not any(
                site_file == relative and re.compile(pattern).match(text, call.start())
                for site_file, pattern in known
            ):
                line = text.count("\n", 0, call.start()) + 1
                unexplained.append(f"receiver/{relative}:{line}: {text[line_start:].splitlines()[0].strip()}")
    assert unexplained == [], "API calls with no RBAC grant named in CALL_SITES:\n" + "\n".join(unexplained)


def test_the_watch_grants_come_only_with_the_rollout_health_source() -> None:
    assert granted() - granted(rollout_health=False) == ROLLOUT_HEALTH_ONLY


def test_state_grants_are_limited_to_the_state_its_breaker_mirror_and_the_incident_records() -> None:
    docs = render()
    state_role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == f"{RELEASE}-state")
    named = {
        rule_verb: rule.get("resourceNames") for rule in state_role["rules"] for rule_verb in rule["verbs"]
    }
    three = [f"{RELEASE}-state", f"{RELEASE}-state-breaker", f"{RELEASE}-state-incidents"]
    assert named == {"create": None, "get": three, "patch": three}


def test_call_site_files_exist() -> None:
    for relative, _ in [site for sites in CALL_SITES.values() for site in sites] + UNGRANTED_CALLS:
        assert Path(RECEIVER / relative).is_file(), relative


def test_cluster_wide_admission_policy_covers_every_write_the_cluster_role_grants() -> None:
    """With rbac.clusterWide the API server's policy, not RBAC, keeps the receiver out of the namespaces it
    refuses; a write verb the ClusterRole gains without the policy matching it would reach them."""
    docs = render({"rbac": {"clusterWide": True}, "config": {"namespaces": {"allow": []}}})
    writes = {
        (group, resource, OPERATION_OF_WRITE[verb])
        for group, resource, verb, _ in rule_set(one(docs, "ClusterRole")["rules"])
        if verb in OPERATION_OF_WRITE
    }
    assert writes >= {("apps", "deployments", "UPDATE"), ("", "events", "CREATE"), ("", "events", "UPDATE")}
    policy = one(docs, "ValidatingAdmissionPolicy")["spec"]
    matched = {
        (group, resource, operation)
        for rule in policy["matchConstraints"]["resourceRules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for operation in rule["operations"]
    }
    assert writes <= matched, f"writes the policy does not check: {sorted(writes - matched)}"
    (subject,) = one(docs, "ClusterRoleBinding")["subjects"]
    (condition,) = policy["matchConditions"]
    user = f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
    assert condition["expression"] == f'request.userInfo.username == "{user}"'
