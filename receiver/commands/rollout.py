"""`rollback-receiver history|undo|status`: kubectl's rollout commands on the receiver's own engine.

Output matches kubectl's where kubectl has output (stdout, stderr and exit code), so scripts written for
kubectl keep working; docs/kubectl-semantics.md lists what we add. For an Argo `rollout/NAME` the
reference is `kubectl argo rollouts undo|status` (docs/argo-rollouts.md). Exit codes: 0 done or skipped; 1
refused, failed, timed out, an API error or a bad flag value (as kubectl); 2 usage kubectl does not have
(a kind we do not handle, more than one resource).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from receiver.config import ConfigError, load_config
from receiver.core import guards
from receiver.core.goduration import GoDurationError, parse_duration
from receiver.core.goparse import GoSyntaxError, parse_bool, parse_int
from receiver.core.settings import Config
from receiver.core.workload import Revision, WorkloadKind, WorkloadRef
from receiver.k8s import argo, audit, controllerrevisions, deployments, errors, resources, rollout, workloads
from receiver.k8s.client import KubeClient, connect
from receiver.k8s.describe import describe_pod_template
from receiver.k8s.snapshots import Snapshot
from receiver.k8s.status import follow_rollout
from receiver.k8s.tabwriter import tabbed

_KINDS = {
    WorkloadKind.DEPLOYMENT: ("deployment", "deployments", "deploy"),
    WorkloadKind.STATEFULSET: ("statefulset", "statefulsets", "sts"),
    WorkloadKind.DAEMONSET: ("daemonset", "daemonsets", "ds"),
    WorkloadKind.ROLLOUT: ("rollout", "rollouts", "ro"),
}
_SUFFIXES = {kind: ("", ".apps", ".v1.apps") for kind in _KINDS} | {
    WorkloadKind.ROLLOUT: ("", ".argoproj.io", ".v1alpha1.argoproj.io")
}
_SPELLINGS = {
    spelling + suffix: kind
    for kind, names in _KINDS.items()
    for spelling in names
    for suffix in _SUFFIXES[kind]
}
_EXPECTED = "expected deployment, statefulset, daemonset or rollout"


@dataclass(frozen=True, slots=True)
class _OtherKind:
    """A kind kubectl knows but has no rollout support for: it GETs the object, then says so."""

    group_kind: str  # as kubectl prints it: "ReplicaSet.apps", "Pod"
    path: str  # collection path template, {ns} for the namespace


_OTHER_KINDS: dict[str, _OtherKind] = {}
for _names, _other in (
    (
        ("replicaset", "replicasets", "rs"),
        _OtherKind("ReplicaSet.apps", "/apis/apps/v1/namespaces/{ns}/replicasets"),
    ),
    (("pod", "pods", "po"), _OtherKind("Pod", "/api/v1/namespaces/{ns}/pods")),
    (
        ("replicationcontroller", "replicationcontrollers", "rc"),
        _OtherKind("ReplicationController", "/api/v1/namespaces/{ns}/replicationcontrollers"),
    ),
    (("job", "jobs"), _OtherKind("Job.batch", "/apis/batch/v1/namespaces/{ns}/jobs")),
    (("cronjob", "cronjobs", "cj"), _OtherKind("CronJob.batch", "/apis/batch/v1/namespaces/{ns}/cronjobs")),
):
    for _name in _names:
        _OTHER_KINDS[_name] = _other
        _OTHER_KINDS[_name + "." + _other.group_kind.partition(".")[2]] = _other

# What kubectl prints when it has no implementation of a command for a kind it knows.
_NOT_IMPLEMENTED = {
    "undo": 'no rollbacker has been implemented for "{gk}"',
    "history": 'no history viewer has been implemented for "{gk}"',
    "status": "no status viewer has been implemented for {gk}",
}


class UsageError(Exception):
    pass


class KubectlError(Exception):
    """An error kubectl reports as `error: <message>` with exit code 1."""


class FlagError(KubectlError):
    """A flag value pflag rejects: kubectl adds a pointer to `--help`."""

    def __init__(self, flag: str, value: str, reason: str, command: str) -> None:
        super().__init__(f'invalid argument "{value}" for "{flag}" flag: {reason}')
        self.command = command


def register(subparsers: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "resource", nargs="+", metavar="KIND/NAME", help="e.g. deployment/web or `deploy web`"
    )
    common.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    common.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)"
    )
    common.add_argument("--context", help="kubeconfig context")

    history = subparsers.add_parser(
        "history", parents=[common], help="rollout history, like `kubectl rollout history`"
    )
    history.add_argument("--revision", default="0", help="show one revision's pod template")
    history.set_defaults(run=run_history, command="history")

    undo = subparsers.add_parser("undo", parents=[common], help="guarded `kubectl rollout undo`")
    undo.add_argument("--to-revision", default="0", help="revision to roll back to (0 = previous)")
    undo.add_argument(
        "--dry-run",
        default="none",
        help="none, client (print the target template) or server (admission only, nothing stored)",
    )
    undo.add_argument("--wait", action="store_true", help="follow the rollout; non-zero exit if it fails")
    undo.add_argument(
        "--timeout", default="5m", help="with --wait: how long to follow (Go duration: 90s, 5m; 0 = forever)"
    )
    undo.add_argument("--reason", default="", help="recorded in kubernetes.io/change-cause")
    undo.add_argument(
        "--config",
        help="routing config whose namespace allow/deny list and global pause also apply "
        "(default: only system namespaces are denied)",
    )
    undo.add_argument(
        "--allow-gitops", action="store_true", help="roll back a workload owned by Argo CD or Flux anyway"
    )
    undo.set_defaults(run=run_undo, command="undo")

    status = subparsers.add_parser(
        "status", parents=[common], help="follow a rollout like `kubectl rollout status`"
    )
    status.add_argument(
        "-w",
        "--watch",
        nargs="?",
        const="true",
        default="true",
        help="watch until done (--watch=false: print the status once)",
    )
    status.add_argument("--revision", default="0", help="pin to this revision (Deployments)")
    status.add_argument(
        "--timeout",
        default="0s",
        help="give up after this long (Go duration; 0 = forever, kubectl's default)",
    )
    status.set_defaults(run=run_status, command="status")


def split_resource(words: Sequence[str]) -> tuple[str, str]:
    """kubectl's `TYPE/NAME` or `TYPE NAME`."""
    if len(words) == 1 and "/" in words[0]:
        kind_text, _, name = words[0].partition("/")
    elif len(words) == 2 and "/" not in words[0]:
        kind_text, name = words
    else:
        raise UsageError("expected exactly one resource: KIND/NAME or KIND NAME")
    if not name:
        raise UsageError("resource name may not be empty")
    return kind_text.lower(), name


