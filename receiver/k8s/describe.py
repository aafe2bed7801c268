"""kubectl's `describe.DescribePodTemplate`, on pod-template JSON.

`kubectl rollout history --revision N` and `kubectl rollout undo --dry-run=client` print a revision's pod
template with it ("Pod Template:", Labels, Annotations, Containers with Image, Port, Environment,
Mounts, Volumes, ...). This is a line-for-line port of `k8s.io/kubectl/pkg/describe` (the parts a pod
template reaches), including Go's `%v` renderings where kubectl prints a Go value as is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from receiver.core.goparse import go_quote
from receiver.k8s.quantity import Quantity, QuantityError, parse_quantity
from receiver.k8s.resources import selector_string

Json = Mapping[str, Any]
_MAX_ANNOTATION_LEN = 140
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class _Writer:
    """`describe.PrefixWriter`: two spaces per level, terminal escapes neutralised like kubectl's."""

    def __init__(self, indent: int = 0, parts: list[str] | None = None) -> None:
        self.indent = indent
        self.parts: list[str] = [] if parts is None else parts

    def write(self, level: int, text: str) -> None:
        self.parts.append(("  " * (level + self.indent) + text).replace("\x1b", "^[").replace("\r", "\\r"))

    def write_line(self, text: str) -> None:
        self.parts.append((text + "\n").replace("\x1b", "^[").replace("\r", "\\r"))

    def nested(self, indent: int) -> _Writer:
        return _Writer(self.indent + indent, self.parts)

    def text(self) -> str:
        return "".join(self.parts)


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _s(value: Any) -> str:
    """A Go string field (absent is "")."""
    return "" if value is None else str(value)


def _b(value: Any) -> str:
    """A Go bool printed with %v / %t."""
    return "true" if value is True else "false"


def _n(value: Any) -> str:
    """A Go integer printed with %v / %d (absent is 0)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


def _list(values: Any) -> str:
    """%v of a []string: `[a b c]`."""
    return "[" + " ".join(_s(v) for v in values or ()) + "]"


def _ref(value: Any) -> str:
    """%v of a *LocalObjectReference: `<nil>` or `&{name}`."""
    return "<nil>" if value is None else "&{" + _s(_get(value, "name")) + "}"


def _string_map(value: Any) -> str:
    """%v of a map[string]string: `map[a:b c:d]`, keys sorted like fmt does."""
    items = value or {}
    return "map[" + " ".join(f"{k}:{_s(items[k])}" for k in sorted(items)) + "]"


def _quantity(value: Any) -> Quantity | None:
    if value is None:
        return None
    try:
        return parse_quantity(str(value).strip())
    except QuantityError:
        return None


def _string_or_none(text: str) -> str:
    return text if text else "<none>"


def describe_pod_template(template: Json | None) -> str:
    """`printTemplate`: DescribePodTemplate into a buffer (no tabwriter: tabs are printed as tabs)."""
    w = _Writer()
    w.write(0, "Pod Template:\n")
    if template is None:
        w.write(1, "<unset>")
        return w.text()
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    _labels_multiline(w, "  Labels", meta.get("labels") or {})
    if meta.get("annotations"):
        _annotations_multiline(w, "  Annotations", meta["annotations"])
    if spec.get("serviceAccountName"):
        w.write(1, f"Service Account:\t{spec['serviceAccountName']}\n")
    if spec.get("initContainers"):
        _containers(w, "Init Containers", spec["initContainers"], "  ")
    _containers(w, "Containers", spec.get("containers") or [], "  ")
    _volumes(w, spec.get("volumes") or [], "  ")
    _topology_spread(w, spec.get("topologySpreadConstraints") or [], "  ")
    if spec.get("priorityClassName"):
        w.write(1, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    _labels_multiline(w, "  Node-Selectors", spec.get("nodeSelector") or {})
    _tolerations_multiline(w, "  Tolerations", spec.get("tolerations") or [])
    if spec.get("schedulingGroup") is not None:
        w.write(0, "  SchedulingGroup:\n")
        w.write(1, f"PodGroupName:\t{_s(_get(spec, 'schedulingGroup', 'podGroupName'))}\n")
    return w.text()


def _labels_multiline(w: _Writer, title: str, labels: Mapping[str, Any], indent: str = "") -> None:
    w.write(0, f"{indent}{title}:\t")
    if not labels:
        w.write_line("<none>")
        return
    for i, key in enumerate(sorted(labels)):
        if i:
            w.write(0, indent)
            w.write(0, "\t")
        w.write(0, f"{key}={_s(labels[key])}\n")


def _annotations_multiline(w: _Writer, title: str, annotations: Mapping[str, Any]) -> None:
    w.write(0, f"{title}:\t")
    keys = sorted(k for k in annotations if k != _LAST_APPLIED)
    if not keys:
        w.write_line("<none>")
        return
    for i, key in enumerate(keys):
        if i:
            w.write(0, "\t")
        value = _s(annotations[key]).removesuffix("\n")
        # Go measures bytes here, not characters
        if len(value.encode()) + len(key.encode()) + 2 > _MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{key}:\n")
            for line in value.split("\n"):
                w.write(0, f"\t  {_shorten(line, _MAX_ANNOTATION_LEN - 2)}\n")
        else:
            w.write(0, f"{key}: {value}\n")


def _shorten(text: str, limit: int) -> str:
    data = text.encode()
    return data[:limit].decode(errors="replace") + "..." if len(data) > limit else text


def _go_sorted(items: Sequence[Any], key: Callable[[Any], Any]) -> list[Any]:
    """Go's sort.Slice / sort.Sort: insertion sort (stable) up to 12 elements, as pdqsort does."""
    return sorted(items, key=key)


