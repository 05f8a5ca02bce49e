"""Prometheus `/metrics` and JSON `/health` over HTTP, served from one thread of nautilusd.

Every figure is read at scrape time, in the server thread, from what a `MetricsSource` gives:
the shm status table, the ring headers and psutil. Nothing is counted for metrics on any hot
path, and the scrape takes no lock the daemon's event loop could wait on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import choose_encoder

from nautilusd.metrics._collect import NautilusdCollector

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
HEALTH_NAMES = {0: "healthy", 1: "degraded", 2: "down"}


class MetricsSource(Protocol):
    """What the metrics server reads; every method runs in the server thread.

    Implementations must answer from shared memory, immutable config and psutil only (see
    `nautilusd.metrics.source.StatusTableSource`, which the daemon uses): no call into the
    event loop, no lock it holds. Two optional methods are used when present:
    `loop_stats() -> Mapping[str, float]` (daemon loop counters; keys ending in `_total` are
    counters) and `latency_histograms() -> Sequence[Mapping]` (each {"path", "buckets":
    [(upper_bound_s, cumulative_count), ...], "sum_s", "count"}).
    """

    def status_snapshot(self) -> Mapping[str, Any]:
        """A document shaped like `Supervisor.status()`: {"daemon": {...}, "engines": [...]}."""
        ...

    def ring_stats(self) -> Sequence[Mapping[str, Any]]:
        """`shm.ring.ring_stats` of every ring plus "name" (and "engine" per reader)."""
        ...

    def health(self) -> tuple[int, Mapping[str, Any]]:
        """(0 healthy | 1 degraded | 2 down, details)."""
        ...


def parse_address(address: str | None) -> tuple[str, int]:
    """"host:port", ":port", "[v6]:port" or "host" -> (host, port); host defaults to loopback."""
    if not address:
        return DEFAULT_HOST, DEFAULT_PORT
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port:
        host, port = address, str(DEFAULT_PORT)
    host = host.strip("[]") or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"metrics address {address!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"metrics address {address!r}: port {number} is out of range")
    return host, number


class MetricsServer:
    """Serves /metrics and /health for `source` on `address`; `start()`, then `stop()`."""

    def __init__(self, address: str | None, source: MetricsSource) -> None:
        self.host, self.port = parse_address(address)
        self.source = source
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = NautilusdCollector(source)
        self.registry.register(self.collector)
        self.registry.register(ProcessCollector(namespace="nautilusd", registry=None))
        self.scrapes = 0
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def metrics_url(self) -> str:
        """The URL of /metrics (with the bound port once started), for `nautilusctl status`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    @property
    def health_url(self) -> str:
        return self.metrics_url.removesuffix("/metrics") + "/health"

    def start(self) -> MetricsServer:
        """Bind (port 0 picks a free port) and serve from one daemon thread."""
        server_class = _server_class(self.host)
        self._server = server_class((self.host, self.port), _handler(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
            name="nautilusd-metrics", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = self._thread = None

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def render_metrics(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        self.scrapes += 1
        return encoder(self.registry), content_type

    def render_health(self) -> tuple[int, bytes]:
        try:
            code, details = self.source.health()
        except Exception as exc:  # a broken source must still answer, and answer "down"
            code, details = 2, {"error": f"{type(exc).__name__}: {exc}"}
        body = {"status": HEALTH_NAMES.get(code, "down"), "code": code, **details}
        return (200 if code == 0 else 503), json.dumps(body, default=str).encode()


def _server_class(host: str) -> type[HTTPServer]:
    if ":" not in host:
        return HTTPServer

    class V6Server(HTTPServer):
        address_family = __import__("socket").AF_INET6

    return V6Server


def _handler(owner: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a stalled client must not hold the single server thread
        server_version = "nautilusd"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, content_type = owner.render_metrics(self.headers.get("Accept"))
                self._reply(200, body, content_type)
            elif path == "/health":
                status, body = owner.render_health()
                self._reply(status, body, "application/json")
            else:
                self._reply(404, b"not found: try /metrics or /health\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would flood the journal

    return Handler
