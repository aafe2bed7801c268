"""`rollback-receiver breaker status|reset --config FILE`: the circuit breaker in the cluster state.

The breaker is shared by every replica (it lives in the state ConfigMap), so it is read and reset there,
not through one replica's HTTP endpoint. Exit codes: 0 ok (status: breaker closed), 1 error,
3 status: breaker open (so a script can test it).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from typing import Any

from receiver.config import ConfigError, load_config
from receiver.core.settings import Config
from receiver.core.timefmt import utc_now
from receiver.k8s import KubeError, connect
from receiver.pipeline.ledger import Ledger, breaker_summary

EXIT_OPEN = 3


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "breaker",
        help="show or reset the circuit breaker (shared by all replicas)",
        description="Show or reset the circuit breaker kept in the cluster state ConfigMap.",
    )
    parser.add_argument("action", choices=("status", "reset"))
    parser.add_argument(
        "--config", required=True, help="the receiver's config file (names the state ConfigMap)"
    )
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--actor", help="who resets it, for the audit trail (default: your user name)")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        summary = asyncio.run(_run(args, config))
    except KubeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(summary, indent=2))
    else:
        print(_text(summary))
    if args.action == "status" and summary["open"]:
        return EXIT_OPEN
    return 0


async def _run(args: argparse.Namespace, config: Config) -> dict[str, object]:
    kube = await connect(args.kubeconfig, args.context)
    try:
        actor = f"cli:{args.actor or getpass.getuser()} via {kube.identity}"
        ledger = Ledger(kube, config, holder=actor, clock=utc_now)
        if args.action == "status":
            return breaker_summary(await ledger.read())
        before, after = await ledger.reset_breaker(actor)
        return breaker_summary(after, was_open=before.breaker.open)
    finally:
        await kube.close()


def _text(summary: dict[str, object]) -> str:
    if summary.get("was_open") is not None:
        head = "circuit breaker reset" + (
            " (it was open)" if summary["was_open"] else " (it was already closed)"
        )
        return f"{head}: closed by {summary['reset_by']} at {summary['reset_at']}"
    if summary["open"]:
        return (
            f"circuit breaker OPEN since {summary['opened_at']}: {summary['reason']}\n"
            "no rollbacks until a human resets it: rollback-receiver breaker reset --config FILE"
        )
    lines = [f"circuit breaker closed ({summary['consecutive_failures']} consecutive failures so far)"]
    if summary["reset_by"]:
        lines.append(f"last reset by {summary['reset_by']} at {summary['reset_at']}")
    lines.append(f"rollbacks in flight: {summary['inflight']}")
    return "\n".join(lines)
