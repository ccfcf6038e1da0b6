"""Render a notice for standard output: one line per story.

In: a :class:`~monitor.alerting.notice.Notice`. Out: the text to print, without a final
newline. Feed text is shown as one clean line: no newline or terminal escape sequence from a
feed survives, and only http(s) URLs are shown as links.
"""

from __future__ import annotations

from monitor.alerting.notice import Notice, NoticeItem
from monitor.alerting.render import facts
from monitor.alerting.render.text import NOTE_CHARS, TERMS_CHARS, TITLE_CHARS, clean, clip

_HEADLINE_CHARS = 200
_NEW_REPORTS = 3


def console(notice: Notice) -> str:
    """Render a notice for standard output: one line, or a digest's header and one per story.

    ``ALERT [topic-id] high | headline | 3 outlets, 2 sources | why: a, b | url``;
    ``UPDATE [topic-id] high | headline | +2 reports: Outlet — title; … | 5 outlets, 3
    sources``.
    """
    if notice.kind == "digest":
        head = (f"DIGEST {clean(notice.subscriber_id)} | "
                f"{facts.plural(len(notice.items), 'story', 'stories')} | "
                f"{facts.when(notice.created)}")
        return "\n".join([head, *("  " + _digest_line(item) for item in notice.items)])
    item = facts.single(notice)
    story = item.event.story
    start = (f"[{clean(story.topic_id)}] {facts.severity(story)} | "
             f"{clip(facts.headline(story), _HEADLINE_CHARS)}")
    if notice.kind == "update":
        new = item.new_articles
        named = [clip(" — ".join(filter(None, (clean(a.outlet), clean(a.title)))), TITLE_CHARS)
                 for a in new[:_NEW_REPORTS]]
        if len(new) > _NEW_REPORTS:
            named.append(f"and {len(new) - _NEW_REPORTS} more")
        return (f"UPDATE {start} | +{facts.plural(len(new), 'report')}: "
                f"{'; '.join(named)} | {facts.counts(story, 'source')}")
    line = f"ALERT {start} | {facts.counts(story, 'source')}"
    terms = facts.terms(item.event)
    if terms:
        line += " | why: " + facts.join_some(terms, TERMS_CHARS)
    url = facts.headline_url(story)
    return line + (f" | {url}" if url else "")


def _digest_line(item: NoticeItem) -> str:
    story = item.event.story
    line = (f"[{clean(story.topic_id)}] {facts.severity(story)} | "
            f"{clip(facts.headline(story), _HEADLINE_CHARS)} | {facts.counts(story, 'source')}")
    if clean(item.note):
        line += f" | held: {clip(clean(item.note), NOTE_CHARS)}"
    url = facts.headline_url(story)
    return line + (f" | {url}" if url else "")
