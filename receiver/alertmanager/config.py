"""Alertmanager's configuration as its API reports it (`GET /api/v2/status`, `config.original`), reduced to
what decides whether a notification to us is muted: the route tree and the named time intervals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from receiver.core.am_routes import AMConfig, AMRoute
from receiver.core.matching import Matcher, MatcherError, MatchOp, new_matcher, parse_matchers
from receiver.core.time_intervals import TimeIntervalError, parse_named


class AMConfigError(ValueError):
    """Alertmanager's config could not be read; nothing is concluded from it."""


def parse_status(status: object) -> AMConfig:
    """The body of `GET /api/v2/status` -> the routing tree and time intervals it carries."""
    config = status.get("config") if isinstance(status, Mapping) else None
    original = config.get("original") if isinstance(config, Mapping) else None
    if not isinstance(original, str):
        raise AMConfigError("Alertmanager's status has no config.original")
    try:
        document = yaml.safe_load(original)
    except yaml.YAMLError as exc:
        raise AMConfigError(f"Alertmanager's config is not YAML: {exc}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("route"), Mapping):
        raise AMConfigError("Alertmanager's config has no route")
    try:
        intervals = {
            **parse_named(document.get("mute_time_intervals"), "mute_time_intervals"),
            **parse_named(document.get("time_intervals"), "time_intervals"),
        }
        return AMConfig(route=_route(document["route"], parent_receiver=""), intervals=intervals)
    except (TimeIntervalError, MatcherError, TypeError) as exc:
        raise AMConfigError(f"Alertmanager's config: {exc}") from None


def _route(node: Mapping[str, Any], *, parent_receiver: str) -> AMRoute:
    receiver = str(node.get("receiver") or parent_receiver)
    matchers: list[Matcher] = []
    for name, value in dict(node.get("match") or {}).items():
        matchers.append(new_matcher(str(name), MatchOp.EQUAL, str(value)))
    for name, value in dict(node.get("match_re") or {}).items():
        matchers.append(new_matcher(str(name), MatchOp.REGEX, str(value)))
    for text in list(node.get("matchers") or []):
        matchers.extend(parse_matchers(str(text)))
    children = [c for c in list(node.get("routes") or []) if isinstance(c, Mapping)]
    return AMRoute(
        receiver=receiver,
        matchers=tuple(matchers),
        continue_=bool(node.get("continue")),
        routes=tuple(_route(child, parent_receiver=receiver) for child in children),
        mute_time_intervals=tuple(str(n) for n in list(node.get("mute_time_intervals") or [])),
        active_time_intervals=tuple(str(n) for n in list(node.get("active_time_intervals") or [])),
    )
