"""One watch of the allowed namespaces' Deployments, ReplicaSets and pods, and what it is used for.

Two users, one mechanism:

- the rollout-health source asks for a `RolloutView` of a Deployment whenever it (or one of its
  ReplicaSets, or a pod of one) changed: the live revision, its rollout's conditions and the new
  ReplicaSet's pods, built from small summaries kept per object;
- the decision path asks for a `Snapshot` (the Deployment and its ReplicaSets, as `snapshots.snapshot`
  reads them with GET + LIST) when `rollout_health.cache` is on: the objects are also kept as JSON
  compressed against a dictionary of what every Deployment and ReplicaSet says (about 0.2 KiB each), so
  a decision costs no read and the undo is a single PATCH.

The cache is safe because the undo patch carries the snapshot's resourceVersion: if the Deployment moved
on since the watch delivered it, the API server answers 409 and the pipeline decides again on a fresh
read (never on the cache twice in a row). A snapshot is only served when it is consistent, that is when
the deployment controller has observed the Deployment's spec and the cache holds the ReplicaSet whose
revision the Deployment names; otherwise the caller reads the API, as without a cache. The history can
still lag by the watch's delivery delay (milliseconds), the same race kubectl's own GET + LIST + PATCH has.

Scope: one watch per allowed namespace and collection, or one cluster-wide watch per collection when
`namespaces.allow` is empty (then denied namespaces are dropped as they arrive). The memory is bounded:
beyond `rollout_health.cache_max_objects` Deployments and ReplicaSets, the compact copies are dropped and
decisions read the API again (the summaries the health source needs stay).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from receiver.core import guards
from receiver.core.annotations import ROLLED_BACK_AT, ROLLOUT_HEALTH
from receiver.core.goparse import GoSyntaxError, parse_int
from receiver.core.rollout_health import PodHealth, RolloutView
from receiver.core.settings import SYSTEM_NAMESPACES, Config
from receiver.core.timefmt import parse_rfc3339_or_none
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import deployments
from receiver.k8s.client import Json, KubeClient
from receiver.k8s.facts import went_live
from receiver.k8s.informer import Informer, InformerStats
from receiver.k8s.snapshots import Snapshot

logger = logging.getLogger(__name__)

DEPLOYMENTS = "deployments"
REPLICASETS = "replicasets"
PODS = "pods"
_PATHS = {
    DEPLOYMENTS: ("/apis/apps/v1", "deployments"),
    REPLICASETS: ("/apis/apps/v1", "replicasets"),
    PODS: ("/api/v1", "pods"),
}

Key = tuple[str, str]  # (namespace, name)
LIST_CONCURRENCY = 2  # LIST pages in flight at once, over all of the watch's informers
Listener = Callable[[str], None]  # called with the uid of a Deployment whose view may have changed


def _skeleton() -> bytes:
    """What the API server says in every Deployment and ReplicaSet (keys, defaults, annotations), as a
    zlib dictionary: compressed against it, a ReplicaSet's copy is a fraction of its JSON."""
    pod_spec = {
        "containers": [
            {
                "name": "",
                "image": "",
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {},
        "schedulerName": "default-scheduler",
    }
    meta = {
        "name": "",
        "namespace": "",
        "uid": "",
        "resourceVersion": "",
        "generation": 1,
        "creationTimestamp": "2000-01-01T00:00:00Z",
        "labels": {"app": "", "pod-template-hash": ""},
        "annotations": {
            deployments.REVISION: "1",
            "deployment.kubernetes.io/desired-replicas": "1",
            "deployment.kubernetes.io/max-replicas": "2",
            deployments.CHANGE_CAUSE: "",
            "kubectl.kubernetes.io/last-applied-configuration": "",
        },
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "",
                "uid": "",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    template = {"metadata": {"labels": {"app": ""}}, "spec": pod_spec}
    return json.dumps(
        [
            {
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "metadata": meta,
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": ""}},
                    "template": template,
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
                    },
                    "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": 600,
                },
                "status": {
                    "observedGeneration": 1,
                    "replicas": 1,
                    "updatedReplicas": 1,
                    "readyReplicas": 1,
                    "availableReplicas": 1,
                    "conditions": [
                        {
                            "type": "Available",
                            "status": "True",
                            "lastUpdateTime": "",
                            "lastTransitionTime": "",
                            "reason": "MinimumReplicasAvailable",
                            "message": "Deployment has minimum availability.",
                        },
                        {
                            "type": "Progressing",
                            "status": "True",
                            "reason": "NewReplicaSetAvailable",
                            "message": 'ReplicaSet "" has successfully progressed.',
                        },
                    ],
                },
            },
            {
                "kind": "ReplicaSet",
                "apiVersion": "apps/v1",
                "metadata": meta,
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": "", "pod-template-hash": ""}},
                    "template": template,
                },
                "status": {
                    "replicas": 0,
                    "fullyLabeledReplicas": 0,
                    "readyReplicas": 0,
                    "availableReplicas": 0,
                    "observedGeneration": 1,
                },
            },
        ],
        separators=(",", ":"),
    ).encode()


