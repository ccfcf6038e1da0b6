"""Render a notice as a Slack message: Block Kit blocks and a fallback text, within limits.

In: a :class:`~monitor.alerting.notice.Notice`. Out: :class:`SlackContent`. Feed text goes
into ``plain_text`` objects where Block Kit allows it (the header, the fields, the why
section); Slack parses neither formatting nor mentions there. Where links need ``mrkdwn``
(report lists, digest entries, the fallback ``text``), ``&``, ``<``, ``>`` become ``&amp;``
``&lt;`` ``&gt;`` (so ``<!channel>``, ``<@U123>`` and ``<http://x|y>`` read as written) and
the markers ``*``, ``_``, ``~``, backtick and ``|`` become lookalikes (U+2217 asterisk
operator, U+02CD low macron, U+223C tilde operator, U+02CB modifier grave, U+2223 divides): a
zero-width character next to a marker only works as long as Slack's parser does not skip it,
a different character can never format. In every text ``@channel``, ``@here`` and
``@everyone`` get a zero-width joiner after the ``@``: it reads the same and notifies nobody.

Limits: at most 50 blocks, a section's text at most 3,000 characters, at most 10 fields of
2,000, a header at most 150, the whole message (``text`` and every text object) at most 11,500
(Slack's cap is 12,000; counted after escaping). Reports and digest entries are added whole
while they fit; the rest becomes a last line "…and 37 more reports, latest: <link>" or "…and
150 more stories". Must never send feed text as markup or a message Slack would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.alerting.notice import Notice, NoticeItem
from monitor.alerting.render import facts
from monitor.alerting.render.text import TITLE_CHARS, Line, clean, clip, fit

SLACK_MAX_BLOCKS = 50
SLACK_SECTION_CHARS = 3_000
SLACK_MAX_FIELDS = 10
SLACK_FIELD_CHARS = 2_000
SLACK_HEADER_CHARS = 150
#: The text and every text object of one message together (Slack refuses more than 12,000).
SLACK_MESSAGE_CHARS = 11_500

#: A longer (escaped) URL is not linked: one would crowd out the other reports.
_URL_CHARS = 800
_FALLBACK_CHARS = 300

_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb",
                             "|": "\u2223"})
_MENTION = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)


@dataclass(frozen=True)
class SlackContent:
    """``text``: the notification fallback (mrkdwn, always set); ``blocks``: Block Kit blocks."""

    text: str
    blocks: list[dict[str, Any]]


def slack(notice: Notice) -> SlackContent:
    """Render a notice as Block Kit blocks and a fallback text, within Slack's limits."""
    if notice.kind == "digest":
        return _digest(notice)
    item = facts.single(notice)
    return _update(item) if notice.kind == "update" else _alert(item)


# -- escaping --------------------------------------------------------------------------------
def _mrkdwn(text: str) -> str:
    """Escape clean feed text for Slack mrkdwn (see the module docstring)."""
    text = text.translate(_LOOKALIKES).replace("&", "&amp;").replace("<", "&lt;")
    return _plain(text.replace(">", "&gt;"))


def _plain(text: str) -> str:
    """Feed text for a Slack ``plain_text`` object: only plain mentions need disarming."""
    return _MENTION.sub("@\u200d", text)


def _line_mrkdwn(line: Line) -> str:
    out = []
    for span in line:
        label = _mrkdwn(span.text)
        url = span.url.replace("&", "&amp;") if span.url else None
        if url is None:
            out.append(label)
        elif len(url) > _URL_CHARS:
            out.append(label + " (link too long to show)")
        else:
            out.append(f"<{url}|{label}>")
    return "".join(out)


