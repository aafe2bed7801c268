"""Warnings about a valid config that is probably not what its author wants at 3 a.m.

`check-config` prints them and `serve` logs them (and exports `rollback_receiver_config_warnings`); none of
them stops the receiver.
"""

from __future__ import annotations

from receiver.core.rollout_health import Signal, sample_alert
from receiver.core.routing import select_routes
from receiver.core.settings import SYSTEM_NAMESPACES, Action, Config


def scope(config: Config) -> str:
    """The namespaces the receiver may act in, as one line."""
    never = sorted(SYSTEM_NAMESPACES | set(config.namespaces.deny))
    if config.own_namespace:
        never.append(f"{config.own_namespace} (its own)")
    where = ", ".join(config.namespaces.allow) if config.namespaces.allow else "EVERY namespace"
    return f"{where}; never {', '.join(never)}"


def warnings(config: Config) -> list[str]:
    found = []
    if not config.namespaces.allow:
        found.append(
            "namespaces.allow is empty: the receiver may roll back workloads in every namespace but the "
            "system ones and its own; list the namespaces it may act in"
        )
    health = config.rollout_health
    if health.enabled:
        namespace = config.namespaces.allow[0] if config.namespaces.allow else "default"
        for signal in Signal:
            routes = select_routes(sample_alert(signal, health, namespace=namespace), config.routes)
            if not any(route.action is Action.ROLLBACK for route in routes):
                found.append(
                    f"rollout_health is enabled, but no rollback route takes {signal.value} with severity "
                    f"{health.severity!r}: the source's findings will not roll anything back"
                )
    if not config.alertmanager.urls:
        for index, route in enumerate(config.routes):
            if route.action is Action.ROLLBACK and route.guards.confirm_for:
                found.append(
                    f"routes[{index}] ({route.name}) waits for confirmation, but no alertmanager.urls are "
                    "set: a silence or inhibition added during the wait cannot be seen before acting"
                )
    return found
