"""Alertmanager-style matchers (=, !=, =~, !~) evaluated on an alert's labels and annotations.

The parser follows Alertmanager's own (`pkg/labels/parse.go`, the one behind `matchers:` in its config and
amtool), including its tolerances, so a matcher copied from an Alertmanager route means the same here:

- a list may be wrapped in `{...}`; matchers are separated by commas outside double quotes; a trailing comma
  is allowed, an empty matcher between two commas is not;
- a value may be quoted; inside it `\\"`, `\\n` and `\\\\` are escapes, any other backslash is literal;
  an unescaped `"` inside the value is an error;
- whitespace around each token is dropped; the value may be empty;
- a regex is anchored at both ends, like Alertmanager's `^(?:value)$`.

A name absent from the alert matches as the empty string, as in Alertmanager (`foo=""` matches alerts
without `foo`, `foo!="x"` matches them too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class MatcherError(ValueError):
    """A matcher string Alertmanager would refuse too; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: MatchOp
    value: str
    pattern: re.Pattern[str] | None = None  # regex ops only; applied with fullmatch (anchored like ^(?:v)$)

    def matches(self, value: str) -> bool:
        if self.op is MatchOp.EQUAL:
            return value == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return value != self.value
        assert self.pattern is not None  # guaranteed by new_matcher
        found = self.pattern.fullmatch(value) is not None
        return found if self.op is MatchOp.REGEX else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{_escape(self.value)}"'


def new_matcher(name: str, op: MatchOp, value: str) -> Matcher:
    """Build a matcher, compiling the regex of `=~`/`!~`; raises MatcherError for a bad regex."""
    if op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
        try:
            # fullmatch anchors the whole alternation, like Alertmanager's ^(?:value)$, and unlike a
            # (?:...) wrapper it keeps leading flags such as (?i) valid.
            pattern = re.compile(value)
        except re.error as exc:
            raise MatcherError(f"invalid regular expression {value!r}: {exc}") from None
        return Matcher(name, op, value, pattern)
    return Matcher(name, op, value)


# Go's RE2 `\s` is ASCII-only; Python's would also eat Unicode spaces, so spell it out.
_WS = "[\t\n\f\r ]"
_MATCHER_RE = re.compile(
    rf"^{_WS}*([a-zA-Z_:][a-zA-Z0-9_:]*){_WS}*(=~|=|!=|!~){_WS}*(.*?){_WS}*\Z",
    re.DOTALL,
)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `severity=~"critical|high"`."""
    found = _MATCHER_RE.match(text)
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, op, raw = found.group(1), MatchOp(found.group(2)), found.group(3)
    expect_trailing_quote = raw.startswith('"')
    body = raw[1:] if expect_trailing_quote else raw

    value: list[str] = []
    escaped = False
    last = len(body) - 1
    for i, char in enumerate(body):
        if escaped:
            escaped = False
            if char == "n":
                value.append("\n")
            elif char in '"\\':
                value.append(char)
            else:  # a spurious escape keeps its backslash
                value.append("\\" + char)
            continue
        if char == "\\":
            if i < last:
                escaped = True
                continue
            value.append("\\")  # a backslash as the last character is literal
        elif char == '"':
            if not expect_trailing_quote or i < last:
                raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
            expect_trailing_quote = False
        else:
            value.append(char)
    if expect_trailing_quote:
        raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
    return new_matcher(name, op, "".join(value))


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """Parse a comma-separated list such as `{rollback="true", severity=~"critical|high"}`."""
    text = text.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside_quotes = False
    escaped = False
    for char in text:
        if char == "," and not inside_quotes:
            tokens.append("".join(token))
            token = []
            continue
        if char == '"':
            if escaped:
                escaped = False
            else:
                inside_quotes = not inside_quotes
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(char)
    tail = "".join(token).strip()
    if tail:
        tokens.append(tail)
    return tuple(parse_matcher(t) for t in tokens)


def alert_value(name: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """The value a matcher sees: the label if the alert has it, else the annotation, else ""."""
    if name in labels:
        return labels[name]
    return annotations.get(name, "")


def matches_all(
    matchers: Iterable[Matcher],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> bool:
    return all(m.matches(alert_value(m.name, labels, annotations)) for m in matchers)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
