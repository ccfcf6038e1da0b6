"""Benchmark one poll cycle over 1,000 feeds served locally, through a real Kafka broker.

    python bench/bench_poll.py [--feeds 1000] [--hosts 50] [--items 20]

Prints one table. The feeds are RSS 2.0 documents of ``--items`` items (about 600 bytes of
text each), spread over ``--hosts`` HTTP servers on loopback addresses 127.0.0.2, 127.0.0.3 ...
so the poller's per-host limit applies as it would on the internet; the servers run in a
process of their own. Half the hosts answer with
an ETag (the second cycle is then a 304), the other half without validators (the second cycle
compares body hashes and skips parsing).

Rows:
- ``cold``: first poll of every feed: fetch, parse, normalize, publish every item, save state;
- ``unchanged``: nothing changed: 304s and unchanged body hashes, nothing parsed;
- ``10% new``: one feed in ten gained one item: only those are parsed, one article each.

Kafka is the broker named by ``NEWSWATCH_KAFKA_BOOTSTRAP``, or one started for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _local import kafka_bootstrap
from prometheus_client import CollectorRegistry

from monitor.config import Settings
from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.fetch import Fetcher
from monitor.feeds.poller import Poller
from monitor.feeds.state import FeedOwnership
from monitor.metrics import PollerMetrics
from tests.httpserver import HTTPServer, Reply, Request

WORDS = ("council", "sanctions", "panel", "report", "missile", "launch", "envoy", "talks",
         "deterrence", "treaty", "summit", "minister", "statement", "officials", "shipment",
         "artillery", "port", "vessel", "inspection", "resolution", "committee", "delegation",
         "ceasefire", "agreement")
START = datetime(2024, 6, 19, tzinfo=UTC)


def item(feed: int, n: int) -> str:
    text = " ".join(WORDS[(feed * 7 + n * 3 + k) % len(WORDS)] for k in range(90))
    when = format_datetime(START + timedelta(minutes=n))
    return (f"<item><title>Report {n} of feed {feed}</title>"
            f"<link>https://news{feed % 97}.example/{feed}/{n}?utm_source=rss</link>"
            f"<guid>f{feed}-{n}</guid><pubDate>{when}</pubDate>"
            f"<description><![CDATA[<p>{text}</p>]]></description></item>")


def document(feed: int, first: int, items: int) -> bytes:
    body = "".join(item(feed, n) for n in range(first + items - 1, first - 1, -1))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {feed}</title><link>https://example.org/</link>{body}"
            f"</channel></rss>").encode()


class Feeds:
    """What every feed serves now (shared with the server process); ``grow`` adds items."""

    def __init__(self, count: int, items: int) -> None:
        self.items = items
        self.first = multiprocessing.Array("i", count)

    def body(self, feed: int) -> bytes:
        return document(feed, self.first[feed], self.items)

    def grow(self, every: int) -> None:
        for feed in range(0, len(self.first), every):
            self.first[feed] += 1


def route(server: HTTPServer, feeds: Feeds, feed: int, etag: bool) -> None:
    def reply(request: Request) -> Reply:
        if not etag:
            return Reply(body=feeds.body(feed))
        tag = f'"{feed}-{feeds.first[feed]}"'
        if request.headers.get("If-None-Match") == tag:
            return Reply(status=304, headers={"ETag": tag})
        return Reply(body=feeds.body(feed), headers={"ETag": tag})

    server.route(f"/feed{feed}.xml", reply)


def serve(feeds: Feeds, count: int, hosts: int, ports: Any, ready: Any, stop: Any) -> None:
    """The feed hosts, in a process of their own so they do not share the poller's GIL."""
    servers = [HTTPServer(host(h)) for h in range(hosts)]
    for h, server in enumerate(servers):
        server.__enter__()
        ports[h] = server.port
    for feed in range(count):
        route(servers[feed % hosts], feeds, feed, etag=(feed % hosts) % 2 == 0)
    ready.set()
    stop.wait()
    for server in servers:
        server.close()


def host(h: int) -> str:
    return f"127.0.0.{2 + h}"


async def cycle(settings: Settings, configs: list[FeedConfig]) -> tuple[int, float]:
    ownership = FeedOwnership(settings)
    ownership.start()
    try:
        if not await asyncio.to_thread(ownership.wait_ready, 60.0):
            raise SystemExit("no feed assignment from Kafka within 60 s")
        async with Fetcher(user_agent="newswatch-bench/1") as fetcher:
            poller = Poller(settings=settings, feeds=configs, fetcher=fetcher,
                            ownership=ownership, metrics=PollerMetrics(CollectorRegistry()))
            try:
                started = time.perf_counter()
                published = await poller.run_once()
                ownership.flush()
                return published, time.perf_counter() - started
            finally:
                poller.close()
    finally:
        await asyncio.to_thread(ownership.close)


def run(bootstrap: str, args: argparse.Namespace) -> None:
    settings = Settings(kafka_bootstrap=bootstrap, topic_namespace=f"bench{uuid4().hex[:8]}")
    feeds = Feeds(args.feeds, args.items)
    ports = multiprocessing.Array("i", args.hosts)
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(feeds, args.feeds, args.hosts, ports,
                                                         ready, stop), daemon=True)
    server.start()
    try:
        if not ready.wait(60):
            raise SystemExit("the feed hosts did not start")
        configs = [FeedConfig(id=f"feed{feed}", outlet=f"Outlet {feed}", language="en",
                              url=f"http://{host(feed % args.hosts)}:"
                                  f"{ports[feed % args.hosts]}/feed{feed}.xml")
                   for feed in range(args.feeds)]
        size = sum(len(feeds.body(f)) for f in range(args.feeds)) / args.feeds / 1024
        print(f"{args.feeds} feeds of {args.items} items ({size:.0f} KB each) on {args.hosts} "
              f"hosts; Kafka at {bootstrap}")
        print(f"{'cycle':10} {'feeds':>6} {'published':>9} {'seconds':>8} {'feeds/s':>8} "
              f"{'articles/s':>10}")
        for name in ("cold", "unchanged", "10% new"):
            if name == "10% new":
                feeds.grow(every=10)
            published, seconds = asyncio.run(cycle(settings, configs))
            print(f"{name:10} {args.feeds:>6} {published:>9} {seconds:>8.2f} "
                  f"{args.feeds / seconds:>8.0f} {published / seconds:>10.0f}")
    finally:
        stop.set()
        server.join(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--items", type=int, default=20)
    args = parser.parse_args()
    with kafka_bootstrap() as bootstrap:
        run(bootstrap, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
