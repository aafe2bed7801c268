"""The ecommerce service's stand-in: request counters whose error ratio follows the live image.

Every second it reads the Deployment's pod template image from the API server and "serves" a fixed
number of requests: with the bad release (v1.2.0) about 3.2% of them fail with a 5xx, with any other
image about 0.1%, as in the seed incident. Prometheus scrapes `http_requests_total{status}` from it.
While the Deployment does not exist there is no traffic, so no ratio and no alert.

It listens on 127.0.0.1 only. Run alone with `python -m demo.exporter --kubeconfig FILE`.
"""

from __future__ import annotations

import argparse
import logging
import threading
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import start_wsgi_server

from demo.kubeapi import ApiAccess

log = logging.getLogger("demo.exporter")

BAD_IMAGE_TAG = "v1.2.0"
BAD_ERROR_RATIO = 0.032
GOOD_ERROR_RATIO = 0.001
REQUESTS_PER_TICK = 1000  # per poll; big enough that 0.1% is a whole request


def error_ratio_for(image: str, bad_ratio: float = BAD_ERROR_RATIO) -> float:
    """The 5xx share of requests served by `image` (the seed: 0.1% normally, 3.2% with v1.2.0)."""
    tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
    return bad_ratio if tag == BAD_IMAGE_TAG else GOOD_ERROR_RATIO


def container_image(deployment: dict[str, Any], container: str) -> str | None:
    """The image of `container` in a Deployment's pod template (the first container if not found)."""
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    for entry in containers:
        if entry.get("name") == container:
            return str(entry.get("image", ""))
    return str(containers[0].get("image", "")) if containers else None


@dataclass(frozen=True, slots=True)
class Tick:
    """What one poll served: the image seen (None: no Deployment) and the requests by status."""

    image: str | None
    ok: int
    errors: int


def serve_tick(
    image: str | None, requests: int = REQUESTS_PER_TICK, *, bad_ratio: float = BAD_ERROR_RATIO
) -> Tick:
    if image is None:
        return Tick(image=None, ok=0, errors=0)
    errors = round(requests * error_ratio_for(image, bad_ratio))
    return Tick(image=image, ok=requests - errors, errors=errors)


class ErrorRateExporter:
    """Counters on their own registry, a poll thread and a loopback metrics server. Not reusable.

    `bad_error_ratio` is the 5xx share while the bad release runs (the seed's 3.2%; 1.0 is an outage)."""

    def __init__(
        self,
        read_image: Callable[[], str | None],
        *,
        interval: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        bad_error_ratio: float = BAD_ERROR_RATIO,
    ) -> None:
        self._read_image = read_image
        self._bad_error_ratio = bad_error_ratio
        self._interval = interval
        self._host = host
        self._port = port
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._image: str | None = None
        self.registry = CollectorRegistry()
        registry = self.registry
        self._requests = Counter(
            "http_requests", "Requests served by ecommerce, by HTTP status.", ["status"], registry=registry
        )
        self._version = Gauge(
            "ecommerce_build_info", "1 for the image the Deployment runs now.", ["image"], registry=registry
        )
        self._read_errors = Counter(
            "demo_exporter_read_errors", "Failed reads of the Deployment.", registry=registry
        )
        self._server: Any = None
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/metrics"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("exporter not started")
        return int(self._server.server_port)

    @property
    def image(self) -> str | None:
        with self._lock:
            return self._image

    def start(self) -> ErrorRateExporter:
        self._server, server_thread = start_wsgi_server(self._port, addr=self._host, registry=self.registry)
        poller = threading.Thread(target=self._poll_forever, name="demo-exporter-poll", daemon=True)
        poller.start()
        self._threads = [server_thread, poller]
        log.info("exporter serving %s", self.url)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def tick(self) -> Tick:
        """One poll: read the image, serve a second's worth of requests."""
        try:
            image = self._read_image()
        except (OSError, ValueError) as exc:  # API server restarting: keep serving the last image seen
            self._read_errors.inc()
            log.warning("cannot read the Deployment: %s", exc)
            image = self.image
        tick = serve_tick(image, bad_ratio=self._bad_error_ratio)
        with self._lock:
            if image != self._image:
                if self._image is not None:
                    self._version.remove(self._image)
                if image is not None:
                    self._version.labels(image=image).set(1)
                self._image = image
        if tick.ok:
            self._requests.labels(status="200").inc(tick.ok)
        if tick.errors:
            self._requests.labels(status="500").inc(tick.errors)
        return tick

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self._interval)


def deployment_image_reader(
    api: ApiAccess, namespace: str, name: str, container: str
) -> Callable[[], str | None]:
    """A reader for ErrorRateExporter: the container's template image, None while the Deployment is absent."""
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"

    def read() -> str | None:
        try:
            return container_image(api.get_json(path), container)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    return read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.exporter", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", default="shop")
    parser.add_argument("--deployment", default="ecommerce")
    parser.add_argument("--container", default="ecommerce")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    reader = deployment_image_reader(
        ApiAccess.from_kubeconfig(args.kubeconfig), args.namespace, args.deployment, args.container
    )
    exporter = ErrorRateExporter(reader, port=args.port).start()
    print(exporter.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        exporter.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
