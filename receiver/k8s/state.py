"""HA-safe guard state: budgets ledger (claims), circuit breaker and pending confirmations in ONE ConfigMap.

Every change is read-modify-write with the ConfigMap's resourceVersion as a precondition (a merge patch
carrying `metadata.resourceVersion` gets 409 Conflict when another replica wrote first); on Conflict we
re-read and re-apply the same pure mutation. So any number of replicas and restarts agree on one ledger, and
a mutation that decides on the state (e.g. "is there budget left?") sees the state it changes.

One JSON document under `data["state.json"]`; it stays small because finished claims are pruned once they
are older than the longest budget window, pending confirmations and tombstones are bounded, and a pending
confirmation lives only until it is decided. The pure transitions are `receiver.core.ledger`.

The breaker is mirrored in a second, tiny ConfigMap (`<name>-breaker`), written when the state is created and
whenever the breaker moves. If the state ConfigMap disappears while its mirror exists, it was deleted (by
hand, or by a mistaken cleanup): budgets and claims are lost, so the state comes back with the breaker OPEN
and a human decides when rollbacks resume. A document that cannot be read is never reset: every decision
on it is refused (reason api_error) until it is fixed or deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from receiver.core.ledger import (
    Breaker,
    Claim,
    GuardState,
    Outcome,
    PendingConfirmation,
    Tombstone,
    Verification,
    prune,
)
from receiver.core.settings import Config, StateConfig
from receiver.core.timefmt import format_rfc3339_precise, parse_rfc3339, parse_rfc3339_or_none
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import errors
from receiver.k8s.client import MERGE_PATCH, KubeClient
from receiver.k8s.errors import StateError

logger = logging.getLogger(__name__)

DATA_KEY = "state.json"
SCHEMA = 1
# Optimistic-concurrency attempts before giving up; each attempt is one GET and one PATCH.
MAX_ATTEMPTS = 50

T = TypeVar("T")
Mutation = Callable[[GuardState], tuple[GuardState, T]]


class StateStore:
    def __init__(self, kube: KubeClient, config: StateConfig, *, retention: timedelta) -> None:
        self._kube = kube
        self._config = config
        self._retention = retention  # finished claims older than this no longer count for any budget
        self._collection = f"/api/v1/namespaces/{config.namespace}/configmaps"
        self._path = f"{self._collection}/{config.name}"
        self._what = f"configmaps/{config.name} -n {config.namespace}"
        self.mirror_name = f"{config.name}-breaker"
        self._mirror_path = f"{self._collection}/{self.mirror_name}"

    @classmethod
    def for_config(cls, kube: KubeClient, config: Config) -> StateStore:
        """The store a config names; claims are kept as long as the longest budget window."""
        limits = config.limits
        return cls(kube, config.state, retention=max(limits.per_namespace.per, limits.global_.per))

    async def read(self) -> GuardState:
        try:
            body = await self._kube.request("get", self._path, what=self._what)
        except errors.NotFound:
            return await self._after_deletion()
        except errors.KubeError as exc:
            raise StateError(f"cannot read guard state {self._what}: {exc}") from exc
        return decode(body)

    async def _after_deletion(self) -> GuardState:
        """No state ConfigMap: a fresh install (no mirror either), or a deleted state (the mirror remains)."""
        try:
            mirror = await self._kube.request("get", self._mirror_path, what=self._what)
        except errors.NotFound:
            return GuardState()
        except errors.KubeError as exc:
            raise StateError(f"cannot read the breaker mirror of {self._what}: {exc}") from exc
        was = (mirror.get("data") or {}).get("open") == "true"
        logger.error(
            "the guard state ConfigMap was deleted: budgets and claims are lost; the circuit breaker opens "
            "until a human resets it",
            extra={"state": self._what, "breaker_was_open": was},
        )
        return GuardState(
            breaker=Breaker(
                open=True,
                reason=f"the guard state {self._what} was deleted (budgets and claims lost)"
                + ("; the breaker was open" if was else ""),
                opened_at=parse_rfc3339_or_none((mirror.get("data") or {}).get("opened_at")),
            )
        )

    async def update(self, mutate: Mutation[T], *, now: datetime) -> T:
        """Apply `mutate` (pure) to the freshest state and write it back atomically; returns its result.

        `mutate` may be called several times (once per conflict) and must not have side effects.
        """
        for _attempt in range(MAX_ATTEMPTS):
            current = await self.read()
            changed, result = mutate(current)
            if changed is current:
                return result
            changed = prune(changed, now=now, retention=self._retention)
            created = not current.resource_version
            try:
                await self._write(changed, create=created)
            except errors.Conflict:
                continue  # another replica wrote first: decide again on what it wrote
            if created or changed.breaker != current.breaker:
                await self._mirror(changed.breaker)
            return result
        raise StateError(f"guard state {self._what} kept changing under us ({MAX_ATTEMPTS} conflicts)")

    async def _mirror(self, breaker: Breaker) -> None:
        """Best effort: the state itself is already written; a missing mirror only weakens deletion
        detection, and the next breaker move writes it again."""
        data = {"open": "true" if breaker.open else "false", "opened_at": _iso(breaker.opened_at) or ""}
        try:
            try:
                await self._kube.request(
                    "patch", self._mirror_path, body={"data": data}, content_type=MERGE_PATCH, what=self._what
                )
            except errors.NotFound:
                await self._create(self.mirror_name, data)
        except errors.KubeError as exc:
            logger.warning("could not mirror the circuit breaker of %s: %s", self._what, exc)

    async def _create(self, name: str, data: dict[str, str]) -> None:
        await self._kube.request(
            "create",
            self._collection,
            body={
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "rollback-receiver"}},
                "data": data,
            },
            content_type="application/json",
            what=self._what,
        )

    async def _write(self, state: GuardState, *, create: bool) -> None:
        data = {DATA_KEY: json.dumps(encode(state), sort_keys=True, separators=(",", ":"))}
        try:
            if create:
                await self._create(self._config.name, data)
            else:
                await self._kube.request(
                    "patch",
                    self._path,
                    body={"metadata": {"resourceVersion": state.resource_version}, "data": data},
                    content_type=MERGE_PATCH,
                    what=self._what,
                )
        except errors.Conflict:
            raise
        except errors.KubeError as exc:
            raise StateError(f"cannot write guard state {self._what}: {exc}") from exc


# --- the JSON document ------------------------------------------------------------------------------------


def decode(configmap: Mapping[str, Any]) -> GuardState:
    metadata = configmap.get("metadata") or {}
    version = str(metadata.get("resourceVersion") or "")
    raw = (configmap.get("data") or {}).get(DATA_KEY)
    if not raw:
        return GuardState(resource_version=version)
    try:
        doc = json.loads(raw)
        return GuardState(
            claims=tuple(_claim(c) for c in doc.get("claims", [])),
            breaker=_breaker(doc.get("breaker") or {}),
            pending=tuple(_pending(p) for p in doc.get("pending", [])),
            receiver=str(doc.get("receiver") or ""),
            resolved=tuple(
                Tombstone(str(t["alert_key"]), _required_time(t["at"])) for t in doc.get("resolved", [])
            ),
            resource_version=version,
        )
    except (ValueError, LookupError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        # A hand-edited or corrupt document must not silently reset budgets: refuse to act on it.
        raise StateError(
            f"guard state {DATA_KEY} is not readable ({exc}); fix or delete the ConfigMap"
        ) from exc


def encode(state: GuardState) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "claims": [
            {
                "key": c.key,
                "alert_key": c.alert_key,
                "alert_name": c.alert_name,
                "target": {"kind": str(c.target.kind), "namespace": c.namespace, "name": c.target.name},
                "claimed_at": _iso(c.claimed_at),
                "holder": c.holder,
                "patched_at": _iso(c.patched_at),
                "outcome": c.outcome.value if c.outcome else None,
                "finished_at": _iso(c.finished_at),
                "message": c.message,
                "verify_timeout_seconds": c.verify_timeout.total_seconds() if c.verify_timeout else None,
                "route": c.route,
                "uid": c.uid,
                "clears_within_seconds": c.clears_within.total_seconds() if c.clears_within else None,
                "did_not_help_counts": c.did_not_help_counts,
                "clears_by": _iso(c.clears_by),
                "verification": c.verification.value if c.verification else None,
                "verified_at": _iso(c.verified_at),
            }
            for c in state.claims
        ],
        "breaker": {
            "open": state.breaker.open,
            "reason": state.breaker.reason,
            "opened_at": _iso(state.breaker.opened_at),
            "consecutive_failures": state.breaker.consecutive_failures,
            "reset_by": state.breaker.reset_by,
            "reset_at": _iso(state.breaker.reset_at),
        },
        "pending": [
            {
                "key": p.key,
                "alert_key": p.alert_key,
                "route": p.route,
                "not_before": _iso(p.not_before),
                "alert": dict(p.alert),
                "receiver": p.receiver,
                "group_key": p.group_key,
                "created_at": _iso(p.created_at),
            }
            for p in state.pending
        ],
        "resolved": [{"alert_key": t.alert_key, "at": _iso(t.at)} for t in state.resolved],
        "receiver": state.receiver,
    }


def _claim(doc: Mapping[str, Any]) -> Claim:
    return Claim(
        key=str(doc["key"]),
        alert_key=str(doc["alert_key"]),
        alert_name=str(doc.get("alert_name", "")),
        target=_target(doc),
        claimed_at=_required_time(doc["claimed_at"]),
        holder=str(doc.get("holder", "")),
        patched_at=_time(doc.get("patched_at")),
        outcome=Outcome(doc["outcome"]) if doc.get("outcome") else None,
        finished_at=_time(doc.get("finished_at")),
        message=str(doc.get("message", "")),
        verify_timeout=_seconds(doc.get("verify_timeout_seconds")),
        route=str(doc.get("route") or ""),
        uid=str(doc.get("uid") or ""),
        clears_within=_seconds(doc.get("clears_within_seconds")),
        did_not_help_counts=bool(doc.get("did_not_help_counts", True)),
        clears_by=_time(doc.get("clears_by")),
        verification=Verification(doc["verification"]) if doc.get("verification") else None,
        verified_at=_time(doc.get("verified_at")),
    )


def _target(doc: Mapping[str, Any]) -> WorkloadRef:
    target = doc.get("target")
    if isinstance(target, Mapping):
        return WorkloadRef(WorkloadKind(target["kind"]), str(target["namespace"]), str(target["name"]))
    # Documents written before claims carried their target: it is the tail of the key.
    kind, namespace, name = str(doc["key"]).rsplit("|", 1)[1].split("/", 2)
    return WorkloadRef(WorkloadKind(kind), namespace, name)


def _seconds(value: object) -> timedelta | None:
    return timedelta(seconds=float(value)) if isinstance(value, int | float) and value > 0 else None


def _breaker(doc: Mapping[str, Any]) -> Breaker:
    return Breaker(
        open=bool(doc.get("open", False)),
        reason=str(doc.get("reason", "")),
        opened_at=_time(doc.get("opened_at")),
        consecutive_failures=int(doc.get("consecutive_failures", 0)),
        reset_by=str(doc.get("reset_by", "")),
        reset_at=_time(doc.get("reset_at")),
    )


def _pending(doc: Mapping[str, Any]) -> PendingConfirmation:
    return PendingConfirmation(
        key=str(doc["key"]),
        alert_key=str(doc["alert_key"]),
        route=str(doc["route"]),
        not_before=_required_time(doc["not_before"]),
        alert=dict(doc["alert"]),
        receiver=str(doc.get("receiver", "")),
        group_key=str(doc.get("group_key", "")),
        created_at=_time(doc.get("created_at")),
    )


def _iso(moment: datetime | None) -> str | None:
    return format_rfc3339_precise(moment) if moment is not None else None


def _time(value: object) -> datetime | None:
    return parse_rfc3339(value) if isinstance(value, str) and value else None


def _required_time(value: object) -> datetime:
    moment = _time(value)
    if moment is None:
        raise ValueError(f"missing time: {value!r}")
    return moment
