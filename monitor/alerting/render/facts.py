"""What a notice says about a story, the same for every channel.

In: a :class:`~monitor.alerting.notice.NoticeItem` or its story. Out: clean, clipped text —
headline, topic, severity, "3 outlets, 2 independent sources", times, why it matched — and
:data:`~monitor.alerting.render.text.Line` values for a report, a digest entry and the
"…and N more" markers. Never escapes for a medium and never reads a clock: every time shown
comes from the story or the notice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from monitor.alerting.notice import Notice, NoticeItem
from monitor.alerting.render.text import (
    NOTE_CHARS,
    OUTLET_CHARS,
    SENTENCE_CHARS,
    SEVERITY_CHARS,
    SHOWN_URL_CHARS,
    TERM_CHARS,
    TERMS_CHARS,
    TITLE_CHARS,
    TOPIC_CHARS,
    Line,
    Span,
    clean,
    clip,
    web_url,
)
from monitor.article import Story, StoryArticle, StoryEvent, as_utc


def single(notice: Notice) -> NoticeItem:
    """The one item of an alert or update notice; ValueError if it holds another number."""
    if len(notice.items) != 1:
        raise ValueError(f"an {notice.kind} notice has one item, not {len(notice.items)}")
    return notice.items[0]


def when(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def plural(count: int, one: str, many: str = "") -> str:
    return f"{count} {one}" if count == 1 else f"{count} {many or one + 's'}"


def headline(story: Story) -> str:
    first = story.articles[0].title if story.articles else ""
    return clean(story.headline) or clean(first) or "(untitled)"


def topic(story: Story) -> str:
    """The watch topic's title, else its id."""
    return clip(clean(story.topic_title) or clean(story.topic_id), TOPIC_CHARS)


def severity(story: Story) -> str:
    return clip(clean(story.severity), SEVERITY_CHARS)


def counts(story: Story, sources: str = "independent source") -> str:
    return f"{plural(story.outlets, 'outlet')}, {plural(story.sources, sources)}"


def languages(story: Story) -> str:
    return "Languages: " + clip(clean(", ".join(story.languages)), TERMS_CHARS)


def _distinct(values: Iterable[str]) -> list[str]:
    """Non-empty values, first spelling of each kept (case-insensitive), in order."""
    seen: dict[str, str] = {}
    for value in values:
        if value and value.casefold() not in seen:
            seen[value.casefold()] = value
    return list(seen.values())


def terms(event: StoryEvent, tidy: Callable[[str], str] = clean) -> list[str]:
    """The distinct matched terms, as the article wrote them."""
    return _distinct(tidy(str(e.get("matched") or e.get("term") or "")) for e in event.evidence)


def sentence(event: StoryEvent, tidy: Callable[[str], str] = clean) -> str:
    return next((s for s in (tidy(str(x.get("text") or "")) for x in event.sentences) if s), "")


def join_some(items: Sequence[str], limit: int) -> str:
    """``a, b, c`` while within ``limit`` characters, then `` and N more``."""
    shown: list[str] = []
    used = 0
    for item in items:
        item = clip(item, TERM_CHARS)
        if shown and used + len(item) > limit:
            return ", ".join(shown) + f" and {len(items) - len(shown)} more"
        shown.append(item)
        used += len(item) + 2
    return ", ".join(shown)


def why(event: StoryEvent) -> tuple[str, str]:
    """(``Why it matched: terms``, the evidence sentence); either may be empty."""
    matched = terms(event)
    quoted = clip(sentence(event), SENTENCE_CHARS)
    return ("Why it matched: " + join_some(matched, TERMS_CHARS) if matched else "",
            f"“{quoted}”" if quoted else "")


def times(story: Story) -> list[str]:
    shown = [f"First seen: {when(story.first_seen)}"]
    if story.articles and story.articles[0].published is not None:
        shown.append(f"Published: {when(story.articles[0].published)}")
    return shown


def headline_url(story: Story) -> str | None:
    """The link of the story's first article that has one (the headline's, normally)."""
    return next((u for u in (web_url(a.url) for a in story.articles) if u), None)


# -- lines: text with links, rendered by each channel ----------------------------------------
def report_line(article: StoryArticle) -> Line:
    """``Title — Outlet · 2023-09-15 06:10 UTC``, the title linked to the article."""
    url = web_url(article.url)
    spans = [Span(clip(clean(article.title), TITLE_CHARS) or "(untitled)", url)]
    if article.outlet:
        spans.append(Span(" — " + clip(clean(article.outlet), OUTLET_CHARS)))
    if article.published is not None:
        spans.append(Span(" · " + when(article.published)))
    if url is None and clean(article.url):
        spans.append(Span(f" (not linked: {clip(clean(article.url), SHOWN_URL_CHARS)})"))
    return tuple(spans)


def more_reports(count: int, articles: Sequence[StoryArticle]) -> Line:
    """``…and 37 more reports, latest: <link>``: the last of ``articles`` that has a link."""
    more = Span(f"…and {plural(count, 'more report')}")
    latest = next((a for a in reversed(articles) if web_url(a.url)), None)
    if latest is None:
        return (more,)
    label = clip(clean(latest.title), TITLE_CHARS) or clip(clean(latest.outlet), OUTLET_CHARS)
    return more, Span(", latest: "), Span(label or "link", web_url(latest.url))


def more_stories(count: int) -> Line:
    return (Span(f"…and {plural(count, 'more story', 'more stories')}"),)


def digest_entry(item: NoticeItem) -> tuple[Line, Line]:
    """The headline linked; ``topic · severity · counts · held: note``."""
    story = item.event.story
    meta = [topic(story), severity(story), counts(story)]
    if clean(item.note):
        meta.append("held: " + clip(clean(item.note), NOTE_CHARS))
    title = clip(headline(story), TITLE_CHARS)
    return (Span(title, headline_url(story)),), (Span(" · ".join(meta)),)