def _tolerations_multiline(w: _Writer, title: str, tolerations: Sequence[Json]) -> None:
    w.write(0, f"{title}:\t")
    if not tolerations:
        w.write_line("<none>")
        return
    for i, tol in enumerate(_go_sorted(tolerations, lambda t: _s(t.get("key")))):
        if i:
            w.write(0, "")
            w.write(0, "\t")
        key, value, effect = _s(tol.get("key")), _s(tol.get("value")), _s(tol.get("effect"))
        w.write(0, key)
        if value:
            w.write(0, f"={value}")
        if effect:
            w.write(0, f":{effect}")
        if tol.get("operator") == "Exists" and not value:
            w.write(0, " op=Exists" if key or effect else "op=Exists")
        if tol.get("tolerationSeconds") is not None:
            w.write(0, f" for {_n(tol['tolerationSeconds'])}s")
        w.write(0, "\n")


def _topology_spread(w: _Writer, constraints: Sequence[Json], space: str) -> None:
    if not constraints:
        return
    w.write(0, f"{space}Topology Spread Constraints:\t")
    for i, tsc in enumerate(_go_sorted(constraints, lambda t: _s(t.get("topologyKey")))):
        if i:
            w.write(0, space)
            w.write(0, "\t")
        w.write(0, f"{_s(tsc.get('topologyKey'))}:")
        w.write(0, _s(tsc.get("whenUnsatisfiable")))
        w.write(0, f" when max skew {_n(tsc.get('maxSkew'))} is exceeded")
        if tsc.get("labelSelector") is not None:
            w.write(0, f" for selector {selector_string(tsc['labelSelector']) or '<none>'}")
        w.write(0, "\n")


def _containers(w: _Writer, label: str, containers: Sequence[Json], space: str) -> None:
    w.write(0, f"{space}{label}:{'' if containers else ' <none>'}\n")
    for container in containers:
        _container_basic_info(w, container, space)
        _container_command(w, container)
        _resources(w, container.get("resources") or {}, 2)
        _container_probes(w, container)
        if container.get("envFrom"):
            _container_env_from(w, container)
        _container_env(w, container)
        _container_volumes(w, container)


