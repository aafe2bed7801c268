"""Every RBAC grant of the chart is a call the receiver makes, and every call the receiver makes is granted.

The table below names, for each (apiGroup, resource, verb) the chart grants, the code that uses it. The
test fails when a grant has no call site (a verb the code does not use) and when the receiver makes a
Kubernetes API call that no table entry names (a call the chart would not allow).
"""

from __future__ import annotations

import re
from pathlib import Path

from chart_support import RELEASE, REPO_ROOT, render, rule_set

from receiver.k8s import resources

RECEIVER = REPO_ROOT / "receiver"
WORKLOADS = ("deployments", "statefulsets", "daemonsets")

# Workload kinds share one code path each: the path is built from resources.PLURALS[ref.kind].
WORKLOAD_GET = ("k8s/snapshots.py", r'\.request\("get", resources\.workload_path\(ref\)')
WORKLOAD_GET_FOR_STATUS = ("k8s/status.py", r'\.request\("get", path, what=what\)')
WORKLOAD_GET_BY_NAME = ("k8s/workloads.py", r'\.request\("get", resources\.workload_path\(ref\)')
WORKLOAD_LIST = ("k8s/workloads.py", r"list_all\(\s*kube,\s*resources\.collection_path\(plural, namespace\)")
WORKLOAD_WATCH = ("k8s/status.py", r"\.watch\(\s*watch_path,")
WORKLOAD_PATCH = ("k8s/rollout.py", r'\.request\(\s*"patch",\s*resources\.workload_path\(ref\)')

CALL_SITES: dict[tuple[str, str, str], list[tuple[str, str]]] = {
    **{
        ("apps", kind, "get"): [WORKLOAD_GET, WORKLOAD_GET_FOR_STATUS, WORKLOAD_GET_BY_NAME]
        for kind in WORKLOADS
    },
    **{("apps", kind, "list"): [WORKLOAD_LIST] for kind in WORKLOADS},
    **{("apps", kind, "watch"): [WORKLOAD_WATCH] for kind in WORKLOADS},
    **{("apps", kind, "patch"): [WORKLOAD_PATCH] for kind in WORKLOADS},
    ("apps", "replicasets", "list"): [
        (
            "k8s/snapshots.py",
            r'list_all\(\s*kube,\s*resources\.collection_path\("replicasets", ref\.namespace\)',
        )
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
    ("k8s/client.py", r'\.request\(\s*"create",\s*"/apis/authentication\.k8s\.io/v1/selfsubjectreviews"'),
    # list_all is the paginating helper; its callers are the call sites above.
    ("k8s/snapshots.py", r'\.request\("list", path, query=query'),
    # The CLI, with the user's own credentials: only to answer kubectl's words for kinds nobody rolls back.
    ("commands/rollout.py", r'\.request\("get", other\.path\.format'),
]

API_CALL = re.compile(r"\.request\(|\.request_text\(|\.watch\(|\blist_all\(")


def source(relative: str) -> str:
    return (RECEIVER / relative).read_text()


def granted() -> set[tuple[str, str, str]]:
    docs = render({"config": {"namespaces": {"allow": ["shop"]}}})
    rules: set[tuple[str, str, str, tuple[str, ...]]] = set()
    for role in docs:
        if role["kind"] in {"Role", "ClusterRole"}:
            rules |= rule_set(role["rules"])
    return {(group, resource, verb) for group, resource, verb, _ in rules}


def test_workload_kinds_share_the_code_paths_named_here() -> None:
    assert sorted(resources.PLURALS.values()) == sorted(WORKLOADS)


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
