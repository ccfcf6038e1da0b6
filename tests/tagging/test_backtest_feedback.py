"""``newswatch backtest --feedback``: the analysts' votes on news.feedback become labels.

Every analyst's 👎 is a test case: a voted-down match counts as a false positive, a voted-up
article the watch topic misses as a miss (explained like any other); labels written in the
input file win over votes for the same article and watch topic.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor import bus
from monitor.article import Article
from monitor.config import Settings
from monitor.feedback import Feedback
from monitor.tagging.backtest import Version, backtest
from monitor.tagging.backtest_source import (
    Item,
    decode,
    merge_labels,
    read_file,
    with_feedback,
)
from monitor.tagging.match import Matcher
from tests.tagging import test_backtest

ROOT = Path(__file__).parents[2]
#: The fixture of the backtest's own tests: two watch topics in a directory.
topics = test_backtest.topics


def line(ident: Any, title: str, text: str, labels: Any = None) -> bytes:
    data: dict[str, Any] = {"title": title, "text": text, "published": "2024-03-04T08:00:00Z"}
    if labels is not None:
        data["labels"] = labels
    data["id"] = ident  # last, as a hand-written file may have it
    return orjson.dumps(data)


def test_votes_label_articles_and_the_files_own_labels_win(topics: Path,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "articles.jsonl"
    path.write_bytes(b"\n".join([
        line("b1", "Dock workers begin strike at northern port", "Cranes stood still."),
        line("b2", "Ships wait offshore", "Stevedores went on strike, refusing to load."),
        line("b3", "Port strike spreads", "More docks stopped work.", ["harbour-strike"]),
        line("b4", "Harbour walkout ends", "The walkout at the harbour ended.",
             {"flood-warning": False}),
        line(7, 'Dock strike, said the "id": "b1" tag', "Nothing else."),
        line("b6", "Markets calm", "Shares ended flat."),
    ]) + b"\n")
    votes = {"b1": {"harbour-strike": False},
             "b2": {"harbour-strike": True},
             "b3": {"harbour-strike": False},           # the file says it belongs: it does
             "b4": {"harbour-strike": False, "flood-warning": True},
             "7": {"harbour-strike": True}}
    matcher = Matcher.from_dir(topics)

    result = backtest(with_feedback(read_file(path), votes).items,
                      Version(str(topics), matcher), stories=False)

    flood, harbour = result.topics
    assert result.labelled == 5
    assert (harbour.true_positives, harbour.false_positive_count, harbour.miss_count) == (
        2, 2, 1)
    assert sorted(x.ident for x in harbour.false_positives) == ["b1", "b4"]
    [miss] = harbour.misses
    assert miss.ident == "b2"
    # The miss is explained over its text: a vote keeps the text as a file label does.
    assert any(hit.matched == "strike" for g in miss.explanation.groups for hit in g.hits)
    assert (flood.true_negatives, flood.miss_count) == (2, 0)  # b3 by its list, b4 by the file


def test_votes_go_only_to_the_article_they_were_given_for() -> None:
    item = Item("f:1", line("b9", "Title", "Text."), feedback=("b1", {"harbour-strike": True}))
    assert decode(item).labels is None
    assert merge_labels(None, {"t": True}) == {"t": True}
    assert merge_labels(("u",), {"t": True}) == ("u",)
    assert merge_labels({"t": False}, {"t": True, "u": True}) == {"t": False, "u": True}


@pytest.mark.kafka
def test_backtest_from_kafka_reads_feedback_whole_as_labels(kafka_settings: Settings,
                                                            topics: Path) -> None:
    bootstrap = kafka_settings.kafka_bootstrap
    articles_topic, feedback_topic = (kafka_settings.topic("articles"),
                                      kafka_settings.topic("feedback"))
    bus.ensure_topics(bootstrap, [bus.TopicSpec(articles_topic, partitions=2),
                                  bus.TopicSpec(feedback_topic, partitions=2,
                                                config={"cleanup.policy": "compact"})])
    now = datetime.now(UTC) - timedelta(minutes=5)

    def report(ident: str, title: str, text: str) -> Article:
        return Article(article_id=ident, feed_id="wire", outlet="Wire", title=title, text=text,
                       language="en", published_at=now, fetched_at=now)

    def vote(item_id: str, value: str, analyst: str = "kim", topic: str = "harbour-strike",
             minutes: int = 0) -> Feedback:
        return Feedback(item="article", item_id=item_id, topic_id=topic, analyst=analyst,
                        kind="vote", value=value,  # type: ignore[arg-type]
                        at=now + timedelta(minutes=minutes))

    producer = bus.make_producer(bootstrap, client_id="test")
    try:
        bus.wait_all([producer.send(articles_topic, key=a.article_id.encode(), value=a.to_json())
                      for a in (report("k1", "Dock strike at the port", "Cranes idle."),
                                report("k2", "Stevedores stop work", "A strike began."),
                                report("k3", "Harbour walkout", "The harbour walkout goes on."))])
        bus.wait_all([producer.send(feedback_topic, key=f.key(), value=f.to_json()) for f in (
            vote("k1", "up"), vote("k1", "down", minutes=1),    # kim changed her mind
            vote("k2", "up"),
            vote("k3", "down", analyst="lee"), vote("k3", "none", analyst="lee", minutes=1),
            vote("k3", "up", topic="no-longer-a-topic"))])
        producer.send(feedback_topic, key=b"junk", value=b"{junk").get(timeout=30)
    finally:
        producer.close()

    env = {**os.environ, "NEWSWATCH_KAFKA_BOOTSTRAP": bootstrap,
           "NEWSWATCH_TOPIC_NAMESPACE": kafka_settings.topic_namespace}
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "backtest", "--topics", str(topics), "--from-kafka",
         "--since", "1d", "--feedback", "--json", "--no-stories"],
        cwd=ROOT, env=env, capture_output=True, check=False, timeout=120)

    assert done.returncode == 0, done.stderr
    stderr = done.stderr.decode()
    assert f"{feedback_topic}[" in stderr and "not JSON" in stderr
    assert "analysts' votes label 2 articles" in stderr
    result = orjson.loads(done.stdout)
    assert result["unknown_labels"] == []
    harbour = next(t for t in result["topics"] if t["id"] == "harbour-strike")
    labels = harbour["labels"]
    assert (labels["judged"], labels["true_positives"], labels["false_positives"],
            labels["misses"]) == (2, 0, 1, 1)
    assert [x["id"] for x in harbour["false_positives"]["listed"]] == ["k1"]
    assert [x["id"] for x in harbour["misses"]["listed"]] == ["k2"]
