"""Read a Prometheus text exposition (a process' /metrics) the way a query would: samples and sums."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def metric_samples(exposition: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called `name` (the full sample name, e.g. `..._total`) with its labels."""
    return [
        (dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    ]


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there are none)."""
    return sum(
        value
        for sample_labels, value in metric_samples(exposition, name)
        if all(sample_labels.get(k) == v for k, v in labels.items())
    )