def parse_kind_name(words: Sequence[str]) -> tuple[WorkloadKind, str]:
    """kubectl's `TYPE/NAME` or `TYPE NAME`, with kubectl's spellings of the three kinds."""
    kind_text, name = split_resource(words)
    kind = _SPELLINGS.get(kind_text)
    if kind is None:
        raise UsageError(f"unsupported kind {kind_text!r}: {_EXPECTED}")
    return kind, name


def _int_flag(args: argparse.Namespace, flag: str, value: str) -> int:
    """pflag's Int64 flag: `strconv.ParseInt(value, 0, 64)`."""
    try:
        return parse_int(value, 0)
    except GoSyntaxError as exc:
        raise FlagError(flag, value, str(exc), args.command) from None


def _duration_flag(args: argparse.Namespace, flag: str, value: str) -> float:
    try:
        return parse_duration(value)
    except GoDurationError as exc:
        raise FlagError(flag, value, str(exc), args.command) from None


def history_table(revisions: Sequence[Revision]) -> str:
    """kubectl's table through Go's tabwriter (0, 8, 2, ' '); the last of duplicate numbers wins."""
    causes = {r.number: (r.change_cause or "<none>") for r in revisions}
    rows = "".join(f"{n}\t{causes[n]}\n" for n in sorted(causes))
    return tabbed(f"REVISION\tCHANGE-CAUSE\n{rows}")


