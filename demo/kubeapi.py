"""Read-only access to the API server for the demo's helpers, straight from a kubeconfig.

The demo's exporter polls one Deployment every second from a thread; a blocking HTTPS GET with the
admin credentials is all it needs, so this avoids pulling an async Kubernetes client into a thread.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class KubeconfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ApiAccess:
    server: str  # https://127.0.0.1:PORT
    ssl_context: ssl.SSLContext
    token: str | None = None

    @classmethod
    def from_kubeconfig(cls, path: str | Path) -> ApiAccess:
        """The current context's cluster and user: CA, then a bearer token or a client certificate."""
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        context_name = doc.get("current-context")
        context = _named(doc, "contexts", context_name, path).get("context", {})
        cluster = _named(doc, "clusters", context.get("cluster"), path).get("cluster", {})
        user = _named(doc, "users", context.get("user"), path).get("user", {})
        server = cluster.get("server")
        if not isinstance(server, str) or not server.startswith("https://"):
            raise KubeconfigError(f"{path}: cluster {context.get('cluster')!r} has no https server")
        if cluster.get("certificate-authority-data"):
            ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode("ascii")
            ctx = ssl.create_default_context(cadata=ca_pem)
        else:
            ctx = ssl.create_default_context(cafile=cluster.get("certificate-authority"))
        token = user.get("token")
        if token is None and user.get("tokenFile"):
            token = Path(user["tokenFile"]).read_text(encoding="utf-8").strip()
        if token is None:
            cert = _material(user, "client-certificate", path)
            key = _material(user, "client-key", path)
            if cert is None or key is None:
                who = context.get("user")
                raise KubeconfigError(f"{path}: user {who!r} has neither a token nor a client certificate")
            ctx.load_cert_chain(cert, key)
        return cls(server=server.rstrip("/"), ssl_context=ctx, token=token)

    def get_json(self, api_path: str, timeout: float = 5.0) -> dict[str, Any]:
        """GET one object; raises urllib.error.HTTPError (e.g. 404) or URLError/OSError."""
        # The scheme is always https: from_kubeconfig refuses anything else.
        request = urllib.request.Request(self.server + api_path, headers={"Accept": "application/json"})  # noqa: S310
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context) as response:  # noqa: S310
            body: dict[str, Any] = json.load(response)
        return body


def _named(doc: dict[str, Any], section: str, name: object, path: str | Path) -> dict[str, Any]:
    for entry in doc.get(section) or ():
        if entry.get("name") == name:
            found: dict[str, Any] = entry
            return found
    raise KubeconfigError(f"{path}: {section} has no entry named {name!r}")


def _material(section: dict[str, Any], key: str, path: str | Path) -> str | None:
    """A file path for `key` or `key-data` (ssl loads client certificates from files only, so inline
    base64 is written to a private temp file)."""
    if section.get(key):
        return str(section[key])
    data = section.get(f"{key}-data")
    if not data:
        return None
    # ssl wants files; NamedTemporaryFile is created 0600.
    with tempfile.NamedTemporaryFile("wb", prefix="demo-kube-", suffix=".pem", delete=False) as handle:
        handle.write(base64.b64decode(data))
    return handle.name
