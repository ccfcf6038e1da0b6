from __future__ import annotations

import asyncio
import gzip
import random
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import pytest

from monitor.feeds.feedlist import load_feeds
from monitor.feeds.fetch import (
    FEED_ACCEPT,
    Fetcher,
    FetchError,
    Validators,
    backoff_delay,
    jittered,
)
from monitor.retryafter import MAX_RETRY_AFTER, parse_retry_after
from tests.httpserver import HTTPServer, Reply, Request

UA = "newswatch/test (+https://example.org/newswatch)"
RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"
MB = 1024 * 1024
SHIPPED_FEEDS = Path(__file__).parents[2] / "deploy" / "feeds.yaml"


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    with HTTPServer() as http_server:
        yield http_server


async def fetch_error(fetcher: Fetcher, url: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        await fetcher.fetch(url)
    return caught.value


# -- what is sent ------------------------------------------------------------------------------
async def test_user_agent_accept_and_encodings_are_sent(server: HTTPServer) -> None:
    server.route("/feed", body=RSS)
    async with Fetcher(user_agent=UA) as fetcher:
        await fetcher.fetch(server.url("/feed"))
    headers = server.requests_to("/feed")[0].headers
    assert headers["User-Agent"] == UA
    assert headers["Accept"] == FEED_ACCEPT
    assert headers["Accept-Encoding"] == "gzip, deflate, br"
    assert headers["If-None-Match"] is None and headers["If-Modified-Since"] is None


async def test_validators_are_captured_with_body_and_content_type(server: HTTPServer) -> None:
    server.route("/feed", body=RSS, headers={
        "Content-Type": "application/rss+xml; charset=utf-8", "ETag": 'W/"v1"',
        "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"})
    async with Fetcher(user_agent=UA) as fetcher:
        result = await fetcher.fetch(server.url("/feed"))
    assert (result.status, result.body, result.url) == (200, RSS, server.url("/feed"))
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.validators == Validators('W/"v1"', "Wed, 21 Oct 2015 07:28:00 GMT")
    assert result.elapsed > 0


async def test_conditional_get_sends_validators_and_returns_304(server: HTTPServer) -> None:
    def conditional(request: Request) -> Reply:
        if request.headers["If-None-Match"] == '"v1"':
            return Reply(status=304, headers={"ETag": '"v1"'})
        return Reply(body=RSS, headers={"ETag": '"v1"'})

    server.route("/feed", conditional)
    old = Validators(etag='"v1"', last_modified="Wed, 21 Oct 2015 07:28:00 GMT")
    async with Fetcher(user_agent=UA) as fetcher:
        result = await fetcher.fetch(server.url("/feed"), old)
    assert (result.status, result.body, result.validators) == (304, b"", old)
    sent = server.requests_to("/feed")[0].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Wed, 21 Oct 2015 07:28:00 GMT"


async def test_validators_that_cannot_be_sent_back_are_skipped(server: HTTPServer) -> None:
    server.route("/feed", body=RSS)
    async with Fetcher(user_agent=UA) as fetcher:
        await fetcher.fetch(server.url("/feed"), Validators(etag='"caf\u00e9"'))
    assert server.requests_to("/feed")[0].headers["If-None-Match"] is None


# -- redirects ---------------------------------------------------------------------------------
async def test_redirects_are_followed_and_the_final_url_reported(server: HTTPServer) -> None:
    server.route("/old", status=301, headers={"Location": "/moved"})
    server.route("/moved", status=302, headers={"Location": server.url("/feed")})
    server.route("/feed", body=RSS, headers={"ETag": '"v2"'})
    async with Fetcher(user_agent=UA) as fetcher:
        result = await fetcher.fetch(server.url("/old"), Validators(etag='"v1"'))
    assert (result.status, result.body, result.url) == (200, RSS, server.url("/feed"))
    assert result.validators.etag == '"v2"'
    assert [r.path for r in server.requests] == ["/old", "/moved", "/feed"]
    assert server.requests_to("/feed")[0].headers["If-None-Match"] == '"v1"'


async def test_a_redirect_loop_stops_after_max_redirects(server: HTTPServer) -> None:
    server.route("/loop", status=307, headers={"Location": "/loop"})
    async with Fetcher(user_agent=UA, max_redirects=3) as fetcher:
        error = await fetch_error(fetcher, server.url("/loop"))
    assert error.kind == "too_many_redirects"
    assert len(server.requests) == 4


async def test_a_redirect_to_another_scheme_is_invalid(server: HTTPServer) -> None:
    server.route("/old", status=302, headers={"Location": "ftp://127.0.0.1/feed"})
    async with Fetcher(user_agent=UA) as fetcher:
        assert (await fetch_error(fetcher, server.url("/old"))).kind == "invalid"


# -- compression -------------------------------------------------------------------------------
def deflate_raw(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(("encoding", "compress"), [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", deflate_raw),
    ("br", brotli.compress),
    ("br, gzip", lambda data: gzip.compress(brotli.compress(data))),
], ids=["gzip", "deflate-zlib", "deflate-raw", "br", "br-then-gzip"])
async def test_compressed_body_is_decoded(server: HTTPServer, encoding: str,
                                          compress: object) -> None:
    assert callable(compress)
    server.route("/feed", body=compress(RSS * 100), headers={"Content-Encoding": encoding})
    async with Fetcher(user_agent=UA) as fetcher:
        result = await fetcher.fetch(server.url("/feed"))
    assert result.body == RSS * 100


async def test_concatenated_gzip_members_are_all_decoded(server: HTTPServer) -> None:
    server.route("/feed", body=gzip.compress(RSS) + gzip.compress(b"<!-- more -->"),
                 headers={"Content-Encoding": "gzip"})
    async with Fetcher(user_agent=UA) as fetcher:
        assert (await fetcher.fetch(server.url("/feed"))).body == RSS + b"<!-- more -->"


async def test_broken_or_unknown_compression_is_invalid(server: HTTPServer) -> None:
    server.route("/broken", body=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    server.route("/zstd", body=b"\x28\xb5\x2f\xfd", headers={"Content-Encoding": "zstd"})
    async with Fetcher(user_agent=UA) as fetcher:
        assert (await fetch_error(fetcher, server.url("/broken"))).kind == "invalid"
        assert (await fetch_error(fetcher, server.url("/zstd"))).kind == "invalid"


# -- size cap ----------------------------------------------------------------------------------
async def test_body_over_the_cap_is_aborted_as_it_streams(server: HTTPServer) -> None:
    produced = 0

    def fifty_megabytes() -> Iterator[bytes]:
        nonlocal produced
        for _ in range(50 * 16):
            produced += 64 * 1024
            yield b"x" * (64 * 1024)

    server.route("/huge", body=fifty_megabytes())
    async with Fetcher(user_agent=UA, max_bytes=256 * 1024) as fetcher:
        error = await fetch_error(fetcher, server.url("/huge"))
    assert error.kind == "too_large"
    [stream] = server.wait_streams()
    assert stream.disconnected
    # Socket buffers hold a few megabytes at most; the rest of the 50 MB is never produced.
    assert produced < 16 * MB and stream.sent < 16 * MB


async def test_declared_length_over_the_cap_is_rejected_before_the_body(
        server: HTTPServer) -> None:
    server.route("/huge", body=iter([b"x" * 1024] * 10), chunk_delay=1.0,
                 headers={"Content-Length": str(50 * MB)})
    started = time.monotonic()
    async with Fetcher(user_agent=UA, max_bytes=MB) as fetcher:
        error = await fetch_error(fetcher, server.url("/huge"))
    assert error.kind == "too_large"
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("encoding", ["gzip", "br"])
async def test_decompression_bomb_is_stopped_by_its_decoded_size(server: HTTPServer,
                                                                  encoding: str) -> None:
    zeros = bytes(50 * MB)
    bomb = gzip.compress(zeros, 1) if encoding == "gzip" else brotli.compress(zeros, quality=5)
    del zeros
    assert len(bomb) < MB
    server.route("/bomb", body=bomb, headers={"Content-Encoding": encoding})
    async with Fetcher(user_agent=UA, max_bytes=MB) as fetcher:
        tracemalloc.start()
        try:
            error = await fetch_error(fetcher, server.url("/bomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert error.kind == "too_large"
    assert peak < 8 * MB


# -- time --------------------------------------------------------------------------------------
async def test_server_dribbling_bytes_times_out_at_the_deadline(server: HTTPServer) -> None:
    def forever() -> Iterator[bytes]:
        while True:
            yield b" "

    server.route("/drip", body=forever(), chunk_delay=0.05)
    started = time.monotonic()
    async with Fetcher(user_agent=UA, timeout=0.5, deadline=0.6) as fetcher:
        error = await fetch_error(fetcher, server.url("/drip"))
    assert error.kind == "timeout"
    assert time.monotonic() - started < 1.0
    [stream] = server.wait_streams()
    assert stream.disconnected


async def test_silent_server_times_out_at_the_read_timeout(server: HTTPServer) -> None:
    server.route("/silent", body=RSS, delay=1.5)
    started = time.monotonic()
    async with Fetcher(user_agent=UA, timeout=0.3, deadline=5) as fetcher:
        error = await fetch_error(fetcher, server.url("/silent"))
    assert error.kind == "timeout"
    assert time.monotonic() - started < 0.8


async def test_refused_connection_is_connect() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with Fetcher(user_agent=UA) as fetcher:
        error = await fetch_error(fetcher, f"http://127.0.0.1:{port}/feed")
    assert error.kind == "connect"


async def test_malformed_url_is_invalid() -> None:
    async with Fetcher(user_agent=UA) as fetcher:
        assert (await fetch_error(fetcher, "http://exa mple.org:port/")).kind == "invalid"
        assert (await fetch_error(fetcher, "file:///etc/passwd")).kind == "invalid"


# -- status codes ------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "kind"), [
    (404, "http_4xx"), (410, "http_4xx"), (403, "http_4xx"),
    (500, "http_5xx"), (502, "http_5xx"), (300, "invalid"),
])
async def test_error_status_is_classified(server: HTTPServer, status: int, kind: str) -> None:
    server.route("/feed", status=status, body=b"nope")
    async with Fetcher(user_agent=UA) as fetcher:
        error = await fetch_error(fetcher, server.url("/feed"))
    assert (error.kind, error.status, error.retry_after) == (kind, status, None)


async def test_429_with_retry_after_seconds_is_rate_limited(server: HTTPServer) -> None:
    server.route("/feed", status=429, headers={"Retry-After": "7"})
    async with Fetcher(user_agent=UA) as fetcher:
        error = await fetch_error(fetcher, server.url("/feed"))
    assert (error.kind, error.status, error.retry_after) == ("rate_limited", 429, 7.0)


async def test_503_with_retry_after_date_is_rate_limited(server: HTTPServer) -> None:
    server.route("/feed", status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    async with Fetcher(user_agent=UA) as fetcher:
        error = await fetch_error(fetcher, server.url("/feed"))
    assert (error.kind, error.status, error.retry_after) == ("rate_limited", 503, 0.0)


def test_retry_after_is_read_as_seconds_or_http_date() -> None:
    now = datetime(2015, 10, 21, 7, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 28 * 60
    assert parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now=now) == 0
    assert parse_retry_after("99999999", now=now) == MAX_RETRY_AFTER
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


# -- concurrency -------------------------------------------------------------------------------
async def test_per_host_limit_caps_concurrent_requests(server: HTTPServer) -> None:
    server.route("/slow", body=RSS, delay=0.2)
    async with Fetcher(user_agent=UA, per_host=2) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(server.url("/slow")) for _ in range(5)))
    assert [r.status for r in results] == [200] * 5
    assert server.max_in_flight == 2


async def test_fetch_outside_the_context_manager_is_refused() -> None:
    with pytest.raises(RuntimeError):
        await Fetcher(user_agent=UA).fetch("http://127.0.0.1/")


# -- scheduling helpers ------------------------------------------------------------------------
def test_backoff_delay_grows_with_failures_within_the_cap() -> None:
    rng = random.Random(1)
    for failures in range(1, 40):
        ceiling = min(3600.0, 60.0 * 2 ** (failures - 1))
        delays = [backoff_delay(failures, base=60, retry_after=None, rng=rng) for _ in range(50)]
        assert all(0 <= d <= ceiling for d in delays)
    late = [backoff_delay(30, base=60, retry_after=None, cap=600, rng=rng) for _ in range(200)]
    assert max(late) <= 600 and max(late) > 500  # full jitter still spans the whole range


def test_backoff_delay_is_never_below_retry_after() -> None:
    rng = random.Random(2)
    for failures in (1, 2, 5, 1000):
        delays = [backoff_delay(failures, base=10, retry_after=90, cap=120, rng=rng)
                  for _ in range(100)]
        assert all(90 <= d <= 120 for d in delays)
    assert backoff_delay(1, base=10, retry_after=7200, cap=3600, rng=rng) == 7200


def test_jittered_stays_within_ten_percent() -> None:
    rng = random.Random(3)
    values = [jittered(300, rng) for _ in range(500)]
    assert all(270 <= v <= 330 for v in values)
    assert min(values) < 280 and max(values) > 320
    assert 270 <= jittered(300) <= 330


# -- the shipped feed list ---------------------------------------------------------------------
def test_shipped_feeds_load_with_https_urls_languages_and_polite_intervals() -> None:
    feeds = load_feeds(SHIPPED_FEEDS)
    assert len(feeds) >= 30
    assert all(urlsplit(f.url).scheme == "https" for f in feeds)
    assert all(f.language for f in feeds)
    assert all(300 <= f.interval <= 900 for f in feeds)
    # The per-host limit serialises feeds of one host; keep any host to a handful.
    hosts = [urlsplit(f.url).hostname for f in feeds]
    assert max(hosts.count(h) for h in hosts) <= 4
