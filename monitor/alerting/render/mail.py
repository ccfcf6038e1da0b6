"""Render a notice as an email: a one-line subject, a plain-text part and an HTML part.

In: a :class:`~monitor.alerting.notice.Notice`. Out: :class:`EmailContent`, both parts
rendered from one document, so they say the same. Every feed string goes through
``html.escape(quote=True)``, URLs in ``href`` too; inline CSS only, no images, no scripts.
At most 50 reports of a story and 100 stories of a digest are listed, then "…and 350 more
reports, latest: <link>" or "…and 100 more stories". The subject of an update must equal its
alert's, after ``Re: ``, so it may use nothing that changes as reports join.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from monitor.alerting.notice import Notice, NoticeItem
from monitor.alerting.render import facts
from monitor.alerting.render.text import Line, Span, clean, clip
from monitor.article import Story, StoryArticle

EMAIL_SUBJECT_CHARS = 200
EMAIL_MAX_REPORTS = 50
EMAIL_MAX_STORIES = 100

# A mail is a list of lines, each of a kind that says how both parts show it.
_Kind = Literal["meta", "title", "para", "quote", "heading", "item"]
_Doc = list[tuple[_Kind, Line]]


@dataclass(frozen=True)
class EmailContent:
    """One mail: a one-line ``subject``, a plain-text part and an HTML part of the same content."""

    subject: str
    text: str
    html: str


def email(notice: Notice) -> EmailContent:
    """Render a notice as a mail: subject, plain text and HTML of the same content.

    - alert: ``[newswatch] <topic>: <headline>`` (topic: the watch topic's title, else its
      id), built only from what later reports do not change, so an update can name the same
      subject (never the severity, which can rise as reports join);
    - update: ``Re: `` and that subject, so mail clients thread it;
    - digest: ``[newswatch] digest: N stories``.
    """
    if notice.kind == "digest":
        subject = f"[newswatch] digest: {facts.plural(len(notice.items), 'story', 'stories')}"
        doc = _digest(notice)
    else:
        item = facts.single(notice)
        subject = _alert_subject(item.event.story)
        if notice.kind == "update":
            subject, doc = "Re: " + subject, _update(item)
        else:
            doc = _alert(item)
    return EmailContent(subject=subject, text=_doc_text(doc), html=_doc_html(doc))


def _alert_subject(story: Story) -> str:
    """The subject of a story's alert mail: one line, at most 200 characters.

    Made from the story's topic and headline (its first article's title), which later reports
    do not change.
    """
    prefix = f"[newswatch] {facts.topic(story)}: "
    return prefix + clip(facts.headline(story), EMAIL_SUBJECT_CHARS - len(prefix))


# -- the document ----------------------------------------------------------------------------
def _text(text: str) -> Line:
    return (Span(text),)


def _reports(articles: Sequence[StoryArticle]) -> _Doc:
    doc: _Doc = [("item", facts.report_line(a)) for a in articles[:EMAIL_MAX_REPORTS]]
    if len(articles) > EMAIL_MAX_REPORTS:
        doc.append(("para", facts.more_reports(len(articles) - EMAIL_MAX_REPORTS, articles)))
    return doc


def _alert(item: NoticeItem) -> _Doc:
    story = item.event.story
    summary = [facts.counts(story), *facts.times(story)]
    if story.languages:
        summary.append(facts.languages(story))
    doc: _Doc = [("meta", _text(f"{facts.topic(story)} · {facts.severity(story)}")),
                 ("title", (Span(facts.headline(story), facts.headline_url(story)),)),
                 ("para", _text(" · ".join(summary)))]
    terms, sentence = facts.why(item.event)
    doc += [("para", _text(terms))] if terms else []
    doc += [("quote", _text(sentence))] if sentence else []
    doc += [("heading", _text("Reports")), *_reports(story.articles)]
    return [*doc, ("meta", _text(f"Story {clean(story.story_id)}"))]


def _update(item: NoticeItem) -> _Doc:
    story, new = item.event.story, item.new_articles
    news = f"+{facts.plural(len(new), 'new report')} · now {facts.counts(story)}"
    return [("meta", _text(f"{facts.topic(story)} · {facts.severity(story)}")),
            ("title", (Span(facts.headline(story), facts.headline_url(story)),)),
            ("para", _text(news)),
            *_reports(new)]


def _digest(notice: Notice) -> _Doc:
    count = len(notice.items)
    doc: _Doc = [("title", _text(f"newswatch digest: {facts.plural(count, 'story', 'stories')}")),
                 ("meta", _text(f"As of {facts.when(notice.created)}"))]
    for item in notice.items[:EMAIL_MAX_STORIES]:
        headline, meta = facts.digest_entry(item)
        doc += [("heading", headline), ("para", meta)]
    if count > EMAIL_MAX_STORIES:
        doc.append(("para", facts.more_stories(count - EMAIL_MAX_STORIES)))
    return doc


# -- the two parts ---------------------------------------------------------------------------
def _line_text(line: Line) -> str:
    return "".join(f"{s.text} <{s.url}>" if s.url else s.text for s in line)


def _doc_text(doc: _Doc) -> str:
    lines: list[str] = []
    for kind, line in doc:
        text = _line_text(line)
        if kind in ("title", "heading") and lines:
            lines.append("")
        lines.append({"quote": f"  {text}", "item": f"- {text}"}.get(kind, text))
    return "\n".join(lines) + "\n"


def _line_html(line: Line) -> str:
    return "".join(
        f'<a href="{html.escape(s.url, quote=True)}">{html.escape(s.text, quote=True)}</a>'
        if s.url else html.escape(s.text, quote=True) for s in line)


_HTML = {"meta": '<p style="margin:0 0 4px;color:#555;font-size:12px">{}</p>',
         "title": '<h2 style="margin:0 0 8px;font-size:18px">{}</h2>',
         "para": '<p style="margin:0 0 8px">{}</p>',
         "quote": '<blockquote style="margin:0 0 8px 12px;color:#333">{}</blockquote>',
         "heading": '<h3 style="margin:12px 0 4px;font-size:15px">{}</h3>',
         "item": "<li>{}</li>"}


def _doc_html(doc: _Doc) -> str:
    parts: list[str] = []
    for index, (kind, line) in enumerate(doc):
        if kind == "item" and (index == 0 or doc[index - 1][0] != "item"):
            parts.append('<ul style="margin:0 0 8px;padding-left:20px">')
        parts.append(_HTML[kind].format(_line_html(line)))
        if kind == "item" and (index == len(doc) - 1 or doc[index + 1][0] != "item"):
            parts.append("</ul>")
    return ('<!DOCTYPE html>\n<html><body style="font-family:sans-serif;font-size:14px">\n'
            + "\n".join(parts) + "\n</body></html>\n")
