"""Matchers behave like Alertmanager's own parser (pkg/labels/parse.go), edge cases included."""

from __future__ import annotations

import pytest

from receiver.core.matching import MatcherError, MatchOp, matches_all, parse_matcher, parse_matchers

# (input, name, op, value) -- each row is a case Alertmanager's parser accepts, with the value it yields.
PARSES = [
    ('severity="high"', "severity", MatchOp.EQUAL, "high"),
    ("severity=high", "severity", MatchOp.EQUAL, "high"),
    ('  severity  =  "high"  ', "severity", MatchOp.EQUAL, "high"),
    ('severity!="low"', "severity", MatchOp.NOT_EQUAL, "low"),
    ('severity=~"critical|high"', "severity", MatchOp.REGEX, "critical|high"),
    ('severity!~"lo.*"', "severity", MatchOp.NOT_REGEX, "lo.*"),
    ('foo=""', "foo", MatchOp.EQUAL, ""),
    ("foo=", "foo", MatchOp.EQUAL, ""),
    ('foo="a,b"', "foo", MatchOp.EQUAL, "a,b"),
    (r'foo="say \"hi\""', "foo", MatchOp.EQUAL, 'say "hi"'),
    (r'foo="back\\slash"', "foo", MatchOp.EQUAL, "back\\slash"),
    (r'foo="line\nbreak"', "foo", MatchOp.EQUAL, "line\nbreak"),
    (r'foo="spurious\qescape"', "foo", MatchOp.EQUAL, "spurious\\qescape"),
    ("foo=trailing\\", "foo", MatchOp.EQUAL, "trailing\\"),
    (r"foo=\"unquoted\"", "foo", MatchOp.EQUAL, '"unquoted"'),
    ("foo=bar baz", "foo", MatchOp.EQUAL, "bar baz"),
    ('foo=" padded "', "foo", MatchOp.EQUAL, " padded "),
    ('_under:score="x"', "_under:score", MatchOp.EQUAL, "x"),
    ('foo="ünïcødé ✓"', "foo", MatchOp.EQUAL, "ünïcødé ✓"),
    ('foo="=~"', "foo", MatchOp.EQUAL, "=~"),
    ('foo=~"5.."', "foo", MatchOp.REGEX, "5.."),
]


@pytest.mark.parametrize(("text", "name", "op", "value"), PARSES)
def test_parse_matcher(text: str, name: str, op: MatchOp, value: str) -> None:
    matcher = parse_matcher(text)
    assert (matcher.name, matcher.op, matcher.value) == (name, op, value)


REFUSED = [
    ("", "bad matcher format"),
    ("severity", "bad matcher format"),
    ('="x"', "bad matcher format"),
    ('1abc="x"', "bad matcher format"),
    ('foo-bar="x"', "bad matcher format"),
    ('foo=="x"', "unescaped double quote"),  # second '=' is part of the value, then '"' inside it
    ('foo="unterminated', "unescaped double quote"),
    ('foo="a"b"', "unescaped double quote"),
    ('foo=a"', "unescaped double quote"),
    (r'foo="escaped end\"', "unescaped double quote"),
    ('foo=~"("', "invalid regular expression"),
    ('foo<"x"', "bad matcher format"),
]


@pytest.mark.parametrize(("text", "error"), REFUSED)
def test_parse_matcher_refuses(text: str, error: str) -> None:
    with pytest.raises(MatcherError, match=error):
        parse_matcher(text)


LISTS = [
    ('{foo="bar", dings!="bums", }', ['foo="bar"', 'dings!="bums"']),
    ("foo=bar,dings!=bums", ['foo="bar"', 'dings!="bums"']),
    ("foo=bar, dings!=bums", ['foo="bar"', 'dings!="bums"']),
    (
        '{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}',
        ['quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""'],
    ),
    ('statuscode=~"5.."', ['statuscode=~"5.."']),
    ('{rollback="true",severity=~"critical|high"}', ['rollback="true"', 'severity=~"critical|high"']),
    ('{a="1"', ['a="1"']),
    ('a="1"}', ['a="1"']),
    ("", []),
    ("{}", []),
    ('a="x,y",b="z"', ['a="x,y"', 'b="z"']),
]


@pytest.mark.parametrize(("text", "rendered"), LISTS)
def test_parse_matchers_lists(text: str, rendered: list[str]) -> None:
    assert [str(m) for m in parse_matchers(text)] == rendered


@pytest.mark.parametrize("text", ['a="1",,b="2"', 'a="1", ,b="2"', ",a=1", 'a="1",b'])
def test_parse_matchers_refuses_empty_or_broken_items(text: str) -> None:
    with pytest.raises(MatcherError):
        parse_matchers(text)


def test_rendered_matcher_parses_back_to_itself() -> None:
    for text in ('foo="a\\"b"', 'foo="line\\nbreak"', 'foo=~"a|b"', 'x!="back\\\\slash"'):
        once = parse_matcher(text)
        assert parse_matcher(str(once)) == once


LABELS = {"alertname": "HighErrorRate", "severity": "high", "namespace": "shop"}
ANNOTATIONS = {"rollback": "true", "severity": "ignored-label-wins", "reason": "Error rate exceeded 2%"}

EVALUATIONS = [
    ('severity="high"', True),
    ('severity="ignored-label-wins"', False),  # a label shadows an annotation of the same name
    ('rollback="true"', True),  # annotations are matched too
    ('rollback!="true"', False),
    ('severity=~"critical|high"', True),
    ('severity=~"hi"', False),  # anchored: a partial match is no match
    ('severity=~"HIGH"', False),
    ('severity=~"(?i)HIGH"', True),
    ('severity!~"low|medium"', True),
    ('missing=""', True),  # absent == empty, as in Alertmanager
    ('missing!="x"', True),
    ('missing=~".*"', True),
    ('missing=~".+"', False),
    ('reason=~"Error rate.*"', True),
    ('namespace=~"sh"', False),
    ('namespace=~"shop\\n"', False),
]


@pytest.mark.parametrize(("text", "expected"), EVALUATIONS)
def test_matches_labels_then_annotations(text: str, expected: bool) -> None:
    assert matches_all(parse_matchers(text), LABELS, ANNOTATIONS) is expected


def test_regex_is_anchored_at_the_very_end() -> None:
    # Python's `$` would accept a trailing newline; Alertmanager's anchor does not.
    matcher = parse_matcher('foo=~"bar"')
    assert not matcher.matches("bar\n")
    assert matcher.matches("bar")


def test_all_matchers_must_match() -> None:
    matchers = parse_matchers('rollback="true",severity="low"')
    assert not matches_all(matchers, LABELS, ANNOTATIONS)
    assert matches_all((), LABELS, ANNOTATIONS)  # no matchers: a catch-all route
