"""The `config` section of the chart's `values.schema.json`, generated from `receiver.config.format`.

    python -m receiver.config.schema charts/rollback-receiver/values.schema.json          # rewrite it
    python -m receiver.config.schema --check charts/rollback-receiver/values.schema.json  # exit 1 if stale

The chart renders `values.config` (plus the keys it owns) into the receiver's config file, so Helm refuses
at install time what the receiver would refuse at start-up: the same keys, types and patterns.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from receiver.config.format import CONFIG

_DESCRIPTION = (
    "The receiver's config file (docs/config.md); generated from the receiver's config format by "
    "`python -m receiver.config.schema`"
)


def config_schema() -> dict[str, Any]:
    """The JSON schema of one config file, as the chart validates `values.config`.

    The chart adds `server.listen`, `server.auth.bearer_token_file`, `server.shutdown_timeout` and the
    state location itself, and fills `routes` from its defaults, so no key is required in the values.
    """
    schema = CONFIG.schema()
    schema.pop("required", None)
    schema["description"] = _DESCRIPTION
    return schema


def updated(values_schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(values_schema)
    properties = dict(out.get("properties") or {})
    properties["config"] = config_schema()
    out["properties"] = properties
    return out


def render(values_schema: dict[str, Any]) -> str:
    return json.dumps(values_schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m receiver.config.schema", description=__doc__)
    parser.add_argument("values_schema", type=Path, help="the chart's values.schema.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not up to date")
    args = parser.parse_args(argv)
    current = args.values_schema.read_text(encoding="utf-8")
    wanted = render(updated(json.loads(current)))
    if args.check:
        if current != wanted:
            print(f"{args.values_schema}: the config schema is stale; regenerate it", file=sys.stderr)
            return 1
        return 0
    args.values_schema.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
