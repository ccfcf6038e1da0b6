"""The shipped watch topics on real news: the 4,215 articles of the shared feed corpus.

Runs when ``NEWSWATCH_FEED_CORPUS`` names the corpus directory. The corpus was gathered for
parsing, not for these watch topics, so almost every article is a true negative (Ukraine,
Gaza, Iran, national sanctions, North Korean tourism and defectors ...): a new match here is
most likely a false positive, and a lost one a lost true positive.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.bench_tagging import FEED_ITEM_CHARS, feed_item_chars
from monitor.article import Article
from monitor.feeds.feedlist import FeedConfig
from monitor.feeds.normalize import normalize_feed
from monitor.feeds.parse import FeedParseError, parse_feed
from monitor.tagging.match import Matcher

CORPUS = os.environ.get("NEWSWATCH_FEED_CORPUS")
pytestmark = pytest.mark.skipif(not CORPUS, reason="NEWSWATCH_FEED_CORPUS is not set")
SHIPPED = Path(__file__).parents[2] / "topics"

# title -> the watch topics it belongs to; every other article of the corpus matches nothing.
EXPECTED = {
    "What North Korea gains by sending troops to fight for Russia": ["nk-russia-arms"],
    "Nuclear, missile tests show \u2018qualitative\u2019 improvement in North Korea "
    "capabilities: US": ["nk-missile-launches"],
}


@pytest.fixture(scope="module")
def corpus() -> list[Article]:
    """Every article the pollers make of the corpus's feeds."""
    out: list[Article] = []
    for path in sorted((Path(str(CORPUS)) / "files").iterdir()):
        url = f"http://127.0.0.1/feeds/{path.name}"
        try:
            parsed = parse_feed(path.read_bytes(), url=url)
        except FeedParseError:
            continue
        feed = FeedConfig(id="corpus", url=url, outlet=path.name)
        out += normalize_feed(parsed, feed=feed, fetched_at=datetime.now(UTC), base_url=url)
    assert len(out) > 4000
    return out


def test_on_real_news_the_shipped_topics_match_only_what_belongs_to_them(
        corpus: list[Article]) -> None:
    matcher = Matcher.from_dir(SHIPPED)
    found: dict[str, list[str]] = {}
    for article in corpus:
        topics = [m.topic_id for m in matcher.match(
            article.title, article.text or article.summary, article.language)]
        if topics:
            found[article.title] = sorted(topics)
    assert found == EXPECTED


def test_the_tagging_benchmark_feeds_items_as_long_as_real_ones(corpus: list[Article]) -> None:
    # Its figures are for items of these lengths; if the pollers come to publish longer or
    # shorter texts, the table (and the figures quoted from it) must be measured again.
    measured = feed_item_chars([article.text or article.summary for article in corpus])
    assert measured == FEED_ITEM_CHARS, measured
