"""Fetch: a URL in, the decoded bytes of one HTTP response out. It never parses them.

In: a URL and the validators (ETag, Last-Modified) kept from the previous poll. Out: a
:class:`FetchResult` (a 2xx with its body, or a 304 without one) or a :class:`FetchError`.
It must never hold more than ``max_bytes`` of a body in memory (compressed or decoded), never
take longer than its deadline, and never run more than ``per_host`` requests to one host at
once. This is the only module that imports httpx::

    async with Fetcher(user_agent=settings.user_agent) as fetcher:
        result = await fetcher.fetch(url, Validators(etag='"abc"'))
        if result.status == 304: ...          # unchanged since the last poll

Every failure is one exception, :class:`FetchError`, whose ``kind`` is a closed set (it is a
metric label). All kinds are retried by the poller with :func:`backoff_delay`; the last four
rarely fix themselves and usually mean the feeds file needs an edit::

    FetchError
     ├─ kind="timeout"              a connect/read/write/pool wait, or the whole deadline, ran out
     ├─ kind="connect"              DNS, refused, reset or TLS failure; connection lost mid-body
     ├─ kind="http_5xx"             a 5xx other than 503
     ├─ kind="rate_limited"         429 or 503; ``retry_after`` holds the server's Retry-After
     ├─ kind="http_4xx"             any other 4xx (403, 404, 410 ...)
     ├─ kind="too_large"            the body, decoded or not, passed ``max_bytes``
     ├─ kind="too_many_redirects"   more than ``max_redirects`` hops
     └─ kind="invalid"              bad URL or Location, other scheme, broken compression,
                                    unsupported Content-Encoding, HTTP protocol violation
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import time
import zlib
from dataclasses import dataclass
from typing import Literal, Protocol

import brotli
import httpx

from monitor.retryafter import parse_retry_after

FEED_ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
               "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8")
#: Only what this module can decode with a bound on the output (see ``_Decoder``).
ACCEPT_ENCODING = "gzip, deflate, br"
#: A longer Retry-After is taken as this: one bad header must not silence a feed for a year.

ErrorKind = Literal["timeout", "connect", "http_4xx", "http_5xx", "too_large",
                    "too_many_redirects", "rate_limited", "invalid"]
ERROR_KINDS: tuple[ErrorKind, ...] = ("timeout", "connect", "http_4xx", "http_5xx", "too_large",
                                      "too_many_redirects", "rate_limited", "invalid")



@dataclass(frozen=True)
class Validators:
    """What the server said identifies this version of the document, for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def request_headers(self) -> dict[str, str]:
        """Return ``If-None-Match`` / ``If-Modified-Since`` for the validators we have."""
        headers = {}
        for name, value in (("If-None-Match", self.etag),
                            ("If-Modified-Since", self.last_modified)):
            # A header value we could not send back verbatim is skipped, not mangled.
            if value and value.isascii() and value.isprintable():
                headers[name] = value
        return headers


@dataclass(frozen=True)
class FetchResult:
    """One successful response: a 2xx (normally 200) with its body, or a 304 without one."""

    status: int
    body: bytes
    url: str
    content_type: str | None
    validators: Validators
    elapsed: float


class FetchError(Exception):
    """The feed could not be fetched this time; ``kind`` says why (see the module docstring)."""

    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.status = status
        self.retry_after = retry_after


class RandomSource(Protocol):
    """What :func:`backoff_delay` and :func:`jittered` need: ``random`` or a ``random.Random``."""

    def uniform(self, a: float, b: float, /) -> float: ...


def backoff_delay(failures: int, *, base: float, retry_after: float | None,
                  cap: float = 3600.0, rng: RandomSource = random) -> float:
    """Return the seconds to wait after ``failures`` failures in a row.

    - exponential with full jitter: uniform between 0 and ``min(cap, base * 2 ** (failures - 1))``;
    - never below ``retry_after``, even above ``cap``: the server asked for it (and
      :class:`Fetcher` already bounds it by ``MAX_RETRY_AFTER``);
    - ``failures`` below 1 counts as 1.
    """
    exponent = min(max(failures, 1) - 1, 64)  # 2.0 ** 64 * base is past any cap, without overflow
    delay = rng.uniform(0.0, min(cap, base * 2.0 ** exponent))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def jittered(interval: float, rng: RandomSource = random) -> float:
    """Return ``interval`` ± 10 %, so feeds polled at the same interval drift apart."""
    return interval * rng.uniform(0.9, 1.1)


