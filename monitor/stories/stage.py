"""The story stage as the worker runs it: one ``news.matches`` message in, what to emit out.

:func:`fold_match` decodes a match, folds it into the open stories of its watch topic and
returns the result; the Faust agent stores the changed story and sends the event. The open
stories live in :class:`Books`, one :class:`StoryBook` per watch topic, filled from the stored
stories the first time a watch topic is met after a start or a rebalance. Pure apart from the
embedding model: no Kafka, and ``now`` is an argument.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from monitor.article import MATCH_SENTENCES, Match, MessageError, StoryEvent
from monitor.stories.book import Folded, OpenStory, StoryBook
from monitor.stories.embed import embed
from monitor.stories.fingerprint import fingerprint, lead
from monitor.stories.fold import DEFAULT_WINDOW, Report

log = logging.getLogger(__name__)

#: How often one watch topic's expired stories are looked for.
EXPIRY_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class FoldResult:
    """A folded match, or the reason the message could not be read (``error``)."""

    match: Match | None
    folded: Folded | None
    error: str | None = None


class Books:
    """The open stories of every watch topic this worker folds.

    ``stored(topic_id)`` yields the stories the table holds for one watch topic. It is read
    the first time that watch topic is needed after :meth:`forget` (a start, a rebalance):
    its partition is then restored, while another partition's may still be restoring, so
    nothing read for one watch topic is kept for another.
    """

    def __init__(self, stored: Callable[[str], Iterable[OpenStory]], *,
                 window: timedelta = DEFAULT_WINDOW) -> None:
        self.window = window
        self._stored = stored
        self._books: dict[str, StoryBook] = {}
        self._swept: dict[str, datetime] = {}
        self._generation = 0

    def forget(self) -> None:
        """Drop what is held: the table may now hold other partitions."""
        self._books.clear()
        self._swept.clear()
        self._generation += 1

    def holds(self, topic_id: str) -> bool:
        """True when the watch topic's stories are loaded (:meth:`book` returns at once)."""
        return topic_id in self._books

    def book(self, topic_id: str) -> StoryBook:
        """The open stories of one watch topic, loaded from ``stored`` on first use.

        Safe to call from a thread while the caller's event loop waits for it (loading
        100,000 stories takes tens of seconds): a :meth:`forget` meanwhile wins, and the
        stories loaded before it are not kept.
        """
        book = self._books.get(topic_id)
        if book is None:
            generation = self._generation
            book = StoryBook(topic_id, window=self.window)
            book.load(list(self._stored(topic_id)))
            if generation == self._generation:
                self._books[topic_id] = book
        return book

    def expire(self, topic_id: str, now: datetime) -> list[str]:
        """Close a watch topic's expired stories, at most once per ``EXPIRY_INTERVAL``."""
        last = self._swept.get(topic_id)
        if last is not None and now - last < EXPIRY_INTERVAL:
            return []
        self._swept[topic_id] = now
        return self.book(topic_id).expire(now)


def fold_match(value: bytes | None, books: Books, *, origin: tuple[int, int],
               now: datetime) -> FoldResult:
    """Fold one ``news.matches`` message into ``books``."""
    if value is None:
        return FoldResult(None, None, "empty message (no value)")
    try:
        match = Match.from_json(value)
    except MessageError as exc:
        return FoldResult(None, None, str(exc))
    book = books.book(match.topic_id)
    folded = book.recall(match.article.article_id, origin)
    if folded is None:
        report = Report.from_match(match)
        vector = embed([lead(report.title, report.text)])[0]
        print_ = fingerprint(report.title, report.text, vector)
        folded = book.fold(report, print_, now=now, origin=origin)
    if folded.event is not None:
        folded = replace(folded, event=folded.event.model_copy(update={
            "evidence": match.evidence, "sentences": match.sentences[:MATCH_SENTENCES],
            "fetched_at": match.article.fetched_at, "matched_at": match.matched_at}))
    return FoldResult(match, folded)


def describe_event(event: StoryEvent, match: Match | None = None) -> str | None:
    """The console line for a story event, or ``None`` when it adds nothing worth a line.

    A story opens with one line (watch topic, severity, headline, outlet, why it matched);
    each outlet that joins adds one indented line (outlet, language, title, why it joined).
    A further article from an outlet the story already has gets no line.
    """
    story, article = event.story, event.article
    if event.event == "opened":
        why = ""
        if match is not None:
            why = ", ".join(dict.fromkeys(str(e.get("matched", "")) for e in match.evidence))
        return (f"STORY [{story.topic_id}] {story.severity} | {story.headline} | "
                f"{article.outlet}" + (f" | why: {why}" if why else ""))
    if sum(1 for a in story.articles if a.outlet == article.outlet) > 1:
        return None
    language = f" ({article.language})" if article.language else ""
    return (f"    + {article.outlet}{language}: {article.title} | {event.why} "
            f"[{story.outlets} outlets, {story.sources} sources]")


def stored_stories(values: Iterable[tuple[bytes, Any]], topic_id: str,
                   count_unreadable: Callable[[], None]) -> Iterator[OpenStory]:
    """Read a table's stored stories of one watch topic back; one that cannot be read is
    logged, counted and skipped."""
    for key, value in values:
        try:
            if value["story"]["topic_id"] != topic_id:
                continue
            yield OpenStory.from_json(value)
        except (ValueError, KeyError, TypeError) as exc:
            count_unreadable()
            log.error("stored story %r skipped: %s", key, exc)
