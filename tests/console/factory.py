"""Real encoded messages for the console's store: what the pipeline would have put on Kafka.

Every builder returns the message contracts themselves (:class:`~monitor.article.Article`,
:class:`~monitor.article.Match`, :class:`~monitor.article.StoryEvent`,
:class:`~monitor.article.AlertRecord`, :class:`~monitor.feedback.Feedback`), and
:class:`Feed` numbers them as Kafka records ``(kind, partition, offset, key, value,
timestamp_ms)`` for ``Store.apply``, encoded with their own ``to_json``::

    feed = Feed()
    story = feed.story("nk-russia", [report("a1", "North Korea ships shells to Russia")],
                       terms=["North Korea", "shells", "Russia"])
    feed.alert(story, outcome="dead")
    store.apply(feed.records)
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.article import (
    AlertRecord,
    Article,
    Match,
    Story,
    StoryArticle,
    StoryEvent,
    make_story_id,
)
from monitor.feedback import Feedback

NOW = datetime(2025, 12, 4, 12, 0, tzinfo=UTC)
Record = tuple[str, int, int, bytes | None, bytes | None, int]

_SENTENCE = re.compile(r"[^.!?。]+[.!?。]?")


def report(article_id: str, title: str, text: str | None = None, *, outlet: str = "Example News",
           url: str | None = "default", language: str | None = "en",
           published_at: datetime | None = None, fetched_at: datetime | None = None,
           feed_id: str = "example") -> Article:
    """One article as the poller publishes it (``url="default"``: a plain https link)."""
    fetched = fetched_at or NOW - timedelta(hours=1)
    link = f"https://news.example/{article_id}" if url == "default" else url
    return Article(article_id=article_id, url=link, canonical_url=link, feed_id=feed_id,
                   outlet=outlet, title=title, summary=(text or title)[:200],
                   text=text if text is not None else f"{title}. More in the full report.",
                   language=language, published_at=published_at or fetched - timedelta(minutes=5),
                   fetched_at=fetched)


def evidence_of(article: Article, terms: Iterable[str]) -> tuple[list[dict[str, Any]],
                                                                  list[dict[str, Any]]]:
    """Evidence and sentences as the matcher writes them: each term where it occurs in the text.

    Offsets are into the text as written (field ``text``), every occurrence, case-insensitive;
    the sentences are those holding a hit.
    """
    evidence: list[dict[str, Any]] = []
    lowered = article.text.lower()
    for term in terms:
        at = lowered.find(term.lower())
        while at >= 0:
            evidence.append({"group": f"terms:{term}", "term": term,
                             "matched": article.text[at:at + len(term)], "field": "text",
                             "start": at, "end": at + len(term)})
            at = lowered.find(term.lower(), at + len(term))
    sentences = []
    for found in _SENTENCE.finditer(article.text):
        start, end = found.span()
        if any(start <= e["start"] < end for e in evidence):
            sentences.append({"field": "text", "start": start, "end": end,
                              "text": article.text[start:end]})
    return evidence, sentences


@dataclass
class Feed:
    """Messages numbered as one partition per kind; ``records`` is what the store applies."""

    def __post_init__(self) -> None:
        self.records: list[Record] = []
        self._next: defaultdict[str, int] = defaultdict(int)

    def add(self, kind: str, value: bytes | None, key: bytes | None = None,
            at: datetime = NOW) -> Record:
        offset = self._next[kind]
        self._next[kind] += 1
        record = (kind, 0, offset, key, value, int(at.timestamp() * 1000))
        self.records.append(record)
        return record

    def article(self, article: Article) -> Article:
        self.add("articles", article.to_json(), article.article_id.encode(), article.fetched_at)
        return article

    def match(self, article: Article, topic_id: str, terms: Iterable[str], *,
              topic_title: str = "", severity: str = "high") -> Match:
        evidence, sentences = evidence_of(article, terms)
        match = Match(article=article, topic_id=topic_id, topic_title=topic_title or topic_id,
                      severity=severity, score=1.0, evidence=tuple(evidence),
                      sentences=tuple(sentences), matched_at=article.fetched_at)
        self.add("matches", match.to_json(), topic_id.encode(), article.fetched_at)
        return match

    def story(self, topic_id: str, articles: Sequence[Article], *, terms: Iterable[str] = (),
              topic_title: str = "", headline: str | None = None, severity: str = "high",
              sources: int | None = None, store_articles: bool = True) -> Story:
        """Publish the articles, their matches and the story events that fold them, in order.

        Returns the story as it stands after the last event.
        """
        terms = list(terms)
        story_id = make_story_id(topic_id, articles[0].article_id)
        members: list[StoryArticle] = []
        story: Story | None = None
        for index, article in enumerate(articles):
            if store_articles:
                self.article(article)
            match = self.match(article, topic_id, terms, topic_title=topic_title,
                               severity=severity)
            members.append(StoryArticle(article_id=article.article_id, outlet=article.outlet,
                                        url=article.url, title=article.title,
                                        language=article.language,
                                        published=article.published_at,
                                        source=article.article_id))
            outlets = len({m.outlet for m in members})
            story = Story(story_id=story_id, topic_id=topic_id,
                          topic_title=topic_title or topic_id,
                          headline=headline or articles[0].title,
                          first_seen=articles[0].fetched_at, last_updated=article.fetched_at,
                          articles=tuple(members), outlets=outlets,
                          sources=sources if sources is not None else outlets,
                          languages=tuple(sorted({m.language for m in members if m.language})),
                          severity=severity, score=1.0, updates=index)
            event = StoryEvent(event="opened" if index == 0 else "updated", story=story,
                               article=members[-1], why="same event",
                               evidence=match.evidence, sentences=match.sentences,
                               fetched_at=article.fetched_at, matched_at=article.fetched_at)
            self.add("stories", event.to_json(), topic_id.encode(), article.fetched_at)
        assert story is not None
        return story

    def alert(self, story: Story, *, outcome: str = "sent", kind: str = "alert",
              subscriber_id: str = "ops", channel_id: str = "ops-slack", channel: str = "slack",
              reason: str = "", at: datetime | None = None) -> AlertRecord:
        finished = at or story.last_updated + timedelta(minutes=1)
        record = AlertRecord.model_validate({
            "delivery": f"{story.story_id}:{subscriber_id}:{channel_id}:{kind}:{outcome}",
            "subscriber_id": subscriber_id, "channel_id": channel_id, "channel": channel,
            "kind": kind, "outcome": outcome, "reason": reason, "stories": [story.story_id],
            "topics": [story.topic_id], "articles": [a.article_id for a in story.articles],
            "headline": story.headline, "attempts": 1, "decided_at": finished,
            "finished_at": finished})
        self.add("alerts", record.to_json(), subscriber_id.encode(), finished)
        return record

    def feedback(self, fb: Feedback) -> Feedback:
        self.add("feedback", fb.to_json(), fb.key(), fb.at)
        return fb


def vote(story: Story, analyst: str, value: str, *, at: datetime = NOW) -> Feedback:
    """An analyst's vote on a whole story, as the console sends it."""
    return Feedback.model_validate({
        "item": "story", "item_id": story.story_id, "topic_id": story.topic_id,
        "analyst": analyst, "kind": "vote", "value": value,
        "articles": [a.article_id for a in story.articles], "at": at})


def ack(story: Story, analyst: str, *, at: datetime = NOW) -> Feedback:
    return Feedback(item="story", item_id=story.story_id, topic_id=story.topic_id,
                    analyst=analyst, kind="ack", value="yes", at=at)
