"""`rollback-receiver incidents [list|show ID] --config FILE [-o text|json|markdown]`: the incident records.

Read from the cluster (the ConfigMap beside the guard state that the config names), like `breaker`, so it
works with any replica down. `show -o markdown` (the default for `show`) is the post-mortem starter to
paste into an incident doc. Exit codes: 0 ok, 1 error (no such incident, config or cluster unreadable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from receiver.config import ConfigError, load_config
from receiver.core.incident_report import headline, markdown, span, stamp
from receiver.core.incidents import Incident, summary_json, to_json
from receiver.core.settings import Config
from receiver.k8s import IncidentStore, KubeError, connect


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "incidents",
        help="list the incident records, or show one (JSON or Markdown)",
        description="The incident record kept for every rollback, read from the cluster.",
    )
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    parser.add_argument("id", nargs="?", help="the incident's id (show)")
    parser.add_argument("--config", required=True, help="the receiver's config file (names the ConfigMap)")
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)"
    )
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument(
        "-o", "--output", choices=("text", "json", "markdown"), help="default: text (list), markdown (show)"
    )
    parser.add_argument("--limit", type=int, default=50, help="list at most this many (newest first)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "show" and not args.id:
        print("error: incidents show needs an incident id (see `incidents list`)", file=sys.stderr)
        return 1
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        found = asyncio.run(_read(args, config))
    except KubeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.action == "show":
        incident = found[0] if found else None
        if incident is None:
            print(
                f"error: no incident {args.id} (never recorded, or pruned: incidents.retain)", file=sys.stderr
            )
            return 1
        print(_show(incident, config, args.output or "markdown"))
        return 0
    print(_list(found[: max(args.limit, 0)], config, args.output or "text"))
    return 0


async def _read(args: argparse.Namespace, config: Config) -> list[Incident]:
    kube = await connect(args.kubeconfig, args.context)
    try:
        store = IncidentStore.for_config(kube, config)
        if args.action == "show":
            incident = await store.get(args.id)
            return [incident] if incident is not None else []
        return await store.list()
    finally:
        await kube.close()


def page_url(config: Config, incident: Incident) -> str | None:
    base = config.incidents.external_url.rstrip("/")
    return f"{base}/incidents/{incident.id}" if base else None


def _show(incident: Incident, config: Config, output: str) -> str:
    url = page_url(config, incident)
    if output == "json":
        return json.dumps(to_json(incident, url=url), indent=2, ensure_ascii=False)
    return markdown(incident, url=url)  # text too: the Markdown reads as plain text


def _list(incidents: list[Incident], config: Config, output: str) -> str:
    if output == "json":
        rows = [summary_json(i, url=page_url(config, i)) for i in incidents]
        return json.dumps({"incidents": rows}, indent=2, ensure_ascii=False)
    header = ("ID", "OPENED", "PHASE", "ALERT", "WORKLOAD", "ALERT TO ROLLBACK")
    rows_text = [
        (
            i.id,
            stamp(i.opened_at),
            i.phase.value,
            i.alert_name,
            str(i.workload),
            span(i.time_to_patch) if i.time_to_patch is not None else "-",
        )
        for i in incidents
    ]
    if output == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows_text]
        lines += [""] + [f"- {i.id}: {headline(i)}" for i in incidents]
        return "\n".join(lines)
    if not rows_text:
        return "no incidents recorded"
    widths = [max(len(r[c]) for r in [header, *rows_text]) for c in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows_text]
    )
