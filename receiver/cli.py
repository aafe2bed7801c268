"""`rollback-receiver` command line: one entry point, one module per command family."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from receiver.commands import breaker, config_cmds, incidents, rollout, serve

    parser = argparse.ArgumentParser(
        prog="rollback-receiver",
        description="Alertmanager webhook receiver that performs guarded, exactly-once rollbacks.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.register(sub)
    config_cmds.register(sub)
    rollout.register(sub)
    breaker.register(sub)
    incidents.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
