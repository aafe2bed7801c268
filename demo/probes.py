"""Small loopback HTTP probes: the receiver's /metrics and decisions, Prometheus' and Alertmanager's APIs."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")


def _loopback(url: str) -> str:
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"refusing to probe a non-loopback address: {url}")
    return url


def get_text(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> str:
    request = urllib.request.Request(_loopback(url), headers=dict(headers or {}))  # noqa: S310 (loopback http)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return str(response.read().decode("utf-8"))


def get_json(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> Any:
    return json.loads(get_text(url, headers=headers, timeout=timeout))


def metric_samples(exposition: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called `name` (full sample name, e.g. `..._total`) in a text exposition."""
    found: list[tuple[dict[str, str], float]] = []
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                found.append((dict(sample.labels), float(sample.value)))
    return found


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when there are none)."""
    return sum(
        value
        for sample_labels, value in metric_samples(exposition, name)
        if all(sample_labels.get(k) == v for k, v in labels.items())
    )


def prometheus_query(base_url: str, expr: str) -> list[tuple[dict[str, str], float]]:
    """An instant query: [(labels, value)] of the vector result."""
    url = f"{base_url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = get_json(url)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus query {expr!r} failed: {body}")
    return [(dict(item["metric"]), float(item["value"][1])) for item in body["data"]["result"]]


def wait_for(what: str, probe: Callable[[], T | None], *, timeout: float, interval: float = 1.0) -> T:
    """Poll `probe` until it returns something other than None/False; TimeoutError names `what`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
        except OSError as exc:  # a process still starting, or restarting
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)
