"""`rollback-receiver serve`: run the webhook receiver until SIGTERM (SIGHUP reloads the config)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from receiver.telemetry import logs


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="receive Alertmanager webhooks and act on them",
        description="Receive Alertmanager webhooks and perform guarded rollbacks. SIGHUP or POST /-/reload "
        "reloads the config; SIGTERM drains the queue and stops.",
    )
    parser.add_argument("--config", required=True, type=Path, metavar="FILE", help="routing config (YAML)")
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="when the config sets no authentication (server.auth, server.tls.client_ca_file), serve every "
        "endpoint to anonymous callers instead of refusing to start; logged as INSECURE at start, on reload "
        "and once a minute while anonymous requests come in. Ignored when authentication is configured",
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error"), help="default: info"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from receiver.service import ServeOptions, serve

    logs.configure(args.log_level)
    options = ServeOptions(
        config_path=args.config,
        insecure_no_auth=args.insecure_no_auth,
        kubeconfig=args.kubeconfig,
        context=args.context,
    )
    return asyncio.run(serve(options))
