"""The list+watch loop on the real API server: one LIST, then a WATCH that delivers every change; after an
expired resourceVersion (410) it lists again and reports what disappeared meanwhile; after the server
ends a watch it resumes from where it was, without a LIST."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from harness.cluster import ClusterAccess
from receiver.k8s import connect
from receiver.k8s.informer import Informer
from tests.cluster.health_support import eventually_async


class Recorder:
    """An informer sink that keeps what it was told, like the watch's view does."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.removed: list[str] = []
        self.first_lists = 0

    def upsert(self, collection: str, obj: dict[str, Any]) -> None:
        self.objects[obj["metadata"]["name"]] = obj

    def remove(self, collection: str, namespace: str, name: str) -> None:
        self.objects.pop(name, None)
        self.removed.append(name)

    def relisted(self, collection: str, namespace: str | None, present: set[tuple[str, str]]) -> None:
        for name in [n for n in self.objects if (namespace or "", n) not in present]:
            self.remove(collection, namespace or "", name)

    def first_list_done(self, collection: str, namespace: str | None) -> None:
        self.first_lists += 1


async def kubectl(cp: ClusterAccess, namespace: str, *args: str, stdin: str | None = None) -> None:
    await asyncio.to_thread(cp.kubectl, *args, "-n", namespace, input=stdin)


def configmap(name: str) -> str:
    return json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}
    )


async def test_list_watch_resume_and_relist_after_410(control_plane: ClusterAccess, namespace: str) -> None:
    cp = control_plane
    kube = await connect(cp.kubeconfig)
    sink = Recorder()
    informer = Informer(
        kube,
        collection="configmaps",
        path=f"/api/v1/namespaces/{namespace}/configmaps",
        namespace=namespace,
        sink=sink,
        watch_seconds=2,  # the server ends each watch quickly: resuming is exercised too
    )
    for name in ("a", "b"):
        await kubectl(cp, namespace, "create", "-f", "-", stdin=configmap(name))
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.synced.wait(), 60)
        assert {"a", "b"} <= set(sink.objects)
        assert informer.stats.lists == 1

        await kubectl(cp, namespace, "create", "-f", "-", stdin=configmap("c"))
        await kubectl(cp, namespace, "delete", "configmap", "a")
        await eventually_async(lambda: "c" in sink.objects and "a" not in sink.objects, "c added, a deleted")
        await asyncio.sleep(5)  # at least two server-side watch timeouts: resumed, not relisted
        assert informer.stats.watches >= 3 and informer.stats.lists == 1 and informer.stats.relists == 0

        # While it is stopped, b is deleted and the API server restarts: its watch cache starts over from
        # a fresh LIST, so the version the informer had is older than anything it can replay (410).
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kubectl(cp, namespace, "delete", "configmap", "b")
        await kubectl(cp, namespace, "create", "-f", "-", stdin=configmap("d"))
        assert hasattr(cp, "stop_apiserver"), "this test restarts the harness' own API server"
        await asyncio.to_thread(cp.stop_apiserver)
        await asyncio.to_thread(cp.start_apiserver)
        task = asyncio.create_task(informer._watch_until_gone())
        try:
            await asyncio.wait_for(task, 30)
        except Exception as exc:
            assert type(exc).__name__ == "Gone", exc
        else:
            raise AssertionError("a watch from before the API server's restart must be refused with 410 Gone")
        task = asyncio.create_task(informer.run())  # what run() does after Gone: list again
        await eventually_async(
            lambda: set(sink.objects) >= {"c", "d"} and "b" not in sink.objects, "relisted"
        )
        assert "b" in sink.removed  # the relist told the sink what vanished while no watch was running
        assert sink.first_lists == 1  # "synced" is said once
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kube.close()
