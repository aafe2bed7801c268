"""The watch's cache on the real control plane: it serves the same snapshot as GET + LIST, a decision on it
costs the undo a single PATCH, and a stale copy can only cost a 409 and one re-read, never a wrong undo."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from harness.cluster import ClusterAccess
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import Conflict, KubeClient, WorkloadWatch, connect, facts_from, undo
from receiver.k8s.snapshots import snapshot
from tests.cluster.health_support import V2, deployment, eventually_async, health_config

V3 = "registry.example/shop:v3"


class CountingClient(KubeClient):
    """The real client; it also writes down each request's verb (what the API server was asked)."""

    verbs: list[str]

    def __init__(self, real: KubeClient) -> None:
        super().__init__(real._api, identity=real.identity, source=real.source, retry=real.retry)
        self.verbs = []

    async def request(self, verb: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.verbs.append(verb)
        return await super().request(verb, path, **kwargs)

    async def request_text(self, verb: str, path: str, **kwargs: Any) -> str:
        self.verbs.append(verb)
        return await super().request_text(verb, path, **kwargs)


def without_managed_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {**obj, "metadata": meta}


async def kubectl(cp: ClusterAccess, namespace: str, *args: str, stdin: str | None = None) -> None:
    await asyncio.to_thread(cp.kubectl, *args, "-n", namespace, input=stdin)


async def test_the_cache_serves_what_get_and_list_read_and_the_undo_is_one_patch(
    control_plane: ClusterAccess, namespace: str
) -> None:
    cp = control_plane
    real = await connect(cp.kubeconfig)
    watch = WorkloadWatch(real, health_config(namespace))
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web")
    try:
        watch.start()
        await kubectl(cp, namespace, "create", "-f", "-", stdin=json.dumps(deployment("web")))
        for image in (V2, V3):
            await kubectl(cp, namespace, "set", "image", "deployment/web", f"app={image}")
            await kubectl(cp, namespace, "rollout", "status", "deployment/web", "--timeout=120s")
        # The same state read both ways (the controller may still write status: wait for a quiet moment,
        # the same resourceVersion for a whole second, or a status write between the read and the patch
        # costs a 409 and a re-read under a loaded machine).
        previous = None
        for _ in range(100):
            live = await snapshot(real, ref)
            cached = watch.snapshot(ref)
            rv = live.workload["metadata"]["resourceVersion"]
            quiet = rv == previous
            previous = rv
            if quiet and cached is not None and cached.workload["metadata"]["resourceVersion"] == rv:
                break
            await asyncio.sleep(1.0)
        else:
            raise AssertionError("the watch never held the Deployment's current resourceVersion")
        assert cached.from_cache
        assert cached.workload == without_managed_fields(live.workload)
        assert [rs["metadata"]["name"] for rs in cached.history] == [
            rs["metadata"]["name"] for rs in live.history
        ]
        assert facts_from(cached) == facts_from(live)

        counting = CountingClient(real)
        result = await undo(counting, ref, decided_on=facts_from(cached), snapshot_read=cached, audit={})
        assert (result.target_revision, result.skipped) == (2, False)
        assert counting.verbs == ["patch"], "a decision on the cache leaves only the PATCH"
        await kubectl(cp, namespace, "rollout", "status", "deployment/web", "--timeout=120s")
        back = await real.request("get", f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
        assert back["spec"]["template"]["spec"]["containers"][0]["image"] == V2
    finally:
        await watch.close()
        await real.close()


async def test_a_stale_copy_costs_a_409_and_one_re_read_never_a_wrong_undo(
    control_plane: ClusterAccess, namespace: str
) -> None:
    cp = control_plane
    real = await connect(cp.kubeconfig)
    watch = WorkloadWatch(real, health_config(namespace))
    ref = WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web")
    try:
        watch.start()
        await kubectl(cp, namespace, "create", "-f", "-", stdin=json.dumps(deployment("web")))
        await kubectl(cp, namespace, "set", "image", "deployment/web", f"app={V2}")
        await kubectl(cp, namespace, "rollout", "status", "deployment/web", "--timeout=120s")
        stale = await eventually_async(
            lambda: (s := watch.snapshot(ref)) and facts_from(s).current_revision == 2 and s,
            "revision 2 cached",
        )
        # Someone ships v3 after the decision was made on the cached copy (revision 2 live, target 1).
        await kubectl(cp, namespace, "set", "image", "deployment/web", f"app={V3}")
        await kubectl(cp, namespace, "rollout", "status", "deployment/web", "--timeout=120s")

        counting = CountingClient(real)
        try:
            await undo(counting, ref, decided_on=facts_from(stale), snapshot_read=stale, audit={})
        except Conflict as exc:
            assert "changed since the decision" in exc.message
        else:
            raise AssertionError("an undo computed on a stale copy must not apply")
        # The stale PATCH was refused by its resourceVersion precondition; one fresh read (GET, the
        # ReplicaSets' LIST, the Rollouts' LIST for a workloadRef) showed what changed; nothing else was sent.
        assert counting.verbs == ["patch", "get", "list", "list"]
        now = await real.request("get", f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
        assert now["spec"]["template"]["spec"]["containers"][0]["image"] == V3, "no wrong undo"
        assert now["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

        # Once the watch has caught up, the cache serves the new state again.
        fresh = await eventually_async(
            lambda: (s := watch.snapshot(ref)) and facts_from(s).current_revision == 3 and s,
            "revision 3 cached",
        )
        result = await undo(real, ref, decided_on=facts_from(fresh), snapshot_read=fresh, audit={})
        assert result.target_revision == 2
        await kubectl(cp, namespace, "rollout", "status", "deployment/web", "--timeout=120s")
        back = await real.request("get", f"/apis/apps/v1/namespaces/{namespace}/deployments/web")
        assert back["spec"]["template"]["spec"]["containers"][0]["image"] == V2
    finally:
        await watch.close()
        await real.close()
