"""The chart, rendered offline by the real Helm SDK: lint, every CI variant, hardening, wiring, schema."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from chart_support import (
    CHART_DIR,
    CLUSTER_SCOPED_KINDS,
    RELEASE,
    RELEASE_NAMESPACE,
    REPO_ROOT,
    ci_values_files,
    dockerfile_final_stage,
    load_values,
    notes,
    of_kind,
    one,
    render,
    render_files,
    rendered_config,
    rule_set,
)

from receiver.config import load_config
from receiver.core.settings import SYSTEM_NAMESPACES

CI_FILES = ci_values_files()

# What the receiver does to workloads, and nothing else (the code paths are named in test_rbac.py).
WORKLOAD_RULES = {
    ("apps", "deployments", "get", ()),
    ("apps", "deployments", "list", ()),
    ("apps", "deployments", "watch", ()),
    ("apps", "deployments", "patch", ()),
    ("apps", "statefulsets", "get", ()),
    ("apps", "statefulsets", "list", ()),
    ("apps", "statefulsets", "watch", ()),
    ("apps", "statefulsets", "patch", ()),
    ("apps", "daemonsets", "get", ()),
    ("apps", "daemonsets", "list", ()),
    ("apps", "daemonsets", "watch", ()),
    ("apps", "daemonsets", "patch", ()),
    ("apps", "replicasets", "list", ()),
    ("apps", "controllerrevisions", "list", ()),
    ("", "events", "create", ()),
    ("", "events", "patch", ()),
}
STATE_CONFIGMAP = f"{RELEASE}-state"
STATE_RULES = {
    ("", "configmaps", "create", ()),
    (
        "",
        "configmaps",
        "get",
        (STATE_CONFIGMAP, f"{STATE_CONFIGMAP}-breaker", f"{STATE_CONFIGMAP}-incidents"),
    ),
    (
        "",
        "configmaps",
        "patch",
        (STATE_CONFIGMAP, f"{STATE_CONFIGMAP}-breaker", f"{STATE_CONFIGMAP}-incidents"),
    ),
}


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (only,) = pod["containers"]
    return dict(only)


def checksum(docs: list[dict[str, Any]]) -> str:
    return str(one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"])


@pytest.mark.parametrize("values_file", [None, *CI_FILES], ids=lambda p: p.name if p else "chart-defaults")
def test_lint_reports_no_errors_or_warnings(values_file: Path | None) -> None:
    values = load_values(values_file) if values_file else None
    report = helm.lint(CHART_DIR, values, strict=True, namespace=RELEASE_NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("values_file", CI_FILES, ids=lambda p: p.name)
def test_every_ci_variant_renders_the_core_objects(values_file: Path) -> None:
    docs = render(load_values(values_file))
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "Role", "RoleBinding"} <= kinds
    for doc in docs:
        # Every namespaced object lands in the release namespace or in an allowed namespace.
        assert doc["metadata"].get("namespace", "") != "" or doc["kind"] in CLUSTER_SCOPED_KINDS


def test_ci_variants_cover_what_the_chart_offers() -> None:
    kinds_by_file = {path.name: {doc["kind"] for doc in render(load_values(path))} for path in CI_FILES}
    assert {"ClusterRole", "ValidatingAdmissionPolicy"} <= kinds_by_file["clusterwide-values.yaml"]
    assert {"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "PodDisruptionBudget"} <= kinds_by_file[
        "production-values.yaml"
    ]
    assert "Secret" not in kinds_by_file["production-values.yaml"]  # existingSecret
    assert rendered_config(render(load_values(CHART_DIR / "ci" / "dry-run-values.yaml")))["mode"] == "dry-run"


@pytest.mark.parametrize("values_file", [None, *CI_FILES], ids=lambda p: p.name if p else "chart-defaults")
def test_rendered_config_is_one_the_receiver_loads(values_file: Path | None, tmp_path: Path) -> None:
    docs = render(load_values(values_file) if values_file else None)
    path = tmp_path / "config.yaml"
    path.write_text(one(docs, "ConfigMap")["data"]["config.yaml"])
    config = load_config(path, environ={"POD_NAMESPACE": RELEASE_NAMESPACE})
    main = container(docs)
    assert config.server.bearer is not None
    assert str(config.server.bearer.token_file) == "/etc/rollback-receiver/secrets/token"
    assert config.server.listen_port == main["ports"][0]["containerPort"]
    assert config.state.namespace == RELEASE_NAMESPACE and config.state.name == STATE_CONFIGMAP
    grace = one(docs, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert config.server.shutdown_timeout.total_seconds() < grace
    assert config.own_namespace == RELEASE_NAMESPACE


def test_pod_runs_hardened_as_the_image_user() -> None:
    docs = render()
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    sc = container(docs)["securityContext"]
    user = dict(dockerfile_final_stage())["USER"]
    assert user == "65532:65532"
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (65532, 65532)
    assert (sc["runAsUser"], sc["runAsGroup"]) == (65532, 65532)
    assert sc["runAsNonRoot"] is True and pod["securityContext"]["runAsNonRoot"] is True
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_pod_is_wired_to_what_the_receiver_reads() -> None:
    docs = render()
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    main = container(docs)
    config = rendered_config(docs)
    mounts = {m["name"]: m for m in main["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}

    assert main["args"] == ["serve", "--config", "/etc/rollback-receiver/config.yaml"]
    assert mounts["config"]["mountPath"] == "/etc/rollback-receiver/config.yaml"
    assert volumes["config"]["configMap"]["name"] == one(docs, "ConfigMap")["metadata"]["name"]

    token_path = config["server"]["auth"]["bearer_token_file"]
    assert token_path == "/etc/rollback-receiver/secrets/token"
    assert f"{mounts['webhook-token']['mountPath']}/token" == token_path
    secret = one(docs, "Secret")
    assert volumes["webhook-token"]["secret"] == {
        "secretName": secret["metadata"]["name"],
        "items": [{"key": "token", "path": "token"}],
    }

    env = {e["name"]: e for e in main["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert config["state"] == {"namespace": RELEASE_NAMESPACE, "name": STATE_CONFIGMAP}

    (port,) = main["ports"]
    assert config["server"]["listen"] == f"0.0.0.0:{port['containerPort']}"
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http", "scheme": "HTTP"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http", "scheme": "HTTP"}
    service = one(docs, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"] == "http"
    assert (
        service["spec"]["selector"].items()
        <= one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]


def test_termination_grace_outlasts_the_drain() -> None:
    docs = render({"shutdown": {"drainSeconds": 45, "terminationGracePeriodSeconds": 60}})
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert rendered_config(docs)["server"]["shutdown_timeout"] == "45s"
    assert pod["terminationGracePeriodSeconds"] == 60

    default = render()
    drain = rendered_config(default)["server"]["shutdown_timeout"]
    assert drain == "20s"
    assert one(default, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 20

    with pytest.raises(helm.HelmRenderError, match=r"terminationGracePeriodSeconds \(30\) must be longer"):
        render({"shutdown": {"drainSeconds": 30, "terminationGracePeriodSeconds": 30}})


def test_routing_config_change_changes_the_checksum() -> None:
    base = checksum(render())
    assert checksum(render()) == base  # stable: an upgrade with the same config does not roll the pods
    assert checksum(render({"config": {"mode": "dry-run"}})) != base
    assert checksum(render({"replicaCount": 3})) == base


def test_rbac_is_one_role_per_allowed_namespace_with_only_used_verbs() -> None:
    docs = render({"config": {"namespaces": {"allow": ["shop", "payments"]}}})
    assert of_kind(docs, "ClusterRole") == [] and of_kind(docs, "ClusterRoleBinding") == []
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in of_kind(docs, "Role")}
    assert set(roles) == {
        ("shop", RELEASE),
        ("payments", RELEASE),
        (RELEASE_NAMESPACE, STATE_CONFIGMAP),
    }
    assert rule_set(roles["shop", RELEASE]["rules"]) == WORKLOAD_RULES
    assert rule_set(roles["payments", RELEASE]["rules"]) == WORKLOAD_RULES
    assert rule_set(roles[RELEASE_NAMESPACE, STATE_CONFIGMAP]["rules"]) == STATE_RULES
    sa = one(docs, "ServiceAccount")["metadata"]
    for binding in of_kind(docs, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]}
        ]
        assert binding["roleRef"]["name"] == binding["metadata"]["name"]


def test_rbac_namespaces_can_differ_from_the_config() -> None:
    docs = render(
        {"rbac": {"namespaces": ["shop"]}, "config": {"namespaces": {"allow": ["shop", "payments"]}}}
    )
    workload_roles = [r for r in of_kind(docs, "Role") if r["metadata"]["name"] == RELEASE]
    assert [r["metadata"]["namespace"] for r in workload_roles] == ["shop"]


def test_cluster_wide_rbac_is_one_cluster_role_with_the_same_rules() -> None:
    docs = render({"rbac": {"clusterWide": True}, "config": {"namespaces": {"allow": []}}})
    (cluster_role,) = of_kind(docs, "ClusterRole")
    assert rule_set(cluster_role["rules"]) == WORKLOAD_RULES
    (binding,) = of_kind(docs, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": cluster_role["metadata"]["name"],
    }
    # Guard state stays namespaced even when workloads are cluster-wide.
    (state_role,) = of_kind(docs, "Role")
    assert rule_set(state_role["rules"]) == STATE_RULES


def refused_namespaces(policy: dict[str, Any]) -> dict[str, list[str]]:
    """The policy's validations as {the receiver's words for the refusal: the namespaces it names}."""
    found: dict[str, list[str]] = {}
    for validation in policy["spec"]["validations"]:
        assert validation["reason"] == "Forbidden"
        words = re.fullmatch(
            r'"namespace " \+ request\.namespace \+ " (.+)"', validation["messageExpression"]
        )
        listed = re.fullmatch(r"(!?)\(?request\.namespace in (\[.*\])\)?", validation["expression"])
        assert words and listed, validation
        # `!(... in [...])` refuses what the list names; `... in [...]` refuses what it does not.
        assert (listed[1] == "!") == (words[1] != "is not in the allow list"), validation
        found[words[1]] = json.loads(listed[2])
    return found


def test_cluster_wide_rbac_ships_a_policy_refusing_what_the_receiver_refuses() -> None:
    docs = render(
        {"rbac": {"clusterWide": True}, "config": {"namespaces": {"allow": [], "deny": ["monitoring"]}}}
    )
    policy = one(docs, "ValidatingAdmissionPolicy")
    assert policy["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert policy["metadata"]["name"] == one(docs, "ClusterRole")["metadata"]["name"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    # Only the receiver's own requests: every other identity, cluster admins included, is left alone.
    user = f"system:serviceaccount:{RELEASE_NAMESPACE}:{RELEASE}"
    assert policy["spec"]["matchConditions"] == [
        {"name": "the-receivers-service-account", "expression": f'request.userInfo.username == "{user}"'}
    ]
    # The receiver's namespace guard (receiver/core/guards.py namespace_denied), word for word.
    refused = refused_namespaces(policy)
    assert set(refused.pop("is a system namespace and always denied")) == SYSTEM_NAMESPACES
    assert refused == {
        "is the receiver's own namespace and always denied": [RELEASE_NAMESPACE],
        "is in the deny list": ["monitoring"],
    }
    binding = one(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["metadata"]["name"] == policy["metadata"]["name"]
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}


def test_cluster_wide_policy_refuses_what_a_non_empty_allow_list_leaves_out() -> None:
    docs = render(
        {
            "rbac": {"clusterWide": True},
            "config": {"namespaces": {"allow": ["shop", "payments"]}, "own_namespace": "receivers"},
        }
    )
    refused = refused_namespaces(one(docs, "ValidatingAdmissionPolicy"))
    assert refused["is not in the allow list"] == ["shop", "payments"]
    assert refused["is the receiver's own namespace and always denied"] == [RELEASE_NAMESPACE, "receivers"]
    assert "is in the deny list" not in refused  # no deny list, no validation for it


def test_cluster_scoped_names_and_the_policy_user_follow_namespace_and_service_account() -> None:
    values = {
        "rbac": {"clusterWide": True},
        "config": {"namespaces": {"allow": []}},
        "namespaceOverride": "ops",
        "serviceAccount": {"name": "rollbacker"},
    }
    docs = render(values)
    policy = one(docs, "ValidatingAdmissionPolicy")
    assert policy["metadata"]["name"] == f"ops-{RELEASE}"
    (condition,) = policy["spec"]["matchConditions"]
    assert condition["expression"] == 'request.userInfo.username == "system:serviceaccount:ops:rollbacker"'
    assert one(docs, "ClusterRoleBinding")["subjects"] == [
        {"kind": "ServiceAccount", "name": "rollbacker", "namespace": "ops"}
    ]
    # Two releases of one name in two namespaces keep apart.
    other = render({**values, "namespaceOverride": "ops-eu"})
    assert one(other, "ValidatingAdmissionPolicy")["metadata"]["name"] == f"ops-eu-{RELEASE}"


def test_no_admission_policy_without_cluster_wide_rbac() -> None:
    assert of_kind(render(), "ValidatingAdmissionPolicy") == []
    unmanaged = render(
        {"rbac": {"create": False, "clusterWide": True}, "config": {"namespaces": {"allow": []}}}
    )
    assert {"ClusterRole", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}.isdisjoint(
        doc["kind"] for doc in unmanaged
    )


def test_cluster_wide_rbac_needs_kubernetes_1_30() -> None:
    cluster_wide = {"rbac": {"clusterWide": True}, "config": {"namespaces": {"allow": []}}}
    for old in ("v1.29.4", "v1.29.1-gke.1589018"):
        with pytest.raises(
            helm.HelmRenderError,
            match=rf"rbac\.clusterWide needs Kubernetes 1\.30 or newer .*; this cluster is {re.escape(old)}: "
            r"set config\.namespaces\.allow and rbac\.clusterWide=false",
        ):
            render(cluster_wide, kube_version=old)
    for new in ("v1.30.0", "v1.30.2-eks-1234", "v1.36.3"):
        assert of_kind(render(cluster_wide, kube_version=new), "ValidatingAdmissionPolicy") != []
    # Per-namespace Roles need no admission policy, so they still install on older clusters.
    assert of_kind(render(kube_version="v1.29.4"), "Role") != []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {
                "rbac": {"namespaces": ["shop", "billing", "hr"]},
                "config": {"namespaces": {"allow": ["shop"]}},
            },
            r"rbac\.namespaces names billing, hr, which config\.namespaces\.allow does not",
        ),
        (
            {"rbac": {"namespaces": ["shop", "billing"]}, "config": {"namespaces": {"allow": ["shop"]}}},
            r"rbac\.namespaces names billing, which",
        ),
        (
            {"rbac": {"namespaces": [RELEASE_NAMESPACE]}, "config": {"namespaces": {"allow": []}}},
            rf"rbac\.namespaces names {RELEASE_NAMESPACE}, the receiver's own namespace: it never acts there",
        ),
        (
            {"config": {"namespaces": {"allow": ["shop", RELEASE_NAMESPACE]}}},
            rf"config\.namespaces\.allow names {RELEASE_NAMESPACE}, the receiver's own namespace",
        ),
        (
            {"config": {"namespaces": {"allow": ["kube-system"]}}},
            r"config\.namespaces\.allow names kube-system, a system namespace: the receiver always refuses",
        ),
        (
            {
                "rbac": {"namespaces": ["monitoring"]},
                "config": {"namespaces": {"allow": [], "deny": ["monitoring"]}},
            },
            r"rbac\.namespaces names monitoring, which config\.namespaces\.deny denies",
        ),
        (
            {"rbac": {"clusterWide": True}, "config": {"namespaces": {"allow": [RELEASE_NAMESPACE]}}},
            rf"config\.namespaces\.allow names {RELEASE_NAMESPACE}, the receiver's own namespace",
        ),
    ],
)
def test_rbac_beyond_what_the_receiver_acts_on_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=message):
        render(values)


def test_nothing_to_grant_is_a_clear_error() -> None:
    with pytest.raises(helm.HelmRenderError, match=r"no namespace to grant: set config\.namespaces\.allow"):
        render({"config": {"namespaces": {"allow": []}}})


def test_generated_token_secret_or_an_existing_one() -> None:
    generated = one(render(), "Secret")
    token = generated["data"]["token"]
    assert len(token) >= 48 and one(render(), "Secret")["data"]["token"] != token  # random per fresh install

    given = render({"webhookToken": {"value": "s3cret-from-values"}})
    assert one(given, "Secret")["data"]["token"] == "czNjcmV0LWZyb20tdmFsdWVz"

    existing = render({"webhookToken": {"existingSecret": "am-token", "existingSecretKey": "rr"}})
    assert of_kind(existing, "Secret") == []
    volumes = {v["name"]: v for v in one(existing, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["webhook-token"]["secret"] == {
        "secretName": "am-token",
        "items": [{"key": "rr", "path": "token"}],
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": "two"}, r"at '/replicaCount': got string, want integer"),
        ({"replicas": 2}, r"additional properties 'replicas' not allowed"),
        ({"image": {"tags": "v1"}}, r"at '/image': additional properties 'tags' not allowed"),
        ({"image": {"pullPolicy": "Sometimes"}}, r"at '/image/pullPolicy': value must be one of"),
        ({"config": {"mode": "yolo"}}, r"at '/config/mode': value must be one of 'enforce', 'dry-run'"),
        (
            {"config": {"namespaces": {"allow": "shop"}}},
            r"at '/config/namespaces/allow': got string, want array",
        ),
        ({"config": {"namespaces": {"allow": ["Shop_1"]}}}, r"at '/config/namespaces/allow/0'"),
        ({"config": {"defaults": {"cooldown": "30 minutes"}}}, r"at '/config/defaults/cooldown'"),
        ({"rbac": {"clusterwide": True}}, r"at '/rbac': additional properties 'clusterwide' not allowed"),
        (
            {"rbac": {"namespaces": ["shop", "kube-system"]}},
            r"at '/rbac/namespaces/1': value must be 'a namespace other than kube-system, kube-public and "
            r"kube-node-lease \(the receiver always refuses those\)'",
        ),
        (
            {"rbac": {"namespaces": ["kube-node-lease"]}},
            r"at '/rbac/namespaces/0': value must be 'a namespace other",
        ),
        ({"rbac": {"namespaces": ["Shop_1"]}}, r"at '/rbac/namespaces/0': 'Shop_1' does not match pattern"),
        ({"rbac": {"namespaces": "shop"}}, r"at '/rbac/namespaces': got string, want array"),
        ({"service": {"port": 70000}}, r"at '/service/port'"),
        ({"podDisruptionBudget": {"minAvailble": 1}}, r"additional properties 'minAvailble' not allowed"),
    ],
)
def test_schema_rejects_bad_values_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=message):
        render(values)


@pytest.mark.parametrize("example", sorted((REPO_ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_schema_accepts_the_shipped_example_configs(example: Path) -> None:
    config = yaml.safe_load(example.read_text())
    namespaces = config.get("namespaces", {}).get("allow") or ["default"]
    docs = render({"config": config, "rbac": {"namespaces": namespaces}})
    assert rendered_config(docs)["routes"] == config["routes"]


def test_notes_print_a_working_alertmanager_webhook_config() -> None:
    text = notes()
    url = f"http://{RELEASE}.{RELEASE_NAMESPACE}.svc:8080/webhook"
    assert f"- url: {url}" in text
    snippet = yaml.safe_load(text[text.index("route:") : text.index("3. Check")])
    (receiver,) = snippet["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == url
    assert webhook["send_resolved"] is True and webhook["max_alerts"] == 0
    assert webhook["http_config"]["authorization"]["credentials_file"].endswith("/token")
    assert snippet["route"]["routes"][0]["receiver"] == receiver["name"]
    assert "May roll back in: default" in text


def test_notes_say_where_cluster_wide_writes_are_refused() -> None:
    text = notes(
        {"rbac": {"clusterWide": True}, "config": {"namespaces": {"allow": [], "deny": ["monitoring"]}}}
    )
    assert "May roll back in: every namespace not refused (cluster-wide RBAC)." in text
    assert (
        f"in kube-system, kube-public, kube-node-lease, {RELEASE_NAMESPACE}, monitoring "
        f"(ValidatingAdmissionPolicy {RELEASE_NAMESPACE}-{RELEASE})." in text
    )
    listed = notes({"rbac": {"clusterWide": True}, "config": {"namespaces": {"allow": ["shop"]}}})
    assert "May roll back in: shop (cluster-wide RBAC)." in listed
    assert f"{RELEASE_NAMESPACE} and every namespace not listed" in listed


def real_tool(name: str) -> str:
    found = shutil.which(name)
    assert found, (
        f"{name} (Debian package prometheus / prometheus-alertmanager) is needed: bash scripts/bootstrap.sh"
    )
    return found


def test_notes_snippet_passes_amtool_check_config(tmp_path: Path) -> None:
    text = notes()
    snippet = yaml.safe_load(text[text.index("route:") : text.index("3. Check")])
    alertmanager_yml = {
        "route": {"receiver": "everything-else", **snippet["route"]},
        "receivers": [{"name": "everything-else"}, *snippet["receivers"]],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(alertmanager_yml))
    checked = subprocess.run([real_tool("amtool"), "check-config", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr


def test_self_alert_rules_pass_promtool(tmp_path: Path) -> None:
    rule = one(render({"prometheusRule": {"enabled": True}}), "PrometheusRule")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    checked = subprocess.run(
        [real_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0 and "SUCCESS: 4 rules found" in checked.stdout, (
        checked.stdout + checked.stderr
    )


def test_self_alerts_are_the_ones_an_sre_needs() -> None:
    docs = render({"prometheusRule": {"enabled": True}})
    rule = one(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    (group,) = rule["spec"]["groups"]
    by_name = {r["alert"]: r for r in group["rules"]}
    selector = f'job="rollback-receiver", namespace="{RELEASE_NAMESPACE}"'
    assert by_name["RollbackReceiverDown"]["expr"] == f"absent(up{{{selector}}} == 1)"
    assert by_name["RollbackReceiverCircuitBreakerOpen"]["expr"] == (
        f"max(rollback_receiver_circuit_breaker_open{{{selector}}}) == 1"
    )
    assert by_name["RollbackReceiverRollbackFailed"]["expr"] == (
        f'sum(increase(rollback_receiver_rollbacks_total{{{selector}, result="failed"}}[15m])) > 0'
    )
    assert by_name["RollbackReceiverConfigReloadFailed"]["expr"] == (
        f"max(rollback_receiver_config_last_reload_successful{{{selector}}}) by (pod) == 0"
    )
    for alert in by_name.values():
        # A self-alert must page a human, never trigger a rollback.
        assert "rollback" not in alert.get("annotations", {}) and "rollback" not in alert["labels"]
        assert alert["labels"]["severity"] in {"critical", "warning"}


def test_service_monitor_scrapes_the_service_port() -> None:
    docs = render({"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}})
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [RELEASE_NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert (endpoint["path"], endpoint["scheme"]) == ("/metrics", "http")
    # jobLabel names the label whose value becomes `job`, which the self-alerts select on.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "rollback-receiver"


def test_optional_objects_are_off_by_default_and_select_the_pods() -> None:
    kinds = {doc["kind"] for doc in render()}
    assert kinds.isdisjoint({"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "PodDisruptionBudget"})

    docs = render(load_values(CHART_DIR / "ci" / "production-values.yaml"))
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def test_selector_labels_never_carry_the_chart_version() -> None:
    # A Deployment selector is immutable: a version in it would break every `helm upgrade`.
    selector = one(render(), "Deployment")["spec"]["selector"]["matchLabels"]
    assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}


def leaf_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    paths: list[str] = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths.extend(leaf_paths(value, f"{path}.") if isinstance(value, dict) and value else [path])
    return paths


@pytest.mark.parametrize(
    "doc", [CHART_DIR / "README.md", REPO_ROOT / "docs" / "chart.md"], ids=lambda p: p.name
)
def test_values_table_documents_every_value(doc: Path) -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        values = chart.values
    documented = set(re.findall(r"^\| `([^`]+)` \|", doc.read_text(), flags=re.MULTILINE))
    # A block documented as a whole (config.defaults, securityContext, ...) covers the keys inside it.
    missing = [
        path
        for path in leaf_paths(values)
        if not any(path == key or path.startswith(f"{key}.") for key in documented)
    ]
    assert missing == []


def test_render_files_include_notes() -> None:
    assert any(path.endswith("NOTES.txt") for path in render_files())
