"""The poller's HTTP port: ``/metrics``, ``/healthz`` and ``/readyz``.

In: a Prometheus registry and a function that says whether the poller is ready, and why. Out,
for ``GET`` (and ``HEAD``):

- ``/metrics``: the registry in Prometheus' text format;
- ``/healthz``: 200 ``ok`` for as long as the process runs;
- ``/readyz``: 200 when the poller holds its loaded feed assignment and is not stalled, else
  503; the body is the reason either way (``polling the feeds of 6 of 12 state partitions``,
  ``rebalancing: feeds revoked 2 s ago``, ``stalled: input waiting and nothing processed for
  300 s``);
- any other path: 404.

It runs in threads of its own, so it answers even while the poll loop is stuck, which is when
``/readyz`` matters most. A readiness function that raises is a 500 and a logged stack trace,
never a 200::

    server = StatusServer(8000, registry, status=lambda: (True, "polling"))
    server.start()
    ...
    server.close()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Status = Callable[[], tuple[bool, str]]
TEXT = "text/plain; charset=utf-8"


class StatusServer:
    """An HTTP server on ``host:port`` (port 0: any free one) in a daemon thread."""

    def __init__(self, port: int, registry: CollectorRegistry, *, status: Status,
                 host: str = "0.0.0.0") -> None:
        # Binding here, not in start(), so a port in use fails before anything else starts.
        self._server = _Server((host, port), _Handler)
        self._server.registry = registry
        self._server.status = status
        # Polls for shutdown() every 0.1 s, so close() returns that fast.
        self._thread = Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="status-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: CollectorRegistry
    status: Status


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics":
            self._reply(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._reply(200, b"ok\n", TEXT)
        elif path == "/readyz":
            try:
                ready, reason = self.server.status()
            except Exception:
                log.exception("/readyz: the readiness check failed")
                self._reply(500, b"readiness check failed: see the log\n", TEXT)
                return
            self._reply(200 if ready else 503, f"{reason}\n".encode(), TEXT)
        else:
            self._reply(404, b"not found: try /metrics, /healthz or /readyz\n", TEXT)

    def do_HEAD(self) -> None:
        self.do_GET()

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Prometheus and the orchestrator's probes call every few seconds: not worth a line.
        pass
