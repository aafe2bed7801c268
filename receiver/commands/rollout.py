"""`rollback-receiver history|undo|status`: kubectl's rollout commands on the receiver's own engine.

Output matches kubectl's where kubectl has output, so scripts written for kubectl keep working. Exit
codes for CI: 0 done or skipped; 1 refused, failed, timed out or an API error; 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from receiver.config import ConfigError, load_config
from receiver.core import guards
from receiver.core.settings import Config
from receiver.core.workload import Revision, WorkloadKind, WorkloadRef
from receiver.k8s import audit, errors, resources, rollout, workloads
from receiver.k8s.client import KubeClient, connect
from receiver.k8s.status import TIMED_OUT, follow_rollout

_KINDS = {
    WorkloadKind.DEPLOYMENT: ("deployment", "deployments", "deploy"),
    WorkloadKind.STATEFULSET: ("statefulset", "statefulsets", "sts"),
    WorkloadKind.DAEMONSET: ("daemonset", "daemonsets", "ds"),
}
_SPELLINGS = {
    spelling + suffix: kind
    for kind, names in _KINDS.items()
    for spelling in names
    for suffix in ("", ".apps", ".v1.apps")
}


class UsageError(Exception):
    pass


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
    history.add_argument("--revision", type=int, default=0, help="show one revision's pod template")
    history.set_defaults(run=run_history)

    undo = subparsers.add_parser("undo", parents=[common], help="guarded `kubectl rollout undo`")
    undo.add_argument("--to-revision", type=int, default=0, help="revision to roll back to (0 = previous)")
    undo.add_argument("--dry-run", choices=("none", "server"), default="none", help="server: admission only")
    undo.add_argument("--wait", action="store_true", help="follow the rollout; non-zero exit if it fails")
    undo.add_argument(
        "--timeout", default="5m", help="with --wait: how long to follow (e.g. 90s, 5m; 0 = forever)"
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
    undo.set_defaults(run=run_undo)

    status = subparsers.add_parser(
        "status", parents=[common], help="follow a rollout like `kubectl rollout status`"
    )
    status.add_argument(
        "--timeout", default="0s", help="give up after this long (0 = forever, kubectl's default)"
    )
    status.set_defaults(run=run_status)


def parse_kind_name(words: Sequence[str]) -> tuple[WorkloadKind, str]:
    """kubectl's `TYPE/NAME` or `TYPE NAME`, with kubectl's spellings of the three kinds."""
    if len(words) == 1 and "/" in words[0]:
        kind_text, _, name = words[0].partition("/")
    elif len(words) == 2 and "/" not in words[0]:
        kind_text, name = words
    else:
        raise UsageError("expected exactly one resource: KIND/NAME or KIND NAME")
    kind = _SPELLINGS.get(kind_text.lower())
    if kind is None:
        raise UsageError(f"unsupported kind {kind_text!r}: expected deployment, statefulset or daemonset")
    if not name:
        raise UsageError("resource name may not be empty")
    return kind, name


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Go duration syntax as kubectl takes it (`90s`, `5m`, `1h30m`); a bare number is seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"invalid duration {text!r} (examples: 30s, 5m, 1h)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


def history_table(revisions: Sequence[Revision]) -> str:
    """kubectl's table: tabwriter(minwidth 0, tabwidth 8, padding 2, ' '), last wins on duplicate numbers."""
    causes = {r.number: (r.change_cause or "<none>") for r in revisions}
    rows = [("REVISION", "CHANGE-CAUSE")] + [(str(n), causes[n]) for n in sorted(causes)]
    width = max(len(first) for first, _ in rows) + 2
    return "".join(f"{first.ljust(width)}{second}\n" for first, second in rows)


def _run(args: argparse.Namespace, body: Callable[[KubeClient, WorkloadRef], Awaitable[int]]) -> int:
    try:
        kind, name = parse_kind_name(args.resource)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        kube = await connect(args.kubeconfig, args.context)
        try:
            ref = WorkloadRef(kind, args.namespace or kube.default_namespace, name)
            return await body(kube, ref)
        finally:
            await kube.close()

    try:
        return asyncio.run(main())
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except errors.UndoRefused as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except errors.KubeError as exc:
        print(exc.describe() if exc.status else f"error: {exc}", file=sys.stderr)
        return 1


