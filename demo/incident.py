"""The seed's e-commerce incident as Kubernetes objects and kubectl calls (the built kubectl).

History after `deploy_seed_history`, as `kubectl rollout history deployment/ecommerce` shows it:
  1  Initial deployment
  2  kubectl set image deployment/ecommerce ecommerce=ghcr.io/company/ecommerce:v1.1.0
  3  kubectl set image deployment/ecommerce ecommerce=ghcr.io/company/ecommerce:v1.2.0
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from demo.stack import DEPLOYMENT
from harness.cluster import ClusterAccess

IMAGE_REPO = "ghcr.io/company/ecommerce"
CONTAINER = "ecommerce"
REPLICAS = 3
ROLLOUT_TIMEOUT = "120s"
CHANGE_CAUSE = "kubernetes.io/change-cause"
AUDIT_PREFIX = "rollback-receiver.io/"
RECEIVER_COMPONENT = "rollback-receiver"  # the Events' source.component


@dataclass(frozen=True, slots=True)
class Release:
    tag: str
    change_cause: str

    @property
    def image(self) -> str:
        return f"{IMAGE_REPO}:{self.tag}"


def set_image_cause(tag: str, name: str = DEPLOYMENT) -> str:
    return f"kubectl set image deployment/{name} {CONTAINER}={IMAGE_REPO}:{tag}"


SEED_RELEASES = (
    Release("v1.0.0", "Initial deployment"),
    Release("v1.1.0", set_image_cause("v1.1.0")),
    Release("v1.2.0", set_image_cause("v1.2.0")),  # the bad one: 3.2% errors
)
GOOD_RELEASE = SEED_RELEASES[1]
BAD_RELEASE = SEED_RELEASES[2]


def deployment_manifest(namespace: str, release: Release, name: str = DEPLOYMENT) -> dict[str, Any]:
    """ecommerce with the seed's rolling-update strategy; the change-cause travels with the template
    change in one write, so the new ReplicaSet (the revision) carries it."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {CHANGE_CAUSE: release.change_cause},
        },
        "spec": {
            "replicas": REPLICAS,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": CONTAINER,
                            "image": release.image,
                            "ports": [{"containerPort": 3000, "name": "http"}],
                        }
                    ]
                },
            },
        },
    }


def ensure_namespace(cluster: ClusterAccess, namespace: str) -> None:
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def deploy(cluster: ClusterAccess, namespace: str, release: Release, name: str = DEPLOYMENT) -> str:
    """Apply one release and wait for its rollout like the seed does; returns kubectl's output."""
    applied = cluster.kubectl(
        "apply", "-f", "-", input=json.dumps(deployment_manifest(namespace, release, name))
    )
    status = rollout_status(cluster, namespace, name)
    return f"$ kubectl apply  # image {release.image}\n{applied.stdout.strip()}\n{status}"


def deploy_seed_history(cluster: ClusterAccess, namespace: str, name: str = DEPLOYMENT) -> list[str]:
    return [deploy(cluster, namespace, release, name) for release in SEED_RELEASES]


def rollout_status(cluster: ClusterAccess, namespace: str, name: str = DEPLOYMENT) -> str:
    done = cluster.kubectl(
        "rollout", "status", f"deployment/{name}", "-n", namespace, f"--timeout={ROLLOUT_TIMEOUT}"
    )
    return f"$ kubectl rollout status deployment/{name}\n{done.stdout.strip()}"


def rollout_history(cluster: ClusterAccess, namespace: str, name: str = DEPLOYMENT) -> str:
    history = cluster.kubectl("rollout", "history", f"deployment/{name}", "-n", namespace)
    return f"$ kubectl rollout history deployment/{name}\n{history.stdout.strip()}"


def pods(cluster: ClusterAccess, namespace: str, name: str = DEPLOYMENT) -> str:
    listing = cluster.kubectl(
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        f"app={name}",
        "-o",
        "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image,"
        "READY:.status.containerStatuses[0].ready,NODE:.spec.nodeName,PHASE:.status.phase",
    )
    return f"$ kubectl get pods -l app={name}\n{listing.stdout.strip()}"


def read_deployment(cluster: ClusterAccess, namespace: str, name: str = DEPLOYMENT) -> dict[str, Any]:
    found: dict[str, Any] = cluster.kubectl_json("get", f"deployment/{name}", "-n", namespace)
    return found


def current_image(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def revision_of(deployment: dict[str, Any]) -> int:
    return int(deployment["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0"))


def audit_annotations(deployment: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = deployment["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if k.startswith(AUDIT_PREFIX) or k == CHANGE_CAUSE}


def workload_events(cluster: ClusterAccess, namespace: str, name: str = DEPLOYMENT) -> list[dict[str, Any]]:
    """Events on the Deployment, oldest first (the controller's scaling events and ours)."""
    listing = cluster.kubectl_json(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.kind=Deployment,involvedObject.name={name}",
    )
    items: list[dict[str, Any]] = listing.get("items") or []
    # Timestamps have one-second resolution; the resourceVersion orders events written in the same second.
    return sorted(
        items,
        key=lambda e: (
            e.get("lastTimestamp") or e.get("eventTime") or "",
            int(e["metadata"]["resourceVersion"]),
        ),
    )


def receiver_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Events rollback-receiver wrote (RollbackTriggered, RollbackSucceeded, RollbackSkipped, ...)."""
    return [e for e in events if (e.get("source") or {}).get("component") == RECEIVER_COMPONENT]


def describe_events(events: list[dict[str, Any]]) -> str:
    lines = ["TYPE     REASON              FROM                 MESSAGE"]
    for event in events:
        source = (event.get("source") or {}).get("component") or event.get("reportingComponent") or ""
        kind, reason, message = event.get("type", ""), event.get("reason", ""), event.get("message", "")
        lines.append(f"{kind:<8} {reason:<19} {source:<20} {message}")
    return "\n".join(lines)
