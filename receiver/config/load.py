"""Reading a config file: strict YAML, then `format.CONFIG`; every problem reported at once.

Each problem is `FILE: path.in.yaml: reason`, like `amtool check-config`. Relative file paths inside the
config (token files, certificates) are resolved against the config file's directory, like Prometheus does;
`own_namespace` defaults to $POD_NAMESPACE.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from receiver.config.format import CONFIG, Reader
from receiver.core.settings import Config


class ConfigError(Exception):
    """Every problem of one config file, each as `FILE: path.in.yaml: reason`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file. Raises ConfigError listing every problem found."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot read: {exc}"]) from None
    return parse_config(text, source=source, environ=os.environ if environ is None else environ)


def parse_config(text: str, *, source: Path, environ: Mapping[str, str] | None = None) -> Config:
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else "YAML"
        raise ConfigError([f"{source}: {where}: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: YAML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: YAML: nested too deeply"]) from None
    reader = Reader(source, {} if environ is None else environ)
    config = CONFIG.read(reader, document, "")
    if reader.problems:
        raise ConfigError(reader.problems)
    assert config is not None
    return config


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: a silently shadowed route setting is a 3 a.m. surprise."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool | datetime.date | None):  # `? [a]`: a list as key
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value, not a list or a map", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=True)
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