_ZDICT = _skeleton()


def _compact(obj: Json) -> bytes:
    """The object as the snapshot needs it: everything but managedFields, as JSON compressed against
    `_ZDICT` (a ReplicaSet of about 1 KiB of JSON takes a few hundred bytes, where its decoded dict
    takes 7 KiB)."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    compressor = zlib.compressobj(6, zdict=_ZDICT)
    text = json.dumps({**obj, "metadata": meta}, separators=(",", ":")).encode()
    return compressor.compress(text) + compressor.flush()


def _expand(raw: bytes) -> Json:
    found: Json = json.loads(zlib.decompressobj(zdict=_ZDICT).decompress(raw))
    return found


def _controller_uid(meta: Json) -> tuple[str, str]:
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("kind", "")), sys.intern(str(ref.get("uid", "")))
    return "", ""


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass(slots=True)
class _Deployment:
    namespace: str
    name: str
    uid: str
    generation: int
    observed_generation: int
    revision: int | None  # its deployment.kubernetes.io/revision annotation
    enrolment: str | None  # its rollout-health annotation
    progressing: Json | None  # the Progressing condition
    complete: bool  # kubectl's "successfully rolled out" (when observed)
    raw: bytes | None


@dataclass(slots=True)
class _ReplicaSet:
    namespace: str
    name: str
    uid: str
    owner: str  # the controlling Deployment's uid
    revision: int | None
    created: datetime | None
    history: bool  # it carries revision-history: a rollback or roll-forward re-used it
    rolled_back_at: datetime | None
    replicas: int
    available: int
    raw: bytes | None


@dataclass(slots=True)
class _Pod:
    owner: str  # the controlling ReplicaSet's uid
    health: PodHealth
    deleting: bool


def pod_health(obj: Json) -> PodHealth:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    ready_condition = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
    ready = ready_condition is not None and ready_condition.get("status") == "True"
    since = None
    if not ready:
        since = parse_rfc3339_or_none((ready_condition or {}).get("lastTransitionTime")) or (
            parse_rfc3339_or_none(meta.get("creationTimestamp"))
        )
    restarts, backoff = 0, None
    for container in [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]:
        restarts = max(restarts, _int(container.get("restartCount")))
        waiting = (container.get("state") or {}).get("waiting") or {}
        if backoff is None and waiting.get("reason") == "CrashLoopBackOff":
            backoff = str(container.get("name", ""))
    return PodHealth(
        name=str(meta.get("name", "")),
        ready=ready,
        not_ready_since=since,
        restarts=restarts,
        backoff=backoff,
    )


@dataclass(slots=True)
class WatchStats:
    informers: dict[str, InformerStats] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0  # not synced, unknown, inconsistent, over the bound, or cache off


class WorkloadWatch:
    def __init__(self, kube: KubeClient, config: Config, *, cache: bool | None = None) -> None:
        self._kube = kube
        self._config = config
        settings = config.rollout_health
        self.cache_enabled = settings.cache if cache is None else cache
        self._max_objects = settings.cache_max_objects
        self.namespaces = self.scope(config)
        self._deployments: dict[Key, _Deployment] = {}
        self._deployments_by_uid: dict[str, _Deployment] = {}
        self._replica_sets: dict[Key, _ReplicaSet] = {}
        self._replica_sets_by_owner: dict[str, dict[str, _ReplicaSet]] = {}
        self._replica_sets_by_uid: dict[str, _ReplicaSet] = {}
        self._pods: dict[Key, _Pod] = {}
        self._pods_by_owner: dict[str, dict[str, _Pod]] = {}
        self._raw_objects = 0
        self._over_bound = False
        self._listeners: list[Listener] = []
        self._informers: list[Informer] = []
        self._pending_sync: set[tuple[str, str | None]] = set()
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = WatchStats()

    @staticmethod
    def scope(config: Config) -> tuple[str, ...] | None:
        """The namespaces to watch one by one, or None for one cluster-wide watch per collection."""
        if not config.namespaces.allow:
            return None
        return tuple(ns for ns in config.namespaces.allow if guards.namespace_denied(ns, config) is None)

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        namespaces: Iterable[str | None] = self.namespaces if self.namespaces is not None else (None,)
        list_slots = asyncio.Semaphore(LIST_CONCURRENCY)
        for namespace in namespaces:
            for collection, (prefix, plural) in _PATHS.items():
                path = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
                stats = self.stats.informers.setdefault(collection, InformerStats())
                informer = Informer(
                    self._kube,
                    collection=collection,
                    path=path,
                    namespace=namespace,
                    sink=self,
                    stats=stats,
                    list_slots=list_slots,
                )
                self._informers.append(informer)
                self._pending_sync.add((collection, namespace))
        if not self._informers:  # every allowed namespace is denied: nothing to watch, nothing to wait for
            self._synced.set()
        self._tasks = [
            asyncio.create_task(informer.run(), name=f"watch-{informer.what}") for informer in self._informers
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def apply_config(self, config: Config) -> None:
        if self.scope(config) != self.namespaces:
            logger.warning(
                "namespaces.allow changed: the rollout-health watch keeps its namespaces until a restart"
            )
        self._config = config

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, uid: str) -> None:
        if uid and self._synced.is_set():
            for listener in self._listeners:
                listener(uid)

    # --- informer.Sink -----------------------------------------------------------------------------

    def upsert(self, collection: str, obj: Json) -> None:
        meta = obj.get("metadata") or {}
        # Interned: every object of a namespace, and every ReplicaSet of a Deployment, shares one string.
        namespace = sys.intern(str(meta.get("namespace", "")))
        if self.namespaces is None and self._denied(namespace):
            return
        if collection == DEPLOYMENTS:
            self._upsert_deployment(obj, meta, namespace)
        elif collection == REPLICASETS:
            self._upsert_replica_set(obj, meta, namespace)
        else:
            self._upsert_pod(obj, meta, namespace)

    def remove(self, collection: str, namespace: str, name: str) -> None:
        key = (namespace, name)
        if collection == DEPLOYMENTS:
            deployment = self._deployments.pop(key, None)
            if deployment is not None:
                self._deployments_by_uid.pop(deployment.uid, None)
                self._count_raw(deployment.raw, None)
                self._changed(deployment.uid)
        elif collection == REPLICASETS:
            rs = self._replica_sets.pop(key, None)
            if rs is not None:
                self._replica_sets_by_uid.pop(rs.uid, None)
                siblings = self._replica_sets_by_owner.get(rs.owner, {})
                siblings.pop(rs.name, None)
                if not siblings:
                    self._replica_sets_by_owner.pop(rs.owner, None)
                self._count_raw(rs.raw, None)
                self._changed(rs.owner)
        else:
            pod = self._pods.pop(key, None)
            if pod is not None:
                siblings_pods = self._pods_by_owner.get(pod.owner, {})
                siblings_pods.pop(name, None)
                if not siblings_pods:
                    self._pods_by_owner.pop(pod.owner, None)
                self._pod_changed(pod.owner)

    def relisted(self, collection: str, namespace: str | None, present: set[tuple[str, str]]) -> None:
        held: Iterable[Key]
        if collection == DEPLOYMENTS:
            held = self._deployments
        elif collection == REPLICASETS:
            held = self._replica_sets
        else:
            held = self._pods
        gone = [key for key in held if (namespace is None or key[0] == namespace) and key not in present]
        for key in gone:
            self.remove(collection, *key)

    def first_list_done(self, collection: str, namespace: str | None) -> None:
        self._pending_sync.discard((collection, namespace))
        if not self._pending_sync and not self._synced.is_set():
            self._synced.set()
            logger.info(
                "rollout-health watch synced",
                extra={
                    "deployments": len(self._deployments),
                    "replicasets": len(self._replica_sets),
                    "pods": len(self._pods),
                    "namespaces": "all" if self.namespaces is None else ",".join(self.namespaces),
                },
            )
            for uid in list(self._deployments_by_uid):
                self._changed(uid)

    def _denied(self, namespace: str) -> bool:
        return namespace in SYSTEM_NAMESPACES or guards.namespace_denied(namespace, self._config) is not None

    def _upsert_deployment(self, obj: Json, meta: Json, namespace: str) -> None:
        key = (namespace, str(meta.get("name", "")))
        annotations = meta.get("annotations") or {}
        status = obj.get("status") or {}
        entry = _Deployment(
            namespace=namespace,
            name=key[1],
            uid=sys.intern(str(meta.get("uid", ""))),
            generation=_int(meta.get("generation")),
            observed_generation=_int(status.get("observedGeneration")),
            revision=_revision(annotations.get(deployments.REVISION)),
            enrolment=annotations.get(ROLLOUT_HEALTH),
            progressing=next(
                (c for c in status.get("conditions") or () if c.get("type") == "Progressing"), None
            ),
            complete=_complete(obj),
            raw=self._raw(obj),
        )
        previous = self._deployments.get(key)
        if previous is not None and previous.uid != entry.uid:
            self._deployments_by_uid.pop(previous.uid, None)
        self._count_raw(previous.raw if previous else None, entry.raw)
        self._deployments[key] = entry
        self._deployments_by_uid[entry.uid] = entry
        self._changed(entry.uid)

    def _upsert_replica_set(self, obj: Json, meta: Json, namespace: str) -> None:
        kind, owner = _controller_uid(meta)
        key = (namespace, str(meta.get("name", "")))
        previous = self._replica_sets.get(key)
        if kind != "Deployment":
            if previous is not None:
                self.remove(REPLICASETS, *key)
            return
        annotations = meta.get("annotations") or {}
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        entry = _ReplicaSet(
            namespace=namespace,
            name=key[1],
            uid=sys.intern(str(meta.get("uid", ""))),  # its pods name it as their owner
            owner=owner,
            revision=_revision(annotations.get(deployments.REVISION)),
            created=parse_rfc3339_or_none(meta.get("creationTimestamp")),
            history=deployments.REVISION_HISTORY in annotations,
            rolled_back_at=parse_rfc3339_or_none(annotations.get(ROLLED_BACK_AT)),
            replicas=_int(spec.get("replicas")),
            available=_int(status.get("availableReplicas")),
            raw=self._raw(obj),
        )
        if previous is not None and (previous.owner != owner or previous.uid != entry.uid):
            self.remove(REPLICASETS, *key)
            previous = None
        self._count_raw(previous.raw if previous else None, entry.raw)
        self._replica_sets[key] = entry
        self._replica_sets_by_uid[entry.uid] = entry
        self._replica_sets_by_owner.setdefault(owner, {})[entry.name] = entry
        self._changed(owner)

    def _upsert_pod(self, obj: Json, meta: Json, namespace: str) -> None:
        kind, owner = _controller_uid(meta)
        key = (namespace, str(meta.get("name", "")))
        previous = self._pods.get(key)
        if kind != "ReplicaSet":
            if previous is not None:
                self.remove(PODS, *key)
            return
        if previous is not None and previous.owner != owner:
            self.remove(PODS, *key)
        entry = _Pod(owner=owner, health=pod_health(obj), deleting=bool(meta.get("deletionTimestamp")))
        self._pods[key] = entry
        self._pods_by_owner.setdefault(owner, {})[key[1]] = entry
        self._pod_changed(owner)

    def _pod_changed(self, rs_uid: str) -> None:
        rs = self._replica_sets_by_uid.get(rs_uid)
        if rs is not None:
            self._changed(rs.owner)

    # --- the bound ---------------------------------------------------------------------------------

    def _raw(self, obj: Json) -> bytes | None:
        return _compact(obj) if self.cache_enabled and not self._over_bound else None

    def _count_raw(self, before: bytes | None, after: bytes | None) -> None:
        self._raw_objects += (after is not None) - (before is not None)
        if self._raw_objects > self._max_objects and not self._over_bound:
            self._over_bound = True
            for deployment in self._deployments.values():
                deployment.raw = None
            for rs in self._replica_sets.values():
                rs.raw = None
            self._raw_objects = 0
            logger.warning(
                "the watch holds more than rollout_health.cache_max_objects (%d) Deployments and "
                "ReplicaSets: its cache is off until a restart; decisions read the API",
                self._max_objects,
            )

    @property
    def cache_serving(self) -> bool:
        return self.cache_enabled and not self._over_bound and self.synced

    @property
    def sizes(self) -> dict[str, int]:
        return {
            DEPLOYMENTS: len(self._deployments),
            REPLICASETS: len(self._replica_sets),
            PODS: len(self._pods),
            "cached_objects": self._raw_objects,
            "cached_bytes": sum(len(d.raw) for d in self._deployments.values() if d.raw)
            + sum(len(rs.raw) for rs in self._replica_sets.values() if rs.raw),
        }

    # --- what the users ask ------------------------------------------------------------------------

    def deployment_uids(self) -> list[str]:
        return list(self._deployments_by_uid)

    def uid_known(self, uid: str) -> bool:
        return uid in self._deployments_by_uid

    def uid_of(self, namespace: str, name: str) -> str | None:
        entry = self._deployments.get((namespace, name))
        return entry.uid if entry is not None else None

    def rollout_view(self, uid: str) -> RolloutView | None:
        """The Deployment's live revision and its rollout, or None when there is no verdict to give:
        unknown, or the controller has not observed its spec yet, or it has no ReplicaSet for it yet."""
        deployment = self._deployments_by_uid.get(uid)
        if deployment is None or deployment.observed_generation < deployment.generation:
            return None
        owned = self._replica_sets_by_owner.get(uid, {})
        new = next((rs for rs in owned.values() if rs.revision == deployment.revision), None)
        if new is None or new.revision is None:
            return None
        went_live = self._went_live(deployment, new)
        if went_live is None:
            return None
        older = [rs for rs in owned.values() if rs.revision is not None and rs.revision < new.revision]
        previous = max(older, key=lambda rs: rs.revision or 0) if older else None
        condition = deployment.progressing or {}
        exceeded = (
            condition.get("status") == "False"
            and condition.get("reason") == "ProgressDeadlineExceeded"
            and f'"{new.name}"' in str(condition.get("message", ""))
        )
        pods = tuple(p.health for p in self._pods_by_owner.get(new.uid, {}).values() if not p.deleting)
        return RolloutView(
            namespace=deployment.namespace,
            name=deployment.name,
            uid=uid,
            annotations={ROLLOUT_HEALTH: deployment.enrolment} if deployment.enrolment is not None else {},
            revision=new.revision,
            replica_set=new.name,
            went_live=went_live,
            deadline_exceeded=exceeded,
            deadline_message=str(condition.get("message", "")) if exceeded else "",
            pods=pods,
            previous_healthy=previous is not None
            and previous.replicas > 0
            and previous.available >= previous.replicas,
            complete=deployment.complete,
        )

    @staticmethod
    def _went_live(deployment: _Deployment, rs: _ReplicaSet) -> datetime | None:
        """The same rule the change window uses (`facts.replica_set_went_live`), on the summaries."""
        return went_live(
            rs.name,
            rs.created,
            reused=rs.history,
            rolled_back_at=rs.rolled_back_at,
            progressing=deployment.progressing,
        )

    def snapshot(self, ref: WorkloadRef) -> Snapshot | None:
        """The Deployment and its ReplicaSets as `snapshots.snapshot` would read them, when the cache is
        on, synced, within its bound and consistent for this Deployment; None otherwise (read the API)."""
        found = self._snapshot(ref)
        if found is None:
            self.stats.cache_misses += 1
        else:
            self.stats.cache_hits += 1
        return found

    def _snapshot(self, ref: WorkloadRef) -> Snapshot | None:
        if ref.kind is not WorkloadKind.DEPLOYMENT or not self.cache_serving:
            return None
        deployment = self._deployments.get((ref.namespace, ref.name))
        if deployment is None or deployment.raw is None:
            return None  # not ours to say it does not exist: the API's NotFound is the answer
        if deployment.observed_generation < deployment.generation or deployment.revision is None:
            return None
        owned = list(self._replica_sets_by_owner.get(deployment.uid, {}).values())
        if any(rs.raw is None for rs in owned):
            return None
        workload = _expand(deployment.raw)
        history = deployments.kubectl_order(workload, [_expand(rs.raw) for rs in owned if rs.raw])
        new = deployments.find_new_replica_set(workload, history)
        if new is None or deployments.revision_number(new) != deployment.revision:
            return None
        return Snapshot(ref, workload, tuple(history), from_cache=True)


def _complete(obj: Json) -> bool:
    """kubectl's status viewer's "successfully rolled out", on an observed Deployment."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    wanted = _int(spec.get("replicas")) if spec.get("replicas") is not None else 1
    updated = _int(status.get("updatedReplicas"))
    return (
        updated >= wanted
        and _int(status.get("replicas")) <= updated
        and _int(status.get("availableReplicas")) >= updated
    )


def _revision(value: object) -> int | None:
    if value is None:
        return None
    try:
        return parse_int(str(value))
    except (GoSyntaxError, ValueError):
        return None
