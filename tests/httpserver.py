"""A real HTTP/1.1 server on 127.0.0.1 for tests: set its routes, then assert on what it received.

::

    with HTTPServer() as server:
        server.route("/feed.xml", body=b"<rss/>", headers={"ETag": '"v1"'})
        server.route("/slow", body=b"late", delay=0.5)
        server.route("/echo", lambda request: Reply(body=request.body))
        ...  # fetch server.url("/feed.xml")
        assert server.requests[0].headers["User-Agent"].startswith("newswatch/")

- A body that is an iterable of chunks rather than ``bytes`` is streamed one chunk at a time
  (``Transfer-Encoding: chunked`` unless the reply sets ``Content-Length``), waiting
  ``chunk_delay`` before each; ``server.streams`` says how much left and whether the client hung
  up. An iterator is used up by one request: to serve one twice, route a callable.
- ``delay`` waits before the status line. Unrouted paths answer 404.
- Every request is recorded in arrival order (one whose body was cut short by the client
  hanging up is not a request, and is not recorded); ``max_in_flight`` is the most requests
  the server held at one time (arrived, reply not yet started).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Request:
    """One request as the server received it; ``headers`` is case-insensitive."""

    method: str
    path: str
    headers: Message
    body: bytes
    time: float  # time.monotonic() when its headers had arrived


@dataclass
class Reply:
    """What a route answers."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    delay: float = 0.0
    chunk_delay: float = 0.0


@dataclass
class Stream:
    """How one streamed body went, seen from the server."""

    path: str
    sent: int = 0
    disconnected: bool = False
    done: threading.Event = field(default_factory=threading.Event)


Route = Reply | Callable[[Request], Reply]


class HTTPServer:
    """A threaded HTTP server on a free port of ``host`` (a loopback address); a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.streams: list[Stream] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={
            "poll_interval": 0.01}, name="test-http-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        """Return the absolute URL of ``path`` on this server."""
        return f"http://{self._server.server_address[0]}:{self.port}{path}"

    def route(self, path: str, reply: Route | None = None, /, **fields: Any) -> None:
        """Answer ``path`` (query string included, if any) with a Reply, a callable or fields."""
        if reply is not None and fields:
            raise TypeError("give a Reply, a callable or Reply fields, not both")
        self._routes[path] = reply if reply is not None else Reply(**fields)

    def requests_to(self, path: str) -> list[Request]:
        """Return the requests received for ``path``."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_streams(self, timeout: float = 5.0) -> list[Stream]:
        """Wait until every streamed body started so far has ended; return them."""
        until = time.monotonic() + timeout
        for stream in list(self.streams):
            if not stream.done.wait(max(0.0, until - time.monotonic())):
                raise TimeoutError(f"stream of {stream.path} still running after {timeout} s")
        return self.streams

    def __enter__(self) -> HTTPServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- called from the handler threads ---------------------------------------------------
    def _arrived(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            route = self._routes.get(request.path)
        if route is None:
            return Reply(status=404, body=b"not found")
        return route(request) if callable(route) else route

    def _left(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _stream(self, path: str) -> Stream:
        stream = Stream(path)
        with self._lock:
            self.streams.append(stream)
        return stream


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HTTPServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up is what several tests do on purpose; anything else is loud.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # The client hung up inside its body (a killed sender): no request arrived, as a
            # real server would see it. It is not recorded and gets no answer.
            self.close_connection = True
            return
        owner = self.server.owner
        reply = owner._arrived(Request(self.command, self.path, self.headers, body,
                                       time.monotonic()))
        try:
            if reply.delay:
                time.sleep(reply.delay)
        finally:
            # Counted as answered once the reply starts: the client may send its next request
            # as soon as the last byte leaves, before this thread runs again.
            owner._left()
        try:
            self._send(reply)
        except ConnectionError:
            self.close_connection = True

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        names = {name.lower() for name in reply.headers}
        for name, value in reply.headers.items():
            self.send_header(name, value)
        bodiless = self.command == "HEAD" or reply.status in (204, 304) or reply.status < 200
        if isinstance(reply.body, bytes):
            if "content-length" not in names and not bodiless:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if not bodiless:
                self.wfile.write(reply.body)
            return
        chunked = "content-length" not in names
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stream = self.server.owner._stream(self.path)
        try:
            for chunk in reply.body:
                if not chunk:
                    continue  # an empty chunk would end a chunked body
                if reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
                self.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                stream.sent += len(chunk)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except ConnectionError:
            stream.disconnected = True
            self.close_connection = True
        finally:
            stream.done.set()
