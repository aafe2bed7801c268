"""Time and rate guards on the real control plane, with an injected clock: change attribution, no
ping-pong, cooldown, confirmation delay, budgets, max concurrent and the circuit breaker."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from guard_support import NEVER_READY, V1, V2, V3, base_config, manifest, rig, route
from test_guards_scope import assert_rolled_back, assert_stopped

from receiver.core import ledger
from receiver.core.alerts import AlertStatus
from receiver.core.ledger import Claim, Outcome
from receiver.core.settings import Budget, Limits
from receiver.core.workload import WorkloadKind, WorkloadRef


async def test_change_attribution(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        # The same alert, but it started two hours after the deploy: the deploy is not its likely cause.
        r.advance(timedelta(hours=2))
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "no_recent_change")

        r.advance(-timedelta(hours=2))
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")


async def test_no_ping_pong_and_cooldown(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        await r.handle(r.alert("web"))
        assert_rolled_back(r, "web")
        revision = r.revision("web")

        # A new episode of the alert: the live revision is our own rollback, never rolled back.
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "own_rollback", image=V1)

        # A human deploys a new version: it is a new change, but inside the cooldown.
        r.set_image("web", V3)
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "skip", "cooldown", image=V3)

        # After the cooldown (30m by default) the new deploy may be rolled back.
        r.advance(timedelta(minutes=31))
        await r.handle(r.alert("web", starts_at=r.now() - r.offset))
        assert r.image("web") == V1
        assert r.revision("web") > revision


async def test_same_episode_acts_once(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        alert = r.alert("web")
        await r.handle(alert)
        revision = r.revision("web")
        await r.handle(alert)
        assert_stopped(r, "web", "skip", "already_handled", image=V1)
        assert r.revision("web") == revision
        assert r.event_reasons("web").count("RollbackTriggered") == 1


async def test_confirmation_delay_waits_survives_and_is_cancelled_by_resolve(
    control_plane, namespace
) -> None:
    medium = route("medium", confirm_for=timedelta(minutes=5))
    async with rig(control_plane, namespace, base_config(namespace, (medium,))) as r:
        r.deploy("web")
        first = r.alert("web")
        await r.handle(first)
        assert_stopped(r, "web", "wait", "confirm_pending")
        assert [p.alert_key for p in (await r.state()).pending] == [first.episode_key]

        # Resolved inside the delay: cancelled, nothing written.
        await r.handle(dataclasses.replace(first, status=AlertStatus.RESOLVED))
        assert r.last_decision() == ("skip", "alert_resolved")
        assert (await r.state()).pending == ()
        r.advance(timedelta(minutes=6))
        await r.act.tick()
        assert r.image("web") == V2

        # Still firing when due: a fresh actuator (a restart) picks the pending confirmation up.
        second = r.alert("web")
        await r.handle(second)
        assert (await r.state()).pending
        await r.start()
        r.advance(timedelta(minutes=5))
        await r.act.tick()
        assert_rolled_back(r, "web")
        assert (await r.state()).pending == ()


async def test_namespace_and_global_budgets_and_breaker(control_plane, namespace) -> None:
    limits = Limits(per_namespace=Budget(2, timedelta(hours=1)), global_=Budget(3, timedelta(hours=1)))
    async with rig(control_plane, namespace, dataclasses.replace(base_config(namespace), limits=limits)) as r:
        for name in ("a", "b", "c", "d"):
            r.deploy(name)

        def alert(name: str):  # the alert started just after the deploy, whatever the injected clock says
            return r.alert(name, starts_at=r.now() - r.offset)

        for name in ("a", "b"):
            await r.handle(alert(name))
            assert_rolled_back(r, name)
        await r.handle(alert("c"))
        assert_stopped(r, "c", "skip", "budget_namespace")
        assert r.metric("rollback_receiver_budget_remaining", {"scope": f"namespace:{namespace}"}) == 0

        # An hour later the window has moved on; two rollbacks elsewhere (in the shared ledger) leave one
        # global slot, which c takes; d then finds the global budget exhausted.
        r.advance(timedelta(minutes=61))
        elsewhere = [
            Claim(
                f"x{i}|Deployment/other/x{i}",
                f"x{i}",
                "Other",
                WorkloadRef(WorkloadKind.DEPLOYMENT, "other", f"x{i}"),
                r.now(),
                "replica-b",
                patched_at=r.now(),
                outcome=Outcome.SUCCEEDED,
            )
            for i in range(2)
        ]

        def add_elsewhere(state):
            for claim in elsewhere:
                state = ledger.add_claim(state, claim)
            return state, state

        await r.store.update(add_elsewhere, now=r.now())
        await r.handle(alert("c"))
        assert_rolled_back(r, "c")
        await r.handle(alert("d"))
        assert_stopped(r, "d", "skip", "budget_global")
        # Exhausting the global budget opens the breaker, and it stays open after the window.
        assert (await r.state()).breaker.open
        assert r.metric("rollback_receiver_circuit_breaker_open") == 1
        r.advance(timedelta(minutes=61))
        await r.handle(alert("d"))
        assert_stopped(r, "d", "skip", "breaker_open")

        summary = await r.act.reset_breaker("alice")
        assert summary["was_open"] is True and summary["reset_by"] == "alice"
        assert r.metric("rollback_receiver_circuit_breaker_open") == 0
        await r.handle(alert("d"))
        assert_rolled_back(r, "d")


async def test_failed_rollbacks_open_the_breaker(control_plane, namespace) -> None:
    fast = route(verify_timeout=timedelta(seconds=3))
    config = dataclasses.replace(
        base_config(namespace, (fast,)), limits=Limits(breaker_failures=1, max_concurrent=2)
    )
    async with rig(control_plane, namespace, config) as r:
        # The revision we would roll back to can never become ready (no node matches its selector).
        r.cp.kubectl("create", "-n", namespace, "-f", "-", input=_json(V1, NEVER_READY))
        r.set_image("good", V2, wait=False)
        r.kubectl(
            "patch",
            "deployment/good",
            "--type=json",
            "-p",
            '[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]',
        )
        r.wait("good")
        r.deploy("other")
        await r.handle(r.alert("good"))
        assert "RollbackFailed" in r.event_reasons("good")
        assert r.image("good") == V2
        assert r.metric("rollback_receiver_rollbacks_total", {"result": "failed"}) == 1
        assert (await r.state()).breaker.open

        await r.handle(r.alert("other"))
        assert_stopped(r, "other", "skip", "breaker_open")
        await r.act.reset_breaker("bob")
        await r.handle(r.alert("other"))
        assert_rolled_back(r, "other")


async def test_max_concurrent_waits_for_a_free_slot(control_plane, namespace) -> None:
    async with rig(control_plane, namespace) as r:
        r.deploy("web")
        running = [
            Claim(
                f"busy{i}|Deployment/x/y{i}",
                f"busy{i}",
                "Busy",
                WorkloadRef(WorkloadKind.DEPLOYMENT, "x", f"y{i}"),
                r.now(),
                "replica-b",
            )
            for i in range(2)
        ]

        def occupy(state):
            for claim in running:
                state = ledger.add_claim(state, claim)
            return state, state

        await r.store.update(occupy, now=r.now())
        await r.handle(r.alert("web"))
        assert_stopped(r, "web", "wait", "max_concurrent")

        def finish(state):
            for claim in running:
                state = ledger.record_outcome(state, claim.key, Outcome.SUCCEEDED, "", r.now(), 3)
            return state, state

        await r.store.update(finish, now=r.now())
        r.advance(timedelta(seconds=20))
        await r.act.tick()
        assert_rolled_back(r, "web")


def _json(image: str, node_selector: dict[str, str]) -> str:
    doc = manifest("good", image)
    doc["spec"]["template"]["spec"]["nodeSelector"] = node_selector
    doc["spec"]["progressDeadlineSeconds"] = 600
    return json.dumps(doc)


async def test_breaker_reset_over_http_needs_the_webhook_credentials(
    control_plane, namespace, aiohttp_client
) -> None:
    from types import SimpleNamespace

    from aiohttp import web

    from receiver.web import admin
    from receiver.web.auth import Credentials
    from receiver.web.backend import BACKEND

    async with rig(control_plane, namespace) as r:
        await r.store.update(
            lambda s: (ledger.open_breaker(s, "3 consecutive rollbacks failed", r.now()),) * 2, now=r.now()
        )
        app = web.Application()
        app[BACKEND] = SimpleNamespace(credentials=Credentials(bearer_token=b"s3cret"))  # type: ignore[misc]
        admin.install(app, r.act)
        client = await aiohttp_client(app)

        denied = await client.post("/api/v1/breaker/reset", json={"actor": "mallory"})
        assert denied.status == 401
        assert (await r.state()).breaker.open

        status = await client.get("/api/v1/breaker", headers={"Authorization": "Bearer s3cret"})
        assert (await status.json())["open"] is True
        reset = await client.post(
            "/api/v1/breaker/reset", json={"actor": "alice"}, headers={"Authorization": "Bearer s3cret"}
        )
        assert reset.status == 200
        body = await reset.json()
        assert body["was_open"] is True and body["open"] is False and "alice" in body["reset_by"]
        assert not (await r.state()).breaker.open
        bad = await client.post(
            "/api/v1/breaker/reset", data=b"{not json", headers={"Authorization": "Bearer s3cret"}
        )
        assert bad.status == 400


def test_breaker_cli_status_and_reset(control_plane, namespace, tmp_path) -> None:
    import subprocess
    import sys

    config = tmp_path / "config.yaml"
    config.write_text(
        f"state: {{namespace: {namespace}, name: rollback-receiver-state}}\n"
        "routes:\n  - {name: r, match: ['rollback=\"true\"'], action: notify}\n"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "receiver", "breaker", *args, "--config", str(config)]
        return subprocess.run(
            [*argv, "--kubeconfig", control_plane.kubeconfig], capture_output=True, text=True, timeout=60
        )

    closed = cli("status")
    assert closed.returncode == 0, closed.stderr
    assert "closed" in closed.stdout

    control_plane.kubectl(
        "create",
        "configmap",
        "rollback-receiver-state",
        "-n",
        namespace,
        "--from-literal=state.json="
        + json.dumps(
            {
                "claims": [],
                "pending": [],
                "breaker": {"open": True, "reason": "3 consecutive rollbacks failed"},
            }
        ),
        check=True,
    )
    opened = cli("status")
    assert opened.returncode == 3
    assert "OPEN" in opened.stdout and "3 consecutive rollbacks failed" in opened.stdout

    reset = cli("reset", "--actor", "alice")
    assert reset.returncode == 0, reset.stderr
    assert "it was open" in reset.stdout and "alice" in reset.stdout
    assert cli("status", "-o", "json").returncode == 0
