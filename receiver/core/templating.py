"""Target templates: `{{ labels.x }}` and `{{ annotations.y }}` inside otherwise literal text.

Deliberately tiny (no expressions, no functions, no Jinja): a template only copies alert values into a
namespace, a name or a label selector, and everything it renders is validated afterwards by the caller.
Keys that are not identifiers use brackets: `{{ annotations["app.kubernetes.io/name"] }}`.
A missing or empty value is an error, never an empty string: an empty namespace or name must not widen
what a route acts on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Source(StrEnum):
    LABELS = "labels"
    ANNOTATIONS = "annotations"


class TemplateError(ValueError):
    """The template text itself is wrong (found when the config is loaded)."""


class RenderError(ValueError):
    """The alert lacks a value the template needs (found per alert)."""

    def __init__(self, source: Source, key: str) -> None:
        kind = "label" if source is Source.LABELS else "annotation"
        super().__init__(f"{kind} {key!r} is missing or empty")
        self.source = source
        self.key = key


@dataclass(frozen=True, slots=True)
class Field:
    source: Source
    key: str


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    parts: tuple[str | Field, ...]

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(p for p in self.parts if isinstance(p, Field))

    def render(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            values = labels if part.source is Source.LABELS else annotations
            value = values.get(part.key, "")
            if not value:
                raise RenderError(part.source, part.key)
            out.append(value)
        return "".join(out)


_ACTION_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIELD_RE = re.compile(
    r"\s*(labels|annotations)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*\"((?:[^\"\\]|\\.)*)\"\s*\])\s*",
    re.DOTALL,
)


@functools.lru_cache(maxsize=1024)
def parse_template(text: str) -> Template:
    parts: list[str | Field] = []
    position = 0
    for action in _ACTION_RE.finditer(text):
        if action.start() > position:
            parts.append(_literal(text[position : action.start()], text))
        parts.append(_field(action.group(1), text))
        position = action.end()
    if position < len(text):
        parts.append(_literal(text[position:], text))
    return Template(text, tuple(parts))


def render(text: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    return parse_template(text).render(labels, annotations)


def _field(inner: str, text: str) -> Field:
    found = _FIELD_RE.fullmatch(inner)
    if found is None:
        raise TemplateError(
            f"cannot read {{{{{inner}}}}} in {text!r}: use {{{{ labels.NAME }}}}, {{{{ annotations.NAME }}}} "
            'or {{ labels["NAME"] }}'
        )
    key = found.group(2) if found.group(2) is not None else re.sub(r"\\(.)", r"\1", found.group(3))
    if not key:
        raise TemplateError(f"empty key in {text!r}")
    return Field(Source(found.group(1)), key)


def _literal(chunk: str, text: str) -> str:
    if "{{" in chunk or "}}" in chunk:
        raise TemplateError(f"unbalanced '{{{{' or '}}}}' in {text!r}")
    return chunk
