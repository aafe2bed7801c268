"""Matchers behave like Alertmanager 0.25's: its parser (pkg/labels/parse.go) and Go's RE2 regexps.

The tables hold Alertmanager's own test cases (pkg/labels/parse_test.go and matcher_test.go of v0.25.0)
and the regex syntax where Python's `re` and Go differ. Each table is also run through Debian's amtool
(Alertmanager 0.25.0, built with Go 1.19): its verdicts must equal ours, except for the differences listed in
docs/config.md, which are pinned in KNOWN_DIFFERENCES.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.config import ConfigError, parse_config
from receiver.core.matching import (
    MatcherError,
    MatchOp,
    matches_all,
    new_matcher,
    parse_matcher,
    parse_matchers,
)

EQ, NE, RE, NRE = MatchOp.EQUAL, MatchOp.NOT_EQUAL, MatchOp.REGEX, MatchOp.NOT_REGEX

# --- parsing ----------------------------------------------------------------------------------------------

# Alertmanager v0.25.0 pkg/labels/parse_test.go TestMatchers, every case: input -> matchers or error.
AM_PARSE_TESTS: list[tuple[str, list[tuple[str, MatchOp, str]] | str]] = [
    ('{foo="bar"}', [("foo", EQ, "bar")]),
    ('{foo=~"bar.*"}', [("foo", RE, "bar.*")]),
    ('{foo!="bar"}', [("foo", NE, "bar")]),
    ('{foo!~"bar.*"}', [("foo", NRE, "bar.*")]),
    ('{foo="bar", baz!="quux"}', [("foo", EQ, "bar"), ("baz", NE, "quux")]),
    ('{foo="bar", baz!~"quux.*"}', [("foo", EQ, "bar"), ("baz", NRE, "quux.*")]),
    (
        '{foo="bar",baz!~".*quux", derp="wat"}',
        [("foo", EQ, "bar"), ("baz", NRE, ".*quux"), ("derp", EQ, "wat")],
    ),
    ('{foo="bar", baz!="quux", derp="wat"}', [("foo", EQ, "bar"), ("baz", NE, "quux"), ("derp", EQ, "wat")]),
    (
        '{foo="bar", baz!~".*quux.*", derp="wat"}',
        [("foo", EQ, "bar"), ("baz", NRE, ".*quux.*"), ("derp", EQ, "wat")],
    ),
    ('{foo="bar", instance=~"some-api.*"}', [("foo", EQ, "bar"), ("instance", RE, "some-api.*")]),
    ('{foo=""}', [("foo", EQ, "")]),
    ('{foo="bar,quux", job="job1"}', [("foo", EQ, "bar,quux"), ("job", EQ, "job1")]),
    ('{foo = "bar", dings != "bums", }', [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    ("foo=bar,dings!=bums", [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    (
        '{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}',
        [("quote", EQ, 'She said: "Hi, ladies! That\'s gender-neutral…"')],
    ),
    ('statuscode=~"5.."', [("statuscode", RE, "5..")]),
    ("tricky=~~~", [("tricky", RE, "~~")]),
    ('trickier==\\\\=\\=\\"', [("trickier", EQ, '=\\=\\="')]),
    (
        'contains_quote != "\\"" , contains_comma !~ "foo,bar" , ',
        [("contains_quote", NE, '"'), ("contains_comma", NRE, "foo,bar")],
    ),
    ("job=", [("job", EQ, "")]),
    ('job="value', 'matcher value contains unescaped double quote: "value'),
    ('job=value"', 'matcher value contains unescaped double quote: value"'),
    ('trickier==\\\\=\\=\\""', 'matcher value contains unescaped double quote: =\\\\=\\=\\""'),
    ('contains_unescaped_quote = foo"bar', 'matcher value contains unescaped double quote: foo"bar'),
    ('{invalid-name = "valid label"}', 'bad matcher format: invalid-name = "valid label"'),
    ('{foo=~"invalid[regexp"}', "error parsing regexp: missing closing ]: `[regexp)$`"),
    ('"{foo=\\"bar"}', 'bad matcher format: "{foo=\\"bar"'),
    ('"foo=\\"bar"', 'bad matcher format: "foo=\\"bar"'),
    ('"foo=\\"bar\\""', 'bad matcher format: "foo=\\"bar\\""'),
    ('"foo=\\"bar\\"', 'bad matcher format: "foo=\\"bar\\"'),
    ('"{foo=\\"bar\\"}"', 'bad matcher format: "{foo=\\"bar\\"}"'),
    ('"foo="bar""', 'bad matcher format: "foo="bar""'),
]

# Our own cases of the same parser: tolerances, escapes, and what is no matcher at all.
OUR_PARSE_TESTS: list[tuple[str, list[tuple[str, MatchOp, str]] | str]] = [
    ("", []),  # Alertmanager 0.25: no matcher, no error
    ("{}", []),
    ("{ }", []),
    (" \t", []),
    ('severity="high"', [("severity", EQ, "high")]),
    ("severity=high", [("severity", EQ, "high")]),
    ('  severity  =  "high"  ', [("severity", EQ, "high")]),
    ('foo="a,b"', [("foo", EQ, "a,b")]),
    (r'foo="say \"hi\""', [("foo", EQ, 'say "hi"')]),
    (r'foo="back\\slash"', [("foo", EQ, "back\\slash")]),
    (r'foo="line\nbreak"', [("foo", EQ, "line\nbreak")]),
    (r'foo="spurious\qescape"', [("foo", EQ, "spurious\\qescape")]),
    ("foo=trailing\\", [("foo", EQ, "trailing\\")]),
    (r"foo=\"unquoted\"", [("foo", EQ, '"unquoted"')]),
    ("foo=bar baz", [("foo", EQ, "bar baz")]),
    ('foo=" padded "', [("foo", EQ, " padded ")]),
    ('_under:score="x"', [("_under:score", EQ, "x")]),
    ('foo="ünïcødé ✓"', [("foo", EQ, "ünïcødé ✓")]),
    ('foo="=~"', [("foo", EQ, "=~")]),
    ('{a="1"', [("a", EQ, "1")]),
    ('a="1"}', [("a", EQ, "1")]),
    ('a="x,y",b="z"', [("a", EQ, "x,y"), ("b", EQ, "z")]),
    # Go trims the last item with unicode.IsSpace, the matcher's own edges with ASCII \s only.
    ("a=b\u00a0", [("a", EQ, "b")]),
    ("a=b\u00a0,c=d", [("a", EQ, "b\u00a0"), ("c", EQ, "d")]),
    ("a=b,\x1c", "bad matcher format: \x1c"),  # Python's strip() would drop \x1c; Go's does not
    ("severity", "bad matcher format: severity"),
    ('="x"', 'bad matcher format: ="x"'),
    ('1abc="x"', 'bad matcher format: 1abc="x"'),
    ('foo<"x"', 'bad matcher format: foo<"x"'),
    ('foo=="x"', 'matcher value contains unescaped double quote: ="x"'),
    ('foo="a"b"', 'matcher value contains unescaped double quote: "a"b"'),
    (r'foo="escaped end\"', 'matcher value contains unescaped double quote: "escaped end\\"'),
    ('a="1",,b="2"', "bad matcher format: "),
    ('a="1", ,b="2"', "bad matcher format:  "),
    (",a=1", "bad matcher format: "),
    ('a="1",b', "bad matcher format: b"),
]

PARSE_TESTS = AM_PARSE_TESTS + OUR_PARSE_TESTS


@pytest.mark.parametrize(("text", "expected"), PARSE_TESTS)
def test_parse_matchers(text: str, expected: list[tuple[str, MatchOp, str]] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(MatcherError) as caught:
            parse_matchers(text)
        assert str(caught.value).endswith(expected)
    else:
        assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == expected


def test_rendered_matcher_parses_back_to_itself() -> None:
    # Alertmanager's String(): OpenMetrics escaping of \, newline and " only (matcher_test.go).
    assert str(new_matcher("foo", EQ, "back\\slash")) == 'foo="back\\\\slash"'
    assert str(new_matcher("foo", EQ, 'double"quote')) == 'foo="double\\"quote"'
    assert str(new_matcher("foo", EQ, "new\nline")) == 'foo="new\\nline"'
    assert str(new_matcher("foo", EQ, "tab\tstop")) == 'foo="tab\tstop"'
    for text in ('foo="a\\"b"', 'foo="line\\nbreak"', 'foo=~"a|b"', 'x!="back\\\\slash"'):
        once = parse_matcher(text)
        assert parse_matcher(str(once)) == once


def test_a_value_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(MatcherError, match="matcher value not valid UTF-8"):
        parse_matcher('foo="\ud800"')


def test_empty_items_load_as_no_condition_like_alertmanager() -> None:
    config = parse_config(
        "routes: [{name: r, action: notify, match: ['', '{}', 'a=\"1\"']}]", source=Path("c.yaml"), environ={}
    )
    assert [str(m) for m in config.routes[0].matchers] == ['a="1"']


# --- regular expressions -----------------------------------------------------------------------------------

# Patterns Go's regexp accepts; RE2 runs them. Python's `re` refuses or misreads several of them.
REGEX_ACCEPTED = [
    "critical|high",
    "a)|(b",  # valid once wrapped as ^(?:a)|(b)$
    "a)(b",
    r"\pL+",
    r"\p{Greek}+",
    r"\PL",
    r"\p{^Greek}",
    "[[:alpha:]]+",
    "[[:^alpha:]]",
    "[[:word:]]",
    r"\Q.*+?\E",
    r"\Q\E",
    r"\d+",
    r"\w+",
    r"\s",
    r".*\bfoo\b.*",
    "(?i)HIGH",
    "(?i)k",
    "(?s)foo.bar",
    "(?U)a+",
    "(?m)foo$",
    "(?i:A)b",
    "(?P<name>x)",
    "(?P<n>x)(?P<n>y)",  # Go 1.19 allows a repeated name
    r"\x{1F600}",
    r"\x{D800}",
    r"\0",
    r"\12",
    "a{1000}",
    "a{,5}",
    "a{5",
    "x*?",
    "()",
    "[]a]",
    "[^]a]",
    r"[\d-z]",
    ".*-.*-.*-canary",
    "(" * 998 + "x" + ")" * 998,  # Go's parse tree: 998 groups + 2 levels is its limit of 1000
    "(?:" * 999 + "x" + ")" * 999,  # non-capturing groups are no level in Go's tree
]

# Patterns Go's regexp (Alertmanager 0.25) refuses, with the reason Go gives.
REGEX_REFUSED = [
    ("(?=a)a", "invalid or unsupported Perl syntax: `(?=`"),
    ("(?!a)a", "invalid or unsupported Perl syntax: `(?!`"),
    ("(?<=a)a", "invalid or unsupported Perl syntax: `(?<`"),
    ("(?<!a)a", "invalid or unsupported Perl syntax: `(?<`"),
    ("(?<n>x)", "invalid or unsupported Perl syntax: `(?<`"),  # RE2 accepts it; Go 1.19 does not
    ("(?>a)", "invalid or unsupported Perl syntax: `(?>`"),
    ("(?#comment)", "invalid or unsupported Perl syntax: `(?#`"),
    ("(?x)a b", "invalid or unsupported Perl syntax: `(?x`"),
    ("(?P=n)", "invalid or unsupported Perl syntax: `(?P`"),
    (r"(a)\1", "invalid escape sequence: `\\1`"),
    ("a++", "invalid nested repetition operator: `++`"),
    ("a*+", "invalid nested repetition operator: `*+`"),
    ("a{2}+", "invalid nested repetition operator: `{2}+`"),
    ("a**", "invalid nested repetition operator: `**`"),
    (r"\C", "invalid escape sequence: `\\C`"),  # RE2 accepts it; Go does not
    (r"[\C]", "invalid escape sequence: `\\C`"),
    (r"\Z", "invalid escape sequence: `\\Z`"),
    (r"\e", "invalid escape sequence: `\\e`"),
    (r"\u0041", "invalid escape sequence: `\\u`"),
    (r"\p{Kawi}", "invalid character class range: `\\p{Kawi}`"),  # Unicode 15; Go 1.19 has Unicode 13
    (r"[\P{^Vithkuqi}]", "invalid character class range: `\\P{^Vithkuqi}`"),
    (r"\p{greek}", "invalid character class range: `\\p{greek}`"),
    ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
    ("[z-a]", "invalid character class range: `z-a`"),
    ("[a", "missing closing ]: `[a)$`"),
    ("(", "missing closing ): `^(?:()$`"),
    (r"\Qa.b", "missing closing ): `^(?:\\Qa.b)$`"),  # \Q quotes the wrapper's `)$` too
    ("a))((b", "unexpected ): `^(?:a))((b)$`"),
    ("*", "missing argument to repetition operator: `*`"),
    ("a{1001}", "invalid repeat count: `{1001}`"),
    ("(a{1000}){1000}", "invalid repeat count: `{1000}`"),
    ("(" * 999 + "x" + ")" * 999, "expression nests too deeply"),
]


@pytest.mark.parametrize("pattern", REGEX_ACCEPTED, ids=lambda p: p[:40])
def test_regex_accepted(pattern: str) -> None:
    assert new_matcher("v", RE, pattern).value == pattern


@pytest.mark.parametrize(("pattern", "reason"), REGEX_REFUSED, ids=lambda p: p[:40])
def test_regex_refused_with_gos_reason(pattern: str, reason: str) -> None:
    with pytest.raises(MatcherError) as caught:
        new_matcher("v", RE, pattern)
    assert f"error parsing regexp: {reason}" in str(caught.value)
    assert str(caught.value).startswith(f"invalid regular expression {pattern!r}: ")


def test_a_refused_regex_is_a_config_problem_with_the_reason() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "routes: [{name: r, action: notify, match: ['a=\"1\"', 'b=~\"(?=x)\"']}]",
            source=Path("c.yaml"),
            environ={},
        )
    assert list(caught.value.problems) == [
        "c.yaml: routes[0].match[1]: invalid regular expression '(?=x)': "
        "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"
    ]


# Alertmanager v0.25.0 pkg/labels/matcher_test.go TestMatcher, every case, then the regex semantics of Go's
# RE2 where Python's `re` would answer differently: (op, matcher value, label value, matches).
AM_MATCH_TESTS = [
    (EQ, "bar", "bar", True),
    (EQ, "bar", "foo-bar", False),
    (NE, "bar", "bar", False),
    (NE, "bar", "foo-bar", True),
    (RE, "bar", "bar", True),
    (RE, "bar", "foo-bar", False),
    (RE, ".*bar", "foo-bar", True),
    (NRE, "bar", "bar", False),
    (NRE, "bar", "foo-bar", True),
    (NRE, ".*bar", "foo-bar", False),
    (RE, "foo.bar", "foo-bar", True),
    (RE, r"foo\.bar", "foo-bar", False),
    (RE, r"foo\.bar", "foo.bar", True),
    (EQ, "foo\nbar", "foo\nbar", True),
    (RE, "foo.bar", "foo\nbar", False),
    (RE, "(?s)foo.bar", "foo\nbar", True),
    (EQ, '~!="', '~!="', True),
]
GO_REGEX_TESTS = [
    (RE, "hi", "high", False),  # anchored
    (RE, "bar", "bar\n", False),  # Python's `$` would accept the trailing newline
    (RE, "(?m)foo$", "foo\n", False),  # the outer $ is still the end of the text
    (RE, "a)|(b", "axx", True),  # ^(?:a) or (b)$: starts with a ...
    (RE, "a)|(b", "xxb", True),  # ... or ends with b
    (RE, "a)|(b", "xax", False),
    (RE, r"\pL+", "Ünïcødé", True),
    (RE, r"\pL+", "abc1", False),
    (RE, r"\p{Greek}+", "αβγ", True),
    (RE, r"\p{Greek}+", "abc", False),
    (RE, "[[:alpha:]]+", "abc", True),
    (RE, "[[:alpha:]]+", "é", False),  # POSIX classes are ASCII
    (RE, r"\Q.*+?\E", ".*+?", True),
    (RE, r"\Q.*+?\E", "aaaa", False),
    (RE, r"\d+", "123", True),
    (RE, r"\d+", "١٢٣", False),  # Go's \d is ASCII; Python's matches Arabic-Indic digits
    (RE, r"\w+", "a_1", True),
    (RE, r"\w+", "é", False),
    (RE, r"\s", " ", True),
    (RE, r"\s", "\u00a0", False),
    (RE, r".*\bfoo\b.*", "a foo b", True),
    (RE, r".*\bfoo\b.*", "éfooé", True),  # é is not a word character for Go's \b
    (RE, "(?i)HIGH", "high", True),
    (RE, "HIGH", "high", False),
    (RE, "(?i)k", "\u212a", True),  # Kelvin sign folds to k, as in Go
    (RE, "(?U)a+", "aaa", True),
    (RE, "[^a]", "\n", True),  # negated classes match a newline, `.` does not
    (RE, ".", "\n", False),
    (RE, ".", "😀", True),
    (RE, "..", "😀", False),  # one code point, not bytes
    (RE, r"\x{1F600}", "😀", True),
    (RE, "x*", "", True),
    (RE, ".+", "", False),
    (RE, "ab|cd", "abcd", False),
    (NRE, "low|medium", "high", True),
    (RE, ".*-.*-.*-canary", "web-eu-1-canary", True),
    (RE, ".*-.*-.*-canary", "a-" * 32768, False),  # 64 KiB: linear time, no backtracking
    (RE, "(a|aa)*b", "a" * 65536, False),
]
MATCH_TESTS = AM_MATCH_TESTS + GO_REGEX_TESTS


@pytest.mark.parametrize(("op", "pattern", "value", "expected"), MATCH_TESTS, ids=lambda v: str(v)[:30])
def test_matches(op: MatchOp, pattern: str, value: str, expected: bool) -> None:
    assert new_matcher("v", op, pattern).matches(value) is expected


WORD = st.text(alphabet="ab-_Z9", max_size=4)


@settings(max_examples=400, deadline=None, database=None)
@given(
    words=st.lists(WORD, min_size=1, max_size=4),
    value=st.one_of(WORD, st.text(alphabet="ab-_Z9|\n.*é ", max_size=6)),
    negated=st.booleans(),
)
def test_a_plain_word_alternation_is_matched_as_re2_matches_it(
    words: list[str], value: str, negated: bool
) -> None:
    """`severity=~"critical|high"` is answered by a set lookup: always the answer RE2 gives."""
    pattern = "|".join(words)
    matcher = new_matcher("v", NRE if negated else RE, pattern)
    assert matcher.words == frozenset(words)
    by_re2 = dataclasses.replace(matcher, words=None)
    assert matcher.matches(value) is by_re2.matches(value)
    assert matcher.matches(words[0]) is not negated


def test_only_plain_words_take_the_set_lookup() -> None:
    for pattern in ("a.b", "a|b.", "(a|b)", "a|b+", "(?i)high", "a\\|b", "[ab]", "é", "a b"):
        assert new_matcher("v", RE, pattern).words is None, pattern


def test_a_lone_surrogate_in_a_value_is_one_replacement_character_as_in_go() -> None:
    # JSON allows "\ud800"; Go decodes it to U+FFFD, so it is one character that `.` matches.
    assert new_matcher("v", RE, "a.b").matches("a\ud800b")
    assert new_matcher("v", RE, "a\ufffdb").matches("a\ud800b")
    assert new_matcher("v", RE, "😀").matches("\ud83d\ude00")  # a surrogate pair is the code point


LABELS = {"alertname": "HighErrorRate", "severity": "high", "namespace": "shop"}
ANNOTATIONS = {"rollback": "true", "severity": "ignored-label-wins", "reason": "Error rate exceeded 2%"}

EVALUATIONS = [
    ('severity="high"', True),
    ('severity="ignored-label-wins"', False),  # a label shadows an annotation of the same name
    ('rollback="true"', True),  # annotations are matched too
    ('rollback!="true"', False),
    ('severity=~"critical|high"', True),
    ('severity!~"low|medium"', True),
    ('missing=""', True),  # absent == empty, as in Alertmanager
    ('missing!="x"', True),
    ('missing=~".*"', True),
    ('missing=~".+"', False),
    ('reason=~"Error rate.*"', True),
    ('rollback="true",severity="low"', False),  # all must match
    ("", True),  # no matchers: a catch-all route
]


@pytest.mark.parametrize(("text", "expected"), EVALUATIONS)
def test_matches_labels_then_annotations(text: str, expected: bool) -> None:
    assert matches_all(parse_matchers(text), LABELS, ANNOTATIONS) is expected


# --- the same tables, asked of Alertmanager 0.25 itself -----------------------------------------------------

# Where we knowingly differ (docs/config.md), with our answer: (op, pattern, value) -> matches, or
# (op, pattern, None) -> compiles. A character assigned after Unicode 13 is a letter for RE2, not for Go 1.19;
# a pattern bigger than RE2's 8 MiB budget compiles in Go; Go's parse-tree height limit counts alternations
# too, we count nested groups only.
DEEP_ALTERNATION = "(a|" * 600 + "x" + ")" * 600
KNOWN_DIFFERENCES = {
    (RE, r"\pL", "\u0870"): True,
    (RE, r"\pL{1000}", None): False,
    (RE, DEEP_ALTERNATION, None): True,
}


def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail(
            "amtool not found: install it with `apt-get install prometheus-alertmanager`", pytrace=False
        )
    return path


def am_config(matcher_lists: list[str]) -> str:
    routes = [{"receiver": f"r{i}", "matchers": [m], "continue": True} for i, m in enumerate(matcher_lists)]
    receivers = [{"name": "none"}] + [{"name": f"r{i}"} for i in range(len(matcher_lists))]
    return yaml.safe_dump({"route": {"receiver": "none", "routes": routes}, "receivers": receivers})


def am_check_configs(tmp_path: Path, items: list[str]) -> list[str | None]:
    """amtool check-config on one config per item: None if it loads, else Alertmanager's reason."""
    files = []
    for i, item in enumerate(items):
        path = tmp_path / f"c{i}.yml"
        path.write_text(am_config([item]))
        files.append(path)
    result = subprocess.run([amtool(), "check-config", *map(str, files)], capture_output=True, text=True)
    verdicts: dict[str, str | None] = {}
    for line in result.stdout.splitlines():
        if line.startswith("Checking '"):
            name, _, outcome = line.removeprefix("Checking '").partition("'")
            outcome = outcome.strip()
            verdicts[name] = None if outcome == "SUCCESS" else outcome.removeprefix("FAILED: ")
    assert len(verdicts) == len(files), result.stdout + result.stderr
    return [verdicts[str(f)] for f in files]


