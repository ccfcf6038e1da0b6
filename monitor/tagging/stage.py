"""The tagging stage as pure logic: one ``news.articles`` message in, its matches out.

In: the raw bytes of a message, the current matcher. Out: a :class:`Tagged` result — either
the decoded article and its :class:`~monitor.article.Match` messages, or the reason it cannot
be read (for the dead-letter topic). No Kafka, no clock: the caller passes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.article import Article, Match, MessageError
from monitor.tagging.match import Matcher


@dataclass(frozen=True)
class Tagged:
    article: Article | None
    matches: tuple[Match, ...] = ()
    error: str | None = None


def tag_message(value: bytes | None, matcher: Matcher, *, now: datetime) -> Tagged:
    """Decode one article message and match it against every watch topic."""
    if value is None:
        return Tagged(None, error="empty message (tombstone)")
    try:
        article = Article.from_json(value)
    except MessageError as exc:
        return Tagged(None, error=str(exc))
    found = matcher.match(article.title, article.text or article.summary, article.language)
    matches = tuple(
        Match(article=article, topic_id=m.topic_id, topic_title=m.title, severity=m.severity,
              score=m.score, evidence=tuple(e for e in m.to_dict()["evidence"]),
              sentences=tuple(s for s in m.to_dict()["sentences"]), matched_at=now)
        for m in found)
    return Tagged(article, matches)
