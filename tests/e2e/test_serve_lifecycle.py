"""`rollback-receiver serve` as operators drive it: SIGHUP reloads (a bad file keeps the last good config),
SIGTERM stops it cleanly."""

from __future__ import annotations

import signal

import pytest
from e2e_support import V2, deploy, image_of, receiver_config

from harness.receiver import ReceiverProcess, webhook_alert, webhook_payload
from harness.waiting import eventually

pytestmark = [pytest.mark.e2e]


def reload_successful(receiver: ReceiverProcess) -> float:
    return receiver.metric("rollback_receiver_config_last_reload_successful")


def test_sighup_reload_keeps_the_last_good_config_and_sigterm_stops_cleanly(
    control_plane, namespace, tmp_path
) -> None:
    deploy(control_plane, namespace, "web")
    receiver = ReceiverProcess(
        tmp_path / "r", kubeconfig=control_plane.kubeconfig, config=receiver_config(namespace)
    )
    receiver.start()
    try:
        pid = receiver.process.pid
        assert pid is not None and reload_successful(receiver) == 1

        # A broken file: the service keeps running on the last good config and says so.
        good = receiver.config_file.read_text()
        receiver.config_file.write_text(good + "\nroutes: not-a-list\n")
        receiver.process.popen.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        eventually(lambda: reload_successful(receiver) == 0, timeout=30, what="the failed reload reported")
        assert "routes" in receiver.log_tail(200)
        assert receiver.process.running()

        # A good file that pauses everything: after SIGHUP the next alert is decided but not acted on.
        receiver.configure({**receiver.config, "paused": True})
        receiver.process.popen.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        eventually(lambda: reload_successful(receiver) == 1, timeout=30, what="the good reload reported")
        assert receiver.post(webhook_payload([webhook_alert(namespace, "web")])) == 200
        paused = eventually(lambda: receiver.decisions(reason="paused"), timeout=60, what="a paused decision")
        assert paused[0]["decision"] == "skip" and "paused" in paused[0]["message"]
        assert image_of(control_plane, namespace, "web") == V2

        popen = receiver.process.popen
        assert popen is not None
        popen.send_signal(signal.SIGTERM)
        assert popen.wait(30) == 0, receiver.log_tail()
    finally:
        receiver.stop()
