"""``newswatch up --demo``: the demo outlets are served as feeds the poller reads and that
match the shipped watch topics, beside the feeds the user gave."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from monitor.demo import DEMO_ARTICLES, DemoFeeds
from monitor.feeds.feedlist import load_feeds
from monitor.feeds.parse import parse_feed
from monitor.tagging.match import Matcher

ROOT = Path(__file__).parents[1]


def test_each_outlet_is_a_feed_of_its_items_and_the_events_match_every_watch_topic() -> None:
    matcher = Matcher.from_dir(ROOT / "topics")
    matched: set[str] = set()
    with DemoFeeds(ROOT / DEMO_ARTICLES) as demo:
        for feed, outlet in zip(demo.feeds(), demo.outlets, strict=True):
            with urllib.request.urlopen(feed["url"], timeout=10) as response:
                parsed = parse_feed(response.read(), url=feed["url"])
            assert len(parsed.entries) == len(outlet["items"]), feed["id"]
            for item in outlet["items"]:
                matched |= {m.topic_id for m in matcher.match(item["title"], item["text"])}
    assert matched == {t.id for t in matcher.watch_topics}


def test_the_demo_feeds_join_the_users_and_a_broken_file_is_left_to_the_poller(
        tmp_path: Path) -> None:
    given = tmp_path / "feeds.yaml"
    given.write_text("feeds:\n  - id: mine\n    url: https://news.example/rss\n"
                     "    outlet: Mine\n")
    with DemoFeeds(ROOT / DEMO_ARTICLES) as demo:
        merged = demo.feeds_file(given, tmp_path / "merged.yaml")
        ids = [f.id for f in load_feeds(merged)]
        assert ids == ["mine", *(o["id"] for o in demo.outlets)]
        given.write_text("feeds: [\n")
        assert demo.feeds_file(given, tmp_path / "again.yaml") == given
