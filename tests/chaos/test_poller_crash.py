"""The poller under kill -9: every feed item still ends on news.articles, and polling resumes.

In: ``FEEDS`` RSS feeds of our own text served by a local HTTP server, each gaining an item every
``REVEAL_EVERY`` seconds, polled every second by one ``newswatch poll`` process. The first half
of each feed's items appears from the poller's first publication on; midway it is killed with
``kill -9`` and restarted at once, and the second half appears from the restart on. Out: the
articles read back from ``<ns>.articles``, tallied by canonical URL against every item the
feeds served: none may be lost (an item published twice is allowed, and counted), and the
restarted poller must publish again within ``RESUME_TARGET`` seconds.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from monitor.article import Article
from monitor.config import Settings
from monitor.feeds.normalize import canonicalize_url
from tests.chaos.harness import (
    Outcome,
    Outputs,
    count_outputs,
    decode_all,
    poller_stage,
    resume_after,
    tails,
    wait_until,
)
from tests.httpserver import HTTPServer, Reply, Request
from tests.kafkaread import read_topic
from tests.newstext import paragraph

pytestmark = pytest.mark.chaos

FEEDS = 8
#: Items per feed: half before the kill, half after the restart.
ITEMS = 40
#: Seconds between two new items of one feed.
REVEAL_EVERY = 0.5
#: Kill the poller once this share of the first half's items is on news.articles.
KILL_AT = 0.5
#: The restarted poller must publish again within this many seconds of its start.
RESUME_TARGET = 20.0
#: Longest wait for a milestone (the first articles, the last ones, the next after a restart).
FINISH_LIMIT = 120.0
PUBLISHED = datetime(2024, 6, 19, 9, 0, tzinfo=UTC)


class GrowingFeeds:
    """RSS feeds on ``server`` whose items appear one by one on a schedule; thread-safe."""

    def __init__(self, server: HTTPServer, count: int, items: int, seed: int = 619) -> None:
        rng = random.Random(seed)
        self.server = server
        self.ids = [f"wire{n:02d}" for n in range(1, count + 1)]
        self.items = {feed: [(server.url(f"/{feed}/{k}.html"), f"{feed} report {k}",
                              paragraph(rng)) for k in range(items)] for feed in self.ids}
        self._reveal_at = [float("inf")] * items
        self._lock = threading.Lock()
        for feed in self.ids:
            server.route(f"/{feed}.xml", lambda request, feed=feed: self._serve(feed, request))

    def reveal(self, start: int, stop: int, since: float) -> None:
        """Make items ``start:stop`` of every feed appear, one every REVEAL_EVERY s from since."""
        with self._lock:
            for k in range(start, stop):
                self._reveal_at[k] = since + (k - start) * REVEAL_EVERY

    def served(self, start: int = 0, stop: int | None = None) -> list[str]:
        """Canonical URLs of items ``start:stop`` of every feed (appeared or not)."""
        return [str(canonicalize_url(url)) for feed in self.ids
                for url, _, _ in self.items[feed][start:stop]]

    def feeds_file(self, path: Path) -> Path:
        path.write_text("feeds:\n" + "".join(
            f"  - id: {feed}\n    url: {self.server.url(f'/{feed}.xml')}\n"
            f"    outlet: Outlet {feed}\n    language: en\n    interval: 1s\n"
            for feed in self.ids))
        return path

    def _serve(self, feed: str, request: Request) -> Reply:
        now = time.time()
        with self._lock:
            shown = [item for item, at in zip(self.items[feed], self._reveal_at, strict=True)
                     if at <= now]
        entries = "".join(
            f"<item><title>{escape(title)}</title><link>{escape(url)}</link>"
            f"<description>{escape(text)}</description>"
            f"<pubDate>{format_datetime(PUBLISHED + timedelta(minutes=k))}</pubDate></item>"
            for k, (url, title, text) in reversed(list(enumerate(shown))))
        body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>{feed}</title><link>{self.server.url('/')}</link>{entries}"
                f"</channel></rss>")
        return Reply(body=body.encode(), headers={"Content-Type": "application/rss+xml"})


def canonical_url_of(record: Any) -> str:
    return str(Article.from_json(record.value).canonical_url)


def test_poller_killed_while_polling_loses_no_item_and_resumes_within_20_seconds(
        kafka_settings: Settings, tmp_path: Path, outcome: Outcome) -> None:
    settings, half = kafka_settings, ITEMS // 2
    with HTTPServer() as server:
        feeds = GrowingFeeds(server, FEEDS, ITEMS)
        first, every = feeds.served(0, half), feeds.served()
        outcome.count = lambda: count_outputs(every, decode_all(read_topic(
            settings.kafka_bootstrap, settings.topic("articles")), canonical_url_of))
        with poller_stage(settings, feeds.feeds_file(tmp_path / "feeds.yaml"),
                          tmp_path / "poller") as poller, \
                Outputs(settings.kafka_bootstrap, settings.topic("articles"),
                        canonical_url_of) as out:
            poller.start()
            # One item per feed until the poller is up (its start takes seconds on a busy
            # machine), so that the kill lands while the first half is still appearing.
            feeds.reveal(0, 1, since=time.time())
            wait_until(lambda: out.covers(feeds.served(0, 1), 0.01), timeout=FINISH_LIMIT,
                       what="the poller's first article", stages=[poller])
            feeds.reveal(1, half, since=time.time())
            wait_until(lambda: out.covers(first, KILL_AT), timeout=FINISH_LIMIT,
                       what=f"{KILL_AT:.0%} of the first {len(first)} items published",
                       stages=[poller])
            poller.kill9()
            poller.restart()
            feeds.reveal(half, ITEMS, since=poller.started_at)
            resumed = resume_after(out, poller.started_at, timeout=FINISH_LIMIT,
                                   stages=[poller])
            outcome.resumed("restart", resumed)
            assert resumed is not None, (
                f"the restarted poller published nothing within {FINISH_LIMIT:.0f} s\n"
                f"{tails([poller])}")
            wait_until(lambda: out.covers(every), timeout=FINISH_LIMIT,
                       what=f"all {len(every)} items published", stages=[poller])
            assert poller.terminate() == 0, tails([poller])
    outcome.finish()
    assert outcome.tally is not None, outcome.line()
    assert outcome.tally.lost == 0, outcome.tally
    assert outcome.tally.unexpected == 0, outcome.tally
    assert resumed < RESUME_TARGET, (
        f"the restarted poller first published {resumed:.1f} s after it started\n"
        f"{tails([poller])}")