def _run(args: argparse.Namespace, body: Callable[[KubeClient, WorkloadRef], Awaitable[int]]) -> int:
    try:
        kind_text, name = split_resource(args.resource)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kind = _SPELLINGS.get(kind_text)

    async def main() -> int:
        kube = await connect(args.kubeconfig, args.context)
        try:
            namespace = args.namespace or kube.default_namespace
            if kind is None:
                return await _other_kind(kube, args.command, kind_text, namespace, name)
            return await body(kube, WorkloadRef(kind, namespace, name))
        finally:
            await kube.close()

    try:
        _validate_flags(args)
        if kind is None and kind_text not in _OTHER_KINDS:
            raise UsageError(f"unsupported kind {kind_text!r}: {_EXPECTED}")
        if kind is WorkloadKind.ROLLOUT and args.command == "status" and parse_int(args.revision, 0) > 0:
            raise UsageError("--revision pins Deployments; `kubectl argo rollouts status` has no such pin")
        return asyncio.run(main())
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FlagError as exc:
        print(f"error: {exc}\nSee 'rollback-receiver {exc.command} --help' for usage.", file=sys.stderr)
        return 1
    except KubectlError as exc:
        print(f"{_error_prefix(kind)}{exc}", file=sys.stderr)
        return 1
    except errors.UndoRefused as exc:
        print(f"{_error_prefix(kind)}{exc.message}", file=sys.stderr)
        return 1
    except errors.KubeError as exc:
        print(exc.describe() if exc.status else f"error: {exc}", file=sys.stderr)
        return 1


def _error_prefix(kind: WorkloadKind | None) -> str:
    """kubectl says `error: `; the Argo Rollouts plugin (cobra) says `Error: `."""
    return "Error: " if kind is WorkloadKind.ROLLOUT else "error: "


def _validate_flags(args: argparse.Namespace) -> None:
    """The flag checks kubectl makes before it talks to the server, in its order."""
    if args.command == "undo":
        _int_flag(args, "--to-revision", args.to_revision)
        if args.dry_run not in ("none", "client", "server"):
            raise KubectlError(
                f'Invalid dry-run value ({args.dry_run}). Must be "none", "server", or "client".'
            )
    elif args.command == "status":
        try:
            parse_bool(args.watch)
        except GoSyntaxError as exc:
            raise FlagError("-w, --watch", args.watch, str(exc), "status") from None
        revision = _int_flag(args, "--revision", args.revision)
        _duration_flag(args, "--timeout", args.timeout)
        if revision < 0:
            raise KubectlError(f"revision must be a positive integer: {revision}")
    elif args.command == "history":
        revision = _int_flag(args, "--revision", args.revision)
        if revision < 0:
            raise KubectlError(f"revision must be a positive integer: {revision}")


async def _other_kind(kube: KubeClient, command: str, kind_text: str, namespace: str, name: str) -> int:
    """kubectl GETs the object first (so a missing one is NotFound), then has no implementation for it."""
    other = _OTHER_KINDS[kind_text]
    plural = other.path.rpartition("/")[2]
    group = other.group_kind.partition(".")[2]
    what = f'{plural}{"." + group if group else ""} "{name}"'
    await kube.request("get", other.path.format(ns=namespace) + "/" + name, what=what)
    raise KubectlError(_NOT_IMPLEMENTED[command].format(gk=other.group_kind))


# ---------------------------------------------------------------------------------------------- history


def run_history(args: argparse.Namespace) -> int:
    async def body(kube: KubeClient, ref: WorkloadRef) -> int:
        revision = parse_int(args.revision, 0)
        snap = await rollout.snapshot(kube, ref)
        templates_by_revision, causes = _history_info(snap)
        name = resources.printed_name(ref)
        if not templates_by_revision:
            info = "No rollout history found."
        elif revision > 0:
            if revision not in templates_by_revision:
                raise KubectlError("unable to find the specified revision")
            info = describe_pod_template(templates_by_revision[revision])
        else:
            rows = "".join(f"{n}\t{causes[n] or '<none>'}\n" for n in sorted(causes))
            info = tabbed(f"REVISION\tCHANGE-CAUSE\n{rows}")
        with_revision = f"with revision #{revision}" if revision > 0 else ""
        sys.stdout.write(f"{name} {with_revision}\n{info}\n")
        return 0

    return _run(args, body)


