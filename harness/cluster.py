"""What every test cluster offers: kubectl as admin or as a user, token kubeconfigs, ServiceAccount tokens.

`ControlPlane` (harness/controlplane.py) is the local one; `ExistingCluster` is the opt-in
`USE_EXISTING_CLUSTER=true` + `KUBECONFIG` one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness import binaries

TEST_USERS = ("alice", "bob", "carol")
TOKEN_DURATION = "24h"


class KubectlError(subprocess.CalledProcessError):
    """A kubectl call failed; unlike CalledProcessError, str() shows what kubectl said."""

    def __str__(self) -> str:
        return (
            f"kubectl {' '.join(map(str, self.cmd[1:]))} exited {self.returncode}:\n"
            f"{(self.stderr or '').strip()}\n{(self.output or '').strip()}".rstrip()
        )


def write_kubeconfig(path: Path, *, server: str, ca_pem: bytes | None, token: str, user: str) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "test", "user": user}}],
        "current-context": user,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
    return path


class ClusterAccess:
    """Common client side of a test cluster. Subclasses set the attributes in __init__ or start()."""

    kubeconfig: str
    server: str
    ca_file: str | None
    admin_token: str | None
    user_tokens: dict[str, str]
    bin_dir: Path
    kubectl_path: Path
    workdir: Path

    def _ca_pem(self) -> bytes | None:
        return Path(self.ca_file).read_bytes() if self.ca_file else None

    def kubectl(
        self,
        *args: str,
        user: str | None = None,
        check: bool = True,
        input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl as admin, or as one of `user_tokens` (alice, bob, carol)."""
        kubeconfig = self.kubeconfig if user is None else self.kubeconfig_for_token(self.user_tokens[user])
        cmd = [str(self.kubectl_path), f"--kubeconfig={kubeconfig}", *args]
        result = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False, env=_plain_env()
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, cmd, result.stdout, result.stderr)
        return result

    def kubectl_json(self, *args: str, user: str | None = None) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json", user=user).stdout)

    def kubeconfig_for_token(self, token: str) -> str:
        """A kubeconfig for this cluster that authenticates with `token` (a user or ServiceAccount)."""
        digest = hashlib.sha256(token.encode()).hexdigest()[:16]
        path = self.workdir / "kubeconfigs" / f"token-{digest}.kubeconfig"
        if not path.exists():
            write_kubeconfig(path, server=self.server, ca_pem=self._ca_pem(), token=token, user="token")
        return str(path)

    def kubeconfig_via(self, server: str, path: Path) -> str:
        """An admin kubeconfig that reaches the API server through `server` (e.g. a test proxy)."""
        if self.admin_token is None:
            raise RuntimeError("this cluster has no admin token to write a second kubeconfig with")
        write_kubeconfig(path, server=server, ca_pem=self._ca_pem(), token=self.admin_token, user="admin")
        return str(path)

    def service_account_token(self, namespace: str, name: str, *, duration: str = TOKEN_DURATION) -> str:
        """A TokenRequest-API token for ServiceAccount namespace/name (created if it does not exist)."""
        exists = self.kubectl("get", "serviceaccount", name, "-n", namespace, check=False)
        if exists.returncode != 0:
            created = self.kubectl("create", "serviceaccount", name, "-n", namespace, check=False)
            if created.returncode != 0 and "AlreadyExists" not in created.stderr:
                raise KubectlError(created.returncode, created.args, created.stdout, created.stderr)
        return self.kubectl("create", "token", name, "-n", namespace, f"--duration={duration}").stdout.strip()

    def stop_apiserver(self) -> None:
        """Stop only kube-apiserver (etcd and the controllers keep running); local control plane only."""
        raise RuntimeError(
            f"{type(self).__name__} cannot restart the apiserver; this needs the harness's local"
            " control plane (unset USE_EXISTING_CLUSTER)"
        )

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port against the same etcd; local control plane only."""
        self.stop_apiserver()

    def environment(self) -> dict[str, str]:
        """Environment variables a client process needs to talk to this cluster."""
        return {"KUBECONFIG": self.kubeconfig}


def _plain_env() -> dict[str, str]:
    # A KUBECONFIG in the caller's environment must never redirect the harness's own kubectl calls.
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    return env


class ExistingCluster(ClusterAccess):
    """A cluster someone else runs (USE_EXISTING_CLUSTER=true + KUBECONFIG).

    Users alice/bob/carol become ServiceAccounts with no RBAC grants in namespace `USERS_NAMESPACE`;
    apiserver restarts are not possible.
    """

    USERS_NAMESPACE = "rollback-receiver-test-users"

    def __init__(self, kubeconfig: str, workdir: Path | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="rollback-receiver-existing-"))
        kubectl = binaries.find(binaries.KUBECTL) or _which_kubectl()
        self.kubectl_path = kubectl
        self.bin_dir = kubectl.parent
        raw = json.loads(self.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
        cluster: Mapping[str, Any] = raw["clusters"][0]["cluster"]
        self.server = str(cluster["server"])
        self.ca_file = None
        if "certificate-authority-data" in cluster:
            ca_path = self.workdir / "ca.crt"
            ca_path.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
            self.ca_file = str(ca_path)
        elif "certificate-authority" in cluster:
            self.ca_file = str(cluster["certificate-authority"])
        user: Mapping[str, Any] = raw["users"][0].get("user", {}) if raw.get("users") else {}
        self.admin_token = user.get("token")
        self.kubectl("create", "namespace", self.USERS_NAMESPACE, check=False)
        self.user_tokens = {
            name: self.service_account_token(self.USERS_NAMESPACE, name) for name in TEST_USERS
        }

    def stop(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _which_kubectl() -> Path:
    found = shutil.which("kubectl")
    if found is None:
        raise binaries.MissingBinariesError(
            "USE_EXISTING_CLUSTER=true needs kubectl: build it with "
            f"`{binaries.BUILD_COMMAND}` or put kubectl on PATH"
        )
    return Path(found)
