"""The container image, built with podman and run the way the chart runs it.

scripts/build-image.sh builds the repository's Dockerfile on a Debian bookworm base made with mmdebstrap
(CPython 3.11 at /usr/bin/python3.11) and uv from PyPI, cached by content. The run takes everything from
the chart as installed on the harness's control plane: the Deployment's securityContext, volumes, env and
args become podman flags, the ConfigMap and Secret are mounted read-only where the pod mounts them, and a
ServiceAccount token, the cluster CA and the namespace sit where the kubelet puts them, with
KUBERNETES_SERVICE_HOST/PORT set, so the receiver takes its in-cluster code path. The one difference from a
pod: the container shares the host's network (the API server listens on 127.0.0.1), so the receiver listens
on 127.0.0.1 and a free port instead of 0.0.0.0:8080.

What the chart's securityContext asks for is then read back from the kernel (/proc of the container's
PID 1), not from the flags.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_support import (
    RELEASE,
    REPO_ROOT,
    Manifest,
    Release,
    image_of,
    installed_release,
    one,
    render,
    two_revision_deployment,
)

from harness.cluster import ClusterAccess
from harness.container import Container, Mount, build_image, image_config, run_once
from harness.http import is_ok, request_text
from harness.processes import free_port
from harness.receiver import webhook_alert, webhook_payload
from harness.waiting import eventually

pytestmark = [pytest.mark.container]

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Mount points the runtime itself makes in the writable layer (empty files and directories), not writes.
RUNTIME_MOUNT_POINTS = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab", "/run/.containerenv")


@pytest.fixture(scope="module")
def image() -> str:
    return build_image()


@pytest.fixture(scope="module")
def release(control_plane: ClusterAccess) -> Iterator[Release]:
    with installed_release(control_plane, prefix="image") as installed:
        yield installed


def as_uid_gid(user: str) -> tuple[int, int]:
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or uid)


# --- the image itself -------------------------------------------------------------------------------------


def test_image_is_the_locked_venv_on_python_3_11_and_runs_as_the_charts_user(image: str) -> None:
    inspected = image_config(image)
    config = inspected["Config"]
    deployment = _rendered_deployment_container()
    # Numeric and not root, so the kubelet's runAsNonRoot check passes without a passwd entry.
    assert as_uid_gid(config["User"]) == (65532, 65532)
    assert config["Entrypoint"] == ["rollback-receiver"]  # exec form: the receiver is PID 1, gets SIGTERM
    assert config["Cmd"] == deployment["args"]
    assert set(config["ExposedPorts"]) == {f"{deployment['ports'][0]['containerPort']}/tcp"}
    # The base and the venv: the final stage adds nothing else (no uv, no compiler, no source tree).
    assert len(inspected["RootFS"]["Layers"]) == 2

    probe = (
        "import importlib.metadata as m, json, os, shutil, sys, glob; print(json.dumps({"
        "'python': sys.version_info[:2], 'executable': os.path.realpath(sys.executable),"
        "'uv': shutil.which('uv'), 'src': os.path.exists('/src'),"
        "'pyc': glob.glob(sys.prefix + '/lib/python3.11/site-packages/receiver/__pycache__/cli.*.pyc'),"
        "'installed': {d.name: d.version for d in m.distributions()}}))"
    )
    ran = run_once(image, ["-c", probe], entrypoint="/opt/venv/bin/python", flags=["--network=none"])
    assert ran.returncode == 0, ran.stderr
    facts = json.loads(ran.stdout)
    assert facts["python"] == [3, 11] and facts["executable"] == "/usr/bin/python3.11"
    assert facts["uv"] is None and facts["src"] is False
    # Bytecode compiled at build time, so a read-only root filesystem costs nothing at start.
    assert facts["pyc"]
    installed = {name.lower().replace("_", "-"): version for name, version in facts["installed"].items()}
    assert installed.pop("rollback-receiver") == _project_version()
    assert installed == _locked_versions()  # exactly the lock, no dev dependency, nothing resolved anew


# --- the image run as the chart runs it -------------------------------------------------------------------


def test_image_runs_with_the_charts_pod_spec_rolls_back_and_drains_on_sigterm(
    control_plane: ClusterAccess, release: Release, image: str, tmp_path: Path
) -> None:
    two_revision_deployment(control_plane, release.allowed, "api")
    # The rolled-back pods count as available only after 3 s, so the receiver is still following the
    # rollout when SIGTERM arrives (a spec change outside the template: no new revision).
    control_plane.kubectl(
        "patch",
        "deployment",
        "api",
        "-n",
        release.allowed,
        "--type=merge",
        "-p",
        '{"spec": {"minReadySeconds": 3}}',
    )
    deployment = control_plane.kubectl_json("get", "deployment", RELEASE, "-n", release.namespace)
    pod = deployment["spec"]["template"]["spec"]
    (spec,) = pod["containers"]
    port = free_port()
    run = PodRun(control_plane, release, pod, spec, tmp_path, port)
    container = Container(
        image,
        args=spec["args"],
        flags=[*run.security_flags(), *run.tmpfs_flags(), "--network=host", "--passwd=false"],
        mounts=[*run.volume_mounts(), *run.service_account_mount()],
        env={**run.env(), **run.in_cluster_env()},
    )
    with container:
        url = f"http://127.0.0.1:{port}"
        eventually(
            lambda: is_ok(url + spec["readinessProbe"]["httpGet"]["path"]) or _exited(container),
            timeout=60,
            what="the container's /readyz",
            on_fail=container.logs,
        )
        assert container.running(), container.logs()
        assert is_ok(url + spec["livenessProbe"]["httpGet"]["path"])

        # The securityContext, as the kernel applies it to the receiver (the container's PID 1).
        security = {**pod["securityContext"], **spec["securityContext"]}
        status = container.proc_status()
        assert status["Uid"].split() == [str(security["runAsUser"])] * 4
        assert status["Gid"].split() == [str(security["runAsGroup"])] * 4
        assert security["runAsNonRoot"] and security["runAsUser"] != 0
        assert str(pod["securityContext"]["fsGroup"]) in status["Groups"].split()
        assert security["capabilities"]["drop"] == ["ALL"]
        for capabilities in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(status[capabilities], 16) == 0, (capabilities, status[capabilities])
        assert security["allowPrivilegeEscalation"] is False and status["NoNewPrivs"] == "1"
        assert security["seccompProfile"]["type"] == "RuntimeDefault" and status["Seccomp"] == "2"
        mounts = container.mounts_seen()
        assert security["readOnlyRootFilesystem"] and "ro" in mounts["/"][1]
        assert mounts["/tmp"][0] == "tmpfs" and "rw" in mounts["/tmp"][1]
        mount_points = {container.realpath(mount.target) for mount in container.mounts}
        for mount_point in mount_points:
            assert "ro" in mounts[mount_point][1], mount_point

        # The in-cluster path: no kubeconfig exists in the container; the API server saw the ServiceAccount.
        serving = [record for record in _log_records(container.logs()) if record["msg"] == "serving"]
        assert serving and serving[0]["cluster_identity"] == release.service_account, container.logs()

        alert = webhook_alert(release.allowed, "api", labels={"severity": "critical"})
        request_text(
            "POST",
            f"{url}/webhook",
            webhook_payload([alert], receiver=RELEASE),
            headers={"Authorization": f"Bearer {run.webhook_token}"},
        )
        # SIGTERM right after the webhook was accepted: the drain finishes the rollback, within the grace.
        grace = int(pod["terminationGracePeriodSeconds"])
        exit_code, took = container.stop(grace)
        log = container.logs()
        assert exit_code == 0, log
        assert took < grace, (took, log)
        assert image_of(control_plane, release.allowed, "api") == "registry.example/shop:v1", log
        # The rollout was followed to its end after SIGTERM, while draining.
        records = _log_records(log)
        draining = next(i for i, r in enumerate(records) if r["msg"].startswith("shutting down: no new work"))
        outcomes = [
            (i, r["outcome"])
            for i, r in enumerate(records)
            if r.get("target", "").startswith("deployment/api ") and "outcome" in r
        ]
        assert outcomes and outcomes[-1][0] > draining and outcomes[-1][1] == "succeeded", log
        # Argo Rollouts' CRD may be on the shared control plane while the chart does not grant it (default):
        # that is the one documented warning, and it must not hide a denied action.
        acting = [r for r in records if not r["msg"].startswith("cannot list Argo Rollouts")]
        acting_log = "\n".join(map(str, acting))
        assert "handed back" not in acting_log and "Forbidden" not in acting_log, log
        assert "Read-only file system" not in log, log

        # Nothing was written outside /tmp: the writable layer holds only what the runtime made for its
        # mounts (empty files and directories) and its /etc/mtab link.
        layer = container.writable_layer()
        made_by_runtime = {*RUNTIME_MOUNT_POINTS, *mount_points}
        made_by_runtime |= {str(parent) for path in made_by_runtime for parent in Path(path).parents}
        assert set(layer) <= made_by_runtime, sorted(set(layer) - made_by_runtime)
        assert all(size == 0 for kind, size in layer.values() if kind == "file"), layer
        assert {kind for path, (kind, _) in layer.items() if path != "/etc/mtab"} <= {"dir", "file"}, layer


class PodRun:
    """The pod spec of the installed chart, turned into what podman needs."""

    def __init__(
        self,
        cluster: ClusterAccess,
        release: Release,
        pod: Manifest,
        container: Manifest,
        workdir: Path,
        port: int,
    ) -> None:
        self.cluster = cluster
        self.release = release
        self.pod = pod
        self.container = container
        self.workdir = workdir
        self.port = port
        self.fs_group = int(pod["securityContext"]["fsGroup"])
        secret = cluster.kubectl_json("get", "secret", RELEASE, "-n", release.namespace)
        self.webhook_token = base64.b64decode(secret["data"]["token"]).decode()

    def security_flags(self) -> list[str]:
        """podman run flags for the pod's and the container's securityContext (the container's wins)."""
        known_pod = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
        known_container = {
            "runAsNonRoot",
            "runAsUser",
            "runAsGroup",
            "allowPrivilegeEscalation",
            "readOnlyRootFilesystem",
            "capabilities",
            "seccompProfile",
        }
        pod_context, context = self.pod["securityContext"], self.container["securityContext"]
        assert set(pod_context) <= known_pod, f"not applied by this test: {set(pod_context) - known_pod}"
        assert set(context) <= known_container, f"not applied by this test: {set(context) - known_container}"
        merged = {**pod_context, **context}
        flags = [f"--user={merged['runAsUser']}:{merged['runAsGroup']}", f"--group-add={self.fs_group}"]
        if merged.get("readOnlyRootFilesystem"):
            flags += ["--read-only", "--read-only-tmpfs=false"]  # only the pod's own emptyDir is writable
        if merged.get("allowPrivilegeEscalation") is False:
            flags.append("--security-opt=no-new-privileges")
        capabilities = merged.get("capabilities", {})
        flags += [f"--cap-drop={name.lower()}" for name in capabilities.get("drop", [])]
        flags += [f"--cap-add={name.lower()}" for name in capabilities.get("add", [])]
        seccomp = merged.get("seccompProfile", {}).get("type", "RuntimeDefault")
        assert seccomp == "RuntimeDefault", seccomp  # podman's default profile is the runtime's default
        return flags

    def _volume(self, name: str) -> Manifest:
        (volume,) = [volume for volume in self.pod["volumes"] if volume["name"] == name]
        return dict(volume)

    def tmpfs_flags(self) -> list[str]:
        """emptyDir volumes as tmpfs mounts of their size limit."""
        flags = []
        for mount in self.container["volumeMounts"]:
            empty_dir = self._volume(mount["name"]).get("emptyDir")
            if empty_dir is not None:
                size = re.fullmatch(r"(\d+)Mi", empty_dir["sizeLimit"])
                assert size, empty_dir
                flags.append(f"--tmpfs={mount['mountPath']}:rw,size={size.group(1)}m,mode=1777")
        return flags

    def volume_mounts(self) -> list[Mount]:
        """ConfigMap and Secret volumes written as the kubelet writes them, mounted where the pod mounts them.

        The routing config is the installed ConfigMap's, with the listen address moved to loopback. Secret
        files are root:fsGroup 0440, so the receiver reads them only through the pod's fsGroup.
        """
        mounts = []
        for mount in self.container["volumeMounts"]:
            volume = self._volume(mount["name"])
            if "emptyDir" in volume:
                continue
            if "configMap" in volume:
                source = self.cluster.kubectl_json(
                    "get", "configmap", volume["configMap"]["name"], "-n", self.release.namespace
                )
                files = {key: self._loopback(key, value) for key, value in source["data"].items()}
                mode, group = 0o644, 0
            elif "secret" in volume:
                source = self.cluster.kubectl_json(
                    "get", "secret", volume["secret"]["secretName"], "-n", self.release.namespace
                )
                items = volume["secret"].get("items") or [{"key": key, "path": key} for key in source["data"]]
                files = {
                    item["path"]: base64.b64decode(source["data"][item["key"]]).decode() for item in items
                }
                mode, group = 0o440, self.fs_group
            else:
                raise AssertionError(f"volume kind not applied by this test: {volume}")
            directory = self._write_files(mount["name"], files, mode=mode, group=group)
            sub_path = mount.get("subPath")
            mounts.append(
                Mount(directory / sub_path if sub_path else directory, mount["mountPath"], mount["readOnly"])
            )
        return mounts

    def service_account_mount(self) -> list[Mount]:
        """What automountServiceAccountToken puts in the pod: a TokenRequest token, the CA, the namespace."""
        assert self.pod["automountServiceAccountToken"] is True
        token = self.cluster.service_account_token(self.release.namespace, self.pod["serviceAccountName"])
        files = {
            "token": token,
            "ca.crt": Path(self.cluster.ca_file).read_text(),
            "namespace": self.release.namespace,
        }
        return [
            Mount(
                self._write_files("serviceaccount", files, mode=0o440, group=self.fs_group),
                SERVICE_ACCOUNT_DIR,
            )
        ]

    def in_cluster_env(self) -> dict[str, str]:
        """The Service environment the kubelet gives every container, for the API server's Service."""
        server = re.fullmatch(r"https://([\d.]+):(\d+)", self.cluster.server)
        assert server, self.cluster.server
        return {"KUBERNETES_SERVICE_HOST": server.group(1), "KUBERNETES_SERVICE_PORT": server.group(2)}

    def env(self) -> dict[str, str]:
        fields = {"metadata.namespace": self.release.namespace, "metadata.name": f"{RELEASE}-image-test"}
        env = {}
        for variable in self.container["env"]:
            if "value" in variable:
                env[variable["name"]] = variable["value"]
            else:
                env[variable["name"]] = fields[variable["valueFrom"]["fieldRef"]["fieldPath"]]
        return env

    def _loopback(self, key: str, text: str) -> str:
        if key != "config.yaml":
            return text
        config = copy.deepcopy(yaml.safe_load(text))
        assert config["server"]["listen"] == f"0.0.0.0:{self.container['ports'][0]['containerPort']}"
        config["server"]["listen"] = f"127.0.0.1:{self.port}"
        return yaml.safe_dump(config, sort_keys=False)

    def _write_files(self, name: str, files: dict[str, str], *, mode: int, group: int) -> Path:
        directory = self.workdir / name
        directory.mkdir()
        directory.chmod(0o755)
        for path, text in files.items():
            target = directory / path
            target.write_text(text)
            os.chown(target, 0, group)
            target.chmod(mode)
        return directory


def _exited(container: Container) -> bool:
    if container.running():
        return False
    raise AssertionError(f"the container exited before it was ready:\n{container.logs()}")


def _log_records(log: str) -> list[dict[str, Any]]:
    """The receiver's JSON log records, in order (podman's own lines are not JSON)."""
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def _rendered_deployment_container() -> Manifest:
    return dict(one(render(), "Deployment")["spec"]["template"]["spec"]["containers"][0])


def _locked_versions() -> dict[str, str]:
    frozen = subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--no-header"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", frozen, flags=re.MULTILINE)
    }


def _project_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (REPO_ROOT / "pyproject.toml").read_text(), flags=re.MULTILINE)
    assert match
    return match.group(1)
