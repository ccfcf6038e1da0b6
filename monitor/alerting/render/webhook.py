"""Render a notice as the webhook's JSON object.

In: a :class:`~monitor.alerting.notice.Notice`. Out: a dict ready for ``json.dumps``. Strings
go out as the feed gave them: JSON escaping is the serialiser's, escaping for any other medium
is the receiver's. Only http(s) URLs with a host are kept; any other becomes null.
"""

from __future__ import annotations

from typing import Any

from monitor.alerting.notice import Notice, NoticeItem
from monitor.alerting.render import facts
from monitor.alerting.render.text import web_url
from monitor.article import as_utc


def webhook(notice: Notice) -> dict[str, Any]:
    """Render a notice as the webhook's JSON object (schema 1; only http(s) URLs, else null).

    ``{"schema": 1, "kind", "subscriber", "created", "stories": [{"story_id", "topic_id",
    "topic_title", "headline", "severity", "outlets", "sources", "languages", "first_seen",
    "last_updated", "why": {"matched": [...], "sentence"}, "articles": [{"article_id",
    "outlet", "title", "url", "language", "published"}], "new_articles": [ids], "note"}]}``.
    Times are ISO 8601 in UTC; ``note`` is "" for a story sent at once; ``sentence`` is "" when
    the match kept none.
    """
    return {"schema": 1, "kind": notice.kind, "subscriber": notice.subscriber_id,
            "created": as_utc(notice.created).isoformat(),
            "stories": [_story(item) for item in notice.items]}


def _story(item: NoticeItem) -> dict[str, Any]:
    story = item.event.story
    return {
        "story_id": story.story_id, "topic_id": story.topic_id,
        "topic_title": story.topic_title, "headline": story.headline,
        "severity": story.severity, "outlets": story.outlets, "sources": story.sources,
        "languages": list(story.languages), "first_seen": story.first_seen.isoformat(),
        "last_updated": story.last_updated.isoformat(),
        "why": {"matched": facts.terms(item.event, str.strip),
                "sentence": facts.sentence(item.event, str.strip)},
        "articles": [{"article_id": a.article_id, "outlet": a.outlet, "title": a.title,
                      "url": web_url(a.url),
                      "language": a.language,
                      "published": a.published.isoformat() if a.published else None}
                     for a in story.articles],
        "new_articles": [a.article_id for a in item.new_articles],
        "note": item.note,
    }