def _ports(ports: Sequence[Json], field: str) -> str:
    out = []
    for port in ports:
        text = f"{_n(port.get(field))}/{_s(port.get('protocol'))}"
        if port.get("name"):
            text = f"{text} ({port['name']})"
        out.append(text)
    return ", ".join(out)


def _container_basic_info(w: _Writer, container: Json, space: str) -> None:
    w.write(1, f"{' ' if space else ''}{_s(container.get('name'))}:\n")
    w.write(2, f"Image:\t{_s(container.get('image'))}\n")
    ports = container.get("ports") or []
    text = _ports(ports, "containerPort")
    w.write(2, f"Ports:\t{text}\n" if "," in text else f"Port:\t{_string_or_none(text)}\n")
    text = _ports(ports, "hostPort")
    w.write(2, f"Host Ports:\t{text}\n" if "," in text else f"Host Port:\t{_string_or_none(text)}\n")
    seccomp = _get(container, "securityContext", "seccompProfile")
    if seccomp is not None:
        w.write(2, f"SeccompProfile:\t{_s(seccomp.get('type'))}\n")
        if seccomp.get("type") == "Localhost":
            w.write(3, f"LocalhostProfile:\t{_s(seccomp.get('localhostProfile'))}\n")


def _container_command(w: _Writer, container: Json) -> None:
    for field, title in (("command", "Command"), ("args", "Args")):
        if container.get(field):
            w.write(2, f"{title}:\n")
            for item in container[field]:
                for line in _s(item).split("\n"):
                    w.write(3, f"{line}\n")


def _resources(w: _Writer, resources: Json, level: int) -> None:
    for field, title in (("limits", "Limits"), ("requests", "Requests")):
        values = resources.get(field) or {}
        if values:
            w.write(level, f"{title}:\n")
        for name in sorted(values):
            quantity = _quantity(values[name])
            w.write(level + 1, f"{name}:\t{quantity if quantity is not None else _s(values[name])}\n")


def _int_or_string(value: Any) -> str:
    return "" if value is None else str(value) if not isinstance(value, bool) else ""


def _http_url(action: Json) -> str:
    """`url.URL{Scheme, Host: net.JoinHostPort(host, port), Path}.String()` as Go builds it."""
    scheme = _s(action.get("scheme")).lower()
    host, port = _s(action.get("host")), _int_or_string(action.get("port"))
    if port:
        host = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    path = quote(_s(action.get("path")), safe="/;,:=@&+$")  # Go's encodePath keeps exactly these
    out = f"{scheme}:" if scheme else ""
    if scheme or host:
        if host or path:
            out += "//"
        out += quote(host, safe="!$&'()*+,;=:[]<>\"%-._~") if host else ""
    if path and not path.startswith("/") and host:
        out += "/"
    return out + path


def _probe(probe: Json) -> str:
    attrs = (
        f"delay={_n(probe.get('initialDelaySeconds'))}s timeout={_n(probe.get('timeoutSeconds'))}s "
        f"period={_n(probe.get('periodSeconds'))}s #success={_n(probe.get('successThreshold'))} "
        f"#failure={_n(probe.get('failureThreshold'))}"
    )
    if probe.get("exec") is not None:
        return f"exec {_list(_get(probe, 'exec', 'command'))} {attrs}"
    if probe.get("httpGet") is not None:
        return f"http-get {_http_url(probe['httpGet'])} {attrs}"
    if probe.get("tcpSocket") is not None:
        tcp = probe["tcpSocket"]
        return f"tcp-socket {_s(tcp.get('host'))}:{_int_or_string(tcp.get('port'))} {attrs}"
    if probe.get("grpc") is not None:
        grpc = probe["grpc"]
        return f"grpc <pod>:{_n(grpc.get('port'))} {_s(grpc.get('service'))} {attrs}"
    return f"unknown {attrs}"


