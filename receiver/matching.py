"""Alertmanager-style matchers (=, !=, =~, !~) evaluated on an alert's labels and annotations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: MatchOp
    value: str
    pattern: re.Pattern[str] | None = None  # anchored like Alertmanager: ^(?:value)$