class Fetcher:
    """Fetches URLs for one process over one connection pool.

    ``timeout`` bounds each wait (connect, every read, write, pool); ``deadline`` bounds the
    whole fetch from the moment it holds its host slot, redirects and body included, so a
    server that dribbles bytes cannot hold it (default ``2 * timeout``).
    """

    def __init__(self, *, user_agent: str, timeout: float = 20.0, deadline: float | None = None,
                 max_bytes: int = 10 * 1024 * 1024, per_host: int = 2,
                 max_redirects: int = 5) -> None:
        self.user_agent = user_agent
        self.timeout = timeout
        self.deadline = 2 * timeout if deadline is None else deadline
        self.max_bytes = max_bytes
        self.per_host = per_host
        self.max_redirects = max_redirects
        self._client: httpx.AsyncClient | None = None
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        self._client = httpx.AsyncClient(
            headers={"User-Agent": self.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            timeout=httpx.Timeout(self.timeout),
            # Redirects are followed here, hop by hop, so each hop takes its host's slot and
            # no redirect body is read (httpx would read it whole, unbounded).
            follow_redirects=False,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            # No proxies, netrc or certificates from the environment: Settings is the one
            # reader of os.environ, and feed hosts must never get credentials from ~/.netrc.
            trust_env=False,
            verify=_ssl_context(),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, url: str, validators: Validators | None = None, *,
                    accept: str = FEED_ACCEPT) -> FetchResult:
        """Fetch ``url`` (a conditional GET when ``validators`` are given); raise FetchError.

        - redirects are followed, at most ``max_redirects`` hops; ``url`` of the result is the
          last one;
        - a 304 returns the given validators, updated by any the 304 carries;
        - the body is decoded (gzip, deflate, br) and counted against ``max_bytes`` as it
          arrives, compressed and decoded, and the connection is dropped once it passes.
        """
        if self._client is None:
            raise RuntimeError("use Fetcher as 'async with Fetcher(...) as fetcher'")
        old = validators or Validators()
        started = time.perf_counter()
        try:
            request = self._client.build_request(
                "GET", url, headers={"Accept": accept, **old.request_headers()})
            async with asyncio.timeout(None) as deadline:
                return await self._follow(self._client, request, old, started, deadline)
        except TimeoutError as exc:
            raise FetchError("timeout", f"{url}: no complete response within "
                                        f"{self.deadline:g} s") from exc
        except httpx.InvalidURL as exc:
            raise FetchError("invalid", f"{url}: {exc}") from exc
        except httpx.RequestError as exc:
            raise _transport_error(exc, url) from exc

    async def _follow(self, client: httpx.AsyncClient, request: httpx.Request, old: Validators,
                      started: float, deadline: asyncio.Timeout) -> FetchResult:
        for _ in range(self.max_redirects + 1):
            async with self._host_slot(request.url.host):
                if deadline.when() is None:
                    deadline.reschedule(asyncio.get_running_loop().time() + self.deadline)
                response = await client.send(request, stream=True)
                try:
                    if response.next_request is None:
                        return await self._read(response, old, started)
                    request = response.next_request
                finally:
                    await response.aclose()
        raise FetchError("too_many_redirects",
                         f"{request.url}: more than {self.max_redirects} redirects")

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self.per_host)
        return slot

    async def _read(self, response: httpx.Response, old: Validators,
                    started: float) -> FetchResult:
        status, url = response.status_code, str(response.url)
        content_type = response.headers.get("Content-Type")
        if status == 304:
            validators = Validators(
                etag=response.headers.get("ETag") or old.etag,
                last_modified=response.headers.get("Last-Modified") or old.last_modified)
            return FetchResult(status=304, body=b"", url=url, content_type=content_type,
                               validators=validators, elapsed=time.perf_counter() - started)
        if status >= 400:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            kind: ErrorKind = ("rate_limited" if status in (429, 503)
                               else "http_4xx" if status < 500 else "http_5xx")
            raise FetchError(kind, f"{url}: HTTP {status}", status=status,
                             retry_after=retry_after)
        if not 200 <= status < 300:
            # A 3xx without a usable Location, or a status HTTP does not define.
            raise FetchError("invalid", f"{url}: unexpected HTTP {status}", status=status)
        body = await self._read_body(response, url)
        return FetchResult(
            status=status, body=body, url=url, content_type=content_type,
            validators=Validators(etag=response.headers.get("ETag"),
                                  last_modified=response.headers.get("Last-Modified")),
            elapsed=time.perf_counter() - started)

    async def _read_body(self, response: httpx.Response, url: str) -> bytes:
        too_large = FetchError("too_large", f"{url}: body over {self.max_bytes} bytes",
                               status=response.status_code)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_large
        try:
            decoder = _Decoder(response.headers.get_list("Content-Encoding", split_commas=True),
                               limit=self.max_bytes)
        except ValueError as exc:
            raise FetchError("invalid", f"{url}: {exc}", status=response.status_code) from exc
        received = 0
        parts: list[bytes] = []
        try:
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > self.max_bytes:
                    raise too_large
                parts.append(decoder.decode(chunk))
            parts.append(decoder.flush())
        except _TooLarge:
            raise too_large from None
        except (zlib.error, brotli.error) as exc:
            raise FetchError("invalid", f"{url}: broken {decoder.encodings} body: {exc}",
                             status=response.status_code) from exc
        return b"".join(parts)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds; every Fetcher of the process shares it.
    return httpx.create_ssl_context(trust_env=False)


