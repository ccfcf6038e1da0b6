"""The whole real-world corpus served over local HTTP, polled into the real broker.

Runs when ``NEWSWATCH_FEED_CORPUS`` names the corpus directory (``.ci/run`` sets it). One
``newswatch poll --once`` process polls all 79 documents; what lands on ``news.articles`` is
compared with the manifest, and a second process, served the same documents again (with a
byte changed, so nothing is skipped by the body hash), must publish nothing new.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urljoin

import orjson
import pytest

from monitor.config import Settings
from tests.httpserver import HTTPServer, Reply, Request
from tests.kafkaread import read_topic

CORPUS = os.environ.get("NEWSWATCH_FEED_CORPUS")
pytestmark = [pytest.mark.kafka, pytest.mark.skipif(not CORPUS,
                                                     reason="NEWSWATCH_FEED_CORPUS is not set")]

#: Files whose manifest count includes true duplicates: the same URL under several items.
TRUE_DUPLICATES = {
    "news_ap-headlines_rss2_generated_dup_guids.xml":
        "scraped navigation repeats each URL under several titles; one URL is one article",
}


def feed_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)[:64]


def test_the_corpus_polled_through_kafka_publishes_what_the_manifest_expects_once(
        kafka_settings: Settings, tmp_path: Path) -> None:
    corpus = Path(str(CORPUS))
    rows = [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()
            if line.strip()]
    polls: Counter[str] = Counter()

    def serve(name: str, body: bytes) -> object:
        def reply(request: Request) -> Reply:
            polls[name] += 1
            # Trailing white space is harmless in XML and JSON, and changes the body's hash.
            return Reply(body=body + b"\n" * (polls[name] - 1), headers={
                "Content-Type": "application/feed+json" if name.endswith(".json")
                else "application/xml"})
        return reply

    with HTTPServer() as server:
        for row in rows:
            name = row["name"]
            server.route(f"/feeds/{name}", serve(name, (corpus / "files" / name).read_bytes()))
        feeds = tmp_path / "feeds.yaml"
        feeds.write_text("feeds:\n" + "".join(
            f"  - id: {feed_id(row['name'])}\n    url: {server.url('/feeds/' + row['name'])}\n"
            f"    outlet: {feed_id(row['name'])}\n" for row in rows))
        env = {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": kafka_settings.kafka_bootstrap,
               "NEWSWATCH_TOPIC_NAMESPACE": kafka_settings.topic_namespace,
               "NEWSWATCH_CACHE": str(kafka_settings.cache_dir)}
        command = [sys.executable, "-m", "monitor", "poll", "--once", "--feeds", str(feeds)]

        first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stderr[-3000:]
        published = [orjson.loads(r.value) for r in read_topic(
            kafka_settings.kafka_bootstrap, kafka_settings.topic("articles"))]

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr[-3000:]
        again = read_topic(kafka_settings.kafka_bootstrap, kafka_settings.topic("articles"))
        base = server.url("/feeds/")

    assert all(polls[row["name"]] == 2 for row in rows)
    assert len(again) == len(published), "the second poll published articles again"

    by_feed: dict[str, list[dict[str, object]]] = {}
    for article in published:
        by_feed.setdefault(str(article["feed_id"]), []).append(article)
    expected = got = 0
    missing_links = []
    for row in rows:
        name, count = row["name"], row["expected_item_count"]
        articles = by_feed.get(feed_id(name), [])
        assert all(str(a["url"] or "").startswith(("http://", "https://")) or not a["url"]
                   for a in articles), name
        if name not in TRUE_DUPLICATES:
            expected += count
            got += min(len(articles), count)
        link = row["first_item_link"]
        if link and urljoin(base + name, link.strip()) not in {a["url"] for a in articles}:
            missing_links.append(name)
    assert got >= 0.95 * expected, (got, expected)
    assert missing_links == []
