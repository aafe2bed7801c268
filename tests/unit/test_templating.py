"""Target templates: only alert values copied in; a missing value is an error, never an empty string."""

from __future__ import annotations

import pytest

from receiver.core.templating import RenderError, Source, TemplateError, parse_template, render

LABELS = {"namespace": "shop", "deployment": "ecommerce", "empty": ""}
ANNOTATIONS = {"rollback_to_revision": "2", "app.kubernetes.io/name": "ecommerce"}

RENDERS = [
    ("{{ labels.namespace }}", "shop"),
    ("{{labels.namespace}}", "shop"),
    ("  {{  labels.deployment  }}  ", "  ecommerce  "),
    ("{{ labels.deployment }}-canary", "ecommerce-canary"),
    ("{{ labels.namespace }}/{{ labels.deployment }}", "shop/ecommerce"),
    ("{{ annotations.rollback_to_revision }}", "2"),
    ('{{ annotations["app.kubernetes.io/name"] }}', "ecommerce"),
    ('{{ labels[ "namespace" ] }}', "shop"),
    ("literal-name", "literal-name"),
    ("", ""),
    ("app={{ labels.deployment }},tier=web", "app=ecommerce,tier=web"),
]


@pytest.mark.parametrize(("text", "expected"), RENDERS)
def test_render(text: str, expected: str) -> None:
    assert render(text, LABELS, ANNOTATIONS) == expected


@pytest.mark.parametrize(
    ("text", "source", "key"),
    [
        ("{{ labels.missing }}", Source.LABELS, "missing"),
        ("{{ labels.empty }}", Source.LABELS, "empty"),
        ("{{ annotations.namespace }}", Source.ANNOTATIONS, "namespace"),  # labels are not annotations
        ("x-{{ labels.namespace }}-{{ labels.nope }}", Source.LABELS, "nope"),
    ],
)
def test_missing_values_are_errors(text: str, source: Source, key: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(text, LABELS, ANNOTATIONS)
    assert (caught.value.source, caught.value.key) == (source, key)
    assert key in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "{{ labels }}",
        "{{ labels. }}",
        "{{ labels.a.b }}",
        "{{ .Labels.namespace }}",
        "{{ env.HOME }}",
        "{{ labels.a | upper }}",
        "{{ labels.namespace }",
        "{{ labels.namespace",
        "labels.namespace }}",
        "{{ {{ labels.namespace }} }}",
        '{{ labels[""] }}',
        "{{ labels['single'] }}",
        "{{}}",
    ],
)
def test_bad_templates(text: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(text)


def test_fields_lists_what_a_template_reads() -> None:
    template = parse_template("{{ labels.namespace }}-{{ annotations.x }}")
    assert [(f.source, f.key) for f in template.fields] == [
        (Source.LABELS, "namespace"),
        (Source.ANNOTATIONS, "x"),
    ]
    assert parse_template("plain").fields == ()