def _transport_error(exc: httpx.RequestError, url: str) -> FetchError:
    if isinstance(exc, httpx.TimeoutException):
        return FetchError("timeout", f"{url}: {type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.NetworkError | httpx.ProxyError):
        return FetchError("connect", f"{url}: {type(exc).__name__}: {exc}")
    if isinstance(exc, httpx.TooManyRedirects):
        return FetchError("too_many_redirects", f"{url}: {exc}")
    # ProtocolError, UnsupportedProtocol, DecodingError: the server or the URL is at fault.
    return FetchError("invalid", f"{url}: {type(exc).__name__}: {exc}")


# -- bounded decoding ------------------------------------------------------------------------
# httpx decodes each network chunk whole, and 64 KiB of brotli can expand to gigabytes. Each
# stage here asks its decompressor for at most the bytes still allowed (+1 to notice an
# overflow), so memory stays bounded by ``limit`` whatever the compression ratio.


class _TooLarge(Exception):
    pass


class _Zlib:
    def __init__(self, wbits: int, *, raw_fallback: bool = False) -> None:
        self._wbits = wbits
        self._raw_fallback = raw_fallback  # "deflate" is meant to be zlib, but often is raw
        self._started = False
        self._decompressor = zlib.decompressobj(wbits)

    def decode(self, data: bytes, budget: int) -> bytes:
        out = []
        while data and budget > 0:
            try:
                chunk = self._decompressor.decompress(data, budget)
            except zlib.error:
                if not self._raw_fallback or self._started:
                    raise
                self._raw_fallback = False
                self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._started = True
            out.append(chunk)
            budget -= len(chunk)
            if self._decompressor.unconsumed_tail:
                break  # the budget is spent; the caller reports the overflow
            data = self._decompressor.unused_data if self._decompressor.eof else b""
            if data[:2] == b"\x1f\x8b" and self._wbits & 16:
                self._decompressor = zlib.decompressobj(self._wbits)  # next gzip member
            else:
                data = b""  # bytes after the end of the stream are ignored, as browsers do
        return b"".join(out)

    def flush(self, budget: int) -> bytes:
        return self._decompressor.flush() if budget > 0 else b""


class _Brotli:
    def __init__(self) -> None:
        self._decompressor = brotli.Decompressor()

    def decode(self, data: bytes, budget: int) -> bytes:
        out: list[bytes] = [self._decompressor.process(data, output_buffer_limit=budget)]
        produced = len(out[0])
        while produced < budget and not self._decompressor.can_accept_more_data():
            more: bytes = self._decompressor.process(b"", output_buffer_limit=budget - produced)
            if not more:
                break
            out.append(more)
            produced += len(more)
        return b"".join(out)

    def flush(self, budget: int) -> bytes:
        return self.decode(b"", budget)


class _Identity:
    def decode(self, data: bytes, budget: int) -> bytes:
        return data

    def flush(self, budget: int) -> bytes:
        return b""


class _Decoder:
    """Undo a Content-Encoding list (``gzip``, ``deflate``, ``br``, stacked), within ``limit``."""

    def __init__(self, encodings: list[str], *, limit: int) -> None:
        self.encodings = ", ".join(encodings) or "identity"
        self._limit = limit
        self._produced = 0
        self._stages: list[_Zlib | _Brotli | _Identity] = []
        for encoding in reversed([e.strip().lower() for e in encodings]):  # last applied first
            if encoding in ("gzip", "x-gzip"):
                self._stages.append(_Zlib(16 + zlib.MAX_WBITS))
            elif encoding == "deflate":
                self._stages.append(_Zlib(zlib.MAX_WBITS, raw_fallback=True))
            elif encoding == "br":
                self._stages.append(_Brotli())
            elif encoding in ("identity", ""):
                self._stages.append(_Identity())
            else:
                raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def decode(self, data: bytes) -> bytes:
        for stage in self._stages:
            data = stage.decode(data, self._budget())
        return self._count(data)

    def flush(self) -> bytes:
        data = b""
        for stage in self._stages:
            data = stage.decode(data, self._budget()) + stage.flush(self._budget())
        return self._count(data)

    def _budget(self) -> int:
        return self._limit - self._produced + 1

    def _count(self, data: bytes) -> bytes:
        self._produced += len(data)
        if self._produced > self._limit:
            raise _TooLarge
        return data
