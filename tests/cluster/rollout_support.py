"""Helpers for the rollout engine's cluster tests: twin workloads with identical history, and our CLI."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from harness.waiting import eventually
from receiver.commands import rollout as rollout_cmd
from receiver.core.goparse import GoSyntaxError, parse_int
from receiver.k8s import KubeClient, connect
from receiver.k8s.client import RetryPolicy

T = TypeVar("T")
OURS_PREFIX = "rollback-receiver.io/"
CHANGE_CAUSE = "kubernetes.io/change-cause"


def pod_template(app: str, image: str, *, node_selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": image}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {"metadata": {"labels": {"app": app}}, "spec": spec}


def workload(kind: str, name: str, image: str, **spec_extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": pod_template(name, image)}
    if kind != "DaemonSet":
        spec["replicas"] = 2
    if kind == "StatefulSet":
        spec["serviceName"] = name
    spec.update(spec_extra)
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


class Twins:
    """The same workload, with the same history, in two namespaces: `kubectl` acts on one, we on the other."""

    def __init__(self, cp: Any, theirs: str, ours: str) -> None:
        self.cp, self.theirs, self.ours = cp, theirs, ours

    @property
    def namespaces(self) -> tuple[str, str]:
        return self.theirs, self.ours

    def create(self, manifest: dict[str, Any], *, wait: bool = True) -> None:
        for ns in self.namespaces:
            self.cp.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(manifest))
        if wait:
            self.wait(manifest["kind"], manifest["metadata"]["name"])

    def patch(self, kind: str, name: str, patch: dict[str, Any], *, wait: bool = True) -> None:
        for ns in self.namespaces:
            self.cp.kubectl("patch", kind, name, "-n", ns, "--type=merge", "-p", json.dumps(patch))
        if wait:
            self.wait(kind, name)

    def release(self, kind: str, name: str, image: str, cause: str | None = None, **kw: Any) -> None:
        """Roll out a new image (one revision), optionally with a change-cause, on both twins."""
        patch: dict[str, Any] = {
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}
        }
        if cause is not None:
            patch["metadata"] = {"annotations": {CHANGE_CAUSE: cause}}
        self.patch(kind, name, patch, **kw)

    def wait(self, kind: str, name: str) -> None:
        for ns in self.namespaces:
            self.cp.kubectl("rollout", "status", f"{kind.lower()}/{name}", "-n", ns, "--timeout=90s")

    def kubectl(self, *args: str) -> tuple[int, str, str]:
        result = self.cp.kubectl(*args, "-n", self.theirs, check=False)
        return result.returncode, result.stdout, result.stderr

    def ours_cli(self, *args: str) -> tuple[int, str, str]:
        return run_cli(self.cp, *args, "-n", self.ours)


def run_cli(cp: Any, *argv: str) -> tuple[int, str, str]:
    """Our `rollback-receiver history|undo|status` in this process: (exit code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="rollback-receiver")
    rollout_cmd.register(parser.add_subparsers(required=True))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args([*argv, "--kubeconfig", cp.kubeconfig])
        except SystemExit as exit_:
            return int(exit_.code or 0), out.getvalue(), err.getvalue()
        code = args.run(args)
    return code, out.getvalue(), err.getvalue()


@contextlib.contextmanager
def second_namespace(cp: Any, first: str) -> Iterator[str]:
    name = f"{first[:50]}-b{secrets.token_hex(2)}"
    cp.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cp.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def with_kube(
    cp: Any, action: Callable[[KubeClient], Awaitable[T]], *, retry: RetryPolicy | None = None
) -> T:
    """Run one engine call on a fresh connection (sync tests call the async engine through this)."""

    async def main() -> T:
        kube = await connect(cp.kubeconfig, retry=retry)
        try:
            return await action(kube)
        finally:
            await kube.close()

    return asyncio.run(main())


def go_revision(text: str) -> int | None:
    """A revision annotation as kubectl reads it (Go's ParseInt), None when kubectl skips it."""
    try:
        return parse_int(text)
    except GoSyntaxError:
        return None