def _container_probes(w: _Writer, container: Json) -> None:
    probes = (("livenessProbe", "Liveness"), ("readinessProbe", "Readiness"), ("startupProbe", "Startup"))
    for field, title in probes:
        if container.get(field) is not None:
            w.write(2, f"{title}:\t{_probe(container[field])}\n")


def _container_env_from(w: _Writer, container: Json) -> None:
    w.write(2, "Environment Variables from:\n")
    for source in container.get("envFrom") or []:
        kind, name, optional = "", "", False
        if source.get("configMapRef") is not None:
            kind, name = "ConfigMap", _s(_get(source, "configMapRef", "name"))
            optional = _get(source, "configMapRef", "optional") is True
        elif source.get("secretRef") is not None:
            kind, name = "Secret", _s(_get(source, "secretRef", "name"))
            optional = _get(source, "secretRef", "optional") is True
        prefix = _s(source.get("prefix"))
        kind_text = f"{kind} with prefix '{prefix}'" if prefix else kind
        w.write(3, f"{name}\t{kind_text}\tOptional: {_b(optional)}\n")


def _container_env(w: _Writer, container: Json) -> None:
    env = container.get("env") or []
    w.write(2, f"Environment:{'' if env else chr(9) + '<none>'}\n")
    for var in env:
        name, source = _s(var.get("name")), var.get("valueFrom")
        if source is None:
            for i, line in enumerate(_s(var.get("value")).split("\n")):
                w.write(3, f"{name}:\t{line}\n" if i == 0 else f"\t{line}\n")
            continue
        if source.get("fieldRef") is not None:
            ref = source["fieldRef"]
            w.write(3, f"{name}:\t ({_s(ref.get('apiVersion'))}:{_s(ref.get('fieldPath'))})\n")
        elif source.get("resourceFieldRef") is not None:
            ref = source["resourceFieldRef"]
            resource = _s(ref.get("resource"))
            value = _resource_value(ref, container)
            if value == "0" and resource in ("limits.cpu", "limits.memory"):
                value = "node allocatable"
            w.write(3, f"{name}:\t{value} ({resource})\n")
        elif source.get("secretKeyRef") is not None:
            ref = source["secretKeyRef"]
            w.write(
                3,
                f"{name}:\t<set to the key '{_s(ref.get('key'))}' in secret '{_s(ref.get('name'))}'>\t"
                f"Optional: {_b(ref.get('optional') is True)}\n",
            )
        elif source.get("configMapKeyRef") is not None:
            ref = source["configMapKeyRef"]
            w.write(
                3,
                f"{name}:\t<set to the key '{_s(ref.get('key'))}' of config map '{_s(ref.get('name'))}'>\t"
                f"Optional: {_b(ref.get('optional') is True)}\n",
            )


def _resource_value(ref: Json, container: Json) -> str:
    """`ExtractContainerResourceValue`: the value in units of the divisor, rounded up ("" if unknown)."""
    divisor = _quantity(ref.get("divisor"))
    if divisor is None or divisor.nanos == 0:
        divisor = parse_quantity("1")
    resource = _s(ref.get("resource"))
    section, _, name = resource.partition(".")
    known = {"cpu", "memory", "ephemeral-storage"}
    if section not in ("limits", "requests") or not (name in known or name.startswith("hugepages-")):
        return ""
    quantity = _quantity(_get(container, "resources", section, name)) or parse_quantity("0")
    if name == "cpu":
        numerator, denominator = _scaled(quantity, -3), _scaled(divisor, -3)
    else:
        numerator, denominator = _scaled(quantity, 0), _scaled(divisor, 0)
    try:
        result = math.ceil(float(numerator) / float(denominator))
    except (ZeroDivisionError, OverflowError, ValueError):
        return str(-(2**63))  # Go converts ±Inf/NaN to the minimum int64 on amd64
    return str(result)


