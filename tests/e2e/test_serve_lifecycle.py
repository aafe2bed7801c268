"""`rollback-receiver serve` as operators drive it: SIGHUP reloads (a bad file keeps the last good config),
SIGTERM stops it cleanly; and its HTTP edge as an attacker meets it: no reload switches authentication off,
`--insecure-no-auth` is really open, a rotated client CA applies without a restart, slow sockets starve
nothing."""

from __future__ import annotations

import signal
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_support import V2, deploy, image_of, receiver_config
from web.web_support import Pki, make_pki

from harness.http import HttpError, request_json, request_text
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


# -- the HTTP edge of the real process (issue 11) ----------------------------------------------------------

ANONYMOUS_PATHS = ("/webhook", "/-/reload", "/api/v1/breaker/reset")


def status_of(method: str, url: str, body: Any = None, **options: Any) -> int:
    try:
        request_text(method, url, body, **options)
    except HttpError as error:
        return error.status
    return 200


def tls_section(pki: Pki, client_ca: Path | None) -> dict[str, Any]:
    tls = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    if client_ca is not None:
        tls["client_ca_file"] = str(client_ca)
    return tls


def client_tls(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def sighup(receiver: ReceiverProcess) -> None:
    assert receiver.process.popen is not None
    receiver.process.popen.send_signal(signal.SIGHUP)


def test_a_reload_can_never_switch_authentication_off(control_plane, namespace, tmp_path) -> None:
    deploy(control_plane, namespace, "web")
    pki = make_pki(tmp_path)
    receiver = ReceiverProcess(
        tmp_path / "r", kubeconfig=control_plane.kubeconfig, config=receiver_config(namespace)
    )
    receiver.start()
    try:
        good = receiver.config
        # The attack: "add mTLS" (a client CA) and drop the token, on a listener that started plain.
        receiver.configure({**good, "server": {"tls": tls_section(pki, pki.ca)}}, bearer=False)
        sighup(receiver)
        eventually(lambda: reload_successful(receiver) == 0, timeout=30, what="the rejected reload")
        assert "the listener started without TLS; turning it on needs a restart" in receiver.log_tail(200)
        for path in ANONYMOUS_PATHS:
            assert status_of("POST", f"{receiver.url}{path}", {"actor": "mallory"}) == 401, path

        # No authentication at all, without --insecure-no-auth: rejected too.
        receiver.configure({**good, "server": {}}, bearer=False)
        sighup(receiver)
        eventually(
            lambda: "no authentication left" in receiver.log_tail(400),
            timeout=30,
            what="the second rejection",
        )
        assert reload_successful(receiver) == 0
        for path in ANONYMOUS_PATHS:
            assert status_of("POST", f"{receiver.url}{path}", {"actor": "mallory"}) == 401, path
        assert (
            receiver.post(webhook_payload([webhook_alert(namespace, "web")])) == 200
        )  # the token still works
    finally:
        receiver.stop()


def test_insecure_no_auth_really_accepts_anonymous_webhooks(control_plane, namespace, tmp_path) -> None:
    deploy(control_plane, namespace, "web")
    receiver = ReceiverProcess(
        tmp_path / "r", kubeconfig=control_plane.kubeconfig, extra_args=["--insecure-no-auth"]
    )
    config = receiver_config(namespace, extra={"mode": "dry-run"})
    receiver.configure(config, bearer=False)
    receiver.start()
    try:
        payload = webhook_payload([webhook_alert(namespace, "web")])
        assert status_of("POST", f"{receiver.url}/webhook", payload) == 200
        decided = eventually(
            lambda: request_json("GET", f"{receiver.url}/api/v1/decisions")["decisions"],
            timeout=60,
            what="a decision",
        )
        assert decided[0]["alertname"] == "HighErrorRate"
        log = receiver.log_tail(200)
        assert "INSECURE: --insecure-no-auth given and no authentication configured" in log
        assert '"level":"warning"' in log
    finally:
        receiver.stop()


def test_a_reloaded_client_ca_replaces_the_old_one_without_a_restart(
    control_plane, namespace, tmp_path
) -> None:
    deploy(control_plane, namespace, "web")
    old, new = make_pki(mkdir(tmp_path / "old")), make_pki(mkdir(tmp_path / "new"))
    bundle = tmp_path / "client-ca.pem"
    bundle.write_bytes(old.ca.read_bytes())
    with_old_cert = client_tls(old, old.client_cert, old.client_key)
    with_new_cert = client_tls(old, new.client_cert, new.client_key)  # the serving cert stays old's
    receiver = ReceiverProcess(tmp_path / "r", kubeconfig=control_plane.kubeconfig, ssl_context=with_old_cert)
    receiver.configure(
        receiver_config(namespace, extra={"mode": "dry-run", "server": {"tls": tls_section(old, bundle)}}),
        bearer=False,
    )
    receiver.start()
    try:
        pid = receiver.process.pid
        payload = webhook_payload([webhook_alert(namespace, "web")])
        url = f"{receiver.url}/webhook"
        assert status_of("POST", url, payload, context=with_old_cert) == 200
        assert status_of("POST", url, payload, context=client_tls(old)) == 401  # no certificate
        with pytest.raises(OSError):  # TLS 1.3: the refusal may come as a reset after the handshake
            status_of("POST", url, payload, context=with_new_cert)

        bundle.write_bytes(new.ca.read_bytes())  # the Secret with the client CA was rotated
        sighup(receiver)
        receiver.ssl_context = client_tls(old)  # /metrics needs no certificate
        eventually(
            lambda: "TLS certificates or client CA changed" in receiver.log_tail(200),
            timeout=30,
            what="the reload",
        )
        assert reload_successful(receiver) == 1
        with pytest.raises(OSError):  # TLS 1.3: the refusal may come as a reset after the handshake
            status_of("POST", url, payload, context=with_old_cert)
        assert status_of("POST", url, payload, context=with_new_cert) == 200
        assert receiver.process.pid == pid
    finally:
        receiver.stop()


def test_slow_header_sockets_do_not_starve_the_real_serve(control_plane, namespace, tmp_path) -> None:
    deploy(control_plane, namespace, "web")
    receiver = ReceiverProcess(
        tmp_path / "r",
        kubeconfig=control_plane.kubeconfig,
        config=receiver_config(namespace, extra={"mode": "dry-run"}),
    )
    receiver.start()
    sockets = []
    try:
        for _ in range(500):
            sock = socket.create_connection(("127.0.0.1", receiver.port))
            sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sockets.append(sock)
        eventually(
            lambda: receiver.metric("rollback_receiver_http_connections") >= 500, timeout=30, what="500 open"
        )
        started = time.monotonic()
        status = receiver.post(webhook_payload([webhook_alert(namespace, "web")]))
        elapsed = time.monotonic() - started
        assert status == 200
        assert elapsed < 10, f"answered after {elapsed:.1f}s"  # a hang bound; bench/README.md has the latency
    finally:
        for sock in sockets:
            sock.close()
        receiver.stop()


def mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