def test_alertmanager_agrees_on_parsing(tmp_path: Path) -> None:
    verdicts = am_check_configs(tmp_path, [text for text, _ in PARSE_TESTS])
    for (text, expected), verdict in zip(PARSE_TESTS, verdicts, strict=True):
        if isinstance(expected, str):  # amtool's report line loses trailing spaces
            assert verdict is not None and verdict.endswith(expected.rstrip()), (text, verdict)
        else:
            assert verdict is None, (text, verdict)


def test_alertmanager_agrees_on_regex_syntax(tmp_path: Path) -> None:
    escaped = [p.replace("\\", "\\\\").replace('"', '\\"') for p in REGEX_ACCEPTED]
    refused = [p.replace("\\", "\\\\").replace('"', '\\"') for p, _ in REGEX_REFUSED]
    divergent = [(p, ours) for (_, p, v), ours in KNOWN_DIFFERENCES.items() if v is None]
    verdicts = am_check_configs(
        tmp_path, [f'v=~"{p}"' for p in [*escaped, *refused, *(p for p, _ in divergent)]]
    )
    accepted_verdicts = verdicts[: len(escaped)]
    refused_verdicts = verdicts[len(escaped) : len(escaped) + len(refused)]
    assert accepted_verdicts == [None] * len(escaped)
    for (pattern, reason), verdict in zip(REGEX_REFUSED, refused_verdicts, strict=True):
        assert verdict is not None and f"error parsing regexp: {reason}" in verdict, (pattern, verdict)
    for (pattern, ours), verdict in zip(divergent, verdicts[len(escaped) + len(refused) :], strict=True):
        assert (verdict is None) is not ours, (pattern[:40], verdict)  # Alertmanager answers the other way
        try:
            new_matcher("v", RE, pattern)
            compiles = True
        except MatcherError:
            compiles = False
        assert compiles is ours


