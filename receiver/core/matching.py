"""Alertmanager 0.25 matchers (=, !=, =~, !~) evaluated on an alert's labels and annotations.

The parser is Alertmanager 0.25's classic one (`pkg/labels/parse.go`, behind `matchers:` in its config and
amtool), including its tolerances, so a matcher copied from an Alertmanager route means the same here:

- a list may be wrapped in `{...}`; matchers are separated by commas outside double quotes; a trailing comma
  is allowed, an empty matcher between two commas is not; an empty list (`""`, `{}`) is no matcher at all;
- a value may be quoted; inside it `\\"`, `\\n` and `\\\\` are escapes, any other backslash is literal;
  an unescaped `"` inside the value is an error;
- whitespace around each token is dropped; the value may be empty.

Regular expressions are Go's RE2 syntax, run by RE2 (the `google-re2` binding), so matching takes time
linear in the label value whatever the pattern. Like Alertmanager, the value is compiled as `^(?:value)$`
and searched, so `a)|(b` is valid and means "starts with a, or ends with b". RE2's C++ parser is the one Go's
was ported from; where Go 1.19 (which Alertmanager 0.25 is built with) refuses what RE2 accepts, we refuse
too, with Go's message: `\\C`, `(?<name>...)`, Unicode scripts newer than Unicode 13 and groups nested
deeper than Go's parse tree allows. What remains different is listed in docs/config.md.

A name absent from the alert matches as the empty string, as in Alertmanager (`foo=""` matches alerts
without `foo`, `foo!="x"` matches them too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import re2


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class MatcherError(ValueError):
    """A matcher string Alertmanager would refuse too; the message says which part is wrong."""


class CompiledRegex(Protocol):
    def search(self, text: bytes) -> object | None: ...


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: MatchOp
    value: str
    # Regex ops only: `^(?:value)$` compiled by RE2. Derived from op and value, so not part of equality.
    pattern: CompiledRegex | None = field(default=None, compare=False, repr=False)
    # Regex ops whose value is an alternation of plain words (`critical|high`): the words it matches, so
    # matching is a set lookup instead of a call into RE2 (most routes' `severity=~` matchers look so).
    words: frozenset[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, value: str) -> bool:
        if self.op is MatchOp.EQUAL:
            return value == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return value != self.value
        if self.words is not None:
            found = value in self.words
        else:
            assert self.pattern is not None  # guaranteed by new_matcher
            found = self.pattern.search(_utf8(value)) is not None
        return found if self.op is MatchOp.REGEX else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{_escape(self.value)}"'


def new_matcher(name: str, op: MatchOp, value: str) -> Matcher:
    """Build a matcher, compiling the regex of `=~`/`!~`; raises MatcherError for a bad regex."""
    if op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
        try:
            pattern = compile_go_regex("^(?:" + value + ")$")
        except MatcherError as exc:
            raise MatcherError(f"invalid regular expression {value!r}: {exc}") from None
        return Matcher(name, op, value, pattern, plain_words(value))
    return Matcher(name, op, value)


# Letters, digits, `_` and `-` are literal in RE2 (and Go) outside a character class, and `|` separates
# alternatives: `^(?:a|b)$` matches exactly the texts "a" and "b" (`$` is the end of the text, as in Go).
_PLAIN_WORDS = re2.compile(r"[A-Za-z0-9_-]*(?:\|[A-Za-z0-9_-]*)*")


def plain_words(value: str) -> frozenset[str] | None:
    """The texts `^(?:value)$` matches when `value` is an alternation of plain words, else None."""
    if len(value) > 4096 or _PLAIN_WORDS.fullmatch(value) is None:
        return None
    return frozenset(value.split("|"))


# --- regular expressions: Go's regexp.Compile, run by RE2 -------------------------------------------------

# RE2's defaults are Go's `syntax.Perl` flags (Perl classes and \b ASCII-only, `.` not matching \n, ^ and $
# at the ends of the text, non-greedy operators, Unicode classes). We never read submatches, so capturing
# is off, which also lets RE2 answer from its DFA. max_mem stays at RE2's 8 MiB per pattern.
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is reported to the caller, not printed on stderr
_OPTIONS.never_capture = True

# RE2's error codes, in Go's words (regexp/syntax), so a refusal reads like Alertmanager's.
_GO_ERRORS = {
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class": "invalid character class",
    "invalid character class range": "invalid character class range",
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "invalid named capture",
}

# Scripts RE2 knows (Unicode 15) that Go 1.19's tables (Unicode 13) do not: Alertmanager 0.25 refuses them.
_SCRIPTS_AFTER_UNICODE_13 = frozenset(
    {"Cypro_Minoan", "Old_Uyghur", "Tangsa", "Toto", "Vithkuqi", "Kawi", "Nag_Mundari"}
)

# Go refuses a parse tree higher than 1000 (regexp/syntax maxHeight). The tree of `^(?:X)$` has a
# concatenation at the top and a leaf at the bottom, and every capturing group in between is one level.
_GO_MAX_HEIGHT = 1000


def compile_go_regex(expr: str) -> CompiledRegex:
    """Compile `expr` as Go's regexp.Compile would accept it; MatcherError carries Go's message."""
    if _surrogate_free(expr) is None:
        raise MatcherError("error parsing regexp: invalid UTF-8")
    go_only = _go_refusal(expr)
    if go_only is not None:
        raise MatcherError(f"error parsing regexp: {go_only}")
    try:
        compiled: CompiledRegex = re2.compile(expr.encode("utf-8"), _OPTIONS)
    except re2.error as exc:
        raise MatcherError(_go_message(exc)) from None
    return compiled


def _go_message(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    code, sep, arg = text.partition(": ")
    if code in _GO_ERRORS:
        return (
            f"error parsing regexp: {_GO_ERRORS[code]}: `{arg}`" if sep else f"error parsing regexp: {code}"
        )
    # RE2's only other refusal is its memory budget, which Go does not have.
    return f"error parsing regexp: {text} (larger than RE2's 8 MiB budget for one pattern)"


def _go_refusal(expr: str) -> str | None:
    """What Go 1.19's parser refuses in a pattern RE2's would accept, in Go's words; None if nothing.

    A lexical scan of the pattern: escapes, `\\Q...\\E`, character classes and groups. Anything else is
    left to RE2, whose grammar is otherwise Go's.
    """
    n = len(expr)
    groups: list[bool] = []  # open groups, True for capturing
    captures = 0
    deepest = 0
    in_class = False
    i = 0
    while i < n:
        char = expr[i]
        if char == "\\" and i + 1 < n:
            escape = expr[i + 1]
            if escape == "Q" and not in_class:
                end = expr.find("\\E", i + 2)
                if end < 0:
                    break  # the rest of the pattern is literal
                i = end + 2
                continue
            if escape == "C":
                return "invalid escape sequence: `\\C`"
            if escape in "pP":
                if i + 2 < n and expr[i + 2] == "{":
                    close = expr.find("}", i + 3)
                    if close >= 0:
                        name = expr[i + 3 : close].removeprefix("^")
                        if name in _SCRIPTS_AFTER_UNICODE_13:
                            return f"invalid character class range: `{expr[i : close + 1]}`"
                        i = close + 1
                        continue
                i += 3
                continue
            i += 2
            continue
        if in_class:
            if char == "[" and expr.startswith("[:", i):
                close = expr.find(":]", i + 2)
                if close >= 0:
                    i = close + 2
                    continue
            if char == "]":
                in_class = False
            i += 1
            continue
        if char == "[":
            in_class = True
            i += 1
            if expr.startswith("^", i):
                i += 1
            if expr.startswith("]", i):  # a leading ] is a literal
                i += 1
            continue
        if char == "(":
            if expr.startswith("(?", i):
                if expr.startswith("(?<", i):
                    return "invalid or unsupported Perl syntax: `(?<`"
                if expr.startswith("(?P<", i):
                    capturing = True
                else:
                    end = i + 2
                    while end < n and expr[end] not in ":)":
                        end += 1
                    if end >= n or expr[end] == ")":  # flags only, like (?i): not a group
                        i = end + 1
                        continue
                    capturing = False
            else:
                capturing = True
            groups.append(capturing)
            captures += capturing
            deepest = max(deepest, captures)
        elif char == ")" and groups:
            captures -= groups.pop()
        i += 1
    if deepest + 2 > _GO_MAX_HEIGHT:
        return f"expression nests too deeply: `{expr}`"
    return None


def _surrogate_free(text: str) -> bytes | None:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None


def _utf8(value: str) -> bytes:
    """The UTF-8 a Go program would see: a lone surrogate (possible in JSON) becomes U+FFFD, as in Go."""
    encoded = _surrogate_free(value)
    if encoded is not None:
        return encoded
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")


# --- the matcher syntax ------------------------------------------------------------------------------------

# Alertmanager's own expression, verbatim; RE2 runs it in linear time and `\s` is ASCII-only, as in Go.
_OPTIONS_CAPTURE = re2.Options()
_OPTIONS_CAPTURE.log_errors = False
_MATCHER_RE = re2.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$", _OPTIONS_CAPTURE)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as `severity=~"critical|high"`."""
    found = _MATCHER_RE.search(_as_go_text(text))
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    start, end = found.span(3)
    name, op, raw = found.group(1), MatchOp(found.group(2)), text[start:end]
    expect_trailing_quote = raw.startswith('"')
    body = raw[1:] if expect_trailing_quote else raw
    if _surrogate_free(body) is None:
        raise MatcherError(f"matcher value not valid UTF-8: {raw}")

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
    tail = "".join(token).strip(_GO_SPACE)
    if tail:
        tokens.append(tail)
    return tuple(parse_matcher(t) for t in tokens)


# Go's unicode.IsSpace (strings.TrimSpace): Python's str.strip() would also drop \x1c-\x1f.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" + (
    "\u2028\u2029\u202f\u205f\u3000"
)


def _as_go_text(text: str) -> str:
    """`text` with each lone surrogate as U+FFFD (one character for one), which is how Go reads bad UTF-8."""
    if _surrogate_free(text) is not None:
        return text
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)


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
