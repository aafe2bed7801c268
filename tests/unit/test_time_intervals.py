"""Alertmanager's time intervals and routing tree, with Alertmanager's rules (timeinterval, dispatch)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from receiver.alertmanager.config import parse_status
from receiver.core.time_intervals import TimeIntervalError, parse_interval

# Monday 2026-11-30 is a Monday; 2026-12-01 a Tuesday.
MONDAY_0930 = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "moment", "inside"),
    [
        ({}, MONDAY_0930, True),
        ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, MONDAY_0930, True),
        ({"times": [{"start_time": "09:31", "end_time": "24:00"}]}, MONDAY_0930, False),
        ({"times": [{"start_time": "00:00", "end_time": "09:30"}]}, MONDAY_0930, False),  # end exclusive
        ({"weekdays": ["monday:friday"]}, MONDAY_0930, True),
        ({"weekdays": ["saturday", "sunday"]}, MONDAY_0930, False),
        ({"days_of_month": ["-1"]}, datetime(2026, 11, 30, tzinfo=UTC), True),  # last day of November
        ({"days_of_month": ["-1"]}, datetime(2026, 12, 30, tzinfo=UTC), False),
        ({"days_of_month": ["1:7"]}, datetime(2026, 12, 1, tzinfo=UTC), True),
        ({"days_of_month": ["-7:-1"]}, datetime(2026, 2, 22, tzinfo=UTC), True),
        ({"days_of_month": ["31"]}, datetime(2026, 2, 28, tzinfo=UTC), False),  # past the month's end
        ({"months": ["november", "12"]}, MONDAY_0930, True),
        ({"months": ["january:march"]}, MONDAY_0930, False),
        ({"years": ["2025:2026"]}, MONDAY_0930, True),
        ({"years": ["2027"]}, MONDAY_0930, False),
        # 09:30 UTC is 18:30 in Tokyo: outside business hours there
        (
            {"times": [{"start_time": "09:00", "end_time": "17:00"}], "location": "Asia/Tokyo"},
            MONDAY_0930,
            False,
        ),
        (
            {"weekdays": ["monday"], "times": [{"start_time": "09:00", "end_time": "10:00"}]},
            MONDAY_0930,
            True,
        ),
    ],
)
def test_containment_follows_alertmanager(spec: dict[str, object], moment: datetime, inside: bool) -> None:
    assert parse_interval(spec, "t").contains(moment) is inside


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"times": [{"start_time": "10:00", "end_time": "09:00"}]}, "cannot be equal or greater"),
        ({"times": [{"start_time": "9:00", "end_time": "10:00"}]}, "invalid format"),
        ({"times": [{"start_time": "09:00"}]}, "both start and end times"),
        ({"weekdays": ["funday"]}, "not a valid weekday"),
        ({"weekdays": ["friday:monday"]}, "start day cannot be before end day"),
        ({"days_of_month": ["0"]}, "out of range"),
        ({"days_of_month": ["-3:5"]}, "end day must be negative"),
        ({"months": ["13"]}, "not a valid month"),
        ({"years": ["2027:2026"]}, "before start year"),
        ({"location": "Mars/Olympus"}, "unknown time zone"),
        ({"hours": ["9"]}, "unknown key"),
    ],
)
def test_invalid_intervals_are_refused(spec: dict[str, object], problem: str) -> None:
    with pytest.raises(TimeIntervalError, match=problem):
        parse_interval(spec, "t")


AM_CONFIG = """
route:
  receiver: default
  routes:
    - matchers: ['team="payments"']
      receiver: payments-pager
    - matchers: ['rollback="true"']
      receiver: rollback-receiver
      continue: true
      mute_time_intervals: [weekends]
      routes:
        - match: {severity: low}
          active_time_intervals: [business-hours]
    - match_re: {severity: "critical|high"}
      receiver: oncall
time_intervals:
  - name: weekends
    time_intervals: [{weekdays: [saturday, sunday]}]
  - name: business-hours
    time_intervals: [{times: [{start_time: "09:00", end_time: "17:00"}], weekdays: ["monday:friday"]}]
receivers: [{name: default}, {name: payments-pager}, {name: rollback-receiver}, {name: oncall}]
"""
SATURDAY = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def am() -> object:
    return parse_status({"config": {"original": AM_CONFIG}})


def test_the_routing_tree_is_walked_like_alertmanager() -> None:
    config = am()
    high = {"rollback": "true", "severity": "high"}
    assert [r.receiver for r in config.route.match(high)] == ["rollback-receiver", "oncall"]  # continue
    assert [r.receiver for r in config.route.match({"team": "payments", "rollback": "true"})] == [
        "payments-pager"
    ]
    assert [r.receiver for r in config.route.match({"rollback": "false"})] == ["default"]
    low = config.route.match({"rollback": "true", "severity": "low"})
    assert [r.receiver for r in low] == ["rollback-receiver"]  # the child inherits the receiver


@pytest.mark.parametrize(
    ("labels", "moment", "delivered"),
    [
        ({"rollback": "true", "severity": "high"}, MONDAY_0930, True),
        ({"rollback": "true", "severity": "high"}, SATURDAY, False),  # weekends mute the route to us
        ({"rollback": "true", "severity": "low"}, MONDAY_0930, True),  # the child's own intervals only
        ({"rollback": "true", "severity": "low"}, datetime(2026, 11, 30, 20, 0, tzinfo=UTC), False),
        ({"team": "payments", "rollback": "true"}, MONDAY_0930, False),  # another team's receiver
    ],
)
def test_muting_is_decided_per_route_to_us(labels: dict[str, str], moment: datetime, delivered: bool) -> None:
    assert am().delivers("rollback-receiver", labels, moment) is delivered


def test_the_config_comes_from_the_status_body() -> None:
    status = {"config": {"original": yaml.safe_dump(yaml.safe_load(AM_CONFIG))}, "versionInfo": {}}
    assert parse_status(status).route.receiver == "default"