def run_history(args: argparse.Namespace) -> int:
    async def body(kube: KubeClient, ref: WorkloadRef) -> int:
        if args.revision < 0:
            raise UsageError(f"revision must be a positive integer: {args.revision}")
        snap = await rollout.snapshot(kube, ref)
        revisions = rollout.revisions_of(snap)
        name = resources.printed_name(ref)
        if args.revision > 0:
            chosen = [obj for r, obj in zip(revisions, _objects_by_revision(snap, revisions), strict=True)
                      if r.number == args.revision]  # fmt: skip
            if not chosen:
                raise errors.UndoRefused("unable to find the specified revision")
            sys.stdout.write(f"{name} with revision #{args.revision}\n{_template_yaml(snap, chosen[-1])}\n")
            return 0
        table = history_table(revisions) if revisions else "No rollout history found.\n"
        sys.stdout.write(f"{name} \n{table}\n")
        return 0

    return _run(args, body)


def _objects_by_revision(snap: rollout.Snapshot, revisions: Sequence[Revision]) -> list[dict[str, Any]]:
    by_name = {obj["metadata"]["name"]: obj for obj in snap.history}
    return [by_name[r.object_name] for r in revisions]


def _template_yaml(snap: rollout.Snapshot, obj: dict[str, Any]) -> str:
    """The revision's pod template as YAML (kubectl prints its `describe` rendering instead)."""
    if snap.ref.kind is WorkloadKind.DEPLOYMENT:
        template = obj.get("spec", {}).get("template") or {}
    else:
        template = dict((obj.get("data") or {}).get("spec", {}).get("template") or {})
        template.pop("$patch", None)
    text: str = yaml.safe_dump({"template": template}, sort_keys=False)
    return text


def run_undo(args: argparse.Namespace) -> int:
    try:
        guard_config = load_config(Path(args.config)) if args.config else Config(source=Path("<defaults>"))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2

    async def body(kube: KubeClient, ref: WorkloadRef) -> int:
        timeout = parse_duration(args.timeout)
        snap = await rollout.snapshot(kube, ref)
        if _LAST_APPLIED in (snap.workload["metadata"].get("annotations") or {}):
            print(_last_applied_warning(ref), file=sys.stderr)
        facts = workloads.facts_from(snap)
        plan = rollout.plan(snap, args.to_revision)  # kubectl's refusals happen here, before any guard
        refusal = guards.manual_undo_refusal(facts, guard_config, allow_gitops=args.allow_gitops)
        if refusal is not None:
            print(f"error: refused by guard: {refusal}", file=sys.stderr)
            return 1
        cause = args.reason or f"rollback-receiver undo by {kube.identity}"
        result = await rollout.undo(
            kube,
            ref,
            to_revision=args.to_revision,
            dry_run=args.dry_run == "server",
            decided_on=facts,
            audit=audit.audit_annotations(
                actor=kube.identity,
                at=datetime.now(UTC),
                to_revision=plan.target_revision,
                cause=f"{cause}: rolled back to revision {plan.target_revision}",
            ),
        )
        suffix = " (server dry run)" if result.dry_run else ""
        print(f"{resources.printed_name(ref)} {result.message}{suffix}", flush=True)
        if not args.wait or result.skipped or result.dry_run:
            return 0
        return await _follow(kube, ref, timeout)

    return _run(args, body)


_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied_warning(ref: WorkloadRef) -> str:
    """kubectl >= 1.36 warns that undo leaves `kubectl apply`'s memory of the old spec behind."""
    return (
        f"Warning: resource {resources.PLURALS[ref.kind]}/{ref.name} was previously managed with "
        "'kubectl apply'. Rolling back will not update the kubectl.kubernetes.io/last-applied-configuration "
        "annotation, which may cause unexpected behavior on future 'kubectl apply' operations. "
        "Consider using 'kubectl apply' with your previous configuration file instead."
    )


def run_status(args: argparse.Namespace) -> int:
    async def body(kube: KubeClient, ref: WorkloadRef) -> int:
        return await _follow(kube, ref, parse_duration(args.timeout))

    return _run(args, body)


async def _follow(kube: KubeClient, ref: WorkloadRef, limit: float) -> int:
    outcome = await follow_rollout(kube, ref, timeout=limit, on_progress=lambda line: print(line, flush=True))
    if outcome.result == "complete":
        return 0
    print(f"error: {outcome.message if outcome.result == 'failed' else TIMED_OUT}", file=sys.stderr)
    return 1