def _history_info(snap: Snapshot) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """kubectl's `historyInfo`: revision -> pod template, and the change-cause it shows for it.

    Rollouts (the plugin has no history command): every owned ReplicaSet and its change-cause, which Argo
    copies from the Rollout's annotations. Deployments: every owned ReplicaSet in kubectl's order (the last
    of a duplicate number wins), the
    ReplicaSet's change-cause injected into its template, so a template's own change-cause annotation
    shows when the ReplicaSet has none. StatefulSets / DaemonSets: the ControllerRevision's own
    change-cause; the template is the revision's data applied over the live object (the data replaces
    the whole template).
    """
    by_revision: dict[int, dict[str, Any]] = {}
    causes: dict[int, str] = {}
    for obj in snap.history:
        meta = obj.get("metadata", {})
        annotations = meta.get("annotations") or {}
        if snap.ref.kind is WorkloadKind.ROLLOUT:
            rollout_number = argo.revision_number(obj)
            if rollout_number is None:  # the plugin's undo skips it too
                continue
            template = dict(obj.get("spec", {}).get("template") or {})
            by_revision[rollout_number] = template
            causes[rollout_number] = str(annotations.get(audit.CHANGE_CAUSE, ""))
        elif snap.ref.kind is WorkloadKind.DEPLOYMENT:
            try:
                number = deployments.revision_or_error(obj)
            except GoSyntaxError as exc:
                _klog_warning(
                    "history.go:114",
                    f"unable to get revision from replicaset {meta.get('name')} for deployment "
                    f"{snap.ref.name} in namespace {snap.ref.namespace}: {exc}",
                )
                continue
            template = dict(obj.get("spec", {}).get("template") or {})
            template_meta = dict(template.get("metadata") or {})
            template_annotations = dict(template_meta.get("annotations") or {})
            if annotations.get(audit.CHANGE_CAUSE):
                template_annotations[audit.CHANGE_CAUSE] = annotations[audit.CHANGE_CAUSE]
            template_meta["annotations"] = template_annotations
            template["metadata"] = template_meta
            by_revision[number] = template
            causes[number] = template_annotations.get(audit.CHANGE_CAUSE, "")
        else:
            number = controllerrevisions.revision_number(obj)
            template = dict((obj.get("data") or {}).get("spec", {}).get("template") or {})
            template.pop("$patch", None)
            by_revision[number] = template
            causes[number] = str(annotations.get(audit.CHANGE_CAUSE, ""))
    return by_revision, causes


def _klog_warning(where: str, message: str) -> None:
    """A warning in klog's format on stderr, where kubectl logs one (`W1201 21:26:23.985517  31576 ...`)."""
    now = datetime.now()
    print(f"W{now:%m%d %H:%M:%S.%f} {os.getpid():7d} {where}] {message}", file=sys.stderr)


# ------------------------------------------------------------------------------------------------- undo


_ATTEMPTS = 3  # a 409 from the precondition means "read again and decide again", a few times at most


def run_undo(args: argparse.Namespace) -> int:
    try:
        guard_config = load_config(Path(args.config)) if args.config else Config(source=Path("<defaults>"))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2

    async def body(kube: KubeClient, ref: WorkloadRef) -> int:
        to_revision = parse_int(args.to_revision, 0)
        timeout = _duration_flag(args, "--timeout", args.timeout) if args.wait else 0.0
        snap = await rollout.snapshot(kube, ref)
        is_rollout = ref.kind is WorkloadKind.ROLLOUT
        if _LAST_APPLIED in (snap.workload["metadata"].get("annotations") or {}) and not is_rollout:
            print(_last_applied_warning(ref), file=sys.stderr)
        name = resources.printed_name(ref)
        if args.dry_run == "client":
            sys.stdout.write(f"{name} {_client_dry_run(snap, to_revision)} (dry run)\n")
            return 0
        for attempt in range(1, _ATTEMPTS + 1):
            facts = workloads.facts_from(snap)
            plan = rollout.plan(snap, to_revision)  # kubectl's refusals happen here, before any guard
            refusal = guards.manual_undo_refusal(facts, guard_config, allow_gitops=args.allow_gitops)
            if refusal is not None:
                print(f"error: refused by guard: {refusal}", file=sys.stderr)
                return 1
            cause = args.reason or f"rollback-receiver undo by {kube.identity}"
            try:
                result = await rollout.undo(
                    kube,
                    ref,
                    to_revision=to_revision,
                    dry_run=args.dry_run == "server",
                    snapshot_read=snap,
                    audit=audit.audit_annotations(
                        actor=kube.identity,
                        at=datetime.now(UTC),
                        to_revision=plan.target_revision,
                        cause=f"{cause}: rolled back to revision {plan.target_revision}",
                    ),
                )
            except errors.Conflict:
                # The object moved between our read and our patch (often only the controller's status);
                # kubectl would simply have patched the newer object, so read it and decide again.
                if attempt == _ATTEMPTS:
                    raise
                snap = await rollout.snapshot(kube, ref)
                continue
            except (errors.Forbidden, errors.Invalid) as exc:
                if exc.verb != "patch":
                    raise
                raise KubectlError(f"failed restoring revision {to_revision}: {exc.message}") from None
            suffix = " (server dry run)" if result.dry_run else ""
            if is_rollout:  # the plugin's words: "rollout 'NAME' undo", or its skip message alone
                print(
                    f"{result.message if result.skipped else f'rollout {ref.name!r} undo'}{suffix}",
                    flush=True,
                )
            else:
                print(f"{name} {result.message}{suffix}", flush=True)
            if not args.wait or result.skipped or result.dry_run:
                return 0
            return await _follow(kube, ref, timeout, settle=True)
        raise AssertionError("unreachable")

    return _run(args, body)