def _scaled(quantity: Quantity, scale: int) -> int:
    """`Quantity.ScaledValue(scale)`: rounded up (away from zero) to a whole number of 10^scale."""
    unit = 10 ** (scale + 9)
    magnitude: int = -(-abs(quantity.nanos) // unit)
    return magnitude if quantity.nanos >= 0 else -magnitude


def _container_volumes(w: _Writer, container: Json) -> None:
    mounts = container.get("volumeMounts") or []
    none = "" if mounts else "\t<none>"
    w.write(2, f"Mounts:{none}\n")
    for mount in _go_sorted(mounts, lambda m: _s(m.get("mountPath"))):
        flags = ["ro" if mount.get("readOnly") is True else "rw"]
        if mount.get("subPath"):
            flags.append(f"path={go_quote(_s(mount['subPath']))}")
        w.write(3, f"{_s(mount.get('mountPath'))} from {_s(mount.get('name'))} ({','.join(flags)})\n")
    devices = container.get("volumeDevices") or []
    if devices:
        w.write(2, f"Devices:{none}\n")
        for device in _go_sorted(devices, lambda d: _s(d.get("devicePath"))):
            w.write(3, f"{_s(device.get('devicePath'))} from {_s(device.get('name'))}\n")


def _lines(w: _Writer, head: str, fields: Sequence[tuple[str, str]]) -> None:
    """One `w.Write(LEVEL_2, "Type:\\t...\\n" + "    Field:\\t%v\\n" ...)` call."""
    w.write(2, f"Type:\t{head}\n" + "".join(f"    {name}:\t{value}\n" for name, value in fields))


def _volumes(w: _Writer, volumes: Sequence[Json], space: str) -> None:
    if not volumes:
        w.write(0, f"{space}Volumes:\t<none>\n")
        return
    w.write(0, f"{space}Volumes:\n")
    for volume in volumes:
        w.write(1, f"{' ' if space else ''}{_s(volume.get('name'))}:\n")
        for field, printer in _VOLUME_PRINTERS:
            if volume.get(field) is not None:
                printer(w, volume[field])
                break
        else:
            w.write(1, "<unknown>\n")


def _host_path(w: _Writer, v: Json) -> None:
    kind = _s(v.get("type")) if v.get("type") is not None else "<none>"
    _lines(w, "HostPath (bare host directory volume)", [("Path", _s(v.get("path"))), ("HostPathType", kind)])


def _empty_dir(w: _Writer, v: Json) -> None:
    size = _quantity(v.get("sizeLimit"))
    limit = str(size) if size is not None and size.nanos > 0 else "<unset>"
    _lines(
        w,
        "EmptyDir (a temporary directory that shares a pod's lifetime)",
        [("Medium", _s(v.get("medium"))), ("SizeLimit", limit)],
    )


def _disk(head: str, id_field: str, id_name: str) -> Callable[[_Writer, Json], None]:
    def printer(w: _Writer, v: Json) -> None:
        _lines(
            w,
            head,
            [
                (id_name, _s(v.get(id_field))),
                ("FSType", _s(v.get("fsType"))),
                ("Partition", _n(v.get("partition"))),
                ("ReadOnly", _b(v.get("readOnly"))),
            ],
        )

    return printer


def _simple(head: str, *fields: tuple[str, str, Callable[[Any], str]]) -> Callable[[_Writer, Json], None]:
    def printer(w: _Writer, v: Json) -> None:
        _lines(w, head, [(name, render(v.get(key))) for name, key, render in fields])

    return printer


def _projected(w: _Writer, v: Json) -> None:
    w.write(2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n")
    for source in v.get("sources") or []:
        if source.get("secret") is not None:
            optional = _get(source, "secret", "optional") is True
            w.write(2, f"SecretName:\t{_s(_get(source, 'secret', 'name'))}\n    Optional:\t{_b(optional)}\n")
        elif source.get("downwardAPI") is not None:
            w.write(2, "DownwardAPI:\ttrue\n")
        elif source.get("configMap") is not None:
            optional = _get(source, "configMap", "optional") is True
            w.write(
                2, f"ConfigMapName:\t{_s(_get(source, 'configMap', 'name'))}\n    Optional:\t{_b(optional)}\n"
            )
        elif source.get("serviceAccountToken") is not None:
            seconds = _n(_get(source, "serviceAccountToken", "expirationSeconds"))
            w.write(2, f"TokenExpirationSeconds:\t{seconds}\n")


def _iscsi(w: _Writer, v: Json) -> None:
    initiator = _s(v.get("initiatorName")) if v.get("initiatorName") is not None else "<none>"
    head = (
        "ISCSI (an ISCSI Disk resource that is attached to a kubelet's host machine "
        "and then exposed to the pod)"
    )
    w.write(
        2,
        f"Type:\t{head}\n"
        f"    TargetPortal:\t{_s(v.get('targetPortal'))}\n"
        f"    IQN:\t{_s(v.get('iqn'))}\n"
        f"    Lun:\t{_n(v.get('lun'))}\n"
        f"    ISCSIInterface\t{_s(v.get('iscsiInterface'))}\n"
        f"    FSType:\t{_s(v.get('fsType'))}\n"
        f"    ReadOnly:\t{_b(v.get('readOnly'))}\n"
        f"    Portals:\t{_list(v.get('portals'))}\n"
        f"    DiscoveryCHAPAuth:\t{_b(v.get('chapAuthDiscovery'))}\n"
        f"    SessionCHAPAuth:\t{_b(v.get('chapAuthSession'))}\n"
        f"    SecretRef:\t{_ref(v.get('secretRef'))}\n"
        f"    InitiatorName:\t{initiator}\n",
    )


def _ephemeral(w: _Writer, v: Json) -> None:
    w.write(
        2,
        "Type:\tEphemeralVolume (an inline specification for a volume "
        "that gets created and deleted with the pod)\n",
    )
    claim = v.get("volumeClaimTemplate")
    if claim is None:
        return
    nested = w.nested(2)
    meta, spec = claim.get("metadata") or {}, claim.get("spec") or {}
    annotations = meta.get("annotations") or {}
    storage_class = annotations.get("volume.beta.kubernetes.io/storage-class")
    if storage_class is None:
        storage_class = _s(spec.get("storageClassName"))
    nested.write(0, f"StorageClass:\t{storage_class}\n")
    nested.write(0, f"Volume:\t{_s(spec.get('volumeName'))}\n")
    _labels_multiline(nested, "Labels", meta.get("labels") or {})
    _annotations_multiline(nested, "Annotations", annotations)
    nested.write(0, f"Capacity:\t{'0' if spec.get('volumeName') else ''}\n")
    nested.write(0, "Access Modes:\t\n")
    if spec.get("volumeMode") is not None:
        nested.write(0, f"VolumeMode:\t{_s(spec['volumeMode'])}\n")
    source = spec.get("dataSource")
    if source is not None:
        nested.write(0, "DataSource:\n")
        if source.get("apiGroup") is not None:
            nested.write(1, f"APIGroup:\t{_s(source['apiGroup'])}\n")
        nested.write(1, f"Kind:\t{_s(source.get('kind'))}\n")
        nested.write(1, f"Name:\t{_s(source.get('name'))}\n")


def _downward_api(w: _Writer, v: Json) -> None:
    w.write(2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n")
    for item in v.get("items") or []:
        if item.get("fieldRef") is not None:
            w.write(3, f"{_s(_get(item, 'fieldRef', 'fieldPath'))} -> {_s(item.get('path'))}\n")
        if item.get("resourceFieldRef") is not None:
            w.write(3, f"{_s(_get(item, 'resourceFieldRef', 'resource'))} -> {_s(item.get('path'))}\n")


def _azure_disk(w: _Writer, v: Json) -> None:
    w.write(
        2,
        "Type:\tAzureDisk (an Azure Data Disk mount on the host and bind mount to the pod)\n"
        f"    DiskName:\t{_s(v.get('diskName'))}\n"
        f"    DiskURI:\t{_s(v.get('diskURI'))}\n"
        f"    Kind: \t{_s(v.get('kind'))}\n"
        f"    FSType:\t{_s(v.get('fsType'))}\n"
        f"    CachingMode:\t{_s(v.get('cachingMode'))}\n"
        f"    ReadOnly:\t{_b(v.get('readOnly'))}\n",
    )


def _fc(w: _Writer, v: Json) -> None:
    lun = _n(v.get("lun")) if v.get("lun") is not None else "<none>"
    _lines(
        w,
        "FC (a Fibre Channel disk)",
        [
            ("TargetWWNs", ", ".join(_s(x) for x in v.get("targetWWNs") or [])),
            ("LUN", lun),
            ("FSType", _s(v.get("fsType"))),
            ("ReadOnly", _b(v.get("readOnly"))),
        ],
    )


def _csi(w: _Writer, v: Json) -> None:
    fs_type = _s(v.get("fsType")) if v.get("fsType") is not None else ""
    _lines(
        w,
        "CSI (a Container Storage Interface (CSI) volume source)",
        [("Driver", _s(v.get("driver"))), ("FSType", fs_type), ("ReadOnly", _b(v.get("readOnly") is True))],
    )
    attributes = v.get("volumeAttributes") or {}
    w.write(2, "VolumeAttributes:\t")
    if not attributes:
        w.write_line("<none>")
        return
    for i, key in enumerate(sorted(attributes)):
        if i:
            w.write(2, "")
            w.write(2, "\t")
        line = f"{key}={_s(attributes[key])}"
        data = line.encode()
        if len(data) > _MAX_ANNOTATION_LEN:
            w.write(2, f"{data[:_MAX_ANNOTATION_LEN].decode(errors='replace')}...\n")
        else:
            w.write(2, f"{line}\n")


_VOLUME_PRINTERS: list[tuple[str, Callable[[_Writer, Json], None]]] = [
    ("hostPath", _host_path),
    ("emptyDir", _empty_dir),
    (
        "gcePersistentDisk",
        _disk("GCEPersistentDisk (a Persistent Disk resource in Google Compute Engine)", "pdName", "PDName"),
    ),
    (
        "awsElasticBlockStore",
        _disk("AWSElasticBlockStore (a Persistent Disk resource in AWS)", "volumeID", "VolumeID"),
    ),
    (
        "gitRepo",
        _simple(
            "GitRepo (a volume that is pulled from git when the pod is created)",
            ("Repository", "repository", _s),
            ("Revision", "revision", _s),
        ),
    ),
    (
        "secret",
        _simple(
            "Secret (a volume populated by a Secret)",
            ("SecretName", "secretName", _s),
            ("Optional", "optional", lambda x: _b(x is True)),
        ),
    ),
    (
        "configMap",
        _simple(
            "ConfigMap (a volume populated by a ConfigMap)",
            ("Name", "name", _s),
            ("Optional", "optional", lambda x: _b(x is True)),
        ),
    ),
    (
        "nfs",
        _simple(
            "NFS (an NFS mount that lasts the lifetime of a pod)",
            ("Server", "server", _s),
            ("Path", "path", _s),
            ("ReadOnly", "readOnly", _b),
        ),
    ),
    ("iscsi", _iscsi),
    (
        "glusterfs",
        _simple(
            "Glusterfs (a Glusterfs mount on the host that shares a pod's lifetime)",
            ("EndpointsName", "endpoints", _s),
            ("Path", "path", _s),
            ("ReadOnly", "readOnly", _b),
        ),
    ),
    (
        "persistentVolumeClaim",
        _simple(
            "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)",
            ("ClaimName", "claimName", _s),
            ("ReadOnly", "readOnly", _b),
        ),
    ),
    ("ephemeral", _ephemeral),
    (
        "rbd",
        _simple(
            "RBD (a Rados Block Device mount on the host that shares a pod's lifetime)",
            ("CephMonitors", "monitors", _list),
            ("RBDImage", "image", _s),
            ("FSType", "fsType", _s),
            ("RBDPool", "pool", _s),
            ("RadosUser", "user", _s),
            ("Keyring", "keyring", _s),
            ("SecretRef", "secretRef", _ref),
            ("ReadOnly", "readOnly", _b),
        ),
    ),
    (
        "quobyte",
        _simple(
            "Quobyte (a Quobyte mount on the host that shares a pod's lifetime)",
            ("Registry", "registry", _s),
            ("Volume", "volume", _s),
            ("ReadOnly", "readOnly", _b),
        ),
    ),
    ("downwardAPI", _downward_api),
    ("azureDisk", _azure_disk),
    (
        "vsphereVolume",
        _simple(
            "vSphereVolume (a Persistent Disk resource in vSphere)",
            ("VolumePath", "volumePath", _s),
            ("FSType", "fsType", _s),
            ("StoragePolicyName", "storagePolicyName", _s),
        ),
    ),
    (
        "cinder",
        _simple(
            "Cinder (a Persistent Disk resource in OpenStack)",
            ("VolumeID", "volumeID", _s),
            ("FSType", "fsType", _s),
            ("ReadOnly", "readOnly", _b),
            ("SecretRef", "secretRef", _ref),
        ),
    ),
    (
        "photonPersistentDisk",
        _simple(
            "PhotonPersistentDisk (a Persistent Disk resource in photon platform)",
            ("PdID", "pdID", _s),
            ("FSType", "fsType", _s),
        ),
    ),
    (
        "portworxVolume",
        _simple("PortworxVolume (a Portworx Volume resource)", ("VolumeID", "volumeID", _s)),
    ),
    (
        "scaleIO",
        _simple(
            "ScaleIO (a persistent volume backed by a block device in ScaleIO)",
            ("Gateway", "gateway", _s),
            ("System", "system", _s),
            ("Protection Domain", "protectionDomain", _s),
            ("Storage Pool", "storagePool", _s),
            ("Storage Mode", "storageMode", _s),
            ("VolumeName", "volumeName", _s),
            ("FSType", "fsType", _s),
            ("ReadOnly", "readOnly", _b),
        ),
    ),
    (
        "cephfs",
        _simple(
            "CephFS (a CephFS mount on the host that shares a pod's lifetime)",
            ("Monitors", "monitors", _list),
            ("Path", "path", _s),
            ("User", "user", _s),
            ("SecretFile", "secretFile", _s),
            ("SecretRef", "secretRef", _ref),
            ("ReadOnly", "readOnly", _b),
        ),
    ),
    (
        "storageos",
        _simple(
            "StorageOS (a StorageOS Persistent Disk resource)",
            ("VolumeName", "volumeName", _s),
            ("VolumeNamespace", "volumeNamespace", _s),
            ("FSType", "fsType", _s),
            ("ReadOnly", "readOnly", _b),
        ),
    ),
    ("fc", _fc),
    (
        "azureFile",
        _simple(
            "AzureFile (an Azure File Service mount on the host and bind mount to the pod)",
            ("SecretName", "secretName", _s),
            ("ShareName", "shareName", _s),
            ("ReadOnly", "readOnly", _b),
        ),
    ),
    (
        "flexVolume",
        _simple(
            "FlexVolume (a generic volume resource that is provisioned/attached using an exec based plugin)",
            ("Driver", "driver", _s),
            ("FSType", "fsType", _s),
            ("SecretRef", "secretRef", _ref),
            ("ReadOnly", "readOnly", _b),
            ("Options", "options", _string_map),
        ),
    ),
    (
        "flocker",
        _simple(
            "Flocker (a Flocker volume mounted by the Flocker agent)",
            ("DatasetName", "datasetName", _s),
            ("DatasetUUID", "datasetUUID", _s),
        ),
    ),
    ("projected", _projected),
    ("csi", _csi),
    (
        "image",
        _simple(
            "Image (a container image or OCI artifact)",
            ("Reference", "reference", _s),
            ("PullPolicy", "pullPolicy", _s),
        ),
    ),
]