def _strip_ours(annotations: dict[str, str], *, keep_change_cause: bool) -> dict[str, str]:
    return {
        k: v
        for k, v in annotations.items()
        if not k.startswith(OURS_PREFIX) and (keep_change_cause or k != CHANGE_CAUSE)
    }


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    template = json.loads(json.dumps(template))
    labels = template.get("metadata", {}).get("labels", {})
    labels.pop("pod-template-hash", None)
    labels.pop("controller-revision-hash", None)
    return template


def settled(cp: Any, ns: str, kind: str, name: str, *, keep_change_cause: bool = True) -> dict[str, Any]:
    """The workload and its history once the controller has caught up, minus what is ours or random."""

    def observed() -> dict[str, Any] | None:
        obj = cp.kubectl_json("get", kind, name, "-n", ns)
        if obj["metadata"].get("generation") != obj.get("status", {}).get("observedGeneration"):
            return None
        history = history_objects(cp, ns, kind, obj)
        if kind == "Deployment":
            numbers = [
                n
                for h in history
                if (
                    n := go_revision(
                        h["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0")
                    )
                )
                is not None
            ]
            live = obj["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
            if not numbers or str(max(numbers)) != live:
                return None
        else:
            status = obj.get("status", {})
            if kind == "StatefulSet" and status.get("updateRevision") not in {
                h["metadata"]["name"] for h in history
            }:
                return None
        return obj

    obj = eventually(observed, what=f"{kind} {ns}/{name} observed by its controller")
    history = history_objects(cp, ns, kind, obj)
    if kind == "Deployment":
        revisions = {
            h["metadata"]["annotations"].get("deployment.kubernetes.io/revision"): {
                "name": h["metadata"]["name"],
                "template": _without_hash(h["spec"]["template"]),
                "revision-history": h["metadata"]["annotations"].get(
                    "deployment.kubernetes.io/revision-history"
                ),
                "annotations": _strip_ours(h["metadata"]["annotations"], keep_change_cause=keep_change_cause),
            }
            for h in history
        }
    else:
        revisions = {str(h["revision"]): {"name": h["metadata"]["name"], "data": h["data"]} for h in history}
    return {
        "spec": obj["spec"],
        "annotations": _strip_ours(
            obj["metadata"].get("annotations", {}), keep_change_cause=keep_change_cause
        ),
        "revisions": revisions,
    }


def history_objects(cp: Any, ns: str, kind: str, obj: dict[str, Any]) -> list[dict[str, Any]]:
    resource = "replicasets" if kind == "Deployment" else "controllerrevisions"
    selector = ",".join(f"{k}={v}" for k, v in obj["spec"]["selector"]["matchLabels"].items())
    items = cp.kubectl_json("get", resource, "-n", ns, "-l", selector)["items"]
    uid = obj["metadata"]["uid"]
    return [i for i in items if any(o.get("uid") == uid for o in i["metadata"].get("ownerReferences", []))]


IMAGE = "registry.example/shop/app"


def releases(cp: Any, ns: str, kind: str = "Deployment", count: int = 3, **spec: Any) -> None:
    """`count` revisions of workload `web` (images v1..vN, change-cause "release vN"), each rolled out."""
    cp.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(workload(kind, "web", f"{IMAGE}:v1", **spec)))
    cp.kubectl("rollout", "status", f"{kind.lower()}/web", "-n", ns, "--timeout=90s")
    for n in range(2, count + 1):
        patch = {
            "metadata": {"annotations": {CHANGE_CAUSE: f"release v{n}"}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"{IMAGE}:v{n}"}]}}},
        }
        cp.kubectl("patch", kind, "web", "-n", ns, "--type=merge", "-p", json.dumps(patch))
        cp.kubectl("rollout", "status", f"{kind.lower()}/web", "-n", ns, "--timeout=90s")


def live_image(cp: Any, ns: str, kind: str = "Deployment") -> str:
    obj = cp.kubectl_json("get", kind, "web", "-n", ns)
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])
