"""`rollback-receiver check-config FILE...` and `rollback-receiver routes test --config FILE PAYLOAD.json`.

`check-config` exits like `amtool check-config`: 0 when every file is valid, 1 otherwise. `routes test`
shows, per alert of a webhook payload, the route taken, the target(s) and the decision the offline guards
make; with `--cluster` it also reads (never writes) the workloads and the shared guard state and shows the
decision every guard would make right now.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from receiver.config import ConfigError, advice, load_config
from receiver.core.alerts import Alert, PayloadError, decode_payload, parse_time
from receiver.core.decisions import Reason
from receiver.core.durations import format_duration
from receiver.core.guards import preview
from receiver.core.ledger import GuardState
from receiver.core.routing import TargetError, render_refs, render_selector, select_routes, target_cap
from receiver.core.settings import Config, Route
from receiver.k8s.errors import KubeError


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check-config",
        help="validate config files (exit 0 valid, 1 invalid)",
        description="Validate routing config files like amtool check-config. Exit code 0 if all are valid.",
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(run=run_check)

    routes = subparsers.add_parser("routes", help="inspect routing")
    routes_sub = routes.add_subparsers(dest="routes_command", required=True, metavar="COMMAND")
    test = routes_sub.add_parser(
        "test",
        help="show route, targets and decision for each alert of a webhook payload",
        description="Show, per alert of an Alertmanager webhook payload (JSON file, or - for stdin), the "
        "route matched, the target(s) and the decision of the offline guards. Does not touch the cluster "
        "unless --cluster is given; then it reads (never writes) the workloads and the guard state and "
        "shows the decision of every guard.",
    )
    test.add_argument("--config", required=True, type=Path, metavar="FILE")
    test.add_argument("payload", metavar="PAYLOAD.json")
    test.add_argument(
        "--at", "--now", dest="now", metavar="TIMESTAMP", help="evaluate at this RFC 3339 time (default: now)"
    )
    test.add_argument("-o", "--output", choices=("text", "json"), default="text")
    test.add_argument("--cluster", action="store_true", help="also evaluate the cluster guards (read-only)")
    test.add_argument(
        "--kubeconfig", help="with --cluster: kubeconfig file (default: in-cluster, $KUBECONFIG)"
    )
    test.add_argument("--context", help="with --cluster: kubeconfig context")
    test.set_defaults(run=run_routes_test)


def run_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout  # looked up per call: a default bound at import would outlive a redirect
    failed = False
    for path in args.files:
        try:
            config = load_config(path)
        except ConfigError as exc:
            failed = True
            print(f"Checking '{path}'  FAILED:", file=out)
            for problem in exc.problems:
                print(f"  {problem}", file=out)
            continue
        print(f"Checking '{path}'  SUCCESS", file=out)
        print("Found:", file=out)
        print(f" - {len(config.routes)} route(s): {', '.join(r.name for r in config.routes)}", file=out)
        print(f" - mode {config.mode}{', PAUSED' if config.paused else ''}", file=out)
        auth = [n for n, on in (("bearer", config.server.bearer), ("basic", config.server.basic)) if on]
        if config.server.tls and config.server.tls.client_ca_file:
            auth.append("mTLS")
        print(f" - auth: {', '.join(auth) or 'NONE (serve needs --insecure-no-auth)'}", file=out)
        print(f" - scope: {advice.scope(config)}", file=out)
        for warning in advice.warnings(config):
            print(f"WARNING: {warning}", file=out)
    return 1 if failed else 0


def run_routes_test(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        raw = sys.stdin.buffer.read() if args.payload == "-" else Path(args.payload).read_bytes()
        payload = decode_payload(raw, max_alerts=max(config.server.max_alerts_per_payload, 1_000_000))
        now = parse_time(args.now, "--now") if args.now else datetime.now(UTC)
    except OSError as exc:
        print(f"{args.payload}: {exc}", file=sys.stderr)
        return 1
    except PayloadError as exc:
        print(f"{args.payload}: {exc}", file=sys.stderr)
        return 1
    assert now is not None
    pairs = [
        (alert, route) for alert in payload.alerts for route in select_routes(alert, config.routes) or (None,)
    ]
    rows = [_explain(alert, route, config, now, payload.truncated_alerts) for alert, route in pairs]
    if args.cluster:
        try:
            asyncio.run(_add_cluster_decisions(args, pairs, rows, config, now, payload.truncated_alerts))
        except KubeError as exc:
            print(f"error: {exc.describe()}", file=sys.stderr)
            return 1
    if args.output == "json":
        json.dump(rows, out, indent=2)
        print(file=out)
    else:
        print(f"scope: {advice.scope(config)}", file=out)
        for row in rows:
            _print_row(row, out)
    return 0


def _explain(
    alert: Alert, route: Route | None, config: Config, now: datetime, truncated: int
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "alert": alert.name,
        "fingerprint": alert.fingerprint,
        "status": alert.status.value,
        "route": route.name if route else None,
    }
    if route is None:
        row.update(decision="skip", reason="no_route", message="matches no route")
        return row
    row["action"] = route.action.value
    row["mode"] = (route.mode or config.mode).value
    if route.guards.confirm_for:
        row["confirm_for"] = format_duration(route.guards.confirm_for)
    row["targets"] = _targets(alert, route, config)
    decision = preview(alert, route, config, now, truncated_alerts=truncated)
    row.update(decision=decision.verdict.value, reason=decision.reason, message=decision.message)
    if decision.not_before:
        row["not_before"] = decision.not_before.isoformat()
    return row


async def _add_cluster_decisions(
    args: argparse.Namespace,
    pairs: list[tuple[Alert, Route | None]],
    rows: list[dict[str, Any]],
    config: Config,
    now: datetime,
    truncated: int,
) -> None:
    """Every guard on fresh facts, for the alerts the offline guards let through. Reads only.

    A failure is reported in the row it concerns (a missing workload, an unreadable state ConfigMap); the
    other rows are still evaluated.
    """
    from receiver.core import guards
    from receiver.k8s import KubeError, StateStore, connect, read_facts
    from receiver.pipeline.stages.targets import resolve_targets

    kube = await connect(args.kubeconfig, args.context)
    try:
        try:
            state: GuardState | None = await StateStore.for_config(kube, config).read()
            state_problem = ""
        except KubeError as exc:
            state, state_problem = None, f"cannot read the guard state: {exc}"
        for (alert, route), row in zip(pairs, rows, strict=True):
            if route is None or route.target is None or row["decision"] not in ("rollback", "dry-run"):
                continue
            try:
                refs = await resolve_targets(kube, alert, route, config)
            except TargetError as exc:
                row["cluster"] = [_verdict(None, "skip", exc.reason, exc.message)]
                continue
            except KubeError as exc:
                row["cluster"] = [_verdict(None, "error", Reason.API_ERROR, exc.describe())]
                continue
            row["cluster"] = []
            for ref in refs:
                if state is None:
                    row["cluster"].append(_verdict(str(ref), "error", Reason.API_ERROR, state_problem))
                    continue
                try:
                    facts = await read_facts(kube, ref)
                except KubeError as exc:
                    row["cluster"].append(_verdict(str(ref), "error", Reason.API_ERROR, exc.describe()))
                    continue
                decision = guards.decide(alert, route, facts, state, config, now, truncated_alerts=truncated)
                row["cluster"].append(
                    _verdict(str(ref), decision.verdict.value, decision.reason, decision.message)
                )
    finally:
        await kube.close()


def _verdict(target: str | None, decision: str, reason: Reason, message: str) -> dict[str, Any]:
    return {"target": target, "decision": decision, "reason": reason.value, "message": message}


def _targets(alert: Alert, route: Route, config: Config) -> list[str]:
    spec = route.target
    if spec is None:
        return []
    try:
        if spec.selector is not None:
            namespace, selector = render_selector(alert, spec)
            cap = target_cap(spec, config.limits)
            return [
                f"{spec.kind.lower()} -l {selector} -n {namespace} (at most {cap}, resolved in the cluster)"
            ]
        return [str(ref) for ref in render_refs(alert, spec)]
    except TargetError as exc:
        return [f"unresolved: {exc.message}"]


def _print_row(row: dict[str, Any], out: TextIO) -> None:
    print(f"alert {row['alert'] or '?'} ({row['fingerprint']}, {row['status']})", file=out)
    print(f"  route:    {row['route'] or '-'}", file=out)
    if row["route"] is not None:
        extra = f", confirm_for {row['confirm_for']}" if "confirm_for" in row else ""
        print(f"  action:   {row['action']} ({row['mode']}{extra})", file=out)
        for target in row["targets"] or ["-"]:
            print(f"  target:   {target}", file=out)
    print(f"  decision: {row['decision']} ({row['reason']}): {row['message']}", file=out)
    if "not_before" in row:
        print(f"  not before: {row['not_before']}", file=out)
    for verdict in row.get("cluster", ()):
        where = verdict["target"] or "-"
        print(
            f"  cluster:  {where}: {verdict['decision']} ({verdict['reason']}): {verdict['message']}",
            file=out,
        )
