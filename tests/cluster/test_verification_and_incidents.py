"""Verification by the alert and the incident record, on the real control plane with an injected clock:
a resolve recovers the rollback and completes its record; an alert still firing at the deadline ends it
as did_not_help, opens nothing else and is never rolled back again; the record store keeps every step
under racing writers and stays bounded."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from guard_support import V1, V2, rig
from test_guards_scope import assert_rolled_back

from receiver.core.alerts import AlertStatus
from receiver.core.incidents import Incident, Phase, Step, StepKind, incident_id, with_step
from receiver.core.ledger import Verification, claim_key
from receiver.core.workload import WorkloadKind, WorkloadRef
from receiver.k8s import IncidentStore, connect

ORDER = [
    StepKind.ALERT_STARTED,
    StepKind.RECEIVED,
    StepKind.DECIDED,
    StepKind.PATCHED,
    StepKind.ROLLOUT_COMPLETE,
    StepKind.VERIFYING,
]


def kinds(incident: Incident) -> list[StepKind]:
    return [s.kind for s in incident.timeline()]


async def test_the_resolve_recovers_the_rollback_and_completes_its_record(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        alert = r.alert("web", starts_at=r.now() - timedelta(seconds=40))
        await r.handle(alert)
        assert_rolled_back(r, "web")
        key = claim_key(alert.episode_key, WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web"))
        claim = (await r.state()).claim(key)
        assert claim is not None and claim.verifying
        assert claim.clears_by == claim.finished_at + timedelta(minutes=10)
        incident = await r.act.incidents.get(incident_id(key))
        assert incident is not None and incident.phase is Phase.VERIFYING
        assert kinds(incident) == ORDER
        assert incident.images_before == (f"app={V2}",) and incident.images_after == (f"app={V1}",)
        assert (incident.from_revision, incident.to_revision) == (2, 1)
        assert incident.change_cause.startswith("rollback-receiver: HighErrorRate (")

        r.advance(timedelta(minutes=2))
        await r.handle(dataclasses.replace(alert, status=AlertStatus.RESOLVED))
        claim = (await r.state()).claim(key)
        assert claim is not None and claim.verification is Verification.RECOVERED
        incident = await r.act.incidents.get(incident_id(key))
        assert incident is not None and incident.phase is Phase.RECOVERED
        assert kinds(incident) == [*ORDER, StepKind.ALERT_RESOLVED]
        assert incident.time_to_recovery is not None and incident.time_to_recovery >= timedelta(minutes=2)
        assert "RollbackRecovered" in r.event_reasons("web")
        assert r.metric("rollback_receiver_verifications_total", {"result": "recovered"}) == 1
        assert (await r.state()).breaker.consecutive_failures == 0

        # A repeat of the resolve (Alertmanager, an HA peer) changes nothing.
        await r.handle(dataclasses.replace(alert, status=AlertStatus.RESOLVED))
        again = await r.act.incidents.get(incident_id(key))
        assert again is not None and again.steps == incident.steps
        assert r.metric("rollback_receiver_verifications_total", {"result": "recovered"}) == 1


async def test_an_alert_still_firing_at_the_deadline_did_not_help_and_is_never_rolled_back_again(
    control_plane, namespace
) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        alert = r.alert("web")
        await r.handle(alert)
        assert_rolled_back(r, "web")
        revision = r.revision("web")
        key = claim_key(alert.episode_key, WorkloadRef(WorkloadKind.DEPLOYMENT, namespace, "web"))

        await r.act.tick()  # before the deadline nothing ends
        claim = (await r.state()).claim(key)
        assert claim is not None and claim.verifying

        r.advance(timedelta(minutes=11))
        await r.act.tick()
        state = await r.state()
        claim = state.claim(key)
        assert claim is not None and claim.verification is Verification.DID_NOT_HELP
        assert state.breaker.consecutive_failures == 1  # counts toward the breaker (the default)
        incident = await r.act.incidents.get(incident_id(key))
        assert incident is not None and incident.phase is Phase.DID_NOT_HELP
        assert kinds(incident) == [*ORDER, StepKind.STILL_FIRING]
        assert "RollbackDidNotHelp" in r.event_reasons("web")
        assert r.metric("rollback_receiver_verifications_total", {"result": "did_not_help"}) == 1

        # Alertmanager keeps repeating the alert: the same episode is never rolled back again.
        await r.handle(alert)
        assert r.last_decision() == ("skip", "did_not_help")
        assert r.revision("web") == revision and r.image("web") == V1
        await r.act.tick()
        assert r.metric("rollback_receiver_verifications_total", {"result": "did_not_help"}) == 1


def step(index: int) -> Step:
    return Step(datetime.now(UTC), StepKind.NOTIFIED, f"told channel {index}", by="w", key=f"n{index}")


def blank(ident: str, opened: datetime) -> Incident:
    return Incident(
        id=ident,
        claim_key=f"k{ident}",
        opened_at=opened,
        cluster="test",
        route="r",
        source="webhook",
        alert_name="HighErrorRate",
        alert_key="fp@t",
        fingerprint="fp",
        alert_starts_at=opened,
        workload=WorkloadRef(WorkloadKind.DEPLOYMENT, "shop", "web"),
        reason="test",
    )


async def test_racing_writers_lose_no_step_and_the_records_stay_bounded(control_plane, namespace) -> None:
    kubes = [await connect(control_plane.kubeconfig) for _ in range(3)]
    try:
        stores = [
            IncidentStore(k, namespace=namespace, name="rr-incidents", retain=3, max_bytes=200_000)
            for k in kubes
        ]
        now = datetime.now(UTC)
        await stores[0].update("a" * 12, lambda current: current or blank("a" * 12, now))

        async def add(index: int) -> None:
            store = stores[index % len(stores)]
            await store.update("a" * 12, lambda current: current and _with(current, step(index)))

        await asyncio.gather(*(add(i) for i in range(15)))
        record = await stores[1].get("a" * 12)
        assert record is not None and sorted(s.key for s in record.steps) == sorted(
            f"n{i}" for i in range(15)
        )

        for offset, ident in enumerate(["b" * 12, "c" * 12, "d" * 12], start=1):
            opened = now + timedelta(minutes=offset)
            await stores[offset % 3].update(ident, lambda current, o=opened, i=ident: current or blank(i, o))
        listed = await stores[2].list()
        assert [i.id for i in listed] == ["d" * 12, "c" * 12, "b" * 12]  # the oldest went first
        stored = control_plane.kubectl_json("get", "configmap", "rr-incidents", "-n", namespace)
        assert sorted(stored["data"]) == ["bbbbbbbbbbbb.json", "cccccccccccc.json", "dddddddddddd.json"]
    finally:
        for kube in kubes:
            await kube.close()


def _with(incident: Incident, new: Step) -> Incident:
    return with_step(incident, new)
