"""An alert storm: 1,000 alerts over 50 workloads in 5 namespaces, budgets of 3 per namespace and 10
overall. The budgets hold exactly, every refused alert has its reason, nothing answers 5xx (503 is
back-pressure: the sender re-posts, as Alertmanager does)."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from e2e_support import V1, V2, image_of, occurrences, our_events, receiver_config

from harness.receiver import ReceiverProcess, webhook_alert, webhook_payload
from harness.waiting import eventually
from receiver.core.event_correlation import SIMILAR_MAX

pytestmark = [pytest.mark.e2e]

NAMESPACES, PER_NAMESPACE, EPISODES, PER_PAYLOAD = 5, 10, 20, 20
NS_BUDGET, GLOBAL_BUDGET = 3, 10
# Why an alert of the storm may be refused; anything else is a bug.
EXPECTED_REFUSALS = {
    "own_rollback",  # a later episode for a workload we already rolled back
    "budget_namespace",
    "budget_global",
    "breaker_open",  # the global budget ran out, which opens the breaker
    "in_progress",
    "already_handled",
}


@pytest.fixture
def storm_namespaces(control_plane, namespace):
    extra = [f"{namespace[:50]}-{i}" for i in range(1, NAMESPACES)]
    for name in extra:
        control_plane.kubectl("create", "namespace", name)
    yield [namespace, *extra]
    for name in extra:
        control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def deployments(namespaces: list[str]) -> list[tuple[str, str]]:
    return [(ns, f"w{i}") for ns in namespaces for i in range(PER_NAMESPACE)]


def create_all(cp: Any, targets: list[tuple[str, str]]) -> None:
    def manifest(ns: str, name: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": V1}]},
                },
            },
        }

    cp.kubectl(
        "create",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [manifest(*t) for t in targets]}),
    )
    for ns in {ns for ns, _ in targets}:
        cp.kubectl("rollout", "status", "deployment", "-n", ns, "--timeout=300s")
        cp.kubectl("set", "image", "deployment", "--all", f"app={V2}", "-n", ns)
    for ns in {ns for ns, _ in targets}:
        cp.kubectl("rollout", "status", "deployment", "-n", ns, "--timeout=300s")


def test_alert_storm_respects_budgets(control_plane, storm_namespaces, tmp_path) -> None:
    targets = deployments(storm_namespaces)
    create_all(control_plane, targets)
    config = receiver_config(
        storm_namespaces[0],
        namespaces=storm_namespaces,
        limits={
            "per_namespace": {"max": NS_BUDGET, "per": "1h"},
            "global": {"max": GLOBAL_BUDGET, "per": "1h"},
            "max_concurrent": GLOBAL_BUDGET,
        },
    )
    receiver = ReceiverProcess(tmp_path / "storm", kubeconfig=control_plane.kubeconfig, config=config)
    receiver.start()
    try:
        alerts = [
            webhook_alert(ns, name, fingerprint=secrets.token_hex(8))
            for _ in range(EPISODES)
            for ns, name in targets
        ]
        assert len(alerts) == 1000
        payloads = [webhook_payload(alerts[i : i + PER_PAYLOAD]) for i in range(0, len(alerts), PER_PAYLOAD)]
        codes: Counter[int] = Counter()

        def deliver(payload: dict[str, Any]) -> None:
            while True:  # like Alertmanager: 503 means "later", anything 2xx means "taken"
                code = receiver.post(payload)
                codes[code] += 1
                if code != 503:
                    return

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(deliver, payloads))
        assert set(codes) <= {200, 503}, codes
        assert codes[200] == len(payloads)

        def final_decisions() -> float:
            samples = receiver.samples("rollback_receiver_decisions_total")
            return sum(value for labels, value in samples if labels["decision"] != "wait")

        eventually(
            lambda: final_decisions() >= len(alerts),
            timeout=600,
            what="a decision for every alert",
            on_fail=receiver.log_tail,
        )
        eventually(
            lambda: receiver.metric("rollback_receiver_inflight_rollbacks") == 0,
            timeout=300,
            what="rollouts to finish",
        )

        decisions = {
            (labels["decision"], labels["reason"]): value
            for labels, value in receiver.samples("rollback_receiver_decisions_total")
            if value and labels["decision"] != "wait"
        }
        assert sum(decisions.values()) == len(alerts), decisions
        refused = {reason for (decision, reason) in decisions if decision != "rollback"}
        assert refused <= EXPECTED_REFUSALS, decisions
        # The budgets hold exactly: ten rollbacks, never more than three in one namespace.
        assert decisions.get(("rollback", "eligible")) == GLOBAL_BUDGET
        assert receiver.metric("rollback_receiver_rollbacks_total", result="succeeded") == GLOBAL_BUDGET
        triggered: Counter[str] = Counter()
        per_kind: Counter[tuple[str, str, str, str]] = Counter()  # Event objects per workload, reason, type
        for ns in storm_namespaces:
            for e in our_events(control_plane, ns):
                if e["reason"] == "RollbackTriggered":
                    triggered[e["involvedObject"]["namespace"]] += occurrences(e)
                per_kind[(ns, e["involvedObject"]["name"], e["reason"], e["type"])] += 1
        # Twenty distinct alerts on each workload are at most ten Event objects of one reason and type: nine
        # on their own and one combined from the similar others (client-go's correlation).
        assert max(per_kind.values()) <= SIMILAR_MAX, per_kind.most_common(3)
        assert sum(triggered.values()) == GLOBAL_BUDGET
        assert max(triggered.values()) <= NS_BUDGET
        rolled_back = [t for t in targets if image_of(control_plane, *t) == V1]
        assert len(rolled_back) == GLOBAL_BUDGET
        assert receiver.metric("rollback_receiver_circuit_breaker_open") == 1
    finally:
        receiver.stop()
