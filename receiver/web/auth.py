"""Request authentication that Alertmanager 0.25 can send: a bearer token or basic auth.

Secrets come from files (Kubernetes Secret mounts), are read at start and on every reload, and are
compared in constant time. They never reach a log line or an error message.
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


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    bearer_token: bytes | None = None
    basic_username: bytes | None = None
    basic_password: bytes | None = None
    client_certificates: bool = False  # mTLS: the TLS layer has already verified the client

    @property
    def enabled(self) -> bool:
        return self.bearer_token is not None or self.basic_username is not None or self.client_certificates

    @property
    def challenge(self) -> str:
        """The WWW-Authenticate value of a 401: the schemes we accept."""
        schemes = []
        if self.bearer_token is not None:
            schemes.append(f'Bearer realm="{REALM}"')
        if self.basic_username is not None:
            schemes.append(f'Basic realm="{REALM}", charset="UTF-8"')
        return ", ".join(schemes) or f'Bearer realm="{REALM}"'

    def allows(self, authorization: str | None) -> bool:
        """Does this Authorization header carry a configured secret? (mTLS alone: the TLS layer decided.)"""
        if self.bearer_token is None and self.basic_username is None:
            return self.client_certificates
        if not authorization:
            return False
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer" and self.bearer_token is not None:
            return hmac.compare_digest(value.encode(), self.bearer_token)
        if scheme == "basic" and self.basic_username is not None and self.basic_password is not None:
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
        return f"Credentials(bearer={self.bearer_token is not None}, basic={self.basic_username is not None})"


def load_credentials(server: ServerConfig, *, source: Path) -> Credentials:
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