# -- blocks within limits --------------------------------------------------------------------
class _Message:
    """Blocks being built, and what they use of Slack's limits."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.blocks: list[dict[str, Any]] = []
        self.chars = len(text)

    def add(self, block: dict[str, Any]) -> None:
        self.blocks.append(block)
        self.chars += _block_chars(block)

    def content(self) -> SlackContent:
        return SlackContent(text=self.text, blocks=self.blocks)


def _block_chars(block: dict[str, Any]) -> int:
    objects = [block.get("text"), *block.get("fields", ()), *block.get("elements", ())]
    return sum(len(o["text"]) for o in objects if o)


def _plain_text(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": fit(text, limit, _plain)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _add_sections(message: _Message, lines: Sequence[str], more: Callable[[int], str],
                  *, lead: str = "", sep: str = "\n", keep_chars: int = 0,
                  keep_blocks: int = 0) -> None:
    """Add ``lead`` and then ``lines`` as mrkdwn sections while they fit; mark what does not.

    - each line is whole in one section, a section takes lines while under 3,000 characters;
    - before each line, room stays for the marker ``more(n)`` (n: lines left out) and for
      ``keep_chars``/``keep_blocks``, what the caller adds after;
    - the first line that does not fit ends the list: order is kept, nothing is skipped over.
    """
    marker_chars = len(sep) + len(more(len(lines)))  # the longest the marker can be
    texts = [lead] if lead else []
    chars = message.chars + keep_chars + len(lead)
    blocks = len(message.blocks) + keep_blocks + len(texts)
    shown = 0
    for line in lines:
        joins = bool(texts) and len(texts[-1]) + len(sep) + len(line) <= SLACK_SECTION_CHARS
        cost = len(line) + (len(sep) if joins else 0)
        last = shown == len(lines) - 1
        if (chars + cost + (0 if last else marker_chars) > SLACK_MESSAGE_CHARS
                or blocks + (not joins) + (not last) > SLACK_MAX_BLOCKS):
            break
        if joins:
            texts[-1] += sep + line
        else:
            texts.append(line)
            blocks += 1
        chars += cost
        shown += 1
    if shown < len(lines):
        marker = more(len(lines) - shown)
        if texts and len(texts[-1]) + len(sep) + len(marker) <= SLACK_SECTION_CHARS:
            texts[-1] += sep + marker
        else:
            texts.append(marker)
    for text in texts:
        message.add(_section(text))


# -- alert, update, digest -------------------------------------------------------------------
def _alert(item: NoticeItem) -> SlackContent:
    story = item.event.story
    headline = facts.headline(story)
    topic, severity, counts = facts.topic(story), facts.severity(story), facts.counts(story)
    message = _Message(fit(f"{severity} · {topic}: {headline} ({counts})",
                           _FALLBACK_CHARS, _mrkdwn))
    message.add({"type": "header", "text": _plain_text(headline, SLACK_HEADER_CHARS)})
    fields = [f"Topic: {topic}", f"Severity: {severity}", f"Reports: {counts}",
              *facts.times(story)]
    if story.languages:
        fields.append(facts.languages(story))
    message.add({"type": "section", "fields": [
        _plain_text(f, SLACK_FIELD_CHARS) for f in fields[:SLACK_MAX_FIELDS]]})
    why = "\n".join(part for part in facts.why(item.event) if part)
    if why:
        message.add({"type": "section", "text": _plain_text(why, SLACK_SECTION_CHARS)})
    context = {"type": "context", "elements": [_plain_text(
        f"Story {clean(story.story_id)} · updated {facts.when(story.last_updated)}",
        SLACK_FIELD_CHARS)]}
    lines = [_line_mrkdwn(facts.report_line(a)) for a in story.articles]
    _add_sections(message, lines,
                  lambda n: _line_mrkdwn(facts.more_reports(n, story.articles)),
                  lead="*Reports*", keep_chars=_block_chars(context), keep_blocks=1)
    message.add(context)
    return message.content()


def _update(item: NoticeItem) -> SlackContent:
    story, new = item.event.story, item.new_articles
    headline = clip(facts.headline(story), TITLE_CHARS)
    reports = "+" + facts.plural(len(new), "new report")
    message = _Message(fit(f"{reports}: {headline}", _FALLBACK_CHARS, _mrkdwn))
    lead = (f"*{reports}* · {_mrkdwn(headline)} · {_mrkdwn(facts.topic(story))} · "
            f"{_mrkdwn(facts.severity(story))} · now {facts.counts(story)}")
    lines = [_line_mrkdwn(facts.report_line(a)) for a in new]
    _add_sections(message, lines, lambda n: _line_mrkdwn(facts.more_reports(n, new)),
                  lead=lead)
    return message.content()


def _digest(notice: Notice) -> SlackContent:
    title = f"newswatch digest: {facts.plural(len(notice.items), 'story', 'stories')}"
    message = _Message(_mrkdwn(title))
    message.add({"type": "header", "text": _plain_text(title, SLACK_HEADER_CHARS)})
    message.add({"type": "context", "elements": [
        _plain_text(f"As of {facts.when(notice.created)}", SLACK_FIELD_CHARS)]})
    lines = []
    for item in notice.items:
        headline, meta = facts.digest_entry(item)
        lines.append(f"*{_line_mrkdwn(headline)}*\n{_line_mrkdwn(meta)}")
    _add_sections(message, lines, lambda n: _line_mrkdwn(facts.more_stories(n)), sep="\n\n")
    return message.content()
