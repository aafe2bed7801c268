"""The config of verification, incident records and notifications: defaults, a route overriding one key
at a time, and every mistake named as `FILE: path: reason`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from receiver.config import ConfigError, parse_config
from receiver.core.settings import ChannelType, Config, NoticeKind

ROUTE = """
routes:
  - name: r
    match: ['rollback="true"']
    target: {namespace: shop, name: ecommerce}
    action: rollback
"""
CHANNELS = """
alertmanager: {urls: ['http://am:9093']}
notifications:
  channels:
    - {name: am, alertmanager: {}}
    - {name: team, webhook: {url: 'http://hooks.example/x', hmac_secret_file: secret}}
    - {name: chat, slack: {url_file: /etc/rr/slack}}
"""


def load(text: str) -> Config:
    return parse_config(text, source=Path("/etc/rr/cfg.yaml"), environ={})


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return [p.removeprefix("/etc/rr/cfg.yaml: ") for p in caught.value.problems]


def test_defaults_verify_by_the_alert_for_ten_minutes_and_tell_nobody() -> None:
    config = load(ROUTE)
    guards = config.routes[0].guards
    assert guards.alert_clears_within == timedelta(minutes=10) and guards.did_not_help_counts
    assert config.notifications.channels == () and config.routes[0].notifications.channels == ()
    assert config.incidents.retain == 100 and not config.incidents.public_pages


def test_a_route_overrides_verify_one_key_at_a_time() -> None:
    text = "defaults: {verify: {alert_clears_within: 15m, count_as_failure: false}}\n" + ROUTE.replace(
        "action: rollback", "action: rollback\n    verify: {alert_clears_within: 0}"
    )
    guards = load(text).routes[0].guards
    assert guards.alert_clears_within == timedelta(0)  # verification off for this route
    assert guards.did_not_help_counts is False  # from defaults


def test_channels_and_the_default_policy_reach_every_route_unless_it_says_otherwise() -> None:
    text = (
        CHANNELS
        + "  default: {outcomes: [triggered, did_not_help]}\n"
        + ROUTE
        + (
            "  - name: quiet\n    match: ['rollback=\"true\"']\n    target: {namespace: shop, name: x}\n"
            "    action: rollback\n    notifications: {channels: [chat]}\n"
        )
    )
    config = load(text)
    am, team, chat = config.notifications.channels
    assert am.type is ChannelType.ALERTMANAGER and am.alertmanager is not None
    assert am.alertmanager.urls == ("http://am:9093",)  # the top-level API settings
    assert team.hmac_secret_file == Path("/etc/rr/secret")  # relative to the config file
    assert chat.url_file == Path("/etc/rr/slack")
    loud, quiet = config.routes
    assert loud.notifications.channels == ("am", "team", "chat")
    assert quiet.notifications.channels == ("chat",)
    assert quiet.notifications.outcomes == (NoticeKind.TRIGGERED, NoticeKind.DID_NOT_HELP)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            CHANNELS
            + ROUTE.replace("action: rollback", "action: rollback\n    notifications: {channels: [chta]}"),
            "routes[0].notifications.channels[0]: no channel 'chta' in notifications.channels "
            "(did you mean 'chat'?)",
        ),
        (
            "notifications: {channels: [{name: a, webhook: {url: 'http://x/'}}, {name: a, slack: {url: 'http://y/'}}]}"
            + ROUTE,
            "notifications.channels[1].name: duplicate channel name 'a'",
        ),
        (
            "notifications: {channels: [{name: a, webhook: {}}]}" + ROUTE,
            "notifications.channels[0].webhook: exactly one of url or url_file is required",
        ),
        (
            "notifications: {channels: [{name: a}]}" + ROUTE,
            "notifications.channels[0]: exactly one of alertmanager, webhook, slack is required "
            "(found: none)",
        ),
        (
            "notifications: {channels: [{name: am, alertmanager: {}}]}" + ROUTE,
            "notifications.channels[0].alertmanager.urls: required when the top-level "
            "alertmanager.urls is not set",
        ),
        (
            "notifications: {default: {outcomes: [exploded]}}" + ROUTE,
            "notifications.default.outcomes[0]: must be one of triggered, waiting, recovered, did_not_help, "
            "failed, skipped, not 'exploded'",
        ),
        ("incidents: {retain: 0}" + ROUTE, "incidents.retain: must be at least 1"),
    ],
)
def test_mistakes_are_named(text: str, expected: str) -> None:
    assert expected in problems(text)
