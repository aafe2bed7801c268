"""The incident records, kept in ONE ConfigMap beside the guard state: `<state name>-incidents`.

Each record is one data key (`<id>.json`); every change is a read-modify-write with the ConfigMap's
resourceVersion as a precondition (a conflict re-reads and re-applies the same pure change), so records
written by several replicas at once never lose a step. The ConfigMap is bounded: at most
`incidents.retain` records within `incidents.max_bytes`, the oldest dropped in the same write that adds a
new one.

Why one ConfigMap and not one per incident: the chart installs the receiver into a namespace it may share
with Prometheus and Alertmanager (`monitoring`). With a fixed name, its Role grants get and patch on
exactly this object (`resourceNames`); one object per incident would need get, patch, list and delete on
every ConfigMap of that namespace. Rollbacks are rare (budgets allow a few per hour), so one small
document is plenty, and `kubectl get configmap <name> -o yaml` shows them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from receiver.core import incidents as records
from receiver.core.incidents import Incident
from receiver.core.settings import Config
from receiver.k8s import errors
from receiver.k8s.client import MERGE_PATCH, KubeClient
from receiver.k8s.errors import StateError

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 30
SUFFIX = ".json"

Mutation = Callable[[Incident | None], Incident | None]


class IncidentStore:
    def __init__(self, kube: KubeClient, *, namespace: str, name: str, retain: int, max_bytes: int) -> None:
        self._kube = kube
        self.namespace = namespace
        self.name = name
        self._retain = retain
        self._max_bytes = max_bytes
        self._collection = f"/api/v1/namespaces/{namespace}/configmaps"
        self._path = f"{self._collection}/{name}"
        self._what = f"configmaps/{name} -n {namespace}"

    @classmethod
    def for_config(cls, kube: KubeClient, config: Config) -> IncidentStore:
        return cls(
            kube,
            namespace=config.state.namespace,
            name=incidents_name(config),
            retain=config.incidents.retain,
            max_bytes=config.incidents.max_bytes,
        )

    async def list(self) -> list[Incident]:
        """Every record, newest first (unreadable ones are logged and left out)."""
        data = (await self._read()).get("data") or {}
        found = []
        for key, text in data.items():
            incident = _decode(key, text)
            if incident is not None:
                found.append(incident)
        return sorted(found, key=lambda i: i.opened_at, reverse=True)

    async def get(self, ident: str) -> Incident | None:
        data = (await self._read()).get("data") or {}
        text = data.get(ident + SUFFIX)
        return _decode(ident + SUFFIX, text) if isinstance(text, str) else None

    async def update(self, ident: str, mutate: Mutation) -> Incident | None:
        """Apply `mutate` (pure; may run several times) to the record `ident` (None: there is none yet) and
        write its result; returns the record as written (or as it was, when `mutate` changed nothing)."""
        key = ident + SUFFIX
        for _attempt in range(MAX_ATTEMPTS):
            configmap = await self._read()
            data: dict[str, str] = dict(configmap.get("data") or {})
            current = _decode(key, data[key]) if key in data else None
            changed = mutate(current)
            if changed is None or changed == current:
                return current
            text = records.dumps(changed)
            data[key] = text
            drop = records.retained(data, keep=self._retain, max_bytes=self._max_bytes) - {key}
            version = str((configmap.get("metadata") or {}).get("resourceVersion") or "")
            try:
                await self._write(version, {key: text, **dict.fromkeys(drop)})
            except errors.Conflict:
                continue
            if drop:
                logger.info("dropped the oldest incident records", extra={"incidents": sorted(drop)})
            return changed
        raise StateError(f"incident records {self._what} kept changing under us ({MAX_ATTEMPTS} conflicts)")

    async def _read(self) -> dict[str, Any]:
        try:
            return await self._kube.request("get", self._path, what=self._what)
        except errors.NotFound:
            return {}
        except errors.KubeError as exc:
            raise StateError(f"cannot read incident records {self._what}: {exc}") from exc

    async def _write(self, version: str, changes: dict[str, str | None]) -> None:
        try:
            if not version:
                await self._kube.request(
                    "create",
                    self._collection,
                    body={
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {
                            "name": self.name,
                            "labels": {"app.kubernetes.io/managed-by": "rollback-receiver"},
                        },
                        "data": {k: v for k, v in changes.items() if v is not None},
                    },
                    content_type="application/json",
                    what=self._what,
                )
            else:
                await self._kube.request(
                    "patch",
                    self._path,
                    body={"metadata": {"resourceVersion": version}, "data": changes},
                    content_type=MERGE_PATCH,
                    what=self._what,
                )
        except errors.Conflict:
            raise  # changed, or created by another replica first (409 AlreadyExists): read it again
        except errors.KubeError as exc:
            raise StateError(f"cannot write incident records {self._what}: {exc}") from exc


def incidents_name(config: Config) -> str:
    """The records' ConfigMap: named after the state ConfigMap (the chart's Role names both)."""
    return f"{config.state.name}-incidents"


def _decode(key: str, text: str) -> Incident | None:
    if not key.endswith(SUFFIX):
        return None
    try:
        return records.loads(text)
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        logger.warning("unreadable incident record %s: %s", key, exc)
        return None