def _client_dry_run(snap: Snapshot, to_revision: int) -> str:
    """kubectl's `--dry-run=client`: the target's template in describe format, nothing changed.

    It happens right after the target is found, so a paused Deployment gets it too and a template that
    already matches is still printed. StatefulSets / DaemonSets get a `will roll back to ` prefix.
    """
    if snap.ref.kind is WorkloadKind.ROLLOUT:
        _, rs = argo.choose_target(snap.ref.name, list(snap.history), to_revision)
        return describe_pod_template(rs.get("spec", {}).get("template") or {})
    if snap.ref.kind is WorkloadKind.DEPLOYMENT:
        ordered = deployments.kubectl_order(snap.workload, list(snap.history))
        _, target = deployments.choose_target(
            snap.workload["metadata"]["name"], deployments.numbered(ordered), to_revision
        )
        return describe_pod_template(target.get("spec", {}).get("template") or {})
    target = controllerrevisions.choose_target(list(snap.history), to_revision)
    template = dict((target.get("data") or {}).get("spec", {}).get("template") or {})
    template.pop("$patch", None)
    return "will roll back to " + describe_pod_template(template)


_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied_warning(ref: WorkloadRef) -> str:
    """kubectl >= 1.36 warns that undo leaves `kubectl apply`'s memory of the old spec behind."""
    return (
        f"Warning: resource {resources.PLURALS[ref.kind]}/{ref.name} was previously managed with "
        "'kubectl apply'. Rolling back will not update the kubectl.kubernetes.io/last-applied-configuration "
        "annotation, which may cause unexpected behavior on future 'kubectl apply' operations. "
        "Consider using 'kubectl apply' with your previous configuration file instead."
    )


# ----------------------------------------------------------------------------------------------- status


def run_status(args: argparse.Namespace) -> int:
    async def body(kube: KubeClient, ref: WorkloadRef) -> int:
        return await _follow(
            kube,
            ref,
            parse_duration(args.timeout),
            watch=parse_bool(args.watch),
            revision=parse_int(args.revision, 0),
        )

    return _run(args, body)


async def _follow(
    kube: KubeClient,
    ref: WorkloadRef,
    limit: float,
    *,
    watch: bool = True,
    revision: int = 0,
    settle: bool = False,
) -> int:
    outcome = await follow_rollout(
        kube,
        ref,
        timeout=limit,
        on_progress=lambda line: print(line, flush=True),
        watch=watch,
        revision=revision,
        settle=settle,
    )
    if outcome.result == "paused":  # only with `settle`: after our undo of a Rollout
        print(
            f"rollout '{ref.name}' is paused: promote it to finish "
            f"(kubectl argo rollouts promote {ref.name} -n {ref.namespace})",
            file=sys.stderr,
        )
        return 0
    if outcome.result in ("complete", "pending"):
        return 0
    message = outcome.message
    # API errors are already in kubectl's words ("Error from server (NotFound): ..."), without "error: "
    prefix = "" if message.startswith("Error from server") else _error_prefix(ref.kind)
    print(f"{prefix}{message}", file=sys.stderr)
    return 1
