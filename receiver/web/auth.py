"""Request authentication that Alertmanager 0.25 can send: a bearer token, basic auth, a client certificate.

Secrets come from files (Kubernetes Secret mounts), are read at start and on every reload, and are
compared in constant time, as bytes (a header that is not UTF-8 is just a wrong secret). They never reach a
log line or an error message: a rejected request logs only the name of a known scheme.

A client certificate counts only when the connection's own TLS handshake verified it (the peer certificate
of `request.transport`), never because the config mentions a client CA. Every configured method is
required: with a token and a client CA, a request needs both.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from pathlib import Path

from receiver.config import ConfigError
from receiver.core.settings import ServerConfig

REALM = "rollback-receiver"
# The schemes a rejected request's log line may name; anything else is logged as "other", so a token sent
# without a scheme (`Authorization: <token>`) never reaches the log.
KNOWN_SCHEMES = frozenset({"bearer", "basic", "digest", "negotiate", "token", "apikey", "aws4-hmac-sha256"})


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    bearer_token: bytes | None = None
    basic_username: bytes | None = None
    basic_password: bytes | None = None
    client_certificates: bool = False  # a client CA is configured: a verified peer certificate is required
    insecure_no_auth: bool = False  # `serve --insecure-no-auth` and nothing configured: everyone gets in

    @property
    def enabled(self) -> bool:
        """Is any authentication method configured?"""
        return self.bearer_token is not None or self.basic_username is not None or self.client_certificates

    @property
    def open_to_anyone(self) -> bool:
        return not self.enabled and self.insecure_no_auth

    @property
    def challenge(self) -> str:
        """The WWW-Authenticate value of a 401: the schemes we accept."""
        schemes = []
        if self.bearer_token is not None:
            schemes.append(f'Bearer realm="{REALM}"')
        if self.basic_username is not None:
            schemes.append(f'Basic realm="{REALM}", charset="UTF-8"')
        return ", ".join(schemes) or f'Bearer realm="{REALM}"'

    def allows(self, authorization: str | bytes | None, *, peer_verified: bool = False) -> bool:
        """Does this request carry every configured credential? `peer_verified`: the connection's TLS
        handshake verified a client certificate against the listener's current client CA."""
        if not self.enabled:
            return self.insecure_no_auth
        if self.client_certificates and not peer_verified:
            return False
        if self.bearer_token is None and self.basic_username is None:
            return True  # the certificate is the credential
        return self._header_allows(_as_bytes(authorization))

    def _header_allows(self, authorization: bytes) -> bool:
        scheme, _, value = authorization.strip().partition(b" ")
        scheme = scheme.lower()
        value = value.strip()
        if not value:
            return False
        if scheme == b"bearer" and self.bearer_token is not None:
            return hmac.compare_digest(value, self.bearer_token)
        if scheme == b"basic" and self.basic_username is not None and self.basic_password is not None:
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            username, sep, password = decoded.partition(b":")
            # Both comparisons always run, so timing does not tell which half was wrong.
            user_ok = hmac.compare_digest(username, self.basic_username)
            password_ok = hmac.compare_digest(password, self.basic_password)
            return bool(sep) and user_ok and password_ok
        return False

    def __repr__(self) -> str:
        return (
            f"Credentials(bearer={self.bearer_token is not None}, basic={self.basic_username is not None}, "
            f"client_certificates={self.client_certificates}, insecure_no_auth={self.insecure_no_auth})"
        )


def scheme_name(authorization: str | bytes | None) -> str:
    """What a log line may say about an Authorization header: a known scheme's name, "none" or "other"."""
    raw = _as_bytes(authorization).strip()
    if not raw:
        return "none"
    scheme, sep, _ = raw.partition(b" ")
    name = scheme.decode("ascii", "replace").lower()
    return name if sep and name in KNOWN_SCHEMES else "other"


def _as_bytes(header: str | bytes | None) -> bytes:
    if header is None:
        return b""
    if isinstance(header, bytes):
        return header
    # aiohttp decodes header bytes as UTF-8 with surrogateescape: this gives back exactly what was sent.
    return header.encode("utf-8", "surrogateescape")


def load_credentials(server: ServerConfig, *, source: Path, insecure_no_auth: bool = False) -> Credentials:
    """Read the secret files named by the config; ConfigError (naming file and key) when unreadable."""
    problems: list[str] = []
    token = password = username = None
    if server.bearer is not None:
        token = _read_secret(server.bearer.token_file, "server.auth.bearer_token_file", source, problems)
    if server.basic is not None:
        username = server.basic.username.encode()
        password = _read_secret(
            server.basic.password_file, "server.auth.basic_auth.password_file", source, problems
        )
    if problems:
        raise ConfigError(problems)
    return Credentials(
        bearer_token=token,
        basic_username=username,
        basic_password=password,
        client_certificates=server.tls is not None and server.tls.client_ca_file is not None,
        insecure_no_auth=insecure_no_auth,
    )


def _read_secret(path: Path, key: str, source: Path, problems: list[str]) -> bytes | None:
    # Like Alertmanager's credentials_file: surrounding whitespace (the trailing newline) is not part of it.
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        problems.append(f"{source}: {key}: cannot read {path}: {exc.strerror or exc}")
        return None
    if not secret:
        problems.append(f"{source}: {key}: {path} is empty")
        return None
    return secret
