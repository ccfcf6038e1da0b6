"""The contracts hold whatever a feed throws at them: every message fits Kafka's 1 MB."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from monitor.article import (
    MATCH_EVIDENCE,
    MATCH_SENTENCES,
    MATCH_TEXT_CHARS,
    Article,
    Match,
    dead_letter,
)

KAFKA_LIMIT = 1_000_000
WHEN = datetime(2023, 9, 15, 3, 0, tzinfo=UTC)


def hostile_article() -> Article:
    # A 900 KB title and the longest text an article may carry, in a three-byte script.
    return Article(article_id="a1", feed_id="f", title="북한 " * 300_000, text="러시아 " * 60_000,
                   summary="무기 " * 100_000, fetched_at=WHEN)


def test_a_match_of_a_hostile_article_still_fits_one_kafka_message() -> None:
    article = hostile_article()
    evidence = tuple({"group": "g", "term": "x", "matched": "북" * 10_000, "field": "text",
                      "start": i, "end": i + 1} for i in range(500))
    sentences = tuple({"field": "text", "start": 0, "end": 1, "text": "문장 " * 100_000}
                      for _ in range(100))
    match = Match(article=article, topic_id="nk-russia-arms", score=9.0, evidence=evidence,
                  sentences=sentences, matched_at=WHEN)
    encoded = match.to_json()
    assert len(encoded) < KAFKA_LIMIT / 4
    back = Match.from_json(encoded)
    assert back.article.article_id == "a1"
    assert back.article.title.startswith("북한")
    assert len(back.article.text) == MATCH_TEXT_CHARS
    assert len(back.evidence) == MATCH_EVIDENCE
    assert len(back.sentences) == MATCH_SENTENCES


def test_an_ordinary_match_is_left_as_it_is() -> None:
    article = Article(article_id="a2", feed_id="f", title="Seoul talks", text="Short.",
                      fetched_at=WHEN)
    evidence = ({"group": "g", "term": "seoul", "matched": "Seoul", "field": "title",
                 "start": 0, "end": 5},)
    match = Match(article=article, topic_id="t", score=1.0, evidence=evidence, matched_at=WHEN)
    assert match.article is article
    assert match.evidence == evidence


def test_a_dead_letter_keeps_the_coordinates_and_fits_whatever_the_input() -> None:
    value = ("x" * 2_000_000).encode()
    letter = orjson.loads(dead_letter(stage="tag", reason="refused", topic="news.articles",
                                      partition=4, offset=1234, key=b"k", value=value))
    assert letter["source"] == {"topic": "news.articles", "partition": 4, "offset": 1234}
    assert letter["truncated"] is True
    assert len(orjson.dumps(letter)) < KAFKA_LIMIT / 4
    small = orjson.loads(dead_letter(stage="tag", reason="r", topic="t", partition=0,
                                     offset=0, key=None, value=b"{not json"))
    assert small["value"] == "{not json" and small["truncated"] is False
