"""The TLS server context: TLS 1.2+, and client-certificate verification when a client CA is set (mTLS)."""

from __future__ import annotations

import ssl

from receiver.core.settings import TLSConfig


def server_context(tls: TLSConfig) -> ssl.SSLContext:
    """A fresh context; raises OSError/ssl.SSLError when a file is missing or does not match."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    load_files(context, tls)
    return context


def load_files(context: ssl.SSLContext, tls: TLSConfig) -> None:
    """(Re)load certificate, key and client CA into a live context: new connections use the new files,
    so a rotated certificate is picked up by a reload without restarting the listener."""
    context.load_cert_chain(certfile=tls.cert_file, keyfile=tls.key_file)
    if tls.client_ca_file is not None:
        context.load_verify_locations(cafile=tls.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