def am_route(config: Path, value: str) -> set[int]:
    """The routes (indices) Alertmanager matches for an alert whose label `v` is `value`."""
    label = 'v="' + value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'
    result = subprocess.run(
        [amtool(), "config", "routes", "test", f"--config.file={config}", label],
        capture_output=True,
        text=True,
        check=True,
    )
    names = result.stdout.strip().split(",")
    return set() if names == ["none"] else {int(n.removeprefix("r")) for n in names}


def test_alertmanager_agrees_on_matching(tmp_path: Path) -> None:
    """Every matcher of the tables against every value of the tables, ours vs Alertmanager's."""
    rows = [
        *MATCH_TESTS,
        *((op, p, v, ours) for (op, p, v), ours in KNOWN_DIFFERENCES.items() if v is not None),
    ]
    matchers = list(dict.fromkeys((op, pattern) for op, pattern, _, _ in rows))
    texts = [str(new_matcher("v", op, pattern)) for op, pattern in matchers]
    config = tmp_path / "routes.yml"
    config.write_text(am_config(texts))
    values = list(dict.fromkeys(value for _, _, value, _ in rows))
    divergent_values = {v for (_, _, v) in KNOWN_DIFFERENCES}
    differences = []
    for value in values:
        theirs = am_route(config, value)
        for i, (op, pattern) in enumerate(matchers):
            ours = new_matcher("v", op, pattern).matches(value)
            known = KNOWN_DIFFERENCES.get((op, pattern, value))
            if known is not None:
                assert ours is known and (i in theirs) is not known, (pattern, value)
            elif value in divergent_values:
                continue  # a Unicode 14+ character: every Unicode class may answer differently
            elif ours != (i in theirs):
                differences.append((str(texts[i]), value[:40], ours))
    assert differences == []
