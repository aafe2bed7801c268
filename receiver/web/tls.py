"""TLS serving: a fresh server context per version of the files, and what a connection's handshake proved.

A context is never changed after it is built. A reload whose certificate, key or client CA files changed
builds a new one and the listener uses it for new connections (`Listener.set_ssl_context`), so a client
CA removed from the bundle is no longer trusted by anyone who connects afterwards; connections made under
the old context are closed once idle.

With a client CA the context asks every client for a certificate and verifies any it is given
(CERT_OPTIONAL): a wrong certificate fails the handshake, none at all is allowed, so probes and Prometheus
reach /healthz, /readyz and /metrics without one, and every protected path requires the verified
certificate (`peer_verified`).
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path
from typing import Any

from receiver.core.settings import TLSConfig


def server_context(tls: TLSConfig) -> ssl.SSLContext:
    """A new context from the files; raises OSError/ssl.SSLError when a file is missing or does not match."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=tls.cert_file, keyfile=tls.key_file)
    if tls.client_ca_file is not None:
        context.load_verify_locations(cafile=tls.client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def material_digest(tls: TLSConfig) -> str:
    """A digest of what the context is built from (paths and contents): equal digests, same context."""
    digest = hashlib.sha256()
    files: tuple[Path | None, ...] = (tls.cert_file, tls.key_file, tls.client_ca_file)
    for path in files:
        digest.update(b"\0" if path is None else str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def peer_verified(transport: Any) -> bool:
    """Did this connection's TLS handshake verify a client certificate? (getpeercert() is empty when the
    client sent none; the handshake fails when it sent one that does not verify.)"""
    if transport is None:
        return False
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return False
    try:
        return bool(ssl_object.getpeercert())
    except ValueError:  # the handshake has not completed
        return False
